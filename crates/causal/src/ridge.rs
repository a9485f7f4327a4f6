//! Ridge regression with an intercept, as scikit-learn's `Ridge(alpha)` fits it (the official
//! intervention code's `linear_regression`): centre the regressors and targets, solve
//! `(X̃ᵀX̃ + αI) w = X̃ᵀỹ` by Cholesky (faer), intercept `ȳ − x̄ᵀw`.

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

use crate::CausalError;

/// A fitted linear model `y ≈ ⟨w, x⟩ + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct RidgeFit {
    /// The weights `w`.
    pub coef: Vec<f64>,
    /// The intercept `b`.
    pub intercept: f64,
}

impl RidgeFit {
    /// The prediction for one row.
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.intercept + self.coef.iter().zip(x).map(|(w, v)| w * v).sum::<f64>()
    }
}

/// Fits `y ≈ Xw + b` minimising `‖y − Xw − b‖² + α‖w‖²` (the intercept is not penalised).
///
/// # Errors
/// [`CausalError::Config`] for no rows, rows of different widths, a length mismatch, non-finite
/// inputs, or `α ≤ 0` (the system is then not guaranteed to be solvable).
pub fn ridge(x: &[Vec<f64>], y: &[f64], alpha: f64) -> Result<RidgeFit, CausalError> {
    let n = x.len();
    let d = x.first().map_or(0, Vec::len);
    if n == 0 || n != y.len() {
        return Err(CausalError::Config(format!(
            "ridge regression needs one target per row and at least one row, got {n} rows and {} targets",
            y.len()
        )));
    }
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(CausalError::Config(format!(
            "ridge penalty must be positive, got {alpha}"
        )));
    }
    if x.iter().any(|r| r.len() != d) {
        return Err(CausalError::Config(
            "ridge regression rows differ in width".into(),
        ));
    }
    if x.iter().flatten().chain(y).any(|v| !v.is_finite()) {
        return Err(CausalError::Config(
            "ridge regression inputs must be finite".into(),
        ));
    }
    let x_mean: Vec<f64> = (0..d)
        .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n as f64)
        .collect();
    let y_mean = y.iter().sum::<f64>() / n as f64;
    let xc = Mat::from_fn(n, d, |i, j| x[i][j] - x_mean[j]);
    let yc = Mat::from_fn(n, 1, |i, _| y[i] - y_mean);
    let mut gram = xc.transpose() * &xc;
    for j in 0..d {
        gram[(j, j)] += alpha;
    }
    let rhs = xc.transpose() * &yc;
    let llt = gram
        .llt(Side::Lower)
        .map_err(|e| CausalError::Config(format!("ridge system not positive definite: {e:?}")))?;
    let w = llt.solve(&rhs);
    let coef: Vec<f64> = (0..d).map(|j| w[(j, 0)]).collect();
    let intercept = y_mean - coef.iter().zip(&x_mean).map(|(a, b)| a * b).sum::<f64>();
    Ok(RidgeFit { coef, intercept })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn matches_the_closed_form_by_hand() {
        // One regressor: w = Σ x̃ỹ / (Σ x̃² + α).
        let x = vec![vec![0.0], vec![1.0], vec![1.0], vec![0.0]];
        let y = [1.0, 3.0, 2.0, 0.0];
        let fit = ridge(&x, &y, 1.0).unwrap();
        // x̄ = 0.5, ȳ = 1.5; Σx̃ỹ = (−.5)(−.5) + (.5)(1.5) + (.5)(.5) + (−.5)(−1.5) = 2; Σx̃² = 1.
        assert!((fit.coef[0] - 1.0).abs() < 1e-12);
        assert!((fit.intercept - 1.0).abs() < 1e-12);
        assert!((fit.predict(&[1.0]) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(ridge(&[], &[], 1.0).is_err());
        assert!(ridge(&[vec![1.0]], &[1.0, 2.0], 1.0).is_err());
        assert!(ridge(&[vec![1.0], vec![1.0, 2.0]], &[1.0, 2.0], 1.0).is_err());
        assert!(ridge(&[vec![f64::NAN]], &[1.0], 1.0).is_err());
        assert!(ridge(&[vec![1.0]], &[1.0], 0.0).is_err());
    }
}
