//! VecEnv: seeding, same-step auto-reset, final observations, errors.

use eirl_envs::{Action, EnvError, VecEnv, make};

fn ok<T>(r: Result<T, EnvError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn env_i_is_seeded_with_seed_plus_i() {
    let mut v = ok(VecEnv::new("Acrobot-v1", 3, 10));
    assert_eq!((v.num_envs(), v.obs_dim()), (3, 6));
    let obs = v.reset().to_vec();
    for i in 0..3 {
        let mut env = ok(make("Acrobot-v1"));
        assert_eq!(
            &obs[i * 6..(i + 1) * 6],
            env.reset(Some(10 + i as u64)).as_slice()
        );
    }
    // Later resets continue the streams.
    assert_ne!(v.reset(), obs.as_slice());
}

#[test]
fn same_step_auto_reset_matches_single_envs() {
    let n = 4;
    let mut v = ok(VecEnv::new("CartPole-v1", n, 0));
    v.reset();
    let mut singles: Vec<_> = (0..n)
        .map(|i| {
            let mut e = ok(make("CartPole-v1"));
            e.reset(Some(i as u64));
            e
        })
        .collect();
    let mut returns = vec![0.0; n];
    let mut lengths = vec![0; n];
    let mut finished = 0;
    for t in 0..300 {
        let actions: Vec<usize> = (0..n).map(|i| (t * 7 + i * 3) % 5 % 2).collect();
        let step = ok(v.step_discrete(&actions));
        let mut expect_done = Vec::new();
        for (i, env) in singles.iter_mut().enumerate() {
            let s = ok(env.step(Action::Discrete(actions[i])));
            returns[i] += s.reward;
            lengths[i] += 1;
            assert_eq!(&step.final_obs[i * 4..(i + 1) * 4], s.obs.as_slice());
            assert_eq!(
                (step.terminated[i], step.truncated[i]),
                (s.terminated, s.truncated)
            );
            assert!((f64::from(step.rewards[i]) - s.reward).abs() < 1e-12);
            if s.terminated || s.truncated {
                expect_done.push((i, returns[i], lengths[i]));
                returns[i] = 0.0;
                lengths[i] = 0;
                let first = env.reset(None);
                assert_eq!(&step.obs[i * 4..(i + 1) * 4], first.as_slice());
            } else {
                assert_eq!(&step.obs[i * 4..(i + 1) * 4], s.obs.as_slice());
            }
        }
        assert_eq!(step.finished.len(), expect_done.len());
        for (got, (i, ret, len)) in step.finished.iter().zip(expect_done) {
            assert_eq!((got.env, got.length), (i, len));
            assert!((got.episode_return - ret).abs() < 1e-9);
        }
        finished += step.finished.len();
    }
    assert!(
        finished > 4,
        "episodes should end under alternating actions"
    );
}

#[test]
fn continuous_vec_env_steps_and_validates() {
    let mut v = ok(VecEnv::new("Pendulum-v1", 2, 5));
    v.reset();
    assert_eq!(v.action_space().dim(), 1);
    assert!(v.step_continuous(&[0.5, -0.5]).is_ok());
    for bad in [&[0.5][..], &[0.5, 0.5, 0.5], &[f32::NAN, 0.0]] {
        assert!(matches!(
            v.step_continuous(bad),
            Err(EnvError::InvalidAction { .. })
        ));
    }
    assert!(v.step_discrete(&[0, 0]).is_err());
    // Pendulum is only truncated, at 200 steps.
    let mut truncations = 0;
    for _ in 0..199 {
        let s = ok(v.step_continuous(&[1.0, 1.0]));
        truncations += s.finished.len();
        assert!(s.terminated.iter().all(|t| !t));
    }
    assert_eq!(truncations, 2);
}

#[test]
fn discrete_vec_env_rejects_bad_batches() {
    let mut v = ok(VecEnv::new("MountainCar-v0", 3, 0));
    assert!(v.step_discrete(&[0, 1]).is_err());
    assert!(v.step_discrete(&[0, 1, 3]).is_err());
    assert!(v.step_continuous(&[0.0, 0.0, 0.0]).is_err());
    assert!(v.step_discrete(&[0, 1, 2]).is_ok());
    assert!(VecEnv::new("MountainCar-v0", 0, 0).is_err());
    assert!(VecEnv::new("Nope-v0", 2, 0).is_err());
}
