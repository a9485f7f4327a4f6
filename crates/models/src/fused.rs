//! A fused MLP: forward, backward and parameters in one flat buffer, on the `gemm` crate.
//!
//! dfdx records every operation of a step on a tape and allocates each intermediate and each
//! gradient afresh; for the small networks and batches of RL (a `4 → 256 → 256 → 2` Q-network at
//! batch 64) that bookkeeping costs as much as the arithmetic. [`FusedMlp`] runs the same
//! network with the same matrix kernels dfdx uses (`gemm`), but with preallocated workspaces,
//! the bias and activation applied in place, the backward pass written out by hand, and the
//! parameters and gradients each in one flat buffer that an optimizer updates in a single pass
//! ([`crate::Optimizer::step_flat`]).
//!
//! The flat layout is the [`crate::Parameterized`] order of the equivalent [`crate::Mlp`]:
//! `W₀ [in, h₁]` row-major, `b₀ [h₁]`, `W₁`, `b₁`, …, so values move between the two by plain
//! copies and checkpoints do not change.

use crate::error::{ModelError, check_len};
use crate::mlp::Activation;

/// Rows at or below which a layer runs as row-by-row vector products instead of a GEMM
/// (acting on one observation, or a handful of environments).
const GEMV_ROWS: usize = 2;

/// `dst = (accumulate ? dst : 0) + lhs · rhs` for row-major `dst [m, n]`, where `lhs [m, k]` and
/// `rhs [k, n]` are given as (slice, row stride, column stride), so transposes are free.
#[allow(unsafe_code)] // the `gemm` crate's entry point takes raw pointers and strides.
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: (&[f32], usize, usize),
    rhs: (&[f32], usize, usize),
    parallel: bool,
) {
    // Every index the kernel reads or writes lies inside its slice: the largest offset of an
    // `[r, c]` view with strides `(rs, cs)` is `(r − 1)·rs + (c − 1)·cs`.
    let fits = |len: usize, r: usize, c: usize, rs: usize, cs: usize| {
        r == 0 || c == 0 || (r - 1) * rs + (c - 1) * cs < len
    };
    assert!(
        dst.len() >= m * n
            && fits(lhs.0.len(), m, k, lhs.1, lhs.2)
            && fits(rhs.0.len(), k, n, rhs.1, rhs.2),
        "fused matmul: operand slices too short for [{m}, {k}] x [{k}, {n}]"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    // SAFETY: the assertion above bounds every offset the kernel touches by its slice's length;
    // `dst` is borrowed mutably and cannot alias `lhs` or `rhs`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.2 as isize,
            lhs.1 as isize,
            rhs.0.as_ptr(),
            rhs.2 as isize,
            rhs.1 as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            // `Rayon(0)`: every rayon thread, for products above `gemm`'s own threshold.
            if parallel {
                gemm::Parallelism::Rayon(0)
            } else {
                gemm::Parallelism::None
            },
        );
    }
}

/// `y = x W + b` for a few rows: each output row is `b + Σ_i x_i W_i`, a sum of contiguous rows
/// of `W` that the compiler vectorises.
fn gemv_rows(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], inputs: usize, outputs: usize) {
    for (xr, yr) in x.chunks_exact(inputs).zip(y.chunks_exact_mut(outputs)) {
        yr.copy_from_slice(b);
        for (&xi, wr) in xr.iter().zip(w.chunks_exact(outputs)) {
            if xi != 0.0 {
                for (o, &wv) in yr.iter_mut().zip(wr) {
                    *o += xi * wv;
                }
            }
        }
    }
}

/// Buffers reused from one call to the next: no allocation once they have grown to the batch.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// `acts[0]` is the input, `acts[l + 1]` layer `l`'s output (after its activation).
    acts: Vec<Vec<f32>>,
    /// `∂L/∂(layer output)` while walking back, and the one below it.
    delta: Vec<f32>,
    delta_prev: Vec<f32>,
    /// `∂L/∂θ` in the flat parameter layout.
    grads: Vec<f32>,
    batch: usize,
    /// Whether `gemm` may spread one product over threads (off inside a split step, whose
    /// blocks already run in parallel).
    parallel: bool,
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace {
            acts: Vec::new(),
            delta: Vec::new(),
            delta_prev: Vec::new(),
            grads: Vec::new(),
            batch: 0,
            parallel: true,
        }
    }
}

impl Workspace {
    /// The gradients of the last [`FusedMlp::backward`], in the flat parameter layout.
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }

    /// The network output of the last forward pass, `[batch, out]` row-major.
    pub fn output(&self) -> &[f32] {
        self.acts.last().map_or(&[], |a| &a[..])
    }
}

/// Checks `sizes` and returns where each layer's `W_l` starts in the flat parameter layout (its
/// `b_l` follows the `in·out` weights) and the number of parameters.
pub(crate) fn flat_layout(sizes: &[usize]) -> Result<(Vec<usize>, usize), ModelError> {
    crate::mlp::check_sizes(sizes, 1)?;
    let mut offsets = Vec::with_capacity(sizes.len() - 1);
    let mut total = 0;
    for w in sizes.windows(2) {
        offsets.push(total);
        total += w[0] * w[1] + w[1];
    }
    Ok((offsets, total))
}

/// An MLP `sizes[0] → … → sizes[n]` whose parameters live in one flat buffer (see the module
/// documentation for the layout).
#[derive(Clone, Debug)]
pub struct FusedMlp {
    sizes: Vec<usize>,
    activation: Activation,
    activate_output: bool,
    params: Vec<f32>,
    /// Start of `W_l` in `params`; `b_l` follows at `offsets[l] + in·out`.
    offsets: Vec<usize>,
}

impl FusedMlp {
    /// An MLP with the given layer widths and zero parameters (fill them with
    /// [`FusedMlp::params_mut`]).
    pub fn new(
        sizes: &[usize],
        activation: Activation,
        activate_output: bool,
    ) -> Result<Self, ModelError> {
        let (offsets, total) = flat_layout(sizes)?;
        Ok(FusedMlp {
            sizes: sizes.to_vec(),
            activation,
            activate_output,
            params: vec![0.0; total],
            offsets,
        })
    }

    /// Layer widths, input first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// The shapes of the parameter tensors in flat order: `[in, out]`, `[out]` per layer.
    pub fn param_shapes(&self) -> Vec<Vec<usize>> {
        self.sizes
            .windows(2)
            .flat_map(|w| [vec![w[0], w[1]], vec![w[1]]])
            .collect()
    }

    /// All parameters, flat.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// All parameters, flat and mutable.
    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    fn layer(&self, l: usize) -> (&[f32], &[f32]) {
        let (i, o) = (self.sizes[l], self.sizes[l + 1]);
        let w = &self.params[self.offsets[l]..self.offsets[l] + i * o];
        let b = &self.params[self.offsets[l] + i * o..self.offsets[l] + i * o + o];
        (w, b)
    }

    fn activated(&self, l: usize) -> bool {
        l + 2 < self.sizes.len() || self.activate_output
    }

    /// Forward pass of `x: [batch, in]` (row-major), keeping every layer's output in `ws` for a
    /// following [`FusedMlp::backward`]. Returns the output `[batch, out]`.
    pub fn forward<'w>(
        &self,
        x: &[f32],
        batch: usize,
        ws: &'w mut Workspace,
    ) -> Result<&'w [f32], ModelError> {
        check_len("MLP input", batch * self.inputs(), x.len())?;
        let layers = self.sizes.len() - 1;
        ws.acts.resize_with(layers + 1, Vec::new);
        ws.batch = batch;
        ws.acts[0].clear();
        ws.acts[0].extend_from_slice(x);
        for l in 0..layers {
            let (i, o) = (self.sizes[l], self.sizes[l + 1]);
            let (w, b) = self.layer(l);
            let (before, after) = ws.acts.split_at_mut(l + 1);
            let h = &before[l];
            let y = &mut after[0];
            y.resize(batch * o, 0.0);
            if batch <= GEMV_ROWS {
                gemv_rows(h, w, b, y, i, o);
            } else {
                for row in y.chunks_exact_mut(o) {
                    row.copy_from_slice(b);
                }
                matmul(batch, o, i, y, true, (h, i, 1), (w, o, 1), ws.parallel);
            }
            if self.activated(l) {
                match self.activation {
                    Activation::Relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
                    Activation::Tanh => y.iter_mut().for_each(|v| *v = v.tanh()),
                }
            }
        }
        Ok(ws.output())
    }

    /// Backward pass for the last [`FusedMlp::forward`] given `∂L/∂output` (`[batch, out]`):
    /// writes `∂L/∂θ` into the workspace ([`Workspace::grads`]).
    pub fn backward(&self, d_output: &[f32], ws: &mut Workspace) -> Result<(), ModelError> {
        if ws.acts.len() != self.sizes.len() {
            return Err(ModelError::Config(
                "backward called before a forward pass".into(),
            ));
        }
        check_len("output gradient", ws.batch * self.outputs(), d_output.len())?;
        ws.delta.clear();
        ws.delta.extend_from_slice(d_output);
        self.backward_delta(ws);
        Ok(())
    }

    /// The backward pass from `∂L/∂output` already in `ws.delta`, after a forward pass.
    fn backward_delta(&self, ws: &mut Workspace) {
        let batch = ws.batch;
        let layers = self.sizes.len() - 1;
        ws.grads.resize(self.params.len(), 0.0);
        for l in (0..layers).rev() {
            let (i, o) = (self.sizes[l], self.sizes[l + 1]);
            // ∂L/∂z = ∂L/∂a ⊙ act'(z), written with the activation's output a.
            if self.activated(l) {
                let a = &ws.acts[l + 1];
                match self.activation {
                    Activation::Relu => ws.delta.iter_mut().zip(a).for_each(|(d, &a)| {
                        if a <= 0.0 {
                            *d = 0.0;
                        }
                    }),
                    Activation::Tanh => ws
                        .delta
                        .iter_mut()
                        .zip(a)
                        .for_each(|(d, &a)| *d *= 1.0 - a * a),
                }
            }
            let off = self.offsets[l];
            let (gw, rest) = ws.grads[off..].split_at_mut(i * o);
            let gb = &mut rest[..o];
            // ∂L/∂W = hᵀ δ  ([i, batch] · [batch, o]); hᵀ is h read with swapped strides.
            let h = &ws.acts[l];
            matmul(
                i,
                o,
                batch,
                gw,
                false,
                (h, 1, i),
                (&ws.delta, o, 1),
                ws.parallel,
            );
            // ∂L/∂b = Σ_rows δ.
            gb.fill(0.0);
            for row in ws.delta.chunks_exact(o) {
                for (g, &d) in gb.iter_mut().zip(row) {
                    *g += d;
                }
            }
            if l > 0 {
                // ∂L/∂h = δ Wᵀ  ([batch, o] · [o, i]).
                let (w, _) = self.layer(l);
                ws.delta_prev.resize(batch * i, 0.0);
                matmul(
                    batch,
                    i,
                    o,
                    &mut ws.delta_prev,
                    false,
                    (&ws.delta, o, 1),
                    (w, 1, o),
                    ws.parallel,
                );
                std::mem::swap(&mut ws.delta, &mut ws.delta_prev);
            }
        }
    }
}

/// Rows per block below which a batch is not split over threads.
const MIN_SPLIT_ROWS: usize = 16;

impl FusedMlp {
    /// Row blocks [`FusedMlp::train_split`] uses for `batch` rows: one per rayon thread, each
    /// of at least [`MIN_SPLIT_ROWS`] rows.
    pub fn split_blocks(batch: usize) -> usize {
        rayon::current_num_threads()
            .min(batch / MIN_SPLIT_ROWS)
            .max(1)
    }

    /// A gradient step's forward and backward passes with the batch split into row blocks,
    /// one per workspace in `blocks` (sized by [`FusedMlp::split_blocks`]), run in parallel.
    /// For each block `grad_out(first_row, output, d_output)` writes `∂L/∂output` of the
    /// block's rows (`output`, `d_output`: `[rows, out]`); the parameter gradients of the
    /// whole batch end up in `blocks[0]` ([`Workspace::grads`]), and block `k`'s outputs in
    /// `blocks[k]` ([`Workspace::output`]).
    pub fn train_split<F>(
        &self,
        x: &[f32],
        batch: usize,
        blocks: &mut [Workspace],
        grad_out: F,
    ) -> Result<(), ModelError>
    where
        F: Fn(usize, &[f32], &mut [f32]) + Sync,
    {
        use rayon::prelude::*;
        check_len("MLP input", batch * self.inputs(), x.len())?;
        if blocks.is_empty() {
            return Err(ModelError::Config("train_split needs a workspace".into()));
        }
        let rows = batch.div_ceil(blocks.len()).max(1);
        let (inputs, outputs) = (self.inputs(), self.outputs());
        let parallel = blocks.len() == 1;
        let run = |k: usize, ws: &mut Workspace| -> Result<(), ModelError> {
            let first = (k * rows).min(batch);
            let last = ((k + 1) * rows).min(batch);
            ws.parallel = parallel;
            self.forward(&x[first * inputs..last * inputs], last - first, ws)?;
            ws.delta.clear();
            ws.delta.resize((last - first) * outputs, 0.0);
            let output = ws.acts.last().map_or(&[][..], |a| &a[..]);
            grad_out(first, output, &mut ws.delta);
            self.backward_delta(ws);
            Ok(())
        };
        if blocks.len() == 1 {
            run(0, &mut blocks[0])?;
        } else {
            blocks
                .par_iter_mut()
                .enumerate()
                .map(|(k, ws)| run(k, ws))
                .collect::<Result<(), ModelError>>()?;
            let (head, rest) = blocks.split_at_mut(1);
            for ws in rest {
                for (a, b) in head[0].grads.iter_mut().zip(&ws.grads) {
                    *a += b;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The naive triple loop agrees with every stride combination the engine uses.
    #[test]
    fn matmul_matches_naive_products_for_transposed_operands() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut want = vec![0.0; m * n];
        for r in 0..m {
            for c in 0..n {
                want[r * n + c] = (0..k).map(|j| a[r * k + j] * b[j * n + c]).sum();
            }
        }
        let mut got = vec![0.0; m * n];
        matmul(m, n, k, &mut got, false, (&a, k, 1), (&b, n, 1), false);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5);
        }
        // aᵀ stored as [k, m] and read transposed gives the same product.
        let mut at = vec![0.0; k * m];
        for r in 0..m {
            for j in 0..k {
                at[j * m + r] = a[r * k + j];
            }
        }
        let mut got2 = vec![1.0; m * n];
        matmul(m, n, k, &mut got2, true, (&at, 1, m), (&b, n, 1), true);
        for (g, w) in got2.iter().zip(&want) {
            assert!((g - (w + 1.0)).abs() < 1e-5);
        }
    }

    #[test]
    fn rows_path_and_gemm_path_agree() {
        let mut net = FusedMlp::new(&[3, 8, 2], Activation::Tanh, false).unwrap();
        for (i, p) in net.params_mut().iter_mut().enumerate() {
            *p = (i as f32 * 0.7).sin() * 0.5;
        }
        let x: Vec<f32> = (0..12).map(|i| (i as f32).cos()).collect();
        let mut ws = Workspace::default();
        let all = net.forward(&x, 4, &mut ws).unwrap().to_vec();
        for r in 0..4 {
            let one = net.forward(&x[r * 3..r * 3 + 3], 1, &mut ws).unwrap();
            for (a, b) in one.iter().zip(&all[r * 2..r * 2 + 2]) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
        assert!(net.forward(&x[..5], 2, &mut ws).is_err());
    }
}
