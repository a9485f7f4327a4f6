//! The general off-policy return operator (Munos et al. 2016; ACER eq. 1.7) and its trace
//! coefficients c_s.

use crate::error::{Result, ReturnsError, check_actions, expect_len, leading_dim};
use num_traits::Float;

/// The trace coefficient `c_s` of the general off-policy operator (ACER eq. 1.7, from Munos et al.
/// 2016 "Safe and Efficient Off-Policy Reinforcement Learning"):
///
/// `RQ(x_t, a_t) = Q(x_t, a_t) + E_μ[ Σ_{s≥t} γ^{s−t} (Π_{i=t+1}^{s} c_i)
///                 (r_s + γ E_π Q(x_{s+1}, ·) − Q(x_s, a_s)) ]`
///
/// Each variant gives `c_s` from `π(a_s|x_s)` and `μ(a_s|x_s)`:
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TraceCoefficient<F> {
    /// Importance sampling: `c_s = π(a_s|x_s) / μ(a_s|x_s)` (unbounded variance).
    ImportanceSampling,
    /// Q^π(λ) (Harutyunyan et al. 2016): `c_s = λ` (safe only when π and μ are close).
    QLambda {
        /// λ.
        lambda: F,
    },
    /// Tree-backup TB(λ) (Precup et al. 2000): `c_s = λ π(a_s|x_s)`.
    TreeBackup {
        /// λ.
        lambda: F,
    },
    /// Retrace(λ) (Munos et al. 2016): `c_s = λ min(1, π(a_s|x_s) / μ(a_s|x_s))`.
    Retrace {
        /// λ.
        lambda: F,
    },
}

impl<F: Float> TraceCoefficient<F> {
    /// `c_s` for one step from the target and behaviour probabilities of the taken action.
    #[inline]
    pub fn coefficient(&self, pi_a: F, mu_a: F) -> F {
        match *self {
            TraceCoefficient::ImportanceSampling => pi_a / mu_a,
            TraceCoefficient::QLambda { lambda } => lambda,
            TraceCoefficient::TreeBackup { lambda } => lambda * pi_a,
            TraceCoefficient::Retrace { lambda } => F::one().min(pi_a / mu_a) * lambda,
        }
    }

    /// `c_t` for a trajectory: `pi_t` is `[T, A]`, `a_t` and `mu_t` (behaviour probability of the
    /// taken action) are `[T]`; writes `[T]` into `out`.
    pub fn coefficients_into(
        &self,
        pi_t: &[F],
        a_t: &[usize],
        mu_t: &[F],
        out: &mut [F],
    ) -> Result<()> {
        let t = a_t.len();
        expect_len("mu_t", mu_t.len(), t)?;
        expect_len("out", out.len(), t)?;
        if t == 0 {
            return expect_len("pi_t", pi_t.len(), 0);
        }
        let na = leading_dim("pi_t", pi_t.len(), t)?;
        check_actions("a_t", a_t, na)?;
        for (((o, &a), &mu), pi) in out.iter_mut().zip(a_t).zip(mu_t).zip(pi_t.chunks_exact(na)) {
            *o = self.coefficient(pi[a], mu);
        }
        Ok(())
    }
}

/// General off-policy returns from values, written into `out` (`[T]`; rlax
/// `general_off_policy_returns_from_q_and_v`):
///
/// `G_{T−1} = r_{T−1} + γ_{T−1} v_{T−1}`,
/// `G_t = r_t + γ_t (v_t − c_t q_t + c_t G_{t+1})`.
///
/// `q_t` (`[T−1]`): `Q(x_t, a_t)` of the actions μ took; `v_t` (`[T]`): `E_π Q(x_t, ·)`;
/// `r_t`, `discount_t` (`[T]`); `c_t` (`[T−1]`): trace coefficients (see [`TraceCoefficient`]).
/// Everything is rlax-aligned: `G_t` is the target for `Q(x_{t−1}, a_{t−1})`, i.e. `q_tm1`.
pub fn general_off_policy_returns_from_q_and_v_into<F: Float>(
    q_t: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    c_t: &[F],
    out: &mut [F],
) -> Result<()> {
    let t = v_t.len();
    if t == 0 {
        return Err(ReturnsError::Empty("v_t"));
    }
    expect_len("q_t", q_t.len(), t - 1)?;
    expect_len("r_t", r_t.len(), t)?;
    expect_len("discount_t", discount_t.len(), t)?;
    expect_len("c_t", c_t.len(), t - 1)?;
    expect_len("out", out.len(), t)?;
    q_and_v_kernel(q_t, v_t, r_t, discount_t, c_t, 1, out);
    Ok(())
}

/// Allocating form of [`general_off_policy_returns_from_q_and_v_into`].
pub fn general_off_policy_returns_from_q_and_v<F: Float>(
    q_t: &[F],
    v_t: &[F],
    r_t: &[F],
    discount_t: &[F],
    c_t: &[F],
) -> Result<Vec<F>> {
    let mut out = vec![F::zero(); v_t.len()];
    general_off_policy_returns_from_q_and_v_into(q_t, v_t, r_t, discount_t, c_t, &mut out)?;
    Ok(out)
}

/// `[T, B]` kernel (`q`, `c` are `[T−1, B]`); shapes already checked, T ≥ 1.
pub(crate) fn q_and_v_kernel<F: Float>(
    q: &[F],
    v: &[F],
    r: &[F],
    d: &[F],
    c: &[F],
    b: usize,
    out: &mut [F],
) {
    let t_len = v.len() / b;
    if t_len == 0 {
        return;
    }
    let last = (t_len - 1) * b;
    for (((o, &r), &d), &v) in out[last..]
        .iter_mut()
        .zip(&r[last..])
        .zip(&d[last..])
        .zip(&v[last..])
    {
        *o = r + d * v;
    }
    for t in (0..t_len - 1).rev() {
        let s = t * b..(t + 1) * b;
        let (head, tail) = out.split_at_mut((t + 1) * b);
        let (row, next) = (&mut head[t * b..], &tail[..b]);
        for ((((((o, &r), &d), &v), &q), &c), &g) in row
            .iter_mut()
            .zip(&r[s.clone()])
            .zip(&d[s.clone()])
            .zip(&v[s.clone()])
            .zip(&q[s.clone()])
            .zip(&c[s])
            .zip(next)
        {
            *o = r + d * (v - c * q + c * g);
        }
    }
}

/// General off-policy returns from action values (rlax
/// `general_off_policy_returns_from_action_values`), written into `out` (`[T]`):
/// [`general_off_policy_returns_from_q_and_v_into`] with `v_t = Σ_a π_t(a) q_t(a)`,
/// `q_t = q_t[a_t]`. `q_t`, `pi_t` are `[T, A]`; `a_t`, `r_t`, `discount_t`, `c_t` are `[T]`
/// (the last step's `q_t[a_t]` and `c_t` are not used).
pub fn general_off_policy_returns_from_action_values_into<F: Float>(
    q_t: &[F],
    a_t: &[usize],
    r_t: &[F],
    discount_t: &[F],
    c_t: &[F],
    pi_t: &[F],
    out: &mut [F],
) -> Result<()> {
    let (_, na) = check_action_values(q_t, a_t, r_t, discount_t, pi_t, 1)?;
    expect_len("c_t", c_t.len(), a_t.len())?;
    expect_len("out", out.len(), a_t.len())?;
    action_values_kernel(
        q_t,
        a_t,
        r_t,
        discount_t,
        pi_t,
        c_t,
        |_, c| c,
        1,
        na,
        None,
        out,
    );
    Ok(())
}

/// Allocating form of [`general_off_policy_returns_from_action_values_into`].
pub fn general_off_policy_returns_from_action_values<F: Float>(
    q_t: &[F],
    a_t: &[usize],
    r_t: &[F],
    discount_t: &[F],
    c_t: &[F],
    pi_t: &[F],
) -> Result<Vec<F>> {
    let mut out = vec![F::zero(); a_t.len()];
    general_off_policy_returns_from_action_values_into(
        q_t, a_t, r_t, discount_t, c_t, pi_t, &mut out,
    )?;
    Ok(out)
}

/// The general operator of ACER eq. 1.7 with the trace chosen by `trace`, written into `out`
/// (`[T]`): [`general_off_policy_returns_from_action_values_into`] with
/// `c_t = trace.coefficient(π_t(a_t), μ_t)`. `mu_t` (`[T]`) is the behaviour probability of the
/// taken action `a_t`.
#[allow(clippy::too_many_arguments)]
pub fn off_policy_returns_into<F: Float>(
    trace: TraceCoefficient<F>,
    q_t: &[F],
    a_t: &[usize],
    r_t: &[F],
    discount_t: &[F],
    pi_t: &[F],
    mu_t: &[F],
    out: &mut [F],
) -> Result<()> {
    let (_, na) = check_action_values(q_t, a_t, r_t, discount_t, pi_t, 1)?;
    expect_len("mu_t", mu_t.len(), a_t.len())?;
    expect_len("out", out.len(), a_t.len())?;
    action_values_kernel(
        q_t,
        a_t,
        r_t,
        discount_t,
        pi_t,
        mu_t,
        |pi_a, mu_a| trace.coefficient(pi_a, mu_a),
        1,
        na,
        None,
        out,
    );
    Ok(())
}

/// Allocating form of [`off_policy_returns_into`].
pub fn off_policy_returns<F: Float>(
    trace: TraceCoefficient<F>,
    q_t: &[F],
    a_t: &[usize],
    r_t: &[F],
    discount_t: &[F],
    pi_t: &[F],
    mu_t: &[F],
) -> Result<Vec<F>> {
    let mut out = vec![F::zero(); a_t.len()];
    off_policy_returns_into(trace, q_t, a_t, r_t, discount_t, pi_t, mu_t, &mut out)?;
    Ok(out)
}

/// Checks `[T, B, A]` action values against `[T, B]` actions/rewards/discounts; returns (T, A).
pub(crate) fn check_action_values<F>(
    q_t: &[F],
    a_t: &[usize],
    r_t: &[F],
    discount_t: &[F],
    pi_t: &[F],
    b: usize,
) -> Result<(usize, usize)> {
    let tb = a_t.len();
    if tb == 0 {
        return Err(ReturnsError::Empty("a_t"));
    }
    let t = leading_dim("a_t", tb, b)?;
    expect_len("r_t", r_t.len(), tb)?;
    expect_len("discount_t", discount_t.len(), tb)?;
    if q_t.is_empty() || q_t.len() % tb != 0 {
        return Err(ReturnsError::NotMultiple {
            name: "q_t",
            len: q_t.len(),
            inner: tb,
        });
    }
    let na = q_t.len() / tb;
    expect_len("pi_t", pi_t.len(), q_t.len())?;
    check_actions("a_t", a_t, na)?;
    Ok((t, na))
}

/// `[T, B, A]` kernel of the general operator from action values. The trace at each `(t, b)` is
/// `c_of(π_t(a_t), x[t, b])`, where `x` is `[T, B]` (the behaviour probability μ_t, or the trace
/// itself). With `errors = Some((q_tm1, a_tm1))` the output holds `G − q_tm1[a_tm1]` instead of
/// `G` (each row is converted once the row before it no longer needs it, so no scratch buffer).
/// Rows are walked with zipped iterators, the batch innermost.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn action_values_kernel<F: Float>(
    q_t: &[F],
    a_t: &[usize],
    r: &[F],
    d: &[F],
    pi_t: &[F],
    x: &[F],
    c_of: impl Fn(F, F) -> F,
    b: usize,
    na: usize,
    errors: Option<(&[F], &[usize])>,
    out: &mut [F],
) {
    let t_len = a_t.len() / b;
    if t_len == 0 {
        return;
    }
    #[inline(always)]
    fn expected_q<F: Float>(pi: &[F], q: &[F]) -> F {
        pi.iter()
            .zip(q)
            .fold(F::zero(), |acc, (&p, &q)| acc + p * q)
    }
    let to_error = |row_out: &mut [F], t: usize| {
        if let Some((q_tm1, a_tm1)) = errors {
            let qs = q_tm1[t * b * na..(t + 1) * b * na].chunks_exact(na);
            for ((o, q), &a) in row_out.iter_mut().zip(qs).zip(&a_tm1[t * b..(t + 1) * b]) {
                *o = *o - q[a];
            }
        }
    };
    let rows = |t: usize| (t * b..(t + 1) * b, t * b * na..(t + 1) * b * na);
    let (s, sa) = rows(t_len - 1);
    for (((o, (&r, &d)), pi), q) in out[s.clone()]
        .iter_mut()
        .zip(r[s.clone()].iter().zip(&d[s]))
        .zip(pi_t[sa.clone()].chunks_exact(na))
        .zip(q_t[sa].chunks_exact(na))
    {
        *o = r + d * expected_q(pi, q);
    }
    for t in (0..t_len - 1).rev() {
        let (s, sa) = rows(t);
        let (head, tail) = out.split_at_mut((t + 1) * b);
        let (row, next) = (&mut head[t * b..], &mut tail[..b]);
        for (((((o, &g), (&r, &d)), (&a, &x)), pi), q) in row
            .iter_mut()
            .zip(next.iter())
            .zip(r[s.clone()].iter().zip(&d[s.clone()]))
            .zip(a_t[s.clone()].iter().zip(&x[s]))
            .zip(pi_t[sa.clone()].chunks_exact(na))
            .zip(q_t[sa].chunks_exact(na))
        {
            let c = c_of(pi[a], x);
            *o = r + d * (expected_q(pi, q) - c * q[a] + c * g);
        }
        to_error(next, t + 1);
    }
    to_error(&mut out[..b], 0);
}
