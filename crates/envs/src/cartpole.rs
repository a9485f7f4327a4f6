//! CartPole-v1 (Barto, Sutton & Anderson 1983), as `gymnasium/envs/classic_control/cartpole.py`.

use crate::env::classic_control_accessors;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::space::{check_state, discrete_action};
use crate::{Action, BoxSpace, Env, EnvError, Space, Step};

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
/// Half the pole's length.
const LENGTH: f64 = 0.5;
const FORCE_MAG: f64 = 10.0;
/// Seconds between state updates.
const TAU: f64 = 0.02;
/// Cart positions beyond ±2.4 terminate the episode.
pub const X_THRESHOLD: f64 = 2.4;

/// Pole angles beyond ±12° (in radians, computed as Gymnasium does) terminate the episode.
pub fn theta_threshold_radians() -> f64 {
    12.0 * 2.0 * std::f64::consts::PI / 360.0
}

/// A pole balanced on a cart; push left (0) or right (1). Reward +1 per step, including the
/// terminating one; state `[x, x_dot, theta, theta_dot]`; Euler integration.
#[derive(Debug, Clone)]
pub struct CartPole {
    state: [f64; 4],
    /// Gymnasium's `steps_beyond_terminated is not None`: stepping on after termination pays 0.
    terminated_before: bool,
    rng: ChaCha8Rng,
    observation_space: BoxSpace,
    action_space: Space,
}

impl CartPole {
    /// The registered id.
    pub const ID: &'static str = "CartPole-v1";

    /// A new env whose RNG is seeded with 0 and whose state is a first reset draw.
    pub fn new() -> Self {
        let high = [
            (X_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
            (theta_threshold_radians() * 2.0) as f32,
            f32::INFINITY,
        ];
        let mut env = CartPole {
            state: [0.0; 4],
            terminated_before: false,
            rng: ChaCha8Rng::seed_from_u64(0),
            observation_space: BoxSpace::symmetric(&high),
            action_space: Space::Discrete(2),
        };
        env.reset(Some(0));
        env
    }

    /// One Euler step of the cart-pole dynamics: returns the next state, the reward (1.0) and
    /// whether the next state is terminal. `action == 1` pushes right; any other value pushes
    /// left, as in the source ([`Env::step`] rejects actions outside `{0, 1}`).
    ///
    /// The reward is the one for an episode that has not terminated before; [`Env::step`] pays 0
    /// for steps taken after termination, as Gymnasium does.
    pub fn transition(state: &[f64; 4], action: usize) -> ([f64; 4], f64, bool) {
        let [x, x_dot, theta, theta_dot] = *state;
        let total_mass = MASS_POLE + MASS_CART;
        let polemass_length = MASS_POLE * LENGTH;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let costheta = theta.cos();
        let sintheta = theta.sin();

        let temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASS_POLE * (costheta * costheta) / total_mass));
        let xacc = temp - polemass_length * thetaacc * costheta / total_mass;

        let x = x + TAU * x_dot;
        let x_dot = x_dot + TAU * xacc;
        let theta = theta + TAU * theta_dot;
        let theta_dot = theta_dot + TAU * thetaacc;

        let threshold = theta_threshold_radians();
        let terminated = !(-X_THRESHOLD..=X_THRESHOLD).contains(&x)
            || !(-threshold..=threshold).contains(&theta);
        ([x, x_dot, theta, theta_dot], 1.0, terminated)
    }

    /// The observation of a state: each entry cast to float32.
    pub fn observation(state: &[f64; 4]) -> Vec<f32> {
        state.iter().map(|&v| v as f32).collect()
    }
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl Env for CartPole {
    classic_control_accessors!();

    /// The f64 state's bits, the terminated-before flag, then the RNG.
    fn snapshot(&self) -> Option<Vec<u64>> {
        let mut words = Vec::new();
        crate::snapshot::push_f64s(&mut words, &self.state);
        words.push(u64::from(self.terminated_before));
        crate::snapshot::push_rng(&mut words, &self.rng);
        Some(words)
    }

    fn restore_snapshot(&mut self, words: &[u64]) -> Result<(), EnvError> {
        let mut r = crate::snapshot::WordReader::new(Self::ID, words);
        let state = r.f64s()?;
        let terminated_before = r.flag()?;
        let rng = r.rng()?;
        r.finish()?;
        (self.state, self.terminated_before, self.rng) = (state, terminated_before, rng);
        Ok(())
    }

    /// Draws each state entry uniformly from `[-0.05, 0.05)`.
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
        for v in &mut self.state {
            *v = self.rng.gen_range(-0.05..0.05);
        }
        self.terminated_before = false;
        Self::observation(&self.state)
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step, EnvError> {
        let action = discrete_action(Self::ID, 2, action)?;
        let (next, mut reward, terminated) = Self::transition(&self.state, action);
        self.state = next;
        if terminated {
            if self.terminated_before {
                reward = 0.0;
            }
            self.terminated_before = true;
        }
        Ok(Step {
            obs: Self::observation(&self.state),
            reward,
            terminated,
            truncated: false,
        })
    }

    /// Sets `[x, x_dot, theta, theta_dot]` and, unlike assigning Gymnasium's `state`, also
    /// forgets an earlier termination, so the next terminating step pays 1 again.
    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        self.state = check_state::<4>(Self::ID, state)?;
        self.terminated_before = false;
        Ok(())
    }
}
