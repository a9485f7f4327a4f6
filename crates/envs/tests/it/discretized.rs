//! `<BaseId>-discrete<N>`: the discretised-action envs through the registry.

use eirl_envs::{
    Action, DiscretizedActions, Env, EnvError, Pendulum, Space, VecEnv, make, make_unlimited,
    registry, spec,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn ok<T>(r: Result<T, EnvError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn action_k_is_low_plus_k_steps_of_the_linspace() {
    for (base, n) in [
        ("Pendulum-v1", 25),
        ("MountainCarContinuous-v0", 25),
        ("Pendulum-v1", 2),
    ] {
        let inner = ok(make(base));
        let Space::Box(b) = inner.action_space().clone() else {
            panic!("{base} is continuous")
        };
        let (low, high) = (f64::from(b.low[0]), f64::from(b.high[0]));
        let env = ok(DiscretizedActions::new(inner, n));
        assert_eq!(env.id(), format!("{base}-discrete{n}"));
        assert_eq!(env.action_space(), &Space::Discrete(n));
        for k in 0..n {
            let want = low + k as f64 * (high - low) / (n - 1) as f64;
            let got = env.continuous_action(k).map(f64::from).unwrap_or(f64::NAN);
            assert!((got - want).abs() <= 1e-6, "{base} k={k}: {got} vs {want}");
        }
        assert_eq!(env.continuous_action(0).map(f64::from), Some(low));
        assert_eq!(env.continuous_action(n - 1).map(f64::from), Some(high));
        assert_eq!(env.continuous_action(n), None);
    }
}

/// The wrapped env, fed index k, and the base env, fed `a_k`, give the same steps — across
/// episode ends and the base env's time limit.
#[test]
fn steps_identically_to_the_base_env_fed_the_continuous_actions() {
    for (base, n, steps) in [
        ("Pendulum-v1", 25, 450),
        ("MountainCarContinuous-v0", 25, 2_100),
        ("MountainCarContinuous-v0", 3, 2_100),
    ] {
        let id = format!("{base}-discrete{n}");
        let mut wrapped = ok(make(&id));
        let mut plain = ok(make(base));
        assert_eq!(wrapped.id(), id);
        assert_eq!(wrapped.max_episode_steps(), plain.max_episode_steps());
        assert_eq!(wrapped.observation_space(), plain.observation_space());
        let values = ok(DiscretizedActions::new(ok(make(base)), n))
            .values()
            .to_vec();
        assert_eq!(wrapped.reset(Some(7)), plain.reset(Some(7)));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut ends = 0;
        for _ in 0..steps {
            let k = rng.gen_range(0..n);
            let a = ok(wrapped.step(Action::Discrete(k)));
            let b = ok(plain.step(Action::Continuous(&values[k..=k])));
            assert_eq!(a, b);
            assert_eq!(wrapped.state(), plain.state());
            if a.terminated || a.truncated {
                ends += 1;
                assert_eq!(wrapped.reset(None), plain.reset(None));
            }
        }
        assert!(ends >= 2, "{id}: {ends} episode ends");
    }
    // Without the time limit, too.
    let mut wrapped = ok(make_unlimited("Pendulum-v1-discrete5"));
    let mut plain = ok(make_unlimited("Pendulum-v1"));
    assert_eq!(wrapped.max_episode_steps(), None);
    wrapped.reset(Some(3));
    plain.reset(Some(3));
    for i in 0..300 {
        let a = ok(wrapped.step(Action::Discrete(4)));
        let b = ok(plain.step(Action::Continuous(&[2.0])));
        assert!(!a.truncated, "step {i}");
        assert_eq!(a, b);
    }
}

#[test]
fn the_registry_derives_specs_and_vec_envs_use_them() {
    let s = ok(spec("Pendulum-v1-discrete25"));
    assert_eq!(s.id, "Pendulum-v1-discrete25");
    assert_eq!(s.max_episode_steps, 200);
    assert_eq!(s.discretized_from(), Some((Pendulum::ID, 25)));
    let again: &eirl_envs::EnvSpec = ok(spec("Pendulum-v1-discrete25"));
    assert!(std::ptr::eq(s, again));
    let s = ok(spec("MountainCarContinuous-v0-discrete25"));
    assert_eq!((s.max_episode_steps, s.reward_threshold), (999, Some(90.0)));
    assert_eq!(registry().len(), 12);

    let mut venv = ok(VecEnv::new("Pendulum-v1-discrete5", 3, 0));
    assert_eq!(venv.action_space(), &Space::Discrete(5));
    assert_eq!(venv.obs_dim(), 3);
    ok(venv.step_discrete(&[0, 2, 4]));
    assert!(venv.step_discrete(&[0, 2, 5]).is_err());
    assert!(venv.step_continuous(&[0.0, 0.0, 0.0]).is_err());
}

#[test]
fn bad_ids_and_actions_are_errors() {
    for id in [
        "Pendulum-v2-discrete25",
        "Pendulum-v1-discrete",
        "Pendulum-v1-discrete025",
        "Pendulum-v1-discrete5x",
        "Pendulum-v1-discrete-5",
        "Pendulum-v1discrete5",
    ] {
        assert!(
            matches!(make(id), Err(EnvError::UnknownEnv { .. })),
            "{id} should be unknown"
        );
    }
    for id in [
        "Pendulum-v1-discrete1",
        "Pendulum-v1-discrete0",
        "CartPole-v1-discrete5",
        "MountainCar-v0-discrete3",
    ] {
        let Err(err) = make_unlimited(id) else {
            panic!("{id} should not build")
        };
        assert!(
            matches!(err, EnvError::InvalidArgument { .. }),
            "{id}: {err}"
        );
        assert!(err.to_string().contains(id), "{err}");
    }
    assert!(DiscretizedActions::new(ok(make("Acrobot-v1")), 5).is_err());
    assert!(DiscretizedActions::new(ok(make("Pendulum-v1")), 1).is_err());

    let mut env = ok(make("Pendulum-v1-discrete5"));
    env.reset(Some(0));
    let before = env.state();
    assert!(matches!(
        env.step(Action::Discrete(5)),
        Err(EnvError::InvalidAction { .. })
    ));
    assert!(env.step(Action::Continuous(&[1.0])).is_err());
    assert_eq!(env.state(), before);
}
