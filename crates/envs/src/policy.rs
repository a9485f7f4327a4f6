//! The acting vocabulary shared by every eirl crate: a batch of [`Actions`], the [`Policy`] trait
//! (observation batch → actions) and the conversion of an env step's end-of-episode flags into
//! what a learner needs ([`EpisodeEnd`]).

use crate::EnvError;

/// A batch of actions: one discrete index per row, or row-major continuous vectors. Policies
/// return it, [`crate::VecEnv`] steps with it, demonstrations store it.
#[derive(Clone, Debug, PartialEq)]
pub enum Actions {
    /// One index per row.
    Discrete(Vec<usize>),
    /// `[len, dim]` row-major.
    Continuous { values: Vec<f32>, dim: usize },
}

/// The kind of action a space takes or a dataset holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    Discrete,
    /// Continuous actions of this many dimensions.
    Continuous(usize),
}

impl ActionKind {
    /// The kind of actions `space` takes.
    pub fn of(space: &crate::Space) -> Self {
        match space {
            crate::Space::Discrete(_) => ActionKind::Discrete,
            crate::Space::Box(b) => ActionKind::Continuous(b.dim()),
        }
    }
}

impl Actions {
    /// An empty batch of this kind.
    pub fn empty(kind: ActionKind) -> Self {
        match kind {
            ActionKind::Discrete => Actions::Discrete(Vec::new()),
            ActionKind::Continuous(dim) => Actions::Continuous {
                values: Vec::new(),
                dim,
            },
        }
    }

    /// Discrete indices, or continuous rows of `kind`'s width (`values: [n, dim]`).
    pub fn from_parts(kind: ActionKind, discrete: Vec<usize>, continuous: Vec<f32>) -> Self {
        match kind {
            ActionKind::Discrete => Actions::Discrete(discrete),
            ActionKind::Continuous(dim) => Actions::Continuous {
                values: continuous,
                dim,
            },
        }
    }

    /// The kind of these actions.
    pub fn kind(&self) -> ActionKind {
        match self {
            Actions::Discrete(_) => ActionKind::Discrete,
            Actions::Continuous { dim, .. } => ActionKind::Continuous(*dim),
        }
    }

    /// Number of actions (rows).
    pub fn len(&self) -> usize {
        match self {
            Actions::Discrete(a) => a.len(),
            Actions::Continuous { values, dim } => values.len() / (*dim).max(1),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Actions `range` (in rows).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Actions {
        match self {
            Actions::Discrete(a) => Actions::Discrete(a[range].to_vec()),
            Actions::Continuous { values, dim } => Actions::Continuous {
                values: values[range.start * dim..range.end * dim].to_vec(),
                dim: *dim,
            },
        }
    }

    /// The actions at `indices` (in rows), in that order.
    pub fn gather(&self, indices: &[usize]) -> Actions {
        match self {
            Actions::Discrete(a) => Actions::Discrete(indices.iter().map(|&i| a[i]).collect()),
            Actions::Continuous { values, dim } => Actions::Continuous {
                values: indices
                    .iter()
                    .flat_map(|&i| &values[i * dim..(i + 1) * dim])
                    .copied()
                    .collect(),
                dim: *dim,
            },
        }
    }

    /// Appends `other`, which must be of the same kind.
    pub fn extend(&mut self, other: &Actions) -> Result<(), EnvError> {
        match (self, other) {
            (Actions::Discrete(a), Actions::Discrete(b)) => a.extend_from_slice(b),
            (Actions::Continuous { values, dim }, Actions::Continuous { values: v, dim: d })
                if dim == d =>
            {
                values.extend_from_slice(v)
            }
            (a, b) => {
                return Err(EnvError::InvalidArgument {
                    reason: format!(
                        "cannot append {:?} actions to {:?} actions",
                        b.kind(),
                        a.kind()
                    ),
                });
            }
        }
        Ok(())
    }
}

/// What a [`Policy`] can fail with: any error of the crate behind it (a network's, an agent's).
pub type PolicyError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Anything that maps a batch of observations to actions: a scripted controller, a trained
/// agent acting greedily, a learner being imitated into. Stochastic policies own their RNG.
pub trait Policy {
    /// Actions for a row-major batch `obs: [n, obs_dim]`.
    fn act(&mut self, obs: &[f32], n: usize) -> Result<Actions, PolicyError>;
}

impl<P: Policy + ?Sized> Policy for &mut P {
    fn act(&mut self, obs: &[f32], n: usize) -> Result<Actions, PolicyError> {
        (**self).act(obs, n)
    }
}

impl<P: Policy + ?Sized> Policy for Box<P> {
    fn act(&mut self, obs: &[f32], n: usize) -> Result<Actions, PolicyError> {
        (**self).act(obs, n)
    }
}

/// How an env step ended its episode, converted once at the env → learner boundary into what
/// estimators take: termination gives `discount_t = 0` (no bootstrap); a time-limit truncation
/// keeps `γ` and bootstraps from the final observation (rlax's and Pardo et al. 2018's
/// convention); a step that ends nothing continues with `γ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpisodeEnd {
    /// The episode goes on.
    Continues,
    /// The step reached a terminal state.
    Terminated,
    /// A time limit cut the episode short.
    Truncated,
}

impl EpisodeEnd {
    /// From Gymnasium's `terminated` / `truncated` flags (termination wins when both are set).
    pub fn from_flags(terminated: bool, truncated: bool) -> Self {
        if terminated {
            EpisodeEnd::Terminated
        } else if truncated {
            EpisodeEnd::Truncated
        } else {
            EpisodeEnd::Continues
        }
    }

    /// `discount_t`: 0 after a termination, `gamma` otherwise.
    pub fn discount(self, gamma: f32) -> f32 {
        if self == EpisodeEnd::Terminated {
            0.0
        } else {
            gamma
        }
    }

    /// Whether the episode ended (terminated or truncated): the next observation starts a new one.
    pub fn is_done(self) -> bool {
        self != EpisodeEnd::Continues
    }

    /// Whether a value target may bootstrap from the next (or final) observation.
    pub fn bootstraps(self) -> bool {
        self != EpisodeEnd::Terminated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episode_ends_convert_once() {
        let t = EpisodeEnd::from_flags(true, true);
        assert_eq!(t, EpisodeEnd::Terminated);
        assert!(t.discount(0.9).abs() < f32::EPSILON && t.is_done() && !t.bootstraps());
        let tr = EpisodeEnd::from_flags(false, true);
        assert!((tr.discount(0.9) - 0.9).abs() < f32::EPSILON && tr.is_done() && tr.bootstraps());
        let c = EpisodeEnd::from_flags(false, false);
        assert!((c.discount(0.9) - 0.9).abs() < f32::EPSILON && !c.is_done());
    }

    #[test]
    fn actions_gather_extend_and_refuse_mixing() {
        let mut a = Actions::Continuous {
            values: vec![1.0, 2.0, 3.0, 4.0],
            dim: 2,
        };
        assert_eq!(a.len(), 2);
        assert_eq!(
            a.gather(&[1, 0]),
            Actions::Continuous {
                values: vec![3.0, 4.0, 1.0, 2.0],
                dim: 2
            }
        );
        assert!(a.extend(&Actions::Discrete(vec![0])).is_err());
        let first = a.slice(0..1);
        assert!(a.extend(&first).is_ok());
        assert_eq!(a.len(), 3);
    }
}
