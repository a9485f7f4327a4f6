//! The `DiscretizedActions` wrapper: a 1-D continuous action space as `Discrete(N)`, and the
//! `<BaseId>-discrete<N>` ids under which [`make`](crate::make) builds it.

use std::sync::Mutex;

use crate::{Action, BoxSpace, Env, EnvError, Space, Step};

/// The id suffix of discretised envs: `Pendulum-v1-discrete25`.
pub(crate) const DISCRETE_SUFFIX: &str = "-discrete";

/// `N` evenly spaced actions over `[low, high]`, both ends included (`np.linspace(low, high, N)`):
/// `a_k = low + k·(high − low)/(N − 1)`, computed in f64 and rounded to f32, `a_{N−1} = high`.
///
/// Unlike Gymnasium's `DiscretizeAction` (bin *centres* of `N` equal bins, which never reach
/// the bounds), the extreme actions are kept: Pendulum's swing-up needs the full ±2 torque.
pub fn linspace_actions(low: f32, high: f32, n: usize) -> Vec<f32> {
    let (lo, hi) = (f64::from(low), f64::from(high));
    let step = (hi - lo) / (n.max(2) - 1) as f64;
    (0..n)
        .map(|k| {
            if k + 1 == n {
                high
            } else {
                (lo + k as f64 * step) as f32
            }
        })
        .collect()
}

/// Turns a 1-D [`Space::Box`] action space into [`Space::Discrete`]`(N)`: discrete action `k`
/// steps the wrapped env with the continuous action `[a_k]` of [`linspace_actions`]. Everything
/// else (observations, rewards, termination, time limit, state) is the wrapped env's.
///
/// This is how value-based agents (DQN, SV-RL) run on Pendulum-v1 and MountainCarContinuous-v0:
/// through the registry ids `Pendulum-v1-discrete25`, `MountainCarContinuous-v0-discrete25`
/// (`<BaseId>-discrete<N>`, the base env's time limit kept).
pub struct DiscretizedActions {
    env: Box<dyn Env>,
    id: &'static str,
    values: Vec<f32>,
    action_space: Space,
}

impl DiscretizedActions {
    /// Wraps `env` with `n` actions; its id becomes `<env id>-discrete<n>`.
    ///
    /// # Errors
    /// [`EnvError::InvalidArgument`] when `n < 2`, or when `env`'s action space is not a 1-D box
    /// with finite bounds.
    pub fn new(env: Box<dyn Env>, n: usize) -> Result<Self, EnvError> {
        let (low, high) = discretizable(env.id(), env.action_space(), n)?;
        let id = intern(format!("{}{DISCRETE_SUFFIX}{n}", env.id()));
        Ok(Self::from_parts(env, id, &linspace_actions(low, high, n)))
    }

    /// Wraps an env whose action space has already been checked.
    pub(crate) fn from_parts(env: Box<dyn Env>, id: &'static str, values: &[f32]) -> Self {
        DiscretizedActions {
            env,
            id,
            values: values.to_vec(),
            action_space: Space::Discrete(values.len()),
        }
    }

    /// The continuous action of discrete action `k`, or `None` when `k` is out of range.
    pub fn continuous_action(&self, k: usize) -> Option<f32> {
        self.values.get(k).copied()
    }

    /// The `N` continuous actions, in index order.
    pub fn values(&self) -> &[f32] {
        &self.values
    }
}

/// `(low, high)` of a 1-D, finite box that can be split into `n ≥ 2` actions.
pub(crate) fn discretizable(env: &str, space: &Space, n: usize) -> Result<(f32, f32), EnvError> {
    let reason = match space {
        _ if n < 2 => format!("{env}{DISCRETE_SUFFIX}{n}: need at least 2 discrete actions"),
        Space::Box(BoxSpace { low, high })
            if low.len() == 1 && low[0].is_finite() && high[0].is_finite() && low[0] < high[0] =>
        {
            return Ok((low[0], high[0]));
        }
        Space::Box(b) => format!(
            "{env}{DISCRETE_SUFFIX}{n}: only a 1-D box with finite bounds can be discretised, \
             {env} has a {}-D box",
            b.dim()
        ),
        Space::Discrete(k) => format!(
            "{env}{DISCRETE_SUFFIX}{n}: {env} already has a discrete action space ({k} actions)"
        ),
    };
    Err(EnvError::InvalidArgument { reason })
}

/// A `&'static str` for a discretised id, leaked once per distinct id (the Env trait's ids are
/// static; there are only as many as ids a process asks for).
pub(crate) fn intern(id: String) -> &'static str {
    static IDS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut ids = IDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = ids.iter().find(|s| **s == id) {
        return known;
    }
    let leaked: &'static str = Box::leak(id.into_boxed_str());
    ids.push(leaked);
    leaked
}

impl Env for DiscretizedActions {
    fn id(&self) -> &'static str {
        self.id
    }

    fn observation_space(&self) -> &BoxSpace {
        self.env.observation_space()
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        self.env.reset(seed)
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step, EnvError> {
        let k = crate::space::discrete_action(self.id, self.values.len(), action)?;
        self.env.step(Action::Continuous(&self.values[k..=k]))
    }

    fn observation(&self) -> Vec<f32> {
        self.env.observation()
    }

    fn state(&self) -> Vec<f64> {
        self.env.state()
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        self.env.set_state(state)
    }

    fn max_episode_steps(&self) -> Option<usize> {
        self.env.max_episode_steps()
    }

    /// The wrapped env's snapshot (the action table is configuration).
    fn snapshot(&self) -> Option<Vec<u64>> {
        self.env.snapshot()
    }

    fn restore_snapshot(&mut self, words: &[u64]) -> Result<(), EnvError> {
        self.env.restore_snapshot(words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_includes_both_ends_and_is_evenly_spaced() {
        let v = linspace_actions(-2.0, 2.0, 5);
        assert_eq!(v, [-2.0, -1.0, 0.0, 1.0, 2.0]);
        let v = linspace_actions(-1.0, 1.0, 25);
        assert_eq!(v.len(), 25);
        assert_eq!((v[0], v[12], v[24]), (-1.0, 0.0, 1.0));
        for (k, a) in v.iter().enumerate() {
            let want = (-1.0 + k as f64 * 2.0 / 24.0) as f32;
            assert!((a - want).abs() <= f32::EPSILON, "{k}: {a} vs {want}");
        }
    }

    #[test]
    fn interned_ids_are_shared() {
        let a = intern("X-v0-discrete3".to_string());
        let b = intern("X-v0-discrete3".to_string());
        assert!(std::ptr::eq(a, b));
    }
}
