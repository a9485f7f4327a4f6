//! Soft-impute on the SVP-sized problem (2500 × 1000, p = 0.2) against the numpy reference
//! (`python/reference/matrix_estimation.py bench`) in the same run.
//!
//! Not criterion: one completion takes seconds. Both sides build the same matrix (a smooth,
//! approximately low-rank "Q matrix" with hash noise and a hash mask, no RNG). Rows: eirl with
//! `SvdMethod::Auto` (the default: Gram eigen-decomposition or warm-started randomized SVD), eirl with dense faer SVDs
//! (`SvdMethod::Full`, the reference's algorithm step for step), numpy (`np.linalg.svd`, LAPACK
//! gesdd through numpy's BLAS, threads = cores). Python: `EIRL_PYTHON`, else `.venv-py/bin/python`;
//! without numpy the row says why. Writes a markdown table to `EIRL_BENCH_OUT` (or stdout).
//! `EIRL_ME_BENCH_DIMS="M N P"` changes the size.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use eirl_matrix_estimation::{Mask, Matrix, SoftImpute, SvdMethod, soft_impute};

fn fract(v: f64) -> f64 {
    v - v.floor()
}

fn problem(m: usize, n: usize, p: f64) -> (Matrix, Mask) {
    let x = Matrix::from_fn(m, n, |i, j| {
        let (fi, fj) = (i as f64, j as f64);
        let s = fi / (m - 1) as f64;
        let a = -1.0 + 2.0 * fj / (n - 1) as f64;
        let noise = 2.0 * fract((12.9898 * fi + 78.233 * fj).sin() * 43758.5453) - 1.0;
        (3.0 * s).sin() * (2.0 * a).cos() + s * a * a + 0.01 * noise
    });
    let observed = (0..m * n)
        .map(|k| {
            let (fi, fj) = ((k / n) as f64, (k % n) as f64);
            fract((39.3468 * fi + 11.135 * fj).sin() * 24634.6345) < p
        })
        .collect();
    (x, Mask::new(m, n, observed).expect("mask shape"))
}

struct Row {
    name: String,
    seconds: Option<f64>,
    detail: String,
}

fn rust_row(name: &str, x: &Matrix, mask: &Mask, svd: SvdMethod) -> Row {
    let t = Instant::now();
    let done = soft_impute(
        x,
        mask,
        &SoftImpute {
            svd,
            ..SoftImpute::default()
        },
    );
    let seconds = t.elapsed().as_secs_f64();
    match done {
        Ok(d) => {
            let err = d
                .matrix
                .as_slice()
                .iter()
                .zip(x.as_slice())
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt()
                / x.frobenius_norm();
            Row {
                name: name.into(),
                seconds: Some(seconds),
                detail: format!(
                    "{} iterations, converged: {}, rank {}, relative error {err:.4}",
                    d.iterations, d.converged, d.rank
                ),
            }
        }
        Err(e) => Row {
            name: name.into(),
            seconds: None,
            detail: format!("failed: {e}"),
        },
    }
}

fn numpy_row(m: usize, n: usize, p: f64) -> Row {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("EIRL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv-py/bin/python"));
    let script = root.join("python/reference/matrix_estimation.py");
    let cores = std::thread::available_parallelism()
        .map_or(1, |c| c.get())
        .to_string();
    let out = Command::new(&python)
        .arg(&script)
        .args(["bench", &m.to_string(), &n.to_string(), &p.to_string()])
        .env("OPENBLAS_NUM_THREADS", &cores)
        .env("OMP_NUM_THREADS", &cores)
        .env("MKL_NUM_THREADS", &cores)
        .output();
    let name = "numpy (np.linalg.svd)".to_string();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            return Row {
                name,
                seconds: None,
                detail: format!(
                    "not run: {} failed: {}",
                    python.display(),
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                ),
            };
        }
        Err(e) => {
            return Row {
                name,
                seconds: None,
                detail: format!("not run: {}: {e}", python.display()),
            };
        }
    };
    let v: serde_json::Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => {
            return Row {
                name,
                seconds: None,
                detail: format!("not run: unreadable output: {e}"),
            };
        }
    };
    Row {
        name,
        seconds: v["seconds"].as_f64(),
        detail: format!(
            "{} iterations, converged: {}, relative error {:.4}",
            v["iterations"],
            v["converged"],
            v["relative_error"].as_f64().unwrap_or(f64::NAN)
        ),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let dims: Vec<f64> = std::env::var("EIRL_ME_BENCH_DIMS")
        .ok()
        .map(|s| {
            s.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let (m, n, p) = match dims[..] {
        [m, n, p] => (m as usize, n as usize, p),
        _ => (2500, 1000, 0.2),
    };
    let (x, mask) = problem(m, n, p);
    eprintln!(
        "soft-impute {m}×{n}, p = {p}, {} observed",
        mask.observed_count()
    );
    let mut rows = Vec::new();
    for (name, svd) in [
        (
            "eirl, SvdMethod::Auto (Gram or warm randomized SVD)",
            SvdMethod::Auto,
        ),
        ("eirl, dense faer SVD (Full)", SvdMethod::Full),
    ] {
        eprintln!("running {name}");
        rows.push(rust_row(name, &x, &mask, svd));
    }
    eprintln!("running numpy");
    rows.push(numpy_row(m, n, p));
    let numpy = rows.last().and_then(|r| r.seconds);
    let mut md = format!(
        "Soft-impute (fancyimpute defaults: λ = σ_max/50, ≤ 100 iterations, tolerance 1e-3) on a \
         {m} × {n} matrix, p = {p} ({} entries observed). Time of one full completion.\n\n\
         | implementation | seconds | numpy / this | run |\n|---|---:|---:|---|\n",
        mask.observed_count()
    );
    for r in &rows {
        let secs = r.seconds.map_or("—".into(), |s| format!("{s:.2}"));
        let ratio = match (numpy, r.seconds) {
            (Some(np), Some(s)) if s > 0.0 => format!("{:.1}×", np / s),
            _ => "—".into(),
        };
        md.push_str(&format!(
            "| {} | {secs} | {ratio} | {} |\n",
            r.name, r.detail
        ));
    }
    match std::env::var_os("EIRL_BENCH_OUT") {
        Some(path) => std::fs::write(&path, &md).expect("writing EIRL_BENCH_OUT"),
        None => print!("{md}"),
    }
}
