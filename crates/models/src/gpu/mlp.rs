//! [`DeviceMlp`]: [`crate::FusedMlp`]'s network as a program of [`Backend`] operations.

use super::{Act, AdamScalars, Backend, Gemm, Span};
use crate::error::{ModelError, check_len};
use crate::fused::flat_layout;
use crate::mlp::Activation;
use crate::optim::AdamConfig;

/// An MLP `sizes[0] → … → sizes[n]` whose parameters, activations, gradients and Adam moments
/// live on a [`Backend`]. The flat parameter layout is [`crate::FusedMlp`]'s (and so
/// [`crate::Mlp`]'s [`crate::Parameterized`] order), so parameters move between them by copies.
///
/// Buffers for a batch are allocated on first use and grow (to the next power of two rows) when
/// a larger batch comes; a steady batch size allocates nothing per call.
pub struct DeviceMlp<B: Backend> {
    backend: B,
    sizes: Vec<usize>,
    activation: Act,
    activate_output: bool,
    /// Start of `W_l` in the parameters; `b_l` follows at `offsets[l] + in·out`.
    offsets: Vec<usize>,
    n_params: usize,
    params: usize,
    grads: Option<usize>,
    /// Adam's `[m, v]` and its step count.
    moments: Option<(usize, usize, i32)>,
    /// `acts[l]`: layer `l`'s input (`acts[0]` the batch), `[capacity, sizes[l]]`.
    acts: Vec<usize>,
    /// Backward scratch, `[capacity, max width]` each.
    delta: (usize, usize),
    /// Softmax output `[capacity, outputs]`.
    probs: usize,
    /// One float: a squared gradient norm.
    norm: usize,
    capacity: usize,
    /// Rows of the last forward pass (0: none yet).
    batch: usize,
    host_out: Vec<f32>,
}

impl<B: Backend> DeviceMlp<B> {
    /// The network with zero parameters (set them with [`DeviceMlp::set_params`]).
    pub fn new(
        mut backend: B,
        sizes: &[usize],
        activation: Activation,
        activate_output: bool,
    ) -> Result<Self, ModelError> {
        let (offsets, total) = flat_layout(sizes)?;
        let params = backend.alloc(total)?;
        let norm = backend.alloc(1)?;
        Ok(DeviceMlp {
            backend,
            sizes: sizes.to_vec(),
            activation: activation.into(),
            activate_output,
            offsets,
            n_params: total,
            params,
            grads: None,
            moments: None,
            acts: Vec::new(),
            delta: (usize::MAX, usize::MAX),
            probs: usize::MAX,
            norm,
            capacity: 0,
            batch: 0,
            host_out: Vec::new(),
        })
    }

    /// The backend (to name the device, say).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Layer widths, input first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.n_params
    }

    fn inputs(&self) -> usize {
        self.sizes[0]
    }

    fn outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    fn act_of(&self, l: usize) -> Act {
        if l + 2 < self.sizes.len() || self.activate_output {
            self.activation
        } else {
            Act::Identity
        }
    }

    /// Uploads all parameters (flat, [`crate::FusedMlp`]'s layout).
    pub fn set_params(&mut self, flat: &[f32]) -> Result<(), ModelError> {
        check_len("device MLP parameters", self.n_params, flat.len())?;
        self.backend.upload(Span::buf(self.params), flat)
    }

    /// Downloads all parameters.
    pub fn params(&mut self) -> Result<Vec<f32>, ModelError> {
        let mut out = vec![0.0; self.n_params];
        self.backend.download(Span::buf(self.params), &mut out)?;
        Ok(out)
    }

    /// The gradient buffer, once a backward pass has filled it.
    fn grads_buf(&self) -> Result<usize, ModelError> {
        self.grads.ok_or_else(|| {
            ModelError::Config("no gradients: call backward after a forward pass".into())
        })
    }

    /// Downloads the gradients of the last [`DeviceMlp::backward`].
    pub fn grads(&mut self) -> Result<Vec<f32>, ModelError> {
        let g = self.grads_buf()?;
        let mut out = vec![0.0; self.n_params];
        self.backend.download(Span::buf(g), &mut out)?;
        Ok(out)
    }

    /// Makes the batch buffers hold at least `batch` rows.
    fn reserve(&mut self, batch: usize) -> Result<(), ModelError> {
        if batch <= self.capacity {
            return Ok(());
        }
        let cap = batch.next_power_of_two();
        for id in self.acts.drain(..) {
            self.backend.free(id);
        }
        for id in [self.delta.0, self.delta.1, self.probs] {
            if id != usize::MAX {
                self.backend.free(id);
            }
        }
        for &w in &self.sizes {
            let id = self.backend.alloc(cap * w)?;
            self.acts.push(id);
        }
        let widest = self.sizes.iter().copied().max().unwrap_or(1);
        self.delta = (
            self.backend.alloc(cap * widest)?,
            self.backend.alloc(cap * widest)?,
        );
        self.probs = self.backend.alloc(cap * self.outputs())?;
        self.capacity = cap;
        Ok(())
    }

    /// Row-major `C [m, n] ← A·B (+ C if accumulate)`, `A` stored `[m, k]` (or `[k, m]` when
    /// `ta`), `B` stored `[k, n]` (or `[n, k]` when `tb`): the column-major `Cᵀ = Bᵀ·Aᵀ`.
    #[allow(clippy::too_many_arguments)]
    fn matmul(
        &mut self,
        m: usize,
        n: usize,
        k: usize,
        a: (Span, bool),
        b: (Span, bool),
        c: Span,
        accumulate: bool,
    ) -> Result<(), ModelError> {
        self.backend.gemm(&Gemm {
            transa: b.1,
            transb: a.1,
            m: n,
            n: m,
            k,
            alpha: 1.0,
            a: b.0,
            lda: if b.1 { k } else { n },
            b: a.0,
            ldb: if a.1 { m } else { k },
            beta: if accumulate { 1.0 } else { 0.0 },
            c,
            ldc: n,
        })
    }

    /// Runs the layers on `x: [batch, in]` (row-major), leaving the output on the device.
    fn forward_on_device(&mut self, x: &[f32], batch: usize) -> Result<(), ModelError> {
        check_len("MLP input", batch * self.inputs(), x.len())?;
        if batch == 0 {
            return Err(ModelError::Config("an empty batch".into()));
        }
        self.reserve(batch)?;
        self.backend.upload(Span::buf(self.acts[0]), x)?;
        for l in 0..self.sizes.len() - 1 {
            let (i, o) = (self.sizes[l], self.sizes[l + 1]);
            let w = Span {
                id: self.params,
                off: self.offsets[l],
            };
            let (h, y) = (Span::buf(self.acts[l]), Span::buf(self.acts[l + 1]));
            // y [batch, o] = h [batch, i] · W [i, o]
            self.matmul(batch, o, i, (h, false), (w, false), y, false)?;
            let act = self.act_of(l);
            self.backend.bias_act(y, w.at(i * o), batch, o, act)?;
        }
        self.batch = batch;
        Ok(())
    }

    /// Forward pass of `x: [batch, in]`; returns the output `[batch, out]`.
    pub fn forward(&mut self, x: &[f32], batch: usize) -> Result<&[f32], ModelError> {
        self.forward_on_device(x, batch)?;
        let out = Span::buf(self.acts[self.acts.len() - 1]);
        self.host_out.resize(batch * self.outputs(), 0.0);
        self.backend.download(out, &mut self.host_out)?;
        Ok(&self.host_out)
    }

    /// Forward pass, then the softmax of each output row's first `cols` values (a categorical
    /// policy's probabilities when those are its logits). Returns `[batch, cols]`.
    pub fn forward_softmax(
        &mut self,
        x: &[f32],
        batch: usize,
        cols: usize,
    ) -> Result<&[f32], ModelError> {
        let out_w = self.outputs();
        if cols == 0 || cols > out_w {
            return Err(ModelError::Config(format!(
                "softmax over {cols} of {out_w} outputs"
            )));
        }
        self.forward_on_device(x, batch)?;
        let out = Span::buf(self.acts[self.acts.len() - 1]);
        let probs = Span::buf(self.probs);
        self.backend.softmax_rows(probs, out, batch, cols, out_w)?;
        self.host_out.resize(batch * cols, 0.0);
        self.backend.download(probs, &mut self.host_out)?;
        Ok(&self.host_out)
    }

    /// Backward pass of the last forward pass given `∂L/∂output` (`[batch, out]`): the
    /// parameter gradients stay on the device ([`DeviceMlp::grads`] downloads them).
    pub fn backward(&mut self, d_output: &[f32]) -> Result<(), ModelError> {
        let batch = self.batch;
        if batch == 0 {
            return Err(ModelError::Config(
                "backward called before a forward pass".into(),
            ));
        }
        check_len("output gradient", batch * self.outputs(), d_output.len())?;
        let grads = match self.grads {
            Some(g) => g,
            None => {
                let g = self.backend.alloc(self.n_params)?;
                self.grads = Some(g);
                g
            }
        };
        let (mut delta, mut prev) = (Span::buf(self.delta.0), Span::buf(self.delta.1));
        self.backend.upload(delta, d_output)?;
        for l in (0..self.sizes.len() - 1).rev() {
            let (i, o) = (self.sizes[l], self.sizes[l + 1]);
            let act = self.act_of(l);
            // ∂L/∂z = ∂L/∂a ⊙ act'(z), from the activation's output.
            self.backend
                .act_grad(delta, Span::buf(self.acts[l + 1]), batch * o, act)?;
            let gw = Span {
                id: grads,
                off: self.offsets[l],
            };
            // ∂L/∂W [i, o] = hᵀ [i, batch] · δ [batch, o]
            let h = Span::buf(self.acts[l]);
            self.matmul(i, o, batch, (h, true), (delta, false), gw, false)?;
            // ∂L/∂b = Σ_rows δ
            self.backend.col_sums(gw.at(i * o), delta, batch, o)?;
            if l > 0 {
                // ∂L/∂h [batch, i] = δ [batch, o] · Wᵀ [o, i]
                let w = Span {
                    id: self.params,
                    off: self.offsets[l],
                };
                self.matmul(batch, i, o, (delta, false), (w, true), prev, false)?;
                std::mem::swap(&mut delta, &mut prev);
            }
        }
        Ok(())
    }

    /// The global L2 norm of the gradients, computed on the device (`gᵀg` as a 1×1 GEMM).
    pub fn grad_norm(&mut self) -> Result<f32, ModelError> {
        let g = self.grads_buf()?;
        let n = self.n_params;
        let g = Span::buf(g);
        self.matmul(1, 1, n, (g, false), (g, true), Span::buf(self.norm), false)?;
        let mut sq = [0.0f32];
        self.backend.download(Span::buf(self.norm), &mut sq)?;
        Ok(sq[0].sqrt())
    }

    /// One Adam step on the device with the gradients of the last backward pass, clipped to
    /// `max_grad_norm` by global norm: the arithmetic of [`crate::Adam`]'s flat step
    /// ([`crate::Optimizer::step_flat`]) without weight decay. Returns the gradient norm
    /// before clipping.
    pub fn adam_step(
        &mut self,
        cfg: &AdamConfig,
        max_grad_norm: Option<f32>,
    ) -> Result<f32, ModelError> {
        if cfg.weight_decay > 0.0 {
            return Err(ModelError::Config(
                "weight decay is not supported on a DeviceMlp".into(),
            ));
        }
        let norm = self.grad_norm()?;
        if !norm.is_finite() {
            return Err(ModelError::NonFinite("gradient"));
        }
        let scale = match max_grad_norm {
            Some(m) if norm > m && norm > 0.0 => m / norm,
            _ => 1.0,
        };
        let (m, v, t) = match self.moments {
            Some(mv) => mv,
            None => (
                self.backend.alloc(self.n_params)?,
                self.backend.alloc(self.n_params)?,
                0,
            ),
        };
        let t = t + 1;
        self.moments = Some((m, v, t));
        let bc1 = 1.0 - cfg.beta1.powi(t);
        let bc2 = 1.0 - cfg.beta2.powi(t);
        let k = AdamScalars {
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            scale,
            inv_sqrt_bc2: 1.0 / bc2.sqrt(),
            step: -cfg.lr / bc1,
        };
        let g = self.grads_buf()?;
        self.backend.adam(
            Span::buf(self.params),
            Span::buf(g),
            Span::buf(m),
            Span::buf(v),
            self.n_params,
            &k,
        )?;
        Ok(norm)
    }
}
