//! Shape mismatches are errors, never panics.

use eirl_returns::{self as er, ReturnsError, VTraceParams, batched};
use proptest::prelude::*;

#[test]
fn mismatched_lengths_are_reported_by_name() {
    let err = er::lambda_returns(&[1.0, 2.0], &[0.9], &[0.0, 0.0], 0.5).unwrap_err();
    assert_eq!(
        err,
        ReturnsError::Length {
            name: "discount_t",
            expected: 2,
            actual: 1
        }
    );
    let err =
        er::truncated_generalized_advantage_estimation(&[1.0], &[0.9], 0.5, &[0.0]).unwrap_err();
    assert_eq!(
        err,
        ReturnsError::Length {
            name: "values",
            expected: 2,
            actual: 1
        }
    );
    let err = er::lambda_returns(&[1.0, 2.0], &[0.9, 0.9], &[0.0, 0.0], &[0.5][..]).unwrap_err();
    assert_eq!(
        err,
        ReturnsError::Length {
            name: "lambda_",
            expected: 2,
            actual: 1
        }
    );
    let err = er::n_step_bootstrapped_returns(&[1.0], &[0.9], &[0.0], 0, 1.0).unwrap_err();
    assert!(matches!(
        err,
        ReturnsError::InvalidParameter { name: "n", .. }
    ));
    let err = er::q_learning(&[1.0, 2.0], 2, 0.0, 0.9, &[0.0, 1.0]).unwrap_err();
    assert!(matches!(
        err,
        ReturnsError::ActionOutOfRange { action: 2, .. }
    ));
    let err = er::q_learning_target(0.0, 0.9, &[]).unwrap_err();
    assert_eq!(err, ReturnsError::Empty("q_t"));
    let err = er::retrace(
        &[0.0; 4],
        &[0.0; 4],
        &[0, 1],
        &[0, 2],
        &[0.0; 2],
        &[0.9; 2],
        &[0.5; 4],
        &[0.5; 2],
        1.0,
        0.0,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        ReturnsError::ActionOutOfRange { name: "a_t", .. }
    ));
    let err = batched::lambda_returns_into(&[0.0; 6], &[0.0; 6], &[0.0; 6], 1.0, 4, &mut [0.0; 6])
        .unwrap_err();
    assert!(matches!(err, ReturnsError::NotMultiple { .. }));
    let err = batched::lambda_returns_into(&[0.0; 6], &[0.0; 6], &[0.0; 6], 1.0, 0, &mut [0.0; 6])
        .unwrap_err();
    assert!(matches!(
        err,
        ReturnsError::InvalidParameter { name: "batch", .. }
    ));
    let err = er::mve_target(0.0, 0.9, &[1.0], &[0.0], 1.0).unwrap_err();
    assert!(matches!(
        err,
        ReturnsError::Length {
            name: "termination_prob",
            ..
        }
    ));
    let err = er::steve_target(&[1.0, 2.0, 3.0], 2, &mut [0.0; 2]).unwrap_err();
    assert!(matches!(err, ReturnsError::NotMultiple { .. }));
    assert!(er::continuous_truncated_weight(1.0, 0).is_err());
    // Messages name the argument.
    let msg = er::vtrace(
        &[0.0],
        &[0.0, 1.0],
        &[0.0],
        &[0.0],
        &[1.0],
        &VTraceParams::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("v_t"), "{msg}");
}

#[test]
fn empty_trajectories_are_fine_where_shapes_allow() {
    assert!(
        er::lambda_returns::<f64>(&[], &[], &[], 0.5)
            .unwrap()
            .is_empty()
    );
    assert!(
        er::truncated_generalized_advantage_estimation::<f64>(&[], &[], 0.5, &[1.0])
            .unwrap()
            .is_empty()
    );
    assert!(
        er::vtrace::<f64>(&[], &[], &[], &[], &[], &VTraceParams::default())
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        er::general_off_policy_returns_from_q_and_v::<f64>(&[], &[], &[], &[], &[]).unwrap_err(),
        ReturnsError::Empty("v_t")
    );
}

proptest! {
    /// Arbitrary lengths never panic: every function answers Ok or Err.
    #[test]
    fn arbitrary_lengths_never_panic(l in proptest::collection::vec(0usize..6, 10), b in 0usize..4, n in 0usize..4) {
        let v = |i: usize| vec![0.5f64; l[i]];
        let a = |i: usize| vec![1usize; l[i]];
        let _ = er::lambda_returns(&v(0), &v(1), &v(2), &v(3)[..]);
        let _ = er::n_step_bootstrapped_returns(&v(0), &v(1), &v(2), n, 0.5);
        let _ = er::truncated_generalized_advantage_estimation(&v(0), &v(1), 0.5, &v(2));
        let _ = er::retrace(&v(0), &v(1), &a(2), &a(3), &v(4), &v(5), &v(6), &v(7), 0.9, 1e-8);
        let _ = er::retrace_continuous(&v(0), &v(1), &v(2), &v(3), &v(4), &v(5), 0.9);
        let _ = er::general_off_policy_returns_from_action_values(&v(0), &a(1), &v(2), &v(3), &v(4), &v(5));
        let _ = er::general_off_policy_returns_from_q_and_v(&v(0), &v(1), &v(2), &v(3), &v(4));
        let _ = er::vtrace_td_error_and_advantage(&v(0), &v(1), &v(2), &v(3), &v(4), &VTraceParams::default());
        let _ = er::q_ret(&v(0), &v(1), &v(2), &v(3), er::QRetTrace::Truncated { rho_t: &v(4), c: 1.0 });
        let mut o1 = v(8);
        let mut o2 = v(9);
        let _ = er::acer_weights_into(&v(0), &v(1), &a(2), 1.0, &mut o1, &mut o2);
        let _ = er::steve_target(&v(0), l[1], &mut o1);
        let _ = batched::retrace_into(&v(0), &v(1), &a(2), &a(3), &v(4), &v(5), &v(6), &v(7), 0.9, 1e-8, b, &mut o1);
        let _ = batched::truncated_gae_into(&v(0), &v(1), 0.5, &v(2), b, &mut o1);
        let _ = batched::q_ret_into(&v(0), &v(1), &v(2), &v(3), er::QRetTrace::Opc, b, &mut o1);
        let _ = batched::general_off_policy_returns_from_q_and_v_into(&v(0), &v(1), &v(2), &v(3), &v(4), b, &mut o1);
        let _ = batched::n_step_bootstrapped_returns_into(&v(0), &v(1), &v(2), n, &v(3)[..], b, &mut o1);
    }
}
