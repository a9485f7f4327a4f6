//! The agent: configuration errors, checkpoints, and that each target trains.

use eirl_agent::Agent;
use eirl_envs::Actions;
use eirl_steve::{Steve, SteveConfig, TargetKind};

fn tiny(target: TargetKind) -> SteveConfig {
    SteveConfig {
        target,
        hidden: vec![16],
        transition_hidden: vec![16],
        aux_hidden: vec![16],
        batch_size: 16,
        learning_starts: 32,
        model_pretrain_updates: 3,
        updates_per_step: 1,
        total_steps: 48,
        eval_interval: 48,
        eval_episodes: 1,
        ..SteveConfig::default()
    }
}

#[test]
fn bad_configs_and_spaces_are_clear_errors() {
    let err = Steve::new("CartPole-v1", tiny(TargetKind::Td), 0)
        .err()
        .unwrap();
    assert!(err.to_string().contains("continuous"), "{err}");
    let err = Steve::new(
        "Pendulum-v1",
        SteveConfig {
            batch_size: 18,
            ..tiny(TargetKind::Steve)
        },
        0,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("divisible by q_ensemble"), "{err}");
    let err = Steve::new(
        "Pendulum-v1",
        SteveConfig {
            horizon: 0,
            ..tiny(TargetKind::Mve)
        },
        0,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("horizon"), "{err}");
    let err = Steve::new("NoSuchEnv-v0", tiny(TargetKind::Td), 0)
        .err()
        .unwrap();
    assert!(err.to_string().contains("NoSuchEnv"), "{err}");
    let bad: Result<SteveConfig, _> = toml::from_str("target = \"retrace\"");
    assert!(bad.is_err());
}

#[test]
fn every_target_trains_and_checkpoints_round_trip() {
    for target in [TargetKind::Td, TargetKind::Mve, TargetKind::Steve] {
        let mut agent = Steve::new("Pendulum-v1", tiny(target), 1).unwrap();
        let mut last = None;
        while !agent.is_done() {
            let info = agent.step().unwrap();
            if info.trained() {
                last = Some(info);
            }
        }
        let info = last.unwrap();
        assert!(info.scalar("q_loss").unwrap().is_finite());
        assert_eq!(
            info.scalar("model_reward_loss").is_some(),
            target != TargetKind::Td
        );
        assert_eq!(
            info.scalar("steve_weight_h0").is_some(),
            target == TargetKind::Steve
        );
        let stats = agent.stats();
        assert_eq!(stats.updates, 17);
        assert_eq!(
            stats.model_updates,
            if target == TargetKind::Td { 0 } else { 3 + 17 }
        );

        let ck = agent.checkpoint();
        let mut fresh = Steve::new("Pendulum-v1", tiny(target), 99).unwrap();
        let obs = [0.3, -0.2, 0.5, 1.0, 0.0, -1.0];
        let act = |a: &Steve| match a.greedy_actions(&obs, 2).unwrap() {
            Actions::Continuous { values, .. } => values,
            Actions::Discrete(_) => unreachable!(),
        };
        assert_ne!(act(&fresh), act(&agent));
        fresh.restore(&ck).unwrap();
        assert_eq!(act(&fresh), act(&agent));
        assert_eq!(fresh.steps(), agent.steps());
        assert!(act(&agent).iter().all(|a| (-2.0..=2.0).contains(a)));
    }
    // A checkpoint of another target is refused.
    let ck = Steve::new("Pendulum-v1", tiny(TargetKind::Td), 0)
        .unwrap()
        .checkpoint();
    let mut steve = Steve::new("Pendulum-v1", tiny(TargetKind::Steve), 0).unwrap();
    let err = steve.restore(&ck).unwrap_err();
    assert!(err.to_string().contains("target `td`"), "{err}");
}

/// Finished episodes `(step, env, return bits, length)` and every step's scalars (as bits).
type Trace = (Vec<(u64, usize, u64, usize)>, Vec<Vec<(&'static str, u64)>>);

fn run_until(agent: &mut Steve, until: u64, trace: &mut Trace) {
    while agent.steps() < until {
        let info = agent.step().unwrap();
        for ep in &info.finished {
            let r = ep.episode_return.to_bits();
            trace.0.push((agent.steps(), ep.env, r, ep.length));
        }
        trace.1.push(
            info.scalars
                .iter()
                .map(|(n, v)| (*n, v.to_bits()))
                .collect(),
        );
    }
}

/// Every tensor of two checkpoints, bit for bit.
fn assert_same_checkpoint(a: &eirl_models::Checkpoint, b: &eirl_models::Checkpoint) {
    let names: Vec<&str> = a.names().collect();
    assert_eq!(names, b.names().collect::<Vec<_>>());
    for name in names {
        let bits = |ck: &eirl_models::Checkpoint| {
            let (s, v) = ck.get(name).unwrap();
            (
                s.to_vec(),
                v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            )
        };
        assert!(bits(a) == bits(b), "tensor {name} differs");
    }
    for key in [
        "env_steps",
        "updates",
        "model_updates",
        "learn_from",
        "pretrained",
    ] {
        assert_eq!(a.meta(key), b.meta(key), "{key}");
    }
}

/// Exact resume for every target: uninterrupted vs. stopped mid-episode (checkpoint →
/// safetensors bytes → a fresh agent from another seed → restore → on) agree bit for bit on
/// episode returns, training scalars, networks, optimizers, replay, RNG and envs. The replay
/// wraps and the target network is copied several times on both sides of the split.
#[test]
fn exact_resume_continues_bit_for_bit() {
    for target in [TargetKind::Td, TargetKind::Mve, TargetKind::Steve] {
        let cfg = SteveConfig {
            num_envs: 2,
            buffer_size: 100,
            explore_chance: 0.5,
            target_update_interval: 7,
            total_steps: 500,
            eval_interval: 500,
            exact_resume: true,
            ..tiny(target)
        };
        let mut straight = Steve::new("Pendulum-v1", cfg.clone(), 2).unwrap();
        let mut whole = Trace::default();
        run_until(&mut straight, 500, &mut whole);

        let mut first = Steve::new("Pendulum-v1", cfg.clone(), 2).unwrap();
        let mut resumed = Trace::default();
        run_until(&mut first, 250, &mut resumed);
        let bytes = first.checkpoint().to_bytes().unwrap();
        let ck = eirl_models::Checkpoint::from_bytes(&bytes, std::path::Path::new("m")).unwrap();
        let mut second = Steve::new("Pendulum-v1", cfg, 55).unwrap();
        second.restore(&ck).unwrap();
        run_until(&mut second, 500, &mut resumed);

        assert_eq!(
            whole.0.len(),
            2,
            "{target:?}: both envs end an episode after the split"
        );
        assert_eq!(whole.0, resumed.0, "{target:?}: episode returns differ");
        assert_eq!(whole.1, resumed.1, "{target:?}: training scalars differ");
        assert_eq!(straight.stats(), second.stats());
        assert_same_checkpoint(&straight.checkpoint(), &second.checkpoint());
    }
}

/// With `normalize_obs` / `normalize_reward` the statistics travel with the checkpoint: a
/// restored agent acts and evaluates exactly as the live one on raw observations, the same
/// networks with fresh (unit) statistics act differently, a non-normalising config refuses
/// the checkpoint, and exact resume (statistics and running returns) stays bit for bit.
#[test]
fn normalisation_travels_with_the_checkpoint() {
    let cfg = SteveConfig {
        num_envs: 2,
        buffer_size: 100,
        explore_chance: 0.5,
        target_update_interval: 7,
        total_steps: 500,
        eval_interval: 500,
        exact_resume: true,
        normalize_obs: true,
        normalize_reward: true,
        ..tiny(TargetKind::Steve)
    };
    let mut straight = Steve::new("Pendulum-v1", cfg.clone(), 2).unwrap();
    let mut whole = Trace::default();
    run_until(&mut straight, 500, &mut whole);
    let mut first = Steve::new("Pendulum-v1", cfg.clone(), 2).unwrap();
    let mut resumed = Trace::default();
    run_until(&mut first, 250, &mut resumed);
    let bytes = first.checkpoint().to_bytes().unwrap();
    let ck = eirl_models::Checkpoint::from_bytes(&bytes, std::path::Path::new("m")).unwrap();
    assert_eq!(
        ck.meta(eirl_agent::exact::NORMALIZE_KEY),
        Some("obs+reward")
    );
    let mut second = Steve::new("Pendulum-v1", cfg.clone(), 55).unwrap();
    second.restore(&ck).unwrap();
    let obs: Vec<f32> = (0..600).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
    let act = |a: &Steve| match a.greedy_actions(&obs, 200).unwrap() {
        Actions::Continuous { values, .. } => values,
        Actions::Discrete(_) => unreachable!(),
    };
    assert_eq!(act(&second), act(&first));
    let eval = |a: &Steve| {
        let r = a.evaluate(2, 9).unwrap().returns;
        r.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    assert_eq!(eval(&second), eval(&first));
    let mut unit = ck.clone();
    eirl_agent::exact::insert_words(
        &mut unit,
        "normalize",
        &eirl_envs::NormalizeStats::new(3).to_words(),
    );
    let mut blind = Steve::new("Pendulum-v1", cfg.clone(), 55).unwrap();
    blind.restore(&unit).unwrap();
    assert_ne!(act(&blind), act(&first));
    let plain = SteveConfig {
        normalize_obs: false,
        normalize_reward: false,
        ..cfg
    };
    assert!(
        Steve::new("Pendulum-v1", plain, 1)
            .unwrap()
            .restore(&ck)
            .is_err()
    );

    run_until(&mut second, 500, &mut resumed);
    assert_eq!(whole.0, resumed.0, "episode returns differ");
    assert_eq!(whole.1, resumed.1, "training scalars differ");
    assert_same_checkpoint(&straight.checkpoint(), &second.checkpoint());
}
