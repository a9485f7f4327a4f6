//! `runs/<algo>-<env>-<seed>-<timestamp>/`: one training run's folder and its small files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::atomic::{atomic_write, remove_orphaned_temp_files};
use crate::error::{Error, Result};

/// File names inside a run directory.
pub const CONFIG_FILE: &str = "config.toml";
pub const RUN_INFO_FILE: &str = "run.json";
pub const METRICS_FILE: &str = "metrics.csv";
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The checkpoint with the best evaluation so far, in `checkpoints/`.
pub const BEST_CHECKPOINT: &str = "best.safetensors";
/// The most recent checkpoint (what `--resume` continues from), in `checkpoints/`.
pub const LATEST_CHECKPOINT: &str = "latest.safetensors";
/// Seed of the evaluation environments of a run (env `i` gets `EVAL_SEED + i`), apart from
/// every training seed.
pub const EVAL_SEED: u64 = 1_000_000;
/// `eirl eval`'s default seed: its episodes start from states none of the run's own evaluations
/// (seeds `EVAL_SEED .. EVAL_SEED + 10⁶`, at most `eirl_envs::MAX_EVAL_EPISODES` episodes)
/// saw, so the checkpoint they picked as best is scored on held-out starts.
pub const HELD_OUT_EVAL_SEED: u64 = 2_000_000;

/// `run.json`: what produced the run, written once when it is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    pub algo: String,
    pub env: String,
    pub seed: u64,
    /// RFC 3339 local time of creation.
    pub created: String,
    /// Version of the eirl workspace that wrote the run.
    pub version: String,
}

/// A training run's directory. Cheap to clone; holds only its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates `root/<algo>-<env>-<seed>-<YYYYmmdd-HHMMSS>/` (with `-1`, `-2`, … appended if that
    /// exists), its `checkpoints/` folder and `run.json`.
    pub fn create(root: &Path, algo: &str, env_id: &str, seed: u64) -> io::Result<RunDir> {
        fs::create_dir_all(root)?;
        let now = chrono::Local::now();
        let base = format!(
            "{}-{}-{seed}-{}",
            path_safe(algo),
            path_safe(env_id),
            now.format("%Y%m%d-%H%M%S")
        );
        let mut n = 0u32;
        let path = loop {
            let name = if n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let path = root.join(name);
            match fs::create_dir(&path) {
                Ok(()) => break path,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 10_000 => n += 1,
                Err(e) => return Err(e),
            }
        };
        let run = RunDir { path };
        fs::create_dir_all(run.checkpoints_dir())?;
        let info = RunInfo {
            algo: algo.to_string(),
            env: env_id.to_string(),
            seed,
            created: now.to_rfc3339(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        run.write_run_info(&info).map_err(into_io)?;
        Ok(run)
    }

    /// The newest run under `root` that `algo` started on `env_id` with `seed` and that holds
    /// a latest checkpoint to resume from (by `run.json`'s creation time, then name), or `None`.
    /// Folders that are not runs, or whose `run.json` cannot be read, are skipped. For
    /// orchestrators that restart a learner: resume the newest run, else start one.
    pub fn find_latest(
        root: &Path,
        algo: &str,
        env_id: &str,
        seed: u64,
    ) -> io::Result<Option<RunDir>> {
        let entries = match fs::read_dir(root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut best: Option<(String, PathBuf)> = None;
        for entry in entries {
            let path = entry?.path();
            let run = RunDir { path: path.clone() };
            let Ok(info) = run.read_run_info() else {
                continue;
            };
            if info.algo != algo || info.env != env_id || info.seed != seed {
                continue;
            }
            if !run.checkpoints_dir().join(LATEST_CHECKPOINT).is_file() {
                continue;
            }
            let key = format!("{}\u{0}{}", info.created, path.display());
            if best.as_ref().is_none_or(|(k, _)| key > *k) {
                best = Some((key, path));
            }
        }
        Ok(best.map(|(_, path)| RunDir { path }))
    }

    /// Opens an existing run directory (to resume or evaluate it).
    pub fn open(path: &Path) -> io::Result<RunDir> {
        if !fs::metadata(path)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a run directory", path.display()),
            ));
        }
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the temp files a process killed mid-write left in the run directory and its
    /// `checkpoints/`; returns how many. For resuming: only while no other process writes the
    /// run (an `eirl eval` beside a live training run must not call it).
    pub fn remove_orphaned_temp_files(&self) -> Result<usize> {
        let mut removed = 0;
        for dir in [self.path.clone(), self.checkpoints_dir()] {
            match remove_orphaned_temp_files(&dir) {
                Ok(n) => removed += n,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(dir, e)),
            }
        }
        Ok(removed)
    }

    /// The best checkpoint if there is one, else the latest; `None` when neither exists.
    pub fn best_or_latest_checkpoint(&self) -> Option<PathBuf> {
        let dir = self.checkpoints_dir();
        [BEST_CHECKPOINT, LATEST_CHECKPOINT]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.exists())
    }

    /// `checkpoints/`, created by [`RunDir::create`].
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.path.join(CHECKPOINTS_DIR)
    }

    pub fn metrics_path(&self) -> PathBuf {
        self.path.join(METRICS_FILE)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }

    /// Writes `config.toml` atomically.
    pub fn write_config<T: Serialize>(&self, cfg: &T) -> Result<()> {
        let text = toml::to_string_pretty(cfg)?;
        let path = self.config_path();
        atomic_write(&path, text.as_bytes()).map_err(|e| Error::io(&path, e))
    }

    pub fn read_config<T: DeserializeOwned>(&self) -> Result<T> {
        let path = self.config_path();
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        toml::from_str(&text).map_err(|source| Error::TomlDe { path, source })
    }

    /// Writes `run.json` atomically.
    pub fn write_run_info(&self, info: &RunInfo) -> Result<()> {
        let path = self.path.join(RUN_INFO_FILE);
        let json = serde_json::to_vec_pretty(info).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        atomic_write(&path, &json).map_err(|e| Error::io(&path, e))
    }

    pub fn read_run_info(&self) -> Result<RunInfo> {
        let path = self.path.join(RUN_INFO_FILE);
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json { path, source })
    }
}

/// Env ids such as `ALE/Pong-v5` contain path separators; keep names one path component.
fn path_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn into_io(e: Error) -> io::Error {
    match e {
        Error::Io { source, .. } => source,
        other => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Cfg {
        lr: f64,
        batch_size: usize,
        name: String,
    }

    #[test]
    fn create_names_and_uniquifies() -> Result<()> {
        let root = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let a =
            RunDir::create(root.path(), "dqn", "ALE/Pong-v5", 7).map_err(|e| Error::io("a", e))?;
        let b =
            RunDir::create(root.path(), "dqn", "ALE/Pong-v5", 7).map_err(|e| Error::io("b", e))?;
        assert_ne!(a.path(), b.path());
        let name = a
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        assert!(name.starts_with("dqn-ALE_Pong-v5-7-"), "{name}");
        assert!(a.checkpoints_dir().is_dir());
        let info = a.read_run_info()?;
        assert_eq!(
            (info.algo.as_str(), info.env.as_str(), info.seed),
            ("dqn", "ALE/Pong-v5", 7)
        );
        Ok(())
    }

    #[test]
    fn config_round_trips_and_reopens() -> Result<()> {
        let root = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let run = RunDir::create(root.path(), "dqn", "CartPole-v1", 0)
            .map_err(|e| Error::io("create", e))?;
        let cfg = Cfg {
            lr: 2.5e-4,
            batch_size: 32,
            name: "nature".into(),
        };
        run.write_config(&cfg)?;
        let reopened = RunDir::open(run.path()).map_err(|e| Error::io("open", e))?;
        assert_eq!(reopened.read_config::<Cfg>()?, cfg);
        Ok(())
    }

    #[test]
    fn orphaned_temp_files_of_the_run_are_removed() -> Result<()> {
        let root = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let run = RunDir::create(root.path(), "dqn", "CartPole-v1", 0)
            .map_err(|e| Error::io("create", e))?;
        let orphans = [
            run.path().join(".eirl-tmp-Ab3dE9"),
            run.checkpoints_dir().join(".tmpXy12Zw"),
        ];
        for p in &orphans {
            fs::write(p, b"half").map_err(|e| Error::io(p, e))?;
        }
        assert_eq!(run.remove_orphaned_temp_files()?, 2);
        assert!(orphans.iter().all(|p| !p.exists()));
        assert!(run.path().join(RUN_INFO_FILE).is_file());
        Ok(())
    }

    #[test]
    fn find_latest_takes_the_newest_resumable_run_of_the_same_kind() -> Result<()> {
        let root = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let io = |e| Error::io("create", e);
        assert_eq!(
            RunDir::find_latest(&root.path().join("absent"), "seed", "CartPole-v1", 0)
                .map_err(io)?,
            None
        );
        let make =
            |algo: &str, env: &str, seed: u64, created: &str, ckpt: bool| -> Result<RunDir> {
                let run = RunDir::create(root.path(), algo, env, seed).map_err(io)?;
                let mut info = run.read_run_info()?;
                info.created = created.into();
                run.write_run_info(&info)?;
                if ckpt {
                    let p = run.checkpoints_dir().join(LATEST_CHECKPOINT);
                    fs::write(&p, b"x").map_err(|e| Error::io(&p, e))?;
                }
                Ok(run)
            };
        let old = make("seed", "CartPole-v1", 0, "2026-01-01T00:00:00+00:00", true)?;
        make("seed", "CartPole-v1", 0, "2026-03-01T00:00:00+00:00", false)?; // no checkpoint
        make("seed", "CartPole-v1", 1, "2026-04-01T00:00:00+00:00", true)?; // other seed
        make("seed", "Acrobot-v1", 0, "2026-05-01T00:00:00+00:00", true)?; // other env
        make("dqn", "CartPole-v1", 0, "2026-06-01T00:00:00+00:00", true)?; // other algo
        fs::create_dir(root.path().join("not-a-run")).map_err(io)?;
        let found = RunDir::find_latest(root.path(), "seed", "CartPole-v1", 0).map_err(io)?;
        assert_eq!(found.as_ref().map(RunDir::path), Some(old.path()));
        let new = make("seed", "CartPole-v1", 0, "2026-02-01T00:00:00+00:00", true)?;
        let found = RunDir::find_latest(root.path(), "seed", "CartPole-v1", 0).map_err(io)?;
        assert_eq!(found.as_ref().map(RunDir::path), Some(new.path()));
        Ok(())
    }

    #[test]
    fn open_missing_dir_fails() {
        assert!(RunDir::open(Path::new("/definitely/not/here")).is_err());
    }
}
