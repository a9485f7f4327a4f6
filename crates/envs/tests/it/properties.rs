//! Property tests: observations stay in the observation space where Gymnasium guarantees it.

use eirl_envs::{Action, make, make_unlimited};
use proptest::prelude::*;

fn run_discrete(id: &str, seed: u64, actions: &[usize]) -> Result<(), TestCaseError> {
    let mut env = make_unlimited(id).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut obs = env.reset(Some(seed));
    prop_assert!(
        env.observation_space().contains(&obs),
        "{id} reset obs {obs:?}"
    );
    for &a in actions {
        let n = env.action_space().n().unwrap_or(1);
        let step = env
            .step(Action::Discrete(a % n))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        obs = step.obs;
        prop_assert!(env.observation_space().contains(&obs), "{id} obs {obs:?}");
    }
    Ok(())
}

fn run_continuous(id: &str, seed: u64, actions: &[f32]) -> Result<(), TestCaseError> {
    let mut env = make(id).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let obs = env.reset(Some(seed));
    prop_assert!(
        env.observation_space().contains(&obs),
        "{id} reset obs {obs:?}"
    );
    for &a in actions {
        let step = env
            .step(Action::Continuous(&[a]))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(
            env.observation_space().contains(&step.obs),
            "{id} obs {:?}",
            step.obs
        );
        prop_assert!(step.reward.is_finite());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mountain_car_and_acrobot_obs_stay_in_bounds(seed in any::<u64>(), actions in proptest::collection::vec(0usize..3, 0..300)) {
        run_discrete("MountainCar-v0", seed, &actions)?;
        run_discrete("Acrobot-v1", seed, &actions)?;
    }

    #[test]
    fn continuous_obs_stay_in_bounds(seed in any::<u64>(), actions in proptest::collection::vec(-10.0f32..10.0, 0..300)) {
        run_continuous("Pendulum-v1", seed, &actions)?;
        run_continuous("MountainCarContinuous-v0", seed, &actions)?;
    }

    #[test]
    fn pendulum_reward_is_bounded(th in -100.0f64..100.0, thdot in -8.0f64..8.0, u in -10.0f32..10.0) {
        let (_, r) = eirl_envs::Pendulum::transition(&[th, thdot], u);
        let worst = std::f64::consts::PI.powi(2) + 0.1 * 64.0 + 0.001 * 4.0;
        prop_assert!(r <= 0.0 && r >= -worst - 1e-9);
    }
}
