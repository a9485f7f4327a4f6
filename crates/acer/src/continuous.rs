//! Continuous-action ACER's learner (Wang et al. 2017, §5): a Gaussian policy
//! `π(·|x) = N(μ_θ(x), diag σ²)` with a fixed σ, the Stochastic Dueling Network critic
//! (eq. 1.17), Q^ret with `ρ̄ = min(1, ρ^{1/d})` (eq. 1.20), the V target of eq. 1.19, Q^opc in
//! the policy gradient, and the trust region taken with respect to the mean φ = μ_θ(x).

use eirl_models::tensor::*;
use eirl_models::{
    DiagGaussian, Optimizer, RmsProp, StochasticDuelingNetwork, dueling_combination,
    matrix_from_slice, polyak_update,
};
use eirl_replay::SequenceBatch;
use eirl_returns::{QRetTrace, batched, continuous_truncated_weight_from_log};
use rand::Rng;

use crate::AcerError;
use crate::config::AcerConfig;
use crate::discrete::UpdateStats;
use crate::trust_region::{gaussian_kl_gradient_wrt_mean, trust_region_projection};

/// `log N(a | mean, diag exp(log_std)²)` of one row.
pub fn gaussian_log_prob(a: &[f32], mean: &[f32], log_std: &[f32]) -> f32 {
    const HALF_LN_2PI: f32 = 0.918_938_5;
    a.iter()
        .zip(mean)
        .zip(log_std)
        .map(|((a, m), l)| {
            let z = (a - m) * (-l).exp();
            -0.5 * z * z - l - HALF_LN_2PI
        })
        .sum()
}

/// Host-side inputs of one continuous ACER update, time-major over `N = T·B` rows.
#[derive(Clone, Copy, Debug)]
pub struct ContinuousInputs<'a> {
    /// `B`.
    pub batch: usize,
    /// Action dimension `d`.
    pub act_dim: usize,
    /// `μ_θ(x_t)`, `[T, B, d]`.
    pub mean: &'a [f32],
    /// The average policy network's mean, `[T, B, d]`.
    pub mean_avg: &'a [f32],
    /// `log σ` of the (fixed) policy, `[d]`.
    pub log_std: &'a [f32],
    /// Behaviour statistics stored at acting time: mean then log σ, `[T, B, 2d]`.
    pub mu: &'a [f32],
    /// `a_t`, `[T, B, d]`.
    pub actions: &'a [f32],
    /// `a'_t ~ π(·|x_t)`, fresh samples for the bias-correction term, `[T, B, d]`.
    pub actions_prime: &'a [f32],
    /// `Q̃(x_t, a_t)` (eq. 1.17), `[T, B]`.
    pub q_taken: &'a [f32],
    /// `Q̃(x_t, a'_t)`, `[T, B]`.
    pub q_prime: &'a [f32],
    /// `V(x_t)`, `[T, B]`.
    pub v: &'a [f32],
    /// `V(x_{t+1})` of the state each step led to (final state where an episode ended), `[T, B]`.
    pub v_next: &'a [f32],
    pub rewards: &'a [f32],
    pub discounts: &'a [f32],
    pub dones: &'a [bool],
}

/// What [`continuous_targets`] computes.
#[derive(Clone, Debug, Default)]
pub struct ContinuousTargets {
    /// Q^ret with `ρ̄ = min(1, ρ^{1/d})` (eqs. 1.8, 1.20), `[T, B]`.
    pub q_ret: Vec<f32>,
    /// Q^opc (trace 1), `[T, B]`.
    pub q_opc: Vec<f32>,
    /// `V^target(x_t) = min(1, ρ_t)(Q^ret_t − Q̃(x_t, a_t)) + V(x_t)` (eq. 1.19), `[T, B]`.
    pub v_target: Vec<f32>,
    /// `z*` (or ĝ without a trust region) with respect to the mean, `[T, B, d]`.
    pub mean_direction: Vec<f32>,
    pub mean_rho: f32,
    /// Mean `KL(π_avg ‖ π_θ)`.
    pub kl_avg: f32,
    /// Fraction of samples whose trust-region constraint was active (`k_tᵀĝ_t > δ`).
    pub trust_region_active: f32,
    /// Fraction of samples whose taken action's weight was truncated (`ρ_t > c`).
    pub truncation_active: f32,
    /// Fraction of samples with a non-zero bias-correction term (`ρ'_t > c` for the fresh
    /// sample `a'_t`).
    pub correction_active: f32,
    /// Largest `ρ_t` of the batch.
    pub max_rho: f32,
}

/// Continuous ACER's targets (§5):
///
/// * `Q^ret` by eq. 1.8 with `ρ̄_t = min(1, ρ_t^{1/d})` (eq. 1.20), `Q^opc` with `ρ̄ = 1`, both
///   cut where an episode ended; `V^target` by eq. 1.19.
/// * Policy gradient w.r.t. the mean, where `∇_μ log N(a|μ, σ²) = (a − μ)/σ²`:
///   `ĝ_t = min(c, ρ_t)(Q^opc_t − V_t)(a_t − μ_t)/σ² + [1 − c/ρ'_t]₊ (Q̃(x_t, a'_t) − V_t)(a'_t − μ_t)/σ²`.
/// * Trust region: `k_t = (μ_t − μ_avg,t)/σ²`, `z*_t` by eq. 1.16.
pub fn continuous_targets(
    inp: &ContinuousInputs<'_>,
    c: Option<f32>,
    delta: Option<f32>,
) -> Result<ContinuousTargets, AcerError> {
    let (b, d) = (inp.batch, inp.act_dim);
    let n = inp.rewards.len();
    if b == 0 || d == 0 || n == 0 || !n.is_multiple_of(b) {
        return Err(AcerError::Shape(format!(
            "{n} steps do not form a [T, {b}] batch with action dimension {d}"
        )));
    }
    for (name, len, want) in [
        ("mean", inp.mean.len(), n * d),
        ("mean_avg", inp.mean_avg.len(), n * d),
        ("log_std", inp.log_std.len(), d),
        ("mu", inp.mu.len(), n * 2 * d),
        ("actions", inp.actions.len(), n * d),
        ("actions_prime", inp.actions_prime.len(), n * d),
        ("q_taken", inp.q_taken.len(), n),
        ("q_prime", inp.q_prime.len(), n),
        ("v", inp.v.len(), n),
        ("v_next", inp.v_next.len(), n),
        ("discounts", inp.discounts.len(), n),
        ("dones", inp.dones.len(), n),
    ] {
        if len != want {
            return Err(AcerError::Shape(format!(
                "{name} has {len} values, expected {want}"
            )));
        }
    }
    let row = |x: &[f32], i: usize| -> Vec<f32> { x[i * d..(i + 1) * d].to_vec() };
    let log_ratio = |a: &[f32], i: usize| -> f32 {
        let m = &inp.mu[i * 2 * d..(i * 2 + 1) * d];
        let ls = &inp.mu[(i * 2 + 1) * d..(i + 1) * 2 * d];
        gaussian_log_prob(a, &inp.mean[i * d..(i + 1) * d], inp.log_std)
            - gaussian_log_prob(a, m, ls)
    };
    let log_rho: Vec<f32> = (0..n).map(|i| log_ratio(&row(inp.actions, i), i)).collect();
    let inner = n - b;
    let q_next = &inp.q_taken[b..];
    let mut ret_trace = Vec::with_capacity(inner);
    let mut opc_trace = Vec::with_capacity(inner);
    for i in 0..inner {
        let cut = inp.dones[i];
        ret_trace.push(if cut {
            0.0
        } else {
            continuous_truncated_weight_from_log(log_rho[i + b], d)?
        });
        opc_trace.push(if cut { 0.0 } else { 1.0 });
    }
    let mut q_ret = vec![0.0; n];
    let mut q_opc = vec![0.0; n];
    for (trace, out) in [(&ret_trace, &mut q_ret), (&opc_trace, &mut q_opc)] {
        batched::q_ret_into(
            q_next,
            inp.v_next,
            inp.rewards,
            inp.discounts,
            QRetTrace::Given(trace),
            b,
            out,
        )?;
    }
    let inv_var: Vec<f32> = inp.log_std.iter().map(|l| (-2.0 * l).exp()).collect();
    let truncating = c.is_some();
    let c = c.unwrap_or(f32::MAX);
    let (mut truncated, mut corrected, mut max_rho) = (0usize, 0usize, 0.0_f32);
    let mut dir = vec![0.0; n * d];
    let mut g = vec![0.0; d];
    let mut k = vec![0.0; d];
    let mut v_target = vec![0.0; n];
    let (mut rho_sum, mut active) = (0.0_f64, 0usize);
    for i in 0..n {
        let rho = log_rho[i].exp();
        rho_sum += f64::from(rho);
        v_target[i] = rho.min(1.0) * (q_ret[i] - inp.q_taken[i]) + inp.v[i];
        let rho_prime = log_ratio(&row(inp.actions_prime, i), i).exp();
        max_rho = max_rho.max(rho);
        if truncating {
            truncated += usize::from(rho > c);
            corrected += usize::from(rho_prime > c);
        }
        let taken = c.min(rho) * (q_opc[i] - inp.v[i]);
        let correction = if rho_prime > 0.0 {
            (1.0 - c / rho_prime).max(0.0) * (inp.q_prime[i] - inp.v[i])
        } else {
            0.0
        };
        for j in 0..d {
            let m = inp.mean[i * d + j];
            g[j] = (taken * (inp.actions[i * d + j] - m)
                + correction * (inp.actions_prime[i * d + j] - m))
                * inv_var[j];
        }
        let out = &mut dir[i * d..(i + 1) * d];
        match delta {
            Some(delta) => {
                gaussian_kl_gradient_wrt_mean(
                    &inp.mean[i * d..(i + 1) * d],
                    &inp.mean_avg[i * d..(i + 1) * d],
                    inp.log_std,
                    &mut k,
                );
                if trust_region_projection(&g, &k, delta, out)? > 0.0 {
                    active += 1;
                }
            }
            None => out.copy_from_slice(&g),
        }
    }
    let kl = DiagGaussian::kl(inp.mean_avg, inp.log_std, inp.mean, inp.log_std);
    Ok(ContinuousTargets {
        q_ret,
        q_opc,
        v_target,
        mean_direction: dir,
        mean_rho: (rho_sum / n as f64) as f32,
        kl_avg: kl.iter().sum::<f32>() / n as f32,
        trust_region_active: active as f32 / n as f32,
        truncation_active: truncated as f32 / n as f32,
        correction_active: corrected as f32 / n as f32,
        max_rho,
    })
}

/// The continuous learner: SDN, its average copy, optimizer and the fixed `log σ`.
pub(crate) struct ContinuousLearner {
    pub net: StochasticDuelingNetwork,
    pub avg: StochasticDuelingNetwork,
    pub opt: RmsProp,
    pub log_std: Vec<f32>,
}

impl ContinuousLearner {
    fn sample(&self, mean: &[f32], rng: &mut impl Rng) -> Vec<f32> {
        mean.chunks(self.log_std.len())
            .flat_map(|m| DiagGaussian::sample(m, &self.log_std, rng))
            .collect()
    }

    /// One continuous ACER update on a time-major batch of sequences.
    pub fn update(
        &mut self,
        batch: &SequenceBatch,
        cfg: &AcerConfig,
        rng: &mut impl Rng,
    ) -> Result<UpdateStats, AcerError> {
        let (n, od, b) = (batch.steps(), batch.obs_dim, batch.batch);
        let d = self.net.act_dim();
        let s = cfg.sdn_samples;
        let dev = self.net.device().clone();
        let mean_now = self.net.means(&batch.obs, n)?;
        let u = self.sample(&mean_now.repeat(s), rng);
        let a_prime = self.sample(&mean_now, rng);
        // One tape through μ_θ, V and the SDN's advantage of [a_t; u_1; …; u_n].
        let x = matrix_from_slice(&dev, &batch.obs, n, od)?;
        let (x, tape) = x.leaky_trace().split_tape();
        let (mean, tape) = self.net.mean_forward(x.clone().put_tape(tape)).split_tape();
        let (v_row, tape) = self
            .net
            .value_forward(x.put_tape(tape))
            .permute::<(usize, usize), Axes2<1, 0>>()
            .split_tape();
        let mut sets = batch.actions.clone();
        sets.extend_from_slice(&u);
        let rows = self.net.pair_rows(&batch.obs, &sets, n)?;
        let xa = matrix_from_slice(&dev, &rows, (s + 1) * n, od + d)?;
        let q_tilde = self
            .net
            .advantage_forward(xa.put_tape(tape))
            .permute::<(usize, usize), Axes2<1, 0>>()
            .matmul(dueling_combination(&dev, n, s))
            + v_row.clone();
        let (q_taken, v) = (q_tilde.as_vec(), v_row.as_vec());
        let q_prime = self.net.q_tilde(&batch.obs, &a_prime, &u, n)?;
        let mean_avg = self.avg.means(&batch.obs, n)?;
        let mut v_next = vec![0.0; n];
        v_next[..n - b].copy_from_slice(&v[b..]);
        let needs: Vec<usize> = (0..n)
            .filter(|&i| i / b == batch.seq_len - 1 || batch.dones[i])
            .collect();
        if !needs.is_empty() {
            let rows: Vec<f32> = needs
                .iter()
                .flat_map(|&i| batch.next_obs[i * od..(i + 1) * od].iter().copied())
                .collect();
            let vb = self.net.values(&rows, needs.len())?;
            for (&i, v) in needs.iter().zip(vb) {
                v_next[i] = v;
            }
        }
        let t = continuous_targets(
            &ContinuousInputs {
                batch: b,
                act_dim: d,
                mean: &mean_now,
                mean_avg: &mean_avg,
                log_std: &self.log_std,
                mu: &batch.mu,
                actions: &batch.actions,
                actions_prime: &a_prime,
                q_taken: &q_taken,
                q_prime: &q_prime,
                v: &v,
                v_next: &v_next,
                rewards: &batch.rewards,
                discounts: &batch.discounts,
                dones: &batch.dones,
            },
            cfg.truncation.then_some(cfg.c),
            cfg.trust_region.then_some(cfg.delta),
        )?;
        if t.q_ret
            .iter()
            .chain(&t.v_target)
            .chain(&t.mean_direction)
            .any(|v| !v.is_finite())
        {
            return Err(AcerError::Model(eirl_models::ModelError::NonFinite(
                "ACER target",
            )));
        }
        let nf = n as f32;
        let half = 0.5 * cfg.q_coef;
        let y_q = dev.tensor_from_vec(t.q_ret.clone(), (1, n));
        let y_v = dev.tensor_from_vec(t.v_target.clone(), (1, n));
        let q_loss = (q_tilde - y_q).square().mean::<Rank0, _>() * half;
        let (q_loss, tape) = q_loss.split_tape();
        let v_loss = (v_row.put_tape(tape) - y_v).square().mean::<Rank0, _>() * half;
        let (v_loss, tape) = v_loss.split_tape();
        let z = dev.tensor_from_vec(t.mean_direction.iter().map(|v| -v / nf).collect(), (n, d));
        let surrogate = (mean.put_tape(tape) * z).sum::<Rank0, _>();
        let (q_loss_v, surrogate_v) = (q_loss.array(), surrogate.array());
        let loss = surrogate + q_loss + v_loss;
        let mut grads = loss.backward();
        let grad_norm = self
            .opt
            .step(&mut self.net, &mut grads, cfg.max_grad_norm)?;
        polyak_update(&mut self.avg, &self.net, cfg.alpha)?;
        Ok(UpdateStats {
            value_loss: q_loss_v / half.max(f32::MIN_POSITIVE),
            policy_surrogate: surrogate_v,
            entropy: DiagGaussian::entropy(&self.log_std),
            mean_rho: t.mean_rho,
            kl_avg: t.kl_avg,
            trust_region_active: t.trust_region_active,
            truncation_active: t.truncation_active,
            correction_active: t.correction_active,
            max_rho: t.max_rho,
            samples: n,
            grad_norm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_policy_targets_reduce_to_their_definitions() -> Result<(), AcerError> {
        // B = 1, T = 3, d = 1, behaviour = target policy (ρ = 1), no episode end.
        let mean = [0.2_f32, -0.1, 0.4];
        let mu = [0.2, 0.0, -0.1, 0.0, 0.4, 0.0];
        let q_taken = [1.0, 2.0, 3.0];
        let v = [0.5, 1.5, 2.5];
        let v_next = [1.4, 2.4, 3.0];
        let r = [1.0, 1.0, 1.0];
        let g = [0.9, 0.9, 0.9];
        let inp = ContinuousInputs {
            batch: 1,
            act_dim: 1,
            mean: &mean,
            mean_avg: &mean,
            log_std: &[0.0],
            mu: &mu,
            actions: &[0.5, 0.0, 1.0],
            actions_prime: &[0.0, 0.3, 0.2],
            q_taken: &q_taken,
            q_prime: &[0.0; 3],
            v: &v,
            v_next: &v_next,
            rewards: &r,
            discounts: &g,
            dones: &[false; 3],
        };
        let t = continuous_targets(&inp, Some(10.0), Some(1.0))?;
        let q2 = 1.0 + 0.9 * 3.0;
        let q1 = 1.0 + 0.9 * ((q2 - 3.0) + 2.4);
        let q0 = 1.0 + 0.9 * ((q1 - 2.0) + 1.4);
        for (got, want) in t.q_ret.iter().zip([q0, q1, q2]) {
            assert!((got - want).abs() < 1e-5);
        }
        // ρ = 1 on-policy: Q^opc = Q^ret, V^target = Q^ret − Q̃ + V, no bias correction.
        for i in 0..3 {
            assert!((t.q_opc[i] - t.q_ret[i]).abs() < 1e-6);
            assert!((t.v_target[i] - (t.q_ret[i] - q_taken[i] + v[i])).abs() < 1e-5);
        }
        // k = 0 (average = current): no projection; ĝ = (Q^opc − V)(a − μ)/σ².
        assert!((t.mean_direction[0] - (t.q_opc[0] - 0.5) * 0.3).abs() < 1e-5);
        assert!(t.trust_region_active.abs() < f32::EPSILON);
        Ok(())
    }

    /// Off-policy, with `c` binding on both terms: ĝ is the gradient with respect to the mean of
    /// `min(c, ρ_t)(Q^opc_t − V_t) log π(a_t) + [1 − c/ρ'_t]₊ (Q̃(x_t, a'_t) − V_t) log π(a'_t)`
    /// with its coefficients held fixed (eq. 1.12 with Q^opc, §5), checked by central finite
    /// differences of that objective; Q^opc is recomputed here from its recursion.
    #[test]
    fn off_policy_gradient_matches_finite_differences_with_c_binding() -> Result<(), AcerError> {
        // T = 2, B = 2, d = 2; column 1 ends (terminated) at t = 0.
        let (b, d, n) = (2usize, 2usize, 4usize);
        let mean = [0.3_f32, -0.2, 0.1, 0.4, -0.5, 0.2, 0.0, 0.6];
        let log_std = [-0.3_f32, 0.2];
        // Behaviour: shifted means and narrower σ, so some ratios are far above c.
        let mut mu = Vec::new();
        for i in 0..n {
            mu.extend([mean[i * d] + 0.8, mean[i * d + 1] - 0.5]);
            mu.extend([-0.9_f32, -0.6]);
        }
        let actions = [1.0_f32, -0.6, 0.2, 0.5, 0.3, -0.1, -0.4, 0.9];
        let actions_prime = [0.1_f32, -0.1, 0.9, 0.0, -0.6, 0.1, 1.2, 0.2];
        let q_taken = [1.0_f32, 0.4, -0.3, 0.8];
        let q_prime = [0.2_f32, 1.5, 0.7, -0.6];
        let v = [0.5_f32, -0.1, 0.2, 0.3];
        let v_next = [0.6_f32, 0.0, -0.4, 0.9];
        let rewards = [1.0_f32, -0.5, 0.3, 2.0];
        let discounts = [0.9_f32, 0.0, 0.9, 0.9];
        let dones = [false, true, false, false];
        let inp = ContinuousInputs {
            batch: b,
            act_dim: d,
            mean: &mean,
            mean_avg: &mean,
            log_std: &log_std,
            mu: &mu,
            actions: &actions,
            actions_prime: &actions_prime,
            q_taken: &q_taken,
            q_prime: &q_prime,
            v: &v,
            v_next: &v_next,
            rewards: &rewards,
            discounts: &discounts,
            dones: &dones,
        };
        let c = 1.5_f32;
        let t = continuous_targets(&inp, Some(c), None)?;
        // log N in f64, for the objective and the ratios.
        let log_n = |a: &[f64], m: &[f64], ls: &[f64]| -> f64 {
            (0..a.len())
                .map(|j| {
                    let z = (a[j] - m[j]) / ls[j].exp();
                    -0.5 * z * z - ls[j] - 0.5 * (2.0 * std::f64::consts::PI).ln()
                })
                .sum()
        };
        let f = |x: &[f32]| -> Vec<f64> { x.iter().map(|&v| f64::from(v)).collect() };
        let ls = f(&log_std);
        let ratio = |a: &[f32], i: usize| -> f64 {
            let behaviour = f(&mu[i * 2 * d..(i * 2 + 2) * d]);
            (log_n(&f(a), &f(&mean[i * d..(i + 1) * d]), &ls)
                - log_n(&f(a), &behaviour[..d], &behaviour[d..]))
            .exp()
        };
        // Q^opc (trace 1): column 0 bootstraps at t = 1 then follows eq. 1.8; column 1 is r at
        // its end, then bootstraps at t = 1.
        let q_opc = |i: usize| -> f64 {
            let last = |j: usize| f64::from(rewards[j] + discounts[j] * v_next[j]);
            match i {
                2 | 3 => last(i),
                0 => {
                    f64::from(rewards[0])
                        + f64::from(discounts[0])
                            * (last(2) - f64::from(q_taken[2]) + f64::from(v_next[0]))
                }
                _ => f64::from(rewards[1]),
            }
        };
        let (mut binding_taken, mut binding_prime) = (0, 0);
        for i in 0..n {
            let a = &actions[i * d..(i + 1) * d];
            let ap = &actions_prime[i * d..(i + 1) * d];
            let (rho, rho_p) = (ratio(a, i), ratio(ap, i));
            binding_taken += usize::from(rho > f64::from(c));
            binding_prime += usize::from(rho_p > f64::from(c));
            let coef_taken = rho.min(f64::from(c)) * (q_opc(i) - f64::from(v[i]));
            let coef_prime = (1.0 - f64::from(c) / rho_p).max(0.0) * f64::from(q_prime[i] - v[i]);
            let objective = |m: &[f64]| -> f64 {
                coef_taken * log_n(&f(a), m, &ls) + coef_prime * log_n(&f(ap), m, &ls)
            };
            let base = f(&mean[i * d..(i + 1) * d]);
            for j in 0..d {
                let (mut p, mut m) = (base.clone(), base.clone());
                p[j] += 1e-6;
                m[j] -= 1e-6;
                let fd = (objective(&p) - objective(&m)) / 2e-6;
                let got = f64::from(t.mean_direction[i * d + j]);
                assert!(
                    (fd - got).abs() < 1e-3 * (1.0 + fd.abs()),
                    "row {i} component {j}: ĝ {got} vs finite difference {fd}"
                );
            }
        }
        // The case must exercise both truncations, and the counters must see them.
        assert!(
            binding_taken > 0 && binding_taken < n,
            "ρ > c on {binding_taken} rows"
        );
        assert!(binding_prime > 0, "ρ' > c on {binding_prime} rows");
        let frac = |k: usize| k as f32 / n as f32;
        assert!((t.truncation_active - frac(binding_taken)).abs() < 1e-6);
        assert!((t.correction_active - frac(binding_prime)).abs() < 1e-6);
        // With a trust region against a distant average policy, the step obeys kᵀz ≤ δ.
        let far: Vec<f32> = mean.iter().map(|m| m - 2.0).collect();
        let bounded = continuous_targets(
            &ContinuousInputs {
                mean_avg: &far,
                ..inp
            },
            Some(c),
            Some(0.05),
        )?;
        let mut k = vec![0.0; d];
        for i in 0..n {
            gaussian_kl_gradient_wrt_mean(
                &mean[i * d..(i + 1) * d],
                &far[i * d..(i + 1) * d],
                &log_std,
                &mut k,
            );
            let kz: f32 = (0..d)
                .map(|j| k[j] * bounded.mean_direction[i * d + j])
                .sum();
            assert!(kz <= 0.05 + 1e-4, "row {i}: kᵀz = {kz}");
        }
        assert!(bounded.trust_region_active > 0.0);
        Ok(())
    }
}
