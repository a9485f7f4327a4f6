//! `eirl eval`: evaluate a trained run's best checkpoint.

use std::path::Path;

use anyhow::{Context, Result};
use eirl_models::Checkpoint;
use eirl_runlog::RunDir;

use crate::agent;
use crate::train::{BEST, LATEST};

pub fn run(dir: &Path, episodes: usize, seed: u64) -> Result<()> {
    if episodes == 0 {
        anyhow::bail!("--episodes must be positive");
    }
    let run = RunDir::open(dir).with_context(|| format!("opening run {}", dir.display()))?;
    let info = run.read_run_info()?;
    let table: toml::Table = run.read_config()?;
    let mut agent = agent::build(&info.algo, &info.env, &table, info.seed)?;
    let ck_dir = run.checkpoints_dir();
    let path = [BEST, LATEST]
        .iter()
        .map(|n| ck_dir.join(n))
        .find(|p| p.exists())
        .with_context(|| format!("no checkpoint in {}", ck_dir.display()))?;
    agent.restore(&Checkpoint::load(&path)?)?;
    let eval = agent.evaluate(episodes, seed)?;
    println!(
        "{} on {}: checkpoint {} ({} training steps)",
        info.algo,
        info.env,
        path.display(),
        agent.env_steps()
    );
    println!(
        "mean_return={:.4} std_return={:.4} episodes={}",
        eval.mean(),
        eval.std(),
        eval.returns.len()
    );
    Ok(())
}
