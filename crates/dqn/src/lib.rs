//! The DQN family for eirl: DQN (Mnih et al. 2015), Double DQN (van Hasselt et al. 2016),
//! dueling networks (Wang et al. 2016), prioritized replay (Schaul et al. 2016) and n-step
//! targets — the value-based base on which SV-RL (Yang et al. 2020) builds.
//!
//! A thin agent: [`DqnConfig`] (defaults documented with their source) plus the loop that wires
//! `eirl-envs` (a [`eirl_envs::VecEnv`]), `eirl-replay` (uniform or prioritized) and
//! `eirl-models` (a [`eirl_models::QNetwork`] and its target copy).
//!
//! ```
//! use eirl_dqn::{Dqn, DqnConfig};
//!
//! let cfg = DqnConfig { total_steps: 300, learning_starts: 64, batch_size: 16, ..DqnConfig::default() };
//! let mut agent = Dqn::new("CartPole-v1", cfg, 0)?;
//! while agent.env_steps() < 300 {
//!     agent.step()?;
//! }
//! assert!(agent.updates() > 0);
//! let eval = agent.evaluate(3, 1000)?;
//! assert_eq!(eval.returns.len(), 3);
//! # Ok::<(), eirl_dqn::DqnError>(())
//! ```

mod agent;
mod config;
mod nstep;
mod schedule;
pub mod targets;

pub use agent::{Dqn, StepInfo, TrainInfo, greedy};
pub use config::{DqnConfig, PrioritizedConfig};
pub use eirl_envs::{EvalStats, evaluate_discrete};
pub use nstep::{NStepBuffer, NStepTransition};
pub use schedule::LinearSchedule;

/// Errors from configuring or running DQN.
#[derive(Debug, thiserror::Error)]
pub enum DqnError {
    #[error("invalid DQN config: {0}")]
    Config(String),
    #[error("{0}")]
    UnsupportedActionSpace(String),
    #[error(transparent)]
    Env(#[from] eirl_envs::EnvError),
    #[error(transparent)]
    Replay(#[from] eirl_replay::ReplayError),
    #[error(transparent)]
    Model(#[from] eirl_models::ModelError),
}
