//! `eirl train <algo>`: resolve the config, build the agent (checking every input before a run
//! directory exists), then run eirl-agent's training loop.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use eirl_agent::{Input, RunReport, result_line};
use eirl_envs::Policy;
use eirl_runlog::RunDir;

use crate::registry::{self, DEMOS_FILE, Entry};

/// `--env`'s default.
const DEFAULT_ENV: &str = "CartPole-v1";
/// `--out`'s default.
const DEFAULT_OUT: &str = "runs";

#[derive(Args)]
pub struct TrainArgs {
    /// Algorithm: dqn, svrl, acer, bc, dagger, gail or seed.
    pub(crate) algo: String,
    /// Environment id (see `eirl envs`).
    #[arg(long, default_value = DEFAULT_ENV)]
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
    #[arg(long, default_value = DEFAULT_OUT)]
    pub(crate) out: PathBuf,
    /// Continue the run in this directory from its latest checkpoint. Its algorithm, env, seed,
    /// config and demonstrations stay as saved: a flag that would change them is refused; a
    /// larger `--steps` extends the run.
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

/// Which flags with a default value were typed on the command line: `--resume` refuses those
/// that would change the run, and a default cannot be told apart from a typed default value
/// by the value alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct Given {
    pub env: bool,
    pub seed: bool,
    pub out: bool,
}

impl Given {
    /// From clap's record of where each value came from.
    pub fn from_matches(m: &clap::ArgMatches) -> Self {
        let typed = |id| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        Given {
            env: typed("env"),
            seed: typed("seed"),
            out: typed("out"),
        }
    }
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
    /// `--out` when this call created it (a new run), so a failed start can remove it again.
    created_out: Option<PathBuf>,
    entry: &'static Entry,
    env: String,
    seed: u64,
    config: toml::Table,
    demos: Option<PathBuf>,
    expert: Option<Box<dyn Policy>>,
    resume: bool,
}

/// Dotted names of the leaves of `over` whose value differs from `base`'s.
fn changed_keys(base: &toml::Table, over: &toml::Table, prefix: &str) -> Vec<String> {
    let mut changed = Vec::new();
    for (k, v) in over {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (base.get(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => {
                changed.extend(changed_keys(b, o, &name));
            }
            (Some(b), v) if b == v => {}
            _ => changed.push(name),
        }
    }
    changed
}

/// Refuses what `--resume` cannot honour: another algorithm, env, seed, output folder, expert,
/// demonstrations or config values than the run was started with. The run's `total_steps` may
/// change (through `--steps` or the config file).
fn check_resume_flags(
    args: &TrainArgs,
    given: Given,
    dir: &Path,
    saved: &registry::SavedRun,
    config_file: Option<&toml::Table>,
) -> Result<()> {
    let shown = dir.display();
    let algo = saved.entry.algorithm.name;
    if args.algo != algo {
        bail!("{shown} holds a {algo} run, not {}", args.algo);
    }
    if given.env && args.env != saved.env {
        bail!(
            "{shown} is a run on {}, not {}; --resume keeps the run's env (drop --env)",
            saved.env,
            args.env
        );
    }
    if given.seed && args.seed != saved.seed {
        bail!(
            "{shown} was started with --seed {}, not {}; --resume keeps the run's seed (drop --seed)",
            saved.seed,
            args.seed
        );
    }
    let same_dir = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if given.out && !dir.parent().is_some_and(|p| same_dir(p, &args.out)) {
        bail!(
            "--out {} does not apply with --resume: the run stays in {shown}",
            args.out.display()
        );
    }
    if args.expert.is_some() {
        bail!("--expert does not apply with --resume");
    }
    if let Some(demos) = &args.demos {
        let Some(own) = &saved.demos else {
            bail!("{shown} was trained without demonstrations; --demos does not apply");
        };
        let given = std::fs::read(demos).with_context(|| format!("reading {}", demos.display()))?;
        let kept = std::fs::read(own).with_context(|| format!("reading {}", own.display()))?;
        if given != kept {
            bail!(
                "{} differs from the demonstrations {shown} trained on ({}); --resume keeps them",
                demos.display(),
                own.display()
            );
        }
    }
    if let (Some(path), Some(file)) = (&args.config, config_file) {
        let changed: Vec<String> = changed_keys(&saved.config, file, "")
            .into_iter()
            .filter(|k| k != "total_steps" && k != "token")
            .collect();
        if !changed.is_empty() {
            bail!(
                "{} changes {} of the run in {shown}; --resume keeps the run's config \
                 (only total_steps may change)",
                path.display(),
                changed.join(", ")
            );
        }
    }
    Ok(())
}

/// `--resume DIR`: the run as saved, with a new `total_steps` and flag overrides applied.
fn resumed(args: &TrainArgs, given: Given, dir: &Path) -> Result<Start> {
    let saved = registry::open_run(dir)?;
    let config_file = args
        .config
        .as_deref()
        .map(registry::read_config_file)
        .transpose()?;
    check_resume_flags(args, given, dir, &saved, config_file.as_ref())?;
    let algo = saved.entry.algorithm.name;
    if !saved.entry.algorithm.resumable {
        bail!("{algo} trains in one go; --resume does not apply");
    }
    let mut config = saved.config;
    let before = config.get("total_steps").cloned();
    // The config file was checked to change nothing but `total_steps`.
    if let Some(steps) = config_file.as_ref().and_then(|f| f.get("total_steps")) {
        config.insert("total_steps".into(), steps.clone());
    }
    overrides(args, saved.entry, &mut config)?;
    if let Some(s) = args.steps {
        registry::set_steps(&mut config, s)?;
    }
    if let (Some(old), Some(new)) = (before, config.get("total_steps"))
        && &old != new
    {
        tracing::info!("total_steps changes from {old} to {new} for this resume");
    }
    Ok(Start {
        run: saved.run,
        created_out: None,
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
    let created_out = Some(args.out.clone()).filter(|out| !out.exists());
    let run = RunDir::create(&args.out, algo, &args.env, args.seed)
        .with_context(|| format!("creating a run under {}", args.out.display()))?;
    let write_files = || -> Result<Option<PathBuf>> {
        run.write_config(&without_secrets(&config))?;
        // The run keeps its own copy of the demonstrations, so eval and resume need nothing else.
        let Some(src) = &args.demos else {
            return Ok(None);
        };
        let copy = run.path().join(DEMOS_FILE);
        let bytes = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
        eirl_runlog::atomic_write(&copy, &bytes)
            .with_context(|| format!("writing {}", copy.display()))?;
        Ok(Some(copy))
    };
    let demos = match write_files() {
        Ok(demos) => demos,
        Err(e) => {
            discard_new_run(&run, created_out.as_deref());
            return Err(e);
        }
    };
    Ok(Start {
        run,
        created_out,
        entry,
        env: args.env.clone(),
        seed: args.seed,
        config,
        demos,
        expert,
        resume: false,
    })
}

/// Removes a new run's directory, and `--out` when this call created it and it is empty again:
/// a start that fails leaves nothing behind.
fn discard_new_run(run: &RunDir, created_out: Option<&Path>) {
    if std::fs::remove_dir_all(run.path()).is_ok() {
        tracing::info!("removed {} (nothing was saved)", run.path().display());
    }
    if let Some(out) = created_out {
        let _ = std::fs::remove_dir(out); // fails, as it should, unless empty
    }
}

/// `eirl train`, knowing which flags were typed ([`Given`]).
pub fn run_with(args: TrainArgs, given: Given) -> Result<()> {
    eirl_envs::spec(&args.env)?;
    let mut s = match &args.resume {
        Some(dir) => resumed(&args, given, dir)?,
        None => created(&args)?,
    };
    let trained = registry::build(
        s.entry,
        &s.env,
        &s.config,
        s.seed,
        s.demos.as_deref(),
        s.expert.take(),
    )
    .and_then(|mut agent| {
        let report: RunReport = eirl_agent::train(agent.as_mut(), &s.run, s.resume)?;
        Ok((agent, report))
    });
    let (agent, report) = match trained {
        Ok(done) => done,
        // Some errors show only in the first steps (an address `eirl seed serve` cannot bind);
        // a new run that saved nothing is not kept.
        Err(e) if !s.resume && s.run.best_or_latest_checkpoint().is_none() => {
            discard_new_run(&s.run, s.created_out.as_deref());
            return Err(e);
        }
        Err(e) => return Err(e),
    };
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
