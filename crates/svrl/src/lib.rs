//! SV-RL for eirl: "Harnessing Structures for Value-Based Planning and Reinforcement Learning"
//! (Yang, Zhang, Xu & Katabi, ICLR 2020), Algorithm 1 — DQN whose bootstrap target is
//! re-estimated from a random subset of its entries, so the target Q matrix is pushed toward low
//! rank.
//!
//! A thin extension of `eirl-dqn`: [`SvRl`] wraps a [`eirl_dqn::Dqn`] and installs
//! [`TargetCompletion`] through DQN's one hook, [`eirl_dqn::NextQTransform`]. At each gradient
//! step the target network's `[B, |A|]` next-state Q matrix is masked with a fresh
//! `Bernoulli(p)` mask (1 = observed, p = 0.9 by default) and completed by soft-impute
//! (fancyimpute's defaults) or USVT from `eirl-matrix-estimation`, inside SV-RL's scaling to
//! [−1, 1] ([`eirl_matrix_estimation::complete_scaled`]). The config ([`SvRlConfig`]) is DQN's,
//! plus an `[svrl]` table. The paper ran SV-RL on Atari only; the presets in `configs/svrl/`
//! for classic control (discretised Pendulum and MountainCarContinuous among them) are ours.
//!
//! ```
//! use eirl_agent::Agent;
//! use eirl_dqn::DqnConfig;
//! use eirl_svrl::{SvRl, SvRlConfig};
//!
//! let dqn = DqnConfig { total_steps: 300, learning_starts: 64, batch_size: 16, ..DqnConfig::default() };
//! let mut agent = SvRl::new("Pendulum-v1-discrete5", SvRlConfig { dqn, ..SvRlConfig::default() }, 0)?;
//! while !agent.is_done() {
//!     agent.step()?;
//! }
//! let stats = agent.stats();
//! assert!(stats.updates > 0);
//! assert!(stats.reestimated > 0); // ~10% of the entries of each 16×5 target matrix
//! # Ok::<(), eirl_agent::AgentError>(())
//! ```

mod agent;
mod config;
mod target;

use eirl_agent::{Agent, AgentError, Algorithm, Build, Input, defaults_of};

pub use agent::{ALGO, SvRl};
pub use config::{EstimatorKind, MaskSchedule, SVRL_TABLE, SvRlConfig, SvRlParams};
pub use target::{TARGET_RANK_ENERGY, TargetCompletion, TargetStats, complete_target};

/// SV-RL's entry in the algorithm registry (`eirl train svrl`).
pub static ALGORITHM: Algorithm = Algorithm {
    name: ALGO,
    about: "SV-RL: DQN with matrix-estimated (soft-impute / USVT) bootstrap targets",
    defaults: defaults_of::<SvRlConfig>,
    build,
    demos: Input::Unused,
    expert: Input::Unused,
    resumable: true,
};

fn build(b: Build<'_>) -> Result<Box<dyn Agent>, AgentError> {
    Ok(Box::new(SvRl::new(b.env_id, b.config()?, b.seed)?))
}
