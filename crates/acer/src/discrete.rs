//! Discrete-action ACER's learner (Wang et al. 2017, §3): Q^ret targets (eq. 1.8), the
//! truncated-importance-sampling policy gradient with bias correction (eqs. 1.9–1.12) taken with
//! respect to the logits φ_θ(x), the efficient trust region (eqs. 1.13–1.16), and the combined
//! update of the shared actor-critic network with its average policy network.

use eirl_models::tensor::*;
use eirl_models::{ActorCritic, Categorical, Optimizer, RmsProp, matrix_from_slice, polyak_update};
use eirl_replay::SequenceBatch;
use eirl_returns::{QRetTrace, batched, policy_gradient_coefficients_into};

use crate::AcerError;
use crate::config::AcerConfig;
use crate::trust_region::{categorical_kl_gradient, trust_region_projection};

/// Host-side inputs of one discrete ACER update, time-major over `N = T·B` rows.
#[derive(Clone, Copy, Debug)]
pub struct DiscreteInputs<'a> {
    /// `B`.
    pub batch: usize,
    /// `A`.
    pub num_actions: usize,
    /// `π_θ(·|x_t)`, `[T, B, A]`.
    pub pi: &'a [f32],
    /// `π_θa(·|x_t)` of the average policy network, `[T, B, A]`.
    pub pi_avg: &'a [f32],
    /// `μ(·|x_t)`, the behaviour distribution stored at acting time, `[T, B, A]`.
    pub mu: &'a [f32],
    /// `Q_θv(x_t, ·)`, `[T, B, A]`.
    pub q: &'a [f32],
    /// `a_t`, `[T, B]`.
    pub actions: &'a [usize],
    /// `r_t`, `[T, B]`.
    pub rewards: &'a [f32],
    /// `γ(1 − terminated_t)`, `[T, B]`.
    pub discounts: &'a [f32],
    /// Episode ended (terminated or truncated) at step t: the trace is cut there, `[T, B]`.
    pub dones: &'a [bool],
    /// `V(x_{t+1}) = Σ_a π(a|x_{t+1}) Q(x_{t+1}, a)` of the state each step led to (the true
    /// final state for an episode that ended; the last row bootstraps), `[T, B]`.
    pub v_next: &'a [f32],
}

/// What [`discrete_targets`] computes: the critic's regression target and the direction the
/// logits should move in.
#[derive(Clone, Debug, Default)]
pub struct DiscreteTargets {
    /// `Q^ret(x_t, a_t)` (eq. 1.8), `[T, B]`.
    pub q_ret: Vec<f32>,
    /// `z*_t` (eq. 1.16), or `ĝ_t` without a trust region: the per-sample ascent direction for
    /// the logits φ_θ(x_t), `[T, B, A]`.
    pub logit_direction: Vec<f32>,
    /// `V(x_t) = Σ_a π(a|x_t) Q(x_t, a)`, `[T, B]`.
    pub v: Vec<f32>,
    /// Mean importance ratio `ρ_t = π(a_t|x_t)/μ(a_t|x_t)`.
    pub mean_rho: f32,
    /// Mean policy entropy.
    pub entropy: f32,
    /// Mean `KL(π_avg ‖ π_θ)`.
    pub kl_avg: f32,
    /// Fraction of samples whose trust-region constraint was active (`k_tᵀĝ_t > δ`; 0 without a
    /// trust region).
    pub trust_region_active: f32,
    /// Fraction of samples whose taken action's weight was truncated (`ρ_t > c`; 0 in the
    /// untruncated ablation).
    pub truncation_active: f32,
    /// Fraction of samples with a non-zero bias-correction term (some action with `ρ(a) > c`;
    /// 0 in the untruncated ablation).
    pub correction_active: f32,
    /// Largest `ρ_t` of the batch.
    pub max_rho: f32,
}

/// Knobs of [`discrete_targets`], from [`AcerConfig`].
#[derive(Clone, Copy, Debug)]
pub struct DiscreteParams {
    /// `c` of eq. 1.9 (`None`: the untruncated ablation, no bias correction).
    pub c: Option<f32>,
    /// Retrace truncation in Q^ret (eq. 1.8: 1).
    pub trace_c: f32,
    /// Entropy bonus β, added to ĝ before the projection (as baselines does).
    pub ent_coef: f32,
    /// δ, or `None` without a trust region.
    pub delta: Option<f32>,
}

impl DiscreteParams {
    pub fn from_config(cfg: &AcerConfig) -> Self {
        DiscreteParams {
            c: cfg.truncation.then_some(cfg.c),
            trace_c: cfg.trace_c,
            ent_coef: cfg.ent_coef,
            delta: cfg.trust_region.then_some(cfg.delta),
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// Discrete ACER's targets for one batch of sequences.
///
/// * Critic: `Q^ret(x_t, a_t) = r_t + γ ρ̄_{t+1}[Q^ret_{t+1} − Q(x_{t+1}, a_{t+1})] + γ V(x_{t+1})`
///   with `ρ̄ = min(trace_c, ρ)` (eq. 1.8), cut where an episode ended; computed by
///   [`eirl_returns::batched::q_ret_into`].
/// * Actor (eqs. 1.11–1.12, with respect to φ = logits, where `∇_φ log π(a) = e_a − π`):
///   `ĝ_t = min(c, ρ_t)(Q^ret_t − V_t)(e_{a_t} − π_t)
///        + Σ_a [1 − c/ρ_t(a)]₊ π_t(a)(Q(x_t, a) − V_t)(e_a − π_t) + β ∇_φ H(π_t)`,
///   coefficients from [`eirl_returns::policy_gradient_coefficients_into`].
/// * Trust region (eqs. 1.13–1.16): `k_t = π_t − π_avg,t`,
///   `z*_t = ĝ_t − max(0, (k_tᵀĝ_t − δ)/‖k_t‖²) k_t`.
pub fn discrete_targets<'a>(
    inp: &DiscreteInputs<'a>,
    params: &DiscreteParams,
) -> Result<DiscreteTargets, AcerError> {
    let (b, na) = (inp.batch, inp.num_actions);
    let n = inp.actions.len();
    if b == 0 || na == 0 || n == 0 || !n.is_multiple_of(b) {
        return Err(AcerError::Shape(format!(
            "{n} steps do not form a [T, {b}] batch with {na} actions"
        )));
    }
    for (name, len, want) in [
        ("pi", inp.pi.len(), n * na),
        ("pi_avg", inp.pi_avg.len(), n * na),
        ("mu", inp.mu.len(), n * na),
        ("q", inp.q.len(), n * na),
        ("rewards", inp.rewards.len(), n),
        ("discounts", inp.discounts.len(), n),
        ("dones", inp.dones.len(), n),
        ("v_next", inp.v_next.len(), n),
    ] {
        if len != want {
            return Err(AcerError::Shape(format!(
                "{name} has {len} values, expected {want}"
            )));
        }
    }
    if let Some(&a) = inp.actions.iter().find(|&&a| a >= na) {
        return Err(AcerError::Shape(format!("action {a} out of range 0..{na}")));
    }
    let row = |x: &'a [f32], i: usize| -> &'a [f32] { &x[i * na..(i + 1) * na] };
    // V(x_t) and ρ_t.
    let v: Vec<f32> = (0..n).map(|i| dot(row(inp.pi, i), row(inp.q, i))).collect();
    let rho: Vec<f32> = (0..n)
        .map(|i| {
            let a = inp.actions[i];
            inp.pi[i * na + a] / inp.mu[i * na + a].max(f32::MIN_POSITIVE)
        })
        .collect();
    // Q^ret, eq. 1.8: q_t = Q(x_{t+1}, a_{t+1}), trace_t = min(trace_c, ρ_{t+1}) or 0 at an end.
    let inner = n - b;
    let q_next: Vec<f32> = (0..inner)
        .map(|i| inp.q[(i + b) * na + inp.actions[i + b]])
        .collect();
    let trace: Vec<f32> = (0..inner)
        .map(|i| {
            if inp.dones[i] {
                0.0
            } else {
                params.trace_c.min(rho[i + b])
            }
        })
        .collect();
    let mut q_ret = vec![0.0; n];
    batched::q_ret_into(
        &q_next,
        inp.v_next,
        inp.rewards,
        inp.discounts,
        QRetTrace::Given(&trace),
        b,
        &mut q_ret,
    )?;
    // Eqs. 1.9–1.11 coefficients. The untruncated ablation takes c = f32::MAX: min(c, ρ) = ρ and
    // [π − c μ]₊ = 0 wherever μ > 0.
    let c = params.c.unwrap_or(f32::MAX);
    let mut taken = vec![0.0; n];
    let mut per_action = vec![0.0; n * na];
    policy_gradient_coefficients_into(
        &q_ret,
        inp.q,
        &v,
        inp.pi,
        inp.mu,
        inp.actions,
        c,
        &mut taken,
        &mut per_action,
    )?;
    let mut dir = vec![0.0; n * na];
    let mut g = vec![0.0; na];
    let mut k = vec![0.0; na];
    let (mut entropy, mut kl, mut active) = (0.0_f64, 0.0_f64, 0usize);
    let (mut truncated, mut corrected) = (0usize, 0usize);
    for i in 0..n {
        let (pi, avg) = (row(inp.pi, i), row(inp.pi_avg, i));
        let pa = &per_action[i * na..(i + 1) * na];
        if params.c.is_some() {
            truncated += usize::from(rho[i] > c);
            // [1 − c/ρ(a)]₊ > 0 ⇔ π(a) > c μ(a).
            corrected += usize::from(
                pi.iter()
                    .zip(row(inp.mu, i))
                    .any(|(&p, &m)| p > c * m.max(f32::MIN_POSITIVE)),
            );
        }
        let pa_sum: f32 = pa.iter().sum();
        let h: f32 = -pi.iter().map(|&p| p * p.max(1e-12).ln()).sum::<f32>();
        entropy += h as f64;
        kl += avg
            .iter()
            .zip(pi)
            .map(|(&a, &p)| {
                if a > 0.0 {
                    a * (a.ln() - p.max(1e-12).ln())
                } else {
                    0.0
                }
            })
            .sum::<f32>() as f64;
        for j in 0..na {
            let onehot = if j == inp.actions[i] { 1.0 } else { 0.0 };
            // ∇_φ log π(a_t) = e_{a_t} − π;  Σ_a w_a (e_a − π) = w − (Σ w) π;
            // ∇_φ H = −π ⊙ (log π + H).
            g[j] = taken[i] * (onehot - pi[j]) + pa[j]
                - pa_sum * pi[j]
                - params.ent_coef * pi[j] * (pi[j].max(1e-12).ln() + h);
        }
        let out = &mut dir[i * na..(i + 1) * na];
        match params.delta {
            Some(delta) => {
                categorical_kl_gradient(pi, avg, &mut k);
                if trust_region_projection(&g, &k, delta, out)? > 0.0 {
                    active += 1;
                }
            }
            None => out.copy_from_slice(&g),
        }
    }
    let nf = n as f32;
    Ok(DiscreteTargets {
        q_ret,
        logit_direction: dir,
        v,
        mean_rho: rho.iter().sum::<f32>() / nf,
        entropy: (entropy / n as f64) as f32,
        kl_avg: (kl / n as f64) as f32,
        trust_region_active: active as f32 / nf,
        truncation_active: truncated as f32 / nf,
        correction_active: corrected as f32 / nf,
        max_rho: rho.iter().copied().fold(0.0, f32::max),
    })
}

/// Statistics of one ACER update.
#[derive(Clone, Copy, Debug, Default)]
pub struct UpdateStats {
    /// `½ mean (Q^ret − Q)²`.
    pub value_loss: f32,
    /// `−mean φ·z*` (the surrogate whose gradient is the projected policy gradient).
    pub policy_surrogate: f32,
    pub entropy: f32,
    pub mean_rho: f32,
    pub kl_avg: f32,
    pub trust_region_active: f32,
    pub truncation_active: f32,
    pub correction_active: f32,
    pub max_rho: f32,
    /// Samples (`T·B`) the update used.
    pub samples: usize,
    pub grad_norm: f32,
}

/// The discrete learner: network, average policy network and optimizer.
pub(crate) struct DiscreteLearner {
    pub net: ActorCritic,
    pub avg: ActorCritic,
    pub opt: RmsProp,
}

pub(crate) fn probs_rows(logits: &[f32], na: usize) -> Vec<f32> {
    logits.chunks(na).flat_map(Categorical::probs).collect()
}

impl DiscreteLearner {
    /// One ACER update on a time-major batch of sequences (on-policy rollout or replay sample).
    pub fn update(
        &mut self,
        batch: &SequenceBatch,
        cfg: &AcerConfig,
    ) -> Result<UpdateStats, AcerError> {
        let na = self.net.num_actions();
        let (n, d, b) = (batch.steps(), batch.obs_dim, batch.batch);
        let actions: Vec<usize> = batch.actions.iter().map(|&a| a as usize).collect();
        let dev = self.net.device().clone();
        let x = matrix_from_slice(&dev, &batch.obs, n, d)?;
        let (logits, q) = self.net.forward(x.leaky_trace());
        let logits_v = logits.as_vec();
        let q_v = q.as_vec();
        let pi = probs_rows(&logits_v, na);
        let pi_avg = probs_rows(&self.avg.logits(&batch.obs, n)?, na);
        // V(x_{t+1}): from the next row where the episode continues inside the sequence,
        // otherwise from a forward pass over the stored next observation.
        let t_len = batch.seq_len;
        let needs: Vec<usize> = (0..n)
            .filter(|&i| i / b == t_len - 1 || batch.dones[i])
            .collect();
        let mut v_next = vec![0.0; n];
        for (i, v) in v_next[..n - b].iter_mut().enumerate() {
            let j = i + b;
            *v = dot(&pi[j * na..(j + 1) * na], &q_v[j * na..(j + 1) * na]);
        }
        if !needs.is_empty() {
            let rows: Vec<f32> = needs
                .iter()
                .flat_map(|&i| batch.next_obs[i * d..(i + 1) * d].iter().copied())
                .collect();
            let (l, qb) = self.net.logits_and_q(&rows, needs.len())?;
            let pb = probs_rows(&l, na);
            for (r, &i) in needs.iter().enumerate() {
                v_next[i] = dot(&pb[r * na..(r + 1) * na], &qb[r * na..(r + 1) * na]);
            }
        }
        let targets = discrete_targets(
            &DiscreteInputs {
                batch: b,
                num_actions: na,
                pi: &pi,
                pi_avg: &pi_avg,
                mu: &batch.mu,
                q: &q_v,
                actions: &actions,
                rewards: &batch.rewards,
                discounts: &batch.discounts,
                dones: &batch.dones,
                v_next: &v_next,
            },
            &DiscreteParams::from_config(cfg),
        )?;
        if targets.q_ret.iter().any(|v| !v.is_finite())
            || targets.logit_direction.iter().any(|v| !v.is_finite())
        {
            return Err(AcerError::Model(eirl_models::ModelError::NonFinite(
                "ACER target",
            )));
        }
        let nf = n as f32;
        // Critic: q_coef · ½ mean (Q^ret − Q(x_t, a_t))².
        let idx = dev.tensor_from_vec(actions, (n,));
        let y = dev.tensor_from_vec(targets.q_ret.clone(), (n,));
        let value_loss = ((q.select(idx) - y).square().mean::<Rank0, _>()) * (0.5 * cfg.q_coef);
        let value_loss_v = value_loss.array();
        // Actor: backpropagate z* through the network via the surrogate −(1/N) Σ_t φ_t · z*_t.
        let (value_loss, tape) = value_loss.split_tape();
        let z = dev.tensor_from_vec(
            targets.logit_direction.iter().map(|v| -v / nf).collect(),
            (n, na),
        );
        let surrogate = (logits.put_tape(tape) * z).sum::<Rank0, _>();
        let surrogate_v = surrogate.array();
        let loss = surrogate + value_loss;
        let mut grads = loss.backward();
        let grad_norm = self
            .opt
            .step(&mut self.net, &mut grads, cfg.max_grad_norm)?;
        // θ_a ← α θ_a + (1 − α) θ (§3.3).
        polyak_update(&mut self.avg, &self.net, cfg.alpha)?;
        Ok(UpdateStats {
            value_loss: value_loss_v / cfg.q_coef.max(f32::MIN_POSITIVE),
            policy_surrogate: surrogate_v,
            entropy: targets.entropy,
            mean_rho: targets.mean_rho,
            kl_avg: targets.kl_avg,
            trust_region_active: targets.trust_region_active,
            truncation_active: targets.truncation_active,
            correction_active: targets.correction_active,
            max_rho: targets.max_rho,
            samples: n,
            grad_norm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn softmax(l: &[f32]) -> Vec<f32> {
        Categorical::probs(l)
    }

    /// Two sequences of T = 3 with 3 actions; column 1 ends (truncated) at t = 0.
    struct Case {
        pi: Vec<f32>,
        pi_avg: Vec<f32>,
        mu: Vec<f32>,
        q: Vec<f32>,
        actions: Vec<usize>,
        rewards: Vec<f32>,
        discounts: Vec<f32>,
        dones: Vec<bool>,
        v_next: Vec<f32>,
        logits: Vec<f32>,
    }

    fn case(mu_scale: f32) -> Case {
        let (n, na) = (6, 3);
        let logits: Vec<f32> = (0..n * na)
            .map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.4)
            .collect();
        let pi: Vec<f32> = logits.chunks(na).flat_map(softmax).collect();
        let avg_logits: Vec<f32> = logits.iter().map(|l| l * 0.5 + 0.1).collect();
        let pi_avg: Vec<f32> = avg_logits.chunks(na).flat_map(softmax).collect();
        let mu_logits: Vec<f32> = logits.iter().map(|l| l * mu_scale).collect();
        let mu: Vec<f32> = mu_logits.chunks(na).flat_map(softmax).collect();
        let q: Vec<f32> = (0..n * na).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        Case {
            pi,
            pi_avg,
            mu,
            q,
            actions: vec![0, 2, 1, 1, 2, 0],
            rewards: vec![1.0, 0.5, -1.0, 1.0, 0.0, 2.0],
            discounts: vec![0.9, 0.9, 0.9, 0.0, 0.9, 0.9],
            dones: vec![false, true, false, true, false, false],
            v_next: vec![0.3, -0.2, 0.1, 0.4, -0.5, 0.6],
            logits,
        }
    }

    fn inputs(c: &Case) -> DiscreteInputs<'_> {
        DiscreteInputs {
            batch: 2,
            num_actions: 3,
            pi: &c.pi,
            pi_avg: &c.pi_avg,
            mu: &c.mu,
            q: &c.q,
            actions: &c.actions,
            rewards: &c.rewards,
            discounts: &c.discounts,
            dones: &c.dones,
            v_next: &c.v_next,
        }
    }

    const PLAIN: DiscreteParams = DiscreteParams {
        c: Some(10.0),
        trace_c: 1.0,
        ent_coef: 0.0,
        delta: None,
    };

    #[test]
    fn q_ret_follows_eq_1_8_with_cuts_at_episode_ends() -> Result<(), AcerError> {
        let c = case(0.5);
        let t = discrete_targets(&inputs(&c), &PLAIN)?;
        let na = 3;
        let rho = |i: usize| c.pi[i * na + c.actions[i]] / c.mu[i * na + c.actions[i]];
        let qa = |i: usize| c.q[i * na + c.actions[i]];
        // Column 0 (rows 0, 2, 4): no episode end.
        let q4 = c.rewards[4] + c.discounts[4] * c.v_next[4];
        let q2 = c.rewards[2] + c.discounts[2] * (1f32.min(rho(4)) * (q4 - qa(4)) + c.v_next[2]);
        let q0 = c.rewards[0] + c.discounts[0] * (1f32.min(rho(2)) * (q2 - qa(2)) + c.v_next[0]);
        // Column 1 (rows 1, 3, 5): truncated at t = 0 → bootstrap V(final obs) only;
        // terminated at t = 1 → r only.
        let q5 = c.rewards[5] + c.discounts[5] * c.v_next[5];
        let q3 = c.rewards[3];
        let q1 = c.rewards[1] + c.discounts[1] * c.v_next[1];
        let want = [q0, q1, q2, q3, q4, q5];
        for (got, want) in t.q_ret.iter().zip(want) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
        Ok(())
    }

    /// ĝ is the gradient w.r.t. the logits of the eq. 1.11 objective with its coefficients held
    /// fixed: `ρ̄ (Q^ret − V) log π(a_t) + Σ_a w(a) (Q(a) − V) log π(a) + β H(π)`.
    #[test]
    fn policy_gradient_matches_finite_differences_of_the_objective() -> Result<(), AcerError> {
        let c = case(2.0);
        let params = DiscreteParams {
            c: Some(1.2),
            ent_coef: 0.05,
            ..PLAIN
        };
        let t = discrete_targets(&inputs(&c), &params)?;
        let na = 3;
        for i in 0..6 {
            let pi = &c.pi[i * na..(i + 1) * na];
            let mu = &c.mu[i * na..(i + 1) * na];
            let q = &c.q[i * na..(i + 1) * na];
            let a = c.actions[i];
            let v = t.v[i];
            let coef_taken = 1.2f32.min(pi[a] / mu[a]) * (t.q_ret[i] - v);
            let coef: Vec<f32> = (0..na)
                .map(|j| (1.0 - 1.2 / (pi[j] / mu[j])).max(0.0) * pi[j] * (q[j] - v))
                .collect();
            let objective = |logits: &[f64]| -> f64 {
                let z: f64 = logits.iter().map(|l| l.exp()).sum();
                let logp: Vec<f64> = logits.iter().map(|l| l - z.ln()).collect();
                let h: f64 = -logp.iter().map(|lp| lp.exp() * lp).sum::<f64>();
                f64::from(coef_taken) * logp[a]
                    + (0..na).map(|j| f64::from(coef[j]) * logp[j]).sum::<f64>()
                    + 0.05 * h
            };
            let base: Vec<f64> = c.logits[i * na..(i + 1) * na]
                .iter()
                .map(|&l| f64::from(l))
                .collect();
            for j in 0..na {
                let (mut p, mut m) = (base.clone(), base.clone());
                p[j] += 1e-5;
                m[j] -= 1e-5;
                let fd = (objective(&p) - objective(&m)) / 2e-5;
                let got = f64::from(t.logit_direction[i * na + j]);
                assert!(
                    (fd - got).abs() < 2e-3 * (1.0 + fd.abs()),
                    "row {i} logit {j}: {got} vs {fd}"
                );
            }
        }
        // The engagement counters: rows whose taken ratio exceeds c, and rows where any action's
        // ratio does (a non-zero correction term); this case has both, but not on every row.
        let ratio = |i: usize, j: usize| c.pi[i * na + j] / c.mu[i * na + j];
        let truncated = (0..6).filter(|&i| ratio(i, c.actions[i]) > 1.2).count();
        let corrected = (0..6)
            .filter(|&i| (0..na).any(|j| ratio(i, j) > 1.2))
            .count();
        assert!(truncated > 0 && truncated < 6, "{truncated} rows truncated");
        assert!((t.truncation_active - truncated as f32 / 6.0).abs() < 1e-6);
        assert!((t.correction_active - corrected as f32 / 6.0).abs() < 1e-6);
        let untruncated = discrete_targets(&inputs(&c), &DiscreteParams { c: None, ..params })?;
        assert!(untruncated.truncation_active.abs() < f32::EPSILON);
        Ok(())
    }

    /// When every ρ(a) ≤ c the bias-correction term vanishes (eq. 1.11): ĝ is the truncated
    /// term alone, `min(c, ρ_t)(Q^ret − V)(e_{a_t} − π)`.
    #[test]
    fn bias_correction_vanishes_when_every_ratio_is_below_c() -> Result<(), AcerError> {
        let c = case(0.8);
        let max_rho =
            c.pi.iter()
                .zip(&c.mu)
                .map(|(p, m)| p / m)
                .fold(0.0f32, f32::max);
        let params = DiscreteParams {
            c: Some(max_rho * 1.01),
            ..PLAIN
        };
        let t = discrete_targets(&inputs(&c), &params)?;
        let na = 3;
        for i in 0..6 {
            let a = c.actions[i];
            let rho = c.pi[i * na + a] / c.mu[i * na + a];
            let coef = rho * (t.q_ret[i] - t.v[i]);
            for j in 0..na {
                let onehot = if j == a { 1.0 } else { 0.0 };
                let want = coef * (onehot - c.pi[i * na + j]);
                assert!((t.logit_direction[i * na + j] - want).abs() < 1e-5);
            }
        }
        Ok(())
    }

    #[test]
    fn trust_region_bounds_the_step_toward_the_average_policy() -> Result<(), AcerError> {
        let c = case(1.0);
        let free = discrete_targets(&inputs(&c), &PLAIN)?;
        for delta in [1e-3_f32, 1.0, 1e3] {
            let params = DiscreteParams {
                delta: Some(delta),
                ..PLAIN
            };
            let t = discrete_targets(&inputs(&c), &params)?;
            let na = 3;
            for i in 0..6 {
                let k: Vec<f32> = (0..na)
                    .map(|j| c.pi[i * na + j] - c.pi_avg[i * na + j])
                    .collect();
                let z = &t.logit_direction[i * na..(i + 1) * na];
                let g = &free.logit_direction[i * na..(i + 1) * na];
                assert!(dot(&k, z) <= delta + 1e-4);
                if dot(&k, g) <= delta {
                    assert_eq!(z, g);
                }
            }
        }
        Ok(())
    }

    #[test]
    fn shapes_and_actions_are_checked() {
        let c = case(1.0);
        let mut inp = inputs(&c);
        inp.batch = 4;
        assert!(matches!(
            discrete_targets(&inp, &PLAIN),
            Err(AcerError::Shape(_))
        ));
        let bad = vec![0, 0, 0, 0, 0, 3];
        let mut inp = inputs(&c);
        inp.actions = &bad;
        assert!(matches!(
            discrete_targets(&inp, &PLAIN),
            Err(AcerError::Shape(_))
        ));
        let short = vec![0.0; 5];
        let mut inp = inputs(&c);
        inp.v_next = &short;
        assert!(discrete_targets(&inp, &PLAIN).is_err());
    }
}
