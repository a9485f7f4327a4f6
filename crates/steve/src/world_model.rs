//! The learned world model (STEVE eq. 2.5, official `worldmodel.py`): ensembles of dynamics
//! models `T̂(s, a)` predicting the change of observation, termination models `D̂(s', s, a)`
//! (a logit; the probability is its sigmoid) and reward models `R̂(s', s, a)`.
//!
//! Loss per transition, as the official code: `½‖s' − (s + T̂(s, a))‖²` +
//! `BCE(D̂(s', s, a), d)` (the termination flag; a time-limit truncation is 0) +
//! `½(r − R̂(s', s, a))²`, plus the L2 penalty `wd/2·‖θ‖²` on every model's weights. Each member
//! trains on its own share of every minibatch (the official `reduce_mode="random"` gives each
//! transition to one random member; here the minibatch, already a uniform sample, is cut into
//! equal consecutive shares).

use eirl_models::tensor::*;
use eirl_models::{
    Activation, Adam, AdamConfig, Checkpoint, Device, EnsembleMlp, ModelError, Optimizer,
    Parameterized, Tensor3,
};
use rand::Rng;

use crate::SteveError;
use crate::expansion::{concat_rows, layer_sizes};

/// The three ensembles.
#[derive(Clone)]
pub struct WorldModel {
    pub transition: EnsembleMlp,
    pub termination: EnsembleMlp,
    pub reward: EnsembleMlp,
}

/// The three loss terms of one update (means over the minibatch).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ModelLosses {
    pub transition: f32,
    pub termination: f32,
    pub reward: f32,
}

/// One minibatch of real transitions, row-major.
#[derive(Clone, Copy, Debug)]
pub struct Transitions<'a> {
    pub obs: &'a [f32],
    pub actions: &'a [f32],
    pub rewards: &'a [f32],
    pub next_obs: &'a [f32],
    /// 1 where the transition ended the episode by termination, else 0.
    pub terminated: &'a [f32],
}

impl Transitions<'_> {
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }

    /// `[s, a]` rows.
    pub fn state_action(&self, obs_dim: usize, act_dim: usize) -> Vec<f32> {
        let mut x = Vec::with_capacity(self.len() * (obs_dim + act_dim));
        concat_rows(
            &[(self.obs, obs_dim), (self.actions, act_dim)],
            self.len(),
            &mut x,
        );
        x
    }

    /// `[s', s, a]` rows.
    pub fn next_state_action(&self, obs_dim: usize, act_dim: usize) -> Vec<f32> {
        let mut x = Vec::with_capacity(self.len() * (2 * obs_dim + act_dim));
        let parts = [
            (self.next_obs, obs_dim),
            (self.obs, obs_dim),
            (self.actions, act_dim),
        ];
        concat_rows(&parts, self.len(), &mut x);
        x
    }
}

/// Shapes and optimizer settings of a [`WorldModel`].
#[derive(Clone, Debug)]
pub struct WorldModelConfig {
    pub obs_dim: usize,
    pub act_dim: usize,
    /// M (dynamics and termination members).
    pub dynamics: usize,
    /// N (reward members).
    pub rewards: usize,
    pub transition_hidden: Vec<usize>,
    pub aux_hidden: Vec<usize>,
}

impl WorldModel {
    pub fn new(
        dev: &Device,
        cfg: &WorldModelConfig,
        rng: &mut impl Rng,
    ) -> Result<Self, SteveError> {
        let (o, a) = (cfg.obs_dim, cfg.act_dim);
        let relu = Activation::Relu;
        Ok(WorldModel {
            transition: EnsembleMlp::new(
                dev,
                cfg.dynamics,
                &layer_sizes(o + a, &cfg.transition_hidden, o),
                relu,
                rng,
            )?,
            termination: EnsembleMlp::new(
                dev,
                cfg.dynamics,
                &layer_sizes(2 * o + a, &cfg.aux_hidden, 1),
                relu,
                rng,
            )?,
            reward: EnsembleMlp::new(
                dev,
                cfg.rewards,
                &layer_sizes(2 * o + a, &cfg.aux_hidden, 1),
                relu,
                rng,
            )?,
        })
    }

    /// The loss terms on `batch` (means over the batch, without the L2 term).
    pub fn losses(&self, batch: &Transitions<'_>) -> Result<ModelLosses, SteveError> {
        let i = Inputs::new(self, batch)?;
        Ok(ModelLosses {
            transition: transition_loss(&self.transition, i.sa_m.clone(), i.delta.clone(), i.rows)
                .array(),
            termination: binary_cross_entropy_with_logits_loss(
                self.termination.forward(i.nsa_m.clone()),
                i.done.clone(),
            )
            .array(),
            reward: reward_loss(&self.reward, i.nsa_n.clone(), i.reward.clone()).array(),
        })
    }

    /// Number of trainable scalars of the three ensembles.
    pub fn num_params(&self) -> usize {
        self.transition.num_params() + self.termination.num_params() + self.reward.num_params()
    }
}

/// A minibatch cut into the members' shares.
struct Inputs {
    rows: usize,
    /// `[M, B/M, o+a]` and the targets `s' − s`.
    sa_m: Tensor3,
    delta: Tensor3,
    /// `[M, B/M, 2o+a]` and the flags.
    nsa_m: Tensor3,
    done: Tensor3,
    /// `[N, B/N, 2o+a]` and the rewards.
    nsa_n: Tensor3,
    reward: Tensor3,
}

impl Inputs {
    fn new(model: &WorldModel, batch: &Transitions<'_>) -> Result<Self, SteveError> {
        let o = model.transition.outputs();
        let a = model.transition.inputs() - o;
        let rows = batch.len();
        let dev = model.transition.device();
        let (m, n) = (model.transition.members(), model.reward.members());
        if batch.obs.len() != rows * o
            || batch.next_obs.len() != rows * o
            || batch.actions.len() != rows * a
            || batch.terminated.len() != rows
        {
            return Err(SteveError::Shape(format!(
                "world-model minibatch of {rows} does not match obs {o} / action {a}"
            )));
        }
        let sa = batch.state_action(o, a);
        let nsa = batch.next_state_action(o, a);
        let delta: Vec<f32> = batch
            .next_obs
            .iter()
            .zip(batch.obs)
            .map(|(y, x)| y - x)
            .collect();
        Ok(Inputs {
            rows,
            sa_m: shares(dev, &sa, rows, m, o + a)?,
            delta: shares(dev, &delta, rows, m, o)?,
            nsa_m: shares(dev, &nsa, rows, m, 2 * o + a)?,
            done: shares(dev, batch.terminated, rows, m, 1)?,
            nsa_n: shares(dev, &nsa, rows, n, 2 * o + a)?,
            reward: shares(dev, batch.rewards, rows, n, 1)?,
        })
    }
}

/// `½ Σ_features (T̂(x) − y)²`, mean over rows.
fn transition_loss<T: Tape<f32, Device>>(
    net: &EnsembleMlp,
    x: Tensor3<T>,
    y: Tensor3,
    rows: usize,
) -> Tensor<(), f32, Device, T> {
    (net.forward(x) - y).square().sum::<Rank0, _>() * (0.5 / rows as f32)
}

/// `½ (R̂(x) − r)²`, mean over rows.
fn reward_loss<T: Tape<f32, Device>>(
    net: &EnsembleMlp,
    x: Tensor3<T>,
    y: Tensor3,
) -> Tensor<(), f32, Device, T> {
    (net.forward(x) - y).square().mean::<Rank0, _>() * 0.5
}

/// `[members, rows / members, width]` from `rows` row-major rows: member `m` gets the `m`-th
/// consecutive share.
fn shares(
    dev: &Device,
    x: &[f32],
    rows: usize,
    members: usize,
    width: usize,
) -> Result<Tensor3, SteveError> {
    if rows % members != 0 || x.len() != rows * width {
        return Err(SteveError::Shape(format!(
            "{rows} rows of width {width} ({} values) do not split over {members} members",
            x.len()
        )));
    }
    Ok(dev.tensor_from_vec(x.to_vec(), (members, rows / members, width)))
}

/// The world model with its optimizers (one Adam per ensemble, L2 as Adam's weight decay).
/// Names of the three world models, in optimizer order.
const MODEL_NAMES: [&str; 3] = ["transition", "termination", "reward"];

pub struct WorldModelTrainer {
    pub model: WorldModel,
    adams: [Adam; 3],
}

impl WorldModelTrainer {
    pub fn new(model: WorldModel, learning_rate: f32, weight_decay: f32) -> Self {
        let cfg = AdamConfig {
            lr: learning_rate,
            weight_decay,
            ..AdamConfig::default()
        };
        WorldModelTrainer {
            model,
            adams: [Adam::new(cfg), Adam::new(cfg), Adam::new(cfg)],
        }
    }

    /// Stores the three optimizers' state as `<prefix>.{transition,termination,reward}` (see
    /// [`Adam::insert_state`]), for exact resume.
    pub fn insert_optimizer_state(&self, ck: &mut Checkpoint, prefix: &str) {
        for (adam, name) in self.adams.iter().zip(MODEL_NAMES) {
            adam.insert_state(ck, &format!("{prefix}.{name}"));
        }
    }

    /// Restores [`WorldModelTrainer::insert_optimizer_state`]'s output for this trainer's
    /// models; changes nothing on error.
    pub fn restore_optimizer_state(
        &mut self,
        ck: &Checkpoint,
        prefix: &str,
    ) -> Result<(), ModelError> {
        let mut adams = self.adams.each_ref().map(|a| Adam::new(a.cfg));
        let m = &self.model;
        adams[0].restore_state(ck, &format!("{prefix}.{}", MODEL_NAMES[0]), &m.transition)?;
        adams[1].restore_state(ck, &format!("{prefix}.{}", MODEL_NAMES[1]), &m.termination)?;
        adams[2].restore_state(ck, &format!("{prefix}.{}", MODEL_NAMES[2]), &m.reward)?;
        self.adams = adams;
        Ok(())
    }

    /// One update of every model on `batch`; returns the losses before the update.
    pub fn update(&mut self, batch: &Transitions<'_>) -> Result<ModelLosses, SteveError> {
        let i = Inputs::new(&self.model, batch)?;
        let model = &mut self.model;
        let loss = transition_loss(&model.transition, i.sa_m.leaky_trace(), i.delta, i.rows);
        let transition = loss.array();
        let termination_loss = binary_cross_entropy_with_logits_loss(
            model.termination.forward(i.nsa_m.leaky_trace()),
            i.done,
        );
        let termination = termination_loss.array();
        let reward_l = reward_loss(&model.reward, i.nsa_n.leaky_trace(), i.reward);
        let reward = reward_l.array();
        let out = ModelLosses {
            transition,
            termination,
            reward,
        };
        if !(transition.is_finite() && termination.is_finite() && reward.is_finite()) {
            return Err(SteveError::NonFinite(format!("world-model loss {out:?}")));
        }
        let mut g = loss.backward();
        self.adams[0].step(&mut model.transition, &mut g, None)?;
        let mut g = termination_loss.backward();
        self.adams[1].step(&mut model.termination, &mut g, None)?;
        let mut g = reward_l.backward();
        self.adams[2].step(&mut model.reward, &mut g, None)?;
        Ok(out)
    }
}
