//! `Z + S`: a low-rank matrix plus a sparse one on the observed set — the matrix soft-impute
//! decomposes at every step, `P_Ω(X) + P_Ω⊥(Z) = Z + P_Ω(X − Z)` (Mazumder, Hastie & Tibshirani
//! 2010, Sec. 5). Multiplying by it costs `O((m + n) r k + |Ω| k)` instead of `O(m n k)`, which is
//! what makes the randomized SVD of a 2500 × 1000 SVP matrix cheap.

use faer::{Mat, MatRef};
use rayon::prelude::*;

use crate::svd::Operator;

/// The observed set Ω in compressed-row form.
pub(crate) struct Pattern {
    rows: usize,
    cols: usize,
    row_start: Vec<usize>,
    col: Vec<u32>,
}

impl Pattern {
    /// Ω from row-major flags of a `rows × cols` matrix.
    pub fn new(rows: usize, cols: usize, observed: &[bool]) -> Self {
        let mut row_start = Vec::with_capacity(rows + 1);
        let mut col = Vec::new();
        row_start.push(0);
        for i in 0..rows {
            for (j, &o) in observed[i * cols..(i + 1) * cols].iter().enumerate() {
                if o {
                    // `cols` fits in u32: an f64 matrix with 2³² columns does not fit in memory.
                    col.push(j as u32);
                }
            }
            row_start.push(col.len());
        }
        Pattern {
            rows,
            cols,
            row_start,
            col,
        }
    }

    /// `(row, col)` of every observed entry, in storage order.
    pub fn entries(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.rows).flat_map(move |i| {
            self.col[self.row_start[i]..self.row_start[i + 1]]
                .iter()
                .map(move |&j| (i, j as usize))
        })
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.col.len()
    }

    /// Row i's storage range.
    fn row(&self, i: usize) -> std::ops::Range<usize> {
        self.row_start[i]..self.row_start[i + 1]
    }

    /// The observed entries of `x` (row-major `rows × cols`), in storage order.
    pub fn gather(&self, x: &[f64]) -> Vec<f64> {
        self.entries().map(|(i, j)| x[i * self.cols + j]).collect()
    }

    /// `x_k − a_i · b_j` for every observed entry `k = (i, j)`, in storage order: the sparse part
    /// `P_Ω(X − A Bᵀ)` for `x = gather(X)` and row-major `a` (m × r), `b` (n × r).
    pub fn residual(&self, x: &[f64], a: &[f64], b: &[f64], r: usize) -> Vec<f64> {
        let arch = pulp::Arch::new();
        (0..self.rows)
            .into_par_iter()
            .with_min_len(64)
            .flat_map_iter(|i| {
                let range = self.row(i);
                let mut out = x[range.clone()].to_vec();
                arch.dispatch(Residual {
                    out: &mut out,
                    cols: &self.col[range],
                    a_row: &a[i * r..(i + 1) * r],
                    b,
                });
                out
            })
            .collect()
    }
}

/// `A Bᵀ + S`, `A` m × r, `B` n × r, `S` zero off the pattern.
pub(crate) struct SparseLowRank<'a> {
    pub a: MatRef<'a, f64>,
    pub b: MatRef<'a, f64>,
    pub pattern: &'a Pattern,
    /// `S` on the pattern, in storage order.
    pub sparse: &'a [f64],
}

/// Row-major copy of `x` (rows of a tall-thin matrix become contiguous).
pub(crate) fn row_major(x: MatRef<'_, f64>) -> Vec<f64> {
    let w = x.ncols();
    let mut out = vec![0.0; x.nrows() * w];
    for c in 0..w {
        for (i, v) in x.col(c).iter().enumerate() {
            out[i * w + c] = *v;
        }
    }
    out
}

/// `x · y` in four interleaved partial sums, so it vectorizes (a single running sum cannot be
/// reordered by the compiler).
#[inline(always)]
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let tail: f64 = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in xc.zip(yc) {
        for l in 0..4 {
            acc[l] += a[l] * b[l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

// The loops over one row of Ω, each compiled for the CPU's best SIMD level by pulp's dispatch
// (their bodies are inlined into its `#[target_feature]` functions, where they auto-vectorize).

/// `v_k`-weighted row updates over a row's stored `(j_k, v_k)`, with tables row-major in rows
/// of `w`: gather `dst += Σ_k v_k src_{j_k}` (`dst` one row), or scatter `dst_{j_k} += v_k src`
/// (`src` one row).
struct Axpy<'a> {
    dst: &'a mut [f64],
    src: &'a [f64],
    vals: &'a [f64],
    cols: &'a [u32],
    w: usize,
    scatter: bool,
}

impl pulp::WithSimd for Axpy<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let w = self.w;
        for (&v, &j) in self.vals.iter().zip(self.cols) {
            let at = j as usize * w..(j as usize + 1) * w;
            let (dst, src) = if self.scatter {
                (&mut self.dst[at], self.src)
            } else {
                (&mut *self.dst, &self.src[at])
            };
            for (o, x) in dst.iter_mut().zip(src) {
                *o += v * x;
            }
        }
    }
}

/// `out_k −= a_row · b_{j_k}` over a row's stored `j_k`; `b` row-major with rows of `a_row.len()`.
struct Residual<'a> {
    out: &'a mut [f64],
    cols: &'a [u32],
    a_row: &'a [f64],
    b: &'a [f64],
}

impl pulp::WithSimd for Residual<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let r = self.a_row.len();
        for (o, &j) in self.out.iter_mut().zip(self.cols) {
            let b = &self.b[j as usize * r..(j as usize + 1) * r];
            *o -= dot(self.a_row, b);
        }
    }
}

fn add_row_major(dst: &mut Mat<f64>, src: &[f64]) {
    let w = dst.ncols();
    for c in 0..w {
        for (i, v) in dst.col_mut(c).iter_mut().enumerate() {
            *v += src[i * w + c];
        }
    }
}

impl Operator for SparseLowRank<'_> {
    fn nrows(&self) -> usize {
        self.pattern.rows
    }

    fn ncols(&self) -> usize {
        self.pattern.cols
    }

    fn mul(&self, m: MatRef<'_, f64>) -> Mat<f64> {
        let w = m.ncols();
        let mt = row_major(m);
        let p = self.pattern;
        let mut sm = vec![0.0; p.rows * w];
        let arch = pulp::Arch::new();
        sm.par_chunks_mut(w.max(1))
            .enumerate()
            .with_min_len(64)
            .for_each(|(i, out)| {
                let range = p.row(i);
                arch.dispatch(Axpy {
                    dst: out,
                    src: &mt,
                    vals: &self.sparse[range.clone()],
                    cols: &p.col[range],
                    w,
                    scatter: false,
                })
            });
        let mut out = self.a * (self.b.transpose() * m);
        add_row_major(&mut out, &sm);
        out
    }

    fn mul_t(&self, q: MatRef<'_, f64>) -> Mat<f64> {
        let w = q.ncols();
        let qt = row_major(q);
        let p = self.pattern;
        let n = p.cols;
        let arch = pulp::Arch::new();
        let stq = (0..p.rows)
            .into_par_iter()
            .with_min_len(256)
            .fold(
                || vec![0.0; n * w],
                |mut acc, i| {
                    let range = p.row(i);
                    arch.dispatch(Axpy {
                        dst: &mut acc,
                        src: &qt[i * w..(i + 1) * w],
                        vals: &self.sparse[range.clone()],
                        cols: &p.col[range],
                        w,
                        scatter: true,
                    });
                    acc
                },
            )
            .reduce(
                || vec![0.0; n * w],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    a
                },
            );
        let mut out = self.b * (self.a.transpose() * q);
        add_row_major(&mut out, &stq);
        out
    }

    fn with_dense<R>(&self, f: impl FnOnce(MatRef<'_, f64>) -> R) -> R {
        let mut z = self.a * self.b.transpose();
        for (k, (i, j)) in self.pattern.entries().enumerate() {
            z[(i, j)] += self.sparse[k];
        }
        f(z.as_ref())
    }
}

/// `‖A Bᵀ‖²_F = Σ (AᵀA ∘ BᵀB)` without forming `A Bᵀ`.
pub(crate) fn frobenius_sq(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    let (ga, gb) = (a.transpose() * a, b.transpose() * b);
    let r = ga.nrows();
    let mut sum = 0.0;
    for j in 0..r {
        for i in 0..r {
            sum += ga[(i, j)] * gb[(i, j)];
        }
    }
    sum
}

/// `‖A₁B₁ᵀ − A₂B₂ᵀ‖²_F` from the factors.
pub(crate) fn difference_sq(
    a1: MatRef<'_, f64>,
    b1: MatRef<'_, f64>,
    a2: MatRef<'_, f64>,
    b2: MatRef<'_, f64>,
) -> f64 {
    let (r1, r2) = (a1.ncols(), a2.ncols());
    let a = Mat::from_fn(a1.nrows(), r1 + r2, |i, j| {
        if j < r1 { a1[(i, j)] } else { a2[(i, j - r1)] }
    });
    let b = Mat::from_fn(b1.nrows(), r1 + r2, |i, j| {
        if j < r1 { b1[(i, j)] } else { -b2[(i, j - r1)] }
    });
    frobenius_sq(a.as_ref(), b.as_ref()).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense(op: &SparseLowRank) -> Mat<f64> {
        op.with_dense(|z| z.to_owned())
    }

    #[test]
    fn products_and_norms_match_the_dense_matrix() {
        let (m, n, r) = (13, 9, 3);
        let a = Mat::from_fn(m, r, |i, j| ((i * 7 + j * 3) % 11) as f64 - 5.0);
        let b = Mat::from_fn(n, r, |i, j| ((i * 5 + j) % 7) as f64 * 0.5 - 1.0);
        let observed: Vec<bool> = (0..m * n).map(|k| (k * 37) % 5 < 2).collect();
        let pattern = Pattern::new(m, n, &observed);
        assert_eq!(pattern.len(), observed.iter().filter(|&&o| o).count());
        let sparse: Vec<f64> = (0..pattern.len()).map(|k| k as f64 * 0.25 - 3.0).collect();
        let op = SparseLowRank {
            a: a.as_ref(),
            b: b.as_ref(),
            pattern: &pattern,
            sparse: &sparse,
        };
        let x = dense(&op);
        // The sparse part lands exactly on Ω.
        let z = &a * b.transpose();
        for i in 0..m {
            for j in 0..n {
                let off = (x[(i, j)] - z[(i, j)]).abs() > 0.0;
                assert!(!off || observed[i * n + j], "({i}, {j}) off the pattern");
            }
        }
        let mm = Mat::from_fn(n, 4, |i, j| (i as f64 - j as f64).sin());
        let q = Mat::from_fn(m, 4, |i, j| (i as f64 * 0.3 + j as f64).cos());
        let close = |p: &Mat<f64>, e: &Mat<f64>| (p - e).norm_l2() <= 1e-12 * e.norm_l2();
        assert!(close(&op.mul(mm.as_ref()), &(&x * &mm)));
        assert!(close(&op.mul_t(q.as_ref()), &(x.transpose() * &q)));
        let zf = z.norm_l2().powi(2);
        assert!((frobenius_sq(a.as_ref(), b.as_ref()) - zf).abs() <= 1e-10 * zf);
        let a2 = Mat::from_fn(m, 2, |i, j| (i + j) as f64 * 0.1);
        let b2 = Mat::from_fn(n, 2, |i, j| (i * j) as f64 * 0.2 - 0.3);
        let d = (&z - &a2 * b2.transpose()).norm_l2().powi(2);
        let got = difference_sq(a.as_ref(), b.as_ref(), a2.as_ref(), b2.as_ref());
        assert!((got - d).abs() <= 1e-10 * d);
    }
}
