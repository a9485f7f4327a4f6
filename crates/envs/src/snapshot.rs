//! Exact snapshots of environment state as `u64` words, for exact resume: every value that
//! decides an env's future (its f64 physical state as bit patterns, flags, counters, and its
//! ChaCha8 RNG's seed, stream and word position) so that a restored env continues bit for bit.
//!
//! Words rather than floats because the RNG position and f64 bits do not fit an f32; a caller
//! that stores words in a float container splits them itself (see `eirl_agent::exact`).

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::EnvError;

/// Words one ChaCha8 RNG occupies: 4 seed words, the stream, the word position (u128, low then
/// high).
pub const RNG_WORDS: usize = 7;

/// Appends `rng`'s exact position: seed (4 words, little-endian), stream, word position.
/// [`WordReader::rng`] rebuilds an RNG that draws the same numbers from there on.
pub fn push_rng(out: &mut Vec<u64>, rng: &ChaCha8Rng) {
    let seed = rng.get_seed();
    for chunk in seed.chunks_exact(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        out.push(u64::from_le_bytes(b));
    }
    out.push(rng.get_stream());
    let pos = rng.get_word_pos();
    out.push(pos as u64);
    out.push((pos >> 64) as u64);
}

/// Reads words written by [`push_rng`], [`push_f64s`] and plain pushes, in order, naming the env
/// in errors; [`WordReader::finish`] checks that nothing is left over.
pub struct WordReader<'a> {
    env: &'static str,
    words: &'a [u64],
    pos: usize,
}

impl<'a> WordReader<'a> {
    pub fn new(env: &'static str, words: &'a [u64]) -> Self {
        WordReader { env, words, pos: 0 }
    }

    /// The next word.
    pub fn word(&mut self) -> Result<u64, EnvError> {
        let w = self
            .words
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.err("too short"))?;
        self.pos += 1;
        Ok(w)
    }

    /// The next word as a `usize`.
    pub fn usize(&mut self) -> Result<usize, EnvError> {
        let w = self.word()?;
        usize::try_from(w).map_err(|_| self.err("count out of range"))
    }

    /// The next word as a flag (0 or 1).
    pub fn flag(&mut self) -> Result<bool, EnvError> {
        match self.word()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.err("flag is neither 0 nor 1")),
        }
    }

    /// The next word as the bits of an f64.
    pub fn f64(&mut self) -> Result<f64, EnvError> {
        Ok(f64::from_bits(self.word()?))
    }

    /// `N` f64s.
    pub fn f64s<const N: usize>(&mut self) -> Result<[f64; N], EnvError> {
        let mut out = [0.0; N];
        for v in &mut out {
            *v = self.f64()?;
        }
        Ok(out)
    }

    /// `n` f64s (as [`push_f64s`] wrote them).
    pub fn f64_vec(&mut self, n: usize) -> Result<Vec<f64>, EnvError> {
        Ok(self.words(n)?.iter().map(|&w| f64::from_bits(w)).collect())
    }

    /// The next `n` words.
    pub fn words(&mut self, n: usize) -> Result<&'a [u64], EnvError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.words.len())
            .ok_or_else(|| self.err("too short"))?;
        let out = &self.words[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// An RNG written by [`push_rng`].
    pub fn rng(&mut self) -> Result<ChaCha8Rng, EnvError> {
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.word()?.to_le_bytes());
        }
        let stream = self.word()?;
        let low = self.word()?;
        let high = self.word()?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(stream);
        rng.set_word_pos(u128::from(low) | (u128::from(high) << 64));
        Ok(rng)
    }

    /// Errors unless every word was read.
    pub fn finish(self) -> Result<(), EnvError> {
        if self.pos == self.words.len() {
            Ok(())
        } else {
            Err(self.err("has words left over"))
        }
    }

    fn err(&self, what: &str) -> EnvError {
        EnvError::InvalidState {
            env: self.env,
            reason: format!(
                "snapshot {what} (at word {} of {})",
                self.pos,
                self.words.len()
            ),
        }
    }
}

/// Appends the bits of each f64.
pub fn push_f64s(out: &mut Vec<u64>, values: &[f64]) {
    out.extend(values.iter().map(|v| v.to_bits()));
}

/// The error of an env that cannot snapshot its state.
pub(crate) fn unsupported(env: &'static str) -> EnvError {
    EnvError::InvalidState {
        env,
        reason: "this environment cannot restore a snapshot".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn a_restored_rng_continues_the_stream_at_any_offset() -> Result<(), EnvError> {
        for skip in [0usize, 1, 3, 15, 16, 17, 63, 64, 65, 1000] {
            let mut a = ChaCha8Rng::seed_from_u64(42);
            a.set_stream(7);
            for _ in 0..skip {
                a.r#gen::<u32>();
            }
            // An odd offset leaves half of a 64-bit block consumed.
            let mut words = Vec::new();
            push_rng(&mut words, &a);
            let mut r = WordReader::new("test", &words);
            let mut b = r.rng()?;
            r.finish()?;
            for _ in 0..100 {
                assert_eq!(a.r#gen::<u64>(), b.r#gen::<u64>(), "skip {skip}");
                assert_eq!(a.gen_range(0..7usize), b.gen_range(0..7usize));
                assert_eq!(a.r#gen::<f64>().to_bits(), b.r#gen::<f64>().to_bits());
            }
        }
        Ok(())
    }

    #[test]
    fn short_or_long_snapshots_are_errors() {
        let mut r = WordReader::new("test", &[1, 2]);
        assert!(r.flag().is_ok());
        assert!(r.flag().is_err());
        let mut r = WordReader::new("test", &[0, 0]);
        assert!(r.word().is_ok());
        assert!(r.finish().is_err());
        assert!(WordReader::new("test", &[1]).rng().is_err());
    }
}
