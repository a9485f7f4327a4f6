//! ACER hyperparameters. Defaults are openai/baselines' ACER (`baselines/acer/acer.py`) as
//! exposed by Stable-Baselines 2's `ACER` class, whose replay sizes suit classic control; the
//! paper's Atari values (Wang et al. 2017, appendix) are noted where they differ.

use eirl_models::{Activation, ActorCriticConfig};
use serde::{Deserialize, Serialize};

use eirl_agent::limits::{ensure_fits_in_memory, ensure_network_size, sequence_step_bytes};
use eirl_agent::{ConfigError, RunSettings, ensure, ensure_positive as positive_finite};

use crate::AcerError;

/// Every ACER hyperparameter. Step counts are environment steps summed over all envs unless a
/// field says "per env".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcerConfig {
    /// Shared torso with policy and Q heads (baselines' `mlp`: two tanh layers of 64).
    pub network: ActorCriticConfig,
    /// Parallel actors (the paper: 16 threads; SB2 zoo's tuned CartPole/Acrobot preset: 8).
    pub num_envs: usize,
    /// Steps `k` of each rollout and replayed sequence (paper and baselines: 20).
    pub n_steps: usize,
    /// Discount γ (paper and baselines: 0.99).
    pub gamma: f32,
    /// RMSProp learning rate (baselines: 7e-4).
    pub learning_rate: f32,
    /// Decay the learning rate linearly to 0 over `total_steps`. Default `false`: the paper keeps
    /// it constant; baselines anneals (`lrschedule='linear'`), which on CartPole-v1 at 200k steps
    /// stalled 2 of 3 seeds near 200 (eval) where a constant rate reached 500.
    pub lr_decay: bool,
    /// RMSProp decay (baselines: 0.99).
    pub rmsprop_alpha: f32,
    /// RMSProp ε (baselines: 1e-5).
    pub rmsprop_eps: f32,
    /// Weight of the critic loss `½(Q^ret − Q)²` (baselines: `q_coef=0.5`).
    pub q_coef: f32,
    /// Entropy bonus β (baselines: 0.01; the SB2 zoo's CartPole preset uses 0).
    pub ent_coef: f32,
    /// Global gradient-norm clip (baselines: 10).
    pub max_grad_norm: Option<f32>,
    /// Mean of the Poisson number of off-policy updates per on-policy one (paper §3, Alg. 1: 4;
    /// 0 gives on-policy A3C-style learning with Retrace targets).
    pub replay_ratio: f32,
    /// Replay capacity in steps per env (SB2: 5000; baselines' Atari: 50 000). Stored as
    /// `buffer_size / n_steps × num_envs` sequences.
    pub buffer_size: usize,
    /// Steps per env in replay before off-policy updates start (SB2: 1000; baselines: 10 000).
    pub replay_start: usize,
    /// Importance-weight truncation `c` of the policy gradient (eq. 1.9; paper and baselines: 10).
    pub c: f32,
    /// Truncation of the Retrace trace `ρ̄ = min(trace_c, ρ)` in Q^ret (eq. 1.8: 1).
    pub trace_c: f32,
    /// `true`: truncated importance sampling with bias correction (eqs. 1.9–1.11); `false`: the
    /// ablation with untruncated weights `ρ_t` and no correction term.
    pub truncation: bool,
    /// Efficient trust region (eqs. 1.13–1.16); `false` is the paper's ablation.
    pub trust_region: bool,
    /// Average policy network decay `θ_a ← α θ_a + (1 − α) θ` (paper: 0.99).
    pub alpha: f32,
    /// Trust-region bound δ (paper and baselines: 1).
    pub delta: f32,
    /// Samples `n` of the Stochastic Dueling Network's `E_u A(x, u)` estimate (eq. 1.17: 5);
    /// continuous actions only.
    pub sdn_samples: usize,
    /// Initial `log σ` of the Gaussian policy (continuous actions only).
    pub init_log_std: f32,
    /// Rewards are multiplied by this before learning (episode returns are reported unscaled).
    /// Not in the paper (default 1); Pendulum's −16/step scale is the usual reason to set it.
    pub reward_scale: f32,
    /// Normalise observations by their running mean and variance (Stable-Baselines3's
    /// `VecNormalize(norm_obs=True)`, clipped to ±10; [`eirl_envs::VecNormalize`]). Not in the
    /// paper (default off). The statistics update while training, are saved in every
    /// checkpoint and are applied frozen by evaluation, `eirl eval`, `eirl demo record` and
    /// when the run is an expert.
    pub normalize_obs: bool,
    /// Divide rewards by the running standard deviation of the `gamma`-discounted return
    /// (SB3's `VecNormalize(norm_reward=True)`, clipped to ±10), before `reward_scale`. Not in
    /// the paper (default off); episode returns are reported unnormalised.
    pub normalize_reward: bool,
    /// Total env steps of a run (overridden by `--steps`).
    pub total_steps: u64,
    /// Evaluate the greedy (mode) policy every this many env steps.
    pub eval_interval: u64,
    /// Episodes per evaluation.
    pub eval_episodes: usize,
    /// Exact resume: checkpoints also carry the sequence replay (filled slots and ring
    /// position), RMSProp's running mean of squared gradients, the sampling RNG and the
    /// environments' states, so a resumed run continues bit for bit as if never stopped. Costs
    /// `stored steps × (2·obs_dim + act_dim + dist_dim + 3) × 4` bytes (CartPole: 56 bytes a
    /// step, ≤ `buffer_size × num_envs` steps) plus the network's size. Off (default):
    /// networks and counters only, and a resumed run refills replay first.
    pub exact_resume: bool,
}

impl Default for AcerConfig {
    fn default() -> Self {
        AcerConfig {
            network: ActorCriticConfig {
                hidden: vec![64, 64],
                activation: Activation::Tanh,
                policy_scale: 0.01,
            },
            num_envs: 8,
            n_steps: 20,
            gamma: 0.99,
            learning_rate: 7e-4,
            lr_decay: false,
            rmsprop_alpha: 0.99,
            rmsprop_eps: 1e-5,
            q_coef: 0.5,
            ent_coef: 0.01,
            max_grad_norm: Some(10.0),
            replay_ratio: 4.0,
            buffer_size: 5000,
            replay_start: 1000,
            c: 10.0,
            trace_c: 1.0,
            truncation: true,
            trust_region: true,
            alpha: 0.99,
            delta: 1.0,
            sdn_samples: 5,
            init_log_std: 0.0,
            reward_scale: 1.0,
            normalize_obs: false,
            normalize_reward: false,
            total_steps: 200_000,
            eval_interval: 10_000,
            eval_episodes: 20,
            exact_resume: false,
        }
    }
}

impl AcerConfig {
    /// Run length and evaluation cadence.
    pub fn run_settings(&self) -> RunSettings {
        RunSettings {
            total_steps: self.total_steps,
            eval_interval: self.eval_interval,
            eval_episodes: self.eval_episodes,
        }
    }

    /// What [`eirl_envs::VecNormalize`] normalises, with SB3's clips and ε and this `gamma`.
    pub fn normalize(&self) -> eirl_envs::NormalizeConfig {
        eirl_envs::NormalizeConfig::new(
            self.normalize_obs,
            self.normalize_reward,
            f64::from(self.gamma),
        )
    }

    /// Replay capacity in sequences.
    pub fn replay_capacity(&self) -> usize {
        (self.buffer_size / self.n_steps.max(1)).max(1) * self.num_envs
    }

    /// Rejects a replay memory that would not fit in the machine's available memory:
    /// `replay_capacity() × n_steps` steps of observations of `obs_dim`, actions of `act_dim`
    /// and behaviour distributions of `dist_dim` floats. [`AcerConfig::validate`] makes this
    /// check with every width 1, a lower bound.
    pub fn check_memory(
        &self,
        obs_dim: usize,
        act_dim: usize,
        dist_dim: usize,
    ) -> Result<(), ConfigError> {
        let sequences = (self.buffer_size / self.n_steps.max(1)).max(1) as u64;
        let steps = sequences
            .saturating_mul(self.num_envs as u64)
            .saturating_mul(self.n_steps as u64);
        ensure_fits_in_memory(
            &format!(
                "buffer_size = {} (× num_envs = {}: {steps} steps)",
                self.buffer_size, self.num_envs
            ),
            steps,
            sequence_step_bytes(obs_dim, act_dim, dist_dim),
        )
    }

    /// Rejects out-of-range values with a message naming the field, and sizes (replay memory,
    /// networks, env count) that would exhaust memory, before anything is allocated.
    pub fn validate(&self) -> Result<(), AcerError> {
        ensure(self.num_envs >= 1, || "num_envs must be at least 1".into())?;
        ensure(self.num_envs <= eirl_envs::MAX_NUM_ENVS, || {
            format!(
                "num_envs = {} is more than the limit of {}",
                self.num_envs,
                eirl_envs::MAX_NUM_ENVS
            )
        })?;
        ensure(self.n_steps >= 1, || "n_steps must be at least 1".into())?;
        ensure((0.0..=1.0).contains(&self.gamma), || {
            format!("gamma must be in [0, 1], got {}", self.gamma)
        })?;
        positive_finite("learning_rate", self.learning_rate)?;
        ensure((0.0..1.0).contains(&self.rmsprop_alpha), || {
            format!(
                "rmsprop_alpha must be in [0, 1), got {}",
                self.rmsprop_alpha
            )
        })?;
        positive_finite("rmsprop_eps", self.rmsprop_eps)?;
        ensure(self.q_coef >= 0.0 && self.q_coef.is_finite(), || {
            format!("q_coef must be ≥ 0, got {}", self.q_coef)
        })?;
        ensure(self.ent_coef >= 0.0 && self.ent_coef.is_finite(), || {
            format!("ent_coef must be ≥ 0, got {}", self.ent_coef)
        })?;
        if let Some(m) = self.max_grad_norm {
            positive_finite("max_grad_norm", m)?;
        }
        ensure(
            self.replay_ratio >= 0.0 && self.replay_ratio.is_finite(),
            || format!("replay_ratio must be ≥ 0, got {}", self.replay_ratio),
        )?;
        ensure(self.buffer_size >= self.n_steps, || {
            format!(
                "buffer_size ({}) must hold at least one sequence of n_steps ({})",
                self.buffer_size, self.n_steps
            )
        })?;
        positive_finite("c", self.c)?;
        positive_finite("trace_c", self.trace_c)?;
        ensure((0.0..=1.0).contains(&self.alpha), || {
            format!("alpha must be in [0, 1], got {}", self.alpha)
        })?;
        positive_finite("delta", self.delta)?;
        ensure(self.sdn_samples >= 1, || {
            "sdn_samples must be at least 1".into()
        })?;
        positive_finite("reward_scale", self.reward_scale)?;
        ensure(self.init_log_std.is_finite(), || {
            "init_log_std must be finite".into()
        })?;
        self.run_settings().validate()?;
        ensure(
            !self.network.hidden.is_empty() && !self.network.hidden.contains(&0),
            || "network.hidden must list positive widths".into(),
        )?;
        ensure_network_size("network.hidden", &self.network.hidden, 1)?;
        self.check_memory(1, 1, 1)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_toml_overrides_fields() {
        assert!(AcerConfig::default().validate().is_ok());
        let cfg: AcerConfig =
            toml::from_str("replay_ratio = 0.0\ntrust_region = false\n[network]\nhidden = [32]\n")
                .expect("valid TOML");
        assert!(cfg.validate().is_ok());
        assert!(!cfg.trust_region);
        assert_eq!(cfg.network.hidden, vec![32]);
        assert!(toml::from_str::<AcerConfig>("no_such_field = 1").is_err());
        for bad in [
            AcerConfig {
                gamma: 1.5,
                ..AcerConfig::default()
            },
            AcerConfig {
                delta: 0.0,
                ..AcerConfig::default()
            },
            AcerConfig {
                replay_ratio: -1.0,
                ..AcerConfig::default()
            },
            AcerConfig {
                buffer_size: 3,
                ..AcerConfig::default()
            },
            AcerConfig {
                num_envs: 0,
                ..AcerConfig::default()
            },
        ] {
            assert!(bad.validate().is_err());
        }
        assert_eq!(AcerConfig::default().replay_capacity(), 250 * 8);
    }

    /// `buffer_size = 100000000000` and `hidden = [100000, 100000]` passed validation and
    /// aborted on allocation; both are refused naming the setting and the limit.
    #[test]
    fn sizes_that_exhaust_memory_are_refused() {
        let replay = AcerConfig {
            buffer_size: 100_000_000_000,
            ..AcerConfig::default()
        };
        let err = replay
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("buffer_size = 100000000000"), "{err}");
        assert!(err.contains("available"), "{err}");
        assert!(crate::Acer::new("CartPole-v1", replay, 0).is_err());
        let mut net = AcerConfig::default();
        net.network.hidden = vec![100_000, 100_000];
        let err = net
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("network.hidden") && err.contains("2^28"),
            "{err}"
        );
        assert!(crate::Acer::new("CartPole-v1", net, 0).is_err());
        let envs = AcerConfig {
            num_envs: usize::MAX,
            ..AcerConfig::default()
        };
        let err = envs
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("num_envs"), "{err}");
        assert!(AcerConfig::default().check_memory(4, 1, 2).is_ok());
    }
}

/// Fuzzing of `AcerConfig` from TOML: presets and the defaults, mutated (bit flips, truncations,
/// splices, extreme numbers) or replaced by random bytes, must deserialise and validate to `Ok`
/// or an error, never panic. `cargo xtask fuzz` runs 10⁶ inputs (`EIRL_FUZZ_CASES`).
#[cfg(test)]
mod fuzz {
    use super::*;

    #[test]
    fn fuzz_config_toml() {
        let defaults = toml::to_string(&AcerConfig::default()).unwrap_or_default();
        let seeds = [
            include_str!("../../../configs/acer/Acrobot-v1.toml"),
            include_str!("../../../configs/acer/Pendulum-v1.toml"),
            &defaults,
        ];
        eirl_testkit::fuzz::run_toml("ACER config (TOML)", &seeds, AcerConfig::validate);
    }
}
