//! Observation masks: which entries of a matrix were observed (Ω in SVP, eq. 3.3).

use rand::Rng;

use crate::{Matrix, MatrixError};

/// The observed set Ω of a `rows × cols` matrix, row-major like [`Matrix`]: `true` = observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    rows: usize,
    cols: usize,
    observed: Vec<bool>,
}

impl Mask {
    /// Every entry observed.
    pub fn full(rows: usize, cols: usize) -> Self {
        Mask {
            rows,
            cols,
            observed: vec![true; rows * cols],
        }
    }

    /// A mask over row-major flags; errors when `observed.len() != rows * cols`.
    pub fn new(rows: usize, cols: usize, observed: Vec<bool>) -> Result<Self, MatrixError> {
        match rows.checked_mul(cols) {
            Some(n) if n == observed.len() => Ok(Mask {
                rows,
                cols,
                observed,
            }),
            _ => Err(MatrixError::DataLength {
                rows,
                cols,
                len: observed.len(),
            }),
        }
    }

    /// Each entry observed independently with probability `p` (SVP's and SV-RL's Bernoulli(p)
    /// sampling of Ω). Errors unless `0 ≤ p ≤ 1`.
    pub fn bernoulli<R: Rng + ?Sized>(
        rows: usize,
        cols: usize,
        p: f64,
        rng: &mut R,
    ) -> Result<Self, MatrixError> {
        if !(0.0..=1.0).contains(&p) {
            return Err(MatrixError::Parameter(format!(
                "observation probability p = {p} is outside [0, 1]"
            )));
        }
        let observed = (0..rows * cols).map(|_| rng.gen_bool(p)).collect();
        Ok(Mask {
            rows,
            cols,
            observed,
        })
    }

    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Whether entry `(i, j)` is observed; panics when out of range.
    pub fn is_observed(&self, i: usize, j: usize) -> bool {
        assert!(
            i < self.rows && j < self.cols,
            "index ({i}, {j}) out of range"
        );
        self.observed[i * self.cols + j]
    }

    /// Row-major flags.
    pub fn as_slice(&self) -> &[bool] {
        &self.observed
    }

    /// |Ω|.
    pub fn observed_count(&self) -> usize {
        self.observed.iter().filter(|&&o| o).count()
    }

    /// |Ω| / (rows · cols); 0 for an empty matrix.
    pub fn fraction_observed(&self) -> f64 {
        if self.observed.is_empty() {
            0.0
        } else {
            self.observed_count() as f64 / self.observed.len() as f64
        }
    }

    /// Errors unless the mask has `matrix`'s shape and every observed entry is finite.
    pub(crate) fn check_against(&self, matrix: &Matrix) -> Result<(), MatrixError> {
        if self.shape() != matrix.shape() {
            return Err(MatrixError::MaskShape {
                mask: self.shape(),
                matrix: matrix.shape(),
            });
        }
        for (k, (&obs, &x)) in self.observed.iter().zip(matrix.as_slice()).enumerate() {
            if obs && !x.is_finite() {
                return Err(MatrixError::NonFinite {
                    row: k / self.cols.max(1),
                    col: k % self.cols.max(1),
                    value: x,
                });
            }
        }
        Ok(())
    }
}
