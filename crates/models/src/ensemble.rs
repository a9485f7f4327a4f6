//! Ensembles of equally shaped MLPs evaluated as one batched network.
//!
//! STEVE (Buckman et al. 2018) keeps ensembles of Q-functions, reward functions and dynamics
//! models and evaluates every member on every imagined state of a minibatch. Looping over the
//! members costs one small matrix product per member and layer; an [`EnsembleMlp`] stores the
//! members' weights stacked (`[M, in, out]`, as the official code's `EnsembleFeedForwardNet`)
//! and runs all of them with one batched product per layer on an input `[M, rows, in]`, where
//! row block `m` is what member `m` sees.

use dfdx::prelude::*;
use rand::Rng;
use rand_distr::Uniform;

use crate::device::{Device, Matrix};
use crate::error::{ModelError, check_len};
use crate::linear::Linear;
use crate::mlp::{Activation, Mlp};
use crate::param::{ParamMut, ParamRef, Parameterized};

/// A `[members, rows, features]` f32 tensor with an optional gradient tape `T`.
pub type Tensor3<T = NoneTape> = Tensor<(usize, usize, usize), f32, Device, T>;

/// One fully connected layer of every member: `y_m = x_m W_m + b_m`.
#[derive(Clone, Debug)]
struct EnsembleLinear {
    /// `[M·in, out]`: member `m`'s `W_m` is rows `m·in .. (m+1)·in`.
    weight: Matrix,
    /// `[M, out]`.
    bias: Matrix,
    members: usize,
    inputs: usize,
    outputs: usize,
}

impl EnsembleLinear {
    /// Xavier-uniform weights (`U(±√(6/(in+out)))`) and zero biases, each member drawn
    /// independently: the official STEVE initialisation.
    fn new(
        dev: &Device,
        members: usize,
        inputs: usize,
        outputs: usize,
        rng: &mut impl Rng,
    ) -> Self {
        let bound = (6.0 / (inputs + outputs) as f32).sqrt();
        let dist = Uniform::new_inclusive(-bound, bound);
        let w: Vec<f32> = (0..members * inputs * outputs)
            .map(|_| rng.sample(dist))
            .collect();
        EnsembleLinear {
            weight: dev.tensor_from_vec(w, (members * inputs, outputs)),
            bias: dev.zeros_like(&(members, outputs)),
            members,
            inputs,
            outputs,
        }
    }

    fn forward<T: Tape<f32, Device>>(&self, x: Tensor3<T>) -> Tensor3<T> {
        let (m, rows, _) = *x.shape();
        // A contiguous reshape keeps the tensor's id, so gradients land on `weight` itself.
        let w = self
            .weight
            .clone()
            .reshape_like(&(m, self.inputs, self.outputs));
        let b = self
            .bias
            .clone()
            .broadcast_like::<(usize, usize, usize), Axis<1>>(&(m, rows, self.outputs));
        x.matmul(w) + b
    }

    fn member(&self, dev: &Device, m: usize) -> Linear {
        let (i, o) = (self.inputs, self.outputs);
        let w = self.weight.as_vec()[m * i * o..(m + 1) * i * o].to_vec();
        let b = self.bias.as_vec()[m * o..(m + 1) * o].to_vec();
        Linear::from_parts(dev, w, b, i, o)
    }
}

/// `M` MLPs of identical shape `in → h₁ → … → out` (activation after every hidden layer,
/// linear output), evaluated together.
#[derive(Clone, Debug)]
pub struct EnsembleMlp {
    layers: Vec<EnsembleLinear>,
    activation: Activation,
    dev: Device,
}

impl EnsembleMlp {
    /// `members` independently initialised MLPs `sizes[0] → … → sizes[n]`.
    pub fn new(
        dev: &Device,
        members: usize,
        sizes: &[usize],
        activation: Activation,
        rng: &mut impl Rng,
    ) -> Result<Self, ModelError> {
        if members == 0 {
            return Err(ModelError::Config(
                "an ensemble needs at least one member".into(),
            ));
        }
        crate::mlp::check_sizes(sizes, members)?;
        let layers = sizes
            .windows(2)
            .map(|w| EnsembleLinear::new(dev, members, w[0], w[1], rng))
            .collect();
        Ok(EnsembleMlp {
            layers,
            activation,
            dev: dev.clone(),
        })
    }

    /// Number of members `M`.
    pub fn members(&self) -> usize {
        self.layers.first().map_or(0, |l| l.members)
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.layers.first().map_or(0, |l| l.inputs)
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// `x: [M, rows, in] → [M, rows, out]`; row block `m` goes through member `m`.
    pub fn forward<T: Tape<f32, Device>>(&self, x: Tensor3<T>) -> Tensor3<T> {
        let n = self.layers.len();
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i + 1 < n {
                h = self.activation.apply(h);
            }
        }
        h
    }

    /// [`EnsembleMlp::forward`] without a tape on a host slice `[M, rows, in]` (row-major);
    /// returns `[M, rows, out]`.
    pub fn forward_host(&self, x: &[f32], rows: usize) -> Result<Vec<f32>, ModelError> {
        let m = self.members();
        check_len("ensemble input", m * rows * self.inputs(), x.len())?;
        let t = self
            .dev
            .tensor_from_vec(x.to_vec(), (m, rows, self.inputs()));
        Ok(self.forward(t).as_vec())
    }

    /// Member `m` as a stand-alone [`Mlp`] (a copy of its weights).
    pub fn member(&self, m: usize) -> Result<Mlp, ModelError> {
        if m >= self.members() {
            return Err(ModelError::Config(format!(
                "member {m} of an ensemble of {}",
                self.members()
            )));
        }
        let layers = self.layers.iter().map(|l| l.member(&self.dev, m)).collect();
        Ok(Mlp::from_layers(&self.dev, layers, self.activation, false))
    }
}

impl Parameterized for EnsembleMlp {
    fn params(&self) -> Vec<ParamRef<'_>> {
        self.layers
            .iter()
            .flat_map(|l| [ParamRef::Matrix(&l.weight), ParamRef::Matrix(&l.bias)])
            .collect()
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        self.layers
            .iter_mut()
            .flat_map(|l| {
                [
                    ParamMut::Matrix(&mut l.weight),
                    ParamMut::Matrix(&mut l.bias),
                ]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::device::device;
    use crate::optim::global_grad_norm;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
    }

    #[test]
    fn batched_forward_equals_each_member_alone() {
        let dev = device(0);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let ens = EnsembleMlp::new(&dev, 3, &[5, 7, 6, 2], Activation::Relu, &mut rng).unwrap();
        let rows = 4;
        let x: Vec<f32> = (0..3 * rows * 5)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let all = ens.forward_host(&x, rows).unwrap();
        for m in 0..3 {
            let mlp = ens.member(m).unwrap();
            let xm = dev.tensor_from_vec(x[m * rows * 5..(m + 1) * rows * 5].to_vec(), (rows, 5));
            let y = mlp.forward(xm).as_vec();
            assert!(
                close(&all[m * rows * 2..(m + 1) * rows * 2], &y, 1e-5),
                "member {m}"
            );
        }
    }

    #[test]
    fn gradients_reach_every_member_and_match_the_member_alone() {
        let dev = device(0);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut ens = EnsembleMlp::new(&dev, 2, &[3, 4, 1], Activation::Tanh, &mut rng).unwrap();
        let rows = 5;
        let x: Vec<f32> = (0..2 * rows * 3).map(|i| (i as f32 * 0.37).sin()).collect();
        let t = dev.tensor_from_vec(x.clone(), (2, rows, 3));
        let loss = ens.forward(t.leaky_trace()).square().sum::<Rank0, _>();
        let mut grads = loss.backward();
        let norm = global_grad_norm(&mut ens, &mut grads);
        // The same loss member by member: squared norms add up.
        let mut sq = 0.0;
        for m in 0..2 {
            let mut mlp = ens.member(m).unwrap();
            let xm = dev.tensor_from_vec(x[m * rows * 3..(m + 1) * rows * 3].to_vec(), (rows, 3));
            let l = mlp.forward(xm.leaky_trace()).square().sum::<Rank0, _>();
            let mut g = l.backward();
            sq += global_grad_norm(&mut mlp, &mut g).powi(2);
        }
        assert!(norm > 0.0);
        assert!(
            (norm - sq.sqrt()).abs() < 1e-4 * norm,
            "{norm} vs {}",
            sq.sqrt()
        );
    }
}
