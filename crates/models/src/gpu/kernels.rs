//! The CUDA C source of the small kernels, compiled by NVRTC when a [`super::CudaBackend`] is
//! created. [`super::HostBackend`] implements the same operations in Rust.
//!
//! Element-wise kernels use grid-stride loops, so any launch size covers any length; the row and
//! column kernels give one thread a row or a column (policy heads have a few to a few dozen
//! columns).

/// The kernels' entry points, in the order [`super::CudaBackend`] loads them.
pub const KERNEL_NAMES: [&str; 5] = ["bias_act", "act_grad", "col_sums", "softmax_rows", "adam"];

/// CUDA C for every entry point in [`KERNEL_NAMES`].
pub const KERNEL_SOURCE: &str = r#"
__device__ __forceinline__ float eirl_act(float x, int act) {
    if (act == 1) return x > 0.0f ? x : 0.0f;
    if (act == 2) return tanhf(x);
    return x;
}

extern "C" __global__ void bias_act(float* y, const float* bias, int rows, int cols, int act) {
    long long n = (long long)rows * cols;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        y[i] = eirl_act(y[i] + bias[i % cols], act);
    }
}

extern "C" __global__ void act_grad(float* delta, const float* out, int len, int act) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < len;
         i += (long long)gridDim.x * blockDim.x) {
        float a = out[i];
        if (act == 1) {
            if (a <= 0.0f) delta[i] = 0.0f;
        } else if (act == 2) {
            delta[i] *= 1.0f - a * a;
        }
    }
}

extern "C" __global__ void col_sums(float* dst, const float* src, int rows, int cols) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x) {
        float s = 0.0f;
        for (int r = 0; r < rows; ++r) s += src[(long long)r * cols + c];
        dst[c] = s;
    }
}

extern "C" __global__ void softmax_rows(float* dst, const float* src, int rows, int cols, int ld) {
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += gridDim.x * blockDim.x) {
        const float* x = src + (long long)r * ld;
        float* p = dst + (long long)r * cols;
        float m = __int_as_float(0xff800000);  // -inf
        for (int c = 0; c < cols; ++c) m = fmaxf(m, x[c]);
        float z = 0.0f;
        for (int c = 0; c < cols; ++c) {
            p[c] = expf(x[c] - m);
            z += p[c];
        }
        for (int c = 0; c < cols; ++c) p[c] = p[c] / z;
    }
}

extern "C" __global__ void adam(float* p, const float* g, float* m, float* v, int len,
                                float beta1, float beta2, float eps, float scale,
                                float inv_sqrt_bc2, float step) {
    float c1 = (1.0f - beta1) * scale;
    float c2 = (1.0f - beta2) * scale * scale;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < len;
         i += (long long)gridDim.x * blockDim.x) {
        float gi = g[i];
        float mi = m[i] * beta1 + gi * c1;
        float vi = v[i] * beta2 + (gi * gi) * c2;
        if (fabsf(mi) < 1.17549435e-38f) mi = 0.0f;
        if (fabsf(vi) < 1.17549435e-38f) vi = 0.0f;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) * inv_sqrt_bc2 + eps;
        p[i] = p[i] + (mi / denom) * step;
    }
}
"#;
