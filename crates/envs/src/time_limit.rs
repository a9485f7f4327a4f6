//! The `TimeLimit` wrapper, as `gymnasium/wrappers/common.py`.

use crate::{Action, BoxSpace, Env, EnvError, Space, Step};

/// Truncates episodes after `max_episode_steps` steps.
///
/// After each successful inner step the elapsed-step counter grows by one, and
/// `truncated = true` once it reaches the limit (`elapsed >= max_episode_steps`), whatever the
/// inner env reported; `terminated` is passed through, so both can be true on the same step.
/// [`Env::reset`] clears the counter; [`Env::set_state`] leaves it alone. Stepping past the
/// limit keeps returning `truncated = true`, as Gymnasium does.
#[derive(Debug, Clone)]
pub struct TimeLimit<E: Env> {
    env: E,
    max_episode_steps: usize,
    elapsed_steps: usize,
}

impl<E: Env> TimeLimit<E> {
    /// Wraps `env`.
    ///
    /// # Errors
    /// [`EnvError::InvalidArgument`] when `max_episode_steps` is 0 (Gymnasium requires it to be
    /// positive).
    pub fn new(env: E, max_episode_steps: usize) -> Result<Self, EnvError> {
        if max_episode_steps == 0 {
            return Err(EnvError::InvalidArgument {
                reason: "TimeLimit needs max_episode_steps > 0".to_string(),
            });
        }
        Ok(Self::with_limit(env, max_episode_steps))
    }

    /// Wraps `env`; a zero limit is raised to 1.
    pub(crate) fn with_limit(env: E, max_episode_steps: usize) -> Self {
        TimeLimit {
            env,
            max_episode_steps: max_episode_steps.max(1),
            elapsed_steps: 0,
        }
    }

    /// Steps taken since the last reset.
    pub fn elapsed_steps(&self) -> usize {
        self.elapsed_steps
    }

    /// The wrapped env.
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// The wrapped env, mutably (e.g. for env-specific state setters).
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }

    /// Unwraps the env.
    pub fn into_inner(self) -> E {
        self.env
    }
}

impl<E: Env> Env for TimeLimit<E> {
    fn id(&self) -> &'static str {
        self.env.id()
    }

    fn observation_space(&self) -> &BoxSpace {
        self.env.observation_space()
    }

    fn action_space(&self) -> &Space {
        self.env.action_space()
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        self.elapsed_steps = 0;
        self.env.reset(seed)
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step, EnvError> {
        let mut step = self.env.step(action)?;
        self.elapsed_steps += 1;
        if self.elapsed_steps >= self.max_episode_steps {
            step.truncated = true;
        }
        Ok(step)
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
        Some(self.max_episode_steps)
    }

    /// The elapsed-step counter, then the wrapped env's snapshot.
    fn snapshot(&self) -> Option<Vec<u64>> {
        let mut words = vec![self.elapsed_steps as u64];
        words.extend(self.env.snapshot()?);
        Some(words)
    }

    fn restore_snapshot(&mut self, words: &[u64]) -> Result<(), EnvError> {
        let mut r = crate::snapshot::WordReader::new(self.id(), words);
        let elapsed = r.usize()?;
        self.env.restore_snapshot(&words[1..])?;
        self.elapsed_steps = elapsed;
        Ok(())
    }
}
