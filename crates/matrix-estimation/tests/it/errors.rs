//! Bad input is an error, never a panic.

use eirl_matrix_estimation::{
    Estimator, Mask, Matrix, MatrixError, SoftImpute, Usvt, approximate_rank, complete_scaled,
    soft_impute, usvt,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn shapes_values_and_parameters_are_checked() {
    assert!(matches!(
        Matrix::new(2, 3, vec![0.0; 5]),
        Err(MatrixError::DataLength { .. })
    ));
    assert!(matches!(
        Matrix::new(usize::MAX, 3, vec![]),
        Err(MatrixError::DataLength { .. })
    ));
    let x = Matrix::zeros(4, 3);
    let wrong = Mask::full(3, 4);
    assert!(matches!(
        soft_impute(&x, &wrong, &SoftImpute::default()),
        Err(MatrixError::MaskShape { .. })
    ));
    let mut nan = Matrix::zeros(4, 3);
    nan.as_mut_slice()[4] = f64::NAN;
    let e = soft_impute(&nan, &Mask::full(4, 3), &SoftImpute::default()).unwrap_err();
    assert!(
        matches!(e, MatrixError::NonFinite { row: 1, col: 1, .. }),
        "{e}"
    );
    // NaN on a missing entry is fine: it is never read.
    let mut observed = vec![true; 12];
    observed[4] = false;
    let mask = Mask::new(4, 3, observed).unwrap();
    assert!(soft_impute(&nan, &mask, &SoftImpute::default()).is_ok());
    assert!(usvt(&nan, &mask, &Usvt::default()).is_ok());
    // SV-RL's wrapper needs the whole matrix.
    assert!(complete_scaled(&nan, &mask, &Estimator::default()).is_err());
    for bad in [
        SoftImpute {
            shrinkage: Some(-1.0),
            ..SoftImpute::default()
        },
        SoftImpute {
            shrinkage: Some(f64::NAN),
            ..SoftImpute::default()
        },
        SoftImpute {
            max_iters: 0,
            ..SoftImpute::default()
        },
        SoftImpute {
            shrinkage_divisor: 0.0,
            ..SoftImpute::default()
        },
        SoftImpute {
            shrinkage_divisor: f64::NAN,
            ..SoftImpute::default()
        },
        SoftImpute {
            convergence_threshold: 0.0,
            ..SoftImpute::default()
        },
        SoftImpute {
            max_rank: Some(0),
            ..SoftImpute::default()
        },
        SoftImpute {
            clip: Some((1.0, -1.0)),
            ..SoftImpute::default()
        },
    ] {
        assert!(
            matches!(soft_impute(&x, &mask, &bad), Err(MatrixError::Parameter(_))),
            "{bad:?}"
        );
    }
    assert!(
        usvt(
            &x,
            &mask,
            &Usvt {
                eta: 0.0,
                ..Usvt::default()
            }
        )
        .is_err()
    );
    assert!(approximate_rank(&x, 0.0).is_err());
    assert!(approximate_rank(&x, 1.5).is_err());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert!(Mask::bernoulli(2, 2, 1.5, &mut rng).is_err());
    assert!(Mask::bernoulli(2, 2, f64::NAN, &mut rng).is_err());
}

#[test]
fn degenerate_matrices_complete_without_panicking() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (m, n) in [(0, 0), (0, 5), (5, 0), (1, 1), (1, 7), (7, 1)] {
        let x = Matrix::from_fn(m, n, |i, j| (i + 2 * j) as f64);
        let mask = Mask::bernoulli(m, n, 0.5, &mut rng).unwrap();
        let done = soft_impute(&x, &mask, &SoftImpute::default()).unwrap();
        assert_eq!(done.matrix.shape(), (m, n));
        assert_eq!(
            usvt(&x, &mask, &Usvt::default()).unwrap().matrix.shape(),
            (m, n)
        );
        assert_eq!(
            complete_scaled(&x, &mask, &Estimator::default())
                .unwrap()
                .matrix
                .shape(),
            (m, n)
        );
    }
    // Nothing observed: zeros (soft-impute), no estimate to make.
    let x = Matrix::from_fn(3, 3, |i, j| (i * j) as f64);
    let none = Mask::new(3, 3, vec![false; 9]).unwrap();
    assert_eq!(
        soft_impute(&x, &none, &SoftImpute::default())
            .unwrap()
            .matrix,
        Matrix::zeros(3, 3)
    );
}
