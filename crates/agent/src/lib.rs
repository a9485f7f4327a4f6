//! The agent contract of eirl: what every agent crate implements and everything that runs an
//! agent relies on. It holds no algorithm.
//!
//! - [`Agent`]: step, evaluate, act greedily, checkpoint, restore, name its own training
//!   scalars ([`StepInfo`]). DQN, ACER, GAIL, SEED RL, BC and DAgger implement it in their own
//!   crates.
//! - [`RunSettings`] (`total_steps`, `eval_interval`, `eval_episodes`, validated once) and
//!   [`ensure`], the check every config's `validate` is made of.
//! - [`train`]: the run loop (evaluation cadence, best/latest checkpoints, resume, metrics,
//!   progress bar, learning curve).
//! - [`Algorithm`]: an agent crate's registry entry (defaults, builder, inputs); the CLI's
//!   registry is a table of them. [`RENAMED_KEYS`]: config keys that changed name.
//! - [`limits`]: memory checks configs make before allocating (replay memories against the
//!   machine's available memory).
//! - [`meta`]: the metadata every agent checkpoint carries; [`LinearSchedule`] for annealed
//!   hyperparameters; [`GreedyPolicy`] turns a trained agent into an expert.
//!
//! Adding a paper's agent is one `impl Agent`, one `pub static` [`Algorithm`] in its crate, one
//! line in the CLI's registry and one preset file.
//!
//! ```
//! use eirl_agent::{Agent, AgentError, RunSettings, StepInfo, meta};
//! use eirl_envs::{Actions, VecEnv};
//! use eirl_models::Checkpoint;
//!
//! /// Pushes CartPole's cart toward where the pole leans; learns nothing.
//! struct Leaner {
//!     env: VecEnv,
//!     obs: Vec<f32>,
//!     steps: u64,
//! }
//!
//! impl Agent for Leaner {
//!     fn algo(&self) -> &'static str { "leaner" }
//!     fn env_id(&self) -> &str { "CartPole-v1" }
//!     fn settings(&self) -> RunSettings {
//!         RunSettings { total_steps: 1_000, eval_interval: 500, eval_episodes: 3 }
//!     }
//!     fn steps(&self) -> u64 { self.steps }
//!     fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<Actions, AgentError> {
//!         Ok(Actions::Discrete((0..n).map(|i| usize::from(obs[4 * i + 2] > 0.0)).collect()))
//!     }
//!     fn step(&mut self) -> Result<StepInfo, AgentError> {
//!         let n = self.env.num_envs();
//!         let actions = self.greedy_actions(&self.obs, n)?;
//!         let out = self.env.step(&actions)?;
//!         self.obs.copy_from_slice(out.obs);
//!         self.steps += n as u64;
//!         Ok(StepInfo {
//!             finished: out.finished.to_vec(),
//!             scalars: vec![("lean", 1.0)],
//!             totals: Vec::new(),
//!         })
//!     }
//!     fn checkpoint(&self) -> Checkpoint {
//!         let mut ck = Checkpoint::new();
//!         meta::stamp(&mut ck, self.algo(), self.env_id(), self.steps);
//!         ck
//!     }
//!     fn restore(&mut self, ck: &Checkpoint) -> Result<(), AgentError> {
//!         self.steps = meta::verify(ck, self.algo(), self.env_id())?;
//!         Ok(())
//!     }
//! }
//!
//! let mut env = VecEnv::new("CartPole-v1", 2, 0)?;
//! let obs = env.reset().to_vec();
//! let mut agent = Leaner { env, obs, steps: 0 };
//! while !agent.is_done() {
//!     agent.step()?;
//! }
//! assert!(agent.evaluate(3, 1_000)?.mean() > 20.0);
//! # Ok::<(), AgentError>(())
//! ```

mod agent;
mod algorithm;
pub mod exact;
pub mod limits;
pub mod meta;
mod run;
mod schedule;
mod settings;

pub use agent::{Agent, AgentError, GreedyPolicy, ScoreReference, StepInfo};
pub use algorithm::{
    Algorithm, Build, Input, RENAMED_KEYS, defaults_of, migrate_renamed, overlay, reject_renamed,
};
pub use run::{
    BEST_EVAL_KEY, EXPERT_RETURN_KEY, RANDOM_RETURN_KEY, RunReport, checkpoint_score_reference,
    result_line, train,
};
pub use schedule::LinearSchedule;
pub use settings::{ConfigError, RunSettings, ensure, ensure_positive};
