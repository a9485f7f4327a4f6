//! The run settings, with the official code's values as defaults.

use eirl_causal::{GraphBcConfig, InputMode, SearchConfig};
use eirl_imitation::{BcConfig, ContinuousLoss};
use serde::{Deserialize, Serialize};

/// How an intervention chooses the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Algorithm 2: episodes of `π_G` in the environment, scored by their return; the budget
    /// counts episodes.
    PolicyExecution,
    /// Algorithm 1: expert labels on the states of the mixture policy where the graphs disagree
    /// most, graphs scored by their loss on them; the budget counts expert queries.
    ExpertQuery,
}

impl Mode {
    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::PolicyExecution => "policy-execution",
            Mode::ExpertQuery => "expert-query",
        }
    }

    /// The mode of a CLI name.
    pub fn parse(name: &str) -> Option<Mode> {
        [Mode::PolicyExecution, Mode::ExpertQuery]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// Everything a diagnosis or intervention run uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CausalConfusionConfig {
    /// The base environment (`<id>-confounded` / `<id>-original` are derived from it).
    pub env_id: String,
    /// The scripted expert (see `eirl_imitation::SCRIPTED_EXPERTS`).
    pub expert: String,
    /// Demonstration steps recorded (official 100 000; whole episodes, so slightly more).
    pub demo_steps: usize,
    /// Start demonstration episodes from the official wide MountainCar distribution
    /// (position `U(−1, 0.5)`, velocity `0.07·N(0, 1)`); the MountainCars only
    /// ([`RICH_START_ENVS`]).
    pub rich_starts: bool,
    /// Training samples drawn from the demonstrations (official `--num_samples` 300).
    pub train_samples: usize,
    /// The sample counts of the diagnosis curve (the paper's Figure 4 x-axis).
    pub sample_sweep: Vec<usize>,
    /// Episodes of every evaluation, on seeds shared by all methods of a run.
    pub eval_episodes: usize,
    /// The plain policy's training (official `SimplePolicy`).
    pub plain: GraphBcConfig,
    /// The graph-parameterized policy's training (official `UniformMaskPolicy`).
    pub graph: GraphBcConfig,
    /// Input-dropout probability of the dropout baseline.
    pub dropout: f32,
    /// The graph search of both interventions.
    pub search: SearchConfig,
    /// Episodes of the mixture policy whose states expert queries choose from.
    pub mixture_episodes: usize,
    /// DAgger (expert-query baseline): its behavioural cloning at every round.
    pub dagger_bc: BcConfig,
    /// DAgger's β falls to 0 over this many rounds (the `imitation` library's default 15).
    pub dagger_beta_rampdown_rounds: usize,
}

/// The envs with a wide start distribution ([`eirl_causal::rich_mountain_car_start`]: the
/// official MountainCar one; MountainCarContinuous shares its state and dynamics).
pub const RICH_START_ENVS: &[&str] = &["MountainCar-v0", "MountainCarContinuous-v0"];

impl CausalConfusionConfig {
    /// The defaults for `env_id`: its scripted expert and, for the MountainCars, the wide start
    /// distribution. `None` when eirl has no scripted expert for the env.
    pub fn for_env(env_id: &str) -> Option<Self> {
        let expert = eirl_imitation::SCRIPTED_EXPERTS.iter().find(|name| {
            eirl_imitation::scripted_expert(name).is_some_and(|(_, env)| env == env_id)
        })?;
        Some(CausalConfusionConfig {
            env_id: env_id.to_string(),
            expert: (*expert).to_string(),
            rich_starts: RICH_START_ENVS.contains(&env_id),
            ..CausalConfusionConfig::default()
        })
    }
}

impl Default for CausalConfusionConfig {
    fn default() -> Self {
        CausalConfusionConfig {
            env_id: "MountainCar-v0".into(),
            expert: "mountaincar-pump".into(),
            demo_steps: 100_000,
            rich_starts: true,
            train_samples: 300,
            sample_sweep: vec![100, 300, 1_000, 3_000, 10_000],
            eval_episodes: 20,
            plain: GraphBcConfig::official(InputMode::Plain),
            graph: GraphBcConfig::official(InputMode::Graph),
            dropout: 0.5,
            search: SearchConfig::default(),
            mixture_episodes: 10,
            dagger_bc: BcConfig {
                batch_size: 64,
                ent_coef: 0.0,
                max_epochs: 1_000,
                patience: 20,
                continuous_loss: ContinuousLoss::Mse,
                ..BcConfig::default()
            },
            dagger_beta_rampdown_rounds: 15,
        }
    }
}
