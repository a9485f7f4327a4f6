//! DAgger (Ross, Gordon & Bagnell 2011): roll out a mixture of expert and learner, have the
//! expert label every visited state, aggregate, and retrain by behavioural cloning.
//!
//! Round 0 trains on the given demonstrations (or, without them, on expert rollouts). In round
//! `i ≥ 1` each step acts with the expert's action with probability `β_i` and with the learner's
//! otherwise, `β_i = max(0, 1 − i / beta_rampdown_rounds)` (the `imitation` library's
//! `LinearBetaSchedule`); every visited state is labelled with the expert's action.

use eirl_envs::{Action, make};
use eirl_models::PolicyNetwork;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use eirl_envs::{ActionKind, Actions, Policy};

use crate::bc::{BcConfig, train_bc};
use crate::demos::Demonstrations;
use crate::error::ImitationError;
use crate::expert::NetworkPolicy;

/// DAgger's schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaggerConfig {
    /// Rounds after the initial BC fit.
    pub rounds: usize,
    /// Episodes rolled out (and labelled) per round.
    pub episodes_per_round: usize,
    /// `β` falls linearly to 0 over this many rounds (imitation's default 15; 1 = pure learner
    /// rollouts from round 1).
    pub beta_rampdown_rounds: usize,
    /// The learner acts greedily (argmax / mean) during rollouts.
    pub deterministic_learner: bool,
    /// Behavioural cloning at each round (warm-started from the previous round's parameters).
    pub bc: BcConfig,
}

impl Default for DaggerConfig {
    fn default() -> Self {
        DaggerConfig {
            rounds: 5,
            episodes_per_round: 1,
            beta_rampdown_rounds: 15,
            deterministic_learner: true,
            bc: BcConfig::default(),
        }
    }
}

/// One round's record.
#[derive(Clone, Debug, PartialEq)]
pub struct DaggerRound {
    pub beta: f64,
    /// Expert-labelled pairs in the aggregate dataset after this round.
    pub dataset_size: usize,
    /// Mean return of this round's mixture rollouts (`None` for round 0 on given demos).
    pub rollout_return: Option<f64>,
}

/// DAgger one round at a time: round 0 fits the learner to the given demonstrations (or to
/// expert rollouts), round `i ≥ 1` rolls out the `β_i`-mixture, has the expert label every
/// visited state, aggregates and refits. Deterministic given the seed.
pub struct Dagger {
    env_id: String,
    cfg: DaggerConfig,
    rng: ChaCha8Rng,
    obs: Vec<f32>,
    labels: Actions,
    initial: Option<(Vec<f32>, Actions)>,
    rounds: Vec<DaggerRound>,
    episode_seed: u64,
}

impl Dagger {
    /// A DAgger run on `env_id`, starting from `initial` demonstrations when given.
    pub fn new(
        env_id: &str,
        cfg: DaggerConfig,
        initial: Option<&Demonstrations>,
        seed: u64,
    ) -> Result<Self, ImitationError> {
        let env = make(env_id)?;
        let kind = ActionKind::of(env.action_space());
        Ok(Dagger {
            env_id: env_id.to_string(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            obs: Vec::new(),
            labels: Actions::empty(kind),
            initial: initial.map(Demonstrations::state_action_pairs),
            rounds: Vec::new(),
            episode_seed: seed.wrapping_mul(1_000_003),
            cfg,
        })
    }

    /// A DAgger run on `env_id` whose round 0 fits the given expert-labelled pairs
    /// (`obs: [n, obs_dim]`), e.g. a subsample of demonstrations.
    pub fn from_pairs(
        env_id: &str,
        cfg: DaggerConfig,
        obs: Vec<f32>,
        labels: Actions,
        seed: u64,
    ) -> Result<Self, ImitationError> {
        let mut run = Dagger::new(env_id, cfg, None, seed)?;
        if labels.kind() != run.labels.kind() {
            return Err(ImitationError::Config(format!(
                "{:?} labels for an env with {:?} actions",
                labels.kind(),
                run.labels.kind()
            )));
        }
        run.initial = Some((obs, labels));
        Ok(run)
    }

    /// The rounds run so far (round 0 first).
    pub fn rounds(&self) -> &[DaggerRound] {
        &self.rounds
    }

    /// Whether round `cfg.rounds` has run.
    pub fn is_done(&self) -> bool {
        self.rounds.len() > self.cfg.rounds
    }

    /// Expert-labelled pairs gathered so far: observations `[n, obs_dim]` and labels.
    pub fn dataset(&self) -> (&[f32], &Actions) {
        (&self.obs, &self.labels)
    }

    /// Runs the next round with `expert` labelling and `learner` being trained.
    pub fn round(
        &mut self,
        expert: &mut dyn Policy,
        learner: &mut PolicyNetwork,
    ) -> Result<DaggerRound, ImitationError> {
        let i = self.rounds.len();
        let (beta, rollout_return) = if i == 0 {
            match self.initial.take() {
                Some((o, a)) => {
                    self.obs = o;
                    self.labels.extend(&a)?;
                    (1.0, None)
                }
                None => (1.0, Some(self.rollout_and_label(expert, learner, 1.0)?)),
            }
        } else {
            let beta = (1.0 - i as f64 / self.cfg.beta_rampdown_rounds.max(1) as f64).max(0.0);
            (beta, Some(self.rollout_and_label(expert, learner, beta)?))
        };
        train_bc(
            learner,
            &self.obs,
            &self.labels,
            &self.cfg.bc,
            self.rng.r#gen(),
        )?;
        let round = DaggerRound {
            beta,
            dataset_size: self.labels.len(),
            rollout_return,
        };
        self.rounds.push(round.clone());
        Ok(round)
    }

    fn rollout_and_label(
        &mut self,
        expert: &mut dyn Policy,
        learner: &PolicyNetwork,
        beta: f64,
    ) -> Result<f64, ImitationError> {
        rollout_and_label(
            &self.env_id,
            expert,
            learner,
            beta,
            &self.cfg,
            &mut self.rng,
            &mut self.episode_seed,
            &mut self.obs,
            &mut self.labels,
        )
    }
}

/// Runs DAgger on `env_id` to the end and leaves the trained learner in `learner`.
pub fn dagger(
    env_id: &str,
    expert: &mut dyn Policy,
    learner: &mut PolicyNetwork,
    initial: Option<&Demonstrations>,
    cfg: &DaggerConfig,
    seed: u64,
) -> Result<Vec<DaggerRound>, ImitationError> {
    let mut run = Dagger::new(env_id, cfg.clone(), initial, seed)?;
    while !run.is_done() {
        run.round(expert, learner)?;
    }
    Ok(run.rounds)
}

/// Rolls out `episodes_per_round` episodes of the β-mixture, appending every visited state and
/// the expert's label for it; returns the mean episode return.
#[allow(clippy::too_many_arguments)]
fn rollout_and_label(
    env_id: &str,
    expert: &mut dyn Policy,
    learner: &PolicyNetwork,
    beta: f64,
    cfg: &DaggerConfig,
    rng: &mut ChaCha8Rng,
    episode_seed: &mut u64,
    obs: &mut Vec<f32>,
    labels: &mut Actions,
) -> Result<f64, ImitationError> {
    let mut learner_policy = NetworkPolicy::new(learner, cfg.deterministic_learner, rng.r#gen());
    let mut total = 0.0;
    let episodes = cfg.episodes_per_round.max(1);
    for _ in 0..episodes {
        let mut env = make(env_id)?;
        let mut s = env.reset(Some(*episode_seed));
        *episode_seed = episode_seed.wrapping_add(1);
        loop {
            let label = expert.act(&s, 1).map_err(ImitationError::Policy)?;
            let chosen = if rng.r#gen::<f64>() < beta {
                label.clone()
            } else {
                learner_policy.act(&s, 1).map_err(ImitationError::Policy)?
            };
            obs.extend_from_slice(&s);
            labels.extend(&label)?;
            let step = match &chosen {
                Actions::Discrete(a) if a.len() == 1 => env.step(Action::Discrete(a[0]))?,
                Actions::Continuous { values, .. } => env.step(Action::Continuous(values))?,
                Actions::Discrete(a) => {
                    return Err(ImitationError::Config(format!(
                        "policy returned {} actions for one state",
                        a.len()
                    )));
                }
            };
            total += step.reward;
            s = step.obs;
            if step.terminated || step.truncated {
                break;
            }
        }
    }
    Ok(total / episodes as f64)
}
