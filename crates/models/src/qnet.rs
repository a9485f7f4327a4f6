//! Action-value networks: plain `Q(s, ·)` and dueling `Q = V + A − mean A` (Wang et al. 2016).

use dfdx::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

use crate::device::{Device, Matrix, device, matrix_from_slice};
use crate::error::{ModelError, check_len};
use crate::fused::{FusedMlp, Workspace};
use crate::linear::Linear;
use crate::mlp::{Activation, Mlp};
use crate::optim::Optimizer;
use crate::param::{ParamMut, ParamRef, Parameterized};

/// Architecture of a [`QNetwork`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QNetworkConfig {
    /// Hidden-layer widths of the torso.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    /// Dueling head `Q(s,a) = V(s) + A(s,a) − mean_a' A(s,a')` (Wang et al. 2016, eq. 9).
    pub dueling: bool,
}

impl Default for QNetworkConfig {
    fn default() -> Self {
        QNetworkConfig {
            hidden: vec![64, 64],
            activation: Activation::Relu,
            dueling: false,
        }
    }
}

/// The loss that regresses `Q(s, a)` toward a target.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum TdLoss {
    /// Huber loss with threshold `delta` (Mnih et al. 2015 clip the TD error's gradient at 1).
    Huber { delta: f32 },
    /// Squared error `½(Q − y)²`.
    Mse,
}

/// What one regression step did.
#[derive(Clone, Debug)]
pub struct RegressionStats {
    /// Weighted mean loss over the batch.
    pub loss: f32,
    /// `y − Q(s, a)` per sample, before the update (the magnitudes feed prioritized replay).
    pub td_errors: Vec<f32>,
    /// Global gradient norm before clipping.
    pub grad_norm: f32,
}

/// A [`QNetwork`]'s layers, borrowed for export (see [`QNetwork::torch_parts`]).
pub(crate) struct TorchParts<'a> {
    pub layers: &'a [Linear],
    pub activation: Activation,
    pub dueling: Option<(&'a Linear, &'a Linear)>,
}

enum Head {
    Plain(Mlp),
    Dueling(Box<DuelingHead>),
}

struct DuelingHead {
    torso: Mlp,
    value: Linear,
    advantage: Linear,
}

/// Which code computes a [`QNetwork`]'s values and regression steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A hand-written forward/backward on the `gemm` crate over flat parameter and gradient
    /// buffers ([`crate::FusedMlp`]), with the optimizer's flat update. Plain heads on the CPU;
    /// the default there.
    Fused,
    /// dfdx's tensors and tape: every head, every device.
    Dfdx,
}

/// The fused engine's copy of a plain head: the same parameters in one flat buffer, and the
/// buffers a regression step reuses.
#[derive(Clone)]
struct FastPath {
    net: FusedMlp,
    shapes: Vec<Vec<usize>>,
    /// Whether `net`'s parameters equal the dfdx tensors' (false after `params_mut`).
    fresh: bool,
    /// Buffers of `q_values`.
    ws: Workspace,
    /// One workspace per row block of a regression step (see [`FusedMlp::train_split`]).
    blocks: Vec<Workspace>,
}

/// A network `s ↦ Q(s, ·) ∈ ℝ^A` over flat observations.
///
/// The parameters are dfdx tensors ([`Parameterized`], [`QNetwork::forward`] on a tape); with
/// [`Backend::Fused`] (the default for plain heads on the CPU) [`QNetwork::q_values`] and
/// [`QNetwork::regression_step`] run on a flat copy of them and write the updated values back,
/// so both views always agree.
pub struct QNetwork {
    dev: Device,
    head: Head,
    cfg: QNetworkConfig,
    obs_dim: usize,
    num_actions: usize,
    /// The fused engine, when the backend is [`Backend::Fused`]; behind a lock so `q_values`
    /// (a `&self` method) can refresh it and reuse its buffers.
    fast: Option<Mutex<FastPath>>,
}

impl Clone for QNetwork {
    fn clone(&self) -> Self {
        let head = match &self.head {
            Head::Plain(m) => Head::Plain(m.clone()),
            Head::Dueling(d) => Head::Dueling(Box::new(DuelingHead {
                torso: d.torso.clone(),
                value: d.value.clone(),
                advantage: d.advantage.clone(),
            })),
        };
        let fast = self.fast.as_ref().map(|f| {
            let f = f.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Mutex::new(f.clone())
        });
        QNetwork {
            dev: self.dev.clone(),
            head,
            cfg: self.cfg.clone(),
            obs_dim: self.obs_dim,
            num_actions: self.num_actions,
            fast,
        }
    }
}

impl QNetwork {
    /// Builds the network with parameters drawn from `seed`.
    pub fn new(
        obs_dim: usize,
        num_actions: usize,
        cfg: &QNetworkConfig,
        seed: u64,
    ) -> Result<Self, ModelError> {
        if obs_dim == 0 || num_actions == 0 {
            return Err(ModelError::Config(format!(
                "observation and action sizes must be positive (got {obs_dim}, {num_actions})"
            )));
        }
        let dev = device(seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let head = if cfg.dueling {
            let Some(&features) = cfg.hidden.last() else {
                return Err(ModelError::Config(
                    "a dueling head needs at least one hidden layer".into(),
                ));
            };
            let mut sizes = vec![obs_dim];
            sizes.extend(&cfg.hidden);
            Head::Dueling(Box::new(DuelingHead {
                torso: Mlp::new(&dev, &sizes, cfg.activation, true, &mut rng)?,
                value: Linear::new(&dev, features, 1, &mut rng),
                advantage: Linear::new(&dev, features, num_actions, &mut rng),
            }))
        } else {
            let mut sizes = vec![obs_dim];
            sizes.extend(&cfg.hidden);
            sizes.push(num_actions);
            Head::Plain(Mlp::new(&dev, &sizes, cfg.activation, false, &mut rng)?)
        };
        let mut q = QNetwork {
            dev,
            head,
            cfg: cfg.clone(),
            obs_dim,
            num_actions,
            fast: None,
        };
        q.set_backend(Backend::Fused)?;
        Ok(q)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        if self.fast.is_some() {
            Backend::Fused
        } else {
            Backend::Dfdx
        }
    }

    /// Chooses the backend. [`Backend::Fused`] falls back to dfdx, without error, for a
    /// dueling head or a CUDA build, where it does not apply; [`QNetwork::backend`] tells which
    /// one runs. Values and gradients agree between the two to rounding.
    pub fn set_backend(&mut self, backend: Backend) -> Result<(), ModelError> {
        self.fast = None;
        if backend == Backend::Dfdx || cfg!(feature = "dfdx-cuda") {
            return Ok(());
        }
        let Head::Plain(mlp) = &self.head else {
            return Ok(());
        };
        let mut sizes = vec![mlp.inputs()];
        sizes.extend(mlp.layers().iter().map(Linear::outputs));
        let net = FusedMlp::new(&sizes, mlp.activation(), false)?;
        let shapes = net.param_shapes();
        let mut fast = FastPath {
            net,
            shapes,
            fresh: false,
            ws: Workspace::default(),
            blocks: Vec::new(),
        };
        refresh(&self.head, &mut fast);
        self.fast = Some(Mutex::new(fast));
        Ok(())
    }

    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    pub fn num_actions(&self) -> usize {
        self.num_actions
    }

    pub fn config(&self) -> &QNetworkConfig {
        &self.cfg
    }

    /// The layers [`crate::TorchExport`] writes: the MLP (the dueling torso, or the whole plain
    /// network), its activation, and the dueling `(value, advantage)` layers.
    pub(crate) fn torch_parts(&self) -> TorchParts<'_> {
        match &self.head {
            Head::Plain(mlp) => TorchParts {
                layers: mlp.layers(),
                activation: mlp.activation(),
                dueling: None,
            },
            Head::Dueling(d) => TorchParts {
                layers: d.torso.layers(),
                activation: d.torso.activation(),
                dueling: Some((&d.value, &d.advantage)),
            },
        }
    }

    /// `[B, obs_dim] → [B, A]` on the tape of `x`.
    pub fn forward<T: Tape<f32, Device>>(&self, x: Matrix<T>) -> Matrix<T> {
        match &self.head {
            Head::Plain(mlp) => mlp.forward(x),
            Head::Dueling(d) => {
                let DuelingHead {
                    torso,
                    value,
                    advantage,
                } = d.as_ref();
                let shape = (x.shape().0, self.num_actions);
                let (f, tape) = torso.forward(x).split_tape();
                let (a, tape) = advantage.forward(f.clone().put_tape(tape)).split_tape();
                let (a_mean, tape) = a
                    .clone()
                    .put_tape(tape)
                    .mean::<(usize,), Axis<1>>()
                    .broadcast_like::<(usize, usize), Axis<1>>(&shape)
                    .split_tape();
                let v = value
                    .forward(f.put_tape(tape))
                    .sum::<(usize,), Axis<1>>()
                    .broadcast_like::<(usize, usize), Axis<1>>(&shape);
                v + a - a_mean
            }
        }
    }

    /// `Q(s, ·)` for a row-major batch `obs: [batch, obs_dim]`; returns `[batch, A]` row-major.
    pub fn q_values(&self, obs: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        if let Some(fast) = &self.fast {
            check_len("observations", batch * self.obs_dim, obs.len())?;
            let mut fast = fast
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let fast = &mut *fast;
            if !fast.fresh {
                refresh(&self.head, fast);
            }
            return Ok(fast.net.forward(obs, batch, &mut fast.ws)?.to_vec());
        }
        let x = matrix_from_slice(&self.dev, obs, batch, self.obs_dim)?;
        Ok(self.forward(x).as_vec())
    }

    /// One gradient step on `Σ_i w_i ℓ(y_i − Q(s_i, a_i)) / B`, where `ℓ` is `loss`,
    /// `w` the importance weights (`None`: all 1) and `y` the targets.
    #[allow(clippy::too_many_arguments)]
    pub fn regression_step<O: Optimizer>(
        &mut self,
        opt: &mut O,
        obs: &[f32],
        actions: &[usize],
        targets: &[f32],
        weights: Option<&[f32]>,
        loss: TdLoss,
        max_grad_norm: Option<f32>,
    ) -> Result<RegressionStats, ModelError> {
        let batch = actions.len();
        check_len("targets", batch, targets.len())?;
        if let Some(w) = weights {
            check_len("importance weights", batch, w.len())?;
        }
        if let Some(&a) = actions.iter().find(|&&a| a >= self.num_actions) {
            return Err(ModelError::Config(format!(
                "action {a} out of range for {} actions",
                self.num_actions
            )));
        }
        if targets.iter().any(|t| !t.is_finite()) {
            return Err(ModelError::NonFinite("TD target"));
        }
        if let Some(fast) = &mut self.fast {
            let fast = fast
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            check_len("observations", batch * self.obs_dim, obs.len())?;
            if !fast.fresh {
                refresh(&self.head, fast);
            }
            let stats = fused_regression_step(
                fast,
                opt,
                &Regression {
                    obs,
                    actions,
                    targets,
                    weights,
                    loss,
                    max_grad_norm,
                },
                self.num_actions,
            )?;
            write_back(&mut self.head, fast)?;
            return Ok(stats);
        }
        let x = matrix_from_slice(&self.dev, obs, batch, self.obs_dim)?;
        let idx = self.dev.tensor_from_vec(actions.to_vec(), (batch,));
        let y = self.dev.tensor_from_vec(targets.to_vec(), (batch,));
        let (q_sa, tape) = self.forward(x.leaky_trace()).select(idx).split_tape();
        let td_errors: Vec<f32> = q_sa
            .as_vec()
            .iter()
            .zip(targets)
            .map(|(q, y)| y - q)
            .collect();
        let per_sample = match loss {
            TdLoss::Huber { delta } => q_sa.put_tape(tape).huber_error(y, delta),
            TdLoss::Mse => (q_sa.put_tape(tape) - y).square() * 0.5,
        };
        let weighted = match weights {
            Some(w) => per_sample * self.dev.tensor_from_vec(w.to_vec(), (batch,)),
            None => per_sample,
        };
        let loss = weighted.mean::<Rank0, _>();
        let loss_value = loss.array();
        if !loss_value.is_finite() {
            return Err(ModelError::NonFinite("loss"));
        }
        let mut grads = loss.backward();
        let grad_norm = opt.step(self, &mut grads, max_grad_norm)?;
        Ok(RegressionStats {
            loss: loss_value,
            td_errors,
            grad_norm,
        })
    }
}

impl Parameterized for QNetwork {
    fn params(&self) -> Vec<ParamRef<'_>> {
        match &self.head {
            Head::Plain(m) => m.params(),
            Head::Dueling(d) => {
                let mut p = d.torso.params();
                p.extend(d.value.params());
                p.extend(d.advantage.params());
                p
            }
        }
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        if let Some(fast) = &mut self.fast {
            fast.get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .fresh = false;
        }
        match &mut self.head {
            Head::Plain(m) => m.params_mut(),
            Head::Dueling(d) => {
                let DuelingHead {
                    torso,
                    value,
                    advantage,
                } = d.as_mut();
                let mut p = torso.params_mut();
                p.extend(value.params_mut());
                p.extend(advantage.params_mut());
                p
            }
        }
    }
}

/// The inputs of one [`QNetwork::regression_step`], checked.
#[derive(Clone, Copy)]
struct Regression<'a> {
    obs: &'a [f32],
    actions: &'a [usize],
    targets: &'a [f32],
    weights: Option<&'a [f32]>,
    loss: TdLoss,
    max_grad_norm: Option<f32>,
}

/// Copies a plain head's dfdx tensors into the fused engine's flat buffer.
fn refresh(head: &Head, fast: &mut FastPath) {
    if let Head::Plain(mlp) = head {
        let flat = fast.net.params_mut();
        let mut offset = 0;
        for p in mlp.params() {
            let n = p.numel();
            match p {
                ParamRef::Matrix(t) => t.copy_into(&mut flat[offset..offset + n]),
                ParamRef::Vector(t) => t.copy_into(&mut flat[offset..offset + n]),
            }
            offset += n;
        }
        fast.fresh = true;
    }
}

/// Writes the fused engine's parameters into a plain head's dfdx tensors (the inverse of
/// [`refresh`]).
fn write_back(head: &mut Head, fast: &FastPath) -> Result<(), ModelError> {
    if let Head::Plain(mlp) = head {
        let flat = fast.net.params();
        let mut offset = 0;
        for mut p in mlp.params_mut() {
            let n = match &p {
                ParamMut::Matrix(t) => t.shape().0 * t.shape().1,
                ParamMut::Vector(t) => t.shape().0,
            };
            p.copy_from(&flat[offset..offset + n])?;
            offset += n;
        }
    }
    Ok(())
}

/// [`QNetwork::regression_step`] on the fused engine: the forward pass, the loss and its
/// gradient with respect to `Q(s, a)` written out (dfdx's Huber and squared error, weighted
/// mean), the backward pass and the optimizer's flat update.
fn fused_regression_step<O: Optimizer>(
    fast: &mut FastPath,
    opt: &mut O,
    r: &Regression<'_>,
    num_actions: usize,
) -> Result<RegressionStats, ModelError> {
    let (actions, targets, weights) = (r.actions, r.targets, r.weights);
    let batch = actions.len();
    let inv_b = 1.0 / batch as f32;
    // Huber (dfdx's `huber_error`) or squared error of `e = Q(s, a) − y`: the loss and its
    // derivative with respect to Q(s, a).
    let loss_and_grad = |e: f32| match r.loss {
        TdLoss::Huber { delta } if e.abs() >= delta => {
            (e.abs() * delta - 0.5 * delta * delta, e.signum() * delta)
        }
        TdLoss::Huber { .. } | TdLoss::Mse => (e * e * 0.5, e),
    };
    fast.blocks
        .resize_with(FusedMlp::split_blocks(batch), Workspace::default);
    fast.net
        .train_split(r.obs, batch, &mut fast.blocks, |first, q, d_out| {
            for (r, (qr, dr)) in q
                .chunks_exact(num_actions)
                .zip(d_out.chunks_exact_mut(num_actions))
                .enumerate()
            {
                let i = first + r;
                let (a, w) = (actions[i], weights.map_or(1.0, |w| w[i]));
                dr[a] = loss_and_grad(qr[a] - targets[i]).1 * w * inv_b;
            }
        })?;
    let mut td_errors = Vec::with_capacity(batch);
    let mut total = 0.0f32;
    for q in fast.blocks.iter().map(Workspace::output) {
        for qr in q.chunks_exact(num_actions) {
            let i = td_errors.len();
            let x = qr[actions[i]];
            td_errors.push(targets[i] - x);
            total += loss_and_grad(x - targets[i]).0 * weights.map_or(1.0, |w| w[i]);
        }
    }
    let loss_value = total * inv_b;
    if !loss_value.is_finite() {
        return Err(ModelError::NonFinite("loss"));
    }
    let grad_norm = opt.step_flat(
        fast.net.params_mut(),
        fast.blocks[0].grads(),
        &fast.shapes,
        r.max_grad_norm,
    )?;
    Ok(RegressionStats {
        loss: loss_value,
        td_errors,
        grad_norm,
    })
}
