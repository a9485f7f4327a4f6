//! The crate's error type.

use std::path::PathBuf;

use eirl_envs::EnvError;
use eirl_models::ModelError;
use eirl_returns::ReturnsError;
use thiserror::Error;

/// Everything that can go wrong in this crate. Nothing a file, a user or an environment supplies
/// makes it panic: bad input comes back as one of these.
#[derive(Debug, Error)]
pub enum ImitationError {
    /// Reading or writing a file failed (the OS error is the `source`, so an error chain shows
    /// it once).
    #[error("cannot read or write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A demonstrations file is truncated, corrupt, hostile or inconsistent.
    #[error("{origin}: not a valid demonstrations file: {reason}")]
    Format { origin: String, reason: String },
    /// Demonstrations built in memory are inconsistent (lengths, dimensions, action kinds).
    #[error("invalid demonstrations: {0}")]
    Invalid(String),
    /// A configuration value is out of range, or inputs do not fit together.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A network could not be built or trained.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An environment rejected an action or id.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// A policy (an expert, a learner) could not act.
    #[error("policy failed: {0}")]
    Policy(eirl_envs::PolicyError),
    /// An estimator rejected its inputs.
    #[error(transparent)]
    Returns(#[from] ReturnsError),
}

impl ImitationError {
    pub(crate) fn format(reason: impl Into<String>) -> Self {
        ImitationError::Format {
            origin: "<bytes>".into(),
            reason: reason.into(),
        }
    }
}
