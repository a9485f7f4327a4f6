//! [`Demonstrations`]: expert trajectories in memory and on disk.
//!
//! # Formats
//!
//! | on disk | written by | eirl reads | eirl writes |
//! |---|---|---|---|
//! | eirl `.npz` (below) | [`Demonstrations::save`], `eirl demo record --out x.npz` | yes | yes |
//! | `imitation`'s legacy `.npz` (`imitation.data.types.save` before 1.0) | the `imitation` library < 1.0 | yes (`infos` skipped, never unpickled) | as eirl `.npz`, which `imitation`'s loader reads |
//! | HuggingFace `datasets` folder (`imitation.data.serialize.save`, imitation ≥ 1.0) | the `imitation` library, [`Demonstrations::save_dataset`], `eirl demo record --out DIR` | yes | yes |
//! | a pickle (`imitation` before the `.npz` format) | — | refused with a reason (never unpickled) | no |
//!
//! [`Demonstrations::load`] reads a folder as a `datasets` folder and a file as an `.npz`;
//! [`DemoFormat::for_path`] picks what [`Demonstrations::save_as`] writes: a path ending in
//! `.npz` gets an `.npz`, any other a `datasets` folder (layout, checks and atomic replacement:
//! the crate docs; behind the on-by-default `hf-datasets` cargo feature).
//!
//! Files written by the `imitation` library carry no env id ([`Demonstrations::env_id`] is
//! `""`): [`Demonstrations::load_for`] (what `--demos` goes through) then takes the caller's
//! env (`--env`) after checking the observation width and the actions against its spaces, and
//! logs a warning; [`Demonstrations::assume_env_id`] does the same without the warning.
//!
//! # The `.npz` layout (readable by `numpy.load` without pickle)
//!
//! The flat layout of the `imitation` library's legacy trajectory files
//! (HumanCompatibleAI/imitation, `imitation.data.types.save` before v1.0), plus eirl's
//! metadata. With `E` episodes, `N` actions in all and episode `e` holding `T_e ≥ 1` actions:
//!
//! | array | dtype | shape | meaning |
//! |---|---|---|---|
//! | `obs` | `float32` | `[N + E, obs_dim]` | observations; each episode has one more than actions (its final observation) |
//! | `acts` | `int64` / `float32` | `[N]` / `[N, act_dim]` | discrete indices / continuous actions |
//! | `rews` | `float32` | `[N]` | rewards |
//! | `terminal` | `bool` | `[E]` | the episode ended in a terminal state (`false`: truncated by a time limit or cut short) |
//! | `indices` | `int64` | `[E − 1]` | split points into `acts`/`rews`: `cumsum(T_e)` without the last |
//! | `infos` | `bool` | `[N]` | all `false`: a placeholder so `imitation`'s loader (which `np.split`s `infos`) accepts the file |
//! | `eirl_format` | `int64` | `[]` | format version, `1` |
//! | `env_id` | `uint8` | `[len]` | the environment id, UTF-8 (`bytes(a).decode()`) |
//! | `expert_mean_return` | `float64` | `[]` | mean return of the expert that produced the data (absent if unknown) |
//! | `random_mean_return` | `float64` | `[]` | mean return of a uniformly random policy (absent if unknown) |
//!
//! Episode `e`'s observations are `obs[indices[e] + e : indices[e+1] + e + 1]` (with
//! `indices[-1] = 0`, `indices[E-1] = N`), exactly as `imitation` splits them
//! (`np.split(obs, indices + np.arange(E) + 1)`). Files written by `imitation` load too
//! (`savez_compressed`'s deflated members; float64 observations and rewards, int32/int64 actions
//! are converted; the object-dtype, pickled `infos` member is skipped unread); the eirl metadata
//! is then absent. A file without `rews` (trajectories without rewards) is refused.
//!
//! Writes are atomic (temp file + rename). Loading checks every length against the others and
//! against the bytes present before allocating, so a truncated or hostile file is an
//! [`ImitationError::Format`], never a panic or a huge allocation.

use std::path::Path;

use eirl_envs::{ActionKind, Actions, Space};

use crate::error::ImitationError;
use crate::npy::{LoadLimits, NpyArray, read_npz, write_npz};

/// One episode: `T` actions and rewards, `T + 1` observations.
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    /// `[(T + 1) * obs_dim]`: `s_0 … s_T`, the last being the observation the episode ended in.
    pub obs: Vec<f32>,
    /// `a_0 … a_{T−1}`.
    pub actions: Actions,
    /// `r_0 … r_{T−1}` (`r_t` for the transition `s_t → s_{t+1}`).
    pub rewards: Vec<f32>,
    /// The last transition reached a terminal state; `false` when a time limit (or the recorder)
    /// cut the episode short.
    pub terminated: bool,
}

impl Episode {
    /// The undiscounted return `Σ_t r_t`, accumulated in f64.
    pub fn episode_return(&self) -> f64 {
        self.rewards.iter().map(|&r| f64::from(r)).sum()
    }
}

/// Expert trajectories for imitation learning, stored flat (see the module docs for the layout).
#[derive(Clone, Debug, PartialEq)]
pub struct Demonstrations {
    env_id: String,
    obs_dim: usize,
    obs: Vec<f32>,
    actions: Actions,
    rewards: Vec<f32>,
    /// Cumulative action counts: episode `e` holds actions `ends[e−1]..ends[e]`.
    ends: Vec<usize>,
    terminated: Vec<bool>,
    expert_mean_return: Option<f64>,
    random_mean_return: Option<f64>,
}

/// Names of the arrays this crate reads.
const ARRAYS: [&str; 9] = [
    "obs",
    "acts",
    "rews",
    "terminal",
    "indices",
    "eirl_format",
    "env_id",
    "expert_mean_return",
    "random_mean_return",
];
pub(crate) const FORMAT_VERSION: i64 = 1;
/// Largest discrete action index a file may hold.
pub(crate) const MAX_DISCRETE_ACTION: i64 = 1 << 20;

/// The on-disk formats of [`Demonstrations`] (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoFormat {
    /// A single `.npz` file: eirl's layout, a superset of the `imitation` library's legacy one.
    Npz,
    /// A HuggingFace `datasets` folder: the `imitation` library's current format
    /// (`imitation.data.serialize.save`), plus eirl's `eirl.json`.
    HfDataset,
}

impl DemoFormat {
    /// The format a path is written in: `.npz` (any case) → [`DemoFormat::Npz`], anything else
    /// → a [`DemoFormat::HfDataset`] folder.
    pub fn for_path(path: &Path) -> DemoFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("npz") => DemoFormat::Npz,
            _ => DemoFormat::HfDataset,
        }
    }
}

impl Demonstrations {
    /// An empty dataset for `env_id` (may be empty when unknown).
    pub fn new(env_id: impl Into<String>, obs_dim: usize, kind: ActionKind) -> Self {
        Demonstrations {
            env_id: env_id.into(),
            obs_dim,
            obs: Vec::new(),
            actions: Actions::empty(kind),
            rewards: Vec::new(),
            ends: Vec::new(),
            terminated: Vec::new(),
            expert_mean_return: None,
            random_mean_return: None,
        }
    }

    /// Appends one episode after checking its lengths, action kind and finiteness.
    pub fn push_episode(&mut self, ep: &Episode) -> Result<(), ImitationError> {
        let t = ep.actions.len();
        if t == 0 {
            return Err(ImitationError::Invalid(
                "an episode needs at least one action".into(),
            ));
        }
        if ep.obs.len() != (t + 1) * self.obs_dim {
            return Err(ImitationError::Invalid(format!(
                "episode with {t} actions needs {} observation values ({} x {}), got {}",
                (t + 1) * self.obs_dim,
                t + 1,
                self.obs_dim,
                ep.obs.len()
            )));
        }
        if ep.rewards.len() != t {
            return Err(ImitationError::Invalid(format!(
                "episode with {t} actions has {} rewards",
                ep.rewards.len()
            )));
        }
        if let Actions::Continuous { values, dim } = &ep.actions {
            if *dim == 0 || values.len() % dim != 0 {
                return Err(ImitationError::Invalid(format!(
                    "{} continuous action values do not split into rows of {dim}",
                    values.len()
                )));
            }
            if values.iter().any(|v| !v.is_finite()) {
                return Err(ImitationError::Invalid("non-finite action".into()));
            }
        }
        if ep.obs.iter().chain(&ep.rewards).any(|v| !v.is_finite()) {
            return Err(ImitationError::Invalid(
                "non-finite observation or reward".into(),
            ));
        }
        let mut actions = self.actions.clone();
        actions.extend(&ep.actions)?;
        self.actions = actions;
        self.obs.extend_from_slice(&ep.obs);
        self.rewards.extend_from_slice(&ep.rewards);
        self.ends.push(self.rewards.len());
        self.terminated.push(ep.terminated);
        Ok(())
    }

    /// The environment id ("" when the file did not say).
    pub fn env_id(&self) -> &str {
        &self.env_id
    }

    /// Width of one observation.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Discrete or continuous (with its width).
    pub fn action_kind(&self) -> ActionKind {
        self.actions.kind()
    }

    /// Number of episodes.
    pub fn num_episodes(&self) -> usize {
        self.ends.len()
    }

    /// Number of (state, action) pairs over all episodes.
    pub fn num_transitions(&self) -> usize {
        self.rewards.len()
    }

    /// Episode `e`, copied out.
    pub fn episode(&self, e: usize) -> Option<Episode> {
        let end = *self.ends.get(e)?;
        let start = if e == 0 { 0 } else { self.ends[e - 1] };
        let d = self.obs_dim;
        Some(Episode {
            obs: self.obs[(start + e) * d..(end + e + 1) * d].to_vec(),
            actions: self.actions.slice(start..end),
            rewards: self.rewards[start..end].to_vec(),
            terminated: self.terminated[e],
        })
    }

    /// Each episode's undiscounted return.
    pub fn returns(&self) -> Vec<f64> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let r = self.rewards[start..end].iter().map(|&r| f64::from(r)).sum();
                start = end;
                r
            })
            .collect()
    }

    /// Mean episode return of the stored data (`None` when empty).
    pub fn mean_return(&self) -> Option<f64> {
        let r = self.returns();
        (!r.is_empty()).then(|| r.iter().sum::<f64>() / r.len() as f64)
    }

    /// The (state, action) pairs for supervised learning: `[N, obs_dim]` observations (each
    /// episode's final observation left out) and the `N` actions taken in them.
    pub fn state_action_pairs(&self) -> (Vec<f32>, Actions) {
        let d = self.obs_dim;
        let mut obs = Vec::with_capacity(self.num_transitions() * d);
        let mut start = 0;
        for (e, &end) in self.ends.iter().enumerate() {
            obs.extend_from_slice(&self.obs[(start + e) * d..(end + e) * d]);
            start = end;
        }
        (obs, self.actions.clone())
    }

    /// The first `k` episodes (all of them when `k` exceeds the count), metadata kept.
    pub fn first_episodes(&self, k: usize) -> Demonstrations {
        let k = k.min(self.num_episodes());
        let n = if k == 0 { 0 } else { self.ends[k - 1] };
        Demonstrations {
            env_id: self.env_id.clone(),
            obs_dim: self.obs_dim,
            obs: self.obs[..(n + k) * self.obs_dim].to_vec(),
            actions: self.actions.slice(0..n),
            rewards: self.rewards[..n].to_vec(),
            ends: self.ends[..k].to_vec(),
            terminated: self.terminated[..k].to_vec(),
            expert_mean_return: self.expert_mean_return,
            random_mean_return: self.random_mean_return,
        }
    }

    /// Mean return of the expert that produced the data, when known.
    pub fn expert_mean_return(&self) -> Option<f64> {
        self.expert_mean_return
    }

    /// Records the expert's mean return.
    pub fn set_expert_mean_return(&mut self, r: Option<f64>) {
        self.expert_mean_return = r;
    }

    /// Mean return of a uniformly random policy on the same env, when known.
    pub fn random_mean_return(&self) -> Option<f64> {
        self.random_mean_return
    }

    /// Records the random policy's mean return.
    pub fn set_random_mean_return(&mut self, r: Option<f64>) {
        self.random_mean_return = r;
    }

    /// The `.npz` archive as bytes (layout in the module docs).
    pub fn to_npz_bytes(&self) -> Result<Vec<u8>, ImitationError> {
        let n = self.num_transitions();
        let e = self.num_episodes();
        let acts = match &self.actions {
            Actions::Discrete(a) => {
                let v: Vec<i64> = a.iter().map(|&x| x as i64).collect();
                NpyArray::from_i64(vec![n], &v)
            }
            Actions::Continuous { values, dim } => NpyArray::from_f32(vec![n, *dim], values),
        };
        let indices: Vec<i64> = self.ends[..e.saturating_sub(1)]
            .iter()
            .map(|&i| i as i64)
            .collect();
        let mut arrays = vec![
            (
                "obs",
                NpyArray::from_f32(vec![n + e, self.obs_dim], &self.obs),
            ),
            ("acts", acts),
            ("rews", NpyArray::from_f32(vec![n], &self.rewards)),
            ("terminal", NpyArray::from_bool(&self.terminated)),
            ("indices", NpyArray::from_i64(vec![indices.len()], &indices)),
            ("infos", NpyArray::from_bool(&vec![false; n])),
            ("eirl_format", NpyArray::from_i64(vec![], &[FORMAT_VERSION])),
            ("env_id", NpyArray::from_u8(self.env_id.as_bytes())),
        ];
        if let Some(r) = self.expert_mean_return {
            arrays.push(("expert_mean_return", NpyArray::from_f64(vec![], &[r])));
        }
        if let Some(r) = self.random_mean_return {
            arrays.push(("random_mean_return", NpyArray::from_f64(vec![], &[r])));
        }
        write_npz(&arrays).map_err(|source| ImitationError::Io {
            path: "<memory>".into(),
            source,
        })
    }

    /// Writes the `.npz` atomically (temp file in the same directory, then rename), whatever
    /// `path`'s extension ([`Demonstrations::save_as`] picks the format by path).
    pub fn save(&self, path: &Path) -> Result<(), ImitationError> {
        let bytes = self.to_npz_bytes()?;
        eirl_runlog::atomic_write(path, &bytes).map_err(|source| ImitationError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes a HuggingFace `datasets` folder, the `imitation` library's current format (layout
    /// in the module docs), atomically: the folder is written beside `dir` and renamed into
    /// place. An existing datasets folder at `dir` is replaced; any other existing path is
    /// refused. Needs at least one episode.
    pub fn save_dataset(&self, dir: &Path) -> Result<(), ImitationError> {
        #[cfg(feature = "hf-datasets")]
        return crate::hf::save_dir(self, dir);
        #[cfg(not(feature = "hf-datasets"))]
        return Err(no_datasets_feature(dir));
    }

    /// Writes in `format` ([`DemoFormat::for_path`] picks it from a path).
    pub fn save_as(&self, path: &Path, format: DemoFormat) -> Result<(), ImitationError> {
        match format {
            DemoFormat::Npz => self.save(path),
            DemoFormat::HfDataset => self.save_dataset(path),
        }
    }

    /// Loads an `.npz` written by [`Demonstrations::save`] or by the `imitation` library
    /// (legacy), or a `datasets` folder (the `imitation` library's current format, or
    /// [`Demonstrations::save_dataset`]'s), with the default [`LoadLimits`]. A folder is read
    /// as a datasets folder, a file as an `.npz`.
    pub fn load(path: &Path) -> Result<Self, ImitationError> {
        Self::load_with_limits(path, &LoadLimits::default())
    }

    /// [`Demonstrations::load`], then a check that the data was recorded on `env_id`.
    ///
    /// A file without an env id (every file the `imitation` library writes) is accepted when
    /// its observation width and actions fit `env_id`'s spaces (an error says what does not),
    /// with a warning that `env_id` is assumed; the returned data then carries `env_id`.
    pub fn load_for(path: &Path, env_id: &str) -> Result<Self, ImitationError> {
        let mut demos = Self::load(path)?;
        if demos.env_id.is_empty() {
            if env_id.is_empty() {
                return Err(ImitationError::Invalid(format!(
                    "{} has no env id (a file from the imitation library?): pass --env <id> to \
                     say which env it was recorded on",
                    path.display()
                )));
            }
            demos.assume_env_id(env_id).map_err(|e| {
                let e = match e {
                    ImitationError::Invalid(reason) => reason,
                    other => other.to_string(),
                };
                ImitationError::Invalid(format!(
                    "{} has no env id (a file from the imitation library?), and its data does \
                     not fit {env_id} (--env): {e}; pass the --env it was recorded on",
                    path.display()
                ))
            })?;
            tracing::warn!(
                "{} has no env id (a file from the imitation library?): assuming {env_id} \
                 (--env), whose observation width and actions it fits",
                path.display()
            );
        } else if demos.env_id != env_id {
            return Err(ImitationError::Invalid(format!(
                "{} holds {} demonstrations, not {env_id}",
                path.display(),
                demos.env_id
            )));
        }
        Ok(demos)
    }

    /// Checks that the data fits `env_id`'s spaces: the observation width, the action kind
    /// (and width), and every discrete action inside the action space.
    pub fn check_fits(&self, env_id: &str) -> Result<(), ImitationError> {
        let env = eirl_envs::make(env_id)?;
        let obs_dim = env.observation_space().dim();
        if obs_dim != self.obs_dim {
            return Err(ImitationError::Invalid(format!(
                "its observations have {} values, {env_id}'s have {obs_dim}",
                self.obs_dim
            )));
        }
        match (env.action_space(), &self.actions) {
            (Space::Discrete(n), Actions::Discrete(a)) => {
                if let Some(&max) = a.iter().max().filter(|&&m| m >= *n) {
                    return Err(ImitationError::Invalid(format!(
                        "it holds action {max}, outside {env_id}'s actions 0..{n}"
                    )));
                }
            }
            (Space::Box(b), Actions::Continuous { dim, .. }) if b.dim() == *dim => {}
            (space, actions) => {
                let describe = |kind: ActionKind| match kind {
                    ActionKind::Discrete => "discrete actions".to_string(),
                    ActionKind::Continuous(d) => format!("continuous actions of width {d}"),
                };
                return Err(ImitationError::Invalid(format!(
                    "it holds {}, {env_id} takes {}",
                    describe(actions.kind()),
                    describe(ActionKind::of(space))
                )));
            }
        }
        Ok(())
    }

    /// Gives data without an env id (loaded from an `imitation` file) the env `env_id`, after
    /// [`Demonstrations::check_fits`]. Data that has an env id keeps it: another `env_id` is an
    /// error.
    pub fn assume_env_id(&mut self, env_id: &str) -> Result<(), ImitationError> {
        if !self.env_id.is_empty() {
            if self.env_id != env_id {
                return Err(ImitationError::Invalid(format!(
                    "these are {} demonstrations, not {env_id}",
                    self.env_id
                )));
            }
            return Ok(());
        }
        self.check_fits(env_id)?;
        self.env_id = env_id.to_string();
        Ok(())
    }

    /// Whether `other` holds the same trajectories (observations, actions, rewards, episode
    /// ends and terminal flags), whatever its env id, reference returns or file format.
    pub fn same_trajectories(&self, other: &Demonstrations) -> bool {
        self.obs_dim == other.obs_dim
            && self.ends == other.ends
            && self.terminated == other.terminated
            && self.actions == other.actions
            && self.obs.len() == other.obs.len()
            && self.rewards.len() == other.rewards.len()
            && self
                .obs
                .iter()
                .zip(&other.obs)
                .chain(self.rewards.iter().zip(&other.rewards))
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }

    /// [`Demonstrations::load`] with explicit size limits (a datasets folder's data files count
    /// together against `max_file_bytes`, and their number against `max_entries`).
    pub fn load_with_limits(path: &Path, limits: &LoadLimits) -> Result<Self, ImitationError> {
        let io = |source| ImitationError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            #[cfg(feature = "hf-datasets")]
            return crate::hf::load_dir(path, limits);
            #[cfg(not(feature = "hf-datasets"))]
            return Err(no_datasets_feature(path));
        }
        let len = meta.len();
        if len > limits.max_file_bytes {
            return Err(ImitationError::Format {
                origin: path.display().to_string(),
                reason: format!(
                    "{len} bytes, more than the limit of {}",
                    limits.max_file_bytes
                ),
            });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        Self::from_npz_bytes(&bytes, limits).map_err(|e| match e {
            ImitationError::Format { reason, .. } => ImitationError::Format {
                origin: path.display().to_string(),
                reason,
            },
            other => other,
        })
    }

    /// Parses one data file of a `datasets` folder (`data-0000K-of-0000N.arrow`, an Arrow IPC
    /// stream) held in memory, with the same checks as a folder; the result has no env id and
    /// no reference returns (those live in the folder's `eirl.json`).
    #[cfg(feature = "hf-datasets")]
    pub fn from_dataset_stream(bytes: &[u8], limits: &LoadLimits) -> Result<Self, ImitationError> {
        crate::hf::from_stream(bytes, limits)
    }

    /// Parses an `.npz` held in memory, checking every shape (see the module docs).
    pub fn from_npz_bytes(bytes: &[u8], limits: &LoadLimits) -> Result<Self, ImitationError> {
        if bytes.len() as u64 > limits.max_file_bytes {
            return Err(ImitationError::format("file exceeds the size limit"));
        }
        if bytes.first() == Some(&0x80) {
            return Err(ImitationError::format(
                "a Python pickle (the imitation library's oldest trajectory format), not an \
                 .npz; eirl never unpickles: convert it with imitation \
                 (imitation.data.serialize.save(dir, imitation.data.serialize.load(file)))",
            ));
        }
        let arrays = read_npz(bytes, &ARRAYS, limits).map_err(ImitationError::format)?;
        let get = |name: &str| arrays.iter().find(|(n, _)| n == name).map(|(_, a)| a);
        let need = |name: &str| {
            get(name).ok_or_else(|| ImitationError::format(format!("missing array '{name}'")))
        };

        if let Some(v) = get("eirl_format") {
            let version = v.to_i64().and_then(|v| v.first().copied());
            if version != Some(FORMAT_VERSION) {
                return Err(ImitationError::format(format!(
                    "eirl_format {version:?} is not the supported version {FORMAT_VERSION}"
                )));
            }
        }
        let terminal = need("terminal")?;
        if terminal.shape.len() != 1 {
            return Err(ImitationError::format(format!(
                "terminal has shape {:?}, expected [E]",
                terminal.shape
            )));
        }
        let terminated: Vec<bool> = terminal
            .to_i64()
            .ok_or_else(|| ImitationError::format("terminal must be boolean"))?
            .into_iter()
            .map(|v| v != 0)
            .collect();
        let e = terminated.len();

        let rews = get("rews").ok_or_else(|| {
            ImitationError::format(
                "missing array 'rews': trajectories without rewards (eirl needs imitation's \
                 TrajectoryWithRew)",
            )
        })?;
        if rews.shape.len() != 1 {
            return Err(ImitationError::format(format!(
                "rews has shape {:?}, expected [N]",
                rews.shape
            )));
        }
        let rewards = rews
            .to_f32()
            .ok_or_else(|| ImitationError::format("rews must be float"))?;
        let n = rewards.len();

        let indices = need("indices")?;
        if indices.shape.len() != 1 || indices.len() != e.saturating_sub(1) {
            return Err(ImitationError::format(format!(
                "indices has shape {:?}, expected [{}] for {e} episodes",
                indices.shape,
                e.saturating_sub(1)
            )));
        }
        let idx = indices
            .to_i64()
            .ok_or_else(|| ImitationError::format("indices must be integers"))?;
        let mut ends = Vec::with_capacity(e);
        let mut prev = 0i64;
        for &i in idx.iter().chain(std::iter::once(&(n as i64))).take(e) {
            if i <= prev || i > n as i64 {
                return Err(ImitationError::format(format!(
                    "episode split points must increase strictly within 1..={n}; got {i} after {prev}"
                )));
            }
            ends.push(i as usize);
            prev = i;
        }
        if e == 0 && n != 0 {
            return Err(ImitationError::format("actions present but no episodes"));
        }

        let obs_arr = need("obs")?;
        let obs_dim = match obs_arr.shape.as_slice() {
            [rows, d] if *rows == n + e => *d,
            [rows] if *rows == n + e => 1,
            s => {
                return Err(ImitationError::format(format!(
                    "obs has shape {s:?}, expected [{} (= N + E), obs_dim]",
                    n + e
                )));
            }
        };
        if obs_dim == 0 && n + e > 0 {
            return Err(ImitationError::format("observations have width 0"));
        }
        let obs = obs_arr
            .to_f32()
            .ok_or_else(|| ImitationError::format("obs must be float"))?;

        let acts = need("acts")?;
        if acts.shape.first() != Some(&n) || acts.shape.len() > 2 {
            return Err(ImitationError::format(format!(
                "acts has shape {:?}, expected [{n}, ...]",
                acts.shape
            )));
        }
        let actions = if acts.dtype.is_float() {
            let dim = acts.shape.get(1).copied().unwrap_or(1);
            if dim == 0 {
                return Err(ImitationError::format("continuous actions have width 0"));
            }
            let values = acts
                .to_f32()
                .ok_or_else(|| ImitationError::format("acts must be float"))?;
            Actions::Continuous { values, dim }
        } else {
            if acts.shape.len() != 1 {
                return Err(ImitationError::format(
                    "discrete acts must be one-dimensional",
                ));
            }
            let raw = acts
                .to_i64()
                .ok_or_else(|| ImitationError::format("acts must be integers"))?;
            if let Some(a) = raw
                .iter()
                .find(|&&a| !(0..MAX_DISCRETE_ACTION).contains(&a))
            {
                return Err(ImitationError::format(format!(
                    "discrete action {a} out of range"
                )));
            }
            Actions::Discrete(raw.into_iter().map(|a| a as usize).collect())
        };
        let floats_finite = obs.iter().chain(&rewards).all(|v| v.is_finite())
            && match &actions {
                Actions::Continuous { values, .. } => values.iter().all(|v| v.is_finite()),
                Actions::Discrete(_) => true,
            };
        if !floats_finite {
            return Err(ImitationError::format(
                "non-finite observation, action or reward",
            ));
        }

        let env_id = match get("env_id") {
            Some(a) if a.dtype == crate::npy::Dtype::U8 => String::from_utf8(a.bytes().to_vec())
                .map_err(|_| ImitationError::format("env_id is not UTF-8"))?,
            Some(_) => return Err(ImitationError::format("env_id must be uint8")),
            None => String::new(),
        };
        let scalar = |name: &str| -> Result<Option<f64>, ImitationError> {
            match get(name) {
                None => Ok(None),
                Some(a) if a.len() == 1 && a.dtype.is_float() => Ok(a.to_f64().first().copied()),
                Some(a) => Err(ImitationError::format(format!(
                    "{name} must be a float scalar, got shape {:?}",
                    a.shape
                ))),
            }
        };
        Ok(Demonstrations {
            env_id,
            obs_dim,
            obs,
            actions,
            rewards,
            ends,
            terminated,
            expert_mean_return: scalar("expert_mean_return")?,
            random_mean_return: scalar("random_mean_return")?,
        })
    }
}

#[cfg(not(feature = "hf-datasets"))]
fn no_datasets_feature(path: &Path) -> ImitationError {
    ImitationError::Format {
        origin: path.display().to_string(),
        reason: "a folder (a HuggingFace datasets folder?), but eirl-imitation was built \
                 without its `hf-datasets` feature"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(kind: ActionKind, lengths: &[usize]) -> Demonstrations {
        let mut d = Demonstrations::new("Test-v0", 3, kind);
        for (e, &t) in lengths.iter().enumerate() {
            let obs = (0..(t + 1) * 3)
                .map(|i| (i + 100 * e) as f32 * 0.5)
                .collect();
            let actions = match kind {
                ActionKind::Discrete => Actions::Discrete((0..t).map(|i| (i + e) % 3).collect()),
                ActionKind::Continuous(dim) => Actions::Continuous {
                    values: (0..t * dim).map(|i| i as f32 * 0.25 - 1.0).collect(),
                    dim,
                },
            };
            let ep = Episode {
                obs,
                actions,
                rewards: (0..t).map(|i| i as f32 - 1.5).collect(),
                terminated: e % 2 == 0,
            };
            assert!(d.push_episode(&ep).is_ok());
        }
        d.set_expert_mean_return(Some(-98.5));
        d
    }

    #[test]
    fn round_trips_through_bytes() -> Result<(), ImitationError> {
        for kind in [ActionKind::Discrete, ActionKind::Continuous(2)] {
            let d = sample(kind, &[3, 1, 5]);
            let back = Demonstrations::from_npz_bytes(&d.to_npz_bytes()?, &LoadLimits::default())?;
            assert_eq!(back, d);
            assert_eq!(back.num_episodes(), 3);
            assert_eq!(back.episode(1), d.episode(1));
        }
        let empty = Demonstrations::new("X", 2, ActionKind::Discrete);
        let back = Demonstrations::from_npz_bytes(&empty.to_npz_bytes()?, &LoadLimits::default())?;
        assert_eq!(back, empty);
        Ok(())
    }

    #[test]
    fn episodes_and_pairs_line_up() {
        let d = sample(ActionKind::Discrete, &[2, 3]);
        let (obs, acts) = d.state_action_pairs();
        assert_eq!(acts.len(), 5);
        assert_eq!(obs.len(), 15);
        // Episode 1 starts after episode 0's 3 observations.
        let e1 = d.episode(1);
        assert!(matches!(&e1, Some(ep) if ep.obs[..3] == obs[6..9]));
        assert_eq!(d.first_episodes(1).num_transitions(), 2);
        assert_eq!(d.returns().len(), 2);
    }

    #[test]
    fn push_rejects_inconsistent_episodes() {
        let mut d = Demonstrations::new("X", 2, ActionKind::Discrete);
        let ok = Episode {
            obs: vec![0.0; 4],
            actions: Actions::Discrete(vec![1]),
            rewards: vec![1.0],
            terminated: true,
        };
        assert!(d.push_episode(&ok).is_ok());
        let mut bad = ok.clone();
        bad.obs.pop();
        assert!(d.push_episode(&bad).is_err());
        let mut bad = ok.clone();
        bad.rewards.push(0.0);
        assert!(d.push_episode(&bad).is_err());
        let mut bad = ok.clone();
        bad.actions = Actions::Continuous {
            values: vec![0.0],
            dim: 1,
        };
        assert!(d.push_episode(&bad).is_err());
        let mut bad = ok;
        bad.obs[0] = f32::NAN;
        assert!(d.push_episode(&bad).is_err());
        assert_eq!(d.num_episodes(), 1);
    }
}
