"""PyTorch side of `cargo xtask bench models`: one DQN gradient step and batch-1 acting.

The step is Stable-Baselines3's DQN update on an `obs -> h -> h -> A` ReLU MLP: forward,
gather Q(s, a), Huber loss (`smooth_l1_loss`), `zero_grad`, backward, global-norm clipping at
10, Adam. Acting is one observation's forward under `torch.no_grad()`. Prints one JSON object.

    python torch_mlp_bench.py --threads 2 --obs 4 --hidden 256 --actions 2 --batches 32 64 256
"""

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def rate(fn, seconds, repeats=5):
    """Calls per second: the median over `repeats` windows of `seconds / repeats` each."""
    for _ in range(20):
        fn()
    rates = []
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / repeats:
                break
        rates.append(n / elapsed)
    rates.sort()
    return rates[len(rates) // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--obs", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--actions", type=int, default=2)
    p.add_argument("--batches", type=int, nargs="+", default=[32, 64, 256])
    p.add_argument("--seconds", type=float, default=2.0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(a.obs, a.hidden), nn.ReLU(),
        nn.Linear(a.hidden, a.hidden), nn.ReLU(),
        nn.Linear(a.hidden, a.actions),
    )
    opt = torch.optim.Adam(net.parameters(), lr=2.3e-3)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "step": {}}
    for b in a.batches:
        # Eight batches in turn (as the Rust bench), so the loss cannot go to zero.
        data = [
            (torch.randn(b, a.obs), torch.randint(0, a.actions, (b, 1)), torch.randn(b))
            for _ in range(8)
        ]
        k = [0]

        def step():
            x, act, y = data[k[0] % 8]
            k[0] += 1
            q = net(x).gather(1, act).squeeze(1)
            loss = F.smooth_l1_loss(q, y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            opt.step()

        out["step"][str(b)] = rate(step, a.seconds)
    x1 = torch.randn(1, a.obs)

    def act():
        with torch.no_grad():
            net(x1).argmax(dim=1)

    out["act"] = rate(act, a.seconds)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
