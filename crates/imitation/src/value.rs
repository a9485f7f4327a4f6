//! A learned state-value baseline `V_φ(s)` and GAE advantages for policy steps (TRPO's
//! variance reduction; Schulman et al. 2016).

use eirl_models::tensor::*;
use eirl_models::{Activation, Adam, AdamConfig, Mlp, Optimizer, device, matrix_from_slice};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::ImitationError;

/// Value-baseline hyperparameters (openai/baselines GAIL: `vf_iters=5`, `vf_stepsize=1e-3`,
/// minibatches of 128, a 64×64 tanh MLP... Ho & Ermon use the policy's architecture).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValueConfig {
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub learning_rate: f32,
    /// Passes over the batch per [`ValueBaseline::fit`].
    pub epochs: usize,
    pub batch_size: usize,
}

impl Default for ValueConfig {
    fn default() -> Self {
        ValueConfig {
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            learning_rate: 1e-3,
            epochs: 5,
            batch_size: 128,
        }
    }
}

/// `V_φ(s)`, an MLP regressed on empirical returns with Adam. Its parameters are exposed through
/// [`eirl_models::Parameterized`] (checkpoints); the Adam moments are not.
pub struct ValueBaseline {
    net: Mlp,
    opt: Adam,
    dev: eirl_models::Device,
    cfg: ValueConfig,
    rng: ChaCha8Rng,
}

impl ValueBaseline {
    pub fn new(obs_dim: usize, cfg: &ValueConfig, seed: u64) -> Result<Self, ImitationError> {
        if cfg.batch_size == 0 {
            return Err(ImitationError::Config(
                "value batch_size must be ≥ 1".into(),
            ));
        }
        let mut sizes = vec![obs_dim];
        sizes.extend(&cfg.hidden);
        sizes.push(1);
        let dev = device(seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let net = Mlp::new(&dev, &sizes, cfg.activation, false, &mut rng)?;
        Ok(ValueBaseline {
            net,
            opt: Adam::new(AdamConfig {
                lr: cfg.learning_rate,
                ..AdamConfig::default()
            }),
            dev,
            cfg: cfg.clone(),
            rng,
        })
    }

    /// `V(s)` for `obs: [N, obs_dim]`.
    pub fn predict(&self, obs: &[f32]) -> Result<Vec<f32>, ImitationError> {
        let d = self.net.inputs();
        if obs.len() % d != 0 {
            return Err(ImitationError::Config(format!(
                "{} values are not rows of {d}",
                obs.len()
            )));
        }
        let x = matrix_from_slice(&self.dev, obs, obs.len() / d, d)?;
        Ok(self.net.forward(x).as_vec())
    }

    /// Regresses `V(s_i)` toward `targets[i]` (½ squared error), `epochs` shuffled passes;
    /// returns the last epoch's mean loss.
    pub fn fit(&mut self, obs: &[f32], targets: &[f32]) -> Result<f32, ImitationError> {
        let d = self.net.inputs();
        let n = targets.len();
        if obs.len() != n * d || n == 0 || targets.iter().any(|t| !t.is_finite()) {
            return Err(ImitationError::Config(
                "value targets must be finite, one per observation".into(),
            ));
        }
        let mut idx: Vec<usize> = (0..n).collect();
        let mut last = 0.0;
        for _ in 0..self.cfg.epochs {
            idx.shuffle(&mut self.rng);
            let (mut total, mut batches) = (0.0, 0);
            for chunk in idx.chunks(self.cfg.batch_size) {
                let xb: Vec<f32> = chunk
                    .iter()
                    .flat_map(|&i| &obs[i * d..(i + 1) * d])
                    .copied()
                    .collect();
                let yb: Vec<f32> = chunk.iter().map(|&i| targets[i]).collect();
                let b = chunk.len();
                let x = matrix_from_slice(&self.dev, &xb, b, d)?.leaky_trace();
                let y = self.dev.tensor_from_vec(yb, (b, 1));
                let loss = (self.net.forward(x) - y).square().mean::<Rank0, _>() * 0.5;
                total += loss.array();
                batches += 1;
                let mut grads = loss.backward();
                self.opt.step(&mut self.net, &mut grads, None)?;
            }
            last = total / batches.max(1) as f32;
        }
        Ok(last)
    }
}

impl eirl_models::Parameterized for ValueBaseline {
    fn params(&self) -> Vec<eirl_models::ParamRef<'_>> {
        eirl_models::Parameterized::params(&self.net)
    }
    fn params_mut(&mut self) -> Vec<eirl_models::ParamMut<'_>> {
        eirl_models::Parameterized::params_mut(&mut self.net)
    }
}

/// GAE advantages and λ-returns for one trajectory segment: `Â_t = δ_t + γ_t λ Â_{t+1}`,
/// `δ_t = r_t + γ_t V(s_{t+1}) − V(s_t)` (Schulman et al. 2016 eq. 16, via
/// `eirl_returns::truncated_generalized_advantage_estimation`). `discount_t = γ` except `0` on a
/// terminal transition; `values` is `[T + 1]` with the bootstrap `V(s_T)` last (use the value of
/// the final observation after a truncation, 0 after termination). Returns `(Â, Â + V)`.
pub fn gae(
    r_t: &[f32],
    discount_t: &[f32],
    values: &[f32],
    lambda: f32,
) -> Result<(Vec<f32>, Vec<f32>), ImitationError> {
    let adv =
        eirl_returns::truncated_generalized_advantage_estimation(r_t, discount_t, lambda, values)?;
    let ret = adv.iter().zip(values).map(|(a, v)| a + v).collect();
    Ok((adv, ret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_baseline_fits_a_smooth_function() -> Result<(), ImitationError> {
        let obs: Vec<f32> = (0..256).map(|i| i as f32 / 128.0 - 1.0).collect();
        let y: Vec<f32> = obs.iter().map(|x| 3.0 * x * x - 1.0).collect();
        let cfg = ValueConfig {
            epochs: 150,
            batch_size: 32,
            learning_rate: 3e-3,
            ..ValueConfig::default()
        };
        let mut v = ValueBaseline::new(1, &cfg, 0)?;
        let loss = v.fit(&obs, &y)?;
        assert!(loss < 0.02, "loss {loss}");
        assert!(v.fit(&obs, &y[..10]).is_err());
        Ok(())
    }

    #[test]
    fn gae_with_lambda_one_is_the_discounted_return_minus_value() -> Result<(), ImitationError> {
        let (adv, ret) = gae(
            &[1.0, 1.0, 1.0],
            &[0.5, 0.5, 0.0],
            &[0.2, 0.3, 0.4, 9.0],
            1.0,
        )?;
        assert!((ret[0] - 1.75).abs() < 1e-6 && (ret[2] - 1.0).abs() < 1e-6);
        assert!((adv[1] - (1.5 - 0.3)).abs() < 1e-6);
        assert!(gae(&[1.0], &[0.5], &[0.0], 0.9).is_err());
        Ok(())
    }
}
