//! Parameter access shared by every network: enumeration, Polyak averaging, export/import.

use dfdx::prelude::*;

use crate::device::{Matrix, Vector};
use crate::error::ModelError;

/// A shared reference to one trainable tensor.
pub enum ParamRef<'a> {
    Matrix(&'a Matrix),
    Vector(&'a Vector),
}

/// A mutable reference to one trainable tensor.
pub enum ParamMut<'a> {
    Matrix(&'a mut Matrix),
    Vector(&'a mut Vector),
}

impl ParamRef<'_> {
    /// The tensor's dimensions.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            ParamRef::Matrix(t) => {
                let (r, c) = *t.shape();
                vec![r, c]
            }
            ParamRef::Vector(t) => vec![t.shape().0],
        }
    }

    /// Number of scalars in the tensor.
    pub fn numel(&self) -> usize {
        self.shape().iter().product()
    }

    /// The values, row-major, copied to the host.
    pub fn to_vec(&self) -> Vec<f32> {
        match self {
            ParamRef::Matrix(t) => t.as_vec(),
            ParamRef::Vector(t) => t.as_vec(),
        }
    }
}

impl ParamMut<'_> {
    /// Overwrites the values from a host slice of the same length.
    pub fn copy_from(&mut self, values: &[f32]) -> Result<(), ModelError> {
        let expected = match self {
            ParamMut::Matrix(t) => t.shape().0 * t.shape().1,
            ParamMut::Vector(t) => t.shape().0,
        };
        crate::error::check_len("parameter", expected, values.len())?;
        match self {
            ParamMut::Matrix(t) => t.copy_from(values),
            ParamMut::Vector(t) => t.copy_from(values),
        }
        Ok(())
    }
}

/// A network or any collection of trainable tensors, enumerated in a fixed order.
///
/// The order is the network's identity for optimizers, averaging and checkpoints: two values of
/// the same type built from the same config enumerate parameters of equal shapes in equal order.
pub trait Parameterized {
    /// Every trainable tensor, in a fixed order.
    fn params(&self) -> Vec<ParamRef<'_>>;
    /// Every trainable tensor, mutably, in the same order as [`Parameterized::params`].
    fn params_mut(&mut self) -> Vec<ParamMut<'_>>;

    /// Total number of trainable scalars.
    fn num_params(&self) -> usize {
        self.params().iter().map(ParamRef::numel).sum()
    }

    /// All parameters as `(shape, values)` pairs, in order.
    fn export_params(&self) -> Vec<(Vec<usize>, Vec<f32>)> {
        self.params()
            .iter()
            .map(|p| (p.shape(), p.to_vec()))
            .collect()
    }

    /// Overwrites all parameters from [`Parameterized::export_params`]'s output; shapes must match.
    fn import_params(&mut self, values: &[(Vec<usize>, Vec<f32>)]) -> Result<(), ModelError> {
        let shapes: Vec<Vec<usize>> = self.params().iter().map(ParamRef::shape).collect();
        if shapes.len() != values.len() {
            return Err(ModelError::Config(format!(
                "expected {} parameter tensors, got {}",
                shapes.len(),
                values.len()
            )));
        }
        for (i, (want, (got, _))) in shapes.iter().zip(values).enumerate() {
            if want != got {
                return Err(ModelError::Config(format!(
                    "parameter {i}: expected shape {want:?}, got {got:?}"
                )));
            }
        }
        for (mut p, (_, v)) in self.params_mut().into_iter().zip(values) {
            p.copy_from(v)?;
        }
        Ok(())
    }
}

fn check_same_structure(a: &[ParamRef<'_>], b: &[ParamMut<'_>]) -> Result<(), ModelError> {
    if a.len() != b.len() {
        return Err(ModelError::Config(format!(
            "networks differ: {} vs {} parameter tensors",
            a.len(),
            b.len()
        )));
    }
    for (i, (s, t)) in a.iter().zip(b).enumerate() {
        let ts = match t {
            ParamMut::Matrix(t) => vec![t.shape().0, t.shape().1],
            ParamMut::Vector(t) => vec![t.shape().0],
        };
        if s.shape() != ts {
            return Err(ModelError::Config(format!(
                "networks differ at parameter {i}: {:?} vs {ts:?}",
                s.shape()
            )));
        }
    }
    Ok(())
}

/// Polyak (soft) averaging `θ_target ← keep·θ_target + (1 − keep)·θ_source`.
///
/// `keep = 1 − τ` gives DDPG/STEVE target networks (`τ = 0.005`); `keep = α = 0.99` is ACER's
/// average policy network `θ_a ← α θ_a + (1 − α) θ` (ACER §3.3).
pub fn polyak_update<N: Parameterized + ?Sized, M: Parameterized + ?Sized>(
    target: &mut N,
    source: &M,
    keep: f32,
) -> Result<(), ModelError> {
    if !(0.0..=1.0).contains(&keep) {
        return Err(ModelError::Config(format!(
            "Polyak coefficient must lie in [0, 1], got {keep}"
        )));
    }
    let src = source.params();
    let mut dst = target.params_mut();
    check_same_structure(&src, &dst)?;
    for (s, d) in src.iter().zip(dst.iter_mut()) {
        match (s, d) {
            (ParamRef::Matrix(s), ParamMut::Matrix(d)) => d.axpy(keep, *s, 1.0 - keep),
            (ParamRef::Vector(s), ParamMut::Vector(d)) => d.axpy(keep, *s, 1.0 - keep),
            _ => return Err(ModelError::Config("parameter kinds differ".into())),
        }
    }
    Ok(())
}

/// Hard copy `θ_target ← θ_source` (DQN's periodic target-network update).
pub fn copy_params<N: Parameterized + ?Sized, M: Parameterized + ?Sized>(
    target: &mut N,
    source: &M,
) -> Result<(), ModelError> {
    let src = source.params();
    let mut dst = target.params_mut();
    check_same_structure(&src, &dst)?;
    for (s, d) in src.iter().zip(dst.iter_mut()) {
        match (s, d) {
            (ParamRef::Matrix(s), ParamMut::Matrix(d)) => **d = (*s).clone(),
            (ParamRef::Vector(s), ParamMut::Vector(d)) => **d = (*s).clone(),
            _ => return Err(ModelError::Config("parameter kinds differ".into())),
        }
    }
    Ok(())
}
