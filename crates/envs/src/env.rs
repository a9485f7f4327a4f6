//! The [`Env`] trait and the result of one step.

use crate::{Action, BoxSpace, EnvError, Space};

/// The outcome of one [`Env::step`] (Gymnasium's `(obs, reward, terminated, truncated, info)`
/// without `info`).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The observation after the step: the float64 state cast to float32 (or a float32 function
    /// of it), exactly as Gymnasium returns it.
    pub obs: Vec<f32>,
    /// The reward for the transition.
    pub reward: f64,
    /// The MDP reached a terminal state: do not bootstrap.
    pub terminated: bool,
    /// The episode was cut short (time limit): bootstrap from `obs`.
    pub truncated: bool,
}

/// A Gymnasium-style environment.
///
/// Implementations hold their physical state in `f64` (NumPy float64) and draw reset states from
/// their own [`rand_chacha::ChaCha8Rng`]; they reproduce Gymnasium's dynamics, rewards and
/// termination exactly, but not NumPy's random streams.
pub trait Env: Send {
    /// The registered id, e.g. `"CartPole-v1"`.
    fn id(&self) -> &'static str;

    /// The observation space (Gymnasium's `observation_space`).
    fn observation_space(&self) -> &BoxSpace;

    /// The action space (Gymnasium's `action_space`).
    fn action_space(&self) -> &Space;

    /// Starts a new episode and returns its first observation.
    ///
    /// `Some(seed)` reseeds the environment's RNG (ChaCha8) first; `None` continues the stream
    /// started at construction (seed 0) or at the last seeded reset.
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32>;

    /// Applies one action.
    ///
    /// # Errors
    /// [`EnvError::InvalidAction`] for the wrong kind of action, an out-of-range discrete index,
    /// or a continuous action of the wrong length or with non-finite entries. The environment is
    /// left unchanged.
    fn step(&mut self, action: Action<'_>) -> Result<Step, EnvError>;

    /// The observation of the current state: what `reset` or `step` returned last, or, after
    /// [`Env::set_state`], what Gymnasium's observation function gives for the new state.
    ///
    /// The default casts [`Env::state`] to float32, which is right for envs whose observation is
    /// their state; envs with another observation function override it.
    fn observation(&self) -> Vec<f32> {
        self.state().iter().map(|&v| v as f32).collect()
    }

    /// The physical state, as Gymnasium's `env.unwrapped.state`.
    fn state(&self) -> Vec<f64>;

    /// Replaces the physical state (like assigning `env.unwrapped.state`).
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] when the length is wrong or an entry is not finite; the
    /// environment is left unchanged.
    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError>;

    /// The time limit applied by a [`TimeLimit`](crate::TimeLimit) wrapper, `None` when unlimited.
    fn max_episode_steps(&self) -> Option<usize>;

    /// Everything that decides this env's future, as exact words (physical state as f64 bits,
    /// flags, wrapper counters, RNG positions; see [`crate::snapshot`]), for exact resume.
    /// `None` when the env cannot be snapshotted (the default); every registered env can.
    fn snapshot(&self) -> Option<Vec<u64>> {
        None
    }

    /// Restores [`Env::snapshot`]'s words: from here on the env steps and resets exactly as the
    /// snapshotted one did.
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] when the words do not fit this env (or it cannot restore
    /// snapshots); the env is left unchanged.
    fn restore_snapshot(&mut self, words: &[u64]) -> Result<(), EnvError> {
        let _ = words;
        Err(crate::snapshot::unsupported(self.id()))
    }
}

/// The [`Env`] methods every classic-control task implements alike: its id, spaces, the
/// observation of its f64 `state` array, and no built-in time limit (`make` adds a `TimeLimit`).
/// Expects `Self::ID`, fields `observation_space`, `action_space`, `state`, and an associated
/// `fn observation(&state) -> Vec<f32>`.
macro_rules! classic_control_accessors {
    () => {
        fn id(&self) -> &'static str {
            Self::ID
        }

        fn observation_space(&self) -> &BoxSpace {
            &self.observation_space
        }

        fn action_space(&self) -> &Space {
            &self.action_space
        }

        fn observation(&self) -> Vec<f32> {
            Self::observation(&self.state)
        }

        fn state(&self) -> Vec<f64> {
            self.state.to_vec()
        }

        fn max_episode_steps(&self) -> Option<usize> {
            None
        }
    };
}
pub(crate) use classic_control_accessors;

/// [`Env::snapshot`] / [`Env::restore_snapshot`] for a classic-control task whose whole future
/// is its f64 `state` array and its `rng` (CartPole, with one more flag, writes its own).
macro_rules! classic_control_snapshot {
    () => {
        /// The f64 state's bits, then the RNG (seed, stream, word position).
        fn snapshot(&self) -> Option<Vec<u64>> {
            let mut words = Vec::new();
            crate::snapshot::push_f64s(&mut words, &self.state);
            crate::snapshot::push_rng(&mut words, &self.rng);
            Some(words)
        }

        fn restore_snapshot(&mut self, words: &[u64]) -> Result<(), EnvError> {
            let mut r = crate::snapshot::WordReader::new(Self::ID, words);
            let state = r.f64s()?;
            let rng = r.rng()?;
            r.finish()?;
            (self.state, self.rng) = (state, rng);
            Ok(())
        }
    };
}
pub(crate) use classic_control_snapshot;
