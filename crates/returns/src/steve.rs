//! STEVE's inverse-variance combination of candidate targets across horizons (Buckman et al. 2018,
//! eq. 2.8).

use crate::error::{Result, ReturnsError, expect_len, leading_dim, positive};
use num_traits::Float;

/// STEVE's target for one sample from its candidate tensor `[H+1, K]` (row-major;
/// `K = M·N·L` candidates per horizon from the ensembles of dynamics, reward and Q functions):
///
/// `T^STEVE = Σ_i w_i μ_i`, `w_i = σ_i^{−2} / Σ_j σ_j^{−2}` (STEVE eq. 2.8), where `μ_i` and
/// `σ²_i` are the mean and the population variance (divisor K, like `tf.nn.moments`) of row i.
///
/// Zero-variance guard: if any horizon's `1/σ²_i` is infinite (σ² = 0, e.g. K = 1 or an ensemble
/// that agrees exactly, or σ² so small its inverse overflows), the weights are equal among those
/// horizons and 0 elsewhere — the limit of the rule as their variances tend to 0 together. The
/// weights are written into `weights_out` (`[H+1]`); they are non-negative and sum to 1 (NaN
/// candidates propagate). `horizons = H + 1` and `K` must be positive.
pub fn steve_target<F: Float>(
    candidates: &[F],
    horizons: usize,
    weights_out: &mut [F],
) -> Result<F> {
    steve_target_eps(candidates, horizons, F::zero(), weights_out)
}

/// [`steve_target`] with the official code's regulariser: `w_i ∝ 1/(σ²_i + eps)`
/// (`valuerl.py` and `toy_demo.py` use `eps = 1e-8`). `eps` must be finite and ≥ 0; with
/// `eps = 0` this is [`steve_target`].
pub fn steve_target_eps<F: Float>(
    candidates: &[F],
    horizons: usize,
    eps: F,
    weights_out: &mut [F],
) -> Result<F> {
    if !(eps >= F::zero() && eps.is_finite()) {
        return Err(ReturnsError::InvalidParameter {
            name: "eps",
            reason: "must be finite and non-negative",
        });
    }
    positive("horizons", horizons)?;
    let k = leading_dim("candidates", candidates.len(), horizons)?;
    positive("candidates per horizon", k)?;
    expect_len("weights_out", weights_out.len(), horizons)?;
    let kf = F::from(k).ok_or(ReturnsError::InvalidParameter {
        name: "candidates per horizon",
        reason: "not representable in the float type",
    })?;
    // First pass: inverse variances into weights_out, and whether any is infinite.
    let mut any_infinite = false;
    for (w, row) in weights_out.iter_mut().zip(candidates.chunks_exact(k)) {
        let mean = row.iter().fold(F::zero(), |a, &x| a + x) / kf;
        let var = row
            .iter()
            .fold(F::zero(), |a, &x| a + (x - mean) * (x - mean))
            / kf;
        *w = (var + eps).recip();
        any_infinite |= w.is_infinite();
    }
    if any_infinite {
        for w in weights_out.iter_mut() {
            *w = if w.is_infinite() { F::one() } else { F::zero() };
        }
    }
    let total = weights_out.iter().fold(F::zero(), |a, &w| a + w);
    let mut target = F::zero();
    for (w, row) in weights_out.iter_mut().zip(candidates.chunks_exact(k)) {
        *w = *w / total;
        let mean = row.iter().fold(F::zero(), |a, &x| a + x) / kf;
        target = target + *w * mean;
    }
    Ok(target)
}

/// [`steve_target`] for a batch: `candidates` is `[B, H+1, K]` (sample-major), `out` is `[B]`,
/// `weights_out` is `[B, H+1]`.
pub fn steve_targets_into<F: Float>(
    candidates: &[F],
    batch: usize,
    horizons: usize,
    out: &mut [F],
    weights_out: &mut [F],
) -> Result<()> {
    steve_targets_eps_into(candidates, batch, horizons, F::zero(), out, weights_out)
}

/// [`steve_target_eps`] for a batch, shaped as [`steve_targets_into`].
pub fn steve_targets_eps_into<F: Float>(
    candidates: &[F],
    batch: usize,
    horizons: usize,
    eps: F,
    out: &mut [F],
    weights_out: &mut [F],
) -> Result<()> {
    positive("batch", batch)?;
    positive("horizons", horizons)?;
    let per_sample = leading_dim("candidates", candidates.len(), batch)?;
    expect_len("out", out.len(), batch)?;
    expect_len("weights_out", weights_out.len(), batch * horizons)?;
    if per_sample == 0 {
        return Err(ReturnsError::Empty("candidates"));
    }
    for ((o, c), w) in out
        .iter_mut()
        .zip(candidates.chunks_exact(per_sample))
        .zip(weights_out.chunks_exact_mut(horizons))
    {
        *o = steve_target_eps(c, horizons, eps, w)?;
    }
    Ok(())
}
