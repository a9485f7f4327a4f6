//! Run directories written by eirl before the agent contract left the CLI (commit 1a8fd5e:
//! tiny runs of every algorithm, `tests/data/legacy-runs/`, checkpoints and configs as that
//! version wrote them) still evaluate and resume; a checkpoint of another algorithm is refused
//! with a clear message.

use std::path::{Path, PathBuf};

use super::{eirl, stderr, stdout};

const LEGACY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/legacy-runs");

/// A writable copy of legacy run `name` under `dir`.
fn copy_run(name: &str, dir: &Path) -> PathBuf {
    let src = Path::new(LEGACY).join(name);
    let dst = dir.join(name);
    for entry in walk(&src) {
        let rel = entry.strip_prefix(&src).expect("inside");
        let target = dst.join(rel);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&entry, &target).expect("copy");
    }
    dst
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).expect("legacy run dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

#[test]
fn old_runs_still_evaluate() {
    let tmp = tempfile::tempdir().expect("tmp");
    for (name, normalized) in [
        ("dqn", false),
        ("acer", false),
        ("acer-continuous", false),
        ("gail", true),
        ("seed", false),
        ("bc", true),
        ("dagger", true),
    ] {
        let run = copy_run(name, tmp.path());
        let out = eirl(
            &[
                "eval",
                "--run",
                run.to_str().expect("utf8"),
                "--episodes",
                "2",
            ],
            tmp.path(),
        );
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let text = stdout(&out);
        let last = text.lines().last().unwrap_or_default();
        assert!(last.starts_with("mean_return="), "{name}: {last}");
        assert_eq!(
            last.contains("normalized_score="),
            normalized,
            "{name}: {last}"
        );
    }
}

#[test]
fn old_runs_resume_and_old_config_keys_migrate() {
    let tmp = tempfile::tempdir().expect("tmp");
    // DQN: 600 steps written by the old version, 300 more now.
    let dqn = copy_run("dqn", tmp.path());
    let out = eirl(
        &[
            "train",
            "dqn",
            "--resume",
            dqn.to_str().expect("utf8"),
            "--steps",
            "900",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ck = eirl_models::Checkpoint::load(&dqn.join("checkpoints/latest.safetensors"))
        .expect("checkpoint");
    assert_eq!(ck.meta("env_steps"), Some("900"));
    assert_eq!(ck.meta("algo"), Some("dqn"));
    // SEED: its saved config still says `discount` and `entropy_cost`; they are read as
    // `gamma` and `ent_coef`, with a warning.
    let seed = copy_run("seed", tmp.path());
    let saved = std::fs::read_to_string(seed.join("config.toml")).expect("config");
    assert!(
        saved.contains("discount") && saved.contains("entropy_cost"),
        "{saved}"
    );
    let out = eirl(
        &[
            "train",
            "seed",
            "--resume",
            seed.to_str().expect("utf8"),
            "--steps",
            "4000",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("discount → gamma"), "{err}");
    assert!(err.contains("entropy_cost → ent_coef"), "{err}");
}

#[test]
fn a_checkpoint_of_another_algorithm_is_refused_clearly() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dqn = copy_run("dqn", tmp.path());
    let acer = copy_run("acer", tmp.path());
    for name in ["best.safetensors", "latest.safetensors"] {
        std::fs::copy(
            dqn.join("checkpoints").join(name),
            acer.join("checkpoints").join(name),
        )
        .expect("swap checkpoint");
    }
    let out = eirl(&["eval", "--run", acer.to_str().expect("utf8")], tmp.path());
    // Resuming a run under another algorithm's name is refused too.
    let wrong = eirl(
        &["train", "acer", "--resume", dqn.to_str().expect("utf8")],
        tmp.path(),
    );
    assert!(
        stderr(&wrong).contains("holds a dqn run, not acer"),
        "{}",
        stderr(&wrong)
    );
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("written by dqn, this agent is acer"), "{err}");
    // Besides the warning that these old checkpoints carry no checksum, one line.
    assert!(err.contains("has no checksum"), "{err}");
    let others = err.lines().filter(|l| !l.contains("has no checksum"));
    assert_eq!(others.count(), 1, "{err}");
}
