//! The policy the inference server runs for the actors: a copy of the learner's network that
//! picks up new parameters as the learner publishes them, so the policy changes under the
//! actors while they act (SEED's near-on-policy regime, paper Fig. 2b).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use eirl_inference_server::{Action, BatchPolicy, InferBatch, InferOutput, PolicyError};
use eirl_models::{Categorical, Parameterized, PolicyValueNetwork};
use parking_lot::Mutex;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Parameters as [`Parameterized::export_params`] lays them out.
pub type ParamSnapshot = Vec<(Vec<usize>, Vec<f32>)>;

/// Where the learner publishes its latest parameters and the inference thread reads them.
#[derive(Default)]
pub struct ParamBoard {
    latest: Mutex<Arc<ParamSnapshot>>,
    version: AtomicU64,
}

impl ParamBoard {
    /// Publishes `net`'s current parameters.
    pub fn publish<N: Parameterized>(&self, net: &N) {
        *self.latest.lock() = Arc::new(net.export_params());
        self.version.fetch_add(1, Ordering::Release);
    }

    /// The number of publications so far.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    fn snapshot(&self) -> Arc<ParamSnapshot> {
        self.latest.lock().clone()
    }
}

/// The served policy: samples `a ~ π(·|x)` and records `log μ(a|x)` as the unroll's behaviour
/// information (`aux_dim = 1`), which the V-trace learner turns into `ρ = π/μ`.
pub struct ServedPolicy {
    net: PolicyValueNetwork,
    board: Arc<ParamBoard>,
    seen: u64,
    rng: ChaCha8Rng,
}

impl ServedPolicy {
    /// A policy with `net`'s architecture that follows `board`; sampling draws from `seed`.
    pub fn new(net: PolicyValueNetwork, board: Arc<ParamBoard>, seed: u64) -> Self {
        ServedPolicy {
            net,
            board,
            seen: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    fn refresh(&mut self) -> Result<(), PolicyError> {
        let v = self.board.version();
        if v != self.seen {
            let snap = self.board.snapshot();
            self.net
                .import_params(&snap)
                .map_err(|e| PolicyError::new(format!("published parameters: {e}")))?;
            self.seen = v;
        }
        Ok(())
    }
}

impl BatchPolicy for ServedPolicy {
    fn obs_dim(&self) -> usize {
        self.net.obs_dim()
    }

    fn aux_dim(&self) -> usize {
        1
    }

    fn infer(&mut self, batch: InferBatch<'_>, out: &mut InferOutput) -> Result<(), PolicyError> {
        self.refresh()?;
        out.clear();
        let logits = self
            .net
            .logits(batch.obs, batch.n)
            .map_err(|e| PolicyError::new(e.to_string()))?;
        for row in logits.chunks_exact(self.net.num_actions()) {
            let p = Categorical::probs(row);
            let a = Categorical::sample(&p, &mut self.rng);
            out.actions.push(Action::Discrete(a as i64));
            out.aux.push(p[a].max(f32::MIN_POSITIVE).ln());
        }
        Ok(())
    }
}
