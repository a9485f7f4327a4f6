//! Size limits a config is checked against before anything is allocated: a replay memory of
//! `buffer_size = 100000000000` is a clear error naming the setting and both byte counts, and
//! `hidden = [100000, 100000]` one naming the parameter limit, not an allocation abort.

use crate::settings::{ConfigError, ensure};

/// What [`memory_budget`] falls back to where the available memory cannot be read (no
/// `/proc/meminfo`, i.e. not Linux): 16 GiB.
pub const FALLBACK_MEMORY_BYTES: u64 = 16 << 30;

/// Bytes a config may plan to allocate, and where that number comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    pub bytes: u64,
    /// `"MemAvailable in /proc/meminfo"` or the fallback's description.
    pub source: &'static str,
}

/// The machine's available memory (`MemAvailable` in `/proc/meminfo` on Linux), else
/// [`FALLBACK_MEMORY_BYTES`].
pub fn memory_budget() -> MemoryBudget {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_available(&text))
        .map_or(
            MemoryBudget {
                bytes: FALLBACK_MEMORY_BYTES,
                source: "the fixed cap used where /proc/meminfo is unreadable",
            },
            |bytes| MemoryBudget {
                bytes,
                source: "MemAvailable in /proc/meminfo",
            },
        )
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let mut parts = line.split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    let scale = match parts.next() {
        Some("kB") | Some("KB") => 1024,
        None => 1,
        Some(_) => return None,
    };
    value.checked_mul(scale)
}

/// `Ok` when `count` items of `bytes_each` bytes fit in `budget`; else an error naming
/// `setting` (e.g. `"buffer_size = 100000000000"`), the bytes needed and the bytes available.
pub fn ensure_fits(
    setting: &str,
    count: u64,
    bytes_each: u64,
    budget: MemoryBudget,
) -> Result<(), ConfigError> {
    let needed = count.checked_mul(bytes_each);
    ensure(needed.is_some_and(|n| n <= budget.bytes), || {
        let needed = needed.map_or_else(|| "more than 2^64 bytes".into(), format_bytes);
        format!(
            "{setting} needs {needed} ({count} × {bytes_each} B), more than the {} \
             available ({})",
            format_bytes(budget.bytes),
            budget.source
        )
    })
}

/// [`ensure_fits`] against this machine's [`memory_budget`].
pub fn ensure_fits_in_memory(
    setting: &str,
    count: u64,
    bytes_each: u64,
) -> Result<(), ConfigError> {
    ensure_fits(setting, count, bytes_each, memory_budget())
}

/// Bytes of one transition in a replay memory of flat `f32` arrays: observation, next
/// observation, action, reward and discount (`eirl_replay::ReplayBuffer`'s layout).
pub fn transition_bytes(obs_dim: usize, act_dim: usize) -> u64 {
    let floats = (obs_dim as u64)
        .saturating_mul(2)
        .saturating_add(act_dim as u64)
        .saturating_add(2);
    floats.saturating_mul(4)
}

/// Bytes of one step in a sequence replay memory (`eirl_replay::SequenceReplay`'s layout):
/// observation, next observation, action, behaviour distribution, reward, discount (`f32`) and
/// a done flag (one byte).
pub fn sequence_step_bytes(obs_dim: usize, act_dim: usize, dist_dim: usize) -> u64 {
    let floats = (obs_dim as u64)
        .saturating_mul(2)
        .saturating_add(act_dim as u64)
        .saturating_add(dist_dim as u64)
        .saturating_add(2);
    floats.saturating_mul(4).saturating_add(1)
}

/// `Ok` when `copies` networks with hidden widths `hidden` stay within
/// [`eirl_models::MAX_PARAMETERS`] (2²⁸ parameters = 1 GiB of f32), counted with one input and
/// one output (a lower bound of the network the environment fixes); else an error naming
/// `setting`.
pub fn ensure_network_size(
    setting: &str,
    hidden: &[usize],
    copies: usize,
) -> Result<(), ConfigError> {
    eirl_models::check_hidden(setting, hidden, copies).map_err(|e| match e {
        eirl_models::ModelError::Config(msg) => ConfigError(msg),
        other => ConfigError(other.to_string()),
    })
}

/// `n` bytes with a binary unit (indicatif's `BinaryBytes`) and the exact count:
/// `2.00 TiB (2199023255552 B)`; below 1 KiB just `512 B`.
pub fn format_bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else {
        format!("{} ({n} B)", indicatif::BinaryBytes(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_available() {
        let text = "MemTotal:       16318508 kB\nMemFree:  1 kB\nMemAvailable:   12000000 kB\n";
        assert_eq!(mem_available(text), Some(12_000_000 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: lots\n"), None);
        assert!(memory_budget().bytes > 0);
    }

    #[test]
    fn too_large_names_setting_and_both_numbers() {
        let budget = MemoryBudget {
            bytes: 8 << 30,
            source: "test",
        };
        assert!(ensure_fits("buffer_size = 1000000", 1_000_000, 40, budget).is_ok());
        let err = ensure_fits("buffer_size = 100000000000", 100_000_000_000, 40, budget)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("buffer_size = 100000000000"), "{err}");
        assert!(err.contains("4000000000000 B"), "{err}");
        assert!(err.contains("8589934592 B"), "{err}");
        assert!(ensure_fits("x", u64::MAX, 2, budget).is_err());
        assert_eq!(transition_bytes(4, 1), 44);
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(2 << 40), "2.00 TiB (2199023255552 B)");
        assert_eq!(sequence_step_bytes(1, 1, 1), 25);
        let err = ensure_network_size("network.hidden", &[100_000, 100_000], 1)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("network.hidden") && err.contains("268435456"),
            "{err}"
        );
    }
}
