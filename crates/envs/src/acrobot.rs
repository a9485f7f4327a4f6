//! Acrobot-v1 (Sutton 1996; Sutton & Barto's book dynamics), as
//! `gymnasium/envs/classic_control/acrobot.py`.

use crate::env::{classic_control_accessors, classic_control_snapshot};
use std::f64::consts::PI;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::numeric::py_pow;
use crate::space::{check_state, discrete_action};
use crate::{Action, BoxSpace, Env, EnvError, Space, Step};

const DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
const LINK_MOI: f64 = 1.0;
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];

fn max_vel_1() -> f64 {
    4.0 * PI
}

fn max_vel_2() -> f64 {
    9.0 * PI
}

/// A two-link pendulum actuated at the elbow: torque −1 (0), 0 (1) or +1 (2); reward −1 per
/// step until the tip swings above the bar, then 0; state `[θ1, θ2, θ̇1, θ̇2]`, observation
/// `[cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2]`. Integrated with one RK4 step over `[0, 0.2]`.
#[derive(Debug, Clone)]
pub struct Acrobot {
    state: [f64; 4],
    rng: ChaCha8Rng,
    observation_space: BoxSpace,
    action_space: Space,
}

impl Acrobot {
    /// The registered id.
    pub const ID: &'static str = "Acrobot-v1";

    /// A new env whose RNG is seeded with 0 and whose state is a first reset draw.
    pub fn new() -> Self {
        let high = [1.0, 1.0, 1.0, 1.0, max_vel_1() as f32, max_vel_2() as f32];
        let mut env = Acrobot {
            state: [0.0; 4],
            rng: ChaCha8Rng::seed_from_u64(0),
            observation_space: BoxSpace::symmetric(&high),
            action_space: Space::Discrete(3),
        };
        env.reset(Some(0));
        env
    }

    /// One step: RK4 over `[0, dt]`, angles wrapped into `[-π, π]`, velocities bounded. Returns
    /// the next state, the reward (−1, or 0 on reaching the goal) and whether the goal was
    /// reached. `action` indexes the torques `[-1, 0, +1]`; out-of-range indices are clamped
    /// here and rejected by [`Env::step`].
    pub fn transition(state: &[f64; 4], action: usize) -> ([f64; 4], f64, bool) {
        let torque = AVAIL_TORQUE[action.min(2)];
        let s = [state[0], state[1], state[2], state[3], torque];
        let mut ns = rk4(&s, DT);
        ns[0] = wrap(ns[0], -PI, PI);
        ns[1] = wrap(ns[1], -PI, PI);
        ns[2] = bound(ns[2], -max_vel_1(), max_vel_1());
        ns[3] = bound(ns[3], -max_vel_2(), max_vel_2());
        let terminated = Self::is_terminal(&ns);
        let reward = if terminated { 0.0 } else { -1.0 };
        (ns, reward, terminated)
    }

    /// Whether the tip is more than one link length above the bar:
    /// `−cos θ1 − cos(θ2 + θ1) > 1`.
    pub fn is_terminal(state: &[f64; 4]) -> bool {
        -state[0].cos() - (state[1] + state[0]).cos() > 1.0
    }

    /// The observation `[cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2]` as float32.
    pub fn observation(state: &[f64; 4]) -> Vec<f32> {
        let [t1, t2, dt1, dt2] = *state;
        vec![
            t1.cos() as f32,
            t1.sin() as f32,
            t2.cos() as f32,
            t2.sin() as f32,
            dt1 as f32,
            dt2 as f32,
        ]
    }
}

/// Time derivative of the augmented state `[θ1, θ2, θ̇1, θ̇2, torque]` ("book" dynamics).
fn dsdt(s: &[f64; 5]) -> [f64; 5] {
    let (m1, m2, l1) = (LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1);
    let (lc1, lc2) = (LINK_COM_POS_1, LINK_COM_POS_2);
    let (i1, i2) = (LINK_MOI, LINK_MOI);
    let g = 9.8;
    let [theta1, theta2, dtheta1, dtheta2, a] = *s;
    let d1 = m1 * py_pow(lc1, 2.0)
        + m2 * (py_pow(l1, 2.0) + py_pow(lc2, 2.0) + 2.0 * l1 * lc2 * theta2.cos())
        + i1
        + i2;
    let d2 = m2 * (py_pow(lc2, 2.0) + l1 * lc2 * theta2.cos()) + i2;
    let phi2 = m2 * lc2 * g * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -m2 * l1 * lc2 * py_pow(dtheta2, 2.0) * theta2.sin()
        - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
        + (m1 * lc1 + m2 * l1) * g * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 =
        (a + d2 / d1 * phi1 - m2 * l1 * lc2 * py_pow(dtheta1, 2.0) * theta2.sin() - phi2)
            / (m2 * py_pow(lc2, 2.0) + i2 - py_pow(d2, 2.0) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2, 0.0]
}

/// `y0 + c * k`, elementwise.
fn axpy(y0: &[f64; 5], c: f64, k: &[f64; 5]) -> [f64; 5] {
    std::array::from_fn(|i| y0[i] + c * k[i])
}

/// Gymnasium's `rk4(derivs, y0, [0, dt])`: one classical Runge-Kutta step, torque dropped.
fn rk4(y0: &[f64; 5], dt: f64) -> [f64; 4] {
    let dt2 = dt / 2.0;
    let k1 = dsdt(y0);
    let k2 = dsdt(&axpy(y0, dt2, &k1));
    let k3 = dsdt(&axpy(y0, dt2, &k2));
    let k4 = dsdt(&axpy(y0, dt, &k3));
    let c = dt / 6.0;
    std::array::from_fn(|i| y0[i] + c * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// Gymnasium's `wrap`: shift `x` by `M − m` until it lies in `[m, M]`.
fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    let diff = big_m - m;
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

/// Gymnasium's `bound`: `min(max(x, m), M)`.
fn bound(x: f64, m: f64, big_m: f64) -> f64 {
    x.max(m).min(big_m)
}

impl Default for Acrobot {
    fn default() -> Self {
        Self::new()
    }
}

impl Env for Acrobot {
    classic_control_accessors!();
    classic_control_snapshot!();

    /// Draws each state entry uniformly from `[-0.1, 0.1)` and rounds it to float32, as
    /// Gymnasium's `.astype(np.float32)` does (the first step widens it back to float64).
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
        for v in &mut self.state {
            let x: f64 = self.rng.gen_range(-0.1..0.1);
            *v = f64::from(x as f32);
        }
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
        self.state = check_state::<4>(Self::ID, state)?;
        Ok(())
    }
}
