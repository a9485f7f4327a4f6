//! Universal singular value thresholding (Chatterjee 2015, "Matrix estimation by universal
//! singular value thresholding", Ann. Statist. 43(1)).

use faer::Mat;

use crate::scale::Scaling;
use crate::svd::{Engine, SvdMethod};
use crate::{Completion, Mask, Matrix, MatrixError};

/// USVT's parameters. `Default`: η = 0.01 (Chatterjee's choice in his experiments).
#[derive(Debug, Clone, PartialEq)]
pub struct Usvt {
    /// η in the threshold `(2 + η)·√(n·p̂)`; must be in (0, 1).
    pub eta: f64,
    /// How SVDs are computed.
    pub svd: SvdMethod,
    /// Seed of the randomized SVD's Gaussian start.
    pub seed: u64,
}

impl Default for Usvt {
    fn default() -> Self {
        Usvt {
            eta: 0.01,
            svd: SvdMethod::Auto,
            seed: 0,
        }
    }
}

/// Estimate every entry of a matrix from the observed ones by USVT:
///
/// 1. scale the observed entries affinely onto [−1, 1] (USVT's theory needs |x| ≤ 1; the map
///    uses the observed min and max), set missing entries to 0;
/// 2. `p̂ = |Ω| / (m·n)`; SVD `Y = Σ s_i u_i v_iᵀ`;
/// 3. keep `S = {i : s_i ≥ (2 + η)√(n p̂)}` with `n = max(m, n)`; `W = (1/p̂) Σ_{i∈S} s_i u_i v_iᵀ`;
/// 4. clip `W` to [−1, 1] and map back.
///
/// Unlike soft-impute, USVT also denoises the observed entries: every entry of the result is the
/// estimate. With fewer than one observed entry, or a constant observed set, the result is that
/// constant everywhere.
pub fn usvt(observed: &Matrix, mask: &Mask, params: &Usvt) -> Result<Completion, MatrixError> {
    if !(params.eta > 0.0 && params.eta < 1.0) {
        return Err(MatrixError::Parameter(format!(
            "USVT's η = {} must be in (0, 1)",
            params.eta
        )));
    }
    mask.check_against(observed)?;
    let (m, n) = observed.shape();
    let obs = mask.as_slice();
    let p_hat = mask.fraction_observed();
    let Some(scaling) = Scaling::of_observed(observed, mask) else {
        return Ok(constant(m, n, 0.0));
    };
    if scaling.half_range() == 0.0 {
        return Ok(constant(m, n, scaling.mid()));
    }
    let y = Mat::from_fn(m, n, |i, j| {
        if obs[i * n + j] {
            scaling.to_unit(observed.get(i, j))
        } else {
            0.0
        }
    });
    let threshold = (2.0 + params.eta) * ((m.max(n) as f64) * p_hat).sqrt();
    let mut engine = Engine::new(params.svd, params.seed);
    let factors = engine.above(&y.as_ref(), threshold, 1)?;
    let rank = factors.s.iter().take_while(|&&s| s >= threshold).count();
    let w = factors.reconstruct(rank, |s| s / p_hat);
    let matrix = Matrix::from_fn(m, n, |i, j| scaling.from_unit(w[(i, j)].clamp(-1.0, 1.0)));
    Ok(Completion {
        matrix,
        iterations: 1,
        converged: true,
        rank,
        threshold,
    })
}

fn constant(m: usize, n: usize, value: f64) -> Completion {
    Completion {
        matrix: Matrix::from_fn(m, n, |_, _| value),
        iterations: 0,
        converged: true,
        rank: 0,
        threshold: 0.0,
    }
}
