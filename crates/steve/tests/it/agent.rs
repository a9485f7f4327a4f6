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
