//! SEED RL (Espeholt et al., ICLR 2020) for eirl: actors only step environments; a central
//! learner owns the model, serves batched inference to every actor through
//! [`eirl_inference_server`], assembles unrolls from the steps it serves, and trains on them
//! with V-trace (IMPALA, Espeholt et al. 2018) while it keeps serving — the policy changes under
//! the actors, and the behaviour log-probabilities travelling with each step correct for it.
//!
//! ```no_run
//! use eirl_seed_rl::{SeedConfig, SeedRl};
//!
//! let cfg = SeedConfig { actors: 2, envs_per_actor: 4, ..SeedConfig::default() };
//! let mut agent = SeedRl::new("CartPole-v1", cfg, 0)?;
//! for _ in 0..10 {
//!     let info = agent.step()?;            // one V-trace update on 8 unrolls
//!     assert!(info.train.is_some());
//! }
//! let eval = agent.evaluate(5, 1_000)?;
//! println!("greedy mean return {:.1}", eval.mean());
//! # Ok::<(), eirl_seed_rl::SeedError>(())
//! ```
//!
//! Pieces usable alone: [`Learner`] (V-trace update from server [`Unroll`](eirl_inference_server::Unroll)s),
//! [`ServedPolicy`] (a policy-value network served with sampled actions and `log μ`),
//! [`run_actor`] (an actor loop over any [`Transport`](eirl_inference_server::Transport)).

mod actor;
mod agent;
mod config;
mod error;
mod learner;
mod policy;

pub use actor::{ActorConfig, run_actor};
pub use agent::{SeedRl, StepInfo};
pub use config::{PgBootstrapKind, SeedConfig};
pub use error::SeedError;
pub use learner::{Learner, Targets, TrainInfo};
pub use policy::{ParamBoard, ParamSnapshot, ServedPolicy};
