use dfdx::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::device::{Device, Matrix};
use crate::error::ModelError;
use crate::linear::Linear;
use crate::param::{ParamMut, ParamRef, Parameterized};

/// Hidden-layer non-linearity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Relu,
    Tanh,
}

impl Activation {
    /// The non-linearity, element-wise on a tensor of any shape.
    pub(crate) fn apply<S: Shape, T: Tape<f32, Device>>(
        self,
        x: Tensor<S, f32, Device, T>,
    ) -> Tensor<S, f32, Device, T> {
        match self {
            Activation::Relu => x.relu(),
            Activation::Tanh => x.tanh(),
        }
    }
}

/// Rejects layer sizes that do not make an MLP (fewer than two, or a zero width) or that hold
/// more than [`crate::MAX_PARAMETERS`] parameters over `copies` networks.
pub(crate) fn check_sizes(sizes: &[usize], copies: usize) -> Result<(), ModelError> {
    if sizes.len() < 2 {
        return Err(ModelError::Config(format!(
            "an MLP needs at least input and output sizes, got {sizes:?}"
        )));
    }
    if let Some(i) = sizes.iter().position(|&s| s == 0) {
        return Err(ModelError::Config(format!(
            "layer {i} has width 0 in {sizes:?}"
        )));
    }
    crate::limits::check_parameters("MLP", sizes, copies)
}

/// A multi-layer perceptron `in → h₁ → … → h_k → out` with an activation after every hidden
/// layer and a linear output.
#[derive(Clone, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
    activate_output: bool,
    dev: Device,
}

impl Mlp {
    /// Builds `sizes[0] → sizes[1] → … → sizes[n]`; the output layer is linear unless
    /// `activate_output` (a torso whose features feed further heads).
    pub fn new(
        dev: &Device,
        sizes: &[usize],
        activation: Activation,
        activate_output: bool,
        rng: &mut impl Rng,
    ) -> Result<Self, ModelError> {
        check_sizes(sizes, 1)?;
        let layers = sizes
            .windows(2)
            .map(|w| Linear::new(dev, w[0], w[1], rng))
            .collect();
        Ok(Mlp {
            layers,
            activation,
            activate_output,
            dev: dev.clone(),
        })
    }

    /// An MLP from built layers (an ensemble member's copy).
    pub(crate) fn from_layers(
        dev: &Device,
        layers: Vec<Linear>,
        activation: Activation,
        activate_output: bool,
    ) -> Self {
        Mlp {
            layers,
            activation,
            activate_output,
            dev: dev.clone(),
        }
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// The layers, input first.
    pub(crate) fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// The hidden-layer activation.
    pub(crate) fn activation(&self) -> Activation {
        self.activation
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.layers.first().map_or(0, Linear::inputs)
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, Linear::outputs)
    }

    /// Replaces the output layer's weights by `scale` times a fresh draw (small policy heads).
    pub fn rescale_output(&mut self, dev: &Device, scale: f32, rng: &mut impl Rng) {
        if let Some(last) = self.layers.last_mut() {
            *last = Linear::with_scale(dev, last.inputs(), last.outputs(), scale, rng);
        }
    }

    /// `x: [B, in] → [B, out]`.
    pub fn forward<T: Tape<f32, Device>>(&self, x: Matrix<T>) -> Matrix<T> {
        let n = self.layers.len();
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i + 1 < n || self.activate_output {
                h = self.activation.apply(h);
            }
        }
        h
    }
}

impl Parameterized for Mlp {
    fn params(&self) -> Vec<ParamRef<'_>> {
        self.layers.iter().flat_map(Linear::params).collect()
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        self.layers
            .iter_mut()
            .flat_map(Linear::params_mut)
            .collect()
    }
}
