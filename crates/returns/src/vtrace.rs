//! V-trace (IMPALA, Espeholt et al. 2018; used by SEED RL) and leaky V-trace (Zahavy et al. 2020).

use crate::error::{Result, expect_len};
use num_traits::Float;

/// How the policy-gradient advantage bootstraps from the next step when λ < 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PgBootstrap {
    /// rlax: `q_s = r_s + γ_s [λ v_{s+1} + (1 − λ) V(x_{s+1})]` (with `V(x_{s+1})` read from
    /// `v_tm1[s+1]`; the last step uses `v_t[T−1]`). The rlax vectors follow this. Default.
    #[default]
    Rlax,
    /// seed_rl / IMPALA's `scalable_agent`: `q_s = r_s + γ_s v_{s+1}` (the last step uses
    /// `v_t[T−1]`). Equal to [`PgBootstrap::Rlax`] when λ = 1.
    SeedRl,
}

/// V-trace hyper-parameters. [`Default`] is rlax's: λ = 1, ρ̄ = 1, ρ̄_pg = 1, α = 1 (plain V-trace),
/// [`PgBootstrap::Rlax`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VTraceParams<F> {
    /// λ in the traces `c_s = λ min(1, ρ_s)` (IMPALA Remark 2).
    pub lambda: F,
    /// `ρ̄`: `ρ̄_s = min(ρ̄, ρ_s)` weighs each TD error (sets the fixed point).
    pub clip_rho_threshold: F,
    /// Clip of `ρ_s` in the policy-gradient advantage.
    pub clip_pg_rho_threshold: F,
    /// Leaky V-trace's α: every clipped ratio becomes `(1 − α) ρ + α min(·, ρ)`; α = 1 is V-trace,
    /// α = 0 per-decision importance sampling.
    pub alpha: F,
    /// Bootstrapping of the policy-gradient advantage.
    pub pg_bootstrap: PgBootstrap,
}

impl<F: Float> Default for VTraceParams<F> {
    fn default() -> Self {
        VTraceParams {
            lambda: F::one(),
            clip_rho_threshold: F::one(),
            clip_pg_rho_threshold: F::one(),
            alpha: F::one(),
            pg_bootstrap: PgBootstrap::Rlax,
        }
    }
}

/// Output buffers of [`vtrace_td_error_and_advantage_into`], each `[T]` (or `[T, B]`).
#[derive(Debug)]
pub struct VTraceOutMut<'a, F> {
    /// `v_s − V(x_s)`: V-trace errors (rlax's `errors`); targets are `errors + v_tm1`.
    pub errors: &'a mut [F],
    /// `ρ̄^pg_s (q_s − V(x_s))`.
    pub pg_advantage: &'a mut [F],
    /// `q_s`, the bootstrapped Q estimate used by the advantage.
    pub q_estimate: &'a mut [F],
}

/// Owned output of [`vtrace_td_error_and_advantage`].
#[derive(Debug, Clone, PartialEq)]
pub struct VTraceOutput<F> {
    /// `v_s − V(x_s)`.
    pub errors: Vec<F>,
    /// `ρ̄^pg_s (q_s − V(x_s))`.
    pub pg_advantage: Vec<F>,
    /// `q_s`.
    pub q_estimate: Vec<F>,
}

fn check<F>(v_tm1: &[F], v_t: &[F], r_t: &[F], discount_t: &[F], rho_tm1: &[F]) -> Result<usize> {
    let t = v_tm1.len();
    expect_len("v_t", v_t.len(), t)?;
    expect_len("r_t", r_t.len(), t)?;
    expect_len("discount_t", discount_t.len(), t)?;
    expect_len("rho_tm1", rho_tm1.len(), t)?;
    Ok(t)
}

/// V-trace errors `v_s − V(x_s)` of one trajectory, written into `out` (`[T]`; rlax `vtrace`,
/// and `leaky_vtrace` when `params.alpha < 1`):
///
/// `v_s − V(x_s) = ρ̄_s δ_s + γ_s c_s (v_{s+1} − V(x_{s+1}))`, `δ_s = r_s + γ_s V(x_{s+1}) − V(x_s)`,
/// `ρ̄_s = min(ρ̄, ρ_s)`, `c_s = λ min(1, ρ_s)` (IMPALA eq. 1 and Remark 2; SEED RL uses the same
/// targets). Leaky V-trace mixes each clipped ratio with the raw one:
/// `ρ̄_s = (1 − α) ρ_s + α min(ρ̄, ρ_s)`, `c_s = λ [(1 − α) ρ_s + α min(1, ρ_s)]`.
///
/// rlax alignment: `v_tm1` = `V(x_s)`, `v_t` = `V(x_{s+1})` (its last entry bootstraps), `r_t`,
/// `discount_t`, `rho_tm1` = `π(a_s|x_s)/μ(a_s|x_s)`, all `[T]`. Targets are `out + v_tm1`.
/// With π = μ (ρ = 1) and ρ̄ ≥ 1 the targets are the λ-returns of `v_t`.
pub fn vtrace_into<F: Float>(
    v_tm1: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    rho_tm1: &[F],
    params: &VTraceParams<F>,
    out: &mut [F],
) -> Result<()> {
    let t = check(v_tm1, v_t, r_t, discount_t, rho_tm1)?;
    expect_len("out", out.len(), t)?;
    vtrace_kernel(v_tm1, v_t, r_t, discount_t, rho_tm1, params, 1, out);
    Ok(())
}

/// Allocating form of [`vtrace_into`].
pub fn vtrace<F: Float>(
    v_tm1: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    rho_tm1: &[F],
    params: &VTraceParams<F>,
) -> Result<Vec<F>> {
    let mut out = vec![F::zero(); v_tm1.len()];
    vtrace_into(v_tm1, v_t, r_t, discount_t, rho_tm1, params, &mut out)?;
    Ok(out)
}

/// V-trace errors plus the policy-gradient advantage (rlax `vtrace_td_error_and_advantage` /
/// `leaky_vtrace_td_error_and_advantage`; IMPALA §4.2):
///
/// `q_s = r_s + γ_s b_{s+1}`, `pg_advantage_s = ρ̄^pg_s (q_s − V(x_s))`,
/// `ρ̄^pg_s = (1 − α) ρ_s + α min(ρ̄_pg, ρ_s)`, and the bootstrap `b_{s+1}` per
/// [`PgBootstrap`] (`λ v_{s+1} + (1 − λ) V(x_{s+1})` for rlax, `v_{s+1}` for seed_rl;
/// `v_t[T−1]` at the last step). Shapes as in [`vtrace_into`].
pub fn vtrace_td_error_and_advantage_into<F: Float>(
    v_tm1: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    rho_tm1: &[F],
    params: &VTraceParams<F>,
    out: VTraceOutMut<'_, F>,
) -> Result<()> {
    let t = check(v_tm1, v_t, r_t, discount_t, rho_tm1)?;
    expect_len("errors", out.errors.len(), t)?;
    expect_len("pg_advantage", out.pg_advantage.len(), t)?;
    expect_len("q_estimate", out.q_estimate.len(), t)?;
    vtrace_advantage_kernel(v_tm1, v_t, r_t, discount_t, rho_tm1, params, 1, out);
    Ok(())
}

/// Allocating form of [`vtrace_td_error_and_advantage_into`].
pub fn vtrace_td_error_and_advantage<F: Float>(
    v_tm1: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    rho_tm1: &[F],
    params: &VTraceParams<F>,
) -> Result<VTraceOutput<F>> {
    let n = v_tm1.len();
    let mut o = VTraceOutput {
        errors: vec![F::zero(); n],
        pg_advantage: vec![F::zero(); n],
        q_estimate: vec![F::zero(); n],
    };
    vtrace_td_error_and_advantage_into(
        v_tm1,
        v_t,
        r_t,
        discount_t,
        rho_tm1,
        params,
        VTraceOutMut {
            errors: &mut o.errors,
            pg_advantage: &mut o.pg_advantage,
            q_estimate: &mut o.q_estimate,
        },
    )?;
    Ok(o)
}

#[inline(always)]
fn mix<F: Float>(alpha: F, rho: F, clip: F) -> F {
    (F::one() - alpha) * rho + alpha * clip.min(rho)
}

/// `[T, B]` error kernel; shapes already checked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn vtrace_kernel<F: Float>(
    v_tm1: &[F],
    v_t: &[F],
    r: &[F],
    d: &[F],
    rho: &[F],
    p: &VTraceParams<F>,
    b: usize,
    out: &mut [F],
) {
    let t_len = v_tm1.len() / b;
    let (alpha, lambda, clip) = (p.alpha, p.lambda, p.clip_rho_threshold);
    let one = F::one();
    for t in (0..t_len).rev() {
        let s = t * b..(t + 1) * b;
        let (head, tail) = out.split_at_mut((t + 1) * b);
        let row = &mut head[t * b..];
        let rows = row
            .iter_mut()
            .zip(&v_tm1[s.clone()])
            .zip(&v_t[s.clone()])
            .zip(&r[s.clone()])
            .zip(&d[s.clone()])
            .zip(&rho[s]);
        if t + 1 == t_len {
            for (((((o, &vm), &vt), &r), &d), &rho) in rows {
                *o = mix(alpha, rho, clip) * (r + d * vt - vm);
            }
        } else {
            for ((((((o, &vm), &vt), &r), &d), &rho), &acc) in rows.zip(&tail[..b]) {
                let c = mix(alpha, rho, one) * lambda;
                *o = mix(alpha, rho, clip) * (r + d * vt - vm) + d * c * acc;
            }
        }
    }
}

/// `[T, B]` errors + advantage kernel; shapes already checked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn vtrace_advantage_kernel<F: Float>(
    v_tm1: &[F],
    v_t: &[F],
    r: &[F],
    d: &[F],
    rho: &[F],
    p: &VTraceParams<F>,
    b: usize,
    out: VTraceOutMut<'_, F>,
) {
    vtrace_kernel(v_tm1, v_t, r, d, rho, p, b, out.errors);
    let t_len = v_tm1.len() / b;
    if t_len == 0 {
        return;
    }
    let (alpha, lambda, clip_pg) = (p.alpha, p.lambda, p.clip_pg_rho_threshold);
    let one = F::one();
    let errors: &[F] = out.errors;
    // Bootstrap b_{s+1} into q_estimate, then q_s and the advantage in place.
    let last = (t_len - 1) * b;
    out.q_estimate[last..].copy_from_slice(&v_t[last..]);
    let (qe, next_err, next_v) = (&mut out.q_estimate[..last], &errors[b..], &v_tm1[b..]);
    match p.pg_bootstrap {
        PgBootstrap::Rlax => {
            for ((q, &e), &v) in qe.iter_mut().zip(next_err).zip(next_v) {
                *q = lambda * (e + v) + (one - lambda) * v;
            }
        }
        PgBootstrap::SeedRl => {
            for ((q, &e), &v) in qe.iter_mut().zip(next_err).zip(next_v) {
                *q = e + v;
            }
        }
    }
    for (((((q, a), &r), &d), &vm), &rho) in out
        .q_estimate
        .iter_mut()
        .zip(out.pg_advantage.iter_mut())
        .zip(r)
        .zip(d)
        .zip(v_tm1)
        .zip(rho)
    {
        *q = r + d * *q;
        *a = mix(alpha, rho, clip_pg) * (*q - vm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_by_hand() {
        // One step: error = min(1, 3)·(r + γ v_t − v_tm1) = 1·(1 + 0.5·2 − 1) = 1.
        let p = VTraceParams::default();
        let e = vtrace(&[1.0_f64], &[2.0], &[1.0], &[0.5], &[3.0], &p);
        assert!(matches!(e.as_deref(), Ok([x]) if (x - 1.0).abs() < 1e-12));
        // Leaky α = 0 is plain importance sampling: 3·1.
        let p = VTraceParams { alpha: 0.0, ..p };
        let e = vtrace(&[1.0_f64], &[2.0], &[1.0], &[0.5], &[3.0], &p);
        assert!(matches!(e.as_deref(), Ok([x]) if (x - 3.0).abs() < 1e-12));
    }
}
