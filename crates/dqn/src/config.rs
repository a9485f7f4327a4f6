//! DQN hyperparameters. Defaults are Stable-Baselines3's DQN defaults, which follow
//! Mnih et al. (2015) where that paper's Atari settings carry over (γ, Huber loss, ε-greedy
//! schedule shape, hard target updates); per-env presets live in `configs/dqn/<env>.toml`.

use eirl_models::{Activation, QNetworkConfig, TdLoss};
use serde::{Deserialize, Serialize};

use eirl_agent::limits::{ensure_fits_in_memory, ensure_network_size, transition_bytes};
use eirl_agent::{ConfigError, RunSettings, ensure};

use crate::DqnError;

/// Proportional prioritized replay (Schaul et al. 2016).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrioritizedConfig {
    /// Priority exponent α (Schaul et al. 2016, Table 2: 0.6).
    pub alpha: f64,
    /// Initial importance-sampling exponent β₀, annealed linearly to 1 over training (paper: 0.4).
    pub beta0: f64,
    /// Added to |δ| so no transition has zero probability.
    pub eps: f64,
}

impl Default for PrioritizedConfig {
    fn default() -> Self {
        PrioritizedConfig {
            alpha: 0.6,
            beta0: 0.4,
            eps: 1e-6,
        }
    }
}

/// Every DQN hyperparameter. Step counts are environment steps summed over all envs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DqnConfig {
    /// Q-network architecture (SB3 default MLP: [64, 64], ReLU).
    pub network: QNetworkConfig,
    /// Double DQN targets `r + γ Q_target(s', argmax_a Q(s', a))` (van Hasselt et al. 2016).
    pub double_q: bool,
    /// Discount γ (Mnih et al. 2015: 0.99).
    pub gamma: f32,
    /// Adam learning rate (SB3: 1e-4).
    pub learning_rate: f32,
    /// Adam ε (PyTorch default 1e-8).
    pub adam_eps: f32,
    /// Minibatch size (Mnih et al. 2015: 32).
    pub batch_size: usize,
    /// Replay capacity (Mnih et al. 2015: 1M).
    pub buffer_size: usize,
    /// Steps of pure ε-greedy collection before learning starts (SB3: 100).
    pub learning_starts: u64,
    /// Train every `train_freq` env steps (Mnih et al. 2015: 4).
    pub train_freq: u64,
    /// Gradient steps per training round (SB3: 1); −1 = as many as env steps since the last round.
    pub gradient_steps: i32,
    /// Update the target network every this many env steps (SB3: 10000).
    pub target_update_interval: u64,
    /// Target update `θ⁻ ← τθ + (1−τ)θ⁻`; 1 = hard copy (Mnih et al. 2015).
    pub tau: f32,
    /// Fraction of training over which ε decays linearly (SB3: 0.1).
    pub exploration_fraction: f32,
    /// ε at step 0 (1.0).
    pub exploration_initial_eps: f32,
    /// ε after the decay (SB3: 0.05).
    pub exploration_final_eps: f32,
    /// TD loss (Huber with δ = 1, i.e. SB3's smooth-L1).
    pub loss: TdLoss,
    /// Global gradient-norm clip (SB3: 10).
    pub max_grad_norm: Option<f32>,
    /// n-step returns (1 = standard DQN; Hessel et al. 2018 use 3).
    pub n_step: usize,
    /// Prioritized replay; absent = uniform.
    pub prioritized: Option<PrioritizedConfig>,
    /// Parallel environments stepped as one batch.
    pub num_envs: usize,
    /// Total env steps of a run (overridden by `--steps`).
    pub total_steps: u64,
    /// Evaluate the greedy policy every this many env steps.
    pub eval_interval: u64,
    /// Episodes per evaluation.
    pub eval_episodes: usize,
    /// Exact resume: checkpoints also carry the replay memory (its filled rows, ring position
    /// and priorities), the n-step buffers, Adam's moments and step count, the sampling and
    /// exploration RNG and the environments' states, so a resumed run continues bit for bit as
    /// if never stopped. Costs `len × (2·obs_dim + 3) × 4` bytes for `len` stored transitions
    /// (CartPole: 44 bytes each, 4.4 MB for a full 100k buffer; ×1.36 with prioritized replay)
    /// plus twice the network's size for the moments. Off (eirl's default): networks and
    /// counters only, and a resumed run refills its replay memory first.
    pub exact_resume: bool,
    /// Normalise observations by their running mean and variance (Stable-Baselines3's
    /// `VecNormalize(norm_obs=True)`, clipped to ±10; [`eirl_envs::VecNormalize`]). Not in the
    /// paper (default off). The statistics update while training, are saved in every
    /// checkpoint and are applied frozen by evaluation, `eirl eval`, `eirl demo record` and
    /// when the run is an expert; [`crate::Dqn::q_network`] then takes normalised observations.
    pub normalize_obs: bool,
    /// Divide rewards by the running standard deviation of the `gamma`-discounted return
    /// (SB3's `VecNormalize(norm_reward=True)`, clipped to ±10) before they enter replay. Not
    /// in the paper (default off); episode returns are reported unnormalised.
    pub normalize_reward: bool,
}

impl Default for DqnConfig {
    fn default() -> Self {
        DqnConfig {
            network: QNetworkConfig {
                hidden: vec![64, 64],
                activation: Activation::Relu,
                dueling: false,
            },
            double_q: false,
            gamma: 0.99,
            learning_rate: 1e-4,
            adam_eps: 1e-8,
            batch_size: 32,
            buffer_size: 1_000_000,
            learning_starts: 100,
            train_freq: 4,
            gradient_steps: 1,
            target_update_interval: 10_000,
            tau: 1.0,
            exploration_fraction: 0.1,
            exploration_initial_eps: 1.0,
            exploration_final_eps: 0.05,
            loss: TdLoss::Huber { delta: 1.0 },
            max_grad_norm: Some(10.0),
            n_step: 1,
            prioritized: None,
            num_envs: 1,
            total_steps: 100_000,
            eval_interval: 5_000,
            eval_episodes: 20,
            exact_resume: false,
            normalize_obs: false,
            normalize_reward: false,
        }
    }
}

impl DqnConfig {
    /// What [`eirl_envs::VecNormalize`] normalises, with SB3's clips and ε and this `gamma`.
    pub fn normalize(&self) -> eirl_envs::NormalizeConfig {
        eirl_envs::NormalizeConfig::new(
            self.normalize_obs,
            self.normalize_reward,
            f64::from(self.gamma),
        )
    }

    /// Run length and evaluation cadence.
    pub fn run_settings(&self) -> RunSettings {
        RunSettings {
            total_steps: self.total_steps,
            eval_interval: self.eval_interval,
            eval_episodes: self.eval_episodes,
        }
    }

    /// Bytes one stored transition takes with observations of `obs_dim` floats: the flat
    /// arrays, plus the sum and min trees of prioritized replay (2 trees × 2 nodes × 8 B).
    pub fn transition_bytes(&self, obs_dim: usize) -> u64 {
        let trees = if self.prioritized.is_some() { 32 } else { 0 };
        transition_bytes(obs_dim, 1) + trees
    }

    /// Rejects a replay memory for observations of `obs_dim` floats that would not fit in the
    /// machine's available memory (`buffer_size × transition bytes`, both numbers in the
    /// message). [`DqnConfig::validate`] makes this check with `obs_dim = 1`, a lower bound.
    pub fn check_memory(&self, obs_dim: usize) -> Result<(), ConfigError> {
        ensure_fits_in_memory(
            &format!("buffer_size = {}", self.buffer_size),
            self.buffer_size as u64,
            self.transition_bytes(obs_dim),
        )
    }

    /// Rejects out-of-range values with a message naming the field, and sizes (replay memory,
    /// network) that would exhaust memory, before anything is allocated.
    pub fn validate(&self) -> Result<(), DqnError> {
        ensure((0.0..=1.0).contains(&self.gamma), || {
            format!("gamma must be in [0, 1], got {}", self.gamma)
        })?;
        ensure(
            self.learning_rate > 0.0 && self.learning_rate.is_finite(),
            || format!("learning_rate must be positive, got {}", self.learning_rate),
        )?;
        ensure(self.adam_eps > 0.0, || {
            format!("adam_eps must be positive, got {}", self.adam_eps)
        })?;
        ensure(self.batch_size > 0, || "batch_size must be positive".into())?;
        ensure(self.buffer_size >= self.batch_size, || {
            format!(
                "buffer_size ({}) must be at least batch_size ({})",
                self.buffer_size, self.batch_size
            )
        })?;
        ensure(self.train_freq > 0, || "train_freq must be positive".into())?;
        ensure(
            self.gradient_steps >= 1 || self.gradient_steps == -1,
            || {
                format!(
                    "gradient_steps must be ≥ 1 or −1, got {}",
                    self.gradient_steps
                )
            },
        )?;
        ensure(self.target_update_interval > 0, || {
            "target_update_interval must be positive".into()
        })?;
        ensure(self.tau > 0.0 && self.tau <= 1.0, || {
            format!("tau must be in (0, 1], got {}", self.tau)
        })?;
        ensure((0.0..=1.0).contains(&self.exploration_fraction), || {
            format!(
                "exploration_fraction must be in [0, 1], got {}",
                self.exploration_fraction
            )
        })?;
        for (name, e) in [
            ("exploration_initial_eps", self.exploration_initial_eps),
            ("exploration_final_eps", self.exploration_final_eps),
        ] {
            ensure((0.0..=1.0).contains(&e), || {
                format!("{name} must be in [0, 1], got {e}")
            })?;
        }
        if let TdLoss::Huber { delta } = self.loss {
            ensure(delta > 0.0, || {
                format!("loss.delta must be positive, got {delta}")
            })?;
        }
        if let Some(m) = self.max_grad_norm {
            ensure(m > 0.0, || {
                format!("max_grad_norm must be positive, got {m}")
            })?;
        }
        ensure(self.n_step >= 1, || "n_step must be at least 1".into())?;
        ensure(self.num_envs >= 1, || "num_envs must be at least 1".into())?;
        self.run_settings().validate()?;
        ensure(!self.network.hidden.contains(&0), || {
            "network.hidden widths must be positive".into()
        })?;
        ensure_network_size("network.hidden", &self.network.hidden, 1)?;
        self.check_memory(1)?;
        if let Some(p) = &self.prioritized {
            ensure(p.alpha >= 0.0, || {
                format!("prioritized.alpha must be ≥ 0, got {}", p.alpha)
            })?;
            ensure((0.0..=1.0).contains(&p.beta0), || {
                format!("prioritized.beta0 must be in [0, 1], got {}", p.beta0)
            })?;
            ensure(p.eps > 0.0, || {
                format!("prioritized.eps must be positive, got {}", p.eps)
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(cfg: &DqnConfig) -> String {
        cfg.validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    /// `buffer_size = 100000000000` passed validation and aborted on allocation; it is now
    /// refused with the bytes needed and the bytes available.
    #[test]
    fn huge_replay_is_refused_with_both_byte_counts() {
        for prioritized in [None, Some(PrioritizedConfig::default())] {
            let cfg = DqnConfig {
                buffer_size: 100_000_000_000,
                prioritized,
                ..DqnConfig::default()
            };
            let err = err_of(&cfg);
            assert!(err.contains("buffer_size = 100000000000"), "{err}");
            assert!(err.contains("available"), "{err}");
            assert!(err.contains(" B)"), "{err}");
            // Building the agent used to abort the process on the replay allocation.
            assert!(crate::Dqn::new("CartPole-v1", cfg, 0).is_err());
        }
        assert!(DqnConfig::default().validate().is_ok());
        assert!(DqnConfig::default().check_memory(4).is_ok());
    }

    /// `hidden = [100000, 100000]` (10¹⁰ parameters) is refused with the parameter limit.
    #[test]
    fn huge_network_is_refused_with_the_parameter_limit() {
        let mut cfg = DqnConfig::default();
        cfg.network.hidden = vec![100_000, 100_000];
        let err = err_of(&cfg);
        assert!(err.contains("network.hidden"), "{err}");
        assert!(err.contains("2^28"), "{err}");
        assert!(crate::Dqn::new("CartPole-v1", cfg, 0).is_err());
    }
}

/// Fuzzing of `DqnConfig` from TOML: presets and the defaults, mutated (bit flips, truncations,
/// splices, extreme numbers) or replaced by random bytes, must deserialise and validate to `Ok`
/// or an error, never panic. `cargo xtask fuzz` runs 10⁶ inputs (`EIRL_FUZZ_CASES`).
#[cfg(test)]
mod fuzz {
    use super::*;

    #[test]
    fn fuzz_config_toml() {
        let defaults = toml::to_string(&DqnConfig::default()).unwrap_or_default();
        let seeds = [
            include_str!("../../../configs/dqn/Acrobot-v1.toml"),
            include_str!("../../../configs/dqn/CartPole-v1.toml"),
            include_str!("../../../configs/dqn/MountainCarContinuous-v0-discrete25.toml"),
            include_str!("../../../configs/dqn/Pendulum-v1-discrete25.toml"),
            &defaults,
        ];
        eirl_testkit::fuzz::run_toml("DQN config (TOML)", &seeds, DqnConfig::validate);
    }
}
