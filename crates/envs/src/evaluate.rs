//! Evaluation of a fixed policy: exactly one episode in each of `episodes` environments. The one
//! episode runner of eirl's evaluations (agents' greedy policies, experts, random baselines).

use crate::{Actions, EnvError, Policy, PolicyError, VecEnv};

/// Most episodes one evaluation runs: 10⁶, one environment each held in memory at once
/// ([`crate::vec_env::MAX_NUM_ENVS`]).
pub const MAX_EVAL_EPISODES: usize = crate::vec_env::MAX_NUM_ENVS;

/// Returns and lengths of an evaluation, one entry per episode (env `i` → entry `i`).
#[derive(Clone, Debug, PartialEq)]
pub struct EvalStats {
    pub returns: Vec<f64>,
    pub lengths: Vec<usize>,
}

impl EvalStats {
    /// Mean episode return.
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

/// The normalized score `(x − random) / (expert − random)`: 0 for a random policy, 1 for the
/// expert (the `imitation` benchmark's and the GAIL paper's scale). `None` when the expert is
/// no better than random.
pub fn normalized_score(x: f64, random: f64, expert: f64) -> Option<f64> {
    let span = expert - random;
    (span.abs() > f64::EPSILON * expert.abs().max(1.0)).then(|| (x - random) / span)
}

/// Runs exactly one episode in each of `episodes` copies of `env_id` (env `i` reset with
/// `seed + i`, time limits as registered), asking `policy(obs [n, obs_dim], n)` for the whole
/// batch's actions each step. Taking the first episode of every env avoids the bias towards
/// short episodes that counting the first `episodes` finished episodes would have.
pub fn evaluate_policy<E: From<EnvError>>(
    env_id: &str,
    episodes: usize,
    seed: u64,
    mut policy: impl FnMut(&[f32], usize) -> Result<Actions, E>,
) -> Result<EvalStats, E> {
    if episodes == 0 {
        return Err(EnvError::InvalidArgument {
            reason: "evaluation needs at least one episode".into(),
        }
        .into());
    }
    if episodes > MAX_EVAL_EPISODES {
        return Err(EnvError::InvalidArgument {
            reason: format!(
                "evaluation of {episodes} episodes requested, more than the limit of \
                 {MAX_EVAL_EPISODES} (one environment per episode is held in memory)"
            ),
        }
        .into());
    }
    let mut env = VecEnv::new(env_id, episodes, seed)?;
    let n = env.num_envs();
    let mut obs = env.reset().to_vec();
    let mut returns = vec![None; n];
    let mut lengths = vec![0usize; n];
    while returns.iter().any(Option::is_none) {
        let step = env.step(&policy(&obs, n)?)?;
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

/// [`evaluate_policy`] for a discrete policy returning one index per environment.
pub fn evaluate_discrete<E: From<EnvError>>(
    env_id: &str,
    episodes: usize,
    seed: u64,
    mut policy: impl FnMut(&[f32], usize) -> Result<Vec<usize>, E>,
) -> Result<EvalStats, E> {
    evaluate_policy(env_id, episodes, seed, |obs, n| {
        policy(obs, n).map(Actions::Discrete)
    })
}

/// [`evaluate_policy`] for any [`Policy`] (a scripted expert, an agent acting greedily).
pub fn evaluate(
    env_id: &str,
    policy: &mut dyn Policy,
    episodes: usize,
    seed: u64,
) -> Result<EvalStats, PolicyError> {
    evaluate_policy(env_id, episodes, seed, |obs, n| policy.act(obs, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `eirl eval --episodes 1000000000000000` aborted on allocating 10¹⁵ environments; the
    /// request is refused with the limit instead, before any env is built.
    #[test]
    fn absurd_episode_counts_are_refused_with_the_limit() {
        let greedy = |_: &[f32], n: usize| Ok::<_, EnvError>(Actions::Discrete(vec![0; n]));
        for episodes in [MAX_EVAL_EPISODES + 1, 1_000_000_000_000_000, usize::MAX] {
            let err = evaluate_policy("CartPole-v1", episodes, 0, greedy)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("1000000"), "{err}");
            assert!(err.contains(&episodes.to_string()), "{err}");
        }
        let err = VecEnv::new("CartPole-v1", usize::MAX, 0)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("limit of 1000000"), "{err}");
        assert!(evaluate_policy("CartPole-v1", 2, 0, greedy).is_ok());
    }
}
