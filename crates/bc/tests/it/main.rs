//! The BC and DAgger agents step through exactly what the one-call trainers compute, and refuse
//! what they cannot do.

use eirl_agent::{Agent, AgentError};
use eirl_bc::{Bc, BcRunConfig, DaggerAgent, DaggerRunConfig};
use eirl_imitation::{
    BcConfig, CartPoleBalancer, DaggerConfig, dagger, policy_head, record, train_bc,
};
use eirl_models::{PolicyNetwork, PolicyNetworkConfig};

fn fresh_policy(seed: u64) -> Result<PolicyNetwork, Box<dyn std::error::Error>> {
    let env = eirl_envs::make("CartPole-v1")?;
    Ok(PolicyNetwork::new(
        4,
        policy_head(env.action_space()),
        &PolicyNetworkConfig::default(),
        seed,
    )?)
}

fn probe(p: &PolicyNetwork) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let obs: Vec<f32> = (0..64 * 4).map(|i| (i as f32 * 0.37).sin() * 0.3).collect();
    Ok(p.outputs(&obs, 64)?)
}

#[test]
fn bc_agent_equals_train_bc_epoch_for_epoch() -> Result<(), Box<dyn std::error::Error>> {
    let demos = record("CartPole-v1", &mut CartPoleBalancer, 2, 0)?;
    let cfg = BcRunConfig {
        bc: BcConfig {
            max_epochs: 30,
            patience: 3,
            ..BcConfig::default()
        },
        ..BcRunConfig::default()
    };
    let mut agent = Bc::new("CartPole-v1", cfg.clone(), Some(demos.clone()), 4)?;
    let mut losses = Vec::new();
    while !agent.is_done() {
        losses.push(agent.step()?.scalar("bc_train_loss").unwrap_or(f64::NAN));
    }
    let mut direct = fresh_policy(4)?;
    let (obs, actions) = demos.state_action_pairs();
    let report = train_bc(&mut direct, &obs, &actions, &cfg.bc, 4)?;
    assert_eq!(agent.steps(), report.epochs as u64);
    let want: Vec<f64> = report.train_loss.iter().map(|&l| f64::from(l)).collect();
    assert_eq!(losses, want);
    assert_eq!(probe(agent.policy())?, probe(&direct)?);
    // A finished run refuses another epoch.
    assert!(agent.step().is_err());
    Ok(())
}

#[test]
fn dagger_agent_equals_the_dagger_function() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = DaggerRunConfig {
        dagger: DaggerConfig {
            rounds: 2,
            bc: BcConfig {
                max_epochs: 10,
                ..BcConfig::default()
            },
            ..DaggerConfig::default()
        },
        eval_episodes: 3,
        random_episodes: 5,
        ..DaggerRunConfig::default()
    };
    let mut agent = DaggerAgent::new(
        "CartPole-v1",
        cfg.clone(),
        Some(Box::new(CartPoleBalancer)),
        None,
        9,
    )?;
    let mut sizes = Vec::new();
    while !agent.is_done() {
        sizes.push(
            agent
                .step()?
                .scalar("dagger_dataset_size")
                .unwrap_or(f64::NAN),
        );
    }
    let mut direct = fresh_policy(9)?;
    let rounds = dagger(
        "CartPole-v1",
        &mut CartPoleBalancer,
        &mut direct,
        None,
        &cfg.dagger,
        9,
    )?;
    assert_eq!(agent.steps(), 3);
    let want: Vec<f64> = rounds.iter().map(|r| r.dataset_size as f64).collect();
    assert_eq!(sizes, want);
    assert_eq!(probe(agent.policy())?, probe(&direct)?);
    let reference = agent.score_reference().ok_or("no score reference")?;
    assert!(reference.expert_mean_return > 400.0 && reference.random_mean_return < 60.0);
    Ok(())
}

#[test]
fn without_their_inputs_they_only_act() -> Result<(), Box<dyn std::error::Error>> {
    let mut bc = Bc::new("CartPole-v1", BcRunConfig::default(), None, 0)?;
    assert!(bc.is_done());
    assert!(bc.step().is_err());
    assert_eq!(bc.evaluate(2, 0)?.returns.len(), 2);
    let mut dg = DaggerAgent::new("CartPole-v1", DaggerRunConfig::default(), None, None, 0)?;
    let err = dg.step().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("--expert"), "{err}");
    // A BC checkpoint is refused by DAgger, and a policy of another env by BC.
    let ck = bc.checkpoint();
    assert!(matches!(dg.restore(&ck), Err(AgentError::Checkpoint(_))));
    let mut acrobot = Bc::new("Acrobot-v1", BcRunConfig::default(), None, 0)?;
    assert!(matches!(
        acrobot.restore(&ck),
        Err(AgentError::Checkpoint(_))
    ));
    // Too many trajectories for the file is a clear error.
    let demos = record("CartPole-v1", &mut CartPoleBalancer, 1, 0)?;
    let cfg = BcRunConfig {
        trajectories: Some(3),
        ..BcRunConfig::default()
    };
    let err = Bc::new("CartPole-v1", cfg, Some(demos), 0)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("trajectories = 3"), "{err}");
    Ok(())
}
