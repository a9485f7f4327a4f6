//! GAE over the iteration's time-major `[T, N]` segment, bootstrapping through time-limit
//! truncation and never through termination.

use eirl_envs::EpisodeEnd;
use eirl_returns::batched::truncated_gae_into;

use crate::GailError;

/// One iteration's rollout, time-major: entry `(t, i)` at `t·N + i`.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// `[T, N]` rewards `r_t = r(s_t, a_t)` (from the discriminator).
    pub r_t: &'a [f32],
    /// `[T, N]`: how each transition ended its episode (terminated: no bootstrap; truncated by
    /// the time limit: bootstrap from the final observation).
    pub ends: &'a [EpisodeEnd],
    /// `[T + 1, N]`: `V(s_0) … V(s_{T−1})`, then `V(s_T)` of the observation after the segment.
    /// After an auto-reset, row `t + 1` is the next episode's first state and is not used for the
    /// ending transition.
    pub values: &'a [f32],
    /// `[T, N]`: `V(s_final)` of the observation the episode ended in, read where the episode
    /// was truncated; ignored elsewhere.
    pub final_values: &'a [f32],
    /// N, the number of envs.
    pub num_envs: usize,
}

/// `(Â, R̂ = Â + V)` for a segment, each `[T, N]`.
///
/// GAE (Schulman et al. 2016 eq. 16): `Â_t = δ_t + γ_t λ Â_{t+1}`, `δ_t = r_t + γ_t V(s_{t+1}) −
/// V(s_t)`, computed by `eirl_returns::batched::truncated_gae_into` with the episode ends folded
/// in at the env → estimator boundary (rlax's `discount_t = 0` convention):
/// * terminated: `γ_t = 0` — no value after a terminal state;
/// * truncated: `γ_t = 0` and `r_t ← r_t + γ V(s_final)` — the cut episode bootstraps from its
///   true last observation, while neither δ nor Â leaks into the next episode;
/// * otherwise `γ_t = γ`.
pub fn segment_advantages(
    seg: &Segment<'_>,
    gamma: f32,
    lambda: f32,
) -> Result<(Vec<f32>, Vec<f32>), GailError> {
    let n = seg.num_envs;
    let len = seg.r_t.len();
    if n == 0
        || len % n != 0
        || seg.ends.len() != len
        || seg.final_values.len() != len
        || seg.values.len() != len + n
    {
        return Err(GailError::Shape(format!(
            "segment shapes: {len} rewards over {n} envs, {} episode ends, {} final values, {} values",
            seg.ends.len(),
            seg.final_values.len(),
            seg.values.len()
        )));
    }
    let mut r = Vec::with_capacity(len);
    let mut discount = Vec::with_capacity(len);
    for k in 0..len {
        match seg.ends[k] {
            EpisodeEnd::Terminated => {
                r.push(seg.r_t[k]);
                discount.push(0.0);
            }
            EpisodeEnd::Truncated => {
                r.push(seg.r_t[k] + gamma * seg.final_values[k]);
                discount.push(0.0);
            }
            EpisodeEnd::Continues => {
                r.push(seg.r_t[k]);
                discount.push(gamma);
            }
        }
    }
    let mut adv = vec![0.0; len];
    truncated_gae_into(&r, &discount, lambda, seg.values, n, &mut adv)?;
    let ret = adv.iter().zip(seg.values).map(|(a, v)| a + v).collect();
    Ok((adv, ret))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper's definition summed directly for one env: Â_t = Σ_k (γλ)^k δ_{t+k} within the
    /// episode, δ with the bootstrap rules of [`segment_advantages`].
    fn naive(
        r: &[f32],
        term: &[bool],
        trunc: &[bool],
        v: &[f32],
        vf: &[f32],
        g: f32,
        l: f32,
    ) -> Vec<f32> {
        let t_len = r.len();
        let delta: Vec<f32> = (0..t_len)
            .map(|t| {
                let next = if term[t] {
                    0.0
                } else if trunc[t] {
                    vf[t]
                } else {
                    v[t + 1]
                };
                r[t] + g * next - v[t]
            })
            .collect();
        (0..t_len)
            .map(|t| {
                let mut acc = 0.0;
                let mut w = 1.0;
                for k in t..t_len {
                    acc += w * delta[k];
                    if term[k] || trunc[k] {
                        break;
                    }
                    w *= g * l;
                }
                acc
            })
            .collect()
    }

    #[test]
    fn matches_the_definition_across_terminations_and_truncations() -> Result<(), GailError> {
        // Two envs, five steps; env 0 is truncated at t=1 and terminates at t=3, env 1 runs on.
        let (g, l) = (0.9, 0.8);
        let r0 = [1.0, 0.5, -0.2, 2.0, 0.3];
        let r1 = [0.1, 0.2, 0.3, 0.4, 0.5];
        let term0 = [false, false, false, true, false];
        let trunc0 = [false, true, false, false, false];
        let v0 = [0.3, 0.1, 5.0, 0.7, 9.0, 0.4];
        let v1 = [0.2, 0.4, 0.6, 0.8, 1.0, 1.2];
        let vf0 = [0.0, 3.0, 0.0, 77.0, 0.0];
        let interleave = |a: &[f32], b: &[f32]| -> Vec<f32> {
            a.iter().zip(b).flat_map(|(x, y)| [*x, *y]).collect()
        };
        let no = [false; 5];
        let ends: Vec<EpisodeEnd> = (0..5)
            .flat_map(|t| {
                [
                    EpisodeEnd::from_flags(term0[t], trunc0[t]),
                    EpisodeEnd::Continues,
                ]
            })
            .collect();
        let seg = Segment {
            r_t: &interleave(&r0, &r1),
            ends: &ends,
            values: &interleave(&v0, &v1),
            final_values: &interleave(&vf0, &[0.0; 5]),
            num_envs: 2,
        };
        let (adv, ret) = segment_advantages(&seg, g, l)?;
        let e0 = naive(&r0, &term0, &trunc0, &v0, &vf0, g, l);
        let e1 = naive(&r1, &no, &no, &v1, &[0.0; 5], g, l);
        for t in 0..5 {
            assert!((adv[2 * t] - e0[t]).abs() < 1e-5, "env 0, t={t}");
            assert!((adv[2 * t + 1] - e1[t]).abs() < 1e-5, "env 1, t={t}");
            assert!((ret[2 * t] - (e0[t] + v0[t])).abs() < 1e-5);
        }
        // Truncation bootstraps from V(s_final) = 3, not from the next episode's V = 5.
        assert!((adv[2] - (0.5 + g * 3.0 - 0.1)).abs() < 1e-5);
        // Termination ignores the final value (77) entirely.
        assert!((adv[6] - (2.0 - 0.7)).abs() < 1e-5);
        Ok(())
    }

    #[test]
    fn rejects_inconsistent_shapes() {
        let seg = Segment {
            r_t: &[0.0; 4],
            ends: &[EpisodeEnd::Continues; 4],
            values: &[0.0; 5],
            final_values: &[0.0; 4],
            num_envs: 2,
        };
        assert!(segment_advantages(&seg, 0.9, 0.9).is_err());
    }
}
