//! What an agent crate exports for the algorithm registry ([`Algorithm`]), what building an
//! agent gets ([`Build`]), and config tables: layering and the renamed keys.

use std::path::Path;

use eirl_envs::Policy;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::agent::{Agent, AgentError};
use crate::settings::ConfigError;

/// Whether an algorithm takes an input (demonstrations, an expert).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    Unused,
    Optional,
    Required,
}

/// One algorithm as the registry lists it: its name, default config, how to build it and what
/// it needs. Each agent crate exports one (or a few) as a `pub static`; the CLI's registry is a
/// table of them.
pub struct Algorithm {
    /// The name `eirl train <name>` takes and run directories start with.
    pub name: &'static str,
    /// One line for `--help` and error messages.
    pub about: &'static str,
    /// The config with every default, as a TOML table.
    pub defaults: fn() -> Result<toml::Table, AgentError>,
    /// Builds the agent from a resolved config.
    pub build: fn(Build<'_>) -> Result<Box<dyn Agent>, AgentError>,
    /// Expert demonstrations (`--demos`).
    pub demos: Input,
    /// An expert to query (`--expert`).
    pub expert: Input,
    /// Whether a run can continue from its latest checkpoint (`--resume`).
    pub resumable: bool,
}

/// Everything an agent is built from.
pub struct Build<'a> {
    pub env_id: &'a str,
    /// The resolved config (defaults ← preset ← user file ← command line).
    pub config: &'a toml::Table,
    pub seed: u64,
    /// Expert demonstrations (`.npz`), for algorithms that take them.
    pub demos: Option<&'a Path>,
    /// The expert, for algorithms that query one while training (DAgger). `None` when the agent
    /// is only evaluated or acts as an expert itself.
    pub expert: Option<Box<dyn Policy>>,
}

impl Build<'_> {
    /// The config deserialised as `C`; a key renamed in eirl's one-name-per-concept pass is
    /// refused with its new name.
    pub fn config<C: DeserializeOwned>(&self) -> Result<C, AgentError> {
        reject_renamed(self.config)?;
        self.config
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError(e.to_string().trim().to_string()).into())
    }

    /// The demonstrations path, or an error saying how to supply one.
    pub fn demos_path(&self, algo: &str) -> Result<&Path, AgentError> {
        self.demos.ok_or_else(|| {
            ConfigError(format!(
                "{algo} needs --demos <file.npz> (record one with `eirl demo record`)"
            ))
            .into()
        })
    }
}

/// `C::default()` as a TOML table: an [`Algorithm::defaults`].
pub fn defaults_of<C: Serialize + Default>() -> Result<toml::Table, AgentError> {
    toml::Table::try_from(C::default())
        .map_err(|e| ConfigError(format!("default config does not serialise: {e}")).into())
}

/// Config keys renamed so that one concept has one name across every crate and preset:
/// `(old, new)`. The discount is `gamma` everywhere; the entropy bonus weight is `ent_coef`
/// (Stable-Baselines3's name) in ACER, SEED, GAIL's TRPO step and BC.
pub const RENAMED_KEYS: &[(&str, &str)] = &[
    ("discount", "gamma"),
    ("entropy_cost", "ent_coef"),
    ("entropy_coeff", "ent_coef"),
    ("entropy_weight", "ent_coef"),
];

fn renamed(key: &str) -> Option<&'static str> {
    RENAMED_KEYS
        .iter()
        .find(|(old, _)| *old == key)
        .map(|(_, new)| *new)
}

fn dotted(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn find_renamed(table: &toml::Table, prefix: &str) -> Option<(String, String)> {
    for (k, v) in table {
        if let Some(new) = renamed(k) {
            return Some((dotted(prefix, k), dotted(prefix, new)));
        }
        if let toml::Value::Table(t) = v
            && let Some(found) = find_renamed(t, &dotted(prefix, k))
        {
            return Some(found);
        }
    }
    None
}

/// Refuses a config that uses an old key name, saying the new one.
pub fn reject_renamed(table: &toml::Table) -> Result<(), ConfigError> {
    match find_renamed(table, "") {
        Some((old, new)) => Err(ConfigError(format!(
            "`{old}` is now called `{new}` (one name per concept across eirl's configs); \
             rename it in your config"
        ))),
        None => Ok(()),
    }
}

/// Renames old keys in place (a run directory's saved config, written before the rename), and
/// returns `old → new` for each one renamed.
pub fn migrate_renamed(table: &mut toml::Table) -> Vec<String> {
    fn walk(table: &mut toml::Table, prefix: &str, done: &mut Vec<String>) {
        let old: Vec<String> = table
            .keys()
            .filter(|k| renamed(k).is_some())
            .cloned()
            .collect();
        for k in old {
            if let (Some(new), Some(v)) = (renamed(&k), table.remove(&k)) {
                done.push(format!("{} → {}", dotted(prefix, &k), dotted(prefix, new)));
                table.insert(new.to_string(), v);
            }
        }
        for (k, v) in table.iter_mut() {
            if let toml::Value::Table(t) = v {
                walk(t, &dotted(prefix, k), done);
            }
        }
    }
    let mut done = Vec::new();
    walk(table, "", &mut done);
    done
}

/// Overlays `over` onto `base`, recursing into sub-tables (config layering).
pub fn overlay(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => overlay(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap_or_default()
    }

    #[test]
    fn old_names_are_refused_with_the_new_one_and_migrated_in_saved_runs() {
        let t = table("gamma = 0.9\n[trpo]\nentropy_coeff = 0.1\n");
        let err = reject_renamed(&t).err().map(|e| e.0).unwrap_or_default();
        assert!(
            err.contains("`trpo.entropy_coeff` is now called `trpo.ent_coef`"),
            "{err}"
        );
        let mut saved = table("discount = 0.99\nentropy_cost = 0.01\n");
        let done = migrate_renamed(&mut saved);
        assert_eq!(done.len(), 2);
        assert!(reject_renamed(&saved).is_ok());
        assert_eq!(saved.get("gamma"), Some(&toml::Value::Float(0.99)));
        assert_eq!(saved.get("ent_coef"), Some(&toml::Value::Float(0.01)));
    }

    #[test]
    fn overlay_recurses_into_tables() {
        let mut base = table("a = 1\n[t]\nx = 1\ny = 2\n");
        overlay(&mut base, table("b = 2\n[t]\ny = 3\n"));
        assert_eq!(base, table("a = 1\nb = 2\n[t]\nx = 1\ny = 3\n"));
    }
}
