//! `eirl train <algo>`: resolve the config, build the agent (checking every input before a run
//! directory exists), then run eirl-agent's training loop.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use eirl_agent::{Input, RunReport, result_line};
use eirl_envs::Policy;
use eirl_imitation::Demonstrations;
use eirl_runlog::RunDir;

use crate::registry::{self, DEMOS_FILE, Entry};

/// `--env`'s default.
const DEFAULT_ENV: &str = "CartPole-v1";
/// `--out`'s default.
const DEFAULT_OUT: &str = "runs";

#[derive(Args)]
pub struct TrainArgs {
    /// Algorithm: one of those listed below (with what each needs and its presets).
    pub(crate) algo: String,
    /// Environment id (see `eirl envs`).
    #[arg(long, default_value = DEFAULT_ENV)]
    pub(crate) env: String,
    /// TOML file overriding the built-in preset for this algorithm and env.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Seed of the run: networks, exploration and training envs (evaluations use their own).
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Total steps (overrides the config's `total_steps`). Env steps for online agents, epochs
    /// for BC, rounds for DAgger; agents that step in whole rollouts (ACER, GAIL, SEED) end at
    /// the next whole rollout and say so.
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
    /// Expert demonstrations, for imitation algorithms (bc, gail; optional initial data for
    /// dagger): an `.npz` or a datasets folder from `eirl demo record`, or trajectories saved by
    /// the `imitation` library (an `imitation.data.serialize.save` folder, or its legacy `.npz`).
    /// Those hold no env id: they are taken to be of `--env`, after a check against its spaces,
    /// with a warning.
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
    /// SEED RL: where central inference and the learner run — cpu, cuda, cuda:N, auto (the GPU
    /// when the CUDA libraries load and a device answers, else the CPU), or host (the GPU's
    /// program on the CPU, slow: checks the device path without a GPU). Overrides the config's
    /// `device`.
    #[arg(long)]
    pub(crate) device: Option<String>,
    /// Set one config key: `--set learning_rate=1e-3`, `--set network.hidden=[128,128]`
    /// (repeatable; dotted keys reach into tables; the value is a TOML literal, else a string;
    /// applied after the preset and `--config`, before `--steps`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set_keys: Vec<String>,
    /// Config keys set by other commands (`eirl seed serve` sets `listen`).
    #[arg(skip)]
    pub(crate) set: Vec<(String, toml::Value)>,
}

/// `eirl train`'s help with the registry's algorithms: each with its one-line description,
/// what it needs (`--demos`, `--expert`) and its shipped presets.
pub fn with_algorithm_help(cli: clap::Command) -> clap::Command {
    let mut text = String::from("Algorithms:\n");
    for entry in registry::ALGORITHMS {
        let a = entry.algorithm;
        let input = |flag: &str, input: eirl_agent::Input| match input {
            eirl_agent::Input::Required => Some(format!("needs {flag}")),
            eirl_agent::Input::Optional => Some(format!("optional {flag}")),
            eirl_agent::Input::Unused => None,
        };
        let needs: Vec<String> = [input("--demos", a.demos), input("--expert", a.expert)]
            .into_iter()
            .flatten()
            .collect();
        let presets: Vec<&str> = entry.presets.iter().map(|(env, _)| *env).collect();
        text.push_str(&format!("  {:<7} {}", a.name, a.about));
        if !needs.is_empty() {
            text.push_str(&format!(" [{}]", needs.join(", ")));
        }
        text.push('\n');
        if !presets.is_empty() {
            text.push_str(&format!("          presets: {}\n", presets.join(", ")));
        }
    }
    text.push_str(
        "\nOther envs run on the algorithm's defaults (`eirl envs` lists the ids); a --config file \
         or --set overrides any key.",
    );
    // The names are listed, not enforced by clap: an unknown one gets the registry's one-line
    // error like every other bad input.
    cli.mut_subcommand("train", |train| train.after_help(text))
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

/// Config keys set from the command line (`--set`, then the flags with a config key). A key
/// the algorithm's config does not have is refused.
fn overrides(args: &TrainArgs, entry: &Entry, table: &mut toml::Table) -> Result<()> {
    overrides_only_set(args, entry, table)?;
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
    if let Some(device) = &args.device {
        if !defaults.contains_key("device") {
            bail!("--device does not apply to {}", entry.algorithm.name);
        }
        set.push(("device".into(), toml::Value::String(device.clone())));
    }
    for (key, value) in set {
        table.insert(key, value);
    }
    Ok(())
}

/// `--set KEY=VALUE` arguments as `(dotted key, value)`: the value is read as a TOML literal
/// (`1e-3`, `true`, `[64, 64]`, `"relu"`), else taken as a plain string (`relu`).
fn parse_set_keys(raw: &[String]) -> Result<Vec<(String, toml::Value)>> {
    raw.iter()
        .map(|arg| {
            let Some((key, value)) = arg.split_once('=') else {
                bail!("--set {arg}: expected KEY=VALUE, e.g. --set learning_rate=1e-3");
            };
            let key = key.trim();
            if key.is_empty() || key.split('.').any(str::is_empty) {
                bail!("--set {arg}: the key is empty or has an empty part");
            }
            Ok((key.to_string(), toml_literal(value.trim())))
        })
        .collect()
}

/// `text` as a TOML value (`v = <text>` parses), else the string itself.
fn toml_literal(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

/// Dotted names of every leaf of `table` (a table's own name counts too: a whole table may
/// be set at once).
fn dotted_keys(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in table {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if let toml::Value::Table(t) = v {
            dotted_keys(t, &name, out);
        }
        out.push(name);
    }
}

/// Sets the dotted `key` of `table` to `value`, refusing a key that neither the algorithm's
/// defaults nor the resolved config has (listing those that exist). An integer given for a
/// float key is taken as that float (`--set gamma=1`).
fn set_dotted(
    defaults: &toml::Table,
    table: &mut toml::Table,
    key: &str,
    value: toml::Value,
) -> Result<()> {
    let mut known = Vec::new();
    dotted_keys(defaults, "", &mut known);
    dotted_keys(table, "", &mut known);
    if !known.iter().any(|k| k == key) {
        known.sort();
        known.dedup();
        bail!(
            "unknown config key `{key}` (valid keys: {}; a table left unset by default, such as \
             an optional section, is set in a --config file)",
            known.join(", ")
        );
    }
    let parts: Vec<&str> = key.split('.').collect();
    let (last, parents) = parts.split_last().context("empty key")?;
    let mut here = table;
    for (i, part) in parents.iter().enumerate() {
        let entry = here
            .entry((*part).to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        here = match entry {
            toml::Value::Table(t) => t,
            _ => bail!("`{}` is not a table", parts[..=i].join(".")),
        };
    }
    let value = match (here.get(*last), value) {
        (Some(toml::Value::Float(_)), toml::Value::Integer(i)) => toml::Value::Float(i as f64),
        (_, v) => v,
    };
    here.insert((*last).to_string(), value);
    Ok(())
}

/// Only the `--set` keys of [`overrides`], applied to `table`.
fn overrides_only_set(args: &TrainArgs, entry: &Entry, table: &mut toml::Table) -> Result<()> {
    let defaults = (entry.algorithm.defaults)()?;
    for (key, value) in parse_set_keys(&args.set_keys)? {
        set_dotted(&defaults, table, &key, value)
            .with_context(|| format!("--set {key} ({})", entry.algorithm.name))?;
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
        // The run's copy is the file given, or its conversion to an .npz (a datasets folder, an
        // imitation file): the same bytes, or else the same trajectories.
        let same = match (std::fs::read(demos), std::fs::read(own)) {
            (Ok(given), Ok(kept)) if given == kept => true,
            _ => {
                let load = |p: &Path| {
                    Demonstrations::load(p).with_context(|| format!("reading {}", p.display()))
                };
                load(demos)?.same_trajectories(&load(own)?)
            }
        };
        if !same {
            bail!(
                "{} differs from the demonstrations {shown} trained on ({}); --resume keeps them",
                demos.display(),
                own.display()
            );
        }
    }
    if !args.set_keys.is_empty() {
        let mut after = saved.config.clone();
        overrides_only_set(args, saved.entry, &mut after)?;
        let changed: Vec<String> = changed_keys(&saved.config, &after, "")
            .into_iter()
            .filter(|k| k != "total_steps")
            .collect();
        if !changed.is_empty() {
            bail!(
                "--set changes {} of the run in {shown}; --resume keeps the run's config \
                 (only total_steps may change)",
                changed.join(", ")
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
    if let Some(s) = args.steps {
        registry::set_steps(&mut config, s)?; // --steps over --set total_steps, as on resume
    }
    match (entry.algorithm.demos, &args.demos) {
        (Input::Required, None) => {
            bail!(
                "{algo} needs --demos <file.npz or datasets folder> (record one with \
                 `eirl demo record`)"
            )
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
        let mut demos =
            Demonstrations::load(src).with_context(|| format!("reading {}", src.display()))?;
        if src.is_file() && !demos.env_id().is_empty() {
            // eirl's own .npz: copied as it is.
            let bytes = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
            eirl_runlog::atomic_write(&copy, &bytes)
                .with_context(|| format!("writing {}", copy.display()))?;
        } else {
            // A datasets folder, or a file without an env id (checked against --env when the
            // agent was built above): kept as an .npz that names the env.
            demos.assume_env_id(&args.env)?;
            demos
                .save(&copy)
                .with_context(|| format!("writing {}", copy.display()))?;
        }
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
        "done: {} steps in {:.1}s ({:.0} steps/s); evaluation {:.1}s of it; best eval mean {:.2}; run {}",
        report.steps,
        report.seconds,
        report.steps as f64 / report.seconds.max(1e-9),
        report.eval_seconds,
        report.best_eval_mean,
        s.run.path().display()
    );
    if let Some(eval) = &report.final_eval {
        println!("{}", result_line(eval, report.score_reference));
    }
    Ok(())
}

#[cfg(test)]
mod set_tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap_or_default()
    }

    #[test]
    fn set_values_are_toml_literals_else_strings() -> Result<()> {
        let raw: Vec<String> = [
            "learning_rate=1e-3",
            "network.hidden=[128, 128]",
            "act = relu",
        ]
        .map(String::from)
        .to_vec();
        let parsed = parse_set_keys(&raw)?;
        assert_eq!(
            parsed[0],
            ("learning_rate".into(), toml::Value::Float(1e-3))
        );
        assert_eq!(
            parsed[1].1,
            toml::Value::Array(vec![toml::Value::Integer(128), toml::Value::Integer(128)])
        );
        assert_eq!(
            parsed[2],
            ("act".into(), toml::Value::String("relu".into()))
        );
        for bad in ["gamma", "=1", "a..b=1"] {
            assert!(parse_set_keys(&[bad.to_string()]).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn set_reaches_into_tables_and_refuses_unknown_keys() -> Result<()> {
        let defaults = table("gamma = 0.99\nsteps = 3\n[network]\nhidden = [64]\n");
        let mut config = defaults.clone();
        set_dotted(
            &defaults,
            &mut config,
            "network.hidden",
            toml_literal("[8, 8]"),
        )?;
        set_dotted(&defaults, &mut config, "gamma", toml_literal("1"))?;
        assert_eq!(
            config,
            table("gamma = 1.0\nsteps = 3\n[network]\nhidden = [8, 8]\n")
        );
        let err = set_dotted(&defaults, &mut config, "gama", toml_literal("0.9"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("unknown config key `gama`")
                && err.contains("gamma, network, network.hidden, steps"),
            "{err}"
        );
        assert!(set_dotted(&defaults, &mut config, "network.width", toml_literal("3")).is_err());
        assert!(set_dotted(&defaults, &mut config, "gamma.x", toml_literal("3")).is_err());
        Ok(())
    }
}
