//! Neural networks for eirl's agents, on [dfdx](https://docs.rs/dfdx) 0.13.
//!
//! Every paper in eirl needs the same few pieces: an MLP torso whose widths come from a config
//! file, a head that turns features into Q-values (plain or dueling), policy distributions
//! (categorical, diagonal Gaussian) with log-probabilities, entropies and KL divergences,
//! optimizers with global-norm gradient clipping, Polyak averaging (DQN target networks, ACER's
//! average policy network, STEVE/DDPG targets) and checkpoints. This crate keeps dfdx's tensor
//! plumbing behind those names so agent crates read as RL.
//!
//! Shapes are runtime values (`(batch, features)`), so network widths are plain config numbers.
//! Tensors are row-major `[B, D]`. Randomness comes only from the seeds passed in.
//!
//! ```
//! use eirl_models::{Activation, Adam, AdamConfig, QNetwork, QNetworkConfig, TdLoss};
//!
//! let cfg = QNetworkConfig { hidden: vec![32, 32], activation: Activation::Relu, dueling: true };
//! let mut q = QNetwork::new(4, 2, &cfg, 0)?;
//! let mut opt = Adam::new(AdamConfig::default());
//! let obs = vec![0.1_f32; 3 * 4];
//! let values = q.q_values(&obs, 3)?;          // [3, 2], row-major
//! assert_eq!(values.len(), 6);
//! let stats = q.regression_step(&mut opt, &obs, &[0, 1, 1], &[1.0, 0.5, 0.0], None, TdLoss::Huber { delta: 1.0 }, Some(10.0))?;
//! assert!(stats.loss.is_finite());
//! # Ok::<(), eirl_models::ModelError>(())
//! ```
//!
//! # GPU
//!
//! [`gpu`] (feature `cuda`) runs MLPs on an NVIDIA GPU through cudarc: cuBLAS GEMMs and a few
//! NVRTC-compiled kernels, with the CUDA libraries loaded at run time, so a build with the
//! feature needs no CUDA toolkit and still runs everything on the CPU where there is no GPU
//! ([`gpu::ComputeDevice`] says where to run; `auto` falls back). SEED RL's central inference
//! serves its policy through it. The feature `dfdx-cuda` instead moves every dfdx network onto
//! dfdx 0.13's own CUDA device; that build compiles CUDA kernels with `nvcc` (and pins cudarc
//! 0.9), so it fails where no CUDA toolkit is installed.
//!
//! # Backends
//!
//! dfdx records every op on a tape and allocates every intermediate, which at RL's small
//! networks and batches costs as much as the arithmetic. A plain [`QNetwork`] on the CPU
//! therefore runs [`QNetwork::q_values`] and [`QNetwork::regression_step`] on a [`FusedMlp`]
//! ([`Backend::Fused`], the default): the same `gemm` kernels, a hand-written backward pass,
//! preallocated workspaces, the batch split over the cores and the optimizer's flat update
//! ([`Optimizer::step_flat`]). The dfdx tensors stay the parameters' public face
//! ([`Parameterized`], checkpoints, [`QNetwork::forward`] on a tape) and are rewritten after
//! every fused step. `cargo xtask bench models` measures both backends against PyTorch.
//!
//! # Tensor layout and checkpoint names
//!
//! A [`Linear`] layer computes `y = x W + b` with `W: [in, out]` (dfdx's layout), the transpose
//! of `torch.nn.Linear`'s `weight: [out, in]`. A [`Checkpoint`] stores each network under a
//! prefix chosen by its agent (`online`/`target` for DQN, `policy` for BC and DAgger, …) as
//! `<prefix>.<i>`, `i` counting [`Parameterized::params`] in order: for an MLP `W₀, b₀, W₁, b₁,
//! …`; a dueling [`QNetwork`] continues with the value then the advantage layer; a Gaussian
//! [`PolicyNetwork`] ends with `log σ`. Values are row-major f32, so `<prefix>.0` of a `4 → 64`
//! layer has shape `[4, 64]`. Checkpoint files are byte-for-byte deterministic: tensors and
//! metadata are written in sorted order.
//!
//! [`TorchExport`] converts a network to PyTorch's layout and `state_dict` names (`net.0.weight`
//! `[out, in]`, `net.0.bias`, `net.2.weight`, … as in an `nn.Sequential` whose odd entries are
//! the activations), with the architecture as JSON metadata; `eirl export --format torch` writes
//! it for a trained run.

mod actor_critic;
mod checkpoint;
mod device;
mod distributions;
mod ensemble;
mod error;
mod fused;
pub mod gpu;
mod limits;
mod linear;
mod mlp;
mod optim;
mod param;
mod policy;
mod qnet;
mod safetensors_write;
mod sdn;
mod torch;

pub use actor_critic::{ActorCritic, ActorCriticConfig, PolicyValueNetwork};
pub use checkpoint::{CHECKSUM_KEY, Checkpoint};
pub use device::{Device, Matrix, Vector, device, matrix_from_slice};
pub use distributions::{Categorical, DiagGaussian};
pub use ensemble::{EnsembleMlp, Tensor3};
pub use error::ModelError;
pub use fused::{FusedMlp, Workspace};
pub use limits::{MAX_PARAMETERS, check_hidden, check_parameters, mlp_parameters};
pub use linear::Linear;
pub use mlp::{Activation, Mlp};
pub use optim::{Adam, AdamConfig, Optimizer, RmsProp, RmsPropConfig, global_grad_norm};
pub use param::{ParamMut, ParamRef, Parameterized, copy_params, polyak_update};
pub use policy::{PolicyHead, PolicyNetwork, PolicyNetworkConfig};
pub use qnet::{Backend, QNetwork, QNetworkConfig, RegressionStats, TdLoss};
pub use sdn::{StochasticDuelingNetwork, dueling_combination};
pub use torch::{ARCHITECTURE_KEY, TorchArchitecture, TorchExport, TorchHead, TorchLayer};

/// Gradients of a scalar loss with respect to every parameter that took part in computing it.
pub type Gradients = dfdx::tensor::Gradients<f32, Device>;

/// dfdx's tensor vocabulary, for agents that write their own losses on top of this crate's
/// networks (`Tape`, `OwnedTape`, axis markers, tensor ops).
pub mod tensor {
    pub use dfdx::prelude::*;
}
