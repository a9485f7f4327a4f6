//! The four discretised control tasks of SVP's planning experiments, with the official code's
//! grids, actions, dynamics and rewards (`svp/{InvertedPendulum,MountainCar,DoubleIntegrator,
//! CartPole}.jl` in YyzHarry/SV-RL). Every task has 1000 actions evenly spaced over its range.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use crate::grid::{RectangleGrid, linspace};

/// Number of actions in every task (official `N = 1000`).
pub const NUM_ACTIONS: usize = 1000;

/// One of SVP's planning tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    InvertedPendulum,
    MountainCar,
    DoubleIntegrator,
    CartPole,
}

/// What `simulate` reports besides the return (the official notebooks' metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfficialMetric {
    /// Mean over runs of ‖θ_{51..T}‖₂ in radians (lower is better): pendulum and cart-pole.
    AngleDeviation,
    /// Mean number of actions until the stop test holds, T if never (lower is better): mountain
    /// car (reaching x = 0.5) and double integrator (x = 0 exactly, which a run almost never hits:
    /// the official metric is ≈ T by construction).
    StepsToStop,
}

impl Task {
    pub const ALL: [Task; 4] = [
        Task::InvertedPendulum,
        Task::MountainCar,
        Task::DoubleIntegrator,
        Task::CartPole,
    ];

    /// The CLI name: `inverted-pendulum`, `mountain-car`, `double-integrator`, `cart-pole`.
    pub fn name(self) -> &'static str {
        match self {
            Task::InvertedPendulum => "inverted-pendulum",
            Task::MountainCar => "mountain-car",
            Task::DoubleIntegrator => "double-integrator",
            Task::CartPole => "cart-pole",
        }
    }

    /// State bounds per dimension, in the grid's order.
    pub fn bounds(self) -> &'static [(f64, f64)] {
        match self {
            Task::InvertedPendulum => &[(-PI, PI), (-10.0, 10.0)],
            Task::MountainCar => &[(-1.2, 0.5), (-0.07, 0.07)],
            Task::DoubleIntegrator => &[(-3.0, 3.0), (-3.0, 3.0)],
            Task::CartPole => &[(-PI / 2.0, PI / 2.0), (-3.0, 3.0), (-2.4, 2.4), (-3.5, 3.5)],
        }
    }

    /// Names of the state dimensions, for plots.
    pub fn state_names(self) -> &'static [&'static str] {
        match self {
            Task::InvertedPendulum => &["angle", "angular speed"],
            Task::MountainCar | Task::DoubleIntegrator => &["position", "speed"],
            Task::CartPole => &["angle", "angular speed", "cart position", "cart speed"],
        }
    }

    /// Grid points per dimension: 50 × 50 for the 2-D tasks, 10⁴ for cart-pole.
    pub fn points_per_dim(self) -> usize {
        match self {
            Task::CartPole => 10,
            _ => 50,
        }
    }

    /// The state grid (first dimension fastest).
    pub fn grid(self) -> RectangleGrid {
        let n = self.points_per_dim();
        RectangleGrid::new(
            self.bounds()
                .iter()
                .map(|&(lo, hi)| linspace(lo, hi, n))
                .collect(),
        )
    }

    /// The action range `[lo, hi]`.
    pub fn action_bounds(self) -> (f64, f64) {
        match self {
            Task::CartPole => (-10.0, 10.0),
            _ => (-1.0, 1.0),
        }
    }

    /// The 1000 actions.
    pub fn actions(self) -> Vec<f64> {
        let (lo, hi) = self.action_bounds();
        linspace(lo, hi, NUM_ACTIONS)
    }

    /// The simulation horizon T of the official `simulate`.
    pub fn horizon(self) -> usize {
        match self {
            Task::MountainCar => 500,
            _ => 200,
        }
    }

    /// Runs averaged in the official metric.
    pub fn official_runs(self) -> usize {
        match self {
            Task::InvertedPendulum | Task::CartPole => 2000,
            Task::MountainCar | Task::DoubleIntegrator => 1000,
        }
    }

    pub fn official_metric(self) -> OfficialMetric {
        match self {
            Task::InvertedPendulum | Task::CartPole => OfficialMetric::AngleDeviation,
            Task::MountainCar | Task::DoubleIntegrator => OfficialMetric::StepsToStop,
        }
    }

    /// Standard deviation of the Gaussian velocity noise in `simulate` (pendulum only:
    /// 0.5° = π/360); value iteration plans on the noiseless dynamics.
    pub fn simulation_noise(self) -> f64 {
        match self {
            Task::InvertedPendulum => PI / 360.0,
            _ => 0.0,
        }
    }

    /// The official stop test of `simulate` on the state just recorded.
    #[allow(clippy::float_cmp)] // the official tests are exact equalities
    pub fn stops(self, x: &[f64]) -> bool {
        match self {
            Task::InvertedPendulum | Task::CartPole => x[0] == 0.0,
            Task::MountainCar => x[0] == 0.5,
            Task::DoubleIntegrator => x[0] == 0.0,
        }
    }

    /// r(x, u): the reward of taking `u` in the current state `x`.
    #[allow(clippy::float_cmp)] // +10 exactly at x = XMAX, as in the original
    pub fn reward(self, x: &[f64], u: f64) -> f64 {
        match self {
            // exp(K(cos θ − 1)) − R u² − 1, K = 1, R = 0.1 (the code's −1 offset included).
            Task::InvertedPendulum => (x[0].cos() - 1.0).exp() - 0.1 * u * u - 1.0,
            // +10 exactly at x = XMAX, −1 elsewhere.
            Task::MountainCar => {
                if x[0] == 0.5 {
                    10.0
                } else {
                    -1.0
                }
            }
            // K(x² + ẋ²), K = −0.5; independent of u.
            Task::DoubleIntegrator => -0.5 * (x[0] * x[0] + x[1] * x[1]),
            // cos⁴(15θ) (periodic every 12°: the official reward, quirk included).
            Task::CartPole => (15.0 * x[0]).cos().powi(4),
        }
    }

    /// x' = f(x, u) + noise on the velocity (one step of the official dynamics).
    pub fn transition(self, x: &[f64], u: f64, noise: f64, next: &mut [f64]) {
        match self {
            Task::InvertedPendulum => {
                // DT = (MV/MP)·π/VMAX = π/10; explicit Euler with the old state; θ wrapped
                // into [−π, π], θ̇ not clipped (interpolation clamps it).
                let dt = PI / 10.0;
                let (th, om) = (x[0], x[1]);
                next[0] = wrap_angle(th + dt * om);
                next[1] = om + dt * (th.sin() - om + u) + noise;
            }
            Task::MountainCar => {
                // Semi-implicit: the position uses the new velocity; no wall reset.
                let v = (x[1] + 0.001 * u - 0.0025 * (3.0 * x[0]).cos()).clamp(-0.07, 0.07);
                next[1] = v;
                next[0] = (x[0] + v).clamp(-1.2, 0.5);
            }
            Task::DoubleIntegrator => {
                let dt = 0.1;
                let v = (x[1] + u * dt).clamp(-3.0, 3.0);
                next[1] = v;
                next[0] = (x[0] + v * dt).clamp(-3.0, 3.0);
            }
            Task::CartPole => {
                // Explicit Euler, DT = 0.1, g = 9.8, m_c = 1, m = 0.1, l = 0.5; the official
                // `wrap_around` clamps θ to ±π/2.
                let (g, mc, m, l, dt) = (9.8, 1.0, 0.1, 0.5, 0.1);
                let (th, thd, xc, xd) = (x[0], x[1], x[2], x[3]);
                let (s, c) = th.sin_cos();
                let temp = (u + m * l * thd * thd * s) / (m + mc);
                let thdd = (g * s - c * temp) / (l * (4.0 / 3.0 - m * c * c / (m + mc)));
                let xdd = temp - m * l * thdd * c / (m + mc);
                next[0] = (th + dt * thd).clamp(-PI / 2.0, PI / 2.0);
                next[1] = (thd + dt * thdd).clamp(-3.0, 3.0);
                next[2] = (xc + dt * xd).clamp(-2.4, 2.4);
                next[3] = (xd + dt * xdd + noise).clamp(-3.5, 3.5);
            }
        }
    }
}

/// Adds or subtracts 2π until the angle is in [−π, π] (the official `wrap`).
fn wrap_angle(mut a: f64) -> f64 {
    if !a.is_finite() {
        return a;
    }
    while a < -PI {
        a += 2.0 * PI;
    }
    while a > PI {
        a -= 2.0 * PI;
    }
    a
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Task {
    type Err = crate::SvpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Task::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                crate::SvpError::UnknownTask(format!(
                    "unknown SVP task {s:?}; tasks: {}",
                    Task::ALL.map(Task::name).join(", ")
                ))
            })
    }
}
