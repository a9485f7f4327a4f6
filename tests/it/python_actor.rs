//! The Python actor (`python/eirl_actor.py`: grpcio + Gymnasium) feeding `eirl seed serve`
//! over loopback gRPC: a wrong token is refused, and the learner trains on the Python actor's
//! unrolls alone. When no Python with grpcio, grpcio-tools and Gymnasium is found it fails under
//! `CI=true` (`.ci/run` installs them into `.venv-py` and sets `EIRL_PYTHON`) and skips with a
//! message elsewhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const TOTAL_STEPS: u64 = 20_000;
const UNROLL_LEN: u64 = 20;
const ENVS: u64 = 16;
const TOKEN: &str = "python-actor-test-token";

/// `EIRL_PYTHON`, else the repository's `.venv-py`, else `python3`.
pub(crate) fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("EIRL_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-py/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Whether this is a CI run (`CI=true`, as CI services and `.ci/run` set it).
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Why `python` cannot run the actor, if it cannot.
fn missing_modules(python: &Path) -> Option<String> {
    cannot_import(python, "grpc, grpc_tools, gymnasium")
}

/// Why `python` cannot `import <modules>` (a comma-separated list), if it cannot: the last
/// line of its error.
pub(crate) fn cannot_import(python: &Path, modules: &str) -> Option<String> {
    match Command::new(python)
        .args(["-c", &format!("import {modules}")])
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("import failed")
                .to_owned(),
        ),
        Err(e) => Some(e.to_string()),
    }
}

/// Runs `cmd` in `dir` with stdout and stderr going to `<dir>/<name>.out` and `.err`.
fn spawn_logged(mut cmd: Command, dir: &Path, name: &str) -> Child {
    let file = |ext: &str| std::fs::File::create(dir.join(format!("{name}.{ext}"))).expect("log");
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(file("out"))
        .stderr(file("err"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"))
}

fn log(dir: &Path, name: &str, ext: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap_or_default()
}

fn logs(dir: &Path, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            format!(
                "--- {n} stdout:\n{}--- {n} stderr:\n{}",
                log(dir, n, "out"),
                log(dir, n, "err")
            )
        })
        .collect()
}

/// Waits at most `limit` for `child`; on timeout kills it and panics with every log.
fn wait(child: &mut Child, limit: Duration, what: &str, dir: &Path, names: &[&str]) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} still running after {limit:?}\n{}", logs(dir, names));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn python_actor(python: &Path, addr: &str, token: &str, envs: u64, actor_id: u32) -> Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/eirl_actor.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .args(["--connect", addr, "--env", "CartPole-v1", "--seed", "1"])
        .args([
            "--envs",
            &envs.to_string(),
            "--actor-id",
            &actor_id.to_string(),
        ])
        .env("EIRL_SEED_TOKEN", token)
        .env("PYTHONUNBUFFERED", "1");
    cmd
}

pub(crate) fn stat(summary: &str, key: &str) -> u64 {
    summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {summary}"))
}

/// `python actor: <steps> env steps, <episodes> episodes, mean return <x>, ...`.
fn actor_summary(line: &str) -> (u64, u64, f64) {
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    let parsed = match words.as_slice() {
        [
            "python",
            "actor:",
            steps,
            "env",
            "steps",
            episodes,
            "episodes",
            "mean",
            "return",
            ret,
            ..,
        ] => steps
            .parse()
            .ok()
            .zip(episodes.parse().ok())
            .zip(ret.parse().ok()),
        _ => None,
    };
    let ((steps, episodes), ret) = parsed.unwrap_or_else(|| panic!("unparsed: {line}"));
    (steps, episodes, ret)
}

#[test]
fn python_actor_feeds_the_learner() {
    let python = python();
    if let Some(why) = missing_modules(&python) {
        let msg = format!(
            "{} cannot import grpc, grpc_tools and gymnasium ({why}); set EIRL_PYTHON or run \
             `python3 -m venv .venv-py && .venv-py/bin/pip install -r python/requirements.txt`",
            python.display()
        );
        assert!(
            !in_ci(),
            "CI=true, so the Python actor test must run: {msg}"
        );
        eprintln!("skipping: python_actor_feeds_the_learner: {msg}");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(
        dir.join("seed.toml"),
        "eval_interval = 10000\neval_episodes = 3\n",
    )
    .expect("cfg");
    let addr = format!("127.0.0.1:{}", super::free_port());
    let all = ["learner", "intruder", "actor"];
    // `actors = 0` by default for `seed serve`: only the Python actor feeds this learner.
    let mut serve = Command::new(env!("CARGO_BIN_EXE_eirl"));
    serve
        .args(["seed", "serve", "--listen", &addr, "--config", "seed.toml"])
        .args(["--steps", &TOTAL_STEPS.to_string(), "--out", "runs"])
        .env("RUST_LOG", "info")
        .env("EIRL_SEED_TOKEN", TOKEN);
    let mut learner = spawn_logged(serve, dir, "learner");

    // A wrong token: the stream is refused when it opens and the actor exits non-zero, saying so.
    let mut intruder = spawn_logged(
        python_actor(&python, &addr, "not-the-token", 2, 1),
        dir,
        "intruder",
    );
    let status = wait(
        &mut intruder,
        Duration::from_secs(90),
        "the intruder",
        dir,
        &all,
    );
    let err = log(dir, "intruder", "err");
    assert!(
        !status.success() && err.contains("authentication"),
        "{status}\n{}",
        logs(dir, &all)
    );

    let mut actor = spawn_logged(python_actor(&python, &addr, TOKEN, ENVS, 2), dir, "actor");
    let status = wait(
        &mut learner,
        Duration::from_secs(240),
        "the learner",
        dir,
        &all,
    );
    assert!(status.success(), "learner failed\n{}", logs(dir, &all));
    let out = log(dir, "learner", "out");
    let summary = out
        .lines()
        .find(|l| l.starts_with("inference server:"))
        .unwrap_or_else(|| panic!("no server summary\n{}", logs(dir, &all)));
    assert!(out.lines().any(|l| l.starts_with("done: ")), "{out}");
    let rows = stat(summary, "rows_served");
    assert!(rows >= TOTAL_STEPS, "{summary}");
    assert!(
        stat(summary, "unrolls_emitted") >= TOTAL_STEPS / UNROLL_LEN,
        "{summary}"
    );
    assert_eq!(stat(summary, "largest_batch"), ENVS, "{summary}");

    // The actor notices that the server went away and exits cleanly with its summary.
    let status = wait(&mut actor, Duration::from_secs(60), "the actor", dir, &all);
    assert!(status.success(), "actor failed\n{}", logs(dir, &all));
    assert!(
        log(dir, "actor", "err").contains("closed the stream"),
        "{}",
        logs(dir, &all)
    );
    let actor_out = log(dir, "actor", "out");
    let last = actor_out.lines().last().expect("an actor summary line");
    let (steps, episodes, mean_return) = actor_summary(last);
    // Every answered request but the last was stepped; the learner took 20k steps of them. The
    // server's summary can be taken before its last batch is counted (seen on a loaded
    // machine: steps = rows + ENVS), hence one batch of slack above.
    assert!(
        steps + ENVS >= TOTAL_STEPS && steps <= rows + ENVS,
        "{last} / {summary}"
    );
    assert!(
        episodes > 0 && mean_return.is_finite() && mean_return >= 1.0,
        "{last}"
    );
    eprintln!("{last}");
}
