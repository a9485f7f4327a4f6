//! `eirl causal diagnose | intervene` and confounded demonstrations from `eirl demo record`,
//! end to end: files on disk, the summary's keys, and bad input.

#![allow(clippy::unwrap_used)]

use crate::{eirl, stderr, stdout};

/// Fewer training updates and one sample count: the wiring, not the finding (the crate's own
/// tests check the finding at the official settings).
const QUICK: &str = r#"
sample_sweep = [300]
eval_episodes = 5
[plain]
updates = 300
[graph]
hidden = [50, 50, 50]
updates = 300
"#;

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn causal_runs_write_summaries_and_plots_from_recorded_demos() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("quick.toml");
    std::fs::write(&cfg, QUICK).unwrap();
    let demos = dir.path().join("demos.npz");
    let o = eirl(
        &[
            "demo",
            "record",
            "--expert",
            "mountaincar-pump",
            "--env",
            "MountainCar-v0-confounded",
            "--starts",
            "rich",
            "--episodes",
            "60",
            "--out",
            demos.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("MountainCar-v0-confounded"),
        "{}",
        stdout(&o)
    );
    let common = |out: &str| {
        vec![
            "--seed".to_string(),
            "1".into(),
            "--config".into(),
            cfg.to_str().unwrap().into(),
            "--demos".into(),
            demos.to_str().unwrap().into(),
            "--out".into(),
            dir.path().join(out).to_str().unwrap().into(),
        ]
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        eirl(&refs, dir.path())
    };
    let o = run([vec!["causal".into(), "diagnose".into()], common("d")].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let s = json(&dir.path().join("d/summary.json"));
    for key in [
        "original_return",
        "confounded_return",
        "expert_return",
        "points",
    ] {
        assert!(!s[key].is_null(), "{key} missing: {s}");
    }
    assert_eq!(s["points"].as_array().unwrap().len(), 1);
    assert!(dir.path().join("d/diagnose.png").is_file());

    let o = run([
        vec![
            "causal".into(),
            "intervene".into(),
            "--mode".into(),
            "policy-execution".into(),
            "--budget".into(),
            "4".into(),
        ],
        common("pe"),
    ]
    .concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let s = json(&dir.path().join("pe/summary.json"));
    for key in ["original_return", "confounded_return", "final_return"] {
        assert!(s[key].is_f64(), "{key}: {s}");
    }
    assert_eq!(s["episodes_or_queries_used"], 4);
    assert!(s["chosen_graph"].as_str().unwrap().starts_with('['));
    assert_eq!(s["curve"].as_array().unwrap().len(), 4);
    assert!(dir.path().join("pe/intervene.png").is_file());

    let o = run([
        vec![
            "causal".into(),
            "intervene".into(),
            "--mode".into(),
            "expert-query".into(),
            "--budget".into(),
            "30".into(),
        ],
        common("eq"),
    ]
    .concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let s = json(&dir.path().join("eq/summary.json"));
    assert_eq!(s["episodes_or_queries_used"], 30);
    assert!(!s["dagger"].as_array().unwrap().is_empty());
}

#[test]
fn causal_bad_input_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let out = out.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "causal",
                "intervene",
                "--mode",
                "magic",
                "--budget",
                "3",
                "--out",
                out,
            ],
            "unknown --mode",
        ),
        (
            &[
                "causal",
                "intervene",
                "--mode",
                "expert-query",
                "--budget",
                "0",
                "--out",
                out,
            ],
            "budget",
        ),
        (
            &["causal", "diagnose", "--env", "Nope-v0", "--out", out],
            "Nope-v0",
        ),
        (
            &[
                "demo",
                "record",
                "--expert",
                "mountaincar-pump",
                "--env",
                "CartPole-v1-confounded",
                "--out",
                out,
            ],
            "--env can be",
        ),
        (
            &[
                "demo",
                "record",
                "--expert",
                "cartpole-balancer",
                "--starts",
                "rich",
                "--out",
                out,
            ],
            "MountainCar",
        ),
    ];
    for (args, want) in cases {
        let o = eirl(args, dir.path());
        assert!(!o.status.success(), "{args:?} succeeded");
        let e = stderr(&o);
        assert!(e.contains(want), "{args:?}: {e}");
        assert!(!e.contains("panicked"), "{args:?}: {e}");
    }
}
