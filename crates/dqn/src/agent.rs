//! The DQN training loop: ε-greedy acting over a [`VecEnv`], n-step transitions into replay,
//! minibatch TD regression toward a target network.

use eirl_envs::{EpisodeStats, EvalStats, Space, VecEnv, evaluate_discrete};
use eirl_models::{Adam, AdamConfig, Categorical, Checkpoint, QNetwork, polyak_update};
use eirl_replay::{AnyReplay, PrioritizedReplay, Replay, ReplayBuffer, TransitionBatch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::DqnConfig;
use crate::nstep::{NStepBuffer, NStepTransition};
use crate::schedule::LinearSchedule;
use crate::{DqnError, targets};

/// What one call to [`Dqn::step`] did.
#[derive(Clone, Debug, Default)]
pub struct StepInfo {
    /// Episodes that ended during this step.
    pub finished: Vec<EpisodeStats>,
    /// Mean loss and gradient norm of the training round, if one ran.
    pub train: Option<TrainInfo>,
}

/// Statistics of one training round (several gradient steps).
#[derive(Clone, Copy, Debug, Default)]
pub struct TrainInfo {
    pub loss: f32,
    pub grad_norm: f32,
    pub mean_q_target: f32,
    pub gradient_steps: u32,
}

/// A DQN agent bound to its training environments.
pub struct Dqn {
    cfg: DqnConfig,
    env_id: String,
    env: VecEnv,
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
}

impl Dqn {
    /// Builds networks, replay and `cfg.num_envs` environments of `env_id`, all from `seed`.
    pub fn new(env_id: &str, cfg: DqnConfig, seed: u64) -> Result<Self, DqnError> {
        cfg.validate()?;
        let mut env = VecEnv::new(env_id, cfg.num_envs, seed)?;
        let num_actions = match env.action_space() {
            Space::Discrete(n) => *n,
            other => {
                return Err(DqnError::UnsupportedActionSpace(format!(
                    "DQN needs a discrete action space; {env_id} has {other:?}"
                )));
            }
        };
        let obs_dim = env.obs_dim();
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
            cfg,
        })
    }

    pub fn config(&self) -> &DqnConfig {
        &self.cfg
    }

    /// Environment steps taken so far (summed over envs).
    pub fn env_steps(&self) -> u64 {
        self.steps
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

    /// Greedy actions `argmax_a Q(s, a)` for a batch of observations `[n, obs_dim]`.
    pub fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<Vec<usize>, DqnError> {
        greedy(&self.online, obs, n)
    }

    /// Evaluates the greedy policy on fresh environments (env `i` seeded `seed + i`).
    pub fn evaluate(&self, episodes: usize, seed: u64) -> Result<EvalStats, DqnError> {
        evaluate_discrete(&self.env_id, episodes, seed, |obs, n| {
            greedy(&self.online, obs, n)
        })
    }

    /// One ε-greedy step of every environment, then a training round when one is due.
    pub fn step(&mut self) -> Result<StepInfo, DqnError> {
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
            let done = step.terminated[i] || step.truncated[i];
            let next = if done {
                &step.final_obs[i * d..(i + 1) * d]
            } else {
                &step.obs[i * d..(i + 1) * d]
            };
            self.nstep[i].push(
                &self.obs[i * d..(i + 1) * d],
                action,
                step.rewards[i],
                next,
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

        let mut train = None;
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
            train = Some(self.train(rounds)?);
        }
        if crossed(self.cfg.target_update_interval) {
            polyak_update(&mut self.target, &self.online, 1.0 - self.cfg.tau)?;
        }
        Ok(StepInfo { finished, train })
    }

    fn train(&mut self, gradient_steps: u32) -> Result<TrainInfo, DqnError> {
        let b = self.cfg.batch_size;
        let mut info = TrainInfo::default();
        for _ in 0..gradient_steps {
            self.replay.sample_into(b, &mut self.rng, &mut self.batch)?;
            let actions: Vec<usize> = self.batch.actions.iter().map(|a| *a as usize).collect();
            let next_target = self.target.q_values(&self.batch.next_obs, b)?;
            let next_online = if self.cfg.double_q {
                Some(self.online.q_values(&self.batch.next_obs, b)?)
            } else {
                None
            };
            let y = targets::q_targets(
                &self.batch.rewards,
                &self.batch.discounts,
                &next_target,
                next_online.as_deref(),
                self.num_actions,
            );
            let weights =
                matches!(self.replay, AnyReplay::Prioritized(_)).then_some(&self.batch.weights[..]);
            let stats = self.online.regression_step(
                &mut self.opt,
                &self.batch.obs,
                &actions,
                &y,
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

    /// Networks and counters, for `--resume` and evaluation. The replay memory is not saved:
    /// a resumed run refills it before training resumes (`learning_starts` counts from resume).
    pub fn checkpoint(&self) -> Checkpoint {
        let mut ck = Checkpoint::new();
        ck.insert_params("online", &self.online);
        ck.insert_params("target", &self.target);
        ck.set_meta("algo", "dqn");
        ck.set_meta("env_id", self.env_id.clone());
        ck.set_meta("env_steps", self.steps.to_string());
        ck.set_meta("updates", self.updates.to_string());
        ck
    }

    /// Restores networks and counters from [`Dqn::checkpoint`]'s output.
    pub fn restore(&mut self, ck: &Checkpoint) -> Result<(), DqnError> {
        ck.restore_params("online", &mut self.online)?;
        ck.restore_params("target", &mut self.target)?;
        let parse = |k: &str| -> Result<u64, DqnError> {
            ck.meta(k)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| DqnError::Config(format!("checkpoint lacks a valid `{k}`")))
        };
        self.steps = parse("env_steps")?;
        self.updates = parse("updates")?;
        // The replay memory is not checkpointed: refill it for `learning_starts` steps (at least
        // one batch) before learning resumes.
        self.cfg.learning_starts =
            self.steps + self.cfg.learning_starts.max(self.cfg.batch_size as u64);
        for nb in &mut self.nstep {
            nb.clear();
        }
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
