//! SEED RL across real processes over loopback gRPC: actors that start before the learner,
//! an actor killed mid-run, a replacement actor, and a learner restarted with `--resume`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn spawn(args: &[&str], cwd: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_eirl"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn eirl")
}

fn actor(addr: &str, cwd: &Path) -> Child {
    spawn(
        &[
            "seed",
            "actor",
            "--connect",
            addr,
            "--envs",
            "4",
            "--give-up-after",
            "60",
        ],
        cwd,
    )
}

/// Streams a child's stderr lines into a channel (the learner logs its evaluations there).
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str, log: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let hit = line.contains(needle);
            log.push(line);
            if hit {
                return;
            }
        }
    }
    panic!("no `{needle}` within 120 s:\n{}", log.join("\n"));
}

/// Waits for the learner to finish; returns its stdout and remaining stderr.
fn finish(mut child: Child, rx: &mpsc::Receiver<String>, log: &mut Vec<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        log.extend(rx.try_iter());
        match child.try_wait().expect("wait") {
            Some(status) => {
                let mut out = String::new();
                if let Some(mut so) = child.stdout.take() {
                    std::io::Read::read_to_string(&mut so, &mut out).expect("stdout");
                }
                std::thread::sleep(Duration::from_millis(100));
                log.extend(rx.try_iter());
                assert!(
                    status.success(),
                    "learner failed:\n{out}\n{}",
                    log.join("\n")
                );
                return out;
            }
            None if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("learner still running after 300 s:\n{}", log.join("\n"));
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn stat(summary: &str, key: &str) -> f64 {
    summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {summary}"))
}

#[test]
fn seed_over_grpc_survives_actor_faults_and_resumes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(
        dir.join("seed.toml"),
        "eval_interval = 20000\neval_episodes = 3\n",
    )
    .expect("cfg");
    let addr = format!("127.0.0.1:{}", super::free_port());
    // An actor that starts before the learner keeps retrying instead of exiting.
    let mut early = actor(&addr, dir);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        early.try_wait().expect("wait").is_none(),
        "the early actor gave up"
    );
    let mut serve = spawn(
        &[
            "seed",
            "serve",
            "--listen",
            &addr,
            "--steps",
            "200000",
            "--config",
            "seed.toml",
            "--out",
            "runs",
        ],
        dir,
    );
    let rx = stderr_lines(&mut serve);
    let mut log = Vec::new();
    let mut doomed = actor(&addr, dir);
    let doomed_rx = stderr_lines(&mut doomed);
    let mut doomed_log = Vec::new();
    wait_for(&doomed_rx, "connected to", &mut doomed_log);
    wait_for(&rx, "step 2", &mut log); // the first evaluation, near 20k steps
    std::thread::sleep(Duration::from_millis(100));
    // Killed mid-run (SIGKILL: no goodbye) while the learner trains: its slots are freed (and a
    // partial unroll dropped unless the kill lands exactly on an unroll boundary — the
    // inference-server tests check the dropping deterministically); a replacement connects and
    // the learner keeps training.
    assert!(
        serve.try_wait().expect("wait").is_none(),
        "the learner finished before the kill"
    );
    doomed.kill().expect("kill");
    let _ = doomed.wait();
    let replacement = actor(&addr, dir);
    let out = finish(serve, &rx, &mut log);
    let summary = out
        .lines()
        .find(|l| l.starts_with("inference server:"))
        .unwrap_or_else(|| panic!("no server summary in {out}"));
    assert!(out.contains("done: "), "{out}");
    assert!(stat(summary, "dropped_partial_unrolls") <= 4.0, "{summary}");
    // Both live actors' requests share forwards.
    assert!(stat(summary, "mean_batch") > 4.0, "{summary}");
    // 12 env slots were held in all; the killed actor's 4 are freed.
    assert!(
        (stat(summary, "active_slots") - 8.0).abs() < 0.5,
        "{summary}"
    );
    let evals = log.iter().filter(|l| l.contains(": eval mean")).count();
    assert!(evals >= 5, "{}", log.join("\n"));
    let run = super::only_run_dir(&dir.join("runs"));
    assert!(run.join("checkpoints/latest.safetensors").is_file());
    // The actors outlive the learner and reconnect when it comes back with --resume.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        early.try_wait().expect("wait").is_none(),
        "an actor exited with the learner"
    );
    let mut resumed = spawn(
        &[
            "seed",
            "serve",
            "--listen",
            &addr,
            "--resume",
            run.to_str().expect("utf8"),
            "--steps",
            "260000",
        ],
        dir,
    );
    let rx = stderr_lines(&mut resumed);
    let mut log = Vec::new();
    let out = finish(resumed, &rx, &mut log);
    assert!(
        log.iter().any(|l| l.contains("resumed")),
        "{}",
        log.join("\n")
    );
    // It continued from the checkpoint (≥ 200k) rather than from zero.
    let done = out
        .lines()
        .find(|l| l.starts_with("done: "))
        .expect("done line");
    let steps: u64 = done
        .trim_start_matches("done: ")
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .expect("steps");
    assert!(steps <= 80_000, "{done}");
    for mut a in [early, replacement] {
        let _ = a.kill();
        let _ = a.wait();
    }
}

/// Runs `eirl` with `args` and the token in the environment; waits at most `limit`.
fn run_with_token(args: &[&str], cwd: &Path, token: &str, limit: Duration) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eirl"))
        .args(args)
        .current_dir(cwd)
        .env("EIRL_SEED_TOKEN", token)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn eirl");
    let rx = stderr_lines(&mut child);
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            std::thread::sleep(Duration::from_millis(100));
            return (
                status.success(),
                rx.try_iter().collect::<Vec<_>>().join("\n"),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let log = rx.try_iter().collect::<Vec<_>>().join("\n");
            panic!("{args:?} still running after {limit:?}:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn hostile_and_misconfigured_actors_cannot_stop_the_learner() {
    use eirl_inference_server::{EnvStep, GrpcClient, Transport, TransportError};

    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    // Every interface without a token: refused before anything starts, with the way out.
    let open = format!("0.0.0.0:{}", super::free_port());
    let (ok, log) = run_with_token(
        &["seed", "serve", "--listen", &open, "--out", "runs"],
        dir,
        "",
        Duration::from_secs(30),
    );
    assert!(
        !ok && log.contains("EIRL_SEED_TOKEN") && log.contains("--insecure"),
        "{log}"
    );

    const TOKEN: &str = "hostile-test-token";
    std::fs::write(
        dir.join("seed.toml"),
        "eval_interval = 10000\neval_episodes = 3\n",
    )
    .expect("cfg");
    let addr = format!("127.0.0.1:{}", super::free_port());
    let mut serve = Command::new(env!("CARGO_BIN_EXE_eirl"))
        .args([
            "seed",
            "serve",
            "--listen",
            &addr,
            "--steps",
            "20000",
            "--config",
            "seed.toml",
            "--out",
            "runs",
        ])
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env("EIRL_SEED_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn eirl");
    let rx = stderr_lines(&mut serve);
    let mut log = Vec::new();
    wait_for(&rx, "listening on", &mut log);

    // A client with the token sends finite rewards far past f32's useful range.
    let mut hostile = GrpcClient::connect(&addr, Some(TOKEN)).expect("connect");
    let mut step = EnvStep::first(1 << 40, 1, 0, vec![0.0; 4]);
    step.reward = 3e38;
    match hostile.act(&[step]) {
        Err(TransportError::InvalidRequest(m)) => assert!(m.contains("max_abs_value"), "{m}"),
        other => panic!("a 3e38 reward was not refused: {other:?}"),
    }
    // Refusals an actor cannot fix end it at once, with the learner's reason.
    let actor_args = |env: &'static str| {
        [
            "seed",
            "actor",
            "--connect",
            addr.as_str(),
            "--env",
            env,
            "--envs",
            "2",
            "--give-up-after",
            "120",
        ]
    };
    let (ok, wrong_env) = run_with_token(
        &actor_args("Acrobot-v1"),
        dir,
        TOKEN,
        Duration::from_secs(30),
    );
    assert!(
        !ok && wrong_env.contains("CartPole-v1") && wrong_env.contains("Acrobot-v1"),
        "{wrong_env}"
    );
    let (ok, wrong_token) = run_with_token(
        &actor_args("CartPole-v1"),
        dir,
        "not-the-token",
        Duration::from_secs(30),
    );
    assert!(
        !ok && wrong_token.contains("authentication failed"),
        "{wrong_token}"
    );

    // The learner is still there: a good actor trains it to the end.
    let mut good = Command::new(env!("CARGO_BIN_EXE_eirl"))
        .args(actor_args("CartPole-v1"))
        .current_dir(dir)
        .env("EIRL_SEED_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn actor");
    let out = finish(serve, &rx, &mut log);
    let _ = good.kill();
    let _ = good.wait();
    let summary = out
        .lines()
        .find(|l| l.starts_with("inference server:"))
        .unwrap_or_else(|| panic!("no server summary in {out}"));
    assert!(stat(summary, "invalid_streams") >= 1.0, "{summary}");
    assert!(stat(summary, "rejected_streams") >= 2.0, "{summary}");
}

#[test]
fn actors_told_to_exit_when_finished_end_with_the_learner() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let addr = format!("127.0.0.1:{}", super::free_port());
    let mut batch = spawn(
        &[
            "seed",
            "actor",
            "--connect",
            &addr,
            "--envs",
            "4",
            "--exit-when-finished",
        ],
        dir,
    );
    let batch_rx = stderr_lines(&mut batch);
    // Without the flag an actor waits for the learner to come back (with --resume).
    let mut staying = actor(&addr, dir);
    let mut serve = spawn(
        &[
            "seed", "serve", "--listen", &addr, "--steps", "20000", "--out", "runs",
        ],
        dir,
    );
    let rx = stderr_lines(&mut serve);
    let mut log = Vec::new();
    let out = finish(serve, &rx, &mut log);
    assert!(out.contains("done: "), "{out}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = batch.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the --exit-when-finished actor still runs 30 s after the learner finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let batch_log: Vec<String> = batch_rx.try_iter().collect();
    assert!(status.success(), "{status}: {}", batch_log.join("\n"));
    assert!(
        batch_log
            .iter()
            .any(|l| l.contains("finished training; exiting")),
        "{}",
        batch_log.join("\n")
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        staying.try_wait().expect("wait").is_none(),
        "an actor without --exit-when-finished exited with the learner"
    );
    let _ = staying.kill();
    let _ = staying.wait();
}

/// `--device` places SEED's central inference: `auto` runs anywhere; `cuda` on a machine without
/// a usable GPU fails before training with what is missing; a bad name or another algorithm is
/// refused.
#[test]
fn the_device_flag_places_central_inference() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = crate::eirl(
        &["train", "seed", "--device", "auto", "--steps", "3000"],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", crate::stderr(&out));
    assert!(crate::stdout(&out).contains("mean_return="));

    let out = crate::eirl(
        &["train", "seed", "--device", "cuda", "--steps", "3000"],
        tmp.path(),
    );
    let err = crate::stderr(&out);
    if eirl_models::gpu::ComputeDevice::Cuda(0).open().is_ok() {
        assert!(out.status.success(), "{err}");
    } else {
        assert!(!out.status.success());
        assert!(err.contains("CUDA is not usable here"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }

    for (args, want) in [
        (
            &["train", "seed", "--device", "npu", "--steps", "100"][..],
            "expected cpu, cuda, cuda:N, auto or host",
        ),
        (
            &["train", "dqn", "--device", "cuda", "--steps", "100"][..],
            "--device does not apply to dqn",
        ),
    ] {
        let out = crate::eirl(args, tmp.path());
        assert!(!out.status.success());
        let err = crate::stderr(&out);
        assert!(err.contains(want) && !err.contains("panicked"), "{err}");
    }
}
