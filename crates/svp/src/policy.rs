//! Executing a planned Q in the task's continuous dynamics (official `policy!`, `simulate`),
//! and comparing plans.

use eirl_matrix_estimation::Matrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use crate::grid::{Interpolants, RectangleGrid};
use crate::task::{OfficialMetric, Task};

/// The greedy policy of a Q matrix at continuous states: Q rows of the surrounding grid points
/// interpolated multilinearly for every action, first argmax (official `get_belief` + `policy!`).
pub struct GreedyPolicy<'a> {
    grid: RectangleGrid,
    q: &'a Matrix,
}

impl<'a> GreedyPolicy<'a> {
    pub fn new(task: Task, q: &'a Matrix) -> Self {
        GreedyPolicy {
            grid: task.grid(),
            q,
        }
    }

    /// The index of the greedy action at `x`.
    pub fn action(&self, x: &[f64], scratch: &mut Interpolants) -> usize {
        self.grid.interpolants_into(x, scratch);
        let na = self.q.cols();
        let mut best = (0, f64::NEG_INFINITY);
        for a in 0..na {
            let qa: f64 = scratch.iter().map(|&(s, w)| w * self.q.get(s, a)).sum();
            if qa > best.1 {
                best = (a, qa);
            }
        }
        best.0
    }

    /// V(x) = max_a of the interpolated Q row.
    pub fn value(&self, x: &[f64], scratch: &mut Interpolants) -> f64 {
        let a = self.action(x, scratch);
        scratch.iter().map(|&(s, w)| w * self.q.get(s, a)).sum()
    }
}

/// First argmax of each row: the greedy action of every grid state.
pub fn greedy_actions(q: &Matrix) -> Vec<usize> {
    (0..q.rows())
        .map(|s| {
            let row = q.row(s);
            let mut best = 0;
            for (a, &x) in row.iter().enumerate() {
                if x > row[best] {
                    best = a;
                }
            }
            best
        })
        .collect()
}

/// Results of executing a policy from random initial states.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Simulation {
    pub runs: usize,
    /// Mean undiscounted return Σ_t r(x_t, u_t) over the actions taken.
    pub mean_return: f64,
    /// The official notebook metric ([`Task::official_metric`]).
    pub official_metric: f64,
}

/// Runs the greedy policy of `q` from `runs` initial states drawn uniformly from the official
/// 1001-point grids of each state dimension (`lo : 0.001(hi − lo) : hi`) for the task's horizon,
/// with the official stop test and (pendulum) velocity noise.
pub fn simulate(task: Task, q: &Matrix, runs: usize, seed: u64) -> Simulation {
    let policy = GreedyPolicy::new(task, q);
    let actions = task.actions();
    let bounds = task.bounds();
    let noise = Normal::new(0.0, task.simulation_noise().max(f64::MIN_POSITIVE))
        .expect("a positive standard deviation");
    let results: Vec<(f64, f64)> = (0..runs)
        .into_par_iter()
        .map(|run| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (run as u64).wrapping_mul(0x9E37_79B9));
            let mut x: Vec<f64> = bounds
                .iter()
                .map(|&(lo, hi)| lo + rng.gen_range(0..=1000) as f64 * 0.001 * (hi - lo))
                .collect();
            let mut next = x.clone();
            let mut scratch = Vec::new();
            let (mut ret, mut taken, mut dev_sq) = (0.0, 0usize, 0.0);
            for t in 1..=task.horizon() {
                if t > 50 {
                    dev_sq += x[0] * x[0];
                }
                if task.stops(&x) {
                    break;
                }
                let u = actions[policy.action(&x, &mut scratch)];
                ret += task.reward(&x, u);
                let eps = if task.simulation_noise() > 0.0 {
                    noise.sample(&mut rng)
                } else {
                    0.0
                };
                task.transition(&x, u, eps, &mut next);
                std::mem::swap(&mut x, &mut next);
                taken += 1;
            }
            let metric = match task.official_metric() {
                OfficialMetric::AngleDeviation => dev_sq.sqrt(),
                OfficialMetric::StepsToStop => taken as f64,
            };
            (ret, metric)
        })
        .collect();
    let n = results.len().max(1) as f64;
    Simulation {
        runs,
        mean_return: results.iter().map(|r| r.0).sum::<f64>() / n,
        official_metric: results.iter().map(|r| r.1).sum::<f64>() / n,
    }
}

/// How close a plan is to a reference plan (full value iteration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agreement {
    /// Fraction of grid states whose greedy action equals the reference's.
    pub policy_agreement: f64,
    /// Mean |u − u_ref| over grid states divided by the action range.
    pub action_distance: f64,
    /// ‖V − V_ref‖₂ / ‖V_ref‖₂.
    pub value_rel_error: f64,
    /// Fraction of grid states whose greedy action is near-optimal under the reference Q: it
    /// loses at most [`NEAR_OPTIMAL`] of the state's Q spread (`max_a Q_ref − min_a Q_ref`).
    pub near_optimal: f64,
    /// Mean over grid states of `(V_ref(s) − Q_ref(s, a(s))) / spread(s)`: what the greedy action
    /// loses under the reference Q, as a share of the state's Q spread (0 = optimal everywhere).
    pub mean_relative_loss: f64,
    /// Mean number of actions per state within [`NEAR_OPTIMAL`] of the reference's best: how many
    /// near-ties exact agreement has to pick between (a property of the reference alone).
    pub reference_near_ties: f64,
}

/// The tolerance of [`Agreement::near_optimal`]: 1% of a state's Q spread.
pub const NEAR_OPTIMAL: f64 = 0.01;

pub fn agreement(task: Task, q: &Matrix, v: &[f64], q_ref: &Matrix, v_ref: &[f64]) -> Agreement {
    let (a, b) = (greedy_actions(q), greedy_actions(q_ref));
    let actions = task.actions();
    let (lo, hi) = task.action_bounds();
    let n = a.len().max(1) as f64;
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64;
    let dist: f64 = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| (actions[x] - actions[y]).abs())
        .sum::<f64>()
        / n
        / (hi - lo);
    let diff: f64 = v.iter().zip(v_ref).map(|(x, y)| (x - y) * (x - y)).sum();
    let norm: f64 = v_ref.iter().map(|y| y * y).sum();
    let (mut near, mut loss, mut ties) = (0.0, 0.0, 0.0);
    for (s, &act) in a.iter().enumerate() {
        let row = q_ref.row(s);
        let best = v_ref[s];
        let spread = best - row.iter().copied().fold(f64::INFINITY, f64::min);
        if spread > 0.0 {
            let lost = (best - row[act]) / spread;
            loss += lost;
            near += f64::from(u8::from(lost <= NEAR_OPTIMAL));
            ties += row
                .iter()
                .filter(|&&x| best - x <= NEAR_OPTIMAL * spread)
                .count() as f64;
        } else {
            // Every action is equally good.
            near += 1.0;
            ties += row.len() as f64;
        }
    }
    Agreement {
        policy_agreement: same / n,
        action_distance: dist,
        value_rel_error: (diff / norm.max(f64::MIN_POSITIVE)).sqrt(),
        near_optimal: near / n,
        mean_relative_loss: loss / n,
        reference_near_ties: ties / n,
    }
}

/// `(values, nx, ny, x_range, y_range)` of V or of the greedy action over a 250 × 250 sample of
/// the first two state dimensions (row-major, y = second dimension, first row = lowest y), the
/// official heat maps' sampling (pendulum and cart-pole ranges shrunk by 1e-4). Cart-pole's other
/// dimensions are held at 0 (a centred, resting cart; the official plot passes a 2-vector and so
/// shows the grid's first cart cell, x = −2.4, ẋ = −3.5).
pub struct HeatMap {
    pub values: Vec<f64>,
    pub nx: usize,
    pub ny: usize,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
}

/// What a heat map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeatMapOf {
    Value,
    Policy,
}

pub fn heat_map(task: Task, q: &Matrix, of: HeatMapOf) -> HeatMap {
    let n = 250;
    let eps = match task {
        Task::InvertedPendulum | Task::CartPole => 1e-4,
        _ => 0.0,
    };
    let b = task.bounds();
    let (xr, yr) = ((b[0].0 + eps, b[0].1 - eps), (b[1].0 + eps, b[1].1 - eps));
    let xs = crate::grid::linspace(xr.0, xr.1, n);
    let ys = crate::grid::linspace(yr.0, yr.1, n);
    let policy = GreedyPolicy::new(task, q);
    let actions = task.actions();
    let dims = b.len();
    let values = (0..n * n)
        .into_par_iter()
        .map_init(Vec::new, |scratch, k| {
            let mut x = vec![0.0; dims];
            x[0] = xs[k % n];
            x[1] = ys[k / n];
            match of {
                HeatMapOf::Value => policy.value(&x, scratch),
                HeatMapOf::Policy => actions[policy.action(&x, scratch)],
            }
        })
        .collect();
    HeatMap {
        values,
        nx: n,
        ny: n,
        x_range: xr,
        y_range: yr,
    }
}
