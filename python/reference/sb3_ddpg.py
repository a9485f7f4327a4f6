"""Stable-Baselines3 DDPG with rl-baselines3-zoo's Pendulum preset: the peer of eirl's STEVE-DDPG.

Trains DDPG (rl-zoo `hyperparams/ddpg.yml`, Pendulum: gamma 0.98, buffer 200k, learning_starts
10k, Gaussian action noise σ = 0.1, train_freq 1 episode with as many gradient steps, lr 1e-3,
net_arch [400, 300]) for --steps env steps on 2 torch threads, then evaluates the deterministic
policy on 10 episodes (env i seeded 1_000_000 + i) and prints one JSON line:
{"seed", "steps", "train_seconds", "final_mean_return", "final_std_return"}.

    python sb3_ddpg.py --env Pendulum-v1 --steps 20000 --seed 0
"""

import argparse
import json
import time

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import DDPG
from stable_baselines3.common.noise import NormalActionNoise

from peer_eval import evaluate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", default="Pendulum-v1")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    env = gym.make(args.env)
    n = env.action_space.shape[0]
    model = DDPG(
        "MlpPolicy",
        env,
        gamma=0.98,
        buffer_size=200_000,
        learning_starts=10_000,
        action_noise=NormalActionNoise(np.zeros(n), 0.1 * np.ones(n)),
        gradient_steps=-1,
        train_freq=(1, "episode"),
        learning_rate=1e-3,
        policy_kwargs=dict(net_arch=[400, 300]),
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    start = time.perf_counter()
    model.learn(total_timesteps=args.steps)
    train_seconds = time.perf_counter() - start
    returns, _ = evaluate(model, args.env, 10, first_seed=1_000_000)
    print(json.dumps({
        "seed": args.seed,
        "steps": args.steps,
        "train_seconds": train_seconds,
        "final_mean_return": float(np.mean(returns)),
        "final_std_return": float(np.std(returns)),
    }))


if __name__ == "__main__":
    main()
