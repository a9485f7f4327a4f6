//! Test policies and helpers shared by the integration tests.

use std::time::{Duration, Instant};

use eirl_inference_server::{
    Action, BatchPolicy, EnvStep, InferBatch, InferOutput, PolicyError, ServerHandle, ServerStats,
};

/// Acts as a function of what it sees, so every reply can be checked:
/// action = obs[0] + 1000 · state[0] (discrete, or `[that, -that]` when `continuous`),
/// aux = [obs[0], state[0]], next_state = state + 1.
///
/// obs[0] = -1 makes it return an error, -2 makes it panic, -3 makes it return too few actions.
#[derive(Clone, Debug)]
pub struct ProbePolicy {
    pub obs_dim: usize,
    pub state_dim: usize,
    pub continuous: bool,
    pub delay: Duration,
}

impl ProbePolicy {
    pub fn new(obs_dim: usize) -> Self {
        Self {
            obs_dim,
            state_dim: 0,
            continuous: false,
            delay: Duration::ZERO,
        }
    }

    pub fn recurrent(mut self, state_dim: usize) -> Self {
        self.state_dim = state_dim;
        self
    }

    pub fn slow(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub fn continuous(mut self) -> Self {
        self.continuous = true;
        self
    }

    /// The action this policy takes for `obs0` with recurrent state `state0`.
    pub fn expected(&self, obs0: f32, state0: f32) -> Action {
        let value = obs0 + 1000.0 * state0;
        if self.continuous {
            Action::Continuous(vec![value, -value])
        } else {
            Action::Discrete(value as i64)
        }
    }
}

impl BatchPolicy for ProbePolicy {
    fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    fn aux_dim(&self) -> usize {
        2
    }

    fn state_dim(&self) -> usize {
        self.state_dim
    }

    fn infer(&mut self, batch: InferBatch<'_>, out: &mut InferOutput) -> Result<(), PolicyError> {
        out.clear();
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        for i in 0..batch.n {
            let obs0 = batch.obs[i * self.obs_dim];
            let state = &batch.state[i * self.state_dim..(i + 1) * self.state_dim];
            let state0 = state.first().copied().unwrap_or(0.0);
            match obs0 as i64 {
                -1 => return Err(PolicyError::new("obs[0] = -1 is poison")),
                -2 => panic!("obs[0] = -2 is deadly poison"),
                // Too few actions: a malformed output.
                -3 => return Ok(()),
                _ => {}
            }
            out.actions.push(self.expected(obs0, state0));
            out.aux.extend([obs0, state0]);
            out.next_state.extend(state.iter().map(|s| s + 1.0));
        }
        Ok(())
    }
}

/// A step whose obs[0] is `obs0` (the rest filled with `obs0 + 0.5`).
pub fn step(env_id: u64, run_id: u64, n: u64, obs0: f32, obs_dim: usize) -> EnvStep {
    let mut obs = vec![obs0 + 0.5; obs_dim];
    obs[0] = obs0;
    EnvStep::first(env_id, run_id, n, obs)
}

/// Polls the server's stats until `done` holds; panics with the last stats after `timeout`.
pub fn wait_for(
    server: &ServerHandle,
    timeout: Duration,
    what: &str,
    done: impl Fn(&ServerStats) -> bool,
) -> ServerStats {
    let start = Instant::now();
    loop {
        let stats = server.stats();
        if done(&stats) {
            return stats;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {what}: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `f` on a thread and fails the test if it does not finish within `timeout` (a hang
/// becomes a failure, not a stuck test run).
pub fn within<T: Send + 'static>(
    timeout: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(timeout) {
        Ok(value) => value,
        Err(_) => panic!("{what} did not finish within {timeout:?}"),
    }
}

/// This process's resident set size in KiB, from /proc/self/status (0 where unavailable).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// A tiny deterministic generator (xorshift64*), so the load test needs no RNG crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}
