//! Gymnasium's v5 MuJoCo locomotion tasks, simulated by the MuJoCo C library (loaded at run
//! time, see [`mujoco_available`]) on Gymnasium 1.4's own MJCF models (`crates/envs/assets/mujoco/`).
//!
//! Each step does what Gymnasium's `MujocoEnv` does: `ctrl ← action` (float32 widened to
//! float64; MuJoCo clamps it to the actuators' `ctrlrange`), `frame_skip` calls of `mj_step`,
//! then `mj_rnePostConstraint`; rewards, termination and observations follow each task's `_v5.py`
//! term by term, with NumPy's float32 arithmetic for the control cost (the action is float32,
//! and a Python float times a float32 stays float32 under NumPy 2) and NumPy's pairwise
//! summation order. Observations are Gymnasium's float64 observations cast to float32; the
//! time limit (1000) is `make`'s [`TimeLimit`](crate::TimeLimit).
//!
//! Reset is Gymnasium's: `mj_resetData`, then `qpos0 + U(−s, s)` and `qvel` noise (uniform or
//! `s·N(0, 1)`, per task) and `mj_forward`; the noise is drawn from the env's ChaCha8 stream,
//! not NumPy's. [`Env::state`] is Gymnasium's `state_vector()` (qpos then qvel) and
//! [`Env::set_state`] its `set_state(qpos, qvel)`; snapshots hold MuJoCo's whole integration
//! state (`mjSTATE_INTEGRATION`), so a restored env steps bit for bit like the original.

mod ffi;
mod layout;
mod sim;

use std::sync::{Arc, Mutex, PoisonError};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

pub use ffi::mujoco_available;
pub use layout::MUJOCO_VERSION;
use sim::{Data, Field, Model};

use crate::space::{check_finite_state, continuous_action};
use crate::{Action, BoxSpace, Env, EnvError, Space, Step};

/// The MuJoCo tasks eirl registers (Gymnasium's `*-v5` with their default arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MujocoTask {
    /// `Hopper-v5`: 11-d observation, 3 torques.
    Hopper,
    /// `HalfCheetah-v5`: 17-d observation, 6 torques, never terminates.
    HalfCheetah,
    /// `Walker2d-v5`: 17-d observation, 6 torques.
    Walker2d,
    /// `InvertedPendulum-v5`: 4-d observation, 1 force.
    InvertedPendulum,
    /// `InvertedDoublePendulum-v5`: 9-d observation, 1 force.
    InvertedDoublePendulum,
    /// `Ant-v5`: 105-d observation (with clipped contact forces), 8 torques.
    Ant,
    /// `Humanoid-v5`: 348-d observation (with the bodies' inertias, velocities, actuator and
    /// contact forces), 17 torques.
    Humanoid,
}

/// How a task draws its reset velocities around `qvel0 = 0`.
#[derive(Debug, Clone, Copy)]
enum VelocityNoise {
    /// `U(−s, s)` per entry.
    Uniform,
    /// `s · N(0, 1)` per entry.
    Normal,
}

impl MujocoTask {
    /// Every task, in Gymnasium's registration order.
    pub const ALL: [MujocoTask; 7] = [
        MujocoTask::InvertedPendulum,
        MujocoTask::InvertedDoublePendulum,
        MujocoTask::HalfCheetah,
        MujocoTask::Hopper,
        MujocoTask::Walker2d,
        MujocoTask::Ant,
        MujocoTask::Humanoid,
    ];

    /// The Gymnasium id.
    pub fn id(self) -> &'static str {
        match self {
            MujocoTask::Hopper => "Hopper-v5",
            MujocoTask::HalfCheetah => "HalfCheetah-v5",
            MujocoTask::Walker2d => "Walker2d-v5",
            MujocoTask::InvertedPendulum => "InvertedPendulum-v5",
            MujocoTask::InvertedDoublePendulum => "InvertedDoublePendulum-v5",
            MujocoTask::Ant => "Ant-v5",
            MujocoTask::Humanoid => "Humanoid-v5",
        }
    }

    /// The task whose Gymnasium id is `id`.
    pub fn from_id(id: &str) -> Option<MujocoTask> {
        Self::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The MJCF file name and text (Gymnasium 1.4's asset, embedded).
    fn model_xml(self) -> (&'static str, &'static str) {
        macro_rules! asset {
            ($f:literal) => {
                ($f, include_str!(concat!("../../assets/mujoco/", $f)))
            };
        }
        match self {
            MujocoTask::Hopper => asset!("hopper.xml"),
            MujocoTask::HalfCheetah => asset!("half_cheetah.xml"),
            MujocoTask::Walker2d => asset!("walker2d_v5.xml"),
            MujocoTask::InvertedPendulum => asset!("inverted_pendulum.xml"),
            MujocoTask::InvertedDoublePendulum => asset!("inverted_double_pendulum.xml"),
            MujocoTask::Ant => asset!("ant.xml"),
            MujocoTask::Humanoid => asset!("humanoid.xml"),
        }
    }

    fn frame_skip(self) -> usize {
        match self {
            MujocoTask::Hopper | MujocoTask::Walker2d => 4,
            MujocoTask::InvertedPendulum => 2,
            MujocoTask::HalfCheetah
            | MujocoTask::InvertedDoublePendulum
            | MujocoTask::Ant
            | MujocoTask::Humanoid => 5,
        }
    }

    /// `reset_noise_scale` and the velocity noise's kind.
    fn reset_noise(self) -> (f64, VelocityNoise) {
        match self {
            MujocoTask::Hopper | MujocoTask::Walker2d => (5e-3, VelocityNoise::Uniform),
            MujocoTask::InvertedPendulum | MujocoTask::Humanoid => (0.01, VelocityNoise::Uniform),
            MujocoTask::HalfCheetah | MujocoTask::InvertedDoublePendulum | MujocoTask::Ant => {
                (0.1, VelocityNoise::Normal)
            }
        }
    }

    /// The compiled model, shared by every env of the task in this process.
    fn model(self) -> Result<Arc<Model>, EnvError> {
        static MODELS: Mutex<Vec<(MujocoTask, Arc<Model>)>> = Mutex::new(Vec::new());
        let mut models = MODELS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, m)) = models.iter().find(|(t, _)| *t == self) {
            return Ok(Arc::clone(m));
        }
        let (name, xml) = self.model_xml();
        let model =
            Arc::new(Model::load(name, xml).map_err(|reason| mujoco_err(self.id(), reason))?);
        models.push((self, Arc::clone(&model)));
        Ok(model)
    }
}

fn mujoco_err(id: &str, reason: impl Into<String>) -> EnvError {
    EnvError::Mujoco {
        id: id.to_string(),
        reason: reason.into(),
    }
}

/// NumPy's pairwise sum (`np.sum` of a contiguous array of up to 128 entries): sequential
/// below 8 entries, else eight interleaved partial sums combined as a tree, then the tail.
fn np_sum<T: Copy + std::ops::Add<Output = T> + Default>(x: &[T]) -> T {
    debug_assert!(x.len() <= 128, "NumPy splits longer sums recursively");
    if x.len() < 8 {
        return x.iter().fold(T::default(), |acc, &v| acc + v);
    }
    let mut r = [x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]];
    let whole = x.len() - x.len() % 8;
    for block in x[8..whole].chunks_exact(8) {
        for (acc, &v) in r.iter_mut().zip(block) {
            *acc = *acc + v;
        }
    }
    let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for &v in &x[whole..] {
        res = res + v;
    }
    res
}

/// `ctrl_cost_weight * np.sum(np.square(action))` with a float32 action: float32 throughout.
fn control_cost(weight: f32, action: &[f32]) -> f32 {
    let squares: Vec<f32> = action.iter().map(|a| a * a).collect();
    weight * np_sum(&squares)
}

/// One of Gymnasium's v5 MuJoCo tasks (see the [module docs](self)).
pub struct MujocoEnv {
    task: MujocoTask,
    data: Data,
    init_qpos: Vec<f64>,
    init_qvel: Vec<f64>,
    /// `model.opt.timestep * frame_skip` (Gymnasium's `dt`).
    dt: f64,
    /// The float64 observation of the current state.
    obs: Vec<f64>,
    /// [`MujocoEnv::position`] now: the x whose change over the next step is the forward
    /// velocity (kept, because Ant's is derived data that a snapshot restore does not redo).
    x_position: f64,
    rng: ChaCha8Rng,
    observation_space: BoxSpace,
    action_space: Space,
}

impl std::fmt::Debug for MujocoEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MujocoEnv")
            .field("task", &self.task)
            .field("obs", &self.obs)
            .finish_non_exhaustive()
    }
}

impl MujocoEnv {
    /// A fresh env of `task`, reset with seed 0 (no time limit; [`crate::make`] adds it).
    ///
    /// # Errors
    /// [`EnvError::Mujoco`] when the MuJoCo library cannot be loaded (the message says how to
    /// install it) or the model does not compile.
    pub fn new(task: MujocoTask) -> Result<MujocoEnv, EnvError> {
        let model = task.model()?;
        let data = Data::new(Arc::clone(&model)).map_err(|r| mujoco_err(task.id(), r))?;
        let range = model.ctrl_range();
        let low: Vec<f32> = range.iter().step_by(2).map(|&v| v as f32).collect();
        let high: Vec<f32> = range.iter().skip(1).step_by(2).map(|&v| v as f32).collect();
        let mut env = MujocoEnv {
            task,
            init_qpos: data.get(Field::Qpos).to_vec(),
            init_qvel: data.get(Field::Qvel).to_vec(),
            dt: model.timestep * task.frame_skip() as f64,
            data,
            obs: Vec::new(),
            x_position: 0.0,
            rng: ChaCha8Rng::seed_from_u64(0),
            observation_space: BoxSpace::new(Vec::new(), Vec::new()),
            action_space: Space::Box(BoxSpace::new(low, high)),
        };
        env.reset(Some(0));
        let d = env.obs.len();
        env.observation_space = BoxSpace::new(vec![f32::NEG_INFINITY; d], vec![f32::INFINITY; d]);
        Ok(env)
    }

    /// The task.
    pub fn task(&self) -> MujocoTask {
        self.task
    }

    /// Gymnasium's float64 observation of the current state ([`Env::observation`] is this cast
    /// to float32).
    pub fn observation_f64(&self) -> &[f64] {
        &self.obs
    }

    /// `set_state(qpos, qvel)`: assign, then `mj_forward`.
    fn assign(&mut self, qpos: &[f64], qvel: &[f64]) {
        self.data.get_mut(Field::Qpos).copy_from_slice(qpos);
        self.data.get_mut(Field::Qvel).copy_from_slice(qvel);
        self.data.forward();
        self.obs = self.observe();
        self.x_position = self.position();
    }

    /// The task's `_get_obs()`.
    fn observe(&self) -> Vec<f64> {
        let qpos = self.data.get(Field::Qpos);
        let qvel = self.data.get(Field::Qvel);
        let clip10 = |v: &f64| v.clamp(-10.0, 10.0);
        match self.task {
            MujocoTask::Hopper | MujocoTask::Walker2d => qpos[1..]
                .iter()
                .copied()
                .chain(qvel.iter().map(clip10))
                .collect(),
            MujocoTask::HalfCheetah => qpos[1..].iter().chain(qvel).copied().collect(),
            MujocoTask::InvertedPendulum => qpos.iter().chain(qvel).copied().collect(),
            MujocoTask::InvertedDoublePendulum => {
                let mut o = vec![qpos[0]];
                o.extend(qpos[1..].iter().map(|q| q.sin()));
                o.extend(qpos[1..].iter().map(|q| q.cos()));
                o.extend(qvel.iter().map(clip10));
                o.push(clip10(&self.data.get(Field::QfrcConstraint)[0]));
                o
            }
            MujocoTask::Ant => {
                let mut o: Vec<f64> = qpos[2..].iter().chain(qvel).copied().collect();
                o.extend(self.contact_forces()[6..].iter());
                o
            }
            MujocoTask::Humanoid => {
                let d = &self.data;
                qpos[2..]
                    .iter()
                    .chain(qvel)
                    .chain(&d.get(Field::Cinert)[10..])
                    .chain(&d.get(Field::Cvel)[6..])
                    .chain(&d.get(Field::QfrcActuator)[6..])
                    .chain(&d.get(Field::CfrcExt)[6..])
                    .copied()
                    .collect()
            }
        }
    }

    /// Humanoid's `mass_center(model, data)[0]`: `einsum("b,bj->j", body_mass, xipos)` (a
    /// sequential sum over bodies) over `body_mass.sum()` (NumPy's pairwise sum).
    fn mass_center_x(&self) -> f64 {
        let mass = self.data.model().body_mass();
        let xipos = self.data.get(Field::Xipos);
        let num = mass
            .iter()
            .zip(xipos.chunks_exact(3))
            .fold(0.0, |acc, (m, x)| acc + m * x[0]);
        num / np_sum(mass)
    }

    /// Ant's `contact_forces`: `cfrc_ext` clipped to `[−1, 1]`.
    fn contact_forces(&self) -> Vec<f64> {
        self.data
            .get(Field::CfrcExt)
            .iter()
            .map(|f| f.clamp(-1.0, 1.0))
            .collect()
    }

    /// `(forward + healthy) − costs` of the locomotion tasks, each as its `_get_rew`; the
    /// forward weights are 1 (Humanoid: 1.25) and the healthy rewards 1 (Humanoid: 5), so a
    /// product with 1 is left out (it changes no bit).
    fn locomotion_reward(&self, x_velocity: f64, healthy: bool, action: &[f32]) -> f64 {
        let alive = f64::from(u8::from(healthy));
        match self.task {
            MujocoTask::HalfCheetah => x_velocity - f64::from(control_cost(0.1, action)),
            MujocoTask::Humanoid => {
                // Humanoid's control cost is of `data.ctrl` (float64), not of the action.
                let ctrl: Vec<f64> = self.data.get(Field::Ctrl).iter().map(|c| c * c).collect();
                let ctrl_cost = 0.1 * np_sum(&ctrl);
                let forces: Vec<f64> = self
                    .data
                    .get(Field::CfrcExt)
                    .iter()
                    .map(|f| f * f)
                    .collect();
                let contact_cost = (5e-7 * np_sum(&forces)).clamp(f64::NEG_INFINITY, 10.0);
                (1.25 * x_velocity + alive * 5.0) - (ctrl_cost + contact_cost)
            }
            MujocoTask::Ant => {
                let squares: Vec<f64> = self.contact_forces().iter().map(|f| f * f).collect();
                let contact_cost = 5e-4 * np_sum(&squares);
                (x_velocity + alive) - (f64::from(control_cost(0.5, action)) + contact_cost)
            }
            // Hopper, Walker2d.
            _ => (x_velocity + alive) - f64::from(control_cost(1e-3, action)),
        }
    }

    /// Whether the post-step state is healthy (the tasks that terminate when it is not).
    fn is_healthy(&self) -> bool {
        let qpos = self.data.get(Field::Qpos);
        let (z, angle) = (qpos[1], qpos[2]);
        match self.task {
            MujocoTask::Hopper => {
                let qvel = self.data.get(Field::Qvel);
                qpos[2..]
                    .iter()
                    .chain(qvel)
                    .all(|&v| -100.0 < v && v < 100.0)
                    && 0.7 < z
                    && z < f64::INFINITY
                    && -0.2 < angle
                    && angle < 0.2
            }
            MujocoTask::Walker2d => 0.8 < z && z < 2.0 && -1.0 < angle && angle < 1.0,
            MujocoTask::Ant => {
                let qvel = self.data.get(Field::Qvel);
                qpos.iter().chain(qvel).all(|v| v.is_finite()) && 0.2 <= qpos[2] && qpos[2] <= 1.0
            }
            MujocoTask::Humanoid => 1.0 < qpos[2] && qpos[2] < 2.0,
            _ => true,
        }
    }
}

impl Env for MujocoEnv {
    fn id(&self) -> &'static str {
        self.task.id()
    }

    fn observation_space(&self) -> &BoxSpace {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
        self.data.reset();
        let (s, velocity_noise) = self.task.reset_noise();
        let qpos: Vec<f64> = self
            .init_qpos
            .iter()
            .map(|&q| q + self.rng.gen_range(-s..s))
            .collect();
        let qvel: Vec<f64> = self
            .init_qvel
            .iter()
            .map(|&v| match velocity_noise {
                VelocityNoise::Uniform => v + self.rng.gen_range(-s..s),
                VelocityNoise::Normal => v + s * self.rng.sample::<f64, _>(StandardNormal),
            })
            .collect();
        self.assign(&qpos, &qvel);
        self.observation()
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step, EnvError> {
        let id = self.task.id();
        let nu = self.data.model().nu;
        let action = continuous_action(id, nu, action)?;
        let before = self.x_position;
        for (c, &a) in self.data.get_mut(Field::Ctrl).iter_mut().zip(action) {
            *c = f64::from(a);
        }
        self.data.step(self.task.frame_skip());
        let after = self.position();
        self.x_position = after;
        let x_velocity = (after - before) / self.dt;
        self.obs = self.observe();
        let (reward, terminated) = match self.task {
            MujocoTask::InvertedPendulum => {
                let terminated = !self.obs.iter().all(|v| v.is_finite()) || self.obs[1].abs() > 0.2;
                (f64::from(u8::from(!terminated)), terminated)
            }
            MujocoTask::InvertedDoublePendulum => {
                let site = self.data.get(Field::SiteXpos);
                let (x, y) = (site[0], site[2]);
                let qvel = self.data.get(Field::Qvel);
                let (v1, v2) = (qvel[1], qvel[2]);
                let terminated = y <= 1.0;
                let dist_penalty = 0.01 * x.powf(2.0) + (y - 2.0).powf(2.0);
                let vel_penalty = 1e-3 * v1.powf(2.0) + 5e-3 * v2.powf(2.0);
                let alive_bonus = 10.0 * f64::from(u8::from(!terminated));
                (alive_bonus - dist_penalty - vel_penalty, terminated)
            }
            _ => {
                let healthy = self.is_healthy();
                let reward = self.locomotion_reward(x_velocity, healthy, action);
                (reward, !healthy)
            }
        };
        Ok(Step {
            obs: self.observation(),
            reward,
            terminated,
            truncated: false,
        })
    }

    fn observation(&self) -> Vec<f32> {
        self.obs.iter().map(|&v| v as f32).collect()
    }

    /// Gymnasium's `state_vector()`: qpos, then qvel.
    fn state(&self) -> Vec<f64> {
        let mut s = self.data.get(Field::Qpos).to_vec();
        s.extend_from_slice(self.data.get(Field::Qvel));
        s
    }

    /// Gymnasium's `set_state(qpos, qvel)` from [`Env::state`]'s layout (then `mj_forward`).
    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        let (nq, nv) = (self.data.model().nq, self.data.model().nv);
        if state.len() != nq + nv {
            return Err(EnvError::InvalidState {
                env: self.task.id(),
                reason: format!(
                    "state has length {}, expected {} (qpos {nq} then qvel {nv})",
                    state.len(),
                    nq + nv
                ),
            });
        }
        check_finite_state(self.task.id(), state)?;
        let (qpos, qvel) = state.split_at(nq);
        self.assign(qpos, qvel);
        Ok(())
    }

    fn max_episode_steps(&self) -> Option<usize> {
        None
    }

    /// MuJoCo's integration state, the float64 observation, the x position, then the RNG.
    fn snapshot(&self) -> Option<Vec<u64>> {
        let full = self.data.full_state();
        let mut words = vec![full.len() as u64];
        crate::snapshot::push_f64s(&mut words, &full);
        words.push(self.obs.len() as u64);
        crate::snapshot::push_f64s(&mut words, &self.obs);
        words.push(self.x_position.to_bits());
        crate::snapshot::push_rng(&mut words, &self.rng);
        Some(words)
    }

    fn restore_snapshot(&mut self, words: &[u64]) -> Result<(), EnvError> {
        let id = self.task.id();
        let mut r = crate::snapshot::WordReader::new(id, words);
        let n = r.usize()?;
        let full = r.f64_vec(n)?;
        let d = r.usize()?;
        let obs = r.f64_vec(d)?;
        let x_position = r.f64()?;
        let rng = r.rng()?;
        r.finish()?;
        if d != self.obs.len() {
            return Err(EnvError::InvalidState {
                env: id,
                reason: format!(
                    "snapshot observation has length {d}, expected {}",
                    self.obs.len()
                ),
            });
        }
        if !self.data.set_full_state(&full) {
            return Err(EnvError::InvalidState {
                env: id,
                reason: format!("snapshot of {n} MuJoCo state values does not fit this model"),
            });
        }
        self.obs = obs;
        self.x_position = x_position;
        self.rng = rng;
        Ok(())
    }
}

impl MujocoEnv {
    /// The x position whose change is the forward velocity: `qpos[0]` (Ant: the torso's
    /// `xpos[0]`; Humanoid: the centre of mass). The pendulums have no forward reward.
    fn position(&self) -> f64 {
        match self.task {
            MujocoTask::Ant => self.data.get(Field::Xpos)[3],
            MujocoTask::Humanoid => self.mass_center_x(),
            _ => self.data.get(Field::Qpos)[0],
        }
    }
}
