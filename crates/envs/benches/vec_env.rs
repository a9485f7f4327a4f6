//! CartPole-v1 steps per second through [`VecEnv`] for N = 1, 16, 256 envs, eirl's own
//! CartPole-v1 against Gymnasium's through the Python bridge (`gym:CartPole-v1`, N = 1 and 16:
//! one process per batch, one round trip per batch step), and Hopper-v5 (MuJoCo) for N = 1 and
//! 16.
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

/// Hopper-v5 through `VecEnv` with 1 and 16 envs (uniform random torques in [−1, 1],
/// auto-reset included): the MuJoCo side of `cargo xtask bench mujoco`. Skipped, with a message,
/// where the MuJoCo library cannot be loaded.
fn hopper_steps(c: &mut Criterion) {
    if let Err(why) = eirl_envs::mujoco_available() {
        eprintln!("skipping vec_env_hopper: {why}");
        return;
    }
    let mut group = c.benchmark_group("vec_env_hopper");
    for &n in &[1_usize, 16] {
        let mut env = match VecEnv::new("Hopper-v5", n, 0) {
            Ok(env) => env,
            Err(e) => panic!("{e}"),
        };
        env.reset();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut actions = vec![0.0_f32; 3 * n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                for a in actions.iter_mut() {
                    *a = rng.gen_range(-1.0..1.0);
                }
                match env.step_continuous(&actions) {
                    Ok(step) => step.rewards.len(),
                    Err(e) => panic!("{e}"),
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, cartpole_steps, native_vs_gym, hopper_steps);
criterion_main!(benches);
