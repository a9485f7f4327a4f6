//! eirl-matrix-estimation: agreement with the numpy reference, recovery, identities, errors.
#![allow(clippy::unwrap_used, clippy::float_cmp)]

mod errors;
mod recovery;
mod reference;

use eirl_matrix_estimation::Matrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// `A Bᵀ + noise`, `A: m×r`, `B: n×r` standard normal.
pub fn low_rank(seed: u64, m: usize, n: usize, rank: usize, noise: f64) -> Matrix {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let a: Vec<f64> = (0..m * rank).map(|_| rng.sample(StandardNormal)).collect();
    let b: Vec<f64> = (0..n * rank).map(|_| rng.sample(StandardNormal)).collect();
    Matrix::from_fn(m, n, |i, j| {
        let signal: f64 = (0..rank).map(|k| a[i * rank + k] * b[j * rank + k]).sum();
        let eps: f64 = rng.sample(StandardNormal);
        signal + noise * eps
    })
}

/// `‖a − b‖_F / ‖b‖_F`.
pub fn relative_error(a: &Matrix, b: &Matrix) -> f64 {
    let diff: f64 = a
        .as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    diff.sqrt() / b.frobenius_norm()
}
