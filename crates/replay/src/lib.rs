//! Experience replay for eirl: plain numerics over flat `f32` arrays, no networks, no envs.
//!
//! - [`ReplayBuffer`]: the uniform ring buffer of DQN (Mnih et al. 2015) and of SV-RL's
//!   value-matrix agents (Yang et al. 2020), oldest transition evicted first.
//! - [`PrioritizedReplay`]: proportional prioritized replay (Schaul et al. 2016) on a
//!   [`SumTree`], with a [`MinTree`] for normalising importance weights by their maximum.
//! - [`Replay`]: the trait agents code against; [`AnyReplay`] picks one at run time.
//! - [`SharedReplay`]: one memory shared by an actor thread and learner threads.
//!
//! - [`NStepBuffer`]: turns one env's steps into n-step transitions for any of these memories
//!   (Sutton & Barto §7.1; Hessel et al. 2018), bootstrapping through time-limit truncations.
//!
//! - [`SequenceReplay`]: ACER's memory of whole `k`-step sequences with the behaviour
//!   distribution μ(·|x) (Wang et al. 2017), sampled as time-major [`SequenceBatch`]es.
//!
//! Conventions: transitions are `(obs, action, reward, discount, next_obs)` with `discount` the
//! bootstrap multiplier `γⁿ·(1 − terminated)` computed by the agent (a time-limit truncation
//! keeps it non-zero); a discrete action is stored as one `f32` holding its index. Batches are
//! row-major `[B, dim]` ([`TransitionBatch`]). Randomness comes only from the caller's RNG.
//!
//! ```
//! use eirl_replay::{PrioritizedReplay, ReplayBuffer, TransitionBatch};
//! use rand::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! // CartPole: 4 observations, one discrete action stored as its index.
//! let mut buffer = ReplayBuffer::new(10_000, 4, 1)?;
//! buffer.push(&[0.0, 0.1, 0.0, -0.1], &[1.0], 1.0, 0.99, &[0.0, 0.2, 0.0, -0.2])?;
//! let mut batch = TransitionBatch::default();
//! buffer.sample_into(32, &mut rng, &mut batch)?;
//! assert_eq!(batch.obs.len(), 32 * 4);
//!
//! let mut per = PrioritizedReplay::new(10_000, 4, 1, 0.6)?;
//! per.push(&[0.0; 4], &[0.0], 0.0, 0.0, &[0.0; 4])?;
//! let batch = per.sample(8, 0.4, &mut rng)?;
//! let td_errors: Vec<f64> = vec![0.5; batch.batch_size];
//! per.update_priorities(&batch.indices, &td_errors)?;
//! assert!(batch.weights.iter().all(|&w| w > 0.0 && w <= 1.0));
//! # Ok::<(), eirl_replay::ReplayError>(())
//! ```

mod batch;
mod error;
mod nstep;
mod prioritized;
mod sequence;
mod shared;
mod snapshot;
mod storage;
mod sum_tree;
mod uniform;

pub use batch::{Transition, TransitionBatch};
pub use error::ReplayError;
pub use nstep::{NStepBuffer, NStepTransition};
pub use prioritized::{DEFAULT_BETA, DEFAULT_PRIORITY_EPS, PrioritizedReplay};
pub use sequence::{SequenceBatch, SequenceReplay};
pub use shared::SharedReplay;
pub use snapshot::{PrioritizedSnapshot, ReplaySnapshot, SequenceSnapshot};
pub use sum_tree::{MinTree, SumTree};
pub use uniform::ReplayBuffer;

use rand::Rng;

/// What an agent needs from a replay memory, so it can hold either kind behind one type
/// parameter (or an [`AnyReplay`]).
pub trait Replay {
    /// Stores one transition (see [`ReplayBuffer::push`] for validation).
    fn push(
        &mut self,
        obs: &[f32],
        action: &[f32],
        reward: f32,
        discount: f32,
        next_obs: &[f32],
    ) -> Result<(), ReplayError>;

    /// Samples `batch_size` transitions into `out`, reusing its allocations. Prioritized
    /// memories use their configured β ([`PrioritizedReplay::set_beta`]).
    fn sample_into<G: Rng + ?Sized>(
        &self,
        batch_size: usize,
        rng: &mut G,
        out: &mut TransitionBatch,
    ) -> Result<(), ReplayError>;

    /// Feeds new priorities (e.g. `|δ|`) back for the slots in `indices`. Uniform replay has
    /// no priorities and ignores them.
    fn update_priorities(
        &mut self,
        indices: &[usize],
        priorities: &[f64],
    ) -> Result<(), ReplayError>;

    /// Number of stored transitions.
    fn len(&self) -> usize;

    /// Maximum number of stored transitions.
    fn capacity(&self) -> usize;

    /// `true` when nothing is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Replay for ReplayBuffer {
    fn push(
        &mut self,
        obs: &[f32],
        action: &[f32],
        reward: f32,
        discount: f32,
        next_obs: &[f32],
    ) -> Result<(), ReplayError> {
        ReplayBuffer::push(self, obs, action, reward, discount, next_obs)
    }

    fn sample_into<G: Rng + ?Sized>(
        &self,
        batch_size: usize,
        rng: &mut G,
        out: &mut TransitionBatch,
    ) -> Result<(), ReplayError> {
        ReplayBuffer::sample_into(self, batch_size, rng, out)
    }

    fn update_priorities(
        &mut self,
        _indices: &[usize],
        _priorities: &[f64],
    ) -> Result<(), ReplayError> {
        Ok(())
    }

    fn len(&self) -> usize {
        ReplayBuffer::len(self)
    }

    fn capacity(&self) -> usize {
        ReplayBuffer::capacity(self)
    }
}

impl Replay for PrioritizedReplay {
    fn push(
        &mut self,
        obs: &[f32],
        action: &[f32],
        reward: f32,
        discount: f32,
        next_obs: &[f32],
    ) -> Result<(), ReplayError> {
        PrioritizedReplay::push(self, obs, action, reward, discount, next_obs)
    }

    fn sample_into<G: Rng + ?Sized>(
        &self,
        batch_size: usize,
        rng: &mut G,
        out: &mut TransitionBatch,
    ) -> Result<(), ReplayError> {
        PrioritizedReplay::sample_into(self, batch_size, self.beta(), rng, out)
    }

    fn update_priorities(
        &mut self,
        indices: &[usize],
        priorities: &[f64],
    ) -> Result<(), ReplayError> {
        PrioritizedReplay::update_priorities(self, indices, priorities)
    }

    fn len(&self) -> usize {
        PrioritizedReplay::len(self)
    }

    fn capacity(&self) -> usize {
        PrioritizedReplay::capacity(self)
    }
}

/// Either memory, chosen at run time (e.g. from an agent's config).
#[derive(Clone, Debug)]
pub enum AnyReplay {
    Uniform(ReplayBuffer),
    Prioritized(PrioritizedReplay),
}

impl From<ReplayBuffer> for AnyReplay {
    fn from(replay: ReplayBuffer) -> Self {
        Self::Uniform(replay)
    }
}

impl From<PrioritizedReplay> for AnyReplay {
    fn from(replay: PrioritizedReplay) -> Self {
        Self::Prioritized(replay)
    }
}

impl Replay for AnyReplay {
    fn push(
        &mut self,
        obs: &[f32],
        action: &[f32],
        reward: f32,
        discount: f32,
        next_obs: &[f32],
    ) -> Result<(), ReplayError> {
        match self {
            Self::Uniform(r) => r.push(obs, action, reward, discount, next_obs),
            Self::Prioritized(r) => r.push(obs, action, reward, discount, next_obs),
        }
    }

    fn sample_into<G: Rng + ?Sized>(
        &self,
        batch_size: usize,
        rng: &mut G,
        out: &mut TransitionBatch,
    ) -> Result<(), ReplayError> {
        match self {
            Self::Uniform(r) => Replay::sample_into(r, batch_size, rng, out),
            Self::Prioritized(r) => Replay::sample_into(r, batch_size, rng, out),
        }
    }

    fn update_priorities(
        &mut self,
        indices: &[usize],
        priorities: &[f64],
    ) -> Result<(), ReplayError> {
        match self {
            Self::Uniform(r) => Replay::update_priorities(r, indices, priorities),
            Self::Prioritized(r) => r.update_priorities(indices, priorities),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Uniform(r) => r.len(),
            Self::Prioritized(r) => r.len(),
        }
    }

    fn capacity(&self) -> usize {
        match self {
            Self::Uniform(r) => r.capacity(),
            Self::Prioritized(r) => r.capacity(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A learner written once against the trait runs on either memory.
    fn learn_step<R: Replay>(replay: &mut R, rng: &mut ChaCha8Rng) -> TransitionBatch {
        for k in 0..10 {
            let x = k as f32;
            replay
                .push(&[x, x], &[0.0], x, 1.0, &[x, x])
                .expect("valid");
        }
        let mut out = TransitionBatch::default();
        replay.sample_into(4, rng, &mut out).expect("sample");
        replay
            .update_priorities(&out.indices, &[1.0; 4])
            .expect("update");
        out
    }

    #[test]
    fn trait_and_enum_drive_both_memories() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut memories: Vec<AnyReplay> = vec![
            ReplayBuffer::new(8, 2, 1).expect("valid").into(),
            PrioritizedReplay::new(8, 2, 1, 0.6).expect("valid").into(),
        ];
        for memory in &mut memories {
            let batch = learn_step(memory, &mut rng);
            assert_eq!(batch.batch_size, 4);
            assert_eq!(memory.len(), 8);
            assert_eq!(memory.capacity(), 8);
            assert!(!memory.is_empty());
        }
        let mut uniform = ReplayBuffer::new(8, 2, 1).expect("valid");
        learn_step(&mut uniform, &mut rng);
    }

    #[test]
    fn errors_have_clear_messages() {
        let e = ReplayError::LengthMismatch {
            field: "obs",
            expected: 4,
            actual: 3,
        };
        assert_eq!(e.to_string(), "obs has length 3, expected 4");
        assert_eq!(
            ReplayError::Empty.to_string(),
            "cannot sample from an empty replay memory"
        );
    }
}
