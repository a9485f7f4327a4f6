//! The registered ids and [`make`].

use crate::{
    Acrobot, CartPole, Env, EnvError, MountainCar, MountainCarContinuous, Pendulum, TimeLimit,
};

/// How an id is registered: Gymnasium's `register(...)` arguments that matter here.
#[derive(Debug, Clone, Copy)]
pub struct EnvSpec {
    /// The id, e.g. `"CartPole-v1"`.
    pub id: &'static str,
    /// The [`TimeLimit`] that [`make`] applies.
    pub max_episode_steps: usize,
    /// The return at which the task counts as solved, if Gymnasium registers one.
    pub reward_threshold: Option<f64>,
    build: fn() -> Box<dyn Env>,
    build_limited: fn(usize) -> Box<dyn Env>,
}

impl EnvSpec {
    /// A fresh env without the time limit.
    pub fn make_unlimited(&self) -> Box<dyn Env> {
        (self.build)()
    }

    /// A fresh env wrapped in its [`TimeLimit`].
    pub fn make(&self) -> Box<dyn Env> {
        (self.build_limited)(self.max_episode_steps)
    }
}

fn unlimited<E: Env + Default + 'static>() -> Box<dyn Env> {
    Box::new(E::default())
}

fn limited<E: Env + Default + 'static>(max_episode_steps: usize) -> Box<dyn Env> {
    Box::new(TimeLimit::with_limit(E::default(), max_episode_steps))
}

static REGISTRY: [EnvSpec; 5] = [
    EnvSpec {
        id: CartPole::ID,
        max_episode_steps: 500,
        reward_threshold: Some(475.0),
        build: unlimited::<CartPole>,
        build_limited: limited::<CartPole>,
    },
    EnvSpec {
        id: MountainCar::ID,
        max_episode_steps: 200,
        reward_threshold: Some(-110.0),
        build: unlimited::<MountainCar>,
        build_limited: limited::<MountainCar>,
    },
    EnvSpec {
        id: MountainCarContinuous::ID,
        max_episode_steps: 999,
        reward_threshold: Some(90.0),
        build: unlimited::<MountainCarContinuous>,
        build_limited: limited::<MountainCarContinuous>,
    },
    EnvSpec {
        id: Pendulum::ID,
        max_episode_steps: 200,
        reward_threshold: None,
        build: unlimited::<Pendulum>,
        build_limited: limited::<Pendulum>,
    },
    EnvSpec {
        id: Acrobot::ID,
        max_episode_steps: 500,
        reward_threshold: Some(-100.0),
        build: unlimited::<Acrobot>,
        build_limited: limited::<Acrobot>,
    },
];

/// Every registered env, in Gymnasium's registration order.
pub fn registry() -> &'static [EnvSpec] {
    &REGISTRY
}

/// The spec registered under `id`.
///
/// # Errors
/// [`EnvError::UnknownEnv`], listing the known ids.
pub fn spec(id: &str) -> Result<&'static EnvSpec, EnvError> {
    REGISTRY
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| EnvError::UnknownEnv {
            id: id.to_string(),
            known: REGISTRY.iter().map(|s| s.id).collect::<Vec<_>>().join(", "),
        })
}

/// A fresh env wrapped in the [`TimeLimit`] Gymnasium registers for it (CartPole-v1 500,
/// MountainCar-v0 200, MountainCarContinuous-v0 999, Pendulum-v1 200, Acrobot-v1 500).
///
/// # Errors
/// [`EnvError::UnknownEnv`] for an unregistered id.
pub fn make(id: &str) -> Result<Box<dyn Env>, EnvError> {
    spec(id).map(EnvSpec::make)
}

/// A fresh env without a time limit.
///
/// # Errors
/// [`EnvError::UnknownEnv`] for an unregistered id.
pub fn make_unlimited(id: &str) -> Result<Box<dyn Env>, EnvError> {
    spec(id).map(EnvSpec::make_unlimited)
}
