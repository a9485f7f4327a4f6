use eirl_inference_server::{ServerError, TransportError};
use thiserror::Error;

/// Everything that can go wrong in the SEED RL agent.
#[derive(Debug, Error)]
pub enum SeedError {
    /// A configuration value is out of range, or the environment does not suit the agent.
    #[error("seed config: {0}")]
    Config(String),
    #[error(transparent)]
    Env(#[from] eirl_envs::EnvError),
    #[error(transparent)]
    Model(#[from] eirl_models::ModelError),
    #[error(transparent)]
    Returns(#[from] eirl_returns::ReturnsError),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// An unroll from the server does not fit the learner (wrong widths, unknown action).
    #[error("malformed unroll: {0}")]
    Unroll(String),
    /// Every actor stopped, so no more experience can arrive.
    #[error("no actor is running: {0}")]
    NoActors(String),
}

impl From<eirl_agent::ConfigError> for SeedError {
    fn from(e: eirl_agent::ConfigError) -> Self {
        SeedError::Config(e.0)
    }
}

impl From<SeedError> for eirl_agent::AgentError {
    fn from(e: SeedError) -> Self {
        eirl_agent::AgentError::agent(e)
    }
}
