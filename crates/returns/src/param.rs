//! The mixing parameter λ, constant or one per step.

use crate::error::{Result, expect_len};
use num_traits::Float;

/// The λ that mixes n-step returns: one constant, or one value per step (rlax accepts both).
///
/// Per-step values are aligned with `discount_t` (`[T]` for one trajectory, `[T, B]` for the
/// batched wrappers). A per-step `λ_t = 0` cuts the trace at step `t`, which is how a caller
/// bootstraps through a time-limit truncation without splitting the trajectory (see the crate docs).
#[derive(Debug, Clone, Copy)]
pub enum Lambda<'a, F> {
    /// The same λ at every step.
    Const(F),
    /// `λ_t` for every step, laid out like `discount_t`.
    PerStep(&'a [F]),
}

impl<F: Float> From<F> for Lambda<'_, F> {
    fn from(lambda: F) -> Self {
        Lambda::Const(lambda)
    }
}

impl<'a, F: Float> From<&'a [F]> for Lambda<'a, F> {
    fn from(lambda: &'a [F]) -> Self {
        Lambda::PerStep(lambda)
    }
}

impl<'a, F: Float> From<&'a Vec<F>> for Lambda<'a, F> {
    fn from(lambda: &'a Vec<F>) -> Self {
        Lambda::PerStep(lambda.as_slice())
    }
}

impl<F: Float> Lambda<'_, F> {
    /// Checks a per-step λ against the number of elements of `discount_t`.
    pub(crate) fn check(&self, len: usize) -> Result<()> {
        match self {
            Lambda::Const(_) => Ok(()),
            Lambda::PerStep(l) => expect_len("lambda_", l.len(), len),
        }
    }
}

/// Runs `body(t, λ-row iterator)` with the right iterator type for each variant, so that the
/// kernels are monomorphised twice and the constant case stays a broadcast.
macro_rules! with_lambda_rows {
    ($lambda:expr, $b:expr, |$rows:ident| $body:expr) => {
        match $lambda {
            $crate::param::Lambda::Const(l) => {
                let $rows = move |_t: usize| ::std::iter::repeat(l);
                $body
            }
            $crate::param::Lambda::PerStep(ls) => {
                let b = $b;
                let $rows = move |t: usize| ls[t * b..(t + 1) * b].iter().copied();
                $body
            }
        }
    };
}
pub(crate) use with_lambda_rows;
