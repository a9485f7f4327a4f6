//! The sampled minibatch and a borrowed view of one stored transition.

/// A minibatch sampled from a replay memory, row-major and flat.
///
/// Shapes (`B = batch_size`): `obs` and `next_obs` are `[B, obs_dim]`, `actions` is
/// `[B, act_dim]`, `rewards`, `discounts`, `weights` and `indices` are `[B]`. A discrete action is
/// one `f32` holding the action index (`act_dim = 1`; exact for indices below 2²⁴).
///
/// `discounts[b]` is the multiplier of the bootstrap from `next_obs[b]`, `γⁿ·(1 − terminated)`:
/// zero at a true episode end, non-zero at a time-limit truncation.
///
/// `indices[b]` is the storage slot the row came from; pass it back to
/// [`crate::PrioritizedReplay::update_priorities`]. `weights[b]` is the importance-sampling
/// weight, `1.0` for uniform sampling.
///
/// Reuse one batch with `sample_into`: once it has grown to the batch size, sampling does not
/// allocate.
#[derive(Default, Clone, Debug)]
pub struct TransitionBatch {
    pub obs: Vec<f32>,
    pub actions: Vec<f32>,
    pub rewards: Vec<f32>,
    pub discounts: Vec<f32>,
    pub next_obs: Vec<f32>,
    pub indices: Vec<usize>,
    pub weights: Vec<f32>,
    pub batch_size: usize,
}

impl TransitionBatch {
    /// An empty batch; grown by the first `sample_into`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Row `b` of `obs` (`[obs_dim]`), or `None` past the batch.
    pub fn obs_row(&self, b: usize) -> Option<&[f32]> {
        row(&self.obs, self.batch_size, b)
    }

    /// Row `b` of `next_obs` (`[obs_dim]`), or `None` past the batch.
    pub fn next_obs_row(&self, b: usize) -> Option<&[f32]> {
        row(&self.next_obs, self.batch_size, b)
    }

    /// Row `b` of `actions` (`[act_dim]`), or `None` past the batch.
    pub fn action_row(&self, b: usize) -> Option<&[f32]> {
        row(&self.actions, self.batch_size, b)
    }

    /// Sizes every field for `batch_size` rows; keeps allocations when they are large enough.
    pub(crate) fn prepare(&mut self, batch_size: usize, obs_dim: usize, act_dim: usize) {
        self.batch_size = batch_size;
        self.obs.resize(batch_size * obs_dim, 0.0);
        self.next_obs.resize(batch_size * obs_dim, 0.0);
        self.actions.resize(batch_size * act_dim, 0.0);
        self.rewards.resize(batch_size, 0.0);
        self.discounts.resize(batch_size, 0.0);
        self.indices.resize(batch_size, 0);
        self.weights.resize(batch_size, 1.0);
    }
}

fn row(flat: &[f32], batch_size: usize, b: usize) -> Option<&[f32]> {
    if b >= batch_size {
        return None;
    }
    let dim = flat.len() / batch_size;
    flat.get(b * dim..(b + 1) * dim)
}

/// One stored transition, borrowed from the memory's flat arrays.
#[derive(Clone, Copy, Debug)]
pub struct Transition<'a> {
    pub obs: &'a [f32],
    pub action: &'a [f32],
    pub reward: f32,
    pub discount: f32,
    pub next_obs: &'a [f32],
}
