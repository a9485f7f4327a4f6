//! SEED RL on a local multi-node Ray cluster through `python -m eirl_ray`
//! (`python/tests/ray_cluster.py`): training progresses, the node holding some actors is removed
//! mid-run and Ray restarts them on the other node, the learner never stops and loses at most
//! the removed actors' in-flight unrolls, no actor process is left behind, and a relaunch with
//! `--resume-latest` continues from the checkpoint. Needs Python with `ray` (`.ci/run` installs
//! `python/requirements-cluster.txt` into `.venv-py`): fails under `CI=true` without it, skips
//! with a message elsewhere.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::python_actor::{in_ci, python};

/// Why `python` cannot run the check, if it cannot.
fn missing_ray(python: &Path) -> Option<String> {
    crate::python_actor::cannot_import(python, "ray, ray.cluster_utils")
}

#[test]
fn ray_cluster_survives_a_removed_node_and_resumes() {
    let python = python();
    if let Some(why) = missing_ray(&python) {
        let msg = format!(
            "{} cannot import ray ({why}); install python/requirements-cluster.txt into .venv-py \
             (as .ci/run does) or set EIRL_PYTHON",
            python.display()
        );
        assert!(!in_ci(), "{msg}");
        eprintln!("skipping: ray_cluster_survives_a_removed_node_and_resumes: {msg}");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/tests/ray_cluster.py");
    let log = tmp.path().join("check.log");
    let mut child = Command::new(&python)
        .arg(&script)
        .arg("--eirl")
        .arg(env!("CARGO_BIN_EXE_eirl"))
        .arg("--workdir")
        .arg(tmp.path().join("work"))
        // Ray's own temp folders stay inside the test's.
        .env("RAY_TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the Ray check");
    let limit = Duration::from_secs(900);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the Ray check ran over {limit:?}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "the Ray check failed ({status}):\n{out}");
    assert!(out.contains("restarted on the head node"), "{out}");
}

/// `python -m eirl_ray` with `args` (its argument parsing needs no Ray).
fn launcher(python: &Path, args: &[&str]) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new(python)
        .args(["-m", "eirl_ray"])
        .args(args)
        .env("PYTHONPATH", root.join("python"))
        .output()
        .expect("run python -m eirl_ray")
}

#[test]
fn the_documented_launcher_flags_exist_and_bad_ones_are_refused() {
    let python = python();
    let help = launcher(&python, &["--help"]);
    assert!(help.status.success(), "{help:?}");
    let help = String::from_utf8_lossy(&help.stdout);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for file in ["README.md", "python/README.md"] {
        let text = std::fs::read_to_string(root.join(file)).expect("readme");
        for flags in crate::deploy::documented_flags(&text, "python -m eirl_ray") {
            for f in &flags {
                assert!(
                    crate::deploy::has_flag(&help, f),
                    "{file}: python -m eirl_ray has no {f}:\n{help}"
                );
            }
            seen += flags.len();
        }
    }
    assert!(seen >= 10, "only {seen} documented flags found");
    for (args, says) in [
        (&["--learner-resources", "{not json"][..], "is not JSON"),
        (&["--actors", "0"][..], "--actors must be"),
        (
            &["--envs-per-actor", "70000"][..],
            "--envs-per-actor must be",
        ),
    ] {
        let out = launcher(&python, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("Traceback"), "{args:?}: {err}");
    }
}
