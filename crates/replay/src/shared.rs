//! [`SharedReplay`]: one replay memory shared by actor and learner threads.

use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use rand::Rng;

use crate::Replay;
use crate::batch::TransitionBatch;
use crate::error::ReplayError;

/// A cloneable handle to one replay memory behind an `Arc<parking_lot::RwLock<R>>`.
///
/// Locking discipline:
/// - **push** and **update_priorities** take the write lock for the duration of one validated
///   copy into the flat arrays (plus O(log n) sum-tree updates for prioritized replay).
/// - **sample_into** takes the read lock, so any number of learners sample concurrently; under
///   the lock it only draws indices and copies rows into the caller's preallocated batch (no
///   allocation once `out` has grown to the batch size).
/// - Nothing else (network passes, env steps, channel sends) ever happens under a lock; callers
///   should build their transitions and compute priorities before calling in.
///
/// `parking_lot`'s lock is eventually fair, so a stream of readers cannot starve the actor's
/// pushes. Use [`Self::write`] to push a whole vector-env step under one lock.
pub struct SharedReplay<R> {
    inner: Arc<RwLock<R>>,
}

impl<R> Clone for SharedReplay<R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R: std::fmt::Debug> std::fmt::Debug for SharedReplay<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedReplay")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<R: Replay> SharedReplay<R> {
    /// Wraps `replay`; clone the handle to share it.
    pub fn new(replay: R) -> Self {
        Self {
            inner: Arc::new(RwLock::new(replay)),
        }
    }

    /// [`Replay::push`] under the write lock.
    pub fn push(
        &self,
        obs: &[f32],
        action: &[f32],
        reward: f32,
        discount: f32,
        next_obs: &[f32],
    ) -> Result<(), ReplayError> {
        self.inner
            .write()
            .push(obs, action, reward, discount, next_obs)
    }

    /// [`Replay::sample_into`] under the read lock; concurrent samplers do not block each other.
    pub fn sample_into<G: Rng + ?Sized>(
        &self,
        batch_size: usize,
        rng: &mut G,
        out: &mut TransitionBatch,
    ) -> Result<(), ReplayError> {
        self.inner.read().sample_into(batch_size, rng, out)
    }

    /// As [`Self::sample_into`] into a fresh batch (allocates; prefer `sample_into` in loops).
    pub fn sample<G: Rng + ?Sized>(
        &self,
        batch_size: usize,
        rng: &mut G,
    ) -> Result<TransitionBatch, ReplayError> {
        let mut out = TransitionBatch::default();
        self.sample_into(batch_size, rng, &mut out)?;
        Ok(out)
    }

    /// [`Replay::update_priorities`] under the write lock.
    pub fn update_priorities(
        &self,
        indices: &[usize],
        priorities: &[f64],
    ) -> Result<(), ReplayError> {
        self.inner.write().update_priorities(indices, priorities)
    }

    /// Number of stored transitions (a snapshot: another thread may push right after).
    pub fn len(&self) -> usize {
        self.inner.read().len()
    }

    /// `true` when nothing is stored (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.inner.read().is_empty()
    }

    /// Maximum number of stored transitions.
    pub fn capacity(&self) -> usize {
        self.inner.read().capacity()
    }

    /// The read guard, for several reads under one lock. Keep its scope to copying.
    pub fn read(&self) -> RwLockReadGuard<'_, R> {
        self.inner.read()
    }

    /// The write guard, e.g. to push a whole vector-env step at once. Keep its scope to copying.
    pub fn write(&self) -> RwLockWriteGuard<'_, R> {
        self.inner.write()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PrioritizedReplay, ReplayBuffer};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;

    const OBS_DIM: usize = 4;

    /// An actor pushes while two learners sample: no panic, lengths grow monotonically up to
    /// the capacity, and every sampled row is one whole transition (no torn writes).
    fn actor_and_learners<R: Replay + Send + Sync + 'static>(replay: R, pushes: usize) {
        let shared = SharedReplay::new(replay);
        let capacity = shared.capacity();
        let done = Arc::new(AtomicBool::new(false));

        let actor = {
            let shared = shared.clone();
            let done = Arc::clone(&done);
            thread::spawn(move || {
                for k in 0..pushes {
                    let x = k as f32;
                    shared
                        .push(&[x; OBS_DIM], &[x], x, 0.99, &[x + 1.0; OBS_DIM])
                        .expect("valid push");
                }
                done.store(true, Ordering::Release);
            })
        };
        let learners: Vec<_> = (0..2u64)
            .map(|seed| {
                let shared = shared.clone();
                let done = Arc::clone(&done);
                thread::spawn(move || {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    let mut out = TransitionBatch::default();
                    let mut last_len = 0;
                    let mut batches = 0usize;
                    while !done.load(Ordering::Acquire) || batches < 10 {
                        let len = shared.len();
                        assert!(len >= last_len && len <= capacity);
                        last_len = len;
                        match shared.sample_into(32, &mut rng, &mut out) {
                            Ok(()) => {
                                batches += 1;
                                assert_eq!(out.batch_size, 32);
                                for row in 0..32 {
                                    assert!(out.indices[row] < capacity);
                                    let r = out.rewards[row];
                                    let obs = out.obs_row(row).expect("row");
                                    let next = out.next_obs_row(row).expect("row");
                                    assert!(obs.iter().all(|v| v.to_bits() == r.to_bits()));
                                    assert!(
                                        next.iter().all(|v| v.to_bits() == (r + 1.0).to_bits())
                                    );
                                    assert_eq!(out.actions[row].to_bits(), r.to_bits());
                                }
                            }
                            Err(ReplayError::Empty) => assert_eq!(len, 0),
                            Err(e) => panic!("unexpected error {e}"),
                        }
                        let _ =
                            shared.update_priorities(&out.indices, &[0.5; 32][..out.indices.len()]);
                    }
                    batches
                })
            })
            .collect();
        actor.join().expect("actor panicked");
        for learner in learners {
            assert!(learner.join().expect("learner panicked") >= 10);
        }
        assert_eq!(shared.len(), pushes.min(capacity));
    }

    #[test]
    fn uniform_actor_and_learners_share_one_buffer() {
        let replay = ReplayBuffer::new(1_000, OBS_DIM, 1).expect("valid");
        actor_and_learners(replay, 20_000);
    }

    #[test]
    fn prioritized_actor_and_learners_share_one_buffer() {
        let replay = PrioritizedReplay::new(1_000, OBS_DIM, 1, 0.6).expect("valid");
        actor_and_learners(replay, 20_000);
    }
}
