//! Floating-point helpers that reproduce Python/NumPy's arithmetic exactly.

use std::hint::black_box;

/// `x ** y` on NumPy float64 scalars and Python floats: libm's `pow`.
///
/// LLVM rewrites `powf(x, 2.0)` into `x * x`, but glibc's `pow` is not correctly rounded and
/// differs from `x * x` in about one case in a thousand; hiding the exponent keeps the libm call.
#[inline]
pub(crate) fn py_pow(x: f64, y: f64) -> f64 {
    x.powf(black_box(y))
}

/// `x ** y` on NumPy float32 scalars: libm's `powf` (see [`py_pow`]).
#[inline]
pub(crate) fn np_pow_f32(x: f32, y: f32) -> f32 {
    x.powf(black_box(y))
}

/// Python/NumPy's floating remainder `a % b` (the result has the sign of `b`), as NumPy's
/// `npy_divmod` computes it from C's `fmod`.
#[inline]
pub(crate) fn py_mod(a: f64, b: f64) -> f64 {
    let m = a % b;
    if b == 0.0 {
        m
    } else if m != 0.0 {
        if (b < 0.0) != (m < 0.0) { m + b } else { m }
    } else {
        0.0_f64.copysign(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_mod_follows_python_sign_convention() {
        assert!((py_mod(-1.0, 3.0) - 2.0).abs() < 1e-15);
        assert!((py_mod(1.0, -3.0) + 2.0).abs() < 1e-15);
        assert!(py_mod(3.0, 3.0).abs() < 1e-15 && py_mod(3.0, 3.0).is_sign_positive());
        assert!(py_mod(-3.0, -3.0).is_sign_negative());
        assert!((py_mod(7.5, 2.0) - 1.5).abs() < 1e-15);
    }

    #[test]
    fn py_pow_squares() {
        assert!((py_pow(3.0, 2.0) - 9.0).abs() < 1e-15);
        assert!((np_pow_f32(1.5, 2.0) - 2.25).abs() < 1e-7);
    }
}
