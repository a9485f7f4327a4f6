//! Stochastic policy networks for policy-gradient and imitation methods (BC, DAgger, GAIL's
//! TRPO generator): an MLP whose output is either categorical logits or the mean of a diagonal
//! Gaussian with a state-independent `log σ` parameter, plus an exact forward-mode
//! Jacobian-vector product (what TRPO's Fisher-vector products need, since dfdx has no double
//! backward).

use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::device::{Device, Matrix, Vector, device, matrix_from_slice};
use crate::distributions::{Categorical, DiagGaussian};
use crate::error::{ModelError, check_len};
use crate::linear::Linear;
use crate::mlp::Activation;
use crate::param::{ParamMut, ParamRef, Parameterized};

/// What a [`PolicyNetwork`]'s output parameterises.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum PolicyHead {
    /// `π(·|s) = softmax(logits(s))` over `num_actions` actions.
    Categorical { num_actions: usize },
    /// `π(·|s) = N(μ(s), diag(σ²))` over `act_dim` dimensions, `log σ` a free parameter
    /// (state-independent, as in TRPO/GAIL's Gaussian MLP policies) starting at `init_log_std`.
    Gaussian { act_dim: usize, init_log_std: f32 },
}

impl PolicyHead {
    /// Width of the network's output: logits or means.
    pub fn output_dim(&self) -> usize {
        match *self {
            PolicyHead::Categorical { num_actions } => num_actions,
            PolicyHead::Gaussian { act_dim, .. } => act_dim,
        }
    }
}

/// Torso of a [`PolicyNetwork`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyNetworkConfig {
    /// Hidden-layer widths. Default `[64, 64]` (openai/baselines' `mlp` policy used by its TRPO
    /// and GAIL; Ho & Ermon 2016 use two layers of 100).
    pub hidden: Vec<usize>,
    /// Default tanh (baselines' and Ho & Ermon's policy MLPs).
    pub activation: Activation,
    /// Scale of the output layer's initial weights; 0.01 keeps the initial policy close to
    /// uniform / zero-mean (baselines' `init_scale=0.01` on policy heads).
    pub output_scale: f32,
}

impl Default for PolicyNetworkConfig {
    fn default() -> Self {
        PolicyNetworkConfig {
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            output_scale: 0.01,
        }
    }
}

/// A policy `s ↦ π(·|s)`: an MLP to categorical logits or Gaussian means, with a
/// state-independent `log σ` vector for the Gaussian head.
///
/// Parameters enumerate layer by layer (`W`, `b`), then `log σ` (Gaussian only).
#[derive(Clone)]
pub struct PolicyNetwork {
    dev: Device,
    layers: Vec<Linear>,
    activation: Activation,
    log_std: Option<Vector>,
    obs_dim: usize,
    head: PolicyHead,
}

impl std::fmt::Debug for PolicyNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyNetwork")
            .field("obs_dim", &self.obs_dim)
            .field("head", &self.head)
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl PolicyNetwork {
    /// Builds the network with parameters drawn from `seed`.
    pub fn new(
        obs_dim: usize,
        head: PolicyHead,
        cfg: &PolicyNetworkConfig,
        seed: u64,
    ) -> Result<Self, ModelError> {
        let out = head.output_dim();
        if obs_dim == 0 || out == 0 {
            return Err(ModelError::Config(format!(
                "observation and action sizes must be positive (got {obs_dim}, {out})"
            )));
        }
        if let Some(i) = cfg.hidden.iter().position(|&h| h == 0) {
            return Err(ModelError::Config(format!("hidden layer {i} has width 0")));
        }
        if !cfg.output_scale.is_finite() {
            return Err(ModelError::Config("output_scale must be finite".into()));
        }
        let dev = device(seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut sizes = vec![obs_dim];
        sizes.extend(&cfg.hidden);
        sizes.push(out);
        crate::limits::check_parameters("policy network", &sizes, 1)?;
        let n = sizes.len() - 1;
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let scale = if i + 1 == n { cfg.output_scale } else { 1.0 };
                Linear::with_scale(&dev, w[0], w[1], scale, &mut rng)
            })
            .collect();
        let log_std = match head {
            PolicyHead::Categorical { .. } => None,
            PolicyHead::Gaussian {
                act_dim,
                init_log_std,
            } => {
                if !init_log_std.is_finite() {
                    return Err(ModelError::Config("init_log_std must be finite".into()));
                }
                Some(dev.tensor_from_vec(vec![init_log_std; act_dim], (act_dim,)))
            }
        };
        Ok(PolicyNetwork {
            dev,
            layers,
            activation: cfg.activation,
            log_std,
            obs_dim,
            head,
        })
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// The layers (input first) and the hidden activation, for [`crate::TorchExport`].
    pub(crate) fn torch_parts(&self) -> (&[Linear], Activation) {
        (&self.layers, self.activation)
    }

    /// Observation width.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// The distribution the output parameterises.
    pub fn head(&self) -> PolicyHead {
        self.head
    }

    /// Output width (logits or means).
    pub fn output_dim(&self) -> usize {
        self.head.output_dim()
    }

    /// `log σ` (Gaussian head only), as a tensor whose gradients the tape tracks.
    pub fn log_std(&self) -> Option<&Vector> {
        self.log_std.as_ref()
    }

    /// `log σ` on the host (empty for a categorical head).
    pub fn log_std_values(&self) -> Vec<f32> {
        self.log_std
            .as_ref()
            .map(|t| t.as_vec())
            .unwrap_or_default()
    }

    /// `[B, obs_dim] → [B, output_dim]` (logits or means) on the tape of `x`.
    pub fn forward<T: Tape<f32, Device>>(&self, x: Matrix<T>) -> Matrix<T> {
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

    /// Logits or means for a row-major batch `obs: [batch, obs_dim]`; returns `[batch, out]`.
    pub fn outputs(&self, obs: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        let x = matrix_from_slice(&self.dev, obs, batch, self.obs_dim)?;
        Ok(self.forward(x).as_vec())
    }

    /// `log π(a_i|s_i)` for a categorical head, on the tape of `x`: `[B] `.
    pub fn log_prob_discrete<T: Tape<f32, Device>>(
        &self,
        x: Matrix<T>,
        actions: &[usize],
    ) -> Result<Vector<T>, ModelError> {
        let PolicyHead::Categorical { num_actions } = self.head else {
            return Err(ModelError::Config(
                "discrete actions given to a Gaussian policy".into(),
            ));
        };
        check_len("actions", x.shape().0, actions.len())?;
        if let Some(&a) = actions.iter().find(|&&a| a >= num_actions) {
            return Err(ModelError::Config(format!(
                "action {a} out of range for {num_actions} actions"
            )));
        }
        Ok(Categorical::log_prob(self.forward(x), actions))
    }

    /// `log N(a_i | μ(s_i), σ²)` for a Gaussian head (`actions: [B, act_dim]`), on the tape of
    /// `x`; gradients reach both the network and `log σ`.
    pub fn log_prob_continuous<T: Tape<f32, Device>>(
        &self,
        x: Matrix<T>,
        actions: &[f32],
    ) -> Result<Vector<T>, ModelError> {
        let Some(log_std) = &self.log_std else {
            return Err(ModelError::Config(
                "continuous actions given to a categorical policy".into(),
            ));
        };
        check_len("actions", x.shape().0 * self.output_dim(), actions.len())?;
        Ok(DiagGaussian::log_prob(self.forward(x), log_std, actions))
    }

    /// Samples (or, when `deterministic`, takes the mode of) one action per row. Discrete
    /// actions come back as `f32` indices in `discrete`, continuous ones row-major in
    /// `continuous`; exactly one of the two is filled.
    pub fn act(
        &self,
        obs: &[f32],
        batch: usize,
        deterministic: bool,
        rng: &mut impl Rng,
    ) -> Result<(Vec<usize>, Vec<f32>), ModelError> {
        let out = self.outputs(obs, batch)?;
        let d = self.output_dim();
        match self.head {
            PolicyHead::Categorical { .. } => {
                let actions = out
                    .chunks(d)
                    .map(|row| {
                        if deterministic {
                            Categorical::argmax(row)
                        } else {
                            Categorical::sample(&Categorical::probs(row), rng)
                        }
                    })
                    .collect();
                Ok((actions, Vec::new()))
            }
            PolicyHead::Gaussian { .. } => {
                if deterministic {
                    return Ok((Vec::new(), out));
                }
                let log_std = self.log_std_values();
                let actions = out
                    .chunks(d)
                    .flat_map(|mean| DiagGaussian::sample(mean, &log_std, rng))
                    .collect();
                Ok((Vec::new(), actions))
            }
        }
    }

    /// Exact forward-mode Jacobian-vector product of the head output: returns
    /// `(f(θ; s), J_θ f(θ; s) · v)`, both `[batch, output_dim]` row-major, where `v` is a
    /// direction in parameter space laid out flat in [`Parameterized::params`] order
    /// (`v.len() == num_params()`; the `log σ` entries do not move the output and are ignored).
    ///
    /// Per layer `y = hW + b`: `ẏ = ḣW + hẆ + ḃ`; then `tanh`: `ḣ' = ẏ ⊙ (1 − tanh²y)`,
    /// `relu`: `ḣ' = ẏ ⊙ 1[y > 0]`.
    pub fn jvp(
        &self,
        obs: &[f32],
        batch: usize,
        v: &[f32],
    ) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        check_len("tangent", self.num_params(), v.len())?;
        let mut h = matrix_from_slice(&self.dev, obs, batch, self.obs_dim)?;
        let mut dh: Matrix = self.dev.zeros_like(&(batch, self.obs_dim));
        let n = self.layers.len();
        let mut offset = 0;
        for (i, layer) in self.layers.iter().enumerate() {
            let (inp, out) = (layer.inputs(), layer.outputs());
            let params = layer.params();
            let (Some(ParamRef::Matrix(w)), Some(ParamRef::Vector(_))) =
                (params.first(), params.get(1))
            else {
                return Err(ModelError::Config("unexpected layer parameters".into()));
            };
            let dw = matrix_from_slice(&self.dev, &v[offset..offset + inp * out], inp, out)?;
            offset += inp * out;
            let db: Vector = self
                .dev
                .tensor_from_vec(v[offset..offset + out].to_vec(), (out,));
            offset += out;
            let y = layer.forward(h.clone());
            let dy = dh.matmul((*w).clone())
                + h.matmul(dw)
                + db.broadcast_like::<(usize, usize), Axis<0>>(&(batch, out));
            if i + 1 < n {
                let yv = y.as_vec();
                let dyv = dy.as_vec();
                let (hv, dhv): (Vec<f32>, Vec<f32>) = match self.activation {
                    Activation::Tanh => yv
                        .iter()
                        .zip(&dyv)
                        .map(|(&y, &d)| {
                            let t = y.tanh();
                            (t, d * (1.0 - t * t))
                        })
                        .unzip(),
                    Activation::Relu => yv
                        .iter()
                        .zip(&dyv)
                        .map(|(&y, &d)| if y > 0.0 { (y, d) } else { (0.0, 0.0) })
                        .unzip(),
                };
                h = self.dev.tensor_from_vec(hv, (batch, out));
                dh = self.dev.tensor_from_vec(dhv, (batch, out));
            } else {
                return Ok((y.as_vec(), dy.as_vec()));
            }
        }
        Err(ModelError::Config("policy network has no layers".into()))
    }
}

impl Parameterized for PolicyNetwork {
    fn params(&self) -> Vec<ParamRef<'_>> {
        let mut p: Vec<ParamRef<'_>> = self.layers.iter().flat_map(Linear::params).collect();
        if let Some(ls) = &self.log_std {
            p.push(ParamRef::Vector(ls));
        }
        p
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        let mut p: Vec<ParamMut<'_>> = self
            .layers
            .iter_mut()
            .flat_map(Linear::params_mut)
            .collect();
        if let Some(ls) = &mut self.log_std {
            p.push(ParamMut::Vector(ls));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(net: &PolicyNetwork) -> Vec<f32> {
        net.export_params()
            .into_iter()
            .flat_map(|(_, v)| v)
            .collect()
    }

    fn set_flat(net: &mut PolicyNetwork, theta: &[f32]) {
        let mut off = 0;
        let shaped: Vec<(Vec<usize>, Vec<f32>)> = net
            .export_params()
            .into_iter()
            .map(|(s, v)| {
                let n = v.len();
                let out = (s, theta[off..off + n].to_vec());
                off += n;
                out
            })
            .collect();
        assert!(net.import_params(&shaped).is_ok());
    }

    #[test]
    fn jvp_matches_central_differences() -> Result<(), ModelError> {
        for act in [Activation::Tanh, Activation::Relu] {
            let cfg = PolicyNetworkConfig {
                hidden: vec![5, 4],
                activation: act,
                output_scale: 1.0,
            };
            let head = PolicyHead::Gaussian {
                act_dim: 2,
                init_log_std: -0.5,
            };
            let net = PolicyNetwork::new(3, head, &cfg, 7)?;
            let obs: Vec<f32> = (0..12).map(|i| (i as f32 * 0.37).sin()).collect();
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let v: Vec<f32> = (0..net.num_params())
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let (f0, jv) = net.jvp(&obs, 4, &v)?;
            assert_eq!(f0, net.outputs(&obs, 4)?);
            let theta = flat(&net);
            let eps = 1e-2_f32;
            let mut plus = net.clone();
            let mut minus = net.clone();
            let tp: Vec<f32> = theta.iter().zip(&v).map(|(t, d)| t + eps * d).collect();
            let tm: Vec<f32> = theta.iter().zip(&v).map(|(t, d)| t - eps * d).collect();
            set_flat(&mut plus, &tp);
            set_flat(&mut minus, &tm);
            let (fp, fm) = (plus.outputs(&obs, 4)?, minus.outputs(&obs, 4)?);
            for ((p, m), j) in fp.iter().zip(&fm).zip(&jv) {
                let fd = (p - m) / (2.0 * eps);
                assert!(
                    (fd - j).abs() < 2e-3 + 2e-3 * j.abs(),
                    "{act:?}: fd {fd} vs jvp {j}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn rejects_wrong_action_kinds_and_lengths() -> Result<(), ModelError> {
        let cfg = PolicyNetworkConfig::default();
        let net = PolicyNetwork::new(2, PolicyHead::Categorical { num_actions: 3 }, &cfg, 0)?;
        let x = matrix_from_slice(net.device(), &[0.0; 4], 2, 2)?;
        assert!(net.log_prob_discrete(x.clone(), &[0, 3]).is_err());
        assert!(net.log_prob_discrete(x.clone(), &[0]).is_err());
        assert!(net.log_prob_continuous(x.clone(), &[0.0; 2]).is_err());
        assert_eq!(net.log_prob_discrete(x, &[0, 2])?.as_vec().len(), 2);
        assert!(net.jvp(&[0.0; 4], 2, &[0.0; 3]).is_err());
        Ok(())
    }
}
