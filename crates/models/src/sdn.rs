//! Continuous ACER's networks (Wang et al. 2017, §5): a Gaussian policy mean `μ_θ(x)` and the
//! Stochastic Dueling Network (SDN, eq. 1.17), which estimates `V(x)` and `Q(x, a)` together:
//!
//! `Q̃(x_t, a_t) ~ V(x_t) + A(x_t, a_t) − (1/n) Σ_{i=1}^{n} A(x_t, u_i),  u_i ~ π(·|x_t)`,
//!
//! so that `E_{u_{1:n} ~ π}[E_{a ~ π} Q̃(x, a)] = V(x)` (eq. 1.18).

use dfdx::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::actor_critic::ActorCriticConfig;
use crate::device::{Device, Matrix, device, matrix_from_slice};
use crate::error::{ModelError, check_len};
use crate::mlp::Mlp;
use crate::param::{ParamMut, ParamRef, Parameterized};

/// Policy mean `μ_θ(x)`, value `V_θv(x)` and advantage `A_θv(x, a)` MLPs of continuous ACER.
///
/// Parameters enumerate policy, value, then advantage MLP.
#[derive(Clone, Debug)]
pub struct StochasticDuelingNetwork {
    dev: Device,
    policy: Mlp,
    value: Mlp,
    advantage: Mlp,
    obs_dim: usize,
    act_dim: usize,
}

impl StochasticDuelingNetwork {
    /// Three MLPs with `cfg.hidden` layers each, parameters drawn from `seed`.
    pub fn new(
        obs_dim: usize,
        act_dim: usize,
        cfg: &ActorCriticConfig,
        seed: u64,
    ) -> Result<Self, ModelError> {
        if obs_dim == 0 || act_dim == 0 {
            return Err(ModelError::Config(format!(
                "observation and action sizes must be positive (got {obs_dim}, {act_dim})"
            )));
        }
        cfg.check()?;
        let dev = device(seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let sizes = |inp: usize, out: usize| {
            let mut s = vec![inp];
            s.extend(&cfg.hidden);
            s.push(out);
            s
        };
        let mut policy = Mlp::new(
            &dev,
            &sizes(obs_dim, act_dim),
            cfg.activation,
            false,
            &mut rng,
        )?;
        policy.rescale_output(&dev, cfg.policy_scale, &mut rng);
        let value = Mlp::new(&dev, &sizes(obs_dim, 1), cfg.activation, false, &mut rng)?;
        let advantage = Mlp::new(
            &dev,
            &sizes(obs_dim + act_dim, 1),
            cfg.activation,
            false,
            &mut rng,
        )?;
        Ok(StochasticDuelingNetwork {
            dev,
            policy,
            value,
            advantage,
            obs_dim,
            act_dim,
        })
    }

    pub fn device(&self) -> &Device {
        &self.dev
    }

    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    pub fn act_dim(&self) -> usize {
        self.act_dim
    }

    /// `[B, obs_dim] → μ_θ(x): [B, act_dim]`.
    pub fn mean_forward<T: Tape<f32, Device>>(&self, x: Matrix<T>) -> Matrix<T> {
        self.policy.forward(x)
    }

    /// `[B, obs_dim] → V(x): [B, 1]`.
    pub fn value_forward<T: Tape<f32, Device>>(&self, x: Matrix<T>) -> Matrix<T> {
        self.value.forward(x)
    }

    /// `[B, obs_dim + act_dim]` (each row `x ‖ a`) `→ A(x, a): [B, 1]`.
    pub fn advantage_forward<T: Tape<f32, Device>>(&self, xa: Matrix<T>) -> Matrix<T> {
        self.advantage.forward(xa)
    }

    /// Policy means for `obs: [n, obs_dim]`, `[n, act_dim]`.
    pub fn means(&self, obs: &[f32], n: usize) -> Result<Vec<f32>, ModelError> {
        Ok(self
            .mean_forward(matrix_from_slice(&self.dev, obs, n, self.obs_dim)?)
            .as_vec())
    }

    /// `V(x)` for `obs: [n, obs_dim]`, `[n]`.
    pub fn values(&self, obs: &[f32], n: usize) -> Result<Vec<f32>, ModelError> {
        Ok(self
            .value_forward(matrix_from_slice(&self.dev, obs, n, self.obs_dim)?)
            .as_vec())
    }

    /// Rows `x_r ‖ a_{j, r}` for `obs: [N, obs_dim]` and `m` action sets `actions: [m, N, act_dim]`
    /// (set-major), as one `[m·N, obs_dim + act_dim]` matrix on the host.
    pub fn pair_rows(
        &self,
        obs: &[f32],
        actions: &[f32],
        n: usize,
    ) -> Result<Vec<f32>, ModelError> {
        let (d, k) = (self.obs_dim, self.act_dim);
        check_len("observations", n * d, obs.len())?;
        if n == 0 || !actions.len().is_multiple_of(n * k) {
            return Err(ModelError::Shape {
                what: "action sets",
                expected: n * k,
                got: actions.len(),
            });
        }
        let m = actions.len() / (n * k);
        let mut rows = Vec::with_capacity(m * n * (d + k));
        for j in 0..m {
            for r in 0..n {
                rows.extend_from_slice(&obs[r * d..(r + 1) * d]);
                let a = (j * n + r) * k;
                rows.extend_from_slice(&actions[a..a + k]);
            }
        }
        Ok(rows)
    }

    /// `Q̃(x_r, a_r)` of eq. 1.17 on the host for `obs: [N, obs_dim]`, `actions: [N, act_dim]`
    /// and the samples `u: [n, N, act_dim]` (`u_i ~ π(·|x_r)`, sample-major).
    pub fn q_tilde(
        &self,
        obs: &[f32],
        actions: &[f32],
        u: &[f32],
        n: usize,
    ) -> Result<Vec<f32>, ModelError> {
        check_len("actions", n * self.act_dim, actions.len())?;
        let mut all = actions.to_vec();
        all.extend_from_slice(u);
        let rows = self.pair_rows(obs, &all, n)?;
        let m = all.len() / (n * self.act_dim);
        let a = self
            .advantage_forward(matrix_from_slice(
                &self.dev,
                &rows,
                m * n,
                self.obs_dim + self.act_dim,
            )?)
            .as_vec();
        let v = self.values(obs, n)?;
        let samples = (m - 1).max(1) as f32;
        Ok((0..n)
            .map(|r| {
                let baseline: f32 = (1..m).map(|j| a[j * n + r]).sum::<f32>() / samples;
                v[r] + a[r] - baseline
            })
            .collect())
    }
}

/// The constant `[(n+1)·N, N]` matrix `D` with `(A row-vector) · D = A(x, a) − (1/n) Σ_i A(x, u_i)`
/// when the advantages of `[a; u_1; …; u_n]` are stacked set-major (eq. 1.17's dueling term as
/// one matmul on the tape).
pub fn dueling_combination(dev: &Device, rows: usize, samples: usize) -> Matrix {
    let m = samples + 1;
    let mut d = vec![0.0_f32; m * rows * rows];
    for r in 0..rows {
        d[r * rows + r] = 1.0;
        for j in 1..m {
            d[(j * rows + r) * rows + r] = -1.0 / samples.max(1) as f32;
        }
    }
    dev.tensor_from_vec(d, (m * rows, rows))
}

impl Parameterized for StochasticDuelingNetwork {
    fn params(&self) -> Vec<ParamRef<'_>> {
        let mut p = self.policy.params();
        p.extend(self.value.params());
        p.extend(self.advantage.params());
        p
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_>> {
        let mut p = self.policy.params_mut();
        p.extend(self.value.params_mut());
        p.extend(self.advantage.params_mut());
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributions::DiagGaussian;

    /// Eq. 1.18: `E_{a, u_{1:n} ~ π}[Q̃(x, a)] = V(x)`, by Monte Carlo.
    #[test]
    fn sdn_expectation_identity_holds_by_monte_carlo() -> Result<(), ModelError> {
        let cfg = ActorCriticConfig {
            hidden: vec![16],
            policy_scale: 1.0,
            ..ActorCriticConfig::default()
        };
        let net = StochasticDuelingNetwork::new(3, 2, &cfg, 4)?;
        let x = [0.3_f32, -0.5, 0.8];
        let mean = net.means(&x, 1)?;
        let log_std = [-0.3_f32, 0.2];
        let v = net.values(&x, 1)?[0];
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let draws = 4000;
        let samples = 5;
        let obs: Vec<f32> = x.repeat(draws);
        let mut actions = Vec::with_capacity(draws * 2);
        for _ in 0..draws {
            actions.extend(DiagGaussian::sample(&mean, &log_std, &mut rng));
        }
        let mut u = Vec::with_capacity(samples * draws * 2);
        for _ in 0..samples * draws {
            u.extend(DiagGaussian::sample(&mean, &log_std, &mut rng));
        }
        let q = net.q_tilde(&obs, &actions, &u, draws)?;
        let avg = q.iter().map(|&v| f64::from(v)).sum::<f64>() / draws as f64;
        let var = q.iter().map(|&q| (f64::from(q) - avg).powi(2)).sum::<f64>() / draws as f64;
        let se = (var / draws as f64).sqrt();
        assert!(se > 0.0, "Q̃ varies with the sampled actions");
        assert!(
            (avg - f64::from(v)).abs() < 4.0 * se + 1e-4,
            "mean Q̃ {avg} vs V {v} (standard error {se})"
        );
        Ok(())
    }

    #[test]
    fn dueling_matrix_matches_the_host_formula() -> Result<(), ModelError> {
        let net = StochasticDuelingNetwork::new(2, 1, &ActorCriticConfig::default(), 0)?;
        let obs = [0.1_f32, 0.2, -0.3, 0.4];
        let (a, u) = ([0.5_f32, -0.5], [0.1_f32, 0.2, 0.3, 0.4, -0.1, -0.2]);
        let host = net.q_tilde(&obs, &a, &u, 2)?;
        let mut all = a.to_vec();
        all.extend_from_slice(&u);
        let rows = net.pair_rows(&obs, &all, 2)?;
        let adv = net.advantage_forward(matrix_from_slice(net.device(), &rows, 8, 3)?);
        let d = dueling_combination(net.device(), 2, 3);
        let dueling = adv
            .permute::<(usize, usize), Axes2<1, 0>>()
            .matmul(d)
            .as_vec();
        let v = net.values(&obs, 2)?;
        for r in 0..2 {
            assert!((host[r] - (v[r] + dueling[r])).abs() < 1e-5);
        }
        assert!(net.q_tilde(&obs, &a[..1], &u, 2).is_err());
        Ok(())
    }
}
