//! STEVE-DDPG hyperparameters. Defaults are the official code's (tensorflow/models,
//! research/steve: `config/core/basic.json`, `model.json`, `bayesian.json`, `algos/steve.json`,
//! `valuerl.py`, `valuerl_learner.py`, `worldmodel.py`) except where a field's doc says
//! otherwise and why; the shipped presets (`configs/steve/<env>.toml`) change what a 2-core CPU
//! cannot afford, each change written next to it.

use eirl_agent::limits::{ensure_fits_in_memory, ensure_network_size, transition_bytes};
use eirl_agent::{ConfigError, RunSettings, ensure};
use serde::{Deserialize, Serialize};

use crate::SteveError;

/// Which target the critic regresses on; the rest of the learner is identical.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// DDPG's TD(0) target `r + γ(1 − d) Q̄⁻(s', μ(s'))` (eq. 2.2; `Q̄⁻` = the mean of the
    /// target Q ensemble, as the official `reduce_mode="mean"`). No world model is trained.
    Td,
    /// MVE (eqs. 2.6–2.7): the horizon-H expansion, averaged over the M·N·L candidates.
    Mve,
    /// STEVE (eq. 2.8): inverse-variance weighting of the horizon means `i = 0..H`.
    #[default]
    Steve,
}

impl TargetKind {
    /// Whether the target needs the learned world model.
    pub fn uses_model(self) -> bool {
        !matches!(self, TargetKind::Td)
    }

    /// The name configs and run directories use.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Td => "td",
            TargetKind::Mve => "mve",
            TargetKind::Steve => "steve",
        }
    }
}

/// Every STEVE-DDPG hyperparameter. Step counts are environment steps summed over all envs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SteveConfig {
    /// `td` (DDPG), `mve` or `steve`.
    pub target: TargetKind,
    /// Rollout horizon H (official `rollout_len`: 3).
    pub horizon: usize,
    /// L: Q-functions in the critic ensemble (official `bayesian.json`: 4).
    pub q_ensemble: usize,
    /// N: reward functions (official: 4).
    pub reward_ensemble: usize,
    /// M: dynamics models; the termination model has as many members (official: 4).
    pub dynamics_ensemble: usize,
    /// Hidden widths of the policy and of each Q-function (official `layers=4`,
    /// `hidden_dim=128`: three ReLU layers of 128).
    pub hidden: Vec<usize>,
    /// Hidden widths of each dynamics model (official `layers=8`, `transition_hidden_dim=512`:
    /// seven ReLU layers of 512).
    pub transition_hidden: Vec<usize>,
    /// Hidden widths of each reward and termination model (official `aux_hidden_dim=128`,
    /// `layers=4`).
    pub aux_hidden: Vec<usize>,
    /// Discount γ (official env configs: 0.99).
    pub gamma: f32,
    /// Multiplies real and predicted rewards in the targets (official env configs: 1).
    pub reward_scale: f32,
    /// Adam learning rate of the policy and the critic (official: 3e-4).
    pub learning_rate: f32,
    /// Adam learning rate of the world model (official: 3e-4).
    pub model_learning_rate: f32,
    /// World-model L2 penalty `wd/2·‖θ‖²` (official `worldmodel.py`: 1e-4).
    pub model_weight_decay: f32,
    /// Penalty on the policy's pre-tanh outputs, `c·mean(u²)`, so tanh does not saturate
    /// (official: 1e-3).
    pub policy_reg: f32,
    /// Minibatch size of every update (official: 512); must be divisible by each ensemble size
    /// (each member trains on its own share of every minibatch).
    pub batch_size: usize,
    /// Replay capacity (official: 1M).
    pub buffer_size: usize,
    /// Uniformly random actions before learning starts (official `full_random_n`: 10k).
    pub learning_starts: u64,
    /// World-model updates before value expansion starts (official `pretrain_n`: 10k).
    pub model_pretrain_updates: u64,
    /// Critic/policy updates (and as many world-model updates) per env step (official
    /// `frames_per_update` 0.25: 4).
    pub updates_per_step: u32,
    /// Copy the critic into the target critic every this many updates (official
    /// `epoch_every_n`: 500, a hard copy).
    pub target_update_interval: u64,
    /// Target update `θ⁻ ← τθ + (1 − τ)θ⁻`; 1 = the official hard copy.
    pub tau: f32,
    /// Probability that an action component is replaced by `tanh(u + ε)`, ε ~ N(0, 1)
    /// (official `explore_chance`: 0.05).
    pub explore_chance: f32,
    /// ε in STEVE's weights `1/(σ² + ε)` (official: 1e-8).
    pub steve_eps: f32,
    /// Parallel environments stepped as one batch (official agent batch: 8 processes).
    pub num_envs: usize,
    /// Total env steps of a run (overridden by `--steps`).
    pub total_steps: u64,
    /// Evaluate the deterministic policy every this many env steps.
    pub eval_interval: u64,
    /// Episodes per evaluation.
    pub eval_episodes: usize,
    /// Exact resume: checkpoints also carry the replay memory (filled rows, ring position), the
    /// five Adam optimizers' moments and step counts (policy, critic, three world models), the
    /// exploration / sampling RNG, the pre-training flag and the environments' states, so a
    /// resumed run continues bit for bit as if never stopped. Costs
    /// `len × (2·obs_dim + act_dim + 2) × 4` bytes for `len` stored transitions (Pendulum: 36
    /// bytes each, 36 MB for a full 1M buffer) plus twice the networks' size. Off (default):
    /// networks and counters only, and a resumed run refills replay first.
    pub exact_resume: bool,
    /// Normalise observations by their running mean and variance (Stable-Baselines3's
    /// `VecNormalize(norm_obs=True)`, clipped to ±10; [`eirl_envs::VecNormalize`]). Not in the
    /// paper (default off). The policy, critics and world model then see normalised
    /// observations; the statistics update while training, are saved in every checkpoint and
    /// are applied frozen by evaluation, `eirl eval`, `eirl demo record` and when the run is an
    /// expert.
    pub normalize_obs: bool,
    /// Divide rewards by the running standard deviation of the `gamma`-discounted return
    /// (SB3's `VecNormalize(norm_reward=True)`, clipped to ±10) before they enter replay (and
    /// `reward_scale`). Not in the paper (default off); episode returns are reported
    /// unnormalised.
    pub normalize_reward: bool,
}

impl Default for SteveConfig {
    fn default() -> Self {
        SteveConfig {
            target: TargetKind::Steve,
            horizon: 3,
            q_ensemble: 4,
            reward_ensemble: 4,
            dynamics_ensemble: 4,
            hidden: vec![128, 128, 128],
            transition_hidden: vec![512; 7],
            aux_hidden: vec![128, 128, 128],
            gamma: 0.99,
            reward_scale: 1.0,
            learning_rate: 3e-4,
            model_learning_rate: 3e-4,
            model_weight_decay: 1e-4,
            policy_reg: 1e-3,
            batch_size: 512,
            buffer_size: 1_000_000,
            learning_starts: 10_000,
            model_pretrain_updates: 10_000,
            updates_per_step: 4,
            target_update_interval: 500,
            tau: 1.0,
            explore_chance: 0.05,
            steve_eps: 1e-8,
            num_envs: 1,
            total_steps: 1_000_000,
            eval_interval: 10_000,
            eval_episodes: 10,
            exact_resume: false,
            normalize_obs: false,
            normalize_reward: false,
        }
    }
}

impl SteveConfig {
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

    /// Candidates per horizon, `K = M·N·L`.
    pub fn candidates(&self) -> usize {
        self.dynamics_ensemble * self.reward_ensemble * self.q_ensemble
    }

    /// Rejects a replay memory for observations of `obs_dim` and actions of `act_dim` floats
    /// that would not fit in the machine's available memory (`buffer_size × transition bytes`,
    /// both numbers in the message). [`SteveConfig::validate`] makes this check with both
    /// widths 1, a lower bound.
    pub fn check_memory(&self, obs_dim: usize, act_dim: usize) -> Result<(), ConfigError> {
        ensure_fits_in_memory(
            &format!("buffer_size = {}", self.buffer_size),
            self.buffer_size as u64,
            transition_bytes(obs_dim, act_dim),
        )
    }

    /// Rejects out-of-range values with a message naming the field, and sizes (replay memory,
    /// networks, env count) that would exhaust memory, before anything is allocated.
    pub fn validate(&self) -> Result<(), SteveError> {
        self.run_settings().validate()?;
        ensure((0.0..=1.0).contains(&self.gamma), || {
            format!("gamma must be in [0, 1], got {}", self.gamma)
        })?;
        for (name, v) in [
            ("learning_rate", self.learning_rate),
            ("model_learning_rate", self.model_learning_rate),
            ("reward_scale", self.reward_scale),
        ] {
            ensure(v > 0.0 && v.is_finite(), || {
                format!("{name} must be positive and finite, got {v}")
            })?;
        }
        for (name, v) in [
            ("model_weight_decay", self.model_weight_decay),
            ("policy_reg", self.policy_reg),
            ("steve_eps", self.steve_eps),
        ] {
            ensure(v >= 0.0 && v.is_finite(), || {
                format!("{name} must be finite and non-negative, got {v}")
            })?;
        }
        ensure((0.0..=1.0).contains(&self.explore_chance), || {
            format!(
                "explore_chance must be in [0, 1], got {}",
                self.explore_chance
            )
        })?;
        ensure(self.tau > 0.0 && self.tau <= 1.0, || {
            format!("tau must be in (0, 1], got {}", self.tau)
        })?;
        for (name, v) in [
            ("q_ensemble", self.q_ensemble),
            ("reward_ensemble", self.reward_ensemble),
            ("dynamics_ensemble", self.dynamics_ensemble),
            ("batch_size", self.batch_size),
            ("num_envs", self.num_envs),
        ] {
            ensure(v > 0, || format!("{name} must be positive"))?;
        }
        for (name, m) in [
            ("q_ensemble", self.q_ensemble),
            ("reward_ensemble", self.reward_ensemble),
            ("dynamics_ensemble", self.dynamics_ensemble),
        ] {
            ensure(self.batch_size % m == 0, || {
                format!(
                    "batch_size ({}) must be divisible by {name} ({m}): each member trains on \
                     its own share of every minibatch",
                    self.batch_size
                )
            })?;
        }
        for (name, h) in [
            ("hidden", &self.hidden),
            ("transition_hidden", &self.transition_hidden),
            ("aux_hidden", &self.aux_hidden),
        ] {
            ensure(h.iter().all(|&w| w > 0), || {
                format!("{name} has a layer of width 0: {h:?}")
            })?;
        }
        for (name, h, copies) in [
            ("hidden", &self.hidden, self.q_ensemble),
            (
                "transition_hidden",
                &self.transition_hidden,
                self.dynamics_ensemble,
            ),
            (
                "aux_hidden",
                &self.aux_hidden,
                self.reward_ensemble.max(self.dynamics_ensemble),
            ),
        ] {
            ensure_network_size(name, h, copies)?;
        }
        ensure(self.num_envs <= eirl_envs::MAX_NUM_ENVS, || {
            format!(
                "num_envs = {} is more than the limit of {}",
                self.num_envs,
                eirl_envs::MAX_NUM_ENVS
            )
        })?;
        self.check_memory(1, 1)?;
        ensure(self.buffer_size >= self.batch_size, || {
            format!(
                "buffer_size ({}) must be at least batch_size ({})",
                self.buffer_size, self.batch_size
            )
        })?;
        ensure(self.updates_per_step >= 1, || {
            "updates_per_step must be at least 1".into()
        })?;
        ensure(self.target_update_interval >= 1, || {
            "target_update_interval must be at least 1".into()
        })?;
        ensure(!self.target.uses_model() || self.horizon >= 1, || {
            format!("{} needs horizon ≥ 1", self.target.name())
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    fn err_of(cfg: &SteveConfig) -> String {
        cfg.validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    /// `buffer_size = 100000000000` and `hidden = [100000, 100000]` passed validation and
    /// aborted on allocation; both are refused naming the setting and the limit.
    #[test]
    fn sizes_that_exhaust_memory_are_refused() {
        let replay = SteveConfig {
            buffer_size: 100_000_000_000,
            ..SteveConfig::default()
        };
        let err = err_of(&replay);
        assert!(err.contains("buffer_size = 100000000000"), "{err}");
        assert!(err.contains("available"), "{err}");
        assert!(crate::Steve::new("Pendulum-v1", replay, 0).is_err());
        for (field, cfg) in [
            (
                "transition_hidden",
                SteveConfig {
                    transition_hidden: vec![100_000, 100_000],
                    ..SteveConfig::default()
                },
            ),
            (
                "hidden",
                SteveConfig {
                    hidden: vec![100_000, 100_000],
                    ..SteveConfig::default()
                },
            ),
            (
                "aux_hidden",
                SteveConfig {
                    aux_hidden: vec![100_000, 100_000],
                    ..SteveConfig::default()
                },
            ),
        ] {
            let err = err_of(&cfg);
            assert!(err.contains(field) && err.contains("2^28"), "{err}");
        }
        assert!(SteveConfig::default().validate().is_ok());
        assert!(SteveConfig::default().check_memory(3, 1).is_ok());
    }
}

/// Fuzzing of `SteveConfig` from TOML: presets and the defaults, mutated (bit flips, truncations,
/// splices, extreme numbers) or replaced by random bytes, must deserialise and validate to `Ok`
/// or an error, never panic. `cargo xtask fuzz` runs 10⁶ inputs (`EIRL_FUZZ_CASES`).
#[cfg(test)]
mod fuzz {
    use super::*;

    #[test]
    fn fuzz_config_toml() {
        let defaults = toml::to_string(&SteveConfig::default()).unwrap_or_default();
        let seeds = [
            include_str!("../../../configs/steve/MountainCarContinuous-v0.toml"),
            include_str!("../../../configs/steve/Pendulum-v1.toml"),
            include_str!("../../../configs/steve/targets/mve.toml"),
            include_str!("../../../configs/steve/targets/steve.toml"),
            include_str!("../../../configs/steve/targets/td.toml"),
            &defaults,
        ];
        eirl_testkit::fuzz::run_toml("STEVE config (TOML)", &seeds, SteveConfig::validate);
    }
}
