//! `eirl plan svp`: structured value-based planning on the SVP paper's tasks.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use eirl_matrix_estimation::{
    Matrix, SoftImpute, best_low_rank, rank_of_spectrum, singular_values,
};
use eirl_svp::{HeatMapOf, Plan, PlanConfig, Task, agreement, heat_map, plan, simulate};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

/// Q files: `q.f64`, |S|·|A| little-endian f64 in the grid's row order.
const Q_FILE: &str = "q.f64";
/// Energy share of the paper's approximate rank.
const RANK_ENERGY: f64 = 0.99;
/// Ranks of the truncations of full value iteration's Q whose greedy policies a `--p 1` run
/// reports: the best any rank-k estimate of the exact Q can do.
const TRUNCATION_RANKS: [usize; 6] = [1, 2, 3, 5, 10, 20];

#[derive(Subcommand)]
pub enum PlanCommand {
    /// Value iteration with matrix estimation (SVP, Yang et al. 2020) against full value
    /// iteration; writes DIR/summary.json, DIR/q.f64 and value/policy heat maps.
    Svp(SvpArgs),
}

#[derive(Args)]
pub struct SvpArgs {
    /// inverted-pendulum | mountain-car | double-integrator | cart-pole
    #[arg(long)]
    task: String,
    /// Probability that a Q entry is backed up per iteration (1 = full value iteration).
    #[arg(long, default_value_t = 0.2)]
    p: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
    /// A directory holding full value iteration's q.f64 for this task (an earlier `--p 1` run);
    /// without it, full value iteration runs first.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Complete from zeros every iteration, as the official code does (slow: tens of
    /// full-rank soft-impute steps per iteration) instead of warm-starting.
    #[arg(long)]
    cold_start: bool,
    /// Complete Q minus each row's mean backup instead of Q (ours): with fancyimpute's
    /// λ = σ_max/50, σ_max is mostly the state-value level and the action structure falls
    /// below λ.
    #[arg(long)]
    center_rows: bool,
    /// Soft-impute's λ = σ_max(zero-filled Q) / D (fancyimpute's default D = 50; larger D
    /// shrinks the singular values less).
    #[arg(long, default_value_t = SoftImpute::default().shrinkage_divisor)]
    shrinkage_divisor: f64,
    /// Iteration cap of both planners (default: the official 200).
    #[arg(long, default_value_t = 200)]
    max_iters: usize,
    /// Simulation runs for the returns (default: the official count, 2000 or 1000).
    #[arg(long)]
    runs: Option<usize>,
}

pub fn run(cmd: PlanCommand) -> Result<()> {
    match cmd {
        PlanCommand::Svp(args) => svp(args),
    }
}

fn svp(args: SvpArgs) -> Result<()> {
    let task: Task = args.task.parse()?;
    if !(args.p > 0.0 && args.p <= 1.0) {
        bail!("--p {} must be in (0, 1]", args.p);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let cfg = PlanConfig {
        p: args.p,
        seed: args.seed,
        warm_start: !args.cold_start,
        center_rows: args.center_rows,
        max_iters: args.max_iters,
        soft_impute: SoftImpute {
            shrinkage_divisor: args.shrinkage_divisor,
            ..SoftImpute::default()
        },
        ..PlanConfig::default()
    };
    let started = Instant::now();
    let planned = run_plan(task, &cfg, &format!("SVP {task} p={}", args.p))?;
    let seconds = started.elapsed().as_secs_f64();
    write_q(&args.out.join(Q_FILE), &planned.q)?;

    let (q_ref, ref_iterations) = match (&args.reference, args.p >= 1.0) {
        (_, true) => (planned.q.clone(), Some(planned.iterations())),
        (Some(dir), false) => (read_q(&dir.join(Q_FILE), task)?, read_iterations(dir)),
        (None, false) => {
            let full = run_plan(
                task,
                &PlanConfig {
                    p: 1.0,
                    max_iters: args.max_iters,
                    ..PlanConfig::default()
                },
                &format!("full value iteration {task}"),
            )?;
            let iterations = full.iterations();
            (full.q, Some(iterations))
        }
    };
    let v_ref = row_max(&q_ref);
    let agree = agreement(task, &planned.q, &planned.v, &q_ref, &v_ref);
    let full_backups = ref_iterations.map(|it| (it * q_ref.rows() * q_ref.cols()) as u64);
    let rank = rank_of_spectrum(&singular_values(&planned.q)?, RANK_ENERGY);
    let rank_ref = rank_of_spectrum(&singular_values(&q_ref)?, RANK_ENERGY);
    let runs = args.runs.unwrap_or(task.official_runs());
    let sim = simulate(task, &planned.q, runs, args.seed);
    let sim_ref = simulate(task, &q_ref, runs, args.seed);

    for (of, name, what) in [
        (HeatMapOf::Value, "value.png", "value"),
        (HeatMapOf::Policy, "policy.png", "policy (action)"),
    ] {
        let map = heat_map(task, &planned.q, of);
        let names = task.state_names();
        eirl_runlog::plot_heatmap(
            &map.values,
            map.nx,
            map.ny,
            map.x_range,
            map.y_range,
            &args.out.join(name),
            &format!("{task} {what}, p = {}", args.p),
            names[0],
            names[1],
        )?;
    }
    // Full value iteration: how its own best rank-k approximations fare (Eckart–Young), the
    // ceiling for any low-rank estimate of the exact Q.
    let truncations = if args.p >= 1.0 {
        let approx = best_low_rank(&q_ref, &TRUNCATION_RANKS)?;
        TRUNCATION_RANKS
            .iter()
            .zip(&approx)
            .map(|(k, qk)| {
                let a = agreement(task, qk, &row_max(qk), &q_ref, &v_ref);
                json!({
                    "rank": k,
                    "policy_agreement": a.policy_agreement,
                    "near_optimal": a.near_optimal,
                    "value_rel_error": a.value_rel_error,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let mean = |f: &dyn Fn(&eirl_svp::IterationStats) -> f64| {
        planned.history.iter().map(f).sum::<f64>() / planned.history.len().max(1) as f64
    };
    let summary = json!({
        "task": task.name(),
        "p": args.p,
        "seed": args.seed,
        "warm_start": cfg.warm_start,
        "center_rows": cfg.center_rows,
        "shrinkage_divisor": cfg.soft_impute.shrinkage_divisor,
        "iterations": planned.iterations(),
        "converged": planned.converged,
        "final_residual": planned.history.last().map(|h| h.residual),
        "backups": planned.backups(),
        "full_vi_iterations": ref_iterations,
        "full_vi_backups": full_backups,
        "backup_reduction": full_backups.map(|f| f as f64 / planned.backups() as f64),
        "policy_agreement": agree.policy_agreement,
        "action_distance": agree.action_distance,
        "value_rel_error": agree.value_rel_error,
        "near_optimal": agree.near_optimal,
        "near_optimal_tolerance": eirl_svp::NEAR_OPTIMAL,
        "mean_relative_loss": agree.mean_relative_loss,
        "reference_near_ties": agree.reference_near_ties,
        "truncations": truncations,
        "approximate_rank": rank,
        "approximate_rank_full_vi": rank_ref,
        "rank_energy": RANK_ENERGY,
        "mean_completion_iterations": mean(&|h| h.completion_iterations as f64),
        "mean_completion_rank": mean(&|h| h.completion_rank as f64),
        "simulation_runs": runs,
        "mean_return": sim.mean_return,
        "official_metric": sim.official_metric,
        "full_vi_mean_return": sim_ref.mean_return,
        "full_vi_official_metric": sim_ref.official_metric,
        "official_metric_name": format!("{:?}", task.official_metric()),
        "seconds": seconds,
    });
    let text = serde_json::to_string_pretty(&summary)?;
    eirl_runlog::atomic_write(&args.out.join("summary.json"), text.as_bytes())
        .context("writing summary.json")?;
    println!("{text}");
    Ok(())
}

fn run_plan(task: Task, cfg: &PlanConfig, label: &str) -> Result<Plan> {
    let bar = ProgressBar::new(cfg.max_iters as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} iterations {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(label.to_string());
    let planned = plan(task, cfg, |it, residual| {
        bar.set_position(it as u64);
        bar.set_message(format!("{label} residual {residual:.2e}"));
    })?;
    bar.finish_and_clear();
    Ok(planned)
}

fn row_max(q: &Matrix) -> Vec<f64> {
    (0..q.rows())
        .map(|s| q.row(s).iter().copied().fold(f64::NEG_INFINITY, f64::max))
        .collect()
}

fn write_q(path: &Path, q: &Matrix) -> Result<()> {
    let bytes: Vec<u8> = q.as_slice().iter().flat_map(|v| v.to_le_bytes()).collect();
    eirl_runlog::atomic_write(path, &bytes).with_context(|| format!("writing {}", path.display()))
}

fn read_q(path: &Path, task: Task) -> Result<Matrix> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (rows, cols) = (task.grid().len(), eirl_svp::NUM_ACTIONS);
    if bytes.len() != rows * cols * 8 {
        bail!(
            "{} holds {} bytes; a {task} Q matrix is {rows}×{cols} f64 = {} bytes",
            path.display(),
            bytes.len(),
            rows * cols * 8
        );
    }
    let values: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    if let Some(k) = values.iter().position(|v| !v.is_finite()) {
        bail!("{}: entry {k} is not finite", path.display());
    }
    Ok(Matrix::new(rows, cols, values)?)
}

/// Full value iteration's iteration count from the reference run's summary, if it has one.
fn read_iterations(dir: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["iterations"].as_u64().map(|n| n as usize)
}
