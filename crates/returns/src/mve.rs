//! Model-based value expansion targets with learned termination (MVE, Feinberg et al. 2018, as
//! written in STEVE, Buckman et al. 2018, eqs. 2.6–2.7).

use crate::error::{Result, expect_len};
use num_traits::Float;

/// The MVE target with horizon `H = r_hat.len()`:
///
/// `T^MVE_H(r, s') = r + Σ_{i=1}^{H} D^i γ^i r̂_i + D^{H+1} γ^{H+1} Q̂(ŝ_{H+1}, μ(ŝ_{H+1}))`
/// (STEVE eqs. 2.6–2.7).
///
/// Convention (states numbered from the real next state): `ŝ_1 = s'` is the real next state and
/// `ŝ_2 … ŝ_{H+1}` are imagined by the model under μ; `r` is the real reward of the transition
/// into `s'`; `r̂_i` (`r_hat[i−1]`, `[H]`) is the predicted reward of the imagined transition
/// `ŝ_i → ŝ_{i+1}`; `termination_prob[j−1]` (`[H+1]`) is `d_j`, the (learned) probability that
/// `ŝ_j` is terminal — for the real `s'` pass the environment's flag (1 = terminated; a time-limit
/// truncation is 0); `q_hat` is `Q̂(ŝ_{H+1}, μ(ŝ_{H+1}))`. Then `D^i = Π_{j=1}^{i} (1 − d_j)` is
/// the probability that the rollout is still alive at `ŝ_i`, so a reward or value is counted only
/// if every state up to and including the one it is collected from is non-terminal. With `H = 0`
/// this is the TD target `r + γ (1 − d_1) Q̂(s', μ(s'))` (STEVE eq. 2.2).
pub fn mve_target<F: Float>(
    r: F,
    gamma: F,
    r_hat: &[F],
    termination_prob: &[F],
    q_hat: F,
) -> Result<F> {
    let h = r_hat.len();
    expect_len("termination_prob", termination_prob.len(), h + 1)?;
    let one = F::one();
    let (mut target, mut alive_discount) = (r, one);
    for (&rh, &d) in r_hat.iter().zip(termination_prob) {
        alive_discount = alive_discount * gamma * (one - d);
        target = target + alive_discount * rh;
    }
    alive_discount = alive_discount * gamma * (one - termination_prob[h]);
    Ok(target + alive_discount * q_hat)
}

/// The MVE targets of every horizon `i = 0 … H` at once, written into `out` (`[H+1]`), as STEVE
/// needs them: `out[i] = T^MVE_i = r + Σ_{k=1}^{i} D^k γ^k r̂_k + D^{i+1} γ^{i+1} q_hat[i]`, where
/// `q_hat[i]` (`[H+1]`) is `Q̂(ŝ_{i+1}, μ(ŝ_{i+1}))`. Same convention as [`mve_target`];
/// O(H) with a running prefix sum.
pub fn mve_targets_all_horizons_into<F: Float>(
    r: F,
    gamma: F,
    r_hat: &[F],
    termination_prob: &[F],
    q_hat: &[F],
    out: &mut [F],
) -> Result<()> {
    let h = r_hat.len();
    expect_len("termination_prob", termination_prob.len(), h + 1)?;
    expect_len("q_hat", q_hat.len(), h + 1)?;
    expect_len("out", out.len(), h + 1)?;
    let one = F::one();
    let (mut prefix, mut alive_discount) = (r, one);
    for i in 0..=h {
        // D^{i+1} γ^{i+1}
        let next = alive_discount * gamma * (one - termination_prob[i]);
        out[i] = prefix + next * q_hat[i];
        if i < h {
            prefix = prefix + next * r_hat[i];
        }
        alive_discount = next;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizon_one_by_hand() {
        // r + (1 − d1) γ r̂1 + (1 − d1)(1 − d2) γ² Q̂ = 1 + 0.5·0.9·2 + 0.5·0.75·0.81·10.
        let t = mve_target(1.0_f64, 0.9, &[2.0], &[0.5, 0.25], 10.0);
        assert!(matches!(t, Ok(x) if (x - (1.0 + 0.9 + 3.0375)).abs() < 1e-12));
        // A terminal real transition (d1 = 1) leaves only the real reward.
        assert!(
            matches!(mve_target(1.0_f64, 0.9, &[2.0], &[1.0, 0.0], 10.0), Ok(x) if (x - 1.0).abs() < 1e-12)
        );
    }
}
