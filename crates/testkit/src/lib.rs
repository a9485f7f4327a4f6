//! Dev-only helpers shared by eirl's tests.
//!
//! One tolerance vocabulary for the whole workspace: numpy's `allclose`,
//! `|actual − expected| ≤ atol + rtol·|expected|`, elementwise.
//!
//! ```
//! use eirl_testkit::{allclose, Tol};
//! assert!(allclose(&[1.0_f64, 2.0], &[1.0, 2.0 + 1e-12], Tol::F64));
//! ```

pub mod fuzz;

use num_traits::Float;
use proptest::prelude::*;

/// Absolute and relative tolerance for [`allclose`].
#[derive(Debug, Clone, Copy)]
pub struct Tol {
    pub atol: f64,
    pub rtol: f64,
}

impl Tol {
    /// Tolerance for float64 conformance against reference peers.
    pub const F64: Tol = Tol {
        atol: 1e-10,
        rtol: 1e-10,
    };
    /// Tolerance for float32 computations.
    pub const F32: Tol = Tol {
        atol: 1e-4,
        rtol: 1e-4,
    };

    pub const fn new(atol: f64, rtol: f64) -> Self {
        Tol { atol, rtol }
    }
}

/// `|a − e| ≤ atol + rtol·|e|` for one pair; NaN equals NaN (numpy's `equal_nan=True`).
pub fn isclose<F: Float>(actual: F, expected: F, tol: Tol) -> bool {
    let (a, e) = (
        actual.to_f64().unwrap_or(f64::NAN),
        expected.to_f64().unwrap_or(f64::NAN),
    );
    if a.is_nan() || e.is_nan() {
        return a.is_nan() && e.is_nan();
    }
    if a.is_infinite() || e.is_infinite() {
        return a.is_infinite() && e.is_infinite() && a.is_sign_positive() == e.is_sign_positive();
    }
    (a - e).abs() <= tol.atol + tol.rtol * e.abs()
}

/// Elementwise [`isclose`] over two slices of equal length.
pub fn allclose<F: Float>(actual: &[F], expected: &[F], tol: Tol) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(&a, &e)| isclose(a, e, tol))
}

/// Panics with the first mismatching index and both values when the slices are not close.
#[track_caller]
pub fn assert_allclose<F: Float + std::fmt::Debug>(
    actual: &[F],
    expected: &[F],
    tol: Tol,
    what: &str,
) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: length {} != expected {}",
        actual.len(),
        expected.len()
    );
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            isclose(a, e, tol),
            "{what}: index {i}: actual {a:?} vs expected {e:?} (atol {}, rtol {})",
            tol.atol,
            tol.rtol
        );
    }
}

/// Strategy: a vector of `len` finite floats in `[lo, hi]`.
pub fn vec_in(lo: f64, hi: f64, len: usize) -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(lo..=hi, len)
}

/// Strategy: per-step discounts in `[0, 1]`, with roughly one in `zero_every` exactly 0 (episode ends).
pub fn discounts(len: usize, zero_every: u32) -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(
        (0..zero_every.max(1), 0.0..=1.0f64).prop_map(|(k, d)| if k == 0 { 0.0 } else { d }),
        len,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isclose_follows_numpy() {
        assert!(isclose(1.0, 1.0 + 1e-11, Tol::F64));
        assert!(!isclose(1.0, 1.0 + 1e-8, Tol::F64));
        assert!(isclose(f64::NAN, f64::NAN, Tol::F64));
        assert!(!isclose(f64::NAN, 0.0, Tol::F64));
        assert!(!isclose(f64::INFINITY, 1e300, Tol::F64));
        assert!(isclose(100.0f32, 100.01, Tol::F32));
    }

    #[test]
    fn allclose_rejects_length_mismatch() {
        assert!(!allclose(&[1.0f64], &[1.0, 2.0], Tol::F64));
    }
}
