use eirl_envs::{PolicyError, evaluate};
use eirl_imitation::{
    BcConfig, CartPoleBalancer, DaggerConfig, ImitationError, MountainCarEnergyPump, NetworkPolicy,
    dagger, normalized_score, random_mean_return, record, train_bc,
};
use eirl_models::{Activation, PolicyHead, PolicyNetwork, PolicyNetworkConfig};

fn learner(obs_dim: usize, n: usize, seed: u64) -> Result<PolicyNetwork, ImitationError> {
    let cfg = PolicyNetworkConfig {
        hidden: vec![32, 32],
        activation: Activation::Tanh,
        output_scale: 0.01,
    };
    Ok(PolicyNetwork::new(
        obs_dim,
        PolicyHead::Categorical { num_actions: n },
        &cfg,
        seed,
    )?)
}

fn bc_cfg() -> BcConfig {
    BcConfig {
        learning_rate: 3e-3,
        max_epochs: 150,
        patience: 15,
        ..BcConfig::default()
    }
}

#[test]
fn bc_on_scripted_mountain_car_reaches_the_goal() -> Result<(), PolicyError> {
    let demos = record("MountainCar-v0", &mut MountainCarEnergyPump, 4, 0)?;
    let expert = demos.expert_mean_return().unwrap_or(f64::NAN);
    let (obs, acts) = demos.state_action_pairs();
    let mut net = learner(2, 3, 0)?;
    train_bc(&mut net, &obs, &acts, &bc_cfg(), 0)?;
    let eval = evaluate(
        "MountainCar-v0",
        &mut NetworkPolicy::new(&net, true, 0),
        10,
        1000,
    )?;
    let random = -200.0; // a random policy never reaches the flag within 200 steps
    let score = normalized_score(eval.mean(), random, expert).unwrap_or(f64::NAN);
    println!(
        "BC MountainCar: expert {expert:.1}, BC {:.1} (normalized {score:.2})",
        eval.mean()
    );
    assert!(
        score > 0.6,
        "BC normalized score {score} ({:?})",
        eval.returns
    );
    Ok(())
}

#[test]
fn dagger_matches_or_beats_bc_at_equal_expert_episodes() -> Result<(), PolicyError> {
    let env = "CartPole-v1";
    let random = random_mean_return(env, 10, 7)?;
    let episodes = 3;
    // BC: `episodes` expert episodes.
    let demos = record(env, &mut CartPoleBalancer, episodes, 0)?;
    let expert = demos.expert_mean_return().unwrap_or(f64::NAN);
    let (obs, acts) = demos.state_action_pairs();
    let mut bc_net = learner(4, 2, 1)?;
    train_bc(&mut bc_net, &obs, &acts, &bc_cfg(), 1)?;
    let bc = evaluate(env, &mut NetworkPolicy::new(&bc_net, true, 0), 10, 5000)?.mean();
    // DAgger: 1 expert episode, then `episodes − 1` rounds of expert-labelled learner episodes.
    let mut dg_net = learner(4, 2, 1)?;
    let cfg = DaggerConfig {
        rounds: episodes - 1,
        episodes_per_round: 1,
        beta_rampdown_rounds: 1,
        bc: bc_cfg(),
        ..DaggerConfig::default()
    };
    let first = demos.first_episodes(1);
    let rounds = dagger(
        env,
        &mut CartPoleBalancer,
        &mut dg_net,
        Some(&first),
        &cfg,
        1,
    )?;
    let dg = evaluate(env, &mut NetworkPolicy::new(&dg_net, true, 0), 10, 5000)?.mean();
    let norm = |x| normalized_score(x, random, expert).unwrap_or(f64::NAN);
    println!(
        "CartPole: expert {expert:.1}, random {random:.1}; BC {bc:.1} ({:.2}); DAgger {dg:.1} ({:.2}); rounds {rounds:?}",
        norm(bc),
        norm(dg)
    );
    assert!(norm(dg) >= norm(bc) - 0.05, "DAgger {dg} vs BC {bc}");
    assert!(norm(dg) > 0.8, "DAgger normalized {}", norm(dg));
    Ok(())
}
