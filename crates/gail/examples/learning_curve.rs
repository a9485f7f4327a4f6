//! GAIL learning curve on a classic-control task with a scripted expert, in normalized score
//! (random = 0, expert = 1) against env steps and wall-clock.
//!
//! ```text
//! cargo run --release -p eirl-gail --example learning_curve -- [ENV] [TRAJECTORIES] [STEPS] [SEED] [REWARD] [NORMALIZE]
//! ```
//! `ENV` is CartPole-v1 (expert: `CartPoleBalancer`, default) or MountainCar-v0
//! (`MountainCarEnergyPump`); `REWARD` is `neg_log_d` (default), `log_one_minus_d` or `logit`;
//! `NORMALIZE` (`0` default, `1`) sets `normalize_observations`.

use std::time::Instant;

use eirl_gail::{Gail, GailConfig, RewardKind};
use eirl_imitation::{
    CartPoleBalancer, MountainCarEnergyPump, Policy, normalized_score, random_mean_return, record,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env_id = args.first().map_or("CartPole-v1", String::as_str);
    let trajectories: usize = args.get(1).map_or(Ok(4), |s| s.parse())?;
    let total_steps: u64 = args.get(2).map_or(Ok(200_000), |s| s.parse())?;
    let seed: u64 = args.get(3).map_or(Ok(0), |s| s.parse())?;
    let reward = match args.get(4).map(String::as_str) {
        None | Some("neg_log_d") => RewardKind::NegLogD,
        Some("log_one_minus_d") => RewardKind::LogOneMinusD,
        Some("logit") => RewardKind::Logit,
        Some(other) => return Err(format!("unknown reward {other}").into()),
    };
    let normalize = args.get(5).is_some_and(|s| s == "1");
    let mut expert: Box<dyn Policy> = match env_id {
        "CartPole-v1" => Box::new(CartPoleBalancer),
        "MountainCar-v0" => Box::new(MountainCarEnergyPump),
        other => return Err(format!("no scripted expert for {other}").into()),
    };
    let demos = record(env_id, expert.as_mut(), trajectories, 10_000 + seed)?;
    let expert_return = demos.expert_mean_return().unwrap_or(f64::NAN);
    let random = random_mean_return(env_id, 100, 20_000 + seed)?;
    println!(
        "{env_id}: {trajectories} expert trajectories, expert {expert_return:.1}, random {random:.1}, reward {reward:?}, normalize {normalize}"
    );
    let cfg = GailConfig {
        total_steps,
        reward,
        normalize_observations: normalize,
        ..GailConfig::default()
    };
    let eval_interval = cfg.eval_interval;
    let eval_episodes = cfg.eval_episodes;
    let mut agent = Gail::new(env_id, cfg, demos, seed)?;
    let start = Instant::now();
    let mut next_eval = 0;
    println!("env_steps,wall_s,eval_mean,eval_std,normalized,disc_loss,disc_acc_pi,disc_acc_e,kl");
    while agent.env_steps() < total_steps {
        let info = agent.step()?;
        if agent.env_steps() >= next_eval || agent.env_steps() >= total_steps {
            next_eval += eval_interval;
            let eval = agent.evaluate(eval_episodes, 1_000_000 + seed)?;
            let score = normalized_score(eval.mean(), random, expert_return).unwrap_or(f64::NAN);
            let t = info.train.unwrap_or_default();
            println!(
                "{},{:.1},{:.1},{:.1},{:.3},{:.3},{:.2},{:.2},{:.4}",
                agent.env_steps(),
                start.elapsed().as_secs_f64(),
                eval.mean(),
                eval.std(),
                score,
                t.disc_loss,
                t.disc_policy_accuracy,
                t.disc_expert_accuracy,
                t.kl
            );
        }
    }
    Ok(())
}
