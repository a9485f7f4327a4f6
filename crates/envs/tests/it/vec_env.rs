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

/// Random actions for every env of `v` (discrete indices or values inside the box).
fn random_actions(v: &VecEnv, rng: &mut impl rand::Rng) -> eirl_envs::Actions {
    let n = v.num_envs();
    match v.action_space() {
        eirl_envs::Space::Discrete(k) => {
            eirl_envs::Actions::Discrete((0..n).map(|_| rng.gen_range(0..*k)).collect())
        }
        eirl_envs::Space::Box(b) => eirl_envs::Actions::Continuous {
            values: (0..n)
                .flat_map(|_| {
                    b.low
                        .iter()
                        .zip(&b.high)
                        .map(|(lo, hi)| rng.gen_range(*lo..=*hi))
                        .collect::<Vec<_>>()
                })
                .collect(),
            dim: b.dim(),
        },
    }
}

#[test]
fn a_restored_snapshot_continues_bit_for_bit() {
    use rand::SeedableRng;
    let mut ids: Vec<&str> = crate::runnable_specs().map(|s| s.id).collect();
    ids.extend([
        "Pendulum-v1-discrete5",
        "MountainCar-v0-confounded",
        "CartPole-v1-original",
    ]);
    for id in ids {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut a = ok(VecEnv::new(id, 3, 11));
        a.reset();
        // Long enough for CartPole episodes to end and auto-reset mid-run.
        for _ in 0..150 {
            let act = random_actions(&a, &mut rng);
            ok(a.step(&act));
        }
        let words = a.snapshot().unwrap_or_else(|| panic!("{id} snapshots"));
        let mut b = ok(VecEnv::new(id, 3, 999));
        ok(b.restore_snapshot(&words));
        assert_eq!(b.snapshot().as_deref(), Some(&words[..]), "{id}");
        for t in 0..400 {
            let act = random_actions(&a, &mut rng);
            let sa = ok(a.step(&act));
            let (obs, rew, term, trunc, fin) = (
                sa.obs.to_vec(),
                sa.rewards.to_vec(),
                sa.terminated.to_vec(),
                sa.truncated.to_vec(),
                sa.finished.to_vec(),
            );
            let sb = ok(b.step(&act));
            let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&obs), bits(sb.obs), "{id} step {t}");
            assert_eq!(bits(&rew), bits(sb.rewards), "{id} step {t}");
            assert_eq!(
                (term, trunc),
                (sb.terminated.to_vec(), sb.truncated.to_vec())
            );
            assert_eq!(fin, sb.finished.to_vec(), "{id} step {t}");
        }
        // A reset continues both RNG streams alike.
        assert_eq!(a.reset().to_vec(), b.reset().to_vec(), "{id}");
    }
}

#[test]
fn snapshots_of_another_batch_are_refused_unchanged() {
    let a = ok(VecEnv::new("CartPole-v1", 2, 0));
    let words = a.snapshot().unwrap_or_default();
    let mut three = ok(VecEnv::new("CartPole-v1", 3, 0));
    let before = three.snapshot();
    assert!(three.restore_snapshot(&words).is_err());
    assert!(three.restore_snapshot(&words[..words.len() - 1]).is_err());
    let mut acro = ok(VecEnv::new("Acrobot-v1", 2, 0));
    assert!(acro.restore_snapshot(&words).is_err());
    assert_eq!(three.snapshot(), before);
}
