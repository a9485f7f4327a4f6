//! Pendulum-v1, as `gymnasium/envs/classic_control/pendulum.py`.

use crate::env::{classic_control_accessors, classic_control_snapshot};
use std::f64::consts::PI;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::numeric::{np_pow_f32, py_mod, py_pow};
use crate::space::{check_state, continuous_action};
use crate::{Action, BoxSpace, Env, EnvError, Space, Step};

const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f64 = 2.0;
const DT: f64 = 0.05;
const G: f64 = 10.0;
const M: f64 = 1.0;
const L: f64 = 1.0;

/// `((x + π) mod 2π) − π` with Python's modulo: an angle in `[-π, π)`.
pub fn angle_normalize(x: f64) -> f64 {
    py_mod(x + PI, 2.0 * PI) - PI
}

/// The inverted pendulum swing-up: torque in `[-2, 2]` (clipped), reward
/// `−(θ̂² + 0.1·θ̇² + 0.001·u²)`, never terminates; state `[theta, theta_dot]`,
/// observation `[cos θ, sin θ, θ̇]`.
#[derive(Debug, Clone)]
pub struct Pendulum {
    state: [f64; 2],
    rng: ChaCha8Rng,
    observation_space: BoxSpace,
    action_space: Space,
}

impl Pendulum {
    /// The registered id.
    pub const ID: &'static str = "Pendulum-v1";

    /// A new env whose RNG is seeded with 0 and whose state is a first reset draw.
    pub fn new() -> Self {
        let mut env = Pendulum {
            state: [0.0; 2],
            rng: ChaCha8Rng::seed_from_u64(0),
            observation_space: BoxSpace::symmetric(&[1.0, 1.0, MAX_SPEED as f32]),
            action_space: Space::Box(BoxSpace::symmetric(&[MAX_TORQUE as f32])),
        };
        env.reset(Some(0));
        env
    }

    /// One step with the float32 torque `torque` (clipped to `[-2, 2]`): returns the next state
    /// and the reward. NEP 50 promotion keeps the products with `u` in float32, as in Gymnasium.
    pub fn transition(state: &[f64; 2], torque: f32) -> ([f64; 2], f64) {
        let [th, thdot] = *state;
        let u = torque.clamp(-MAX_TORQUE as f32, MAX_TORQUE as f32);
        // costs = angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * (u**2)
        let costs = py_pow(angle_normalize(th), 2.0)
            + 0.1 * py_pow(thdot, 2.0)
            + f64::from(0.001_f64 as f32 * np_pow_f32(u, 2.0));
        // newthdot = thdot + (3 * g / (2 * l) * np.sin(th) + 3.0 / (m * l**2) * u) * dt
        let torque_term = (3.0 / (M * py_pow(L, 2.0))) as f32 * u;
        let newthdot = thdot + (3.0 * G / (2.0 * L) * th.sin() + f64::from(torque_term)) * DT;
        let newthdot = newthdot.clamp(-MAX_SPEED, MAX_SPEED);
        let newth = th + newthdot * DT;
        ([newth, newthdot], -costs)
    }

    /// The observation `[cos θ, sin θ, θ̇]` as float32.
    pub fn observation(state: &[f64; 2]) -> Vec<f32> {
        let [theta, thetadot] = *state;
        vec![theta.cos() as f32, theta.sin() as f32, thetadot as f32]
    }
}

impl Default for Pendulum {
    fn default() -> Self {
        Self::new()
    }
}

impl Env for Pendulum {
    classic_control_accessors!();
    classic_control_snapshot!();

    /// Draws θ uniformly from `[-π, π)` and θ̇ from `[-1, 1)`.
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
        self.state = [self.rng.gen_range(-PI..PI), self.rng.gen_range(-1.0..1.0)];
        Self::observation(&self.state)
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step, EnvError> {
        let u = continuous_action(Self::ID, 1, action)?[0];
        let (next, reward) = Self::transition(&self.state, u);
        self.state = next;
        Ok(Step {
            obs: Self::observation(&self.state),
            reward,
            terminated: false,
            truncated: false,
        })
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        self.state = check_state::<2>(Self::ID, state)?;
        Ok(())
    }
}
