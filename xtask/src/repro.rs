//! `cargo xtask repro <paper>`: re-run a paper's headline experiment with the `eirl` binary
//! (several seeds via `eirl train <algo> --env <id> --seed <s>`), then plot the seeds together
//! with `eirl_runlog::plot_curves` and write a table to `docs/results/<paper>/`.
//!
//! To add one, write `fn <paper>() -> Result<()>` here that shells out to `eirl`, and list it in
//! [`REPRODUCTIONS`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::cmd::{cargo, run_streaming, workspace_root};

type Reproduction = fn() -> Result<()>;

/// Every reproduction, by the name used on the command line.
const REPRODUCTIONS: &[(&str, Reproduction)] = &[("dqn", dqn)];

pub fn run(paper: &str) -> Result<()> {
    match REPRODUCTIONS.iter().find(|(name, _)| *name == paper) {
        Some((_, reproduce)) => reproduce(),
        None => {
            let available: Vec<&str> = REPRODUCTIONS.iter().map(|(name, _)| *name).collect();
            bail!("no reproduction for {paper} yet; available: {available:?}")
        }
    }
}

/// One finished training run, summarised from its `metrics.csv`.
struct RunSummary {
    seed: u64,
    eval: Vec<(f64, f64)>,
    wall_s: f64,
}

impl RunSummary {
    fn first_reaching(&self, target: f64) -> Option<f64> {
        self.eval.iter().find(|(_, v)| *v >= target).map(|(s, _)| *s)
    }
    fn final_eval(&self) -> f64 {
        self.eval.last().map_or(f64::NAN, |(_, v)| *v)
    }
}

fn build_eirl(root: &Path) -> Result<PathBuf> {
    run_streaming(cargo().args(["build", "--release", "-p", "eirl"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release").join("eirl"))
}

/// Trains one seed into its own folder under `out` and reads back its evaluation curve.
fn train(eirl: &Path, algo: &str, env: &str, seed: u64, out: &Path) -> Result<RunSummary> {
    let dir = out.join(format!("{env}-seed{seed}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let started = Instant::now();
    let mut cmd = std::process::Command::new(eirl);
    cmd.args(["train", algo, "--env", env, "--seed", &seed.to_string(), "--out"])
        .arg(&dir);
    run_streaming(&mut cmd)?;
    let wall_s = started.elapsed().as_secs_f64();
    let run = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .with_context(|| format!("no run directory in {}", dir.display()))?;
    let rows = eirl_runlog::read_metrics(&run.join(eirl_runlog::METRICS_FILE))?;
    Ok(RunSummary {
        seed,
        eval: eirl_runlog::metric_series(&rows, "eval_mean_return"),
        wall_s,
    })
}

/// DQN acceptance (issue #2): CartPole-v1 ≥ 475 within 50k steps and Acrobot-v1 ≥ −100 within
/// 100k, 20-episode greedy evaluations, seeds 0/1/2, shipped presets.
fn dqn() -> Result<()> {
    let root = workspace_root();
    let eirl = build_eirl(&root)?;
    let out_runs = root.join("runs").join("repro-dqn");
    let docs = root.join("docs").join("results").join("dqn");
    std::fs::create_dir_all(&docs)?;
    let mut table = String::from(
        "# DQN reproduction (`cargo xtask repro dqn`)\n\n\
         Shipped presets (`configs/dqn/`), greedy evaluation over 20 episodes every \
         `eval_interval` steps.\n\n\
         | env | target | seed | first step reaching target | final eval | wall-clock (s) |\n\
         |---|---|---|---|---|---|\n",
    );
    for (env, target) in [("CartPole-v1", 475.0), ("Acrobot-v1", -100.0)] {
        let mut series = Vec::new();
        let mut reached = 0;
        for seed in 0..3u64 {
            let s = train(&eirl, "dqn", env, seed, &out_runs)?;
            let first = s.first_reaching(target);
            reached += usize::from(first.is_some());
            writeln!(
                table,
                "| {env} | {target} | {} | {} | {:.1} | {:.0} |",
                s.seed,
                first.map_or("not reached".to_string(), |f| format!("{f:.0}")),
                s.final_eval(),
                s.wall_s
            )?;
            series.push((format!("seed {}", s.seed), s.eval));
        }
        writeln!(table, "| {env} | | **{reached} / 3 seeds reach the target** | | | |")?;
        eirl_runlog::plot_curves(
            &series,
            &docs.join(format!("{env}.png")),
            &format!("DQN on {env}: evaluation mean return (20 episodes)"),
            "env steps",
            "eval mean return",
        )?;
    }
    eirl_runlog::atomic_write(&docs.join("README.md"), table.as_bytes())?;
    println!("{table}");
    println!("wrote {}", docs.display());
    Ok(())
}
