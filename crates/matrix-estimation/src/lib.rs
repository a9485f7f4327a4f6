//! Matrix estimation for value-based planning and reinforcement learning.
//!
//! The numerics behind SVP and SV-RL (Yang, Zhang, Xu & Katabi, ICLR 2020, "Harnessing
//! Structures for Value-Based Planning and Reinforcement Learning"): Q matrices of control
//! tasks are approximately low-rank, so a Q matrix known on a random subset Ω of its entries can
//! be completed by matrix estimation.
//!
//! - [`soft_impute`]: nuclear-norm regularised completion (SVP eq. 3.2; Mazumder, Hastie &
//!   Tibshirani 2010) with fancyimpute's defaults ([`SoftImpute::default`]); [`SoftImputer`]
//!   for a sequence of related matrices (SVP), carrying its SVD subspace between completions;
//! - [`usvt`]: universal singular value thresholding (Chatterjee 2015);
//! - [`complete_scaled`]: SV-RL's wrapper (map onto [−1, 1], complete, clip, map back);
//! - [`approximate_rank`]: how many singular values hold a share of the spectrum's energy;
//! - [`best_low_rank`]: the best rank-k approximations (Eckart–Young);
//! - [`Mask`]: the observed set Ω as a type, [`Mask::bernoulli`] for SVP/SV-RL sampling.
//!
//! SVDs come from faer; on large matrices soft-impute uses warm-started randomized subspace
//! iteration ([`SvdMethod::Auto`]), which finds every singular value above the threshold, and
//! multiplies by each step's matrix as a low-rank part plus a sparse one on Ω.
//! Plain numerics: no networks, no environments.
//!
//! ```
//! use eirl_matrix_estimation::{approximate_rank, soft_impute, Mask, Matrix, SoftImpute};
//! use rand::SeedableRng;
//!
//! // A rank-1 "Q matrix" (Q(s, a) = f(s) g(a)), 70% of its entries observed.
//! let q = Matrix::from_fn(40, 30, |s, a| (1.0 + s as f64 / 40.0) * (a as f64 / 30.0).cos());
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mask = Mask::bernoulli(40, 30, 0.7, &mut rng)?;
//! // fancyimpute's λ = σ_max/50, run to convergence.
//! let params = SoftImpute { max_iters: 1000, ..SoftImpute::default() };
//! let done = soft_impute(&q, &mask, &params)?;
//! assert!(done.converged);
//! let err = (0..40 * 30).map(|k| (done.matrix.as_slice()[k] - q.as_slice()[k]).powi(2)).sum::<f64>().sqrt();
//! assert!(err / q.frobenius_norm() < 0.05);
//! assert_eq!(approximate_rank(&q, 0.99)?, 1);
//! # Ok::<(), eirl_matrix_estimation::MatrixError>(())
//! ```

mod mask;
mod matrix;
mod rank;
mod scale;
mod scaled;
mod soft_impute;
mod sparse_low_rank;
mod svd;
mod usvt;

pub use mask::Mask;
pub use matrix::Matrix;
pub use rank::{approximate_rank, best_low_rank, rank_of_spectrum, singular_values};
pub use scaled::{Estimator, complete_scaled};
pub use soft_impute::{
    Completion, SoftImpute, SoftImputer, soft_impute, soft_impute_from, svd_soft_threshold,
};
pub use svd::SvdMethod;
pub use usvt::{Usvt, usvt};

/// Why an estimate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error("{len} values cannot form a {rows}×{cols} matrix")]
    DataLength {
        rows: usize,
        cols: usize,
        len: usize,
    },
    #[error("the mask is {}×{} but the matrix is {}×{}", mask.0, mask.1, matrix.0, matrix.1)]
    MaskShape {
        mask: (usize, usize),
        matrix: (usize, usize),
    },
    #[error("observed entry ({row}, {col}) is not finite ({value})")]
    NonFinite { row: usize, col: usize, value: f64 },
    #[error("invalid parameter: {0}")]
    Parameter(String),
    #[error("the SVD did not converge")]
    SvdDidNotConverge,
}
