//! SEED RL's headline, measured on this machine: is central batched inference faster than
//! every actor running its own copy of the model (IMPALA-style)?
//!
//! A synthetic environment (a fixed 64-float observation, no dynamics) makes inference the only
//! cost. For MLP widths h ∈ {64, 256, 1024} (64 → h → h → h → 18, ReLU) and 4, 16, 64 envs (one
//! actor thread per env), four modes run for a fixed time each:
//! - `raw`: batched forwards of all envs' rows with no transport (the limit);
//! - `per-actor`: each actor owns a model copy (synced from the learner's every 100 steps) and
//!   runs batch-1 forwards; measured twice — matmuls on dfdx's shared rayon pool, and each actor
//!   on its own single thread (as an IMPALA actor process) — and the faster is reported;
//! - `central`: actors send to the in-process inference server (crossbeam channels);
//! - `grpc`: actors send to the same server over loopback gRPC (one stream each).
//!
//! Reported: requests (env steps) per second and the latency of one act() call, p50/p99.
//!
//! With `EIRL_SEED_BENCH_DEVICE=cuda` (`cargo xtask bench seed --device cuda`) it measures
//! central inference on the GPU against the CPU instead: h ∈ {256, 1024, 4096}, 16/64/256 envs,
//! four modes — `raw` and `central` on the CPU (dfdx), and on the GPU (`DeviceMlp` on
//! `CudaBackend`: cuBLAS GEMMs, bias/ReLU kernels, pinned uploads and downloads) — where the
//! GPU's raw batched forward of all envs' rows (upload, forward, download, argmax) is the limit.
//! `EIRL_SEED_BENCH_ENVS` overrides the env counts.
//!
//! `cargo xtask bench seed` runs it and writes the table into BENCHMARKS.md;
//! `EIRL_SEED_BENCH_OUT=<file>` makes it write the markdown section there.
//! `EIRL_SEED_BENCH_SECS` sets the measurement time per cell (default 1.5 s).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eirl_inference_server::{
    Action, BatchPolicy, EnvStep, GrpcClient, InferBatch, InferOutput, InferenceServer,
    PolicyError, ServerConfig, Transport,
};
use eirl_models::gpu::{Backend, ComputeDevice, DeviceMlp, HostBackend};
use eirl_models::{Activation, Device, Mlp, Parameterized, device, matrix_from_slice};
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const OBS: usize = 64;
const ACTIONS: usize = 18;
const SYNC_EVERY: u64 = 100;

/// An MLP with its own device handle (made once: a forward should cost only the forward).
struct Net {
    dev: Device,
    mlp: Mlp,
}

fn mlp(h: usize, seed: u64) -> Net {
    let dev = device(seed);
    let mlp = Mlp::new(
        &dev,
        &[OBS, h, h, h, ACTIONS],
        Activation::Relu,
        false,
        &mut ChaCha8Rng::seed_from_u64(seed),
    )
    .expect("mlp");
    Net { dev, mlp }
}

fn argmax_rows(out: &[f32]) -> impl Iterator<Item = i64> + '_ {
    out.chunks_exact(ACTIONS).map(|r| {
        r.iter()
            .enumerate()
            .fold(
                (0, f32::NEG_INFINITY),
                |b, (i, &v)| if v > b.1 { (i, v) } else { b },
            )
            .0 as i64
    })
}

fn forward(net: &Net, obs: &[f32], n: usize) -> Vec<f32> {
    let x = matrix_from_slice(&net.dev, obs, n, OBS).expect("input");
    net.mlp.forward(x).as_vec()
}

struct MlpPolicy(Net);

impl BatchPolicy for MlpPolicy {
    fn obs_dim(&self) -> usize {
        OBS
    }
    fn aux_dim(&self) -> usize {
        0
    }
    fn infer(&mut self, batch: InferBatch<'_>, out: &mut InferOutput) -> Result<(), PolicyError> {
        out.clear();
        let y = forward(&self.0, batch.obs, batch.n);
        out.actions.extend(argmax_rows(&y).map(Action::Discrete));
        Ok(())
    }
}

/// Requests per second and per-call latencies of one cell.
struct Cell {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn cell(requests: u64, elapsed: Duration, mut lat: Vec<Duration>) -> Cell {
    lat.sort();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Cell {
        per_sec: requests as f64 / elapsed.as_secs_f64(),
        p50: q(0.5),
        p99: q(0.99),
    }
}

fn observations(envs: usize) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    (0..envs)
        .map(|_| (0..OBS).map(|_| rng.gen_range(-1.0..1.0)).collect())
        .collect()
}

fn raw(h: usize, envs: usize, secs: Duration) -> Cell {
    let net = mlp(h, 0);
    let obs: Vec<f32> = observations(envs).concat();
    let warm = Instant::now();
    while warm.elapsed() < secs / 5 {
        std::hint::black_box(forward(&net, &obs, envs));
    }
    let (mut lat, mut n) = (Vec::new(), 0u64);
    let start = Instant::now();
    while start.elapsed() < secs {
        let t = Instant::now();
        std::hint::black_box(forward(&net, &obs, envs));
        lat.push(t.elapsed());
        n += envs as u64;
    }
    cell(n, start.elapsed(), lat)
}

/// Runs `envs` actor threads calling `act` until time is up; returns the merged cell.
/// With `single_threaded`, each actor thread runs its whole loop inside its own one-thread
/// rayon pool, so dfdx's matmul inside it does not fan out to the shared pool.
fn run_actors<F>(envs: usize, secs: Duration, single_threaded: bool, make: F) -> Cell
where
    F: Fn(usize) -> Box<dyn FnMut(u64) + Send> + Sync,
{
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = (0..envs)
            .map(|i| {
                let mut act = make(i);
                let (stop, measuring) = (stop.clone(), measuring.clone());
                s.spawn(move || {
                    let mut body = move || {
                        let (mut lat, mut n, mut step) = (Vec::new(), 0u64, 0u64);
                        while !stop.load(Ordering::Relaxed) {
                            let t = Instant::now();
                            act(step);
                            step += 1;
                            if measuring.load(Ordering::Relaxed) {
                                lat.push(t.elapsed());
                                n += 1;
                            }
                        }
                        (lat, n)
                    };
                    if single_threaded {
                        rayon::ThreadPoolBuilder::new()
                            .num_threads(1)
                            .build()
                            .expect("a one-thread pool")
                            .install(body)
                    } else {
                        body()
                    }
                })
            })
            .collect();
        std::thread::sleep(secs / 5);
        measuring.store(true, Ordering::Relaxed);
        let start = Instant::now();
        std::thread::sleep(secs);
        measuring.store(false, Ordering::Relaxed);
        let elapsed = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        let mut lat = Vec::new();
        let mut n = 0;
        for h in handles {
            let (l, k) = h.join().expect("actor thread");
            lat.extend(l);
            n += k;
        }
        (lat, n, elapsed)
    });
    cell(results.1, results.2, results.0)
}

fn per_actor(h: usize, envs: usize, secs: Duration, single_threaded: bool) -> Cell {
    let learner = Arc::new(Mutex::new(Arc::new(mlp(h, 0).mlp.export_params())));
    let obs = observations(envs);
    run_actors(envs, secs, single_threaded, |i| {
        let mut net = mlp(h, 0);
        let learner = learner.clone();
        let o = obs[i].clone();
        Box::new(move |step| {
            if step % SYNC_EVERY == 0 {
                let snap = learner.lock().clone();
                net.mlp.import_params(&snap).expect("sync");
            }
            let y = forward(&net, &o, 1);
            std::hint::black_box(argmax_rows(&y).next());
        })
    })
}

fn served(h: usize, envs: usize, secs: Duration, grpc: bool) -> Cell {
    served_by(MlpPolicy(mlp(h, 0)), envs, secs, grpc)
}

/// The GPU's forward of the same network (`64 → h → h → h → 18`, ReLU), with the parameters
/// of [`mlp`]`(h, 0)`.
/// `None` is the host backend: the same program run by plain Rust, which checks this harness on
/// machines without a GPU (`EIRL_SEED_BENCH_DEVICE=host`; its numbers mean nothing).
fn device_mlp(h: usize, device: Option<ComputeDevice>) -> DeviceMlp<Box<dyn Backend>> {
    let Some(device) = device else {
        return upload(h, Box::new(HostBackend::new()));
    };
    let backend = match device.open().map(|r| r.into_backend()) {
        Ok(Some(b)) => b,
        Ok(None) => fail(&format!("{device} is not a GPU")),
        Err(e) => fail(&format!("{e}")),
    };
    upload(h, backend)
}

fn upload(h: usize, backend: Box<dyn Backend>) -> DeviceMlp<Box<dyn Backend>> {
    let mut net = DeviceMlp::new(backend, &[OBS, h, h, h, ACTIONS], Activation::Relu, false)
        .expect("device MLP");
    let flat: Vec<f32> = mlp(h, 0)
        .mlp
        .export_params()
        .into_iter()
        .flat_map(|(_, v)| v)
        .collect();
    net.set_params(&flat).expect("upload");
    net
}

fn fail(msg: &str) -> ! {
    eprintln!("error: the GPU benchmark cannot run: {msg}");
    std::process::exit(2)
}

struct GpuPolicy(DeviceMlp<Box<dyn Backend>>);

impl BatchPolicy for GpuPolicy {
    fn obs_dim(&self) -> usize {
        OBS
    }
    fn aux_dim(&self) -> usize {
        0
    }
    fn infer(&mut self, batch: InferBatch<'_>, out: &mut InferOutput) -> Result<(), PolicyError> {
        out.clear();
        let y = self
            .0
            .forward(batch.obs, batch.n)
            .map_err(|e| PolicyError::new(e.to_string()))?;
        out.actions.extend(argmax_rows(y).map(Action::Discrete));
        Ok(())
    }
}

fn gpu_raw(h: usize, envs: usize, secs: Duration, device: Option<ComputeDevice>) -> Cell {
    let mut net = device_mlp(h, device);
    let obs: Vec<f32> = observations(envs).concat();
    let once = |net: &mut DeviceMlp<Box<dyn Backend>>| {
        let y = net.forward(&obs, envs).expect("GPU forward");
        std::hint::black_box(argmax_rows(y).count());
    };
    let warm = Instant::now();
    while warm.elapsed() < secs / 5 {
        once(&mut net);
    }
    let (mut lat, mut n) = (Vec::new(), 0u64);
    let start = Instant::now();
    while start.elapsed() < secs {
        let t = Instant::now();
        once(&mut net);
        lat.push(t.elapsed());
        n += envs as u64;
    }
    cell(n, start.elapsed(), lat)
}

/// Actors (one thread per env) served by `policy`, in-process or over loopback gRPC.
fn served_by<P: BatchPolicy>(policy: P, envs: usize, secs: Duration, grpc: bool) -> Cell {
    let cfg = ServerConfig {
        unroll_len: 100,
        batch_fraction: env_or("EIRL_SEED_BENCH_FRACTION", 0.5),
        ..ServerConfig::default()
    };
    let (server, unrolls, _episodes) = InferenceServer::start(policy, cfg).expect("server");
    // The learner's side: take unrolls as they come so the server never waits on it.
    let drain = std::thread::spawn(move || for _ in unrolls.iter() {});
    let addr = if grpc {
        let bound = server
            .serve_grpc("127.0.0.1:0".parse().expect("addr"))
            .expect("grpc");
        Some(bound.to_string())
    } else {
        None
    };
    let obs = observations(envs);
    let c = run_actors(envs, secs, false, |i| {
        let mut client: Box<dyn Transport> = match &addr {
            Some(a) => Box::new(GrpcClient::connect(a, None).expect("connect")),
            None => Box::new(server.connect()),
        };
        let o = obs[i].clone();
        Box::new(move |step| {
            let req = EnvStep::first(i as u64, 1, step, o.clone());
            std::hint::black_box(client.act(std::slice::from_ref(&req)).expect("act"));
        })
    });
    server.shutdown();
    let _ = drain.join();
    c
}

/// The GPU table: CPU and GPU, raw and central, in the same run.
fn gpu_table(device: Option<ComputeDevice>, secs: Duration) -> String {
    let widths = list_env("EIRL_SEED_BENCH_WIDTHS", &[256, 1024, 4096]);
    let envs_list = list_env("EIRL_SEED_BENCH_ENVS", &[16, 64, 256]);
    // Fails early, before minutes of CPU cells, when the GPU cannot be used.
    let name = device_mlp(8, device).backend().name();
    let mut md = format!(
        "GPU: {name}.\n\n| h | envs | CPU raw (req/s) | CPU central (req/s, p50 / p99) | GPU raw (req/s, p50 / p99) | GPU central (req/s, p50 / p99) | GPU central / CPU central | GPU central / GPU raw |\n|---|---|---|---|---|---|---|---|\n"
    );
    for &h in &widths {
        for &envs in &envs_list {
            let cpu_raw = raw(h, envs, secs);
            let cpu_central = served(h, envs, secs, false);
            let g_raw = gpu_raw(h, envs, secs, device);
            let g_central = served_by(GpuPolicy(device_mlp(h, device)), envs, secs, false);
            let line = format!(
                "| {h} | {envs} | {:.0} | {} | {} | {} | {:.1}× | {:.0}% |\n",
                cpu_raw.per_sec,
                fmt_cell(&cpu_central),
                fmt_cell(&g_raw),
                fmt_cell(&g_central),
                g_central.per_sec / cpu_central.per_sec,
                100.0 * g_central.per_sec / g_raw.per_sec
            );
            eprint!("{line}");
            md.push_str(&line);
        }
    }
    md
}

fn fmt_cell(c: &Cell) -> String {
    format!(
        "{:.0} ({:.0} µs / {:.0} µs)",
        c.per_sec,
        c.p50.as_secs_f64() * 1e6,
        c.p99.as_secs_f64() * 1e6
    )
}

fn list_env(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|s| s.split(',').filter_map(|w| w.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let secs = std::env::var("EIRL_SEED_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_millis(1500));
    if let Some(d) = std::env::var_os("EIRL_SEED_BENCH_DEVICE") {
        let d = d.to_string_lossy();
        let device: Option<ComputeDevice> = (d != "host").then(|| {
            d.parse()
                .unwrap_or_else(|e| fail(&format!("EIRL_SEED_BENCH_DEVICE: {e}")))
        });
        if device != Some(ComputeDevice::Cpu) {
            let md = gpu_table(device, secs);
            match std::env::var_os("EIRL_SEED_BENCH_OUT") {
                Some(path) => std::fs::write(&path, md).expect("write the table"),
                None => print!("{md}"),
            }
            return;
        }
    }
    let mut md = String::from(
        "| h | envs | raw batched forward (req/s) | per-actor (req/s, p50 / p99) | central in-process (req/s, p50 / p99) | central gRPC (req/s, p50 / p99) | central / per-actor | central / raw | gRPC / raw |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let fmt = fmt_cell;
    let widths = list_env("EIRL_SEED_BENCH_WIDTHS", &[64, 256, 1024]);
    for h in widths {
        for envs in [4, 16, 64] {
            let r = raw(h, envs, secs);
            // The stronger of the two per-actor set-ups is the baseline.
            let shared = per_actor(h, envs, secs, false);
            let own = per_actor(h, envs, secs, true);
            eprintln!(
                "h={h} envs={envs}: per-actor req/s with the shared matmul pool {:.0}, one thread each {:.0}",
                shared.per_sec, own.per_sec
            );
            let p = if own.per_sec > shared.per_sec {
                own
            } else {
                shared
            };
            let c = served(h, envs, secs, false);
            let g = served(h, envs, secs, true);
            let line = format!(
                "| {h} | {envs} | {:.0} | {} | {} | {} | {:.2}× | {:.0}% | {:.0}% |\n",
                r.per_sec,
                fmt(&p),
                fmt(&c),
                fmt(&g),
                c.per_sec / p.per_sec,
                100.0 * c.per_sec / r.per_sec,
                100.0 * g.per_sec / r.per_sec
            );
            eprint!("{line}");
            md.push_str(&line);
        }
    }
    match std::env::var_os("EIRL_SEED_BENCH_OUT") {
        Some(path) => std::fs::write(&path, md).expect("write the table"),
        None => print!("{md}"),
    }
}
