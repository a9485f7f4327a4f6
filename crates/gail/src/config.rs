//! GAIL hyperparameters. Defaults follow openai/baselines `gail/run_mujoco.py` (the TRPO
//! generator of Ho & Ermon's released code, ported by OpenAI) where it has a value, and the
//! `imitation` library's `train_adversarial` defaults (HumanCompatibleAI) for the discriminator
//! schedule and the parallel environments; each field names its source.

use eirl_imitation::{DiscriminatorConfig, RewardKind, TrpoConfig, ValueConfig};
use eirl_models::{Activation, PolicyNetworkConfig};
use serde::{Deserialize, Serialize};

use eirl_agent::limits::{ensure_fits_in_memory, ensure_network_size, transition_bytes};
use eirl_agent::{RunSettings, ensure, ensure_positive};

use crate::GailError;

/// Every GAIL hyperparameter. Step counts are environment steps summed over all envs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GailConfig {
    /// Policy π_θ: two tanh layers of 100 (Ho & Ermon 2016 §6; baselines `policy_hidden_size=100`,
    /// `num_hid_layers=2`), output layer scaled by 0.01 so π starts near uniform.
    pub policy: PolicyNetworkConfig,
    /// Value baseline V_φ: the policy's torso (baselines' `MlpPolicy` value head has the same
    /// 2×100 tanh layers); Adam 1e-3, 5 epochs of minibatches of 128 per iteration
    /// (baselines `vf_stepsize=1e-3`, `vf_iters=5`, `optim_batchsize=128`).
    pub value: ValueConfig,
    /// Discriminator D_w: 2×100 tanh, Adam 3e-4 (baselines `adversary_hidden_size=100`,
    /// `d_stepsize=3e-4`).
    pub discriminator: DiscriminatorConfig,
    /// TRPO step (eirl-imitation's defaults: `max_kl=0.01`, `cg_iters=10`, `cg_damping=0.1` as
    /// baselines GAIL). `trpo.ent_coef` is the causal-entropy weight λ of GAIL eq. 5.15 /
    /// Algorithm 1 (baselines `policy_entcoeff=0`).
    pub trpo: TrpoConfig,
    /// The reward handed to TRPO: `−log D` = −cost (GAIL Algorithm 1, the default), or the
    /// `log(1 − D)` / logit variants. `−log D > 0` rewards every extra step, so it favours
    /// long episodes: measured here it learns CartPole-v1 but not MountainCar-v0 (no flag
    /// reached in 300k steps), where the sign-neutral `logit` (`log(1 − D) − log D`) reaches the
    /// expert's return within ~40–60k steps. Use `reward = "logit"` for goal-reaching tasks.
    pub reward: RewardKind,
    /// Discount γ (baselines GAIL `gamma=0.995`).
    pub gamma: f32,
    /// GAE λ (baselines GAIL `lam=0.97`).
    pub gae_lambda: f32,
    /// Parallel environments (the `imitation` library's `num_vec=8`).
    pub num_envs: usize,
    /// Steps per environment per iteration; `num_envs × steps_per_env` = 1024 state-action pairs
    /// per iteration, baselines GAIL's `timesteps_per_batch=1024`.
    pub steps_per_env: usize,
    /// Discriminator Adam steps per iteration (`imitation`'s `n_disc_updates_per_round=4`).
    pub disc_updates: usize,
    /// Policy pairs per discriminator step, matched by as many expert pairs drawn uniformly
    /// (`imitation`'s `demo_batch_size=1024`); capped at the iteration's batch.
    pub disc_batch_size: usize,
    /// Standardise TRPO's advantages per batch (baselines `trpo_mpi`: `(Â − mean)/std`).
    pub normalize_advantages: bool,
    /// Feed `(s − μ)/σ` (clipped to ±5) to the policy, value and discriminator, with μ, σ the
    /// per-dimension statistics of the expert's states (σ floored at `1e-2`). Baselines GAIL
    /// normalises too, with running statistics (`RunningMeanStd`, clip ±5); fixed statistics keep
    /// the policy's input — and so TRPO's KL — stationary. Measured here: without it GAIL does
    /// not learn MountainCar-v0 (velocity is O(0.07)) within 100k steps; CartPole is unaffected.
    pub normalize_observations: bool,
    /// Total env steps of a run (`imitation`'s `total_timesteps=1e6`; overridden by `--steps`).
    pub total_steps: u64,
    /// Evaluate the deterministic policy every this many env steps.
    pub eval_interval: u64,
    /// Episodes per evaluation.
    pub eval_episodes: usize,
}

impl Default for GailConfig {
    fn default() -> Self {
        GailConfig {
            policy: PolicyNetworkConfig {
                hidden: vec![100, 100],
                activation: Activation::Tanh,
                output_scale: 0.01,
            },
            value: ValueConfig {
                hidden: vec![100, 100],
                activation: Activation::Tanh,
                learning_rate: 1e-3,
                epochs: 5,
                batch_size: 128,
            },
            discriminator: DiscriminatorConfig::default(),
            trpo: TrpoConfig::default(),
            reward: RewardKind::NegLogD,
            gamma: 0.995,
            gae_lambda: 0.97,
            num_envs: 8,
            steps_per_env: 128,
            disc_updates: 4,
            disc_batch_size: 1024,
            normalize_advantages: true,
            normalize_observations: true,
            total_steps: 1_000_000,
            eval_interval: 10_240,
            eval_episodes: 20,
        }
    }
}

impl GailConfig {
    /// Run length and evaluation cadence.
    pub fn run_settings(&self) -> RunSettings {
        RunSettings {
            total_steps: self.total_steps,
            eval_interval: self.eval_interval,
            eval_episodes: self.eval_episodes,
        }
    }

    /// Env steps per iteration: `num_envs × steps_per_env`.
    pub fn batch_steps(&self) -> usize {
        self.num_envs.saturating_mul(self.steps_per_env)
    }

    /// Rejects out-of-range values with a message naming the field.
    pub fn validate(&self) -> Result<(), GailError> {
        ensure((0.0..=1.0).contains(&self.gamma), || {
            format!("gamma must be in [0, 1], got {}", self.gamma)
        })?;
        ensure((0.0..=1.0).contains(&self.gae_lambda), || {
            format!("gae_lambda must be in [0, 1], got {}", self.gae_lambda)
        })?;
        ensure(self.num_envs >= 1, || "num_envs must be at least 1".into())?;
        ensure(self.steps_per_env >= 1, || {
            "steps_per_env must be at least 1".into()
        })?;
        ensure(self.disc_batch_size >= 1, || {
            "disc_batch_size must be at least 1".into()
        })?;
        self.run_settings().validate()?;
        for (name, hidden) in [
            ("policy.hidden", &self.policy.hidden),
            ("value.hidden", &self.value.hidden),
            ("discriminator.hidden", &self.discriminator.hidden),
        ] {
            ensure(!hidden.contains(&0), || {
                format!("{name} widths must be positive, got {hidden:?}")
            })?;
            ensure_network_size(name, hidden, 1)?;
        }
        ensure(self.num_envs <= eirl_envs::MAX_NUM_ENVS, || {
            format!(
                "num_envs = {} is more than the limit of {}",
                self.num_envs,
                eirl_envs::MAX_NUM_ENVS
            )
        })?;
        // The rollout of num_envs × steps_per_env transitions, at its smallest (one observation
        // and one action value per step).
        ensure_fits_in_memory(
            &format!(
                "num_envs × steps_per_env = {} × {}",
                self.num_envs, self.steps_per_env
            ),
            self.batch_steps() as u64,
            transition_bytes(1, 1),
        )?;
        ensure(self.policy.output_scale.is_finite(), || {
            format!(
                "policy.output_scale must be finite, got {}",
                self.policy.output_scale
            )
        })?;
        ensure_positive("value.learning_rate", self.value.learning_rate)?;
        ensure(self.value.batch_size >= 1, || {
            "value.batch_size must be at least 1".into()
        })?;
        ensure_positive(
            "discriminator.learning_rate",
            self.discriminator.learning_rate,
        )?;
        let t = &self.trpo;
        ensure_positive("trpo.max_kl", t.max_kl)?;
        ensure(t.cg_iters >= 1, || {
            "trpo.cg_iters must be at least 1".into()
        })?;
        ensure(t.cg_damping >= 0.0 && t.cg_damping.is_finite(), || {
            format!("trpo.cg_damping must be ≥ 0, got {}", t.cg_damping)
        })?;
        ensure(t.backtrack_coeff > 0.0 && t.backtrack_coeff < 1.0, || {
            format!(
                "trpo.backtrack_coeff must be in (0, 1), got {}",
                t.backtrack_coeff
            )
        })?;
        ensure(t.backtrack_iters >= 1, || {
            "trpo.backtrack_iters must be at least 1".into()
        })?;
        ensure(t.ent_coef >= 0.0 && t.ent_coef.is_finite(), || {
            format!("trpo.ent_coef (λ) must be ≥ 0, got {}", t.ent_coef)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_round_trip_through_toml_like_serde() -> Result<(), GailError> {
        let cfg = GailConfig::default();
        cfg.validate()?;
        assert_eq!(cfg.batch_steps(), 1024);
        let json =
            serde_json::to_string(&cfg).map_err(|e| eirl_agent::ConfigError(e.to_string()))?;
        let back: GailConfig =
            serde_json::from_str(&json).map_err(|e| eirl_agent::ConfigError(e.to_string()))?;
        assert_eq!(back, cfg);
        // Unknown fields are rejected; missing ones take defaults.
        assert!(serde_json::from_str::<GailConfig>(r#"{"gama": 0.9}"#).is_err());
        let partial: GailConfig = serde_json::from_str(r#"{"gamma": 0.9}"#)
            .map_err(|e| eirl_agent::ConfigError(e.to_string()))?;
        assert!((partial.gamma - 0.9).abs() < 1e-7 && partial.num_envs == 8);
        Ok(())
    }

    #[test]
    fn validate_names_the_offending_field() {
        let cases: Vec<(GailConfig, &str)> = vec![
            (
                GailConfig {
                    gamma: 1.5,
                    ..GailConfig::default()
                },
                "gamma",
            ),
            (
                GailConfig {
                    num_envs: 0,
                    ..GailConfig::default()
                },
                "num_envs",
            ),
            (
                GailConfig {
                    steps_per_env: 0,
                    ..GailConfig::default()
                },
                "steps_per_env",
            ),
            (
                GailConfig {
                    trpo: TrpoConfig {
                        max_kl: 0.0,
                        ..TrpoConfig::default()
                    },
                    ..GailConfig::default()
                },
                "trpo.max_kl",
            ),
            (
                GailConfig {
                    trpo: TrpoConfig {
                        ent_coef: -1.0,
                        ..TrpoConfig::default()
                    },
                    ..GailConfig::default()
                },
                "trpo.ent_coef",
            ),
            (
                GailConfig {
                    discriminator: DiscriminatorConfig {
                        hidden: vec![0],
                        ..DiscriminatorConfig::default()
                    },
                    ..GailConfig::default()
                },
                "discriminator.hidden",
            ),
            (
                GailConfig {
                    eval_episodes: 0,
                    ..GailConfig::default()
                },
                "eval_episodes",
            ),
        ];
        for (cfg, field) in cases {
            match cfg.validate() {
                Err(GailError::Config(msg)) => assert!(msg.0.contains(field), "{field}: {msg}"),
                other => panic!("{field}: expected a config error, got {other:?}"),
            }
        }
    }
}

/// Fuzzing of `GailConfig` from TOML: presets and the defaults, mutated (bit flips, truncations,
/// splices, extreme numbers) or replaced by random bytes, must deserialise and validate to `Ok`
/// or an error, never panic. `cargo xtask fuzz` runs 10⁶ inputs (`EIRL_FUZZ_CASES`).
#[cfg(test)]
mod fuzz {
    use super::*;

    #[test]
    fn fuzz_config_toml() {
        let defaults = toml::to_string(&GailConfig::default()).unwrap_or_default();
        let seeds = [
            include_str!("../../../configs/gail/Acrobot-v1.toml"),
            include_str!("../../../configs/gail/MountainCar-v0.toml"),
            &defaults,
        ];
        eirl_testkit::fuzz::run_toml("GAIL config (TOML)", &seeds, GailConfig::validate);
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    /// Networks of 10¹⁰ parameters and rollouts beyond the machine's memory are refused by
    /// `validate`, naming the setting, instead of aborting when the agent allocates them.
    #[test]
    fn sizes_that_exhaust_memory_are_refused() {
        let mut net = GailConfig::default();
        net.discriminator.hidden = vec![100_000, 100_000];
        let err = net
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("discriminator.hidden") && err.contains("2^28"),
            "{err}"
        );
        let rollout = GailConfig {
            num_envs: 1_000_000,
            steps_per_env: 1_000_000_000,
            ..GailConfig::default()
        };
        let err = rollout
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("num_envs × steps_per_env"), "{err}");
        assert!(err.contains("available"), "{err}");
    }
}
