//! SEED RL (Espeholt et al., ICLR 2020) for eirl: actors only step environments; a central
//! learner owns the model, serves batched inference to every actor through
//! [`eirl_inference_server`], assembles unrolls from the steps it serves, and trains on them
//! with V-trace (IMPALA, Espeholt et al. 2018) while it keeps serving — the policy changes under
//! the actors, and the behaviour log-probabilities travelling with each step correct for it.
//!
//! ```no_run
//! use eirl_agent::Agent;
//! use eirl_seed_rl::{SeedConfig, SeedRl};
//!
//! let cfg = SeedConfig { actors: 2, envs_per_actor: 4, ..SeedConfig::default() };
//! let mut agent = SeedRl::new("CartPole-v1", cfg, 0)?;
//! for _ in 0..10 {
//!     let info = agent.step()?;            // one V-trace update on 8 unrolls
//!     assert!(info.trained());
//! }
//! let eval = agent.evaluate(5, 1_000)?;
//! println!("greedy mean return {:.1}", eval.mean());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Pieces usable alone: [`Learner`] (V-trace update from server [`Unroll`](eirl_inference_server::Unroll)s),
//! [`ServedPolicy`] (a policy-value network served with sampled actions and `log μ`),
//! [`run_actor`] (an actor loop over any [`Transport`](eirl_inference_server::Transport)).
//!
//! SEED's accelerated central inference: with `device = "cuda"` ([`SeedConfig::device`]) the
//! served policy and the learner's updates run on a GPU through `eirl_models::gpu` (cuBLAS and
//! NVRTC kernels via cudarc, CUDA loaded at run time); `"host"` runs the same device program on
//! the CPU.

mod actor;
mod agent;
mod config;
mod error;
mod learner;
mod policy;

use eirl_agent::{Agent, AgentError, Algorithm, Build, Input, defaults_of};

pub use actor::{ActorConfig, run_actor};
pub use agent::SeedRl;
pub use config::{MAX_ACTORS, PgBootstrapKind, SeedConfig};
pub use error::SeedError;
pub use learner::{Learner, Targets, TrainInfo};
pub use policy::{ParamBoard, ParamSnapshot, ServedPolicy, policy_params};

/// Environment variable holding the token actors and learner share (kept out of configs, shell
/// history and `ps`).
pub const TOKEN_ENV: &str = "EIRL_SEED_TOKEN";

/// The shared token from [`TOKEN_ENV`], if set and non-empty (learner and actor sides).
pub fn token_from_env() -> Option<String> {
    std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty())
}

/// SEED RL's entry in the algorithm registry (`eirl train seed`, `eirl seed serve`). The
/// learner's `server.token` comes from [`TOKEN_ENV`] when the config has none, so it never
/// reaches a run's saved config.
pub static ALGORITHM: Algorithm = Algorithm {
    name: "seed",
    about: "SEED RL: actors only step envs, central batched inference, V-trace learner",
    defaults: defaults_of::<SeedConfig>,
    build,
    demos: Input::Unused,
    expert: Input::Unused,
    resumable: true,
};

fn build(b: Build<'_>) -> Result<Box<dyn Agent>, AgentError> {
    let mut cfg: SeedConfig = b.config()?;
    if cfg.server.token.is_none() {
        cfg.server.token = token_from_env();
    }
    Ok(Box::new(SeedRl::new(b.env_id, cfg, b.seed)?))
}
