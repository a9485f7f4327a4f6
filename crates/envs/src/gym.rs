//! `gym:<id>`: any Gymnasium env with a Box observation space and a Discrete or Box action
//! space, stepped in a Python child process (see [`crate::gym_bridge`] for the process and
//! `python/eirl_gym_bridge.py` for the protocol).
//!
//! - [`GymEnv`] is one env, one process. [`VecEnv::new`](crate::VecEnv::new) on a `gym:` id
//!   runs its N envs in ONE process, so a batch step is one round trip, with the same-step
//!   auto-reset done on the Python side in the same round trip.
//! - Dynamics, rewards, `terminated` / `truncated` and time limits are Gymnasium's own: `make`
//!   keeps the `TimeLimit` Gymnasium registers (eirl adds none), `make_unlimited` asks for none
//!   (`max_episode_steps=-1`).
//! - `reset(Some(seed))` is Gymnasium's `reset(seed=seed)`, so episodes are exactly
//!   Gymnasium's (NumPy's streams, not eirl's ChaCha8). As for eirl's own envs, a fresh env's
//!   first `reset(None)` counts as `reset(Some(0))`; later `reset(None)` continue the env's
//!   stream. Observations are flattened and cast to f32.
//! - [`Env::state`] / [`Env::set_state`] read and assign `env.unwrapped.state` (classic control
//!   has one; envs without one give an empty state and refuse `set_state`).
//! - No snapshots: exact resume is refused (the Python env's state is out of eirl's reach).
//! - [`Env::reset`] cannot fail by its signature: when the process is gone it returns the last
//!   observation and the next `step` reports the error.

use std::cell::RefCell;
use std::time::Duration;

use crate::gym_bridge::{Bridge, CallError, Reader, acquire, release};
use crate::space::{check_finite_state, continuous_action, discrete_action};
use crate::{Action, BoxSpace, Env, EnvError, Space, Step};

/// The prefix of ids served by Gymnasium through the Python bridge: `gym:CartPole-v1`,
/// `gym:LunarLander-v3`.
pub const GYM_PREFIX: &str = "gym:";

/// Why [`Env::restore_snapshot`] and [`crate::VecEnv::try_snapshot`] refuse `gym:` envs.
pub(crate) const NO_SNAPSHOT: &str = "a gym: env runs in a Python process whose state eirl \
    cannot save, so it cannot be snapshotted for exact resume (use an eirl env id, or resume \
    without `exact_resume`)";

/// What Gymnasium registers for one `gym:` id, read once from a bridge ([`probe`]).
#[derive(Debug)]
pub(crate) struct GymSpec {
    /// `gym:<Gymnasium id>`.
    pub(crate) id: &'static str,
    pub(crate) observation_space: BoxSpace,
    pub(crate) action_space: Space,
    pub(crate) max_episode_steps: Option<usize>,
    pub(crate) reward_threshold: Option<f64>,
}

fn gym_err(id: &str, reason: impl Into<String>) -> EnvError {
    EnvError::Gym {
        id: id.to_string(),
        reason: reason.into(),
    }
}

/// The reply to an `M` request.
struct Made {
    observation_space: BoxSpace,
    action_space: Space,
    max_episode_steps: Option<usize>,
    reward_threshold: Option<f64>,
}

fn parse_made(mut r: Reader<'_>) -> Result<Made, String> {
    let d = r.u32()? as usize;
    let observation_space = BoxSpace::new(r.f32s(d)?, r.f32s(d)?);
    let action_space = match r.u8()? {
        0 => Space::Discrete(
            usize::try_from(r.u64()?).map_err(|_| "too many discrete actions".to_string())?,
        ),
        1 => {
            let k = r.u32()? as usize;
            Space::Box(BoxSpace::new(r.f32s(k)?, r.f32s(k)?))
        }
        kind => return Err(format!("unknown action space kind {kind}")),
    };
    let max_episode_steps = usize::try_from(r.i64()?).ok();
    let threshold = r.f64()?;
    r.finish()?;
    if d == 0 {
        return Err("the observation space is empty".into());
    }
    if matches!(action_space, Space::Discrete(0)) {
        return Err("the action space is Discrete(0)".into());
    }
    Ok(Made {
        observation_space,
        action_space,
        max_episode_steps,
        reward_threshold: threshold.is_finite().then_some(threshold),
    })
}

/// A bridge with `n` envs of `id` (`gym:<name>`) made, and what it says about them. An idle
/// pooled bridge that turns out dead is replaced by a fresh process once.
fn open(id: &str, n: usize, limited: bool) -> Result<(Bridge, Made), EnvError> {
    let name = id.strip_prefix(GYM_PREFIX).unwrap_or(id);
    let n32 = u32::try_from(n).map_err(|_| gym_err(id, format!("{n} envs is too many")))?;
    let mut retried = false;
    loop {
        let (mut bridge, pooled) = acquire().map_err(|m| gym_err(id, m))?;
        let reply = bridge
            .call(b'M', |w| {
                w.extend_from_slice(&n32.to_le_bytes());
                w.push(u8::from(limited));
                w.extend_from_slice(name.as_bytes());
            })
            .map(|bytes| parse_made(Reader::new(bytes)));
        match reply {
            Ok(Ok(made)) => return Ok((bridge, made)),
            Ok(Err(m)) => {
                bridge.mark_broken();
                return Err(gym_err(id, m));
            }
            Err(CallError::Dead(_)) if pooled && !retried => retried = true,
            Err(CallError::Refused(m)) => {
                release(bridge);
                let python = crate::gym_python();
                return Err(gym_err(id, format!("{m} [Python: {}]", python.display())));
            }
            Err(CallError::Dead(m)) => return Err(gym_err(id, m)),
        }
    }
}

/// Asks Gymnasium about `id` (`gym:<name>`): its spaces, time limit and reward threshold. The
/// probing process then waits in the idle pool for the first env of the id.
pub(crate) fn probe(id: &str) -> Result<GymSpec, EnvError> {
    if id.len() == GYM_PREFIX.len() {
        return Err(gym_err(
            id,
            "no Gymnasium id after `gym:` (e.g. gym:CartPole-v1)",
        ));
    }
    let (bridge, made) = open(id, 1, true)?;
    release(bridge);
    Ok(GymSpec {
        id: crate::discretized::intern(id.to_string()),
        observation_space: made.observation_space,
        action_space: made.action_space,
        max_episode_steps: made.max_episode_steps,
        reward_threshold: made.reward_threshold,
    })
}

/// The link to a bridge: not started yet, running, or failed for good.
enum Conn {
    Idle,
    Live(Lease),
    Failed(EnvError),
}

/// A bridge that goes back to the idle pool (or is killed, when broken) on drop.
struct Lease(Option<Bridge>);

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            release(b);
        }
    }
}

impl Conn {
    /// Sends one request and parses its reply. A dead bridge (or a reply that does not parse)
    /// fails this and every later request with the same error; a refused request does not.
    fn request<T>(
        &mut self,
        spec: &GymSpec,
        op: u8,
        body: impl FnOnce(&mut Vec<u8>),
        parse: impl FnOnce(Reader<'_>) -> Result<T, String>,
    ) -> Result<T, EnvError> {
        let bridge = match self {
            Conn::Live(Lease(Some(b))) => b,
            Conn::Live(Lease(None)) => {
                return Err(gym_err(spec.id, "the env has no process (a bug)"));
            }
            Conn::Failed(e) => return Err(e.clone()),
            Conn::Idle => return Err(gym_err(spec.id, "the env has no process (a bug)")),
        };
        let (dead, message) = match bridge.call(op, body).map(|bytes| parse(Reader::new(bytes))) {
            Ok(Ok(t)) => return Ok(t),
            Ok(Err(m)) => (true, m),
            Err(CallError::Refused(m)) => (false, m),
            Err(CallError::Dead(m)) => (true, m),
        };
        let err = gym_err(spec.id, message);
        if dead {
            bridge.mark_broken();
            *self = Conn::Failed(err.clone());
        }
        Err(err)
    }

    fn bridge(&self) -> Option<&Bridge> {
        match self {
            Conn::Live(Lease(b)) => b.as_ref(),
            Conn::Idle | Conn::Failed(_) => None,
        }
    }
}

fn push_seed(w: &mut Vec<u8>, seed: Option<u64>) {
    w.push(u8::from(seed.is_some()));
    w.extend_from_slice(&seed.unwrap_or(0).to_le_bytes());
}

fn push_action(w: &mut Vec<u8>, action: Action<'_>) {
    match action {
        Action::Discrete(a) => w.extend_from_slice(&(a as i64).to_le_bytes()),
        Action::Continuous(x) => {
            for v in x {
                w.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// One Gymnasium env in its own Python process (`gym:<id>`; [`crate::make`] builds these).
///
/// The process starts on the first `reset` (or [`GymEnv::start`]), so making an env only to
/// read its spaces costs nothing; it is given back to the idle pool (or killed) when the env
/// drops. Each request must be answered within the timeout ([`GymEnv::set_timeout`], else
/// `EIRL_GYM_TIMEOUT` seconds, else 60 s) or the process is killed and the request fails.
pub struct GymEnv {
    spec: &'static GymSpec,
    limited: bool,
    conn: RefCell<Conn>,
    obs: Vec<f32>,
    seeded: bool,
    timeout: Option<Duration>,
}

impl GymEnv {
    /// The env `id` (`gym:<Gymnasium id>`, or a bare Gymnasium id) with Gymnasium's time limit.
    ///
    /// # Errors
    /// [`EnvError::Gym`] when Python or Gymnasium is missing, Gymnasium has no such id, or its
    /// spaces are not supported.
    pub fn new(id: &str) -> Result<Self, EnvError> {
        Self::build(id, true)
    }

    /// [`GymEnv::new`] without the time limit.
    ///
    /// # Errors
    /// As [`GymEnv::new`].
    pub fn unlimited(id: &str) -> Result<Self, EnvError> {
        Self::build(id, false)
    }

    fn build(id: &str, limited: bool) -> Result<Self, EnvError> {
        let full = if id.starts_with(GYM_PREFIX) {
            id.to_string()
        } else {
            format!("{GYM_PREFIX}{id}")
        };
        let spec = crate::spec(&full)?
            .gym_spec()
            .ok_or_else(|| gym_err(&full, "not a plain gym: id"))?;
        Ok(Self::from_spec(spec, limited))
    }

    pub(crate) fn from_spec(spec: &'static GymSpec, limited: bool) -> Self {
        GymEnv {
            spec,
            limited,
            conn: RefCell::new(Conn::Idle),
            obs: vec![0.0; spec.observation_space.dim()],
            seeded: false,
            timeout: None,
        }
    }

    /// Starts the Python process now (it starts on the first request otherwise).
    ///
    /// # Errors
    /// [`EnvError::Gym`] when it cannot start or make the env.
    pub fn start(&self) -> Result<(), EnvError> {
        let mut conn = self.conn.borrow_mut();
        match &*conn {
            Conn::Live(_) => Ok(()),
            Conn::Failed(e) => Err(e.clone()),
            Conn::Idle => match open(self.spec.id, 1, self.limited) {
                Ok((mut bridge, made)) => {
                    if made.observation_space.dim() != self.spec.observation_space.dim() {
                        bridge.mark_broken();
                        let e = gym_err(self.spec.id, "its observation width changed");
                        *conn = Conn::Failed(e.clone());
                        return Err(e);
                    }
                    if let Some(t) = self.timeout {
                        bridge.set_timeout(t);
                    }
                    *conn = Conn::Live(Lease(Some(bridge)));
                    Ok(())
                }
                Err(e) => {
                    *conn = Conn::Failed(e.clone());
                    Err(e)
                }
            },
        }
    }

    /// The Python process's id, once started.
    pub fn pid(&self) -> Option<u32> {
        self.conn.borrow().bridge().map(Bridge::pid)
    }

    /// The versions the Python side reported (`eirl-gym-bridge 1 gymnasium 1.4.0 numpy …
    /// python …`), once started.
    pub fn versions(&self) -> Option<String> {
        self.conn.borrow().bridge().map(|b| b.hello.clone())
    }

    /// How long one request may take before the process is killed and the request fails.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
        if let Conn::Live(Lease(Some(b))) = &mut *self.conn.borrow_mut() {
            b.set_timeout(timeout);
        }
    }

    fn request<T>(
        &self,
        op: u8,
        body: impl FnOnce(&mut Vec<u8>),
        parse: impl FnOnce(Reader<'_>) -> Result<T, String>,
    ) -> Result<T, EnvError> {
        self.start()?;
        self.conn.borrow_mut().request(self.spec, op, body, parse)
    }

    fn obs_reply(&self) -> impl FnOnce(Reader<'_>) -> Result<Vec<f32>, String> {
        let d = self.spec.observation_space.dim();
        move |mut r| {
            let obs = r.f32s(d)?;
            r.finish()?;
            Ok(obs)
        }
    }
}

impl Env for GymEnv {
    fn id(&self) -> &'static str {
        self.spec.id
    }

    fn observation_space(&self) -> &BoxSpace {
        &self.spec.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.spec.action_space
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        let seed = if self.seeded { seed } else { seed.or(Some(0)) };
        self.seeded = true;
        if let Ok(obs) = self.request(b'R', |w| push_seed(w, seed), self.obs_reply()) {
            self.obs = obs;
        }
        self.obs.clone()
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step, EnvError> {
        let id = self.spec.id;
        let action = match &self.spec.action_space {
            Space::Discrete(n) => Action::Discrete(discrete_action(id, *n, action)?),
            Space::Box(b) => Action::Continuous(continuous_action(id, b.dim(), action)?),
        };
        let d = self.spec.observation_space.dim();
        let step = self.request(
            b'S',
            |w| {
                w.push(0);
                push_action(w, action);
            },
            |mut r| {
                let obs = r.f32s(d)?;
                let reward = r.f64()?;
                let flags = r.u8()?;
                r.finish()?;
                Ok(Step {
                    obs,
                    reward,
                    terminated: flags & 1 != 0,
                    truncated: flags & 2 != 0,
                })
            },
        )?;
        self.obs.clone_from(&step.obs);
        Ok(step)
    }

    fn observation(&self) -> Vec<f32> {
        self.obs.clone()
    }

    /// `env.unwrapped.state` as f64s; empty when the env has none (or its process failed).
    fn state(&self) -> Vec<f64> {
        self.request(
            b'G',
            |w| w.extend_from_slice(&0u32.to_le_bytes()),
            |mut r| r.rest_f64s(),
        )
        .unwrap_or_default()
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        check_finite_state(self.spec.id, state)?;
        let obs = self.request(
            b'T',
            |w| {
                w.extend_from_slice(&0u32.to_le_bytes());
                for v in state {
                    w.extend_from_slice(&v.to_le_bytes());
                }
            },
            self.obs_reply(),
        )?;
        self.obs = obs;
        Ok(())
    }

    fn max_episode_steps(&self) -> Option<usize> {
        if self.limited {
            self.spec.max_episode_steps
        } else {
            None
        }
    }

    fn restore_snapshot(&mut self, _words: &[u64]) -> Result<(), EnvError> {
        Err(EnvError::InvalidState {
            env: self.spec.id,
            reason: NO_SNAPSHOT.into(),
        })
    }
}

/// N envs of one `gym:` id (with Gymnasium's time limit) in one Python process: the backend of
/// [`crate::VecEnv`] for `gym:` ids. A batch step or reset is one round trip.
pub(crate) struct GymBatch {
    spec: &'static GymSpec,
    n: usize,
    conn: Conn,
}

impl GymBatch {
    /// `n` envs, env `i` reset with `seed + i` (wrapping); their first observations go to `obs`.
    pub(crate) fn new(
        spec: &'static GymSpec,
        n: usize,
        seed: u64,
        obs: &mut Vec<f32>,
    ) -> Result<Self, EnvError> {
        let (bridge, made) = open(spec.id, n, true)?;
        let mut batch = GymBatch {
            spec,
            n,
            conn: Conn::Live(Lease(Some(bridge))),
        };
        let d = spec.observation_space.dim();
        if made.observation_space.dim() != d {
            return Err(gym_err(spec.id, "its observation width changed"));
        }
        obs.resize(n * d, 0.0);
        batch.conn.request(
            spec,
            b'R',
            |w| {
                for i in 0..n {
                    push_seed(w, Some(seed.wrapping_add(i as u64)));
                }
            },
            |mut r| {
                r.f32s_into(n * d, obs)?;
                r.finish()
            },
        )?;
        Ok(batch)
    }

    /// Resets every env (continuing its stream) into `obs` (`[n * obs_dim]`).
    pub(crate) fn reset(&mut self, obs: &mut [f32]) -> Result<(), EnvError> {
        let (n, d) = (self.n, self.spec.observation_space.dim());
        self.conn.request(
            self.spec,
            b'R',
            |w| {
                for _ in 0..n {
                    push_seed(w, None);
                }
            },
            |mut r| {
                r.f32s_into(n * d, obs)?;
                r.finish()
            },
        )
    }

    /// Steps env `i` with `action(i)` (already checked against the space), resetting the envs
    /// whose episode ended in the same round trip. Fills `final_obs` with each step's own
    /// observation, `obs` with it or, for ended envs, the next episode's first one.
    pub(crate) fn step<'a>(
        &mut self,
        action: impl Fn(usize) -> Action<'a>,
        final_obs: &mut [f32],
        obs: &mut [f32],
        rewards: &mut [f64],
        terminated: &mut [bool],
        truncated: &mut [bool],
    ) -> Result<(), EnvError> {
        let (n, d) = (self.n, self.spec.observation_space.dim());
        self.conn.request(
            self.spec,
            b'S',
            |w| {
                w.push(1);
                for i in 0..n {
                    push_action(w, action(i));
                }
            },
            |mut r| {
                r.f32s_into(n * d, final_obs)?;
                for v in rewards.iter_mut() {
                    *v = r.f64()?;
                }
                let flags = r.take(n)?;
                for i in 0..n {
                    terminated[i] = flags[i] & 1 != 0;
                    truncated[i] = flags[i] & 2 != 0;
                    let row = i * d..(i + 1) * d;
                    if terminated[i] || truncated[i] {
                        r.f32s_into(d, &mut obs[row])?;
                    } else {
                        obs[row.clone()].copy_from_slice(&final_obs[row]);
                    }
                }
                r.finish()
            },
        )
    }
}
