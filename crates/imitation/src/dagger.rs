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

use crate::bc::{BcConfig, train_bc};
use crate::demos::{Actions, Demonstrations};
use crate::error::ImitationError;
use crate::expert::{NetworkPolicy, Policy, action_kind};

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

/// Runs DAgger on `env_id` and leaves the trained learner in `learner`.
pub fn dagger(
    env_id: &str,
    expert: &mut dyn Policy,
    learner: &mut PolicyNetwork,
    initial: Option<&Demonstrations>,
    cfg: &DaggerConfig,
    seed: u64,
) -> Result<Vec<DaggerRound>, ImitationError> {
    let env = make(env_id)?;
    let kind = action_kind(env.action_space());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut obs = Vec::new();
    let mut labels = Actions::empty(kind);
    let mut rounds = Vec::new();
    let mut episode_seed = seed.wrapping_mul(1_000_003);
    if let Some(d) = initial {
        let (o, a) = d.state_action_pairs();
        obs = o;
        labels.extend(&a)?;
        rounds.push(DaggerRound {
            beta: 1.0,
            dataset_size: labels.len(),
            rollout_return: None,
        });
    } else {
        let r = rollout_and_label(
            env_id,
            expert,
            learner,
            1.0,
            cfg,
            &mut rng,
            &mut episode_seed,
            &mut obs,
            &mut labels,
        )?;
        rounds.push(DaggerRound {
            beta: 1.0,
            dataset_size: labels.len(),
            rollout_return: Some(r),
        });
    }
    train_bc(learner, &obs, &labels, &cfg.bc, rng.r#gen())?;
    for i in 1..=cfg.rounds {
        let beta = (1.0 - i as f64 / cfg.beta_rampdown_rounds.max(1) as f64).max(0.0);
        let r = rollout_and_label(
            env_id,
            expert,
            learner,
            beta,
            cfg,
            &mut rng,
            &mut episode_seed,
            &mut obs,
            &mut labels,
        )?;
        train_bc(learner, &obs, &labels, &cfg.bc, rng.r#gen())?;
        rounds.push(DaggerRound {
            beta,
            dataset_size: labels.len(),
            rollout_return: Some(r),
        });
    }
    Ok(rounds)
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
            let label = expert.act(&s, 1)?;
            let chosen = if rng.r#gen::<f64>() < beta {
                label.clone()
            } else {
                learner_policy.act(&s, 1)?
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
