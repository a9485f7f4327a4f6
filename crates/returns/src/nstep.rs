//! n-step bootstrapped returns with rlax's optional λ mixing.

use crate::error::{Result, expect_len, positive};
use crate::param::{Lambda, with_lambda_rows};
use num_traits::Float;

/// Strided n-step bootstrapped returns of one trajectory, written into `out` (`[T]`).
///
/// For each t, the recursion `G ← r_k + γ_k [(1 − λ_k) v_k + λ_k G]` is applied for
/// k = t+n−1 down to t, starting from `G = v_{min(t+n−1, T−1)}`; steps past the end of the
/// trajectory are skipped (rlax pads them with r = 0, γ = 1, λ = 1). With λ = 1 (rlax's default)
/// this is `G_t = r_t + γ_t (r_{t+1} + γ_{t+1} (… (r_{t+n−1} + γ_{t+n−1} v_{t+n−1})))`
/// (Sutton & Barto §7.1; rlax `n_step_bootstrapped_returns`). With `n ≥ T` and λ = 1 it equals the
/// λ = 1 λ-returns. `n = 0` is an error.
pub fn n_step_bootstrapped_returns_into<'a, F: Float + 'a>(
    r_t: &[F],
    discount_t: &[F],
    v_t: &[F],
    n: usize,
    lambda_t: impl Into<Lambda<'a, F>>,
    out: &mut [F],
) -> Result<()> {
    let lambda = lambda_t.into();
    let t = r_t.len();
    positive("n", n)?;
    expect_len("discount_t", discount_t.len(), t)?;
    expect_len("v_t", v_t.len(), t)?;
    expect_len("out", out.len(), t)?;
    lambda.check(t)?;
    n_step_kernel(r_t, discount_t, v_t, n, lambda, 1, out);
    Ok(())
}

/// Allocating form of [`n_step_bootstrapped_returns_into`].
pub fn n_step_bootstrapped_returns<'a, F: Float + 'a>(
    r_t: &[F],
    discount_t: &[F],
    v_t: &[F],
    n: usize,
    lambda_t: impl Into<Lambda<'a, F>>,
) -> Result<Vec<F>> {
    let mut out = vec![F::zero(); r_t.len()];
    n_step_bootstrapped_returns_into(r_t, discount_t, v_t, n, lambda_t, &mut out)?;
    Ok(out)
}

/// `[T, B]` kernel, O(T·n·B); shapes already checked and `n > 0`.
pub(crate) fn n_step_kernel<F: Float>(
    r: &[F],
    d: &[F],
    v: &[F],
    n: usize,
    lambda: Lambda<'_, F>,
    b: usize,
    out: &mut [F],
) {
    with_lambda_rows!(lambda, b, |lam| n_step_rows(r, d, v, n, lam, b, out))
}

fn n_step_rows<F: Float, I: Iterator<Item = F>>(
    r: &[F],
    d: &[F],
    v: &[F],
    n: usize,
    lam: impl Fn(usize) -> I,
    b: usize,
    out: &mut [F],
) {
    let t_len = r.len() / b;
    let one = F::one();
    for t in 0..t_len {
        let row = &mut out[t * b..(t + 1) * b];
        let end = t.saturating_add(n).min(t_len); // exclusive
        let boot = t.saturating_add(n - 1).min(t_len - 1);
        row.copy_from_slice(&v[boot * b..(boot + 1) * b]);
        for k in (t..end).rev() {
            let s = k * b..(k + 1) * b;
            for ((((o, &r), &d), &v), l) in row
                .iter_mut()
                .zip(&r[s.clone()])
                .zip(&d[s.clone()])
                .zip(&v[s])
                .zip(lam(k))
            {
                *o = r + d * ((one - l) * v + l * *o);
            }
        }
    }
}
