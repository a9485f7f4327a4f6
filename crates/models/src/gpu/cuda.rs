//! [`CudaBackend`]: the device program on an NVIDIA GPU (cuBLAS SGEMM and NVRTC-compiled
//! kernels, through cudarc with the CUDA libraries loaded at run time).

#![allow(unsafe_code)] // CUDA calls on raw device pointers; each block says why it is sound.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use cudarc::cublas::{CudaBlas, sys::cublasOperation_t};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PinnedHostSlice,
    PushKernelArg, sys::CUdeviceptr,
};
use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};

use super::kernels::{KERNEL_NAMES, KERNEL_SOURCE};
use super::{Act, AdamScalars, Backend, Gemm, Span, check_span, spans};
use crate::error::ModelError;

const THREADS: u32 = 256;
/// Most blocks an element-wise launch uses (the kernels loop over the rest).
const MAX_BLOCKS: usize = 4096;

fn cuda_err(what: &str, e: impl std::fmt::Debug) -> ModelError {
    ModelError::Device(format!("{what}: {e:?}"))
}

/// Folders searched for the CUDA user-space libraries before the system's own paths: every
/// folder in `EIRL_CUDA_LIB_DIR` (`:`-separated), then the `lib` folders of NVIDIA's pip wheels
/// (`nvidia-cublas-cu12`, `nvidia-cuda-nvrtc-cu12`) in a `.venv-py` above the working folder or
/// above the executable.
pub fn cuda_library_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("EIRL_CUDA_LIB_DIR")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    let mut starts = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        starts.push(dir);
    }
    for start in starts {
        for dir in start.ancestors() {
            let lib = dir.join(".venv-py").join("lib");
            let Ok(pys) = std::fs::read_dir(&lib) else {
                continue;
            };
            for py in pys.flatten() {
                for wheel in ["cuda_nvrtc", "cublas"] {
                    let d = py
                        .path()
                        .join("site-packages/nvidia")
                        .join(wheel)
                        .join("lib");
                    if d.is_dir() && !dirs.contains(&d) {
                        dirs.push(d);
                    }
                }
            }
            break;
        }
    }
    dirs
}

/// Opens, once per process, the CUDA libraries found in [`cuda_library_dirs`], so that cudarc's
/// loads by name find them (the dynamic loader matches an already loaded library by its soname).
fn preload() {
    static LOADED: OnceLock<Vec<libloading::Library>> = OnceLock::new();
    LOADED.get_or_init(|| {
        let mut libs = Vec::new();
        for dir in cuda_library_dirs() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            // Dependencies first: the builtins before NVRTC, cublasLt before cuBLAS.
            files.sort_by_key(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                (
                    !name.contains("builtins") && !name.contains("cublasLt"),
                    name.to_owned(),
                )
            });
            for f in files {
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let wanted = ["libnvrtc", "libcublas"]
                    .iter()
                    .any(|p| name.starts_with(p))
                    && name.contains(".so");
                if wanted {
                    // SAFETY: these are NVIDIA's libraries, whose initialisers only set up
                    // their own state.
                    match unsafe { libloading::Library::new(&f) } {
                        Ok(l) => libs.push(l),
                        Err(e) => tracing::debug!("not loading {}: {e}", f.display()),
                    }
                }
            }
        }
        libs
    });
}

const INSTALL: &str = "install the CUDA 12 libraries (e.g. `.venv-py/bin/pip install \
    nvidia-cublas-cu12 nvidia-cuda-nvrtc-cu12`, found there automatically) or point \
    EIRL_CUDA_LIB_DIR at the folders that hold them";

/// Fails, saying which and how to get it, unless cudarc can load each named library.
fn require_libraries(driver: bool, blas: bool) -> Result<(), ModelError> {
    preload();
    // SAFETY: `is_culib_present` only tries to open the library by its candidate names.
    let present = unsafe {
        [
            (
                driver,
                "libcuda (the NVIDIA driver)",
                cudarc::driver::sys::is_culib_present(),
            ),
            (blas, "libcublas", cudarc::cublas::sys::is_culib_present()),
            (true, "libnvrtc", cudarc::nvrtc::sys::is_culib_present()),
        ]
    };
    let missing: Vec<&str> = present
        .iter()
        .filter(|(needed, _, ok)| *needed && !ok)
        .map(|(_, name, _)| *name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let driver_missing = missing.iter().any(|m| m.starts_with("libcuda "));
    Err(ModelError::Device(format!(
        "CUDA is not usable here: {} not found; {}",
        missing.join(", "),
        if driver_missing {
            "this machine has no NVIDIA driver (no GPU), so use --device cpu or auto"
        } else {
            INSTALL
        }
    )))
}

/// The kernels of [`super::KERNEL_SOURCE`] compiled to PTX by NVRTC. Needs only `libnvrtc`
/// (no GPU), so it checks the kernel source on any machine that has the library.
pub fn compile_kernels() -> Result<String, ModelError> {
    require_libraries(false, false)?;
    let opts = CompileOptions {
        name: Some("eirl_kernels.cu".into()),
        ..CompileOptions::default()
    };
    let ptx = compile_ptx_with_opts(KERNEL_SOURCE, opts)
        .map_err(|e| cuda_err("compiling the kernels with NVRTC", e))?;
    Ok(ptx.to_src())
}

struct Kernels {
    bias_act: CudaFunction,
    act_grad: CudaFunction,
    col_sums: CudaFunction,
    softmax_rows: CudaFunction,
    adam: CudaFunction,
}

/// The device program on one GPU. Operations queue on one stream; a
/// [`download`](Backend::download) waits for them. Uploads and downloads go through pinned host
/// buffers.
pub struct CudaBackend {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    kernels: Kernels,
    bufs: Vec<Option<CudaSlice<f32>>>,
    /// Write-combined pinned memory for uploads.
    up: Option<PinnedHostSlice<f32>>,
    /// Plain pinned memory for downloads.
    down: Option<PinnedHostSlice<f32>>,
    /// An upload from `up` may still be in flight (the next write to `up` waits for it).
    upload_pending: bool,
    name: String,
}

impl std::fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaBackend")
            .field("name", &self.name)
            .finish()
    }
}

impl CudaBackend {
    /// Opens GPU `ordinal`: loads the libraries, creates a context, stream and cuBLAS handle,
    /// and compiles the kernels. Fails with what is missing when there is no driver, no such
    /// GPU, or no cuBLAS / NVRTC.
    pub fn new(ordinal: usize) -> Result<Self, ModelError> {
        require_libraries(true, true)?;
        let count = CudaContext::device_count().map_err(|e| cuda_err("counting GPUs", e))?;
        if ordinal >= usize::try_from(count).unwrap_or(0) {
            return Err(ModelError::Device(format!(
                "no GPU {ordinal}: the driver reports {count}"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| cuda_err("creating a CUDA context", e))?;
        let name = ctx.name().unwrap_or_else(|_| format!("GPU {ordinal}"));
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone()).map_err(|e| cuda_err("creating cuBLAS", e))?;
        let ptx = compile_ptx_with_opts(KERNEL_SOURCE, CompileOptions::default())
            .map_err(|e| cuda_err("compiling the kernels with NVRTC", e))?;
        let module = ctx
            .load_module(ptx)
            .map_err(|e| cuda_err("loading the kernels", e))?;
        let f = |n: &str| {
            module
                .load_function(n)
                .map_err(|e| cuda_err(&format!("kernel {n}"), e))
        };
        let [a, b, c, d, e] = KERNEL_NAMES;
        let kernels = Kernels {
            bias_act: f(a)?,
            act_grad: f(b)?,
            col_sums: f(c)?,
            softmax_rows: f(d)?,
            adam: f(e)?,
        };
        Ok(CudaBackend {
            ctx,
            stream,
            blas,
            kernels,
            bufs: Vec::new(),
            up: None,
            down: None,
            upload_pending: false,
            name,
        })
    }

    fn span(&self, what: &str, s: Span, n: usize) -> Result<(), ModelError> {
        check_span(|id| self.len(id), what, s, n)
    }

    /// The device address of `s` (checked by the caller to lie inside its buffer).
    fn ptr(&self, s: Span) -> Result<CUdeviceptr, ModelError> {
        let buf = self
            .bufs
            .get(s.id)
            .and_then(Option::as_ref)
            .ok_or_else(|| ModelError::Device(format!("buffer {} was freed", s.id)))?;
        let (p, _sync) = buf.device_ptr(&self.stream);
        Ok(p + (s.off * std::mem::size_of::<f32>()) as CUdeviceptr)
    }

    /// The first `n` elements of a pinned staging buffer (for uploads or downloads), grown as
    /// needed. Taking the slice waits for the buffer's last recorded use.
    fn staging(&mut self, upload: bool, n: usize) -> Result<&mut [f32], ModelError> {
        let slot = if upload { &mut self.up } else { &mut self.down };
        if slot.as_ref().is_none_or(|s| s.len() < n) {
            let flags = if upload {
                cudarc::driver::sys::CU_MEMHOSTALLOC_WRITECOMBINED
            } else {
                0
            };
            // SAFETY: the memory is written (upload) or filled by a copy (download) before it
            // is read.
            let s = unsafe {
                self.ctx
                    .alloc_pinned_with_flags::<f32>(n.next_power_of_two(), flags)
            }
            .map_err(|e| cuda_err("allocating pinned host memory", e))?;
            *slot = Some(s);
        }
        let s = slot
            .as_mut()
            .ok_or_else(|| ModelError::Device("no staging buffer".into()))?;
        Ok(&mut s.as_mut_slice().map_err(|e| cuda_err("pinned memory", e))?[..n])
    }

    fn grid(n: usize) -> LaunchConfig {
        let blocks = n.div_ceil(THREADS as usize).clamp(1, MAX_BLOCKS);
        LaunchConfig {
            grid_dim: (blocks as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    fn int(n: usize, what: &str) -> Result<i32, ModelError> {
        i32::try_from(n).map_err(|_| ModelError::Device(format!("{what} {n} exceeds i32")))
    }
}

fn bind(ctx: &CudaContext) -> Result<(), ModelError> {
    ctx.bind_to_thread()
        .map_err(|e| cuda_err("binding the CUDA context", e))
}

impl Backend for CudaBackend {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn alloc(&mut self, len: usize) -> Result<usize, ModelError> {
        let b = self
            .stream
            .alloc_zeros::<f32>(len.max(1))
            .map_err(|e| cuda_err("allocating GPU memory", e))?;
        self.bufs.push(Some(b));
        Ok(self.bufs.len() - 1)
    }

    fn free(&mut self, id: usize) {
        if let Some(b) = self.bufs.get_mut(id) {
            *b = None;
        }
    }

    fn len(&self, id: usize) -> usize {
        self.bufs
            .get(id)
            .and_then(Option::as_ref)
            .map_or(0, CudaSlice::len)
    }

    fn upload(&mut self, dst: Span, src: &[f32]) -> Result<(), ModelError> {
        self.span("upload", dst, src.len())?;
        if src.is_empty() {
            return Ok(());
        }
        if self.upload_pending {
            self.stream
                .synchronize()
                .map_err(|e| cuda_err("waiting for the GPU", e))?;
            self.upload_pending = false;
        }
        let d = self.ptr(dst)?;
        bind(&self.ctx)?;
        let stream = self.stream.cu_stream();
        let host = self.staging(true, src.len())?;
        host.copy_from_slice(src);
        // SAFETY: `d` addresses `src.len()` floats inside a live device buffer (checked above);
        // the pinned source is not written or freed before the stream has run this copy
        // (`upload_pending`, and every download synchronises).
        unsafe { cudarc::driver::result::memcpy_htod_async(d, host, stream) }
            .map_err(|e| cuda_err("copying to the GPU", e))?;
        self.upload_pending = true;
        Ok(())
    }

    fn download(&mut self, src: Span, dst: &mut [f32]) -> Result<(), ModelError> {
        self.span("download", src, dst.len())?;
        if dst.is_empty() {
            return Ok(());
        }
        let s = self.ptr(src)?;
        bind(&self.ctx)?;
        let stream = self.stream.clone();
        let host = self.staging(false, dst.len())?;
        // SAFETY: `s` addresses `dst.len()` floats inside a live device buffer (checked above);
        // the stream is synchronised before the pinned memory is read.
        unsafe { cudarc::driver::result::memcpy_dtoh_async(host, s, stream.cu_stream()) }
            .map_err(|e| cuda_err("copying from the GPU", e))?;
        stream
            .synchronize()
            .map_err(|e| cuda_err("waiting for the GPU", e))?;
        dst.copy_from_slice(host);
        self.upload_pending = false;
        Ok(())
    }

    fn gemm(&mut self, g: &Gemm) -> Result<(), ModelError> {
        g.check(|id| self.len(id))?;
        if g.m == 0 || g.n == 0 {
            return Ok(());
        }
        let op = |t: bool| {
            if t {
                cublasOperation_t::CUBLAS_OP_T
            } else {
                cublasOperation_t::CUBLAS_OP_N
            }
        };
        let (a, b, c) = (self.ptr(g.a)?, self.ptr(g.b)?, self.ptr(g.c)?);
        let i = |n, w| Self::int(n, w);
        let (m, n, k) = (i(g.m, "m")?, i(g.n, "n")?, i(g.k, "k")?);
        let (lda, ldb, ldc) = (i(g.lda, "lda")?, i(g.ldb, "ldb")?, i(g.ldc, "ldc")?);
        bind(&self.ctx)?;
        // SAFETY: `Gemm::check` bounded every operand by its buffer for these dimensions and
        // leading dimensions; alpha and beta are host scalars (cuBLAS's default pointer mode).
        unsafe {
            cudarc::cublas::result::sgemm(
                *self.blas.handle(),
                op(g.transa),
                op(g.transb),
                m,
                n,
                k,
                &g.alpha,
                a as *const f32,
                lda,
                b as *const f32,
                ldb,
                &g.beta,
                c as *mut f32,
                ldc,
            )
        }
        .map_err(|e| cuda_err("cuBLAS SGEMM", e))
    }

    fn bias_act(
        &mut self,
        y: Span,
        bias: Span,
        rows: usize,
        cols: usize,
        act: Act,
    ) -> Result<(), ModelError> {
        spans::bias_act(|id| self.len(id), y, bias, rows, cols)?;
        let (py, pb) = (self.ptr(y)?, self.ptr(bias)?);
        let (r, c, a) = (
            Self::int(rows, "rows")?,
            Self::int(cols, "cols")?,
            act as i32,
        );
        let mut l = self.stream.launch_builder(&self.kernels.bias_act);
        l.arg(&py).arg(&pb).arg(&r).arg(&c).arg(&a);
        // SAFETY: the spans were checked to hold `rows·cols` and `cols` floats, which is what
        // the kernel touches.
        unsafe { l.launch(Self::grid(rows * cols)) }
            .map(drop)
            .map_err(|e| cuda_err("bias_act", e))
    }

    fn act_grad(&mut self, delta: Span, out: Span, len: usize, act: Act) -> Result<(), ModelError> {
        spans::act_grad(|id| self.len(id), delta, out, len)?;
        if act == Act::Identity {
            return Ok(());
        }
        let (pd, po) = (self.ptr(delta)?, self.ptr(out)?);
        let (n, a) = (Self::int(len, "len")?, act as i32);
        let mut l = self.stream.launch_builder(&self.kernels.act_grad);
        l.arg(&pd).arg(&po).arg(&n).arg(&a);
        // SAFETY: both spans hold `len` floats.
        unsafe { l.launch(Self::grid(len)) }
            .map(drop)
            .map_err(|e| cuda_err("act_grad", e))
    }

    fn col_sums(
        &mut self,
        dst: Span,
        src: Span,
        rows: usize,
        cols: usize,
    ) -> Result<(), ModelError> {
        spans::col_sums(|id| self.len(id), dst, src, rows, cols)?;
        let (pd, ps) = (self.ptr(dst)?, self.ptr(src)?);
        let (r, c) = (Self::int(rows, "rows")?, Self::int(cols, "cols")?);
        let mut l = self.stream.launch_builder(&self.kernels.col_sums);
        l.arg(&pd).arg(&ps).arg(&r).arg(&c);
        // SAFETY: `dst` holds `cols` floats and `src` `rows·cols`.
        unsafe { l.launch(Self::grid(cols)) }
            .map(drop)
            .map_err(|e| cuda_err("col_sums", e))
    }

    fn softmax_rows(
        &mut self,
        dst: Span,
        src: Span,
        rows: usize,
        cols: usize,
        ld: usize,
    ) -> Result<(), ModelError> {
        spans::softmax_rows(|id| self.len(id), dst, src, rows, cols, ld)?;
        let (pd, ps) = (self.ptr(dst)?, self.ptr(src)?);
        let (r, c, s) = (
            Self::int(rows, "rows")?,
            Self::int(cols, "cols")?,
            Self::int(ld, "ld")?,
        );
        let mut l = self.stream.launch_builder(&self.kernels.softmax_rows);
        l.arg(&pd).arg(&ps).arg(&r).arg(&c).arg(&s);
        // SAFETY: the spans hold the rows the kernel reads and writes (checked above).
        unsafe { l.launch(Self::grid(rows)) }
            .map(drop)
            .map_err(|e| cuda_err("softmax_rows", e))
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
        spans::adam(|id| self.len(id), [p, g, m, v], len)?;
        let ptrs = [self.ptr(p)?, self.ptr(g)?, self.ptr(m)?, self.ptr(v)?];
        let n = Self::int(len, "len")?;
        let mut l = self.stream.launch_builder(&self.kernels.adam);
        for q in &ptrs {
            l.arg(q);
        }
        l.arg(&n)
            .arg(&k.beta1)
            .arg(&k.beta2)
            .arg(&k.eps)
            .arg(&k.scale)
            .arg(&k.inv_sqrt_bc2)
            .arg(&k.step);
        // SAFETY: all four spans hold `len` floats.
        unsafe { l.launch(Self::grid(len)) }
            .map(drop)
            .map_err(|e| cuda_err("adam", e))
    }
}
