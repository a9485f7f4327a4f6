"""Deterministic evaluation shared by the peer scripts of `cargo xtask bench peers`."""

import time

import gymnasium as gym
import numpy as np


def evaluate(model, env_id, episodes, first_seed=10_000):
    """Returns of `episodes` deterministic episodes (episode `i` reset with `first_seed + i`),
    and the seconds they took."""
    env = gym.make(env_id)
    returns = []
    start = time.perf_counter()
    for ep in range(episodes):
        obs, _ = env.reset(seed=first_seed + ep)
        done, total = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, r, term, trunc, _ = env.step(action)
            total += float(r)
            done = term or trunc
        returns.append(total)
    return np.asarray(returns), time.perf_counter() - start
