//! Running observation and reward normalisation: Stable-Baselines3's `VecNormalize`
//! (`stable_baselines3/common/vec_env/vec_normalize.py`) and its `RunningMeanStd`
//! (`common/running_mean_std.py`), as a [`Normalizer`] over raw batches and a [`VecNormalize`]
//! wrapper around [`VecEnv`].
//!
//! - Observations: `clip((o − μ_o) / sqrt(σ²_o + ε), ±clip_obs)`, with `μ_o, σ²_o` the running
//!   mean and variance of every observation the training envs returned (reset and step).
//! - Rewards: `clip(r_t / sqrt(σ²_R + ε), ±clip_reward)`, with `σ²_R` the running variance of the
//!   discounted return `R_t = γ R_{t−1} + r_t` of each env (reset to 0 when its episode ends).
//!   Rewards are divided by the return's standard deviation, never shifted by a mean.
//! - The statistics update only while [`Normalizer::training`]; evaluation, resumed runs and
//!   recorded demonstrations apply them frozen ([`Normalizer::normalize_obs`]).
//!
//! The statistics are plain f64s; [`NormalizeStats::to_words`] / [`NormalizeStats::from_words`]
//! carry them through a checkpoint bit for bit. Batch moments are computed in f64 (NumPy
//! computes float32 observations' moments in float32, so the two agree to float32 rounding:
//! `crates/envs/tests/data/vec_normalize_golden.json`, from `python/reference/vec_normalize.py`).
//!
//! ```
//! use eirl_envs::{NormalizeConfig, VecEnv, VecNormalize};
//!
//! let cfg = NormalizeConfig::new(true, true, 0.99);
//! let mut env = VecNormalize::new(VecEnv::new("CartPole-v1", 4, 0)?, cfg)?;
//! env.reset();
//! for _ in 0..50 {
//!     let step = env.step_discrete(&[0, 1, 0, 1])?;
//!     assert!(step.obs.iter().all(|o| o.abs() <= 10.0));
//! }
//! // 4 reset rows and 50 × 4 step rows, on top of SB3's prior count 1e-4.
//! assert!((env.stats().obs.count() - 204.0001).abs() < 1e-9);
//! # Ok::<(), eirl_envs::EnvError>(())
//! ```

use crate::snapshot::{WordReader, push_f64s};
use crate::{Actions, BoxSpace, EnvError, Space, VecEnv, VecStep};

/// SB3's `RunningMeanStd(epsilon=1e-4)`: the count the statistics start from (mean 0, var 1), so
/// the first update never divides by zero.
pub const PRIOR_COUNT: f64 = 1e-4;

/// Running mean and variance of a stream of `dim`-wide rows, by the parallel algorithm (Chan et
/// al. 1979): merging a batch of `n` rows with mean `m_b` and variance `v_b` into `(m, v, c)`:
///
/// `δ = m_b − m`, `c' = c + n`, `m' = m + δ n / c'`,
/// `v' = (v c + v_b n + δ² c n / c') / c'`.
///
/// With a prior count of 0 the result is the mean and (population) variance of every row seen;
/// with SB3's [`PRIOR_COUNT`] it is that of the rows pooled with a pseudo-sample of weight 1e-4,
/// mean 0 and variance 1.
#[derive(Clone, Debug, PartialEq)]
pub struct RunningMeanStd {
    mean: Vec<f64>,
    var: Vec<f64>,
    count: f64,
}

impl RunningMeanStd {
    /// SB3's start: mean 0, variance 1, count [`PRIOR_COUNT`].
    pub fn new(dim: usize) -> Self {
        Self::with_prior(dim, PRIOR_COUNT)
    }

    /// Mean 0, variance 1 and the given (non-negative) prior count.
    pub fn with_prior(dim: usize, count: f64) -> Self {
        RunningMeanStd {
            mean: vec![0.0; dim],
            var: vec![1.0; dim],
            count,
        }
    }

    /// The width of one row.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The running mean, `[dim]`.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The running (population) variance, `[dim]`.
    pub fn var(&self) -> &[f64] {
        &self.var
    }

    /// Rows seen, plus the prior count.
    pub fn count(&self) -> f64 {
        self.count
    }

    /// Merges a row-major batch `rows: [n, dim]` (NumPy's `np.mean` / `np.var` over axis 0,
    /// two-pass, in f64). An empty batch changes nothing.
    ///
    /// # Errors
    /// [`EnvError::InvalidArgument`] when `rows.len()` is not a multiple of `dim`.
    pub fn update<T: Copy + Into<f64>>(&mut self, rows: &[T]) -> Result<(), EnvError> {
        let d = self.dim();
        if d == 0 || rows.len() % d != 0 {
            return Err(EnvError::InvalidArgument {
                reason: format!("{} values are not rows of width {d}", rows.len()),
            });
        }
        let n = rows.len() / d;
        if n == 0 {
            return Ok(());
        }
        let mut mean = vec![0.0; d];
        for row in rows.chunks_exact(d) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += x.into();
            }
        }
        for m in &mut mean {
            *m /= n as f64;
        }
        let mut var = vec![0.0; d];
        for row in rows.chunks_exact(d) {
            for ((v, &x), m) in var.iter_mut().zip(row).zip(&mean) {
                let dev = x.into() - m;
                *v += dev * dev;
            }
        }
        for v in &mut var {
            *v /= n as f64;
        }
        self.update_from_moments(&mean, &var, n as f64);
        Ok(())
    }

    /// Merges a batch given by its moments (`batch_mean`, `batch_var`: `[dim]`) and row count.
    /// Slices shorter than `dim` merge only their prefix; callers pass `[dim]`.
    pub fn update_from_moments(&mut self, batch_mean: &[f64], batch_var: &[f64], batch_count: f64) {
        let tot_count = self.count + batch_count;
        for ((m, v), (&bm, &bv)) in self
            .mean
            .iter_mut()
            .zip(self.var.iter_mut())
            .zip(batch_mean.iter().zip(batch_var))
        {
            let delta = bm - *m;
            let new_mean = *m + delta * batch_count / tot_count;
            let m_a = *v * self.count;
            let m_b = bv * batch_count;
            let m_2 = m_a + m_b + delta * delta * self.count * batch_count / tot_count;
            *m = new_mean;
            *v = m_2 / tot_count;
        }
        self.count = tot_count;
    }

    /// Appends `[dim, count, mean…, var…]` as words (f64 bits).
    fn push_words(&self, out: &mut Vec<u64>) {
        out.push(self.dim() as u64);
        out.push(self.count.to_bits());
        push_f64s(out, &self.mean);
        push_f64s(out, &self.var);
    }

    /// Reads [`RunningMeanStd::push_words`]'s words, refusing non-finite or negative moments.
    fn read_words(r: &mut WordReader<'_>) -> Result<Self, EnvError> {
        let dim = r.usize()?;
        let count = r.f64()?;
        let mut read = |n: usize| -> Result<Vec<f64>, EnvError> {
            Ok(r.words(n)?.iter().map(|w| f64::from_bits(*w)).collect())
        };
        let mean = read(dim)?;
        let var = read(dim)?;
        let valid = count.is_finite()
            && count >= 0.0
            && mean.iter().all(|m| m.is_finite())
            && var.iter().all(|v| v.is_finite() && *v >= 0.0);
        if !valid {
            return Err(invalid_state(
                "normalisation statistics are not finite and non-negative",
            ));
        }
        Ok(RunningMeanStd { mean, var, count })
    }
}

/// What to normalise and how: SB3's `VecNormalize(norm_obs, norm_reward, clip_obs=10,
/// clip_reward=10, gamma, epsilon=1e-8)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormalizeConfig {
    /// Normalise observations by their running mean and variance.
    pub obs: bool,
    /// Divide rewards by the running standard deviation of the discounted return.
    pub reward: bool,
    /// Normalised observations are clipped to `±clip_obs` (SB3: 10).
    pub clip_obs: f64,
    /// Normalised rewards are clipped to `±clip_reward` (SB3: 10).
    pub clip_reward: f64,
    /// γ of the discounted return whose variance scales rewards (the agent's discount).
    pub gamma: f64,
    /// ε under the square roots (SB3: 1e-8).
    pub epsilon: f64,
}

impl NormalizeConfig {
    /// SB3's clips (10) and ε (1e-8) with the given switches and discount.
    pub fn new(obs: bool, reward: bool, gamma: f64) -> Self {
        NormalizeConfig {
            obs,
            reward,
            clip_obs: 10.0,
            clip_reward: 10.0,
            gamma,
            epsilon: 1e-8,
        }
    }

    /// Whether anything is normalised.
    pub fn is_active(&self) -> bool {
        self.obs || self.reward
    }

    /// Checks the ranges: clips and ε positive and finite, γ in `[0, 1]`.
    ///
    /// # Errors
    /// [`EnvError::InvalidArgument`] naming the field.
    pub fn validate(&self) -> Result<(), EnvError> {
        let bad = |reason: String| Err(EnvError::InvalidArgument { reason });
        for (name, v) in [
            ("clip_obs", self.clip_obs),
            ("clip_reward", self.clip_reward),
            ("epsilon", self.epsilon),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("normalisation {name} must be positive, got {v}"));
            }
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return bad(format!(
                "normalisation gamma must be in [0, 1], got {}",
                self.gamma
            ));
        }
        Ok(())
    }
}

/// The statistics a trained model needs to act: observations' running mean/variance and the
/// discounted return's running variance. Saved in every checkpoint of a normalising run.
#[derive(Clone, Debug, PartialEq)]
pub struct NormalizeStats {
    /// Of the observations, `[obs_dim]`.
    pub obs: RunningMeanStd,
    /// Of the discounted returns, `[1]`.
    pub ret: RunningMeanStd,
}

impl NormalizeStats {
    /// SB3's starting statistics for `obs_dim`-wide observations.
    pub fn new(obs_dim: usize) -> Self {
        NormalizeStats {
            obs: RunningMeanStd::new(obs_dim),
            ret: RunningMeanStd::new(1),
        }
    }

    /// Every value as exact words (f64 bits): `[obs_dim, count, mean…, var…, 1, count, mean,
    /// var]`.
    pub fn to_words(&self) -> Vec<u64> {
        let mut w = Vec::with_capacity(6 + 2 * self.obs.dim());
        self.obs.push_words(&mut w);
        self.ret.push_words(&mut w);
        w
    }

    /// Reads [`NormalizeStats::to_words`]' words, checking them against `obs_dim`.
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] when the words are malformed, of another width or hold
    /// non-finite or negative moments.
    pub fn from_words(words: &[u64], obs_dim: usize) -> Result<Self, EnvError> {
        let mut r = WordReader::new("VecNormalize", words);
        let obs = RunningMeanStd::read_words(&mut r)?;
        let ret = RunningMeanStd::read_words(&mut r)?;
        r.finish()?;
        if obs.dim() != obs_dim || ret.dim() != 1 {
            return Err(invalid_state(&format!(
                "normalisation statistics for observations of width {} (returns {}), this env's \
                 are {obs_dim} (1)",
                obs.dim(),
                ret.dim()
            )));
        }
        Ok(NormalizeStats { obs, ret })
    }
}

fn invalid_state(reason: &str) -> EnvError {
    EnvError::InvalidState {
        env: "VecNormalize",
        reason: reason.to_string(),
    }
}

fn shape_error(what: &str, got: usize, expected: usize) -> EnvError {
    EnvError::InvalidArgument {
        reason: format!("VecNormalize: {what} has {got} values, expected {expected}"),
    }
}

/// SB3's `VecNormalize` over raw batches of `num_envs` envs: the statistics, each env's running
/// discounted return and the `training` switch, with no env of its own (so any source of
/// batches, a [`VecEnv`] or a test's fixed stream, can drive it).
#[derive(Clone, Debug)]
pub struct Normalizer {
    cfg: NormalizeConfig,
    stats: NormalizeStats,
    /// `R` of each env: `γ R + r`, reset to 0 when its episode ends.
    returns: Vec<f64>,
    training: bool,
}

impl Normalizer {
    /// Fresh statistics for `num_envs` envs of `obs_dim`-wide observations, training.
    ///
    /// # Errors
    /// As [`NormalizeConfig::validate`].
    pub fn new(cfg: NormalizeConfig, num_envs: usize, obs_dim: usize) -> Result<Self, EnvError> {
        cfg.validate()?;
        Ok(Normalizer {
            cfg,
            stats: NormalizeStats::new(obs_dim),
            returns: vec![0.0; num_envs],
            training: true,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NormalizeConfig {
        &self.cfg
    }

    /// The current statistics.
    pub fn stats(&self) -> &NormalizeStats {
        &self.stats
    }

    /// Replaces the statistics (from a checkpoint).
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] when they are for observations of another width.
    pub fn set_stats(&mut self, stats: NormalizeStats) -> Result<(), EnvError> {
        if stats.obs.dim() != self.stats.obs.dim() || stats.ret.dim() != 1 {
            return Err(invalid_state(
                "normalisation statistics do not fit this env",
            ));
        }
        self.stats = stats;
        Ok(())
    }

    /// Each env's running discounted return, `[num_envs]`.
    pub fn returns(&self) -> &[f64] {
        &self.returns
    }

    /// Replaces the running discounted returns (exact resume).
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] for another number of envs or a non-finite value.
    pub fn set_returns(&mut self, returns: &[f64]) -> Result<(), EnvError> {
        if returns.len() != self.returns.len() || returns.iter().any(|r| !r.is_finite()) {
            return Err(invalid_state(
                "running returns do not fit this batch of envs",
            ));
        }
        self.returns.copy_from_slice(returns);
        Ok(())
    }

    /// Whether [`Normalizer::reset`] / [`Normalizer::step`] update the statistics.
    pub fn training(&self) -> bool {
        self.training
    }

    /// Freezes (`false`) or resumes (`true`) the statistics' updates.
    pub fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    /// `obs` normalised with the current statistics (unchanged when observations are not
    /// normalised), without updating them.
    pub fn normalize_obs(&self, obs: &[f32]) -> Vec<f32> {
        let mut out = obs.to_vec();
        self.normalize_obs_in_place(&mut out);
        out
    }

    /// [`Normalizer::normalize_obs`] in place: `clip((o − μ)/sqrt(σ² + ε), ±clip_obs)`
    /// computed in f64, stored as f32. A trailing partial row is left as it is.
    pub fn normalize_obs_in_place(&self, obs: &mut [f32]) {
        if !self.cfg.obs {
            return;
        }
        let d = self.stats.obs.dim();
        if d == 0 {
            return;
        }
        let (mean, var) = (self.stats.obs.mean(), self.stats.obs.var());
        let c = self.cfg.clip_obs;
        for row in obs.chunks_exact_mut(d) {
            for ((o, m), v) in row.iter_mut().zip(mean).zip(var) {
                let z = (f64::from(*o) - m) / (v + self.cfg.epsilon).sqrt();
                *o = z.clamp(-c, c) as f32;
            }
        }
    }

    /// `r / sqrt(σ²_R + ε)` clipped to `±clip_reward` (unchanged when rewards are not
    /// normalised), without updating the statistics.
    pub fn normalize_reward(&self, reward: f32) -> f32 {
        if !self.cfg.reward {
            return reward;
        }
        let c = self.cfg.clip_reward;
        let std = (self.stats.ret.var()[0] + self.cfg.epsilon).sqrt();
        (f64::from(reward) / std).clamp(-c, c) as f32
    }

    /// After a reset of every env (`obs`: `[num_envs, obs_dim]`): running returns ← 0, the
    /// observation statistics take `obs` (while training), and `obs` is normalised in place.
    ///
    /// # Errors
    /// [`EnvError::InvalidArgument`] when `obs` is not `[num_envs, obs_dim]`.
    pub fn reset(&mut self, obs: &mut [f32]) -> Result<(), EnvError> {
        let expected = self.returns.len() * self.stats.obs.dim();
        if obs.len() != expected {
            return Err(shape_error("obs", obs.len(), expected));
        }
        self.returns.fill(0.0);
        if self.training && self.cfg.obs {
            self.stats.obs.update(obs)?;
        }
        self.normalize_obs_in_place(obs);
        Ok(())
    }

    /// After one step of every env, in SB3's order, all in place: the observation statistics
    /// take `obs` (while training; for envs that ended, the next episode's first observation),
    /// `obs` and `final_obs` are normalised with them; `R ← γ R + r`, the return statistics
    /// take `R` (while training) and `rewards` are normalised; then `R ← 0` where `dones`.
    ///
    /// # Errors
    /// [`EnvError::InvalidArgument`] when a slice does not fit `num_envs` × `obs_dim`; nothing
    /// changes then.
    pub fn step(
        &mut self,
        obs: &mut [f32],
        final_obs: &mut [f32],
        rewards: &mut [f32],
        dones: &[bool],
    ) -> Result<(), EnvError> {
        let n = self.returns.len();
        let expected = n * self.stats.obs.dim();
        for (what, len, want) in [
            ("obs", obs.len(), expected),
            ("final_obs", final_obs.len(), expected),
            ("rewards", rewards.len(), n),
            ("dones", dones.len(), n),
        ] {
            if len != want {
                return Err(shape_error(what, len, want));
            }
        }
        if self.training && self.cfg.obs {
            self.stats.obs.update(obs)?;
        }
        self.normalize_obs_in_place(obs);
        self.normalize_obs_in_place(final_obs);
        if self.training {
            for (ret, &r) in self.returns.iter_mut().zip(rewards.iter()) {
                *ret = *ret * self.cfg.gamma + f64::from(r);
            }
            self.stats.ret.update(&self.returns)?;
        }
        for r in rewards.iter_mut() {
            *r = self.normalize_reward(*r);
        }
        for (ret, &done) in self.returns.iter_mut().zip(dones) {
            if done {
                *ret = 0.0;
            }
        }
        Ok(())
    }
}

/// A [`VecEnv`] whose observations and rewards pass through a [`Normalizer`]: SB3's
/// `VecNormalize(venv)`. Steps return [`VecStep`]s whose `obs`, `final_obs` and `rewards` are
/// normalised; `terminated`, `truncated` and `finished` (raw episode returns) are the inner
/// env's. With nothing to normalise it returns the inner env's steps untouched.
pub struct VecNormalize {
    env: VecEnv,
    norm: Normalizer,
    obs: Vec<f32>,
    final_obs: Vec<f32>,
    rewards: Vec<f32>,
    dones: Vec<bool>,
}

impl VecNormalize {
    /// Wraps `env`, with fresh statistics, training.
    ///
    /// # Errors
    /// As [`NormalizeConfig::validate`].
    pub fn new(env: VecEnv, cfg: NormalizeConfig) -> Result<Self, EnvError> {
        let norm = Normalizer::new(cfg, env.num_envs(), env.obs_dim())?;
        Ok(VecNormalize {
            env,
            norm,
            obs: Vec::new(),
            final_obs: Vec::new(),
            rewards: Vec::new(),
            dones: Vec::new(),
        })
    }

    /// The wrapped env.
    pub fn inner(&self) -> &VecEnv {
        &self.env
    }

    /// The wrapped env, mutably (restoring its snapshot); stepping it directly bypasses the
    /// statistics.
    pub fn inner_mut(&mut self) -> &mut VecEnv {
        &mut self.env
    }

    /// The normaliser: configuration, statistics, running returns, training switch.
    pub fn normalizer(&self) -> &Normalizer {
        &self.norm
    }

    /// The normaliser, mutably (restoring statistics, freezing them).
    pub fn normalizer_mut(&mut self) -> &mut Normalizer {
        &mut self.norm
    }

    /// The current statistics.
    pub fn stats(&self) -> &NormalizeStats {
        self.norm.stats()
    }

    /// `obs` normalised with the current (frozen) statistics: what a trained model acts on.
    pub fn normalize_obs(&self, obs: &[f32]) -> Vec<f32> {
        self.norm.normalize_obs(obs)
    }

    /// N.
    pub fn num_envs(&self) -> usize {
        self.env.num_envs()
    }

    /// The length of one observation row.
    pub fn obs_dim(&self) -> usize {
        self.env.obs_dim()
    }

    /// The observation space of one env (raw, before normalisation).
    pub fn observation_space(&self) -> &BoxSpace {
        self.env.observation_space()
    }

    /// The action space of one env.
    pub fn action_space(&self) -> &Space {
        self.env.action_space()
    }

    /// [`VecEnv::reset`], then [`Normalizer::reset`]: normalised first observations.
    pub fn reset(&mut self) -> &[f32] {
        let raw = self.env.reset();
        if !self.norm.config().is_active() {
            return raw;
        }
        self.obs.clear();
        self.obs.extend_from_slice(raw);
        // The buffer is `[num_envs, obs_dim]` by construction.
        let _fits = self.norm.reset(&mut self.obs);
        &self.obs
    }

    /// Steps every env with its row of `actions` (see [`VecEnv::step`]) and normalises.
    ///
    /// # Errors
    /// As [`VecEnv::step`].
    pub fn step(&mut self, actions: &Actions) -> Result<VecStep<'_>, EnvError> {
        match actions {
            Actions::Discrete(a) => self.step_discrete(a),
            Actions::Continuous { values, .. } => self.step_continuous(values),
        }
    }

    /// [`VecEnv::step_discrete`], normalised.
    ///
    /// # Errors
    /// As [`VecEnv::step_discrete`].
    pub fn step_discrete(&mut self, actions: &[usize]) -> Result<VecStep<'_>, EnvError> {
        if !self.norm.config().is_active() {
            return self.env.step_discrete(actions);
        }
        let step = self.env.step_discrete(actions)?;
        Self::normalize_step(
            step,
            &mut self.norm,
            &mut self.obs,
            &mut self.final_obs,
            &mut self.rewards,
            &mut self.dones,
        )
    }

    /// [`VecEnv::step_continuous`], normalised.
    ///
    /// # Errors
    /// As [`VecEnv::step_continuous`].
    pub fn step_continuous(&mut self, actions: &[f32]) -> Result<VecStep<'_>, EnvError> {
        if !self.norm.config().is_active() {
            return self.env.step_continuous(actions);
        }
        let step = self.env.step_continuous(actions)?;
        Self::normalize_step(
            step,
            &mut self.norm,
            &mut self.obs,
            &mut self.final_obs,
            &mut self.rewards,
            &mut self.dones,
        )
    }

    fn normalize_step<'a>(
        step: VecStep<'a>,
        norm: &mut Normalizer,
        obs: &'a mut Vec<f32>,
        final_obs: &'a mut Vec<f32>,
        rewards: &'a mut Vec<f32>,
        dones: &'a mut Vec<bool>,
    ) -> Result<VecStep<'a>, EnvError> {
        obs.clear();
        obs.extend_from_slice(step.obs);
        final_obs.clear();
        final_obs.extend_from_slice(step.final_obs);
        rewards.clear();
        rewards.extend_from_slice(step.rewards);
        dones.clear();
        dones.extend(
            step.terminated
                .iter()
                .zip(step.truncated)
                .map(|(&te, &tr)| te || tr),
        );
        norm.step(obs, final_obs, rewards, dones)?;
        Ok(VecStep {
            obs,
            rewards,
            terminated: step.terminated,
            truncated: step.truncated,
            final_obs,
            finished: step.finished,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eirl_testkit::{Tol, assert_allclose};
    use proptest::prelude::*;
    use serde::Deserialize;

    /// A scalar or a slice, compared as numpy's `allclose` does.
    trait Values {
        fn values(&self) -> Vec<f64>;
    }

    impl Values for f64 {
        fn values(&self) -> Vec<f64> {
            vec![*self]
        }
    }

    impl Values for &[f64] {
        fn values(&self) -> Vec<f64> {
            self.to_vec()
        }
    }

    #[track_caller]
    fn close(actual: impl Values, expected: impl Values, tol: Tol) {
        assert_allclose(&actual.values(), &expected.values(), tol, "normalize");
    }

    /// The batch mean and population variance of `rows: [n, d]`, straight from the definition.
    fn batch_moments(rows: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
        let n = (rows.len() / d) as f64;
        let mean: Vec<f64> = (0..d)
            .map(|j| rows.iter().skip(j).step_by(d).sum::<f64>() / n)
            .collect();
        let var = (0..d)
            .map(|j| {
                rows.iter()
                    .skip(j)
                    .step_by(d)
                    .map(|x| (x - mean[j]).powi(2))
                    .sum::<f64>()
                    / n
            })
            .collect();
        (mean, var)
    }

    proptest! {
        /// With no prior the running moments after any split into batches are the batch
        /// moments of everything seen.
        #[test]
        fn running_moments_equal_batch_moments(
            d in 1usize..4,
            batches in proptest::collection::vec(
                proptest::collection::vec(-1e3f64..1e3, 0..24), 1..8),
        ) {
            let mut rms = RunningMeanStd::with_prior(d, 0.0);
            let mut all = Vec::new();
            for b in &batches {
                let rows = &b[..b.len() / d * d];
                rms.update(rows).map_err(|e| TestCaseError::fail(e.to_string()))?;
                all.extend_from_slice(rows);
            }
            prop_assume!(!all.is_empty());
            let (mean, var) = batch_moments(&all, d);
            close(rms.mean(), &mean[..], Tol::new(1e-9, 1e-9));
            close(rms.var(), &var[..], Tol::new(1e-7, 1e-9));
            close(rms.count(), (all.len() / d) as f64, Tol::new(0.0, 0.0));
        }

        /// With SB3's prior the running moments are those of everything seen pooled with a
        /// pseudo-sample of weight 1e-4, mean 0 and variance 1.
        #[test]
        fn prior_count_pools_a_unit_pseudo_sample(
            batches in proptest::collection::vec(
                proptest::collection::vec(-50f64..50.0, 1..10), 1..6),
        ) {
            let mut rms = RunningMeanStd::new(1);
            let all: Vec<f64> = batches.concat();
            for b in &batches {
                rms.update(b).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            let n = all.len() as f64;
            let c = PRIOR_COUNT + n;
            let mean = all.iter().sum::<f64>() / c;
            let m2 = PRIOR_COUNT * (1.0 + mean * mean)
                + all.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
            close(rms.mean()[0], mean, Tol::new(1e-9, 1e-9));
            close(rms.var()[0], m2 / c, Tol::new(1e-9, 1e-9));
            close(rms.count(), c, Tol::new(0.0, 1e-12));
        }

        /// Statistics survive their words bit for bit.
        #[test]
        fn stats_round_trip_exactly(
            rows in proptest::collection::vec(-1e6f64..1e6, 3..30),
            returns in proptest::collection::vec(-1e4f64..1e4, 1..10),
        ) {
            let mut stats = NormalizeStats::new(3);
            stats.obs.update(&rows[..rows.len() / 3 * 3])
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            stats.ret.update(&returns).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = NormalizeStats::from_words(&stats.to_words(), 3)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let bits = |s: &NormalizeStats| -> Vec<u64> {
                s.obs.mean().iter().chain(s.obs.var()).chain(s.ret.mean()).chain(s.ret.var())
                    .chain([s.obs.count(), s.ret.count()].iter())
                    .map(|v| v.to_bits()).collect()
            };
            prop_assert_eq!(bits(&back), bits(&stats));
        }
    }

    #[test]
    fn malformed_stats_are_refused() {
        let words = NormalizeStats::new(4).to_words();
        assert!(NormalizeStats::from_words(&words, 3).is_err());
        assert!(NormalizeStats::from_words(&words[..words.len() - 1], 4).is_err());
        let mut nan = words.clone();
        nan[3] = f64::NAN.to_bits();
        assert!(NormalizeStats::from_words(&nan, 4).is_err());
        let mut negative_var = words;
        negative_var[2 + 4] = (-1.0f64).to_bits();
        assert!(NormalizeStats::from_words(&negative_var, 4).is_err());
        assert!(RunningMeanStd::new(3).update(&[1.0f64; 4]).is_err());
        assert!(
            NormalizeConfig {
                clip_obs: 0.0,
                ..NormalizeConfig::new(true, true, 0.99)
            }
            .validate()
            .is_err()
        );
    }

    #[derive(Deserialize)]
    struct GoldenStep {
        obs: Vec<f32>,
        rewards: Vec<f32>,
        dones: Vec<bool>,
        final_obs: Vec<f32>,
        obs_out: Vec<f64>,
        rewards_out: Vec<f64>,
        final_obs_out: Vec<f64>,
    }

    #[derive(Deserialize)]
    struct GoldenCase {
        name: String,
        norm_obs: bool,
        norm_reward: bool,
        gamma: f64,
        num_envs: usize,
        obs_dim: usize,
        frozen_from: usize,
        reset_obs: Vec<f32>,
        reset_out: Vec<f64>,
        steps: Vec<GoldenStep>,
        obs_mean: Vec<f64>,
        obs_var: Vec<f64>,
        obs_count: f64,
        ret_mean: f64,
        ret_var: f64,
        ret_count: f64,
        returns: Vec<f64>,
    }

    #[derive(Deserialize)]
    struct Golden {
        cases: Vec<GoldenCase>,
    }

    fn widen(v: &[f32]) -> Vec<f64> {
        v.iter().map(|&x| f64::from(x)).collect()
    }

    /// Against SB3's formulas run by NumPy (`python/reference/vec_normalize.py`): normalised
    /// observations, terminal observations and rewards at every step (clipping and frozen
    /// statistics included) and the final statistics. NumPy takes float32 observations'
    /// moments in float32, hence the float32-level tolerance.
    #[test]
    fn matches_stable_baselines3_golden_values() -> Result<(), Box<dyn std::error::Error>> {
        let golden: Golden =
            serde_json::from_str(include_str!("../tests/data/vec_normalize_golden.json"))?;
        assert_eq!(golden.cases.len(), 3);
        for case in golden.cases {
            let cfg = NormalizeConfig::new(case.norm_obs, case.norm_reward, case.gamma);
            let mut norm = Normalizer::new(cfg, case.num_envs, case.obs_dim)?;
            let mut obs = case.reset_obs.clone();
            norm.reset(&mut obs)?;
            close(&widen(&obs)[..], &case.reset_out[..], Tol::new(1e-5, 1e-5));
            for (t, s) in case.steps.iter().enumerate() {
                if t == case.frozen_from {
                    norm.set_training(false);
                }
                let (mut obs, mut fin, mut rew) =
                    (s.obs.clone(), s.final_obs.clone(), s.rewards.clone());
                norm.step(&mut obs, &mut fin, &mut rew, &s.dones)?;
                close(&widen(&obs)[..], &s.obs_out[..], Tol::new(1e-5, 1e-5));
                close(&widen(&fin)[..], &s.final_obs_out[..], Tol::new(1e-5, 1e-5));
                close(&widen(&rew)[..], &s.rewards_out[..], Tol::new(1e-6, 1e-5));
            }
            let st = norm.stats();
            close(st.obs.mean(), &case.obs_mean[..], Tol::new(1e-6, 1e-6));
            close(st.obs.var(), &case.obs_var[..], Tol::new(1e-6, 1e-5));
            close(st.obs.count(), case.obs_count, Tol::new(0.0, 1e-12));
            close(st.ret.mean()[0], case.ret_mean, Tol::new(1e-9, 1e-9));
            close(st.ret.var()[0], case.ret_var, Tol::new(1e-9, 1e-9));
            close(st.ret.count(), case.ret_count, Tol::new(0.0, 1e-12));
            close(norm.returns(), &case.returns[..], Tol::new(1e-9, 1e-9));
            eprintln!("{}: {} steps match", case.name, case.steps.len());
        }
        Ok(())
    }

    /// Frozen statistics stay put; rewards are divided by the return's std, never shifted.
    #[test]
    fn frozen_statistics_and_unshifted_rewards() -> Result<(), EnvError> {
        let mut norm = Normalizer::new(NormalizeConfig::new(true, true, 0.99), 2, 1)?;
        let mut obs = [3.0, 5.0];
        norm.reset(&mut obs)?;
        for _ in 0..20 {
            let (mut o, mut f, mut r) = ([4.0, 6.0], [4.0, 6.0], [-1.0, -1.0]);
            norm.step(&mut o, &mut f, &mut r, &[false, false])?;
        }
        let before = norm.stats().clone();
        assert!(
            before.ret.mean()[0] < -5.0,
            "returns accumulate −1 per step"
        );
        norm.set_training(false);
        let (mut o, mut f, mut r) = ([40.0, 60.0], [40.0, 60.0], [0.0, -2.0]);
        norm.step(&mut o, &mut f, &mut r, &[true, true])?;
        assert_eq!(norm.stats(), &before);
        let std = (before.ret.var()[0] + 1e-8).sqrt();
        // A zero reward stays zero (no mean shift) and −2 is −2/std.
        close(f64::from(r[0]), 0.0, Tol::new(0.0, 0.0));
        close(f64::from(r[1]), -2.0 / std, Tol::new(0.0, 1e-6));
        Ok(())
    }

    /// Off, the wrapper is the inner env bit for bit; on, training counts every row.
    #[test]
    fn vec_normalize_is_transparent_when_off() -> Result<(), EnvError> {
        let off = NormalizeConfig::new(false, false, 0.99);
        let mut wrapped = VecNormalize::new(VecEnv::new("Pendulum-v1", 3, 7)?, off)?;
        let mut plain = VecEnv::new("Pendulum-v1", 3, 7)?;
        assert_eq!(wrapped.reset(), plain.reset());
        for t in 0..250 {
            let a: Vec<f32> = (0..3)
                .map(|i| ((t + i) as f32 * 0.37).sin() * 2.0)
                .collect();
            let w = wrapped.step_continuous(&a)?;
            let (wo, wr, wf) = (w.obs.to_vec(), w.rewards.to_vec(), w.final_obs.to_vec());
            let p = plain.step_continuous(&a)?;
            assert_eq!(
                (wo, wr, wf),
                (p.obs.to_vec(), p.rewards.to_vec(), p.final_obs.to_vec())
            );
        }
        let on = NormalizeConfig::new(true, true, 0.99);
        let mut env = VecNormalize::new(VecEnv::new("Pendulum-v1", 3, 7)?, on)?;
        env.reset();
        let mut ended = 0;
        for t in 0..250 {
            let a: Vec<f32> = (0..3)
                .map(|i| ((t + i) as f32 * 0.37).sin() * 2.0)
                .collect();
            let step = env.step_continuous(&a)?;
            assert!(step.obs.iter().all(|o| o.abs() <= 10.0));
            assert!(step.rewards.iter().all(|r| r.abs() <= 10.0 && *r <= 0.0));
            ended += step.finished.len();
        }
        // Pendulum truncates at 200 steps: the running returns restarted then.
        assert_eq!(ended, 3);
        close(
            env.stats().obs.count(),
            3.0 * 251.0 + PRIOR_COUNT,
            Tol::new(0.0, 1e-12),
        );
        close(
            env.stats().ret.count(),
            3.0 * 250.0 + PRIOR_COUNT,
            Tol::new(0.0, 1e-12),
        );
        Ok(())
    }
}
