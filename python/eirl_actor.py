#!/usr/bin/env python3
"""A SEED RL actor in Python for `eirl seed serve` (Espeholt et al. 2020, §3).

It steps N Gymnasium environments in one process and asks the learner's central inference
server for their actions over the gRPC protocol of
`crates/inference-server/proto/seed.proto`: one bidirectional `Act` stream, one `ActRequest`
per step carrying one `EnvStep` per env (grpcio handles only a few thousand messages per second
per stream, so the envs are batched into one message), one request in flight at a time.

Auto-reset is same-step, as in the Rust actor (`crates/seed-rl/src/actor.rs`): the step that
ends an episode carries the ending transition's reward and flags, the NEXT episode's first
observation in `obs`, and the true last observation in `final_obs`.

    python python/eirl_actor.py --connect 127.0.0.1:50051 --env CartPole-v1 --envs 8

Exit status: 0 when the server closed the stream (or after `--steps`), 1 on errors, 130 on
Ctrl-C. The last line on stdout is
`python actor: <steps> env steps, <episodes> episodes, mean return <x>, <r> env steps/s`.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import queue
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import grpc
import gymnasium
import numpy as np

# Environment variable holding the shared token (as for `eirl seed actor`).
TOKEN_ENV = "EIRL_SEED_TOKEN"
PROTO = Path(__file__).resolve().parents[1] / "crates/inference-server/proto/seed.proto"
# Env `i` of actor `K` is known to the server as `K << ENV_ID_BITS | i` (the Rust actor's layout).
ENV_ID_BITS = 20
# Status codes that mean the server went away (the Rust client's `TransportError::Disconnected`).
GONE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN)


class ActorError(Exception):
    """An error that ends the actor with a one-line message and exit status 1."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connect", required=True, help="the learner's address, HOST:PORT")
    p.add_argument("--env", default="CartPole-v1", help="Gymnasium env id; must be the learner's")
    p.add_argument("--envs", type=int, default=8, help="environments stepped by this actor")
    p.add_argument("--seed", type=int, default=0, help="env i is seeded with seed + i")
    p.add_argument("--steps", type=int, default=None,
                   help="stop after this many env steps, summed over envs (default: run until "
                        "the server goes away)")
    p.add_argument("--actor-id", type=int, default=None,
                   help="identifies this actor's envs on the server (default: random); two live "
                        "actors must not share one")
    p.add_argument("--stubs", type=Path, default=None,
                   help="folder holding pre-generated seed_pb2.py and seed_pb2_grpc.py (default: "
                        "generate them from the repository's seed.proto)")
    p.add_argument("--connect-timeout", type=float, default=60.0,
                   help="seconds to wait for the server to accept the connection")
    args = p.parse_args(argv)
    if not 1 <= args.envs <= 1 << ENV_ID_BITS:
        p.error(f"--envs must be between 1 and {1 << ENV_ID_BITS}")
    if args.steps is not None and args.steps < 1:
        p.error("--steps must be positive")
    if args.actor_id is not None and not 0 <= args.actor_id < 1 << (64 - ENV_ID_BITS):
        p.error(f"--actor-id must be in [0, 2^{64 - ENV_ID_BITS})")
    return args


def load_stubs(stubs: Path | None) -> tuple[ModuleType, ModuleType]:
    """`seed_pb2` and `seed_pb2_grpc`, from `stubs` or generated into a temporary folder."""
    if stubs is not None:
        return import_stubs(stubs)
    from grpc_tools import protoc

    if not PROTO.is_file():
        raise ActorError(f"{PROTO} not found; pass --stubs DIR with pre-generated stubs")
    with tempfile.TemporaryDirectory(prefix="eirl-seed-stubs-") as out:
        status = protoc.main([
            "grpc_tools.protoc",
            f"-I{PROTO.parent}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(PROTO),
        ])
        if status != 0:
            raise ActorError(f"grpc_tools.protoc failed on {PROTO} (status {status})")
        # Both modules are read now; the folder may go once they are imported.
        return import_stubs(Path(out))


def import_stubs(folder: Path) -> tuple[ModuleType, ModuleType]:
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module("seed_pb2"), importlib.import_module("seed_pb2_grpc")
    except ImportError as e:
        raise ActorError(f"no usable seed_pb2 / seed_pb2_grpc in {folder}: {e}") from e
    finally:
        sys.path.remove(str(folder))


def flat(obs) -> list[float]:
    """An observation as the wire's flat row-major float list."""
    return np.asarray(obs, dtype=np.float32).ravel().tolist()


class Stats:
    """Env steps and finished episodes' returns."""

    def __init__(self, num_envs: int) -> None:
        self.steps = 0
        self.returns: list[float] = []
        self.running = [0.0] * num_envs
        self.start = time.monotonic()

    def line(self) -> str:
        mean = sum(self.returns) / len(self.returns) if self.returns else math.nan
        rate = self.steps / max(time.monotonic() - self.start, 1e-9)
        return (f"python actor: {self.steps} env steps, {len(self.returns)} episodes, "
                f"mean return {mean:.2f}, {rate:.0f} env steps/s")


class Envs:
    """`n` Gymnasium envs with same-step auto-reset, building the wire's `EnvStep`s."""

    def __init__(self, pb2: ModuleType, env_id: str, n: int, seed: int, first_env_id: int,
                 run_id: int) -> None:
        self.pb2 = pb2
        try:
            self.envs = [gymnasium.make(env_id) for _ in range(n)]
        except gymnasium.error.Error as e:
            raise ActorError(f"cannot make {env_id}: {e}") from e
        space = self.envs[0].action_space
        if isinstance(space, gymnasium.spaces.Discrete):
            self.num_actions, self.box = int(space.n), None
        elif isinstance(space, gymnasium.spaces.Box):
            self.num_actions, self.box = None, space
        else:
            raise ActorError(f"{env_id} has action space {space}; Discrete or Box is needed")
        self.env_ids = [first_env_id | i for i in range(n)]
        self.run_id = run_id
        self.step = 0
        self.steps = [
            pb2.EnvStep(env_id=self.env_ids[i], run_id=run_id, step=0,
                        obs=flat(env.reset(seed=seed + i)[0]))
            for i, env in enumerate(self.envs)
        ]

    def request(self):
        return self.pb2.ActRequest(steps=self.steps)

    def action(self, i: int, reply):
        """The env action in `reply` for env `i`, checked against the action space."""
        if reply.env_id != self.env_ids[i]:
            raise ActorError(f"reply for env {reply.env_id} where env {self.env_ids[i]} was "
                             "expected")
        kind = reply.WhichOneof("action")
        if self.num_actions is not None and kind == "discrete":
            if 0 <= reply.discrete < self.num_actions:
                return reply.discrete
            raise ActorError(f"the server sent action {reply.discrete} for "
                             f"{self.num_actions} actions")
        if self.box is not None and kind == "continuous":
            values = np.asarray(reply.continuous.values, dtype=self.box.dtype)
            if values.size == math.prod(self.box.shape):
                return values.reshape(self.box.shape)
        raise ActorError(f"the server sent a {kind} action for action space "
                         f"{self.envs[i].action_space}")

    def apply(self, replies, stats: Stats) -> None:
        """Steps every env with its reply's action and prepares the next request."""
        if len(replies) != len(self.envs):
            raise ActorError(f"the server answered {len(replies)} of {len(self.envs)} envs")
        self.step += 1
        steps = []
        for i, (env, reply) in enumerate(zip(self.envs, replies)):
            obs, reward, terminated, truncated, _ = env.step(self.action(i, reply))
            reward = float(reward)
            stats.running[i] += reward
            final_obs = None
            if terminated or truncated:
                final_obs = flat(obs)
                obs, _ = env.reset()
                stats.returns.append(stats.running[i])
                stats.running[i] = 0.0
            steps.append(self.pb2.EnvStep(
                env_id=self.env_ids[i], run_id=self.run_id, step=self.step, obs=flat(obs),
                reward=reward, terminated=bool(terminated), truncated=bool(truncated),
                final_obs=final_obs))
        self.steps = steps
        stats.steps += len(self.envs)

    def close(self) -> None:
        for env in self.envs:
            env.close()


def run(args: argparse.Namespace, stats_out: list[Stats]) -> str:
    """Acts until the server goes away or `--steps` is reached; returns why it stopped."""
    pb2, pb2_grpc = load_stubs(args.stubs)
    actor_id = args.actor_id
    if actor_id is None:
        actor_id = int.from_bytes(os.urandom(4), "little")
    run_id = int.from_bytes(os.urandom(8), "little")  # fresh per connection
    envs = Envs(pb2, args.env, args.envs, args.seed, actor_id << ENV_ID_BITS, run_id)
    stats = Stats(args.envs)
    stats_out.append(stats)
    metadata = []
    token = os.environ.get(TOKEN_ENV, "")
    if token:
        metadata.append(("authorization", f"Bearer {token}"))
    options = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 1000)]
    channel = grpc.insecure_channel(args.connect, options=options)
    requests: queue.Queue = queue.Queue()
    try:
        try:
            grpc.channel_ready_future(channel).result(timeout=args.connect_timeout)
        except grpc.FutureTimeoutError:
            raise ActorError(f"no server at {args.connect} within {args.connect_timeout:.0f} s")
        print(f"python actor {actor_id}: connected to {args.connect} with {args.envs} "
              f"{args.env} envs", file=sys.stderr, flush=True)
        responses = pb2_grpc.InferenceStub(channel).Act(iter(requests.get, None),
                                                        metadata=metadata)
        stats.start = time.monotonic()
        answered = False
        while args.steps is None or stats.steps < args.steps:
            requests.put(envs.request())
            try:
                response = next(responses)
            except StopIteration:
                return "the server ended the stream"
            except grpc.RpcError as e:
                code, details = e.code(), e.details()
                if code == grpc.StatusCode.UNAUTHENTICATED:
                    raise ActorError(f"authentication failed: {details} (set {TOKEN_ENV} to "
                                     "the server's token)")
                if code in GONE and answered:
                    return f"the server closed the stream ({code.name}: {details})"
                raise ActorError(f"the server closed the stream with {code.name}: {details}")
            answered = True
            envs.apply(response.replies, stats)
        return f"reached --steps {args.steps}"
    finally:
        requests.put(None)  # closes our side of the stream: a clean disconnect
        channel.close()
        envs.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stats: list[Stats] = []
    status = 0
    try:
        why = run(args, stats)
        print(f"python actor: {why}; exiting", file=sys.stderr, flush=True)
    except ActorError as e:
        print(f"python actor: error: {e}", file=sys.stderr, flush=True)
        status = 1
    except KeyboardInterrupt:
        print("python actor: interrupted", file=sys.stderr, flush=True)
        status = 130
    if stats:
        print(stats[0].line(), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
