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
    /// Algorithm: dqn, acer, bc, dagger, gail or seed.
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

pub fn run(args: TrainArgs) -> Result<()> {
    eirl_envs::spec(&args.env)?;
    let (run, entry, env, seed, table, demos, expert, resume) = match args.resume.clone() {
        Some(dir) => {
            let saved = registry::open_run(&dir)?;
            let algo = saved.entry.algorithm.name;
            if !saved.entry.algorithm.resumable {
                bail!("{algo} trains in one go; --resume does not apply");
            }
            let mut table = saved.config;
            overrides(&args, saved.entry, &mut table)?;
            if let Some(s) = args.steps {
                registry::set_steps(&mut table, s)?;
            }
            (
                saved.run,
                saved.entry,
                saved.env,
                saved.seed,
                table,
                saved.demos,
                None,
                true,
            )
        }
        None => {
            let entry = registry::find(&args.algo)?;
            let algo = entry.algorithm.name;
            let mut table =
                registry::resolve_config(entry, &args.env, args.config.as_deref(), args.steps)?;
            overrides(&args, entry, &mut table)?;
            match (entry.algorithm.demos, &args.demos) {
                (Input::Required, None) => bail!(
                    "{algo} needs --demos <file.npz> (record one with `eirl demo record`)"
                ),
                (Input::Unused, Some(_)) => bail!("--demos does not apply to {algo}"),
                _ => {}
            }
            let mut expert = expert_for(entry, args.expert.as_deref(), &args.env, &mut table)?;
            // Build once to check config, env, demonstrations and expert before any folder
            // exists; the expert moves on to the agent that trains.
            let check = registry::build(
                entry,
                &args.env,
                &table,
                args.seed,
                args.demos.as_deref(),
                None,
            )?;
            drop(check);
            let run = RunDir::create(&args.out, algo, &args.env, args.seed)
                .with_context(|| format!("creating a run under {}", args.out.display()))?;
            run.write_config(&without_secrets(&table))?;
            // The run keeps its own copy of the demonstrations, so eval and resume need nothing
            // else.
            let demos = match &args.demos {
                Some(src) => {
                    let copy = run.path().join(DEMOS_FILE);
                    let bytes = std::fs::read(src)
                        .with_context(|| format!("reading {}", src.display()))?;
                    eirl_runlog::atomic_write(&copy, &bytes)?;
                    Some(copy)
                }
                None => None,
            };
            (
                run,
                entry,
                args.env.clone(),
                args.seed,
                table,
                demos,
                expert.take(),
                false,
            )
        }
    };
    let mut agent = registry::build(entry, &env, &table, seed, demos.as_deref(), expert)?;
    let report: RunReport = eirl_agent::train(agent.as_mut(), &run, resume)?;
    if let Some(line) = agent.summary() {
        println!("{line}");
    }
    println!(
        "done: {} steps in {:.1}s ({:.0} steps/s); best eval mean {:.2}; run {}",
        report.steps,
        report.seconds,
        report.steps as f64 / report.seconds.max(1e-9),
        report.best_eval_mean,
        run.path().display()
    );
    if let Some(eval) = &report.final_eval {
        println!("{}", result_line(eval, report.score_reference));
    }
    Ok(())
}
