//! `eirl train`: the run loop shared by every algorithm.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use eirl_models::Checkpoint;
use eirl_runlog::{MetricsLogger, RunDir, read_metrics};
use indicatif::{ProgressBar, ProgressStyle};
use tracing::info;

use crate::agent::{self, Agent};
use crate::config;

#[derive(Args)]
pub struct TrainArgs {
    /// Algorithm: dqn.
    pub(crate) algo: String,
    /// Environment id (see `eirl envs`).
    #[arg(long, default_value = "CartPole-v1")]
    pub(crate) env: String,
    /// TOML file overriding the built-in preset for this algorithm and env.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Total environment steps (overrides the config's `total_steps`).
    #[arg(long)]
    pub(crate) steps: Option<u64>,
    /// Parent folder of run directories.
    #[arg(long, default_value = "runs")]
    pub(crate) out: PathBuf,
    /// Continue the run in this directory from its latest checkpoint.
    #[arg(long)]
    pub(crate) resume: Option<PathBuf>,
    /// Expert demonstrations (.npz from `eirl demo record`), for imitation algorithms (bc, gail;
    /// optional initial data for dagger).
    #[arg(long)]
    pub(crate) demos: Option<PathBuf>,
    /// The expert DAgger queries: a trained run directory, or a scripted expert
    /// (`cartpole-balancer`, `mountaincar-pump`).
    #[arg(long)]
    pub(crate) expert: Option<String>,
    /// SEED RL: actor threads (overrides the config's `actors`).
    #[arg(long)]
    pub(crate) actors: Option<usize>,
    /// SEED RL: environments per actor (overrides the config's `envs_per_actor`).
    #[arg(long)]
    pub(crate) envs_per_actor: Option<usize>,
    /// SEED RL: serve on this gRPC address (set by `eirl seed serve`).
    #[arg(skip)]
    pub(crate) listen: Option<String>,
}

pub const LATEST: &str = "latest.safetensors";
pub const BEST: &str = "best.safetensors";
/// Seed of evaluation environments during training, apart from training seeds.
pub const EVAL_SEED: u64 = 1_000_000;

/// SEED RL's command-line overrides: actor counts, the gRPC address, and the shared token from
/// the environment (never written to the run's config).
fn seed_overrides(args: &TrainArgs, algo: &str, table: &mut toml::Table) -> Result<()> {
    for (key, value) in [
        ("actors", args.actors),
        ("envs_per_actor", args.envs_per_actor),
    ] {
        if let Some(v) = value {
            if algo != "seed" {
                bail!("--{} applies to seed only", key.replace('_', "-"));
            }
            table.insert(key.into(), toml::Value::Integer(i64::try_from(v)?));
        }
    }
    if algo == "seed" {
        if let Some(addr) = &args.listen {
            table.insert("listen".into(), toml::Value::String(addr.clone()));
        }
        if let Some(token) = crate::seed_cmd::token() {
            let server = table
                .entry("server")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = server {
                t.insert("token".into(), toml::Value::String(token));
            }
        }
    }
    Ok(())
}

struct Setup {
    run: RunDir,
    algo: String,
    env: String,
    seed: u64,
    table: toml::Table,
    resume: bool,
}

fn setup(args: TrainArgs) -> Result<Setup> {
    eirl_envs::spec(&args.env)?;
    if let Some(dir) = args.resume.clone() {
        let run = RunDir::open(&dir).with_context(|| format!("opening run {}", dir.display()))?;
        let info = run.read_run_info()?;
        let mut table: toml::Table = run.read_config()?;
        agent::resolve_demos(&mut table, run.path());
        seed_overrides(&args, &info.algo, &mut table)?;
        if let Some(s) = args.steps {
            table.insert(
                "total_steps".into(),
                toml::Value::Integer(i64::try_from(s)?),
            );
        }
        return Ok(Setup {
            run,
            algo: info.algo,
            env: info.env,
            seed: info.seed,
            table,
            resume: true,
        });
    }
    let mut table = config::resolve(&args.algo, &args.env, args.config.as_deref(), args.steps)?;
    if args.algo == "gail" {
        let demos = args
            .demos
            .as_ref()
            .context("gail needs --demos <file.npz> (record one with `eirl demo record`)")?;
        table.insert(
            agent::DEMOS_KEY.into(),
            toml::Value::String(demos.display().to_string()),
        );
    }
    seed_overrides(&args, &args.algo, &mut table)?;
    if args.algo == "dagger" {
        let expert = args
            .expert
            .as_ref()
            .context("dagger needs --expert <trained run dir | scripted expert name>")?;
        let spec = match std::path::Path::new(expert).canonicalize() {
            Ok(p) if p.is_dir() => p.display().to_string(),
            _ => expert.clone(),
        };
        table.insert("expert".into(), toml::Value::String(spec));
    }
    // Validate by building once before creating any folder.
    agent::build(&args.algo, &args.env, &table, args.seed)?;
    let run = RunDir::create(&args.out, &args.algo, &args.env, args.seed)
        .with_context(|| format!("creating a run under {}", args.out.display()))?;
    if let Some(toml::Value::String(src)) = table.get(agent::DEMOS_KEY) {
        // The run keeps its own copy of the demonstrations, so eval and resume need nothing else.
        let copy = run.path().join("demos.npz");
        eirl_runlog::atomic_write(&copy, &std::fs::read(src)?)?;
        // Saved relative to the run directory, so a moved run still finds it.
        let mut saved = table.clone();
        saved.insert(
            agent::DEMOS_KEY.into(),
            toml::Value::String("demos.npz".into()),
        );
        run.write_config(&saved)?;
        table.insert(
            agent::DEMOS_KEY.into(),
            toml::Value::String(copy.display().to_string()),
        );
    } else {
        // The shared token comes from the environment at every start; it never reaches disk.
        let mut saved = table.clone();
        if let Some(toml::Value::Table(server)) = saved.get_mut("server") {
            server.remove("token");
        }
        run.write_config(&saved)?;
    }
    Ok(Setup {
        run,
        algo: args.algo,
        env: args.env,
        seed: args.seed,
        table,
        resume: false,
    })
}

fn save(agent: &dyn Agent, dir: &Path, name: &str, best: f64) -> Result<()> {
    let mut ck: Checkpoint = agent.checkpoint();
    ck.set_meta("best_eval_mean", best.to_string());
    ck.save(&dir.join(name))?;
    Ok(())
}

pub fn run(args: TrainArgs) -> Result<()> {
    if args.algo == "bc" {
        if args.resume.is_some() {
            bail!("bc trains offline in one go; --resume does not apply");
        }
        let demos = args
            .demos
            .clone()
            .context("bc needs --demos <file.npz> (record one with `eirl demo record`)")?;
        // Check the demonstrations before any run directory exists.
        let loaded = crate::bc::load_demos(&demos, &args.env)?;
        let s = setup(args)?;
        return crate::bc::train(&s.run, &s.env, &s.table, loaded, s.seed);
    }
    if args.algo == "dagger" {
        if args.resume.is_some() {
            bail!("dagger trains in one go; --resume does not apply");
        }
        let spec = args
            .expert
            .clone()
            .context("dagger needs --expert <trained run dir | scripted expert name>")?;
        // Check the expert and the demonstrations before any run directory exists.
        let (mut expert, expert_env) = crate::dagger::resolve_expert(&spec)?;
        if expert_env != args.env {
            bail!("the expert `{spec}` acts on {expert_env}, not {}", args.env);
        }
        let initial = match &args.demos {
            Some(p) => Some(crate::bc::load_demos(p, &args.env)?),
            None => None,
        };
        let s = setup(args)?;
        return crate::dagger::train(
            &s.run,
            &s.env,
            &s.table,
            expert.as_mut(),
            initial.as_ref(),
            s.seed,
        );
    }
    let s = setup(args)?;
    let mut agent = agent::build(&s.algo, &s.env, &s.table, s.seed)?;
    let ck_dir = s.run.checkpoints_dir();
    let mut best = f64::NEG_INFINITY;
    if s.resume {
        let ck = Checkpoint::load(&ck_dir.join(LATEST))?;
        agent.restore(&ck)?;
        best = ck
            .meta("best_eval_mean")
            .and_then(|b| b.parse().ok())
            .unwrap_or(f64::NEG_INFINITY);
        info!(
            steps = agent.env_steps(),
            "resumed {}",
            s.run.path().display()
        );
    }
    let total = agent.total_steps();
    if agent.env_steps() >= total {
        bail!(
            "the run already has {} of {total} steps; pass a larger --steps",
            agent.env_steps()
        );
    }
    info!("run directory {}", s.run.path().display());
    let mut log = MetricsLogger::open(&s.run)?;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {human_pos}/{human_len} steps ({per_sec}, eta {eta}) {msg}",
        )?
        .progress_chars("=> "),
    );
    bar.set_position(agent.env_steps());
    let started = Instant::now();
    let start_steps = agent.env_steps();
    let mut recent: VecDeque<f64> = VecDeque::with_capacity(100);
    let interval = agent.eval_interval();
    let mut last_eval = f64::NAN;
    while agent.env_steps() < total {
        let before = agent.env_steps();
        let report = agent.step()?;
        let step = agent.env_steps();
        for ep in &report.finished {
            if recent.len() == 100 {
                recent.pop_front();
            }
            recent.push_back(ep.episode_return);
            log.log_many(
                step,
                &[
                    ("episode_return", ep.episode_return),
                    ("episode_length", ep.length as f64),
                ],
            )?;
        }
        if !report.train.is_empty() && (step / 1000 != before / 1000) {
            log.log_many(step, &report.train)?;
        }
        let due = before / interval != step / interval || step >= total;
        if due {
            let eval = agent.evaluate(agent.eval_episodes(), EVAL_SEED)?;
            last_eval = eval.mean();
            log.log_many(
                step,
                &[
                    ("eval_mean_return", eval.mean()),
                    ("eval_std_return", eval.std()),
                ],
            )?;
            if eval.mean() > best {
                best = eval.mean();
                save(agent.as_ref(), &ck_dir, BEST, best)?;
            }
            save(agent.as_ref(), &ck_dir, LATEST, best)?;
            log.flush()?;
            let line = format!(
                "step {step}: eval mean {:.2} ± {:.2} over {} episodes (best {best:.2})",
                eval.mean(),
                eval.std(),
                eval.returns.len()
            );
            // Without a terminal the bar is hidden; keep the evaluations in the log instead.
            if bar.is_hidden() {
                info!("{line}");
            } else {
                bar.println(line);
            }
        }
        bar.set_position(step);
        if let Some(r) = recent.back() {
            let mean = recent.iter().sum::<f64>() / recent.len() as f64;
            bar.set_message(format!(
                "return {r:.1} (mean100 {mean:.1}) eval {last_eval:.1}"
            ));
        }
    }
    bar.finish();
    log.flush()?;
    drop(log);
    let secs = started.elapsed().as_secs_f64();
    let rows = read_metrics(&s.run.metrics_path())?;
    let png = s.run.path().join("learning_curve.png");
    let title = format!("{} on {} (seed {})", s.algo, s.env, s.seed);
    if let Err(e) = eirl_runlog::plot_learning_curve(
        &rows,
        &png,
        &title,
        &["episode_return", "eval_mean_return"],
    ) {
        tracing::warn!("could not draw {}: {e}", png.display());
    }
    if let Some(line) = agent.summary() {
        println!("{line}");
    }
    println!(
        "done: {} steps in {secs:.1}s ({:.0} steps/s); best eval mean {best:.2}; run {}",
        agent.env_steps() - start_steps,
        (agent.env_steps() - start_steps) as f64 / secs.max(1e-9),
        s.run.path().display()
    );
    Ok(())
}
