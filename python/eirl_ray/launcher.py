"""SEED RL (Espeholt et al. 2020) on a Ray cluster.

The learner (`eirl seed serve`, central inference + V-trace learner) runs as one Ray actor on
one node; `--actors` actor processes (`eirl seed actor`, which only step environments) run as
Ray actors spread over the cluster's nodes with CPU requests. Ray restarts an actor whose
process or node dies (`max_restarts`), on any node with room; the restarted actor reconnects
with the same actor id, so the learner drops only the unrolls that were in flight on it
(`dropped_partial_unrolls` in its summary). The shared token reaches every process through the
environment (`EIRL_SEED_TOKEN`, taken from the driver's environment or generated), never on a
command line. When the learner finishes, every actor is stopped; Ctrl-C / SIGTERM stops
everything.

Each `eirl` process is a child of its Ray worker and is killed with it (Linux
`PR_SET_PDEATHSIG`), so a dead node leaves no orphaned actor behind. The `eirl` binary must be
installed at the same path on every node (`--eirl`, or `EIRL_BIN`, or `eirl` on `PATH`);
`--out` and `--config` are paths on the learner's node. Pin the learner to a node with
`--learner-resources '{"learner": 1}'` (start that node with `--resources '{"learner": 1}'`).
`--resume-latest` makes a relaunch continue the newest run under `--out`.

Output: one line per event on stdout — `learner: <log line>`, `actor <i> started on node <id>
(<ip>) pid <pid>`, `actor <i> restarted on node <id> (<ip>) pid <pid>, was on node <id>`,
`actor <i> exited with status <s>: <last log line>`, `actor <i> lost: <why>` — then the
learner's own stdout (`done: …`, `inference server: …`). Exit status: the learner's (0 when it
trained to `--steps`), 1 on launch errors, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

TOKEN_ENV = "EIRL_SEED_TOKEN"
BIN_ENV = "EIRL_BIN"
# The learner logs the address it bound (port 0 picks a free one).
LISTENING = re.compile(r"inference server listening on (\S+)")
PR_SET_PDEATHSIG = 1
# Lines of an eirl process's stderr kept for the driver.
KEEP_LINES = 2000

try:
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not Linux: children are stopped by the launcher only
    _LIBC = None


class LaunchError(Exception):
    """A launch that cannot go on; the message is one line."""


@dataclass
class Options:
    """What `python -m eirl_ray` was asked to run."""

    address: str | None = None
    actors: int = 4
    envs_per_actor: int = 8
    env: str = "CartPole-v1"
    steps: int | None = None
    seed: int = 0
    out: str = "runs"
    config: str | None = None
    resume_latest: bool = False
    port: int = 50051
    eirl: str = "eirl"
    learner_cpus: float = 1.0
    actor_cpus: float = 1.0
    learner_resources: dict = field(default_factory=dict)
    max_restarts: int = -1
    give_up_after: int = 120
    poll: float = 2.0
    startup_timeout: float = 180.0


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(
        prog="python -m eirl_ray",
        description="SEED RL on a Ray cluster: `eirl seed serve` on one node, `eirl seed actor` "
        "processes spread over the cluster, restarted elsewhere when their node dies.",
    )
    p.add_argument("--address", default=None,
                   help="Ray cluster address (`auto` for the cluster this node belongs to; "
                        "default: start a local one-node Ray)")
    p.add_argument("--actors", type=int, default=4, help="actor processes (Ray actors)")
    p.add_argument("--envs-per-actor", type=int, default=8,
                   help="environments each actor process steps")
    p.add_argument("--env", default="CartPole-v1", help="environment id (see `eirl envs`)")
    p.add_argument("--steps", type=int, default=None,
                   help="total environment steps the learner trains on (default: the preset's)")
    p.add_argument("--seed", type=int, default=0,
                   help="the learner's seed; actor i steps its envs from seed "
                        "(seed + 1) * 1000003 + i * 65536")
    p.add_argument("--out", default="runs",
                   help="parent folder of run directories, on the learner's node")
    p.add_argument("--config", default=None, help="TOML file overriding the preset (learner node)")
    p.add_argument("--resume-latest", action="store_true",
                   help="continue the newest run under --out with the same env and seed")
    p.add_argument("--port", type=int, default=50051,
                   help="the learner's gRPC port on its node (0: a free one)")
    p.add_argument("--eirl", default=os.environ.get(BIN_ENV, "eirl"),
                   help=f"the eirl binary on every node (default: ${BIN_ENV}, else `eirl`)")
    p.add_argument("--learner-cpus", type=float, default=1.0, help="CPUs the learner requests")
    p.add_argument("--actor-cpus", type=float, default=1.0, help="CPUs each actor requests")
    p.add_argument("--learner-resources", default="{}",
                   help='custom Ray resources the learner requests, JSON (e.g. \'{"learner": 1}\' '
                        "to pin it to a node started with that resource)")
    p.add_argument("--max-restarts", type=int, default=-1,
                   help="restarts of each actor by Ray (-1: unlimited)")
    p.add_argument("--give-up-after", type=int, default=120,
                   help="an actor process exits after this many seconds without a served step")
    p.add_argument("--poll", type=float, default=2.0,
                   help="seconds between checks of the learner's log and the actors' placement")
    p.add_argument("--startup-timeout", type=float, default=180.0,
                   help="seconds to wait for the learner to listen")
    a = p.parse_args(argv)
    try:
        resources = json.loads(a.learner_resources)
    except json.JSONDecodeError as e:
        p.error(f"--learner-resources is not JSON: {e}")
    if not isinstance(resources, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and v >= 0 for k, v in resources.items()
    ):
        p.error("--learner-resources must be a JSON object of resource name → amount ≥ 0")
    if a.actors < 1:
        p.error("--actors must be ≥ 1")
    if not 1 <= a.envs_per_actor <= 65536:
        p.error("--envs-per-actor must be in 1..=65536")
    if not 0 <= a.port <= 65535:
        p.error("--port must be in 0..=65535")
    if a.learner_cpus < 0 or a.actor_cpus < 0:
        p.error("CPU requests must be ≥ 0")
    if a.poll <= 0 or a.startup_timeout <= 0:
        p.error("--poll and --startup-timeout must be > 0")
    fields = vars(a)
    fields["learner_resources"] = resources
    return Options(**fields)


def learner_argv(o: Options) -> list[str]:
    """`eirl seed serve` on every interface of the learner's node (the token is required)."""
    argv = [o.eirl, "seed", "serve", "--listen", f"0.0.0.0:{o.port}", "--env", o.env,
            "--seed", str(o.seed), "--out", os.path.abspath(o.out)]
    if o.steps is not None:
        argv += ["--steps", str(o.steps)]
    if o.config is not None:
        argv += ["--config", os.path.abspath(o.config)]
    if o.resume_latest:
        argv.append("--resume-latest")
    return argv


def actor_argv(o: Options, address: str, index: int) -> list[str]:
    """`eirl seed actor` number `index` (its actor id; the seed is added by the Ray actor)."""
    return [o.eirl, "seed", "actor", "--connect", address, "--env", o.env,
            "--envs", str(o.envs_per_actor), "--actor-id", str(index),
            "--give-up-after", str(o.give_up_after)]


def actor_seed(o: Options, index: int) -> int:
    return (o.seed + 1) * 1_000_003 + index * 65_536


def _die_with_parent() -> None:
    """In the forked child: be killed when the thread that started it (and so the Ray worker)
    dies."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Child:
    """An `eirl` process, started and waited on by a thread of its own: the process's parent
    thread lives exactly as long as the process, so `PR_SET_PDEATHSIG` fires only when the
    whole Ray worker dies."""

    def __init__(self, argv: list[str]):
        self.argv = argv
        self.lines: collections.deque[str] = collections.deque(maxlen=KEEP_LINES)
        self.first_line = 0  # index of lines[0] among every stderr line
        self.stdout: list[str] = []
        self.code: int | None = None
        self.error: str | None = None
        self.pid: int | None = None
        self._lock = threading.Lock()
        self._started = threading.Event()
        self._done = threading.Event()
        self._proc: subprocess.Popen | None = None
        threading.Thread(target=self._supervise, daemon=True).start()
        self._started.wait()

    def _supervise(self) -> None:
        try:
            proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, errors="replace",
                preexec_fn=_die_with_parent)
        except OSError as e:
            self.error = f"cannot start {self.argv[0]}: {e}"
            self.code = 127
            self._started.set()
            self._done.set()
            return
        self._proc, self.pid = proc, proc.pid
        self._started.set()
        out = threading.Thread(target=self._read_stdout, args=(proc,), daemon=True)
        out.start()
        for line in proc.stderr:
            with self._lock:
                if len(self.lines) == self.lines.maxlen:
                    self.first_line += 1
                self.lines.append(line.rstrip("\n"))
        out.join()
        self.code = proc.wait()
        self._done.set()

    def _read_stdout(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.stdout.append(line.rstrip("\n"))

    def lines_since(self, since: int) -> tuple[int, list[str]]:
        """Stderr lines from number `since` on (older ones may have been dropped), and the
        number to ask from next."""
        with self._lock:
            start = max(since, self.first_line)
            return self.first_line + len(self.lines), list(self.lines)[start - self.first_line:]

    def tail(self) -> str:
        with self._lock:
            return self.error or (self.lines[-1] if self.lines else "")

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def signal(self, sig: int) -> None:
        if self._proc is not None and self.code is None:
            try:
                self._proc.send_signal(sig)
            except ProcessLookupError:
                pass


class Learner:
    """The Ray actor around `eirl seed serve` (run with `max_concurrency` ≥ 3: `wait` blocks
    while `lines` and `address` are served)."""

    def __init__(self, argv: list[str]):
        import ray

        self.ip = ray.util.get_node_ip_address()
        self.node = ray.get_runtime_context().get_node_id()
        self.child = Child(argv)

    def address(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            seen_next, lines = self.child.lines_since(seen)
            seen = seen_next
            for line in lines:
                m = LISTENING.search(line)
                if m:
                    port = m.group(1).rsplit(":", 1)[-1]
                    return {"address": f"{self.ip}:{port}", "node": self.node}
            if self.child.wait(0.1):
                return {"error": f"the learner exited with status {self.child.code}: "
                                 f"{self.child.tail()}"}
        return {"error": f"the learner did not listen within {timeout:.0f} s: {self.child.tail()}"}

    def lines(self, since: int) -> tuple[int, list[str]]:
        return self.child.lines_since(since)

    def wait(self) -> dict:
        self.child.wait()
        return {"code": self.child.code, "stdout": self.child.stdout, "tail": self.child.tail()}

    def stop(self) -> None:
        """SIGTERM to the learner process (what it checkpointed last is what a resume gets)."""
        self.child.signal(signal.SIGTERM)


class SeedActor:
    """The Ray actor around one `eirl seed actor` process. Ray re-runs `__init__` on a restart,
    which starts a new process with the same actor id and fresh env seeds."""

    def __init__(self, index: int, argv: list[str], seed: int):
        import ray

        ctx = ray.get_runtime_context()
        self.index = index
        self.node = ctx.get_node_id()
        self.ip = ray.util.get_node_ip_address()
        self.restarted = bool(ctx.was_current_actor_reconstructed)
        if self.restarted:
            # Fresh episodes rather than a replay of the first incarnation's.
            seed += time.time_ns() % 1_000_003 * 65_536
        self.child = Child(argv + ["--seed", str(seed)])

    def info(self) -> dict:
        return {"index": self.index, "node": self.node, "ip": self.ip, "pid": self.child.pid,
                "restarted": self.restarted}

    def wait(self) -> dict:
        self.child.wait()
        return {"code": self.child.code, "tail": self.child.tail()}


def _short(node: str) -> str:
    return node[:12]


def launch(o: Options, emit: Callable[[str], None] | None = None) -> int:
    """Runs the training; returns the learner's exit status (130 when interrupted)."""
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError, RayError

    if emit is None:
        def emit(line: str) -> None:
            print(line, flush=True)

    token = os.environ.get(TOKEN_ENV) or secrets.token_hex(16)
    runtime_env = {
        "py_modules": [str(Path(__file__).resolve().parent)],
        "env_vars": {TOKEN_ENV: token, "RUST_LOG": os.environ.get("RUST_LOG", "info")},
    }
    ray.init(address=o.address, runtime_env=runtime_env, logging_level="warning",
             log_to_driver=False)
    learner_cls = ray.remote(Learner)
    actor_cls = ray.remote(SeedActor)
    learner = learner_cls.options(
        num_cpus=o.learner_cpus, resources=o.learner_resources or None, max_restarts=0,
        max_concurrency=4).remote(learner_argv(o))
    actors: list = []
    interrupted = False

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        got = ray.get(learner.address.remote(o.startup_timeout))
        if "error" in got:
            raise LaunchError(got["error"])
        address = got["address"]
        emit(f"learner listening on {address} (node {_short(got['node'])})")
        for i in range(o.actors):
            actors.append(actor_cls.options(
                num_cpus=o.actor_cpus, max_restarts=o.max_restarts, max_task_retries=-1,
                max_concurrency=3, scheduling_strategy="SPREAD",
            ).remote(i, actor_argv(o, address, i), actor_seed(o, i)))
        done_ref = learner.wait.remote()
        waits = {a.wait.remote(): i for i, a in enumerate(actors)}
        infos = {a.info.remote(): i for i, a in enumerate(actors)}
        live = set(range(len(actors)))  # actors whose process has not ended
        placed: dict[int, tuple[str, int | None]] = {}
        seen = 0

        def forward_learner_log() -> None:
            nonlocal seen
            seen, lines = ray.get(learner.lines.remote(seen))
            for line in lines:
                emit(f"learner: {line}")

        while True:
            ready, _ = ray.wait([done_ref], timeout=o.poll)
            forward_learner_log()
            for ref in ray.wait(list(infos), num_returns=len(infos), timeout=0)[0]:
                i = infos.pop(ref)
                try:
                    info = ray.get(ref)
                except RayActorError as e:
                    emit(f"actor {i} lost: {str(e).splitlines()[0]}")
                    continue
                where = (info["node"], info["pid"])
                if placed.get(i) != where:
                    if i in placed:
                        emit(f"actor {i} restarted on node {_short(info['node'])} ({info['ip']}) "
                             f"pid {info['pid']}, was on node {_short(placed[i][0])}")
                    else:
                        emit(f"actor {i} started on node {_short(info['node'])} ({info['ip']}) "
                             f"pid {info['pid']}")
                    placed[i] = where
                if i in live:
                    infos[actors[i].info.remote()] = i
            for ref in ray.wait(list(waits), num_returns=len(waits), timeout=0)[0]:
                i = waits.pop(ref)
                live.discard(i)
                try:
                    r = ray.get(ref)
                    emit(f"actor {i} exited with status {r['code']}: {r['tail']}")
                except RayActorError as e:
                    emit(f"actor {i} lost: {str(e).splitlines()[0]}")
            if ready:
                break
            if not waits:
                learner.stop.remote()
                raise LaunchError("every actor exited; stopped the learner")
        result = ray.get(done_ref)
        forward_learner_log()
        for line in result["stdout"]:
            emit(line)
        if result["code"] != 0:
            emit(f"the learner exited with status {result['code']}: {result['tail']}")
        return int(result["code"] if result["code"] is not None else 1)
    except RayActorError as e:
        raise LaunchError(
            f"the learner was lost ({str(e).splitlines()[0]}); relaunch with --resume-latest to "
            "continue from its last checkpoint") from e
    except KeyboardInterrupt:
        interrupted = True
        emit("interrupted: stopping the learner and the actors")
        try:
            ray.get(learner.stop.remote(), timeout=10)
        except (GetTimeoutError, RayError):
            pass
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        for a in actors:
            ray.kill(a, no_restart=True)
        if interrupted:
            # Give the learner a moment to act on SIGTERM before its worker goes.
            time.sleep(1.0)
        ray.kill(learner, no_restart=True)
        ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    o = parse_args(argv)
    try:
        return launch(o)
    except LaunchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
