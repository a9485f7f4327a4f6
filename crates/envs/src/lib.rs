//! Gymnasium-style environments for eirl: the [`Env`] trait, the five classic-control tasks
//! reproduced bit for bit from Gymnasium 1.x ([`CartPole`], [`MountainCar`],
//! [`MountainCarContinuous`], [`Pendulum`], [`Acrobot`]), the [`TimeLimit`] wrapper that
//! [`make`] applies as Gymnasium registers it, the [`DiscretizedActions`] wrapper behind the
//! `<BaseId>-discrete<N>` ids (`Pendulum-v1-discrete25`: N evenly spaced torques, for
//! value-based agents), the [`ActionSlot`] wrapper behind the `<BaseId>-confounded` /
//! `<BaseId>-original` ids (the observation plus the previous or a random action: causal
//! confusion's CONFOUNDED and ORIGINAL inputs), and a batched [`VecEnv`] with same-step
//! auto-reset.
//!
//! Gymnasium's v5 MuJoCo tasks ([`MujocoEnv`]: Hopper, HalfCheetah, Walker2d,
//! InvertedPendulum, InvertedDoublePendulum, Ant, Humanoid) are registered too, bit for bit
//! Gymnasium's on MuJoCo 3.17; the MuJoCo C library is loaded when one is first made
//! ([`mujoco_available`] says whether it can be, and how to install it).
//!
//! Any other Gymnasium env is available as `gym:<id>` (`gym:LunarLander-v3`): [`make`] and
//! [`VecEnv`] run it in a Python child process with Gymnasium ([`GymEnv`]; one process per
//! `VecEnv`, one round trip per batch step), so every agent can train on it.
//!
//! It also holds the acting vocabulary every eirl crate shares: [`Actions`] (a batch of
//! discrete indices or continuous rows), the [`Policy`] trait (observations → actions), the one
//! evaluation runner ([`evaluate`] / [`evaluate_policy`]: one episode in each of N envs) and
//! [`EpisodeEnd`], where `terminated` / `truncated` become a discount and a bootstrap decision
//! ([`VecStep::end`], [`VecStep::discount`], [`VecStep::next_obs`]).
//!
//! These are the control benchmarks of the papers eirl reproduces: DQN and ACER (CartPole,
//! Acrobot, MountainCar), GAIL and causal confusion in imitation learning (classic-control
//! experts and demonstrations), SVP's structured value-based planning (each env exposes a pure
//! `transition` function and [`Env::set_state`] for planning over state grids), STEVE and SEED
//! RL (batched acting through [`VecEnv`]).
//!
//! Dynamics, rewards, termination and truncation match Gymnasium exactly: the state is kept in
//! f64 and updated in Python's order of operations, with NumPy's float32 promotion for
//! continuous actions; observations are the float64 state cast to float32. Reset states follow
//! Gymnasium's distributions but are drawn from [`rand_chacha::ChaCha8Rng`], not NumPy's PCG64.
//!
//! ```
//! use eirl_envs::{make, Action, Env};
//!
//! let mut env = make("CartPole-v1")?;
//! let mut obs = env.reset(Some(42));
//! let mut episode_return = 0.0;
//! loop {
//!     let push_right = obs[2] > 0.0; // lean with the pole
//!     let step = env.step(Action::Discrete(usize::from(push_right)))?;
//!     episode_return += step.reward;
//!     obs = step.obs;
//!     if step.terminated || step.truncated {
//!         break;
//!     }
//! }
//! assert!(episode_return >= 1.0);
//! # Ok::<(), eirl_envs::EnvError>(())
//! ```

mod acrobot;
mod cartpole;
mod confounded;
mod discretized;
mod env;
mod error;
mod evaluate;
mod gym;
mod gym_bridge;
mod mountain_car;
pub mod mountain_car_continuous;
pub mod mujoco;
mod normalize;
mod numeric;
mod pendulum;
mod policy;
mod registry;
pub mod snapshot;
mod space;
mod time_limit;
mod vec_env;

pub use acrobot::Acrobot;
pub use cartpole::CartPole;
pub use confounded::{ActionSlot, Nuisance, random_slot, slot_width};
pub use discretized::{DiscretizedActions, linspace_actions};
pub use env::{Env, Step};
pub use error::EnvError;
pub use evaluate::{
    EvalStats, MAX_EVAL_EPISODES, evaluate, evaluate_discrete, evaluate_policy, normalized_score,
};
pub use gym::{GYM_PREFIX, GymEnv};
pub use gym_bridge::{DEFAULT_TIMEOUT as GYM_DEFAULT_TIMEOUT, gym_python, set_gym_python};
pub use mountain_car::MountainCar;
pub use mountain_car_continuous::{MountainCarContinuous, Precision};
pub use mujoco::{MUJOCO_VERSION, MujocoEnv, MujocoTask, mujoco_available};
pub use normalize::{
    NormalizeConfig, NormalizeStats, Normalizer, PRIOR_COUNT, RunningMeanStd, VecNormalize,
};
pub use pendulum::{Pendulum, angle_normalize};
pub use policy::{ActionKind, Actions, EpisodeEnd, Policy, PolicyError};
pub use registry::{EnvSpec, make, make_unlimited, registry, spec};
pub use space::{Action, BoxSpace, Space};
pub use time_limit::TimeLimit;
pub use vec_env::{EpisodeStats, MAX_NUM_ENVS, VecEnv, VecStep};
