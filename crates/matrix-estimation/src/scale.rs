//! The affine map onto [−1, 1] that SV-RL applies around matrix estimation.

use crate::{Mask, Matrix};

/// `x ↦ (x − mid) / half_range` with `mid = (max + min)/2`, `half_range = (max − min)/2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scaling {
    mid: f64,
    half_range: f64,
}

impl Scaling {
    /// The map of the observed entries' range; `None` when nothing is observed.
    pub fn of_observed(x: &Matrix, mask: &Mask) -> Option<Self> {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (&v, &o) in x.as_slice().iter().zip(mask.as_slice()) {
            if o {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        (lo <= hi).then(|| Scaling {
            mid: (hi + lo) / 2.0,
            half_range: (hi - lo) / 2.0,
        })
    }

    /// SV-RL's map (`softimp` in `utils/svrl_utils.py`): the range of every entry of `x`, with
    /// `1e-7` added to the half range so a constant matrix maps to 0. `None` when some entry is
    /// not finite or `x` is empty.
    pub fn of_all_sv_rl(x: &Matrix) -> Option<Self> {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in x.as_slice() {
            if !v.is_finite() {
                return None;
            }
            lo = lo.min(v);
            hi = hi.max(v);
        }
        (lo <= hi).then(|| Scaling {
            mid: (hi + lo) / 2.0,
            half_range: (hi - lo) / 2.0 + 1e-7,
        })
    }

    pub fn mid(&self) -> f64 {
        self.mid
    }

    pub fn half_range(&self) -> f64 {
        self.half_range
    }

    pub fn to_unit(self, x: f64) -> f64 {
        (x - self.mid) / self.half_range
    }

    #[allow(clippy::wrong_self_convention)] // maps back from the unit interval
    pub fn from_unit(self, u: f64) -> f64 {
        u * self.half_range + self.mid
    }
}
