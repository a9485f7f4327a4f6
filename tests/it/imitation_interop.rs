//! `--demos` takes what the `imitation` library writes (its datasets folders and legacy `.npz`,
//! which hold no env id: `--env` is assumed, with a warning), and `eirl demo record --out DIR`
//! writes a datasets folder. The fixtures are eirl-imitation's, written by the real library.

use std::path::{Path, PathBuf};

use super::{eirl, only_run_dir, stderr};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/imitation/tests/data/imitation")
        .join(name)
}

const BC: &str = "eval_episodes = 2\n[bc]\nmax_epochs = 3\npatience = 2\n";

fn train_bc(dir: &Path, demos: &Path, env: Option<&str>, out: &str) -> std::process::Output {
    let demos = demos.to_str().expect("utf8");
    let mut args = vec![
        "train", "bc", "--demos", demos, "--config", "bc.toml", "--out", out,
    ];
    if let Some(env) = env {
        args.extend(["--env", env]);
    }
    eirl(&args, dir)
}

#[test]
fn imitation_files_train_with_env_and_are_refused_without_a_fit() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join("bc.toml"), BC).expect("cfg");
    for (i, name) in ["cartpole", "cartpole.npz"].into_iter().enumerate() {
        let out = format!("runs{i}");
        let o = train_bc(tmp.path(), &fixture(name), Some("CartPole-v1"), &out);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("has no env id") && err.contains("assuming CartPole-v1"),
            "{name}: no warning in {err}"
        );
        // The run's copy names the env: eval needs no --env and warns no more.
        let run = only_run_dir(&tmp.path().join(&out));
        let copy = eirl_imitation::Demonstrations::load(&run.join("demos.npz")).expect("copy");
        assert_eq!(copy.env_id(), "CartPole-v1");
        let ev = eirl(
            &[
                "eval",
                "--run",
                run.to_str().expect("utf8"),
                "--episodes",
                "1",
            ],
            tmp.path(),
        );
        assert!(ev.status.success(), "{}", stderr(&ev));
        assert!(!stderr(&ev).contains("no env id"), "{}", stderr(&ev));
    }
    // Pendulum data under the default --env (CartPole-v1): refused, saying why, naming --env.
    let o = train_bc(tmp.path(), &fixture("pendulum.npz"), None, "runs-bad");
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("has no env id")
            && err.contains("observations have 3 values, CartPole-v1's have 4")
            && err.contains("--env"),
        "{err}"
    );
    assert!(!tmp.path().join("runs-bad").exists());
}

#[test]
fn demo_record_writes_a_datasets_folder_that_trains() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join("bc.toml"), BC).expect("cfg");
    let rec = eirl(
        &[
            "demo",
            "record",
            "--expert",
            "cartpole-balancer",
            "--episodes",
            "2",
            "--out",
            "cp-dataset",
        ],
        tmp.path(),
    );
    assert!(rec.status.success(), "{}", stderr(&rec));
    let folder = tmp.path().join("cp-dataset");
    for f in [
        "state.json",
        "dataset_info.json",
        "data-00000-of-00001.arrow",
        "eirl.json",
    ] {
        assert!(folder.join(f).is_file(), "missing {f}");
    }
    let d = eirl_imitation::Demonstrations::load(&folder).expect("load");
    assert_eq!((d.env_id(), d.num_episodes()), ("CartPole-v1", 2));
    assert!(d.random_mean_return().is_some());
    // It names its env: no warning when training on it.
    let o = train_bc(tmp.path(), &folder, Some("CartPole-v1"), "runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("no env id"), "{}", stderr(&o));
    let run = only_run_dir(&tmp.path().join("runs"));
    let copy = eirl_imitation::Demonstrations::load(&run.join("demos.npz")).expect("copy");
    assert!(copy.same_trajectories(&d));
    // A path that is neither .npz nor a datasets folder is not overwritten.
    std::fs::write(tmp.path().join("notes.txt"), "keep").expect("write");
    let rec = eirl(
        &[
            "demo",
            "record",
            "--expert",
            "cartpole-balancer",
            "--episodes",
            "1",
            "--out",
            "notes.txt",
        ],
        tmp.path(),
    );
    assert!(!rec.status.success());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("notes.txt")).expect("read"),
        "keep"
    );
}
