//! Experts: scripted controllers for MountainCar and CartPole, a uniform random policy, a
//! learned [`PolicyNetwork`] as a [`Policy`] (eirl-envs' acting trait), [`record`]ing
//! demonstrations and normalised scores.

#[cfg(test)]
use eirl_envs::normalized_score;
use eirl_envs::{Action, ActionKind, Actions, Policy, PolicyError, Space, evaluate, make};
use eirl_models::{ModelError, PolicyHead, PolicyNetwork};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::demos::{Demonstrations, Episode};
use crate::error::ImitationError;

fn rows(
    obs: &[f32],
    batch: usize,
    dim: usize,
) -> Result<std::slice::ChunksExact<'_, f32>, PolicyError> {
    if obs.len() != batch * dim {
        return Err(ImitationError::Config(format!(
            "expected {batch} observations of width {dim}, got {} values",
            obs.len()
        ))
        .into());
    }
    Ok(obs.chunks_exact(dim))
}

/// MountainCar-v0's energy-pumping controller: push in the direction of the velocity
/// (action 2 when `v ≥ 0`, else 0), which adds mechanical energy every step and reaches the
/// flag in about 100–120 steps from any start.
#[derive(Clone, Copy, Debug, Default)]
pub struct MountainCarEnergyPump;

impl Policy for MountainCarEnergyPump {
    fn act(&mut self, obs: &[f32], batch: usize) -> Result<Actions, PolicyError> {
        Ok(Actions::Discrete(
            rows(obs, batch, 2)?
                .map(|s| if s[1] >= 0.0 { 2 } else { 0 })
                .collect(),
        ))
    }
}

/// MountainCarContinuous-v0's energy pump: full force along the velocity (`+1` when
/// `v ≥ 0`, else `−1`). It reaches the flag from every start in well under the 999-step limit,
/// paying the action cost `0.1·a²` each step (return ≈ 100 − 0.1 × steps).
#[derive(Clone, Copy, Debug, Default)]
pub struct MountainCarContinuousPump;

impl Policy for MountainCarContinuousPump {
    fn act(&mut self, obs: &[f32], batch: usize) -> Result<Actions, PolicyError> {
        Ok(Actions::Continuous {
            values: rows(obs, batch, 2)?
                .map(|s| if s[1] >= 0.0 { 1.0 } else { -1.0 })
                .collect(),
            dim: 1,
        })
    }
}

/// A CartPole-v1 controller: push toward where the pole is falling, judged by angle plus a
/// fraction of angular velocity (`θ + 0.5 θ̇ > 0` → push right), with a small correction
/// for the cart's drift. It balances for the full 500 steps from typical starts.
#[derive(Clone, Copy, Debug, Default)]
pub struct CartPoleBalancer;

impl Policy for CartPoleBalancer {
    fn act(&mut self, obs: &[f32], batch: usize) -> Result<Actions, PolicyError> {
        Ok(Actions::Discrete(
            rows(obs, batch, 4)?
                .map(|s| usize::from(s[2] + 0.5 * s[3] + 0.01 * s[0] + 0.1 * s[1] > 0.0))
                .collect(),
        ))
    }
}

/// Uniformly random actions from an action space (the `0` of normalised scores).
pub struct RandomPolicy {
    space: Space,
    rng: ChaCha8Rng,
}

impl RandomPolicy {
    pub fn new(space: Space, seed: u64) -> Self {
        RandomPolicy {
            space,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }
}

impl Policy for RandomPolicy {
    fn act(&mut self, _obs: &[f32], batch: usize) -> Result<Actions, PolicyError> {
        Ok(match &self.space {
            Space::Discrete(n) => {
                Actions::Discrete((0..batch).map(|_| self.rng.gen_range(0..*n)).collect())
            }
            Space::Box(b) => Actions::Continuous {
                values: (0..batch)
                    .flat_map(|_| b.low.iter().zip(&b.high).collect::<Vec<_>>())
                    .map(|(lo, hi)| {
                        if lo.is_finite() && hi.is_finite() && lo < hi {
                            self.rng.gen_range(*lo..*hi)
                        } else {
                            0.0
                        }
                    })
                    .collect(),
                dim: b.dim(),
            },
        })
    }
}

/// A [`PolicyNetwork`] acting greedily (`deterministic`: argmax / mean) or by sampling.
pub struct NetworkPolicy<'a> {
    pub net: &'a PolicyNetwork,
    pub deterministic: bool,
    rng: ChaCha8Rng,
}

impl<'a> NetworkPolicy<'a> {
    pub fn new(net: &'a PolicyNetwork, deterministic: bool, seed: u64) -> Self {
        NetworkPolicy {
            net,
            deterministic,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }
}

impl Policy for NetworkPolicy<'_> {
    fn act(&mut self, obs: &[f32], batch: usize) -> Result<Actions, PolicyError> {
        Ok(network_actions(
            self.net,
            obs,
            batch,
            self.deterministic,
            &mut self.rng,
        )?)
    }
}

/// [`network_actions`] of the deterministic policy: argmax / mean.
pub fn greedy_network_actions(
    net: &PolicyNetwork,
    obs: &[f32],
    n: usize,
) -> Result<Actions, ModelError> {
    // A deterministic policy draws nothing from the RNG.
    let mut unused = ChaCha8Rng::seed_from_u64(0);
    network_actions(net, obs, n, true, &mut unused)
}

/// The policy head that acts in `space`: categorical over a discrete space, a diagonal Gaussian
/// starting at `log σ = 0` (baselines' Gaussian MLP policy) over a box.
pub fn policy_head(space: &Space) -> PolicyHead {
    match space {
        Space::Discrete(n) => PolicyHead::Categorical { num_actions: *n },
        Space::Box(b) => PolicyHead::Gaussian {
            act_dim: b.dim(),
            init_log_std: 0.0,
        },
    }
}

/// Names of the scripted experts [`scripted_expert`] knows.
pub const SCRIPTED_EXPERTS: &[&str] = &[
    "cartpole-balancer",
    "mountaincar-pump",
    "mountaincarcontinuous-pump",
];

/// A scripted expert by name, with the environment it solves.
pub fn scripted_expert(name: &str) -> Option<(Box<dyn Policy>, &'static str)> {
    match name {
        "cartpole-balancer" => Some((Box::new(CartPoleBalancer), "CartPole-v1")),
        "mountaincar-pump" => Some((Box::new(MountainCarEnergyPump), "MountainCar-v0")),
        "mountaincarcontinuous-pump" => Some((
            Box::new(MountainCarContinuousPump),
            "MountainCarContinuous-v0",
        )),
        _ => None,
    }
}

/// The actions of `net` for `obs: [n, obs_dim]`: argmax / mean when `deterministic`, else
/// sampled with `rng` (unused then).
pub fn network_actions(
    net: &PolicyNetwork,
    obs: &[f32],
    n: usize,
    deterministic: bool,
    rng: &mut impl Rng,
) -> Result<Actions, ModelError> {
    let (discrete, continuous) = net.act(obs, n, deterministic, rng)?;
    Ok(match net.head() {
        PolicyHead::Categorical { .. } => Actions::Discrete(discrete),
        PolicyHead::Gaussian { act_dim, .. } => Actions::Continuous {
            values: continuous,
            dim: act_dim,
        },
    })
}

/// Runs one episode of `policy` in a fresh `env_id` env reset with `seed`, until it terminates
/// or its registered time limit truncates it.
pub fn run_episode(
    env_id: &str,
    policy: &mut dyn Policy,
    seed: u64,
) -> Result<Episode, ImitationError> {
    run_episode_from(env_id, policy, seed, None)
}

/// [`run_episode`] from a chosen start: after the seeded reset the env's physical state is set
/// to `start` ([`eirl_envs::Env::set_state`]) when one is given, and the episode begins from
/// that state's observation (a start-state distribution other than the env's own).
pub fn run_episode_from(
    env_id: &str,
    policy: &mut dyn Policy,
    seed: u64,
    start: Option<&[f64]>,
) -> Result<Episode, ImitationError> {
    let mut env = make(env_id)?;
    let mut s = env.reset(Some(seed));
    if let Some(state) = start {
        env.set_state(state)?;
        s = env.observation();
    }
    let mut obs = s.clone();
    let mut actions = Actions::empty(ActionKind::of(env.action_space()));
    let mut rewards = Vec::new();
    loop {
        let a = policy.act(&s, 1).map_err(ImitationError::Policy)?;
        let step = match &a {
            Actions::Discrete(v) if v.len() == 1 => env.step(Action::Discrete(v[0]))?,
            Actions::Continuous { values, .. } => env.step(Action::Continuous(values))?,
            Actions::Discrete(v) => {
                return Err(ImitationError::Config(format!(
                    "policy returned {} actions for one observation",
                    v.len()
                )));
            }
        };
        actions.extend(&a)?;
        rewards.push(step.reward as f32);
        obs.extend_from_slice(&step.obs);
        s = step.obs;
        if step.terminated || step.truncated {
            return Ok(Episode {
                obs,
                actions,
                rewards,
                terminated: step.terminated,
            });
        }
    }
}

/// Records `episodes` episodes of `policy` on `env_id` (episode `i` reset with seed
/// `seed + i`); the expert mean return stored with the data is the mean over these episodes.
pub fn record(
    env_id: &str,
    policy: &mut dyn Policy,
    episodes: usize,
    seed: u64,
) -> Result<Demonstrations, ImitationError> {
    record_from(env_id, policy, episodes, seed, &mut |_| None)
}

/// [`record`] with a start-state distribution: episode `i` starts from `starts(seed + i)`
/// when that returns a state (see [`run_episode_from`]), from the env's own reset otherwise.
pub fn record_from(
    env_id: &str,
    policy: &mut dyn Policy,
    episodes: usize,
    seed: u64,
    starts: &mut dyn FnMut(u64) -> Option<Vec<f64>>,
) -> Result<Demonstrations, ImitationError> {
    let env = make(env_id)?;
    let obs_dim = env.observation_space().dim();
    let mut demos = Demonstrations::new(env_id, obs_dim, ActionKind::of(env.action_space()));
    for i in 0..episodes {
        let episode_seed = seed.wrapping_add(i as u64);
        let start = starts(episode_seed);
        let ep = run_episode_from(env_id, policy, episode_seed, start.as_deref())?;
        demos.push_episode(&ep)?;
    }
    demos.set_expert_mean_return(demos.mean_return());
    Ok(demos)
}

/// Mean return of a uniformly random policy over `episodes` episodes (one in each of
/// `episodes` envs, env `i` reset with `seed + i`, by [`eirl_envs::evaluate`]).
pub fn random_mean_return(env_id: &str, episodes: usize, seed: u64) -> Result<f64, ImitationError> {
    let env = make(env_id)?;
    let mut random = RandomPolicy::new(env.action_space().clone(), seed);
    let stats =
        evaluate(env_id, &mut random, episodes.max(1), seed).map_err(ImitationError::Policy)?;
    Ok(stats.mean())
}

/// Arithmetic mean (0 for an empty slice).
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_experts_solve_their_tasks() -> Result<(), PolicyError> {
        let mc = evaluate("MountainCar-v0", &mut MountainCarEnergyPump, 10, 0)?;
        assert!(mc.mean() > -130.0, "MountainCar expert: {mc:?}");
        let mcc = evaluate(
            "MountainCarContinuous-v0",
            &mut MountainCarContinuousPump,
            10,
            0,
        )?;
        assert!(mcc.mean() > 85.0, "MountainCarContinuous expert: {mcc:?}");
        let cp = evaluate("CartPole-v1", &mut CartPoleBalancer, 5, 0)?;
        assert!(cp.mean() > 475.0, "CartPole expert: {cp:?}");
        Ok(())
    }

    #[test]
    fn record_stores_the_expert_return() -> Result<(), ImitationError> {
        let d = record("MountainCar-v0", &mut MountainCarEnergyPump, 3, 5)?;
        assert_eq!(d.num_episodes(), 3);
        assert_eq!(d.env_id(), "MountainCar-v0");
        let stored = d.expert_mean_return().unwrap_or(f64::NAN);
        assert!((stored - mean(&d.returns())).abs() < 1e-9);
        Ok(())
    }

    #[test]
    fn random_policy_is_worse_and_scores_normalise() -> Result<(), ImitationError> {
        let random = random_mean_return("CartPole-v1", 10, 1)?;
        assert!(random < 60.0);
        assert!(matches!(normalized_score(random, random, 500.0), Some(s) if s.abs() < 1e-12));
        assert!(
            matches!(normalized_score(500.0, random, 500.0), Some(s) if (s - 1.0).abs() < 1e-12)
        );
        assert!(normalized_score(1.0, 2.0, 2.0).is_none());
        Ok(())
    }

    #[test]
    fn policies_check_batch_shapes() {
        assert!(MountainCarEnergyPump.act(&[0.0; 3], 2).is_err());
        assert!(
            matches!(CartPoleBalancer.act(&[0.0; 8], 2), Ok(Actions::Discrete(a)) if a.len() == 2)
        );
    }
}
