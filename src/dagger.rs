//! `eirl train dagger`: DAgger (Ross et al. 2011) with a trained eirl run or a scripted controller
//! as the expert that labels the learner's states.

use anyhow::{Result, bail};
use eirl_imitation::{DaggerConfig, Demonstrations, Policy, dagger, evaluate, mean};
use eirl_models::PolicyNetworkConfig;
use eirl_runlog::{MetricsLogger, RunDir};
use serde::{Deserialize, Serialize};

use crate::bc::PolicyAgent;

/// A DAgger run: the learner's architecture, DAgger's schedule and what to evaluate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaggerRunConfig {
    /// Learner policy MLP (as for `bc`).
    pub network: PolicyNetworkConfig,
    pub dagger: DaggerConfig,
    /// Episodes of the final evaluation, and of the expert's own evaluation (for the
    /// normalized score).
    pub eval_episodes: usize,
    /// Episodes of the random policy that anchors the normalized score at 0.
    pub random_episodes: usize,
    /// The expert, as given to `--expert` (a run directory or a scripted expert's name).
    pub expert: Option<String>,
}

impl Default for DaggerRunConfig {
    fn default() -> Self {
        DaggerRunConfig {
            network: PolicyNetworkConfig::default(),
            dagger: DaggerConfig::default(),
            eval_episodes: 20,
            random_episodes: 100,
            expert: None,
        }
    }
}

/// The expert named by `--expert`: a trained run's directory, else a scripted expert's name.
pub fn resolve_expert(spec: &str) -> Result<(Box<dyn Policy>, String)> {
    let path = std::path::Path::new(spec);
    if path.is_dir() {
        crate::demo::run_expert(path)
    } else {
        crate::demo::scripted_expert(spec)
    }
}

/// Runs DAgger with `expert` labelling and writes the run (config, per-round metrics,
/// checkpoint, evaluation with the normalized score).
pub fn train(
    run: &RunDir,
    env_id: &str,
    table: &toml::Table,
    expert: &mut dyn Policy,
    initial: Option<&Demonstrations>,
    seed: u64,
) -> Result<()> {
    let cfg: DaggerRunConfig = table.clone().try_into()?;
    if cfg.eval_episodes == 0 || cfg.random_episodes == 0 {
        bail!("eval_episodes and random_episodes must be positive");
    }
    let mut agent = PolicyAgent::new(env_id, &cfg.network, seed)?;
    let rounds = dagger(
        env_id,
        expert,
        agent.policy_mut(),
        initial,
        &cfg.dagger,
        seed,
    )?;
    {
        let mut log = MetricsLogger::open(run)?;
        for (i, r) in rounds.iter().enumerate() {
            let mut row = vec![
                ("dagger_beta", r.beta),
                ("dagger_dataset_size", r.dataset_size as f64),
            ];
            if let Some(ret) = r.rollout_return {
                row.push(("dagger_rollout_return", ret));
            }
            log.log_many(i as u64, &row)?;
        }
    }
    let expert_return = mean(&evaluate(
        env_id,
        expert,
        cfg.eval_episodes,
        crate::train::EVAL_SEED,
    )?);
    let random = eirl_imitation::random_mean_return(
        env_id,
        cfg.random_episodes,
        crate::train::EVAL_SEED.wrapping_add(1),
    )?;
    let last = rounds.last().map(|r| r.dataset_size).unwrap_or(0);
    crate::bc::finish(
        run,
        &agent,
        "dagger",
        Some(expert_return),
        Some(random),
        cfg.eval_episodes,
        &format!(
            "{} rounds, {last} expert-labelled states, expert mean return {:.2}",
            rounds.len().saturating_sub(1),
            expert_return
        ),
    )
}
