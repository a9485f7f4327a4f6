//! Networks on an NVIDIA GPU through [cudarc](https://docs.rs/cudarc): cuBLAS GEMMs and a few
//! small kernels compiled at run time by NVRTC.
//!
//! A [`DeviceMlp`] runs the same network as [`crate::FusedMlp`] — the same flat parameter
//! layout (`W₀ [in, h₁]` row-major, `b₀`, `W₁`, …), forward, backward and Adam update — as a
//! short program of device operations ([`Backend`]):
//! - a GEMM per layer and per gradient, given to the backend with cuBLAS's column-major
//!   arguments (a row-major product `C = A·B` is the column-major `Cᵀ = Bᵀ·Aᵀ`, so no transposes
//!   are materialised);
//! - `bias_act` (bias and activation in place), `act_grad`, `col_sums` (bias gradients),
//!   `softmax_rows` (a policy's probabilities) and `adam` kernels.
//!
//! Two backends execute that program:
//! - [`CudaBackend`] (feature `cuda`): the GPU. The CUDA libraries (`libcuda`, `libcublas`,
//!   `libnvrtc`) are loaded when a backend is created, not linked, so the crate builds and its
//!   CPU paths run on machines without them; [`ComputeDevice::Cuda`] then fails with an error
//!   that says what is missing, and [`ComputeDevice::Auto`] falls back to the CPU.
//! - [`HostBackend`]: plain Rust with cuBLAS's GEMM semantics, argument for argument. It is the
//!   CPU reference that the device program (layouts, leading dimensions, transposes, offsets) is
//!   tested against, on every machine.
//!
//! ```
//! use eirl_models::gpu::{DeviceMlp, HostBackend};
//! use eirl_models::{Activation, FusedMlp, Workspace};
//!
//! let mut fused = FusedMlp::new(&[3, 8, 2], Activation::Tanh, false)?;
//! for (i, p) in fused.params_mut().iter_mut().enumerate() {
//!     *p = (i as f32 * 0.37).sin() * 0.5;
//! }
//! let mut dev = DeviceMlp::new(HostBackend::new(), &[3, 8, 2], Activation::Tanh, false)?;
//! dev.set_params(fused.params())?;
//! let x = [0.1, -0.4, 0.3, 0.9, 0.0, -0.2];
//! let on_device = dev.forward(&x, 2)?.to_vec();
//! let mut ws = Workspace::default();
//! let on_cpu = fused.forward(&x, 2, &mut ws)?;
//! for (a, b) in on_device.iter().zip(on_cpu) {
//!     assert!((a - b).abs() < 1e-5);
//! }
//! # Ok::<(), eirl_models::ModelError>(())
//! ```

#[cfg(feature = "cuda")]
mod cuda;
mod host;
mod kernels;
mod mlp;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ModelError;
use crate::mlp::Activation;

#[cfg(feature = "cuda")]
pub use cuda::{CudaBackend, compile_kernels, cuda_library_dirs};
pub use host::HostBackend;
pub use kernels::{KERNEL_NAMES, KERNEL_SOURCE};
pub use mlp::DeviceMlp;

/// Where a network runs: `cpu`, `cuda` (GPU 0), `cuda:N`, `auto` (the first GPU when the
/// CUDA libraries load and a device answers, else the CPU), or `host` (the GPU's program run by
/// [`HostBackend`] on the CPU: slow, for checking a device path end to end without a GPU).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ComputeDevice {
    /// The CPU (the default).
    #[default]
    Cpu,
    /// The GPU with this ordinal.
    Cuda(usize),
    /// GPU 0 where one is usable, else the CPU.
    Auto,
    /// The device program on [`HostBackend`].
    Host,
}

impl fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComputeDevice::Cpu => f.write_str("cpu"),
            ComputeDevice::Cuda(0) => f.write_str("cuda"),
            ComputeDevice::Cuda(n) => write!(f, "cuda:{n}"),
            ComputeDevice::Auto => f.write_str("auto"),
            ComputeDevice::Host => f.write_str("host"),
        }
    }
}

impl FromStr for ComputeDevice {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ModelError::Config(format!(
                "unknown device {s:?} (expected cpu, cuda, cuda:N, auto or host)"
            ))
        };
        match s {
            "cpu" => Ok(ComputeDevice::Cpu),
            "cuda" | "gpu" => Ok(ComputeDevice::Cuda(0)),
            "auto" => Ok(ComputeDevice::Auto),
            "host" => Ok(ComputeDevice::Host),
            _ => {
                let n = s.strip_prefix("cuda:").ok_or_else(bad)?;
                n.parse().map(ComputeDevice::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl Serialize for ComputeDevice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ComputeDevice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A [`ComputeDevice`] after `auto` is decided.
#[derive(Debug)]
pub enum Resolved {
    /// The CPU.
    Cpu,
    /// The device program on the host backend.
    Host(HostBackend),
    /// A GPU backend, ready to use.
    #[cfg(feature = "cuda")]
    Cuda(Box<CudaBackend>),
}

impl ComputeDevice {
    /// Opens the device: `cpu` as is; `cuda` opens a [`CudaBackend`] or fails saying why (no
    /// library, no driver, no such GPU, or a build without the `cuda` feature); `auto` opens
    /// GPU 0 and falls back to the CPU, logging why at `info`.
    pub fn open(self) -> Result<Resolved, ModelError> {
        match self {
            ComputeDevice::Cpu => Ok(Resolved::Cpu),
            ComputeDevice::Host => Ok(Resolved::Host(HostBackend::new())),
            ComputeDevice::Cuda(ordinal) => open_cuda(ordinal),
            ComputeDevice::Auto => match open_cuda(0) {
                Ok(r) => Ok(r),
                Err(e) => {
                    tracing::info!("device auto: using the CPU ({e})");
                    Ok(Resolved::Cpu)
                }
            },
        }
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(ordinal: usize) -> Result<Resolved, ModelError> {
    CudaBackend::new(ordinal).map(|b| Resolved::Cuda(Box::new(b)))
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(_ordinal: usize) -> Result<Resolved, ModelError> {
    Err(ModelError::Device(
        "this build of eirl-models has no GPU support: enable its `cuda` feature".into(),
    ))
}

/// A range of a backend buffer: buffer `id`, starting at element `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub id: usize,
    pub off: usize,
}

impl Span {
    /// The start of buffer `id`.
    pub fn buf(id: usize) -> Self {
        Span { id, off: 0 }
    }

    /// This span moved `by` elements further.
    pub fn at(self, by: usize) -> Self {
        Span {
            id: self.id,
            off: self.off + by,
        }
    }
}

/// `C ← α·op(A)·op(B) + β·C` on column-major matrices, exactly as `cublasSgemm` takes it:
/// `op(A)` is `m × k`, `op(B)` is `k × n`, `C` is `m × n`; a transposed operand is stored as its
/// transpose. With `β = 0`, `C` is not read (as in cuBLAS).
#[derive(Clone, Copy, Debug)]
pub struct Gemm {
    pub transa: bool,
    pub transb: bool,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub alpha: f32,
    pub a: Span,
    pub lda: usize,
    pub b: Span,
    pub ldb: usize,
    pub beta: f32,
    pub c: Span,
    pub ldc: usize,
}

/// Elements a column-major `rows × cols` matrix with leading dimension `ld` spans.
fn extent(rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        ld * (cols - 1) + rows
    }
}

impl Gemm {
    /// Checks leading dimensions and that every operand lies inside its buffer (`len` gives a
    /// buffer's length), so no backend reads or writes out of bounds.
    pub fn check(&self, len: impl Fn(usize) -> usize) -> Result<(), ModelError> {
        let (ar, ac) = if self.transa {
            (self.k, self.m)
        } else {
            (self.m, self.k)
        };
        let (br, bc) = if self.transb {
            (self.n, self.k)
        } else {
            (self.k, self.n)
        };
        for (what, span, rows, cols, ld) in [
            ("A", self.a, ar, ac, self.lda),
            ("B", self.b, br, bc, self.ldb),
            ("C", self.c, self.m, self.n, self.ldc),
        ] {
            if ld < rows.max(1) {
                return Err(ModelError::Device(format!(
                    "GEMM operand {what}: leading dimension {ld} < {rows} rows"
                )));
            }
            check_span(&len, what, span, extent(rows, cols, ld))?;
        }
        Ok(())
    }
}

/// Fails unless `span` holds `n` elements of its buffer.
pub(crate) fn check_span(
    len: impl Fn(usize) -> usize,
    what: &str,
    span: Span,
    n: usize,
) -> Result<(), ModelError> {
    let have = len(span.id);
    if span.off.checked_add(n).is_some_and(|end| end <= have) {
        Ok(())
    } else {
        Err(ModelError::Device(format!(
            "{what}: {n} elements from offset {} overrun buffer {} of {have}",
            span.off, span.id
        )))
    }
}

/// The spans each kernel reads or writes, checked against the buffers (`len` gives a buffer's
/// length) before any backend runs it: one definition for every backend.
pub(crate) mod spans {
    use super::{Span, check_span, extent};
    use crate::error::ModelError;

    pub fn bias_act(
        len: impl Fn(usize) -> usize,
        y: Span,
        bias: Span,
        rows: usize,
        cols: usize,
    ) -> Result<(), ModelError> {
        check_span(&len, "bias_act output", y, rows * cols)?;
        check_span(&len, "bias_act bias", bias, cols)
    }

    pub fn act_grad(
        len: impl Fn(usize) -> usize,
        delta: Span,
        out: Span,
        n: usize,
    ) -> Result<(), ModelError> {
        check_span(&len, "act_grad delta", delta, n)?;
        check_span(&len, "act_grad output", out, n)
    }

    pub fn col_sums(
        len: impl Fn(usize) -> usize,
        dst: Span,
        src: Span,
        rows: usize,
        cols: usize,
    ) -> Result<(), ModelError> {
        check_span(&len, "col_sums output", dst, cols)?;
        check_span(&len, "col_sums input", src, rows * cols)
    }

    pub fn softmax_rows(
        len: impl Fn(usize) -> usize,
        dst: Span,
        src: Span,
        rows: usize,
        cols: usize,
        ld: usize,
    ) -> Result<(), ModelError> {
        if ld < cols {
            return Err(ModelError::Device(format!(
                "softmax_rows: row stride {ld} < {cols} columns"
            )));
        }
        check_span(&len, "softmax_rows output", dst, rows * cols)?;
        check_span(&len, "softmax_rows input", src, extent(cols, rows, ld))
    }

    pub fn adam(len: impl Fn(usize) -> usize, bufs: [Span; 4], n: usize) -> Result<(), ModelError> {
        for (what, s) in ["adam p", "adam g", "adam m", "adam v"]
            .into_iter()
            .zip(bufs)
        {
            check_span(&len, what, s, n)?;
        }
        Ok(())
    }
}

/// The non-linearity a kernel applies, as the kernels number it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Identity = 0,
    Relu = 1,
    Tanh = 2,
}

impl From<Activation> for Act {
    fn from(a: Activation) -> Self {
        match a {
            Activation::Relu => Act::Relu,
            Activation::Tanh => Act::Tanh,
        }
    }
}

/// One Adam update's scalars, as [`crate::Adam`]'s flat step computes them: the clip `scale`,
/// `1/√(1 − β₂ᵗ)` and `step = −lr/(1 − β₁ᵗ)`.
#[derive(Clone, Copy, Debug)]
pub struct AdamScalars {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub scale: f32,
    pub inv_sqrt_bc2: f32,
    pub step: f32,
}

/// The device operations a [`DeviceMlp`] is written in. Buffers are f32 arrays named by the id
/// [`alloc`](Self::alloc) returns; every operation checks its spans before it runs.
/// Operations may run asynchronously; [`download`](Self::download) waits for them.
pub trait Backend: Send {
    /// What runs the program (`"host"`, or the GPU's name).
    fn name(&self) -> String;
    /// A new zeroed buffer of `len` elements.
    fn alloc(&mut self, len: usize) -> Result<usize, ModelError>;
    /// Releases a buffer; its id is not used again.
    fn free(&mut self, id: usize);
    /// Length of buffer `id` (0 once freed).
    fn len(&self, id: usize) -> usize;
    /// Copies `src` into the buffer at `dst`.
    fn upload(&mut self, dst: Span, src: &[f32]) -> Result<(), ModelError>;
    /// Copies `dst.len()` elements from `src` out, after every queued operation.
    fn download(&mut self, src: Span, dst: &mut [f32]) -> Result<(), ModelError>;
    /// `cublasSgemm`.
    fn gemm(&mut self, g: &Gemm) -> Result<(), ModelError>;
    /// `y[r, c] ← act(y[r, c] + bias[c])` for a row-major `[rows, cols]` `y`.
    fn bias_act(
        &mut self,
        y: Span,
        bias: Span,
        rows: usize,
        cols: usize,
        act: Act,
    ) -> Result<(), ModelError>;
    /// `delta[i] ← delta[i] · act'(z[i])`, written with the activation's output `out = act(z)`.
    fn act_grad(&mut self, delta: Span, out: Span, len: usize, act: Act) -> Result<(), ModelError>;
    /// `dst[c] ← Σ_r src[r, c]` for a row-major `[rows, cols]` `src`.
    fn col_sums(
        &mut self,
        dst: Span,
        src: Span,
        rows: usize,
        cols: usize,
    ) -> Result<(), ModelError>;
    /// `dst[r, ·] ← softmax(src[r, 0..cols])`, `src` rows `ld` apart, `dst` rows `cols` apart.
    fn softmax_rows(
        &mut self,
        dst: Span,
        src: Span,
        rows: usize,
        cols: usize,
        ld: usize,
    ) -> Result<(), ModelError>;
    /// One Adam step over `len` parameters with gradients `g` and moments `m`, `v`.
    fn adam(
        &mut self,
        p: Span,
        g: Span,
        m: Span,
        v: Span,
        len: usize,
        k: &AdamScalars,
    ) -> Result<(), ModelError>;
}

/// A boxed backend is a backend, so one [`DeviceMlp`] type serves whichever device a run picks.
impl<B: Backend + ?Sized> Backend for Box<B> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn alloc(&mut self, len: usize) -> Result<usize, ModelError> {
        (**self).alloc(len)
    }
    fn free(&mut self, id: usize) {
        (**self).free(id)
    }
    fn len(&self, id: usize) -> usize {
        (**self).len(id)
    }
    fn upload(&mut self, dst: Span, src: &[f32]) -> Result<(), ModelError> {
        (**self).upload(dst, src)
    }
    fn download(&mut self, src: Span, dst: &mut [f32]) -> Result<(), ModelError> {
        (**self).download(src, dst)
    }
    fn gemm(&mut self, g: &Gemm) -> Result<(), ModelError> {
        (**self).gemm(g)
    }
    fn bias_act(
        &mut self,
        y: Span,
        bias: Span,
        rows: usize,
        cols: usize,
        act: Act,
    ) -> Result<(), ModelError> {
        (**self).bias_act(y, bias, rows, cols, act)
    }
    fn act_grad(&mut self, delta: Span, out: Span, len: usize, act: Act) -> Result<(), ModelError> {
        (**self).act_grad(delta, out, len, act)
    }
    fn col_sums(
        &mut self,
        dst: Span,
        src: Span,
        rows: usize,
        cols: usize,
    ) -> Result<(), ModelError> {
        (**self).col_sums(dst, src, rows, cols)
    }
    fn softmax_rows(
        &mut self,
        dst: Span,
        src: Span,
        rows: usize,
        cols: usize,
        ld: usize,
    ) -> Result<(), ModelError> {
        (**self).softmax_rows(dst, src, rows, cols, ld)
    }
    fn adam(
        &mut self,
        p: Span,
        g: Span,
        m: Span,
        v: Span,
        len: usize,
        k: &AdamScalars,
    ) -> Result<(), ModelError> {
        (**self).adam(p, g, m, v, len, k)
    }
}

impl Resolved {
    /// The opened GPU as a boxed backend; `None` for the CPU.
    pub fn into_backend(self) -> Option<Box<dyn Backend>> {
        match self {
            Resolved::Cpu => None,
            Resolved::Host(b) => Some(Box::new(b)),
            #[cfg(feature = "cuda")]
            Resolved::Cuda(b) => Some(b),
        }
    }
}
