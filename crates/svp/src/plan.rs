//! Value iteration with and without SVP (eqs. 3.3–3.4 of Yang et al. 2020; official
//! `value_iteration` in `svp/MDPs.jl`).

use eirl_matrix_estimation::{Mask, Matrix, SoftImpute, SoftImputer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::{SvpError, Task};

/// Planner settings. `Default` is the official code's: γ = 0.95, ≤ 200 iterations, tolerance
/// 1e-6 on the residual, p = 0.2, soft-impute with fancyimpute's defaults — plus one documented
/// deviation, `warm_start`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanConfig {
    pub gamma: f64,
    pub max_iters: usize,
    /// Stop when Σ_Ω (Q_new − Q_old)² / (|S|·|A|·p) falls below this (the official residual).
    pub tolerance: f64,
    /// Probability that an entry of Q is backed up in an iteration (Ω ~ Bernoulli(p) per entry,
    /// fresh every iteration). `p = 1` is full value iteration: no matrix estimation.
    pub p: f64,
    /// Seeds the masks (and the randomized SVD).
    pub seed: u64,
    /// The matrix-estimation step.
    pub soft_impute: SoftImpute,
    /// Start each completion, on the missing entries, from the previous iteration's completed Q
    /// shifted per row by the row's mean change over its backed-up entries — true, ours —
    /// instead of zeros (false, the official code). Q changes smoothly between iterations, so a
    /// warm completion converges in a few low-rank steps where a zero fill makes the mask
    /// pattern itself a full-rank signal; the estimator and its λ are unchanged.
    pub warm_start: bool,
    /// Complete `Q(s, a) − m(s)`, with `m(s)` the mean of row s's backups, and add `m(s)` back
    /// (ours; false in the official code). Q's leading singular value is mostly the state-value
    /// level V(s), so λ = σ_max/50 lands above the action-dependent components and the
    /// completion collapses to rank 1; centring rows lets λ measure the action structure.
    pub center_rows: bool,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            gamma: 0.95,
            max_iters: 200,
            tolerance: 1e-6,
            p: 0.2,
            seed: 0,
            soft_impute: SoftImpute::default(),
            warm_start: true,
            center_rows: false,
        }
    }
}

impl PlanConfig {
    fn validate(&self) -> Result<(), SvpError> {
        let bad = |m: String| Err(SvpError::Config(m));
        if !(self.gamma >= 0.0 && self.gamma < 1.0) {
            return bad(format!("gamma = {} must be in [0, 1)", self.gamma));
        }
        if self.max_iters == 0 {
            return bad("max_iters must be ≥ 1".into());
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return bad(format!(
                "tolerance = {} must be finite and ≥ 0",
                self.tolerance
            ));
        }
        if !(self.p > 0.0 && self.p <= 1.0) {
            return bad(format!("p = {} must be in (0, 1]", self.p));
        }
        Ok(())
    }
}

/// One iteration's record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IterationStats {
    pub residual: f64,
    /// Bellman backups this iteration (|Ω|).
    pub backups: u64,
    /// Soft-impute iterations (0 for full value iteration).
    pub completion_iterations: usize,
    /// Rank of the completed Q's low-rank part (0 for full value iteration).
    pub completion_rank: usize,
}

/// The planner's result.
#[derive(Debug, Clone)]
pub struct Plan {
    pub task: Task,
    /// Q, |S| × |A| (rows in the grid's order).
    pub q: Matrix,
    /// V(s) = max_a Q(s, a).
    pub v: Vec<f64>,
    pub converged: bool,
    pub history: Vec<IterationStats>,
}

impl Plan {
    pub fn iterations(&self) -> usize {
        self.history.len()
    }

    /// Bellman backups performed in all.
    pub fn backups(&self) -> u64 {
        self.history.iter().map(|h| h.backups).sum()
    }
}

/// Value iteration on `task`'s grid with SVP's matrix estimation when `cfg.p < 1`:
///
/// for each iteration: draw Ω ~ Bernoulli(p); for (s, a) ∈ Ω back up
/// `Q(s, a) ← r(s, a) + γ V(f(s, a))` with V interpolated multilinearly at the off-grid next
/// state (eq. 3.3); complete Q from Ω by soft-impute (eq. 3.4); `V(s) ← max_a Q(s, a)`.
/// Synchronous: V is fixed during a sweep. `progress(iteration, residual)` is called after each
/// iteration.
pub fn plan(
    task: Task,
    cfg: &PlanConfig,
    mut progress: impl FnMut(usize, f64),
) -> Result<Plan, SvpError> {
    cfg.validate()?;
    let grid = task.grid();
    let actions = task.actions();
    let (ns, na) = (grid.len(), actions.len());
    let mut q = Matrix::zeros(ns, na);
    let mut v = vec![0.0; ns];
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut history = Vec::new();
    let mut previous = Matrix::zeros(0, 0);
    let mut converged = false;
    // One imputer for the whole run: its SVD subspace carries over between iterations.
    let mut imputer = SoftImputer::new(cfg.soft_impute.clone())?;
    for it in 1..=cfg.max_iters {
        let mask = if cfg.p >= 1.0 {
            Mask::full(ns, na)
        } else {
            Mask::bernoulli(ns, na, cfg.p, &mut rng)?
        };
        // Backups on Ω, in place: missing entries keep the previous completed Q.
        let obs = mask.as_slice();
        if cfg.warm_start && cfg.p < 1.0 {
            previous.clone_from(&q);
        }
        let sq_change: f64 = q
            .as_mut_slice()
            .par_chunks_mut(na)
            .enumerate()
            .map_init(
                || (vec![0.0; grid.dims()], vec![0.0; grid.dims()], Vec::new()),
                |(x, next, scratch), (s, row)| {
                    grid.point(s, x);
                    let mut acc = 0.0;
                    for (a, &u) in actions.iter().enumerate() {
                        if obs[s * na + a] {
                            task.transition(x, u, 0.0, next);
                            let backup =
                                task.reward(x, u) + cfg.gamma * grid.interpolate(&v, next, scratch);
                            acc += (backup - row[a]) * (backup - row[a]);
                            row[a] = backup;
                        }
                    }
                    acc
                },
            )
            .sum();
        let backups = mask.observed_count() as u64;
        let (completion_iterations, completion_rank) = if cfg.p < 1.0 {
            let shift = if cfg.center_rows {
                row_means(&q, &mask)
            } else {
                vec![0.0; ns]
            };
            let mut start = if cfg.warm_start {
                Some(warm_start(
                    &q,
                    &mask,
                    std::mem::replace(&mut previous, Matrix::zeros(0, 0)),
                ))
            } else {
                None
            };
            if cfg.center_rows {
                subtract_rows(&mut q, &shift);
                if let Some(st) = &mut start {
                    subtract_rows(st, &shift);
                }
            }
            let mut done = imputer.complete(&q, &mask, start.as_ref())?;
            if cfg.center_rows {
                let neg: Vec<f64> = shift.iter().map(|m| -m).collect();
                subtract_rows(&mut done.matrix, &neg);
            }
            q = done.matrix;
            (done.iterations, done.rank)
        } else {
            (0, 0)
        };
        v.par_iter_mut()
            .zip(q.as_slice().par_chunks(na))
            .for_each(|(vs, row)| *vs = row.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        let residual = sq_change / (ns as f64 * na as f64 * cfg.p);
        history.push(IterationStats {
            residual,
            backups,
            completion_iterations,
            completion_rank,
        });
        progress(it, residual);
        if !residual.is_finite() {
            return Err(SvpError::Diverged { iteration: it });
        }
        if residual < cfg.tolerance {
            converged = true;
            break;
        }
    }
    Ok(Plan {
        task,
        q,
        v,
        converged,
        history,
    })
}

/// The warm start: `previous(s, a) + δ(s)` with `δ(s)` the mean of `backup − previous` over
/// row s's backed-up entries (0 for a row with none). `q` holds the backups on Ω.
fn warm_start(q: &Matrix, mask: &Mask, previous: Matrix) -> Matrix {
    let na = q.cols();
    let obs = mask.as_slice();
    let mut start = previous;
    start
        .as_mut_slice()
        .par_chunks_mut(na)
        .enumerate()
        .for_each(|(s, row)| {
            let (mut sum, mut n) = (0.0, 0usize);
            for a in 0..na {
                if obs[s * na + a] {
                    sum += q.get(s, a) - row[a];
                    n += 1;
                }
            }
            let shift = if n == 0 { 0.0 } else { sum / n as f64 };
            for x in row.iter_mut() {
                *x += shift;
            }
        });
    start
}

/// Mean of each row's entries on `mask` (0 for a row with none).
fn row_means(q: &Matrix, mask: &Mask) -> Vec<f64> {
    let na = q.cols();
    let obs = mask.as_slice();
    (0..q.rows())
        .map(|s| {
            let (mut sum, mut n) = (0.0, 0usize);
            for a in 0..na {
                if obs[s * na + a] {
                    sum += q.get(s, a);
                    n += 1;
                }
            }
            if n == 0 { 0.0 } else { sum / n as f64 }
        })
        .collect()
}

/// `x(s, a) −= shift(s)` for every entry.
fn subtract_rows(x: &mut Matrix, shift: &[f64]) {
    let na = x.cols();
    x.as_mut_slice()
        .par_chunks_mut(na)
        .zip(shift.par_iter())
        .for_each(|(row, &m)| row.iter_mut().for_each(|v| *v -= m));
}
