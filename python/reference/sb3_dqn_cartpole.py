"""Stable-Baselines3's DQN with rl-baselines3-zoo's CartPole-v1 preset, timed for
`cargo xtask bench peers`.

The hyperparameters are those of `configs/dqn/CartPole-v1.toml` (rl-zoo hyperparams/dqn.yml).
Training (`model.learn`) is timed on its own; then the deterministic policy is evaluated on
20 episodes. Prints one JSON object.

    python sb3_dqn_cartpole.py --seed 0 --steps 50000
"""

import argparse
import json
import time

import gymnasium as gym
import numpy as np
import torch
from peer_eval import evaluate
from stable_baselines3 import DQN


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=50_000)
    p.add_argument("--episodes", type=int, default=20)
    a = p.parse_args()
    model = DQN(
        "MlpPolicy",
        gym.make("CartPole-v1"),
        learning_rate=2.3e-3,
        batch_size=64,
        buffer_size=100_000,
        learning_starts=1000,
        gamma=0.99,
        target_update_interval=10,
        train_freq=256,
        gradient_steps=128,
        exploration_fraction=0.16,
        exploration_final_eps=0.04,
        policy_kwargs=dict(net_arch=[256, 256]),
        seed=a.seed,
        device="cpu",
        verbose=0,
    )
    start = time.perf_counter()
    model.learn(total_timesteps=a.steps)
    train_seconds = time.perf_counter() - start
    returns, eval_seconds = evaluate(model, "CartPole-v1", a.episodes)
    print(json.dumps({
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "torch_threads": torch.get_num_threads(),
        "gradient_steps": int(model._n_updates),
    }))


if __name__ == "__main__":
    main()
