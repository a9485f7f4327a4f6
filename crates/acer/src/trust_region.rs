//! ACER's efficient trust region (Wang et al. 2017, §3.3, eqs. 1.13–1.16), as pure functions
//! over the gradient with respect to the distribution statistics φ.

use crate::AcerError;

/// Solves ACER's linearised trust-region problem for one sample (eq. 1.15):
///
/// `minimise_z ½‖ĝ − z‖²  subject to  kᵀz ≤ δ`,
///
/// whose closed form (eq. 1.16) is `z* = ĝ − max(0, (kᵀĝ − δ)/‖k‖²) k`, written into `out`.
/// `g` is ĝ (the policy gradient w.r.t. φ_θ(x), eq. 1.12 / 1.14), `k = ∇_φ KL(f(·|φ_avg) ‖ f(·|φ_θ))`
/// (eq. 1.13). When `k = 0` (the policy equals the average policy) the constraint is slack and
/// `z* = ĝ`. Returns the scale `max(0, (kᵀĝ − δ)/‖k‖²)` that was subtracted.
///
/// # Errors
/// [`AcerError::Shape`] when the lengths differ.
pub fn trust_region_projection(
    g: &[f32],
    k: &[f32],
    delta: f32,
    out: &mut [f32],
) -> Result<f32, AcerError> {
    if k.len() != g.len() || out.len() != g.len() {
        return Err(AcerError::Shape(format!(
            "trust region: ĝ has {} entries, k {}, out {}",
            g.len(),
            k.len(),
            out.len()
        )));
    }
    let kg: f32 = k.iter().zip(g).map(|(k, g)| k * g).sum();
    let kk: f32 = k.iter().map(|k| k * k).sum();
    let scale = if kk > 0.0 {
        ((kg - delta) / kk).max(0.0)
    } else {
        0.0
    };
    for ((o, &g), &k) in out.iter_mut().zip(g).zip(k) {
        *o = g - scale * k;
    }
    Ok(scale)
}

/// [`trust_region_projection`] applied to each of the `rows` samples of row-major `[rows, D]`
/// arrays. Returns the number of samples whose constraint was active.
pub fn trust_region_projection_rows(
    g: &[f32],
    k: &[f32],
    delta: f32,
    dim: usize,
    out: &mut [f32],
) -> Result<usize, AcerError> {
    if dim == 0 || !g.len().is_multiple_of(dim) || k.len() != g.len() || out.len() != g.len() {
        return Err(AcerError::Shape(format!(
            "trust region rows: dim {dim}, ĝ {}, k {}, out {}",
            g.len(),
            k.len(),
            out.len()
        )));
    }
    let mut active = 0;
    for ((g, k), o) in g
        .chunks_exact(dim)
        .zip(k.chunks_exact(dim))
        .zip(out.chunks_exact_mut(dim))
    {
        if trust_region_projection(g, k, delta, o)? > 0.0 {
            active += 1;
        }
    }
    Ok(active)
}

/// `k = ∇_φ KL(softmax(φ_avg) ‖ softmax(φ)) = softmax(φ) − softmax(φ_avg)` for categorical
/// logits φ (eq. 1.13 in closed form), from the two probability vectors, into `out`.
pub fn categorical_kl_gradient(pi: &[f32], pi_avg: &[f32], out: &mut [f32]) {
    for ((o, p), a) in out.iter_mut().zip(pi).zip(pi_avg) {
        *o = p - a;
    }
}

/// `k = ∇_μ KL(N(μ_avg, σ_avg²) ‖ N(μ, σ²)) = (μ − μ_avg)/σ²` for a diagonal Gaussian, w.r.t.
/// its mean (continuous ACER's trust region, §5), into `out`.
pub fn gaussian_kl_gradient_wrt_mean(
    mean: &[f32],
    mean_avg: &[f32],
    log_std: &[f32],
    out: &mut [f32],
) {
    let d = log_std.len().max(1);
    for (row, (m, ma)) in out
        .chunks_mut(d)
        .zip(mean.chunks(d).zip(mean_avg.chunks(d)))
    {
        for (j, o) in row.iter_mut().enumerate() {
            *o = (m[j] - ma[j]) * (-2.0 * log_std[j]).exp();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(a, b)| a * b).sum()
    }

    proptest! {
        /// kᵀz* ≤ δ always; z* = ĝ when the constraint is slack; otherwise kᵀz* = δ (the
        /// projection lands on the boundary) and z* − ĝ is parallel to k.
        #[test]
        fn projection_satisfies_the_linearised_constraint(
            g in proptest::collection::vec(-10.0f32..10.0, 1..8),
            k_seed in proptest::collection::vec(-3.0f32..3.0, 8),
            delta in 0.01f32..5.0,
        ) {
            let k = &k_seed[..g.len()];
            let mut z = vec![0.0; g.len()];
            let scale = trust_region_projection(&g, k, delta, &mut z).expect("shapes");
            let kk = dot(k, k);
            let tol = 1e-4 * (1.0 + dot(k, &g).abs() + kk);
            prop_assert!(dot(k, &z) <= delta + tol, "kᵀz* = {} > δ = {}", dot(k, &z), delta);
            if dot(k, &g) <= delta {
                prop_assert!(scale <= 0.0);
                prop_assert_eq!(&z, &g);
            } else {
                prop_assert!((dot(k, &z) - delta).abs() <= tol);
                for ((z, g), k) in z.iter().zip(&g).zip(k) {
                    prop_assert!((g - z - scale * k).abs() <= 1e-5 * (1.0 + g.abs()));
                }
            }
        }
    }

    #[test]
    fn zero_k_leaves_the_gradient_unchanged_and_shapes_are_checked() {
        let g = [1.0, -2.0, 3.0];
        let mut z = [0.0; 3];
        assert!(trust_region_projection(&g, &[0.0; 3], 0.5, &mut z).is_ok());
        assert!(z.iter().zip(&g).all(|(z, g)| z.to_bits() == g.to_bits()));
        assert!(trust_region_projection(&g, &[0.0; 2], 0.5, &mut z).is_err());
        let mut rows = [0.0; 4];
        // Row 0 slack, row 1 active (kᵀĝ = 4 > δ = 1).
        let active = trust_region_projection_rows(
            &[0.1, 0.0, 2.0, 2.0],
            &[1.0, 0.0, 1.0, 1.0],
            1.0,
            2,
            &mut rows,
        );
        assert_eq!(active.ok(), Some(1));
        assert!((rows[2] - 0.5).abs() < 1e-6 && (rows[3] - 0.5).abs() < 1e-6);
        assert!(trust_region_projection_rows(&[0.0; 3], &[0.0; 3], 1.0, 2, &mut [0.0; 3]).is_err());
    }

    #[test]
    fn kl_gradients_match_finite_differences() {
        // Categorical: d/dφ KL(p_avg ‖ softmax(φ)).
        let phi = [0.3_f64, -0.7, 1.1];
        let p_avg = [0.2_f64, 0.5, 0.3];
        let kl = |phi: &[f64]| {
            let z: f64 = phi.iter().map(|x| x.exp()).sum();
            p_avg
                .iter()
                .zip(phi)
                .map(|(a, x)| a * (a.ln() - (x - z.ln())))
                .sum::<f64>()
        };
        let z: f64 = phi.iter().map(|x| x.exp()).sum();
        let pi: Vec<f32> = phi.iter().map(|x| (x.exp() / z) as f32).collect();
        let avg: Vec<f32> = p_avg.iter().map(|&a| a as f32).collect();
        let mut k = [0.0_f32; 3];
        categorical_kl_gradient(&pi, &avg, &mut k);
        for j in 0..3 {
            let (mut p, mut m) = (phi, phi);
            p[j] += 1e-6;
            m[j] -= 1e-6;
            let fd = (kl(&p) - kl(&m)) / 2e-6;
            assert!((fd - k[j] as f64).abs() < 1e-5, "{fd} vs {}", k[j]);
        }
        // Gaussian w.r.t. the mean: KL(N(a, s²) ‖ N(m, s²)) = (m − a)²/(2s²).
        let mut k = [0.0_f32; 2];
        gaussian_kl_gradient_wrt_mean(&[1.0, -1.0], &[0.5, 0.0], &[0.0, (0.5_f32).ln()], &mut k);
        assert!((k[0] - 0.5).abs() < 1e-6 && (k[1] + 4.0).abs() < 1e-5);
    }
}
