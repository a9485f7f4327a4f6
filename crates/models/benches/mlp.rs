//! `cargo xtask bench models`: one DQN gradient step of an `obs → h → h → A` ReLU MLP on each
//! eirl backend and in PyTorch, batch-1 acting, and the machine's f32 GEMM peak.
//!
//! The step is `QNetwork::regression_step` (forward, gather `Q(s, a)`, Huber loss, backward,
//! global-norm clipping at 10, Adam), the update Stable-Baselines3's DQN makes; PyTorch runs
//! `python/reference/torch_mlp_bench.py` (the same update with `torch.nn`, `torch.optim.Adam`)
//! with as many threads as the machine has cores. The roofline is the rate of a `1024³` product
//! through `gemm` (the kernels both eirl backends use) on every core; a step's share of it
//! counts the multiply-adds of the forward pass (`B·Σ in·out`), the weight gradients (the
//! same) and the input gradients of every layer but the first.
//!
//! Each step takes the next of eight fixed batches (random-looking inputs, actions and targets),
//! so the loss stays away from zero. Rates are the median of 5 windows after a warm-up. Writes a markdown table to
//! `EIRL_BENCH_OUT` (default: stdout only).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use eirl_models::{Activation, Adam, AdamConfig, Backend, QNetwork, QNetworkConfig, TdLoss};

const OBS: usize = 4;
const ACTIONS: usize = 2;
const HIDDEN: usize = 256;
const BATCHES: [usize; 3] = [32, 64, 256];

/// Calls per second: the median of 5 windows of `seconds / 5` each, after 20 warm-up calls.
fn rate(seconds: f64, mut f: impl FnMut()) -> f64 {
    for _ in 0..20 {
        f();
    }
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let (mut n, start) = (0u64, Instant::now());
            loop {
                f();
                n += 1;
                let t = start.elapsed().as_secs_f64();
                if t >= seconds / 5.0 {
                    return n as f64 / t;
                }
            }
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[2]
}

fn network(backend: Backend) -> QNetwork {
    let cfg = QNetworkConfig {
        hidden: vec![HIDDEN, HIDDEN],
        activation: Activation::Relu,
        dueling: false,
    };
    let mut q = QNetwork::new(OBS, ACTIONS, &cfg, 0).expect("network");
    q.set_backend(backend).expect("backend");
    assert_eq!(q.backend(), backend, "backend not available here");
    q
}

fn step_rate(backend: Backend, batch: usize, seconds: f64) -> f64 {
    let mut q = network(backend);
    let mut opt = Adam::new(AdamConfig {
        lr: 2.3e-3,
        ..AdamConfig::default()
    });
    // Eight batches in turn (as `torch_mlp_bench.py`), so the loss cannot go to zero.
    let data: Vec<(Vec<f32>, Vec<usize>, Vec<f32>)> = (0..8)
        .map(|k| {
            let obs = (0..batch * OBS)
                .map(|i| ((i + 977 * k) as f32 * 0.37).sin())
                .collect();
            let actions = (0..batch).map(|i| (i + k) % ACTIONS).collect();
            let targets = (0..batch)
                .map(|i| ((i * 13 + k * 7) as f32 * 0.11).cos())
                .collect();
            (obs, actions, targets)
        })
        .collect();
    let mut k = 0;
    rate(seconds, || {
        let (obs, actions, targets) = &data[k % data.len()];
        k += 1;
        q.regression_step(
            &mut opt,
            obs,
            actions,
            targets,
            None,
            TdLoss::Huber { delta: 1.0 },
            Some(10.0),
        )
        .expect("step");
    })
}

fn act_rate(backend: Backend, seconds: f64) -> f64 {
    let q = network(backend);
    let obs = [0.01f32, -0.02, 0.03, 0.04];
    rate(seconds, || {
        let v = q.q_values(&obs, 1).expect("forward");
        std::hint::black_box(v);
    })
}

/// Multiply-adds ×2 of one step at batch `b` (see the module documentation).
fn step_flops(b: usize) -> f64 {
    let layers = [(OBS, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, ACTIONS)];
    let macs: usize = layers.iter().map(|(i, o)| i * o).sum();
    let input_grads: usize = layers[1..].iter().map(|(i, o)| i * o).sum();
    2.0 * (b * (2 * macs + input_grads)) as f64
}

/// f32 GEMM rate (flop/s) of `gemm` on every core: the best of 10 `n³` products.
#[allow(unsafe_code)] // the `gemm` crate's entry point takes raw pointers.
fn gemm_peak(n: usize) -> f64 {
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; n * n];
    let mut best = 0.0f64;
    for _ in 0..10 {
        let t = Instant::now();
        // SAFETY: `a`, `b`, `c` are `n × n` row-major buffers; every offset is below n².
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                n as isize,
                b.as_ptr(),
                1,
                n as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(0),
            );
        }
        best = best.max(2.0 * (n * n * n) as f64 / t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&c);
    best
}

struct Torch {
    version: String,
    threads: u64,
    step: Vec<Option<f64>>,
    act: Option<f64>,
}

fn torch(threads: usize, seconds: f64) -> Result<Torch, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("EIRL_TORCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv-peers/bin/python"));
    let batches: Vec<String> = BATCHES.iter().map(ToString::to_string).collect();
    let out = Command::new(&python)
        .arg(root.join("python/reference/torch_mlp_bench.py"))
        .args(["--threads", &threads.to_string()])
        .args(["--obs", &OBS.to_string(), "--hidden", &HIDDEN.to_string()])
        .args([
            "--actions",
            &ACTIONS.to_string(),
            "--seconds",
            &seconds.to_string(),
        ])
        .arg("--batches")
        .args(&batches)
        .output()
        .map_err(|e| {
            format!(
                "{}: {e} (run `cargo xtask bench --setup-peers`)",
                python.display()
            )
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{} failed: {}",
            python.display(),
            err.lines().last().unwrap_or("")
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("unreadable output: {e}"))?;
    Ok(Torch {
        version: v["torch"].as_str().unwrap_or("?").to_string(),
        threads: v["threads"].as_u64().unwrap_or(0),
        step: BATCHES
            .iter()
            .map(|b| v["step"][b.to_string()].as_f64())
            .collect(),
        act: v["act"].as_f64(),
    })
}

fn main() {
    let seconds: f64 = std::env::var("EIRL_MODELS_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    // `EIRL_MODELS_BENCH_PROFILE=fused:64` (or `dfdx:256`): only that step, for a profiler.
    if let Ok(spec) = std::env::var("EIRL_MODELS_BENCH_PROFILE") {
        let (backend, batch) = spec.split_once(':').expect("<backend>:<batch>");
        let backend = if backend == "dfdx" {
            Backend::Dfdx
        } else {
            Backend::Fused
        };
        let batch = batch.parse().expect("batch size");
        println!("{:.0} steps/s", step_rate(backend, batch, seconds));
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    // The peak is measured before and after the steps and the higher rate kept, so a slow
    // moment of a shared machine does not lower the roofline the steps are compared with.
    let peak_before = gemm_peak(1024);
    let torch = torch(cores, seconds);
    if let Err(e) = &torch {
        eprintln!("PyTorch not measured: {e}");
    }
    let rows: Vec<(usize, f64, f64, Option<f64>)> = BATCHES
        .iter()
        .enumerate()
        .map(|(k, &b)| {
            let fused = step_rate(Backend::Fused, b, seconds);
            let dfdx = step_rate(Backend::Dfdx, b, seconds);
            let pt = torch.as_ref().ok().and_then(|t| t.step[k]);
            eprintln!("batch {b}: fused {fused:.0}/s, dfdx {dfdx:.0}/s, PyTorch {pt:?}");
            (b, fused, dfdx, pt)
        })
        .collect();
    let act_fused = act_rate(Backend::Fused, seconds);
    let act_dfdx = act_rate(Backend::Dfdx, seconds);
    let peak = peak_before.max(gemm_peak(1024));
    eprintln!("gemm 1024³ on {cores} threads: {:.1} GFLOP/s", peak / 1e9);
    let mut md = String::new();
    md.push_str(&format!(
        "f32 GEMM roofline (`gemm`, 1024³, {cores} threads, best of 20): **{:.1} GFLOP/s**. {}\n\n",
        peak / 1e9,
        match &torch {
            Ok(t) => format!("PyTorch {} on {} threads.", t.version, t.threads),
            Err(e) => format!("PyTorch not measured: {e}."),
        }
    ));
    md.push_str(
        "| batch | eirl fused (steps/s) | eirl dfdx (steps/s) | PyTorch (steps/s) | fused ÷ PyTorch | fused ÷ dfdx | fused GFLOP/s | fused % of roofline |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for &(b, fused, dfdx, pt) in &rows {
        let gflops = fused * step_flops(b) / 1e9;
        md.push_str(&format!(
            "| {b} | {fused:.0} | {dfdx:.0} | {} | {} | {:.2}× | {gflops:.1} | {:.0}% |\n",
            pt.map_or("—".into(), |p| format!("{p:.0}")),
            pt.map_or("—".into(), |p| format!("{:.2}×", fused / p)),
            fused / dfdx,
            100.0 * gflops * 1e9 / peak,
        ));
    }
    let (fused, dfdx) = (act_fused, act_dfdx);
    let pt = torch.as_ref().ok().and_then(|t| t.act);
    md.push_str(&format!(
        "\nBatch-1 forward (acting): eirl fused {fused:.0}/s, eirl dfdx {dfdx:.0}/s, PyTorch {} \
         (fused ÷ PyTorch {}).\n",
        pt.map_or("—".into(), |p| format!("{p:.0}/s")),
        pt.map_or("—".into(), |p| format!("{:.1}×", fused / p)),
    ));
    print!("{md}");
    if let Some(path) = std::env::var_os("EIRL_BENCH_OUT") {
        std::fs::write(&path, &md).expect("writing EIRL_BENCH_OUT");
    }
}
