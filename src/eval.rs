//! `eirl eval`: evaluate a trained run's best checkpoint.

use std::path::Path;

use anyhow::{Result, bail};
use eirl_agent::{checkpoint_score_reference, result_line};

use crate::registry;

/// `--episodes` must be positive and at most [`eirl_envs::MAX_EVAL_EPISODES`]: each episode
/// runs in its own environment, all held in memory at once.
fn check_episodes(episodes: usize) -> Result<()> {
    if episodes == 0 {
        bail!("--episodes must be positive");
    }
    if episodes > eirl_envs::MAX_EVAL_EPISODES {
        bail!(
            "--episodes {episodes} is more than the limit of {} (each episode runs in its own \
             environment, all held in memory at once)",
            eirl_envs::MAX_EVAL_EPISODES
        );
    }
    Ok(())
}

pub fn run(dir: &Path, episodes: usize, seed: u64) -> Result<()> {
    check_episodes(episodes)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `eirl eval --episodes 1000000000000000` aborted with an allocation failure; it is now
    /// refused before the run is even loaded, naming the flag and the limit.
    #[test]
    fn episodes_flag_is_bounded() {
        let err = run(Path::new("no-such-run-dir"), 1_000_000_000_000_000, 0)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("--episodes 1000000000000000"), "{err}");
        assert!(err.contains("limit of 1000000"), "{err}");
        assert!(check_episodes(0).is_err());
        assert!(check_episodes(eirl_envs::MAX_EVAL_EPISODES).is_ok());
    }
}
