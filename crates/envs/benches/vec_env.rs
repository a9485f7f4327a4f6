//! CartPole-v1 steps per second through [`VecEnv`] for N = 1, 16, 256 envs, and eirl's own
//! CartPole-v1 against Gymnasium's through the Python bridge (`gym:CartPole-v1`, N = 1 and 16:
//! one process per batch, one round trip per batch step).
//!
//! Throughput is counted in env steps (N per batch step), so criterion's "elem/s" reads as
//! steps/s. Actions are uniform random from a seeded RNG, auto-reset included. The `gym:` rows
//! need a Python with Gymnasium (`EIRL_PYTHON`, else the repository's `.venv-py`, else
//! `python3`); without one they are skipped with a message.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eirl_envs::VecEnv;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Benches random steps of `env` as `id` in `group`.
fn bench_steps(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    mut env: VecEnv,
) {
    let n = env.num_envs();
    env.reset();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut actions = vec![0_usize; n];
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(id, |b| {
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

fn cartpole_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("vec_env_cartpole");
    for &n in &[1_usize, 16, 256] {
        let Ok(env) = VecEnv::new("CartPole-v1", n, 0) else {
            panic!("CartPole-v1 is registered");
        };
        bench_steps(&mut group, BenchmarkId::from_parameter(n), env);
    }
    group.finish();
}

fn native_vs_gym(c: &mut Criterion) {
    if std::env::var_os("EIRL_PYTHON").is_none_or(|p| p.is_empty()) {
        let venv =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-py/bin/python");
        if venv.is_file() {
            eirl_envs::set_gym_python(Some(venv));
        }
    }
    let mut group = c.benchmark_group("cartpole_native_vs_gym");
    for &n in &[1_usize, 16] {
        let Ok(native) = VecEnv::new("CartPole-v1", n, 0) else {
            panic!("CartPole-v1 is registered");
        };
        bench_steps(&mut group, BenchmarkId::new("native", n), native);
        match VecEnv::new("gym:CartPole-v1", n, 0) {
            Ok(gym) => bench_steps(&mut group, BenchmarkId::new("gym", n), gym),
            Err(e) => eprintln!("skipping cartpole_native_vs_gym/gym/{n}: {e}"),
        }
    }
    group.finish();
}

criterion_group!(benches, cartpole_steps, native_vs_gym);
criterion_main!(benches);
