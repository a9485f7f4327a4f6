//! `cargo xtask repro seed`: SEED RL's acceptance run (issue #5) — CartPole-v1 to an evaluation
//! mean ≥ 475 within 1M env steps, 3 seeds, once with actor threads in the learner's process
//! (`eirl train seed --actors 8 --envs-per-actor 4`) and once with 4 actor processes over
//! loopback gRPC (`eirl seed serve` + `eirl seed actor --envs 8`).

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cmd::{run_streaming, workspace_root};
use crate::repro::{
    RunSummary, build_eirl, median_reach, plot_eval, readme_block, slashed, span, steps_k,
    steps_list, summarize, train, write_results,
};

const ENV: &str = "CartPole-v1";
const TARGET: f64 = 475.0;
const SEEDS: u64 = 3;
const ACTOR_PROCESSES: usize = 4;

pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Kills the actor processes when the learner is done (or when anything fails).
pub(crate) struct Actors(pub(crate) Vec<Child>);

impl Drop for Actors {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One seed with the learner serving gRPC and `ACTOR_PROCESSES` actor processes.
fn over_grpc(eirl: &Path, seed: u64, out: &Path) -> Result<RunSummary> {
    let dir = out.join(format!("{ENV}-grpc-seed{seed}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let addr = format!("127.0.0.1:{}", free_port()?);
    let started = Instant::now();
    let mut serve = Command::new(eirl);
    serve
        .args(["seed", "serve", "--listen", &addr, "--env", ENV])
        .args(["--seed", &seed.to_string(), "--out"])
        .arg(&dir);
    let mut actors = Actors(Vec::new());
    // The actors start first and retry until the learner listens.
    for i in 0..ACTOR_PROCESSES {
        let child = Command::new(eirl)
            .args([
                "seed",
                "actor",
                "--connect",
                &addr,
                "--env",
                ENV,
                "--envs",
                "8",
            ])
            .args(["--seed", &(seed * 1000 + i as u64 * 100).to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting an actor process")?;
        actors.0.push(child);
    }
    std::thread::sleep(Duration::from_millis(200));
    run_streaming(&mut serve)?;
    drop(actors);
    summarize(&dir, seed, started.elapsed().as_secs_f64())
}

pub fn seed() -> Result<()> {
    let root = workspace_root();
    let eirl = build_eirl(&root)?;
    let out_runs = root.join("runs").join("repro-seed");
    let docs = root.join("docs").join("results").join("seed");
    std::fs::create_dir_all(&docs)?;
    let mut table = String::from(
        "# SEED RL reproduction (`cargo xtask repro seed`)\n\n\
         CartPole-v1, V-trace learner with central batched inference, default config \
         (`eirl-seed-rl`'s `SeedConfig`: 1M env steps, 8 unrolls of 20 per update, Adam 1e-3), \
         greedy evaluation over 20 episodes every 25k steps. *in-process*: `eirl train seed \
         --actors 8 --envs-per-actor 4`; *gRPC*: `eirl seed serve` with 4 `eirl seed actor \
         --envs 8` processes over loopback. Target: evaluation mean ≥ 475 within 1M steps \
         (median of 3 seeds).\n\n\
         | mode | seed | first step reaching 475 | final eval | wall-clock (s) | env steps/s |\n\
         |---|---|---|---|---|---|\n",
    );
    let mut readme = String::from(
        "SEED RL (`cargo xtask repro seed` → `docs/results/seed/`; V-trace learner with central \
         batched inference, default config, 1M env steps, seeds 0/1/2; actors and learner run \
         concurrently, so runs are not bit-reproducible even with a fixed seed):\n\n\
         | mode | first evaluation ≥ 475 (seeds 0/1/2) | median | final eval | wall-clock per run | env steps/s |\n\
         |---|---|---|---|---|---|\n",
    );
    for mode in ["in-process", "gRPC"] {
        let mut series = Vec::new();
        let mut firsts = Vec::new();
        let (mut finals, mut walls, mut rates) = (Vec::new(), Vec::new(), Vec::new());
        for seed in 0..SEEDS {
            let s = match mode {
                "in-process" => train(&eirl, "seed", ENV, seed, &out_runs)?,
                _ => over_grpc(&eirl, seed, &out_runs)?,
            };
            let first = s.first_reaching(TARGET);
            firsts.push(first);
            let steps = s.eval.last().map_or(0.0, |(x, _)| *x);
            writeln!(
                table,
                "| {mode} | {} | {} | {:.1} | {:.1} | {:.0} |",
                s.seed,
                first.map_or("not reached".to_string(), |f| format!("{f:.0}")),
                s.final_eval(),
                s.wall_s,
                steps / s.wall_s
            )?;
            finals.push(s.final_eval());
            walls.push(s.wall_s);
            rates.push(steps / s.wall_s / 1000.0);
            series.push((format!("{mode} seed {}", s.seed), s.eval));
        }
        let command = if mode == "gRPC" {
            format!("gRPC, {ACTOR_PROCESSES} actor processes × 8 envs")
        } else {
            "in-process, 8 actors × 4 envs".to_string()
        };
        writeln!(
            readme,
            "| {command} | {} | {} | {} | {} s | {}k |",
            steps_list(&firsts, ", "),
            steps_k(median_reach(&firsts)),
            slashed(&finals, 0),
            span(&walls),
            span(&rates)
        )?;
        let med = median_reach(&firsts);
        writeln!(
            table,
            "| {mode} | **median** | **{}** | | | |",
            med.map_or("not reached by the median seed".to_string(), |m| format!(
                "{m:.0}"
            ))
        )?;
        let file = if mode == "gRPC" { "grpc" } else { "in-process" };
        plot_eval(
            &series,
            &docs.join(format!("{ENV}-{file}.png")),
            &format!("SEED RL ({mode}) on {ENV}: evaluation mean return"),
        )?;
    }
    write_results(&docs, "README.md", &table)?;
    readme_block(&root, "seed", &readme)
}
