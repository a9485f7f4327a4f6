//! λ-returns (TD(λ) targets) and the TD(λ) errors built from them.

use crate::error::{Result, expect_len};
use crate::param::{Lambda, with_lambda_rows};
use num_traits::Float;

/// λ-returns of one trajectory, written into `out` (`[T]`).
///
/// `G_t = r_t + γ_t [(1 − λ_t) v_t + λ_t G_{t+1}]`, run backwards from `G_T = v_{T−1}`
/// (Sutton & Barto §12.1; rlax `lambda_returns`). rlax alignment: `r_t`, `discount_t`, `v_t` are
/// `[T]` and belong to the state *after* each transition, so `v_t[T−1]` is the bootstrap value.
/// λ = 1 gives the discounted return bootstrapped from `v_t[T−1]`, λ = 0 the one-step target
/// `r_t + γ_t v_t`. Choices of `v_t` give TD(λ) (state values), Q(λ) (`max_a q_t`) and
/// Sarsa(λ) (`q_t[a_t]`).
pub fn lambda_returns_into<'a, F: Float + 'a>(
    r_t: &[F],
    discount_t: &[F],
    v_t: &[F],
    lambda: impl Into<Lambda<'a, F>>,
    out: &mut [F],
) -> Result<()> {
    let lambda = lambda.into();
    let t = r_t.len();
    expect_len("discount_t", discount_t.len(), t)?;
    expect_len("v_t", v_t.len(), t)?;
    expect_len("out", out.len(), t)?;
    lambda.check(t)?;
    lambda_returns_kernel(r_t, discount_t, v_t, lambda, 1, out);
    Ok(())
}

/// Allocating form of [`lambda_returns_into`].
pub fn lambda_returns<'a, F: Float + 'a>(
    r_t: &[F],
    discount_t: &[F],
    v_t: &[F],
    lambda: impl Into<Lambda<'a, F>>,
) -> Result<Vec<F>> {
    let mut out = vec![F::zero(); r_t.len()];
    lambda_returns_into(r_t, discount_t, v_t, lambda, &mut out)?;
    Ok(out)
}

/// TD(λ) errors of one trajectory: `G^λ_t − v_tm1[t]` (rlax `td_lambda`; Sutton 1988).
///
/// `v_tm1` (`[T]`) are the predictions being corrected; the targets are
/// [`lambda_returns`]`(r_t, discount_t, v_t, λ)`.
pub fn td_lambda_into<'a, F: Float + 'a>(
    v_tm1: &[F],
    r_t: &[F],
    discount_t: &[F],
    v_t: &[F],
    lambda: impl Into<Lambda<'a, F>>,
    out: &mut [F],
) -> Result<()> {
    expect_len("v_tm1", v_tm1.len(), r_t.len())?;
    lambda_returns_into(r_t, discount_t, v_t, lambda, out)?;
    for (o, &v) in out.iter_mut().zip(v_tm1) {
        *o = *o - v;
    }
    Ok(())
}

/// Allocating form of [`td_lambda_into`].
pub fn td_lambda<'a, F: Float + 'a>(
    v_tm1: &[F],
    r_t: &[F],
    discount_t: &[F],
    v_t: &[F],
    lambda: impl Into<Lambda<'a, F>>,
) -> Result<Vec<F>> {
    let mut out = vec![F::zero(); r_t.len()];
    td_lambda_into(v_tm1, r_t, discount_t, v_t, lambda, &mut out)?;
    Ok(out)
}

/// `[T, B]` kernel; shapes already checked.
pub(crate) fn lambda_returns_kernel<F: Float>(
    r: &[F],
    d: &[F],
    v: &[F],
    lambda: Lambda<'_, F>,
    b: usize,
    out: &mut [F],
) {
    with_lambda_rows!(lambda, b, |lam| lambda_rows(r, d, v, lam, b, out))
}

fn lambda_rows<F: Float, I: Iterator<Item = F>>(
    r: &[F],
    d: &[F],
    v: &[F],
    lam: impl Fn(usize) -> I,
    b: usize,
    out: &mut [F],
) {
    let t_len = r.len() / b;
    if t_len == 0 {
        return;
    }
    let one = F::one();
    let last = (t_len - 1) * b;
    // The accumulator starts at v_{T−1}, as in rlax.
    for ((((o, &r), &d), &v), l) in out[last..]
        .iter_mut()
        .zip(&r[last..])
        .zip(&d[last..])
        .zip(&v[last..])
        .zip(lam(t_len - 1))
    {
        *o = r + d * ((one - l) * v + l * v);
    }
    for t in (0..t_len - 1).rev() {
        let s = t * b..(t + 1) * b;
        let (head, tail) = out.split_at_mut((t + 1) * b);
        let (row, next) = (&mut head[t * b..], &tail[..b]);
        for (((((o, &r), &d), &v), l), &g) in row
            .iter_mut()
            .zip(&r[s.clone()])
            .zip(&d[s.clone()])
            .zip(&v[s])
            .zip(lam(t))
            .zip(next)
        {
            *o = r + d * ((one - l) * v + l * g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // G_1 = 1 + 0.5·2 = 2; G_0 = 1 + 0.5·(0.5·4 + 0.5·2) = 2.5.
        let g = lambda_returns(&[1.0_f64, 1.0], &[0.5, 0.5], &[4.0, 2.0], 0.5);
        assert!(
            matches!(g.as_deref(), Ok([a, b]) if (a - 2.5).abs() < 1e-12 && (b - 2.0).abs() < 1e-12)
        );
    }
}
