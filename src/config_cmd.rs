//! `eirl config import-zoo FILE ENV`: an rl-baselines3-zoo hyperparameter entry
//! (`hyperparams/<algo>.yml`, Raffin et al., "RL Baselines3 Zoo", 2020) as a commented eirl
//! preset, each line naming the zoo key it came from.
//!
//! Stable-Baselines3's names map onto eirl's one by one (DQN's config was written with SB3's
//! names); the TOML type of each value (integer or float) is the algorithm's default's. A key
//! eirl cannot honour (a learning-rate schedule, `normalize`, env wrappers, a CNN policy, …) is
//! refused, and nothing is written: a preset that silently drops a tuned setting would not be
//! the zoo's. Keys that do not change what is computed (`policy: MlpPolicy`,
//! `optimize_memory_usage`) are kept as comments.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use yaml_rust2::{Yaml, YamlLoader};

use crate::registry;

/// `eirl config …`.
#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Import an rl-baselines3-zoo hyperparams entry (e.g. hyperparams/dqn.yml) as an eirl
    /// preset TOML.
    ImportZoo(ImportZooArgs),
}

/// `eirl config import-zoo`.
#[derive(Args)]
pub struct ImportZooArgs {
    /// rl-baselines3-zoo hyperparameter file (`hyperparams/dqn.yml`).
    pub file: PathBuf,
    /// The entry to import: an environment id (`CartPole-v1`).
    pub env: String,
    /// The eirl algorithm the preset is for (dqn, or svrl whose top-level keys are DQN's).
    #[arg(long, default_value = "dqn")]
    pub algo: String,
    /// Where to write the preset (default `configs/<algo>/<ENV>.toml`); `-` prints it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite `--out` when it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs `eirl config …`.
pub fn run(cmd: ConfigCommand) -> Result<()> {
    match cmd {
        ConfigCommand::ImportZoo(args) => import_zoo_cmd(&args),
    }
}

fn import_zoo_cmd(args: &ImportZooArgs) -> Result<()> {
    let yaml = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let source = args.file.file_name().map_or_else(
        || args.file.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let text = import_zoo(&yaml, &args.env, &args.algo, &source)
        .with_context(|| format!("importing {} from {}", args.env, args.file.display()))?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("configs")
            .join(&args.algo)
            .join(format!("{}.toml", args.env))
    });
    if out == Path::new("-") {
        print!("{text}");
        return Ok(());
    }
    if out.exists() && !args.force {
        bail!(
            "{} exists; pass --force to overwrite it, or --out another path",
            out.display()
        );
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    eirl_runlog::atomic_write(&out, text.as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}

/// How one rl-zoo key is read.
enum ZooKey {
    /// The same value under an eirl key.
    To(&'static str),
    /// Kept as a comment: it changes nothing that eirl computes.
    Comment,
}

/// rl-zoo (Stable-Baselines3) DQN keys that eirl's DQN config honours. `policy` and
/// `policy_kwargs` are read apart.
const DQN_KEYS: &[(&str, ZooKey)] = &[
    ("n_timesteps", ZooKey::To("total_steps")),
    ("learning_rate", ZooKey::To("learning_rate")),
    ("buffer_size", ZooKey::To("buffer_size")),
    ("learning_starts", ZooKey::To("learning_starts")),
    ("batch_size", ZooKey::To("batch_size")),
    ("tau", ZooKey::To("tau")),
    ("gamma", ZooKey::To("gamma")),
    ("train_freq", ZooKey::To("train_freq")),
    ("gradient_steps", ZooKey::To("gradient_steps")),
    (
        "target_update_interval",
        ZooKey::To("target_update_interval"),
    ),
    ("exploration_fraction", ZooKey::To("exploration_fraction")),
    (
        "exploration_initial_eps",
        ZooKey::To("exploration_initial_eps"),
    ),
    ("exploration_final_eps", ZooKey::To("exploration_final_eps")),
    ("max_grad_norm", ZooKey::To("max_grad_norm")),
    ("n_envs", ZooKey::To("num_envs")),
    // A memory layout of SB3's replay buffer; the same transitions are sampled.
    ("optimize_memory_usage", ZooKey::Comment),
];

/// Algorithms whose top-level keys are DQN's.
const DQN_LIKE: &[&str] = &["dqn", "svrl"];

/// Evaluations per run in an imported preset (`eval_interval = total_steps / 20`, the cadence
/// of the shipped DQN presets), and episodes per evaluation.
const EVALS_PER_RUN: i64 = 20;
const EVAL_EPISODES: i64 = 20;

/// One line of the preset: `key = value  # comment`.
struct Line {
    key: String,
    value: toml::Value,
    comment: String,
    /// The value as the zoo wrote it (`2.3e-3`), when that is TOML for the same value.
    text: Option<String>,
}

/// The rl-zoo entry `env` of the YAML `text` as a commented preset for `algo`. `source` names
/// the file in the header.
pub fn import_zoo(text: &str, env: &str, algo: &str, source: &str) -> Result<String> {
    if !DQN_LIKE.contains(&algo) {
        bail!(
            "importing rl-zoo entries is supported for {} (rl-baselines3-zoo has no preset for \
             eirl's other algorithms); not {algo}",
            DQN_LIKE.join(", ")
        );
    }
    let entry = registry::find(algo)?;
    let defaults = (entry.algorithm.defaults)()?;
    let docs = YamlLoader::load_from_str(text).context("parsing YAML")?;
    let root = docs.first().context("the YAML file is empty")?;
    let Yaml::Hash(top) = root else {
        bail!("expected a mapping of env ids at the top of the file");
    };
    let Some(Yaml::Hash(hp)) = top.get(&Yaml::String(env.to_string())) else {
        let mut ids: Vec<&str> = top.keys().filter_map(Yaml::as_str).collect();
        ids.sort_unstable();
        bail!("no entry `{env}` (entries: {})", ids.join(", "));
    };

    let mut lines = Vec::new();
    let mut network = Vec::new();
    let mut comments = Vec::new();
    let mut refused = Vec::new();
    for (k, v) in hp {
        let Some(key) = k.as_str() else {
            refused.push(format!("{k:?} (not a string key)"));
            continue;
        };
        let shown = yaml_inline(v);
        if key == "policy" {
            if v.as_str() == Some("MlpPolicy") {
                comments.push(format!("rl-zoo policy: {shown} (an MLP, as eirl's)"));
            } else {
                refused.push(format!("policy: {shown} (eirl's DQN is an MLP)"));
            }
            continue;
        }
        if key == "policy_kwargs" {
            match v.as_str().map(policy_kwargs) {
                Some(Ok(parsed)) => network.extend(parsed),
                Some(Err(e)) => refused.push(format!("policy_kwargs: {shown} ({e})")),
                None => refused.push(format!("policy_kwargs: {shown} (expected \"dict(...)\")")),
            }
            continue;
        }
        match DQN_KEYS.iter().find(|(z, _)| *z == key).map(|(_, m)| m) {
            Some(ZooKey::To(ours)) => match zoo_value(key, v, defaults.get(*ours)) {
                Ok(value) => {
                    let text =
                        Some(shown.clone()).filter(|t| toml_literal(t).as_ref() == Some(&value));
                    lines.push(Line {
                        key: (*ours).to_string(),
                        comment: if *ours == key && text.is_some() {
                            "rl-zoo".to_string()
                        } else {
                            format!("rl-zoo {key} {shown}")
                        },
                        value,
                        text,
                    })
                }
                Err(e) => refused.push(format!("{key}: {shown} ({e})")),
            },
            Some(ZooKey::Comment) => comments.push(format!(
                "rl-zoo {key}: {shown} (no effect on what is computed)"
            )),
            None => refused.push(format!("{key}: {shown}")),
        }
    }
    if !refused.is_empty() {
        bail!(
            "rl-zoo keys eirl's {algo} does not support (nothing written): {}",
            refused.join("; ")
        );
    }

    let total = lines
        .iter()
        .find(|l| l.key == "total_steps")
        .and_then(|l| l.value.as_integer());
    if let Some(total) = total {
        lines.push(Line {
            key: "eval_interval".into(),
            value: toml::Value::Integer((total / EVALS_PER_RUN).max(1)),
            comment: "eirl: evaluation cadence (total_steps / 20)".into(),
            text: None,
        });
    }
    lines.push(Line {
        key: "eval_episodes".into(),
        value: toml::Value::Integer(EVAL_EPISODES),
        comment: "eirl: episodes per evaluation".into(),
        text: None,
    });

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {} on {env}: rl-baselines3-zoo's tuned entry (hyperparams/{source}, {env};\n\
         # Raffin et al., \"RL Baselines3 Zoo\", 2020), imported by `eirl config import-zoo`.\n\
         # Every number is the zoo's unless noted; every key not set here is eirl's {algo} default.",
        algo.to_uppercase(),
    );
    for c in &comments {
        let _ = writeln!(out, "# {c}");
    }
    write_lines(&mut out, &lines);
    if !network.is_empty() {
        out.push_str("\n[network]\n");
        write_lines(&mut out, &network);
    }
    // The output must be a config the algorithm accepts.
    let parsed: toml::Table = toml::from_str(&out).context("the imported preset does not parse")?;
    let mut resolved = defaults;
    eirl_agent::overlay(&mut resolved, parsed);
    registry::build(entry, env, &resolved, 0, None, None)
        .with_context(|| format!("eirl's {algo} refuses the imported preset on {env}"))?;
    Ok(out)
}

/// `key = value` lines with the comments aligned at column 32, as in the shipped presets.
fn write_lines(out: &mut String, lines: &[Line]) {
    for l in lines {
        let value = l.text.clone().unwrap_or_else(|| l.value.to_string());
        let assignment = format!("{} = {value}", l.key);
        let _ = writeln!(out, "{assignment:<30} # {}", l.comment);
    }
}

/// `text` as a TOML value, when it is one.
fn toml_literal(text: &str) -> Option<toml::Value> {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
}

/// A zoo value as the TOML type of eirl's default for that key: `5e4` for an integer key is
/// `50000`, `1` for a float key is `1.0`. `train_freq: [4, "step"]` is `4`.
fn zoo_value(key: &str, v: &Yaml, default: Option<&toml::Value>) -> Result<toml::Value> {
    let v = match (key, v) {
        ("train_freq", Yaml::Array(a)) => match (a.first(), a.get(1).and_then(Yaml::as_str)) {
            (Some(n), Some("step")) => n,
            _ => bail!("eirl trains every N env steps; [N, \"episode\"] is not supported"),
        },
        (_, Yaml::String(s)) => bail!("`{s}` is not a number (schedules are not supported)"),
        (_, v) => v,
    };
    let number = match v {
        Yaml::Integer(i) => *i as f64,
        Yaml::Real(_) => v.as_f64().context("not a number")?,
        Yaml::Null if key == "max_grad_norm" => bail!("no clipping is not supported here"),
        _ => bail!("not a number"),
    };
    match default {
        Some(toml::Value::Integer(_)) => {
            if number.fract() != 0.0 || !number.is_finite() || number.abs() > 9.0e15 {
                bail!("{number} is not a whole number");
            }
            Ok(toml::Value::Integer(number as i64))
        }
        Some(toml::Value::Float(_)) => Ok(toml::Value::Float(number)),
        _ => bail!("eirl's config has no number at this key"),
    }
}

/// `policy_kwargs: "dict(net_arch=[256, 256], activation_fn=nn.ReLU)"` as `[network]` lines.
fn policy_kwargs(text: &str) -> Result<Vec<Line>> {
    let inner = text
        .trim()
        .strip_prefix("dict(")
        .and_then(|s| s.strip_suffix(')'))
        .context("expected dict(...)")?;
    let mut lines = Vec::new();
    let mut has_activation = false;
    for (name, value) in split_kwargs(inner)? {
        match name.as_str() {
            "net_arch" => {
                let list = value
                    .strip_prefix('[')
                    .and_then(|s| s.strip_suffix(']'))
                    .context("net_arch must be a list of layer sizes (no pi/qf dict)")?;
                let sizes = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse::<i64>()
                            .with_context(|| format!("layer size `{s}`"))
                    })
                    .collect::<Result<Vec<_>>>()?;
                lines.push(Line {
                    key: "hidden".into(),
                    value: toml::Value::Array(
                        sizes.into_iter().map(toml::Value::Integer).collect(),
                    ),
                    comment: format!("rl-zoo policy_kwargs net_arch={value}"),
                    text: None,
                });
            }
            "activation_fn" => {
                let ours = match value.as_str() {
                    "nn.ReLU" | "th.nn.ReLU" | "torch.nn.ReLU" => "relu",
                    "nn.Tanh" | "th.nn.Tanh" | "torch.nn.Tanh" => "tanh",
                    other => bail!("activation_fn={other} (eirl has relu and tanh)"),
                };
                has_activation = true;
                lines.push(Line {
                    key: "activation".into(),
                    value: toml::Value::String(ours.into()),
                    comment: format!("rl-zoo policy_kwargs activation_fn={value}"),
                    text: None,
                });
            }
            other => bail!("policy_kwargs {other}= is not supported"),
        }
    }
    if !has_activation {
        lines.push(Line {
            key: "activation".into(),
            value: toml::Value::String("relu".into()),
            comment: "SB3 default".into(),
            text: None,
        });
    }
    lines.push(Line {
        key: "dueling".into(),
        value: toml::Value::Boolean(false),
        comment: "SB3's DQN has no dueling head".into(),
        text: None,
    });
    Ok(lines)
}

/// `a=[1, 2], b=x` as `[("a", "[1, 2]"), ("b", "x")]`: commas inside brackets do not split.
fn split_kwargs(text: &str) -> Result<Vec<(String, String)>> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '[' | '(' | '{' => depth += 1,
            ']' | ')' | '}' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .with_context(|| format!("`{p}` is not name=value"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// A YAML value on one line, as the zoo file writes it (`5e4`, `[4, step]`).
fn yaml_inline(v: &Yaml) -> String {
    match v {
        Yaml::Real(s) | Yaml::String(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => "null".into(),
        Yaml::Array(a) => format!(
            "[{}]",
            a.iter().map(yaml_inline).collect::<Vec<_>>().join(", ")
        ),
        Yaml::Hash(h) => format!(
            "{{{}}}",
            h.iter()
                .map(|(k, v)| format!("{}: {}", yaml_inline(k), yaml_inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Yaml::Alias(_) | Yaml::BadValue => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rl-baselines3-zoo's hyperparams/dqn.yml (CartPole-v1, MountainCar-v0, Acrobot-v1 and
    /// the atari entry), copied verbatim at commit 22e3ff2.
    const ZOO_DQN: &str = include_str!("../tests/data/rl-zoo-dqn.yml");

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap_or_default()
    }

    #[test]
    fn cartpole_import_matches_the_shipped_preset() -> Result<()> {
        let imported = table(&import_zoo(ZOO_DQN, "CartPole-v1", "dqn", "dqn.yml")?);
        let mut shipped = table(include_str!("../configs/dqn/CartPole-v1.toml"));
        // An eirl choice about checkpoints, not a zoo number.
        shipped.remove("exact_resume");
        assert_eq!(imported, shipped);
        let acrobot = table(&import_zoo(ZOO_DQN, "Acrobot-v1", "dqn", "dqn.yml")?);
        assert_eq!(
            acrobot,
            table(include_str!("../configs/dqn/Acrobot-v1.toml"))
        );
        Ok(())
    }

    #[test]
    fn unsupported_keys_are_refused_with_their_names() {
        let err = import_zoo(ZOO_DQN, "atari", "dqn", "dqn.yml")
            .map_err(|e| format!("{e:#}"))
            .err()
            .unwrap_or_default();
        assert!(err.contains("env_wrapper"), "{err}");
        assert!(err.contains("frame_stack"), "{err}");
        assert!(err.contains("policy: CnnPolicy"), "{err}");
        let schedule = "Foo-v0:\n  learning_rate: lin_1e-3\n  normalize: true\n";
        let err = import_zoo(schedule, "Foo-v0", "dqn", "x.yml")
            .map_err(|e| format!("{e:#}"))
            .err()
            .unwrap_or_default();
        assert!(err.contains("learning_rate: lin_1e-3"), "{err}");
        assert!(err.contains("normalize: true"), "{err}");
        let missing = import_zoo(ZOO_DQN, "Nope-v0", "dqn", "x.yml")
            .map_err(|e| format!("{e:#}"))
            .err()
            .unwrap_or_default();
        assert!(
            missing.contains("entries: Acrobot-v1, CartPole-v1"),
            "{missing}"
        );
        assert!(import_zoo(ZOO_DQN, "CartPole-v1", "acer", "x.yml").is_err());
    }

    #[test]
    fn values_take_the_type_of_eirls_key() -> Result<()> {
        let yaml = "E:\n  n_timesteps: !!float 1.2e5\n  gamma: 1\n  train_freq: [4, \"step\"]\n";
        let mut defaults = toml::Table::new();
        defaults.insert("total_steps".into(), toml::Value::Integer(1));
        defaults.insert("gamma".into(), toml::Value::Float(0.5));
        let docs = YamlLoader::load_from_str(yaml)?;
        let e = &docs[0]["E"];
        assert_eq!(
            zoo_value(
                "n_timesteps",
                &e["n_timesteps"],
                defaults.get("total_steps")
            )?,
            toml::Value::Integer(120_000)
        );
        assert_eq!(
            zoo_value("gamma", &e["gamma"], defaults.get("gamma"))?,
            toml::Value::Float(1.0)
        );
        assert_eq!(
            zoo_value("train_freq", &e["train_freq"], defaults.get("total_steps"))?,
            toml::Value::Integer(4)
        );
        let half = YamlLoader::load_from_str("x: 1.5")?;
        assert!(zoo_value("n", &half[0]["x"], defaults.get("total_steps")).is_err());
        Ok(())
    }
}
