//! Export to PyTorch's layout.
//!
//! eirl keeps dfdx's layout: a [`Linear`] computes `y = x W + b` with `W: [in, out]`, and a
//! checkpoint stores a network's parameters as `<prefix>.<i>` in [`Parameterized`] order
//! (`W₀, b₀, W₁, b₁, …`, then any extra vectors such as a Gaussian policy's `log σ`).
//! `torch.nn.Linear` computes `y = x Wᵀ + b` with `weight: [out, in]`. A [`TorchExport`]
//! transposes every weight to `[out, in]` and names the tensors as the `state_dict` of this
//! module would (hidden layers alternate with their activation, so linear layers sit at even
//! indices of `net`):
//!
//! | eirl network | PyTorch module | tensors |
//! |---|---|---|
//! | plain [`QNetwork`], [`PolicyNetwork`] | `net = nn.Sequential(Linear, act, …, Linear)` | `net.0.weight`, `net.0.bias`, `net.2.weight`, … |
//! | dueling [`QNetwork`] | `net` (every Linear followed by its activation), `value = nn.Linear(h, 1)`, `advantage = nn.Linear(h, A)`; `q = value + advantage − advantage.mean(-1, keepdim=True)` | `net.*`, `value.weight`, `value.bias`, `advantage.weight`, `advantage.bias` |
//! | Gaussian [`PolicyNetwork`] | `net` gives the mean; `log_std` a free parameter | `net.*`, `log_std` |
//!
//! The architecture (layer sizes, activations, head) travels as JSON in the file's metadata
//! under [`ARCHITECTURE_KEY`]; [`TorchExport::forward`] is the forward pass in this layout, for
//! checking an export against the network it came from.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{ModelError, check_len};
use crate::linear::Linear;
use crate::mlp::Activation;
use crate::param::{ParamRef, Parameterized};
use crate::policy::{PolicyHead, PolicyNetwork};
use crate::qnet::QNetwork;
use crate::safetensors_write::{TensorRef, safetensors_bytes};

/// Metadata key of the architecture's JSON in an exported file.
pub const ARCHITECTURE_KEY: &str = "eirl_architecture";

/// One module of the `net` sequence, as `torch.nn` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum TorchLayer {
    /// `nn.Linear(in_features, out_features)`.
    Linear {
        in_features: usize,
        out_features: usize,
    },
    /// `nn.ReLU()`.
    ReLU,
    /// `nn.Tanh()`.
    Tanh,
}

/// What follows the `net` sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TorchHead {
    /// `net(x)` is `Q(s, ·)`.
    QValues { num_actions: usize },
    /// `f = net(x)`; `q = value(f) + advantage(f) − advantage(f).mean(-1, keepdim=True)` with
    /// `value = nn.Linear(features, 1)`, `advantage = nn.Linear(features, num_actions)` (Wang et
    /// al. 2016, eq. 9).
    Dueling { features: usize, num_actions: usize },
    /// `net(x)` are the logits of `π(·|s) = softmax(logits)`.
    CategoricalLogits { num_actions: usize },
    /// `net(x)` is the mean of `π(·|s) = N(μ, diag(exp(log_std)²))`; `log_std` is a tensor.
    GaussianMean { act_dim: usize },
}

/// A network's architecture in PyTorch's terms (stored as JSON in the exported file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TorchArchitecture {
    /// Observation width.
    pub obs_dim: usize,
    /// The `net = nn.Sequential(...)` modules, in order.
    pub net: Vec<TorchLayer>,
    /// What turns `net`'s output into the network's output.
    pub head: TorchHead,
    /// The weight layout: always `"[out, in]"` (PyTorch's), stated for readers of the file.
    pub weight_layout: &'static str,
}

/// A network's parameters in PyTorch's layout and names, with its architecture.
#[derive(Clone, Debug)]
pub struct TorchExport {
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    architecture: TorchArchitecture,
}

/// `w: [rows, cols]` row-major → `[cols, rows]` row-major.
fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

/// `(weight [out, in], bias [out], in, out)` of an eirl [`Linear`].
fn linear_parts(layer: &Linear) -> (Vec<f32>, Vec<f32>, usize, usize) {
    let (inputs, outputs) = (layer.inputs(), layer.outputs());
    let mut weight = Vec::new();
    let mut bias = Vec::new();
    for p in layer.params() {
        match p {
            ParamRef::Matrix(_) => weight = transpose(&p.to_vec(), inputs, outputs),
            ParamRef::Vector(_) => bias = p.to_vec(),
        }
    }
    (weight, bias, inputs, outputs)
}

fn activation_layer(a: Activation) -> TorchLayer {
    match a {
        Activation::Relu => TorchLayer::ReLU,
        Activation::Tanh => TorchLayer::Tanh,
    }
}

impl TorchExport {
    fn empty(obs_dim: usize, head: TorchHead) -> Self {
        TorchExport {
            tensors: Vec::new(),
            architecture: TorchArchitecture {
                obs_dim,
                net: Vec::new(),
                head,
                weight_layout: "[out, in]",
            },
        }
    }

    /// Appends `name.weight` (transposed) and `name.bias`.
    fn push_linear(&mut self, name: &str, layer: &Linear) {
        let (weight, bias, inputs, outputs) = linear_parts(layer);
        self.tensors
            .push((format!("{name}.weight"), vec![outputs, inputs], weight));
        self.tensors
            .push((format!("{name}.bias"), vec![outputs], bias));
    }

    /// Appends `layers` to `net`, each followed by `activation` except the last unless
    /// `activate_last`.
    fn push_sequence(&mut self, layers: &[Linear], activation: Activation, activate_last: bool) {
        for (i, layer) in layers.iter().enumerate() {
            let index = self.architecture.net.len();
            self.push_linear(&format!("net.{index}"), layer);
            self.architecture.net.push(TorchLayer::Linear {
                in_features: layer.inputs(),
                out_features: layer.outputs(),
            });
            if i + 1 < layers.len() || activate_last {
                self.architecture.net.push(activation_layer(activation));
            }
        }
    }

    /// A Q-network in PyTorch's layout (see the module docs for names).
    pub fn from_q_network(q: &QNetwork) -> Self {
        let parts = q.torch_parts();
        let num_actions = q.num_actions();
        match parts.dueling {
            None => {
                let mut e = Self::empty(q.obs_dim(), TorchHead::QValues { num_actions });
                e.push_sequence(parts.layers, parts.activation, false);
                e
            }
            Some((value, advantage)) => {
                let features = value.inputs();
                let head = TorchHead::Dueling {
                    features,
                    num_actions,
                };
                let mut e = Self::empty(q.obs_dim(), head);
                e.push_sequence(parts.layers, parts.activation, true);
                e.push_linear("value", value);
                e.push_linear("advantage", advantage);
                e
            }
        }
    }

    /// A policy network in PyTorch's layout (see the module docs for names).
    pub fn from_policy_network(p: &PolicyNetwork) -> Self {
        let (layers, activation) = p.torch_parts();
        let head = match p.head() {
            PolicyHead::Categorical { num_actions } => TorchHead::CategoricalLogits { num_actions },
            PolicyHead::Gaussian { act_dim, .. } => TorchHead::GaussianMean { act_dim },
        };
        let mut e = Self::empty(p.obs_dim(), head);
        e.push_sequence(layers, activation, false);
        if let PolicyHead::Gaussian { act_dim, .. } = p.head() {
            e.tensors
                .push(("log_std".into(), vec![act_dim], p.log_std_values()));
        }
        e
    }

    /// The architecture.
    pub fn architecture(&self) -> &TorchArchitecture {
        &self.architecture
    }

    /// The tensors `(name, shape, values)`, in module order (`net.0.weight`, `net.0.bias`, …).
    pub fn tensors(&self) -> impl Iterator<Item = (&str, &[usize], &[f32])> {
        self.tensors
            .iter()
            .map(|(n, s, v)| (n.as_str(), s.as_slice(), v.as_slice()))
    }

    /// The tensor named `name`.
    pub fn get(&self, name: &str) -> Option<(&[usize], &[f32])> {
        self.tensors()
            .find(|(n, _, _)| *n == name)
            .map(|(_, s, v)| (s, v))
    }

    /// The architecture as JSON.
    pub fn architecture_json(&self) -> Result<String, ModelError> {
        serde_json::to_string(&self.architecture)
            .map_err(|e| ModelError::Config(format!("encoding the architecture: {e}")))
    }

    /// Safetensors bytes: the tensors in module order, and `metadata` plus `format = "pt"` (what
    /// `safetensors.torch.save_file` writes) and the architecture under [`ARCHITECTURE_KEY`].
    /// Deterministic: equal exports give equal bytes.
    pub fn to_bytes(&self, metadata: &BTreeMap<String, String>) -> Result<Vec<u8>, ModelError> {
        let mut meta = metadata.clone();
        meta.insert("format".into(), "pt".into());
        meta.insert(ARCHITECTURE_KEY.into(), self.architecture_json()?);
        let tensors: Vec<TensorRef<'_>> = self
            .tensors
            .iter()
            .map(|(name, shape, values)| TensorRef {
                name,
                shape,
                values,
            })
            .collect();
        safetensors_bytes(&tensors, &meta)
    }

    /// Writes [`TorchExport::to_bytes`] to `path` atomically.
    pub fn save(&self, path: &Path, metadata: &BTreeMap<String, String>) -> Result<(), ModelError> {
        let bytes = self.to_bytes(metadata)?;
        eirl_runlog::atomic_write(path, &bytes).map_err(|source| ModelError::CheckpointIo {
            action: "write",
            path: path.display().to_string(),
            source,
        })
    }

    /// The forward pass in PyTorch's layout, `x Wᵀ + b` layer by layer, on a row-major batch
    /// `obs: [batch, obs_dim]`: Q-values, logits or Gaussian means `[batch, out]`. A plain
    /// reference (no dfdx) for checking that an export computes what its network does.
    pub fn forward(&self, obs: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        let expected = batch
            .checked_mul(self.architecture.obs_dim)
            .ok_or_else(|| {
                ModelError::Config(format!("batch {batch} is too large for this network"))
            })?;
        check_len("observations", expected, obs.len())?;
        let mut h = obs.to_vec();
        for (i, layer) in self.architecture.net.iter().enumerate() {
            h = match *layer {
                TorchLayer::Linear { .. } => self.linear(&format!("net.{i}"), &h, batch)?,
                TorchLayer::ReLU => h.into_iter().map(|v| v.max(0.0)).collect(),
                TorchLayer::Tanh => h.into_iter().map(f32::tanh).collect(),
            };
        }
        let TorchHead::Dueling { num_actions, .. } = self.architecture.head else {
            return Ok(h);
        };
        let value = self.linear("value", &h, batch)?;
        let advantage = self.linear("advantage", &h, batch)?;
        let mut q = Vec::with_capacity(batch * num_actions);
        for (v, a) in value.iter().zip(advantage.chunks(num_actions)) {
            let mean = a.iter().sum::<f32>() / num_actions as f32;
            q.extend(a.iter().map(|x| v + x - mean));
        }
        Ok(q)
    }

    /// `x Wᵀ + b` with the tensors `name.weight: [out, in]`, `name.bias: [out]`.
    fn linear(&self, name: &str, x: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        let missing = |t: &str| ModelError::Config(format!("export has no tensor {name}.{t}"));
        let (shape, w) = self
            .get(&format!("{name}.weight"))
            .ok_or_else(|| missing("weight"))?;
        let (_, b) = self
            .get(&format!("{name}.bias"))
            .ok_or_else(|| missing("bias"))?;
        let (outputs, inputs) = (shape[0], shape[1]);
        check_len("layer input", batch * inputs, x.len())?;
        let mut y = Vec::with_capacity(batch * outputs);
        for row in x.chunks(inputs) {
            for o in 0..outputs {
                let dot: f32 = w[o * inputs..(o + 1) * inputs]
                    .iter()
                    .zip(row)
                    .map(|(w, x)| w * x)
                    .sum();
                y.push(dot + b[o]);
            }
        }
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_moves_rows_to_columns() {
        // [[1, 2, 3], [4, 5, 6]] → [[1, 4], [2, 5], [3, 6]]
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
