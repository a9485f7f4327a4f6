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
const REPRODUCTIONS: &[(&str, Reproduction)] = &[("dqn", dqn), ("acer", acer)];

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
        self.eval
            .iter()
            .find(|(_, v)| *v >= target)
            .map(|(s, _)| *s)
    }
    fn final_eval(&self) -> f64 {
        self.eval.last().map_or(f64::NAN, |(_, v)| *v)
    }
}

fn build_eirl(root: &Path) -> Result<PathBuf> {
    run_streaming(cargo().args(["build", "--release", "-p", "eirl"]))?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release").join("eirl"))
}

/// Trains one seed into its own folder under `out` and reads back its evaluation curve.
fn train(eirl: &Path, algo: &str, env: &str, seed: u64, out: &Path) -> Result<RunSummary> {
    train_with(eirl, algo, env, seed, out, &[])
}

/// [`train`] with extra command-line arguments (`--config`, `--steps`).
fn train_with(
    eirl: &Path,
    algo: &str,
    env: &str,
    seed: u64,
    out: &Path,
    extra: &[&str],
) -> Result<RunSummary> {
    let dir = out.join(format!("{env}-seed{seed}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let started = Instant::now();
    let mut cmd = std::process::Command::new(eirl);
    cmd.args([
        "train",
        algo,
        "--env",
        env,
        "--seed",
        &seed.to_string(),
        "--out",
    ])
    .arg(&dir)
    .args(extra);
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
        writeln!(
            table,
            "| {env} | | **{reached} / 3 seeds reach the target** | | | |"
        )?;
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

/// ACER's comparison in miniature (issue #4; Wang et al. 2017, Figs. 1 and 3): replay ratio
/// 0 / 1 / 4, trust region off, truncation with bias correction off, 3 seeds each, on CartPole-v1
/// (steps to reach 400) and Acrobot-v1 (steps to reach −100).
fn acer() -> Result<()> {
    let root = workspace_root();
    let eirl = build_eirl(&root)?;
    let out_runs = root.join("runs").join("repro-acer");
    let docs = root.join("docs").join("results").join("acer");
    std::fs::create_dir_all(&docs)?;
    std::fs::create_dir_all(&out_runs)?;
    let variants: [(&str, &str); 5] = [
        ("replay ratio 0 (on-policy, A3C-like)", "replay_ratio = 0.0"),
        ("replay ratio 1", "replay_ratio = 1.0"),
        ("replay ratio 4 (paper default)", "replay_ratio = 4.0"),
        ("ratio 4, trust region off", "trust_region = false"),
        (
            "ratio 4, truncation + bias correction off",
            "truncation = false",
        ),
    ];
    let envs: [(&str, f64, &str); 2] = [
        ("CartPole-v1", 400.0, "200000"),
        ("Acrobot-v1", -100.0, "300000"),
    ];
    let mut table = String::from(
        "# ACER reproduction in miniature (`cargo xtask repro acer`)\n\n\
         Defaults = the paper's / openai baselines' (`crates/acer/src/config.rs`); one setting \
         changed per row. Greedy evaluation over 20 episodes every 10k steps; seeds 0/1/2.\n\n\
         | env | variant | steps to reach target (per seed) | final eval (per seed) | wall-clock (s, per seed) |\n\
         |---|---|---|---|---|\n",
    );
    for (env, target, steps) in envs {
        let mut series = Vec::new();
        for (i, (label, setting)) in variants.iter().enumerate() {
            let cfg = out_runs.join(format!("variant{i}.toml"));
            std::fs::write(&cfg, format!("{setting}\neval_interval = 10000\n"))?;
            let cfg_s = cfg.to_str().context("non-UTF-8 path")?;
            let mut reach = Vec::new();
            let mut finals = Vec::new();
            let mut walls = Vec::new();
            for seed in 0..3u64 {
                let s = train_with(
                    &eirl,
                    "acer",
                    env,
                    seed,
                    &out_runs.join(format!("v{i}")),
                    &["--config", cfg_s, "--steps", steps],
                )?;
                reach.push(
                    s.first_reaching(target)
                        .map_or("—".to_string(), |f| format!("{f:.0}")),
                );
                finals.push(format!("{:.0}", s.final_eval()));
                walls.push(format!("{:.0}", s.wall_s));
                if seed == 0 {
                    series.push((label.to_string(), s.eval.clone()));
                }
            }
            writeln!(
                table,
                "| {env} | {label} | {} | {} | {} |",
                reach.join(" / "),
                finals.join(" / "),
                walls.join(" / ")
            )?;
        }
        eirl_runlog::plot_curves(
            &series,
            &docs.join(format!("{env}.png")),
            &format!("ACER on {env} (seed 0): evaluation mean return"),
            "env steps",
            "eval mean return",
        )?;
    }
    table.push_str(
        "\n— = target not reached within the budget. Plots show seed 0 of each variant.\n",
    );
    eirl_runlog::atomic_write(&docs.join("README.md"), table.as_bytes())?;
    println!("{table}");
    println!("wrote {}", docs.display());
    Ok(())
}
