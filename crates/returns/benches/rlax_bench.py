#!/usr/bin/env python3
"""Times rlax's estimators under jax.jit (vmap over B) at the shapes of benches/returns.rs.

T = 100, float32, B = 256 by default (B = 1 too with --batch 1); Retrace with 4 actions.
Prints JSON {function: microseconds per call} (median of repeated timed loops) on stdout.
Usage: python3 rlax_bench.py [--batch 256] [--repeats 7] [--number 200]
"""
import argparse
import json
import sys
import timeit

import jax
import jax.numpy as jnp
import numpy as np
import rlax

T, A = 100, 4


def make_inputs(b, seed=0):
    rng = np.random.default_rng(seed)
    f = lambda *s: jnp.asarray(rng.random(s, dtype=np.float32))
    r = 2.0 * f(b, T) - 1.0
    d = jnp.where(f(b, T) < 0.02, 0.0, 0.99).astype(jnp.float32)
    pi = f(b, T, A) + 2.5e-4
    pi = pi / pi.sum(-1, keepdims=True)
    return dict(
        r=r, d=d, v=f(b, T), values=f(b, T + 1), rho=2.0 * f(b, T),
        q_tm1=f(b, T, A), q_t=f(b, T, A), pi=pi, mu=0.1 + 0.8 * f(b, T),
        a_tm1=jnp.asarray(rng.integers(0, A, (b, T)), jnp.int32),
        a_t=jnp.asarray(rng.integers(0, A, (b, T)), jnp.int32),
    )


def functions():
    lam = jnp.float32(0.95)
    vtrace = jax.vmap(lambda vm, vt, r, d, rho: rlax.vtrace_td_error_and_advantage(
        vm, vt, r, d, rho, lambda_=1.0))
    lambda_returns = jax.vmap(lambda r, d, v: rlax.lambda_returns(r, d, v, lambda_=lam))
    gae = jax.vmap(lambda r, d, values: rlax.truncated_generalized_advantage_estimation(
        r, d, lam, values))
    retrace = jax.vmap(lambda q_tm1, q_t, a_tm1, a_t, r, d, pi, mu: rlax.retrace(
        q_tm1, q_t, a_tm1, a_t, r, d, pi, mu, lam))
    return {
        "vtrace": (jax.jit(vtrace), ("values_tm1", "v", "r", "d", "rho")),
        "lambda_returns": (jax.jit(lambda_returns), ("r", "d", "v")),
        "gae": (jax.jit(gae), ("r", "d", "values")),
        "retrace_4_actions": (jax.jit(retrace), ("q_tm1", "q_t", "a_tm1", "a_t", "r", "d", "pi", "mu")),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--number", type=int, default=200)
    args = p.parse_args()
    x = make_inputs(args.batch)
    x["values_tm1"] = x["values"][:, :T]
    results = {}
    for name, (fn, keys) in functions().items():
        call_args = [x[k] for k in keys]
        jax.block_until_ready(fn(*call_args))  # compile
        run = lambda: jax.block_until_ready(fn(*call_args))
        times = timeit.repeat(run, repeat=args.repeats, number=args.number)
        results[name] = round(1e6 * float(np.median(times)) / args.number, 3)
    print(json.dumps(results))
    print(f"# rlax {getattr(rlax, '__version__', '?')}, jax {jax.__version__}, "
          f"backend {jax.default_backend()}, T={T}, B={args.batch}, float32", file=sys.stderr)


if __name__ == "__main__":
    main()
