//! Fuzzing of eirl's decoders with proptest, on stable Rust.
//!
//! Inputs are random bytes, or valid files (the *seeds*) mutated by bit flips, byte
//! overwrites, truncations, splices of one seed into another, insertions, and replacements of
//! a number by an extreme literal (`1e300`, `-1`, `18446744073709551615`, `nan`…). The
//! property every decoder must keep: it returns `Ok` or an error, never panics (a panic fails
//! the run with the input that caused it).
//!
//! [`run`] executes [`cases`] inputs: [`DEFAULT_CASES`] in the default test suite, or the
//! number in the `EIRL_FUZZ_CASES` environment variable (`cargo xtask fuzz` sets 10⁶), and
//! prints the count and the time taken.
//!
//! ```
//! use eirl_testkit::fuzz;
//! let seeds = vec![b"hello = 1".to_vec()];
//! fuzz::run("example", fuzz::bytes(seeds), |input| {
//!     let _ = std::str::from_utf8(&input);
//!     Ok(())
//! });
//! ```

use std::cell::Cell;
use std::time::Instant;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};

/// Environment variable holding the number of inputs per decoder.
pub const CASES_VAR: &str = "EIRL_FUZZ_CASES";
/// Inputs per decoder in the default test suite: a few hundred, well under a second each.
pub const DEFAULT_CASES: u32 = 300;

/// Inputs per decoder: `EIRL_FUZZ_CASES`, else [`DEFAULT_CASES`].
pub fn cases() -> u32 {
    std::env::var(CASES_VAR)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// Literals that stress range checks when they replace a number in a text file.
const EXTREMES: [&str; 12] = [
    "0",
    "-1",
    "1e300",
    "-1e300",
    "nan",
    "inf",
    "1e-45",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "100000000000",
    "99999999999999999999999",
];

/// One edit of an input.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Flip bit `bit` of the byte at the index.
    Flip(Index, u8),
    /// Overwrite the byte at the index.
    Set(Index, u8),
    /// Cut the input at the index.
    Truncate(Index),
    /// Insert bytes at the index.
    Insert(Index, Vec<u8>),
    /// Copy `len` bytes of the seed chosen by the first index, starting at the second, over
    /// the input at the third.
    Splice(Index, Index, Index, u16),
    /// Replace the run of digits around the index with an extreme literal.
    Number(Index, usize),
}

impl Mutation {
    fn apply(&self, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        match self {
            Mutation::Flip(at, bit) if !input.is_empty() => {
                let i = at.index(input.len());
                input[i] ^= 1 << (bit % 8);
            }
            Mutation::Set(at, value) if !input.is_empty() => {
                let i = at.index(input.len());
                input[i] = *value;
            }
            Mutation::Truncate(at) => input.truncate(at.index(input.len() + 1)),
            Mutation::Insert(at, bytes) => {
                let i = at.index(input.len() + 1);
                input.splice(i..i, bytes.iter().copied());
            }
            Mutation::Splice(which, from, to, len) if !seeds.is_empty() => {
                let donor = &seeds[which.index(seeds.len())];
                if donor.is_empty() {
                    return;
                }
                let start = from.index(donor.len());
                let end = (start + usize::from(*len)).min(donor.len());
                let at = to.index(input.len() + 1);
                let stop = (at + (end - start)).min(input.len());
                input.splice(at..stop, donor[start..end].iter().copied());
            }
            Mutation::Number(at, which) if !input.is_empty() => {
                let i = at.index(input.len());
                let Some(mut start) = (i..input.len()).find(|&j| input[j].is_ascii_digit()) else {
                    return;
                };
                while start > 0 && (input[start - 1].is_ascii_digit() || input[start - 1] == b'.') {
                    start -= 1;
                }
                let mut end = start;
                while end < input.len() && (input[end].is_ascii_digit() || input[end] == b'.') {
                    end += 1;
                }
                let literal = EXTREMES[which % EXTREMES.len()].as_bytes();
                input.splice(start..end, literal.iter().copied());
            }
            _ => {}
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), any::<Index>(), any::<Index>(), 1u16..512)
            .prop_map(|(a, b, c, n)| Mutation::Splice(a, b, c, n)),
        2 => (any::<Index>(), any::<usize>()).prop_map(|(i, w)| Mutation::Number(i, w)),
    ]
}

/// Random bytes (one input in five) or one of `seeds` with one to eight [`Mutation`]s.
pub fn bytes(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let pick = seeds.clone();
    let mutated = (any::<Index>(), prop::collection::vec(mutation(), 1..8)).prop_map(
        move |(which, edits)| {
            let mut input = pick
                .get(which.index(pick.len().max(1)))
                .cloned()
                .unwrap_or_default();
            for edit in &edits {
                edit.apply(&mut input, &pick);
            }
            input
        },
    );
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        4 => mutated,
    ]
}

/// Runs `check` on [`cases`] inputs drawn from `strategy`, then prints
/// `fuzz <name>: <n> inputs in <t> s` to stderr. Panics (failing the test) with the minimal
/// failing input when `check` fails or panics on one.
pub fn run<S>(name: &str, strategy: S, check: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        // A failure is reported with its input; shrinking a large one must not run for ages.
        max_shrink_iters: 2_048,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let count = Cell::new(0u64);
    let start = Instant::now();
    let result = runner.run(&strategy, |input| {
        count.set(count.get() + 1);
        check(input)
    });
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "fuzz {name}: {} inputs in {secs:.2} s ({:.0} inputs/s)",
        count.get(),
        count.get() as f64 / secs.max(1e-9)
    );
    if let Err(failure) = result {
        panic!("fuzz {name} failed: {failure}");
    }
}

/// Fuzzes a TOML config type: `seeds` (preset files, the defaults) mutated or replaced by
/// random bytes, deserialised as `C` and, when that succeeds, checked by `validate`. Property:
/// deserialisation and validation return `Ok` or an error, never panic. Prints how many inputs
/// parsed and how many of those validated.
pub fn run_toml<C, E>(name: &str, seeds: &[&str], validate: impl Fn(&C) -> Result<(), E>)
where
    C: serde::de::DeserializeOwned,
{
    let parsed = Cell::new(0u64);
    let valid = Cell::new(0u64);
    let seeds = seeds.iter().map(|s| s.as_bytes().to_vec()).collect();
    run(name, bytes(seeds), |input| {
        let text = String::from_utf8_lossy(&input);
        if let Ok(cfg) = toml::from_str::<C>(&text) {
            parsed.set(parsed.get() + 1);
            if validate(&cfg).is_ok() {
                valid.set(valid.get() + 1);
            }
        }
        Ok(())
    });
    eprintln!(
        "fuzz {name}: {} inputs parsed, {} of them valid",
        parsed.get(),
        valid.get()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_in_bounds() {
        let seeds = vec![b"gamma = 0.99\nbuffer_size = 1000\n".to_vec(), Vec::new()];
        run("mutations", bytes(seeds), |input| {
            prop_assert!(input.len() < 4096);
            Ok(())
        });
    }

    #[test]
    fn numbers_become_extremes() {
        use proptest::strategy::ValueTree;
        let mut runner = TestRunner::deterministic();
        let mut replaced = 0;
        for _ in 0..64 {
            let Ok(tree) = any::<Index>().new_tree(&mut runner) else {
                continue;
            };
            let mut input = b"x = 12.5".to_vec();
            Mutation::Number(tree.current(), 2).apply(&mut input, &[]);
            if input != b"x = 12.5" {
                assert_eq!(input, b"x = 1e300");
                replaced += 1;
            }
        }
        assert!(replaced > 0);
    }
}
