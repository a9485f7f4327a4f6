//! Proportional prioritized experience replay (Schaul et al. 2016, "Prioritized Experience
//! Replay", §3.3 and Algorithm 1).

use rand::Rng;

use crate::batch::{Transition, TransitionBatch};
use crate::error::ReplayError;
use crate::snapshot::PrioritizedSnapshot;
use crate::storage::Storage;
use crate::sum_tree::{MinTree, SumTree};

/// Default priority offset ε in `p_i = |δ_i| + ε`.
pub const DEFAULT_PRIORITY_EPS: f64 = 1e-6;
/// Default importance-sampling exponent used by the [`crate::Replay`] trait's `sample_into`:
/// β₀ = 0.4 for proportional prioritization (Schaul et al. 2016, Table 3), to be annealed to 1.
pub const DEFAULT_BETA: f64 = 0.4;

/// Ring buffer sampled in proportion to `p_i^α`:
///
/// `P(i) = p_i^α / Σ_k p_k^α`  (Schaul et al. 2016, eq. 1), with `p_i = |δ_i| + ε`.
///
/// Importance-sampling weights correct the bias:
///
/// `w_i = (N · P(i))^(−β) / max_j w_j`  (§3.4), where the maximum runs over every stored
/// transition (kept in O(1) by a [`MinTree`] over `p^α`, since the largest weight belongs to the
/// smallest priority), so every weight is in `(0, 1]`.
///
/// New transitions get the largest priority `p` seen so far (1 before any update), so every
/// transition is likely to be replayed at least once. The maximum is never lowered, even when the
/// transition that set it is evicted (as in the paper's and OpenAI baselines' code).
///
/// Sampling is stratified: the total mass is split into `batch_size` equal segments and one
/// transition is drawn from each (Appendix B.2.1).
///
/// Indices returned in a batch are storage slots. If transitions are pushed between sampling
/// and [`Self::update_priorities`], a slot may have been overwritten by a newer transition; its
/// priority is then set from the old transition's error, which the paper's code accepts too.
#[derive(Clone, Debug)]
pub struct PrioritizedReplay {
    storage: Storage,
    sums: SumTree,
    mins: MinTree,
    alpha: f64,
    beta: f64,
    priority_eps: f64,
    /// Largest `p = priority + ε` seen so far (before the exponent α).
    max_priority: f64,
}

impl PrioritizedReplay {
    /// An empty memory with prioritization exponent `alpha ∈ [0, 1]` (0 = uniform; the paper uses
    /// 0.6 for proportional prioritization), ε = [`DEFAULT_PRIORITY_EPS`], β = [`DEFAULT_BETA`].
    pub fn new(
        capacity: usize,
        obs_dim: usize,
        act_dim: usize,
        alpha: f64,
    ) -> Result<Self, ReplayError> {
        if !(0.0..=1.0).contains(&alpha) {
            return Err(ReplayError::InvalidAlpha(alpha));
        }
        let storage = Storage::new(capacity, obs_dim, act_dim)?;
        Ok(Self {
            storage,
            sums: SumTree::new(capacity),
            mins: MinTree::new(capacity),
            alpha,
            beta: DEFAULT_BETA,
            priority_eps: DEFAULT_PRIORITY_EPS,
            max_priority: 1.0,
        })
    }

    /// Builder: sets the offset ε in `p = priority + ε` (finite, > 0) applied by later updates.
    pub fn with_priority_eps(mut self, eps: f64) -> Result<Self, ReplayError> {
        if !(eps.is_finite() && eps > 0.0) {
            return Err(ReplayError::InvalidEpsilon(eps));
        }
        self.priority_eps = eps;
        Ok(self)
    }

    /// Builder: sets the β used by the [`crate::Replay`] trait's `sample_into`.
    pub fn with_beta(mut self, beta: f64) -> Result<Self, ReplayError> {
        self.set_beta(beta)?;
        Ok(self)
    }

    /// Sets the β used by the [`crate::Replay`] trait's `sample_into` (anneal it towards 1).
    pub fn set_beta(&mut self, beta: f64) -> Result<(), ReplayError> {
        check_beta(beta)?;
        self.beta = beta;
        Ok(())
    }

    /// The β used by the [`crate::Replay`] trait's `sample_into`.
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// The prioritization exponent α.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The priority offset ε.
    pub fn priority_eps(&self) -> f64 {
        self.priority_eps
    }

    /// Largest `p = priority + ε` seen so far (1 before any update); new pushes get `p^α` of it.
    pub fn max_priority(&self) -> f64 {
        self.max_priority
    }

    /// The stored sampling mass `p_i^α` of `slot`, or `None` past `len`.
    pub fn priority_mass(&self, slot: usize) -> Option<f64> {
        (slot < self.len()).then(|| self.sums.get(slot))
    }

    /// `Σ_i p_i^α` over the stored transitions.
    pub fn total_mass(&self) -> f64 {
        self.sums.total()
    }

    /// The transitions, priorities and β, for exact resume (see [`PrioritizedSnapshot`]).
    pub fn snapshot(&self) -> PrioritizedSnapshot {
        PrioritizedSnapshot {
            transitions: self.storage.snapshot(),
            masses: (0..self.len()).map(|i| self.sums.get(i)).collect(),
            max_priority: self.max_priority,
            beta: self.beta,
        }
    }

    /// Replaces the contents with [`Self::snapshot`]'s output (α and ε stay this memory's);
    /// the trees are rebuilt bit for bit from the leaves. `Err` and nothing changed when it
    /// does not fit (sizes, a mass that is not finite and ≥ 0, β).
    pub fn restore_snapshot(&mut self, s: &PrioritizedSnapshot) -> Result<(), ReplayError> {
        self.storage.check_snapshot(&s.transitions)?;
        if s.masses.len() != s.transitions.len() {
            return Err(ReplayError::InvalidSnapshot(format!(
                "{} priorities for {} transitions",
                s.masses.len(),
                s.transitions.len()
            )));
        }
        if let Some(m) = s.masses.iter().find(|m| !(m.is_finite() && **m >= 0.0)) {
            return Err(ReplayError::InvalidSnapshot(format!("priority mass {m}")));
        }
        if !(s.max_priority.is_finite() && s.max_priority > 0.0) {
            return Err(ReplayError::InvalidSnapshot(format!(
                "max priority {}",
                s.max_priority
            )));
        }
        check_beta(s.beta)?;
        self.storage.restore(&s.transitions);
        let capacity = self.capacity();
        (self.sums, self.mins) = (SumTree::new(capacity), MinTree::new(capacity));
        for (i, &m) in s.masses.iter().enumerate() {
            self.sums.set(i, m);
            self.mins.set(i, m);
        }
        self.max_priority = s.max_priority;
        self.beta = s.beta;
        Ok(())
    }

    /// Stores one transition with the largest priority seen so far, evicting the oldest when
    /// full. Validation as [`crate::ReplayBuffer::push`].
    pub fn push(
        &mut self,
        obs: &[f32],
        action: &[f32],
        reward: f32,
        discount: f32,
        next_obs: &[f32],
    ) -> Result<(), ReplayError> {
        let slot = self.storage.push(obs, action, reward, discount, next_obs)?;
        let mass = self.max_priority.powf(self.alpha);
        self.sums.set(slot, mass);
        self.mins.set(slot, mass);
        Ok(())
    }

    /// Sets `p_i = priorities[k] + ε` for `i = indices[k]` and stores `p_i^α`.
    ///
    /// `Err` and nothing changed when the lengths differ, an index is `≥ len`, or a priority is
    /// NaN, negative, or so large that `Σ p^α` could overflow. Repeated indices: the last wins.
    pub fn update_priorities(
        &mut self,
        indices: &[usize],
        priorities: &[f64],
    ) -> Result<(), ReplayError> {
        if indices.len() != priorities.len() {
            return Err(ReplayError::PriorityLengthMismatch {
                indices: indices.len(),
                priorities: priorities.len(),
            });
        }
        let len = self.len();
        // Every leaf ≤ f64::MAX / capacity keeps the root finite.
        let mass_limit = f64::MAX / self.capacity() as f64;
        for (position, (&index, &value)) in indices.iter().zip(priorities).enumerate() {
            if index >= len {
                return Err(ReplayError::IndexOutOfRange { index, len });
            }
            let mass = (value + self.priority_eps).powf(self.alpha);
            if !(value >= 0.0 && value.is_finite() && mass.is_finite() && mass <= mass_limit) {
                return Err(ReplayError::InvalidPriority { position, value });
            }
        }
        for (&index, &value) in indices.iter().zip(priorities) {
            let p = value + self.priority_eps;
            let mass = p.powf(self.alpha);
            self.max_priority = self.max_priority.max(p);
            self.sums.set(index, mass);
            self.mins.set(index, mass);
        }
        Ok(())
    }

    /// Number of stored transitions (≤ capacity).
    pub fn len(&self) -> usize {
        self.storage.len()
    }

    /// `true` before the first push.
    pub fn is_empty(&self) -> bool {
        self.storage.len() == 0
    }

    /// Maximum number of stored transitions.
    pub fn capacity(&self) -> usize {
        self.storage.capacity()
    }

    /// Length of one observation.
    pub fn obs_dim(&self) -> usize {
        self.storage.obs_dim()
    }

    /// Length of one action (1 for a discrete action index).
    pub fn act_dim(&self) -> usize {
        self.storage.act_dim()
    }

    /// The transition stored in `slot`.
    pub fn get(&self, slot: usize) -> Option<Transition<'_>> {
        self.storage.get(slot)
    }

    /// Stored transitions from oldest to newest.
    pub fn iter(&self) -> impl Iterator<Item = Transition<'_>> + '_ {
        self.storage
            .slots_oldest_first()
            .filter_map(|slot| self.storage.get(slot))
    }

    /// `batch_size` transitions drawn with probability `P(i)` by stratified sampling, with
    /// importance weights `w_i = (N·P(i))^(−β) / max_j w_j`. `Err` when empty, when
    /// `batch_size` is 0, or when β is not finite and ≥ 0.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        batch_size: usize,
        beta: f64,
        rng: &mut R,
    ) -> Result<TransitionBatch, ReplayError> {
        let mut out = TransitionBatch::default();
        self.sample_into(batch_size, beta, rng, &mut out)?;
        Ok(out)
    }

    /// As [`Self::sample`], writing into `out` and reusing its allocations.
    pub fn sample_into<R: Rng + ?Sized>(
        &self,
        batch_size: usize,
        beta: f64,
        rng: &mut R,
        out: &mut TransitionBatch,
    ) -> Result<(), ReplayError> {
        check_beta(beta)?;
        if batch_size == 0 {
            return Err(ReplayError::ZeroBatchSize);
        }
        let len = self.len();
        if len == 0 {
            return Err(ReplayError::Empty);
        }
        out.prepare(batch_size, self.obs_dim(), self.act_dim());
        let total = self.sums.total();
        let segment = total / batch_size as f64;
        // max_j w_j = (N · min_j P(j))^(−β), so w_i / max_j w_j = (min_j p_j^α / p_i^α)^β.
        let min_mass = self.mins.min();
        for (k, (slot, weight)) in out.indices.iter_mut().zip(&mut out.weights).enumerate() {
            let mass = (k as f64 + rng.r#gen::<f64>()) * segment;
            // The sum tree never returns an unfilled leaf while total > 0; `min` is a guard.
            let i = self.sums.find_prefix(mass).min(len - 1);
            *slot = i;
            *weight = (min_mass / self.sums.get(i)).powf(beta) as f32;
        }
        self.storage.gather(out);
        Ok(())
    }
}

fn check_beta(beta: f64) -> Result<(), ReplayError> {
    if beta.is_finite() && beta >= 0.0 {
        Ok(())
    } else {
        Err(ReplayError::InvalidBeta(beta))
    }
}

#[cfg(test)]
mod tests;
