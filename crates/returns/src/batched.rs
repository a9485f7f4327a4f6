//! Time-major `[T, B]` wrappers (contiguous, row-major: element `(t, b)` at `t·B + b`).
//!
//! Each function checks every shape against `batch` and runs the same kernel as its
//! single-trajectory twin, iterating t backwards with the batch dimension innermost so the inner
//! loop vectorises. Nothing allocates: outputs go into the caller's buffers. Semantics, equations
//! and argument names are those of the twin in the crate root; column `b` of every output equals
//! the twin applied to column `b` of every input.

use crate::acer::{QRetTrace, q_ret_kernel};
use crate::discounted::discounted_kernel;
use crate::error::{Result, ReturnsError, expect_len, leading_dim, positive};
use crate::gae::gae_kernel;
use crate::lambda::lambda_returns_kernel;
use crate::nstep::n_step_kernel;
use crate::off_policy::{check_action_values, q_and_v_kernel};
use crate::param::Lambda;
use crate::retrace::{check_retrace_extra, retrace_kernel};
use crate::vtrace::{VTraceOutMut, VTraceParams, vtrace_advantage_kernel, vtrace_kernel};
use num_traits::Float;

/// T from a `[T, B]` argument, checking the others against it.
fn time_steps(
    batch: usize,
    first: (&'static str, usize),
    others: &[(&'static str, usize)],
) -> Result<usize> {
    positive("batch", batch)?;
    let t = leading_dim(first.0, first.1, batch)?;
    for &(name, len) in others {
        expect_len(name, len, first.1)?;
    }
    Ok(t)
}

/// Batched [`discounted_returns_into`](crate::discounted_returns_into): `r_t`, `discount_t`, `out`
/// are `[T, B]`, `v_bootstrap` is `[B]`.
pub fn discounted_returns_into<F: Float>(
    r_t: &[F],
    discount_t: &[F],
    v_bootstrap: &[F],
    batch: usize,
    out: &mut [F],
) -> Result<()> {
    time_steps(
        batch,
        ("r_t", r_t.len()),
        &[("discount_t", discount_t.len()), ("out", out.len())],
    )?;
    expect_len("v_bootstrap", v_bootstrap.len(), batch)?;
    discounted_kernel(r_t, discount_t, v_bootstrap, batch, out);
    Ok(())
}

/// Batched [`lambda_returns_into`](crate::lambda_returns_into): every argument `[T, B]`
/// (a per-step λ too).
pub fn lambda_returns_into<'a, F: Float + 'a>(
    r_t: &[F],
    discount_t: &[F],
    v_t: &[F],
    lambda: impl Into<Lambda<'a, F>>,
    batch: usize,
    out: &mut [F],
) -> Result<()> {
    let lambda = lambda.into();
    time_steps(
        batch,
        ("r_t", r_t.len()),
        &[
            ("discount_t", discount_t.len()),
            ("v_t", v_t.len()),
            ("out", out.len()),
        ],
    )?;
    lambda.check(r_t.len())?;
    lambda_returns_kernel(r_t, discount_t, v_t, lambda, batch, out);
    Ok(())
}

/// Batched [`td_lambda_into`](crate::td_lambda_into): every argument `[T, B]`.
pub fn td_lambda_into<'a, F: Float + 'a>(
    v_tm1: &[F],
    r_t: &[F],
    discount_t: &[F],
    v_t: &[F],
    lambda: impl Into<Lambda<'a, F>>,
    batch: usize,
    out: &mut [F],
) -> Result<()> {
    expect_len("v_tm1", v_tm1.len(), r_t.len())?;
    lambda_returns_into(r_t, discount_t, v_t, lambda, batch, out)?;
    for (o, &v) in out.iter_mut().zip(v_tm1) {
        *o = *o - v;
    }
    Ok(())
}

/// Batched [`truncated_gae_into`](crate::truncated_gae_into): `r_t`, `discount_t`, `out` (and a
/// per-step λ) are `[T, B]`; `values` is `[T + 1, B]`.
pub fn truncated_gae_into<'a, F: Float + 'a>(
    r_t: &[F],
    discount_t: &[F],
    lambda: impl Into<Lambda<'a, F>>,
    values: &[F],
    batch: usize,
    out: &mut [F],
) -> Result<()> {
    let lambda = lambda.into();
    time_steps(
        batch,
        ("r_t", r_t.len()),
        &[("discount_t", discount_t.len()), ("out", out.len())],
    )?;
    expect_len("values", values.len(), r_t.len() + batch)?;
    lambda.check(r_t.len())?;
    gae_kernel(r_t, discount_t, lambda, values, batch, out);
    Ok(())
}

/// Batched [`n_step_bootstrapped_returns_into`](crate::n_step_bootstrapped_returns_into): every
/// argument `[T, B]`.
pub fn n_step_bootstrapped_returns_into<'a, F: Float + 'a>(
    r_t: &[F],
    discount_t: &[F],
    v_t: &[F],
    n: usize,
    lambda_t: impl Into<Lambda<'a, F>>,
    batch: usize,
    out: &mut [F],
) -> Result<()> {
    let lambda = lambda_t.into();
    positive("n", n)?;
    time_steps(
        batch,
        ("r_t", r_t.len()),
        &[
            ("discount_t", discount_t.len()),
            ("v_t", v_t.len()),
            ("out", out.len()),
        ],
    )?;
    lambda.check(r_t.len())?;
    n_step_kernel(r_t, discount_t, v_t, n, lambda, batch, out);
    Ok(())
}

/// Batched [`vtrace_into`](crate::vtrace_into): every argument `[T, B]`.
#[allow(clippy::too_many_arguments)]
pub fn vtrace_into<F: Float>(
    v_tm1: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    rho_tm1: &[F],
    params: &VTraceParams<F>,
    batch: usize,
    out: &mut [F],
) -> Result<()> {
    time_steps(
        batch,
        ("v_tm1", v_tm1.len()),
        &[
            ("v_t", v_t.len()),
            ("r_t", r_t.len()),
            ("discount_t", discount_t.len()),
            ("rho_tm1", rho_tm1.len()),
            ("out", out.len()),
        ],
    )?;
    vtrace_kernel(v_tm1, v_t, r_t, discount_t, rho_tm1, params, batch, out);
    Ok(())
}

/// Batched [`vtrace_td_error_and_advantage_into`](crate::vtrace_td_error_and_advantage_into):
/// every argument and output `[T, B]`.
#[allow(clippy::too_many_arguments)]
pub fn vtrace_td_error_and_advantage_into<F: Float>(
    v_tm1: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    rho_tm1: &[F],
    params: &VTraceParams<F>,
    batch: usize,
    out: VTraceOutMut<'_, F>,
) -> Result<()> {
    time_steps(
        batch,
        ("v_tm1", v_tm1.len()),
        &[
            ("v_t", v_t.len()),
            ("r_t", r_t.len()),
            ("discount_t", discount_t.len()),
            ("rho_tm1", rho_tm1.len()),
            ("errors", out.errors.len()),
            ("pg_advantage", out.pg_advantage.len()),
            ("q_estimate", out.q_estimate.len()),
        ],
    )?;
    vtrace_advantage_kernel(v_tm1, v_t, r_t, discount_t, rho_tm1, params, batch, out);
    Ok(())
}

/// Batched [`retrace_into`](crate::retrace_into): `q_tm1`, `q_t`, `pi_t` are `[T, B, A]`;
/// `a_tm1`, `a_t`, `r_t`, `discount_t`, `mu_t`, `out` are `[T, B]`.
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
    batch: usize,
    out: &mut [F],
) -> Result<()> {
    positive("batch", batch)?;
    let (_, na) = check_action_values(q_t, a_t, r_t, discount_t, pi_t, batch)?;
    check_retrace_extra(q_tm1, q_t, a_tm1, a_t, mu_t, na)?;
    expect_len("out", out.len(), a_t.len())?;
    retrace_kernel(
        q_tm1, q_t, a_tm1, a_t, r_t, discount_t, pi_t, mu_t, lambda, eps, batch, na, out,
    );
    Ok(())
}

/// Batched [`general_off_policy_returns_from_q_and_v_into`](crate::general_off_policy_returns_from_q_and_v_into):
/// `v_t`, `r_t`, `discount_t`, `out` are `[T, B]`; `q_t`, `c_t` are `[T − 1, B]`.
pub fn general_off_policy_returns_from_q_and_v_into<F: Float>(
    q_t: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    c_t: &[F],
    batch: usize,
    out: &mut [F],
) -> Result<()> {
    let t = time_steps(
        batch,
        ("v_t", v_t.len()),
        &[
            ("r_t", r_t.len()),
            ("discount_t", discount_t.len()),
            ("out", out.len()),
        ],
    )?;
    if t == 0 {
        return Err(ReturnsError::Empty("v_t"));
    }
    expect_len("q_t", q_t.len(), (t - 1) * batch)?;
    expect_len("c_t", c_t.len(), (t - 1) * batch)?;
    q_and_v_kernel(q_t, v_t, r_t, discount_t, c_t, batch, out);
    Ok(())
}

/// Batched [`q_ret_into`](crate::q_ret_into): `v_t`, `r_t`, `discount_t`, `out` are `[T, B]`;
/// `q_t` and the trace's slice are `[T − 1, B]`.
pub fn q_ret_into<F: Float>(
    q_t: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    trace: QRetTrace<'_, F>,
    batch: usize,
    out: &mut [F],
) -> Result<()> {
    let t = time_steps(
        batch,
        ("v_t", v_t.len()),
        &[
            ("r_t", r_t.len()),
            ("discount_t", discount_t.len()),
            ("out", out.len()),
        ],
    )?;
    if t == 0 {
        return Err(ReturnsError::Empty("v_t"));
    }
    let inner = (t - 1) * batch;
    expect_len("q_t", q_t.len(), inner)?;
    match trace {
        QRetTrace::Truncated { rho_t, .. } => expect_len("rho_t", rho_t.len(), inner)?,
        QRetTrace::Given(c) => expect_len("trace", c.len(), inner)?,
        QRetTrace::Opc => {}
    }
    q_ret_kernel(q_t, v_t, r_t, discount_t, trace, batch, out);
    Ok(())
}
