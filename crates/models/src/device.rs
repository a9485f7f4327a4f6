use dfdx::prelude::*;

use crate::error::{ModelError, check_len};

/// The compute device: dfdx's CPU backend, or CUDA with the `dfdx-cuda` feature.
#[cfg(not(feature = "dfdx-cuda"))]
pub type Device = dfdx::tensor::Cpu;
/// The compute device: dfdx's CPU backend, or CUDA with the `dfdx-cuda` feature.
#[cfg(feature = "dfdx-cuda")]
pub type Device = dfdx::tensor::Cuda;

/// A `[rows, cols]` f32 tensor with an optional gradient tape `T`.
pub type Matrix<T = NoneTape> = Tensor<(usize, usize), f32, Device, T>;
/// A `[len]` f32 tensor with an optional gradient tape `T`.
pub type Vector<T = NoneTape> = Tensor<(usize,), f32, Device, T>;

/// A device whose internal random stream (used only by dfdx's own samplers) is seeded.
pub fn device(seed: u64) -> Device {
    Device::seed_from_u64(seed)
}

/// Copies a row-major `[rows, cols]` slice onto the device.
pub fn matrix_from_slice(
    dev: &Device,
    data: &[f32],
    rows: usize,
    cols: usize,
) -> Result<Matrix, ModelError> {
    check_len("matrix", rows * cols, data.len())?;
    Ok(dev.tensor_from_vec(data.to_vec(), (rows, cols)))
}
