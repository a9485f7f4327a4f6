//! The public API: errors instead of panics, TimeLimit, seeding, the registry.

use eirl_envs::{
    Acrobot, Action, CartPole, Env, EnvError, MountainCar, MountainCarContinuous, Pendulum,
    Precision, Space, TimeLimit, make, make_unlimited, registry,
};

fn ok<T>(r: Result<T, EnvError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn registry_lists_the_envs_with_gymnasium_limits() {
    let limits: Vec<(&str, usize)> = registry()
        .iter()
        .map(|s| (s.id, s.max_episode_steps))
        .collect();
    assert_eq!(
        limits,
        [
            ("CartPole-v1", 500),
            ("MountainCar-v0", 200),
            ("MountainCarContinuous-v0", 999),
            ("Pendulum-v1", 200),
            ("Acrobot-v1", 500),
            ("InvertedPendulum-v5", 1000),
            ("InvertedDoublePendulum-v5", 1000),
            ("HalfCheetah-v5", 1000),
            ("Hopper-v5", 1000),
            ("Walker2d-v5", 1000),
            ("Ant-v5", 1000),
            ("Humanoid-v5", 1000),
        ]
    );
    let mujoco: Vec<&str> = registry()
        .iter()
        .filter(|s| s.is_mujoco())
        .map(|s| s.id)
        .collect();
    assert_eq!(mujoco.len(), 7);
    assert!(mujoco.iter().all(|id| id.ends_with("-v5")));
    for spec in crate::runnable_specs() {
        let env = ok(spec.make());
        assert_eq!(env.id(), spec.id);
        assert_eq!(env.max_episode_steps(), Some(spec.max_episode_steps));
        assert_eq!(ok(spec.make_unlimited()).max_episode_steps(), None);
        assert_eq!(env.observation().len(), env.observation_space().dim());
    }
}

#[test]
fn unknown_id_lists_the_known_ids() {
    let Err(err) = make("CartPole-v0") else {
        panic!("CartPole-v0 is not registered")
    };
    let msg = err.to_string();
    assert!(
        msg.contains("CartPole-v0") && msg.contains("CartPole-v1") && msg.contains("Acrobot-v1"),
        "{msg}"
    );
    assert!(make_unlimited("").is_err());
}

#[test]
fn discrete_envs_reject_bad_actions_without_changing_state() {
    for id in ["CartPole-v1", "MountainCar-v0", "Acrobot-v1"] {
        let mut env = ok(make(id));
        env.reset(Some(3));
        let before = env.state();
        let n = env.action_space().n().unwrap_or_default();
        assert!(matches!(
            env.step(Action::Discrete(n)),
            Err(EnvError::InvalidAction { .. })
        ));
        assert!(matches!(
            env.step(Action::Discrete(usize::MAX)),
            Err(EnvError::InvalidAction { .. })
        ));
        assert!(matches!(
            env.step(Action::Continuous(&[0.0])),
            Err(EnvError::InvalidAction { .. })
        ));
        assert_eq!(
            env.state(),
            before,
            "{id}: a rejected action changed the state"
        );
        assert!(env.step(Action::Discrete(n - 1)).is_ok());
    }
}

#[test]
fn continuous_envs_reject_bad_actions() {
    for id in ["MountainCarContinuous-v0", "Pendulum-v1"] {
        let mut env = ok(make(id));
        for bad in [&[][..], &[0.0, 0.0], &[f32::NAN], &[f32::INFINITY]] {
            let err = env.step(Action::Continuous(bad));
            assert!(
                matches!(err, Err(EnvError::InvalidAction { .. })),
                "{id}: {bad:?} accepted"
            );
        }
        assert!(env.step(Action::Discrete(0)).is_err());
        // Out-of-box but finite actions are Gymnasium's business: clipped, not rejected.
        assert!(env.step(Action::Continuous(&[5.0])).is_ok());
    }
}

#[test]
fn set_state_rejects_bad_states() {
    for spec in crate::runnable_specs() {
        let mut env = ok(spec.make());
        let good = env.state();
        let mut long = good.clone();
        long.push(0.0);
        assert!(matches!(
            env.set_state(&long),
            Err(EnvError::InvalidState { .. })
        ));
        assert!(env.set_state(&good[1..]).is_err());
        let mut nan = good.clone();
        nan[0] = f64::NAN;
        assert!(env.set_state(&nan).is_err());
        assert_eq!(env.state(), good);
        assert!(env.set_state(&good).is_ok());
    }
}

#[test]
fn time_limit_truncates_exactly_at_the_limit() {
    let mut env = ok(TimeLimit::new(Pendulum::new(), 3));
    env.reset(Some(0));
    let flags: Vec<bool> = (0..5)
        .map(|_| ok(env.step(Action::Continuous(&[0.0]))).truncated)
        .collect();
    assert_eq!(flags, [false, false, true, true, true]);
    // set_state does not touch the counter; reset clears it.
    let s = env.state();
    ok(env.set_state(&s));
    assert_eq!(env.elapsed_steps(), 5);
    env.reset(None);
    assert_eq!(env.elapsed_steps(), 0);
    assert!(!ok(env.step(Action::Continuous(&[0.0]))).truncated);
    assert!(TimeLimit::new(Pendulum::new(), 0).is_err());
}

#[test]
fn time_limit_of_make_is_reached() {
    let mut env = ok(make("Pendulum-v1"));
    env.reset(Some(1));
    let mut t = 0;
    loop {
        t += 1;
        let step = ok(env.step(Action::Continuous(&[1.0])));
        if step.truncated {
            break;
        }
    }
    assert_eq!(t, 200);
}

#[test]
fn seeded_reset_is_deterministic_and_none_continues_the_stream() {
    for spec in crate::runnable_specs() {
        let mut a = ok(spec.make());
        let mut b = ok(spec.make());
        let first = a.reset(Some(7));
        assert_eq!(first, b.reset(Some(7)), "{}", spec.id);
        assert_eq!(a.state(), b.state());
        let second = a.reset(None);
        assert_eq!(second, b.reset(None));
        assert_ne!(a.reset(Some(8)), first, "{}", spec.id);
        // A fresh env continues from seed 0.
        let mut c = ok(spec.make());
        let mut d = ok(spec.make());
        d.reset(Some(0));
        assert_eq!(c.reset(None), d.reset(None));
    }
}

#[test]
fn reset_distributions_stay_in_gymnasium_ranges() {
    let mut cp = CartPole::new();
    let mut mc = MountainCar::new();
    let mut pd = Pendulum::new();
    let mut ac = Acrobot::new();
    for seed in 0..200 {
        cp.reset(Some(seed));
        assert!(cp.state().iter().all(|v| (-0.05..0.05).contains(v)));
        mc.reset(Some(seed));
        let s = mc.state();
        assert!((-0.6..-0.4).contains(&s[0]) && s[1].abs() < 1e-300);
        pd.reset(Some(seed));
        let s = pd.state();
        assert!(s[0].abs() <= std::f64::consts::PI && s[1].abs() <= 1.0);
        ac.reset(Some(seed));
        // Acrobot's reset state is float32.
        assert!(
            ac.state()
                .iter()
                .all(|&v| v.abs() <= 0.1 && f64::from(v as f32).to_bits() == v.to_bits())
        );
    }
}

#[test]
fn cartpole_pays_zero_after_termination() {
    let mut env = CartPole::new();
    ok(env.set_state(&[2.39, 1.0, 0.0, 0.0]));
    let step = ok(env.step(Action::Discrete(1)));
    assert!(step.terminated && (step.reward - 1.0).abs() < 1e-12);
    let step = ok(env.step(Action::Discrete(1)));
    assert!(step.terminated && step.reward.abs() < 1e-12);
    env.reset(None);
    ok(env.set_state(&[2.39, 1.0, 0.0, 0.0]));
    assert!((ok(env.step(Action::Discrete(1))).reward - 1.0).abs() < 1e-12);
}

#[test]
fn pure_transitions_agree_with_step() {
    let mut env = CartPole::new();
    let s0 = [0.01, -0.02, 0.03, 0.04];
    ok(env.set_state(&s0));
    let step = ok(env.step(Action::Discrete(0)));
    let (s1, r, done) = CartPole::transition(&s0, 0);
    assert_eq!(env.state(), s1.to_vec());
    assert_eq!(
        (step.terminated, step.obs),
        (done, CartPole::observation(&s1))
    );
    assert!((r - step.reward).abs() < 1e-12);

    let mut env = MountainCarContinuous::new();
    ok(env.set_state(&[-0.5, 0.0]));
    assert_eq!(env.precision(), Precision::F64);
    ok(env.step(Action::Continuous(&[0.3])));
    assert_eq!(env.precision(), Precision::F32);
    let (s1, _, _) = MountainCarContinuous::transition(&[-0.5, 0.0], Precision::F64, 0.3);
    assert_eq!(env.state(), s1.to_vec());

    let (s, r) = Pendulum::transition(&[0.0, 0.0], 0.0);
    assert!(s.iter().all(|v| v.abs() < 1e-15) && r.abs() < 1e-15);
    assert!(Acrobot::is_terminal(&[std::f64::consts::PI, 0.0, 0.0, 0.0]));
    assert!(matches!(Acrobot::new().action_space(), Space::Discrete(3)));
}
