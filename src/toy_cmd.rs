//! `eirl toy steve`: the STEVE paper's toy value-estimation study (its Figure 1), as the
//! official `toy_demo.py` runs it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use eirl_runlog::{atomic_write, plot_curves};
use eirl_steve::toy::{ToyConfig, ToyMethod, ToyModel, ToyRow, run_study, updates_to_threshold};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

/// Value-error thresholds the summary reports updates-to-reach for.
const THRESHOLDS: [f64; 3] = [100.0, 10.0, 1.0];

#[derive(Subcommand)]
pub enum ToyCommand {
    /// TD (Q-learning), MVE and STEVE estimating a fixed policy's values on a 101-state chain,
    /// with an oracle and a noisy model: writes DIR/value_error.csv
    /// (method,model,trial,update,mse), DIR/value_error.png and DIR/summary.json.
    Steve(SteveToyArgs),
}

#[derive(Args)]
pub struct SteveToyArgs {
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
    /// Trials per method and model (official: 10).
    #[arg(long, default_value_t = 10)]
    trials: usize,
    /// Updates per trial (official: 10000).
    #[arg(long, default_value_t = 10_000)]
    updates: usize,
}

pub fn run(cmd: ToyCommand) -> Result<()> {
    match cmd {
        ToyCommand::Steve(args) => steve(args),
    }
}

/// The mean over trials of each (method, model) curve.
fn mean_curves(rows: &[ToyRow], cfg: &ToyConfig) -> Vec<(ToyMethod, ToyModel, Vec<f64>)> {
    let mut out = Vec::new();
    for method in ToyMethod::ALL {
        for model in ToyModel::ALL {
            let mut curve = vec![0.0; cfg.updates];
            for r in rows
                .iter()
                .filter(|r| r.method == method && r.model == model)
            {
                curve[r.update] += r.mse / cfg.trials as f64;
            }
            out.push((method, model, curve));
        }
    }
    out
}

fn steve(args: SteveToyArgs) -> Result<()> {
    if args.trials == 0 || args.updates == 0 {
        bail!("--trials and --updates must be positive");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let cfg = ToyConfig {
        trials: args.trials,
        updates: args.updates,
        ..ToyConfig::default()
    };
    let started = Instant::now();
    let bar = ProgressBar::new(6).with_style(
        ProgressStyle::with_template("{msg:>16} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let rows = run_study(&cfg, args.seed, |what| {
        bar.set_message(what.to_string());
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let mut csv = String::from("method,model,trial,update,mse\n");
    for r in &rows {
        writeln!(
            csv,
            "{},{},{},{},{}",
            r.method.name(),
            r.model.name(),
            r.trial,
            r.update,
            r.mse
        )?;
    }
    let csv_path = args.out.join("value_error.csv");
    atomic_write(&csv_path, csv.as_bytes())
        .with_context(|| format!("writing {}", csv_path.display()))?;

    let curves = mean_curves(&rows, &cfg);
    let series: Vec<(String, Vec<(f64, f64)>)> = curves
        .iter()
        .filter(|(m, model, _)| *m != ToyMethod::Td || *model == ToyModel::Oracle)
        .map(|(method, model, c)| {
            let label = match method {
                ToyMethod::Td => "td".to_string(),
                _ => format!("{}-{}", method.name(), model.name()),
            };
            let pts = c
                .iter()
                .enumerate()
                .map(|(i, e)| ((i + 1) as f64, e.max(1e-12).log10()))
                .collect();
            (label, pts)
        })
        .collect();
    let png = args.out.join("value_error.png");
    plot_curves(
        &series,
        &png,
        &format!(
            "STEVE toy study: value error (mean of {} trials)",
            cfg.trials
        ),
        "update",
        "log10 MSE to the true values",
    )?;

    let mut summary = Vec::new();
    for (method, model, c) in &curves {
        let reach: serde_json::Map<String, serde_json::Value> = THRESHOLDS
            .iter()
            .map(|t| (format!("{t}"), json!(updates_to_threshold(c, *t))))
            .collect();
        summary.push(json!({
            "method": method.name(),
            "model": model.name(),
            "samples_per_update": method.samples_per_update(&cfg),
            "initial_mse": c.first(),
            "final_mse": c.last(),
            "updates_to_stay_below": reach,
        }));
    }
    let doc = json!({
        "seed": args.seed,
        "trials": cfg.trials,
        "updates": cfg.updates,
        "nonterminal_states": cfg.nonterminal_states,
        "noise": cfg.noise,
        "horizon": cfg.horizon,
        "q_ensemble": cfg.q_ensemble,
        "model_ensemble": cfg.model_ensemble,
        "thresholds": THRESHOLDS,
        "curves": summary,
        "seconds": started.elapsed().as_secs_f64(),
    });
    let path = args.out.join("summary.json");
    atomic_write(&path, serde_json::to_string_pretty(&doc)?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    for (method, model, c) in &curves {
        println!(
            "{:>5} {:>6}: final mse {:.4}, updates to stay below 1.0: {}",
            method.name(),
            model.name(),
            c.last().copied().unwrap_or(f64::NAN),
            updates_to_threshold(c, 1.0).map_or("never".into(), |u| u.to_string())
        );
    }
    println!(
        "wrote {}, {} and {}",
        csv_path.display(),
        png.display(),
        path.display()
    );
    Ok(())
}
