//! Flat parameter vectors: TRPO works in `ℝ^P`, networks keep per-layer tensors.

use eirl_models::tensor::*;
use eirl_models::{Gradients, ParamRef, Parameterized};

use crate::error::ImitationError;

/// All parameters concatenated in [`Parameterized::params`] order.
pub fn flat_params<N: Parameterized + ?Sized>(net: &N) -> Vec<f32> {
    net.params().iter().flat_map(ParamRef::to_vec).collect()
}

/// Overwrites all parameters from a flat vector laid out as [`flat_params`] returns it.
pub fn set_flat_params<N: Parameterized + ?Sized>(
    net: &mut N,
    theta: &[f32],
) -> Result<(), ImitationError> {
    let total = net.num_params();
    if theta.len() != total {
        return Err(ImitationError::Config(format!(
            "flat parameter vector has {} values, the network {total}",
            theta.len()
        )));
    }
    let sizes: Vec<usize> = net.params().iter().map(ParamRef::numel).collect();
    let mut offset = 0;
    for (mut p, n) in net.params_mut().into_iter().zip(sizes) {
        p.copy_from(&theta[offset..offset + n])?;
        offset += n;
    }
    Ok(())
}

/// The gradient of every parameter, flat in [`flat_params`] order; parameters the loss did not
/// touch get zeros.
pub fn flat_gradients<N: Parameterized + ?Sized>(net: &N, grads: &mut Gradients) -> Vec<f32> {
    let mut out = Vec::with_capacity(net.num_params());
    for p in net.params() {
        match p {
            ParamRef::Matrix(t) => match grads.try_alloc_for(t) {
                Ok(()) => out.extend(grads.get(t).as_vec()),
                Err(_) => out.extend(std::iter::repeat_n(0.0, t.shape().0 * t.shape().1)),
            },
            ParamRef::Vector(t) => match grads.try_alloc_for(t) {
                Ok(()) => out.extend(grads.get(t).as_vec()),
                Err(_) => out.extend(std::iter::repeat_n(0.0, t.shape().0)),
            },
        }
    }
    out
}

/// `Σ_i a_i b_i`, accumulated in f64.
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}
