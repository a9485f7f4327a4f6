//! The [`ActionSlot`] wrapper: the observation extended by one action-shaped slot, holding the
//! previous action (`<BaseId>-confounded`) or a fresh random action (`<BaseId>-original`).
//!
//! This is the confounding of de Haan, Jayaraman & Levine, *Causal Confusion in Imitation
//! Learning* (NeurIPS 2019; official code `ccil/environments/mountain_car.py`,
//! `MountainCarStateEncoder`): the CONFOUNDED observation is the state plus the previous
//! action, a nuisance that is an *effect* of the expert's behaviour and predicts its next
//! action without causing it; the ORIGINAL observation fills the same slot with a uniformly
//! random action, so both policies see inputs of the same width. At the first step of an
//! episode there is no previous action and both slots hold a random one (as the official code
//! does).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Action, BoxSpace, Env, EnvError, Space, Step};

/// The id suffix whose slot holds the previous action: `MountainCar-v0-confounded`.
pub(crate) const CONFOUNDED_SUFFIX: &str = "-confounded";
/// The id suffix whose slot holds a random action: `MountainCar-v0-original`.
pub(crate) const ORIGINAL_SUFFIX: &str = "-original";

/// What the extra observation slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Nuisance {
    /// The action taken at the previous step (a random one at the first step): CONFOUNDED.
    PreviousAction,
    /// A fresh uniformly random action at every step: ORIGINAL.
    RandomAction,
}

impl Nuisance {
    /// The id suffix of envs with this slot.
    pub fn suffix(self) -> &'static str {
        match self {
            Nuisance::PreviousAction => CONFOUNDED_SUFFIX,
            Nuisance::RandomAction => ORIGINAL_SUFFIX,
        }
    }

    /// The nuisance named by an id's suffix, with the base id: `("MountainCar-v0", PreviousAction)`
    /// for `MountainCar-v0-confounded`.
    pub fn split_id(id: &str) -> Option<(&str, Nuisance)> {
        [Nuisance::PreviousAction, Nuisance::RandomAction]
            .into_iter()
            .find_map(|n| id.strip_suffix(n.suffix()).map(|base| (base, n)))
    }
}

/// An env whose observation is the wrapped env's observation followed by an action slot
/// ([`Nuisance`]): one value (the action index as `f32`) for `Discrete(n)`, the action vector
/// for a box. Dynamics, rewards, termination, time limit and state are the wrapped env's.
///
/// The random slot values come from the wrapper's own ChaCha8 stream, reseeded on
/// `reset(Some(seed))` (from a value derived from `seed`, so it differs from the wrapped env's
/// stream) and continued on `reset(None)`.
pub struct ActionSlot {
    env: Box<dyn Env>,
    id: &'static str,
    nuisance: Nuisance,
    observation_space: BoxSpace,
    rng: ChaCha8Rng,
    slot: Vec<f32>,
}

/// Mixed into a reset seed so the slot's stream is not the wrapped env's.
const SLOT_SEED_MIX: u64 = 0x5EED_C0DE_CA05_A100;

impl ActionSlot {
    /// Wraps `env`; its id becomes `<env id>-confounded` or `<env id>-original`.
    ///
    /// # Errors
    /// [`EnvError::InvalidArgument`] for a box action space with an infinite bound (there is no
    /// uniform random action to fill the slot with).
    pub fn new(env: Box<dyn Env>, nuisance: Nuisance) -> Result<Self, EnvError> {
        slot_width(env.id(), env.action_space())?;
        let id = crate::discretized::intern(format!("{}{}", env.id(), nuisance.suffix()));
        Ok(Self::from_parts(env, id, nuisance))
    }

    /// Wraps an env whose action space [`slot_width`] accepted.
    pub(crate) fn from_parts(env: Box<dyn Env>, id: &'static str, nuisance: Nuisance) -> Self {
        let (low, high) = match env.action_space() {
            Space::Discrete(n) => (vec![0.0], vec![n.saturating_sub(1) as f32]),
            Space::Box(b) => (b.low.clone(), b.high.clone()),
        };
        let base = env.observation_space();
        let observation_space = BoxSpace::new(
            base.low.iter().chain(&low).copied().collect(),
            base.high.iter().chain(&high).copied().collect(),
        );
        let mut wrapped = ActionSlot {
            slot: vec![0.0; low.len()],
            env,
            id,
            nuisance,
            observation_space,
            rng: ChaCha8Rng::seed_from_u64(SLOT_SEED_MIX),
        };
        wrapped.slot = wrapped.random_action();
        wrapped
    }

    /// What the slot holds.
    pub fn nuisance(&self) -> Nuisance {
        self.nuisance
    }

    /// The width of the wrapped env's observation (the slot follows it).
    pub fn state_dim(&self) -> usize {
        self.env.observation_space().dim()
    }

    /// The current slot values.
    pub fn slot(&self) -> &[f32] {
        &self.slot
    }

    fn random_action(&mut self) -> Vec<f32> {
        random_slot(self.env.action_space(), &mut self.rng)
    }

    fn with_slot(&self, mut obs: Vec<f32>) -> Vec<f32> {
        obs.extend_from_slice(&self.slot);
        obs
    }
}

/// The width of the action slot of `space` (1 for `Discrete(n)`, the box's dimension).
///
/// # Errors
/// [`EnvError::InvalidArgument`] for a box with an infinite bound: it has no uniform random
/// action to fill an ORIGINAL slot with.
pub fn slot_width(env: &str, space: &Space) -> Result<usize, EnvError> {
    match space {
        Space::Discrete(_) => Ok(1),
        Space::Box(b) if b.low.iter().chain(&b.high).all(|v| v.is_finite()) => Ok(b.dim()),
        Space::Box(_) => Err(EnvError::InvalidArgument {
            reason: format!(
                "{env}: an action slot needs finite action bounds to draw random actions from"
            ),
        }),
    }
}

/// A uniformly random action of `space` as slot values: the index as `f32` for `Discrete(n)`,
/// `U(low, high)` per dimension of a box (a degenerate interval gives its bound; an infinite
/// one, which [`slot_width`] refuses, gives 0). The ORIGINAL slot's distribution.
pub fn random_slot(space: &Space, rng: &mut impl Rng) -> Vec<f32> {
    match space {
        Space::Discrete(n) => vec![rng.gen_range(0..*n) as f32],
        Space::Box(b) => b
            .low
            .iter()
            .zip(&b.high)
            .map(
                |(lo, hi)| match (lo.is_finite() && hi.is_finite(), lo < hi) {
                    (true, true) => rng.gen_range(*lo..*hi),
                    (true, false) => *lo,
                    (false, _) => 0.0,
                },
            )
            .collect(),
    }
}

impl Env for ActionSlot {
    fn id(&self) -> &'static str {
        self.id
    }

    fn observation_space(&self) -> &BoxSpace {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        self.env.action_space()
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        let obs = self.env.reset(seed);
        if let Some(s) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(s ^ SLOT_SEED_MIX);
        }
        self.slot = self.random_action();
        self.with_slot(obs)
    }

    fn step(&mut self, action: Action<'_>) -> Result<Step, EnvError> {
        let taken: Vec<f32> = match (action, self.env.action_space()) {
            (Action::Discrete(a), _) => vec![a as f32],
            // What the env applies: classic-control envs clip to the action box.
            (Action::Continuous(x), Space::Box(b)) => x
                .iter()
                .zip(b.low.iter().zip(&b.high))
                .map(|(v, (lo, hi))| v.clamp(*lo, *hi))
                .collect(),
            (Action::Continuous(x), Space::Discrete(_)) => x.to_vec(),
        };
        let mut step = self.env.step(action)?;
        self.slot = match self.nuisance {
            Nuisance::PreviousAction => taken,
            Nuisance::RandomAction => self.random_action(),
        };
        step.obs = self.with_slot(std::mem::take(&mut step.obs));
        Ok(step)
    }

    fn observation(&self) -> Vec<f32> {
        self.with_slot(self.env.observation())
    }

    fn state(&self) -> Vec<f64> {
        self.env.state()
    }

    fn set_state(&mut self, state: &[f64]) -> Result<(), EnvError> {
        self.env.set_state(state)
    }

    fn max_episode_steps(&self) -> Option<usize> {
        self.env.max_episode_steps()
    }

    /// The slot's f32 bits, the slot RNG, then the wrapped env's snapshot.
    fn snapshot(&self) -> Option<Vec<u64>> {
        let inner = self.env.snapshot()?;
        let mut words: Vec<u64> = self.slot.iter().map(|v| u64::from(v.to_bits())).collect();
        crate::snapshot::push_rng(&mut words, &self.rng);
        words.extend(inner);
        Some(words)
    }

    fn restore_snapshot(&mut self, words: &[u64]) -> Result<(), EnvError> {
        let mut r = crate::snapshot::WordReader::new(self.id, words);
        let slot = r
            .words(self.slot.len())?
            .iter()
            .map(|&w| u32::try_from(w).map(f32::from_bits))
            .collect::<Result<Vec<f32>, _>>()
            .map_err(|_| EnvError::InvalidState {
                env: self.id,
                reason: "snapshot slot value is not f32 bits".into(),
            })?;
        let rng = r.rng()?;
        let used = self.slot.len() + crate::snapshot::RNG_WORDS;
        self.env.restore_snapshot(&words[used..])?;
        (self.slot, self.rng) = (slot, rng);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::float_cmp)]
    use super::*;
    use crate::make;

    #[test]
    fn confounded_slot_holds_the_previous_action() {
        let mut env = make("MountainCar-v0-confounded").unwrap();
        assert_eq!(env.id(), "MountainCar-v0-confounded");
        assert_eq!(env.observation_space().dim(), 3);
        assert_eq!(env.observation_space().high[2], 2.0);
        let obs = env.reset(Some(3));
        assert_eq!(obs.len(), 3);
        assert!((0.0..=2.0).contains(&obs[2]) && obs[2].fract() == 0.0);
        let mut base = make("MountainCar-v0").unwrap();
        let base_obs = base.reset(Some(3));
        assert_eq!(&obs[..2], &base_obs[..]);
        for a in [0, 2, 2, 1, 0] {
            let s = env.step(Action::Discrete(a)).unwrap();
            let b = base.step(Action::Discrete(a)).unwrap();
            assert_eq!(&s.obs[..2], &b.obs[..]);
            assert_eq!(s.obs[2], a as f32);
            assert_eq!(s.reward, b.reward);
            assert_eq!(env.observation(), s.obs);
        }
    }

    #[test]
    fn original_slot_is_random_and_seeded() {
        let run = |seed| {
            let mut env = make("MountainCar-v0-original").unwrap();
            let mut slots = vec![env.reset(Some(seed))[2]];
            for _ in 0..200 {
                slots.push(env.step(Action::Discrete(2)).unwrap().obs[2]);
            }
            slots
        };
        let a = run(1);
        assert_eq!(a, run(1));
        assert_ne!(a, run(2));
        for k in 0..3 {
            let count = a.iter().filter(|&&v| v == k as f32).count();
            assert!(count > 40, "value {k} drawn {count} times of 201");
        }
    }

    #[test]
    fn continuous_slots_and_errors() {
        let mut env = make("Pendulum-v1-confounded").unwrap();
        assert_eq!(env.observation_space().dim(), 4);
        env.reset(Some(0));
        let s = env.step(Action::Continuous(&[1.5])).unwrap();
        assert_eq!(s.obs[3], 1.5);
        let s = env.step(Action::Continuous(&[7.0])).unwrap();
        assert_eq!(s.obs[3], 2.0, "clipped to the action box");
        let s = env.step(Action::Continuous(&[-1.5])).unwrap();
        assert_eq!(s.obs[3], -1.5);
        assert!(env.step(Action::Discrete(0)).is_err());
        assert_eq!(
            env.observation()[3],
            -1.5,
            "a refused action leaves the slot"
        );
        let d = make("Pendulum-v1-discrete5-original").unwrap();
        assert_eq!(d.observation_space().dim(), 4);
        assert_eq!(d.max_episode_steps(), Some(200));
        assert!(make("Nope-v0-confounded").is_err());
    }
}
