//! Evaluation of a fixed discrete policy: one episode in each of `episodes` environments.

use eirl_envs::{EnvError, VecEnv};

/// Returns of an evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalStats {
    pub returns: Vec<f64>,
    pub lengths: Vec<usize>,
}

impl EvalStats {
    pub fn mean(&self) -> f64 {
        self.returns.iter().sum::<f64>() / self.returns.len().max(1) as f64
    }

    /// Population standard deviation of the returns.
    pub fn std(&self) -> f64 {
        let m = self.mean();
        (self.returns.iter().map(|r| (r - m).powi(2)).sum::<f64>()
            / self.returns.len().max(1) as f64)
            .sqrt()
    }
}

/// Runs exactly one episode in each of `episodes` copies of `env_id` (env `i` reset with
/// `seed + i`), choosing actions for the whole batch with `policy(obs [n, obs_dim], n)`.
pub fn evaluate_discrete<E: From<EnvError>>(
    env_id: &str,
    episodes: usize,
    seed: u64,
    mut policy: impl FnMut(&[f32], usize) -> Result<Vec<usize>, E>,
) -> Result<EvalStats, E> {
    let mut env = VecEnv::new(env_id, episodes.max(1), seed)?;
    let n = env.num_envs();
    let mut obs = env.reset().to_vec();
    let mut returns = vec![None; n];
    let mut lengths = vec![0usize; n];
    while returns.iter().any(Option::is_none) {
        let actions = policy(&obs, n)?;
        let step = env.step_discrete(&actions)?;
        for ep in step.finished {
            if returns[ep.env].is_none() {
                returns[ep.env] = Some(ep.episode_return);
                lengths[ep.env] = ep.length;
            }
        }
        obs.copy_from_slice(step.obs);
    }
    Ok(EvalStats {
        returns: returns.into_iter().map(|r| r.unwrap_or(0.0)).collect(),
        lengths,
    })
}
