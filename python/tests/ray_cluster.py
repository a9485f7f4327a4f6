#!/usr/bin/env python3
"""End-to-end check of `python -m eirl_ray` on a local multi-node Ray cluster (two nodes on
loopback, `ray.cluster_utils.Cluster`): SEED training progresses, the node holding some actors
is removed mid-run and Ray restarts those actors on the other node, the learner never stops
and loses no more than the removed actors' in-flight unrolls, and a relaunch with
`--resume-latest` continues the run from its checkpoint.

    python python/tests/ray_cluster.py --eirl target/release/eirl --workdir /tmp/x

Run by `tests/it/ray_cluster.rs`; exits 0 when every check passes, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

PYTHON_DIR = Path(__file__).resolve().parents[1]
ACTORS = 4
ENVS = 4
STEPS = 300_000
RESUME_STEPS = 360_000
STORE = 100 * 1024 * 1024


class Failed(Exception):
    pass


def check(cond: bool, what: str, log: list[str]) -> None:
    if not cond:
        raise Failed(what + "\n--- launcher output:\n" + "\n".join(log[-150:]))


class Launch:
    """`python -m eirl_ray` as a child process, its stdout read line by line."""

    def __init__(self, args: list[str], cwd: Path):
        env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR), RUST_LOG="info")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "eirl_ray", *args], cwd=cwd, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, pattern: str, timeout: float) -> re.Match:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                raise Failed(f"the launcher exited before `{pattern}`\n" + "\n".join(self.log[-150:]))
            self.log.append(line)
            m = rx.search(line)
            if m:
                return m
        raise Failed(f"no `{pattern}` within {timeout:.0f} s\n" + "\n".join(self.log[-150:]))

    def finish(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.proc.kill()
                raise Failed(f"the launcher still ran after {timeout:.0f} s\n"
                             + "\n".join(self.log[-150:]))
            if line is None:
                break
            self.log.append(line)
        return self.proc.wait()


def stat(summary: str, key: str) -> float:
    m = re.search(rf"\b{key}=(\S+)", summary)
    if not m:
        raise Failed(f"no {key} in {summary}")
    return float(m.group(1))


def actor_processes(connect: str) -> list[int]:
    """Pids of live processes whose command line has `connect` (this launch's actors)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if connect in cmd and state != "Z":
            pids.append(int(d.name))
    return pids


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--eirl", required=True)
    p.add_argument("--workdir", required=True)
    a = p.parse_args()
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "seed.toml").write_text("eval_interval = 20000\neval_episodes = 3\n")
    t0 = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 3, "resources": {"learner": 1}, "object_store_memory": STORE,
        "include_dashboard": False})
    worker = cluster.add_node(num_cpus=2, object_store_memory=STORE)
    cluster.wait_for_nodes()
    head_id = cluster.head_node.node_id
    worker_id = worker.node_id
    print(f"cluster up in {time.monotonic() - t0:.1f} s: head {head_id[:12]}, "
          f"worker {worker_id[:12]}", flush=True)
    common = ["--address", cluster.address, "--actors", str(ACTORS), "--envs-per-actor",
              str(ENVS), "--env", "CartPole-v1", "--out", str(work / "runs"), "--config",
              str(work / "seed.toml"), "--eirl", a.eirl, "--learner-resources",
              '{"learner": 1}', "--actor-cpus", "0.5", "--poll", "0.5", "--resume-latest", "--port", "0"]
    try:
        run = Launch([*common, "--steps", str(STEPS)], work)
        log = run.log
        m = run.until(r"learner listening on (\S+) \(node (\w+)\)", 120)
        connect = f"--connect {m.group(1)}"
        check(head_id.startswith(m.group(2)), "the learner is not on the head node", log)
        placed: dict[int, str] = {}
        while len(placed) < ACTORS:
            m = run.until(r"actor (\d+) started on node (\w+)", 120)
            placed[int(m.group(1))] = m.group(2)
        on_worker = sorted(i for i, n in placed.items() if worker_id.startswith(n))
        check(0 < len(on_worker) < ACTORS,
              f"SPREAD placed actors {placed}; expected some on each node", log)
        run.until(r"learner: .*step \d+: eval mean", 120)
        print(f"removing the worker node with actors {on_worker}", flush=True)
        cluster.remove_node(worker)
        restarted: set[int] = set()
        while restarted != set(on_worker):
            m = run.until(r"actor (\d+) restarted on node (\w+)", 120)
            i = int(m.group(1))
            check(i in on_worker, f"actor {i} restarted but was not on the removed node", log)
            check(head_id.startswith(m.group(2)), f"actor {i} restarted off the head node", log)
            restarted.add(i)
        print(f"actors {sorted(restarted)} restarted on the head node", flush=True)
        code = run.finish(600)
        check(code == 0, f"the launcher exited with status {code}", log)
        summary = next((l for l in log if l.startswith("inference server:")), None)
        check(summary is not None, "no inference server summary", log)
        done = next((l for l in log if l.startswith("done: ")), "")
        check(int(done.split()[1]) >= STEPS, f"the learner stopped early: {done}", log)
        # Only the in-flight unrolls of the removed actors' envs may be lost.
        dropped = stat(summary, "dropped_partial_unrolls")
        check(dropped <= len(on_worker) * ENVS,
              f"{dropped} partial unrolls dropped; the removed actors had "
              f"{len(on_worker) * ENVS} envs", log)
        check(stat(summary, "rejected_requests") == 0, "requests were rejected", log)
        # Every actor, the restarted ones included, was connected at the end.
        check(stat(summary, "connected_clients") == ACTORS, f"not all actors connected: {summary}", log)
        check(stat(summary, "active_slots") == ACTORS * ENVS, f"env slots missing: {summary}", log)
        evals = sum(1 for l in log if re.search(r"step \d+: eval mean", l))
        check(evals >= STEPS // 20_000 - 1, f"only {evals} evaluations", log)
        runs = list((work / "runs").glob("seed-CartPole-v1-0-*/checkpoints/latest.safetensors"))
        check(len(runs) == 1, f"checkpoints: {runs}", log)
        # The launcher stopped every actor process it started (none is orphaned).
        deadline = time.monotonic() + 20
        while (left := actor_processes(connect)) and time.monotonic() < deadline:
            time.sleep(0.2)
        check(not left, f"actor processes left running: {left}", log)
        print(f"first launch done: {done}; dropped_partial_unrolls={dropped:.0f}, "
              f"{evals} evaluations", flush=True)

        again = Launch([*common, "--steps", str(RESUME_STEPS)], work)
        code = again.finish(600)
        check(code == 0, f"the relaunch exited with status {code}", again.log)
        check(any("--resume-latest: resuming" in l for l in again.log),
              "the relaunch did not resume the run", again.log)
        done = next((l for l in again.log if l.startswith("done: ")), "")
        steps = int(done.split()[1])
        check(steps <= RESUME_STEPS - STEPS + 20_000,
              f"the relaunch trained {steps} steps: it did not continue from the checkpoint",
              again.log)
        print(f"relaunch done: {done}", flush=True)
    except Failed as e:
        print(f"FAILED: {e}", flush=True)
        return 1
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(f"ok in {time.monotonic() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
