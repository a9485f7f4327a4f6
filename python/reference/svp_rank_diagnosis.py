"""Why SVP's completion loses the policy: the spectrum of full value iteration's Q.

For each task's full-VI Q (`q.f64` written by `eirl plan svp --p 1`), print the leading singular
values, how many exceed σ_max/50 (fancyimpute's default λ on a fully observed matrix), the 99%-energy
rank, and the policy agreement of Q's best rank-k approximation with Q's own greedy policy.

    python svp_rank_diagnosis.py runs/repro-svp/mountain-car/full/q.f64 [more q.f64 ...]
"""

import sys

import numpy as np

for path in sys.argv[1:]:
    q = np.fromfile(path, dtype="<f8")
    q = q.reshape(-1, 1000)
    u, s, vt = np.linalg.svd(q, full_matrices=False)
    energy = np.cumsum(s ** 2) / np.sum(s ** 2)
    greedy = q.argmax(1)
    agree = []
    for k in (1, 2, 3, 5, 10):
        qk = (u[:, :k] * s[:k]) @ vt[:k]
        agree.append((k, round(float((qk.argmax(1) == greedy).mean()), 3)))
    print(path)
    print("  top singular values:", np.round(s[:5], 2).tolist())
    print("  above sigma_max/50:", int((s > s[0] / 50).sum()),
          " 99%-energy rank:", int(np.searchsorted(energy, 0.99) + 1))
    print("  greedy agreement of the rank-k truncation (k, agreement):", agree)
