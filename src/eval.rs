//! `eirl eval`: evaluate a trained run's best checkpoint.

use std::path::Path;

use anyhow::Result;
use eirl_models::Checkpoint;

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
    // Runs that know their expert's and a random policy's returns also report the normalized
    // score (random = 0, expert = 1).
    let ck = Checkpoint::load(&path)?;
    let meta = |k: &str| ck.meta(k).and_then(|v| v.parse::<f64>().ok());
    let from_demos = || {
        eirl_imitation::Demonstrations::load(&dir.join("demos.npz"))
            .ok()
            .and_then(|d| Some((d.expert_mean_return()?, d.random_mean_return()?)))
    };
    let reference = match (meta("expert_mean_return"), meta("random_mean_return")) {
        (Some(e), Some(r)) => Some((e, r)),
        _ => from_demos(),
    };
    let score = reference
        .and_then(|(e, r)| eirl_imitation::normalized_score(eval.mean(), r, e))
        .map(|s| format!(" normalized_score={s:.4}"))
        .unwrap_or_default();
    println!(
        "mean_return={:.4} std_return={:.4} episodes={}{score}",
        eval.mean(),
        eval.std(),
        eval.returns.len()
    );
    Ok(())
}
