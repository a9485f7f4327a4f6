//! Recovery of low-rank matrices, identities of the operators, USVT and the approximate rank.

use eirl_matrix_estimation::{
    Estimator, Mask, Matrix, SoftImpute, Usvt, approximate_rank, best_low_rank, complete_scaled,
    rank_of_spectrum, singular_values, soft_impute, svd_soft_threshold, usvt,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::{low_rank, relative_error};

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Soft-impute with fancyimpute's λ = σ_max/50, run to convergence, recovers a random rank-r
    /// matrix from a Bernoulli(p ≥ 0.3) sample holding ≥ 6× its degrees of freedom. Tolerance:
    /// the shrinkage biases each of the r kept singular values by λ, a relative error of about
    /// √r/50 ≤ 4% for r ≤ 4, plus the noise level; the bound allows 10% + 3·noise.
    /// "Converged" is a relative change below 1e-5 per iteration: fancyimpute's 1e-3 stops on
    /// slow progress (rank 3, 61×94, p = 0.36 stopped at 12.9% error and converges to 5.9%).
    /// At 4× the degrees of freedom, 2 of 60 random draws were not recovered even at
    /// convergence (17.7% and 10.7% error); at 6× and 8×, none of 60 (worst 6.0%).
    #[test]
    fn soft_impute_recovers_low_rank_matrices(
        seed in 0u64..1000,
        rank in 1usize..=4,
        m in 60usize..160,
        n in 40usize..120,
        p in 0.3f64..0.9,
        noise in prop_oneof![Just(0.0), 0.0f64..0.05],
    ) {
        // Enough samples for nuclear-norm recovery: E|Ω| ≥ 6× the degrees of freedom r(m+n−r).
        prop_assume!(p * (m * n) as f64 >= 6.0 * (rank * (m + n - rank)) as f64);
        let x = low_rank(seed, m, n, rank, noise);
        let clean = low_rank(seed, m, n, rank, 0.0);
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
        let mask = Mask::bernoulli(m, n, p, &mut rng).unwrap();
        let params = SoftImpute {
            max_iters: 20_000,
            convergence_threshold: 1e-5,
            ..SoftImpute::default()
        };
        let done = soft_impute(&x, &mask, &params).unwrap();
        prop_assert!(done.converged);
        let err = relative_error(&done.matrix, &clean);
        prop_assert!(err < 0.10 + 3.0 * noise, "rank {rank} {m}×{n} p={p:.2} noise={noise:.3}: error {err:.4}");
        // Observed entries come back exactly.
        for (k, &o) in mask.as_slice().iter().enumerate() {
            if o {
                prop_assert_eq!(done.matrix.as_slice()[k].to_bits(), x.as_slice()[k].to_bits());
            }
        }
    }

    /// S_λ shrinks every singular value by λ: ‖S_λ(X)‖_* = Σ max(σ_i − λ, 0).
    #[test]
    fn soft_threshold_shrinks_the_spectrum(seed in 0u64..1000, lam in 0.0f64..3.0) {
        let x = low_rank(seed, 20, 14, 3, 0.3);
        let (z, rank) = svd_soft_threshold(&x, lam).unwrap();
        let sx = singular_values(&x).unwrap();
        let sz = singular_values(&z).unwrap();
        for (a, b) in sx.iter().zip(&sz) {
            prop_assert!(((a - lam).max(0.0) - b).abs() < 1e-9 * (1.0 + a));
        }
        prop_assert_eq!(rank, sx.iter().filter(|&&s| s > lam).count());
    }
}

#[test]
fn identities_full_observation_and_zero_shrinkage() {
    let x = low_rank(1, 30, 20, 20, 0.0);
    let (z, rank) = svd_soft_threshold(&x, 0.0).unwrap();
    assert_eq!(rank, 20);
    assert!(relative_error(&z, &x) < 1e-12);
    let full = Mask::full(30, 20);
    let done = soft_impute(
        &x,
        &full,
        &SoftImpute {
            shrinkage: Some(0.0),
            ..SoftImpute::default()
        },
    )
    .unwrap();
    assert_eq!(done.matrix, x);
    let done = soft_impute(&x, &full, &SoftImpute::default()).unwrap();
    assert_eq!(done.matrix, x, "observed entries are never changed");
    let scaled = complete_scaled(&x, &full, &Estimator::default()).unwrap();
    assert_eq!(scaled.matrix, x);
}

#[test]
fn usvt_estimates_a_bounded_low_rank_matrix() {
    // Entries in [−1, 1]: a smooth rank-2 matrix.
    let (m, n) = (300, 200);
    let x = Matrix::from_fn(m, n, |i, j| {
        let (s, a) = (i as f64 / m as f64, j as f64 / n as f64);
        0.6 * (3.0 * s).sin() * (2.0 * a).cos() + 0.3 * s * a
    });
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mask = Mask::bernoulli(m, n, 0.5, &mut rng).unwrap();
    let est = usvt(&x, &mask, &Usvt::default()).unwrap();
    let err = relative_error(&est.matrix, &x);
    assert!(
        est.rank >= 1 && est.rank <= 3,
        "USVT kept {} singular values",
        est.rank
    );
    // Chatterjee's bound is in mean squared error; on this well-conditioned matrix the relative
    // error of the unbiased rescaling is far below it.
    assert!(err < 0.15, "USVT relative error {err}");
    // The estimate is better than leaving missing entries at the observed mean.
    let mean = x
        .as_slice()
        .iter()
        .zip(mask.as_slice())
        .filter(|(_, o)| **o)
        .map(|(v, _)| v)
        .sum::<f64>()
        / mask.observed_count() as f64;
    let naive = Matrix::from_fn(m, n, |i, j| {
        if mask.is_observed(i, j) {
            x.get(i, j)
        } else {
            mean
        }
    });
    assert!(err < relative_error(&naive, &x));
}

#[test]
fn complete_scaled_keeps_observed_entries_and_range() {
    let x = low_rank(9, 32, 25, 2, 0.0);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mask = Mask::bernoulli(32, 25, 0.9, &mut rng).unwrap();
    let done = complete_scaled(&x, &mask, &Estimator::default()).unwrap();
    let (lo, hi) = x
        .as_slice()
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    for (k, &o) in mask.as_slice().iter().enumerate() {
        let (got, want) = (done.matrix.as_slice()[k], x.as_slice()[k]);
        if o {
            assert!((got - want).abs() < 1e-9 * (1.0 + want.abs()));
        }
        assert!(
            got >= lo - 1e-6 && got <= hi + 1e-6,
            "clipped to the input's range"
        );
    }
    assert!(relative_error(&done.matrix, &x) < 0.05);
    // A constant matrix stays constant.
    let c = Matrix::from_fn(8, 4, |_, _| -3.5);
    let done = complete_scaled(
        &c,
        &Mask::bernoulli(8, 4, 0.5, &mut rng).unwrap(),
        &Estimator::default(),
    )
    .unwrap();
    assert!(
        done.matrix
            .as_slice()
            .iter()
            .all(|&v| (v + 3.5).abs() < 1e-6)
    );
}

#[test]
fn approximate_rank_counts_energy() {
    for r in 1..=5 {
        let x = low_rank(r as u64, 40, 30, r, 0.0);
        assert_eq!(approximate_rank(&x, 0.999_999).unwrap(), r);
    }
    assert_eq!(rank_of_spectrum(&[3.0, 4.0_f64.sqrt(), 1.0], 0.5), 1); // 9/14 ≥ 0.5
    assert_eq!(rank_of_spectrum(&[3.0, 2.0, 1.0], 0.9), 2); // 13/14 ≥ 0.9
    assert_eq!(rank_of_spectrum(&[3.0, 2.0, 1.0], 0.95), 3); // 13/14 < 0.95
    assert_eq!(rank_of_spectrum(&[3.0, 2.0, 1.0], 1.0), 3);
    assert_eq!(approximate_rank(&Matrix::zeros(3, 3), 0.99).unwrap(), 0);
}

/// The default λ is σ_max(zero-filled input) / `shrinkage_divisor`.
#[test]
fn the_default_shrinkage_divides_the_top_singular_value() {
    let x = low_rank(4, 30, 20, 2, 0.01);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mask = Mask::bernoulli(30, 20, 0.6, &mut rng).unwrap();
    let zero_filled = Matrix::from_fn(30, 20, |i, j| {
        if mask.as_slice()[i * 20 + j] {
            x.get(i, j)
        } else {
            0.0
        }
    });
    let top = singular_values(&zero_filled).unwrap()[0];
    for d in [50.0, 500.0] {
        let params = SoftImpute {
            shrinkage_divisor: d,
            ..SoftImpute::default()
        };
        let done = soft_impute(&x, &mask, &params).unwrap();
        assert!((done.threshold - top / d).abs() < 1e-9 * top, "{d}");
    }
}

/// Eckart–Young: the rank-r truncation of an exactly rank-r matrix is the matrix; of a noisy one,
/// its error is the energy of the discarded singular values, and errors shrink with k.
#[test]
fn best_low_rank_truncates_the_spectrum() {
    let x = low_rank(9, 30, 20, 3, 0.0);
    let out = best_low_rank(&x, &[1, 2, 3, 50]).unwrap();
    assert!(relative_error(&out[2], &x) < 1e-12);
    assert!(relative_error(&out[3], &x) < 1e-12);
    assert!(approximate_rank(&out[0], 0.999_999).unwrap() == 1);
    let noisy = low_rank(10, 30, 20, 2, 0.1);
    let s = singular_values(&noisy).unwrap();
    let total: f64 = s.iter().map(|v| v * v).sum();
    let mut last = f64::INFINITY;
    for (k, approx) in [1, 2, 4, 8]
        .iter()
        .zip(best_low_rank(&noisy, &[1, 2, 4, 8]).unwrap())
    {
        let tail: f64 = s[*k..].iter().map(|v| v * v).sum();
        let err = relative_error(&approx, &noisy);
        assert!(
            (err - (tail / total).sqrt()).abs() < 1e-10,
            "k = {k}: {err}"
        );
        assert!(err < last);
        last = err;
    }
    let mut bad = x.clone();
    bad.as_mut_slice()[5] = f64::NAN;
    assert!(best_low_rank(&bad, &[1]).is_err());
}

#[test]
fn bernoulli_masks_observe_about_p() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mask = Mask::bernoulli(200, 100, 0.2, &mut rng).unwrap();
    let f = mask.fraction_observed();
    // 20000 draws: standard deviation √(p(1−p)/n) ≈ 0.0028; 5σ bound.
    assert!((f - 0.2).abs() < 0.015, "fraction {f}");
    assert_eq!(
        Mask::bernoulli(3, 3, 1.0, &mut rng).unwrap(),
        Mask::full(3, 3)
    );
}
