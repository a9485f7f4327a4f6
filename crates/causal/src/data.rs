//! Demonstrations as the paper's experiments use them: the official MountainCar start-state
//! distribution, an expert that acts on the state part of a confounded observation, and the
//! CONFOUNDED / ORIGINAL training pairs built from recorded episodes.

use eirl_envs::{Actions, Nuisance, Policy, PolicyError, Space, random_slot, slot_width};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use eirl_imitation::Demonstrations;

use crate::CausalError;

/// The official `MCRichEnv` start state of MountainCar: position `∼ U(−1, 0.5)`, velocity
/// `∼ 0.07 · N(0, 1)` (wider than Gymnasium's `U(−0.6, −0.4)` at rest, so the demonstrations
/// cover the state space).
pub fn rich_mountain_car_start(rng: &mut impl Rng) -> Vec<f64> {
    let x = rng.gen_range(-1.0..0.5);
    let v: f64 = StandardNormal.sample(rng);
    vec![x, v * 0.07]
}

/// An expert over states acting on observations that carry extra columns (an action slot):
/// it sees the first `state_dim` values of each row. This is how a state-feedback expert labels
/// CONFOUNDED or ORIGINAL observations (it never looks at the nuisance).
pub struct StateExpert {
    inner: Box<dyn Policy>,
    state_dim: usize,
    obs_dim: usize,
    /// Rows the expert has labelled: the expert-query count.
    pub queries: usize,
}

impl StateExpert {
    /// `inner` acts on `state_dim` values; observations have `obs_dim ≥ state_dim`.
    ///
    /// # Errors
    /// `obs_dim < state_dim` or `state_dim = 0`.
    pub fn new(
        inner: Box<dyn Policy>,
        state_dim: usize,
        obs_dim: usize,
    ) -> Result<Self, CausalError> {
        if state_dim == 0 || obs_dim < state_dim {
            return Err(CausalError::Config(format!(
                "an expert over {state_dim} state values cannot read observations of width {obs_dim}"
            )));
        }
        Ok(StateExpert {
            inner,
            state_dim,
            obs_dim,
            queries: 0,
        })
    }
}

impl Policy for StateExpert {
    fn act(&mut self, obs: &[f32], batch: usize) -> Result<Actions, PolicyError> {
        if obs.len() != batch * self.obs_dim {
            return Err(CausalError::Config(format!(
                "expected {batch} observations of width {}, got {} values",
                self.obs_dim,
                obs.len()
            ))
            .into());
        }
        let states: Vec<f32> = obs
            .chunks_exact(self.obs_dim)
            .flat_map(|r| r[..self.state_dim].iter().copied())
            .collect();
        self.queries += batch;
        self.inner.act(&states, batch)
    }
}

/// Labelled pairs for behavioural cloning: `obs: [N, state_dim + slot]`, `actions: N`.
#[derive(Clone, Debug, PartialEq)]
pub struct Pairs {
    /// Row-major observations.
    pub obs: Vec<f32>,
    /// Observation width.
    pub dim: usize,
    /// The expert's actions.
    pub actions: Actions,
}

impl Pairs {
    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The pairs at `idx`, in that order.
    pub fn gather(&self, idx: &[usize]) -> Pairs {
        Pairs {
            obs: idx
                .iter()
                .flat_map(|&i| &self.obs[i * self.dim..(i + 1) * self.dim])
                .copied()
                .collect(),
            dim: self.dim,
            actions: self.actions.gather(idx),
        }
    }
}

/// The training pairs of every step `t ≥ 1` of every episode (step 0 has no previous action;
/// the official dataset stacks two steps and drops it), as `[s_t, slot_t] → a_t` where the
/// state is the first `state_dim` values of the recorded observation and the slot is
/// `a_{t−1}` ([`Nuisance::PreviousAction`]: CONFOUNDED) or a uniformly random action of
/// `space` drawn from `rng` ([`Nuisance::RandomAction`]: ORIGINAL, the env wrapper's
/// [`random_slot`]). Discrete actions enter the slot as their index.
///
/// # Errors
/// `state_dim` larger than the recorded observations, or a box space with infinite bounds.
pub fn slot_pairs(
    demos: &Demonstrations,
    state_dim: usize,
    space: &Space,
    nuisance: Nuisance,
    rng: &mut ChaCha8Rng,
) -> Result<Pairs, CausalError> {
    let obs_dim = demos.obs_dim();
    if state_dim == 0 || state_dim > obs_dim {
        return Err(CausalError::Config(format!(
            "state width {state_dim} does not fit recorded observations of width {obs_dim}"
        )));
    }
    let dim = state_dim + slot_width(demos.env_id(), space)?;
    let mut obs = Vec::new();
    let mut actions = Actions::empty(eirl_envs::ActionKind::of(space));
    for e in 0..demos.num_episodes() {
        let Some(ep) = demos.episode(e) else { continue };
        let t_len = ep.actions.len();
        for t in 1..t_len {
            obs.extend_from_slice(&ep.obs[t * obs_dim..t * obs_dim + state_dim]);
            match nuisance {
                Nuisance::PreviousAction => obs.extend(action_values(&ep.actions, t - 1)),
                Nuisance::RandomAction => obs.extend(random_slot(space, rng)),
            }
        }
        if t_len > 1 {
            actions.extend(&ep.actions.slice(1..t_len))?;
        }
    }
    Ok(Pairs { obs, dim, actions })
}

fn action_values(actions: &Actions, t: usize) -> Vec<f32> {
    match actions {
        Actions::Discrete(a) => vec![a[t] as f32],
        Actions::Continuous { values, dim } => values[t * dim..(t + 1) * dim].to_vec(),
    }
}
