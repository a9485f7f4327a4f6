"""Conformance vectors for eirl's MuJoCo envs, from Gymnasium[mujoco] itself.

For each v5 task: episodes reset with a seed (NumPy draws the reset noise, which eirl does not
reproduce, so each episode records the state Gymnasium reset to, and eirl sets it explicitly),
then stepped with random float32 actions (some beyond the action box, so MuJoCo's ctrlrange
clamping is exercised), until termination, truncation or the episode's step budget.
Recorded per step: Gymnasium's float64 observation, reward, terminated, truncated.

    .venv-py/bin/python python/reference/gymnasium_mujoco_vectors.py crates/envs/tests/data/gymnasium-mujoco

Needs python/requirements-mujoco.txt (gymnasium with the MuJoCo version eirl's layout is for).
"""

import json
import os
import sys

import gymnasium as gym
import mujoco
import numpy as np

# (id, step budget of each episode): episode k acts with SCALES[k % 3] x the action box's half
# width around its middle (1.5: beyond the box, so MuJoCo's ctrlrange clamping is exercised;
# the small scales keep the walkers up longer). Budgets reach termination where random actions
# terminate, the time limit once (HalfCheetah never terminates: truncation at 1000), and stay
# short for Ant and Humanoid (observations of 105 and 348 entries).
SCALES = [1.5, 0.3, 0.05]
TASKS = [
    ("Hopper-v5", [300] * 6),
    ("Walker2d-v5", [300] * 6),
    ("HalfCheetah-v5", [1000, 150, 150]),
    ("InvertedPendulum-v5", [300] * 6),
    ("InvertedDoublePendulum-v5", [300] * 6),
    ("Ant-v5", [60] * 3),
    ("Humanoid-v5", [40] * 3),
]


def episode(env, seed: int, budget: int, scale: float, rng: np.random.Generator) -> dict:
    obs, _ = env.reset(seed=seed)
    u = env.unwrapped
    space = env.action_space
    mid = (space.high + space.low) / 2
    half = (space.high - space.low) / 2
    out = {
        "seed": seed,
        "initial_state": [float(x) for x in u.state_vector()],
        "initial_obs": [float(x) for x in obs],
        "actions": [],
        "obs": [],
        "rewards": [],
        "terminated": [],
        "truncated": [],
    }
    for _ in range(budget):
        action = (mid + scale * half * rng.uniform(-1, 1, size=space.shape)).astype(np.float32)
        obs, reward, terminated, truncated, _ = env.step(action)
        out["actions"].append([float(a) for a in action])
        out["obs"].append([float(x) for x in obs])
        out["rewards"].append(float(reward))
        out["terminated"].append(bool(terminated))
        out["truncated"].append(bool(truncated))
        if terminated or truncated:
            break
    return out


def main() -> None:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out_dir, exist_ok=True)
    for env_id, budgets in TASKS:
        env = gym.make(env_id)
        rng = np.random.default_rng(12345)
        episodes = [
            episode(env, seed, budget, SCALES[seed % len(SCALES)], rng)
            for seed, budget in enumerate(budgets)
        ]
        doc = {
            "env_id": env_id,
            "gymnasium_version": gym.__version__,
            "mujoco_version": mujoco.__version__,
            "numpy_version": np.__version__,
            "note": "obs[i], rewards[i], terminated[i], truncated[i] follow actions[i] (float32 "
            "values); obs are Gymnasium's float64 observations; initial_state is "
            "state_vector() (qpos then qvel) after reset(seed=seed), for eirl's set_state",
            "episodes": episodes,
        }
        path = os.path.join(out_dir, f"{env_id}.json")
        with open(path, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
        steps = sum(len(e["actions"]) for e in episodes)
        ends = sum(e["terminated"][-1] for e in episodes if e["terminated"])
        truncs = sum(e["truncated"][-1] for e in episodes if e["truncated"])
        print(f"{path}: {len(episodes)} episodes, {steps} steps, {ends} terminated, {truncs} truncated")


if __name__ == "__main__":
    main()
