//! ACER — Actor-Critic with Experience Replay (Wang et al. 2017, "Sample Efficient Actor-Critic
//! with Experience Replay").
//!
//! A thin agent over `eirl-envs` (parallel actors in a [`eirl_envs::VecEnv`]), `eirl-replay`
//! (a [`eirl_replay::SequenceReplay`] of `k`-step sequences with the behaviour distribution μ),
//! `eirl-returns` (Q^ret by Retrace, eq. 1.8, and the truncated importance weights with bias
//! correction, eqs. 1.9–1.11) and `eirl-models` (an [`eirl_models::ActorCritic`] network and its
//! Polyak-averaged copy). The efficient trust region (eqs. 1.13–1.16) lives in
//! [`trust_region`] as small pure functions; the discrete learner's targets in
//! [`discrete_targets`]. Continuous action spaces get a Gaussian policy with a fixed σ and an
//! [`eirl_models::StochasticDuelingNetwork`] critic (eq. 1.17): Q^ret with
//! `ρ̄ = min(1, ρ^{1/d})` (eq. 1.20), the V target of eq. 1.19 and Q^opc in the policy gradient,
//! in [`continuous_targets`]. [`AcerConfig`] holds every hyperparameter, defaults from
//! openai/baselines.
//!
//! ```
//! use eirl_acer::{Acer, AcerConfig};
//! use eirl_agent::Agent;
//!
//! let cfg = AcerConfig { num_envs: 2, n_steps: 5, replay_start: 5, ..AcerConfig::default() };
//! let mut agent = Acer::new("CartPole-v1", cfg, 0)?;
//! for _ in 0..3 {
//!     let info = agent.step()?;
//!     assert!(info.scalar("value_loss").is_some_and(f64::is_finite));
//! }
//! assert_eq!(agent.steps(), 3 * 2 * 5);
//! let eval = agent.evaluate(2, 1000)?;
//! assert_eq!(eval.returns.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod agent;
mod config;
mod continuous;
mod discrete;
pub mod trust_region;

use eirl_agent::{Agent, AgentError, Algorithm, Build, ConfigError, Input, defaults_of};

pub use agent::Acer;
pub use config::AcerConfig;
pub use continuous::{ContinuousInputs, ContinuousTargets, continuous_targets, gaussian_log_prob};
pub use discrete::{
    DiscreteInputs, DiscreteParams, DiscreteTargets, UpdateStats, discrete_targets,
};

/// ACER's entry in the algorithm registry (`eirl train acer`).
pub static ALGORITHM: Algorithm = Algorithm {
    name: "acer",
    about: "ACER, discrete and continuous (Retrace, truncated importance weights, trust region, SDN)",
    defaults: defaults_of::<AcerConfig>,
    build,
    demos: Input::Unused,
    expert: Input::Unused,
    resumable: true,
};

fn build(b: Build<'_>) -> Result<Box<dyn Agent>, AgentError> {
    Ok(Box::new(Acer::new(b.env_id, b.config()?, b.seed)?))
}

/// Errors from configuring or running ACER.
#[derive(Debug, thiserror::Error)]
pub enum AcerError {
    /// A config value is out of range (the message names it; not a `source`, so an
    /// error chain shows it once).
    #[error("ACER: {0}")]
    Config(ConfigError),
    #[error("shape mismatch: {0}")]
    Shape(String),
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
}

impl From<ConfigError> for AcerError {
    fn from(e: ConfigError) -> Self {
        AcerError::Config(e)
    }
}

impl From<AcerError> for AgentError {
    fn from(e: AcerError) -> Self {
        AgentError::agent(e)
    }
}
