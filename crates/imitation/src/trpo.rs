//! A trust-region policy step (TRPO, Schulman et al. 2015), usable on its own.
//!
//! Maximise the surrogate `L(θ) = E[π_θ(a|s)/π_old(a|s) · Â] + c_H E[H(π_θ(·|s))]` subject to
//! `E_s[KL(π_old(·|s) ‖ π_θ(·|s))] ≤ δ` (TRPO eq. 14), approximately: with `g = ∇L(θ_old)` and
//! `F` the Fisher information (the KL's Hessian at `θ_old`), solve `F x = g` by conjugate
//! gradient (TRPO App. C), scale to the trust-region boundary `β = sqrt(2δ / xᵀFx)`, then
//! backtrack `θ = θ_old + ρ^k β x` until the KL constraint holds and `L` improves.
//!
//! **Fisher-vector products without double backward.** dfdx has no second derivatives, so
//! `F v` is computed as `Jᵀ M J v` (Martens 2014, "generalized Gauss-Newton"): `J` is the
//! Jacobian of the network's output (logits or Gaussian means) w.r.t. θ, `M` the analytic Fisher
//! of the output distribution, averaged over the batch's states:
//! * categorical over logits `z`: `M = diag(p) − p pᵀ`;
//! * diagonal Gaussian with mean `μ`: `M = diag(1/σ²)`; the state-independent `log σ` block is
//!   `2 I` (it does not depend on the state, and is decoupled from the mean).
//!
//! `J v` is an exact forward-mode product ([`PolicyNetwork::jvp`]); `Jᵀ u` is one ordinary
//! backward pass of `Σ_s u_s · f(s)`. CG then sees `F + λ I` (damping `λ`).

use eirl_models::tensor::*;
use eirl_models::{Categorical, DiagGaussian, PolicyHead, PolicyNetwork, matrix_from_slice};
use serde::{Deserialize, Serialize};

use crate::error::ImitationError;
use crate::flat::{dot, flat_gradients, flat_params, set_flat_params};
use eirl_envs::Actions;

/// TRPO's hyperparameters.
///
/// Defaults: `max_kl = 0.01`, `cg_iters = 10`, `cg_damping = 0.1` as in Ho & Ermon's GAIL runs
/// and openai/baselines `gail/run_mujoco.py` (which calls `trpo_mpi` with `max_kl=0.01,
/// cg_iters=10, cg_damping=0.1`); `backtrack_coeff = 0.8`, `backtrack_iters = 10` from OpenAI
/// Spinning Up's TRPO (`backtrack_coeff=0.8, backtrack_iters=10, damping_coeff=0.1,
/// cg_iters=10, delta=0.01`). `ent_coef = 0` (baselines GAIL's `policy_entcoeff`; the
/// causal-entropy weight λ of GAIL eq. 5.15 / Algorithm 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrpoConfig {
    /// Trust-region radius δ on the mean KL.
    pub max_kl: f64,
    /// Conjugate-gradient iterations.
    pub cg_iters: usize,
    /// Damping λ added to the Fisher (`F + λI`).
    pub cg_damping: f64,
    /// CG stops early when the squared residual falls below this.
    pub cg_residual_tol: f64,
    /// Step shrink factor ρ per backtracking iteration.
    pub backtrack_coeff: f64,
    /// Backtracking iterations before the step is rejected.
    pub backtrack_iters: usize,
    /// Entropy bonus weight `c_H` in the surrogate.
    pub ent_coef: f64,
}

impl Default for TrpoConfig {
    fn default() -> Self {
        TrpoConfig {
            max_kl: 0.01,
            cg_iters: 10,
            cg_damping: 0.1,
            cg_residual_tol: 1e-10,
            backtrack_coeff: 0.8,
            backtrack_iters: 10,
            ent_coef: 0.0,
        }
    }
}

/// What one [`trpo_step`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct TrpoStats {
    /// Surrogate before the step.
    pub surrogate_before: f64,
    /// Surrogate after (equal to before when rejected).
    pub surrogate_after: f64,
    /// Mean `KL(π_old ‖ π_new)` of the accepted step (0 when rejected).
    pub kl: f64,
    /// Whether a step was taken.
    pub accepted: bool,
    /// Backtracking iterations used (the accepted step is `backtrack_coeff^backtracks` of full).
    pub backtracks: usize,
    /// `‖g‖`.
    pub grad_norm: f64,
    /// First-order predicted improvement of the full step, `gᵀ β x`.
    pub expected_improvement: f64,
}

/// The batch a policy step learns from: observations `[N, obs_dim]`, actions, advantages `[N]`.
#[derive(Clone, Copy, Debug)]
pub struct PolicyBatch<'a> {
    pub obs: &'a [f32],
    pub actions: &'a Actions,
    pub advantages: &'a [f32],
}

impl PolicyBatch<'_> {
    fn check(&self, policy: &PolicyNetwork) -> Result<usize, ImitationError> {
        let n = self.actions.len();
        if n == 0 || self.obs.len() != n * policy.obs_dim() || self.advantages.len() != n {
            return Err(ImitationError::Config(format!(
                "policy batch: {n} actions, {} observation values (width {}), {} advantages",
                self.obs.len(),
                policy.obs_dim(),
                self.advantages.len()
            )));
        }
        crate::bc::check_actions(policy, self.actions)?;
        if self.advantages.iter().any(|a| !a.is_finite()) {
            return Err(ImitationError::Config("non-finite advantage".into()));
        }
        Ok(n)
    }
}

/// `log π(a|s)` per row on the host.
pub fn log_probs(
    policy: &PolicyNetwork,
    obs: &[f32],
    actions: &Actions,
) -> Result<Vec<f32>, ImitationError> {
    let n = actions.len();
    let x = matrix_from_slice(policy.device(), obs, n, policy.obs_dim())?;
    Ok(match actions {
        Actions::Discrete(a) => policy.log_prob_discrete(x, a)?.as_vec(),
        Actions::Continuous { values, .. } => policy.log_prob_continuous(x, values)?.as_vec(),
    })
}

/// Mean entropy of `π(·|s)` over the batch, on the host.
fn mean_entropy(policy: &PolicyNetwork, out: &[f32]) -> f64 {
    let d = policy.output_dim();
    match policy.head() {
        PolicyHead::Categorical { .. } => {
            let rows = out.len() / d.max(1);
            let total: f64 = out
                .chunks(d)
                .map(|z| {
                    let p = Categorical::probs(z);
                    -p.iter()
                        .filter(|&&q| q > 0.0)
                        .map(|&q| f64::from(q) * f64::from(q.ln()))
                        .sum::<f64>()
                })
                .sum();
            total / rows.max(1) as f64
        }
        PolicyHead::Gaussian { .. } => f64::from(DiagGaussian::entropy(&policy.log_std_values())),
    }
}

/// The surrogate `L(θ) = mean_i[exp(log π_θ − log π_old) Â_i] + c_H · mean H`, on the host.
pub fn surrogate(
    policy: &PolicyNetwork,
    batch: &PolicyBatch<'_>,
    old_log_probs: &[f32],
    ent_coef: f64,
) -> Result<f64, ImitationError> {
    let n = batch.check(policy)?;
    let logp = log_probs(policy, batch.obs, batch.actions)?;
    let gain: f64 = logp
        .iter()
        .zip(old_log_probs)
        .zip(batch.advantages)
        .map(|((&l, &o), &a)| (f64::from(l) - f64::from(o)).exp() * f64::from(a))
        .sum::<f64>()
        / n as f64;
    let ent = if ent_coef == 0.0 {
        0.0
    } else {
        ent_coef * mean_entropy(policy, &policy.outputs(batch.obs, n)?)
    };
    Ok(gain + ent)
}

/// `g = ∇_θ L(θ)` at the current parameters (where the ratio is 1, so
/// `g = mean_i[Â_i ∇ log π_θ(a_i|s_i)] + c_H ∇ mean H`), flat.
pub fn surrogate_gradient(
    policy: &PolicyNetwork,
    batch: &PolicyBatch<'_>,
    ent_coef: f64,
) -> Result<Vec<f32>, ImitationError> {
    let n = batch.check(policy)?;
    let dev = policy.device().clone();
    let x = matrix_from_slice(&dev, batch.obs, n, policy.obs_dim())?.leaky_trace();
    let adv = dev.tensor_from_vec(batch.advantages.to_vec(), (n,));
    let c = ent_coef as f32;
    let objective = match batch.actions {
        Actions::Discrete(a) => {
            let (logits, tape) = policy.forward(x).split_tape();
            let gain =
                (Categorical::log_prob(logits.clone().put_tape(tape), a) * adv).mean::<Rank0, _>();
            if c == 0.0 {
                gain
            } else {
                let (gain, tape) = gain.split_tape();
                Categorical::entropy(logits.put_tape(tape)).mean::<Rank0, _>() * c + gain
            }
        }
        Actions::Continuous { values, .. } => {
            let gain = (policy.log_prob_continuous(x, values)? * adv).mean::<Rank0, _>();
            match policy.log_std() {
                Some(ls) if c != 0.0 => {
                    let (gain, tape) = gain.split_tape();
                    ls.clone().put_tape(tape).sum::<Rank0, _>() * c + gain
                }
                _ => gain,
            }
        }
    };
    let mut grads = objective.backward();
    Ok(flat_gradients(policy, &mut grads))
}

/// The damped Fisher-vector product `(F + λI) v` over the states `obs: [N, obs_dim]`, with
/// `F = (1/N) Σ_s J_sᵀ M_s J_s` (+ the `2I` block of `log σ`); see the module docs.
pub fn fisher_vector_product(
    policy: &PolicyNetwork,
    obs: &[f32],
    v: &[f32],
    damping: f64,
) -> Result<Vec<f32>, ImitationError> {
    let d = policy.obs_dim();
    if obs.is_empty() || obs.len() % d != 0 {
        return Err(ImitationError::Config(format!(
            "{} observation values do not form rows of {d}",
            obs.len()
        )));
    }
    let n = obs.len() / d;
    let (out, jv) = policy.jvp(obs, n, v)?;
    let k = policy.output_dim();
    let inv_n = 1.0 / n as f32;
    // u_s = M_s (J v)_s / N
    let u: Vec<f32> = match policy.head() {
        PolicyHead::Categorical { .. } => out
            .chunks(k)
            .zip(jv.chunks(k))
            .flat_map(|(z, jz)| {
                let p = Categorical::probs(z);
                let pj: f32 = p.iter().zip(jz).map(|(a, b)| a * b).sum();
                p.iter()
                    .zip(jz)
                    .map(|(&pi, &ji)| (pi * ji - pi * pj) * inv_n)
                    .collect::<Vec<_>>()
            })
            .collect(),
        PolicyHead::Gaussian { .. } => {
            let inv_var: Vec<f32> = policy
                .log_std_values()
                .iter()
                .map(|l| (-2.0 * l).exp())
                .collect();
            jv.chunks(k)
                .flat_map(|row| {
                    row.iter()
                        .zip(&inv_var)
                        .map(|(j, iv)| j * iv * inv_n)
                        .collect::<Vec<_>>()
                })
                .collect()
        }
    };
    let dev = policy.device().clone();
    let x = matrix_from_slice(&dev, obs, n, d)?.leaky_trace();
    let u = dev.tensor_from_vec(u, (n, k));
    let mut grads = (policy.forward(x) * u).sum::<Rank0, _>().backward();
    let mut fv = flat_gradients(policy, &mut grads);
    // log σ block: 2 I (the last act_dim parameters).
    let ls = policy.log_std_values().len();
    let p = fv.len();
    for i in p - ls..p {
        fv[i] += 2.0 * v[i];
    }
    for (f, &vi) in fv.iter_mut().zip(v) {
        *f += damping as f32 * vi;
    }
    Ok(fv)
}

/// Conjugate gradient for `A x = b` with `A` symmetric positive definite given as a product
/// `a(v) = A v` (Hestenes & Stiefel 1952; TRPO App. C). Starts at `x = 0`; stops after `iters`
/// iterations or when `rᵀr < residual_tol`.
pub fn conjugate_gradient(
    mut a: impl FnMut(&[f32]) -> Result<Vec<f32>, ImitationError>,
    b: &[f32],
    iters: usize,
    residual_tol: f64,
) -> Result<Vec<f32>, ImitationError> {
    let mut x = vec![0.0f32; b.len()];
    let mut r = b.to_vec();
    let mut p = b.to_vec();
    let mut rr = dot(&r, &r);
    for _ in 0..iters {
        if rr < residual_tol {
            break;
        }
        let ap = a(&p)?;
        let pap = dot(&p, &ap);
        if !positive_finite(pap) {
            break;
        }
        let alpha = rr / pap;
        for ((xi, ri), (pi, api)) in x.iter_mut().zip(&mut r).zip(p.iter().zip(&ap)) {
            *xi += (alpha * f64::from(*pi)) as f32;
            *ri -= (alpha * f64::from(*api)) as f32;
        }
        let rr_new = dot(&r, &r);
        let beta = rr_new / rr;
        for (pi, ri) in p.iter_mut().zip(&r) {
            *pi = *ri + (beta * f64::from(*pi)) as f32;
        }
        rr = rr_new;
    }
    Ok(x)
}

fn positive_finite(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// Mean `KL(π_a ‖ π_b)` over states from the two networks' outputs.
fn mean_kl(
    head: PolicyHead,
    out_a: &[f32],
    log_std_a: &[f32],
    out_b: &[f32],
    log_std_b: &[f32],
) -> f64 {
    let k = head.output_dim();
    let rows = out_a.len() / k.max(1);
    let total: f64 = match head {
        PolicyHead::Categorical { .. } => out_a
            .chunks(k)
            .zip(out_b.chunks(k))
            .map(|(za, zb)| {
                let (pa, pb) = (Categorical::probs(za), Categorical::probs(zb));
                pa.iter()
                    .zip(&pb)
                    .filter(|&(&p, _)| p > 0.0)
                    .map(|(&p, &q)| {
                        f64::from(p)
                            * (f64::from(p).ln() - f64::from(q.max(f32::MIN_POSITIVE)).ln())
                    })
                    .sum::<f64>()
            })
            .sum(),
        PolicyHead::Gaussian { .. } => DiagGaussian::kl(out_a, log_std_a, out_b, log_std_b)
            .iter()
            .map(|&x| f64::from(x))
            .sum(),
    };
    total / rows.max(1) as f64
}

/// One TRPO update of `policy` on `batch` (see the module docs). On rejection (no backtracking
/// step satisfies the KL bound and improves the surrogate, or the step is not finite) the
/// parameters are left unchanged.
pub fn trpo_step(
    policy: &mut PolicyNetwork,
    batch: &PolicyBatch<'_>,
    cfg: &TrpoConfig,
) -> Result<TrpoStats, ImitationError> {
    if !positive_finite(cfg.max_kl)
        || !(0.0..1.0).contains(&cfg.backtrack_coeff)
        || cfg.cg_damping < 0.0
    {
        return Err(ImitationError::Config(
            "TRPO needs max_kl > 0, backtrack_coeff in (0, 1), cg_damping ≥ 0".into(),
        ));
    }
    let n = batch.check(policy)?;
    let theta_old = flat_params(policy);
    let old_logp = log_probs(policy, batch.obs, batch.actions)?;
    let old_out = policy.outputs(batch.obs, n)?;
    let old_ls = policy.log_std_values();
    let l_old = surrogate(policy, batch, &old_logp, cfg.ent_coef)?;
    let g = surrogate_gradient(policy, batch, cfg.ent_coef)?;
    let grad_norm = dot(&g, &g).sqrt();
    let mut stats = TrpoStats {
        surrogate_before: l_old,
        surrogate_after: l_old,
        kl: 0.0,
        accepted: false,
        backtracks: 0,
        grad_norm,
        expected_improvement: 0.0,
    };
    if !positive_finite(grad_norm) {
        return Ok(stats);
    }
    let fvp = |v: &[f32]| fisher_vector_product(policy, batch.obs, v, cfg.cg_damping);
    let x = conjugate_gradient(fvp, &g, cfg.cg_iters, cfg.cg_residual_tol)?;
    let xfx = dot(
        &x,
        &fisher_vector_product(policy, batch.obs, &x, cfg.cg_damping)?,
    );
    if !positive_finite(xfx) {
        return Ok(stats);
    }
    let beta = (2.0 * cfg.max_kl / xfx).sqrt();
    stats.expected_improvement = beta * dot(&g, &x);
    let mut frac = 1.0;
    for k in 0..cfg.backtrack_iters {
        let theta: Vec<f32> = theta_old
            .iter()
            .zip(&x)
            .map(|(&t, &xi)| t + (frac * beta * f64::from(xi)) as f32)
            .collect();
        set_flat_params(policy, &theta)?;
        let l_new = surrogate(policy, batch, &old_logp, cfg.ent_coef)?;
        let kl = mean_kl(
            policy.head(),
            &old_out,
            &old_ls,
            &policy.outputs(batch.obs, n)?,
            &policy.log_std_values(),
        );
        if l_new.is_finite() && kl.is_finite() && kl <= cfg.max_kl && l_new > l_old {
            stats.surrogate_after = l_new;
            stats.kl = kl;
            stats.accepted = true;
            stats.backtracks = k;
            return Ok(stats);
        }
        frac *= cfg.backtrack_coeff;
    }
    set_flat_params(policy, &theta_old)?;
    stats.backtracks = cfg.backtrack_iters;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eirl_models::{Activation, Parameterized, PolicyNetworkConfig};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn net(head: PolicyHead, act: Activation) -> Result<PolicyNetwork, ImitationError> {
        let cfg = PolicyNetworkConfig {
            hidden: vec![4],
            activation: act,
            output_scale: 1.0,
        };
        Ok(PolicyNetwork::new(3, head, &cfg, 11)?)
    }

    fn states(n: usize) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        (0..n * 3).map(|_| rng.gen_range(-1.5..1.5)).collect()
    }

    /// `∇_θ f_j(s)` for every output `j` of one state, by ordinary backward passes.
    fn jacobian_rows(policy: &PolicyNetwork, s: &[f32]) -> Result<Vec<Vec<f32>>, ImitationError> {
        let k = policy.output_dim();
        (0..k)
            .map(|j| {
                let x = matrix_from_slice(policy.device(), s, 1, 3)?.leaky_trace();
                let mut onehot = vec![0.0; k];
                onehot[j] = 1.0;
                let sel = policy.device().tensor_from_vec(onehot, (1, k));
                let mut grads = (policy.forward(x) * sel).sum::<Rank0, _>().backward();
                Ok(flat_gradients(policy, &mut grads))
            })
            .collect()
    }

    fn matvec(f: &[Vec<f64>], v: &[f32]) -> Vec<f64> {
        f.iter()
            .map(|row| row.iter().zip(v).map(|(a, &b)| a * f64::from(b)).sum())
            .collect()
    }

    fn assert_close(a: &[f32], e: &[f64], atol: f64, rtol: f64) {
        let scale = e.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        for (i, (&x, &y)) in a.iter().zip(e).enumerate() {
            assert!(
                (f64::from(x) - y).abs() <= atol + rtol * scale,
                "entry {i}: {x} vs {y} (scale {scale})"
            );
        }
    }

    /// Explicit categorical Fisher `(1/N) Σ_s Σ_a p(a|s) ∇log p(a|s) ∇log p(a|s)ᵀ` from exact
    /// per-sample score vectors (backward passes), independent of `Jᵀ M J`.
    fn explicit_categorical_fisher(
        policy: &PolicyNetwork,
        obs: &[f32],
    ) -> Result<Vec<Vec<f64>>, ImitationError> {
        let p_count = policy.num_params();
        let n = obs.len() / 3;
        let mut f = vec![vec![0.0f64; p_count]; p_count];
        for s in obs.chunks(3) {
            let probs = Categorical::probs(&policy.outputs(s, 1)?);
            for (a, &pa) in probs.iter().enumerate() {
                let acts = Actions::Discrete(vec![a]);
                let batch = PolicyBatch {
                    obs: s,
                    actions: &acts,
                    advantages: &[1.0],
                };
                let score = surrogate_gradient(policy, &batch, 0.0)?;
                for i in 0..p_count {
                    for j in 0..p_count {
                        f[i][j] +=
                            f64::from(pa) * f64::from(score[i]) * f64::from(score[j]) / n as f64;
                    }
                }
            }
        }
        Ok(f)
    }

    /// Explicit Gaussian Fisher `(1/N) Σ_s J_sᵀ diag(σ⁻²) J_s ⊕ 2I` with `J_s` from backward passes.
    fn explicit_gaussian_fisher(
        policy: &PolicyNetwork,
        obs: &[f32],
    ) -> Result<Vec<Vec<f64>>, ImitationError> {
        let p_count = policy.num_params();
        let n = obs.len() / 3;
        let ls = policy.log_std_values();
        let mut f = vec![vec![0.0f64; p_count]; p_count];
        for s in obs.chunks(3) {
            let rows = jacobian_rows(policy, s)?;
            for (j, row) in rows.iter().enumerate() {
                let w = (-2.0 * f64::from(ls[j])).exp() / n as f64;
                for a in 0..p_count {
                    for b in 0..p_count {
                        f[a][b] += w * f64::from(row[a]) * f64::from(row[b]);
                    }
                }
            }
        }
        for (i, row) in f.iter_mut().enumerate().skip(p_count - ls.len()) {
            row[i] += 2.0;
        }
        Ok(f)
    }

    fn random_vector(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    fn check_fvp_and_cg(
        policy: &PolicyNetwork,
        f: &[Vec<f64>],
        obs: &[f32],
        g: &[f32],
    ) -> Result<(), ImitationError> {
        let p_count = policy.num_params();
        for seed in 0..3 {
            let v = random_vector(p_count, seed);
            let fv = fisher_vector_product(policy, obs, &v, 0.0)?;
            assert_close(&fv, &matvec(f, &v), 1e-6, 1e-4);
        }
        // CG on the damped system: (F + λI) x ≈ g.
        let damping = 0.1;
        let x = conjugate_gradient(
            |v| fisher_vector_product(policy, obs, v, damping),
            g,
            4 * p_count,
            1e-14,
        )?;
        let mut fx = matvec(f, &x);
        for (y, &xi) in fx.iter_mut().zip(&x) {
            *y += damping * f64::from(xi);
        }
        let g64: Vec<f64> = g.iter().map(|&v| f64::from(v)).collect();
        let g_norm = dot(g, g).sqrt();
        let resid = fx
            .iter()
            .zip(&g64)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            resid <= 1e-3 * g_norm,
            "‖(F+λI)x − g‖ = {resid}, ‖g‖ = {g_norm}"
        );
        Ok(())
    }

    #[test]
    fn categorical_fisher_vector_products_match_the_explicit_fisher() -> Result<(), ImitationError>
    {
        for act in [Activation::Tanh, Activation::Relu] {
            let policy = net(PolicyHead::Categorical { num_actions: 3 }, act)?;
            let obs = states(6);
            let f = explicit_categorical_fisher(&policy, &obs)?;
            let acts = Actions::Discrete(vec![0, 1, 2, 1, 0, 2]);
            let adv = [1.0, -0.5, 0.3, 2.0, -1.0, 0.1];
            let g = surrogate_gradient(
                &policy,
                &PolicyBatch {
                    obs: &obs,
                    actions: &acts,
                    advantages: &adv,
                },
                0.0,
            )?;
            check_fvp_and_cg(&policy, &f, &obs, &g)?;
        }
        Ok(())
    }

    #[test]
    fn gaussian_fisher_vector_products_match_the_explicit_fisher() -> Result<(), ImitationError> {
        let head = PolicyHead::Gaussian {
            act_dim: 2,
            init_log_std: -0.3,
        };
        let policy = net(head, Activation::Tanh)?;
        let obs = states(5);
        let f = explicit_gaussian_fisher(&policy, &obs)?;
        let acts = Actions::Continuous {
            values: random_vector(10, 9),
            dim: 2,
        };
        let adv = [0.5, -1.0, 1.5, 0.2, -0.3];
        let g = surrogate_gradient(
            &policy,
            &PolicyBatch {
                obs: &obs,
                actions: &acts,
                advantages: &adv,
            },
            0.0,
        )?;
        check_fvp_and_cg(&policy, &f, &obs, &g)
    }

    /// `∇_θ [mean_i(ratio_i Â_i) + c_H · mean H]` from [`surrogate_gradient`] against central
    /// differences of [`surrogate`] with `c_H ≠ 0`. The network is f32 (the surrogate sums in
    /// f64): with `h = 1e-2` the two agree to within 1e-5 (observed 2.5e-6 categorical, 9.4e-6
    /// Gaussian), hence `atol = 1e-4`, `rtol = 1e-3` of the largest entry; the entropy term
    /// moves the gradient by more than 0.05, so a wrong sign or weight on it fails.
    #[test]
    fn surrogate_gradient_with_entropy_matches_finite_differences() -> Result<(), ImitationError> {
        let ent_coef = 0.5;
        for head in [
            PolicyHead::Categorical { num_actions: 3 },
            PolicyHead::Gaussian {
                act_dim: 2,
                init_log_std: -0.3,
            },
        ] {
            let mut policy = net(head, Activation::Tanh)?;
            let obs = states(6);
            let acts = match head {
                PolicyHead::Categorical { .. } => Actions::Discrete(vec![0, 1, 2, 1, 0, 2]),
                PolicyHead::Gaussian { .. } => Actions::Continuous {
                    values: random_vector(12, 9),
                    dim: 2,
                },
            };
            let adv = [0.3, -0.2, 0.1, 0.25, -0.15, 0.05];
            let batch = PolicyBatch {
                obs: &obs,
                actions: &acts,
                advantages: &adv,
            };
            let old_logp = log_probs(&policy, &obs, &acts)?;
            let g = surrogate_gradient(&policy, &batch, ent_coef)?;
            let theta = flat_params(&policy);
            let h = 1e-2f32;
            let mut fd = Vec::with_capacity(theta.len());
            for i in 0..theta.len() {
                let mut at = |x: f32| {
                    let mut t = theta.clone();
                    t[i] = x;
                    set_flat_params(&mut policy, &t)?;
                    surrogate(&policy, &batch, &old_logp, ent_coef)
                };
                let (lo, hi) = (theta[i] - h, theta[i] + h);
                fd.push((at(hi)? - at(lo)?) / f64::from(hi - lo));
            }
            set_flat_params(&mut policy, &theta)?;
            assert_close(&g, &fd, 1e-4, 1e-3);
            let g0 = surrogate_gradient(&policy, &batch, 0.0)?;
            let moved = g
                .iter()
                .zip(&g0)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                moved > 0.05,
                "{head:?}: the entropy term moved ∇L by only {moved}"
            );
        }
        Ok(())
    }

    #[test]
    fn trpo_step_improves_within_the_trust_region() -> Result<(), ImitationError> {
        for head in [
            PolicyHead::Categorical { num_actions: 3 },
            PolicyHead::Gaussian {
                act_dim: 2,
                init_log_std: 0.0,
            },
        ] {
            let mut policy = net(head, Activation::Tanh)?;
            let obs = states(64);
            let mut rng = ChaCha8Rng::seed_from_u64(2);
            let acts = match head {
                PolicyHead::Categorical { .. } => {
                    Actions::Discrete((0..64).map(|_| rng.gen_range(0..3)).collect())
                }
                PolicyHead::Gaussian { .. } => Actions::Continuous {
                    values: random_vector(128, 4),
                    dim: 2,
                },
            };
            // Reward action 0 / positive first coordinate.
            let adv: Vec<f32> = match &acts {
                Actions::Discrete(a) => {
                    a.iter().map(|&x| if x == 0 { 1.0 } else { -0.5 }).collect()
                }
                Actions::Continuous { values, .. } => values.chunks(2).map(|a| a[0]).collect(),
            };
            let batch = PolicyBatch {
                obs: &obs,
                actions: &acts,
                advantages: &adv,
            };
            let cfg = TrpoConfig::default();
            let before = flat_params(&policy);
            let stats = trpo_step(&mut policy, &batch, &cfg)?;
            assert!(stats.accepted, "{head:?}: {stats:?}");
            assert!(
                stats.kl <= cfg.max_kl && stats.kl > 0.1 * cfg.max_kl,
                "{stats:?}"
            );
            assert!(stats.surrogate_after > stats.surrogate_before);
            assert!(flat_params(&policy) != before);
            // A zero advantage gives no step and leaves the parameters alone.
            let zeros = vec![0.0; 64];
            let after = flat_params(&policy);
            let s2 = trpo_step(
                &mut policy,
                &PolicyBatch {
                    advantages: &zeros,
                    ..batch
                },
                &cfg,
            )?;
            assert!(!s2.accepted);
            assert_eq!(flat_params(&policy), after);
        }
        Ok(())
    }

    #[test]
    fn trpo_rejects_bad_batches() -> Result<(), ImitationError> {
        let mut policy = net(PolicyHead::Categorical { num_actions: 3 }, Activation::Tanh)?;
        let acts = Actions::Discrete(vec![0, 3]);
        let batch = PolicyBatch {
            obs: &[0.0; 6],
            actions: &acts,
            advantages: &[1.0, 1.0],
        };
        assert!(trpo_step(&mut policy, &batch, &TrpoConfig::default()).is_err());
        let acts = Actions::Discrete(vec![0, 1]);
        let batch = PolicyBatch {
            obs: &[0.0; 6],
            actions: &acts,
            advantages: &[1.0, f32::NAN],
        };
        assert!(trpo_step(&mut policy, &batch, &TrpoConfig::default()).is_err());
        assert!(fisher_vector_product(&policy, &[0.0; 5], &[0.0; 31], 0.1).is_err());
        Ok(())
    }
}
