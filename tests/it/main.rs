//! End-to-end tests of the `eirl` binary: train → files on disk → eval → resume, and clear
//! one-line errors for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod architecture;
mod causal;
mod deploy;
mod files;
mod gym;
mod imitation_interop;
mod legacy;
mod logging;
mod mujoco;
mod plan;
mod python_actor;
mod ray_cluster;
mod resume;
mod seed;

/// A port nothing listens on now (for a learner started by the test).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn eirl(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eirl"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run eirl")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const TINY: &str = r#"
learning_starts = 100
batch_size = 16
buffer_size = 2000
train_freq = 4
target_update_interval = 100
eval_interval = 300
eval_episodes = 3
[network]
hidden = [16]
"#;

fn only_run_dir(root: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("runs dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

#[test]
fn train_eval_resume() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = tmp.path().join("tiny.toml");
    std::fs::write(&cfg, TINY).expect("write cfg");
    let cfg_s = cfg.to_str().expect("utf8");
    let out = eirl(
        &[
            "train",
            "dqn",
            "--env",
            "CartPole-v1",
            "--config",
            cfg_s,
            "--steps",
            "600",
            "--seed",
            "3",
            "--out",
            "runs",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let run = only_run_dir(&tmp.path().join("runs"));
    let name = run.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(name.starts_with("dqn-CartPole-v1-3-"), "{name}");
    for f in [
        "config.toml",
        "run.json",
        "metrics.csv",
        "learning_curve.png",
        "checkpoints/latest.safetensors",
        "checkpoints/best.safetensors",
    ] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    let events = std::fs::read_dir(&run)
        .expect("run")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("events.out.tfevents")
        })
        .count();
    assert_eq!(events, 1);
    // The resolved config keeps the preset's numbers and the user's overrides.
    let resolved = std::fs::read_to_string(run.join("config.toml")).expect("config");
    assert!(
        resolved.contains("total_steps = 600") && resolved.contains("batch_size = 16"),
        "{resolved}"
    );
    let rows = eirl_runlog::read_metrics(&run.join("metrics.csv")).expect("metrics");
    assert!(rows.iter().any(|r| r.name == "episode_return"));
    assert_eq!(
        rows.iter().filter(|r| r.name == "eval_mean_return").count(),
        2
    );

    let run_s = run.to_str().expect("utf8");
    let ev = eirl(
        &["eval", "--run", run_s, "--episodes", "4", "--seed", "7"],
        tmp.path(),
    );
    assert!(ev.status.success(), "{}", stderr(&ev));
    let text = stdout(&ev);
    let last = text.lines().last().expect("a line");
    let fields: Vec<&str> = last.split(' ').collect();
    assert_eq!(fields.len(), 3, "{last}");
    assert!(
        fields[0]
            .strip_prefix("mean_return=")
            .and_then(|v| v.parse::<f64>().ok())
            .is_some(),
        "{last}"
    );
    assert!(
        fields[1]
            .strip_prefix("std_return=")
            .and_then(|v| v.parse::<f64>().ok())
            .is_some(),
        "{last}"
    );
    assert_eq!(fields[2], "episodes=4");
    // Same seed, same evaluation.
    let again = eirl(
        &["eval", "--run", run_s, "--episodes", "4", "--seed", "7"],
        tmp.path(),
    );
    assert_eq!(stdout(&again).lines().last(), Some(last));

    let res = eirl(
        &["train", "dqn", "--resume", run_s, "--steps", "900"],
        tmp.path(),
    );
    assert!(res.status.success(), "{}", stderr(&res));
    let rows = eirl_runlog::read_metrics(&run.join("metrics.csv")).expect("metrics");
    assert!(
        rows.iter().any(|r| r.step > 600),
        "resume logged nothing new"
    );
    assert!(rows.iter().filter(|r| r.name == "eval_mean_return").count() >= 3);
    let ck =
        eirl_models::Checkpoint::load(&run.join("checkpoints/latest.safetensors")).expect("ck");
    assert_eq!(ck.meta("env_steps"), Some("900"));
    // Nothing further to do: a clear error, not a silent success.
    let done = eirl(
        &["train", "dqn", "--resume", run_s, "--steps", "900"],
        tmp.path(),
    );
    assert!(!done.status.success());
}

#[test]
fn bad_input_is_a_one_line_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("utf8").to_string()
    };
    let bad_toml = write("bad.toml", "gamma = [");
    let unknown_key = write("unknown.toml", "gama = 0.9");
    let out_of_range = write("range.toml", "gamma = 3.0");
    let wrong_type = write("type.toml", "batch_size = \"big\"");
    let renamed = write("renamed.toml", "entropy_cost = 0.01");
    let renamed_nested = write("nested.toml", "[trpo]\nentropy_coeff = 0.0");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["train", "dqn", "--env", "Nope-v0"], "Nope-v0"),
        (vec!["train", "ppo9", "--env", "CartPole-v1"], "ppo9"),
        (vec!["train", "dqn", "--config", &bad_toml], "bad.toml"),
        (vec!["train", "dqn", "--config", &unknown_key], "gama"),
        (vec!["train", "dqn", "--config", &out_of_range], "gamma"),
        (vec!["train", "dqn", "--config", &wrong_type], "batch_size"),
        (
            vec!["train", "seed", "--config", &renamed],
            "`entropy_cost` is now called `ent_coef`",
        ),
        (
            vec![
                "train",
                "gail",
                "--demos",
                "x.npz",
                "--config",
                &renamed_nested,
            ],
            "`trpo.entropy_coeff` is now called `trpo.ent_coef`",
        ),
        (
            vec!["train", "dqn", "--actors", "4"],
            "--actors does not apply to dqn",
        ),
        (
            vec!["train", "bc", "--resume", "no/such/run"],
            "no/such/run",
        ),
        (vec!["train", "dqn", "--env", "Pendulum-v1"], "discrete"),
        (vec!["train", "dqn", "--steps", "0"], "steps"),
        (
            vec!["train", "dqn", "--steps", "9223372036854775808"],
            "--steps 9223372036854775808 is too large",
        ),
        (vec!["eval", "--run", "no/such/run"], "no/such/run"),
        (
            vec!["demo", "record", "--expert", "juggler", "--out", "x.npz"],
            "juggler",
        ),
        (vec!["demo", "record", "--out", "x.npz"], "--run"),
    ];
    for (args, needle) in cases {
        let out = eirl(&args, tmp.path());
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: not one line: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // No run directory was created for any failed start.
    assert!(!tmp.path().join("runs").exists());
}

#[test]
fn envs_lists_every_id() {
    let out = eirl(&["envs"], Path::new("."));
    assert!(out.status.success());
    let text = stdout(&out);
    for id in [
        "CartPole-v1",
        "MountainCar-v0",
        "MountainCarContinuous-v0",
        "Pendulum-v1",
        "Acrobot-v1",
        "Hopper-v5",
        "HalfCheetah-v5",
        "Walker2d-v5",
        "InvertedPendulum-v5",
        "InvertedDoublePendulum-v5",
        "Ant-v5",
        "Humanoid-v5",
    ] {
        assert!(text.contains(id), "{id} missing from {text}");
    }
}

/// A MuJoCo id where the library cannot be found: `eirl envs` still lists everything and says
/// how to install it; training fails at once with that reason, not a panic.
#[test]
fn a_missing_mujoco_library_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_eirl"))
            .args(args)
            .current_dir(tmp.path())
            .env("EIRL_MUJOCO_LIB", tmp.path().join("no-such-libmujoco.so"))
            .output()
            .expect("run eirl")
    };
    let out = run(&["envs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("CartPole-v1 "), "{text}");
    assert!(text.contains("Hopper-v5"), "{text}");
    assert!(text.contains("EIRL_MUJOCO_LIB"), "{text}");
    let out = run(&["train", "steve", "--env", "Hopper-v5", "--steps", "100"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("Hopper-v5") && err.contains("EIRL_MUJOCO_LIB"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !tmp.path().join("runs").exists(),
        "a run directory was made"
    );
}

#[test]
fn scripted_expert_demonstrations() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = eirl(
        &[
            "demo",
            "record",
            "--expert",
            "mountaincar-pump",
            "--episodes",
            "3",
            "--out",
            "mc.npz",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let demos = eirl_imitation::Demonstrations::load(&tmp.path().join("mc.npz")).expect("demos");
    assert_eq!(demos.env_id(), "MountainCar-v0");
    let expert = demos.expert_mean_return().expect("expert return");
    let random = demos.random_mean_return().expect("random return");
    assert!(
        expert > -150.0 && random < -190.0,
        "expert {expert}, random {random}"
    );
}

#[test]
fn behavioural_cloning_and_dagger_runs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let rec = eirl(
        &[
            "demo",
            "record",
            "--expert",
            "cartpole-balancer",
            "--episodes",
            "2",
            "--out",
            "cp.npz",
        ],
        tmp.path(),
    );
    assert!(rec.status.success(), "{}", stderr(&rec));
    std::fs::write(
        tmp.path().join("bc.toml"),
        "eval_episodes = 5\n[bc]\nmax_epochs = 15\npatience = 5\n",
    )
    .expect("cfg");
    let out = eirl(
        &[
            "train",
            "bc",
            "--env",
            "CartPole-v1",
            "--demos",
            "cp.npz",
            "--config",
            "bc.toml",
            "--out",
            "runs",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let last = stdout(&out)
        .lines()
        .last()
        .map(str::to_string)
        .expect("a line");
    assert!(
        last.starts_with("mean_return=") && last.contains(" episodes=5 normalized_score="),
        "{last}"
    );
    let run = only_run_dir(&tmp.path().join("runs"));
    for f in [
        "config.toml",
        "metrics.csv",
        "learning_curve.png",
        "checkpoints/best.safetensors",
    ] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    let ev = eirl(
        &[
            "eval",
            "--run",
            run.to_str().expect("utf8"),
            "--episodes",
            "5",
        ],
        tmp.path(),
    );
    assert!(ev.status.success(), "{}", stderr(&ev));
    assert!(
        stdout(&ev)
            .lines()
            .last()
            .is_some_and(|l| l.contains("normalized_score="))
    );
    // Demonstrations of another env are refused before a run directory is made.
    let wrong = eirl(
        &[
            "train",
            "bc",
            "--env",
            "Acrobot-v1",
            "--demos",
            "cp.npz",
            "--out",
            "runs2",
        ],
        tmp.path(),
    );
    assert!(!wrong.status.success() && stderr(&wrong).contains("CartPole-v1"));
    assert!(!tmp.path().join("runs2").exists());
    let missing = eirl(
        &["train", "bc", "--env", "CartPole-v1", "--out", "runs2"],
        tmp.path(),
    );
    assert!(!missing.status.success() && stderr(&missing).contains("--demos"));

    // The BC run is an expert for DAgger; the learner must come close to it.
    std::fs::write(
        tmp.path().join("dagger.toml"),
        "eval_episodes = 5\nrandom_episodes = 10\n[dagger]\nrounds = 3\n[dagger.bc]\nmax_epochs = 15\npatience = 5\n",
    )
    .expect("cfg");
    let dg = eirl(
        &[
            "train",
            "dagger",
            "--env",
            "CartPole-v1",
            "--expert",
            run.to_str().expect("utf8"),
            "--config",
            "dagger.toml",
            "--out",
            "runs3",
        ],
        tmp.path(),
    );
    assert!(dg.status.success(), "{}", stderr(&dg));
    let last = stdout(&dg)
        .lines()
        .last()
        .map(str::to_string)
        .expect("a line");
    let score: f64 = last
        .split_once("normalized_score=")
        .and_then(|(_, s)| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no normalized score in {last}"));
    assert!(
        score > 0.5,
        "DAgger learner scored {score} (random 0, expert 1)"
    );
    let dagger_run = only_run_dir(&tmp.path().join("runs3"));
    let metrics = std::fs::read_to_string(dagger_run.join("metrics.csv")).expect("metrics");
    assert_eq!(
        metrics.matches("dagger_dataset_size").count(),
        4,
        "{metrics}"
    );
    // An expert of another env, or none, is refused before a run directory is made.
    for (args, needle) in [
        (
            vec!["--env", "MountainCar-v0", "--expert", "cartpole-balancer"],
            "CartPole-v1",
        ),
        (vec!["--env", "CartPole-v1"], "--expert"),
        (vec!["--env", "CartPole-v1", "--expert", "nobody"], "nobody"),
    ] {
        let mut full = vec!["train", "dagger", "--out", "runs4"];
        full.extend(args);
        let o = eirl(&full, tmp.path());
        assert!(
            !o.status.success() && stderr(&o).contains(needle),
            "{}",
            stderr(&o)
        );
    }
    assert!(!tmp.path().join("runs4").exists());
}

#[test]
fn acer_trains_evaluates_and_resumes() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(
        tmp.path().join("acer.toml"),
        "eval_interval = 1600\neval_episodes = 3\n",
    )
    .expect("cfg");
    let out = eirl(
        &[
            "train",
            "acer",
            "--env",
            "CartPole-v1",
            "--config",
            "acer.toml",
            "--steps",
            "3200",
            "--out",
            "runs",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let run = only_run_dir(&tmp.path().join("runs"));
    let run_s = run.to_str().expect("utf8");
    let ev = eirl(&["eval", "--run", run_s, "--episodes", "3"], tmp.path());
    assert!(ev.status.success(), "{}", stderr(&ev));
    assert!(
        stdout(&ev)
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("mean_return="))
    );
    let res = eirl(
        &["train", "acer", "--resume", run_s, "--steps", "4800"],
        tmp.path(),
    );
    assert!(res.status.success(), "{}", stderr(&res));
    let rows = eirl_runlog::read_metrics(&run.join("metrics.csv")).expect("metrics");
    assert!(
        rows.iter()
            .any(|r| r.name == "eval_mean_return" && r.step >= 4800)
    );
    // Continuous control goes through the same command.
    let pend = eirl(
        &[
            "train",
            "acer",
            "--env",
            "Pendulum-v1",
            "--config",
            "acer.toml",
            "--steps",
            "1600",
            "--out",
            "runs-p",
        ],
        tmp.path(),
    );
    assert!(pend.status.success(), "{}", stderr(&pend));
}

#[test]
fn gail_run_keeps_its_demonstrations() {
    let tmp = tempfile::tempdir().expect("tmp");
    let rec = eirl(
        &[
            "demo",
            "record",
            "--expert",
            "cartpole-balancer",
            "--episodes",
            "2",
            "--out",
            "cp.npz",
        ],
        tmp.path(),
    );
    assert!(rec.status.success(), "{}", stderr(&rec));
    std::fs::write(
        tmp.path().join("g.toml"),
        "eval_interval = 2048\neval_episodes = 3\nnum_envs = 2\n",
    )
    .expect("cfg");
    let out = eirl(
        &[
            "train",
            "gail",
            "--env",
            "CartPole-v1",
            "--demos",
            "cp.npz",
            "--config",
            "g.toml",
            "--steps",
            "2048",
            "--out",
            "runs",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let run = only_run_dir(&tmp.path().join("runs"));
    assert!(run.join("demos.npz").is_file());
    // Evaluation works without the original file and reports the normalized score.
    std::fs::remove_file(tmp.path().join("cp.npz")).expect("rm");
    let ev = eirl(
        &[
            "eval",
            "--run",
            run.to_str().expect("utf8"),
            "--episodes",
            "3",
        ],
        tmp.path(),
    );
    assert!(ev.status.success(), "{}", stderr(&ev));
    assert!(
        stdout(&ev)
            .lines()
            .last()
            .is_some_and(|l| l.contains("normalized_score=")),
        "{}",
        stdout(&ev)
    );
    let missing = eirl(
        &["train", "gail", "--env", "CartPole-v1", "--out", "runs3"],
        tmp.path(),
    );
    assert!(!missing.status.success() && stderr(&missing).contains("--demos"));
    assert!(!tmp.path().join("runs3").exists());
}
