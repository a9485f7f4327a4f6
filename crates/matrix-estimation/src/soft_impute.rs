//! Soft-impute: nuclear-norm regularised matrix completion (Mazumder, Hastie & Tibshirani 2010),
//! the matrix-estimation step of SVP (eq. 3.2) and SV-RL, with fancyimpute's defaults.

use faer::Mat;

use crate::sparse_low_rank::{Pattern, SparseLowRank, difference_sq, frobenius_sq, row_major};
use crate::svd::{Engine, Factors, SvdMethod};
use crate::{Mask, Matrix, MatrixError};

/// numpy's `float32` machine epsilon, fancyimpute's floor in its convergence test.
const F32_EPS: f64 = 1.192_092_9e-7;

/// Soft-impute's parameters. `Default` is fancyimpute's `SoftImpute()` (what SV-RL calls):
/// λ = σ_max(zero-filled input) / 50, at most 100 iterations, convergence threshold 1e-3.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftImpute {
    /// λ, the nuclear-norm weight (singular values are shrunk by λ). `None`: σ_max /
    /// `shrinkage_divisor` of the zero-filled input (fancyimpute's default: σ_max / 50).
    pub shrinkage: Option<f64>,
    /// The divisor of the default λ (fancyimpute: 50); ignored when `shrinkage` is set.
    pub shrinkage_divisor: f64,
    /// Iteration cap (fancyimpute: 100).
    pub max_iters: usize,
    /// Stop when ‖X_new − X_old‖ / ‖X_old‖ over the missing entries is below this (1e-3).
    pub convergence_threshold: f64,
    /// Keep at most this many singular values per step (fancyimpute's `max_rank`; `None`: all).
    pub max_rank: Option<usize>,
    /// Clip every reconstruction to `[lo, hi]` (fancyimpute's `min_value` / `max_value`).
    pub clip: Option<(f64, f64)>,
    /// How SVDs are computed; [`SvdMethod::Auto`] switches to warm-started randomized SVDs on
    /// large matrices.
    pub svd: SvdMethod,
    /// Seed of the randomized SVD's Gaussian start (ignored by the dense SVD).
    pub seed: u64,
}

impl Default for SoftImpute {
    fn default() -> Self {
        SoftImpute {
            shrinkage: None,
            shrinkage_divisor: 50.0,
            max_iters: 100,
            convergence_threshold: 1e-3,
            max_rank: None,
            clip: None,
            svd: SvdMethod::Auto,
            seed: 0,
        }
    }
}

impl SoftImpute {
    fn validate(&self) -> Result<(), MatrixError> {
        if let Some(l) = self.shrinkage {
            if !(l.is_finite() && l >= 0.0) {
                return Err(MatrixError::Parameter(format!(
                    "shrinkage λ = {l} must be finite and ≥ 0"
                )));
            }
        }
        if !(self.shrinkage_divisor.is_finite() && self.shrinkage_divisor > 0.0) {
            return Err(MatrixError::Parameter(format!(
                "shrinkage_divisor = {} must be finite and > 0",
                self.shrinkage_divisor
            )));
        }
        if self.max_iters == 0 {
            return Err(MatrixError::Parameter("max_iters must be ≥ 1".into()));
        }
        if !(self.convergence_threshold.is_finite() && self.convergence_threshold > 0.0) {
            return Err(MatrixError::Parameter(format!(
                "convergence_threshold = {} must be finite and > 0",
                self.convergence_threshold
            )));
        }
        if self.max_rank == Some(0) {
            return Err(MatrixError::Parameter("max_rank must be ≥ 1".into()));
        }
        if let Some((lo, hi)) = self.clip {
            if lo.partial_cmp(&hi).is_none_or(|o| o.is_gt()) {
                return Err(MatrixError::Parameter(format!(
                    "clip range [{lo}, {hi}] is empty"
                )));
            }
        }
        if let SvdMethod::Randomized { power_iters, .. } = self.svd {
            if power_iters > 100 {
                return Err(MatrixError::Parameter(format!(
                    "power_iters = {power_iters} is unreasonably large (≤ 100)"
                )));
            }
        }
        Ok(())
    }
}

/// A completed matrix and how the estimator got there.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The estimate. Soft-impute keeps observed entries as given; USVT replaces every entry.
    pub matrix: Matrix,
    /// Iterations run (0 when there was nothing to complete).
    pub iterations: usize,
    /// Whether the convergence test passed before the iteration cap.
    pub converged: bool,
    /// Rank of the last low-rank reconstruction.
    pub rank: usize,
    /// The singular-value threshold used (λ for soft-impute, (2+η)√(n p̂) for USVT).
    pub threshold: f64,
}

/// Complete `observed` on the entries `mask` leaves missing by soft-impute:
///
/// `Z ← S_λ(P_Ω(X) + P_Ω⊥(Z))`, `S_λ(Y) = U max(Σ − λ, 0) Vᵀ` — the proximal step for
/// `min_Z ½‖P_Ω(X − Z)‖²_F + λ‖Z‖_*` (SVP eq. 3.2; Mazumder et al. 2010, Alg. 1) —
/// starting from zeros on the missing entries, as fancyimpute does: each iteration overwrites
/// only the missing entries, observed ones stay exactly as given. Values of `observed` on missing
/// entries are ignored (they may be NaN).
///
/// Errors on a mask of another shape, a non-finite observed entry, or invalid parameters.
pub fn soft_impute(
    observed: &Matrix,
    mask: &Mask,
    params: &SoftImpute,
) -> Result<Completion, MatrixError> {
    SoftImputer::new(params.clone())?.complete(observed, mask, None)
}

/// [`soft_impute`] started from `start` on the missing entries instead of zeros — a warm start
/// when a sequence of related matrices is completed (SVP completes a slowly changing Q matrix
/// every value-iteration step). λ's default is still σ_max/50 of the zero-filled input, so with
/// a zero `start` this is exactly [`soft_impute`]. Errors when `start` has another shape or a
/// non-finite entry where the mask is missing.
pub fn soft_impute_from(
    observed: &Matrix,
    mask: &Mask,
    start: &Matrix,
    params: &SoftImpute,
) -> Result<Completion, MatrixError> {
    SoftImputer::new(params.clone())?.complete(observed, mask, Some(start))
}

/// Soft-impute for a sequence of related matrices (SVP's Q matrix, one completion per
/// value-iteration step): the same estimator as [`soft_impute`] / [`soft_impute_from`], but the
/// randomized SVD keeps its subspace from one completion to the next, so the first steps of a
/// completion start from nearly exact singular vectors.
///
/// Where the SVD is a sketch (randomized, or [`SvdMethod::Auto`] above 64 × 64) and no clip is
/// set, every step after the first works on `P_Ω(X) + P_Ω⊥(Z) = Z + P_Ω(X − Z)` as a low-rank
/// matrix plus a sparse one (Mazumder et al. 2010, Sec. 5): a step costs `O((m + n) r k + |Ω| k)`
/// instead of `O(m n k)`, and the convergence test is computed from the factors. The iterates
/// are those of the dense algorithm up to rounding.
pub struct SoftImputer {
    params: SoftImpute,
    engine: Engine,
}

impl SoftImputer {
    /// Errors on invalid parameters.
    pub fn new(params: SoftImpute) -> Result<Self, MatrixError> {
        params.validate()?;
        let engine = Engine::new(params.svd, params.seed);
        Ok(SoftImputer { params, engine })
    }

    /// Complete `observed` on the entries `mask` leaves missing, from zeros (`start = None`) or
    /// from `start` on the missing entries. Errors as [`soft_impute_from`].
    pub fn complete(
        &mut self,
        observed: &Matrix,
        mask: &Mask,
        start: Option<&Matrix>,
    ) -> Result<Completion, MatrixError> {
        mask.check_against(observed)?;
        if let Some(start) = start {
            if start.shape() != observed.shape() {
                return Err(MatrixError::MaskShape {
                    mask: start.shape(),
                    matrix: observed.shape(),
                });
            }
            let cols = start.cols();
            for (k, (&v, &o)) in start.as_slice().iter().zip(mask.as_slice()).enumerate() {
                if !o && !v.is_finite() {
                    return Err(MatrixError::NonFinite {
                        row: k / cols,
                        col: k % cols,
                        value: v,
                    });
                }
            }
        }
        run(observed, mask, start, &self.params, &mut self.engine)
    }
}

/// `(A, B)` with `A Bᵀ = Σ_{i<k} (σ_i − λ) u_i v_iᵀ`.
fn shrunk_factors(f: &Factors, k: usize, shrinkage: f64) -> (Mat<f64>, Mat<f64>) {
    let a = Mat::from_fn(f.u.nrows(), k, |i, j| f.u[(i, j)] * (f.s[j] - shrinkage));
    (a, f.v.as_ref().subcols(0, k).to_owned())
}

fn run(
    observed: &Matrix,
    mask: &Mask,
    start: Option<&Matrix>,
    params: &SoftImpute,
    engine: &mut Engine,
) -> Result<Completion, MatrixError> {
    let (m, n) = observed.shape();
    let obs = mask.as_slice();
    let mut filled = Mat::from_fn(m, n, |i, j| {
        if obs[i * n + j] {
            observed.get(i, j)
        } else {
            0.0
        }
    });
    let missing = obs.iter().filter(|&&o| !o).count();
    let shrinkage = match params.shrinkage {
        Some(l) => l,
        None if m == 0 || n == 0 => 0.0,
        None => engine.largest(&filled.as_ref())? / params.shrinkage_divisor,
    };
    if let Some(start) = start {
        for i in 0..m {
            for j in 0..n {
                if !obs[i * n + j] {
                    filled[(i, j)] = start.get(i, j);
                }
            }
        }
    }
    if missing == 0 || missing == obs.len() {
        // Nothing to complete, or nothing to complete from: the zero-filled input is the answer
        // (fancyimpute reaches the same after max_iters iterations).
        return Ok(Completion {
            matrix: Matrix::from_faer(filled.as_ref()),
            iterations: 0,
            converged: true,
            rank: 0,
            threshold: shrinkage,
        });
    }
    let at_least = params.max_rank.unwrap_or(1).min(m.min(n));
    let kept = |f: &Factors| {
        let rank = f.s.iter().take_while(|&&s| s > shrinkage).count();
        params.max_rank.map_or(rank, |r| rank.min(r))
    };
    // fancyimpute's `_converged`: relative change over the missing entries.
    let converged_at = |ssd: f64, old_sq: f64| {
        let (change, old_norm) = (ssd.sqrt(), old_sq.sqrt());
        let stalled_at_zero = old_norm == 0.0 || (old_norm < F32_EPS && change > F32_EPS);
        !stalled_at_zero && change / old_norm < params.convergence_threshold
    };
    let low_rank_steps = params.clip.is_none() && engine.sketches(m, n);
    let missing_cm: Vec<bool> = (0..m * n).map(|k| !obs[(k % m) * n + k / m]).collect();
    let mut iterations = 0;
    let mut converged = false;
    let mut rank = 0;
    let mut factors = None;
    // Dense steps: all of them, or the first (from the dense start) before the low-rank ones.
    while iterations < params.max_iters {
        iterations += 1;
        let f = engine.above(&filled.as_ref(), shrinkage, at_least)?;
        rank = kept(&f);
        let mut z = f.reconstruct(rank, |s| s - shrinkage);
        // Column-major sweeps (faer's layout) with the mask transposed once.
        let (mut ssd, mut old_sq) = (0.0, 0.0);
        for j in 0..n {
            let zc = z.col_as_slice_mut(j);
            if let Some((lo, hi)) = params.clip {
                for v in zc.iter_mut() {
                    *v = v.clamp(lo, hi);
                }
            }
            let fc = filled.col_as_slice_mut(j);
            let missing_c = &missing_cm[j * m..(j + 1) * m];
            for i in 0..m {
                if missing_c[i] {
                    let (old, new) = (fc[i], zc[i]);
                    ssd += (old - new) * (old - new);
                    old_sq += old * old;
                    fc[i] = new;
                }
            }
        }
        if converged_at(ssd, old_sq) {
            converged = true;
            break;
        }
        if low_rank_steps {
            factors = Some(shrunk_factors(&f, rank, shrinkage));
            break;
        }
    }
    if let (Some((mut a, mut b)), false) = (factors, converged) {
        let pattern = Pattern::new(m, n, obs);
        let x = pattern.gather(observed.as_slice());
        // S = P_Ω(X − Z), stored on Ω.
        let residual = |a: &Mat<f64>, b: &Mat<f64>| {
            let (ar, br) = (row_major(a.as_ref()), row_major(b.as_ref()));
            pattern.residual(&x, &ar, &br, a.ncols())
        };
        let mut sparse = residual(&a, &b);
        let mut stepped = false;
        while iterations < params.max_iters {
            iterations += 1;
            stepped = true;
            let op = SparseLowRank {
                a: a.as_ref(),
                b: b.as_ref(),
                pattern: &pattern,
                sparse: &sparse,
            };
            let f = engine.above(&op, shrinkage, at_least)?;
            rank = kept(&f);
            let (a_new, b_new) = shrunk_factors(&f, rank, shrinkage);
            let sparse_new = residual(&a_new, &b_new);
            // Over Ω: Z_new − Z_old = S_old − S_new and Z_old = X − S_old; the missing entries'
            // sums are the whole matrix's (from the factors) minus Ω's.
            let (mut omega_change, mut omega_old) = (0.0, 0.0);
            for ((&s_old, &s_new), &xv) in sparse.iter().zip(&sparse_new).zip(&x) {
                omega_change += (s_old - s_new) * (s_old - s_new);
                omega_old += (xv - s_old) * (xv - s_old);
            }
            let ssd = (difference_sq(a_new.as_ref(), b_new.as_ref(), a.as_ref(), b.as_ref())
                - omega_change)
                .max(0.0);
            let old_sq = (frobenius_sq(a.as_ref(), b.as_ref()) - omega_old).max(0.0);
            (a, b, sparse) = (a_new, b_new, sparse_new);
            if converged_at(ssd, old_sq) {
                converged = true;
                break;
            }
        }
        if stepped {
            let z = &a * b.transpose();
            for j in 0..n {
                let (zc, fc) = (z.col_as_slice(j), filled.col_as_slice_mut(j));
                for (i, missing) in missing_cm[j * m..(j + 1) * m].iter().enumerate() {
                    if *missing {
                        fc[i] = zc[i];
                    }
                }
            }
        }
    }
    Ok(Completion {
        matrix: Matrix::from_faer(filled.as_ref()),
        iterations,
        converged,
        rank,
        threshold: shrinkage,
    })
}

/// The singular-value soft-thresholding operator `S_λ(X) = U max(Σ − λ, 0) Vᵀ`, the proximal
/// operator of `λ‖·‖_*` (one soft-impute step on a fully observed matrix). Returns the result and
/// its rank.
pub fn svd_soft_threshold(x: &Matrix, shrinkage: f64) -> Result<(Matrix, usize), MatrixError> {
    if !(shrinkage.is_finite() && shrinkage >= 0.0) {
        return Err(MatrixError::Parameter(format!(
            "shrinkage λ = {shrinkage} must be finite and ≥ 0"
        )));
    }
    let mask = Mask::full(x.rows(), x.cols());
    mask.check_against(x)?;
    let factors = crate::svd::full(x.to_faer().as_ref())?;
    let rank = factors.s.iter().take_while(|&&s| s > shrinkage).count();
    let z = factors.reconstruct(rank, |s| s - shrinkage);
    Ok((Matrix::from_faer(z.as_ref()), rank))
}
