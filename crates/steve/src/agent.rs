//! The STEVE-DDPG learner: one agent whose critic target is TD, MVE or STEVE.

use eirl_agent::{Agent, AgentError, RunSettings, StepInfo, exact, meta};
use eirl_envs::{Actions, BoxSpace, Space, VecEnv, VecNormalize};
use eirl_models::tensor::*;
use eirl_models::{
    Activation, Adam, AdamConfig, Checkpoint, Device, EnsembleMlp, Mlp, Optimizer, device,
    matrix_from_slice, polyak_update,
};
use eirl_replay::{ReplayBuffer, TransitionBatch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::SteveError;
use crate::config::{SteveConfig, TargetKind};
use crate::expansion::{
    ExpansionNets, ExpansionParams, concat_rows, expand, layer_sizes, policy_actions, tile,
};
use crate::world_model::{
    ModelLosses, Transitions, WorldModel, WorldModelConfig, WorldModelTrainer,
};

/// The registry name.
pub const ALGO: &str = "steve";

/// Means over the updates of one env step.
#[derive(Clone, Copy, Debug, Default)]
struct UpdateInfo {
    q_loss: f64,
    policy_q: f64,
    mean_target: f64,
    /// STEVE: mean weight of horizon 0 (1 − the official `average_model_use`).
    weight_h0: f64,
    model: [f64; 3],
    updates: u32,
}

/// Counters a run reports.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SteveStats {
    /// Critic/policy updates.
    pub updates: u64,
    /// World-model updates (pre-training included).
    pub model_updates: u64,
}

/// A STEVE-DDPG agent bound to its training environments.
pub struct Steve {
    cfg: SteveConfig,
    env_id: String,
    /// The training envs, through the observation / reward normaliser (transparent unless
    /// `normalize_obs` / `normalize_reward`).
    env: VecNormalize,
    bounds: BoxSpace,
    /// The current observations, as the networks see them (normalised when `normalize_obs`).
    obs: Vec<f32>,
    obs_dim: usize,
    act_dim: usize,
    policy: Mlp,
    q: EnsembleMlp,
    target_q: EnsembleMlp,
    world: Option<WorldModelTrainer>,
    opt_policy: Adam,
    opt_q: Adam,
    replay: ReplayBuffer,
    batch: TransitionBatch,
    rng: ChaCha8Rng,
    steps: u64,
    stats: SteveStats,
    pretrained: bool,
    /// No update before this many steps (after a resume: until replay is refilled).
    learn_from: u64,
}

impl Steve {
    /// Builds networks, replay and `cfg.num_envs` environments of `env_id`, all from `seed`.
    pub fn new(env_id: &str, cfg: SteveConfig, seed: u64) -> Result<Self, SteveError> {
        cfg.validate()?;
        let mut env = VecNormalize::new(VecEnv::new(env_id, cfg.num_envs, seed)?, cfg.normalize())?;
        if cfg.exact_resume {
            // Refused here rather than resuming inexactly later (`gym:` envs live in Python).
            env.inner().try_snapshot()?;
        }
        let bounds = match env.action_space() {
            Space::Box(b) => b.clone(),
            Space::Discrete(_) => {
                return Err(SteveError::UnsupportedActionSpace(format!(
                    "STEVE-DDPG needs a continuous (box) action space; {env_id} is discrete"
                )));
            }
        };
        if bounds
            .low
            .iter()
            .zip(&bounds.high)
            .any(|(l, h)| !(l.is_finite() && h.is_finite() && l < h))
        {
            return Err(SteveError::UnsupportedActionSpace(format!(
                "{env_id}: the policy's tanh is scaled to the action box, which must be finite"
            )));
        }
        let obs_dim = env.obs_dim();
        let act_dim = bounds.dim();
        // The replay memory at the env's real widths, before anything is allocated.
        cfg.check_memory(obs_dim, act_dim)?;
        let obs = env.reset().to_vec();
        let dev: Device = device(seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let relu = Activation::Relu;
        let policy = Mlp::new(
            &dev,
            &layer_sizes(obs_dim, &cfg.hidden, act_dim),
            relu,
            false,
            &mut rng,
        )?;
        let q = EnsembleMlp::new(
            &dev,
            cfg.q_ensemble,
            &layer_sizes(obs_dim + act_dim, &cfg.hidden, 1),
            relu,
            &mut rng,
        )?;
        let target_q = q.clone();
        let world = if cfg.target.uses_model() {
            let wm = WorldModel::new(
                &dev,
                &WorldModelConfig {
                    obs_dim,
                    act_dim,
                    dynamics: cfg.dynamics_ensemble,
                    rewards: cfg.reward_ensemble,
                    transition_hidden: cfg.transition_hidden.clone(),
                    aux_hidden: cfg.aux_hidden.clone(),
                },
                &mut rng,
            )?;
            Some(WorldModelTrainer::new(
                wm,
                cfg.model_learning_rate,
                cfg.model_weight_decay,
            ))
        } else {
            None
        };
        let adam = AdamConfig {
            lr: cfg.learning_rate,
            ..AdamConfig::default()
        };
        Ok(Steve {
            env_id: env_id.to_string(),
            env,
            bounds,
            obs,
            obs_dim,
            act_dim,
            policy,
            q,
            target_q,
            world,
            opt_policy: Adam::new(adam),
            opt_q: Adam::new(adam),
            replay: ReplayBuffer::new(cfg.buffer_size, obs_dim, act_dim)?,
            batch: TransitionBatch::default(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5745_5645),
            steps: 0,
            stats: SteveStats::default(),
            pretrained: false,
            learn_from: cfg.learning_starts,
            cfg,
        })
    }

    pub fn config(&self) -> &SteveConfig {
        &self.cfg
    }

    pub fn stats(&self) -> SteveStats {
        self.stats
    }

    /// `[-1, 1]` actions to the env's box.
    fn to_env(&self, a: &[f32]) -> Vec<f32> {
        let d = self.act_dim;
        a.iter()
            .enumerate()
            .map(|(i, x)| {
                let (lo, hi) = (self.bounds.low[i % d], self.bounds.high[i % d]);
                lo + (x.clamp(-1.0, 1.0) + 1.0) * 0.5 * (hi - lo)
            })
            .collect()
    }

    fn step_envs(&mut self) -> Result<StepInfo, SteveError> {
        let n = self.env.num_envs();
        let (o, d) = (self.obs_dim, self.act_dim);
        let actions: Vec<f32> = if self.steps < self.cfg.learning_starts {
            (0..n * d).map(|_| self.rng.gen_range(-1.0..=1.0)).collect()
        } else {
            let x = matrix_from_slice(self.policy.device(), &self.obs, n, o)?;
            let pre = self.policy.forward(x).as_vec();
            pre.iter()
                .map(|u| {
                    if self.rng.r#gen::<f32>() < self.cfg.explore_chance {
                        let e: f32 = self.rng.sample(StandardNormal);
                        (u + e).tanh()
                    } else {
                        u.tanh()
                    }
                })
                .collect()
        };
        let env_actions = self.to_env(&actions);
        let step = self.env.step_continuous(&env_actions)?;
        for i in 0..n {
            if !step.rewards[i].is_finite() {
                return Err(SteveError::NonFinite(format!(
                    "reward {} from env {i} of {}",
                    step.rewards[i], self.env_id
                )));
            }
            let discount = if step.terminated[i] { 0.0 } else { 1.0 };
            self.replay.push(
                &self.obs[i * o..(i + 1) * o],
                &actions[i * d..(i + 1) * d],
                step.rewards[i],
                discount,
                &step.final_obs[i * o..(i + 1) * o],
            )?;
        }
        let finished = step.finished.to_vec();
        self.obs.copy_from_slice(step.obs);
        self.steps += n as u64;

        let mut scalars = Vec::new();
        if self.steps >= self.learn_from && self.replay.len() >= self.cfg.batch_size {
            if !self.pretrained {
                self.pretrain()?;
            }
            let mut info = UpdateInfo::default();
            for _ in 0..self.cfg.updates_per_step as usize * n {
                self.update(&mut info)?;
            }
            let k = f64::from(info.updates.max(1));
            scalars.push(("q_loss", info.q_loss / k));
            scalars.push(("policy_q", info.policy_q / k));
            scalars.push(("mean_target", info.mean_target / k));
            if self.world.is_some() {
                scalars.push(("model_transition_loss", info.model[0] / k));
                scalars.push(("model_termination_loss", info.model[1] / k));
                scalars.push(("model_reward_loss", info.model[2] / k));
            }
            if self.cfg.target == TargetKind::Steve {
                scalars.push(("steve_weight_h0", info.weight_h0 / k));
            }
        }
        Ok(StepInfo {
            finished,
            scalars,
            totals: Vec::new(),
        })
    }

    /// The official `pretrain_n` world-model updates before value expansion starts.
    fn pretrain(&mut self) -> Result<(), SteveError> {
        self.pretrained = true;
        if self.world.is_none() {
            return Ok(());
        }
        for _ in 0..self.cfg.model_pretrain_updates {
            self.model_update()?;
        }
        Ok(())
    }

    fn model_update(&mut self) -> Result<ModelLosses, SteveError> {
        let Some(world) = &mut self.world else {
            return Ok(ModelLosses::default());
        };
        self.replay
            .sample_into(self.cfg.batch_size, &mut self.rng, &mut self.batch)?;
        let terminated = terminated_flags(&self.batch);
        let losses = world.update(&Transitions {
            obs: &self.batch.obs,
            actions: &self.batch.actions,
            rewards: &self.batch.rewards,
            next_obs: &self.batch.next_obs,
            terminated: &terminated,
        })?;
        self.stats.model_updates += 1;
        Ok(losses)
    }

    /// One world-model update, then one critic and one policy update on a fresh minibatch.
    fn update(&mut self, info: &mut UpdateInfo) -> Result<(), SteveError> {
        let ml = self.model_update()?;
        let b = self.cfg.batch_size;
        let (o, d) = (self.obs_dim, self.act_dim);
        self.replay.sample_into(b, &mut self.rng, &mut self.batch)?;
        let terminated = terminated_flags(&self.batch);
        let (targets, w0) = self.targets(&terminated)?;
        if let Some(bad) = targets.iter().find(|t| !t.is_finite()) {
            return Err(SteveError::NonFinite(format!("critic target {bad}")));
        }
        let dev = self.policy.device().clone();
        let l = self.cfg.q_ensemble;

        // Policy: maximise the ensemble-mean Q at (s, tanh μ(s)), through dQ̄/da (the
        // deterministic policy gradient), plus the pre-tanh penalty.
        let obs_t = matrix_from_slice(&dev, &self.batch.obs, b, o)?;
        let pre = self.policy.forward(obs_t.leaky_trace());
        let act: Vec<f32> = pre.as_vec().into_iter().map(f32::tanh).collect();
        let sa_pi = state_action(&self.batch.obs, &act, o, d);
        let x = dev.tensor_from_vec(tile(&sa_pi, l), (l, b, o + d));
        let q_pi = self.q.forward(x.leaky_trace()).mean::<Rank0, _>();
        let policy_q = q_pi.array();
        let grads = q_pi.backward();
        let gx = grads.get(&x).as_vec();
        let mut g_a = vec![0.0f32; b * d];
        for (m, row) in gx.chunks_exact(o + d).enumerate() {
            for j in 0..d {
                g_a[(m % b) * d + j] += row[o + j];
            }
        }
        let reg = pre.with_empty_tape().square().mean::<Rank0, _>() * self.cfg.policy_reg;
        let g_const = matrix_from_slice(&dev, &g_a, b, d)?;
        let surrogate = (pre.tanh() * g_const).sum::<Rank0, _>().negate() + reg;
        let mut g = surrogate.backward();
        self.opt_policy.step(&mut self.policy, &mut g, None)?;

        // Critic: each member regresses on its own share of the minibatch.
        let sa = state_action(&self.batch.obs, &self.batch.actions, o, d);
        let x = dev.tensor_from_vec(sa, (l, b / l, o + d));
        let y = dev.tensor_from_vec(targets.clone(), (l, b / l, 1));
        let q_loss = (self.q.forward(x.leaky_trace()) - y)
            .square()
            .mean::<Rank0, _>()
            * 0.5;
        let q_loss_v = q_loss.array();
        if !q_loss_v.is_finite() {
            return Err(SteveError::NonFinite(format!("critic loss {q_loss_v}")));
        }
        let mut g = q_loss.backward();
        self.opt_q.step(&mut self.q, &mut g, None)?;
        self.stats.updates += 1;
        if self.stats.updates % self.cfg.target_update_interval == 0 {
            polyak_update(&mut self.target_q, &self.q, 1.0 - self.cfg.tau)?;
        }

        info.q_loss += f64::from(q_loss_v);
        info.policy_q += f64::from(policy_q);
        info.mean_target += targets.iter().map(|&t| f64::from(t)).sum::<f64>() / b as f64;
        info.weight_h0 += w0;
        info.model[0] += f64::from(ml.transition);
        info.model[1] += f64::from(ml.termination);
        info.model[2] += f64::from(ml.reward);
        info.updates += 1;
        Ok(())
    }

    /// The critic's targets for the sampled minibatch, and STEVE's mean horizon-0 weight.
    fn targets(&self, terminated: &[f32]) -> Result<(Vec<f32>, f64), SteveError> {
        let b = self.batch.batch_size;
        let (o, d) = (self.obs_dim, self.act_dim);
        let (gamma, rs) = (self.cfg.gamma, self.cfg.reward_scale);
        match (&self.world, self.cfg.target) {
            (Some(world), kind @ (TargetKind::Mve | TargetKind::Steve)) => {
                let nets = ExpansionNets {
                    policy: &self.policy,
                    target_q: &self.target_q,
                    transition: &world.model.transition,
                    termination: &world.model.termination,
                    reward: &world.model.reward,
                };
                let p = ExpansionParams {
                    horizon: self.cfg.horizon,
                    gamma,
                    reward_scale: rs,
                    eps: self.cfg.steve_eps,
                };
                let e = expand(
                    &nets,
                    &p,
                    &self.batch.next_obs,
                    &self.batch.rewards,
                    terminated,
                )?;
                let h1 = self.cfg.horizon + 1;
                let w0 = e
                    .weights
                    .iter()
                    .step_by(h1)
                    .map(|&w| f64::from(w))
                    .sum::<f64>()
                    / b as f64;
                Ok(if kind == TargetKind::Mve {
                    (e.mve, 0.0)
                } else {
                    (e.steve, w0)
                })
            }
            _ => {
                let l = self.cfg.q_ensemble;
                let act = policy_actions(&self.policy, &self.batch.next_obs, b)?;
                let x = state_action(&self.batch.next_obs, &act, o, d);
                let q = self.target_q.forward_host(&tile(&x, l), b)?;
                let targets = (0..b)
                    .map(|i| {
                        let mean = (0..l).map(|m| q[m * b + i]).sum::<f32>() / l as f32;
                        rs * self.batch.rewards[i] + gamma * (1.0 - terminated[i]) * mean
                    })
                    .collect();
                Ok((targets, 0.0))
            }
        }
    }
}

/// 1 where a sampled transition ended by termination (stored as discount 0), else 0.
fn terminated_flags(batch: &TransitionBatch) -> Vec<f32> {
    batch.discounts.iter().map(|g| 1.0 - g).collect()
}

/// `[s, a]` rows.
fn state_action(obs: &[f32], act: &[f32], o: usize, d: usize) -> Vec<f32> {
    let rows = obs.len() / o.max(1);
    let mut x = Vec::with_capacity(rows * (o + d));
    concat_rows(&[(obs, o), (act, d)], rows, &mut x);
    x
}

const NETS: [&str; 6] = [
    "policy",
    "q",
    "target_q",
    "transition",
    "termination",
    "reward",
];

impl Agent for Steve {
    fn algo(&self) -> &'static str {
        ALGO
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

    /// `tanh μ(s)` scaled to the action box, for raw observations (normalised with the
    /// training statistics, frozen, when `normalize_obs`).
    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<Actions, AgentError> {
        let a = if self.cfg.normalize_obs {
            policy_actions(&self.policy, &self.env.normalize_obs(obs), n)?
        } else {
            policy_actions(&self.policy, obs, n)?
        };
        Ok(Actions::Continuous {
            values: self.to_env(&a),
            dim: self.act_dim,
        })
    }

    /// Networks and counters. Without [`SteveConfig::exact_resume`] the replay memory is not
    /// saved: a resumed run refills it for `learning_starts` steps (at least one batch) before
    /// learning resumes; the world model is restored, so it is not pre-trained again. With it
    /// the checkpoint also carries the rest of the run's state (listed at
    /// [`SteveConfig::exact_resume`]).
    fn checkpoint(&self) -> Checkpoint {
        let mut ck = Checkpoint::new();
        ck.insert_params(NETS[0], &self.policy);
        ck.insert_params(NETS[1], &self.q);
        ck.insert_params(NETS[2], &self.target_q);
        if let Some(w) = &self.world {
            ck.insert_params(NETS[3], &w.model.transition);
            ck.insert_params(NETS[4], &w.model.termination);
            ck.insert_params(NETS[5], &w.model.reward);
        }
        meta::stamp(&mut ck, self.algo(), &self.env_id, self.steps);
        ck.set_meta("target", self.cfg.target.name());
        ck.set_meta("updates", self.stats.updates.to_string());
        ck.set_meta("model_updates", self.stats.model_updates.to_string());
        exact::insert_normalizer(&mut ck, self.env.normalizer());
        if self.cfg.exact_resume {
            self.insert_exact(&mut ck);
        }
        ck
    }

    fn restore(&mut self, ck: &Checkpoint) -> Result<(), AgentError> {
        let steps = meta::verify(ck, self.algo(), &self.env_id)?;
        if let Some(t) = ck.meta("target")
            && t != self.cfg.target.name()
        {
            return Err(AgentError::Checkpoint(format!(
                "checkpoint trained with target `{t}`, this agent uses `{}`",
                self.cfg.target.name()
            )));
        }
        let updates = ck.parse_meta("updates")?;
        let model_updates = ck.parse_meta("model_updates")?;
        let norm_stats = exact::normalizer_stats(ck, self.env.normalizer())?;
        let (mut policy, mut q, mut target_q) =
            (self.policy.clone(), self.q.clone(), self.target_q.clone());
        ck.restore_params(NETS[0], &mut policy)?;
        ck.restore_params(NETS[1], &mut q)?;
        ck.restore_params(NETS[2], &mut target_q)?;
        let mut world = match &self.world {
            Some(w) => {
                let mut m = w.model.clone();
                ck.restore_params(NETS[3], &mut m.transition)?;
                ck.restore_params(NETS[4], &mut m.termination)?;
                ck.restore_params(NETS[5], &mut m.reward)?;
                Some(WorldModelTrainer::new(
                    m,
                    self.cfg.model_learning_rate,
                    self.cfg.model_weight_decay,
                ))
            }
            None => None,
        };
        let exact_state = if exact::is_exact(ck) {
            Some(self.read_exact(ck, &policy, &q, world.as_mut())?)
        } else {
            None
        };
        (self.policy, self.q, self.target_q) = (policy, q, target_q);
        self.world = world;
        if let Some(stats) = norm_stats {
            // Checked against this env's width by `normalizer_stats`.
            self.env.normalizer_mut().set_stats(stats)?;
        }
        self.steps = steps;
        self.stats = SteveStats {
            updates,
            model_updates,
        };
        match exact_state {
            Some(s) => {
                exact::restore_envs(ck, self.env.inner_mut())?;
                if let Some(returns) = &s.returns {
                    self.env.normalizer_mut().set_returns(returns)?;
                }
                self.replay = s.replay;
                self.rng = s.rng;
                self.obs = s.obs;
                (self.opt_policy, self.opt_q) = (s.opt_policy, s.opt_q);
                self.pretrained = s.pretrained;
                self.learn_from = s.learn_from;
            }
            None => {
                self.pretrained = model_updates > 0;
                // The policy acts from the first step after a resume; updates wait for the
                // refill.
                self.learn_from =
                    self.steps + self.cfg.learning_starts.max(self.cfg.batch_size as u64);
            }
        }
        Ok(())
    }
}

/// The exact-resume state read from a checkpoint, not yet applied.
struct ExactState {
    replay: ReplayBuffer,
    rng: ChaCha8Rng,
    obs: Vec<f32>,
    opt_policy: Adam,
    opt_q: Adam,
    pretrained: bool,
    learn_from: u64,
    /// Each env's running discounted return of the reward normaliser.
    returns: Option<Vec<f64>>,
}

impl Steve {
    /// Adds the exact-resume state to `ck`: the environments (observations, episode counters,
    /// physics and RNGs), the current observations, the normaliser's running returns, the
    /// replay memory, the exploration /
    /// sampling RNG, the policy's, critic's and world models' Adam moments and step counts, the
    /// pre-training flag and the step learning starts from. An environment that cannot be
    /// snapshotted (none of the registered ones) leaves the checkpoint without the exact state.
    fn insert_exact(&self, ck: &mut Checkpoint) {
        if exact::insert_envs(ck, self.env.inner(), &self.obs).is_err() {
            return;
        }
        exact::insert_normalizer_returns(ck, self.env.normalizer());
        exact::insert_replay_buffer(ck, &self.replay);
        exact::insert_rng(ck, "rng", &self.rng);
        self.opt_policy.insert_state(ck, "opt_policy");
        self.opt_q.insert_state(ck, "opt_q");
        if let Some(w) = &self.world {
            w.insert_optimizer_state(ck, "opt_model");
        }
        ck.set_meta("pretrained", self.pretrained.to_string());
        ck.set_meta("learn_from", self.learn_from.to_string());
        exact::mark(ck);
    }

    /// Reads [`Steve::insert_exact`]'s state for the restored networks, checking it against
    /// this agent; only the restored world model's optimizers (not yet installed) change.
    fn read_exact(
        &self,
        ck: &Checkpoint,
        policy: &Mlp,
        q: &EnsembleMlp,
        world: Option<&mut WorldModelTrainer>,
    ) -> Result<ExactState, AgentError> {
        let mut replay = self.replay.clone();
        exact::restore_replay_buffer(ck, &mut replay)?;
        let rng = exact::rng(ck, "rng")?;
        let mut opt_policy = Adam::new(self.opt_policy.cfg);
        opt_policy.restore_state(ck, "opt_policy", policy)?;
        let mut opt_q = Adam::new(self.opt_q.cfg);
        opt_q.restore_state(ck, "opt_q", q)?;
        if let Some(w) = world {
            w.restore_optimizer_state(ck, "opt_model")?;
        }
        let obs = exact::read_envs(ck, &self.env_id, self.env.inner())?;
        let returns = exact::normalizer_returns(ck, self.env.normalizer())?;
        Ok(ExactState {
            returns,
            replay,
            rng,
            obs,
            opt_policy,
            opt_q,
            pretrained: ck.parse_meta("pretrained")?,
            learn_from: ck.parse_meta("learn_from")?,
        })
    }
}
