//! GAIL learns CartPole-v1 from 4 scripted-expert trajectories: a short, fixed-seed check that
//! the whole loop (sampling, discriminator, reward, GAE, TRPO, value fit) improves the policy.
//! Longer runs: `eirl train gail --demos f.npz` and `cargo xtask repro gail`.

use eirl_agent::{Agent, AgentError};
use eirl_gail::{Gail, GailConfig, GailError, RewardKind};
use eirl_imitation::{CartPoleBalancer, normalized_score, random_mean_return, record};

/// With the logit reward `log(1 − D) − log D` the reward has no sign bias, so unlike `−log D`
/// (always positive, which alone rewards CartPole survival) improvement here means the policy
/// moved toward the expert's state-action distribution.
#[test]
fn gail_improves_far_beyond_random_on_cartpole() -> Result<(), AgentError> {
    let env_id = "CartPole-v1";
    let demos = record(env_id, &mut CartPoleBalancer, 4, 10_000).map_err(GailError::from)?;
    let expert = demos.expert_mean_return().unwrap_or(f64::NAN);
    let random = random_mean_return(env_id, 100, 20_000).map_err(GailError::from)?;
    let cfg = GailConfig {
        reward: RewardKind::Logit,
        ..GailConfig::default()
    };
    let mut agent = Gail::new(env_id, cfg, demos, 0)?;
    let initial = agent.evaluate(20, 1_000_000)?.mean();
    let mut accepted = 0;
    for _ in 0..20 {
        let info = agent.step()?;
        accepted += usize::from(info.scalar("trpo_accepted") == Some(1.0));
    }
    let eval = agent.evaluate(20, 1_000_000)?;
    let score = normalized_score(eval.mean(), random, expert).unwrap_or(f64::NAN);
    println!(
        "GAIL CartPole after {} steps: {:.1} ± {:.1} (initial {initial:.1}, random {random:.1}, expert {expert:.1}, normalized {score:.2})",
        agent.steps(),
        eval.mean(),
        eval.std()
    );
    assert_eq!(agent.steps(), 20 * 1024);
    assert!(accepted >= 15, "only {accepted} TRPO steps accepted");
    assert!(initial < 50.0, "untrained policy already scores {initial}");
    assert!(
        eval.mean() > 150.0,
        "eval {} after 20 iterations",
        eval.mean()
    );
    Ok(())
}
