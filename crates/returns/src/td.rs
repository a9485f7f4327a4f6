//! One-step targets: TD(0), Q-learning and Double Q-learning, with termination masks.

use crate::error::{Result, ReturnsError, expect_len};
use num_traits::Float;

/// The per-step discount of a transition that terminates with probability `terminated`:
/// `γ (1 − d)` (STEVE eq. 2.2). Pass `d = 1` for a terminal transition, `d = 0` otherwise, or a
/// learned termination probability. A time-limit truncation is *not* a termination: use `d = 0`.
#[inline]
pub fn continuation_discount<F: Float>(gamma: F, terminated: F) -> F {
    gamma * (F::one() - terminated)
}

/// TD(0) target `r_t + γ_t v_t` (Sutton 1988). With `γ_t = γ(1 − d)` from
/// [`continuation_discount`] and `v_t = Q(s', μ(s'))` this is STEVE's eq. 2.2 target
/// `r + γ(1 − d) Q(s', μ(s'))`.
#[inline]
pub fn td_target<F: Float>(r_t: F, discount_t: F, v_t: F) -> F {
    r_t + discount_t * v_t
}

/// TD(0) targets for many transitions at once (any shape, elementwise): `out = r_t + γ_t v_t`.
pub fn td_targets_into<F: Float>(
    r_t: &[F],
    discount_t: &[F],
    v_t: &[F],
    out: &mut [F],
) -> Result<()> {
    let n = r_t.len();
    expect_len("discount_t", discount_t.len(), n)?;
    expect_len("v_t", v_t.len(), n)?;
    expect_len("out", out.len(), n)?;
    for (((o, &r), &d), &v) in out.iter_mut().zip(r_t).zip(discount_t).zip(v_t) {
        *o = r + d * v;
    }
    Ok(())
}

/// TD(0) error `r_t + γ_t v_t − v_tm1` (rlax `td_learning`).
#[inline]
pub fn td_learning<F: Float>(v_tm1: F, r_t: F, discount_t: F, v_t: F) -> F {
    td_target(r_t, discount_t, v_t) - v_tm1
}

fn check_action<F>(q_tm1: &[F], a_tm1: usize) -> Result<F>
where
    F: Copy,
{
    q_tm1
        .get(a_tm1)
        .copied()
        .ok_or(ReturnsError::ActionOutOfRange {
            name: "a_tm1",
            index: 0,
            action: a_tm1,
            num_actions: q_tm1.len(),
        })
}

/// Index of the first maximum (numpy/jax `argmax` tie-breaking); `None` when empty.
/// NaN never compares greater, so it is only chosen when it comes first.
pub fn argmax<F: Float>(x: &[F]) -> Option<usize> {
    let (first, rest) = x.split_first()?;
    let mut best = (0, *first);
    for (i, &v) in rest.iter().enumerate() {
        if v > best.1 {
            best = (i + 1, v);
        }
    }
    Some(best.0)
}

/// Q-learning target `r_t + γ_t max_a q_t[a]` (Watkins 1989). `q_t` must not be empty.
pub fn q_learning_target<F: Float>(r_t: F, discount_t: F, q_t: &[F]) -> Result<F> {
    let a = argmax(q_t).ok_or(ReturnsError::Empty("q_t"))?;
    Ok(td_target(r_t, discount_t, q_t[a]))
}

/// Q-learning error `r_t + γ_t max_a q_t[a] − q_tm1[a_tm1]` (rlax `q_learning`).
pub fn q_learning<F: Float>(
    q_tm1: &[F],
    a_tm1: usize,
    r_t: F,
    discount_t: F,
    q_t: &[F],
) -> Result<F> {
    let q = check_action(q_tm1, a_tm1)?;
    Ok(q_learning_target(r_t, discount_t, q_t)? - q)
}

/// Double Q-learning target `r_t + γ_t q_t_value[argmax_a q_t_selector[a]]` (van Hasselt 2010;
/// the DQN form of van Hasselt et al. 2016 uses the online network as selector and the target
/// network as value). Ties go to the first maximum.
pub fn double_q_learning_target<F: Float>(
    r_t: F,
    discount_t: F,
    q_t_value: &[F],
    q_t_selector: &[F],
) -> Result<F> {
    expect_len("q_t_selector", q_t_selector.len(), q_t_value.len())?;
    let a = argmax(q_t_selector).ok_or(ReturnsError::Empty("q_t_selector"))?;
    Ok(td_target(r_t, discount_t, q_t_value[a]))
}

/// Double Q-learning error: [`double_q_learning_target`] − `q_tm1[a_tm1]` (rlax `double_q_learning`).
pub fn double_q_learning<F: Float>(
    q_tm1: &[F],
    a_tm1: usize,
    r_t: F,
    discount_t: F,
    q_t_value: &[F],
    q_t_selector: &[F],
) -> Result<F> {
    let q = check_action(q_tm1, a_tm1)?;
    Ok(double_q_learning_target(r_t, discount_t, q_t_value, q_t_selector)? - q)
}

/// Q-learning targets for a minibatch, the DQN target (Mnih et al. 2015):
/// `out_i = r_t[i] + discount_t[i] · q_t_value[i, a*_i]` with `a*_i = argmax_a q_t_value[i, a]`,
/// or, given `q_t_selector`, `a*_i = argmax_a q_t_selector[i, a]` (Double DQN, van Hasselt et
/// al. 2016 eq. 4: the online network selects, the target network evaluates). Q-value slices
/// are `[B, A]` row-major; `discount_t` already holds `γⁿ (1 − terminated)`. Ties go to the
/// first maximum.
pub fn q_learning_targets_into<F: Float>(
    r_t: &[F],
    discount_t: &[F],
    q_t_value: &[F],
    q_t_selector: Option<&[F]>,
    num_actions: usize,
    out: &mut [F],
) -> Result<()> {
    let b = r_t.len();
    if num_actions == 0 {
        return Err(ReturnsError::Empty("q_t_value"));
    }
    expect_len("discount_t", discount_t.len(), b)?;
    expect_len("q_t_value", q_t_value.len(), b * num_actions)?;
    if let Some(sel) = q_t_selector {
        expect_len("q_t_selector", sel.len(), b * num_actions)?;
    }
    expect_len("out", out.len(), b)?;
    for (i, o) in out.iter_mut().enumerate() {
        let rows = i * num_actions..(i + 1) * num_actions;
        let value = &q_t_value[rows.clone()];
        let a = match q_t_selector {
            Some(sel) => argmax(&sel[rows]),
            None => argmax(value),
        }
        .unwrap_or(0);
        *o = td_target(r_t[i], discount_t[i], value[a]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_errors_by_hand() {
        assert!((td_target(1.0, 0.5, 4.0) - 3.0_f64).abs() < 1e-12);
        assert!((continuation_discount(0.99, 1.0_f64)).abs() < 1e-12);
        assert!((td_learning(1.0, 1.0, 0.5, 4.0) - 2.0_f64).abs() < 1e-12);
        // Ties go to the first maximum, like numpy.
        assert_eq!(argmax(&[1.0, 3.0, 3.0_f64]), Some(1));
        assert_eq!(argmax::<f64>(&[]), None);
        let q = q_learning(&[0.0, 1.0], 1, 1.0, 0.5, &[2.0, 4.0_f64]);
        assert!(matches!(q, Ok(x) if (x - 2.0).abs() < 1e-12));
        // Double Q: the selector picks action 0, the value network scores it.
        let dq = double_q_learning(&[0.0, 1.0], 0, 1.0, 0.5, &[2.0, 4.0_f64], &[5.0, 1.0]);
        assert!(matches!(dq, Ok(x) if (x - 2.0).abs() < 1e-12));
    }

    #[test]
    fn batched_targets_match_the_single_ones() -> Result<()> {
        let next_target = [1.0, 5.0, 2.0, -1.0_f32];
        let next_online = [3.0, 0.0, 0.0, 4.0_f32];
        let mut y = [0.0_f32; 2];
        q_learning_targets_into(&[1.0, 0.5], &[0.9, 0.0], &next_target, None, 2, &mut y)?;
        assert!((y[0] - (1.0 + 0.9 * 5.0)).abs() < 1e-6 && (y[1] - 0.5).abs() < 1e-6);
        let sel = Some(&next_online[..]);
        q_learning_targets_into(&[1.0, 0.5], &[0.9, 0.5], &next_target, sel, 2, &mut y)?;
        assert!((y[0] - (1.0 + 0.9 * 1.0)).abs() < 1e-6);
        assert!((y[1] - (0.5 - 0.5)).abs() < 1e-6);
        for (i, (r, d)) in [(1.0, 0.9), (0.5, 0.5)].into_iter().enumerate() {
            let row = &next_target[2 * i..2 * i + 2];
            let one = double_q_learning_target(r, d, row, &next_online[2 * i..2 * i + 2])?;
            assert!((y[i] - one).abs() < 1e-7);
        }
        // Shapes are checked.
        assert!(q_learning_targets_into(&[1.0], &[0.9], &next_target, None, 2, &mut y).is_err());
        Ok(())
    }
}
