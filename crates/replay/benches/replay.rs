//! Replay throughput: uniform and prioritized side by side, CartPole-sized (obs_dim 4) and
//! larger (obs_dim 64) observations, 100k transitions.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eirl_replay::{PrioritizedReplay, ReplayBuffer, TransitionBatch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

const CAPACITY: usize = 100_000;
const OBS_DIMS: [usize; 2] = [4, 64];
const BATCHES: [usize; 2] = [32, 256];

fn transition(rng: &mut ChaCha8Rng, obs_dim: usize) -> (Vec<f32>, Vec<f32>) {
    let obs = (0..obs_dim).map(|_| rng.r#gen::<f32>()).collect();
    let next = (0..obs_dim).map(|_| rng.r#gen::<f32>()).collect();
    (obs, next)
}

fn filled_uniform(obs_dim: usize, rng: &mut ChaCha8Rng) -> ReplayBuffer {
    let mut buf = ReplayBuffer::new(CAPACITY, obs_dim, 1).expect("valid");
    let (obs, next) = transition(rng, obs_dim);
    for k in 0..CAPACITY {
        buf.push(&obs, &[(k % 2) as f32], 1.0, 0.99, &next)
            .expect("valid");
    }
    buf
}

fn filled_prioritized(obs_dim: usize, rng: &mut ChaCha8Rng) -> PrioritizedReplay {
    let mut per = PrioritizedReplay::new(CAPACITY, obs_dim, 1, 0.6).expect("valid");
    let (obs, next) = transition(rng, obs_dim);
    for k in 0..CAPACITY {
        per.push(&obs, &[(k % 2) as f32], 1.0, 0.99, &next)
            .expect("valid");
    }
    let indices: Vec<usize> = (0..CAPACITY).collect();
    let priorities: Vec<f64> = (0..CAPACITY).map(|_| rng.r#gen::<f64>() * 2.0).collect();
    per.update_priorities(&indices, &priorities).expect("valid");
    per
}

fn push(c: &mut Criterion) {
    let mut group = c.benchmark_group("push");
    group.throughput(Throughput::Elements(1));
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for obs_dim in OBS_DIMS {
        let (obs, next) = transition(&mut rng, obs_dim);
        let mut buf = filled_uniform(obs_dim, &mut rng);
        group.bench_function(BenchmarkId::new("uniform", obs_dim), |b| {
            b.iter(|| buf.push(black_box(&obs), &[1.0], 1.0, 0.99, black_box(&next)))
        });
        let mut per = filled_prioritized(obs_dim, &mut rng);
        group.bench_function(BenchmarkId::new("prioritized", obs_dim), |b| {
            b.iter(|| per.push(black_box(&obs), &[1.0], 1.0, 0.99, black_box(&next)))
        });
    }
    group.finish();
}

fn sample(c: &mut Criterion) {
    let mut group = c.benchmark_group("sample");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for obs_dim in OBS_DIMS {
        let buf = filled_uniform(obs_dim, &mut rng);
        let per = filled_prioritized(obs_dim, &mut rng);
        for batch in BATCHES {
            group.throughput(Throughput::Elements(batch as u64));
            let mut out = TransitionBatch::default();
            let id = format!("obs{obs_dim}/batch{batch}");
            group.bench_function(BenchmarkId::new("uniform", &id), |b| {
                b.iter(|| buf.sample_into(black_box(batch), &mut rng, &mut out))
            });
            group.bench_function(BenchmarkId::new("prioritized", &id), |b| {
                b.iter(|| per.sample_into(black_box(batch), 0.4, &mut rng, &mut out))
            });
        }
    }
    group.finish();
}

fn update_priorities(c: &mut Criterion) {
    let mut group = c.benchmark_group("update_priorities");
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut per = filled_prioritized(4, &mut rng);
    let mut out = TransitionBatch::default();
    per.sample_into(256, 0.4, &mut rng, &mut out)
        .expect("sample");
    let priorities: Vec<f64> = (0..256).map(|_| rng.r#gen::<f64>()).collect();
    group.throughput(Throughput::Elements(256));
    group.bench_function("prioritized/batch256", |b| {
        b.iter(|| per.update_priorities(black_box(&out.indices), black_box(&priorities)))
    });
    group.finish();
}

criterion_group!(benches, push, sample, update_priorities);
criterion_main!(benches);
