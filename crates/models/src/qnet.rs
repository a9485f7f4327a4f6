//! Action-value networks: plain `Q(s, ·)` and dueling `Q = V + A − mean A` (Wang et al. 2016).

use dfdx::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::device::{Device, Matrix, device, matrix_from_slice};
use crate::error::{ModelError, check_len};
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

/// A network `s ↦ Q(s, ·) ∈ ℝ^A` over flat observations.
pub struct QNetwork {
    dev: Device,
    head: Head,
    cfg: QNetworkConfig,
    obs_dim: usize,
    num_actions: usize,
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
        QNetwork {
            dev: self.dev.clone(),
            head,
            cfg: self.cfg.clone(),
            obs_dim: self.obs_dim,
            num_actions: self.num_actions,
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
        Ok(QNetwork {
            dev,
            head,
            cfg: cfg.clone(),
            obs_dim,
            num_actions,
        })
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
