//! SEED RL hyperparameters. The learner's loss weights and discounting are seed_rl's V-trace
//! learner defaults (`agents/vtrace/learner.py`); the sizes that seed_rl tunes per domain (Atari,
//! DMLab, Football) are chosen here for classic control and marked as eirl's choice.

use eirl_inference_server::ServerConfig;
use eirl_models::gpu::ComputeDevice;
use eirl_models::{Activation, ActorCriticConfig};
use eirl_returns::PgBootstrap;
use serde::{Deserialize, Serialize};

use eirl_agent::{RunSettings, ensure, ensure_positive};

use crate::SeedError;

/// How the policy-gradient advantage bootstraps when λ < 1 (identical at λ = 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PgBootstrapKind {
    /// seed_rl / IMPALA: `q_s = r_s + γ_s v_{s+1}`. Default (this is the SEED agent).
    #[default]
    SeedRl,
    /// rlax: `q_s = r_s + γ_s [λ v_{s+1} + (1 − λ) V(x_{s+1})]`.
    Rlax,
}

impl From<PgBootstrapKind> for PgBootstrap {
    fn from(k: PgBootstrapKind) -> Self {
        match k {
            PgBootstrapKind::SeedRl => PgBootstrap::SeedRl,
            PgBootstrapKind::Rlax => PgBootstrap::Rlax,
        }
    }
}

/// Every SEED RL hyperparameter. Step counts are environment steps summed over all envs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeedConfig {
    /// Policy-value network: shared torso, logits head, value head (eirl: two tanh layers of 64,
    /// the usual classic-control MLP; seed_rl's gym-sized agents are MLPs of this order).
    pub network: ActorCriticConfig,
    /// Actor threads in `eirl train seed` (0: none — actors connect over gRPC instead).
    pub actors: usize,
    /// Environments each actor steps (one request per step carries all of them).
    pub envs_per_actor: usize,
    /// Unrolls per learner batch (seed_rl: `batch_size = 32`; eirl: 8, so a CartPole run makes
    /// thousands of updates within 1M steps).
    pub batch_size: usize,
    /// Adam step size (eirl's choice for classic control; seed_rl sets it per domain, e.g.
    /// 4.8e-4 on Atari with 32×80-step batches).
    pub learning_rate: f32,
    /// Adam ε (eirl: 1e-7, the Keras default that seed_rl's optimizers start from).
    pub adam_eps: f32,
    /// Global gradient-norm clip (IMPALA: 40).
    pub max_grad_norm: Option<f32>,
    /// Discount γ (seed_rl: `discounting = 0.99`).
    pub gamma: f32,
    /// V-trace λ (seed_rl: `lambda_ = 1`).
    pub lambda: f32,
    /// V-trace ρ̄ (IMPALA/seed_rl: 1).
    pub clip_rho_threshold: f32,
    /// Clip of ρ in the policy-gradient advantage (IMPALA/seed_rl: 1).
    pub clip_pg_rho_threshold: f32,
    /// Policy-gradient bootstrap (the seed_rl form by default).
    pub pg_bootstrap: PgBootstrapKind,
    /// Weight of the value loss `½ mean (v_s − V(x_s))²` (seed_rl: `baseline_cost = 0.5`).
    pub baseline_cost: f32,
    /// Weight of the entropy bonus (seed_rl: 0.0033 on its domains; eirl: 0.01, the usual
    /// actor-critic value on classic control).
    pub ent_coef: f32,
    /// Rewards are clipped to `[−max_abs_reward, max_abs_reward]` in the loss when positive
    /// (seed_rl: 0 = off).
    pub max_abs_reward: f32,
    /// The inference server: unroll length T, batching, queues, gRPC limits and token.
    pub server: ServerConfig,
    /// Where central inference and the learner's updates run (`eirl train seed --device`):
    /// `cpu` (default), `cuda`, `cuda:N`, `auto` (the GPU when one is usable, else the CPU), or
    /// `host` (the GPU's program run on the CPU: slow, for checks without a GPU).
    pub device: ComputeDevice,
    /// gRPC address to serve on (`eirl seed serve --listen` sets it); none: in-process only.
    /// An address other than loopback needs a token (`EIRL_SEED_TOKEN`) unless `insecure`.
    pub listen: Option<String>,
    /// Serve a non-loopback `listen` address without a token (`eirl seed serve --insecure`):
    /// any host that reaches the port can then feed the learner experience. Default false.
    pub insecure: bool,
    /// Total env steps of a run (overridden by `--steps`).
    pub total_steps: u64,
    /// Evaluate the greedy policy (and checkpoint) every this many env steps.
    pub eval_interval: u64,
    /// Episodes per evaluation.
    pub eval_episodes: usize,
}

impl Default for SeedConfig {
    fn default() -> Self {
        SeedConfig {
            network: ActorCriticConfig {
                hidden: vec![64, 64],
                activation: Activation::Tanh,
                policy_scale: 0.01,
            },
            actors: 8,
            envs_per_actor: 4,
            batch_size: 8,
            learning_rate: 1e-3,
            adam_eps: 1e-7,
            max_grad_norm: Some(40.0),
            gamma: 0.99,
            lambda: 1.0,
            clip_rho_threshold: 1.0,
            clip_pg_rho_threshold: 1.0,
            pg_bootstrap: PgBootstrapKind::SeedRl,
            baseline_cost: 0.5,
            ent_coef: 0.01,
            max_abs_reward: 0.0,
            server: ServerConfig::default(),
            device: ComputeDevice::Cpu,
            listen: None,
            insecure: false,
            total_steps: 1_000_000,
            eval_interval: 25_000,
            eval_episodes: 20,
        }
    }
}

/// Most actor threads in one learner process.
pub const MAX_ACTORS: usize = 1024;

impl SeedConfig {
    /// A `listen` address that parses, and a token for one that is not loopback (unless
    /// `insecure`).
    fn check_listen(&self) -> Result<(), SeedError> {
        let Some(listen) = &self.listen else {
            return Ok(());
        };
        let addr: std::net::SocketAddr = listen
            .parse()
            .map_err(|e| SeedError::Config(format!("listen address {listen:?}: {e}")))?;
        if addr.ip().is_loopback() || self.server.token.is_some() || self.insecure {
            return Ok(());
        }
        Err(SeedError::Config(format!(
            "refusing to listen on {addr} without a token: any host that reaches this port \
             could send the learner experience. Set {} (actors send the same) or pass \
             --insecure (config `insecure = true`)",
            crate::TOKEN_ENV
        )))
    }

    /// Run length and evaluation cadence.
    pub fn run_settings(&self) -> RunSettings {
        RunSettings {
            total_steps: self.total_steps,
            eval_interval: self.eval_interval,
            eval_episodes: self.eval_episodes,
        }
    }

    /// Checks every value; agents call it before starting threads.
    pub fn validate(&self) -> Result<(), SeedError> {
        ensure(self.actors == 0 || self.envs_per_actor >= 1, || {
            "envs_per_actor must be at least 1".into()
        })?;
        ensure(self.actors <= MAX_ACTORS, || {
            format!(
                "actors = {} is above the limit of {MAX_ACTORS} actor threads in one process \
                 (run more actors as `eirl seed actor` processes)",
                self.actors
            )
        })?;
        let envs = self.actors.checked_mul(self.envs_per_actor);
        ensure(
            envs.is_some_and(|envs| envs <= self.server.max_envs),
            || {
                format!(
                    "actors × envs_per_actor = {} × {} envs is more than the inference server's \
                     max_envs = {}: the server would refuse the actors past it",
                    self.actors, self.envs_per_actor, self.server.max_envs
                )
            },
        )?;
        self.check_listen()?;
        ensure(self.actors > 0 || self.listen.is_some(), || {
            "actors = 0 needs `listen` (actors then connect over gRPC)".into()
        })?;
        ensure(self.batch_size >= 1, || {
            "batch_size must be at least 1".into()
        })?;
        ensure_positive("learning_rate", self.learning_rate)?;
        ensure_positive("adam_eps", self.adam_eps)?;
        if let Some(c) = self.max_grad_norm {
            ensure_positive("max_grad_norm", c)?;
        }
        ensure((0.0..=1.0).contains(&self.gamma), || {
            format!("gamma must be in [0, 1], got {}", self.gamma)
        })?;
        ensure((0.0..=1.0).contains(&self.lambda), || {
            format!("lambda must be in [0, 1], got {}", self.lambda)
        })?;
        for (name, v) in [
            ("clip_rho_threshold", self.clip_rho_threshold),
            ("clip_pg_rho_threshold", self.clip_pg_rho_threshold),
        ] {
            // +∞ is allowed: no clipping.
            ensure(v > 0.0, || format!("{name} must be positive, got {v}"))?;
        }
        for (name, v) in [
            ("baseline_cost", self.baseline_cost),
            ("ent_coef", self.ent_coef),
            ("max_abs_reward", self.max_abs_reward),
        ] {
            ensure(v >= 0.0 && v.is_finite(), || {
                format!("{name} must be ≥ 0, got {v}")
            })?;
        }
        self.run_settings().validate()?;
        self.server.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_the_field() {
        assert!(SeedConfig::default().validate().is_ok());
        for (edit, field) in [
            ("batch_size = 0", "batch_size"),
            ("gamma = 1.5", "gamma"),
            ("learning_rate = -1.0", "learning_rate"),
            ("ent_coef = -0.1", "ent_coef"),
            ("actors = 0", "listen"),
            ("[server]\nunroll_len = 0", "unroll_len"),
            ("actors = 100000", "actors"),
            ("envs_per_actor = 100000000", "max_envs"),
            (
                "actors = 2\nenvs_per_actor = 9223372036854775807",
                "max_envs",
            ),
            ("listen = \"0.0.0.0:50051\"", "token"),
            ("listen = \"not an address\"", "listen"),
        ] {
            let cfg: SeedConfig = toml::from_str(edit).expect("parses");
            let err = cfg.validate().expect_err(edit).to_string();
            assert!(err.contains(field), "{edit}: {err}");
        }
        assert!(toml::from_str::<SeedConfig>("no_such_key = 1").is_err());
    }

    #[test]
    fn non_loopback_listen_needs_a_token_or_insecure() {
        let open = |edit: &str| -> SeedConfig { toml::from_str(edit).expect("parses") };
        let err = open("listen = \"0.0.0.0:50051\"")
            .validate()
            .expect_err("no token");
        let text = err.to_string();
        assert!(
            text.contains("EIRL_SEED_TOKEN") && text.contains("--insecure"),
            "{text}"
        );
        for fine in [
            "listen = \"127.0.0.1:0\"",
            "listen = \"[::1]:0\"",
            "listen = \"0.0.0.0:50051\"\ninsecure = true",
            "listen = \"0.0.0.0:50051\"\n[server]\ntoken = \"s3cret\"",
        ] {
            assert!(open(fine).validate().is_ok(), "{fine}");
        }
    }
}
