//! MountainCarContinuous-v0, as `gymnasium/envs/classic_control/continuous_mountain_car.py`.
//!
//! This env's arithmetic depends on NumPy dtypes. Reset stores a float64 state, but every step
//! stores `np.array([position, velocity], dtype=np.float32)`, so from the second step on the
//! state is float32 and NumPy 2 (NEP 50) evaluates the update in float32, casting each Python
//! float it meets to float32 first (comparisons included). The action is a float32 scalar, so
//! `force * power` is a float32 product whenever the force was not clipped. [`Precision`] names
//! the state's dtype and [`MountainCarContinuous::transition`] follows both paths.

use crate::env::classic_control_accessors;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::mountain_car::{MAX_POSITION, MAX_SPEED, MIN_POSITION};
use crate::space::{check_state, continuous_action};
use crate::{Action, BoxSpace, Env, EnvError, Space, Step};

const MIN_ACTION: f64 = -1.0;
const MAX_ACTION: f64 = 1.0;
const GOAL_POSITION: f64 = 0.45;
const POWER: f64 = 0.0015;

/// The NumPy dtype of the stored state, which decides the precision of the next update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// float64: right after `reset` or after the state was assigned a float64 array.
    F64,
    /// float32: after any step.
    F32,
}

/// The continuous mountain car: a force in `[-1, 1]` (clamped), reward `100` on reaching the
/// goal at 0.45 minus `0.1·a²` per step (unclipped `a`); state `[position, velocity]`.
#[derive(Debug, Clone)]
pub struct MountainCarContinuous {
    state: [f64; 2],
    precision: Precision,
    rng: ChaCha8Rng,
    observation_space: BoxSpace,
    action_space: Space,
}

impl MountainCarContinuous {
    /// The registered id.
    pub const ID: &'static str = "MountainCarContinuous-v0";

    /// A new env whose RNG is seeded with 0 and whose state is a first reset draw.
    pub fn new() -> Self {
        let mut env = MountainCarContinuous {
            state: [0.0; 2],
            precision: Precision::F64,
            rng: ChaCha8Rng::seed_from_u64(0),
            observation_space: BoxSpace::new(
                vec![MIN_POSITION as f32, -MAX_SPEED as f32],
                vec![MAX_POSITION as f32, MAX_SPEED as f32],
            ),
            action_space: Space::Box(BoxSpace::new(
                vec![MIN_ACTION as f32],
                vec![MAX_ACTION as f32],
            )),
        };
        env.reset(Some(0));
        env
    }

    /// One step from a state of the given [`Precision`] with the float32 action `action`:
    /// returns the next state (always float32 values, i.e. [`Precision::F32`] for the following
    /// step), the reward and whether the goal was reached.
    ///
    /// For planning from arbitrary float64 states, pass [`Precision::F64`] (what Gymnasium does
    /// after assigning `env.unwrapped.state = np.array([p, v])`).
    pub fn transition(
        state: &[f64; 2],
        precision: Precision,
        action: f32,
    ) -> ([f64; 2], f64, bool) {
        let (position, velocity) = match precision {
            Precision::F64 => step_f64(state[0], state[1], action),
            Precision::F32 => {
                let (p, v) = step_f32(state[0] as f32, state[1] as f32, action);
                (f64::from(p), f64::from(v))
            }
        };
        let terminated = match precision {
            Precision::F64 => position >= GOAL_POSITION && velocity >= 0.0,
            Precision::F32 => position as f32 >= GOAL_POSITION as f32 && velocity >= 0.0,
        };
        // `reward = 0; if terminated: reward = 100.0; reward -= math.pow(action[0], 2) * 0.1`
        let base = if terminated { 100.0 } else { 0.0 };
        let reward = base - crate::numeric::py_pow(f64::from(action), 2.0) * 0.1;
        let next = [f64::from(position as f32), f64::from(velocity as f32)];
        (next, reward, terminated)
    }

    /// The observation of a state: each entry cast to float32.
    pub fn observation(state: &[f64; 2]) -> Vec<f32> {
        state.iter().map(|&v| v as f32).collect()
    }

    /// The dtype of the stored state (see [`Precision`]).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Sets the state together with the dtype Gymnasium would hold it in; [`Env::set_state`]
    /// uses [`Precision::F64`]. With [`Precision::F32`] the values are rounded to float32.
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] for a wrong length or non-finite entries.
    pub fn set_state_with_precision(
        &mut self,
        state: &[f64],
        precision: Precision,
    ) -> Result<(), EnvError> {
        let mut s = check_state::<2>(Self::ID, state)?;
        if precision == Precision::F32 {
            s = s.map(|v| f64::from(v as f32));
        }
        self.state = s;
        self.precision = precision;
        Ok(())
    }
}

/// `force = min(max(action[0], min_action), max_action)`: either the float32 action itself or
/// one of the Python floats ±1.0.
enum Force {
    Action(f32),
    Clipped(f64),
}

fn clip_force(action: f32) -> Force {
    if MIN_ACTION as f32 > action {
        Force::Clipped(MIN_ACTION)
    } else if (MAX_ACTION as f32) < action {
        Force::Clipped(MAX_ACTION)
    } else {
        Force::Action(action)
    }
}

/// The update on a float64 state (the first step after reset).
fn step_f64(mut position: f64, mut velocity: f64, action: f32) -> (f64, f64) {
    let gravity_term = 0.0025 * (3.0 * position).cos();
    match clip_force(action) {
        // float32 * Python float -> float32; float32 - Python float -> float32.
        Force::Action(a) => velocity += f64::from(a * POWER as f32 - gravity_term as f32),
        Force::Clipped(f) => velocity += f * POWER - gravity_term,
    }
    velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
    position += velocity;
    position = position.clamp(MIN_POSITION, MAX_POSITION);
    // `position == min_position`: after the clamp, `<=` is exactly that equality.
    if position <= MIN_POSITION && velocity < 0.0 {
        velocity = 0.0;
    }
    (position, velocity)
}

/// The update on a float32 state: every Python float meets a float32 and is cast to it.
fn step_f32(mut position: f32, mut velocity: f32, action: f32) -> (f32, f32) {
    let gravity_term = 0.0025 * f64::from(3.0 * position).cos();
    match clip_force(action) {
        Force::Action(a) => velocity += a * POWER as f32 - gravity_term as f32,
        Force::Clipped(f) => velocity += (f * POWER - gravity_term) as f32,
    }
    velocity = velocity.clamp(-MAX_SPEED as f32, MAX_SPEED as f32);
    position += velocity;
    position = position.clamp(MIN_POSITION as f32, MAX_POSITION as f32);
    if position <= MIN_POSITION as f32 && velocity < 0.0 {
        velocity = 0.0;
    }
    (position, velocity)
}

impl Default for MountainCarContinuous {
    fn default() -> Self {
        Self::new()
    }
}

impl Env for MountainCarContinuous {
    classic_control_accessors!();

    /// The f64 state's bits, the precision (0 = f64, 1 = f32), then the RNG.
    fn snapshot(&self) -> Option<Vec<u64>> {
        let mut words = Vec::new();
        crate::snapshot::push_f64s(&mut words, &self.state);
        words.push(u64::from(self.precision == Precision::F32));
        crate::snapshot::push_rng(&mut words, &self.rng);
        Some(words)
    }

    fn restore_snapshot(&mut self, words: &[u64]) -> Result<(), EnvError> {
        let mut r = crate::snapshot::WordReader::new(Self::ID, words);
        let state = r.f64s()?;
        let precision = if r.flag()? {
            Precision::F32
        } else {
            Precision::F64
        };
        let rng = r.rng()?;
        r.finish()?;
        (self.state, self.precision, self.rng) = (state, precision, rng);
        Ok(())
    }

    /// Draws the position uniformly from `[-0.6, -0.4)`, velocity 0 (a float64 state).
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
        self.state = [self.rng.gen_range(-0.6..-0.4), 0.0];
        self.precision = Precision::F64;
        Self::observation(&self.state)
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step, EnvError> {
        let a = continuous_action(Self::ID, 1, action)?[0];
        let (next, reward, terminated) = Self::transition(&self.state, self.precision, a);
        self.state = next;
        self.precision = Precision::F32;
        Ok(Step {
            obs: Self::observation(&self.state),
            reward,
            terminated,
            truncated: false,
        })
    }

    /// Sets a float64 state, as `env.unwrapped.state = np.array([position, velocity])` does.
    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        self.set_state_with_precision(state, Precision::F64)
    }
}
