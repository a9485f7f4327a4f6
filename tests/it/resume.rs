//! `--resume` keeps what a run was started with: flags that would change it are refused with a
//! message naming the conflict; a longer run is what may change. A failed start of a new run
//! leaves no folder behind.

use std::net::TcpListener;
use std::path::Path;

use super::{TINY, eirl, only_run_dir, stderr};

/// Trains a 300-step DQN run on Acrobot under `dir/runs` and returns its directory.
fn acrobot_run(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("tiny.toml"), TINY).expect("write cfg");
    let out = eirl(
        &[
            "train",
            "dqn",
            "--env",
            "Acrobot-v1",
            "--config",
            "tiny.toml",
            "--steps",
            "300",
            "--seed",
            "2",
            "--out",
            "runs",
        ],
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    only_run_dir(&dir.join("runs"))
}

#[test]
fn resume_refuses_flags_that_would_change_the_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let run = acrobot_run(tmp.path());
    let run_s = run.to_str().expect("utf8");
    std::fs::write(
        tmp.path().join("gamma.toml"),
        "gamma = 0.5\n[network]\nhidden = [32]\n",
    )
    .expect("cfg");
    std::fs::write(tmp.path().join("demos.npz"), b"not used").expect("demos");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--env", "CartPole-v1"],
            "a run on Acrobot-v1, not CartPole-v1",
        ),
        (vec!["--seed", "0"], "--seed 2, not 0"),
        (
            vec!["--config", "gamma.toml"],
            "changes gamma, network.hidden",
        ),
        (vec!["--demos", "demos.npz"], "without demonstrations"),
        (vec!["--out", "elsewhere"], "--out elsewhere does not apply"),
        (
            vec!["--expert", "cartpole-balancer"],
            "--expert does not apply",
        ),
    ];
    for (flags, needle) in cases {
        let mut args = vec!["train", "dqn", "--resume", run_s];
        args.extend(&flags);
        let out = eirl(&args, tmp.path());
        let err = stderr(&out);
        assert!(!out.status.success(), "{flags:?} was accepted");
        assert!(err.contains(needle), "{flags:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{flags:?}: {err}");
    }
    let other_algo = eirl(&["train", "acer", "--resume", run_s], tmp.path());
    assert!(stderr(&other_algo).contains("holds a dqn run, not acer"));
    assert!(!tmp.path().join("elsewhere").exists());

    // What may change does: a config that only lengthens the run, and the flags as saved.
    std::fs::write(
        tmp.path().join("longer.toml"),
        "total_steps = 600\ngamma = 0.99\n",
    )
    .expect("cfg");
    let gamma = std::fs::read_to_string(run.join("config.toml")).expect("config");
    assert!(gamma.contains("gamma = 0.99"), "{gamma}");
    let out = eirl(
        &[
            "train",
            "dqn",
            "--resume",
            run_s,
            "--config",
            "longer.toml",
            "--env",
            "Acrobot-v1",
            "--seed",
            "2",
            "--out",
            "runs",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ck = eirl_models::Checkpoint::load(&run.join("checkpoints/latest.safetensors"))
        .expect("checkpoint");
    assert_eq!(ck.meta("env_steps"), Some("600"));
}

#[test]
fn errors_name_the_os_error_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(tmp.path().join("empty")).expect("mkdir");
    let out = eirl(&["train", "dqn", "--resume", "empty"], tmp.path());
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("run.json"), "{err}");
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
}

#[test]
fn failed_starts_leave_no_folder() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join("bad.toml"), "gamma = [").expect("cfg");
    // A port already taken: `seed serve` only finds out when it starts serving.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["train", "bc", "--demos", "missing.npz"], "missing.npz"),
        (
            vec![
                "train",
                "dagger",
                "--expert",
                "cartpole-balancer",
                "--config",
                "bad.toml",
            ],
            "bad.toml",
        ),
        (
            vec!["train", "gail", "--env", "Nope-v0", "--demos", "x.npz"],
            "Nope-v0",
        ),
        (vec!["seed", "serve", "--env", "Nope-v0"], "Nope-v0"),
        (
            vec!["seed", "serve", "--listen", &addr, "--steps", "100"],
            &addr,
        ),
    ];
    for (args, needle) in cases {
        let mut full = args.clone();
        full.extend(["--out", "runs"]);
        let out = eirl(&full, tmp.path());
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            !tmp.path().join("runs").exists(),
            "{args:?} left runs/ behind"
        );
    }
    drop(taken);
}
