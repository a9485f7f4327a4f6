//! Policy distributions: categorical over logits, diagonal Gaussian with a state-independent
//! log standard deviation. Tensor versions record onto the input's gradient tape (losses);
//! host versions act (sampling, probabilities).

use dfdx::prelude::*;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::device::{Device, Matrix, Vector};

const HALF_LN_2PI: f32 = 0.918_938_5; // ½ ln(2π)

/// A categorical distribution `π(a|s) = softmax(logits)_a` per row of a `[B, A]` logits matrix.
pub struct Categorical;

impl Categorical {
    /// `log π(a_i | s_i)` for each row: `[B, A] → [B]`.
    pub fn log_prob<T: Tape<f32, Device>>(logits: Matrix<T>, actions: &[usize]) -> Vector<T> {
        let idx = logits
            .device()
            .tensor_from_vec(actions.to_vec(), (actions.len(),));
        logits.log_softmax::<Axis<1>>().select(idx)
    }

    /// `log π(·|s)` for each row: `[B, A] → [B, A]`.
    pub fn log_probs<T: Tape<f32, Device>>(logits: Matrix<T>) -> Matrix<T> {
        logits.log_softmax::<Axis<1>>()
    }

    /// Entropy `H = −Σ_a π(a) log π(a)` per row: `[B, A] → [B]`.
    pub fn entropy<T: Tape<f32, Device>>(logits: Matrix<T>) -> Vector<T> {
        let (logp, tape) = logits.log_softmax::<Axis<1>>().split_tape();
        let p = logp.clone().put_tape(tape).exp();
        (p * logp).sum::<(usize,), Axis<1>>().negate()
    }

    /// `KL(p ‖ q) = Σ_a p(a)(log p(a) − log q(a))` per row, differentiable in `q_logits`
    /// (ACER's trust region takes `KL(π_avg ‖ π_θ)` with gradients w.r.t. `θ`).
    pub fn kl<T: Tape<f32, Device>>(p_logits: Matrix, q_logits: Matrix<T>) -> Vector<T> {
        let logp = p_logits.log_softmax::<Axis<1>>();
        let p = logp.clone().exp();
        let logq = q_logits.log_softmax::<Axis<1>>();
        ((logq.negate() + logp) * p).sum::<(usize,), Axis<1>>()
    }

    /// Softmax of one row of logits, on the host (numerically stable).
    pub fn probs(logits: &[f32]) -> Vec<f32> {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let z: f32 = exp.iter().sum();
        exp.into_iter().map(|e| e / z).collect()
    }

    /// Samples an index from probabilities `p` (summing to 1).
    pub fn sample(probs: &[f32], rng: &mut impl Rng) -> usize {
        let u: f32 = rng.r#gen();
        let mut acc = 0.0;
        for (i, p) in probs.iter().enumerate() {
            acc += p;
            if u < acc {
                return i;
            }
        }
        // Rounding left `u` above the total mass: take the last action with positive mass.
        probs.iter().rposition(|&p| p > 0.0).unwrap_or(0)
    }

    /// Index of the largest value (first on ties).
    pub fn argmax(values: &[f32]) -> usize {
        let mut best = 0;
        for (i, v) in values.iter().enumerate() {
            if *v > values[best] {
                best = i;
            }
        }
        best
    }
}

/// A diagonal Gaussian `N(μ(s), diag(σ²))` with `μ: [B, D]` from a network and a
/// state-independent `log σ: [D]` parameter.
pub struct DiagGaussian;

impl DiagGaussian {
    /// `log N(a | μ, σ²) = −½ Σ_d ((a_d − μ_d)/σ_d)² − Σ_d log σ_d − (D/2) ln 2π` per row.
    /// Gradients flow to both `mean` and `log_std`.
    pub fn log_prob<T: Tape<f32, Device>>(
        mean: Matrix<T>,
        log_std: &Vector,
        actions: &[f32],
    ) -> Vector<T> {
        let shape = *mean.shape();
        let dev = mean.device().clone();
        let a = dev.tensor_from_vec(actions.to_vec(), shape);
        let (mean, tape) = mean.split_tape();
        let (ls, tape) = log_std
            .clone()
            .put_tape(tape)
            .broadcast_like::<(usize, usize), Axis<0>>(&shape)
            .split_tape();
        let (ls_sum, tape) = ls
            .clone()
            .put_tape(tape)
            .sum::<(usize,), Axis<1>>()
            .split_tape();
        let (inv_std, tape) = ls.put_tape(tape).negate().exp().split_tape();
        let z = (mean.put_tape(tape).negate() + a) * inv_std;
        z.square().sum::<(usize,), Axis<1>>() * -0.5 - ls_sum - HALF_LN_2PI * shape.1 as f32
    }

    /// Entropy `Σ_d (log σ_d + ½ ln(2πe))`, identical for every state.
    pub fn entropy(log_std: &[f32]) -> f32 {
        log_std.iter().map(|l| l + HALF_LN_2PI + 0.5).sum()
    }

    /// `KL(p ‖ q)` between two diagonal Gaussians, per row, on the host:
    /// `Σ_d [log σq − log σp + (σp² + (μp − μq)²)/(2σq²) − ½]`.
    pub fn kl(mean_p: &[f32], log_std_p: &[f32], mean_q: &[f32], log_std_q: &[f32]) -> Vec<f32> {
        let d = log_std_p.len().max(1);
        mean_p
            .chunks(d)
            .zip(mean_q.chunks(d))
            .map(|(mp, mq)| {
                (0..d)
                    .map(|j| {
                        let (lp, lq) = (log_std_p[j], log_std_q[j]);
                        let vp = (2.0 * lp).exp();
                        let vq = (2.0 * lq).exp();
                        lq - lp + (vp + (mp[j] - mq[j]).powi(2)) / (2.0 * vq) - 0.5
                    })
                    .sum()
            })
            .collect()
    }

    /// Samples `a = μ + σ ⊙ ε`, `ε ~ N(0, I)`, for one row.
    pub fn sample(mean: &[f32], log_std: &[f32], rng: &mut impl Rng) -> Vec<f32> {
        mean.iter()
            .zip(log_std)
            .map(|(m, l)| {
                let e: f32 = StandardNormal.sample(rng);
                m + l.exp() * e
            })
            .collect()
    }
}
