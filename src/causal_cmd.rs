//! `eirl causal`: causal confusion in imitation learning (de Haan et al. 2019) — the diagnosis
//! and the targeted interventions, each writing `DIR/summary.json` and learning-curve PNGs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use eirl_causal_confusion::{CausalConfusionConfig, Mode, diagnose, intervene};
use eirl_imitation::Demonstrations;
use eirl_runlog::{atomic_write, plot_curves};
use serde_json::json;

#[derive(Subcommand)]
pub enum CausalCommand {
    /// BC on ORIGINAL (state + random action) vs CONFOUNDED (state + previous action)
    /// observations against the number of demonstration samples (the paper's Figure 4).
    Diagnose(DiagnoseArgs),
    /// A graph-parameterized policy on CONFOUNDED data, its graph chosen by policy execution
    /// (budget: episodes) or expert queries (budget: queries), against BC, dropout and DAgger.
    Intervene(InterveneArgs),
}

#[derive(Args)]
pub struct CommonArgs {
    /// Base environment (its `-confounded` / `-original` variants are used).
    #[arg(long, default_value = "MountainCar-v0")]
    env: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
    /// A TOML file of settings (keys of the run config; defaults are the official code's).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Demonstrations recorded with `eirl demo record --env <env>-confounded` instead of
    /// recording them here.
    #[arg(long)]
    demos: Option<PathBuf>,
    /// Training samples (default: the official 300).
    #[arg(long)]
    samples: Option<usize>,
}

#[derive(Args)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
pub struct InterveneArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// policy-execution | expert-query
    #[arg(long)]
    mode: String,
    /// Intervention episodes (policy execution; official 20) or expert queries.
    #[arg(long)]
    budget: usize,
}

pub fn run(cmd: CausalCommand) -> Result<()> {
    match cmd {
        CausalCommand::Diagnose(args) => run_diagnose(&args.common),
        CausalCommand::Intervene(args) => run_intervene(&args),
    }
}

fn settings(args: &CommonArgs) -> Result<(CausalConfusionConfig, Option<Demonstrations>)> {
    let mut cfg: CausalConfusionConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => CausalConfusionConfig::default(),
    };
    if args.env != cfg.env_id {
        // Another env: its scripted expert and start distribution, the file's other settings.
        let Some(defaults) = CausalConfusionConfig::for_env(&args.env) else {
            eirl_envs::spec(&args.env)?;
            bail!(
                "no scripted expert for {} (experts: {})",
                args.env,
                eirl_imitation::SCRIPTED_EXPERTS.join(", ")
            );
        };
        cfg.env_id = defaults.env_id;
        cfg.expert = defaults.expert;
        cfg.rich_starts = defaults.rich_starts;
    }
    if let Some(n) = args.samples {
        cfg.train_samples = n;
    }
    let demos = match &args.demos {
        Some(path) => Some(Demonstrations::load(path)?),
        None => None,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    Ok((cfg, demos))
}

fn progress(msg: &str) {
    tracing::info!("{msg}");
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    atomic_write(
        path,
        format!("{}\n", serde_json::to_string_pretty(value)?).as_bytes(),
    )
    .with_context(|| format!("writing {}", path.display()))
}

fn run_diagnose(args: &CommonArgs) -> Result<()> {
    let (cfg, demos) = settings(args)?;
    let start = Instant::now();
    let report = diagnose(&cfg, args.seed, demos, &mut progress)?;
    let secs = start.elapsed().as_secs_f64();
    let mut summary = serde_json::to_value(&report)?;
    summary["wall_clock_s"] = json!(secs);
    summary["config"] = serde_json::to_value(&cfg)?;
    write_json(&args.out.join("summary.json"), &summary)?;
    let curve = |f: fn(&eirl_causal_confusion::DiagnosePoint) -> f64| {
        report
            .points
            .iter()
            .map(|p| (p.samples as f64, f(p)))
            .collect::<Vec<_>>()
    };
    let xs = [
        report.points.first().map_or(0.0, |p| p.samples as f64),
        report.points.last().map_or(1.0, |p| p.samples as f64),
    ];
    plot_curves(
        &[
            (
                "ORIGINAL (state + random action)",
                curve(|p| p.original_return),
            ),
            (
                "CONFOUNDED (state + previous action)",
                curve(|p| p.confounded_return),
            ),
            (
                "expert",
                xs.iter().map(|&x| (x, report.expert_return)).collect(),
            ),
        ],
        &args.out.join("diagnose.png"),
        &format!(
            "BC on {}: return vs training samples (seed {})",
            report.env_id, report.seed
        ),
        "training samples",
        "mean return",
    )?;
    println!(
        "{}: expert {:.1}; BC on {} samples: ORIGINAL {:.1}, CONFOUNDED {:.1} ({:.0} s) -> {}",
        report.env_id,
        report.expert_return,
        report.samples,
        report.original_return,
        report.confounded_return,
        secs,
        args.out.join("summary.json").display()
    );
    Ok(())
}

fn run_intervene(args: &InterveneArgs) -> Result<()> {
    let Some(mode) = Mode::parse(&args.mode) else {
        bail!(
            "unknown --mode {:?}: policy-execution or expert-query",
            args.mode
        );
    };
    let (cfg, demos) = settings(&args.common)?;
    let start = Instant::now();
    let report = intervene(
        &cfg,
        mode,
        args.budget,
        args.common.seed,
        demos,
        &mut progress,
    )?;
    let secs = start.elapsed().as_secs_f64();
    let mut summary = serde_json::to_value(&report)?;
    summary["chosen_graph"] = json!(report.chosen_graph.to_string());
    summary["wall_clock_s"] = json!(secs);
    summary["config"] = serde_json::to_value(&cfg)?;
    write_json(&args.common.out.join("summary.json"), &summary)?;
    let used_label = match mode {
        Mode::PolicyExecution => "intervention episodes",
        Mode::ExpertQuery => "expert queries",
    };
    let points = |c: &[eirl_causal_confusion::CurvePoint]| {
        c.iter()
            .map(|p| (p.used as f64, p.mean_return))
            .collect::<Vec<_>>()
    };
    let xmax = report
        .curve
        .iter()
        .chain(&report.dagger)
        .map(|p| p.used as f64)
        .fold(1.0, f64::max);
    let level = |y: f64| vec![(0.0, y), (xmax, y)];
    let mut series = vec![
        (format!("ours: {}", mode.name()), points(&report.curve)),
        ("BC ORIGINAL".to_string(), level(report.original_return)),
        ("BC CONFOUNDED".to_string(), level(report.confounded_return)),
        ("dropout".to_string(), level(report.dropout_return)),
        ("expert".to_string(), level(report.expert_return)),
    ];
    if !report.dagger.is_empty() {
        series.push(("DAgger (CONFOUNDED)".to_string(), points(&report.dagger)));
    }
    plot_curves(
        &series,
        &args.common.out.join("intervene.png"),
        &format!(
            "{} by {} (seed {})",
            report.env_id,
            mode.name(),
            report.seed
        ),
        used_label,
        "mean return",
    )?;
    println!(
        "{} {}: chose {} after {} {used_label}: return {:.1} (ORIGINAL {:.1}, CONFOUNDED {:.1}, expert {:.1}) ({:.0} s) -> {}",
        report.env_id,
        mode.name(),
        report.chosen_graph,
        report.episodes_or_queries_used,
        report.final_return,
        report.original_return,
        report.confounded_return,
        report.expert_return,
        secs,
        args.common.out.join("summary.json").display()
    );
    Ok(())
}
