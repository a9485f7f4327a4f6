//! Observation / reward normalisation statistics ([`eirl_envs::VecNormalize`]) in checkpoints.
//!
//! The statistics travel with the model: every checkpoint of a normalising run carries them
//! (under [`NORMALIZE_KEY`], as exact f64 words), so evaluation, `eirl eval`, `eirl demo
//! record` and a run used as an expert normalise observations exactly as training last did.
//! Exact-resume checkpoints add each env's running discounted return.

use eirl_envs::{NormalizeStats, Normalizer};
use eirl_models::Checkpoint;

use super::{insert_words, words};
use crate::agent::AgentError;

/// Tensor (and metadata key) of the normalisation statistics; the metadata value names what
/// is normalised (`obs`, `reward` or `obs+reward`).
pub const NORMALIZE_KEY: &str = "normalize";
const RETURNS: &str = "normalize_returns";

fn what(norm: &Normalizer) -> &'static str {
    match (norm.config().obs, norm.config().reward) {
        (true, true) => "obs+reward",
        (true, false) => "obs",
        (false, true) => "reward",
        (false, false) => "none",
    }
}

/// Stores `norm`'s statistics when it normalises anything (nothing otherwise, so checkpoints
/// of runs without normalisation are unchanged).
pub fn insert_normalizer(ck: &mut Checkpoint, norm: &Normalizer) {
    if norm.config().is_active() {
        ck.set_meta(NORMALIZE_KEY, what(norm));
        insert_words(ck, NORMALIZE_KEY, &norm.stats().to_words());
    }
}

/// The statistics [`insert_normalizer`] stored, checked against `norm` (what it normalises and
/// the observation width) without changing it; `None` for a run without normalisation.
///
/// # Errors
/// [`AgentError::Checkpoint`] when the checkpoint normalises other things than `norm`'s
/// config (a checkpoint without statistics for a normalising config, or the reverse) or its
/// statistics are malformed.
pub fn normalizer_stats(
    ck: &Checkpoint,
    norm: &Normalizer,
) -> Result<Option<NormalizeStats>, AgentError> {
    let saved = ck.meta(NORMALIZE_KEY).unwrap_or("none");
    let expected = what(norm);
    if saved != expected {
        return Err(AgentError::Checkpoint(format!(
            "it was trained with normalisation `{saved}`, this config has `{expected}` \
             (normalize_obs / normalize_reward)"
        )));
    }
    if !norm.config().is_active() {
        return Ok(None);
    }
    let w = words(ck, NORMALIZE_KEY)?;
    NormalizeStats::from_words(&w, norm.stats().obs.dim())
        .map(Some)
        .map_err(|e| AgentError::Checkpoint(e.to_string()))
}

/// Exact resume: stores each env's running discounted return (f64 bits).
pub fn insert_normalizer_returns(ck: &mut Checkpoint, norm: &Normalizer) {
    if norm.config().is_active() {
        let w: Vec<u64> = norm.returns().iter().map(|r| r.to_bits()).collect();
        insert_words(ck, RETURNS, &w);
    }
}

/// The running returns [`insert_normalizer_returns`] stored (`None` without normalisation),
/// checked against `norm`'s number of envs.
///
/// # Errors
/// [`AgentError::Checkpoint`] when they are missing, of another length or not finite.
pub fn normalizer_returns(
    ck: &Checkpoint,
    norm: &Normalizer,
) -> Result<Option<Vec<f64>>, AgentError> {
    if !norm.config().is_active() {
        return Ok(None);
    }
    let r: Vec<f64> = words(ck, RETURNS)?
        .into_iter()
        .map(f64::from_bits)
        .collect();
    let mut probe = norm.clone();
    probe
        .set_returns(&r)
        .map_err(|e| AgentError::Checkpoint(e.to_string()))?;
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use eirl_envs::NormalizeConfig;

    #[test]
    fn statistics_round_trip_through_a_saved_checkpoint() -> Result<(), Box<dyn std::error::Error>>
    {
        let cfg = NormalizeConfig::new(true, true, 0.99);
        let mut norm = Normalizer::new(cfg, 2, 3)?;
        let mut obs = [0.1, -2.0, 3.5, 1e3, 0.25, -7.0];
        norm.reset(&mut obs)?;
        let (mut o, mut f) = ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.0; 6]);
        let mut r = [-1.5, 0.3];
        norm.step(&mut o, &mut f, &mut r, &[true, false])?;
        let mut ck = Checkpoint::new();
        insert_normalizer(&mut ck, &norm);
        insert_normalizer_returns(&mut ck, &norm);
        let path = std::env::temp_dir().join(format!("eirl-normalize-{}.ckpt", std::process::id()));
        ck.save(&path)?;
        let back = Checkpoint::load(&path)?;
        std::fs::remove_file(&path)?;
        let fresh = Normalizer::new(cfg, 2, 3)?;
        let stats = normalizer_stats(&back, &fresh)?.ok_or("no statistics")?;
        assert_eq!(stats.to_words(), norm.stats().to_words());
        let returns = normalizer_returns(&back, &fresh)?.ok_or("no returns")?;
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&returns), bits(norm.returns()));
        // Another config refuses it; a run without normalisation stores nothing.
        let obs_only = Normalizer::new(NormalizeConfig::new(true, false, 0.99), 2, 3)?;
        assert!(normalizer_stats(&back, &obs_only).is_err());
        let off = Normalizer::new(NormalizeConfig::new(false, false, 0.99), 2, 3)?;
        assert!(normalizer_stats(&back, &off).is_err());
        let mut plain = Checkpoint::new();
        insert_normalizer(&mut plain, &off);
        assert_eq!(plain.names().count(), 0);
        assert!(normalizer_stats(&plain, &off)?.is_none());
        assert!(normalizer_stats(&plain, &fresh).is_err());
        Ok(())
    }
}
