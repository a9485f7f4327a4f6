//! `cargo xtask soak`: the learner under churn, and training under repeated `kill -9`.
//!
//! 1. **Network.** `eirl seed serve` on loopback with a token; the `actor_churn` example runs
//!    `--actors` threads for `--minutes`, each connecting and leaving at random (acting for
//!    0.1–3 s, holding idle connections, sending 3e38 rewards, naming the wrong env). Every 5 s
//!    the learner's resident memory, open descriptors and threads are sampled; at the end the
//!    server's own counters come from the run's `metrics.csv`.
//! 2. **Crashes.** `eirl train dqn` on CartPole-v1 is killed with SIGKILL at random moments and
//!    resumed with `--resume`, `--kill-cycles` times, then run to its end. After every kill the
//!    latest checkpoint must load (`eirl eval`), the steps lost must stay within one evaluation
//!    interval, and at the end every metric's steps in `metrics.csv` must never go backwards.
//!
//! Results go to `docs/results/soak.md` (and the samples to `target/soak/`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use eirl_runlog::{MetricRow, read_metrics};

use crate::cmd::{cargo, run_streaming, workspace_root};
use crate::repro::{build_eirl, run_dir_in};

#[derive(Args, Debug)]
pub struct SoakArgs {
    /// Minutes of actor churn against the learner.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Actor threads connecting and disconnecting at random.
    #[arg(long, default_value_t = 256)]
    actors: u32,
    /// kill -9 → --resume cycles of the training run.
    #[arg(long, default_value_t = 10)]
    kill_cycles: u32,
    /// Seed of the churn and of the kill times.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

const TOKEN: &str = "eirl-soak-token";
/// DQN's evaluation (and checkpoint) interval in the crash test.
const EVAL_INTERVAL: u64 = 2_000;
const DQN_STEPS: u64 = 100_000;

pub fn run(args: &SoakArgs) -> Result<()> {
    ensure!(
        args.minutes > 0.0 && args.minutes.is_finite(),
        "--minutes must be positive"
    );
    let root = workspace_root();
    let eirl = build_eirl(&root)?;
    run_streaming(cargo().args([
        "build",
        "--release",
        "-p",
        "eirl-seed-rl",
        "--example",
        "actor_churn",
    ]))?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let churn = target.join("release").join("examples").join("actor_churn");
    let work = target.join("soak");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let network = network_soak(&eirl, &churn, &work, args)?;
    std::fs::write(work.join("network.md"), &network)?;
    let crashes = crash_cycles(&eirl, &work, args)?;
    let doc = format!(
        "# Soak (`cargo xtask soak --minutes {} --actors {} --kill-cycles {} --seed {}`)\n\n\
         Written by the command; machine: {} ({} cores), {}.\n\n{network}\n{crashes}",
        args.minutes,
        args.actors,
        args.kill_cycles,
        args.seed,
        crate::machine::info().cpu,
        crate::machine::info().cores,
        crate::machine::info().date,
    );
    let docs = root.join("docs").join("results");
    std::fs::create_dir_all(&docs)?;
    crate::repro::write_results(&docs, "soak.md", &doc)
}

/// One sample of the learner process.
struct Sample {
    t: f64,
    rss_mib: f64,
    fds: usize,
    threads: usize,
}

fn sample(pid: u32, t: f64) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some(Sample {
        t,
        rss_mib: field("VmRSS:")? / 1024.0,
        threads: field("Threads:")? as usize,
        fds: std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count(),
    })
}

/// A child's stderr lines, streamed into a channel and copied into `log`.
fn stderr_lines(child: &mut Child, log: PathBuf) -> Result<mpsc::Receiver<String>> {
    let err = child.stderr.take().context("piped stderr")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut file = std::fs::File::create(log).ok();
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if let Some(f) = file.as_mut() {
                use std::io::Write;
                let _ = writeln!(f, "{line}");
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str, limit: Duration) -> Result<String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100))
            && line.contains(needle)
        {
            return Ok(line);
        }
    }
    bail!("no `{needle}` within {limit:?}")
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn last_value(rows: &[MetricRow], name: &str) -> Option<f64> {
    rows.iter().rev().find(|r| r.name == name).map(|r| r.value)
}

fn network_soak(eirl: &Path, churn: &Path, work: &Path, args: &SoakArgs) -> Result<String> {
    let dir = work.join("network");
    std::fs::create_dir_all(&dir)?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let mut learner = Command::new(eirl)
        .args([
            "seed",
            "serve",
            "--listen",
            &addr,
            "--steps",
            "1000000000000",
            "--out",
            "runs",
        ])
        .current_dir(&dir)
        .env("EIRL_SEED_TOKEN", TOKEN)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting eirl seed serve")?;
    let result = (|| -> Result<String> {
        let rx = stderr_lines(&mut learner, dir.join("learner.log"))?;
        wait_for_line(&rx, "listening on", Duration::from_secs(60))?;
        let pid = learner.id();
        let started = Instant::now();
        let mut samples: Vec<Sample> = sample(pid, 0.0).into_iter().collect();
        let seconds = (args.minutes * 60.0).round() as u64;
        println!(
            "soak: {} churning actors for {seconds} s against {addr}",
            args.actors
        );
        let mut actors = Command::new(churn)
            .args([
                addr.as_str(),
                &args.actors.to_string(),
                &seconds.to_string(),
                &args.seed.to_string(),
            ])
            .env("EIRL_SEED_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting actor_churn")?;
        loop {
            std::thread::sleep(Duration::from_secs(5));
            let t = started.elapsed().as_secs_f64();
            samples.extend(sample(pid, t));
            if let Some(s) = samples.last() {
                println!(
                    "soak: t={t:.0}s rss={:.1} MiB fds={} threads={}",
                    s.rss_mib, s.fds, s.threads
                );
            }
            if let Some(status) = learner.try_wait()? {
                bail!("the learner exited during the soak ({status}); see learner.log");
            }
            if actors.try_wait()?.is_some() {
                break;
            }
        }
        let mut counts = String::new();
        if let Some(mut out) = actors.stdout.take() {
            std::io::Read::read_to_string(&mut out, &mut counts)?;
        }
        // Let idle timeouts and heartbeats settle, then take the final sample; the idle
        // learner's "waiting for experience" line (every 10 s) gives the server's gauges.
        let settle = Instant::now() + Duration::from_secs(35);
        let mut idle_line = None;
        while Instant::now() < settle {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200))
                && line.contains("waiting for experience")
            {
                idle_line = Some(line);
            }
        }
        let t = started.elapsed().as_secs_f64();
        samples.extend(sample(pid, t));
        let csv: String = std::iter::once("t_s,rss_mib,fds,threads\n".to_string())
            .chain(
                samples
                    .iter()
                    .map(|s| format!("{:.1},{:.2},{},{}\n", s.t, s.rss_mib, s.fds, s.threads)),
            )
            .collect();
        std::fs::write(work.join("network_samples.csv"), csv)?;
        let run = run_dir_in(&dir.join("runs"))?;
        let rows = read_metrics(&run.join("metrics.csv"))?;
        let counts: serde_json::Value =
            serde_json::from_str(counts.trim()).context("reading actor_churn's counts")?;
        let gauge = |key: &str| {
            idle_line
                .as_deref()
                .and_then(|l| l.split_whitespace().find_map(|kv| kv.strip_prefix(key)))
                .map_or_else(|| "—".to_string(), str::to_string)
        };
        let end = [
            gauge("connected_clients="),
            gauge("connected_envs="),
            gauge("open_connections="),
        ];
        Ok(network_report(&samples, &rows, &counts, &end))
    })();
    let _ = learner.kill();
    let _ = learner.wait();
    result
}

fn network_report(
    samples: &[Sample],
    rows: &[MetricRow],
    counts: &serde_json::Value,
    end: &[String; 3],
) -> String {
    let n = samples.len();
    let quarter = (n / 4).max(1);
    let mean = |xs: &[Sample], f: fn(&Sample) -> f64| {
        xs.iter().map(f).sum::<f64>() / xs.len().max(1) as f64
    };
    let early = &samples[1.min(n)..(1 + quarter).min(n)];
    let late = &samples[n.saturating_sub(quarter + 1)..n.saturating_sub(1)];
    let first = samples.first();
    let last = samples.last();
    let peak_fds = samples.iter().map(|s| s.fds).max().unwrap_or(0);
    let peak_rss = samples.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
    let steps = rows.iter().map(|r| r.step).max().unwrap_or(0);
    let get = |name: &str| last_value(rows, name).map_or("—".into(), |v| format!("{v:.0}"));
    let num = |k: &str| {
        counts
            .get(k)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    format!(
        "## Network churn\n\n\
         | | value |\n|---|---|\n\
         | learner RSS before churn / early mean / late mean / peak / after (MiB) | {:.1} / {:.1} / {:.1} / {:.1} / {:.1} |\n\
         | learner descriptors before / peak / after | {} / {peak_fds} / {} |\n\
         | learner threads before / after | {} / {} |\n\
         | env steps trained on (learner) | {steps} |\n\
         | actor sessions / env steps they sent | {} / {} |\n\
         | idle connections opened / closed by the idle timeout | {} / {} |\n\
         | 3e38-reward requests refused / wrong-env actors refused | {} / {} |\n\
         | connect failures seen by actors / unexpected answers | {} / {} |\n\
         | server: expired slots / dropped partial unrolls / invalid streams / rejected streams / rejected connections | {} / {} / {} / {} / {} |\n\
         | server 35 s after the churn: connected clients / envs / open connections | {} / {} / {} |\n\n\
         Samples every 5 s: `target/soak/network_samples.csv`. The server's counters are the \
         last `server_*` scalars the learner logged (every 1000 trained steps, so they stop \
         when the churn does); the gauges after the churn come from the idle learner's \
         \"waiting for experience\" log line.\n",
        first.map_or(0.0, |s| s.rss_mib),
        mean(early, |s| s.rss_mib),
        mean(late, |s| s.rss_mib),
        peak_rss,
        last.map_or(0.0, |s| s.rss_mib),
        first.map_or(0, |s| s.fds),
        last.map_or(0, |s| s.fds),
        first.map_or(0, |s| s.threads),
        last.map_or(0, |s| s.threads),
        num("sessions"),
        num("env_steps"),
        num("idle_connections"),
        get("server_idle_connections_closed"),
        num("hostile_refused"),
        num("wrong_env_refused"),
        num("connect_failures"),
        num("unexpected"),
        get("server_expired_slots"),
        get("server_dropped_partial_unrolls"),
        get("server_invalid_streams"),
        get("server_rejected_streams"),
        get("server_rejected_connections"),
        end[0],
        end[1],
        end[2],
    )
}

/// splitmix64: reproducible kill times from `--seed` without a dependency.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Cycle {
    alive_s: f64,
    checkpoint_step: Option<u64>,
    /// Wall-clock seconds between the last checkpoint (or the process start) and the kill.
    lost_s: f64,
    /// `lost_s` × the run's steps per second between its last two checkpoints.
    lost_steps_est: Option<f64>,
    loads: bool,
    temp_files: usize,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn crash_cycles(eirl: &Path, work: &Path, args: &SoakArgs) -> Result<String> {
    let dir = work.join("crashes");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("dqn.toml"),
        format!("eval_interval = {EVAL_INTERVAL}\neval_episodes = 3\n"),
    )?;
    let fresh = || -> Vec<String> {
        [
            "train",
            "dqn",
            "--env",
            "CartPole-v1",
            "--config",
            "dqn.toml",
            "--steps",
            &DQN_STEPS.to_string(),
            "--seed",
            &args.seed.to_string(),
            "--out",
            "runs",
        ]
        .map(String::from)
        .to_vec()
    };
    let mut rng = args.seed ^ 0x50a4;
    let mut cycles = Vec::new();
    let mut restarts_from_scratch = 0;
    let mut finished = false;
    for i in 0..args.kill_cycles {
        let run = run_dir_in(&dir.join("runs")).ok();
        let resumable = run
            .as_ref()
            .is_some_and(|r| r.join("checkpoints/latest.safetensors").is_file());
        let argv = match &run {
            Some(r) if resumable => vec![
                "train".into(),
                "dqn".into(),
                "--resume".into(),
                r.display().to_string(),
            ],
            _ => {
                // Killed before its first checkpoint: nothing to resume, start over.
                if let Some(r) = &run {
                    std::fs::remove_dir_all(r)?;
                    restarts_from_scratch += 1;
                }
                fresh()
            }
        };
        let alive = Duration::from_millis(1_000 + splitmix(&mut rng) % 4_000);
        let started = unix_now();
        let mut child = Command::new(eirl)
            .args(&argv)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting eirl train")?;
        std::thread::sleep(alive);
        if let Some(status) = child.try_wait()? {
            ensure!(
                status.success(),
                "cycle {i}: eirl {argv:?} failed ({status})"
            );
            println!("soak: cycle {i}: the run ended before the kill");
            finished = true;
            break;
        }
        child.kill()?; // SIGKILL
        let killed = unix_now();
        child.wait()?;
        let run = run_dir_in(&dir.join("runs"))?;
        let rows = read_metrics(&run.join("metrics.csv")).unwrap_or_default();
        let evals: Vec<&MetricRow> = rows
            .iter()
            .filter(|r| r.name == "eval_mean_return")
            .collect();
        let checkpoint_step = evals.last().map(|r| r.step);
        // Evaluations written by this process (after its start) bound what it saved.
        let since = evals.last().map_or(started, |r| r.wall_time.max(started));
        let lost_s = killed - since;
        let lost_steps_est = match evals.as_slice() {
            [.., a, b] if b.wall_time > a.wall_time => {
                Some(lost_s * (b.step - a.step) as f64 / (b.wall_time - a.wall_time))
            }
            _ => None,
        };
        let ckpt = run.join("checkpoints/latest.safetensors");
        let loads = !ckpt.is_file()
            || crate::cmd::succeeds(Command::new(eirl).args([
                "eval",
                "--run",
                &run.display().to_string(),
                "--episodes",
                "1",
            ]));
        let temp_files = count_temp_files(&run)?;
        println!(
            "soak: cycle {i}: killed after {:.1} s, {lost_s:.1} s after the last checkpoint \
             (step {checkpoint_step:?}); checkpoint loads: {loads}; temp files left: {temp_files}",
            alive.as_secs_f64()
        );
        cycles.push(Cycle {
            alive_s: alive.as_secs_f64(),
            checkpoint_step,
            lost_s,
            lost_steps_est,
            loads,
            temp_files,
        });
    }
    // The last resume runs to the end.
    let run = run_dir_in(&dir.join("runs"))?;
    if !finished {
        let status = Command::new(eirl)
            .args(["train", "dqn", "--resume", &run.display().to_string()])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        ensure!(status.success(), "the final resume failed ({status})");
    }
    let rows = read_metrics(&run.join("metrics.csv"))?;
    let backwards = backwards_steps(&rows);
    let final_step = rows.iter().map(|r| r.step).max().unwrap_or(0);
    let leftover_temp = count_temp_files(&run)?;
    let mut table = format!(
        "## kill -9 → --resume ({} cycles, DQN CartPole-v1, {DQN_STEPS} steps, checkpoint every {EVAL_INTERVAL})\n\n\
         | cycle | alive (s) | last checkpoint step | training lost (s) | steps lost (est.) | checkpoint loads | temp files after the kill |\n|---|---|---|---|---|---|---|\n",
        cycles.len()
    );
    let mut worst_loss: f64 = 0.0;
    for (i, c) in cycles.iter().enumerate() {
        worst_loss = worst_loss.max(c.lost_s);
        table.push_str(&format!(
            "| {i} | {:.1} | {} | {:.2} | {} | {} | {} |\n",
            c.alive_s,
            c.checkpoint_step
                .map_or("none yet".into(), |s| s.to_string()),
            c.lost_s,
            c.lost_steps_est.map_or("—".into(), |s| format!("{s:.0}")),
            if c.loads { "yes" } else { "**no**" },
            c.temp_files
        ));
    }
    let loads = cycles.iter().filter(|c| c.loads).count();
    table.push_str(&format!(
        "\nAfter the final resume the run finished at step {final_step}; metric series that step \
         backwards in `metrics.csv`: {backwards}; temp files left: {leftover_temp}; checkpoints \
         that loaded after a kill: {loads} of {}; runs restarted from scratch (killed before the \
         first checkpoint): {restarts_from_scratch}; most training time lost in one kill: \
         {worst_loss:.2} s. Training lost is the wall-clock time from the last checkpoint \
         written (or the process start) to the kill; the step estimate multiplies it by the \
         run's speed between its last two checkpoints (`metrics.csv` is flushed at each \
         checkpoint, so it cannot show the step reached at the kill).\n",
        cycles.len()
    ));
    Ok(table)
}

/// Files in the run folder that an interrupted atomic write left behind.
fn count_temp_files(run: &Path) -> Result<usize> {
    let mut n = 0;
    for dir in [run.to_path_buf(), run.join("checkpoints")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(eirl_runlog::TEMP_PREFIX) {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Metric series (by name) whose steps decrease somewhere in file order.
fn backwards_steps(rows: &[MetricRow]) -> usize {
    let mut last: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    let mut bad = std::collections::HashSet::new();
    for r in rows {
        if let Some(prev) = last.insert(r.name.as_str(), r.step)
            && r.step < prev
        {
            bad.insert(r.name.as_str());
        }
    }
    bad.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: u64, name: &str) -> MetricRow {
        MetricRow {
            step,
            wall_time: 0.0,
            name: name.into(),
            value: 0.0,
        }
    }

    #[test]
    fn backwards_steps_counts_series_that_jump_back() {
        let ok = [row(1, "a"), row(2, "a"), row(2, "b"), row(1, "c")];
        assert_eq!(backwards_steps(&ok), 0);
        let bad = [
            row(5, "a"),
            row(3, "a"),
            row(1, "b"),
            row(2, "b"),
            row(0, "b"),
        ];
        assert_eq!(backwards_steps(&bad), 2);
    }
}
