//! Trains ACER and prints the learning curve:
//! `cargo run --release -p eirl-acer --example acer_cartpole -- [env] [steps] [seed] ['toml; overrides']`,
//! e.g. `-- CartPole-v1 200000 0 'replay_ratio = 0.0; ent_coef = 0.0'`.

use std::time::Instant;

use eirl_acer::{Acer, AcerConfig, AcerError};

fn main() -> Result<(), AcerError> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let env_id = arg(1).unwrap_or("CartPole-v1").to_string();
    let steps: u64 = arg(2).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let seed: u64 = arg(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    let overrides = arg(4).unwrap_or("").replace(';', "\n");
    let mut cfg: AcerConfig =
        toml::from_str(&overrides).map_err(|e| AcerError::Config(format!("overrides: {e}")))?;
    cfg.total_steps = steps;
    let eval_every = cfg.eval_interval;
    let mut agent = Acer::new(&env_id, cfg, seed)?;
    let start = Instant::now();
    let mut next_eval = eval_every;
    let mut recent: Vec<f64> = Vec::new();
    while agent.env_steps() < steps {
        let info = agent.step()?;
        recent.extend(info.finished.iter().map(|e| e.episode_return));
        if agent.env_steps() >= next_eval || agent.env_steps() >= steps {
            next_eval += eval_every;
            let eval = agent.evaluate(20, 10_000 + seed)?;
            let train_mean = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
            recent.clear();
            let t = info.train.unwrap_or_default();
            println!(
                "steps {:>7}  eval {:>7.1} ± {:>5.1}  train {:>7.1}  vloss {:.3} ent {:.3} rho {:.3} kl {:.4} tr {:.2} updates {}  {:.1}s  {:.0} steps/s",
                agent.env_steps(),
                eval.mean(),
                eval.std(),
                train_mean,
                t.value_loss,
                t.entropy,
                t.mean_rho,
                t.kl_avg,
                t.trust_region_active,
                agent.updates(),
                start.elapsed().as_secs_f64(),
                agent.env_steps() as f64 / start.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
