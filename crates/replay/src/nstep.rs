//! n-step transitions for replay: `(s_t, a_t, Σ_{k<m} γ^k r_{t+k}, γ^m·(1 − terminated), s_{t+m})`
//! with `m = n`, or fewer steps at the end of an episode (Sutton & Barto §7.1; Hessel et al. 2018).
//! A time-limit truncation is not a termination: the target still bootstraps from the final
//! observation with discount `γ^m`.

use std::collections::VecDeque;

/// One transition ready for replay.
#[derive(Clone, Debug, PartialEq)]
pub struct NStepTransition {
    pub obs: Vec<f32>,
    pub action: usize,
    pub reward: f32,
    /// `γ^m` when bootstrapping, 0 after a termination.
    pub discount: f32,
    pub next_obs: Vec<f32>,
}

/// Accumulates one environment's steps into n-step transitions.
#[derive(Clone, Debug)]
pub struct NStepBuffer {
    n: usize,
    gamma: f32,
    pending: VecDeque<(Vec<f32>, usize, f32)>,
}

impl NStepBuffer {
    /// `n ≥ 1` steps with discount `gamma`.
    pub fn new(n: usize, gamma: f32) -> Self {
        NStepBuffer {
            n: n.max(1),
            gamma,
            pending: VecDeque::with_capacity(n.max(1)),
        }
    }

    fn emit_front(&mut self, terminated: bool, next_obs: &[f32], out: &mut Vec<NStepTransition>) {
        let mut ret = 0.0f32;
        let mut g = 1.0f32;
        for (_, _, r) in &self.pending {
            ret += g * r;
            g *= self.gamma;
        }
        if let Some((obs, action, _)) = self.pending.pop_front() {
            out.push(NStepTransition {
                obs,
                action,
                reward: ret,
                discount: if terminated { 0.0 } else { g },
                next_obs: next_obs.to_vec(),
            });
        }
    }

    /// Records `(s_t, a_t, r_t)` followed by `next_obs` (the true last observation when the
    /// episode ended). Appends every transition that became complete to `out`.
    #[allow(clippy::too_many_arguments)] // one env step's fields, as the env hands them over
    pub fn push(
        &mut self,
        obs: &[f32],
        action: usize,
        reward: f32,
        next_obs: &[f32],
        terminated: bool,
        truncated: bool,
        out: &mut Vec<NStepTransition>,
    ) {
        self.pending.push_back((obs.to_vec(), action, reward));
        if terminated || truncated {
            while !self.pending.is_empty() {
                self.emit_front(terminated, next_obs, out);
            }
        } else if self.pending.len() == self.n {
            self.emit_front(false, next_obs, out);
        }
    }

    /// Drops steps that never completed (e.g. on resume).
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// The steps waiting for their n-step return, oldest first: `(obs, action, reward)`
    /// (fewer than `n`; empty for `n = 1`). For exact resume.
    pub fn pending(&self) -> impl Iterator<Item = (&[f32], usize, f32)> + '_ {
        self.pending.iter().map(|(o, a, r)| (o.as_slice(), *a, *r))
    }

    /// Replaces the waiting steps with [`Self::pending`]'s output.
    pub fn set_pending(&mut self, steps: impl IntoIterator<Item = (Vec<f32>, usize, f32)>) {
        self.pending = steps.into_iter().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Naive reference: from each start t, sum up to n rewards inside the episode.
    fn reference(rewards: &[f32], n: usize, gamma: f32, terminated: bool) -> Vec<(f32, f32)> {
        let t_max = rewards.len();
        (0..t_max)
            .map(|t| {
                let end = (t + n).min(t_max);
                let ret: f32 = (t..end)
                    .map(|k| gamma.powi((k - t) as i32) * rewards[k])
                    .sum();
                let m = (end - t) as i32;
                let disc = if end == t_max && terminated {
                    0.0
                } else {
                    gamma.powi(m)
                };
                (ret, disc)
            })
            .collect()
    }

    proptest! {
        #[test]
        fn matches_the_definition(
            rewards in proptest::collection::vec(-5.0f32..5.0, 1..30),
            n in 1usize..6,
            gamma in 0.0f32..1.0,
            terminated in any::<bool>(),
        ) {
            let mut buf = NStepBuffer::new(n, gamma);
            let mut out = Vec::new();
            let last = rewards.len() - 1;
            for (t, r) in rewards.iter().enumerate() {
                let obs = [t as f32];
                let next = [(t + 1) as f32];
                let done = t == last;
                buf.push(&obs, t % 3, *r, &next, done && terminated, done && !terminated, &mut out);
            }
            let want = reference(&rewards, n, gamma, terminated);
            prop_assert_eq!(out.len(), want.len());
            for (t, (tr, (ret, disc))) in out.iter().zip(want).enumerate() {
                prop_assert_eq!(tr.obs[0] as usize, t);
                prop_assert_eq!(tr.action, t % 3);
                prop_assert!((tr.reward - ret).abs() <= 1e-4 * (1.0 + ret.abs()));
                prop_assert!((tr.discount - disc).abs() <= 1e-6);
                let next = (t + n).min(rewards.len());
                prop_assert_eq!(tr.next_obs[0] as usize, next);
            }
        }
    }

    #[test]
    fn one_step_is_plain_td() {
        let mut buf = NStepBuffer::new(1, 0.9);
        let mut out = Vec::new();
        buf.push(&[0.0], 1, 2.0, &[1.0], false, false, &mut out);
        assert_eq!(out.len(), 1);
        assert!((out[0].discount - 0.9).abs() < 1e-7);
        buf.push(&[1.0], 0, 3.0, &[2.0], true, false, &mut out);
        assert!(out[1].discount.abs() < 1e-7 && (out[1].reward - 3.0).abs() < 1e-7);
    }
}
