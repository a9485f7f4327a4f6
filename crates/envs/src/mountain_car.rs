//! MountainCar-v0 (Moore 1990), as `gymnasium/envs/classic_control/mountain_car.py`.

use crate::env::{classic_control_accessors, classic_control_snapshot};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::space::{check_state, discrete_action};
use crate::{Action, BoxSpace, Env, EnvError, Space, Step};

pub(crate) const MIN_POSITION: f64 = -1.2;
pub(crate) const MAX_POSITION: f64 = 0.6;
pub(crate) const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;
const GOAL_VELOCITY: f64 = 0.0;
const FORCE: f64 = 0.001;
const GRAVITY: f64 = 0.0025;

/// An under-powered car in a valley: accelerate left (0), not at all (1) or right (2) to reach
/// the flag at position 0.5. Reward −1 per step; state `[position, velocity]`.
#[derive(Debug, Clone)]
pub struct MountainCar {
    state: [f64; 2],
    rng: ChaCha8Rng,
    observation_space: BoxSpace,
    action_space: Space,
}

impl MountainCar {
    /// The registered id.
    pub const ID: &'static str = "MountainCar-v0";

    /// A new env whose RNG is seeded with 0 and whose state is a first reset draw.
    pub fn new() -> Self {
        let mut env = MountainCar {
            state: [0.0; 2],
            rng: ChaCha8Rng::seed_from_u64(0),
            observation_space: BoxSpace::new(
                vec![MIN_POSITION as f32, -MAX_SPEED as f32],
                vec![MAX_POSITION as f32, MAX_SPEED as f32],
            ),
            action_space: Space::Discrete(3),
        };
        env.reset(Some(0));
        env
    }

    /// One step of the dynamics: returns the next state, the reward (−1.0) and whether the car
    /// reached the goal. `action` is 0, 1 or 2 ([`Env::step`] rejects anything else).
    pub fn transition(state: &[f64; 2], action: usize) -> ([f64; 2], f64, bool) {
        let [mut position, mut velocity] = *state;
        let push = (action as f64 - 1.0) * FORCE;
        velocity += push + (3.0 * position).cos() * (-GRAVITY);
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        position += velocity;
        position = position.clamp(MIN_POSITION, MAX_POSITION);
        // `position == min_position`: after the clamp, `<=` is exactly that equality.
        if position <= MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= GOAL_POSITION && velocity >= GOAL_VELOCITY;
        ([position, velocity], -1.0, terminated)
    }

    /// The observation of a state: each entry cast to float32.
    pub fn observation(state: &[f64; 2]) -> Vec<f32> {
        state.iter().map(|&v| v as f32).collect()
    }
}

impl Default for MountainCar {
    fn default() -> Self {
        Self::new()
    }
}

impl Env for MountainCar {
    classic_control_accessors!();
    classic_control_snapshot!();

    /// Draws the position uniformly from `[-0.6, -0.4)`, velocity 0.
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
        self.state = [self.rng.gen_range(-0.6..-0.4), 0.0];
        Self::observation(&self.state)
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step, EnvError> {
        let action = discrete_action(Self::ID, 3, action)?;
        let (next, reward, terminated) = Self::transition(&self.state, action);
        self.state = next;
        Ok(Step {
            obs: Self::observation(&self.state),
            reward,
            terminated,
            truncated: false,
        })
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        self.state = check_state::<2>(Self::ID, state)?;
        Ok(())
    }
}
