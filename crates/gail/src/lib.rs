//! Generative Adversarial Imitation Learning (Ho & Ermon 2016) for eirl: a thin agent that wires
//! `eirl-imitation`'s components into the paper's Algorithm 1.
//!
//! Each [`Gail::step`] is one iteration: sample `num_envs × steps_per_env` state-action pairs of
//! π_θ over a [`eirl_envs::VecEnv`]; update the discriminator `D_w(s,a)` (= probability the pair
//! came from the policy) by Adam on GAIL eq. 17, `max_w E_π[log D_w] + E_{π_E}[log(1 − D_w)]`;
//! give the policy the reward `−log D_w(s,a)` (the cost `log D` of Algorithm 1 step 5); estimate
//! advantages by GAE (Schulman et al. 2016 eq. 16) with a learned value baseline, bootstrapping
//! through time-limit truncation but not through termination ([`segment_advantages`]); take a
//! TRPO step (max KL 0.01, conjugate gradient on Fisher-vector products, backtracking line
//! search) on the surrogate plus the causal-entropy bonus `λ H(π)` of GAIL eq. 5.15 / Algorithm 1
//! (`trpo.ent_coef`); then fit the value baseline to the λ-returns.
//!
//! [`GailConfig`]'s defaults are openai/baselines' GAIL (`gail/run_mujoco.py`, TRPO generator)
//! and the `imitation` library's (`train_adversarial`) settings; see each field. Discrete
//! (CartPole-v1, Acrobot-v1, MountainCar-v0) and continuous (Gaussian policy) action spaces work.
//!
//! ```
//! use eirl_agent::Agent;
//! use eirl_gail::{Gail, GailConfig};
//! use eirl_imitation::{CartPoleBalancer, record};
//!
//! let demos = record("CartPole-v1", &mut CartPoleBalancer, 1, 0)?;
//! let cfg = GailConfig { num_envs: 2, steps_per_env: 32, ..GailConfig::default() };
//! let mut agent = Gail::new("CartPole-v1", cfg, demos, 0)?;
//! let info = agent.step()?;
//! assert_eq!(agent.steps(), 64);
//! assert!(info.scalar("disc_loss").is_some_and(f64::is_finite));
//! let eval = agent.evaluate(2, 1000)?;
//! assert_eq!(eval.returns.len(), 2);
//!
//! // Demonstrations from another env are rejected.
//! let other = record("MountainCar-v0", &mut eirl_imitation::MountainCarEnergyPump, 1, 0)?;
//! assert!(Gail::new("CartPole-v1", GailConfig::default(), other, 0).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod advantages;
mod agent;
mod config;
mod normalizer;

pub use advantages::{Segment, segment_advantages};
use eirl_agent::{Agent, AgentError, Algorithm, Build, ConfigError, Input, defaults_of};

pub use agent::Gail;
pub use config::GailConfig;
pub use eirl_imitation::{Demonstrations, RewardKind};
pub use normalizer::ObsNormalizer;

/// GAIL's entry in the algorithm registry (`eirl train gail --demos f.npz`).
pub static ALGORITHM: Algorithm = Algorithm {
    name: "gail",
    about: "GAIL: discriminator cost, GAE, TRPO policy steps, causal-entropy bonus",
    defaults: defaults_of::<GailConfig>,
    build,
    demos: Input::Required,
    expert: Input::Unused,
    resumable: true,
};

fn build(b: Build<'_>) -> Result<Box<dyn Agent>, AgentError> {
    let cfg = b.config()?;
    let demos =
        Demonstrations::load_for(b.demos_path("gail")?, b.env_id).map_err(GailError::from)?;
    Ok(Box::new(Gail::new(b.env_id, cfg, demos, b.seed)?))
}

/// Errors from configuring or running GAIL.
#[derive(Debug, thiserror::Error)]
pub enum GailError {
    /// A configuration value is out of range (the message names the field).
    /// A config value is out of range (the message names it; not a `source`, so an
    /// error chain shows it once).
    #[error("GAIL: {0}")]
    Config(ConfigError),
    /// Inputs of an internal step do not fit together (lengths).
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// The demonstrations do not fit the environment (id, observation width, actions).
    #[error("demonstrations do not fit the environment: {0}")]
    Demonstrations(String),
    #[error(transparent)]
    Env(#[from] eirl_envs::EnvError),
    #[error(transparent)]
    Model(#[from] eirl_models::ModelError),
    #[error(transparent)]
    Imitation(#[from] eirl_imitation::ImitationError),
    #[error(transparent)]
    Returns(#[from] eirl_returns::ReturnsError),
}

impl From<ConfigError> for GailError {
    fn from(e: ConfigError) -> Self {
        GailError::Config(e)
    }
}

impl From<GailError> for AgentError {
    fn from(e: GailError) -> Self {
        AgentError::agent(e)
    }
}
