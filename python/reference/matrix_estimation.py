"""Independent numpy reference for eirl-matrix-estimation's soft-impute.

Soft-impute as fancyimpute's SoftImpute runs it with its defaults (the estimator SVP and SV-RL
call): zero fill, λ = σ_max/50, thin SVD per iteration, singular values shrunk by λ, only missing
entries overwritten, stop when the relative change on the missing entries is below 1e-3 (with
fancyimpute's float32-epsilon edge cases), at most 100 iterations. σ_max is the exact top singular
value (fancyimpute's randomized estimate agrees to rounding on these sizes).

    python matrix_estimation.py golden OUT.json   # the test vectors in tests/data
    python matrix_estimation.py bench [M N P]     # time M×N (2500×1000) at p (0.2), print JSON
"""

import json
import sys
import time

import numpy as np

F32_EPS = float(np.finfo(np.float32).eps)


def soft_impute(x, observed, shrinkage=None, max_iters=100, tol=1e-3):
    z = np.where(observed, x, 0.0).astype(np.float64)
    missing = ~observed
    if shrinkage is None:
        shrinkage = np.linalg.svd(z, compute_uv=False)[0] / 50.0
    iters = 0
    converged = False
    for _ in range(max_iters):
        iters += 1
        u, s, vt = np.linalg.svd(z, full_matrices=False)
        s = np.maximum(s - shrinkage, 0.0)
        r = int((s > 0).sum())
        rec = (u[:, :r] * s[:r]) @ vt[:r]
        old, new = z[missing], rec[missing]
        change = np.sqrt(((old - new) ** 2).sum())
        old_norm = np.sqrt((old ** 2).sum())
        stalled = old_norm == 0 or (old_norm < F32_EPS and change > F32_EPS)
        z[missing] = new
        if not stalled and change / old_norm < tol:
            converged = True
            break
    return z, iters, converged, float(shrinkage)


def low_rank(rng, m, n, rank, noise):
    a = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    return a + noise * rng.standard_normal((m, n))


def golden(path):
    cases = []
    specs = [
        # (seed, m, n, rank, noise, p, shrinkage)
        (0, 12, 8, 1, 0.0, 0.5, None),
        (1, 30, 20, 2, 0.0, 0.3, None),
        (2, 25, 25, 3, 0.01, 0.7, None),
        (3, 40, 10, 2, 0.1, 0.6, 0.5),
        (4, 16, 48, 4, 0.0, 0.9, None),
    ]
    for seed, m, n, rank, noise, p, shrinkage in specs:
        rng = np.random.RandomState(seed)
        x = low_rank(rng, m, n, rank, noise)
        observed = rng.uniform(size=(m, n)) < p
        z, iters, converged, lam = soft_impute(x, observed, shrinkage)
        cases.append({
            "rows": m, "cols": n, "p": p, "shrinkage": shrinkage,
            "x": x.ravel().tolist(),
            "observed": observed.ravel().astype(int).tolist(),
            "expected": z.ravel().tolist(),
            "iterations": iters, "converged": converged, "threshold": lam,
        })
    with open(path, "w") as f:
        json.dump({"generator": "python/reference/matrix_estimation.py golden",
                   "numpy": np.__version__, "cases": cases}, f)


def fract(v):
    return v - np.floor(v)


def bench_problem(m, n, p):
    """The benchmark matrix, defined without an RNG so the Rust bench builds the same one:
    a smooth, approximately low-rank "Q matrix" plus a small hash-noise, and a hash mask."""
    i = np.arange(m, dtype=np.float64)[:, None]
    j = np.arange(n, dtype=np.float64)[None, :]
    s = i / (m - 1)
    a = -1.0 + 2.0 * j / (n - 1)
    noise = 2.0 * fract(np.sin(12.9898 * i + 78.233 * j) * 43758.5453) - 1.0
    x = np.sin(3.0 * s) * np.cos(2.0 * a) + s * a * a + 0.01 * noise
    observed = fract(np.sin(39.3468 * i + 11.135 * j) * 24634.6345) < p
    return x, observed


def bench(m=2500, n=1000, p=0.2, repeats=1):
    x, observed = bench_problem(m, n, p)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        z, iters, converged, lam = soft_impute(x, observed)
        times.append(time.perf_counter() - t0)
    err = np.linalg.norm(z - x) / np.linalg.norm(x)
    print(json.dumps({"seconds": min(times), "iterations": iters, "converged": converged,
                      "relative_error": float(err)}))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "golden":
        golden(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "bench":
        dims = [float(v) for v in sys.argv[2:5]]
        bench(*(int(dims[0]), int(dims[1]), dims[2]) if len(dims) == 3 else ())
    else:
        sys.exit(__doc__)
