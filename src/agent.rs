//! The CLI's view of an agent: step it, evaluate it, checkpoint it. One adapter per algorithm.

use anyhow::Result;
use eirl_acer::{Acer, AcerConfig};
use eirl_dqn::{Dqn, DqnConfig};
use eirl_envs::{BatchActions, EpisodeStats};
use eirl_gail::{Gail, GailConfig};
use eirl_models::Checkpoint;

/// What a training step reports to the run loop.
pub struct StepReport {
    pub finished: Vec<EpisodeStats>,
    /// Named training scalars (losses, norms), when an update ran.
    pub train: Vec<(&'static str, f64)>,
}

/// Returns of an evaluation.
pub struct Evaluation {
    pub returns: Vec<f64>,
}

impl Evaluation {
    pub fn mean(&self) -> f64 {
        self.returns.iter().sum::<f64>() / self.returns.len().max(1) as f64
    }
    pub fn std(&self) -> f64 {
        let m = self.mean();
        (self.returns.iter().map(|r| (r - m).powi(2)).sum::<f64>()
            / self.returns.len().max(1) as f64)
            .sqrt()
    }
}

pub trait Agent {
    fn step(&mut self) -> Result<StepReport>;
    fn env_steps(&self) -> u64;
    fn total_steps(&self) -> u64;
    fn eval_interval(&self) -> u64;
    fn eval_episodes(&self) -> usize;
    fn evaluate(&self, episodes: usize, seed: u64) -> Result<Evaluation>;
    /// The agent's deterministic actions for a batch `obs: [n, obs_dim]` (demonstrations).
    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<BatchActions>;
    fn checkpoint(&self) -> Checkpoint;
    fn restore(&mut self, ck: &Checkpoint) -> Result<()>;
}

impl Agent for Dqn {
    fn step(&mut self) -> Result<StepReport> {
        let info = Dqn::step(self)?;
        let train = info
            .train
            .map(|t| {
                vec![
                    ("loss", t.loss as f64),
                    ("grad_norm", t.grad_norm as f64),
                    ("mean_q_target", t.mean_q_target as f64),
                    ("epsilon", self.epsilon() as f64),
                ]
            })
            .unwrap_or_default();
        Ok(StepReport {
            finished: info.finished,
            train,
        })
    }
    fn env_steps(&self) -> u64 {
        Dqn::env_steps(self)
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
    fn evaluate(&self, episodes: usize, seed: u64) -> Result<Evaluation> {
        Ok(Evaluation {
            returns: Dqn::evaluate(self, episodes, seed)?.returns,
        })
    }
    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<BatchActions> {
        Ok(BatchActions::Discrete(Dqn::greedy_actions(self, obs, n)?))
    }
    fn checkpoint(&self) -> Checkpoint {
        Dqn::checkpoint(self)
    }
    fn restore(&mut self, ck: &Checkpoint) -> Result<()> {
        Ok(Dqn::restore(self, ck)?)
    }
}

impl Agent for Acer {
    fn step(&mut self) -> Result<StepReport> {
        let info = Acer::step(self)?;
        let train = info
            .train
            .map(|t| {
                vec![
                    ("value_loss", t.value_loss as f64),
                    ("policy_loss", t.policy_loss as f64),
                    ("entropy", t.entropy as f64),
                    ("mean_rho", t.mean_rho as f64),
                    ("kl_avg", t.kl_avg as f64),
                    ("trust_region_active", t.trust_region_active as f64),
                    ("grad_norm", t.grad_norm as f64),
                ]
            })
            .unwrap_or_default();
        Ok(StepReport {
            finished: info.finished,
            train,
        })
    }
    fn env_steps(&self) -> u64 {
        Acer::env_steps(self)
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
    fn evaluate(&self, episodes: usize, seed: u64) -> Result<Evaluation> {
        Ok(Evaluation {
            returns: Acer::evaluate(self, episodes, seed)?.returns,
        })
    }
    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<BatchActions> {
        Ok(Acer::greedy_actions(self, obs, n)?)
    }
    fn checkpoint(&self) -> Checkpoint {
        Acer::checkpoint(self)
    }
    fn restore(&mut self, ck: &Checkpoint) -> Result<()> {
        Ok(Acer::restore(self, ck)?)
    }
}

impl Agent for Gail {
    fn step(&mut self) -> Result<StepReport> {
        let info = Gail::step(self)?;
        let train = info
            .train
            .map(|t| {
                vec![
                    ("disc_loss", t.disc_loss as f64),
                    ("disc_policy_accuracy", t.disc_policy_accuracy as f64),
                    ("disc_expert_accuracy", t.disc_expert_accuracy as f64),
                    ("mean_reward", t.mean_reward as f64),
                    ("trpo_kl", t.kl),
                    ("trpo_accepted", f64::from(u8::from(t.trpo_accepted))),
                    ("surrogate_gain", t.surrogate_gain),
                    ("value_loss", t.value_loss as f64),
                ]
            })
            .unwrap_or_default();
        Ok(StepReport {
            finished: info.finished,
            train,
        })
    }
    fn env_steps(&self) -> u64 {
        Gail::env_steps(self)
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
    fn evaluate(&self, episodes: usize, seed: u64) -> Result<Evaluation> {
        Ok(Evaluation {
            returns: Gail::evaluate(self, episodes, seed)?.returns,
        })
    }
    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<BatchActions> {
        Ok(self.deterministic_actions(obs, n)?)
    }
    fn checkpoint(&self) -> Checkpoint {
        Gail::checkpoint(self)
    }
    fn restore(&mut self, ck: &Checkpoint) -> Result<()> {
        Ok(Gail::restore(self, ck)?)
    }
}

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
pub const ALGOS: &[&str] = &["dqn", "acer", "bc", "gail"];

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
            Ok(Box::new(crate::bc::PolicyAgent::new(env_id, &cfg, seed)?))
        }
        other => anyhow::bail!(
            "unknown algorithm `{other}` (available: {})",
            ALGOS.join(", ")
        ),
    }
}
