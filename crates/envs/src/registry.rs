//! The registered ids and [`make`], including the discretised-action ids
//! `<BaseId>-discrete<N>` of the continuous-action envs, the action-slot ids
//! `<BaseId>-confounded` / `<BaseId>-original` of causal-confusion studies, and `gym:<id>`:
//! any Gymnasium env, run in Python ([`crate::gym`]).

use std::sync::Mutex;

use crate::confounded::{ActionSlot, Nuisance, slot_width};
use crate::discretized::{
    DISCRETE_SUFFIX, DiscretizedActions, discretizable, intern, linspace_actions,
};
use crate::gym::{GYM_PREFIX, GymEnv, GymSpec, probe};
use crate::mujoco::{MujocoEnv, MujocoTask};
use crate::{
    Acrobot, CartPole, Env, EnvError, MountainCar, MountainCarContinuous, Pendulum, TimeLimit,
};

/// How an id is registered: Gymnasium's `register(...)` arguments that matter here.
#[derive(Debug, Clone, Copy)]
pub struct EnvSpec {
    /// The id, e.g. `"CartPole-v1"`.
    pub id: &'static str,
    /// The [`TimeLimit`] that [`make`] applies (a `gym:` id: Gymnasium's own, `usize::MAX`
    /// when Gymnasium registers none).
    pub max_episode_steps: usize,
    /// The return at which the task counts as solved, if Gymnasium registers one.
    pub reward_threshold: Option<f64>,
    builder: Builder,
}

/// How an [`EnvSpec`] builds its env.
#[derive(Debug, Clone, Copy)]
enum Builder {
    /// A registered env: with and without its time limit.
    Base {
        build: fn() -> Box<dyn Env>,
        build_limited: fn(usize) -> Box<dyn Env>,
    },
    /// `<base>-discrete<n>`: the base env in [`DiscretizedActions`] over `[low, high]`.
    Discretized {
        base: &'static EnvSpec,
        n: usize,
        low: f32,
        high: f32,
    },
    /// `<base>-confounded` / `<base>-original`: the base env in [`ActionSlot`].
    Slot {
        base: &'static EnvSpec,
        nuisance: Nuisance,
    },
    /// `gym:<id>`: a Gymnasium env in a Python process ([`GymEnv`]).
    Gym(&'static GymSpec),
    /// A MuJoCo task ([`MujocoEnv`]): needs the MuJoCo library at run time.
    Mujoco(MujocoTask),
}

impl EnvSpec {
    /// A fresh env without the time limit.
    ///
    /// # Errors
    /// [`EnvError::Mujoco`] for a MuJoCo id when the MuJoCo library cannot be loaded (every
    /// other id builds infallibly once its spec exists).
    pub fn make_unlimited(&self) -> Result<Box<dyn Env>, EnvError> {
        Ok(match self.builder {
            Builder::Base { build, .. } => build(),
            Builder::Discretized { base, .. } => self.discretize(base.make_unlimited()?),
            Builder::Slot { base, .. } => self.slotted(base.make_unlimited()?),
            Builder::Gym(g) => Box::new(GymEnv::from_spec(g, false)),
            Builder::Mujoco(task) => Box::new(MujocoEnv::new(task)?),
        })
    }

    /// A fresh env wrapped in its [`TimeLimit`] (a discretised env: the base env's, inside the
    /// action wrapper).
    ///
    /// # Errors
    /// As [`EnvSpec::make_unlimited`].
    pub fn make(&self) -> Result<Box<dyn Env>, EnvError> {
        Ok(match self.builder {
            Builder::Base { build_limited, .. } => build_limited(self.max_episode_steps),
            Builder::Discretized { base, .. } => self.discretize(base.make()?),
            Builder::Slot { base, .. } => self.slotted(base.make()?),
            Builder::Gym(g) => Box::new(GymEnv::from_spec(g, true)),
            Builder::Mujoco(task) => Box::new(TimeLimit::with_limit(
                MujocoEnv::new(task)?,
                self.max_episode_steps,
            )),
        })
    }

    /// Whether this id is simulated by the MuJoCo library (a MuJoCo task, or an id derived
    /// from one): making it needs the library ([`crate::mujoco_available`]).
    pub fn is_mujoco(&self) -> bool {
        match self.builder {
            Builder::Mujoco(_) => true,
            Builder::Discretized { base, .. } | Builder::Slot { base, .. } => base.is_mujoco(),
            Builder::Base { .. } | Builder::Gym(_) => false,
        }
    }

    /// Whether this id runs in Python through the Gymnasium bridge (`gym:<id>`, or an id
    /// derived from one).
    pub fn is_gym(&self) -> bool {
        match self.builder {
            Builder::Gym(_) => true,
            Builder::Discretized { base, .. } | Builder::Slot { base, .. } => base.is_gym(),
            Builder::Base { .. } | Builder::Mujoco(_) => false,
        }
    }

    /// The Gymnasium side of a plain `gym:<id>` spec.
    pub(crate) fn gym_spec(&self) -> Option<&'static GymSpec> {
        match self.builder {
            Builder::Gym(g) => Some(g),
            Builder::Base { .. }
            | Builder::Discretized { .. }
            | Builder::Slot { .. }
            | Builder::Mujoco(_) => None,
        }
    }

    /// The base env's id and the number of actions, for a `<base>-discrete<n>` spec.
    pub fn discretized_from(&self) -> Option<(&'static str, usize)> {
        match self.builder {
            Builder::Discretized { base, n, .. } => Some((base.id, n)),
            Builder::Base { .. } | Builder::Slot { .. } | Builder::Gym(_) | Builder::Mujoco(_) => {
                None
            }
        }
    }

    /// The base env's id and the slot's content, for a `<base>-confounded|original` spec.
    pub fn slotted_from(&self) -> Option<(&'static str, Nuisance)> {
        match self.builder {
            Builder::Slot { base, nuisance } => Some((base.id, nuisance)),
            Builder::Base { .. }
            | Builder::Discretized { .. }
            | Builder::Gym(_)
            | Builder::Mujoco(_) => None,
        }
    }

    fn slotted(&self, env: Box<dyn Env>) -> Box<dyn Env> {
        match self.builder {
            Builder::Slot { nuisance, .. } => {
                Box::new(ActionSlot::from_parts(env, self.id, nuisance))
            }
            Builder::Base { .. }
            | Builder::Discretized { .. }
            | Builder::Gym(_)
            | Builder::Mujoco(_) => env,
        }
    }

    fn discretize(&self, env: Box<dyn Env>) -> Box<dyn Env> {
        match self.builder {
            Builder::Discretized { n, low, high, .. } => Box::new(DiscretizedActions::from_parts(
                env,
                self.id,
                &linspace_actions(low, high, n),
            )),
            Builder::Base { .. } | Builder::Slot { .. } | Builder::Gym(_) | Builder::Mujoco(_) => {
                env
            }
        }
    }
}

fn unlimited<E: Env + Default + 'static>() -> Box<dyn Env> {
    Box::new(E::default())
}

fn limited<E: Env + Default + 'static>(max_episode_steps: usize) -> Box<dyn Env> {
    Box::new(TimeLimit::with_limit(E::default(), max_episode_steps))
}

static REGISTRY: [EnvSpec; 12] = [
    EnvSpec {
        id: CartPole::ID,
        max_episode_steps: 500,
        reward_threshold: Some(475.0),
        builder: Builder::Base {
            build: unlimited::<CartPole>,
            build_limited: limited::<CartPole>,
        },
    },
    EnvSpec {
        id: MountainCar::ID,
        max_episode_steps: 200,
        reward_threshold: Some(-110.0),
        builder: Builder::Base {
            build: unlimited::<MountainCar>,
            build_limited: limited::<MountainCar>,
        },
    },
    EnvSpec {
        id: MountainCarContinuous::ID,
        max_episode_steps: 999,
        reward_threshold: Some(90.0),
        builder: Builder::Base {
            build: unlimited::<MountainCarContinuous>,
            build_limited: limited::<MountainCarContinuous>,
        },
    },
    EnvSpec {
        id: Pendulum::ID,
        max_episode_steps: 200,
        reward_threshold: None,
        builder: Builder::Base {
            build: unlimited::<Pendulum>,
            build_limited: limited::<Pendulum>,
        },
    },
    EnvSpec {
        id: Acrobot::ID,
        max_episode_steps: 500,
        reward_threshold: Some(-100.0),
        builder: Builder::Base {
            build: unlimited::<Acrobot>,
            build_limited: limited::<Acrobot>,
        },
    },
    EnvSpec {
        id: "InvertedPendulum-v5",
        max_episode_steps: 1000,
        reward_threshold: Some(950.0),
        builder: Builder::Mujoco(MujocoTask::InvertedPendulum),
    },
    EnvSpec {
        id: "InvertedDoublePendulum-v5",
        max_episode_steps: 1000,
        reward_threshold: Some(9100.0),
        builder: Builder::Mujoco(MujocoTask::InvertedDoublePendulum),
    },
    EnvSpec {
        id: "HalfCheetah-v5",
        max_episode_steps: 1000,
        reward_threshold: Some(4800.0),
        builder: Builder::Mujoco(MujocoTask::HalfCheetah),
    },
    EnvSpec {
        id: "Hopper-v5",
        max_episode_steps: 1000,
        reward_threshold: Some(3800.0),
        builder: Builder::Mujoco(MujocoTask::Hopper),
    },
    EnvSpec {
        id: "Walker2d-v5",
        max_episode_steps: 1000,
        reward_threshold: None,
        builder: Builder::Mujoco(MujocoTask::Walker2d),
    },
    EnvSpec {
        id: "Ant-v5",
        max_episode_steps: 1000,
        reward_threshold: Some(6000.0),
        builder: Builder::Mujoco(MujocoTask::Ant),
    },
    EnvSpec {
        id: "Humanoid-v5",
        max_episode_steps: 1000,
        reward_threshold: None,
        builder: Builder::Mujoco(MujocoTask::Humanoid),
    },
];

/// Every registered env: the classic-control tasks, then the MuJoCo ones (which need the MuJoCo
/// library at run time, see [`EnvSpec::is_mujoco`]), each group in Gymnasium's registration
/// order (the discretised ids are derived from these on demand and not listed).
pub fn registry() -> &'static [EnvSpec] {
    &REGISTRY
}

fn unknown(id: &str) -> EnvError {
    EnvError::UnknownEnv {
        id: id.to_string(),
        known: format!(
            "{} (and `<id>-discrete<N>` of the 1-D continuous-action ones, \
             `<id>-confounded` / `<id>-original` of any, `gym:<Gymnasium id>` for any \
             Gymnasium env, e.g. gym:LunarLander-v3)",
            REGISTRY.iter().map(|s| s.id).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The spec registered under `id`, or derived from it: `<BaseId>-discrete<N>` is the base env
/// (with its time limit and reward threshold) with its 1-D box action space split into `N ≥ 2`
/// evenly spaced actions ([`DiscretizedActions`]), e.g. `Pendulum-v1-discrete25`.
///
/// `gym:<Gymnasium id>` (e.g. `gym:LunarLander-v3`) is that Gymnasium env, run in Python
/// ([`GymEnv`]); asking for its spec the first time starts Python to read its spaces. The
/// derived suffixes apply to it too (`gym:Pendulum-v1-discrete25`).
///
/// # Errors
/// [`EnvError::UnknownEnv`], listing the known ids, for an unregistered id or base id (or an
/// `N` that is not a plain decimal number); [`EnvError::InvalidArgument`] for `N < 2` or a base
/// env whose action space is not a 1-D box; [`EnvError::Gym`] for a `gym:` id that Python,
/// Gymnasium or the bridge cannot serve (the message says why and how to install what is
/// missing).
pub fn spec(id: &str) -> Result<&'static EnvSpec, EnvError> {
    if let Some(spec) = REGISTRY.iter().find(|s| s.id == id) {
        return Ok(spec);
    }
    if id.starts_with(GYM_PREFIX) {
        return gym_or_derived_spec(id);
    }
    if let Some((base_id, nuisance)) = Nuisance::split_id(id) {
        return slotted_spec(spec(base_id)?, nuisance);
    }
    let Some((base_id, n)) = id.rsplit_once(DISCRETE_SUFFIX) else {
        return Err(unknown(id));
    };
    let Some(base) = REGISTRY.iter().find(|s| s.id == base_id) else {
        return Err(unknown(id));
    };
    let n = match n.parse::<usize>() {
        Ok(k) if k.to_string() == n => k,
        _ => return Err(unknown(id)),
    };
    discretized_spec(base, n)
}

/// A derived spec, built once per distinct id and leaked (the ids a process asks for are few):
/// the interned one `builder` matches, else the one `build` makes (checked before it is kept).
fn derived_spec(
    builder: impl Fn(&Builder) -> bool,
    build: impl FnOnce() -> Result<EnvSpec, EnvError>,
) -> Result<&'static EnvSpec, EnvError> {
    static SPECS: Mutex<Vec<&'static EnvSpec>> = Mutex::new(Vec::new());
    let mut specs = SPECS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = specs.iter().find(|s| builder(&s.builder)) {
        return Ok(found);
    }
    let spec: &'static EnvSpec = Box::leak(Box::new(build()?));
    specs.push(spec);
    Ok(spec)
}

/// A `gym:` id: a derived id over a `gym:` base (`-confounded`, `-original`, `-discrete<N>`),
/// else the Gymnasium id itself.
fn gym_or_derived_spec(id: &str) -> Result<&'static EnvSpec, EnvError> {
    if let Some((base_id, nuisance)) = Nuisance::split_id(id) {
        return slotted_spec(spec(base_id)?, nuisance);
    }
    if let Some((base_id, n)) = id.rsplit_once(DISCRETE_SUFFIX)
        && let Ok(k) = n.parse::<usize>()
        && k.to_string() == n
    {
        return discretized_spec(spec(base_id)?, k);
    }
    derived_spec(
        |b| matches!(b, Builder::Gym(g) if g.id == id),
        || {
            let g: &'static GymSpec = Box::leak(Box::new(probe(id)?));
            Ok(EnvSpec {
                id: g.id,
                max_episode_steps: g.max_episode_steps.unwrap_or(usize::MAX),
                reward_threshold: g.reward_threshold,
                builder: Builder::Gym(g),
            })
        },
    )
}

/// The spec of `<base>-discrete<n>`.
fn discretized_spec(base: &'static EnvSpec, n: usize) -> Result<&'static EnvSpec, EnvError> {
    derived_spec(
        |b| matches!(b, Builder::Discretized { base: b, n: k, .. } if b.id == base.id && *k == n),
        || {
            let (low, high) = discretizable(base.id, base.make_unlimited()?.action_space(), n)?;
            Ok(EnvSpec {
                id: intern(format!("{}{DISCRETE_SUFFIX}{n}", base.id)),
                max_episode_steps: base.max_episode_steps,
                reward_threshold: base.reward_threshold,
                builder: Builder::Discretized { base, n, low, high },
            })
        },
    )
}

/// The spec of `<base>-confounded` / `<base>-original`.
fn slotted_spec(base: &'static EnvSpec, nuisance: Nuisance) -> Result<&'static EnvSpec, EnvError> {
    derived_spec(
        |b| matches!(b, Builder::Slot { base: b, nuisance: k } if b.id == base.id && *k == nuisance),
        || {
            // Refuse a base whose action space cannot fill the slot now, not at `make` time.
            slot_width(base.id, base.make_unlimited()?.action_space())?;
            Ok(EnvSpec {
                id: intern(format!("{}{}", base.id, nuisance.suffix())),
                max_episode_steps: base.max_episode_steps,
                reward_threshold: base.reward_threshold,
                builder: Builder::Slot { base, nuisance },
            })
        },
    )
}

/// A fresh env wrapped in the [`TimeLimit`] Gymnasium registers for it (CartPole-v1 500,
/// MountainCar-v0 200, MountainCarContinuous-v0 999, Pendulum-v1 200, Acrobot-v1 500, every
/// MuJoCo `*-v5` 1000); for `<BaseId>-discrete<N>` the base env's limit, inside
/// [`DiscretizedActions`].
///
/// # Errors
/// As [`spec`], and [`EnvError::Mujoco`] for a MuJoCo id when the MuJoCo library cannot be
/// loaded (the message says how to install it).
pub fn make(id: &str) -> Result<Box<dyn Env>, EnvError> {
    spec(id)?.make()
}

/// A fresh env without a time limit.
///
/// # Errors
/// As [`make`].
pub fn make_unlimited(id: &str) -> Result<Box<dyn Env>, EnvError> {
    spec(id)?.make_unlimited()
}
