//! Truncated generalized advantage estimation.

use crate::error::{Result, expect_len};
use crate::param::{Lambda, with_lambda_rows};
use num_traits::Float;

/// Truncated GAE of one trajectory, written into `out` (`[T]`).
///
/// `Â_t = δ_t + γ_t λ_t Â_{t+1}`, `Â_T = 0`, with `δ_t = r_t + γ_t V(s_{t+1}) − V(s_t)`
/// (Schulman et al. 2016, eq. 16; PPO eq. 11; rlax `truncated_generalized_advantage_estimation`).
/// `r_t`, `discount_t` are `[T]`; `values` is `[T + 1]` (`V(s_0) … V(s_T)`, the last one the
/// bootstrap). Returns are `Â_t + V(s_t)`.
pub fn truncated_gae_into<'a, F: Float + 'a>(
    r_t: &[F],
    discount_t: &[F],
    lambda: impl Into<Lambda<'a, F>>,
    values: &[F],
    out: &mut [F],
) -> Result<()> {
    let lambda = lambda.into();
    let t = r_t.len();
    expect_len("discount_t", discount_t.len(), t)?;
    expect_len("values", values.len(), t + 1)?;
    expect_len("out", out.len(), t)?;
    lambda.check(t)?;
    gae_kernel(r_t, discount_t, lambda, values, 1, out);
    Ok(())
}

/// Allocating form of [`truncated_gae_into`].
pub fn truncated_generalized_advantage_estimation<'a, F: Float + 'a>(
    r_t: &[F],
    discount_t: &[F],
    lambda: impl Into<Lambda<'a, F>>,
    values: &[F],
) -> Result<Vec<F>> {
    let mut out = vec![F::zero(); r_t.len()];
    truncated_gae_into(r_t, discount_t, lambda, values, &mut out)?;
    Ok(out)
}

/// `[T, B]` kernel (`values` `[T + 1, B]`); shapes already checked.
pub(crate) fn gae_kernel<F: Float>(
    r: &[F],
    d: &[F],
    lambda: Lambda<'_, F>,
    values: &[F],
    b: usize,
    out: &mut [F],
) {
    with_lambda_rows!(lambda, b, |lam| gae_rows(r, d, lam, values, b, out))
}

fn gae_rows<F: Float, I: Iterator<Item = F>>(
    r: &[F],
    d: &[F],
    lam: impl Fn(usize) -> I,
    values: &[F],
    b: usize,
    out: &mut [F],
) {
    let t_len = r.len() / b;
    if t_len == 0 {
        return;
    }
    let last = (t_len - 1) * b;
    for ((((o, &r), &d), &v_tm1), &v_t) in out[last..]
        .iter_mut()
        .zip(&r[last..])
        .zip(&d[last..])
        .zip(&values[last..last + b])
        .zip(&values[last + b..])
    {
        *o = r + d * v_t - v_tm1;
    }
    for t in (0..t_len - 1).rev() {
        let s = t * b..(t + 1) * b;
        let (head, tail) = out.split_at_mut((t + 1) * b);
        let (row, next) = (&mut head[t * b..], &tail[..b]);
        for ((((((o, &r), &d), &v_tm1), &v_t), l), &a) in row
            .iter_mut()
            .zip(&r[s.clone()])
            .zip(&d[s.clone()])
            .zip(&values[s])
            .zip(&values[(t + 1) * b..(t + 2) * b])
            .zip(lam(t))
            .zip(next)
        {
            *o = (r + d * v_t - v_tm1) + d * l * a;
        }
    }
}
