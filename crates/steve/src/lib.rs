//! STEVE for eirl: "Sample-Efficient Reinforcement Learning with Stochastic Ensemble Value
//! Expansion" (Buckman, Hafner, Tucker, Brevdo & Lee, NeurIPS 2018), on DDPG, faithful to the
//! official code (tensorflow/models, research/steve).
//!
//! One learner, three critic targets ([`TargetKind`]): DDPG's TD target, MVE (Feinberg et al.
//! 2018) and STEVE, so a comparison differs only in the target.
//!
//! - DDPG base (eqs. 2.2–2.4): a deterministic tanh policy μ trained through the ensemble-mean
//!   Q (the deterministic policy gradient `∇_a Q̄ · ∇_θ μ`) with the official pre-tanh penalty;
//!   an ensemble of L Q-functions, each regressing on its own share of every minibatch; a
//!   target ensemble copied every 500 updates; replay; the official exploration (5% of action
//!   components perturbed by N(0, 1) before the tanh, uniformly random actions at the start).
//! - The world model ([`world_model`], eq. 2.5): M dynamics models predicting the change of
//!   observation, M termination models (logits, cross-entropy to the terminal flag), N reward
//!   models `R̂(s', s, a)`, trained on replay with the official L2 penalty, pre-trained before
//!   value expansion starts.
//! - The targets ([`expansion`]): every candidate of every horizon from few batched ensemble
//!   forwards ([`eirl_models::EnsembleMlp`]), MVE's horizon-H mean and STEVE's inverse-variance
//!   weighting from `eirl-returns`.
//! - The toy value-estimation study of the paper's Figure 1 ([`toy`]).
//!
//! ```
//! use eirl_agent::Agent;
//! use eirl_steve::{Steve, SteveConfig, TargetKind};
//!
//! // A tiny STEVE run: 4 members per ensemble, a short pre-training, two updates per step.
//! let cfg = SteveConfig {
//!     hidden: vec![16],
//!     transition_hidden: vec![16],
//!     aux_hidden: vec![16],
//!     batch_size: 16,
//!     learning_starts: 40,
//!     model_pretrain_updates: 5,
//!     updates_per_step: 2,
//!     total_steps: 60,
//!     ..SteveConfig::default()
//! };
//! assert_eq!(cfg.target, TargetKind::Steve);
//! let mut agent = Steve::new("Pendulum-v1", cfg, 0)?;
//! while !agent.is_done() {
//!     agent.step()?;
//! }
//! assert_eq!(agent.stats().updates, 2 * 21);
//! assert_eq!(agent.stats().model_updates, 5 + 2 * 21);
//! # Ok::<(), eirl_agent::AgentError>(())
//! ```

mod agent;
mod config;
pub mod expansion;
pub mod toy;
pub mod world_model;

use eirl_agent::{Agent, AgentError, Algorithm, Build, ConfigError, Input, defaults_of};

pub use agent::{ALGO, Steve, SteveStats};
pub use config::{SteveConfig, TargetKind};

/// Errors of the STEVE agent, its world model and the toy study.
#[derive(Debug, thiserror::Error)]
pub enum SteveError {
    /// A config value is out of range (the message names it; not a `source`, so an
    /// error chain shows it once).
    #[error("STEVE: {0}")]
    Config(ConfigError),
    #[error("{0}")]
    UnsupportedActionSpace(String),
    #[error("STEVE: shape mismatch: {0}")]
    Shape(String),
    #[error("STEVE: non-finite {0}")]
    NonFinite(String),
    #[error(transparent)]
    Env(#[from] eirl_envs::EnvError),
    #[error(transparent)]
    Replay(#[from] eirl_replay::ReplayError),
    #[error(transparent)]
    Model(#[from] eirl_models::ModelError),
    #[error(transparent)]
    Returns(#[from] eirl_returns::ReturnsError),
}

impl From<ConfigError> for SteveError {
    fn from(e: ConfigError) -> Self {
        SteveError::Config(e)
    }
}

impl From<SteveError> for AgentError {
    fn from(e: SteveError) -> Self {
        match e {
            SteveError::Config(c) => AgentError::Config(c),
            e => AgentError::agent(e),
        }
    }
}

/// STEVE's entry in the algorithm registry (`eirl train steve`).
pub static ALGORITHM: Algorithm = Algorithm {
    name: ALGO,
    about: "STEVE / MVE / DDPG (target = steve | mve | td): model-based value expansion on DDPG",
    defaults: defaults_of::<SteveConfig>,
    build,
    demos: Input::Unused,
    expert: Input::Unused,
    resumable: true,
};

fn build(b: Build<'_>) -> Result<Box<dyn Agent>, AgentError> {
    Ok(Box::new(Steve::new(b.env_id, b.config()?, b.seed)?))
}
