"""SEED RL on a Ray cluster: `eirl seed serve` on one node, `eirl seed actor` processes spread
over the cluster as Ray actors, restarted elsewhere when their node goes away.

    PYTHONPATH=python python -m eirl_ray --address auto --actors 64 --envs-per-actor 8 \\
        --env CartPole-v1 --steps 10000000 --out /shared/runs

See `python -m eirl_ray --help` and `deploy/README.md`.
"""

from eirl_ray.launcher import LaunchError, Options, launch, parse_args

__all__ = ["LaunchError", "Options", "launch", "parse_args"]
