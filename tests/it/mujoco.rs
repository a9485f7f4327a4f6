//! The agents on the MuJoCo envs, end to end through the binary: continuous ACER learns
//! InvertedPendulum-v5; its policy is recorded as demonstrations that BC, DAgger and GAIL train
//! on; STEVE trains on Hopper-v5; the discrete agents refuse a MuJoCo env with a clear error.
//!
//! They need the MuJoCo library (`.ci/run` installs python/requirements-mujoco.txt into
//! `.venv-py`, where the binary finds it). Without it they print why and pass, except under
//! `CI=true`.

use std::path::Path;

use crate::python_actor::in_ci;
use crate::{eirl, only_run_dir, stderr, stdout};

fn mujoco_ready(test: &str) -> bool {
    match eirl_envs::mujoco_available() {
        Ok(()) => true,
        Err(why) => {
            assert!(
                !in_ci(),
                "{test}: {why}; CI must have it (.ci/run installs it)"
            );
            println!("{test}: skipped: {why}");
            false
        }
    }
}

/// `eirl <args>` in `cwd`, which must succeed; its stdout.
fn ok(args: &[&str], cwd: &Path) -> String {
    let out = eirl(args, cwd);
    assert!(out.status.success(), "{args:?} failed: {}", stderr(&out));
    stdout(&out)
}

/// The `mean_return=` of `eirl eval`'s last line (printed by `train` too).
fn mean_return(text: &str) -> f64 {
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("mean_return="))
        .unwrap_or_else(|| panic!("no mean_return line in {text}"));
    line.split_whitespace()
        .next()
        .and_then(|kv| kv.strip_prefix("mean_return="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad line {line}"))
}

#[test]
fn continuous_agents_learn_and_imitate_on_inverted_pendulum() {
    if !mujoco_ready("continuous_agents_learn_and_imitate_on_inverted_pendulum") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let env = "InvertedPendulum-v5";
    // ACER (continuous, SDN) from scratch: 20k steps take a few seconds. Seeds 0/1/2 reached
    // 73 / 76 / 107 here; an untrained policy scores about 5.
    ok(
        &[
            "train", "acer", "--env", env, "--steps", "20000", "--seed", "0", "--out", "acer",
        ],
        dir,
    );
    let expert = only_run_dir(&dir.join("acer"));
    let expert = expert.to_str().expect("utf-8 path");
    let recorded = ok(
        &[
            "demo",
            "record",
            "--run",
            expert,
            "--episodes",
            "4",
            "--out",
            "ip.npz",
        ],
        dir,
    );
    let demos = eirl_imitation::Demonstrations::load(&dir.join("ip.npz")).expect("demos");
    let expert_return = demos.expert_mean_return().expect("expert return");
    let random_return = demos.random_mean_return().expect("random return");
    assert!(
        expert_return >= 30.0 && expert_return >= 5.0 * random_return,
        "ACER did not learn InvertedPendulum-v5: {recorded}"
    );
    // Each imitator must beat the random policy by a wide margin.
    let floor = random_return + 0.5 * (expert_return - random_return);
    for (algo, extra) in [
        ("bc", vec![]),
        ("dagger", vec!["--expert", expert]),
        ("gail", vec!["--steps", "10000"]),
    ] {
        let mut args = vec![
            "train", algo, "--env", env, "--demos", "ip.npz", "--out", algo,
        ];
        args.extend(extra);
        let text = ok(&args, dir);
        let score = mean_return(&text);
        println!("{algo} on {env}: {score} (expert {expert_return}, random {random_return})");
        assert!(
            score >= floor,
            "{algo} scored {score} on {env}; expert {expert_return}, random {random_return}"
        );
    }
}

#[test]
fn steve_trains_on_hopper_and_discrete_agents_refuse_it() {
    if !mujoco_ready("steve_trains_on_hopper_and_discrete_agents_refuse_it") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    // Small networks and a short warm-up: this checks the plumbing (world models, value
    // expansion, checkpoints, evaluation) on an 11-d observation and 3-d action, not learning.
    let text = ok(
        &[
            "train",
            "steve",
            "--env",
            "Hopper-v5",
            "--steps",
            "400",
            "--set",
            "learning_starts=200",
            "--set",
            "model_pretrain_updates=20",
            "--set",
            "batch_size=32",
            "--set",
            "eval_interval=400",
            "--set",
            "eval_episodes=2",
            "--set",
            "hidden=[32, 32]",
            "--set",
            "transition_hidden=[64, 64]",
            "--set",
            "aux_hidden=[32, 32]",
            "--out",
            "runs",
        ],
        dir,
    );
    assert!(mean_return(&text).is_finite(), "{text}");
    let run = only_run_dir(&dir.join("runs"));
    assert!(run.join("metrics.csv").is_file());
    for algo in ["dqn", "svrl", "seed"] {
        let out = eirl(
            &["train", algo, "--env", "Hopper-v5", "--out", "refused"],
            dir,
        );
        assert!(!out.status.success(), "{algo} accepted Hopper-v5");
        let err = stderr(&out);
        assert!(
            err.contains("discrete action") && !err.contains("panicked"),
            "{algo}: {err}"
        );
    }
    assert!(
        !dir.join("refused").exists(),
        "a refused run made a directory"
    );
}

/// The eval rows of a run's metrics.csv (`step,…,eval_mean_return,value`), without wall times.
fn eval_rows(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).expect("metrics.csv");
    text.lines()
        .filter(|l| l.contains(",eval_"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},{},{}", f[0], f[2], f[3])
        })
        .collect()
}

#[test]
fn an_exactly_resumed_hopper_run_matches_an_uninterrupted_one() {
    if !mujoco_ready("an_exactly_resumed_hopper_run_matches_an_uninterrupted_one") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let common = [
        "train",
        "acer",
        "--env",
        "Hopper-v5",
        "--set",
        "exact_resume=true",
        "--set",
        "eval_interval=1000",
        "--set",
        "eval_episodes=3",
    ];
    let mut whole = common.to_vec();
    whole.extend(["--steps", "2000", "--out", "whole"]);
    ok(&whole, dir);
    let mut half = common.to_vec();
    half.extend(["--steps", "1000", "--out", "halves"]);
    ok(&half, dir);
    let run = only_run_dir(&dir.join("halves"));
    ok(
        &[
            "train",
            "acer",
            "--resume",
            run.to_str().expect("utf-8"),
            "--steps",
            "2000",
        ],
        dir,
    );
    let expected = eval_rows(&only_run_dir(&dir.join("whole")));
    assert!(expected.len() >= 4, "{expected:?}");
    assert_eq!(eval_rows(&run), expected);
}
