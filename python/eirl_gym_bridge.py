#!/usr/bin/env python3
"""eirl's local Gymnasium bridge: N Gymnasium envs stepped for an eirl process over stdin/stdout.

eirl starts this script (embedded in the `eirl-envs` crate, run as `python -c <script>`) for
every `gym:<id>` env or batch of envs (`crates/envs/src/gym.rs`), with the interpreter named by
`EIRL_PYTHON` (else `python3`). It is not meant to be run by hand.

Protocol: frames in both directions, each a little-endian u32 byte count and that many bytes.
After start-up the bridge sends one reply frame (the hello), then answers each request frame
with one reply frame, in order, except `C` and `Q`, which get none. A reply's first byte is 0
(ok, the payload follows) or 1 (error, a UTF-8 message follows; the bridge keeps serving).
All numbers are little-endian.

    hello       -> "eirl-gym-bridge 1 gymnasium <v> numpy <v> python <v>"
                   (or an error when numpy / gymnasium cannot be imported, then exit)
    M u32 n, u8 limited, id (UTF-8)
                -> the spaces: u32 obs_dim, f32 low[obs_dim], f32 high[obs_dim];
                   u8 0, u64 n (Discrete) | u8 1, u32 act_dim, f32 low[act_dim], f32 high[act_dim];
                   i64 max_episode_steps (the TimeLimit applied; -1: none),
                   f64 reward_threshold (NaN: none)
                   Makes n envs of `id` with `gymnasium.make` (its TimeLimit when limited, no
                   TimeLimit otherwise), replacing any envs made before.
    R n * (u8 has_seed, u64 seed)
                -> f32 obs[n * obs_dim]: env i reset with its seed (or None)
    S u8 autoreset, actions: i64 index[n] (Discrete) | f32 value[n * act_dim] (Box)
                -> f32 obs[n * obs_dim] (the step's own observations), f64 reward[n],
                   u8 flags[n] (bit 0 terminated, bit 1 truncated), then, with autoreset,
                   f32 obs[k * obs_dim]: the first observation of the next episode of each of
                   the k envs that ended, in env order (reset without a seed)
    G u32 i     -> f64 state[]: `env.unwrapped.state` of env i
    T u32 i, f64 state[]
                -> f32 obs[obs_dim]: sets `env.unwrapped.state`, returns the observation of it
    C           closes the envs (no reply)
    Q           closes the envs and exits (no reply); so does end of input

Observations are flattened and cast to float32; a discrete action `k` is passed to the env as
`space.start + k`, a box action as an array of the space's shape and dtype.
"""

import math
import signal
import struct
import sys

PROTOCOL = 1

_U32 = struct.Struct("<I")
_HEAD = struct.Struct("<IB")
_SEED = struct.Struct("<BQ")


class BridgeError(Exception):
    """An error that is reported to eirl as the reply to the request."""


def main():
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    # Whatever an env prints must not corrupt the frames: print() goes to stderr from here on.
    sys.stdout = sys.stderr
    # Ctrl-C is eirl's to handle; the bridge exits when eirl closes its stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def send(status, payload=b""):
        out.write(_HEAD.pack(len(payload) + 1, status) + payload)
        out.flush()

    try:
        import numpy as np
        import gymnasium as gym
    except Exception as e:  # noqa: BLE001 - every import failure is reported the same way
        send(1, f"{type(e).__name__}: {e}".encode())
        return 1
    hello = (
        f"eirl-gym-bridge {PROTOCOL} gymnasium {gym.__version__} numpy {np.__version__} "
        f"python {sys.version.split()[0]}"
    )
    send(0, hello.encode())
    envs = Envs(np, gym)
    while True:
        head = inp.read(4)
        if len(head) < 4:
            break
        (size,) = _U32.unpack(head)
        msg = inp.read(size)
        if len(msg) < size or size == 0:
            break
        op = msg[0]
        body = memoryview(msg)[1:]
        if op == ord("C"):
            envs.close()
            continue
        if op == ord("Q"):
            break
        try:
            reply = envs.handle(op, body)
        except BridgeError as e:
            send(1, str(e).encode())
        except Exception as e:  # noqa: BLE001 - the env's own errors go back to eirl
            send(1, f"{type(e).__name__}: {e}".encode())
        else:
            send(0, reply)
    envs.close()
    return 0


class Envs:
    """The envs of one `M` request and the handlers of the other requests."""

    def __init__(self, np, gym):
        self.np = np
        self.gym = gym
        self.envs = []
        self.obs_dim = 0
        self.flat = True
        self.discrete = True
        self.start = 0
        self.act_shape = ()
        self.act_dim = 0
        self.act_dtype = None

    def close(self):
        for env in self.envs:
            try:
                env.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        self.envs = []

    def handle(self, op, body):
        if op == ord("M"):
            return self.make(body)
        if not self.envs:
            raise BridgeError("no envs: the first request must make them")
        if op == ord("R"):
            return self.reset(body)
        if op == ord("S"):
            return self.step(body)
        if op == ord("G"):
            return self.get_state(body)
        if op == ord("T"):
            return self.set_state(body)
        raise BridgeError(f"unknown request {op!r}")

    def make(self, body):
        np, gym = self.np, self.gym
        n, limited = struct.unpack_from("<IB", body)
        env_id = bytes(body[5:]).decode()
        self.close()
        if n == 0:
            raise BridgeError("asked for zero envs")
        # `module:Env-v0` ids import `module` first, as gymnasium.make does.
        kwargs = {} if limited else {"max_episode_steps": -1}
        envs = []
        try:
            for _ in range(n):
                envs.append(gym.make(env_id, **kwargs))
        except gym.error.UnregisteredEnv as e:
            self.envs = envs
            self.close()
            raise BridgeError(
                f"Gymnasium has no env `{env_id}` ({type(e).__name__}: {e})"
            ) from e
        except Exception as e:  # noqa: BLE001
            self.envs = envs
            self.close()
            raise BridgeError(
                f"gymnasium.make({env_id!r}) failed ({type(e).__name__}: {e})"
            ) from e
        spec = envs[0].spec
        obs_space = envs[0].observation_space
        act_space = envs[0].action_space
        try:
            if not isinstance(obs_space, gym.spaces.Box):
                raise BridgeError(
                    f"`{env_id}` observes {obs_space}: eirl takes Box observation spaces only "
                    "(flattened to float32)"
                )
            low = np.asarray(obs_space.low, dtype=np.float32).reshape(-1)
            high = np.asarray(obs_space.high, dtype=np.float32).reshape(-1)
            payload = _U32.pack(low.size) + low.tobytes() + high.tobytes()
            if isinstance(act_space, gym.spaces.Discrete):
                self.discrete = True
                self.start = int(act_space.start)
                payload += struct.pack("<BQ", 0, int(act_space.n))
            elif isinstance(act_space, gym.spaces.Box):
                self.discrete = False
                self.act_shape = tuple(act_space.shape)
                self.act_dtype = act_space.dtype
                alow = np.asarray(act_space.low, dtype=np.float32).reshape(-1)
                ahigh = np.asarray(act_space.high, dtype=np.float32).reshape(-1)
                self.act_dim = alow.size
                payload += struct.pack("<BI", 1, alow.size) + alow.tobytes() + ahigh.tobytes()
            else:
                raise BridgeError(
                    f"`{env_id}` acts in {act_space}: eirl takes Discrete or Box action spaces "
                    "only"
                )
        except BaseException:
            for env in envs:
                env.close()
            raise
        steps = spec.max_episode_steps if spec is not None and limited else None
        threshold = spec.reward_threshold if spec is not None else None
        payload += struct.pack(
            "<qd",
            -1 if steps is None else int(steps),
            math.nan if threshold is None else float(threshold),
        )
        self.envs = envs
        self.obs_dim = low.size
        # A 1-D observation is stored as it comes; others are flattened first.
        self.flat = len(obs_space.shape) == 1
        return payload

    def reset(self, body):
        np = self.np
        n = len(self.envs)
        if len(body) != n * _SEED.size:
            raise BridgeError(f"reset of {len(body) // _SEED.size} envs, {n} are open")
        obs = np.empty((n, self.obs_dim), dtype=np.float32)
        for i, env in enumerate(self.envs):
            has_seed, seed = _SEED.unpack_from(body, i * _SEED.size)
            o, _ = env.reset(seed=seed if has_seed else None)
            obs[i] = np.reshape(o, -1)
        return obs.tobytes()

    def step(self, body):
        np = self.np
        n = len(self.envs)
        autoreset = body[0] != 0
        if self.discrete:
            if len(body) != 1 + 8 * n:
                raise BridgeError(f"expected {n} discrete actions")
            actions = [self.start + a for a in np.frombuffer(body, "<i8", n, 1).tolist()]
        else:
            if len(body) != 1 + 4 * n * self.act_dim:
                raise BridgeError(f"expected {n} actions of {self.act_dim} values")
            actions = (
                np.frombuffer(body, "<f4", n * self.act_dim, 1)
                .reshape((n,) + self.act_shape)
                .astype(self.act_dtype)
            )
        obs = np.empty((n, self.obs_dim), dtype=np.float32)
        rewards = np.empty(n, dtype="<f8")
        flags = np.zeros(n, dtype=np.uint8)
        first = []
        flat = self.flat
        for i, env in enumerate(self.envs):
            o, r, terminated, truncated, _ = env.step(actions[i])
            obs[i] = o if flat else np.reshape(o, -1)
            rewards[i] = r
            flags[i] = bool(terminated) | (bool(truncated) << 1)
            if autoreset and (terminated or truncated):
                o, _ = env.reset()
                first.append(np.asarray(o, dtype=np.float32).reshape(-1).tobytes())
        return obs.tobytes() + rewards.tobytes() + flags.tobytes() + b"".join(first)

    def _unwrapped(self, body):
        (i,) = _U32.unpack_from(body)
        if i >= len(self.envs):
            raise BridgeError(f"env {i} of {len(self.envs)}")
        env = self.envs[i].unwrapped
        state = getattr(env, "state", None)
        if state is None:
            raise BridgeError(
                f"{type(env).__name__} has no `state` attribute to read or set (before its "
                "first reset, or an env without one)"
            )
        return env, state

    def get_state(self, body):
        _, state = self._unwrapped(body)
        return self.np.asarray(state, dtype="<f8").reshape(-1).tobytes()

    def set_state(self, body):
        np = self.np
        env, state = self._unwrapped(body)
        new = np.frombuffer(body, "<f8", offset=4).copy()
        old = np.asarray(state)
        if new.size != old.size:
            raise BridgeError(f"state has length {new.size}, expected {old.size}")
        env.state = new.reshape(old.shape)
        get_obs = getattr(env, "_get_obs", None)
        obs = get_obs() if callable(get_obs) else env.state
        return np.asarray(obs, dtype=np.float32).reshape(-1).tobytes()


if __name__ == "__main__":
    sys.exit(main())
