//! Observation and action spaces, and the action type passed to [`Env::step`](crate::Env::step).

use crate::EnvError;

/// A 1-D box `low[i] ≤ x[i] ≤ high[i]` (Gymnasium's `spaces.Box` with `dtype=np.float32`).
///
/// Bounds may be infinite (CartPole's velocities).
#[derive(Debug, Clone, PartialEq)]
pub struct BoxSpace {
    /// Lower bounds, one per dimension.
    pub low: Vec<f32>,
    /// Upper bounds, one per dimension.
    pub high: Vec<f32>,
}

impl BoxSpace {
    /// A box with the given bounds; `low` and `high` must have the same length.
    pub fn new(low: Vec<f32>, high: Vec<f32>) -> Self {
        debug_assert_eq!(low.len(), high.len());
        BoxSpace { low, high }
    }

    /// The symmetric box `[-high, high]`.
    pub fn symmetric(high: &[f32]) -> Self {
        BoxSpace {
            low: high.iter().map(|h| -h).collect(),
            high: high.to_vec(),
        }
    }

    /// Number of dimensions.
    pub fn dim(&self) -> usize {
        self.low.len()
    }

    /// Whether `x` has the right length and every entry lies within its bounds (NaN never does).
    pub fn contains(&self, x: &[f32]) -> bool {
        x.len() == self.dim()
            && x.iter()
                .zip(self.low.iter().zip(&self.high))
                .all(|(v, (lo, hi))| *lo <= *v && *v <= *hi)
    }
}

/// An action space: `n` discrete actions `0..n`, or a continuous box.
#[derive(Debug, Clone, PartialEq)]
pub enum Space {
    /// Actions `0, 1, …, n − 1` (Gymnasium's `spaces.Discrete(n)`).
    Discrete(usize),
    /// Real-valued action vectors.
    Box(BoxSpace),
}

impl Space {
    /// Whether this is a [`Space::Discrete`] space.
    pub fn is_discrete(&self) -> bool {
        matches!(self, Space::Discrete(_))
    }

    /// The number of discrete actions, or `None` for a box.
    pub fn n(&self) -> Option<usize> {
        match self {
            Space::Discrete(n) => Some(*n),
            Space::Box(_) => None,
        }
    }

    /// The length of one action: 1 for a discrete space (one index), `low.len()` for a box.
    pub fn dim(&self) -> usize {
        match self {
            Space::Discrete(_) => 1,
            Space::Box(b) => b.dim(),
        }
    }

    /// The box, or `None` for a discrete space.
    pub fn as_box(&self) -> Option<&BoxSpace> {
        match self {
            Space::Discrete(_) => None,
            Space::Box(b) => Some(b),
        }
    }
}

/// One action, borrowed: an index for discrete envs, a slice for continuous ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action<'a> {
    /// An index into a [`Space::Discrete`] space.
    Discrete(usize),
    /// A vector for a [`Space::Box`] space. Values outside the box are handled exactly as
    /// Gymnasium does (clipped by Pendulum and MountainCarContinuous); NaN and infinities are
    /// rejected.
    Continuous(&'a [f32]),
}

/// Checks a discrete action against `0..n` and returns the index.
pub(crate) fn discrete_action(
    env: &'static str,
    n: usize,
    action: Action<'_>,
) -> Result<usize, EnvError> {
    match action {
        Action::Discrete(a) if a < n => Ok(a),
        Action::Discrete(a) => Err(EnvError::InvalidAction {
            env,
            reason: format!("discrete action {a} is out of range 0..{n}"),
        }),
        Action::Continuous(x) => Err(EnvError::InvalidAction {
            env,
            reason: format!(
                "expected a discrete action in 0..{n}, got a continuous action of length {}",
                x.len()
            ),
        }),
    }
}

/// Checks a continuous action's kind, length and finiteness and returns it.
pub(crate) fn continuous_action<'a>(
    env: &'static str,
    dim: usize,
    action: Action<'a>,
) -> Result<&'a [f32], EnvError> {
    match action {
        Action::Continuous(x) if x.len() != dim => Err(EnvError::InvalidAction {
            env,
            reason: format!("continuous action has length {}, expected {dim}", x.len()),
        }),
        Action::Continuous(x) => match x.iter().position(|v| !v.is_finite()) {
            Some(i) => Err(EnvError::InvalidAction {
                env,
                reason: format!("continuous action entry {i} is not finite ({})", x[i]),
            }),
            None => Ok(x),
        },
        Action::Discrete(a) => Err(EnvError::InvalidAction {
            env,
            reason: format!(
                "expected a continuous action of length {dim}, got discrete action {a}"
            ),
        }),
    }
}

/// Checks a state's length and finiteness and copies it into an array.
pub(crate) fn check_state<const N: usize>(
    env: &'static str,
    state: &[f64],
) -> Result<[f64; N], EnvError> {
    let arr: [f64; N] = state.try_into().map_err(|_| EnvError::InvalidState {
        env,
        reason: format!("state has length {}, expected {N}", state.len()),
    })?;
    check_finite_state(env, &arr)?;
    Ok(arr)
}

/// Errors on the first non-finite entry of a state.
pub(crate) fn check_finite_state(env: &'static str, state: &[f64]) -> Result<(), EnvError> {
    match state.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(EnvError::InvalidState {
            env,
            reason: format!("state entry {i} is not finite ({})", state[i]),
        }),
        None => Ok(()),
    }
}
