//! The ACER loop (Wang et al. 2017, Algorithm 1 run by parallel actors): each iteration collects
//! a `k`-step rollout from every env with the current policy (storing μ), makes one on-policy
//! update on it, stores it in the sequence replay, then makes `n ~ Poisson(replay_ratio)`
//! off-policy updates on sequences sampled from replay.

use eirl_agent::{
    Agent, AgentError, ConfigError, LinearSchedule, RunSettings, StepInfo, exact, meta,
};
use eirl_envs::{Actions, EpisodeStats, Space, VecEnv, VecNormalize};
use eirl_models::{
    ActorCritic, Categorical, Checkpoint, Optimizer, RmsProp, RmsPropConfig,
    StochasticDuelingNetwork,
};
use eirl_replay::{SequenceBatch, SequenceReplay};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};

use crate::AcerError;
use crate::config::AcerConfig;
use crate::continuous::ContinuousLearner;
use crate::discrete::{DiscreteLearner, UpdateStats, probs_rows};

/// Means over one iteration's updates (the on-policy one and the off-policy ones).
#[derive(Clone, Copy, Debug, Default)]
struct TrainInfo {
    /// `½ mean (Q^ret − Q)²`.
    pub value_loss: f32,
    /// The surrogate `−mean φ·z*` whose gradient is the projected policy gradient.
    pub policy_loss: f32,
    pub entropy: f32,
    /// Mean `π(a_t|x_t)/μ(a_t|x_t)` (1 on-policy).
    pub mean_rho: f32,
    /// Mean `KL(π_avg ‖ π_θ)`.
    pub kl_avg: f32,
    /// Fraction of samples whose trust-region constraint was active.
    pub trust_region_active: f32,
    /// Fraction of samples whose importance weight was truncated (`ρ_t > c`).
    pub truncation_active: f32,
    /// Fraction of samples with a non-zero bias-correction term.
    pub correction_active: f32,
    /// Largest `ρ_t` of the iteration.
    pub max_rho: f32,
    pub grad_norm: f32,
    /// 1 + the number of off-policy updates.
    pub updates: u32,
}

/// How often each of ACER's mechanisms engaged over the whole run (carried through checkpoints),
/// so a run's log says whether an ablation of it could change anything.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Engagement {
    /// Samples (`T·B` per update) seen by every update so far.
    samples: u64,
    /// Samples with `ρ_t > c` (truncation).
    truncated: u64,
    /// Samples with a non-zero bias-correction term.
    corrected: u64,
    /// Samples whose trust-region constraint was active.
    trust_region: u64,
    /// Largest `ρ_t` so far.
    max_rho: f32,
}

impl Engagement {
    const META: [&'static str; 5] = [
        "engaged_samples",
        "engaged_truncated",
        "engaged_corrected",
        "engaged_trust_region",
        "engaged_max_rho",
    ];

    fn add(&mut self, s: &UpdateStats) {
        let count = |frac: f32| (f64::from(frac) * s.samples as f64).round() as u64;
        self.samples += s.samples as u64;
        self.truncated += count(s.truncation_active);
        self.corrected += count(s.correction_active);
        self.trust_region += count(s.trust_region_active);
        self.max_rho = self.max_rho.max(s.max_rho);
    }

    /// The run's fractions, as scalars (`run_*`: the last logged row describes the whole run).
    fn scalars(&self) -> [(&'static str, f64); 5] {
        let frac = |k: u64| k as f64 / self.samples.max(1) as f64;
        [
            ("run_samples", self.samples as f64),
            ("run_truncation_active", frac(self.truncated)),
            ("run_correction_active", frac(self.corrected)),
            ("run_trust_region_active", frac(self.trust_region)),
            ("run_max_rho", f64::from(self.max_rho)),
        ]
    }

    fn save(&self, ck: &mut Checkpoint) {
        let values = [
            self.samples.to_string(),
            self.truncated.to_string(),
            self.corrected.to_string(),
            self.trust_region.to_string(),
            self.max_rho.to_string(),
        ];
        for (key, value) in Self::META.into_iter().zip(values) {
            ck.set_meta(key, value);
        }
    }

    /// Counters from a checkpoint; zero for checkpoints written before they existed.
    fn load(ck: &Checkpoint) -> Result<Self, AgentError> {
        if ck.meta(Self::META[0]).is_none() {
            return Ok(Self::default());
        }
        let e = Engagement {
            samples: ck.parse_meta(Self::META[0])?,
            truncated: ck.parse_meta(Self::META[1])?,
            corrected: ck.parse_meta(Self::META[2])?,
            trust_region: ck.parse_meta(Self::META[3])?,
            max_rho: ck.parse_meta(Self::META[4])?,
        };
        let counts_fit = e.truncated.max(e.corrected).max(e.trust_region) <= e.samples;
        if !counts_fit || !e.max_rho.is_finite() || e.max_rho < 0.0 {
            return Err(AgentError::Checkpoint(
                "engagement counters are inconsistent".into(),
            ));
        }
        Ok(e)
    }
}

impl TrainInfo {
    fn add(&mut self, s: &UpdateStats) {
        self.value_loss += s.value_loss;
        self.policy_loss += s.policy_surrogate;
        self.entropy += s.entropy;
        self.mean_rho += s.mean_rho;
        self.kl_avg += s.kl_avg;
        self.trust_region_active += s.trust_region_active;
        self.truncation_active += s.truncation_active;
        self.correction_active += s.correction_active;
        self.max_rho = self.max_rho.max(s.max_rho);
        self.grad_norm += s.grad_norm;
        self.updates += 1;
    }

    /// The means, as the named scalars the run loop logs.
    fn scalars(self) -> Vec<(&'static str, f64)> {
        let k = self.updates.max(1) as f32;
        let mean = |x: f32| f64::from(x / k);
        vec![
            ("value_loss", mean(self.value_loss)),
            ("policy_loss", mean(self.policy_loss)),
            ("entropy", mean(self.entropy)),
            ("mean_rho", mean(self.mean_rho)),
            ("kl_avg", mean(self.kl_avg)),
            ("trust_region_active", mean(self.trust_region_active)),
            ("truncation_active", mean(self.truncation_active)),
            ("correction_active", mean(self.correction_active)),
            ("max_rho", f64::from(self.max_rho)),
            ("grad_norm", mean(self.grad_norm)),
            ("updates", f64::from(self.updates)),
        ]
    }
}

enum Learner {
    Discrete(Box<DiscreteLearner>),
    Continuous(Box<ContinuousLearner>),
}

/// An ACER agent bound to its training environments.
pub struct Acer {
    cfg: AcerConfig,
    env_id: String,
    /// The training envs, through the observation / reward normaliser (transparent unless
    /// `normalize_obs` / `normalize_reward`).
    env: VecNormalize,
    /// The current observations, as the networks see them (normalised when `normalize_obs`).
    obs: Vec<f32>,
    obs_dim: usize,
    act_dim: usize,
    dist_dim: usize,
    learner: Learner,
    replay: SequenceReplay,
    rng: ChaCha8Rng,
    steps: u64,
    updates: u64,
    rollout: SequenceBatch,
    sample: SequenceBatch,
    engagement: Engagement,
    /// With `lr_decay`: the learning rate's multiplier, 1 → 0 over the run.
    lr_decay: Option<LinearSchedule>,
}

impl Acer {
    /// Builds the networks, replay and `cfg.num_envs` environments of `env_id`, all from `seed`.
    pub fn new(env_id: &str, cfg: AcerConfig, seed: u64) -> Result<Self, AcerError> {
        cfg.validate()?;
        let mut env = VecNormalize::new(VecEnv::new(env_id, cfg.num_envs, seed)?, cfg.normalize())?;
        if cfg.exact_resume {
            // Refused here rather than resuming inexactly later (`gym:` envs live in Python).
            env.inner().try_snapshot()?;
        }
        let obs_dim = env.obs_dim();
        let obs = env.reset().to_vec();
        let opt = RmsProp::new(RmsPropConfig {
            lr: cfg.learning_rate,
            alpha: cfg.rmsprop_alpha,
            eps: cfg.rmsprop_eps,
            eps_inside_sqrt: true,
        });
        let (learner, act_dim, dist_dim) = match env.action_space() {
            Space::Discrete(na) => {
                let net = ActorCritic::new(obs_dim, *na, &cfg.network, seed)?;
                let avg = net.clone();
                (
                    Learner::Discrete(Box::new(DiscreteLearner { net, avg, opt })),
                    1,
                    *na,
                )
            }
            Space::Box(space) => {
                let d = space.dim();
                let net = StochasticDuelingNetwork::new(obs_dim, d, &cfg.network, seed)?;
                let avg = net.clone();
                let log_std = vec![cfg.init_log_std; d];
                (
                    Learner::Continuous(Box::new(ContinuousLearner {
                        net,
                        avg,
                        opt,
                        log_std,
                    })),
                    d,
                    2 * d,
                )
            }
        };
        // The replay memory at the env's real widths, before it is allocated.
        cfg.check_memory(obs_dim, act_dim, dist_dim)?;
        let replay = SequenceReplay::new(
            cfg.replay_capacity(),
            cfg.n_steps,
            obs_dim,
            act_dim,
            dist_dim,
        )?;
        let rollout = SequenceBatch::zeros(cfg.n_steps, cfg.num_envs, obs_dim, act_dim, dist_dim);
        Ok(Acer {
            env_id: env_id.to_string(),
            env,
            obs,
            obs_dim,
            act_dim,
            dist_dim,
            learner,
            replay,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0xAC3E_5EED_0000_0001),
            steps: 0,
            updates: 0,
            rollout,
            sample: SequenceBatch::default(),
            engagement: Engagement::default(),
            lr_decay: cfg
                .lr_decay
                .then(|| LinearSchedule::new(1.0, 0.0, 1.0, cfg.total_steps)),
            cfg,
        })
    }

    pub fn config(&self) -> &AcerConfig {
        &self.cfg
    }

    /// Gradient updates made so far (on- and off-policy).
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Sequences currently in replay.
    pub fn replay_len(&self) -> usize {
        self.replay.len()
    }

    /// One iteration: a `k`-step rollout over all envs, one on-policy update, and
    /// `n ~ Poisson(replay_ratio)` off-policy updates once replay holds `replay_start` steps
    /// per env.
    fn iteration(&mut self) -> Result<StepInfo, AcerError> {
        let finished = self.rollout()?;
        let lr = match &self.lr_decay {
            Some(decay) => self.cfg.learning_rate * decay.value(self.steps),
            None => self.cfg.learning_rate,
        };
        match &mut self.learner {
            Learner::Discrete(l) => l.opt.set_lr(lr),
            Learner::Continuous(l) => l.opt.set_lr(lr),
        }
        let mut info = TrainInfo::default();
        let stats = self.update(false)?;
        info.add(&stats);
        self.engagement.add(&stats);
        self.replay.push_batch(&self.rollout)?;
        let stored_per_env = self.replay.len() * self.cfg.n_steps / self.cfg.num_envs;
        if self.cfg.replay_ratio > 0.0 && stored_per_env >= self.cfg.replay_start {
            let n = Poisson::new(f64::from(self.cfg.replay_ratio))
                .map_err(|e| ConfigError(format!("replay_ratio: {e}")))?
                .sample(&mut self.rng) as usize;
            for _ in 0..n {
                self.replay
                    .sample_into(self.cfg.num_envs, &mut self.rng, &mut self.sample)?;
                let stats = self.update(true)?;
                info.add(&stats);
                self.engagement.add(&stats);
            }
        }
        self.updates += u64::from(info.updates);
        Ok(StepInfo {
            finished,
            scalars: info.scalars(),
            totals: self.engagement.scalars().to_vec(),
        })
    }

    /// One update on the rollout (`replayed = false`) or on the last replay sample.
    fn update(&mut self, replayed: bool) -> Result<UpdateStats, AcerError> {
        let batch = if replayed {
            &self.sample
        } else {
            &self.rollout
        };
        match &mut self.learner {
            Learner::Discrete(l) => l.update(batch, &self.cfg),
            Learner::Continuous(l) => l.update(batch, &self.cfg, &mut self.rng),
        }
    }

    /// Collects `k` steps from every env with the current policy into `self.rollout`.
    fn rollout(&mut self) -> Result<Vec<EpisodeStats>, AcerError> {
        let (n, d) = (self.cfg.num_envs, self.obs_dim);
        let gamma = self.cfg.gamma;
        let mut finished = Vec::new();
        let r = &mut self.rollout;
        r.resize(self.cfg.n_steps, n, d, self.act_dim, self.dist_dim);
        for t in 0..self.cfg.n_steps {
            let rows = t * n..(t + 1) * n;
            r.obs[rows.start * d..rows.end * d].copy_from_slice(&self.obs);
            let step = match &self.learner {
                Learner::Discrete(l) => {
                    let na = l.net.num_actions();
                    let mu = probs_rows(&l.net.logits(&self.obs, n)?, na);
                    let actions: Vec<usize> = mu
                        .chunks(na)
                        .map(|p| Categorical::sample(p, &mut self.rng))
                        .collect();
                    r.mu[rows.start * na..rows.end * na].copy_from_slice(&mu);
                    for (slot, &a) in r.actions[rows.clone()].iter_mut().zip(&actions) {
                        *slot = a as f32;
                    }
                    self.env.step_discrete(&actions)?
                }
                Learner::Continuous(l) => {
                    let k = l.log_std.len();
                    let mean = l.net.means(&self.obs, n)?;
                    let mut actions = Vec::with_capacity(n * k);
                    for (i, m) in mean.chunks(k).enumerate() {
                        actions.extend(eirl_models::DiagGaussian::sample(
                            m,
                            &l.log_std,
                            &mut self.rng,
                        ));
                        let row = (rows.start + i) * 2 * k;
                        r.mu[row..row + k].copy_from_slice(m);
                        r.mu[row + k..row + 2 * k].copy_from_slice(&l.log_std);
                    }
                    r.actions[rows.start * k..rows.end * k].copy_from_slice(&actions);
                    self.env.step_continuous(&actions)?
                }
            };
            for (i, row) in rows.clone().enumerate() {
                r.rewards[row] = step.rewards[i] * self.cfg.reward_scale;
                r.discounts[row] = step.discount(i, gamma);
                r.dones[row] = step.end(i).is_done();
            }
            r.next_obs[rows.start * d..rows.end * d].copy_from_slice(step.final_obs);
            finished.extend_from_slice(step.finished);
            self.obs.copy_from_slice(step.obs);
        }
        self.steps += (self.cfg.n_steps * n) as u64;
        Ok(finished)
    }
}

impl Agent for Acer {
    fn algo(&self) -> &'static str {
        "acer"
    }

    fn env_id(&self) -> &str {
        &self.env_id
    }

    fn settings(&self) -> RunSettings {
        self.cfg.run_settings()
    }

    /// One iteration: a `k`-step rollout over all envs, one on-policy update, and
    /// `n ~ Poisson(replay_ratio)` off-policy updates.
    fn step(&mut self) -> Result<StepInfo, AgentError> {
        Ok(self.iteration()?)
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    /// The mode of the policy for a batch of observations `[n, obs_dim]`: `argmax_a π(a|x)`,
    /// or the Gaussian mean.
    /// Raw observations are normalised with the training statistics, frozen, when
    /// `normalize_obs`.
    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<Actions, AgentError> {
        let normalized;
        let obs = if self.cfg.normalize_obs {
            normalized = self.env.normalize_obs(obs);
            &normalized[..]
        } else {
            obs
        };
        Ok(match &self.learner {
            Learner::Discrete(l) => {
                let logits = l.net.logits(obs, n)?;
                Actions::Discrete(
                    logits
                        .chunks(l.net.num_actions())
                        .map(Categorical::argmax)
                        .collect(),
                )
            }
            Learner::Continuous(l) => Actions::Continuous {
                values: l.net.means(obs, n)?,
                dim: self.act_dim,
            },
        })
    }

    /// Networks, counters and the normalisation statistics (with `normalize_obs` /
    /// `normalize_reward`). Without [`AcerConfig::exact_resume`] replay and optimizer state
    /// are not saved: a resumed run refills replay (off-policy updates wait for `replay_start`
    /// again). With it the checkpoint also carries the rest of the run's state (listed at
    /// [`AcerConfig::exact_resume`]).
    fn checkpoint(&self) -> Checkpoint {
        let mut ck = Checkpoint::new();
        match &self.learner {
            Learner::Discrete(l) => {
                ck.insert_params("net", &l.net);
                ck.insert_params("average", &l.avg);
                ck.set_meta("action_space", "discrete");
            }
            Learner::Continuous(l) => {
                ck.insert_params("net", &l.net);
                ck.insert_params("average", &l.avg);
                ck.insert("log_std", vec![l.log_std.len()], l.log_std.clone());
                ck.set_meta("action_space", "continuous");
            }
        }
        meta::stamp(&mut ck, self.algo(), &self.env_id, self.steps);
        ck.set_meta("updates", self.updates.to_string());
        self.engagement.save(&mut ck);
        exact::insert_normalizer(&mut ck, self.env.normalizer());
        if self.cfg.exact_resume {
            self.insert_exact(&mut ck);
        }
        ck
    }

    /// Restores networks and counters from [`Agent::checkpoint`]'s output, and the
    /// exact-resume state when the checkpoint carries it. Changes nothing on error.
    fn restore(&mut self, ck: &Checkpoint) -> Result<(), AgentError> {
        let steps = meta::verify(ck, self.algo(), &self.env_id)?;
        let updates = ck.parse_meta("updates")?;
        let engagement = Engagement::load(ck)?;
        let norm_stats = exact::normalizer_stats(ck, self.env.normalizer())?;
        // Checked before the networks change; needs their shapes only.
        let exact_state = if exact::is_exact(ck) {
            Some(self.read_exact(ck)?)
        } else {
            None
        };
        match &mut self.learner {
            Learner::Discrete(l) => {
                let mut net = l.net.clone();
                let mut avg = l.avg.clone();
                ck.restore_params("net", &mut net)?;
                ck.restore_params("average", &mut avg)?;
                l.net = net;
                l.avg = avg;
            }
            Learner::Continuous(l) => {
                let mut net = l.net.clone();
                let mut avg = l.avg.clone();
                ck.restore_params("net", &mut net)?;
                ck.restore_params("average", &mut avg)?;
                if let Some((_, ls)) = ck.get("log_std") {
                    if ls.len() != l.log_std.len() || ls.iter().any(|v| !v.is_finite()) {
                        return Err(AgentError::Checkpoint("log_std does not fit".into()));
                    }
                    l.log_std = ls.to_vec();
                }
                l.net = net;
                l.avg = avg;
            }
        }
        if let Some(state) = exact_state {
            self.apply_exact(ck, state)?;
        }
        if let Some(stats) = norm_stats {
            // Checked against this env's width by `normalizer_stats`.
            self.env.normalizer_mut().set_stats(stats)?;
        }
        self.steps = steps;
        self.updates = updates;
        self.engagement = engagement;
        Ok(())
    }
}

/// The exact-resume state read from a checkpoint, not yet applied.
struct ExactState {
    replay: SequenceReplay,
    rng: ChaCha8Rng,
    opt: RmsProp,
    obs: Vec<f32>,
    /// Each env's running discounted return of the reward normaliser.
    returns: Option<Vec<f64>>,
}

impl Acer {
    /// Adds the exact-resume state to `ck`: the environments (observations, episode counters,
    /// physics and RNGs), the current observations, the normaliser's running returns, the
    /// sequence replay, the sampling RNG (actions, Poisson draws, replay samples, SDN samples)
    /// and RMSProp's running mean of squared gradients. The learning rate and its decay are functions of the
    /// step count; the engagement counters are always saved. An environment that cannot be
    /// snapshotted (none of the registered ones) leaves the checkpoint without the exact state.
    fn insert_exact(&self, ck: &mut Checkpoint) {
        if exact::insert_envs(ck, self.env.inner(), &self.obs).is_err() {
            return;
        }
        exact::insert_normalizer_returns(ck, self.env.normalizer());
        exact::insert_sequence_replay(ck, &self.replay);
        exact::insert_rng(ck, "rng", &self.rng);
        match &self.learner {
            Learner::Discrete(l) => l.opt.insert_state(ck, "opt"),
            Learner::Continuous(l) => l.opt.insert_state(ck, "opt"),
        }
        exact::mark(ck);
    }

    /// Reads [`Acer::insert_exact`]'s state, checking it against this agent, without
    /// changing anything.
    fn read_exact(&self, ck: &Checkpoint) -> Result<ExactState, AgentError> {
        let mut replay = self.replay.clone();
        exact::restore_sequence_replay(ck, &mut replay)?;
        let rng = exact::rng(ck, "rng")?;
        let opt = match &self.learner {
            Learner::Discrete(l) => {
                let mut opt = RmsProp::new(l.opt.cfg);
                opt.restore_state(ck, "opt", &l.net)?;
                opt
            }
            Learner::Continuous(l) => {
                let mut opt = RmsProp::new(l.opt.cfg);
                opt.restore_state(ck, "opt", &l.net)?;
                opt
            }
        };
        let obs = exact::read_envs(ck, &self.env_id, self.env.inner())?;
        let returns = exact::normalizer_returns(ck, self.env.normalizer())?;
        Ok(ExactState {
            replay,
            rng,
            opt,
            obs,
            returns,
        })
    }

    /// Applies state that [`Acer::read_exact`] checked.
    fn apply_exact(&mut self, ck: &Checkpoint, s: ExactState) -> Result<(), AgentError> {
        exact::restore_envs(ck, self.env.inner_mut())?;
        if let Some(returns) = &s.returns {
            self.env.normalizer_mut().set_returns(returns)?;
        }
        self.replay = s.replay;
        self.rng = s.rng;
        self.obs = s.obs;
        match &mut self.learner {
            Learner::Discrete(l) => l.opt = s.opt,
            Learner::Continuous(l) => l.opt = s.opt,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `normalize_reward` the learner's rewards are the raw rewards divided by the running
    /// standard deviation of the discounted return (then × `reward_scale`), never shifted by
    /// its mean: CartPole's +1 rewards stay positive although the returns' mean is far above 1.
    #[test]
    fn learner_rewards_are_divided_by_the_return_std() -> Result<(), AcerError> {
        let cfg = AcerConfig {
            num_envs: 3,
            n_steps: 6,
            reward_scale: 0.5,
            normalize_reward: true,
            ..AcerConfig::default()
        };
        let mut agent = Acer::new("CartPole-v1", cfg, 5)?;
        for _ in 0..4 {
            agent.rollout()?;
        }
        let ret = &agent.env.stats().ret;
        assert!(ret.mean()[0] > 5.0, "returns accumulate +1 per step");
        // The last step's rewards were normalised with the statistics as they are now.
        let std = (ret.var()[0] + 1e-8).sqrt();
        let last = &agent.rollout.rewards[5 * 3..6 * 3];
        for &r in last {
            let expected = (0.5 / std) as f32;
            assert!((r - expected).abs() <= 1e-6 * expected, "{r} vs {expected}");
        }
        assert!(agent.rollout.rewards.iter().all(|&r| r > 0.0));
        Ok(())
    }
}
