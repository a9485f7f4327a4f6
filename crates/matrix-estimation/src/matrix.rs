//! A dense row-major `f64` matrix, the one matrix type of this crate's API.

use faer::{Mat, MatRef};

use crate::MatrixError;

/// A dense `rows × cols` matrix stored row-major (entry `(i, j)` at `data[i * cols + j]`), the
/// layout of a `[B, A]` Q-value batch or an `|S| × |A|` Q table.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// A matrix over row-major `data`; errors when `data.len() != rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self, MatrixError> {
        check_len(rows, cols, data.len())?;
        Ok(Matrix { rows, cols, data })
    }

    /// A matrix from row-major `f32` values (a network's output), widened to `f64`.
    pub fn from_f32(rows: usize, cols: usize, data: &[f32]) -> Result<Self, MatrixError> {
        check_len(rows, cols, data.len())?;
        Ok(Matrix {
            rows,
            cols,
            data: data.iter().map(|&x| f64::from(x)).collect(),
        })
    }

    /// The `rows × cols` zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Entry `(i, j)` is `f(i, j)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f64) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                data.push(f(i, j));
            }
        }
        Matrix { rows, cols, data }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Entry `(i, j)`; panics when out of range, like slice indexing.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        assert!(
            i < self.rows && j < self.cols,
            "index ({i}, {j}) out of range"
        );
        self.data[i * self.cols + j]
    }

    /// Row `i` as a slice.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The row-major values.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// The row-major values, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        &mut self.data
    }

    /// The row-major values.
    pub fn into_vec(self) -> Vec<f64> {
        self.data
    }

    /// `‖A‖_F`.
    pub fn frobenius_norm(&self) -> f64 {
        self.data.iter().map(|x| x * x).sum::<f64>().sqrt()
    }

    pub(crate) fn to_faer(&self) -> Mat<f64> {
        Mat::from_fn(self.rows, self.cols, |i, j| self.data[i * self.cols + j])
    }

    pub(crate) fn from_faer(m: MatRef<'_, f64>) -> Self {
        Matrix::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)])
    }
}

fn check_len(rows: usize, cols: usize, len: usize) -> Result<(), MatrixError> {
    match rows.checked_mul(cols) {
        Some(expected) if expected == len => Ok(()),
        _ => Err(MatrixError::DataLength { rows, cols, len }),
    }
}
