//! The one error type of the crate.

use thiserror::Error;

/// Everything that can go wrong when building, filling or sampling a replay memory.
///
/// Every public operation validates its input before touching any state: when one of these is
/// returned, nothing was stored or changed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ReplayError {
    /// `capacity` was zero.
    #[error("replay capacity must be at least 1")]
    ZeroCapacity,
    /// `obs_dim` or `act_dim` was zero.
    #[error("{what} must be at least 1")]
    ZeroDim {
        /// `"obs_dim"` or `"act_dim"`.
        what: &'static str,
    },
    /// `capacity × dim` does not fit in memory addressing (`usize` overflow).
    #[error("capacity {capacity} × {what} {dim} overflows usize")]
    CapacityOverflow {
        capacity: usize,
        what: &'static str,
        dim: usize,
    },
    /// A pushed slice had the wrong length.
    #[error("{field} has length {actual}, expected {expected}")]
    LengthMismatch {
        field: &'static str,
        expected: usize,
        actual: usize,
    },
    /// A pushed value was NaN or ±∞.
    #[error("{field}[{index}] is not finite ({value})")]
    NonFinite {
        field: &'static str,
        index: usize,
        value: f32,
    },
    /// The bootstrap discount must lie in `[0, 1]` (NaN is rejected too).
    #[error("discount {0} is outside [0, 1]")]
    InvalidDiscount(f32),
    /// Sampling was asked of a memory that holds no transitions.
    #[error("cannot sample from an empty replay memory")]
    Empty,
    /// Sampling was asked for zero transitions.
    #[error("batch size must be at least 1")]
    ZeroBatchSize,
    /// The prioritization exponent must lie in `[0, 1]` (Schaul et al. 2016, §3.3).
    #[error("priority exponent alpha {0} is outside [0, 1]")]
    InvalidAlpha(f64),
    /// The importance-sampling exponent must be finite and non-negative.
    #[error("importance-sampling exponent beta {0} must be finite and >= 0")]
    InvalidBeta(f64),
    /// The priority offset ε must be finite and strictly positive.
    #[error("priority epsilon {0} must be finite and > 0")]
    InvalidEpsilon(f64),
    /// `indices` and `priorities` passed to `update_priorities` differ in length.
    #[error("{indices} indices but {priorities} priorities")]
    PriorityLengthMismatch { indices: usize, priorities: usize },
    /// An index does not name a stored transition.
    #[error("index {index} is out of range for a replay memory holding {len} transitions")]
    IndexOutOfRange { index: usize, len: usize },
    /// A priority was NaN, negative, or so large that `(p + ε)^α` cannot be summed safely.
    #[error(
        "priority {value} at position {position} must be finite, >= 0 and representable after (p + eps)^alpha"
    )]
    InvalidPriority { position: usize, value: f64 },
    /// A snapshot does not fit this memory (sizes, capacity, ring position, priorities).
    #[error("replay snapshot does not fit this memory: {0}")]
    InvalidSnapshot(String),
}
