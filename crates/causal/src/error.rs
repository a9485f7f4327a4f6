//! The crate's error type.

use eirl_envs::EnvError;
use eirl_imitation::ImitationError;
use eirl_models::ModelError;

/// Why a causal-confusion component refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CausalError {
    /// A configuration value is out of range, or inputs do not fit together.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A network could not be built or trained.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An environment rejected an id, action or state.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// Demonstrations, behavioural cloning or an expert failed.
    #[error(transparent)]
    Imitation(#[from] ImitationError),
    /// A policy could not act.
    #[error("policy failed: {0}")]
    Policy(eirl_envs::PolicyError),
}
