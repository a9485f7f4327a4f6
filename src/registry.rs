//! The algorithm registry: one row per algorithm (its crate's [`Algorithm`] entry and the
//! presets shipped for it), and what the commands need from it: config resolution, building
//! agents, reopening runs, resolving experts.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use eirl_agent::{Agent, Algorithm, Build, GreedyPolicy, migrate_renamed, overlay};
use eirl_envs::Policy;
use eirl_models::Checkpoint;
use eirl_runlog::RunDir;

/// One algorithm: its registry entry and its shipped presets `(env id, TOML text)`.
pub struct Entry {
    pub algorithm: &'static Algorithm,
    pub presets: &'static [(&'static str, &'static str)],
}

/// A preset compiled into the binary, so `eirl train` works from any directory.
macro_rules! preset {
    ($algo:literal, $env:literal) => {
        (
            $env,
            include_str!(concat!("../configs/", $algo, "/", $env, ".toml")),
        )
    };
}

/// Every algorithm `eirl train` knows. Adding one: its crate's `ALGORITHM`, its presets.
pub static ALGORITHMS: &[Entry] = &[
    Entry {
        algorithm: &eirl_dqn::ALGORITHM,
        presets: &[
            preset!("dqn", "CartPole-v1"),
            preset!("dqn", "Acrobot-v1"),
            preset!("dqn", "MountainCar-v0"),
            preset!("dqn", "Pendulum-v1-discrete25"),
            preset!("dqn", "MountainCarContinuous-v0-discrete25"),
        ],
    },
    Entry {
        algorithm: &eirl_svrl::ALGORITHM,
        presets: &[
            preset!("svrl", "CartPole-v1"),
            preset!("svrl", "Acrobot-v1"),
            preset!("svrl", "MountainCar-v0"),
            preset!("svrl", "Pendulum-v1-discrete25"),
            preset!("svrl", "MountainCarContinuous-v0-discrete25"),
        ],
    },
    Entry {
        algorithm: &eirl_acer::ALGORITHM,
        presets: &[
            preset!("acer", "Pendulum-v1"),
            preset!("acer", "Acrobot-v1"),
        ],
    },
    Entry {
        algorithm: &eirl_steve::ALGORITHM,
        presets: &[
            preset!("steve", "Pendulum-v1"),
            preset!("steve", "MountainCarContinuous-v0"),
        ],
    },
    Entry {
        algorithm: &eirl_bc::BC,
        presets: &[],
    },
    Entry {
        algorithm: &eirl_bc::DAGGER,
        presets: &[],
    },
    Entry {
        algorithm: &eirl_gail::ALGORITHM,
        presets: &[
            preset!("gail", "CartPole-v1"),
            preset!("gail", "Acrobot-v1"),
            preset!("gail", "MountainCar-v0"),
        ],
    },
    Entry {
        algorithm: &eirl_seed_rl::ALGORITHM,
        presets: &[],
    },
];

/// The entry of `name`, or an error listing the known ones.
pub fn find(name: &str) -> Result<&'static Entry> {
    ALGORITHMS
        .iter()
        .find(|e| e.algorithm.name == name)
        .with_context(|| {
            let names: Vec<&str> = ALGORITHMS.iter().map(|e| e.algorithm.name).collect();
            format!(
                "unknown algorithm `{name}` (available: {})",
                names.join(", ")
            )
        })
}

/// The config of a new run: defaults ← the shipped preset for `env_id` ← `user_file` ← `steps`.
pub fn resolve_config(
    entry: &Entry,
    env_id: &str,
    user_file: Option<&Path>,
    steps: Option<u64>,
) -> Result<toml::Table> {
    let algo = entry.algorithm.name;
    let mut table = (entry.algorithm.defaults)()?;
    // `gym:<id>` runs Gymnasium's own <id>, which eirl's envs match bit for bit: same preset.
    let preset_env = env_id.strip_prefix("gym:").unwrap_or(env_id);
    if let Some((_, text)) = entry.presets.iter().find(|(e, _)| *e == preset_env) {
        let t: toml::Table =
            toml::from_str(text).with_context(|| format!("built-in preset {algo}/{env_id}"))?;
        overlay(&mut table, t);
    }
    if let Some(path) = user_file {
        overlay(&mut table, read_config_file(path)?);
    }
    if let Some(s) = steps {
        set_steps(&mut table, s)?;
    }
    Ok(table)
}

/// A `--config` file as a TOML table; errors name the file.
pub fn read_config_file(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))
}

/// `--steps`: the run's `total_steps`.
pub fn set_steps(table: &mut toml::Table, steps: u64) -> Result<()> {
    if steps == 0 {
        bail!("--steps must be positive");
    }
    let steps = i64::try_from(steps)
        .map_err(|_| anyhow::anyhow!("--steps {steps} is too large (at most {})", i64::MAX))?;
    table.insert("total_steps".into(), toml::Value::Integer(steps));
    Ok(())
}

/// Builds `entry`'s agent.
pub fn build(
    entry: &Entry,
    env_id: &str,
    config: &toml::Table,
    seed: u64,
    demos: Option<&Path>,
    expert: Option<Box<dyn Policy>>,
) -> Result<Box<dyn Agent>> {
    Ok((entry.algorithm.build)(Build {
        env_id,
        config,
        seed,
        demos,
        expert,
    })?)
}

/// A run directory reopened: its algorithm, env, seed and config, as saved.
pub struct SavedRun {
    pub run: RunDir,
    pub entry: &'static Entry,
    pub env: String,
    pub seed: u64,
    pub config: toml::Table,
    /// The demonstrations the run trained on (its own copy), when it has them.
    pub demos: Option<PathBuf>,
}

/// The file name of a run's copy of its demonstrations.
pub const DEMOS_FILE: &str = "demos.npz";

/// Reopens a run directory. Configs saved before a key was renamed are migrated (with a warning);
/// the `demos` key of older runs is dropped (the run's own `demos.npz` is used).
pub fn open_run(dir: &Path) -> Result<SavedRun> {
    let run = RunDir::open(dir).with_context(|| format!("opening run {}", dir.display()))?;
    let info = run.read_run_info()?;
    let entry = find(&info.algo)?;
    let mut config: toml::Table = run.read_config()?;
    for renamed in migrate_renamed(&mut config) {
        tracing::warn!(
            "{}: config key renamed since the run was written: {renamed}",
            dir.display()
        );
    }
    config.remove("demos");
    let demos = Some(run.path().join(DEMOS_FILE)).filter(|p| p.is_file());
    Ok(SavedRun {
        run,
        entry,
        env: info.env,
        seed: info.seed,
        config,
        demos,
    })
}

/// The agent of a run directory, restored from its best (else latest) checkpoint, with the
/// checkpoint it came from.
pub fn load_run(dir: &Path) -> Result<(Box<dyn Agent>, Checkpoint, PathBuf)> {
    let saved = open_run(dir)?;
    let mut agent = build(
        saved.entry,
        &saved.env,
        &saved.config,
        saved.seed,
        saved.demos.as_deref(),
        None,
    )?;
    let path = saved
        .run
        .best_or_latest_checkpoint()
        .with_context(|| format!("no checkpoint in {}", saved.run.checkpoints_dir().display()))?;
    let ck = Checkpoint::load(&path)?;
    agent
        .restore(&ck)
        .with_context(|| format!("restoring {}", path.display()))?;
    Ok((agent, ck, path))
}

/// The expert named by `--expert`: a trained run's directory (its greedy policy), else a
/// scripted expert's name; with the env it acts on.
pub fn expert(spec: &str) -> Result<(Box<dyn Policy>, String)> {
    let path = Path::new(spec);
    if path.is_dir() {
        let (agent, _, _) = load_run(path)?;
        let env = agent.env_id().to_string();
        return Ok((Box::new(GreedyPolicy(agent)), env));
    }
    match eirl_imitation::scripted_expert(spec) {
        Some((policy, env)) => Ok((policy, env.to_string())),
        None => bail!(
            "`{spec}` is neither a run directory nor a scripted expert (available: {})",
            eirl_imitation::SCRIPTED_EXPERTS.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classic-control envs every algorithm has a preset for, or a reason in
    /// configs/README.md why not.
    const CLASSIC_CONTROL: &[&str] = &[
        "CartPole-v1",
        "Acrobot-v1",
        "MountainCar-v0",
        "MountainCarContinuous-v0",
        "Pendulum-v1",
    ];

    fn configs_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
    }

    #[test]
    fn every_preset_file_is_registered_and_every_preset_builds() -> Result<()> {
        for entry in ALGORITHMS {
            let algo = entry.algorithm.name;
            for (env, _) in entry.presets {
                let config = resolve_config(entry, env, None, None)?;
                // Imitation algorithms need demonstrations to build; their presets still parse.
                if entry.algorithm.demos != eirl_agent::Input::Required {
                    build(entry, env, &config, 0, None, None)
                        .with_context(|| format!("preset {algo}/{env}"))?;
                }
            }
            let dir = configs_dir().join(algo);
            let Ok(files) = std::fs::read_dir(&dir) else {
                continue;
            };
            for file in files {
                let path = file?.path();
                if path.extension().is_some_and(|e| e == "toml") {
                    let env = path.file_stem().map(|s| s.to_string_lossy().into_owned());
                    let env = env.unwrap_or_default();
                    assert!(
                        entry.presets.iter().any(|(e, _)| *e == env),
                        "{} is not compiled into the registry (src/registry.rs)",
                        path.display()
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn the_preset_table_covers_every_algorithm_and_classic_control_env() -> Result<()> {
        let readme = std::fs::read_to_string(configs_dir().join("README.md"))?;
        for entry in ALGORITHMS {
            let algo = entry.algorithm.name;
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| {algo} |")))
                .with_context(|| format!("configs/README.md has no row for {algo}"))?;
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            // "", algo, one cell per env, "".
            assert_eq!(cells.len(), CLASSIC_CONTROL.len() + 3, "{row}");
            for (env, cell) in CLASSIC_CONTROL.iter().zip(&cells[2..]) {
                assert!(!cell.is_empty(), "{algo} × {env}: no preset and no reason");
                let shipped = entry.presets.iter().any(|(e, _)| e == env);
                assert_eq!(
                    cell.contains("preset"),
                    shipped,
                    "{algo} × {env}: the table says `{cell}`, the registry {}",
                    if shipped { "has a preset" } else { "has none" }
                );
            }
        }
        Ok(())
    }
}
