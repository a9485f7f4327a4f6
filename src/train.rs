//! `eirl train <algo>`: resolve the config, build the agent (checking every input before a run
//! directory exists), then run eirl-agent's training loop.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use eirl_agent::{Input, RunReport, result_line};
use eirl_envs::Policy;
use eirl_runlog::RunDir;

use crate::registry::{self, DEMOS_FILE, Entry};

#[derive(Args)]
pub struct TrainArgs {
    /// Algorithm: dqn, svrl, acer, bc, dagger, gail or seed.
    pub(crate) algo: String,
    /// Environment id (see `eirl envs`).
    #[arg(long, default_value = "CartPole-v1")]
    pub(crate) env: String,
    /// TOML file overriding the built-in preset for this algorithm and env.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Total steps (overrides the config's `total_steps`).
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
    /// Config keys set by other commands (`eirl seed serve` sets `listen`).
    #[arg(skip)]
    pub(crate) set: Vec<(String, toml::Value)>,
}

/// Top-level config keys set from the command line. A flag whose key the algorithm's config
/// does not have is refused.
fn overrides(args: &TrainArgs, entry: &Entry, table: &mut toml::Table) -> Result<()> {
    let defaults = (entry.algorithm.defaults)()?;
    let mut set = args.set.clone();
    for (key, value) in [
        ("actors", args.actors),
        ("envs_per_actor", args.envs_per_actor),
    ] {
        if let Some(v) = value {
            if !defaults.contains_key(key) {
                bail!(
                    "--{} does not apply to {}",
                    key.replace('_', "-"),
                    entry.algorithm.name
                );
            }
            set.push((key.into(), toml::Value::Integer(i64::try_from(v)?)));
        }
    }
    for (key, value) in set {
        table.insert(key, value);
    }
    Ok(())
}

/// The run's config as saved: without secrets (any `token`; SEED's comes from the environment).
fn without_secrets(table: &toml::Table) -> toml::Table {
    table
        .iter()
        .filter(|(k, _)| k.as_str() != "token")
        .map(|(k, v)| {
            let v = match v {
                toml::Value::Table(t) => toml::Value::Table(without_secrets(t)),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// The expert `--expert` names, checked against the env (None when the algorithm takes none).
fn expert_for(
    entry: &Entry,
    spec: Option<&str>,
    env: &str,
    table: &mut toml::Table,
) -> Result<Option<Box<dyn Policy>>> {
    let algo = entry.algorithm.name;
    match (entry.algorithm.expert, spec) {
        (Input::Unused, Some(_)) => bail!("--expert does not apply to {algo}"),
        (Input::Unused, None) | (Input::Optional, None) => Ok(None),
        (Input::Required, None) => {
            bail!("{algo} needs --expert <trained run dir | scripted expert name>")
        }
        (_, Some(spec)) => {
            let (expert, expert_env) = registry::expert(spec)?;
            if expert_env != env {
                bail!("the expert `{spec}` acts on {expert_env}, not {env}");
            }
            // The run records which expert it queried (as an absolute path for run dirs).
            let recorded = match Path::new(spec).canonicalize() {
                Ok(p) if p.is_dir() => p.display().to_string(),
                _ => spec.to_string(),
            };
            table.insert("expert".into(), toml::Value::String(recorded));
            Ok(Some(expert))
        }
    }
}

/// What a run starts from: where it lives, what it trains, with which inputs.
struct Start {
    run: RunDir,
    entry: &'static Entry,
    env: String,
    seed: u64,
    config: toml::Table,
    demos: Option<PathBuf>,
    expert: Option<Box<dyn Policy>>,
    resume: bool,
}

/// `--resume DIR`: the run as saved, with `--steps` and flag overrides applied.
fn resumed(args: &TrainArgs, dir: &Path) -> Result<Start> {
    let saved = registry::open_run(dir)?;
    let algo = saved.entry.algorithm.name;
    if args.algo != algo {
        bail!("{} holds a {algo} run, not {}", dir.display(), args.algo);
    }
    if !saved.entry.algorithm.resumable {
        bail!("{algo} trains in one go; --resume does not apply");
    }
    let mut config = saved.config;
    overrides(args, saved.entry, &mut config)?;
    if let Some(s) = args.steps {
        registry::set_steps(&mut config, s)?;
    }
    Ok(Start {
        run: saved.run,
        entry: saved.entry,
        env: saved.env,
        seed: saved.seed,
        config,
        demos: saved.demos,
        expert: None,
        resume: true,
    })
}

/// A new run: every input is checked (by building the agent once) before its directory exists.
fn created(args: &TrainArgs) -> Result<Start> {
    let entry = registry::find(&args.algo)?;
    let algo = entry.algorithm.name;
    let mut config =
        registry::resolve_config(entry, &args.env, args.config.as_deref(), args.steps)?;
    overrides(args, entry, &mut config)?;
    match (entry.algorithm.demos, &args.demos) {
        (Input::Required, None) => {
            bail!("{algo} needs --demos <file.npz> (record one with `eirl demo record`)")
        }
        (Input::Unused, Some(_)) => bail!("--demos does not apply to {algo}"),
        _ => {}
    }
    let expert = expert_for(entry, args.expert.as_deref(), &args.env, &mut config)?;
    registry::build(
        entry,
        &args.env,
        &config,
        args.seed,
        args.demos.as_deref(),
        None,
    )?;
    let run = RunDir::create(&args.out, algo, &args.env, args.seed)
        .with_context(|| format!("creating a run under {}", args.out.display()))?;
    run.write_config(&without_secrets(&config))?;
    // The run keeps its own copy of the demonstrations, so eval and resume need nothing else.
    let demos = match &args.demos {
        Some(src) => {
            let copy = run.path().join(DEMOS_FILE);
            let bytes = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
            eirl_runlog::atomic_write(&copy, &bytes)?;
            Some(copy)
        }
        None => None,
    };
    Ok(Start {
        run,
        entry,
        env: args.env.clone(),
        seed: args.seed,
        config,
        demos,
        expert,
        resume: false,
    })
}

pub fn run(args: TrainArgs) -> Result<()> {
    eirl_envs::spec(&args.env)?;
    let s = match &args.resume {
        Some(dir) => resumed(&args, dir)?,
        None => created(&args)?,
    };
    let mut agent = registry::build(
        s.entry,
        &s.env,
        &s.config,
        s.seed,
        s.demos.as_deref(),
        s.expert,
    )?;
    let report: RunReport = eirl_agent::train(agent.as_mut(), &s.run, s.resume)?;
    if let Some(line) = agent.summary() {
        println!("{line}");
    }
    println!(
        "done: {} steps in {:.1}s ({:.0} steps/s); best eval mean {:.2}; run {}",
        report.steps,
        report.seconds,
        report.steps as f64 / report.seconds.max(1e-9),
        report.best_eval_mean,
        s.run.path().display()
    );
    if let Some(eval) = &report.final_eval {
        println!("{}", result_line(eval, report.score_reference));
    }
    Ok(())
}
