"""Independent numpy reference for eirl-envs' `Normalizer` / `VecNormalize`.

Stable-Baselines3's `VecNormalize` (stable_baselines3/common/vec_env/vec_normalize.py) and
`RunningMeanStd` (stable_baselines3/common/running_mean_std.py), written out with the same
formulas and order of operations, driven by a fixed synthetic stream of float32 observations,
float32 rewards and done flags (no gym needed):

- reset: returns ← 0; obs_rms.update(obs) (training); obs normalised.
- step: obs_rms.update(obs) (training); obs ← clip((obs − mean)/sqrt(var + ε), ±clip_obs) as
  float32; returns ← returns·γ + r; ret_rms.update(returns) (training);
  r ← clip(r/sqrt(ret_var + ε), ±clip_reward); terminal observations normalised with the same
  statistics; returns[dones] ← 0.
- RunningMeanStd: count starts at 1e-4, mean 0, var 1; the parallel-variance update.

    python vec_normalize.py OUT.json    # crates/envs/tests/data/vec_normalize_golden.json
"""

import json
import sys

import numpy as np


class RunningMeanStd:
    def __init__(self, epsilon=1e-4, shape=()):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = epsilon

    def update(self, arr):
        batch_mean = np.mean(arr, axis=0)
        batch_var = np.var(arr, axis=0)
        batch_count = arr.shape[0]
        self.update_from_moments(batch_mean, batch_var, batch_count)

    def update_from_moments(self, batch_mean, batch_var, batch_count):
        delta = batch_mean - self.mean
        tot_count = self.count + batch_count
        new_mean = self.mean + delta * batch_count / tot_count
        m_a = self.var * self.count
        m_b = batch_var * batch_count
        m_2 = m_a + m_b + np.square(delta) * self.count * batch_count / (self.count + batch_count)
        self.mean = new_mean
        self.var = m_2 / (self.count + batch_count)
        self.count = batch_count + self.count


class VecNormalize:
    def __init__(self, num_envs, obs_dim, norm_obs, norm_reward, gamma, clip_obs=10.0,
                 clip_reward=10.0, epsilon=1e-8):
        self.obs_rms = RunningMeanStd(shape=(obs_dim,))
        self.ret_rms = RunningMeanStd(shape=())
        self.returns = np.zeros(num_envs)
        self.norm_obs, self.norm_reward = norm_obs, norm_reward
        self.gamma, self.clip_obs, self.clip_reward, self.epsilon = gamma, clip_obs, clip_reward, epsilon
        self.training = True

    def normalize_obs(self, obs):
        if not self.norm_obs:
            return obs.copy()
        return np.clip((obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + self.epsilon),
                       -self.clip_obs, self.clip_obs).astype(np.float32)

    def normalize_reward(self, reward):
        if self.norm_reward:
            reward = np.clip(reward / np.sqrt(self.ret_rms.var + self.epsilon),
                             -self.clip_reward, self.clip_reward)
        return reward

    def reset(self, obs):
        self.returns = np.zeros(len(self.returns))
        if self.training and self.norm_obs:
            self.obs_rms.update(obs)
        return self.normalize_obs(obs)

    def step(self, obs, rewards, dones, final_obs):
        if self.training and self.norm_obs:
            self.obs_rms.update(obs)
        obs_n = self.normalize_obs(obs)
        if self.training:
            self.returns = self.returns * self.gamma + rewards
            self.ret_rms.update(self.returns)
        rew_n = self.normalize_reward(rewards)
        final_n = self.normalize_obs(final_obs)
        self.returns[dones] = 0
        return obs_n, rew_n, final_n


def scenario(name, norm_obs, norm_reward, gamma, scale, steps, frozen_from):
    rng = np.random.default_rng(20261202)
    n, d = 3, 4
    first = (rng.normal(size=(n, d)) * scale + 5.0).astype(np.float32)
    venv = VecNormalize(n, d, norm_obs, norm_reward, gamma)
    out = {"name": name, "norm_obs": norm_obs, "norm_reward": norm_reward, "gamma": gamma,
           "num_envs": n, "obs_dim": d, "frozen_from": frozen_from,
           "reset_obs": first.ravel().tolist(),
           "reset_out": venv.reset(first).astype(np.float64).ravel().tolist(), "steps": []}
    for t in range(steps):
        if t == frozen_from:
            venv.training = False
        obs = (rng.normal(size=(n, d)) * scale + 5.0).astype(np.float32)
        rewards = (rng.normal(size=n) * 3.0 - 1.0).astype(np.float32)
        if t == frozen_from:
            # Frozen statistics: values far outside them are clipped at ±clip.
            obs[0, 0] = np.float32(1e3)
            rewards[1] = np.float32(-1e4)
        dones = rng.random(n) < 0.3
        final_obs = obs.copy()
        for i in np.flatnonzero(dones):
            final_obs[i] = (rng.normal(size=d) * scale - 2.0).astype(np.float32)
        obs_n, rew_n, final_n = venv.step(obs, rewards, dones, final_obs)
        out["steps"].append({
            "obs": obs.astype(np.float64).ravel().tolist(),
            "rewards": rewards.astype(np.float64).tolist(),
            "dones": dones.tolist(),
            "final_obs": final_obs.astype(np.float64).ravel().tolist(),
            "obs_out": obs_n.astype(np.float64).ravel().tolist(),
            "rewards_out": np.asarray(rew_n, np.float64).tolist(),
            "final_obs_out": final_n.astype(np.float64).ravel().tolist(),
        })
    out["obs_mean"] = venv.obs_rms.mean.tolist()
    out["obs_var"] = venv.obs_rms.var.tolist()
    out["obs_count"] = float(venv.obs_rms.count)
    out["ret_mean"] = float(venv.ret_rms.mean)
    out["ret_var"] = float(venv.ret_rms.var)
    out["ret_count"] = float(venv.ret_rms.count)
    out["returns"] = venv.returns.tolist()
    return out


def main():
    cases = [
        scenario("obs and reward", True, True, 0.99, 2.0, 12, 9),
        scenario("reward only", False, True, 0.9, 1.0, 8, 99),
        scenario("obs only", True, False, 0.99, 0.5, 6, 99),
    ]
    with open(sys.argv[1], "w") as f:
        json.dump({"numpy": np.__version__, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
