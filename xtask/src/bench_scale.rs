//! `cargo xtask bench seed-scale`: SEED RL training throughput against the number of actor
//! processes, so a user can size a cluster.
//!
//! For 1, 2, 4 and 8 `eirl seed actor` processes (8 CartPole-v1 envs each, the launchers'
//! default) feeding one `eirl seed serve` learner over loopback gRPC, the whole training run
//! (inference, unroll assembly and V-trace updates) of [`STEPS`] env steps is timed by the
//! learner itself (`done: N steps in Xs`), and its inference server's summary gives the rows
//! (env steps) and requests (one per actor step, carrying all its envs) it served.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::machine;
use crate::repro::build_eirl;
use crate::repro_seed::{Actors, free_port};

/// BENCHMARKS.md keeps this benchmark after this line.
pub const SCALE_MARK: &str = "<!-- seed actor scaling benchmark -->";

const ACTOR_COUNTS: [usize; 4] = [1, 2, 4, 8];
const ENVS_PER_ACTOR: usize = 8;
const STEPS: u64 = 1_000_000;

/// One configuration's numbers.
struct Row {
    actors: usize,
    seconds: f64,
    steps: u64,
    rows: f64,
    batches: f64,
    mean_batch: f64,
    connected: f64,
}

/// `key=value` out of the learner's `inference server:` summary line.
fn stat(summary: &str, key: &str) -> Result<f64> {
    summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {key} in `{summary}`"))
}

/// `(steps, seconds)` out of `done: <steps> steps in <secs>s (…`.
fn done_line(line: &str) -> Result<(u64, f64)> {
    let rest = line
        .strip_prefix("done: ")
        .with_context(|| format!("not a done line: {line}"))?;
    let mut words = rest.split_whitespace();
    let steps = words.next().and_then(|w| w.parse().ok());
    let secs = words
        .nth(2)
        .and_then(|w| w.strip_suffix('s'))
        .and_then(|w| w.parse().ok());
    match (steps, secs) {
        (Some(s), Some(t)) => Ok((s, t)),
        _ => bail!("unparsed done line: {line}"),
    }
}

fn run_one(eirl: &Path, dir: &Path, actors: usize) -> Result<Row> {
    let addr = format!("127.0.0.1:{}", free_port()?);
    // Evaluation off (one at the end), so the time is training's.
    let cfg = dir.join("seed.toml");
    std::fs::write(
        &cfg,
        format!("eval_interval = {}\neval_episodes = 1\n", STEPS * 10),
    )?;
    // Actors first: they retry until the learner listens, so every one is there from the
    // first step.
    let mut children = Actors(Vec::new());
    for i in 0..actors {
        let child = Command::new(eirl)
            .args(["seed", "actor", "--connect", &addr, "--envs"])
            .arg(ENVS_PER_ACTOR.to_string())
            .args([
                "--actor-id",
                &i.to_string(),
                "--seed",
                &(1000 * i).to_string(),
            ])
            .args(["--give-up-after", "60"])
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting an actor")?;
        children.0.push(child);
    }
    let out = Command::new(eirl)
        .args([
            "seed",
            "serve",
            "--listen",
            &addr,
            "--steps",
            &STEPS.to_string(),
        ])
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(dir.join("runs"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .context("running the learner")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "the learner failed with {actors} actors: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("inference server:"))
        .context("no inference server summary")?;
    let done = stdout
        .lines()
        .find(|l| l.starts_with("done: "))
        .context("no done line")?;
    let (steps, seconds) = done_line(done)?;
    Ok(Row {
        actors,
        seconds,
        steps,
        rows: stat(summary, "rows_served")?,
        batches: stat(summary, "batches_run")?,
        mean_batch: stat(summary, "mean_batch")?,
        connected: stat(summary, "connected_clients")?,
    })
}

/// Runs every configuration and returns the BENCHMARKS.md section.
pub fn section(root: &Path) -> Result<String> {
    let eirl = build_eirl(root)?;
    // The runs' folders (their checkpoints and logs are not kept).
    let work = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), std::path::PathBuf::from)
        .join("seed-scale");
    let _ = std::fs::remove_dir_all(&work);
    let mut rows = Vec::new();
    for &k in &ACTOR_COUNTS {
        let dir = work.join(format!("a{k}"));
        std::fs::create_dir_all(&dir)?;
        eprintln!("==> seed-scale: {k} actor processes × {ENVS_PER_ACTOR} envs, {STEPS} steps");
        let row = run_one(&eirl, &dir, k)?;
        eprintln!(
            "    {:.0} env steps/s ({:.1} s)",
            row.steps as f64 / row.seconds,
            row.seconds
        );
        rows.push(row);
    }
    let m = machine::info();
    let mut md = format!(
        "{SCALE_MARK}\n\n## SEED RL over actor processes: training throughput against actors\n\n\
         Generated by `cargo xtask bench seed-scale` on {} ({} cores), {}. One `eirl seed serve` \
         learner (the CartPole-v1 preset: inference, unroll assembly and V-trace updates) and N \
         `eirl seed actor` processes with {ENVS_PER_ACTOR} envs each, over loopback gRPC, all on \
         this machine; {STEPS} env steps per run, evaluation off, timed by the learner (`done:` \
         line, start to end, actors connecting included). *env steps/s*: the run's steps over its \
         time; *requests/s*: actor requests served (one per actor step, carrying its \
         {ENVS_PER_ACTOR} envs); *forwards/s*: batched inference calls; *mean batch*: env rows \
         per forward. On a cluster, actors run on other machines: this table is the learner's \
         side with the actors competing for the same cores, a lower bound for what one learner \
         serves. Method: `xtask/src/bench_scale.rs`.\n\n\
         | actor processes | envs | env steps/s | requests/s | forwards/s | mean batch | actors connected at the end | seconds |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|\n",
        m.cpu, m.cores, m.date
    );
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.0} | {:.1} |",
            r.actors,
            r.actors * ENVS_PER_ACTOR,
            r.steps as f64 / r.seconds,
            r.rows / ENVS_PER_ACTOR as f64 / r.seconds,
            r.batches / r.seconds,
            r.mean_batch,
            r.connected,
            r.seconds
        );
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_learners_lines() -> Result<()> {
        let (steps, secs) =
            done_line("done: 300000 steps in 9.5s (31576 steps/s); best eval mean 500.00")?;
        assert_eq!(steps, 300_000);
        assert!((secs - 9.5).abs() < 1e-12);
        assert!(done_line("done: many steps").is_err());
        let summary = "inference server: batches_run=5350 rows_served=30260 mean_batch=5.7";
        assert!((stat(summary, "rows_served")? - 30260.0).abs() < 1e-9);
        assert!(stat(summary, "absent").is_err());
        Ok(())
    }
}
