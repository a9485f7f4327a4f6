//! Plain rollout speed for the throughput ratio: `num_envs` CartPole-v1 envs stepped with
//! uniformly random actions, no policy, no learning.
//! `cargo run --release -p eirl-acer --example rollout_speed -- [steps] [num_envs]`.

use std::time::Instant;

use eirl_envs::{EnvError, VecEnv};
use rand::{Rng, SeedableRng};

fn main() -> Result<(), EnvError> {
    let args: Vec<String> = std::env::args().collect();
    let steps: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let mut env = VecEnv::new("CartPole-v1", n, 0)?;
    env.reset();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut actions = vec![0usize; n];
    let start = Instant::now();
    for _ in 0..steps / n {
        for a in &mut actions {
            *a = rng.gen_range(0..2);
        }
        env.step_discrete(&actions)?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} envs, {} steps in {secs:.2}s: {:.0} steps/s",
        n,
        steps / n * n,
        (steps / n * n) as f64 / secs
    );
    Ok(())
}
