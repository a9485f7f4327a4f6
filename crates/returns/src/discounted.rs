//! Discounted returns bootstrapped from one value at the end of the trajectory.

use crate::error::{Result, expect_len};
use num_traits::Float;

/// Discounted returns of one trajectory, written into `out` (`[T]`).
///
/// `G_t = r_t + γ_t G_{t+1}`, with `G_T = v_bootstrap` (Sutton & Barto §3.3; rlax
/// `discounted_returns`, which is `lambda_returns` with λ = 1). `r_t`, `discount_t` are `[T]`,
/// rlax-aligned (the transition into step t). `discount_t = 0` ends an episode: nothing after it
/// (including `v_bootstrap`) reaches the returns before it.
pub fn discounted_returns_into<F: Float>(
    r_t: &[F],
    discount_t: &[F],
    v_bootstrap: F,
    out: &mut [F],
) -> Result<()> {
    let t = r_t.len();
    expect_len("discount_t", discount_t.len(), t)?;
    expect_len("out", out.len(), t)?;
    discounted_kernel(r_t, discount_t, std::slice::from_ref(&v_bootstrap), 1, out);
    Ok(())
}

/// Allocating form of [`discounted_returns_into`].
pub fn discounted_returns<F: Float>(r_t: &[F], discount_t: &[F], v_bootstrap: F) -> Result<Vec<F>> {
    let mut out = vec![F::zero(); r_t.len()];
    discounted_returns_into(r_t, discount_t, v_bootstrap, &mut out)?;
    Ok(out)
}

/// `[T, B]` kernel; shapes already checked. `bootstrap` is `[B]`.
pub(crate) fn discounted_kernel<F: Float>(
    r: &[F],
    d: &[F],
    bootstrap: &[F],
    b: usize,
    out: &mut [F],
) {
    let t_len = r.len() / b;
    if t_len == 0 {
        return;
    }
    let last = (t_len - 1) * b;
    for (((o, &r), &d), &g) in out[last..]
        .iter_mut()
        .zip(&r[last..])
        .zip(&d[last..])
        .zip(bootstrap)
    {
        *o = r + d * g;
    }
    for t in (0..t_len - 1).rev() {
        let (head, tail) = out.split_at_mut((t + 1) * b);
        let (row, next) = (&mut head[t * b..], &tail[..b]);
        let (rr, dd) = (&r[t * b..(t + 1) * b], &d[t * b..(t + 1) * b]);
        for (((o, &r), &d), &g) in row.iter_mut().zip(rr).zip(dd).zip(next) {
            *o = r + d * g;
        }
    }
}
