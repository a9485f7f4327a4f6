//! Retrace(λ) errors (Munos et al. 2016), discrete and continuous actions, as in rlax.

use crate::error::{Result, ReturnsError, check_actions, expect_len};
use crate::off_policy::{action_values_kernel, check_action_values};
use crate::param::Lambda;
use num_traits::Float;

/// Retrace(λ) errors of one trajectory, written into `out` (`[T]`; rlax `retrace`).
///
/// Target (ACER eq. 1.7 with Retrace's trace, rlax alignment):
/// `G_{T−1} = r_{T−1} + γ_{T−1} E_π q_{T−1}`,
/// `G_t = r_t + γ_t (E_π q_t − c_t q_t[a_t] + c_t G_{t+1})`,
/// `c_t = λ min(1, π_t(a_t) / (μ_t + eps))`; output `G_t − q_tm1[t, a_tm1[t]]`.
///
/// `q_tm1`, `q_t`, `pi_t` are `[T, A]`; `a_tm1`, `a_t`, `r_t`, `discount_t`, `mu_t` are `[T]`;
/// `mu_t` is the behaviour probability of `a_t`. rlax adds `eps = 1e-8` to `μ` for numerical
/// safety; pass `0` for the textbook trace. The last step's trace is never used.
#[allow(clippy::too_many_arguments)]
pub fn retrace_into<F: Float>(
    q_tm1: &[F],
    q_t: &[F],
    a_tm1: &[usize],
    a_t: &[usize],
    r_t: &[F],
    discount_t: &[F],
    pi_t: &[F],
    mu_t: &[F],
    lambda: F,
    eps: F,
    out: &mut [F],
) -> Result<()> {
    let (_, na) = check_action_values(q_t, a_t, r_t, discount_t, pi_t, 1)?;
    check_retrace_extra(q_tm1, q_t, a_tm1, a_t, mu_t, na)?;
    expect_len("out", out.len(), a_t.len())?;
    retrace_kernel(
        q_tm1, q_t, a_tm1, a_t, r_t, discount_t, pi_t, mu_t, lambda, eps, 1, na, out,
    );
    Ok(())
}

/// Allocating form of [`retrace_into`].
#[allow(clippy::too_many_arguments)]
pub fn retrace<F: Float>(
    q_tm1: &[F],
    q_t: &[F],
    a_tm1: &[usize],
    a_t: &[usize],
    r_t: &[F],
    discount_t: &[F],
    pi_t: &[F],
    mu_t: &[F],
    lambda: F,
    eps: F,
) -> Result<Vec<F>> {
    let mut out = vec![F::zero(); a_t.len()];
    retrace_into(
        q_tm1, q_t, a_tm1, a_t, r_t, discount_t, pi_t, mu_t, lambda, eps, &mut out,
    )?;
    Ok(out)
}

pub(crate) fn check_retrace_extra<F>(
    q_tm1: &[F],
    q_t: &[F],
    a_tm1: &[usize],
    a_t: &[usize],
    mu_t: &[F],
    na: usize,
) -> Result<()> {
    expect_len("q_tm1", q_tm1.len(), q_t.len())?;
    expect_len("a_tm1", a_tm1.len(), a_t.len())?;
    expect_len("mu_t", mu_t.len(), a_t.len())?;
    check_actions("a_tm1", a_tm1, na)
}

/// `[T, B, A]` Retrace kernel; shapes already checked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn retrace_kernel<F: Float>(
    q_tm1: &[F],
    q_t: &[F],
    a_tm1: &[usize],
    a_t: &[usize],
    r: &[F],
    d: &[F],
    pi_t: &[F],
    mu_t: &[F],
    lambda: F,
    eps: F,
    b: usize,
    na: usize,
    out: &mut [F],
) {
    let one = F::one();
    action_values_kernel(
        q_t,
        a_t,
        r,
        d,
        pi_t,
        mu_t,
        |pi_a, mu_a| one.min(pi_a / (mu_a + eps)) * lambda,
        b,
        na,
        Some((q_tm1, a_tm1)),
        out,
    );
}

/// Retrace(λ) errors for continuous actions (rlax `retrace_continuous`), written into `out`
/// (`[T]`): the target is [`general_off_policy_returns_from_q_and_v`](crate::general_off_policy_returns_from_q_and_v)
/// with `c_t = λ_t min(1, exp(log_rhos_t))`, and the output is `G_t − q_tm1[t]`.
///
/// `q_tm1`, `v_t`, `r_t`, `discount_t` are `[T]`; `q_t` (`Q(x_t, a_t)` of the behaviour actions)
/// and `log_rhos` (`log π(a_t|x_t) − log μ(a_t|x_t)`) are `[T−1]`; a per-step λ is `[T−1]`.
/// ACER's continuous variant truncates with `min(1, ρ^{1/d})` instead (ACER eq. 1.20): pass
/// `log_rhos / d` for that.
#[allow(clippy::too_many_arguments)]
pub fn retrace_continuous_into<'a, F: Float + 'a>(
    q_tm1: &[F],
    q_t: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    log_rhos: &[F],
    lambda: impl Into<Lambda<'a, F>>,
    out: &mut [F],
) -> Result<()> {
    let lambda = lambda.into();
    let t = v_t.len();
    if t == 0 {
        return Err(ReturnsError::Empty("v_t"));
    }
    expect_len("q_tm1", q_tm1.len(), t)?;
    expect_len("q_t", q_t.len(), t - 1)?;
    expect_len("r_t", r_t.len(), t)?;
    expect_len("discount_t", discount_t.len(), t)?;
    expect_len("log_rhos", log_rhos.len(), t - 1)?;
    expect_len("out", out.len(), t)?;
    lambda.check(t - 1)?;
    let lam = |i: usize| match lambda {
        Lambda::Const(l) => l,
        Lambda::PerStep(ls) => ls[i],
    };
    let mut g = r_t[t - 1] + discount_t[t - 1] * v_t[t - 1];
    out[t - 1] = g - q_tm1[t - 1];
    for i in (0..t - 1).rev() {
        let c = F::one().min(log_rhos[i].exp()) * lam(i);
        g = r_t[i] + discount_t[i] * (v_t[i] - c * q_t[i] + c * g);
        out[i] = g - q_tm1[i];
    }
    Ok(())
}

/// Allocating form of [`retrace_continuous_into`].
pub fn retrace_continuous<'a, F: Float + 'a>(
    q_tm1: &[F],
    q_t: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    log_rhos: &[F],
    lambda: impl Into<Lambda<'a, F>>,
) -> Result<Vec<F>> {
    let mut out = vec![F::zero(); v_t.len()];
    retrace_continuous_into(q_tm1, q_t, v_t, r_t, discount_t, log_rhos, lambda, &mut out)?;
    Ok(out)
}
