//! `eirl eval`: evaluate a trained run's best checkpoint.

use std::path::Path;

use anyhow::{Result, bail};
use eirl_agent::{checkpoint_score_reference, result_line};

use crate::registry;

pub fn run(dir: &Path, episodes: usize, seed: u64) -> Result<()> {
    if episodes == 0 {
        bail!("--episodes must be positive");
    }
    let (agent, ck, path) = registry::load_run(dir)?;
    let eval = agent.evaluate(episodes, seed)?;
    println!(
        "{} on {}: checkpoint {} ({} training steps)",
        dir.display(),
        agent.env_id(),
        path.display(),
        agent.steps()
    );
    // Runs that know their expert's and a random policy's returns also report the normalized
    // score (random = 0, expert = 1): from the checkpoint, else from the run's demonstrations.
    let reference = checkpoint_score_reference(&ck).or_else(|| agent.score_reference());
    println!("{}", result_line(&eval, reference));
    Ok(())
}
