//! CartPole-v1 steps per second through [`VecEnv`] for N = 1, 16, 256 envs.
//!
//! Throughput is counted in env steps (N per batch step), so criterion's "elem/s" reads as
//! steps/s. Actions are uniform random from a seeded RNG, auto-reset included.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eirl_envs::VecEnv;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn cartpole_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("vec_env_cartpole");
    for &n in &[1_usize, 16, 256] {
        let Ok(mut env) = VecEnv::new("CartPole-v1", n, 0) else {
            panic!("CartPole-v1 is registered");
        };
        env.reset();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut actions = vec![0_usize; n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                for a in actions.iter_mut() {
                    *a = rng.gen_range(0..2);
                }
                match env.step_discrete(&actions) {
                    Ok(step) => step.rewards.len(),
                    Err(e) => panic!("{e}"),
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, cartpole_steps);
criterion_main!(benches);
