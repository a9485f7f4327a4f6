//! Criterion benches of the batched, allocation-free kernels at rlax's shapes (T = 100,
//! B ∈ {1, 256}, f32; Retrace with 4 actions). REFERENCE.md's rlax-jit timings for B = 256:
//! V-trace 142 µs, λ-returns 81 µs, GAE 73 µs, Retrace 375 µs; `rlax_bench.py` measures them.

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use eirl_returns::{VTraceOutMut, VTraceParams, batched};

const T: usize = 100;
const A: usize = 4;

/// Deterministic pseudo-random numbers in [0, 1) (no RNG dependency needed).
fn uniform(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32) / ((1u64 << 24) as f32)
        })
        .collect()
}

fn inputs(b: usize) -> Inputs {
    let n = T * b;
    let r = uniform(n, 1).iter().map(|x| 2.0 * x - 1.0).collect();
    let d = uniform(n, 2)
        .iter()
        .map(|&x| if x < 0.02 { 0.0 } else { 0.99 })
        .collect();
    let v = uniform(n, 3);
    let values = uniform(n + b, 4);
    let rho = uniform(n, 5).iter().map(|x| 2.0 * x).collect();
    let q_tm1 = uniform(n * A, 6);
    let q_t = uniform(n * A, 7);
    let pi = {
        let raw = uniform(n * A, 8);
        raw.chunks(A)
            .flat_map(|c| {
                let s: f32 = c.iter().sum::<f32>() + 1e-3;
                c.iter().map(move |x| (x + 2.5e-4) / s).collect::<Vec<_>>()
            })
            .collect()
    };
    let mu = uniform(n, 9).iter().map(|x| 0.1 + 0.8 * x).collect();
    let a_tm1 = uniform(n, 10)
        .iter()
        .map(|x| ((x * A as f32) as usize).min(A - 1))
        .collect();
    let a_t = uniform(n, 11)
        .iter()
        .map(|x| ((x * A as f32) as usize).min(A - 1))
        .collect();
    Inputs {
        r,
        d,
        v,
        values,
        rho,
        q_tm1,
        q_t,
        pi,
        mu,
        a_tm1,
        a_t,
    }
}

struct Inputs {
    r: Vec<f32>,
    d: Vec<f32>,
    v: Vec<f32>,
    values: Vec<f32>,
    rho: Vec<f32>,
    q_tm1: Vec<f32>,
    q_t: Vec<f32>,
    pi: Vec<f32>,
    mu: Vec<f32>,
    a_tm1: Vec<usize>,
    a_t: Vec<usize>,
}

fn bench(c: &mut Criterion) {
    for b in [1usize, 256] {
        let x = inputs(b);
        let n = T * b;
        let mut out = vec![0.0f32; n];
        let (mut e, mut adv, mut q) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
        let mut g = c.benchmark_group(format!("returns_T{T}"));
        g.throughput(Throughput::Elements(n as u64));
        let p = VTraceParams::<f32> {
            lambda: 1.0,
            ..VTraceParams::default()
        };
        g.bench_with_input(BenchmarkId::new("vtrace", b), &b, |bn, &b| {
            bn.iter(|| {
                batched::vtrace_td_error_and_advantage_into(
                    black_box(&x.values[..n]),
                    black_box(&x.v),
                    black_box(&x.r),
                    black_box(&x.d),
                    black_box(&x.rho),
                    &p,
                    b,
                    VTraceOutMut {
                        errors: &mut e,
                        pg_advantage: &mut adv,
                        q_estimate: &mut q,
                    },
                )
            })
        });
        g.bench_with_input(BenchmarkId::new("vtrace_errors_only", b), &b, |bn, &b| {
            bn.iter(|| {
                batched::vtrace_into(
                    black_box(&x.values[..n]),
                    black_box(&x.v),
                    black_box(&x.r),
                    black_box(&x.d),
                    black_box(&x.rho),
                    &p,
                    b,
                    &mut out,
                )
            })
        });
        g.bench_with_input(BenchmarkId::new("lambda_returns", b), &b, |bn, &b| {
            bn.iter(|| {
                batched::lambda_returns_into(
                    black_box(&x.r),
                    black_box(&x.d),
                    black_box(&x.v),
                    0.95f32,
                    b,
                    &mut out,
                )
            })
        });
        g.bench_with_input(BenchmarkId::new("gae", b), &b, |bn, &b| {
            bn.iter(|| {
                batched::truncated_gae_into(
                    black_box(&x.r),
                    black_box(&x.d),
                    0.95f32,
                    black_box(&x.values),
                    b,
                    &mut out,
                )
            })
        });
        g.bench_with_input(BenchmarkId::new("retrace_4_actions", b), &b, |bn, &b| {
            bn.iter(|| {
                batched::retrace_into(
                    black_box(&x.q_tm1),
                    black_box(&x.q_t),
                    black_box(&x.a_tm1),
                    black_box(&x.a_t),
                    black_box(&x.r),
                    black_box(&x.d),
                    black_box(&x.pi),
                    black_box(&x.mu),
                    0.95f32,
                    1e-8,
                    b,
                    &mut out,
                )
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
