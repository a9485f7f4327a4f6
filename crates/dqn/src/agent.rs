//! The DQN training loop: ε-greedy acting over a [`VecEnv`], n-step transitions into replay,
//! minibatch TD regression toward a target network.

use eirl_agent::{Agent, AgentError, LinearSchedule, RunSettings, StepInfo, exact, meta};
use eirl_envs::{Actions, Space, VecEnv, VecNormalize};
use eirl_models::{Adam, AdamConfig, Categorical, Checkpoint, QNetwork, polyak_update};
use eirl_replay::{
    AnyReplay, NStepBuffer, NStepTransition, PrioritizedReplay, Replay, ReplayBuffer,
    TransitionBatch,
};
use eirl_returns::q_learning_targets_into;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::DqnError;
use crate::config::DqnConfig;

/// Where SV-RL (Yang et al. 2020, `sv_rl/dqn_learn.py`) plugs into DQN: a change of the
/// next-state Q matrix before the targets are formed. Each gradient step the target network's
/// `Q⁻(s'_i, ·)` for the minibatch, `next_q: [B, A]` row-major, is handed to
/// [`NextQTransform::apply`], which may rewrite it in place (SV-RL: mask entries, complete the
/// matrix by soft-impute or USVT); the targets `r + γⁿ Q⁻(s', a*)` then read the result. With
/// Double DQN the online network still selects `a*`. An extension crate sets one with
/// [`Dqn::set_next_q_transform`]; without one DQN is unchanged.
pub trait NextQTransform {
    fn apply(
        &mut self,
        next_q: &mut [f32],
        batch: usize,
        num_actions: usize,
    ) -> Result<(), DqnError>;
}

/// Means over one training round (several gradient steps).
#[derive(Clone, Copy, Debug, Default)]
struct TrainInfo {
    loss: f32,
    grad_norm: f32,
    mean_q_target: f32,
    gradient_steps: u32,
}

/// A DQN agent bound to its training environments.
pub struct Dqn {
    cfg: DqnConfig,
    env_id: String,
    /// The training envs, through the observation / reward normaliser (transparent unless
    /// `normalize_obs` / `normalize_reward`).
    env: VecNormalize,
    /// The current observations, as the Q network sees them (normalised when `normalize_obs`).
    obs: Vec<f32>,
    obs_dim: usize,
    num_actions: usize,
    online: QNetwork,
    target: QNetwork,
    opt: Adam,
    replay: AnyReplay,
    nstep: Vec<NStepBuffer>,
    rng: ChaCha8Rng,
    epsilon: LinearSchedule,
    steps: u64,
    updates: u64,
    steps_since_train: u64,
    batch: TransitionBatch,
    pending: Vec<NStepTransition>,
    targets: Vec<f32>,
    next_q_transform: Option<Box<dyn NextQTransform>>,
}

impl Dqn {
    /// Builds networks, replay and `cfg.num_envs` environments of `env_id`, all from `seed`.
    pub fn new(env_id: &str, cfg: DqnConfig, seed: u64) -> Result<Self, DqnError> {
        cfg.validate()?;
        let mut env = VecNormalize::new(VecEnv::new(env_id, cfg.num_envs, seed)?, cfg.normalize())?;
        if cfg.exact_resume {
            // Refused here rather than resuming inexactly later (`gym:` envs live in Python).
            env.inner().try_snapshot()?;
        }
        let num_actions = match env.action_space() {
            Space::Discrete(n) => *n,
            other => {
                return Err(DqnError::UnsupportedActionSpace(format!(
                    "DQN needs a discrete action space; {env_id} has {other:?}"
                )));
            }
        };
        let obs_dim = env.obs_dim();
        // The replay memory at the env's real width, before anything is allocated.
        cfg.check_memory(obs_dim)?;
        let obs = env.reset().to_vec();
        let online = QNetwork::new(obs_dim, num_actions, &cfg.network, seed)?;
        let target = online.clone();
        let opt = Adam::new(AdamConfig {
            lr: cfg.learning_rate,
            eps: cfg.adam_eps,
            ..AdamConfig::default()
        });
        let replay: AnyReplay = match &cfg.prioritized {
            None => ReplayBuffer::new(cfg.buffer_size, obs_dim, 1)?.into(),
            Some(p) => PrioritizedReplay::new(cfg.buffer_size, obs_dim, 1, p.alpha)?
                .with_priority_eps(p.eps)?
                .with_beta(p.beta0)?
                .into(),
        };
        let nstep = (0..cfg.num_envs)
            .map(|_| NStepBuffer::new(cfg.n_step, cfg.gamma))
            .collect();
        let epsilon = LinearSchedule::new(
            cfg.exploration_initial_eps,
            cfg.exploration_final_eps,
            cfg.exploration_fraction,
            cfg.total_steps,
        );
        Ok(Dqn {
            env_id: env_id.to_string(),
            env,
            obs,
            obs_dim,
            num_actions,
            online,
            target,
            opt,
            replay,
            nstep,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15),
            epsilon,
            steps: 0,
            updates: 0,
            steps_since_train: 0,
            batch: TransitionBatch::default(),
            pending: Vec::new(),
            targets: Vec::new(),
            next_q_transform: None,
            cfg,
        })
    }

    /// Installs the hook SV-RL uses at the target computation (see [`NextQTransform`]).
    pub fn set_next_q_transform(&mut self, transform: Box<dyn NextQTransform>) {
        self.next_q_transform = Some(transform);
    }

    pub fn config(&self) -> &DqnConfig {
        &self.cfg
    }

    /// Gradient steps taken so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Current exploration rate.
    pub fn epsilon(&self) -> f32 {
        self.epsilon.value(self.steps)
    }

    /// The online network.
    pub fn q_network(&self) -> &QNetwork {
        &self.online
    }

    /// One ε-greedy step of every environment, then a training round when one is due.
    fn step_envs(&mut self) -> Result<StepInfo, DqnError> {
        let n = self.env.num_envs();
        let eps = self.epsilon.value(self.steps);
        let mut actions = greedy(&self.online, &self.obs, n)?;
        for a in &mut actions {
            if self.rng.r#gen::<f32>() < eps {
                *a = self.rng.gen_range(0..self.num_actions);
            }
        }
        let step = self.env.step_discrete(&actions)?;
        self.pending.clear();
        let d = self.obs_dim;
        for (i, &action) in actions.iter().enumerate() {
            self.nstep[i].push(
                &self.obs[i * d..(i + 1) * d],
                action,
                step.rewards[i],
                step.next_obs(i),
                step.terminated[i],
                step.truncated[i],
                &mut self.pending,
            );
        }
        let finished = step.finished.to_vec();
        self.obs.copy_from_slice(step.obs);
        for t in &self.pending {
            self.replay.push(
                &t.obs,
                &[t.action as f32],
                t.reward,
                t.discount,
                &t.next_obs,
            )?;
        }
        let before = self.steps;
        self.steps += n as u64;
        self.steps_since_train += n as u64;

        if let (AnyReplay::Prioritized(r), Some(p)) = (&mut self.replay, &self.cfg.prioritized) {
            let progress = (self.steps as f64 / self.cfg.total_steps.max(1) as f64).min(1.0);
            r.set_beta(p.beta0 + progress * (1.0 - p.beta0))?;
        }

        let mut scalars = Vec::new();
        let now = self.steps;
        let crossed = |every: u64| before / every != now / every;
        if self.steps > self.cfg.learning_starts
            && crossed(self.cfg.train_freq)
            && self.replay.len() >= self.cfg.batch_size
        {
            let rounds = if self.cfg.gradient_steps < 0 {
                self.steps_since_train as u32
            } else {
                self.cfg.gradient_steps as u32
            };
            self.steps_since_train = 0;
            let t = self.train(rounds)?;
            scalars = vec![
                ("loss", f64::from(t.loss)),
                ("grad_norm", f64::from(t.grad_norm)),
                ("mean_q_target", f64::from(t.mean_q_target)),
                ("epsilon", f64::from(self.epsilon())),
            ];
        }
        if crossed(self.cfg.target_update_interval) {
            polyak_update(&mut self.target, &self.online, 1.0 - self.cfg.tau)?;
        }
        Ok(StepInfo {
            finished,
            scalars,
            totals: Vec::new(),
        })
    }

    fn train(&mut self, gradient_steps: u32) -> Result<TrainInfo, DqnError> {
        let b = self.cfg.batch_size;
        let mut info = TrainInfo::default();
        for _ in 0..gradient_steps {
            self.replay.sample_into(b, &mut self.rng, &mut self.batch)?;
            let actions: Vec<usize> = self.batch.actions.iter().map(|a| *a as usize).collect();
            let mut next_target = self.target.q_values(&self.batch.next_obs, b)?;
            if let Some(t) = &mut self.next_q_transform {
                t.apply(&mut next_target, b, self.num_actions)?;
            }
            let next_online = if self.cfg.double_q {
                Some(self.online.q_values(&self.batch.next_obs, b)?)
            } else {
                None
            };
            self.targets.resize(b, 0.0);
            q_learning_targets_into(
                &self.batch.rewards,
                &self.batch.discounts,
                &next_target,
                next_online.as_deref(),
                self.num_actions,
                &mut self.targets,
            )?;
            let y = &self.targets;
            let weights =
                matches!(self.replay, AnyReplay::Prioritized(_)).then_some(&self.batch.weights[..]);
            let stats = self.online.regression_step(
                &mut self.opt,
                &self.batch.obs,
                &actions,
                y,
                weights,
                self.cfg.loss,
                self.cfg.max_grad_norm,
            )?;
            if matches!(self.replay, AnyReplay::Prioritized(_)) {
                let prios: Vec<f64> = stats.td_errors.iter().map(|e| e.abs() as f64).collect();
                self.replay.update_priorities(&self.batch.indices, &prios)?;
            }
            self.updates += 1;
            info.loss += stats.loss;
            info.grad_norm += stats.grad_norm;
            info.mean_q_target += y.iter().sum::<f32>() / b as f32;
            info.gradient_steps += 1;
        }
        let k = info.gradient_steps.max(1) as f32;
        info.loss /= k;
        info.grad_norm /= k;
        info.mean_q_target /= k;
        Ok(info)
    }
}

impl Agent for Dqn {
    fn algo(&self) -> &'static str {
        "dqn"
    }

    fn env_id(&self) -> &str {
        &self.env_id
    }

    fn settings(&self) -> RunSettings {
        self.cfg.run_settings()
    }

    fn step(&mut self) -> Result<StepInfo, AgentError> {
        Ok(self.step_envs()?)
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    /// Greedy actions `argmax_a Q(s, a)` for a batch of raw observations `[n, obs_dim]`
    /// (normalised with the training statistics, frozen, when `normalize_obs`).
    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<Actions, AgentError> {
        if self.cfg.normalize_obs {
            let normalized = self.env.normalize_obs(obs);
            return Ok(Actions::Discrete(greedy(&self.online, &normalized, n)?));
        }
        Ok(Actions::Discrete(greedy(&self.online, obs, n)?))
    }

    /// Networks and counters, for `--resume` and evaluation. Without
    /// [`DqnConfig::exact_resume`] the replay memory is not saved: a resumed run refills it
    /// before training resumes (`learning_starts` counts from resume). With it the checkpoint
    /// also carries everything else the run's future depends on (listed at
    /// [`DqnConfig::exact_resume`]).
    fn checkpoint(&self) -> Checkpoint {
        let mut ck = Checkpoint::new();
        ck.insert_params("online", &self.online);
        ck.insert_params("target", &self.target);
        meta::stamp(&mut ck, self.algo(), &self.env_id, self.steps);
        ck.set_meta("updates", self.updates.to_string());
        exact::insert_normalizer(&mut ck, self.env.normalizer());
        if self.cfg.exact_resume {
            self.insert_exact(&mut ck);
        }
        ck
    }

    /// Restores networks and counters from [`Agent::checkpoint`]'s output, and, when the
    /// checkpoint carries it (written with [`DqnConfig::exact_resume`]), the exact-resume state:
    /// the run then continues bit for bit as the checkpointed one would have. Changes nothing
    /// on error.
    fn restore(&mut self, ck: &Checkpoint) -> Result<(), AgentError> {
        let steps = meta::verify(ck, self.algo(), &self.env_id)?;
        let updates = ck.parse_meta("updates")?;
        let norm_stats = exact::normalizer_stats(ck, self.env.normalizer())?;
        let (mut online, mut target) = (self.online.clone(), self.target.clone());
        ck.restore_params("online", &mut online)?;
        ck.restore_params("target", &mut target)?;
        if exact::is_exact(ck) {
            self.restore_exact(ck, &online)?;
        } else {
            // The replay memory is not checkpointed: refill it for `learning_starts` steps (at
            // least one batch) before learning resumes.
            self.cfg.learning_starts =
                steps + self.cfg.learning_starts.max(self.cfg.batch_size as u64);
            for nb in &mut self.nstep {
                nb.clear();
            }
        }
        (self.online, self.target) = (online, target);
        if let Some(stats) = norm_stats {
            // Checked against this env's width by `normalizer_stats`.
            self.env.normalizer_mut().set_stats(stats)?;
        }
        self.steps = steps;
        self.updates = updates;
        Ok(())
    }
}

impl Dqn {
    /// Adds the exact-resume state to `ck`: the environments (observations, episode counters,
    /// physics and RNGs), the current observations, the normaliser's running returns, the
    /// replay memory and n-step buffers, the
    /// ε-greedy / sampling RNG, Adam's moments and step count, and the steps since the last
    /// training round. ε and prioritized replay's β are functions of the step count. An
    /// environment that cannot be snapshotted (none of the registered ones) leaves the
    /// checkpoint without the exact state. Not covered: a [`NextQTransform`]'s own state
    /// (SV-RL's masking RNG), which the extension crate would have to save itself.
    fn insert_exact(&self, ck: &mut Checkpoint) {
        if exact::insert_envs(ck, self.env.inner(), &self.obs).is_err() {
            return;
        }
        exact::insert_normalizer_returns(ck, self.env.normalizer());
        exact::insert_replay(ck, &self.replay);
        exact::insert_nstep(ck, &self.nstep);
        exact::insert_rng(ck, "rng", &self.rng);
        self.opt.insert_state(ck, "opt");
        ck.set_meta("steps_since_train", self.steps_since_train.to_string());
        exact::mark(ck);
    }

    /// Restores [`Dqn::insert_exact`]'s state (Adam's for the restored `online` network);
    /// changes nothing on error.
    fn restore_exact(&mut self, ck: &Checkpoint, online: &QNetwork) -> Result<(), AgentError> {
        let mut replay = self.replay.clone();
        exact::restore_replay(ck, &mut replay)?;
        let mut nstep = self.nstep.clone();
        exact::restore_nstep(ck, &mut nstep, self.obs_dim)?;
        let rng = exact::rng(ck, "rng")?;
        let mut opt = Adam::new(self.opt.cfg);
        opt.restore_state(ck, "opt", online)?;
        let steps_since_train = ck.parse_meta("steps_since_train")?;
        let obs = exact::read_envs(ck, &self.env_id, self.env.inner())?;
        let returns = exact::normalizer_returns(ck, self.env.normalizer())?;
        // Last: the only steps that touch `self` and could fail, and they cannot after
        // `read_envs` / `normalizer_returns`.
        exact::restore_envs(ck, self.env.inner_mut())?;
        if let Some(returns) = &returns {
            self.env.normalizer_mut().set_returns(returns)?;
        }
        self.obs = obs;
        self.replay = replay;
        self.nstep = nstep;
        self.rng = rng;
        self.opt = opt;
        self.steps_since_train = steps_since_train;
        Ok(())
    }
}

/// `argmax_a Q(s, a)` per row.
pub fn greedy(q: &QNetwork, obs: &[f32], n: usize) -> Result<Vec<usize>, DqnError> {
    let values = q.q_values(obs, n)?;
    Ok(values
        .chunks(q.num_actions())
        .map(Categorical::argmax)
        .collect())
}
