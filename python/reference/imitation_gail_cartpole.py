"""The `imitation` library's GAIL on CartPole-v1, timed for `cargo xtask bench peers`.

The generator is sb3-contrib's TRPO (GAIL's policy step, as in eirl) with eirl's GAIL defaults
(`crates/gail/src/config.rs`): 8 envs x 128 steps per round, policy and value MLPs 100-100 tanh,
max KL 0.01, 10 CG iterations, damping 0.1, 10 line-search steps with factor 0.8, 5 value
epochs at lr 1e-3 with minibatch 128, gamma 0.995, GAE lambda 0.97, normalized advantages;
discriminator 100-100 tanh (imitation's `BasicRewardNet` with a running input norm), Adam
3e-4, 4 updates per round on 1024 demonstration samples. The demonstrations are a HuggingFace
datasets folder written by `eirl demo record --out DIR`. Training (`gail.train`) is timed on
its own; then the deterministic policy is evaluated on 20 episodes. Prints one JSON object.

    python imitation_gail_cartpole.py --demos DIR --seed 0 --steps 100000
"""

import argparse
import json
import time

import numpy as np
import torch
from peer_eval import evaluate
from imitation.algorithms.adversarial.gail import GAIL
from imitation.data import serialize
from imitation.rewards.reward_nets import BasicRewardNet
from imitation.util.networks import RunningNorm
from imitation.util.util import make_vec_env
from sb3_contrib import TRPO


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--demos", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--episodes", type=int, default=20)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    venv = make_vec_env("CartPole-v1", n_envs=8, rng=rng)
    learner = TRPO(
        "MlpPolicy",
        venv,
        learning_rate=1e-3,
        n_steps=128,
        batch_size=128,
        gamma=0.995,
        gae_lambda=0.97,
        cg_max_steps=10,
        cg_damping=0.1,
        line_search_shrinking_factor=0.8,
        line_search_max_iter=10,
        n_critic_updates=5,
        normalize_advantage=True,
        target_kl=0.01,
        policy_kwargs=dict(net_arch=dict(pi=[100, 100], vf=[100, 100]), activation_fn=torch.nn.Tanh),
        seed=a.seed,
        device="cpu",
        verbose=0,
    )
    reward_net = BasicRewardNet(
        venv.observation_space,
        venv.action_space,
        normalize_input_layer=RunningNorm,
        hid_sizes=(100, 100),
    )
    demos = serialize.load(a.demos)
    trainer = GAIL(
        demonstrations=demos,
        demo_batch_size=1024,
        n_disc_updates_per_round=4,
        venv=venv,
        gen_algo=learner,
        reward_net=reward_net,
        disc_opt_kwargs=dict(lr=3e-4),
        allow_variable_horizon=True,
    )
    start = time.perf_counter()
    trainer.train(a.steps)
    train_seconds = time.perf_counter() - start
    returns, eval_seconds = evaluate(learner, "CartPole-v1", a.episodes)
    print(json.dumps({
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "torch_threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
