//! Exact resume: what an agent adds to its checkpoint so that a restored run continues as if
//! it had never stopped (same seed → the same learning curve, bit for bit).
//!
//! Checkpoints hold f32 tensors and metadata strings. f32 data (replay rows, optimizer
//! moments) goes in as tensors unchanged. Everything else that must be exact — RNG positions
//! (a ChaCha8 RNG is its seed, stream and u128 word position), f64 bits, counters, environment
//! snapshots ([`eirl_envs::snapshot`]) — is a list of `u64` words, stored as a `[len, 4]`
//! tensor of the words' 16-bit pieces (low first): every integer below 2¹⁶ is an f32 exactly,
//! and the pieces survive any round trip of the f32 values, which raw bit patterns (NaNs) might
//! not. That costs 16 bytes a word; the words are few next to a replay memory.
//!
//! An agent marks an exact checkpoint with [`EXACT_KEY`] and restores exactly whenever the
//! checkpoint carries it. Replay memories and n-step buffers have their own layout
//! (see the `replay` submodule's docs: [`insert_replay`], [`insert_sequence_replay`],
//! [`insert_nstep`]). Observation / reward normalisation statistics ([`insert_normalizer`]) go
//! into every checkpoint of a normalising run, exact or not (evaluation needs them); each env's
//! running discounted return ([`insert_normalizer_returns`]) only into exact ones.

mod normalize;
mod replay;

pub use normalize::{
    NORMALIZE_KEY, insert_normalizer, insert_normalizer_returns, normalizer_returns,
    normalizer_stats,
};
pub use replay::{
    insert_nstep, insert_replay, insert_replay_buffer, insert_sequence_replay, restore_nstep,
    restore_replay, restore_replay_buffer, restore_sequence_replay,
};

use eirl_envs::VecEnv;
use eirl_envs::snapshot::{WordReader, push_rng};
use eirl_models::Checkpoint;
use rand_chacha::ChaCha8Rng;

use crate::agent::AgentError;

/// Metadata key that marks a checkpoint carrying the exact-resume state (value `"true"`).
pub const EXACT_KEY: &str = "exact_resume";

/// Marks `ck` as carrying the exact-resume state.
pub fn mark(ck: &mut Checkpoint) {
    ck.set_meta(EXACT_KEY, "true");
}

/// Whether `ck` carries the exact-resume state.
pub fn is_exact(ck: &Checkpoint) -> bool {
    ck.meta(EXACT_KEY) == Some("true")
}

fn missing(name: &str) -> AgentError {
    AgentError::Checkpoint(format!("exact-resume state `{name}` is missing or damaged"))
}

/// Stores `words` under `name` as a `[len, 4]` tensor of 16-bit pieces.
pub fn insert_words(ck: &mut Checkpoint, name: &str, words: &[u64]) {
    let pieces = words
        .iter()
        .flat_map(|w| (0..4).map(move |k| f32::from(((w >> (16 * k)) & 0xFFFF) as u16)))
        .collect();
    ck.insert(name, vec![words.len(), 4], pieces);
}

/// The words [`insert_words`] stored under `name`.
pub fn words(ck: &Checkpoint, name: &str) -> Result<Vec<u64>, AgentError> {
    let (shape, values) = ck.get(name).ok_or_else(|| missing(name))?;
    if shape.len() != 2 || shape[1] != 4 || values.len() != shape[0] * 4 {
        return Err(missing(name));
    }
    values
        .chunks_exact(4)
        .map(|piece| {
            piece.iter().enumerate().try_fold(0u64, |w, (k, &v)| {
                let p = v as u16;
                // Exactly an integer in 0..2¹⁶ (compared as bits: no float equality).
                (f32::from(p).to_bits() == v.to_bits())
                    .then_some(w | (u64::from(p) << (16 * k)))
                    .ok_or_else(|| missing(name))
            })
        })
        .collect()
}

/// Stores an RNG's exact position (seed, stream, word position) under `name`.
pub fn insert_rng(ck: &mut Checkpoint, name: &str, rng: &ChaCha8Rng) {
    let mut w = Vec::new();
    push_rng(&mut w, rng);
    insert_words(ck, name, &w);
}

/// The RNG [`insert_rng`] stored: it draws what the saved one would have drawn next.
pub fn rng(ck: &Checkpoint, name: &str) -> Result<ChaCha8Rng, AgentError> {
    let w = words(ck, name)?;
    let mut r = WordReader::new("checkpoint", &w);
    let rng = r.rng()?;
    r.finish()?;
    Ok(rng)
}

const ENVS: &str = "env";
const OBS: &str = "obs";

/// Stores a [`VecEnv`]'s snapshot (its observations, episode counters, each env's state and
/// RNG) and the agent's current observations `obs` (`[num_envs, obs_dim]`). `Err` when an env
/// cannot be snapshotted (every registered env can).
pub fn insert_envs(ck: &mut Checkpoint, env: &VecEnv, obs: &[f32]) -> Result<(), AgentError> {
    let w = env.snapshot().ok_or_else(|| {
        AgentError::Checkpoint("an environment of this run cannot be snapshotted".into())
    })?;
    insert_words(ck, ENVS, &w);
    ck.insert(OBS, vec![env.num_envs(), env.obs_dim()], obs.to_vec());
    Ok(())
}

/// Checks [`insert_envs`]'s state against `env` (the env id it was built with, its count and
/// width) by restoring the snapshot into a fresh copy, changing nothing; returns the agent's
/// observations. [`restore_envs`] then cannot fail on the same checkpoint.
pub fn read_envs(ck: &Checkpoint, env_id: &str, env: &VecEnv) -> Result<Vec<f32>, AgentError> {
    let obs = match ck.get(OBS) {
        Some((_, v)) if v.len() == env.num_envs() * env.obs_dim() => v.to_vec(),
        _ => {
            return Err(AgentError::Checkpoint(
                "its observations do not fit this agent's environments".into(),
            ));
        }
    };
    let mut probe = VecEnv::new(env_id, env.num_envs(), 0)?;
    restore_envs(ck, &mut probe)?;
    Ok(obs)
}

/// Restores [`insert_envs`]'s snapshot into `env`; changes nothing on error.
pub fn restore_envs(ck: &Checkpoint, env: &mut VecEnv) -> Result<(), AgentError> {
    env.restore_snapshot(&words(ck, ENVS)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::path::Path;

    #[test]
    fn words_and_rngs_survive_a_safetensors_round_trip() -> Result<(), AgentError> {
        let w = [
            0u64,
            1,
            u64::MAX,
            0x8000_0000_0000_0001,
            f64::NAN.to_bits(),
            65_536,
        ];
        let mut saved = ChaCha8Rng::seed_from_u64(9);
        saved.r#gen::<u32>();
        let mut ck = Checkpoint::new();
        insert_words(&mut ck, "w", &w);
        insert_words(&mut ck, "empty", &[]);
        insert_rng(&mut ck, "rng", &saved);
        mark(&mut ck);
        let ck = Checkpoint::from_bytes(&ck.to_bytes()?, Path::new("mem"))?;
        assert!(is_exact(&ck));
        assert_eq!(words(&ck, "w")?, w);
        assert!(words(&ck, "empty")?.is_empty());
        let mut back = rng(&ck, "rng")?;
        assert_eq!(back.r#gen::<u64>(), saved.r#gen::<u64>());
        assert!(words(&ck, "absent").is_err());
        let mut bad = Checkpoint::new();
        bad.insert("w", vec![1, 4], vec![0.5, 0.0, 0.0, 0.0]);
        assert!(words(&bad, "w").is_err());
        bad.insert("w", vec![1, 4], vec![65_536.0, 0.0, 0.0, 0.0]);
        assert!(words(&bad, "w").is_err());
        Ok(())
    }
}
