//! Snapshots of a memory's contents for exact resume: the stored rows in slot order and the
//! ring position (plus priorities for [`crate::PrioritizedReplay`]), so a restored memory
//! samples the same slots from the same RNG state as the original.

/// The transitions a memory holds, row-major in **slot** order (not oldest first: sampling
/// draws slot indices, so the layout is part of what makes a resumed run identical), and the
/// slot the next push writes. Only the filled rows are kept: `len = rewards.len()`.
///
/// Size: `len × (2·obs_dim + act_dim + 2) × 4` bytes (CartPole, one discrete action: 44 bytes a
/// transition).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplaySnapshot {
    /// `[len, obs_dim]`.
    pub obs: Vec<f32>,
    /// `[len, act_dim]`.
    pub actions: Vec<f32>,
    /// `[len]`.
    pub rewards: Vec<f32>,
    /// `[len]`.
    pub discounts: Vec<f32>,
    /// `[len, obs_dim]`.
    pub next_obs: Vec<f32>,
    /// The slot the next push writes (once full, also the oldest slot).
    pub next: usize,
}

impl ReplaySnapshot {
    /// Number of stored transitions.
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    /// `true` when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }
}

/// A [`crate::PrioritizedReplay`]'s contents: the transitions, each filled slot's sampling mass
/// `p_i^α` (the sum and min trees are rebuilt from these leaves, bit for bit, since every inner
/// node is recomputed from its children), the largest priority seen and the current β.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PrioritizedSnapshot {
    pub transitions: ReplaySnapshot,
    /// `[len]`: `p_i^α` of each filled slot.
    pub masses: Vec<f64>,
    pub max_priority: f64,
    pub beta: f64,
}

/// A [`crate::SequenceReplay`]'s contents: the filled slots' sequences in slot order (each
/// `[k, dim]` per field, as stored) and the slot the next push writes. `len = rewards.len() / k`.
///
/// Size: `len·k × (2·obs_dim + act_dim + dist_dim + 3) × 4` bytes (with `dones` as one f32 each
/// when stored in a checkpoint).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SequenceSnapshot {
    /// `[len·k, obs_dim]`.
    pub obs: Vec<f32>,
    /// `[len·k, obs_dim]`.
    pub next_obs: Vec<f32>,
    /// `[len·k, act_dim]`.
    pub actions: Vec<f32>,
    /// `[len·k]`.
    pub rewards: Vec<f32>,
    /// `[len·k]`.
    pub discounts: Vec<f32>,
    /// `[len·k]`.
    pub dones: Vec<bool>,
    /// `[len·k, dist_dim]`.
    pub mu: Vec<f32>,
    /// The slot the next push writes.
    pub next: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PrioritizedReplay, ReplayBuffer, ReplayError, TransitionBatch};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn push(k: usize, mut f: impl FnMut(&[f32], &[f32], f32, f32, &[f32])) {
        let x = k as f32;
        f(
            &[x, -x, 0.5 * x],
            &[(k % 3) as f32],
            x,
            0.99,
            &[x + 1.0, -x, 0.0],
        );
    }

    fn bits(b: &TransitionBatch) -> Vec<u32> {
        b.obs
            .iter()
            .chain(&b.next_obs)
            .chain(&b.actions)
            .chain(&b.rewards)
            .chain(&b.discounts)
            .chain(&b.weights)
            .map(|v| v.to_bits())
            .collect()
    }

    #[test]
    fn a_restored_uniform_buffer_samples_and_evicts_alike() -> Result<(), ReplayError> {
        for pushes in [0usize, 5, 16, 37] {
            let mut a = ReplayBuffer::new(16, 3, 1)?;
            for k in 0..pushes {
                push(k, |o, ac, r, d, n| a.push(o, ac, r, d, n).expect("valid"));
            }
            let snap = a.snapshot();
            assert_eq!(snap.len(), pushes.min(16));
            let mut b = ReplayBuffer::new(16, 3, 1)?;
            push(99, |o, ac, r, d, n| b.push(o, ac, r, d, n).expect("valid"));
            b.restore_snapshot(&snap)?;
            assert_eq!(b.snapshot(), snap);
            for k in pushes..pushes + 9 {
                push(k, |o, ac, r, d, n| a.push(o, ac, r, d, n).expect("valid"));
                push(k, |o, ac, r, d, n| b.push(o, ac, r, d, n).expect("valid"));
            }
            let (mut ra, mut rb) = (ChaCha8Rng::seed_from_u64(1), ChaCha8Rng::seed_from_u64(1));
            let (sa, sb) = (a.sample(32, &mut ra)?, b.sample(32, &mut rb)?);
            assert_eq!(sa.indices, sb.indices);
            assert_eq!(bits(&sa), bits(&sb));
        }
        Ok(())
    }

    #[test]
    fn a_restored_prioritized_memory_samples_alike() -> Result<(), ReplayError> {
        let mut a = PrioritizedReplay::new(16, 3, 1, 0.6)?.with_beta(0.5)?;
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for k in 0..27 {
            push(k, |o, ac, r, d, n| a.push(o, ac, r, d, n).expect("valid"));
            let batch = a.sample(4, 0.4, &mut rng)?;
            let prios: Vec<f64> = batch
                .indices
                .iter()
                .map(|&i| 0.1 * i as f64 + 0.3)
                .collect();
            a.update_priorities(&batch.indices, &prios)?;
        }
        let mut b = PrioritizedReplay::new(16, 3, 1, 0.6)?;
        b.restore_snapshot(&a.snapshot())?;
        assert_eq!(a.total_mass().to_bits(), b.total_mass().to_bits());
        assert_eq!(a.max_priority().to_bits(), b.max_priority().to_bits());
        assert_eq!(a.beta().to_bits(), b.beta().to_bits());
        push(50, |o, ac, r, d, n| a.push(o, ac, r, d, n).expect("valid"));
        push(50, |o, ac, r, d, n| b.push(o, ac, r, d, n).expect("valid"));
        let (mut ra, mut rb) = (ChaCha8Rng::seed_from_u64(3), ChaCha8Rng::seed_from_u64(3));
        let (sa, sb) = (a.sample(8, 0.7, &mut ra)?, b.sample(8, 0.7, &mut rb)?);
        assert_eq!(sa.indices, sb.indices);
        assert_eq!(bits(&sa), bits(&sb));
        Ok(())
    }

    #[test]
    fn a_restored_sequence_memory_samples_alike() -> Result<(), ReplayError> {
        use crate::{SequenceBatch, SequenceReplay};
        let (k, nb) = (3, 2);
        let mut a = SequenceReplay::new(5, k, 2, 1, 2)?;
        for round in 0..4 {
            let mut batch = SequenceBatch::zeros(k, nb, 2, 1, 2);
            for (i, v) in batch.obs.iter_mut().enumerate() {
                *v = (round * 100 + i) as f32;
            }
            batch.rewards.iter_mut().for_each(|r| *r = round as f32);
            batch.dones[1] = round % 2 == 0;
            if round == 3 {
                let mut b = SequenceReplay::new(5, k, 2, 1, 2)?;
                b.restore_snapshot(&a.snapshot())?;
                assert_eq!(b.snapshot(), a.snapshot());
                a.push_batch(&batch)?;
                b.push_batch(&batch)?;
                let (mut ra, mut rb) = (ChaCha8Rng::seed_from_u64(5), ChaCha8Rng::seed_from_u64(5));
                let (mut sa, mut sb) = (SequenceBatch::default(), SequenceBatch::default());
                a.sample_into(6, &mut ra, &mut sa)?;
                b.sample_into(6, &mut rb, &mut sb)?;
                assert_eq!(sa, sb);
                let mut small = SequenceReplay::new(2, k, 2, 1, 2)?;
                assert!(small.restore_snapshot(&a.snapshot()).is_err());
                let mut other_k = SequenceReplay::new(5, 2, 2, 1, 2)?;
                assert!(other_k.restore_snapshot(&a.snapshot()).is_err());
                assert!(small.is_empty() && other_k.is_empty());
            } else {
                a.push_batch(&batch)?;
            }
        }
        Ok(())
    }

    #[test]
    fn snapshots_that_do_not_fit_are_refused_unchanged() -> Result<(), ReplayError> {
        let mut big = ReplayBuffer::new(32, 3, 1)?;
        for k in 0..20 {
            push(k, |o, ac, r, d, n| big.push(o, ac, r, d, n).expect("valid"));
        }
        let mut small = ReplayBuffer::new(16, 3, 1)?;
        assert!(small.restore_snapshot(&big.snapshot()).is_err());
        let mut other_dim = ReplayBuffer::new(32, 2, 1)?;
        assert!(other_dim.restore_snapshot(&big.snapshot()).is_err());
        let mut bad = big.snapshot();
        bad.next = 3;
        let mut same = ReplayBuffer::new(32, 3, 1)?;
        assert!(same.restore_snapshot(&bad).is_err());
        assert!(same.is_empty());
        let mut per = PrioritizedReplay::new(32, 3, 1, 0.6)?;
        let mut p = PrioritizedSnapshot {
            transitions: big.snapshot(),
            masses: vec![1.0; 19],
            max_priority: 1.0,
            beta: 0.4,
        };
        assert!(per.restore_snapshot(&p).is_err());
        p.masses = vec![f64::NAN; 20];
        assert!(per.restore_snapshot(&p).is_err());
        assert!(per.is_empty());
        Ok(())
    }
}
