use dfdx::prelude::*;
use rand::Rng;
use rand_distr::Uniform;

use crate::device::{Device, Matrix, Vector};
use crate::param::{ParamMut, ParamRef, Parameterized};

/// A fully connected layer `y = x W + b` with `W: [in, out]`, `b: [out]`.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Matrix,
    bias: Vector,
}

impl Linear {
    /// PyTorch's default initialisation: `W, b ~ U(−1/√in, 1/√in)`, drawn from `rng`.
    pub fn new(dev: &Device, inputs: usize, outputs: usize, rng: &mut impl Rng) -> Self {
        Self::with_scale(dev, inputs, outputs, 1.0, rng)
    }

    /// As [`Linear::new`] with the weights (not the bias) multiplied by `scale`; small output
    /// layers (`scale = 0.01`) keep initial policies near uniform, as in openai/baselines.
    pub fn with_scale(
        dev: &Device,
        inputs: usize,
        outputs: usize,
        scale: f32,
        rng: &mut impl Rng,
    ) -> Self {
        let bound = 1.0 / (inputs.max(1) as f32).sqrt();
        let dist = Uniform::new_inclusive(-bound, bound);
        let w: Vec<f32> = (0..inputs * outputs)
            .map(|_| rng.sample(dist) * scale)
            .collect();
        let b: Vec<f32> = (0..outputs).map(|_| rng.sample(dist)).collect();
        Linear {
            weight: dev.tensor_from_vec(w, (inputs, outputs)),
            bias: dev.tensor_from_vec(b, (outputs,)),
        }
    }

    /// A layer from given values: `weight` is `[inputs, outputs]` row-major, `bias` `[outputs]`.
    pub(crate) fn from_parts(
        dev: &Device,
        weight: Vec<f32>,
        bias: Vec<f32>,
        inputs: usize,
        outputs: usize,
    ) -> Self {
        Linear {
            weight: dev.tensor_from_vec(weight, (inputs, outputs)),
            bias: dev.tensor_from_vec(bias, (outputs,)),
        }
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.weight.shape().0
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.weight.shape().1
    }

    /// `x: [B, in] → [B, out]`, recording onto `x`'s tape.
    pub fn forward<T: Tape<f32, Device>>(&self, x: Matrix<T>) -> Matrix<T> {
        let batch = x.shape().0;
        let y = x.matmul(self.weight.clone());
        let b = self
            .bias
            .clone()
            .broadcast_like::<(usize, usize), Axis<0>>(&(batch, self.outputs()));
        y + b
    }
}

impl Parameterized for Linear {
    fn params(&self) -> Vec<ParamRef<'_>> {
        vec![ParamRef::Matrix(&self.weight), ParamRef::Vector(&self.bias)]
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        vec![
            ParamMut::Matrix(&mut self.weight),
            ParamMut::Vector(&mut self.bias),
        ]
    }
}
