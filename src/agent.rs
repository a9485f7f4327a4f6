//! The CLI's view of an agent: step it, evaluate it, checkpoint it. One adapter per algorithm.

use anyhow::Result;
use eirl_acer::{Acer, AcerConfig};
use eirl_dqn::{Dqn, DqnConfig};
use eirl_envs::{BatchActions, EpisodeStats, EvalStats};
use eirl_gail::{Gail, GailConfig};
use eirl_models::Checkpoint;
use eirl_seed_rl::{SeedConfig, SeedRl};

/// What a training step reports to the run loop.
pub struct StepReport {
    pub finished: Vec<EpisodeStats>,
    /// Named training scalars (losses, norms), when an update ran.
    pub train: Vec<(&'static str, f64)>,
}

pub trait Agent {
    fn step(&mut self) -> Result<StepReport>;
    fn env_steps(&self) -> u64;
    fn total_steps(&self) -> u64;
    fn eval_interval(&self) -> u64;
    fn eval_episodes(&self) -> usize;
    fn evaluate(&self, episodes: usize, seed: u64) -> Result<EvalStats>;
    /// The agent's deterministic actions for a batch `obs: [n, obs_dim]` (demonstrations).
    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<BatchActions>;
    fn checkpoint(&self) -> Checkpoint;
    fn restore(&mut self, ck: &Checkpoint) -> Result<()>;
    /// A closing line about the agent's machinery (SEED: the inference server's counters).
    fn summary(&self) -> Option<String> {
        None
    }
}

/// Implements [`Agent`] for an agent crate's type, which has the shared shape
/// (`step() -> StepInfo { finished, train }`, `env_steps`, `config()` with `total_steps`,
/// `eval_interval`, `eval_episodes`, `evaluate`, `checkpoint`, `restore`). `$greedy` names its
/// deterministic-action method and `$scalars` turns `(agent, train info)` into logged scalars.
macro_rules! impl_agent {
    ($ty:ty, $greedy:expr, $scalars:expr) => {
        impl_agent!($ty, $greedy, $scalars, |_: &$ty| None);
    };
    ($ty:ty, $greedy:expr, $scalars:expr, $summary:expr) => {
        impl Agent for $ty {
            fn step(&mut self) -> Result<StepReport> {
                let info = <$ty>::step(self)?;
                let train = info.train.map(|t| $scalars(&*self, t)).unwrap_or_default();
                Ok(StepReport {
                    finished: info.finished,
                    train,
                })
            }
            fn env_steps(&self) -> u64 {
                <$ty>::env_steps(self)
            }
            fn total_steps(&self) -> u64 {
                self.config().total_steps
            }
            fn eval_interval(&self) -> u64 {
                self.config().eval_interval
            }
            fn eval_episodes(&self) -> usize {
                self.config().eval_episodes
            }
            fn evaluate(&self, episodes: usize, seed: u64) -> Result<EvalStats> {
                Ok(<$ty>::evaluate(self, episodes, seed)?)
            }
            fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<BatchActions> {
                Ok($greedy(self, obs, n)?)
            }
            fn checkpoint(&self) -> Checkpoint {
                <$ty>::checkpoint(self)
            }
            fn restore(&mut self, ck: &Checkpoint) -> Result<()> {
                Ok(<$ty>::restore(self, ck)?)
            }
            fn summary(&self) -> Option<String> {
                $summary(self)
            }
        }
    };
}

impl_agent!(
    Dqn,
    |a: &Dqn, obs: &[f32], n| Dqn::greedy_actions(a, obs, n).map(BatchActions::Discrete),
    |a: &Dqn, t: eirl_dqn::TrainInfo| vec![
        ("loss", f64::from(t.loss)),
        ("grad_norm", f64::from(t.grad_norm)),
        ("mean_q_target", f64::from(t.mean_q_target)),
        ("epsilon", f64::from(a.epsilon())),
    ]
);

impl_agent!(
    Acer,
    Acer::greedy_actions,
    |_: &Acer, t: eirl_acer::TrainInfo| vec![
        ("value_loss", f64::from(t.value_loss)),
        ("policy_loss", f64::from(t.policy_loss)),
        ("entropy", f64::from(t.entropy)),
        ("mean_rho", f64::from(t.mean_rho)),
        ("kl_avg", f64::from(t.kl_avg)),
        ("trust_region_active", f64::from(t.trust_region_active)),
        ("grad_norm", f64::from(t.grad_norm)),
    ]
);

impl_agent!(
    Gail,
    Gail::deterministic_actions,
    |_: &Gail, t: eirl_gail::TrainInfo| vec![
        ("disc_loss", f64::from(t.disc_loss)),
        ("disc_policy_accuracy", f64::from(t.disc_policy_accuracy)),
        ("disc_expert_accuracy", f64::from(t.disc_expert_accuracy)),
        ("mean_reward", f64::from(t.mean_reward)),
        ("trpo_kl", t.kl),
        ("trpo_accepted", f64::from(u8::from(t.trpo_accepted))),
        ("surrogate_gain", t.surrogate_gain),
        ("value_loss", f64::from(t.value_loss)),
    ]
);

impl_agent!(
    SeedRl,
    SeedRl::greedy_actions,
    |a: &SeedRl, t: eirl_seed_rl::TrainInfo| {
        let mut v = vec![
            ("policy_loss", f64::from(t.policy_loss)),
            ("value_loss", f64::from(t.value_loss)),
            ("entropy", f64::from(t.entropy)),
            ("mean_rho", f64::from(t.mean_rho)),
            ("grad_norm", f64::from(t.grad_norm)),
            ("actor_steps", a.actor_steps() as f64),
        ];
        if let Some(s) = a.server_stats() {
            v.push(("mean_inference_batch", s.mean_batch_size));
        }
        v
    },
    |a: &SeedRl| a.server_stats().map(|s| format!(
        "inference server: batches_run={} rows_served={} mean_batch={:.1} largest_batch={} \
         unrolls_emitted={} dropped_partial_unrolls={} connected_clients={} active_slots={}",
        s.batches_run,
        s.rows_served,
        s.mean_batch_size,
        s.largest_batch,
        s.unrolls_emitted,
        s.dropped_partial_unrolls,
        s.connected_clients,
        s.active_slots
    ))
);

/// The config key under which imitation runs record their demonstrations file.
pub const DEMOS_KEY: &str = "demos";

/// Makes a run's relative demonstrations path (as saved in its config) absolute.
pub fn resolve_demos(table: &mut toml::Table, run_dir: &std::path::Path) {
    if let Some(toml::Value::String(p)) = table.get(DEMOS_KEY) {
        let p = std::path::Path::new(p);
        if p.is_relative() {
            let full = run_dir.join(p).display().to_string();
            table.insert(DEMOS_KEY.into(), toml::Value::String(full));
        }
    }
}

/// Algorithms the CLI can train.
pub const ALGOS: &[&str] = &["dqn", "acer", "bc", "dagger", "gail", "seed"];

/// Builds an agent from a resolved TOML config.
pub fn build(algo: &str, env_id: &str, config: &toml::Table, seed: u64) -> Result<Box<dyn Agent>> {
    match algo {
        "dqn" => {
            let cfg: DqnConfig = config.clone().try_into()?;
            Ok(Box::new(Dqn::new(env_id, cfg, seed)?))
        }
        "acer" => {
            let cfg: AcerConfig = config.clone().try_into()?;
            Ok(Box::new(Acer::new(env_id, cfg, seed)?))
        }
        "seed" => {
            let cfg: SeedConfig = config.clone().try_into()?;
            Ok(Box::new(SeedRl::new(env_id, cfg, seed)?))
        }
        "gail" => {
            let mut table = config.clone();
            let path = match table.remove(DEMOS_KEY) {
                Some(toml::Value::String(p)) => std::path::PathBuf::from(p),
                _ => anyhow::bail!(
                    "gail needs --demos <file.npz> (record one with `eirl demo record`)"
                ),
            };
            let demos = crate::bc::load_demos(&path, env_id)?;
            let cfg: GailConfig = table.try_into()?;
            Ok(Box::new(Gail::new(env_id, cfg, demos, seed)?))
        }
        "bc" => {
            let cfg: crate::bc::BcRunConfig = config.clone().try_into()?;
            Ok(Box::new(crate::bc::PolicyAgent::new(
                env_id,
                &cfg.network,
                seed,
            )?))
        }
        "dagger" => {
            let cfg: crate::dagger::DaggerRunConfig = config.clone().try_into()?;
            Ok(Box::new(crate::bc::PolicyAgent::new(
                env_id,
                &cfg.network,
                seed,
            )?))
        }
        other => anyhow::bail!(
            "unknown algorithm `{other}` (available: {})",
            ALGOS.join(", ")
        ),
    }
}
