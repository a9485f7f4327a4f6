//! SV-RL's change to DQN (Yang et al. 2020, Algorithm 1; official `sv_rl/dqn_learn.py`): before
//! the bootstrap target is formed, the target network's next-state Q matrix
//! `Q⁻(s'_i, a), i < B, a < |A|` is masked at random and completed by matrix estimation,
//!
//! `Q̂ = ME(P_Ω(Q⁻)),  Ω ~ Bernoulli(p)^{B×|A|}`,  `y_i = r_i + γ max_a Q̂(s'_i, a)`
//!
//! (Double DQN: `y_i = r_i + γ Q̂(s'_i, argmax_a Q(s'_i, a))`, the online argmax on raw values).
//! A fresh mask every gradient step, on every row, terminal ones included. Nothing else sees Q̂:
//! acting, `Q(s, a)` and the online argmax use the networks' raw outputs.

use std::cell::RefCell;
use std::rc::Rc;

use eirl_dqn::{DqnError, NextQTransform};
use eirl_matrix_estimation::{
    Completion, Estimator, Mask, Matrix, MatrixError, approximate_rank, complete_scaled,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::MaskSchedule;

/// Re-estimates `next_q: [batch, num_actions]` (row-major) in place from its entries on `mask`
/// (`true` = observed), as the official `softimp` wrapper: scale by the global min/max onto
/// [−1, 1] (+1e-7 on the half range), complete, clip to [−1, 1], scale back
/// ([`complete_scaled`]). Soft-impute keeps the observed entries (up to the round trip's
/// rounding, far below f32 precision) and replaces the masked ones; USVT replaces all.
///
/// # Errors
/// A mask of another shape, a non-finite entry, or a failed SVD.
pub fn complete_target(
    next_q: &mut [f32],
    batch: usize,
    num_actions: usize,
    mask: &Mask,
    estimator: &Estimator,
) -> Result<Completion, MatrixError> {
    let q = Matrix::from_f32(batch, num_actions, next_q)?;
    let completion = complete_scaled(&q, mask, estimator)?;
    for (out, &v) in next_q.iter_mut().zip(completion.matrix.as_slice()) {
        *out = v as f32;
    }
    Ok(completion)
}

/// Sums over the gradient steps of one logging interval (or of the whole run).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TargetStats {
    /// Gradient steps whose target went through SV-RL.
    pub updates: u64,
    /// Σ p.
    pub p_sum: f64,
    /// Σ rank of the completion (0 when nothing was estimated, e.g. p = 1).
    pub rank_sum: f64,
    /// Σ estimator iterations (soft-impute's SVD iterations; 1 per USVT call; 0 when idle).
    pub iterations_sum: f64,
    /// Entries replaced by an estimate (soft-impute: the masked ones; USVT: all, when it ran).
    pub reestimated: u64,
    /// Entries of all target matrices.
    pub entries: u64,
    /// Σ approximate rank (99% of Σσ², the paper's measure) of the target network's raw
    /// next-state Q matrix, before any completion.
    pub target_rank_sum: f64,
}

/// The energy share of the logged `target_rank` (the paper's approximate rank).
pub const TARGET_RANK_ENERGY: f64 = 0.99;

impl TargetStats {
    fn add(
        &mut self,
        p: f64,
        target_rank: usize,
        completion: Option<&Completion>,
        reestimated: usize,
        entries: usize,
    ) {
        self.updates += 1;
        self.target_rank_sum += target_rank as f64;
        self.p_sum += p;
        if let Some(c) = completion {
            self.rank_sum += c.rank as f64;
            self.iterations_sum += c.iterations as f64;
        }
        self.reestimated += reestimated as u64;
        self.entries += entries as u64;
    }

    /// The agent scalars: `mask_p` (mean p), `estimate_rank` (mean rank of the completed
    /// matrix), `estimate_iterations` (mean estimator iterations), `reestimated_fraction`
    /// (entries re-estimated / entries) and `target_rank` (mean approximate rank of the raw
    /// target matrices, [`TARGET_RANK_ENERGY`]); `None` before any update.
    pub fn scalars(&self) -> Option<[(&'static str, f64); 5]> {
        if self.updates == 0 {
            return None;
        }
        let k = self.updates as f64;
        Some([
            ("mask_p", self.p_sum / k),
            ("estimate_rank", self.rank_sum / k),
            ("estimate_iterations", self.iterations_sum / k),
            (
                "reestimated_fraction",
                self.reestimated as f64 / self.entries.max(1) as f64,
            ),
            ("target_rank", self.target_rank_sum / k),
        ])
    }
}

/// What the target transform shares with the agent wrapping DQN.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Shared {
    /// Gradient steps so far (the schedule's k; set from DQN's counter on restore).
    pub updates: u64,
    /// Since the last logged scalars.
    pub interval: TargetStats,
    /// Since the agent was built (or restored).
    pub total: TargetStats,
}

/// The [`NextQTransform`] SV-RL installs in DQN: each call is one gradient step k, which draws
/// a fresh mask `Ω ~ Bernoulli(p_k)` and replaces the matrix by [`complete_target`].
pub struct TargetCompletion {
    schedule: MaskSchedule,
    estimator: Estimator,
    rng: ChaCha8Rng,
    shared: Rc<RefCell<Shared>>,
}

impl TargetCompletion {
    /// A transform with its own mask RNG, seeded with `seed`.
    pub fn new(schedule: MaskSchedule, estimator: Estimator, seed: u64) -> Self {
        Self::with_shared(schedule, estimator, seed, Rc::default())
    }

    pub(crate) fn with_shared(
        schedule: MaskSchedule,
        estimator: Estimator,
        seed: u64,
        shared: Rc<RefCell<Shared>>,
    ) -> Self {
        TargetCompletion {
            schedule,
            estimator,
            rng: ChaCha8Rng::seed_from_u64(seed),
            shared,
        }
    }

    /// The statistics since the transform was made.
    pub fn stats(&self) -> TargetStats {
        self.shared.borrow().total
    }

    /// p of the next call.
    pub fn next_p(&self) -> f64 {
        self.schedule.p(self.shared.borrow().updates + 1)
    }

    fn complete(&mut self, next_q: &mut [f32], b: usize, a: usize) -> Result<(), MatrixError> {
        let k = self.shared.borrow().updates + 1;
        let p = self.schedule.p(k);
        let entries = b * a;
        let target_rank = approximate_rank(&Matrix::from_f32(b, a, next_q)?, TARGET_RANK_ENERGY)?;
        // p = 1: nothing is masked and the official SoftImpute returns its input unchanged
        // (after 100 idle iterations); skip it.
        let (completion, reestimated) = if p >= 1.0 {
            (None, 0)
        } else {
            let mask = Mask::bernoulli(b, a, p, &mut self.rng)?;
            let observed = mask.observed_count();
            let completion = complete_target(next_q, b, a, &mask, &self.estimator)?;
            let reestimated = match (&self.estimator, observed) {
                (_, 0) => 0,
                (_, o) if o == entries => 0,
                (Estimator::SoftImpute(_), o) => entries - o,
                (Estimator::Usvt(_), _) => entries,
            };
            (Some(completion), reestimated)
        };
        let mut shared = self.shared.borrow_mut();
        shared.updates = k;
        shared
            .interval
            .add(p, target_rank, completion.as_ref(), reestimated, entries);
        shared
            .total
            .add(p, target_rank, completion.as_ref(), reestimated, entries);
        Ok(())
    }
}

impl NextQTransform for TargetCompletion {
    fn apply(
        &mut self,
        next_q: &mut [f32],
        batch: usize,
        num_actions: usize,
    ) -> Result<(), DqnError> {
        self.complete(next_q, batch, num_actions)
            .map_err(|e| DqnError::NextQTransform(Box::new(e)))
    }
}
