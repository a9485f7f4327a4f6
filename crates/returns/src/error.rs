//! The crate's error type and the shape checks every public function runs first.

use thiserror::Error;

/// Why an estimator refused its inputs. Every length a caller supplies is checked before any
/// arithmetic, so a bad shape is an `Err`, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReturnsError {
    /// An argument's length does not match the length the other arguments imply.
    #[error("`{name}` has length {actual}, expected {expected}")]
    Length {
        /// The argument (rlax's name for it).
        name: &'static str,
        /// The length implied by the other arguments.
        expected: usize,
        /// The length supplied.
        actual: usize,
    },
    /// A `[T, B]` (or `[T, B, A]`) argument's length is not a multiple of its trailing dimensions.
    #[error("`{name}` has length {len}, which is not a multiple of {inner}")]
    NotMultiple {
        /// The argument.
        name: &'static str,
        /// Its length.
        len: usize,
        /// The product of its trailing dimensions.
        inner: usize,
    },
    /// An argument must hold at least one element (e.g. a trajectory to bootstrap from).
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    /// An action index is not below the number of actions.
    #[error("`{name}[{index}]` = {action} is out of range for {num_actions} actions")]
    ActionOutOfRange {
        /// The argument holding actions.
        name: &'static str,
        /// Position in that argument.
        index: usize,
        /// The offending action.
        action: usize,
        /// Number of actions.
        num_actions: usize,
    },
    /// A scalar parameter is outside its domain (e.g. `n = 0`, `batch = 0`).
    #[error("invalid `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// What it must satisfy.
        reason: &'static str,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = ReturnsError> = std::result::Result<T, E>;

/// `Err(Length)` unless `actual == expected`.
#[inline]
pub(crate) fn expect_len(name: &'static str, actual: usize, expected: usize) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(ReturnsError::Length {
            name,
            expected,
            actual,
        })
    }
}

/// Leading dimension of a flat buffer whose trailing dimensions multiply to `inner`.
#[inline]
pub(crate) fn leading_dim(name: &'static str, len: usize, inner: usize) -> Result<usize> {
    if inner == 0 {
        return Err(ReturnsError::InvalidParameter {
            name,
            reason: "trailing dimensions must be positive",
        });
    }
    if len % inner != 0 {
        return Err(ReturnsError::NotMultiple { name, len, inner });
    }
    Ok(len / inner)
}

/// `Err(InvalidParameter)` unless `n > 0`.
#[inline]
pub(crate) fn positive(name: &'static str, n: usize) -> Result<()> {
    if n == 0 {
        Err(ReturnsError::InvalidParameter {
            name,
            reason: "must be positive",
        })
    } else {
        Ok(())
    }
}

/// Checks every action index against `num_actions`.
pub(crate) fn check_actions(
    name: &'static str,
    actions: &[usize],
    num_actions: usize,
) -> Result<()> {
    match actions.iter().position(|&a| a >= num_actions) {
        None => Ok(()),
        Some(index) => Err(ReturnsError::ActionOutOfRange {
            name,
            index,
            action: actions[index],
            num_actions,
        }),
    }
}
