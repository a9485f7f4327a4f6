//! Soft-impute against golden values from the independent numpy implementation
//! (`python/reference/matrix_estimation.py golden`), which follows fancyimpute's algorithm.

use eirl_matrix_estimation::{
    Completion, Mask, Matrix, SoftImpute, SoftImputer, SvdMethod, soft_impute, soft_impute_from,
};
use eirl_testkit::{Tol, allclose};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let text = include_str!("../data/soft_impute_golden.json");
    let v: Value = serde_json::from_str(text).expect("golden file parses");
    v["cases"].as_array().expect("cases").clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

#[test]
fn soft_impute_matches_the_numpy_reference() {
    let cases = cases();
    assert_eq!(cases.len(), 5);
    for (k, c) in cases.iter().enumerate() {
        let rows = c["rows"].as_u64().expect("rows") as usize;
        let cols = c["cols"].as_u64().expect("cols") as usize;
        let x = Matrix::new(rows, cols, floats(&c["x"])).expect("shape");
        let observed = c["observed"]
            .as_array()
            .expect("mask")
            .iter()
            .map(|o| o.as_u64() == Some(1))
            .collect();
        let mask = Mask::new(rows, cols, observed).expect("mask shape");
        let params = SoftImpute {
            shrinkage: c["shrinkage"].as_f64(),
            svd: SvdMethod::Full,
            ..SoftImpute::default()
        };
        let done = soft_impute(&x, &mask, &params).expect("completes");
        assert_eq!(
            done.iterations as u64,
            c["iterations"].as_u64().expect("iterations"),
            "case {k}: iteration count"
        );
        assert_eq!(Some(done.converged), c["converged"].as_bool(), "case {k}");
        let lam = c["threshold"].as_f64().expect("threshold");
        assert!(
            (done.threshold - lam).abs() <= 1e-10 * lam,
            "case {k}: λ {} vs {lam}",
            done.threshold
        );
        let expected = floats(&c["expected"]);
        assert!(
            allclose(done.matrix.as_slice(), &expected, Tol::new(1e-8, 1e-7)),
            "case {k}: completion differs from numpy"
        );
    }
}

/// Soft-impute of `x` on a Bernoulli(p) mask with dense SVDs and with `SvdMethod::Auto`.
fn dense_and_auto(x: &Matrix, p: f64, seed: u64) -> (Completion, Completion) {
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
    let mask = Mask::bernoulli(x.rows(), x.cols(), p, &mut rng).expect("mask");
    let dense = SoftImpute {
        svd: SvdMethod::Full,
        ..SoftImpute::default()
    };
    (
        soft_impute(x, &mask, &dense).expect("dense"),
        soft_impute(x, &mask, &SoftImpute::default()).expect("auto"),
    )
}

#[test]
fn randomized_svd_path_agrees_with_the_dense_path() {
    // Large enough that `Auto` takes the randomized path (smaller side > 64).
    let (dense, fast) = dense_and_auto(&crate::low_rank(7, 240, 160, 4, 0.01), 0.4, 3);
    assert_eq!(dense.rank, fast.rank);
    // The sketches find the singular values near λ to ~1e-6 relative, far below soft-impute's
    // own stopping tolerance (1e-3 relative change).
    let err = crate::relative_error(&fast.matrix, &dense.matrix);
    assert!(
        err < 1e-5,
        "randomized vs dense relative difference {err:e}"
    );
    assert!((fast.iterations as i64 - dense.iterations as i64).abs() <= 1);
}

#[test]
fn gram_path_for_small_matrices_agrees_with_the_dense_svd() {
    // SV-RL's shape: a 32 × 18 target matrix (Auto uses the Gram eigen-decomposition ≤ 64).
    for seed in 0..5 {
        let (dense, fast) = dense_and_auto(&crate::low_rank(seed, 32, 18, 3, 0.05), 0.9, seed);
        assert_eq!(dense.iterations, fast.iterations, "seed {seed}");
        assert_eq!(dense.rank, fast.rank);
        let err = crate::relative_error(&fast.matrix, &dense.matrix);
        assert!(
            err < 1e-9,
            "seed {seed}: Gram vs dense relative difference {err:e}"
        );
    }
}

#[test]
fn warm_imputer_on_a_sequence_matches_the_dense_algorithm() {
    // SVP's use: one completion per value-iteration step of a slowly changing matrix at p = 0.2,
    // each warm-started from the previous result. `SoftImputer` with `Auto` takes the
    // low-rank-plus-sparse steps with a carried SVD subspace; the reference runs every step with
    // dense SVDs from the same start.
    let (m, n) = (300, 200);
    let base = crate::low_rank(11, m, n, 4, 0.05);
    let drift = crate::low_rank(12, m, n, 2, 0.0);
    let level: Vec<f64> = (0..m).map(|i| 20.0 + (i as f64 * 0.05).sin()).collect();
    let dense = SoftImpute {
        svd: SvdMethod::Full,
        ..SoftImpute::default()
    };
    let mut imputer = SoftImputer::new(SoftImpute::default()).expect("params");
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(5);
    let mut start = Matrix::zeros(m, n);
    for t in 0..6 {
        let x = Matrix::from_fn(m, n, |i, j| {
            level[i] + base.get(i, j) + 0.1 * t as f64 * drift.get(i, j)
        });
        let mask = Mask::bernoulli(m, n, 0.2, &mut rng).expect("mask");
        let expected = soft_impute_from(&x, &mask, &start, &dense).expect("dense");
        let got = imputer.complete(&x, &mask, Some(&start)).expect("warm");
        let err = crate::relative_error(&got.matrix, &expected.matrix);
        assert!(
            err < 1e-5,
            "step {t}: warm vs dense relative difference {err:e}"
        );
        assert_eq!(got.rank, expected.rank, "step {t}");
        assert!(
            (got.iterations as i64 - expected.iterations as i64).abs() <= 1,
            "step {t}: {} vs {} iterations",
            got.iterations,
            expected.iterations
        );
        start = expected.matrix;
    }
}
