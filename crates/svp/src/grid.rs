//! Rectangular state grids and multilinear interpolation, as GridInterpolations.jl (which the
//! official SVP code uses) defines them.

/// `n` points from `lo` to `hi`, both included exactly (Julia's `range(lo, stop=hi, length=n)`;
/// SVP's Mountain Car tests `x == 0.5` against the last point, so it must be `hi` bit for bit).
pub fn linspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![lo],
        _ => {
            let mut v: Vec<f64> = (0..n)
                .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
                .collect();
            v[0] = lo;
            v[n - 1] = hi;
            v
        }
    }
}

/// A tensor-product grid. States are numbered with the **first dimension fastest**
/// (`s = i₁ + n₁·i₂ + n₁n₂·i₃ + …`, 0-based), the official code's order.
#[derive(Debug, Clone, PartialEq)]
pub struct RectangleGrid {
    cuts: Vec<Vec<f64>>,
}

/// Up to 2^D (index, weight) pairs whose weights sum to 1.
pub type Interpolants = Vec<(usize, f64)>;

impl RectangleGrid {
    /// A grid over the given axes (each non-empty and increasing).
    pub fn new(cuts: Vec<Vec<f64>>) -> Self {
        RectangleGrid { cuts }
    }

    pub fn dims(&self) -> usize {
        self.cuts.len()
    }

    /// The cut points of dimension `d`.
    pub fn cuts(&self, d: usize) -> &[f64] {
        &self.cuts[d]
    }

    /// Number of grid points, Π n_d.
    pub fn len(&self) -> usize {
        self.cuts.iter().map(Vec::len).product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The coordinates of grid point `s` into `x` (`x.len() == dims()`).
    pub fn point(&self, mut s: usize, x: &mut [f64]) {
        for (d, cuts) in self.cuts.iter().enumerate() {
            x[d] = cuts[s % cuts.len()];
            s /= cuts.len();
        }
    }

    /// Multilinear interpolation weights of `x` (GridInterpolations' `interpolants`): per
    /// dimension, a coordinate at or beyond an end cut snaps to it (no extrapolation: states
    /// off the grid are clamped), one equal to a cut takes it alone, otherwise the bracketing
    /// pair gets weights `1 − t` and `t`. Dimensions past `x.len()` stay at their first cut (the
    /// official code loops over the query's length). NaN coordinates snap to the first cut.
    #[allow(clippy::float_cmp)] // a coordinate equal to a cut takes it alone, as in the original
    pub fn interpolants_into(&self, x: &[f64], out: &mut Interpolants) {
        out.clear();
        out.push((0, 1.0));
        let mut stride = 1;
        for (d, cuts) in self.cuts.iter().enumerate() {
            let n = cuts.len();
            if let Some(&xd) = x.get(d) {
                let last = n - 1;
                let (lo, hi, w_hi) = if xd.partial_cmp(&cuts[0]).is_none_or(|o| o.is_le()) {
                    (0, 0, 0.0)
                } else if xd >= cuts[last] {
                    (last, last, 0.0)
                } else {
                    // First cut ≥ xd; 1 ≤ i ≤ last here.
                    let i = cuts.partition_point(|&c| c < xd);
                    if cuts[i] == xd {
                        (i, i, 0.0)
                    } else {
                        let t = (xd - cuts[i - 1]) / (cuts[i] - cuts[i - 1]);
                        // Official weights: w_lo = 1 − t, w_hi = 1 − w_lo.
                        let w_lo = 1.0 - t;
                        (i - 1, i, 1.0 - w_lo)
                    }
                };
                if lo == hi {
                    for c in out.iter_mut() {
                        c.0 += lo * stride;
                    }
                } else {
                    let k = out.len();
                    for j in 0..k {
                        let (idx, w) = out[j];
                        out[j] = (idx + lo * stride, w * (1.0 - w_hi));
                        out.push((idx + hi * stride, w * w_hi));
                    }
                }
            }
            stride *= n;
        }
    }

    /// Σ_k w_k · values[idx_k].
    pub fn interpolate(&self, values: &[f64], x: &[f64], scratch: &mut Interpolants) -> f64 {
        self.interpolants_into(x, scratch);
        scratch.iter().map(|&(i, w)| w * values[i]).sum()
    }
}
