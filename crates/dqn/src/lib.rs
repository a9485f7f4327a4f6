//! The DQN family for eirl: DQN (Mnih et al. 2015), Double DQN (van Hasselt et al. 2016),
//! dueling networks (Wang et al. 2016), prioritized replay (Schaul et al. 2016) and n-step
//! targets — the value-based base on which SV-RL (Yang et al. 2020) builds.
//!
//! A thin agent: [`DqnConfig`] (defaults documented with their source) plus the loop that wires
//! `eirl-envs` (a [`eirl_envs::VecEnv`]), `eirl-replay` (uniform or prioritized) and
//! `eirl-models` (a [`eirl_models::QNetwork`] and its target copy).
//!
//! SV-RL builds on it through one documented hook at the target computation,
//! [`NextQTransform`].
//!
//! ```
//! use eirl_agent::Agent;
//! use eirl_dqn::{Dqn, DqnConfig};
//!
//! let cfg = DqnConfig { total_steps: 300, learning_starts: 64, batch_size: 16, ..DqnConfig::default() };
//! let mut agent = Dqn::new("CartPole-v1", cfg, 0)?;
//! while !agent.is_done() {
//!     agent.step()?;
//! }
//! assert!(agent.updates() > 0);
//! let eval = agent.evaluate(3, 1000)?;
//! assert_eq!(eval.returns.len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod agent;
mod config;

use eirl_agent::{Agent, AgentError, Algorithm, Build, ConfigError, Input, defaults_of};

pub use agent::{Dqn, NextQTransform, greedy};
pub use config::{DqnConfig, PrioritizedConfig};

/// DQN's entry in the algorithm registry (`eirl train dqn`).
pub static ALGORITHM: Algorithm = Algorithm {
    name: "dqn",
    about: "DQN, Double DQN, dueling networks, prioritized replay, n-step targets",
    defaults: defaults_of::<DqnConfig>,
    build,
    demos: Input::Unused,
    expert: Input::Unused,
    resumable: true,
};

fn build(b: Build<'_>) -> Result<Box<dyn Agent>, AgentError> {
    Ok(Box::new(Dqn::new(b.env_id, b.config()?, b.seed)?))
}

/// Errors from configuring or running DQN.
#[derive(Debug, thiserror::Error)]
pub enum DqnError {
    /// A config value is out of range (the message names it; not a `source`, so an
    /// error chain shows it once).
    #[error("DQN: {0}")]
    Config(ConfigError),
    #[error("{0}")]
    UnsupportedActionSpace(String),
    #[error(transparent)]
    Env(#[from] eirl_envs::EnvError),
    #[error(transparent)]
    Replay(#[from] eirl_replay::ReplayError),
    #[error(transparent)]
    Model(#[from] eirl_models::ModelError),
    #[error(transparent)]
    Returns(#[from] eirl_returns::ReturnsError),
    /// A [`NextQTransform`] failed.
    #[error("next-state Q transform: {0}")]
    NextQTransform(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl From<ConfigError> for DqnError {
    fn from(e: ConfigError) -> Self {
        DqnError::Config(e)
    }
}

impl From<DqnError> for AgentError {
    fn from(e: DqnError) -> Self {
        AgentError::agent(e)
    }
}
