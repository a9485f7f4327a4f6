//! Sequence replay for ACER (Wang et al. 2017, §3 and Alg. 1): fixed-length `k`-step
//! sequences stored contiguously, with the behaviour policy's full distribution `μ(·|x_t)`,
//! sampled whole.

use rand::Rng;

use crate::error::ReplayError;
use crate::snapshot::SequenceSnapshot;

/// A batch of `B` sequences of `T` steps, **time-major** (`[T, B, dim]`: element `(t, b)` of a
/// per-step field at `t·B + b`), the layout eirl's batched estimators take.
///
/// Per step `(t, b)`: `obs` is `x_t`, `actions` the action taken (`[act_dim]`; a discrete action
/// is one `f32` holding its index), `rewards` `r_t`, `discounts` the bootstrap multiplier
/// `γ·(1 − terminated)`, `dones` whether the episode ended at this step (terminated *or*
/// truncated: traces are cut there), `mu` the behaviour distribution's statistics (`[dist_dim]`:
/// the full probability vector for a discrete policy, mean then log σ for a Gaussian one), and
/// `next_obs` the observation the step led to (for an episode that ended, the true final one,
/// so a truncation can bootstrap from it; otherwise `x_{t+1}`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SequenceBatch {
    /// `T`.
    pub seq_len: usize,
    /// `B`.
    pub batch: usize,
    pub obs_dim: usize,
    pub act_dim: usize,
    pub dist_dim: usize,
    /// `[T, B, obs_dim]`.
    pub obs: Vec<f32>,
    /// `[T, B, obs_dim]`.
    pub next_obs: Vec<f32>,
    /// `[T, B, act_dim]`.
    pub actions: Vec<f32>,
    /// `[T, B]`.
    pub rewards: Vec<f32>,
    /// `[T, B]`, each in `[0, 1]`.
    pub discounts: Vec<f32>,
    /// `[T, B]`.
    pub dones: Vec<bool>,
    /// `[T, B, dist_dim]`.
    pub mu: Vec<f32>,
    /// `[B]`: the slot each sampled sequence came from (empty for batches not from a memory).
    pub indices: Vec<usize>,
}

impl SequenceBatch {
    /// An all-zero batch of the given shape, to be filled in place.
    pub fn zeros(
        seq_len: usize,
        batch: usize,
        obs_dim: usize,
        act_dim: usize,
        dist_dim: usize,
    ) -> Self {
        let mut b = SequenceBatch::default();
        b.resize(seq_len, batch, obs_dim, act_dim, dist_dim);
        b
    }

    /// Reshapes (reusing allocations); contents are unspecified afterwards.
    pub fn resize(
        &mut self,
        seq_len: usize,
        batch: usize,
        obs_dim: usize,
        act_dim: usize,
        dist_dim: usize,
    ) {
        let n = seq_len * batch;
        self.seq_len = seq_len;
        self.batch = batch;
        self.obs_dim = obs_dim;
        self.act_dim = act_dim;
        self.dist_dim = dist_dim;
        self.obs.resize(n * obs_dim, 0.0);
        self.next_obs.resize(n * obs_dim, 0.0);
        self.actions.resize(n * act_dim, 0.0);
        self.rewards.resize(n, 0.0);
        self.discounts.resize(n, 0.0);
        self.dones.resize(n, false);
        self.mu.resize(n * dist_dim, 0.0);
        self.indices.clear();
    }

    /// Number of steps `T·B`.
    pub fn steps(&self) -> usize {
        self.seq_len * self.batch
    }

    fn validate(&self) -> Result<(), ReplayError> {
        let n = self.steps();
        let fields: [(&'static str, usize, usize); 7] = [
            ("obs", self.obs.len(), n * self.obs_dim),
            ("next_obs", self.next_obs.len(), n * self.obs_dim),
            ("actions", self.actions.len(), n * self.act_dim),
            ("rewards", self.rewards.len(), n),
            ("discounts", self.discounts.len(), n),
            ("dones", self.dones.len(), n),
            ("mu", self.mu.len(), n * self.dist_dim),
        ];
        for (field, actual, expected) in fields {
            if actual != expected {
                return Err(ReplayError::LengthMismatch {
                    field,
                    expected,
                    actual,
                });
            }
        }
        let finite: [(&'static str, &[f32]); 5] = [
            ("obs", &self.obs),
            ("next_obs", &self.next_obs),
            ("actions", &self.actions),
            ("rewards", &self.rewards),
            ("mu", &self.mu),
        ];
        for (field, values) in finite {
            if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                return Err(ReplayError::NonFinite {
                    field,
                    index,
                    value: values[index],
                });
            }
        }
        if let Some(&d) = self.discounts.iter().find(|d| !(0.0..=1.0).contains(*d)) {
            return Err(ReplayError::InvalidDiscount(d));
        }
        Ok(())
    }
}

/// Fixed-capacity ring buffer of `k`-step sequences (ACER's replay memory), oldest evicted first,
/// sampled uniformly with replacement as whole sequences.
///
/// Each slot stores one sequence contiguously (`[k, dim]` per field), so a sampled sequence is
/// copied with one `memcpy` per field.
#[derive(Clone, Debug)]
pub struct SequenceReplay {
    capacity: usize,
    seq_len: usize,
    obs_dim: usize,
    act_dim: usize,
    dist_dim: usize,
    len: usize,
    next: usize,
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    actions: Vec<f32>,
    rewards: Vec<f32>,
    discounts: Vec<f32>,
    dones: Vec<bool>,
    mu: Vec<f32>,
}

fn checked(capacity: usize, what: &'static str, dim: usize) -> Result<usize, ReplayError> {
    capacity
        .checked_mul(dim)
        .ok_or(ReplayError::CapacityOverflow {
            capacity,
            what,
            dim,
        })
}

impl SequenceReplay {
    /// An empty memory of `capacity` sequences of `seq_len` steps. `Err` when any size is zero or
    /// the arrays would not fit in memory addressing.
    pub fn new(
        capacity: usize,
        seq_len: usize,
        obs_dim: usize,
        act_dim: usize,
        dist_dim: usize,
    ) -> Result<Self, ReplayError> {
        if capacity == 0 {
            return Err(ReplayError::ZeroCapacity);
        }
        for (what, d) in [
            ("seq_len", seq_len),
            ("obs_dim", obs_dim),
            ("act_dim", act_dim),
            ("dist_dim", dist_dim),
        ] {
            if d == 0 {
                return Err(ReplayError::ZeroDim { what });
            }
        }
        let steps = checked(capacity, "seq_len", seq_len)?;
        let obs = checked(steps, "obs_dim", obs_dim)?;
        let act = checked(steps, "act_dim", act_dim)?;
        let dist = checked(steps, "dist_dim", dist_dim)?;
        Ok(SequenceReplay {
            capacity,
            seq_len,
            obs_dim,
            act_dim,
            dist_dim,
            len: 0,
            next: 0,
            obs: vec![0.0; obs],
            next_obs: vec![0.0; obs],
            actions: vec![0.0; act],
            rewards: vec![0.0; steps],
            discounts: vec![0.0; steps],
            dones: vec![false; steps],
            mu: vec![0.0; dist],
        })
    }

    /// Number of stored sequences (≤ capacity).
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` before the first push.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maximum number of stored sequences.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Steps per sequence `k`.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// Stores each of the `B` columns of a time-major batch as one sequence, evicting the oldest
    /// when full. `Err` (and nothing stored) when the batch's shape does not match the memory, a
    /// value is NaN/±∞ or a discount lies outside `[0, 1]`.
    pub fn push_batch(&mut self, batch: &SequenceBatch) -> Result<(), ReplayError> {
        for (field, expected, actual) in [
            ("seq_len", self.seq_len, batch.seq_len),
            ("obs_dim", self.obs_dim, batch.obs_dim),
            ("act_dim", self.act_dim, batch.act_dim),
            ("dist_dim", self.dist_dim, batch.dist_dim),
        ] {
            if expected != actual {
                return Err(ReplayError::LengthMismatch {
                    field,
                    expected,
                    actual,
                });
            }
        }
        batch.validate()?;
        let (k, nb) = (self.seq_len, batch.batch);
        for b in 0..nb {
            let slot = self.next;
            for t in 0..k {
                let src = t * nb + b;
                let dst = slot * k + t;
                copy_row(&mut self.obs, dst, &batch.obs, src, self.obs_dim);
                copy_row(&mut self.next_obs, dst, &batch.next_obs, src, self.obs_dim);
                copy_row(&mut self.actions, dst, &batch.actions, src, self.act_dim);
                copy_row(&mut self.mu, dst, &batch.mu, src, self.dist_dim);
                self.rewards[dst] = batch.rewards[src];
                self.discounts[dst] = batch.discounts[src];
                self.dones[dst] = batch.dones[src];
            }
            self.next = (self.next + 1) % self.capacity;
            self.len = (self.len + 1).min(self.capacity);
        }
        Ok(())
    }

    /// Samples `n` whole sequences uniformly with replacement into `out` (time-major `[k, n]`),
    /// reusing its allocations; `out.indices` names their slots.
    pub fn sample_into<G: Rng + ?Sized>(
        &self,
        n: usize,
        rng: &mut G,
        out: &mut SequenceBatch,
    ) -> Result<(), ReplayError> {
        if n == 0 {
            return Err(ReplayError::ZeroBatchSize);
        }
        if self.len == 0 {
            return Err(ReplayError::Empty);
        }
        let slots: Vec<usize> = (0..n).map(|_| rng.gen_range(0..self.len)).collect();
        self.gather(&slots, out);
        Ok(())
    }

    /// The stored sequence in `slot` as a batch of one, or `None` if the slot is empty.
    pub fn get(&self, slot: usize) -> Option<SequenceBatch> {
        (slot < self.len).then(|| {
            let mut out = SequenceBatch::default();
            self.gather(&[slot], &mut out);
            out
        })
    }

    /// The stored sequences and ring position, for exact resume (see [`SequenceSnapshot`]).
    pub fn snapshot(&self) -> SequenceSnapshot {
        let steps = self.len * self.seq_len;
        SequenceSnapshot {
            obs: self.obs[..steps * self.obs_dim].to_vec(),
            next_obs: self.next_obs[..steps * self.obs_dim].to_vec(),
            actions: self.actions[..steps * self.act_dim].to_vec(),
            rewards: self.rewards[..steps].to_vec(),
            discounts: self.discounts[..steps].to_vec(),
            dones: self.dones[..steps].to_vec(),
            mu: self.mu[..steps * self.dist_dim].to_vec(),
            next: self.next,
        }
    }

    /// Replaces the contents with [`Self::snapshot`]'s output; later pushes and samples (from
    /// the same RNG state) match the snapshotted memory's. `Err` and nothing changed when it
    /// does not fit this memory's capacity, sequence length or sizes.
    pub fn restore_snapshot(&mut self, s: &SequenceSnapshot) -> Result<(), ReplayError> {
        let k = self.seq_len;
        let bad = |reason: String| Err(ReplayError::InvalidSnapshot(reason));
        if s.rewards.len() % k != 0 {
            return bad(format!(
                "{} steps is not whole {k}-step sequences",
                s.rewards.len()
            ));
        }
        let len = s.rewards.len() / k;
        if len > self.capacity {
            return bad(format!("{len} sequences, capacity {}", self.capacity));
        }
        let steps = len * k;
        for (field, got, dim) in [
            ("obs", s.obs.len(), self.obs_dim),
            ("next_obs", s.next_obs.len(), self.obs_dim),
            ("actions", s.actions.len(), self.act_dim),
            ("discounts", s.discounts.len(), 1),
            ("dones", s.dones.len(), 1),
            ("mu", s.mu.len(), self.dist_dim),
        ] {
            if got != steps * dim {
                return bad(format!(
                    "{field} has {got} values, expected {steps} × {dim}"
                ));
            }
        }
        let ring_ok = if len < self.capacity {
            s.next == len
        } else {
            s.next < self.capacity
        };
        if !ring_ok {
            return bad(format!("next slot {} with {len} sequences", s.next));
        }
        fn fill<T: Copy + Default>(dst: &mut [T], src: &[T]) {
            dst[..src.len()].copy_from_slice(src);
            dst[src.len()..].fill(T::default());
        }
        fill(&mut self.obs, &s.obs);
        fill(&mut self.next_obs, &s.next_obs);
        fill(&mut self.actions, &s.actions);
        fill(&mut self.rewards, &s.rewards);
        fill(&mut self.discounts, &s.discounts);
        fill(&mut self.dones, &s.dones);
        fill(&mut self.mu, &s.mu);
        self.len = len;
        self.next = s.next;
        Ok(())
    }

    fn gather(&self, slots: &[usize], out: &mut SequenceBatch) {
        let (k, n) = (self.seq_len, slots.len());
        out.resize(k, n, self.obs_dim, self.act_dim, self.dist_dim);
        for (b, &slot) in slots.iter().enumerate() {
            for t in 0..k {
                let src = slot * k + t;
                let dst = t * n + b;
                copy_row(&mut out.obs, dst, &self.obs, src, self.obs_dim);
                copy_row(&mut out.next_obs, dst, &self.next_obs, src, self.obs_dim);
                copy_row(&mut out.actions, dst, &self.actions, src, self.act_dim);
                copy_row(&mut out.mu, dst, &self.mu, src, self.dist_dim);
                out.rewards[dst] = self.rewards[src];
                out.discounts[dst] = self.discounts[src];
                out.dones[dst] = self.dones[src];
            }
        }
        out.indices.clear();
        out.indices.extend_from_slice(slots);
    }
}

#[inline]
fn copy_row(dst: &mut [f32], dst_row: usize, src: &[f32], src_row: usize, dim: usize) {
    dst[dst_row * dim..(dst_row + 1) * dim]
        .copy_from_slice(&src[src_row * dim..(src_row + 1) * dim]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A batch whose every value encodes `(id of its sequence, t)`, so sampled sequences can be
    /// checked against what was pushed.
    fn marked(k: usize, ids: &[usize]) -> SequenceBatch {
        let nb = ids.len();
        let mut b = SequenceBatch::zeros(k, nb, 2, 1, 3);
        for t in 0..k {
            for (j, &id) in ids.iter().enumerate() {
                let i = t * nb + j;
                let v = (id * 100 + t) as f32;
                b.obs[i * 2..i * 2 + 2].copy_from_slice(&[v, -v]);
                b.next_obs[i * 2..i * 2 + 2].copy_from_slice(&[v + 1.0, -v - 1.0]);
                b.actions[i] = v;
                b.rewards[i] = v * 0.5;
                b.discounts[i] = if t % 3 == 2 { 0.0 } else { 0.99 };
                b.dones[i] = t % 3 == 2;
                b.mu[i * 3..i * 3 + 3].copy_from_slice(&[v, v + 0.25, v + 0.5]);
            }
        }
        b
    }

    fn id_of(batch: &SequenceBatch, b: usize) -> usize {
        (batch.actions[b] / 100.0).round() as usize
    }

    fn assert_column_is(batch: &SequenceBatch, b: usize, reference: &SequenceBatch, rb: usize) {
        let (n, rn) = (batch.batch, reference.batch);
        for t in 0..batch.seq_len {
            let (i, r) = (t * n + b, t * rn + rb);
            assert_eq!(batch.obs[i * 2..i * 2 + 2], reference.obs[r * 2..r * 2 + 2]);
            assert_eq!(
                batch.next_obs[i * 2..i * 2 + 2],
                reference.next_obs[r * 2..r * 2 + 2]
            );
            assert_eq!(batch.actions[i].to_bits(), reference.actions[r].to_bits());
            assert_eq!(batch.rewards[i].to_bits(), reference.rewards[r].to_bits());
            assert_eq!(
                batch.discounts[i].to_bits(),
                reference.discounts[r].to_bits()
            );
            assert_eq!(batch.dones[i], reference.dones[r]);
            assert_eq!(batch.mu[i * 3..i * 3 + 3], reference.mu[r * 3..r * 3 + 3]);
        }
    }

    #[test]
    fn rejects_bad_sizes_and_values() {
        assert_eq!(
            SequenceReplay::new(0, 5, 2, 1, 3).err(),
            Some(ReplayError::ZeroCapacity)
        );
        assert!(matches!(
            SequenceReplay::new(4, 0, 2, 1, 3),
            Err(ReplayError::ZeroDim { what: "seq_len" })
        ));
        assert!(matches!(
            SequenceReplay::new(usize::MAX, 2, 2, 1, 3),
            Err(ReplayError::CapacityOverflow { .. })
        ));
        let mut m = SequenceReplay::new(4, 5, 2, 1, 3).expect("valid");
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut out = SequenceBatch::default();
        assert_eq!(
            m.sample_into(2, &mut rng, &mut out),
            Err(ReplayError::Empty)
        );
        let mut b = marked(5, &[0, 1]);
        b.rewards[3] = f32::NAN;
        assert!(matches!(
            m.push_batch(&b),
            Err(ReplayError::NonFinite {
                field: "rewards",
                index: 3,
                ..
            })
        ));
        let mut b = marked(5, &[0, 1]);
        b.discounts[0] = 1.5;
        assert!(matches!(
            m.push_batch(&b),
            Err(ReplayError::InvalidDiscount(_))
        ));
        let mut b = marked(5, &[0, 1]);
        b.mu.pop();
        assert!(matches!(
            m.push_batch(&b),
            Err(ReplayError::LengthMismatch { field: "mu", .. })
        ));
        assert!(matches!(
            m.push_batch(&marked(4, &[0])),
            Err(ReplayError::LengthMismatch {
                field: "seq_len",
                ..
            })
        ));
        assert!(m.is_empty(), "failed pushes store nothing");
        m.push_batch(&marked(5, &[0])).expect("valid");
        assert_eq!(
            m.sample_into(0, &mut rng, &mut out),
            Err(ReplayError::ZeroBatchSize)
        );
        assert!(m.get(1).is_none());
    }

    proptest! {
        /// Every sampled sequence is one of the last `capacity` pushed, copied exactly, and the
        /// same seed gives the same sample.
        #[test]
        fn samples_whole_recent_sequences(
            capacity in 1usize..12,
            k in 1usize..6,
            pushes in proptest::collection::vec(1usize..5, 1..8),
            n in 1usize..10,
            seed in any::<u64>(),
        ) {
            let mut m = SequenceReplay::new(capacity, k, 2, 1, 3).expect("valid");
            let mut next_id = 0;
            let mut pushed = Vec::new();
            for width in pushes {
                let ids: Vec<usize> = (next_id..next_id + width).collect();
                next_id += width;
                let batch = marked(k, &ids);
                m.push_batch(&batch).expect("valid");
                for (j, &id) in ids.iter().enumerate() {
                    pushed.push((id, batch.clone(), j));
                }
            }
            prop_assert_eq!(m.len(), pushed.len().min(capacity));
            let recent = &pushed[pushed.len().saturating_sub(capacity)..];
            let mut out = SequenceBatch::default();
            m.sample_into(n, &mut ChaCha8Rng::seed_from_u64(seed), &mut out).expect("sample");
            prop_assert_eq!(out.batch, n);
            prop_assert_eq!(out.seq_len, k);
            for b in 0..n {
                let id = id_of(&out, b);
                let found = recent.iter().find(|(i, _, _)| *i == id);
                prop_assert!(found.is_some(), "sequence {} was evicted or never pushed", id);
                if let Some((_, reference, rb)) = found {
                    assert_column_is(&out, b, reference, *rb);
                }
            }
            let mut again = SequenceBatch::default();
            m.sample_into(n, &mut ChaCha8Rng::seed_from_u64(seed), &mut again).expect("sample");
            prop_assert_eq!(out, again);
        }
    }
}
