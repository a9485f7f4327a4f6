//! Uniform experience replay (Mnih et al. 2015, DQN; also SV-RL's replay).

use rand::Rng;

use crate::batch::{Transition, TransitionBatch};
use crate::error::ReplayError;
use crate::snapshot::ReplaySnapshot;
use crate::storage::Storage;

/// Fixed-capacity ring buffer of transitions, sampled uniformly with replacement; the oldest
/// transition is evicted first once full.
///
/// Storage is struct-of-arrays: `obs` and `next_obs` are flat `[capacity, obs_dim]` arrays,
/// `action` is `[capacity, act_dim]` (a discrete action is one `f32` holding its index), and
/// `reward` and `discount` are `[capacity]`. `discount` is the bootstrap multiplier
/// `γⁿ·(1 − terminated)` computed by the agent; a time-limit truncation keeps it non-zero.
#[derive(Clone, Debug)]
pub struct ReplayBuffer {
    storage: Storage,
}

impl ReplayBuffer {
    /// An empty buffer; `Err` when `capacity`, `obs_dim` or `act_dim` is zero or the arrays would
    /// not fit in memory addressing.
    pub fn new(capacity: usize, obs_dim: usize, act_dim: usize) -> Result<Self, ReplayError> {
        Ok(Self {
            storage: Storage::new(capacity, obs_dim, act_dim)?,
        })
    }

    /// Stores one transition, evicting the oldest when full.
    ///
    /// `Err` (and nothing stored) when a slice has the wrong length, an observation, action or
    /// the reward is NaN/±∞, or `discount` is outside `[0, 1]`.
    pub fn push(
        &mut self,
        obs: &[f32],
        action: &[f32],
        reward: f32,
        discount: f32,
        next_obs: &[f32],
    ) -> Result<(), ReplayError> {
        self.storage
            .push(obs, action, reward, discount, next_obs)
            .map(|_| ())
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

    /// The transition stored in `slot` (as reported in [`TransitionBatch::indices`]).
    pub fn get(&self, slot: usize) -> Option<Transition<'_>> {
        self.storage.get(slot)
    }

    /// Stored transitions from oldest to newest.
    pub fn iter(&self) -> impl Iterator<Item = Transition<'_>> + '_ {
        self.storage
            .slots_oldest_first()
            .filter_map(|slot| self.storage.get(slot))
    }

    /// The stored transitions and ring position, for exact resume (see [`ReplaySnapshot`]).
    pub fn snapshot(&self) -> ReplaySnapshot {
        self.storage.snapshot()
    }

    /// Replaces the contents with [`Self::snapshot`]'s output; later pushes and samples (from
    /// the same RNG state) match the snapshotted buffer's. `Err` and nothing changed when it
    /// does not fit this buffer's capacity or sizes.
    pub fn restore_snapshot(&mut self, snapshot: &ReplaySnapshot) -> Result<(), ReplayError> {
        self.storage.check_snapshot(snapshot)?;
        self.storage.restore(snapshot);
        Ok(())
    }

    /// `batch_size` transitions drawn uniformly with replacement; weights are all 1.
    /// `Err` when the buffer is empty or `batch_size` is 0.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        batch_size: usize,
        rng: &mut R,
    ) -> Result<TransitionBatch, ReplayError> {
        let mut out = TransitionBatch::default();
        self.sample_into(batch_size, rng, &mut out)?;
        Ok(out)
    }

    /// As [`Self::sample`], writing into `out` and reusing its allocations.
    pub fn sample_into<R: Rng + ?Sized>(
        &self,
        batch_size: usize,
        rng: &mut R,
        out: &mut TransitionBatch,
    ) -> Result<(), ReplayError> {
        if batch_size == 0 {
            return Err(ReplayError::ZeroBatchSize);
        }
        let len = self.len();
        if len == 0 {
            return Err(ReplayError::Empty);
        }
        out.prepare(batch_size, self.obs_dim(), self.act_dim());
        for slot in &mut out.indices {
            *slot = rng.gen_range(0..len);
        }
        out.weights.fill(1.0);
        self.storage.gather(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Transition number `k`: every field encodes `k` so rows can be checked for consistency.
    fn push_numbered(buf: &mut ReplayBuffer, k: usize) {
        let x = k as f32;
        let obs = vec![x; buf.obs_dim()];
        let next = vec![x + 0.5; buf.obs_dim()];
        let act = vec![-x; buf.act_dim()];
        buf.push(&obs, &act, x, 0.99, &next)
            .expect("valid transition");
    }

    #[test]
    fn rejects_bad_construction() {
        assert_eq!(
            ReplayBuffer::new(0, 4, 1).err(),
            Some(ReplayError::ZeroCapacity)
        );
        assert!(matches!(
            ReplayBuffer::new(8, 0, 1),
            Err(ReplayError::ZeroDim { what: "obs_dim" })
        ));
        assert!(matches!(
            ReplayBuffer::new(8, 4, 0),
            Err(ReplayError::ZeroDim { what: "act_dim" })
        ));
        assert!(matches!(
            ReplayBuffer::new(usize::MAX / 2, 4, 1),
            Err(ReplayError::CapacityOverflow { .. })
        ));
    }

    #[test]
    fn rejects_bad_push_and_stores_nothing() {
        let mut buf = ReplayBuffer::new(4, 2, 1).expect("valid");
        let ok = [0.0, 1.0];
        type Case = (Vec<f32>, Vec<f32>, f32, f32, Vec<f32>);
        let cases: Vec<Case> = vec![
            (vec![0.0], vec![0.0], 0.0, 1.0, ok.to_vec()),
            (ok.to_vec(), vec![0.0, 1.0], 0.0, 1.0, ok.to_vec()),
            (ok.to_vec(), vec![0.0], 0.0, 1.0, vec![0.0; 3]),
            (vec![f32::NAN, 0.0], vec![0.0], 0.0, 1.0, ok.to_vec()),
            (ok.to_vec(), vec![0.0], f32::NAN, 1.0, ok.to_vec()),
            (ok.to_vec(), vec![0.0], f32::INFINITY, 1.0, ok.to_vec()),
            (
                ok.to_vec(),
                vec![0.0],
                0.0,
                1.0,
                vec![0.0, f32::NEG_INFINITY],
            ),
            (ok.to_vec(), vec![f32::NAN], 0.0, 1.0, ok.to_vec()),
            (ok.to_vec(), vec![0.0], 0.0, 1.5, ok.to_vec()),
            (ok.to_vec(), vec![0.0], 0.0, -0.1, ok.to_vec()),
            (ok.to_vec(), vec![0.0], 0.0, f32::NAN, ok.to_vec()),
        ];
        for (o, a, r, d, n) in cases {
            assert!(buf.push(&o, &a, r, d, &n).is_err());
        }
        assert!(buf.is_empty());
        // Boundary discounts are valid.
        buf.push(&ok, &[0.0], 0.0, 0.0, &ok).expect("discount 0");
        buf.push(&ok, &[0.0], 0.0, 1.0, &ok).expect("discount 1");
        assert_eq!(buf.len(), 2);
    }

    #[test]
    fn sampling_errors() {
        let mut buf = ReplayBuffer::new(4, 1, 1).expect("valid");
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(buf.sample(8, &mut rng).err(), Some(ReplayError::Empty));
        push_numbered(&mut buf, 0);
        assert_eq!(
            buf.sample(0, &mut rng).err(),
            Some(ReplayError::ZeroBatchSize)
        );
        assert!(buf.sample(8, &mut rng).is_ok());
    }

    #[test]
    fn sample_into_reuses_allocations() {
        let mut buf = ReplayBuffer::new(64, 4, 2).expect("valid");
        for k in 0..64 {
            push_numbered(&mut buf, k);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut out = TransitionBatch::default();
        buf.sample_into(32, &mut rng, &mut out).expect("sample");
        let ptr = out.obs.as_ptr();
        buf.sample_into(32, &mut rng, &mut out).expect("sample");
        assert_eq!(ptr, out.obs.as_ptr());
        assert_eq!(out.obs.len(), 32 * 4);
        assert_eq!(out.actions.len(), 32 * 2);
        buf.sample_into(8, &mut rng, &mut out)
            .expect("smaller batch");
        assert_eq!(out.batch_size, 8);
        assert_eq!(out.obs.len(), 8 * 4);
        assert_eq!(out.weights.len(), 8);
    }

    /// Chi-square goodness of fit of 200k uniform draws over 50 slots (df = 49; the 0.999
    /// quantile is 85.35, we allow 90).
    #[test]
    fn uniform_frequencies_pass_chi_square() {
        let n = 50;
        let mut buf = ReplayBuffer::new(n, 1, 1).expect("valid");
        for k in 0..n + 17 {
            push_numbered(&mut buf, k);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(2016);
        let mut counts = vec![0usize; n];
        let mut out = TransitionBatch::default();
        let draws = 200_000;
        for _ in 0..draws / 250 {
            buf.sample_into(250, &mut rng, &mut out).expect("sample");
            for &i in &out.indices {
                counts[i] += 1;
            }
        }
        let expected = draws as f64 / n as f64;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 90.0, "chi2 = {chi2}");
    }

    proptest! {
        #[test]
        fn capacity_never_exceeded_and_oldest_evicted_first(
            capacity in 1usize..40,
            pushes in 0usize..120,
        ) {
            let mut buf = ReplayBuffer::new(capacity, 3, 1).expect("valid");
            for k in 0..pushes {
                push_numbered(&mut buf, k);
                prop_assert!(buf.len() <= capacity);
                prop_assert_eq!(buf.len(), (k + 1).min(capacity));
            }
            // Exactly the last `capacity` pushes remain, oldest first.
            let kept: Vec<usize> = buf.iter().map(|t| t.reward as usize).collect();
            let expected: Vec<usize> = (pushes.saturating_sub(capacity)..pushes).collect();
            prop_assert_eq!(kept, expected);
        }

        #[test]
        fn samples_are_in_range_consistent_and_deterministic(
            capacity in 1usize..40,
            pushes in 1usize..100,
            batch in 1usize..64,
            seed in any::<u64>(),
        ) {
            let mut buf = ReplayBuffer::new(capacity, 3, 2).expect("valid");
            for k in 0..pushes {
                push_numbered(&mut buf, k);
            }
            let a = buf.sample(batch, &mut ChaCha8Rng::seed_from_u64(seed)).expect("sample");
            let b = buf.sample(batch, &mut ChaCha8Rng::seed_from_u64(seed)).expect("sample");
            prop_assert_eq!(&a.indices, &b.indices);
            prop_assert_eq!(a.batch_size, batch);
            for row in 0..batch {
                let slot = a.indices[row];
                prop_assert!(slot < buf.len());
                let stored = buf.get(slot).expect("in range");
                let k = stored.reward;
                prop_assert_eq!(a.rewards[row].to_bits(), k.to_bits());
                prop_assert!(a.obs_row(row).expect("row").iter().all(|v| v.to_bits() == k.to_bits()));
                prop_assert!(a.next_obs_row(row).expect("row").iter().all(|v| v.to_bits() == (k + 0.5).to_bits()));
                prop_assert!(a.action_row(row).expect("row").iter().all(|v| v.to_bits() == (-k).to_bits()));
                prop_assert_eq!(a.weights[row].to_bits(), 1.0f32.to_bits());
            }
        }
    }
}
