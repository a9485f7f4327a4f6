//! The device program run by plain Rust on the CPU: the reference for [`super::CudaBackend`].

use super::{Act, AdamScalars, Backend, Gemm, Span, check_span, spans};
use crate::error::ModelError;

/// Runs the device operations on the CPU, with cuBLAS's column-major GEMM semantics argument
/// for argument (a naive triple loop: this backend exists to check the program, not to be fast;
/// [`crate::FusedMlp`] is the fast CPU network).
#[derive(Debug, Default)]
pub struct HostBackend {
    bufs: Vec<Vec<f32>>,
}

impl HostBackend {
    pub fn new() -> Self {
        HostBackend::default()
    }

    fn span(&self, what: &str, s: Span, n: usize) -> Result<(), ModelError> {
        check_span(|id| self.len(id), what, s, n)
    }

    fn slice_mut(&mut self, s: Span, n: usize) -> &mut [f32] {
        &mut self.bufs[s.id][s.off..s.off + n]
    }

    fn slice(&self, s: Span, n: usize) -> &[f32] {
        &self.bufs[s.id][s.off..s.off + n]
    }
}

fn act(x: f32, a: Act) -> f32 {
    match a {
        Act::Identity => x,
        Act::Relu => x.max(0.0),
        Act::Tanh => x.tanh(),
    }
}

impl Backend for HostBackend {
    fn name(&self) -> String {
        "host".into()
    }

    fn alloc(&mut self, len: usize) -> Result<usize, ModelError> {
        self.bufs.push(vec![0.0; len]);
        Ok(self.bufs.len() - 1)
    }

    fn free(&mut self, id: usize) {
        if let Some(b) = self.bufs.get_mut(id) {
            *b = Vec::new();
        }
    }

    fn len(&self, id: usize) -> usize {
        self.bufs.get(id).map_or(0, Vec::len)
    }

    fn upload(&mut self, dst: Span, src: &[f32]) -> Result<(), ModelError> {
        self.span("upload", dst, src.len())?;
        self.slice_mut(dst, src.len()).copy_from_slice(src);
        Ok(())
    }

    fn download(&mut self, src: Span, dst: &mut [f32]) -> Result<(), ModelError> {
        self.span("download", src, dst.len())?;
        dst.copy_from_slice(self.slice(src, dst.len()));
        Ok(())
    }

    fn gemm(&mut self, g: &Gemm) -> Result<(), ModelError> {
        g.check(|id| self.len(id))?;
        let a_at = |i: usize, p: usize| {
            let idx = if g.transa {
                p + i * g.lda
            } else {
                i + p * g.lda
            };
            self.bufs[g.a.id][g.a.off + idx]
        };
        let b_at = |p: usize, j: usize| {
            let idx = if g.transb {
                j + p * g.ldb
            } else {
                p + j * g.ldb
            };
            self.bufs[g.b.id][g.b.off + idx]
        };
        let mut out = vec![0.0f32; g.m * g.n];
        for j in 0..g.n {
            for i in 0..g.m {
                let mut s = 0.0f32;
                for p in 0..g.k {
                    s += a_at(i, p) * b_at(p, j);
                }
                out[i + j * g.m] = s;
            }
        }
        let c = &mut self.bufs[g.c.id];
        for j in 0..g.n {
            for i in 0..g.m {
                let at = g.c.off + i + j * g.ldc;
                let old = if g.beta == 0.0 { 0.0 } else { g.beta * c[at] };
                c[at] = g.alpha * out[i + j * g.m] + old;
            }
        }
        Ok(())
    }

    fn bias_act(
        &mut self,
        y: Span,
        bias: Span,
        rows: usize,
        cols: usize,
        a: Act,
    ) -> Result<(), ModelError> {
        spans::bias_act(|id| self.len(id), y, bias, rows, cols)?;
        let b = self.slice(bias, cols).to_vec();
        for row in self.slice_mut(y, rows * cols).chunks_exact_mut(cols) {
            for (v, &bc) in row.iter_mut().zip(&b) {
                *v = act(*v + bc, a);
            }
        }
        Ok(())
    }

    fn act_grad(&mut self, delta: Span, out: Span, len: usize, a: Act) -> Result<(), ModelError> {
        spans::act_grad(|id| self.len(id), delta, out, len)?;
        let o = self.slice(out, len).to_vec();
        for (d, &o) in self.slice_mut(delta, len).iter_mut().zip(&o) {
            match a {
                Act::Identity => {}
                Act::Relu => {
                    if o <= 0.0 {
                        *d = 0.0;
                    }
                }
                Act::Tanh => *d *= 1.0 - o * o,
            }
        }
        Ok(())
    }

    fn col_sums(
        &mut self,
        dst: Span,
        src: Span,
        rows: usize,
        cols: usize,
    ) -> Result<(), ModelError> {
        spans::col_sums(|id| self.len(id), dst, src, rows, cols)?;
        let mut sums = vec![0.0f32; cols];
        for row in self.slice(src, rows * cols).chunks_exact(cols) {
            for (s, &v) in sums.iter_mut().zip(row) {
                *s += v;
            }
        }
        self.slice_mut(dst, cols).copy_from_slice(&sums);
        Ok(())
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
        let mut out = vec![0.0f32; rows * cols];
        for (r, p) in out.chunks_exact_mut(cols).enumerate() {
            let x = self.slice(src.at(r * ld), cols);
            let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            for (p, &x) in p.iter_mut().zip(x) {
                *p = (x - m).exp();
            }
            let z: f32 = p.iter().sum();
            p.iter_mut().for_each(|p| *p /= z);
        }
        self.slice_mut(dst, rows * cols).copy_from_slice(&out);
        Ok(())
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
        let flush = |x: f32| if x.abs() < f32::MIN_POSITIVE { 0.0 } else { x };
        let c1 = (1.0 - k.beta1) * k.scale;
        let c2 = (1.0 - k.beta2) * k.scale * k.scale;
        for i in 0..len {
            let gi = self.bufs[g.id][g.off + i];
            let mi = flush(self.bufs[m.id][m.off + i] * k.beta1 + gi * c1);
            let vi = flush(self.bufs[v.id][v.off + i] * k.beta2 + (gi * gi) * c2);
            self.bufs[m.id][m.off + i] = mi;
            self.bufs[v.id][v.off + i] = vi;
            let denom = vi.sqrt() * k.inv_sqrt_bc2 + k.eps;
            let pi = &mut self.bufs[p.id][p.off + i];
            *pi += (mi / denom) * k.step;
        }
        Ok(())
    }
}
