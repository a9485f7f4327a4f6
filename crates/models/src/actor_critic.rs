//! ACER's discrete actor-critic network (Wang et al. 2017, §3): one torso with a policy head
//! (categorical logits, the distribution statistics φ_θ(x)) and a Q head `Q_θv(x, ·)`.

use dfdx::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::device::{Device, Matrix, device, matrix_from_slice};
use crate::error::ModelError;
use crate::linear::Linear;
use crate::mlp::{Activation, Mlp};
use crate::param::{ParamMut, ParamRef, Parameterized};

/// Architecture of an [`ActorCritic`] (and of ACER's continuous networks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActorCriticConfig {
    /// Hidden widths of the shared torso. Default `[64, 64]` (openai/baselines' `mlp` policy,
    /// which its ACER uses on low-dimensional inputs).
    pub hidden: Vec<usize>,
    /// Default tanh (baselines' `mlp`).
    pub activation: Activation,
    /// Scale of the policy layer's initial weights (baselines: `init_scale=0.01`).
    pub policy_scale: f32,
}

impl Default for ActorCriticConfig {
    fn default() -> Self {
        ActorCriticConfig {
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            policy_scale: 0.01,
        }
    }
}

impl ActorCriticConfig {
    pub(crate) fn check(&self) -> Result<(), ModelError> {
        if self.hidden.is_empty() {
            return Err(ModelError::Config(
                "an actor-critic torso needs at least one hidden layer".into(),
            ));
        }
        if let Some(i) = self.hidden.iter().position(|&h| h == 0) {
            return Err(ModelError::Config(format!("hidden layer {i} has width 0")));
        }
        if !self.policy_scale.is_finite() {
            return Err(ModelError::Config("policy_scale must be finite".into()));
        }
        Ok(())
    }
}

/// `x ↦ (φ_θ(x), Q_θv(x, ·))`: categorical logits and action values from a shared torso, as in
/// ACER's discrete agents (openai/baselines `acer_policies`).
///
/// Parameters enumerate torso, policy head, then Q head, so an average network built from the
/// same config can be Polyak-averaged into it.
#[derive(Clone, Debug)]
pub struct ActorCritic {
    dev: Device,
    torso: Mlp,
    policy: Linear,
    q: Linear,
    obs_dim: usize,
    num_actions: usize,
}

impl ActorCritic {
    /// Builds the network with parameters drawn from `seed`.
    pub fn new(
        obs_dim: usize,
        num_actions: usize,
        cfg: &ActorCriticConfig,
        seed: u64,
    ) -> Result<Self, ModelError> {
        Self::with_second_head(obs_dim, num_actions, num_actions, cfg, seed)
    }

    /// Torso, policy head of `num_actions` logits, and a second linear head of `width` outputs.
    fn with_second_head(
        obs_dim: usize,
        num_actions: usize,
        width: usize,
        cfg: &ActorCriticConfig,
        seed: u64,
    ) -> Result<Self, ModelError> {
        if obs_dim == 0 || num_actions == 0 {
            return Err(ModelError::Config(format!(
                "observation and action sizes must be positive (got {obs_dim}, {num_actions})"
            )));
        }
        cfg.check()?;
        let dev = device(seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut sizes = vec![obs_dim];
        sizes.extend(&cfg.hidden);
        let features = sizes[sizes.len() - 1];
        let torso = Mlp::new(&dev, &sizes, cfg.activation, true, &mut rng)?;
        let policy = Linear::with_scale(&dev, features, num_actions, cfg.policy_scale, &mut rng);
        let q = Linear::new(&dev, features, width, &mut rng);
        Ok(ActorCritic {
            dev,
            torso,
            policy,
            q,
            obs_dim,
            num_actions,
        })
    }

    pub fn device(&self) -> &Device {
        &self.dev
    }

    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    pub fn num_actions(&self) -> usize {
        self.num_actions
    }

    /// `[B, obs_dim] → (logits [B, A], Q [B, A])`. Both heads are recorded on the tape of `x`,
    /// which comes back on the Q values; to use the logits in a loss, move the tape onto them
    /// (`let (q, tape) = q.split_tape(); … logits.put_tape(tape) …`).
    pub fn forward<T: Tape<f32, Device>>(&self, x: Matrix<T>) -> (Matrix, Matrix<T>) {
        let (f, tape) = self.torso.forward(x).split_tape();
        let (logits, tape) = self.policy.forward(f.clone().put_tape(tape)).split_tape();
        let q = self.q.forward(f.put_tape(tape));
        (logits, q)
    }

    /// Logits and Q values for a row-major batch `obs: [batch, obs_dim]`, each `[batch, A]`.
    pub fn logits_and_q(
        &self,
        obs: &[f32],
        batch: usize,
    ) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        let x = matrix_from_slice(&self.dev, obs, batch, self.obs_dim)?;
        let (logits, q) = self.forward(x);
        Ok((logits.as_vec(), q.as_vec()))
    }

    /// Logits only (the policy head still runs through the torso), `[batch, A]`.
    pub fn logits(&self, obs: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        let x = matrix_from_slice(&self.dev, obs, batch, self.obs_dim)?;
        let f = self.torso.forward(x);
        Ok(self.policy.forward(f).as_vec())
    }
}

impl Parameterized for ActorCritic {
    fn params(&self) -> Vec<ParamRef<'_>> {
        let mut p = self.torso.params();
        p.extend(self.policy.params());
        p.extend(self.q.params());
        p
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        let mut p = self.torso.params_mut();
        p.extend(self.policy.params_mut());
        p.extend(self.q.params_mut());
        p
    }
}

/// `x ↦ (π(·|x) logits, V(x))`: the policy-value network of IMPALA and SEED RL's V-trace agents
/// (one torso, a categorical policy head and a scalar state-value head).
///
/// Parameters enumerate torso, policy head, then value head.
#[derive(Clone, Debug)]
pub struct PolicyValueNetwork(ActorCritic);

impl PolicyValueNetwork {
    /// Builds the network with parameters drawn from `seed` (`cfg.policy_scale` scales the policy
    /// layer's initial weights, as for [`ActorCritic`]).
    pub fn new(
        obs_dim: usize,
        num_actions: usize,
        cfg: &ActorCriticConfig,
        seed: u64,
    ) -> Result<Self, ModelError> {
        ActorCritic::with_second_head(obs_dim, num_actions, 1, cfg, seed).map(PolicyValueNetwork)
    }

    pub fn device(&self) -> &Device {
        self.0.device()
    }

    pub fn obs_dim(&self) -> usize {
        self.0.obs_dim()
    }

    pub fn num_actions(&self) -> usize {
        self.0.num_actions()
    }

    /// `[B, obs_dim] → (logits [B, A], V [B, 1])`; the tape of `x` comes back on the values (see
    /// [`ActorCritic::forward`] for moving it onto the logits).
    pub fn forward<T: Tape<f32, Device>>(&self, x: Matrix<T>) -> (Matrix, Matrix<T>) {
        self.0.forward(x)
    }

    /// Logits `[batch, A]` and values `[batch]` for a row-major batch `obs: [batch, obs_dim]`.
    pub fn logits_and_values(
        &self,
        obs: &[f32],
        batch: usize,
    ) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        self.0.logits_and_q(obs, batch)
    }

    /// Logits only, `[batch, A]` (the value head is skipped).
    pub fn logits(&self, obs: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        self.0.logits(obs, batch)
    }
}

impl Parameterized for PolicyValueNetwork {
    fn params(&self) -> Vec<ParamRef<'_>> {
        self.0.params()
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        self.0.params_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_share_the_tape_and_both_get_gradients() -> Result<(), ModelError> {
        let net = ActorCritic::new(3, 2, &ActorCriticConfig::default(), 0)?;
        let x = matrix_from_slice(net.device(), &[0.1, -0.2, 0.3, 0.5, 0.0, -1.0], 2, 3)?;
        let (logits, q) = net.forward(x.leaky_trace());
        // Finish the Q branch on the tape, then move the tape onto the logits.
        let (q_sum, tape) = q.sum::<Rank0, _>().split_tape();
        let loss = logits.put_tape(tape).sum::<Rank0, _>() + q_sum;
        let grads = loss.backward();
        for p in net.params() {
            let ParamRef::Vector(b) = p else { continue };
            let g = grads.get(b).as_vec();
            assert!(g.iter().all(|v| v.is_finite()));
            assert!(
                g.iter().any(|v| v.abs() > 0.0),
                "every bias gets a gradient: {g:?}"
            );
        }
        let (l, qv) = net.logits_and_q(&[0.1, -0.2, 0.3], 1)?;
        assert_eq!((l.len(), qv.len()), (2, 2));
        assert_eq!(net.logits(&[0.1, -0.2, 0.3], 1)?, l);
        assert!(ActorCritic::new(0, 2, &ActorCriticConfig::default(), 0).is_err());
        Ok(())
    }

    #[test]
    fn policy_value_network_has_one_value_per_row() -> Result<(), ModelError> {
        let net = PolicyValueNetwork::new(3, 4, &ActorCriticConfig::default(), 1)?;
        let (l, v) = net.logits_and_values(&[0.1, -0.2, 0.3, 0.5, 0.0, -1.0], 2)?;
        assert_eq!((l.len(), v.len()), (8, 2));
        assert_eq!(net.logits(&[0.1, -0.2, 0.3, 0.5, 0.0, -1.0], 2)?, l);
        let mut other = PolicyValueNetwork::new(3, 4, &ActorCriticConfig::default(), 2)?;
        assert_ne!(
            other.logits(&[0.1, -0.2, 0.3], 1)?,
            net.logits(&[0.1, -0.2, 0.3], 1)?
        );
        other.import_params(&net.export_params())?;
        assert_eq!(
            other.logits_and_values(&[0.1, -0.2, 0.3], 1)?,
            net.logits_and_values(&[0.1, -0.2, 0.3], 1)?
        );
        Ok(())
    }
}
