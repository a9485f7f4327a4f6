//! Scaled completion: the wrapper SV-RL puts around its matrix estimator (`softimp` in the
//! official `utils/svrl_utils.py`): map onto [−1, 1], complete, clip, map back.

use crate::scale::Scaling;
use crate::{Completion, Mask, Matrix, MatrixError, SoftImpute, Usvt};

/// A matrix estimator and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Estimator {
    SoftImpute(SoftImpute),
    Usvt(Usvt),
}

impl Default for Estimator {
    /// Soft-impute with fancyimpute's defaults, SV-RL's default estimator.
    fn default() -> Self {
        Estimator::SoftImpute(SoftImpute::default())
    }
}

/// Re-estimate a fully known matrix `x` from its entries on `mask`, as SV-RL does with the target
/// network's Q matrix (official `softimp`):
///
/// 1. `c = (max + min)/2`, `d = (max − min)/2 + 1e-7` over **all** entries of `x`;
///    `u = (x − c)/d`;
/// 2. complete `u` from its entries on `mask` with `estimator`;
/// 3. clip to [−1, 1]; map back `x̂ = û·d + c`.
///
/// Under soft-impute the observed entries come back as given (up to the affine round trip's
/// rounding) and only the masked-out ones are replaced by the low-rank estimate. With a full
/// mask `x` is returned unchanged (SV-RL reaches the same after 100 idle iterations); with an
/// empty one, too (nothing to estimate from). Errors when an entry of `x` is not finite.
pub fn complete_scaled(
    x: &Matrix,
    mask: &Mask,
    estimator: &Estimator,
) -> Result<Completion, MatrixError> {
    mask.check_against(x)?;
    let Some(scaling) = Scaling::of_all_sv_rl(x) else {
        if let Some(k) = x.as_slice().iter().position(|v| !v.is_finite()) {
            return Err(MatrixError::NonFinite {
                row: k / x.cols(),
                col: k % x.cols(),
                value: x.as_slice()[k],
            });
        }
        return Ok(unchanged(x));
    };
    let observed = mask.observed_count();
    if observed == 0 || observed == mask.as_slice().len() {
        return Ok(unchanged(x));
    }
    let unit = Matrix::new(
        x.rows(),
        x.cols(),
        x.as_slice().iter().map(|&v| scaling.to_unit(v)).collect(),
    )?;
    let mut completion = match estimator {
        Estimator::SoftImpute(p) => crate::soft_impute(&unit, mask, p)?,
        Estimator::Usvt(p) => crate::usvt(&unit, mask, p)?,
    };
    for v in completion.matrix.as_mut_slice() {
        *v = scaling.from_unit(v.clamp(-1.0, 1.0));
    }
    Ok(completion)
}

fn unchanged(x: &Matrix) -> Completion {
    Completion {
        matrix: x.clone(),
        iterations: 0,
        converged: true,
        rank: 0,
        threshold: 0.0,
    }
}
