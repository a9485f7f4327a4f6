//! The [`Agent`] trait every eirl agent implements, what one step reports ([`StepInfo`]) and the
//! error agents return through it ([`AgentError`]).

use eirl_envs::{Actions, EnvError, EpisodeStats, EvalStats, Policy, PolicyError, evaluate_policy};
use eirl_models::{Checkpoint, ModelError};

use crate::settings::{ConfigError, RunSettings};

/// What can go wrong behind the [`Agent`] trait. Agent crates convert their own error types into
/// [`AgentError::Agent`] (`impl From<TheirError> for AgentError`), which keeps the message and
/// the source chain.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A configuration value is out of range or does not fit the environment.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A checkpoint does not belong to this agent (another algorithm, env or architecture).
    #[error("checkpoint does not fit this agent: {0}")]
    Checkpoint(String),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Writing or reading the run directory failed.
    #[error(transparent)]
    Run(#[from] eirl_runlog::Error),
    /// A policy the agent calls (an expert) failed.
    #[error("policy failed: {0}")]
    Policy(PolicyError),
    /// An agent crate's own error.
    #[error(transparent)]
    Agent(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl AgentError {
    /// Wraps an agent crate's error.
    pub fn agent(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        AgentError::Agent(Box::new(e))
    }
}

/// What one [`Agent::step`] did, in the same shape for every algorithm.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepInfo {
    /// Episodes that ended during the step.
    pub finished: Vec<EpisodeStats>,
    /// Training scalars the agent names itself (losses, norms, rates), when an update ran. The
    /// run loop logs the mean of each over its logging interval ([`Agent::scalar_interval`]).
    pub scalars: Vec<(&'static str, f64)>,
    /// Scalars that describe the run so far (cumulative counters, gauges, `run_*` totals): the
    /// loop logs the latest value, not a mean.
    pub totals: Vec<(&'static str, f64)>,
}

impl StepInfo {
    /// The scalar called `name`, if this step reported it.
    pub fn scalar(&self, name: &str) -> Option<f64> {
        self.scalars.iter().find(|(n, _)| *n == name).map(|s| s.1)
    }

    /// Whether an update ran (any training scalar was reported).
    pub fn trained(&self) -> bool {
        !self.scalars.is_empty()
    }
}

/// The returns that anchor a normalized score: 0 for a random policy, 1 for the expert
/// (the `imitation` benchmark's and the GAIL paper's scale).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreReference {
    pub expert_mean_return: f64,
    pub random_mean_return: f64,
}

impl ScoreReference {
    /// Both returns, or `None` when either is unknown (demonstrations recorded elsewhere).
    pub fn from_returns(expert: Option<f64>, random: Option<f64>) -> Option<Self> {
        Some(ScoreReference {
            expert_mean_return: expert?,
            random_mean_return: random?,
        })
    }
}

/// The contract between an agent and everything that runs one (the training loop in
/// [`crate::train`], the CLI, benchmarks, `eirl demo record`). An agent owns its environments,
/// networks and RNGs; the loop only calls these methods.
///
/// A *step* is the agent's own unit of progress: environment steps for online agents (summed
/// over parallel envs), epochs for behavioural cloning, rounds for DAgger. `total_steps`,
/// `eval_interval` and checkpoints' `env_steps` count in that unit.
pub trait Agent {
    /// The registry name of the algorithm (`dqn`, `acer`, …), written into checkpoints.
    fn algo(&self) -> &'static str;

    /// The environment id the agent trains on.
    fn env_id(&self) -> &str;

    /// Length of the run and evaluation cadence (from the agent's config).
    fn settings(&self) -> RunSettings;

    /// One unit of training: act, store, update — whatever the algorithm does between two
    /// looks by the loop.
    fn step(&mut self) -> Result<StepInfo, AgentError>;

    /// Steps taken so far (see the trait docs for the unit).
    fn steps(&self) -> u64;

    /// Whether training has ended: by default when `steps() ≥ total_steps`; agents with an
    /// own stopping rule (early stopping) say so here.
    fn is_done(&self) -> bool {
        self.steps() >= self.settings().total_steps
    }

    /// How often (in steps) the loop writes the training scalars; each write is the mean of every
    /// value reported since the previous write ([`StepInfo::totals`]: the latest value).
    fn scalar_interval(&self) -> u64 {
        1000
    }

    /// The deterministic policy's actions (argmax / mean) for `obs: [n, obs_dim]`: what
    /// evaluation and `eirl demo record` use.
    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<Actions, AgentError>;

    /// The greedy policy's returns, one episode in each of `episodes` fresh envs (env `i`
    /// seeded `seed + i`).
    fn evaluate(&self, episodes: usize, seed: u64) -> Result<EvalStats, AgentError> {
        evaluate_policy(self.env_id(), episodes, seed, |obs, n| {
            self.greedy_actions(obs, n)
        })
    }

    /// Networks and counters. Replay memories, optimizer, RNG and env state are saved only by
    /// agents configured for exact resume ([`crate::exact`]; DQN, ACER, STEVE: `exact_resume`);
    /// see each agent.
    fn checkpoint(&self) -> Checkpoint;

    /// Restores [`Agent::checkpoint`]'s output; refuses (changing nothing the agent needs) a
    /// checkpoint of another algorithm, env or architecture.
    fn restore(&mut self, ck: &Checkpoint) -> Result<(), AgentError>;

    /// Expert and random returns, for agents that know them (imitation learners).
    fn score_reference(&self) -> Option<ScoreReference> {
        None
    }

    /// A closing line about the agent's machinery (SEED: the inference server's counters).
    fn summary(&self) -> Option<String> {
        None
    }
}

/// A trained agent as a [`Policy`] acting greedily: an expert for DAgger or `eirl demo record`.
pub struct GreedyPolicy(pub Box<dyn Agent>);

impl Policy for GreedyPolicy {
    fn act(&mut self, obs: &[f32], n: usize) -> Result<Actions, PolicyError> {
        Ok(self.0.greedy_actions(obs, n)?)
    }
}
