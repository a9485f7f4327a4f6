//! `eirl eval`: evaluate a trained run's best checkpoint.

use std::path::Path;

use anyhow::Result;

use crate::demo::load_run;

pub fn run(dir: &Path, episodes: usize, seed: u64) -> Result<()> {
    if episodes == 0 {
        anyhow::bail!("--episodes must be positive");
    }
    let (agent, env, path) = load_run(dir)?;
    let eval = agent.evaluate(episodes, seed)?;
    println!(
        "{} on {env}: checkpoint {} ({} training steps)",
        dir.display(),
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
