//! [`VecEnv`]: N copies of one env stepped as a batch, with same-step auto-reset.

use crate::gym::{GYM_PREFIX, GymBatch, NO_SNAPSHOT};
use crate::{Action, Actions, BoxSpace, Env, EnvError, EpisodeEnd, Space, make};

/// One episode that ended during a [`VecEnv`] step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpisodeStats {
    /// Which env (row) it ran in.
    pub env: usize,
    /// The undiscounted sum of its rewards (accumulated in f64).
    pub episode_return: f64,
    /// Its number of steps.
    pub length: usize,
}

/// The outcome of one [`VecEnv`] step. Every slice is row-major over the N envs.
#[derive(Debug, Clone, Copy)]
pub struct VecStep<'a> {
    /// `[N * obs_dim]`. For envs that ended this step this is already the first observation of
    /// their next episode (same-step auto-reset).
    pub obs: &'a [f32],
    /// `[N]` rewards of this step.
    pub rewards: &'a [f32],
    /// `[N]` terminal flags of this step (do not bootstrap).
    pub terminated: &'a [bool],
    /// `[N]` truncation flags of this step (bootstrap from `final_obs`).
    pub truncated: &'a [bool],
    /// `[N * obs_dim]`: the true last observation of envs that ended this step; equal to `obs`
    /// for the others.
    pub final_obs: &'a [f32],
    /// The episodes that ended during this step, in env order.
    pub finished: &'a [EpisodeStats],
}

impl VecStep<'_> {
    /// How env `i`'s episode ended this step: the one place terminated / truncated flags turn
    /// into a discount and a bootstrap decision (see [`EpisodeEnd`]).
    pub fn end(&self, i: usize) -> EpisodeEnd {
        EpisodeEnd::from_flags(self.terminated[i], self.truncated[i])
    }

    /// `discount_t` of env `i`'s transition: 0 after a termination, `gamma` otherwise.
    pub fn discount(&self, i: usize, gamma: f32) -> f32 {
        self.end(i).discount(gamma)
    }

    /// The observation env `i`'s transition led to, `[obs_dim]`: the true last observation
    /// when its episode ended this step (bootstrap from it on truncation), else the next one.
    pub fn next_obs(&self, i: usize) -> &[f32] {
        let d = self.final_obs.len() / self.rewards.len().max(1);
        &self.final_obs[i * d..(i + 1) * d]
    }
}

/// N envs of one id (each wrapped in its registered [`TimeLimit`](crate::TimeLimit)) stepped
/// together, with contiguous row-major buffers.
///
/// **Seeding**: env `i` is reset with seed `seed + i` (wrapping) in [`VecEnv::new`], so row `i`
/// of the first [`VecEnv::reset`] equals `make(id)?.reset(Some(seed + i))`. Later resets (and
/// auto-resets) continue each env's own RNG stream.
///
/// **Auto-reset convention: same step, with `final_obs`** (Stable-Baselines3's, and
/// Gymnasium 1.x's `AutoresetMode.SAME_STEP`). When env `i` terminates or is truncated, the same
/// call resets it: `obs` row `i` holds the new episode's first observation, `final_obs` row `i`
/// the observation the episode ended in, and `rewards`/`terminated`/`truncated` belong to the
/// ending transition. Gymnasium 1.x's *default* (`NEXT_STEP`) differs: it returns the final
/// observation and resets on the following call, ignoring that call's action. Here every action
/// is used, and a truncated transition can bootstrap from `final_obs`.
///
/// **`gym:` ids** run all N envs in one Python process ([`crate::GymEnv`]'s bridge): a batch
/// step (or reset) is one round trip, and the same-step auto-reset happens on the Python side
/// within it. Such a batch cannot be snapshotted ([`VecEnv::try_snapshot`]). `reset` cannot
/// fail by its signature: when the process is gone, the next step reports it.
pub struct VecEnv {
    backend: Backend,
    id: &'static str,
    obs_dim: usize,
    observation_space: BoxSpace,
    action_space: Space,
    obs: Vec<f32>,
    final_obs: Vec<f32>,
    rewards: Vec<f32>,
    /// This step's rewards as the envs gave them (f64), summed into `episode_returns`.
    step_rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    finished: Vec<EpisodeStats>,
    episode_returns: Vec<f64>,
    episode_lengths: Vec<usize>,
    /// True until the first step: `reset` then returns the seeded first observations.
    fresh: bool,
    /// Step the envs on rayon's pool rather than in turn: MuJoCo envs, whose step (tens of
    /// microseconds of physics) outweighs the fork-join. The results are the same either way.
    parallel: bool,
}

/// Where a [`VecEnv`]'s envs live.
enum Backend {
    /// One boxed env each, stepped in turn (MuJoCo envs: on rayon's pool, see `parallel`).
    Envs(Vec<Box<dyn Env>>),
    /// A plain `gym:` id: all of them in one Python process.
    Gym(GymBatch),
}

/// Most environments one [`VecEnv`] holds: 10⁶ (every env, its observation and its counters
/// live in memory at once; a million CartPoles take about 200 MB).
pub const MAX_NUM_ENVS: usize = 1_000_000;

impl VecEnv {
    /// `num_envs` envs of `id`, env `i` seeded with `seed + i` and reset.
    ///
    /// # Errors
    /// [`EnvError::UnknownEnv`] for an unregistered id, [`EnvError::InvalidArgument`] for
    /// `num_envs == 0` or above [`MAX_NUM_ENVS`], [`EnvError::Mujoco`] when a MuJoCo id cannot load
    /// the MuJoCo library, [`EnvError::Gym`] when a `gym:` id's Python
    /// side cannot be started.
    pub fn new(id: &str, num_envs: usize, seed: u64) -> Result<Self, EnvError> {
        if num_envs == 0 {
            return Err(EnvError::InvalidArgument {
                reason: "VecEnv needs at least one env".to_string(),
            });
        }
        if num_envs > MAX_NUM_ENVS {
            return Err(EnvError::InvalidArgument {
                reason: format!(
                    "{num_envs} envs requested, more than the limit of {MAX_NUM_ENVS} per VecEnv"
                ),
            });
        }
        let spec = crate::spec(id)?;
        let probe = spec.make_unlimited()?;
        let observation_space = probe.observation_space().clone();
        let action_space = probe.action_space().clone();
        let obs_dim = observation_space.dim();
        let mut obs = Vec::with_capacity(num_envs * obs_dim);
        let backend = if let Some(gym) = spec.gym_spec() {
            Backend::Gym(GymBatch::new(gym, num_envs, seed, &mut obs)?)
        } else {
            let mut envs = Vec::with_capacity(num_envs);
            for _ in 0..num_envs {
                envs.push(make(id)?);
            }
            for (i, env) in envs.iter_mut().enumerate() {
                obs.extend(env.reset(Some(seed.wrapping_add(i as u64))));
            }
            Backend::Envs(envs)
        };
        Ok(VecEnv {
            backend,
            id: spec.id,
            obs_dim,
            observation_space,
            action_space,
            final_obs: obs.clone(),
            obs,
            rewards: vec![0.0; num_envs],
            step_rewards: vec![0.0; num_envs],
            terminated: vec![false; num_envs],
            truncated: vec![false; num_envs],
            finished: Vec::new(),
            episode_returns: vec![0.0; num_envs],
            episode_lengths: vec![0; num_envs],
            fresh: true,
            parallel: spec.is_mujoco() && num_envs > 1,
        })
    }

    /// N.
    pub fn num_envs(&self) -> usize {
        self.rewards.len()
    }

    /// The env id.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The length of one observation row.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// The observation space of one env.
    pub fn observation_space(&self) -> &BoxSpace {
        &self.observation_space
    }

    /// The action space of one env.
    pub fn action_space(&self) -> &Space {
        &self.action_space
    }

    /// Starts a new episode in every env and returns the `[N * obs_dim]` observations.
    ///
    /// The first call after [`VecEnv::new`] (before any step) returns the seeded first
    /// observations; later calls continue each env's RNG stream.
    pub fn reset(&mut self) -> &[f32] {
        if !self.fresh {
            let d = self.obs_dim;
            match &mut self.backend {
                Backend::Envs(envs) => {
                    for (env, row) in envs.iter_mut().zip(self.obs.chunks_exact_mut(d)) {
                        row.copy_from_slice(&env.reset(None));
                    }
                }
                // A dead process: the observations stay; the next step reports the error.
                Backend::Gym(batch) => {
                    let _ = batch.reset(&mut self.obs);
                }
            }
        }
        self.fresh = false;
        self.episode_returns.fill(0.0);
        self.episode_lengths.fill(0);
        &self.obs
    }

    /// Steps every env with its row of `actions` (discrete or continuous, as the space takes).
    ///
    /// # Errors
    /// As [`VecEnv::step_discrete`] / [`VecEnv::step_continuous`]; no env is stepped then.
    pub fn step(&mut self, actions: &Actions) -> Result<VecStep<'_>, EnvError> {
        match actions {
            Actions::Discrete(a) => self.step_discrete(a),
            Actions::Continuous { values, .. } => self.step_continuous(values),
        }
    }

    /// Steps every env with one discrete action each (`actions`: `[N]`).
    ///
    /// # Errors
    /// [`EnvError::InvalidAction`] when the action space is not discrete, `actions.len() != N`
    /// or an action is out of range; no env is stepped then.
    pub fn step_discrete(&mut self, actions: &[usize]) -> Result<VecStep<'_>, EnvError> {
        let env_id = self.id;
        let Some(n) = self.action_space.n() else {
            return Err(invalid(
                env_id,
                "step_discrete called on an env with a continuous action space".into(),
            ));
        };
        if actions.len() != self.num_envs() {
            return Err(invalid(
                env_id,
                format!("got {} actions for {} envs", actions.len(), self.num_envs()),
            ));
        }
        if let Some(i) = actions.iter().position(|&a| a >= n) {
            return Err(invalid(
                env_id,
                format!("action {} of env {i} is out of range 0..{n}", actions[i]),
            ));
        }
        self.step_all(|i| Action::Discrete(actions[i]))
    }

    /// Steps every env with one continuous action each (`actions`: `[N * act_dim]`, row-major).
    ///
    /// # Errors
    /// [`EnvError::InvalidAction`] when the action space is discrete, the length is not
    /// `N * act_dim` or an entry is not finite; no env is stepped then.
    pub fn step_continuous(&mut self, actions: &[f32]) -> Result<VecStep<'_>, EnvError> {
        let env_id = self.id;
        if self.action_space.is_discrete() {
            return Err(invalid(
                env_id,
                "step_continuous called on an env with a discrete action space".into(),
            ));
        }
        let act_dim = self.action_space.dim();
        if actions.len() != self.num_envs() * act_dim {
            return Err(invalid(
                env_id,
                format!(
                    "got {} action values, expected {} envs x {act_dim}",
                    actions.len(),
                    self.num_envs()
                ),
            ));
        }
        if let Some(i) = actions.iter().position(|a| !a.is_finite()) {
            return Err(invalid(
                env_id,
                format!("action value {i} is not finite ({})", actions[i]),
            ));
        }
        self.step_all(|i| Action::Continuous(&actions[i * act_dim..(i + 1) * act_dim]))
    }

    /// Everything that decides the batch's future, as exact words for exact resume: whether
    /// the first reset is still pending, then per env its current observation row (f32 bits),
    /// the running episode return (f64 bits) and length, and its [`Env::snapshot`] (length
    /// first). `None` when an env cannot be snapshotted ([`VecEnv::try_snapshot`] says why).
    pub fn snapshot(&self) -> Option<Vec<u64>> {
        self.try_snapshot().ok()
    }

    /// [`VecEnv::snapshot`], or why the batch cannot be snapshotted.
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] for a `gym:` batch (its envs live in Python) or an env
    /// without snapshots.
    pub fn try_snapshot(&self) -> Result<Vec<u64>, EnvError> {
        let envs = match &self.backend {
            Backend::Envs(envs) if !self.id.starts_with(GYM_PREFIX) => envs,
            Backend::Envs(_) | Backend::Gym(_) => return Err(self.no_snapshot()),
        };
        let d = self.obs_dim;
        let mut words = vec![self.num_envs() as u64, u64::from(self.fresh)];
        for (i, env) in envs.iter().enumerate() {
            let inner = env.snapshot().ok_or_else(|| EnvError::InvalidState {
                env: self.id,
                reason: "this environment cannot be snapshotted".into(),
            })?;
            words.extend(
                self.obs[i * d..(i + 1) * d]
                    .iter()
                    .map(|v| u64::from(v.to_bits())),
            );
            words.push(self.episode_returns[i].to_bits());
            words.push(self.episode_lengths[i] as u64);
            words.push(inner.len() as u64);
            words.extend(inner);
        }
        Ok(words)
    }

    fn no_snapshot(&self) -> EnvError {
        EnvError::InvalidState {
            env: self.id,
            reason: NO_SNAPSHOT.into(),
        }
    }

    /// Restores [`VecEnv::snapshot`]'s words: the next step returns what the snapshotted batch's
    /// next step returned, episode statistics included.
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] when the words do not fit this batch (another env, number of
    /// envs or observation size), or a `gym:` batch; nothing is changed then.
    pub fn restore_snapshot(&mut self, words: &[u64]) -> Result<(), EnvError> {
        if matches!(self.backend, Backend::Gym(_)) || self.id.starts_with(GYM_PREFIX) {
            return Err(self.no_snapshot());
        }
        let id = self.id;
        let mut r = crate::snapshot::WordReader::new(id, words);
        let n = r.usize()?;
        if n != self.num_envs() {
            return Err(EnvError::InvalidState {
                env: id,
                reason: format!("snapshot of {n} envs, this batch has {}", self.num_envs()),
            });
        }
        let fresh = r.flag()?;
        let d = self.obs_dim;
        let mut obs = Vec::with_capacity(n * d);
        let (mut returns, mut lengths, mut envs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            for &w in r.words(d)? {
                let bits = u32::try_from(w).map_err(|_| EnvError::InvalidState {
                    env: id,
                    reason: "snapshot observation is not f32 bits".into(),
                })?;
                obs.push(f32::from_bits(bits));
            }
            returns.push(r.f64()?);
            lengths.push(r.usize()?);
            let k = r.usize()?;
            let mut env = crate::make(id)?;
            env.restore_snapshot(r.words(k)?)?;
            envs.push(env);
        }
        r.finish()?;
        self.backend = Backend::Envs(envs);
        self.obs = obs;
        self.episode_returns = returns;
        self.episode_lengths = lengths;
        self.fresh = fresh;
        Ok(())
    }

    fn step_all<'a>(
        &mut self,
        action: impl Fn(usize) -> Action<'a> + Sync,
    ) -> Result<VecStep<'_>, EnvError> {
        self.fresh = false;
        self.finished.clear();
        let d = self.obs_dim;
        match &mut self.backend {
            Backend::Envs(envs) if self.parallel => {
                use rayon::prelude::*;
                envs.par_iter_mut()
                    .zip(self.final_obs.par_chunks_mut(d))
                    .zip(self.obs.par_chunks_mut(d))
                    .zip(self.step_rewards.par_iter_mut())
                    .zip(self.terminated.par_iter_mut())
                    .zip(self.truncated.par_iter_mut())
                    .enumerate()
                    .try_for_each(
                        |(i, (((((env, final_obs), obs), reward), terminated), truncated))| {
                            step_one(
                                env.as_mut(),
                                action(i),
                                final_obs,
                                obs,
                                (reward, terminated, truncated),
                            )
                        },
                    )?;
            }
            Backend::Envs(envs) => {
                for (i, env) in envs.iter_mut().enumerate() {
                    let row = i * d..(i + 1) * d;
                    step_one(
                        env.as_mut(),
                        action(i),
                        &mut self.final_obs[row.clone()],
                        &mut self.obs[row],
                        (
                            &mut self.step_rewards[i],
                            &mut self.terminated[i],
                            &mut self.truncated[i],
                        ),
                    )?;
                }
            }
            Backend::Gym(batch) => batch.step(
                action,
                &mut self.final_obs,
                &mut self.obs,
                &mut self.step_rewards,
                &mut self.terminated,
                &mut self.truncated,
            )?,
        }
        for i in 0..self.rewards.len() {
            let reward = self.step_rewards[i];
            self.rewards[i] = reward as f32;
            self.episode_returns[i] += reward;
            self.episode_lengths[i] += 1;
            if self.terminated[i] || self.truncated[i] {
                self.finished.push(EpisodeStats {
                    env: i,
                    episode_return: self.episode_returns[i],
                    length: self.episode_lengths[i],
                });
                self.episode_returns[i] = 0.0;
                self.episode_lengths[i] = 0;
            }
        }
        Ok(VecStep {
            obs: &self.obs,
            rewards: &self.rewards,
            terminated: &self.terminated,
            truncated: &self.truncated,
            final_obs: &self.final_obs,
            finished: &self.finished,
        })
    }
}

/// Steps one env, writes its final observation row, reward and flags, and resets it (writing
/// the next episode's first observation into `obs`) when its episode ended.
fn step_one(
    env: &mut dyn Env,
    action: Action<'_>,
    final_obs: &mut [f32],
    obs: &mut [f32],
    (reward, terminated, truncated): (&mut f64, &mut bool, &mut bool),
) -> Result<(), EnvError> {
    let step = env.step(action)?;
    final_obs.copy_from_slice(&step.obs);
    (*reward, *terminated, *truncated) = (step.reward, step.terminated, step.truncated);
    if step.terminated || step.truncated {
        obs.copy_from_slice(&env.reset(None));
    } else {
        obs.copy_from_slice(&step.obs);
    }
    Ok(())
}

fn invalid(env: &'static str, reason: String) -> EnvError {
    EnvError::InvalidAction { env, reason }
}
