//! The trait a served policy implements: one forward over a batch of rows.

use crate::{Action, PolicyError};

/// What a served policy sees: `n` rows, row-major.
#[derive(Clone, Copy, Debug)]
pub struct InferBatch<'a> {
    /// Observations, `[n, obs_dim]`.
    pub obs: &'a [f32],
    /// Recurrent state per row, `[n, state_dim]`: zeros at an episode's start and after a slot
    /// reset, otherwise the `next_state` this policy returned for the env's previous step.
    pub state: &'a [f32],
    /// Number of rows, `1 ..= ServerConfig::max_batch`.
    pub n: usize,
}

/// What a served policy returns for an [`InferBatch`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InferOutput {
    /// One action per row, `[n]`.
    pub actions: Vec<Action>,
    /// Per-step behaviour information stored in unrolls (log-probs or logits, say), `[n, aux_dim]`.
    pub aux: Vec<f32>,
    /// Recurrent state after each row, `[n, state_dim]`.
    pub next_state: Vec<f32>,
}

impl InferOutput {
    /// Empties every field, keeping the allocations.
    pub fn clear(&mut self) {
        self.actions.clear();
        self.aux.clear();
        self.next_state.clear();
    }
}

/// A policy the server can serve: the batching thread owns it and calls [`infer`](Self::infer)
/// once per batch.
///
/// ```
/// use eirl_inference_server::{Action, BatchPolicy, InferBatch, InferOutput, PolicyError};
///
/// /// Pushes the cart toward the pole's lean (CartPole obs[2] is the pole angle).
/// struct LeanPolicy;
///
/// impl BatchPolicy for LeanPolicy {
///     fn obs_dim(&self) -> usize { 4 }
///     fn aux_dim(&self) -> usize { 0 }
///     fn infer(&mut self, batch: InferBatch<'_>, out: &mut InferOutput) -> Result<(), PolicyError> {
///         out.clear();
///         for row in batch.obs.chunks_exact(4) {
///             out.actions.push(Action::Discrete(i64::from(row[2] > 0.0)));
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait BatchPolicy: Send + 'static {
    /// Length of one observation; at least 1.
    fn obs_dim(&self) -> usize;
    /// Length of the per-step behaviour information stored in unrolls (0 for none).
    fn aux_dim(&self) -> usize;
    /// Length of the recurrent state kept per env (R2D2-ready); 0 for a feed-forward policy.
    fn state_dim(&self) -> usize {
        0
    }
    /// Clear `out` and fill it for `batch.n` rows.
    ///
    /// An error, output of the wrong shape, or a panic fails this batch only: its requests get
    /// [`TransportError::Policy`](crate::TransportError::Policy) and the server keeps serving.
    fn infer(&mut self, batch: InferBatch<'_>, out: &mut InferOutput) -> Result<(), PolicyError>;
}

impl<P: BatchPolicy + ?Sized> BatchPolicy for Box<P> {
    fn obs_dim(&self) -> usize {
        (**self).obs_dim()
    }
    fn aux_dim(&self) -> usize {
        (**self).aux_dim()
    }
    fn state_dim(&self) -> usize {
        (**self).state_dim()
    }
    fn infer(&mut self, batch: InferBatch<'_>, out: &mut InferOutput) -> Result<(), PolicyError> {
        (**self).infer(batch, out)
    }
}
