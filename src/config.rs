//! Config resolution: built-in defaults, then the shipped preset `configs/<algo>/<env>.toml`,
//! then a user file, then command-line overrides. The resolved table is what the run saves.

use std::path::Path;

use anyhow::{Context, Result, bail};
use eirl_dqn::DqnConfig;

/// Presets compiled into the binary so `eirl train` works from any directory.
const PRESETS: &[(&str, &str, &str)] = &[
    (
        "dqn",
        "CartPole-v1",
        include_str!("../configs/dqn/CartPole-v1.toml"),
    ),
    (
        "dqn",
        "Acrobot-v1",
        include_str!("../configs/dqn/Acrobot-v1.toml"),
    ),
    (
        "acer",
        "Pendulum-v1",
        include_str!("../configs/acer/Pendulum-v1.toml"),
    ),
    (
        "acer",
        "Acrobot-v1",
        include_str!("../configs/acer/Acrobot-v1.toml"),
    ),
    (
        "gail",
        "Acrobot-v1",
        include_str!("../configs/gail/Acrobot-v1.toml"),
    ),
    (
        "gail",
        "MountainCar-v0",
        include_str!("../configs/gail/MountainCar-v0.toml"),
    ),
];

fn defaults(algo: &str) -> Result<toml::Table> {
    let table = match algo {
        "dqn" => toml::Table::try_from(DqnConfig::default())?,
        "acer" => toml::Table::try_from(eirl_acer::AcerConfig::default())?,
        "bc" => toml::Table::try_from(crate::bc::BcRunConfig::default())?,
        "dagger" => toml::Table::try_from(crate::dagger::DaggerRunConfig::default())?,
        "gail" => toml::Table::try_from(eirl_gail::GailConfig::default())?,
        "seed" => toml::Table::try_from(eirl_seed_rl::SeedConfig::default())?,
        other => bail!(
            "unknown algorithm `{other}` (available: {})",
            crate::agent::ALGOS.join(", ")
        ),
    };
    Ok(table)
}

/// Overlays `over` onto `base`, recursing into sub-tables.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// The preset shipped for `algo` on `env_id`, if any.
pub fn preset(algo: &str, env_id: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|(a, e, _)| *a == algo && *e == env_id)
        .map(|(_, _, text)| *text)
}

/// Defaults ← preset ← `--config` file ← `--steps`.
pub fn resolve(
    algo: &str,
    env_id: &str,
    user_file: Option<&Path>,
    steps: Option<u64>,
) -> Result<toml::Table> {
    let mut table = defaults(algo)?;
    if let Some(text) = preset(algo, env_id) {
        let t: toml::Table =
            toml::from_str(text).with_context(|| format!("built-in preset {algo}/{env_id}"))?;
        merge(&mut table, t);
    }
    if let Some(path) = user_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        let t: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?;
        merge(&mut table, t);
    }
    if let Some(s) = steps {
        if s == 0 {
            bail!("--steps must be positive");
        }
        table.insert(
            "total_steps".into(),
            toml::Value::Integer(i64::try_from(s)?),
        );
    }
    Ok(table)
}
