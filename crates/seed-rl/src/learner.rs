//! The V-trace learner: one update from a batch of unrolls assembled by the inference server
//! (seed_rl `agents/vtrace/learner.py`, IMPALA §4).
//!
//! Loss per batch, means over all `Σ T` steps:
//! `−ρ̄^pg_s (q_s − V(x_s)) log π(a_s|x_s)` (policy gradient, advantage held fixed)
//! `+ baseline_cost · ½ (v_s − V(x_s))²` (value) `− ent_coef · H(π(·|x_s))`,
//! with the V-trace targets `v_s` and advantages from `eirl-returns` (IMPALA eq. 1, Remark 2).
//!
//! On a device ([`Learner::use_device`]), the network's forward, backward and Adam step run as
//! a [`DeviceMlp`] (torso, then one output layer holding the logits and the value side by
//! side); the V-trace targets and the loss's gradient with respect to the outputs, written out
//! by hand, are computed on the host. The dfdx network stays the parameters' public face
//! (publication, evaluation, checkpoints): it is refreshed after every device update.

use eirl_envs::EpisodeEnd;
use eirl_inference_server::{Action, Unroll};
use eirl_models::gpu::{Backend, ComputeDevice, DeviceMlp};
use eirl_models::tensor::*;
use eirl_models::{
    Adam, AdamConfig, ModelError, Optimizer, Parameterized, PolicyValueNetwork, matrix_from_slice,
};
use eirl_returns::{VTraceOutMut, VTraceParams, vtrace_td_error_and_advantage_into};

use crate::{SeedConfig, SeedError};

/// Diagnostics of one learner update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainInfo {
    /// `−mean(pg_advantage · log π(a))`.
    pub policy_loss: f32,
    /// `½ mean (v_s − V(x_s))²` (before the `baseline_cost` weight).
    pub value_loss: f32,
    /// Mean policy entropy.
    pub entropy: f32,
    /// Mean importance ratio `π(a|x)/μ(a|x)`: 1 when acting and learning use the same
    /// parameters, away from 1 as the policy moves under the actors (policy lag).
    pub mean_rho: f32,
    /// Gradient norm before clipping.
    pub grad_norm: f32,
    /// Transitions in the batch.
    pub steps: usize,
}

/// The learner's network and optimizer.
pub struct Learner {
    net: PolicyValueNetwork,
    opt: Adam,
    /// The network on a device, when updates run there.
    device: Option<DeviceNet>,
    cfg: SeedConfig,
    /// Unrolls refused by [`Learner::admit`] (truncated without the final observation).
    rejected_unrolls: u64,
    /// Batches [`Learner::try_update`] skipped for a non-finite target, loss or gradient.
    skipped_updates: u64,
}

/// V-trace quantities of a batch, flat over its unrolls (`[Σ T]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Targets {
    /// `v_s`, the value targets.
    pub vs: Vec<f32>,
    /// `ρ̄^pg_s (q_s − V(x_s))`.
    pub pg_advantage: Vec<f32>,
    /// `π(a_s|x_s) / μ(a_s|x_s)`.
    pub rho: Vec<f32>,
    /// `V(x_s)` under the current parameters.
    pub values: Vec<f32>,
    /// Mean policy entropy.
    pub entropy: f32,
}

/// A batch flattened for the learner.
struct Prepared {
    n: usize,
    obs: Vec<f32>,
    actions: Vec<usize>,
    mu_logp: Vec<f32>,
    boot_rows: Vec<f32>,
    aligned: Vec<Aligned>,
}

/// The source of `V(x_{t+1})` for one transition.
#[derive(Clone, Copy)]
enum Boot {
    /// Row `t + 1` of the batch forward.
    NextRow,
    /// Row `k` of the bootstrap forward (an unroll's last record, or a final observation).
    Table(usize),
    /// A terminal transition: no bootstrap.
    Terminal,
}

/// One step of an unroll, aligned for V-trace (rlax naming).
struct Aligned {
    r_t: Vec<f32>,
    discount_t: Vec<f32>,
    /// Where `V(x_{t+1})` comes from.
    bootstrap: Vec<Boot>,
    /// The step ends a segment (truncation or the unroll's end): the trace does not cross it.
    segment_end: Vec<bool>,
}

impl Learner {
    pub fn new(
        obs_dim: usize,
        num_actions: usize,
        cfg: &SeedConfig,
        seed: u64,
    ) -> Result<Self, SeedError> {
        Ok(Learner {
            net: PolicyValueNetwork::new(obs_dim, num_actions, &cfg.network, seed)?,
            opt: Adam::new(AdamConfig {
                lr: cfg.learning_rate,
                eps: cfg.adam_eps,
                ..AdamConfig::default()
            }),
            device: None,
            cfg: cfg.clone(),
            rejected_unrolls: 0,
            skipped_updates: 0,
        })
    }

    pub fn network(&self) -> &PolicyValueNetwork {
        &self.net
    }

    /// The network, to replace its parameters (a restore); a device copy is re-uploaded before
    /// the next update.
    pub fn network_mut(&mut self) -> &mut PolicyValueNetwork {
        if let Some(d) = &mut self.device {
            d.stale = true;
        }
        &mut self.net
    }

    /// Runs updates on `device` (`cpu` keeps them on the CPU; `auto` takes the GPU when one is
    /// usable). Fails, saying why, when a GPU was asked for and cannot be used.
    pub fn use_device(&mut self, device: ComputeDevice) -> Result<(), SeedError> {
        self.device = match device.open()?.into_backend() {
            Some(b) => Some(DeviceNet::new(&self.net, &self.cfg, b)?),
            None => None,
        };
        Ok(())
    }

    /// Runs updates on a given backend (tests run the device program on the host backend).
    pub fn use_backend(&mut self, backend: Box<dyn Backend>) -> Result<(), SeedError> {
        self.device = Some(DeviceNet::new(&self.net, &self.cfg, backend)?);
        Ok(())
    }

    /// Where updates run: `"cpu"` or the device's name.
    pub fn device_name(&self) -> String {
        self.device
            .as_ref()
            .map_or_else(|| "cpu".into(), |d| d.mlp.backend().name())
    }

    /// Unrolls refused so far by [`Learner::admit`] (and so by [`Learner::update`]).
    pub fn rejected_unrolls(&self) -> u64 {
        self.rejected_unrolls
    }

    /// Batches skipped so far by [`Learner::try_update`].
    pub fn skipped_updates(&self) -> u64 {
        self.skipped_updates
    }

    /// Whether `u` can be trained on: a truncated transition needs the episode's final
    /// observation to bootstrap from (the next record holds the reset observation, another
    /// episode's state). An unroll without it is refused, logged and counted, never guessed at.
    pub fn admit(&mut self, u: &Unroll) -> bool {
        let Some(t) = truncated_without_final_obs(u) else {
            return true;
        };
        self.rejected_unrolls += 1;
        tracing::warn!(
            "rejected an unroll of env {}: transition {t} is truncated without its final \
             observation ({} rejected so far)",
            u.env_id,
            self.rejected_unrolls
        );
        false
    }

    fn check(&self, u: &Unroll) -> Result<(), SeedError> {
        let (d, na) = (self.net.obs_dim(), self.net.num_actions());
        let n = u.len + 1;
        let bad = |m: String| Err(SeedError::Unroll(format!("env {}: {m}", u.env_id)));
        if u.len == 0 {
            return bad("an unroll needs at least one transition".into());
        }
        if u.obs_dim != d || u.obs.len() != n * d {
            return bad(format!(
                "observations of width {} (expected {d})",
                u.obs_dim
            ));
        }
        if u.aux_dim != 1 || u.aux.len() != n {
            return bad(format!(
                "behaviour log-probabilities of width {} (expected 1)",
                u.aux_dim
            ));
        }
        if u.actions.len() != n
            || u.rewards.len() != n
            || u.terminated.len() != n
            || u.truncated.len() != n
            || u.final_obs.len() != n
        {
            return bad(format!("per-record arrays are not {n} long"));
        }
        for a in &u.actions {
            match a {
                Action::Discrete(i) if (0..na as i64).contains(i) => {}
                other => return bad(format!("action {other:?} outside 0..{na}")),
            }
        }
        for (i, f) in u.final_obs.iter().enumerate() {
            if let Some(f) = f
                && f.len() != d
            {
                return bad(format!("final observation {i} has width {}", f.len()));
            }
        }
        if u.rewards.iter().chain(&u.aux).any(|v| !v.is_finite()) {
            return bad("non-finite reward or behaviour log-probability".into());
        }
        if let Some(t) = truncated_without_final_obs(u) {
            return bad(format!(
                "transition {t} is truncated without its final observation"
            ));
        }
        Ok(())
    }

    /// Aligns one unroll: transition `t` uses records `t` (state, action, μ) and `t + 1`
    /// (reward, flags). Termination zeroes the discount; truncation bootstraps from the final
    /// observation (row `final_rows[k]` of the bootstrap table) and ends the trace.
    fn align(&self, u: &Unroll, boot_rows: &mut Vec<f32>) -> Aligned {
        let d = self.net.obs_dim();
        let gamma = self.cfg.gamma;
        let clip = self.cfg.max_abs_reward;
        let mut a = Aligned {
            r_t: Vec::with_capacity(u.len),
            discount_t: Vec::with_capacity(u.len),
            bootstrap: Vec::with_capacity(u.len),
            segment_end: Vec::with_capacity(u.len),
        };
        for t in 0..u.len {
            let next = t + 1;
            let r = u.rewards[next];
            a.r_t
                .push(if clip > 0.0 { r.clamp(-clip, clip) } else { r });
            let last = next == u.len;
            let end = EpisodeEnd::from_flags(u.terminated[next], u.truncated[next]);
            a.discount_t.push(end.discount(gamma));
            if end == EpisodeEnd::Terminated {
                a.bootstrap.push(Boot::Terminal);
                a.segment_end.push(last);
            } else if let (EpisodeEnd::Truncated, Some(row)) = (end, &u.final_obs[next]) {
                // `check` refused truncations without a final observation.
                a.bootstrap.push(Boot::Table(boot_rows.len() / d));
                boot_rows.extend_from_slice(row);
                a.segment_end.push(true);
            } else if last {
                a.bootstrap.push(Boot::Table(boot_rows.len() / d));
                boot_rows.extend_from_slice(u.obs_at(next));
                a.segment_end.push(true);
            } else {
                a.bootstrap.push(Boot::NextRow);
                a.segment_end.push(false);
            }
        }
        a
    }

    /// Flattens a batch of unrolls: observations `[Σ T, obs_dim]`, actions, `log μ`, and the
    /// V-trace alignment of each unroll (with the rows needing a bootstrap forward).
    fn prepare(&self, unrolls: &[&Unroll]) -> Result<Prepared, SeedError> {
        if unrolls.is_empty() {
            return Err(SeedError::Unroll(
                "an update needs at least one unroll".into(),
            ));
        }
        for u in unrolls {
            self.check(u)?;
        }
        let d = self.net.obs_dim();
        let n: usize = unrolls.iter().map(|u| u.len).sum();
        let mut p = Prepared {
            n,
            obs: Vec::with_capacity(n * d),
            actions: Vec::with_capacity(n),
            mu_logp: Vec::with_capacity(n),
            boot_rows: Vec::new(),
            aligned: Vec::with_capacity(unrolls.len()),
        };
        for u in unrolls {
            p.obs.extend_from_slice(&u.obs[..u.len * d]);
            for t in 0..u.len {
                if let Action::Discrete(i) = u.actions[t] {
                    p.actions.push(i as usize);
                }
                p.mu_logp.push(u.aux[t]);
            }
            let al = self.align(u, &mut p.boot_rows);
            p.aligned.push(al);
        }
        Ok(p)
    }

    /// V-trace targets `v_s`, advantages and ratios of a batch under the current parameters,
    /// flat over the unrolls in order (`[Σ T]`).
    pub fn targets(&self, unrolls: &[Unroll]) -> Result<Targets, SeedError> {
        let p = self.prepare(&unrolls.iter().collect::<Vec<_>>())?;
        let (logits, values) = self.net.logits_and_values(&p.obs, p.n)?;
        let boot = self.boot_values(&p)?;
        self.compute_targets(&p, &logits, &values, &boot)
    }

    /// `V` of the bootstrap rows (an unroll's last record, or a final observation).
    fn boot_values(&self, p: &Prepared) -> Result<Vec<f32>, SeedError> {
        if p.boot_rows.is_empty() {
            return Ok(Vec::new());
        }
        let d = self.net.obs_dim();
        Ok(self
            .net
            .logits_and_values(&p.boot_rows, p.boot_rows.len() / d)?
            .1)
    }

    /// Host side of an update: `ρ_s = π/μ` and the V-trace targets / advantages, segment by
    /// segment (a segment ends at a truncation or at the unroll's end).
    fn compute_targets(
        &self,
        p: &Prepared,
        logits: &[f32],
        values: &[f32],
        boot_values: &[f32],
    ) -> Result<Targets, SeedError> {
        let (na, n) = (self.net.num_actions(), p.n);
        let mut rho = Vec::with_capacity(n);
        let mut entropy = 0.0f64;
        for (row, &a) in logits.chunks_exact(na).zip(&p.actions) {
            let lse = log_sum_exp(row);
            let logp = row[a] - lse;
            let i = rho.len();
            rho.push((logp - p.mu_logp[i]).exp());
            entropy -= row
                .iter()
                .map(|l| {
                    let lp = f64::from(l - lse);
                    lp.exp() * lp
                })
                .sum::<f64>();
        }
        let params = VTraceParams {
            lambda: self.cfg.lambda,
            clip_rho_threshold: self.cfg.clip_rho_threshold,
            clip_pg_rho_threshold: self.cfg.clip_pg_rho_threshold,
            alpha: 1.0,
            pg_bootstrap: self.cfg.pg_bootstrap.into(),
        };
        let mut vs = vec![0.0f32; n];
        let mut adv = vec![0.0f32; n];
        let mut q = vec![0.0f32; n];
        let mut v_t = vec![0.0f32; n];
        let mut offset = 0;
        for al in &p.aligned {
            let len = al.r_t.len();
            for t in 0..len {
                v_t[offset + t] = match al.bootstrap[t] {
                    Boot::Table(k) => boot_values[k],
                    Boot::Terminal => 0.0,
                    Boot::NextRow => values[offset + t + 1],
                };
            }
            let mut start = 0;
            for t in 0..len {
                if al.segment_end[t] || t + 1 == len {
                    let (a, b) = (offset + start, offset + t + 1);
                    vtrace_td_error_and_advantage_into(
                        &values[a..b],
                        &v_t[a..b],
                        &al.r_t[start..=t],
                        &al.discount_t[start..=t],
                        &rho[a..b],
                        &params,
                        VTraceOutMut {
                            errors: &mut vs[a..b],
                            pg_advantage: &mut adv[a..b],
                            q_estimate: &mut q[a..b],
                        },
                    )?;
                    start = t + 1;
                }
            }
            offset += len;
        }
        for (target, v) in vs.iter_mut().zip(values) {
            *target += v; // errors + V(x_s) = v_s
        }
        if vs.iter().chain(&adv).any(|v| !v.is_finite()) {
            return Err(eirl_models::ModelError::NonFinite("V-trace target").into());
        }
        Ok(Targets {
            vs,
            pg_advantage: adv,
            rho,
            values: values.to_vec(),
            entropy: (entropy / n as f64) as f32,
        })
    }

    /// [`update`](Self::update), except that a batch whose targets, loss or gradient are not
    /// finite is skipped: the parameters stay as they were, the skip is logged and counted
    /// ([`skipped_updates`](Self::skipped_updates)), and `Ok(None)` is returned. Whatever the
    /// actors send, the learner keeps training on the next batch.
    pub fn try_update(&mut self, unrolls: &[Unroll]) -> Result<Option<TrainInfo>, SeedError> {
        match self.update(unrolls) {
            Ok(info) => Ok(Some(info)),
            Err(SeedError::Model(eirl_models::ModelError::NonFinite(what))) => {
                self.skipped_updates += 1;
                tracing::warn!(
                    "skipped an update of {} unrolls: non-finite {what} ({} skipped so far)",
                    unrolls.len(),
                    self.skipped_updates
                );
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// One Adam step on the unrolls of a batch that [`Learner::admit`] accepts (an error when
    /// it accepts none, or when a target, the loss or the gradient is not finite; the
    /// parameters are then unchanged).
    pub fn update(&mut self, unrolls: &[Unroll]) -> Result<TrainInfo, SeedError> {
        let admitted: Vec<&Unroll> = unrolls.iter().filter(|u| self.admit(u)).collect();
        let p = self.prepare(&admitted)?;
        if self.device.is_some() {
            return self.update_on_device(p);
        }
        let (d, n) = (self.net.obs_dim(), p.n);
        let dev = self.net.device().clone();
        let x = matrix_from_slice(&dev, &p.obs, n, d)?;
        let (logits, values) = self.net.forward(x.leaky_trace());
        let Targets {
            vs,
            pg_advantage: adv,
            rho,
            values: v_host,
            entropy,
        } = self.compute_targets(
            &p,
            &logits.as_vec(),
            &values.as_vec(),
            &self.boot_values(&p)?,
        )?;
        let actions = p.actions;
        let nf = n as f32;
        let value_loss_host = 0.5
            * vs.iter()
                .zip(&v_host)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
            / nf;
        // Value: baseline_cost · ½ mean (v_s − V(x_s))².
        let targets = dev.tensor_from_vec(vs, (n, 1));
        let value_loss =
            (values - targets).square().mean::<Rank0, _>() * (0.5 * self.cfg.baseline_cost);
        let (value_loss, tape) = value_loss.split_tape();
        // Policy: −mean(adv · log π(a)) − ent_coef · mean H(π).
        let (logp, tape) = logits.put_tape(tape).log_softmax::<Axis<1>>().split_tape();
        let idx = dev.tensor_from_vec(actions, (n,));
        let adv_t = dev.tensor_from_vec(adv.iter().map(|a| -a / nf).collect(), (n,));
        let pg = (logp.clone().put_tape(tape).select(idx) * adv_t).sum::<Rank0, _>();
        let policy_loss_host = pg.array();
        let (pg, tape) = pg.split_tape();
        let p = logp.clone().put_tape(tape).exp();
        let neg_entropy = (p * logp).sum::<Rank0, _>() * (1.0 / nf);
        let loss = neg_entropy * self.cfg.ent_coef + pg + value_loss;
        if !loss.array().is_finite() {
            return Err(eirl_models::ModelError::NonFinite("V-trace loss").into());
        }
        let mut grads = loss.backward();
        let grad_norm = self
            .opt
            .step(&mut self.net, &mut grads, self.cfg.max_grad_norm)?;
        Ok(TrainInfo {
            policy_loss: policy_loss_host,
            value_loss: value_loss_host,
            entropy,
            mean_rho: rho.iter().sum::<f32>() / nf,
            grad_norm,
            steps: n,
        })
    }
}

impl Learner {
    /// [`Learner::update`] on the device: forwards, backward and Adam there; targets and the
    /// loss's output gradient on the host.
    fn update_on_device(&mut self, p: Prepared) -> Result<TrainInfo, SeedError> {
        let mut dev = self
            .device
            .take()
            .ok_or_else(|| SeedError::Config("no device".into()))?;
        let r = self.device_update(&mut dev, p);
        self.device = Some(dev);
        r
    }

    fn device_update(&mut self, dev: &mut DeviceNet, p: Prepared) -> Result<TrainInfo, SeedError> {
        let (na, n) = (self.net.num_actions(), p.n);
        if dev.stale {
            dev.mlp.set_params(&pack(&self.net.export_params())?)?;
            dev.stale = false;
        }
        let w = na + 1;
        let d = self.net.obs_dim();
        // The bootstrap forward first: the batch forward's activations must survive until
        // the backward pass.
        let boot: Vec<f32> = if p.boot_rows.is_empty() {
            Vec::new()
        } else {
            let out = dev.mlp.forward(&p.boot_rows, p.boot_rows.len() / d)?;
            out.chunks_exact(w).map(|r| r[na]).collect()
        };
        let (mut logits, mut values) = (Vec::with_capacity(n * na), Vec::with_capacity(n));
        for r in dev.mlp.forward(&p.obs, n)?.chunks_exact(w) {
            logits.extend_from_slice(&r[..na]);
            values.push(r[na]);
        }
        let t = self.compute_targets(&p, &logits, &values, &boot)?;
        let nf = n as f32;
        let (ent_coef, baseline_cost) = (self.cfg.ent_coef, self.cfg.baseline_cost);
        // ∂loss/∂outputs, row by row, with logp = log_softmax(logits), π = exp(logp):
        // policy term −(adv/n)·logp[a] → −(adv/n)(onehot(a) − π);
        // ent_coef·(1/n)·Σ π logp → (ent_coef/n)·π ⊙ (logp + H);
        // value term baseline_cost·½·mean (V − v_s)² → baseline_cost·(V − v_s)/n.
        let mut d_out = vec![0.0f32; n * w];
        let (mut policy_loss, mut value_loss) = (0.0f32, 0.0f32);
        for i in 0..n {
            let row = &logits[i * na..(i + 1) * na];
            let lse = log_sum_exp(row);
            let logp: Vec<f32> = row.iter().map(|l| l - lse).collect();
            let h: f32 = -logp.iter().map(|lp| lp.exp() * lp).sum::<f32>();
            let a = p.actions[i];
            let adv = t.pg_advantage[i];
            policy_loss -= adv / nf * logp[a];
            let g = &mut d_out[i * w..(i + 1) * w];
            for j in 0..na {
                let pi = logp[j].exp();
                let onehot = if j == a { 1.0 } else { 0.0 };
                g[j] = -(adv / nf) * (onehot - pi) + ent_coef / nf * pi * (logp[j] + h);
            }
            let err = values[i] - t.vs[i];
            value_loss += 0.5 * err * err / nf;
            g[na] = baseline_cost * err / nf;
        }
        let loss = policy_loss + baseline_cost * value_loss - ent_coef * t.entropy;
        if !loss.is_finite() || d_out.iter().any(|g| !g.is_finite()) {
            return Err(ModelError::NonFinite("V-trace loss").into());
        }
        dev.mlp.backward(&d_out)?;
        let cfg = self.opt.cfg;
        let grad_norm = dev.mlp.adam_step(&cfg, self.cfg.max_grad_norm)?;
        let flat = dev.mlp.params()?;
        self.net
            .import_params(&unpack(&flat, &self.net.export_params())?)?;
        Ok(TrainInfo {
            policy_loss,
            value_loss,
            entropy: t.entropy,
            mean_rho: t.rho.iter().sum::<f32>() / nf,
            grad_norm,
            steps: n,
        })
    }
}

/// `log Σ exp(row)`, shifted by the row's maximum.
fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    max + row.iter().map(|l| (l - max).exp()).sum::<f32>().ln()
}

/// The learner's network on a device: the torso, then one layer of `A + 1` outputs (the logits,
/// then the value).
struct DeviceNet {
    mlp: DeviceMlp<Box<dyn Backend>>,
    /// The CPU network changed (a restore): upload it before the next update.
    stale: bool,
}

impl DeviceNet {
    fn new(
        net: &PolicyValueNetwork,
        cfg: &SeedConfig,
        backend: Box<dyn Backend>,
    ) -> Result<Self, SeedError> {
        let mut sizes = vec![net.obs_dim()];
        sizes.extend(&cfg.network.hidden);
        sizes.push(net.num_actions() + 1);
        let mut mlp = DeviceMlp::new(backend, &sizes, cfg.network.activation, false)?;
        mlp.set_params(&pack(&net.export_params())?)?;
        Ok(DeviceNet { mlp, stale: false })
    }
}

/// A [`PolicyValueNetwork`]'s parameters (torso, `W_π [h, A]`, `b_π`, `W_v [h, 1]`, `b_v`) as
/// one flat MLP whose last layer is `[W_π | W_v]`, `[b_π, b_v]`.
fn pack(params: &[(Vec<usize>, Vec<f32>)]) -> Result<Vec<f32>, ModelError> {
    let bad = || ModelError::Config("not a policy-value network's parameters".into());
    let k = params.len().checked_sub(4).ok_or_else(bad)?;
    let [(ws, wp), (_, bp), (_, wv), (_, bv)] = &params[k..] else {
        return Err(bad());
    };
    let (h, a) = match ws.as_slice() {
        [h, a] => (*h, *a),
        _ => return Err(bad()),
    };
    if wv.len() != h || bp.len() != a || bv.len() != 1 {
        return Err(bad());
    }
    let mut flat: Vec<f32> = params[..k].iter().flat_map(|(_, v)| v.clone()).collect();
    for r in 0..h {
        flat.extend_from_slice(&wp[r * a..(r + 1) * a]);
        flat.push(wv[r]);
    }
    flat.extend_from_slice(bp);
    flat.push(bv[0]);
    Ok(flat)
}

/// The inverse of [`pack`], shaped like `like`.
fn unpack(
    flat: &[f32],
    like: &[(Vec<usize>, Vec<f32>)],
) -> Result<crate::ParamSnapshot, ModelError> {
    let bad = || ModelError::Config("device parameters do not fit the network".into());
    let total: usize = like.iter().map(|(_, v)| v.len()).sum();
    if flat.len() != total || like.len() < 4 {
        return Err(bad());
    }
    let k = like.len() - 4;
    let mut out = Vec::with_capacity(like.len());
    let mut at = 0;
    for (shape, v) in &like[..k] {
        out.push((shape.clone(), flat[at..at + v.len()].to_vec()));
        at += v.len();
    }
    let (h, a) = match like[k].0.as_slice() {
        [h, a] => (*h, *a),
        _ => return Err(bad()),
    };
    let (mut wp, mut wv) = (Vec::with_capacity(h * a), Vec::with_capacity(h));
    for r in 0..h {
        let row = &flat[at + r * (a + 1)..at + (r + 1) * (a + 1)];
        wp.extend_from_slice(&row[..a]);
        wv.push(row[a]);
    }
    at += h * (a + 1);
    out.push((like[k].0.clone(), wp));
    out.push((like[k + 1].0.clone(), flat[at..at + a].to_vec()));
    out.push((like[k + 2].0.clone(), wv));
    out.push((like[k + 3].0.clone(), vec![flat[at + a]]));
    Ok(out)
}

/// The first transition `t` (record `t + 1`) that is truncated, not terminated, and has no
/// final observation.
fn truncated_without_final_obs(u: &Unroll) -> Option<usize> {
    (1..=u.len).find_map(|next| {
        let end = u.terminated.get(next).zip(u.truncated.get(next));
        let missing = u.final_obs.get(next).is_some_and(Option::is_none);
        (end == Some((&false, &true)) && missing).then_some(next - 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use eirl_models::Categorical;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const D: usize = 3;
    const NA: usize = 2;

    fn learner(cfg: &SeedConfig) -> Learner {
        Learner::new(D, NA, cfg, 7).expect("learner")
    }

    /// A T-step unroll with random observations, actions and rewards; `aux` holds the learner's
    /// own log π(a|x), so the batch is on-policy (ρ = 1).
    fn unroll(l: &Learner, t: usize, rng: &mut ChaCha8Rng) -> Unroll {
        let n = t + 1;
        let obs: Vec<f32> = (0..n * D).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let actions: Vec<usize> = (0..n).map(|_| rng.gen_range(0..NA)).collect();
        let logits = l.network().logits(&obs, n).expect("logits");
        let aux = logits
            .chunks(NA)
            .zip(&actions)
            .map(|(row, &a)| Categorical::probs(row)[a].ln())
            .collect();
        let mut rewards: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        rewards[0] = 0.0;
        Unroll {
            env_id: 1,
            len: t,
            obs_dim: D,
            aux_dim: 1,
            state_dim: 0,
            obs,
            actions: actions
                .iter()
                .map(|&a| Action::Discrete(a as i64))
                .collect(),
            aux,
            rewards,
            terminated: vec![false; n],
            truncated: vec![false; n],
            final_obs: vec![None; n],
            initial_state: Vec::new(),
        }
    }

    fn value(l: &Learner, row: &[f32]) -> f32 {
        l.network().logits_and_values(row, 1).expect("value").1[0]
    }

    /// `v_s` by the definition at λ = 1, ρ = 1: the discounted rewards up to the segment's end,
    /// plus the discounted bootstrap value there (0 after termination).
    fn naive_vs(l: &Learner, u: &Unroll, gamma: f32) -> Vec<f32> {
        (0..u.len)
            .map(|s| {
                let (mut g, mut k) = (0.0f32, 1.0f32);
                for t in s..u.len {
                    let next = t + 1;
                    g += k * u.rewards[next];
                    if u.terminated[next] {
                        return g;
                    }
                    k *= gamma;
                    if u.truncated[next] {
                        let f = u.final_obs[next].as_deref().expect("final obs");
                        return g + k * value(l, f);
                    }
                }
                g + k * value(l, u.obs_at(u.len))
            })
            .collect()
    }

    #[test]
    fn on_policy_targets_are_bootstrapped_returns_cut_at_episode_ends() {
        let cfg = SeedConfig::default();
        let l = learner(&cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let plain = unroll(&l, 6, &mut rng);
        let mut terminated = unroll(&l, 6, &mut rng);
        terminated.terminated[3] = true;
        let mut truncated = unroll(&l, 6, &mut rng);
        truncated.truncated[2] = true;
        // The final observation differs from the reset observation stored in obs[2].
        truncated.final_obs[2] = Some(vec![0.9, -0.8, 0.7]);
        let batch = [plain, terminated, truncated];
        let t = l.targets(&batch).expect("targets");
        assert!(t.rho.iter().all(|r| (r - 1.0).abs() < 1e-4), "{:?}", t.rho);
        let mut offset = 0;
        for u in &batch {
            let want = naive_vs(&l, u, cfg.gamma);
            for (s, w) in want.iter().enumerate() {
                let got = t.vs[offset + s];
                assert!((got - w).abs() < 1e-4, "step {s}: {got} vs {w}");
                // λ = 1, ρ = 1: the advantage is q_s − V(x_s) with q_s = r + γ v_{s+1}.
                let v = t.values[offset + s];
                let next = s + 1;
                let q = if u.terminated[next] {
                    u.rewards[next]
                } else if next < u.len && !u.truncated[next] {
                    u.rewards[next] + cfg.gamma * t.vs[offset + next]
                } else {
                    continue;
                };
                let adv = t.pg_advantage[offset + s];
                assert!((adv - (q - v)).abs() < 1e-4, "adv {s}: {adv} vs {}", q - v);
            }
            offset += u.len;
        }
    }

    #[test]
    fn truncation_does_not_leak_the_next_episode() {
        let cfg = SeedConfig::default();
        let l = learner(&cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut u = unroll(&l, 5, &mut rng);
        u.truncated[3] = true;
        u.final_obs[3] = Some(vec![0.1, 0.2, 0.3]);
        let before = l.targets(std::slice::from_ref(&u)).expect("targets");
        // Rewards after the truncation belong to the next episode.
        u.rewards[4] += 10.0;
        u.rewards[5] -= 7.0;
        let after = l.targets(std::slice::from_ref(&u)).expect("targets");
        assert_eq!(before.vs[..3], after.vs[..3]);
        assert!((before.vs[3] - after.vs[3]).abs() > 1.0);
    }

    #[test]
    fn truncations_without_a_final_observation_are_rejected_and_counted() {
        let mut l = learner(&SeedConfig::default());
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let good = unroll(&l, 5, &mut rng);
        let mut bad = unroll(&l, 4, &mut rng);
        // Record 2 is the reset observation of the next episode; the final one is missing.
        bad.truncated[2] = true;
        assert!(matches!(
            l.targets(std::slice::from_ref(&bad)),
            Err(SeedError::Unroll(_))
        ));
        let before = l.network().logits(good.obs_at(0), 1).expect("logits");
        let info = l
            .update(&[bad.clone(), good.clone()])
            .expect("the good unroll trains");
        assert_eq!((info.steps, l.rejected_unrolls()), (good.len, 1));
        assert_ne!(
            l.network().logits(good.obs_at(0), 1).expect("logits"),
            before
        );
        // A batch with nothing left is an error, not a panic, and training goes on after it.
        assert!(l.update(std::slice::from_ref(&bad)).is_err());
        assert_eq!(l.rejected_unrolls(), 2);
        assert!(l.update(&[good]).is_ok());
        // With the final observation, or when the episode also terminated, it is admitted.
        let mut with_final = bad.clone();
        with_final.final_obs[2] = Some(vec![0.1, 0.2, 0.3]);
        let mut terminal = bad;
        terminal.terminated[2] = true;
        assert!(l.admit(&with_final) && l.admit(&terminal));
        assert_eq!(l.rejected_unrolls(), 2);
    }

    #[test]
    fn non_finite_batches_are_skipped_and_counted_and_training_goes_on() {
        let mut l = learner(&SeedConfig::default());
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let good = unroll(&l, 5, &mut rng);
        // Finite rewards whose discounted sums leave f32's range.
        let mut huge = unroll(&l, 5, &mut rng);
        huge.rewards.iter_mut().skip(1).for_each(|r| *r = 3e38);
        assert!(matches!(
            l.update(std::slice::from_ref(&huge)),
            Err(SeedError::Model(eirl_models::ModelError::NonFinite(_)))
        ));
        let before = l.network().logits(good.obs_at(0), 1).expect("logits");
        assert_eq!(
            l.try_update(&[huge.clone(), good.clone()]).expect("skip"),
            None
        );
        assert_eq!(l.skipped_updates(), 1);
        assert_eq!(
            l.network().logits(good.obs_at(0), 1).expect("logits"),
            before,
            "a skipped update leaves the parameters alone"
        );
        let info = l.try_update(&[good]).expect("trains").expect("not skipped");
        assert_eq!(info.steps, 5);
        assert_eq!(l.skipped_updates(), 1);
        // Errors that are not about finiteness still surface.
        let mut malformed = huge;
        malformed.obs_dim = D + 1;
        assert!(l.try_update(&[malformed]).is_err());
    }

    #[test]
    fn off_policy_ratios_are_clipped_in_the_targets() {
        let cfg = SeedConfig::default();
        let l = learner(&cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut u = unroll(&l, 4, &mut rng);
        // A behaviour policy that made these actions 10× less likely: ρ = 10, clipped to 1.
        for a in &mut u.aux {
            *a -= 10f32.ln();
        }
        let off = l.targets(std::slice::from_ref(&u)).expect("targets");
        assert!(off.rho.iter().all(|r| (r - 10.0).abs() < 1e-3));
        for a in &mut u.aux {
            *a += 10f32.ln();
        }
        let on = l.targets(std::slice::from_ref(&u)).expect("targets");
        for (a, b) in off.vs.iter().zip(&on.vs) {
            assert!(
                (a - b).abs() < 1e-4,
                "ρ̄ = 1 clips ρ = 10 to the on-policy target"
            );
        }
    }

    #[test]
    fn updates_fit_the_value_targets() {
        let cfg = SeedConfig {
            ent_coef: 0.0,
            ..SeedConfig::default()
        };
        let mut l = learner(&cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let batch: Vec<Unroll> = (0..4).map(|_| unroll(&l, 8, &mut rng)).collect();
        let first = l.update(&batch).expect("update");
        let mut last = first;
        for _ in 0..300 {
            last = l.update(&batch).expect("update");
        }
        assert!(first.value_loss > 0.0 && first.steps == 32);
        assert!(
            last.value_loss < 0.3 * first.value_loss,
            "value loss {} → {}",
            first.value_loss,
            last.value_loss
        );
    }

    /// A batch with every kind of transition: off-policy ratios on both sides of ρ̄, a
    /// termination, a truncation with its final observation, and unrolls' ends.
    fn mixed_batch(l: &Learner, rng: &mut ChaCha8Rng) -> Vec<Unroll> {
        let mut batch: Vec<Unroll> = (0..4).map(|_| unroll(l, 6, rng)).collect();
        for u in &mut batch {
            for a in &mut u.aux {
                *a += rng.gen_range(-1.0..1.0);
            }
        }
        batch[1].terminated[3] = true;
        batch[2].truncated[4] = true;
        batch[2].final_obs[4] = Some(vec![0.3, -0.2, 0.5]);
        batch
    }

    /// The device update (here on the host backend, which runs the GPU's program) against the
    /// dfdx update: the same losses, gradient norms and parameters over several steps, with the
    /// gradient clip engaged.
    fn device_matches_cpu(backend: Box<dyn Backend>, tol: f32) {
        let cfg = SeedConfig {
            max_grad_norm: Some(0.05),
            ..SeedConfig::default()
        };
        let mut cpu = learner(&cfg);
        let mut dev = learner(&cfg);
        dev.use_backend(backend).expect("device");
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let close = |a: f32, b: f32| (a - b).abs() <= tol * (1.0 + b.abs());
        for step in 0..4 {
            let batch = mixed_batch(&cpu, &mut rng);
            let (a, b) = (
                cpu.update(&batch).expect("cpu update"),
                dev.update(&batch).expect("device update"),
            );
            assert!(a.grad_norm > 0.05, "the clip engages: {a:?}");
            assert!((a.mean_rho - 1.0).abs() > 1e-3 && a.steps == 24, "{a:?}");
            for (what, x, y) in [
                ("policy_loss", b.policy_loss, a.policy_loss),
                ("value_loss", b.value_loss, a.value_loss),
                ("entropy", b.entropy, a.entropy),
                ("mean_rho", b.mean_rho, a.mean_rho),
                ("grad_norm", b.grad_norm, a.grad_norm),
            ] {
                assert!(close(x, y), "step {step}: {what} {x} vs {y}");
            }
            for ((_, x), (_, y)) in dev
                .network()
                .export_params()
                .iter()
                .zip(cpu.network().export_params().iter())
            {
                for (p, q) in x.iter().zip(y) {
                    assert!(close(*p, *q), "step {step}: parameter {p} vs {q}");
                }
            }
        }
        // A restore replaces the parameters: the device picks them up.
        let fresh = learner(&cfg).network().clone();
        *dev.network_mut() = fresh.clone();
        *cpu.network_mut() = fresh;
        let batch = mixed_batch(&cpu, &mut rng);
        let (a, b) = (
            cpu.update(&batch).expect("cpu"),
            dev.update(&batch).expect("device"),
        );
        assert!(close(b.value_loss, a.value_loss), "{b:?} vs {a:?}");
    }

    #[test]
    fn device_updates_match_cpu_updates() {
        device_matches_cpu(Box::new(eirl_models::gpu::HostBackend::new()), 1e-4);
    }

    #[test]
    fn gpu_updates_match_cpu_updates_where_a_gpu_answers() {
        match ComputeDevice::Cuda(0).open() {
            Ok(r) => device_matches_cpu(r.into_backend().expect("a GPU"), 2e-3),
            Err(e) => {
                assert!(
                    std::env::var_os("EIRL_REQUIRE_GPU").is_none_or(|v| v != "1"),
                    "EIRL_REQUIRE_GPU=1 but: {e}"
                );
                println!("skipped: {e}");
            }
        }
    }

    #[test]
    fn packing_the_heads_round_trips() {
        let l = learner(&SeedConfig::default());
        let params = l.network().export_params();
        let flat = pack(&params).expect("pack");
        assert_eq!(
            flat.len(),
            params.iter().map(|(_, v)| v.len()).sum::<usize>()
        );
        assert_eq!(unpack(&flat, &params).expect("unpack"), params);
        assert!(unpack(&flat[1..], &params).is_err());
        assert!(pack(&params[..3]).is_err());
    }

    #[test]
    fn malformed_unrolls_are_errors() {
        let l = learner(&SeedConfig::default());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let good = unroll(&l, 3, &mut rng);
        let mut bad_action = good.clone();
        bad_action.actions[1] = Action::Discrete(5);
        let mut bad_aux = good.clone();
        bad_aux.aux_dim = 2;
        let mut bad_obs = good.clone();
        bad_obs.obs.pop();
        let mut nan = good.clone();
        nan.rewards[2] = f32::NAN;
        for (name, u) in [
            ("action", bad_action),
            ("aux", bad_aux),
            ("obs", bad_obs),
            ("nan", nan),
        ] {
            assert!(
                matches!(l.targets(&[u]), Err(SeedError::Unroll(_))),
                "{name}"
            );
        }
        assert!(l.targets(&[]).is_err());
        assert!(l.targets(&[good]).is_ok());
    }
}
