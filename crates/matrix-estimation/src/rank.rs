//! Spectral summaries: singular values and the approximate rank SVP uses to show that optimal
//! Q matrices are low-rank.

use crate::{Matrix, MatrixError};

/// All singular values of `x`, non-increasing (dense SVD).
pub fn singular_values(x: &Matrix) -> Result<Vec<f64>, MatrixError> {
    crate::Mask::full(x.rows(), x.cols()).check_against(x)?;
    crate::svd::singular_values(x.to_faer().as_ref())
}

/// The approximate rank of `x`: the smallest `k` whose leading singular values hold a share
/// `energy` of the spectrum's energy, `Σ_{i≤k} σ_i² ≥ energy · Σ_i σ_i²` (SVP, Sec. 3; the paper
/// reports it with `energy = 0.99`). 0 for the zero matrix. Errors unless `0 < energy ≤ 1` and
/// every entry is finite.
pub fn approximate_rank(x: &Matrix, energy: f64) -> Result<usize, MatrixError> {
    if !(energy > 0.0 && energy <= 1.0) {
        return Err(MatrixError::Parameter(format!(
            "energy share {energy} must be in (0, 1]"
        )));
    }
    Ok(rank_of_spectrum(&singular_values(x)?, energy))
}

/// [`approximate_rank`] of a spectrum already computed (non-increasing singular values).
pub fn rank_of_spectrum(singular_values: &[f64], energy: f64) -> usize {
    let total: f64 = singular_values.iter().map(|s| s * s).sum();
    if total == 0.0 {
        return 0;
    }
    let mut acc = 0.0;
    for (k, s) in singular_values.iter().enumerate() {
        acc += s * s;
        // Relative slack so `energy = 1` is reached despite rounding in the running sum.
        if acc >= energy * total * (1.0 - 1e-12) {
            return k + 1;
        }
    }
    singular_values.len()
}

/// The best rank-`k` approximations of `x` in the Frobenius norm (Eckart–Young: the leading `k`
/// singular triplets), one per entry of `ranks`, from one dense SVD. A rank above
/// `min(rows, cols)` gives `x` back (up to rounding). Errors on a non-finite entry.
pub fn best_low_rank(x: &Matrix, ranks: &[usize]) -> Result<Vec<Matrix>, MatrixError> {
    crate::Mask::full(x.rows(), x.cols()).check_against(x)?;
    let factors = crate::svd::full(x.to_faer().as_ref())?;
    Ok(ranks
        .iter()
        .map(|&k| Matrix::from_faer(factors.reconstruct(k, |s| s).as_ref()))
        .collect())
}
