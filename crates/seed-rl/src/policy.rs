//! The policy the inference server runs for the actors: a copy of the learner's network that
//! picks up new parameters as the learner publishes them, so the policy changes under the
//! actors while they act (SEED's near-on-policy regime, paper Fig. 2b).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use eirl_inference_server::{Action, BatchPolicy, InferBatch, InferOutput, PolicyError};
use eirl_models::gpu::{Backend, ComputeDevice, DeviceMlp};
use eirl_models::{ActorCriticConfig, Categorical, ModelError, Parameterized, PolicyValueNetwork};
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
///
/// The forward pass runs on the CPU (the learner's dfdx network) or, built with
/// [`ServedPolicy::on_device`], on a GPU: the torso and policy head as a
/// [`DeviceMlp`] whose softmax runs on the device too, parameters uploaded when the learner
/// publishes. Sampling is on the CPU from the same random stream either way.
pub struct ServedPolicy {
    net: PolicyValueNetwork,
    device: Option<DeviceMlp<Box<dyn Backend>>>,
    board: Arc<ParamBoard>,
    seen: u64,
    rng: ChaCha8Rng,
    probs: Vec<f32>,
}

/// The torso and policy head of a published [`PolicyValueNetwork`] as one flat MLP parameter
/// vector ([`eirl_models::FusedMlp`]'s layout): every tensor but the value head's two.
pub fn policy_params(snapshot: &ParamSnapshot) -> Result<Vec<f32>, ModelError> {
    let n = snapshot.len().checked_sub(2).ok_or_else(|| {
        ModelError::Config("a policy-value network has at least four tensors".into())
    })?;
    Ok(snapshot[..n]
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .collect())
}

impl ServedPolicy {
    /// A policy with `net`'s architecture that follows `board`, on the CPU; sampling draws from
    /// `seed`.
    pub fn new(net: PolicyValueNetwork, board: Arc<ParamBoard>, seed: u64) -> Self {
        ServedPolicy {
            net,
            device: None,
            board,
            seen: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            probs: Vec::new(),
        }
    }

    /// As [`ServedPolicy::new`], with the forward pass on `device` (`cpu`, `cuda[:N]`, or
    /// `auto`). `cfg` must be the architecture `net` was built with. Fails when a GPU was asked
    /// for and cannot be used, saying why.
    pub fn on_device(
        net: PolicyValueNetwork,
        cfg: &ActorCriticConfig,
        board: Arc<ParamBoard>,
        seed: u64,
        device: ComputeDevice,
    ) -> Result<Self, ModelError> {
        match device.open()?.into_backend() {
            Some(backend) => Self::with_backend(net, cfg, board, seed, backend),
            None => Ok(Self::new(net, board, seed)),
        }
    }

    /// The forward pass on a given backend (tests run the GPU program on the host backend).
    pub fn with_backend(
        net: PolicyValueNetwork,
        cfg: &ActorCriticConfig,
        board: Arc<ParamBoard>,
        seed: u64,
        backend: Box<dyn Backend>,
    ) -> Result<Self, ModelError> {
        let mut sizes = vec![net.obs_dim()];
        sizes.extend(&cfg.hidden);
        sizes.push(net.num_actions());
        let mut device = DeviceMlp::new(backend, &sizes, cfg.activation, false)?;
        device.set_params(&policy_params(&net.export_params())?)?;
        let mut p = Self::new(net, board, seed);
        p.device = Some(device);
        Ok(p)
    }

    /// Where the forward pass runs: `"cpu"` or the GPU's name.
    pub fn device_name(&self) -> String {
        self.device
            .as_ref()
            .map_or_else(|| "cpu".into(), |d| d.backend().name())
    }

    fn refresh(&mut self) -> Result<(), PolicyError> {
        let v = self.board.version();
        if v != self.seen {
            let snap = self.board.snapshot();
            let bad = |e: ModelError| PolicyError::new(format!("published parameters: {e}"));
            match &mut self.device {
                Some(d) => d.set_params(&policy_params(&snap).map_err(bad)?),
                None => self.net.import_params(&snap),
            }
            .map_err(bad)?;
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
        let a_n = self.net.num_actions();
        let err = |e: ModelError| PolicyError::new(e.to_string());
        let probs = match &mut self.device {
            Some(d) => d.forward_softmax(batch.obs, batch.n, a_n).map_err(err)?,
            None => {
                let logits = self.net.logits(batch.obs, batch.n).map_err(err)?;
                self.probs.clear();
                for row in logits.chunks_exact(a_n) {
                    self.probs.extend(Categorical::probs(row));
                }
                &self.probs
            }
        };
        for p in probs.chunks_exact(a_n) {
            let a = Categorical::sample(p, &mut self.rng);
            out.actions.push(Action::Discrete(a as i64));
            out.aux.push(p[a].max(f32::MIN_POSITIVE).ln());
        }
        Ok(())
    }
}
