//! `--env gym:<id>`: every agent trains, evaluates and records demonstrations on a Gymnasium env
//! run in Python through eirl-envs' bridge, and a missing interpreter, Gymnasium or env id is a
//! one-line error that says how to fix it. Needs Python with Gymnasium (`EIRL_PYTHON`, else
//! `.venv-py`, else `python3`): without it the tests that train fail under `CI=true` and skip
//! with a message elsewhere.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{TINY, only_run_dir, stderr, stdout};

/// The interpreter for the bridge, if it has Gymnasium; `None` (after saying why) outside CI.
fn gym_python(test: &str) -> Option<PathBuf> {
    let py = crate::python_actor::python();
    let Some(why) = crate::python_actor::cannot_import(&py, "gymnasium, numpy") else {
        return Some(py);
    };
    assert!(
        !crate::python_actor::in_ci(),
        "{test}: {} cannot import gymnasium ({why}); .ci/run installs python/requirements.txt \
         into .venv-py",
        py.display()
    );
    eprintln!("skipping {test}: {} has no gymnasium ({why})", py.display());
    None
}

/// `eirl args` in `cwd` with `EIRL_PYTHON=python`.
fn eirl_py(args: &[&str], cwd: &Path, python: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eirl"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .env("EIRL_PYTHON", python)
        .output()
        .expect("run eirl")
}

fn ok(o: &Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}", stderr(o));
    stdout(o)
}

#[test]
fn every_agent_trains_evaluates_and_records_on_a_gym_env() {
    let Some(py) = gym_python("every_agent_trains_evaluates_and_records_on_a_gym_env") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let run = |args: &[&str]| eirl_py(args, dir, &py);
    std::fs::write(dir.join("tiny.toml"), TINY).expect("cfg");

    // DQN: train, evaluate, record demonstrations with the trained run as the expert.
    let out = run(&[
        "train",
        "dqn",
        "--env",
        "gym:CartPole-v1",
        "--config",
        "tiny.toml",
        "--steps",
        "2000",
        "--out",
        "dqn",
    ]);
    let text = ok(&out, "dqn");
    assert!(text.contains("done: 2000 steps"), "{text}");
    let dqn = only_run_dir(&dir.join("dqn"));
    let name = dqn.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(name.starts_with("dqn-gym_CartPole-v1-0-"), "{name}");
    let dqn_s = dqn.to_str().expect("utf8");
    let ev = ok(&run(&["eval", "--run", dqn_s, "--episodes", "3"]), "eval");
    assert!(ev.contains("on gym:CartPole-v1"), "{ev}");
    let rec = run(&[
        "demo",
        "record",
        "--run",
        dqn_s,
        "--episodes",
        "3",
        "--out",
        "demos.npz",
    ]);
    ok(&rec, "demo record");
    let demos = eirl_imitation::Demonstrations::load(&dir.join("demos.npz")).expect("demos");
    assert_eq!(demos.env_id(), "gym:CartPole-v1");
    assert_eq!(demos.num_episodes(), 3);

    // ACER, discrete and continuous (Box actions); STEVE; BC, DAgger and GAIL from the demos.
    std::fs::write(
        dir.join("acer.toml"),
        "eval_interval = 1600\neval_episodes = 3\n",
    )
    .expect("cfg");
    std::fs::write(
        dir.join("bc.toml"),
        "eval_episodes = 3\n[bc]\nmax_epochs = 5\n",
    )
    .expect("cfg");
    std::fs::write(
        dir.join("dagger.toml"),
        "eval_episodes = 3\nrandom_episodes = 5\n[dagger]\nrounds = 2\n[dagger.bc]\nmax_epochs = 5\n",
    )
    .expect("cfg");
    std::fs::write(
        dir.join("gail.toml"),
        "eval_interval = 2048\neval_episodes = 3\nnum_envs = 2\n",
    )
    .expect("cfg");
    let cases: [(&str, Vec<&str>); 6] = [
        (
            "acer",
            vec![
                "--env",
                "gym:CartPole-v1",
                "--config",
                "acer.toml",
                "--steps",
                "1600",
            ],
        ),
        (
            "acer",
            vec![
                "--env",
                "gym:Pendulum-v1",
                "--config",
                "acer.toml",
                "--steps",
                "1600",
            ],
        ),
        ("steve", vec!["--env", "gym:Pendulum-v1", "--steps", "400"]),
        (
            "bc",
            vec![
                "--env",
                "gym:CartPole-v1",
                "--demos",
                "demos.npz",
                "--config",
                "bc.toml",
            ],
        ),
        (
            "dagger",
            vec![
                "--env",
                "gym:CartPole-v1",
                "--expert",
                dqn_s,
                "--config",
                "dagger.toml",
            ],
        ),
        (
            "gail",
            vec![
                "--env",
                "gym:CartPole-v1",
                "--demos",
                "demos.npz",
                "--config",
                "gail.toml",
                "--steps",
                "2048",
            ],
        ),
    ];
    for (k, (algo, args)) in cases.iter().enumerate() {
        let out_dir = format!("runs-{k}");
        let mut full = vec!["train", algo];
        full.extend(args.iter().copied());
        full.extend(["--out", &out_dir]);
        ok(&run(&full), &format!("{full:?}"));
        let trained = only_run_dir(&dir.join(&out_dir));
        let ev = run(&[
            "eval",
            "--run",
            trained.to_str().expect("utf8"),
            "--episodes",
            "2",
        ]);
        let ev = ok(&ev, &format!("eval of {full:?}"));
        assert!(ev.contains(" on gym:"), "{ev}");
    }
}

#[test]
fn missing_python_gymnasium_or_env_id_are_one_line_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let check = |python: &Path, env: &str, needles: &[&str]| {
        let out = eirl_py(
            &[
                "train", "dqn", "--env", env, "--steps", "100", "--out", "runs",
            ],
            dir,
            python,
        );
        let err = stderr(&out);
        assert!(
            !out.status.success(),
            "{env} with {}: {err}",
            python.display()
        );
        for needle in needles {
            assert!(err.contains(needle), "{needle:?} missing: {err}");
        }
        assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    check(
        &dir.join("no-such-python"),
        "gym:CartPole-v1",
        &[
            "gym:CartPole-v1",
            "cannot start Python",
            "pip install gymnasium",
            "EIRL_PYTHON",
        ],
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A Python without Gymnasium: the real interpreter with `import gymnasium` blocked.
        let real = crate::python_actor::python();
        let fake = dir.join("python-without-gymnasium");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\nexec '{}' -c 'import sys; sys.modules[\"gymnasium\"] = None; \
                 src = sys.argv[1]; sys.argv = [\"-c\"]; exec(compile(src, \"<bridge>\", \
                 \"exec\"), {{\"__name__\": \"__main__\"}})' \"$2\"\n",
                real.display()
            ),
        )
        .expect("fake python");
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let runs = Command::new(&fake)
            .args(["-c", "print('ok')"])
            .output()
            .is_ok_and(|o| o.status.success());
        if runs {
            check(
                &fake,
                "gym:CartPole-v1",
                &["cannot import Gymnasium", "-m pip install gymnasium"],
            );
        } else {
            eprintln!(
                "skipping the no-Gymnasium case: {} does not run",
                real.display()
            );
        }
    }
    if let Some(py) = gym_python("missing_python_gymnasium_or_env_id_are_one_line_errors") {
        check(
            &py,
            "gym:NoSuchEnv-v0",
            &["Gymnasium has no env `NoSuchEnv-v0`"],
        );
        check(&py, "gym:Blackjack-v1", &["Box observation spaces only"]);
    }
    assert!(!dir.join("runs").exists());
    let envs = eirl_py(&["envs"], dir, Path::new("python3"));
    assert!(stdout(&envs).contains("gym:<id>"), "{}", stdout(&envs));
}
