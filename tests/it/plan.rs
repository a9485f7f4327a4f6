//! `eirl plan svp`: a short plan end to end, the reference reuse, and bad input.

#![allow(clippy::unwrap_used)]

use crate::{eirl, stderr};

#[test]
fn plan_svp_writes_summary_heat_maps_and_reuses_a_reference() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "plan",
        "svp",
        "--task",
        "double-integrator",
        "--max-iters",
        "3",
        "--runs",
        "5",
    ];
    let full = dir.path().join("full");
    let full_s = full.to_str().unwrap();
    let o = eirl(
        &[&base[..], &["--p", "1", "--out", full_s]].concat(),
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(full.join("summary.json")).unwrap()).unwrap();
    assert_eq!(v["policy_agreement"], 1.0);
    assert_eq!(v["backups"], 3 * 2500 * 1000);
    let svp = dir.path().join("svp");
    let o = eirl(
        &[
            &base[..],
            &[
                "--p",
                "0.2",
                "--seed",
                "3",
                "--out",
                svp.to_str().unwrap(),
                "--reference",
                full_s,
            ],
        ]
        .concat(),
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(svp.join("summary.json")).unwrap()).unwrap();
    for key in [
        "policy_agreement",
        "value_rel_error",
        "approximate_rank",
        "backups",
        "mean_return",
    ] {
        assert!(!v[key].is_null(), "summary lacks {key}: {v}");
    }
    let saved = v["backup_reduction"].as_f64().unwrap();
    assert!(
        (saved - 5.0).abs() < 0.1,
        "p = 0.2 saves ≈ 5× backups, got {saved}"
    );
    let agreement = v["policy_agreement"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&agreement));
    for png in ["value.png", "policy.png"] {
        assert!(std::fs::metadata(svp.join(png)).unwrap().len() > 1000);
    }
    // A reference of the wrong task is refused with the reason.
    let o = eirl(
        &[
            "plan",
            "svp",
            "--task",
            "cart-pole",
            "--p",
            "0.5",
            "--max-iters",
            "1",
            "--out",
            dir.path().join("x").to_str().unwrap(),
            "--reference",
            full_s,
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cart-pole Q matrix"), "{}", stderr(&o));
}

#[test]
fn plan_svp_rejects_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let out = out.to_str().unwrap();
    let o = eirl(
        &["plan", "svp", "--task", "pendulum", "--out", out],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("inverted-pendulum"), "{}", stderr(&o));
    let o = eirl(
        &[
            "plan",
            "svp",
            "--task",
            "mountain-car",
            "--p",
            "0",
            "--out",
            out,
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--p 0 must be in (0, 1]"),
        "{}",
        stderr(&o)
    );
}
