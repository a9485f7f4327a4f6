//! ACER (Wang et al. 2017): the Retrace target Q^ret, Q^opc, and the truncated importance weights
//! with bias correction.

use crate::error::{Result, ReturnsError, check_actions, expect_len, leading_dim, positive};
use num_traits::Float;

/// The trace `ρ̄_t` used by [`q_ret_into`].
#[derive(Debug, Clone, Copy)]
pub enum QRetTrace<'a, F> {
    /// ACER's Q^ret: `ρ̄_t = min(c, ρ_t)` with `ρ_t = π(a_t|x_t) / μ(a_t|x_t)` (`[T−1]`, rlax
    /// alignment: the ratio of the action taken at the state after each transition). ACER uses
    /// `c = 1`.
    Truncated {
        /// Importance ratios `ρ_t`, `[T−1]`.
        rho_t: &'a [F],
        /// Truncation threshold `c`.
        c: F,
    },
    /// Q^opc (ACER §3.1 / Harutyunyan et al. 2016): the ratio is replaced by 1, `ρ̄_t = 1`.
    Opc,
    /// Caller-supplied traces `[T−1]`, e.g. continuous ACER's `min(1, ρ_t^{1/d})`
    /// ([`continuous_truncated_weight`], ACER eq. 1.20).
    Given(&'a [F]),
}

/// ACER's Retrace target, written into `out` (`[T]`):
///
/// `Q^ret(x_t, a_t) = r_t + γ ρ̄_{t+1} [Q^ret(x_{t+1}, a_{t+1}) − Q(x_{t+1}, a_{t+1})] + γ V(x_{t+1})`
/// (ACER eq. 1.8), run backwards from the bootstrap value `V(x_T)`.
///
/// Arguments follow rlax's alignment (`_t` is the state after each transition, so `out[t]` is the
/// target for `Q(x_t, a_t)` of a trajectory `x_0 … x_T`): `q_t` (`[T−1]`) is `Q(x_{t+1}, a_{t+1})`,
/// `v_t` (`[T]`) is `V(x_{t+1}) = E_π Q(x_{t+1}, ·)` (its last entry is the bootstrap value),
/// `r_t`, `discount_t` (`[T]`) are the reward and per-step discount (`γ`, or 0 at a terminal
/// transition) of each transition. With `trace = Truncated { c: 1 }` this equals rlax's Retrace
/// target with λ = 1.
pub fn q_ret_into<F: Float>(
    q_t: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    trace: QRetTrace<'_, F>,
    out: &mut [F],
) -> Result<()> {
    let t = v_t.len();
    if t == 0 {
        return Err(ReturnsError::Empty("v_t"));
    }
    expect_len("q_t", q_t.len(), t - 1)?;
    expect_len("r_t", r_t.len(), t)?;
    expect_len("discount_t", discount_t.len(), t)?;
    expect_len("out", out.len(), t)?;
    match trace {
        QRetTrace::Truncated { rho_t, .. } => expect_len("rho_t", rho_t.len(), t - 1)?,
        QRetTrace::Given(c) => expect_len("trace", c.len(), t - 1)?,
        QRetTrace::Opc => {}
    }
    q_ret_kernel(q_t, v_t, r_t, discount_t, trace, 1, out);
    Ok(())
}

/// Allocating form of [`q_ret_into`].
pub fn q_ret<F: Float>(
    q_t: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    trace: QRetTrace<'_, F>,
) -> Result<Vec<F>> {
    let mut out = vec![F::zero(); v_t.len()];
    q_ret_into(q_t, v_t, r_t, discount_t, trace, &mut out)?;
    Ok(out)
}

/// `[T, B]` kernel; shapes already checked, `q_t` and the trace are `[T−1, B]`.
pub(crate) fn q_ret_kernel<F: Float>(
    q: &[F],
    v: &[F],
    r: &[F],
    d: &[F],
    trace: QRetTrace<'_, F>,
    b: usize,
    out: &mut [F],
) {
    match trace {
        QRetTrace::Truncated { rho_t, c } => q_ret_rows(q, v, r, d, |i| c.min(rho_t[i]), b, out),
        QRetTrace::Opc => q_ret_rows(q, v, r, d, |_| F::one(), b, out),
        QRetTrace::Given(tr) => q_ret_rows(q, v, r, d, |i| tr[i], b, out),
    }
}

#[inline]
fn q_ret_rows<F: Float>(
    q: &[F],
    v: &[F],
    r: &[F],
    d: &[F],
    rho_bar: impl Fn(usize) -> F,
    b: usize,
    out: &mut [F],
) {
    let t_len = v.len() / b;
    if t_len == 0 {
        return;
    }
    for i in (t_len - 1) * b..t_len * b {
        out[i] = r[i] + d[i] * v[i];
    }
    for i in (0..(t_len - 1) * b).rev() {
        out[i] = r[i] + d[i] * (rho_bar(i) * (out[i + b] - q[i]) + v[i]);
    }
}

/// ACER's truncated importance weight `ρ̄_t = min(c, ρ_t)` (ACER eq. 1.9; c = 10 in the paper's
/// policy gradient, c = 1 in Q^ret).
#[inline]
pub fn truncated_importance_weight<F: Float>(rho: F, c: F) -> F {
    c.min(rho)
}

/// ACER's bias-correction weights for one state, written into `out` (`[A]`):
/// `π(a) [1 − c/ρ(a)]₊` with `ρ(a) = π(a)/μ(a)` (ACER eqs. 1.10–1.11), computed as the equal and
/// everywhere-defined `[π(a) − c μ(a)]₊` (0 when π(a) = 0; π(a) when μ(a) = 0).
pub fn bias_correction_weights_into<F: Float>(
    pi: &[F],
    mu: &[F],
    c: F,
    out: &mut [F],
) -> Result<()> {
    expect_len("mu", mu.len(), pi.len())?;
    expect_len("out", out.len(), pi.len())?;
    for ((o, &p), &m) in out.iter_mut().zip(pi).zip(mu) {
        *o = (p - c * m).max(F::zero());
    }
    Ok(())
}

/// Per-step ACER weights for a trajectory of `[T]` states: `truncated_out[t] = min(c, ρ_t(a_t))`
/// and `correction_out[t, a] = π_t(a) [1 − c/ρ_t(a)]₊` (ACER eqs. 1.9–1.11). `pi`, `mu` are the
/// full target and behaviour distributions `[T, A]`, `a` the taken actions `[T]`.
///
/// The ACER policy gradient is then
/// `ĝ_t = ρ̄_t ∇log π(a_t) [Q^ret_t − V_t] + Σ_a correction[t, a] ∇log π(a) [Q(x_t, a) − V(x_t)]`;
/// [`policy_gradient_coefficients_into`] forms the bracketed products.
pub fn acer_weights_into<F: Float>(
    pi: &[F],
    mu: &[F],
    a: &[usize],
    c: F,
    truncated_out: &mut [F],
    correction_out: &mut [F],
) -> Result<()> {
    let na = check_distributions(pi, mu, a)?;
    expect_len("truncated_out", truncated_out.len(), a.len())?;
    expect_len("correction_out", correction_out.len(), pi.len())?;
    for ((((tr, corr), p), m), &at) in truncated_out
        .iter_mut()
        .zip(correction_out.chunks_exact_mut(na))
        .zip(pi.chunks_exact(na))
        .zip(mu.chunks_exact(na))
        .zip(a)
    {
        *tr = truncated_importance_weight(p[at] / m[at], c);
        for ((o, &p), &m) in corr.iter_mut().zip(p).zip(m) {
            *o = (p - c * m).max(F::zero());
        }
    }
    Ok(())
}

/// The scalar coefficients of ACER's policy gradient (eqs. 1.9–1.11), so an agent's loss is
/// `−Σ_t [taken_out[t] log π(a_t|x_t) + Σ_a per_action_out[t, a] log π(a|x_t)]` with the
/// coefficients held constant:
///
/// `taken_out[t] = min(c, ρ_t) (Q^ret_t − V_t)`,
/// `per_action_out[t, a] = π_t(a) [1 − c/ρ_t(a)]₊ (Q(x_t, a) − V(x_t))`.
///
/// `q_ret`, `v` and `a` are `[T]` (from [`q_ret_into`], `V(x_t) = Σ_a π_t(a) Q(x_t, a)`); `q`,
/// `pi`, `mu` are `[T, A]`, all at the same states `x_t`.
#[allow(clippy::too_many_arguments)]
pub fn policy_gradient_coefficients_into<F: Float>(
    q_ret: &[F],
    q: &[F],
    v: &[F],
    pi: &[F],
    mu: &[F],
    a: &[usize],
    c: F,
    taken_out: &mut [F],
    per_action_out: &mut [F],
) -> Result<()> {
    let na = check_distributions(pi, mu, a)?;
    expect_len("q_ret", q_ret.len(), a.len())?;
    expect_len("v", v.len(), a.len())?;
    expect_len("q", q.len(), pi.len())?;
    expect_len("taken_out", taken_out.len(), a.len())?;
    expect_len("per_action_out", per_action_out.len(), pi.len())?;
    for (t, (tk, pa)) in taken_out
        .iter_mut()
        .zip(per_action_out.chunks_exact_mut(na))
        .enumerate()
    {
        let s = t * na..(t + 1) * na;
        let (p, m, qs) = (&pi[s.clone()], &mu[s.clone()], &q[s]);
        let at = a[t];
        *tk = truncated_importance_weight(p[at] / m[at], c) * (q_ret[t] - v[t]);
        for (((o, &p), &m), &qa) in pa.iter_mut().zip(p).zip(m).zip(qs) {
            *o = (p - c * m).max(F::zero()) * (qa - v[t]);
        }
    }
    Ok(())
}

fn check_distributions<F>(pi: &[F], mu: &[F], a: &[usize]) -> Result<usize> {
    expect_len("mu", mu.len(), pi.len())?;
    if a.is_empty() {
        expect_len("pi", pi.len(), 0)?;
        return Ok(1);
    }
    let na = leading_dim("pi", pi.len(), a.len())?;
    positive("number of actions", na)?;
    check_actions("a", a, na)?;
    Ok(na)
}

/// Continuous-action ACER's truncated weight `ρ̄ = min(1, ρ^{1/d})` for a `d`-dimensional action
/// (ACER eq. 1.20). `d = 0` is an error.
pub fn continuous_truncated_weight<F: Float>(rho: F, action_dim: usize) -> Result<F> {
    let d = action_dim_as_float::<F>(action_dim)?;
    Ok(F::one().min(rho.powf(d.recip())))
}

/// [`continuous_truncated_weight`] from `log ρ`: `min(1, exp(log ρ / d))`.
pub fn continuous_truncated_weight_from_log<F: Float>(log_rho: F, action_dim: usize) -> Result<F> {
    let d = action_dim_as_float::<F>(action_dim)?;
    Ok(F::one().min((log_rho / d).exp()))
}

fn action_dim_as_float<F: Float>(action_dim: usize) -> Result<F> {
    positive("action_dim", action_dim)?;
    F::from(action_dim).ok_or(ReturnsError::InvalidParameter {
        name: "action_dim",
        reason: "not representable in the float type",
    })
}
