//! GAIL's discriminator `D_w(s, a)` and the cost it hands the policy (Ho & Ermon 2016).
//!
//! **Convention (the paper's):** `D_w(s, a) ∈ (0, 1)` is the probability that `(s, a)` came from
//! the **policy** π; expert pairs are pushed toward 0. The discriminator ascends
//! `E_π[log D_w(s,a)] + E_{π_E}[log(1 − D_w(s,a))]` (GAIL eq. 17 / Algorithm 1 step 4), i.e.
//! minimises the logistic loss with label 1 for policy pairs and 0 for expert pairs, each side
//! averaged over its own batch. The policy then minimises the cost `c(s,a) = log D_w(s,a)`
//! (Algorithm 1 step 5), i.e. maximises the reward `r(s,a) = −log D_w(s,a) ≥ 0`
//! ([`RewardKind::NegLogD`], the default).
//!
//! `D_w = σ(z_w(s,a))` with `z_w` an MLP over `[s, onehot(a)]` (discrete) or `[s, a]`.

use eirl_models::tensor::*;
use eirl_models::{
    Activation, Adam, AdamConfig, Mlp, Optimizer, ParamMut, ParamRef, Parameterized, device,
    matrix_from_slice,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::ImitationError;
use eirl_envs::{ActionKind, Actions};

/// The reward the policy maximises, derived from `D` = P(policy | s, a).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// `−log D(s,a)` = −cost (GAIL Algorithm 1): positive, so it favours long episodes.
    #[default]
    NegLogD,
    /// `log(1 − D(s,a))`: non-positive, favours ending episodes early.
    LogOneMinusD,
    /// `log(1 − D) − log D = −z`: the logit, unbiased about episode length (AIRL's form).
    Logit,
}

/// Discriminator hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscriminatorConfig {
    /// Hidden widths (Ho & Ermon: the same (100, 100) tanh MLP as the policy).
    pub hidden: Vec<usize>,
    pub activation: Activation,
    /// Adam step size (openai/baselines GAIL's `d_stepsize`, 3e-4).
    pub learning_rate: f32,
}

impl Default for DiscriminatorConfig {
    fn default() -> Self {
        DiscriminatorConfig {
            hidden: vec![100, 100],
            activation: Activation::Tanh,
            learning_rate: 3e-4,
        }
    }
}

/// One discriminator update's diagnostics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiscriminatorStats {
    /// `−(E_π[log D] + E_E[log(1 − D)])` before the step.
    pub loss: f32,
    /// Fraction of policy pairs with `D > ½`.
    pub policy_accuracy: f32,
    /// Fraction of expert pairs with `D < ½`.
    pub expert_accuracy: f32,
}

/// `D_w(s, a)`: the probability that a state-action pair came from the policy.
pub struct Discriminator {
    net: Mlp,
    opt: Adam,
    obs_dim: usize,
    kind: ActionKind,
    num_actions: usize,
}

impl Discriminator {
    /// A discriminator for `obs_dim`-wide observations and actions of `kind` (`num_actions`
    /// is the one-hot width for discrete actions, ignored otherwise).
    pub fn new(
        obs_dim: usize,
        kind: ActionKind,
        num_actions: usize,
        cfg: &DiscriminatorConfig,
        seed: u64,
    ) -> Result<Self, ImitationError> {
        let act_width = match kind {
            ActionKind::Discrete => num_actions,
            ActionKind::Continuous(d) => d,
        };
        let mut sizes = vec![obs_dim + act_width];
        sizes.extend(&cfg.hidden);
        sizes.push(1);
        let dev = device(seed);
        let net = Mlp::new(
            &dev,
            &sizes,
            cfg.activation,
            false,
            &mut ChaCha8Rng::seed_from_u64(seed),
        )?;
        Ok(Discriminator {
            net,
            opt: Adam::new(AdamConfig {
                lr: cfg.learning_rate,
                ..AdamConfig::default()
            }),
            obs_dim,
            kind,
            num_actions,
        })
    }

    /// `[s, onehot(a)]` or `[s, a]` rows.
    fn features(
        &self,
        obs: &[f32],
        actions: &Actions,
    ) -> Result<(Vec<f32>, usize), ImitationError> {
        let n = actions.len();
        if obs.len() != n * self.obs_dim || actions.kind() != self.kind {
            return Err(ImitationError::Config(format!(
                "discriminator input: {n} {:?} actions and {} observation values (width {}, expects {:?})",
                actions.kind(),
                obs.len(),
                self.obs_dim,
                self.kind
            )));
        }
        let mut x = Vec::new();
        match actions {
            Actions::Discrete(a) => {
                for (s, &ai) in obs.chunks(self.obs_dim.max(1)).zip(a) {
                    if ai >= self.num_actions {
                        return Err(ImitationError::Config(format!("action {ai} out of range")));
                    }
                    x.extend_from_slice(s);
                    x.extend((0..self.num_actions).map(|j| if j == ai { 1.0 } else { 0.0 }));
                }
            }
            Actions::Continuous { values, dim } => {
                for (s, a) in obs.chunks(self.obs_dim.max(1)).zip(values.chunks(*dim)) {
                    x.extend_from_slice(s);
                    x.extend_from_slice(a);
                }
            }
        }
        Ok((x, n))
    }

    /// The logits `z_w(s, a)` (`D = σ(z)`), one per pair.
    pub fn logits(&self, obs: &[f32], actions: &Actions) -> Result<Vec<f32>, ImitationError> {
        let (x, n) = self.features(obs, actions)?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let x = matrix_from_slice(&self.device(), &x, n, self.net.inputs())?;
        Ok(self.net.forward(x).as_vec())
    }

    fn device(&self) -> eirl_models::Device {
        match self.net.params().first() {
            Some(ParamRef::Matrix(t)) => t.device().clone(),
            Some(ParamRef::Vector(t)) => t.device().clone(),
            None => device(0),
        }
    }

    /// `D_w(s, a) = σ(z)`: probability of "policy".
    pub fn prob_policy(&self, obs: &[f32], actions: &Actions) -> Result<Vec<f32>, ImitationError> {
        Ok(self
            .logits(obs, actions)?
            .into_iter()
            .map(sigmoid)
            .collect())
    }

    /// The policy's cost `c(s,a) = log D_w(s,a) = −softplus(−z)` (GAIL Algorithm 1).
    pub fn cost(&self, obs: &[f32], actions: &Actions) -> Result<Vec<f32>, ImitationError> {
        Ok(self
            .logits(obs, actions)?
            .into_iter()
            .map(|z| -softplus(-z))
            .collect())
    }

    /// The reward the policy maximises (see [`RewardKind`]).
    pub fn reward(
        &self,
        obs: &[f32],
        actions: &Actions,
        kind: RewardKind,
    ) -> Result<Vec<f32>, ImitationError> {
        let z = self.logits(obs, actions)?;
        Ok(z.into_iter()
            .map(|z| match kind {
                RewardKind::NegLogD => softplus(-z),
                RewardKind::LogOneMinusD => -softplus(z),
                RewardKind::Logit => -z,
            })
            .collect())
    }

    /// One Adam step on `−(E_π[log D] + E_E[log(1 − D)])` (GAIL eq. 17), policy pairs labelled 1.
    pub fn train_step(
        &mut self,
        policy_obs: &[f32],
        policy_actions: &Actions,
        expert_obs: &[f32],
        expert_actions: &Actions,
    ) -> Result<DiscriminatorStats, ImitationError> {
        let (xp, np) = self.features(policy_obs, policy_actions)?;
        let (xe, ne) = self.features(expert_obs, expert_actions)?;
        if np == 0 || ne == 0 {
            return Err(ImitationError::Config(
                "discriminator step needs policy and expert pairs".into(),
            ));
        }
        let dev = self.device();
        let w = self.net.inputs();
        let xp = matrix_from_slice(&dev, &xp, np, w)?.leaky_trace();
        let zp = self.net.forward(xp);
        let zp_host = zp.as_vec();
        // −log D = softplus(−z) = BCE(z, 1); −log(1 − D) = softplus(z) = BCE(z, 0).
        let lp = binary_cross_entropy_with_logits_loss(zp, dev.ones_like(&(np, 1)));
        let (lp, tape) = lp.split_tape();
        let xe = matrix_from_slice(&dev, &xe, ne, w)?.put_tape(tape);
        let ze = self.net.forward(xe);
        let ze_host = ze.as_vec();
        let le = binary_cross_entropy_with_logits_loss(ze, dev.zeros_like(&(ne, 1)));
        let loss = le + lp;
        let value = loss.array();
        if !value.is_finite() {
            return Err(eirl_models::ModelError::NonFinite("discriminator loss").into());
        }
        let mut grads = loss.backward();
        self.opt.step(&mut self.net, &mut grads, None)?;
        let frac = |v: &[f32], pos: bool| {
            v.iter().filter(|&&z| (z > 0.0) == pos).count() as f32 / v.len() as f32
        };
        Ok(DiscriminatorStats {
            loss: value,
            policy_accuracy: frac(&zp_host, true),
            expert_accuracy: frac(&ze_host, false),
        })
    }
}

impl Parameterized for Discriminator {
    fn params(&self) -> Vec<ParamRef<'_>> {
        self.net.params()
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        self.net.params_mut()
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// `ln(1 + eᶻ)`, stable for large `|z|`.
fn softplus(z: f32) -> f32 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn separates_two_point_clouds_and_signs_the_cost() -> Result<(), ImitationError> {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut cloud = |cx: f32, n: usize| -> Vec<f32> {
            (0..n * 2)
                .map(|i| if i % 2 == 0 { cx } else { 0.0 } + rng.gen_range(-0.5..0.5))
                .collect()
        };
        let (po, eo) = (cloud(1.0, 128), cloud(-1.0, 128));
        // Same actions on both sides: only the states tell them apart.
        let acts = Actions::Discrete((0..128).map(|i| i % 2).collect());
        let cfg = DiscriminatorConfig {
            hidden: vec![16],
            learning_rate: 1e-2,
            ..DiscriminatorConfig::default()
        };
        let mut d = Discriminator::new(2, ActionKind::Discrete, 2, &cfg, 0)?;
        let first = d.train_step(&po, &acts, &eo, &acts)?;
        let mut last = first;
        for _ in 0..200 {
            last = d.train_step(&po, &acts, &eo, &acts)?;
        }
        assert!(last.loss < 0.1 * first.loss, "{first:?} → {last:?}");
        assert!(
            last.policy_accuracy > 0.97 && last.expert_accuracy > 0.97,
            "{last:?}"
        );
        let dp = d.prob_policy(&po, &acts)?;
        let de = d.prob_policy(&eo, &acts)?;
        assert!(dp.iter().sum::<f32>() / 128.0 > 0.9 && de.iter().sum::<f32>() / 128.0 < 0.1);
        // Expert-like pairs are cheap (cost log D ≪ 0) and well rewarded.
        let ce = d.cost(&eo, &acts)?;
        let cp = d.cost(&po, &acts)?;
        assert!(ce.iter().sum::<f32>() < cp.iter().sum::<f32>());
        for kind in [
            RewardKind::NegLogD,
            RewardKind::LogOneMinusD,
            RewardKind::Logit,
        ] {
            let re: f32 = d.reward(&eo, &acts, kind)?.iter().sum();
            let rp: f32 = d.reward(&po, &acts, kind)?.iter().sum();
            assert!(re > rp, "{kind:?}");
        }
        let neg_log_d = d.reward(&po, &acts, RewardKind::NegLogD)?;
        assert!(neg_log_d.iter().zip(&cp).all(|(r, c)| (r + c).abs() < 1e-5));
        Ok(())
    }

    #[test]
    fn rejects_mismatched_inputs() -> Result<(), ImitationError> {
        let d = Discriminator::new(
            2,
            ActionKind::Discrete,
            2,
            &DiscriminatorConfig::default(),
            0,
        )?;
        assert!(d.logits(&[0.0; 3], &Actions::Discrete(vec![0, 1])).is_err());
        assert!(d.logits(&[0.0; 4], &Actions::Discrete(vec![0, 2])).is_err());
        let cont = Actions::Continuous {
            values: vec![0.0; 2],
            dim: 1,
        };
        assert!(d.logits(&[0.0; 4], &cont).is_err());
        Ok(())
    }
}
