//! Behavioural cloning: maximum likelihood of the expert's actions under the policy.
//!
//! `min_θ −E_{(s,a)∼D}[log π_θ(a|s)] − w_H · E_s[H(π_θ(·|s))]`: cross-entropy for a categorical
//! policy, Gaussian negative log-likelihood for a diagonal Gaussian one (Pomerleau 1991; the
//! `imitation` library's `bc.BC` loss, whose defaults — Adam at 1e-3, batch 32, entropy weight
//! 1e-3 — are kept here). Minibatch Adam on a shuffled training split, evaluated each epoch on a
//! held-out validation split; training stops after `patience` epochs without improvement and
//! the best parameters are restored.

use eirl_models::tensor::*;
use eirl_models::{
    Adam, AdamConfig, Categorical, Optimizer, Parameterized, PolicyHead, PolicyNetwork,
    matrix_from_slice,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use eirl_envs::Actions;

use crate::error::ImitationError;

/// The loss of continuous actions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContinuousLoss {
    /// Gaussian negative log-likelihood with the learned state-independent `log σ`
    /// (the `imitation` library's BC).
    #[default]
    Nll,
    /// Mean squared error of the mean, `E‖μ(s) − a‖²`; `log σ` is not trained. For a
    /// deterministic expert the NLL drives σ toward 0 and its gradients grow without bound;
    /// this loss cannot.
    Mse,
}

/// Behavioural-cloning hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BcConfig {
    /// Adam step size (imitation's BC default, 1e-3).
    pub learning_rate: f32,
    /// Minibatch size (imitation's default, 32).
    pub batch_size: usize,
    /// Upper bound on passes over the training split.
    pub max_epochs: usize,
    /// Fraction of pairs held out for validation (0: no early stopping, train `max_epochs`).
    pub validation_fraction: f64,
    /// Epochs without a lower validation loss before stopping.
    pub patience: usize,
    /// Weight `w_H` of the entropy bonus (imitation's `ent_weight`, 1e-3).
    pub ent_coef: f32,
    /// Global gradient-norm clip (`None`: off).
    pub max_grad_norm: Option<f32>,
    /// The loss of continuous actions (discrete actions: cross-entropy).
    pub continuous_loss: ContinuousLoss,
}

impl Default for BcConfig {
    fn default() -> Self {
        BcConfig {
            learning_rate: 1e-3,
            batch_size: 32,
            max_epochs: 200,
            validation_fraction: 0.2,
            patience: 10,
            ent_coef: 1e-3,
            max_grad_norm: None,
            continuous_loss: ContinuousLoss::Nll,
        }
    }
}

/// What a BC run did.
#[derive(Clone, Debug, PartialEq)]
pub struct BcReport {
    /// Epochs run.
    pub epochs: usize,
    /// The epoch whose parameters were kept (1-based; the last one without validation).
    pub best_epoch: usize,
    /// Mean training loss per epoch.
    pub train_loss: Vec<f32>,
    /// Validation negative log-likelihood per epoch (empty without a validation split).
    pub validation_nll: Vec<f32>,
}

/// Parameters as [`Parameterized::export_params`] returns them.
type SavedParams = Vec<(Vec<usize>, Vec<f32>)>;

/// Mean `−log π(a|s)` of a batch, on the host (no gradients).
pub fn negative_log_likelihood(
    policy: &PolicyNetwork,
    obs: &[f32],
    actions: &Actions,
) -> Result<f32, ImitationError> {
    let n = actions.len();
    if n == 0 {
        return Ok(0.0);
    }
    let x = matrix_from_slice(policy.device(), obs, n, policy.obs_dim())?;
    let logp = match actions {
        Actions::Discrete(a) => policy.log_prob_discrete(x, a)?,
        Actions::Continuous { values, .. } => policy.log_prob_continuous(x, values)?,
    };
    Ok(-logp.as_vec().iter().sum::<f32>() / n as f32)
}

/// One Adam step on the BC loss (negative log-likelihood minus `ent_coef` × entropy) of a
/// minibatch `obs: [n, obs_dim]`, `actions: n`; returns the loss. The building block of
/// [`BcTrainer`], public for trainers that make their own minibatches (e.g. with per-sample
/// input masks).
///
/// # Errors
/// Shape mismatches, and a non-finite loss (the parameters are then left unchanged).
pub fn bc_update(
    policy: &mut PolicyNetwork,
    opt: &mut Adam,
    obs: &[f32],
    actions: &Actions,
    cfg: &BcConfig,
) -> Result<f32, ImitationError> {
    let n = actions.len();
    let x = matrix_from_slice(policy.device(), obs, n, policy.obs_dim())?.leaky_trace();
    let loss = match actions {
        Actions::Discrete(a) => {
            let (logits, tape) = policy.forward(x).split_tape();
            let nll = Categorical::log_prob(logits.clone().put_tape(tape), a)
                .mean::<Rank0, _>()
                .negate();
            if cfg.ent_coef == 0.0 {
                nll
            } else {
                let (nll, tape) = nll.split_tape();
                let ent = Categorical::entropy(logits.put_tape(tape)).mean::<Rank0, _>();
                ent * (-cfg.ent_coef) + nll
            }
        }
        Actions::Continuous { values, dim } if cfg.continuous_loss == ContinuousLoss::Mse => {
            let target = matrix_from_slice(policy.device(), values, n, *dim)?;
            (policy.forward(x) - target).square().mean::<Rank0, _>()
        }
        Actions::Continuous { values, .. } => {
            let nll = policy
                .log_prob_continuous(x, values)?
                .mean::<Rank0, _>()
                .negate();
            match policy.log_std() {
                Some(ls) if cfg.ent_coef != 0.0 => {
                    // H = Σ_d log σ_d + const: only log σ receives the bonus's gradient.
                    let (nll, tape) = nll.split_tape();
                    let ent = ls.clone().put_tape(tape).sum::<Rank0, _>();
                    ent * (-cfg.ent_coef) + nll
                }
                _ => nll,
            }
        }
    };
    let value = loss.array();
    if !value.is_finite() {
        return Err(eirl_models::ModelError::NonFinite("BC loss").into());
    }
    let mut grads = loss.backward();
    opt.step(policy, &mut grads, cfg.max_grad_norm)?;
    Ok(value)
}

fn check_config(cfg: &BcConfig) -> Result<(), ImitationError> {
    if cfg.batch_size == 0 || !(cfg.learning_rate.is_finite() && cfg.learning_rate > 0.0) {
        return Err(ImitationError::Config(
            "BC needs batch_size ≥ 1 and a positive learning rate".into(),
        ));
    }
    if !(0.0..1.0).contains(&cfg.validation_fraction) {
        return Err(ImitationError::Config(format!(
            "validation_fraction must lie in [0, 1), got {}",
            cfg.validation_fraction
        )));
    }
    Ok(())
}

/// Checks that `actions` fit `policy`'s head: the right kind, indices in range, widths equal.
pub(crate) fn check_actions(
    policy: &PolicyNetwork,
    actions: &Actions,
) -> Result<(), ImitationError> {
    match (policy.head(), actions) {
        (PolicyHead::Categorical { num_actions }, Actions::Discrete(a)) => {
            match a.iter().find(|&&x| x >= num_actions) {
                Some(x) => Err(ImitationError::Config(format!(
                    "action {x} out of range for {num_actions} actions"
                ))),
                None => Ok(()),
            }
        }
        (PolicyHead::Gaussian { act_dim, .. }, Actions::Continuous { dim, .. })
            if act_dim == *dim =>
        {
            Ok(())
        }
        (head, a) => Err(ImitationError::Config(format!(
            "{:?} actions do not fit a {head:?} policy",
            a.kind()
        ))),
    }
}

fn gather_obs(obs: &[f32], dim: usize, idx: &[usize]) -> Vec<f32> {
    idx.iter()
        .flat_map(|&i| &obs[i * dim..(i + 1) * dim])
        .copied()
        .collect()
}

/// One epoch's losses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BcEpoch {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's minibatches.
    pub train_loss: f32,
    /// Validation negative log-likelihood (without a validation split: `None`).
    pub validation_nll: Option<f32>,
}

/// Behavioural cloning one epoch at a time, with validation early stopping: after the last
/// epoch (`max_epochs`, or `patience` epochs without a lower validation loss) the best
/// parameters are put back into the policy. Deterministic given `seed` (split, shuffles).
pub struct BcTrainer {
    cfg: BcConfig,
    obs: Vec<f32>,
    actions: Actions,
    obs_dim: usize,
    rng: ChaCha8Rng,
    val_obs: Vec<f32>,
    val_act: Actions,
    train_idx: Vec<usize>,
    opt: Adam,
    report: BcReport,
    best: Option<(f32, SavedParams)>,
    done: bool,
}

impl BcTrainer {
    /// Checks the pairs (`obs: [N, obs_dim]`) against `policy` and splits off the validation set.
    pub fn new(
        policy: &PolicyNetwork,
        obs: Vec<f32>,
        actions: Actions,
        cfg: &BcConfig,
        seed: u64,
    ) -> Result<Self, ImitationError> {
        check_config(cfg)?;
        check_actions(policy, &actions)?;
        let n = actions.len();
        let d = policy.obs_dim();
        if obs.len() != n * d {
            return Err(ImitationError::Config(format!(
                "{n} actions need {} observation values, got {}",
                n * d,
                obs.len()
            )));
        }
        if n == 0 {
            return Err(ImitationError::Config("no training pairs".into()));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let n_val = ((n as f64) * cfg.validation_fraction).floor() as usize;
        let n_val = if n - n_val == 0 { 0 } else { n_val };
        let (val_idx, train_idx) = order.split_at(n_val);
        Ok(BcTrainer {
            val_obs: gather_obs(&obs, d, val_idx),
            val_act: actions.gather(val_idx),
            train_idx: train_idx.to_vec(),
            opt: Adam::new(AdamConfig {
                lr: cfg.learning_rate,
                ..AdamConfig::default()
            }),
            report: BcReport {
                epochs: 0,
                best_epoch: 0,
                train_loss: Vec::new(),
                validation_nll: Vec::new(),
            },
            best: None,
            done: cfg.max_epochs == 0,
            obs,
            actions,
            obs_dim: d,
            rng,
            cfg: cfg.clone(),
        })
    }

    /// Whether training has ended (the best parameters are then in the policy).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// What has run so far.
    pub fn report(&self) -> &BcReport {
        &self.report
    }

    /// One pass over the shuffled training split, then the validation loss and the
    /// early-stopping decision.
    pub fn epoch(&mut self, policy: &mut PolicyNetwork) -> Result<BcEpoch, ImitationError> {
        if self.done {
            return Err(ImitationError::Config(format!(
                "behavioural cloning already ended after {} epochs",
                self.report.epochs
            )));
        }
        let epoch = self.report.epochs + 1;
        let d = self.obs_dim;
        self.train_idx.shuffle(&mut self.rng);
        let mut total = 0.0;
        let mut batches = 0;
        for chunk in self.train_idx.chunks(self.cfg.batch_size) {
            let b_obs = gather_obs(&self.obs, d, chunk);
            let b_act = self.actions.gather(chunk);
            total += bc_update(policy, &mut self.opt, &b_obs, &b_act, &self.cfg)?;
            batches += 1;
        }
        let train_loss = total / batches.max(1) as f32;
        self.report.train_loss.push(train_loss);
        self.report.epochs = epoch;
        let mut validation_nll = None;
        if self.val_act.is_empty() {
            self.report.best_epoch = epoch;
        } else {
            let v = negative_log_likelihood(policy, &self.val_obs, &self.val_act)?;
            self.report.validation_nll.push(v);
            validation_nll = Some(v);
            match &self.best {
                Some((b, _)) if v >= *b => {
                    if epoch - self.report.best_epoch >= self.cfg.patience {
                        self.done = true;
                    }
                }
                _ => {
                    self.best = Some((v, policy.export_params()));
                    self.report.best_epoch = epoch;
                }
            }
        }
        if epoch >= self.cfg.max_epochs {
            self.done = true;
        }
        if self.done
            && let Some((_, params)) = self.best.take()
        {
            policy.import_params(&params)?;
        }
        Ok(BcEpoch {
            epoch,
            train_loss,
            validation_nll,
        })
    }
}

/// Trains `policy` by behavioural cloning on `(obs, actions)` pairs (`obs: [N, obs_dim]`) to
/// the end ([`BcTrainer`] run until it stops). Deterministic given `seed` (split, shuffles).
pub fn train_bc(
    policy: &mut PolicyNetwork,
    obs: &[f32],
    actions: &Actions,
    cfg: &BcConfig,
    seed: u64,
) -> Result<BcReport, ImitationError> {
    let mut trainer = BcTrainer::new(policy, obs.to_vec(), actions.clone(), cfg, seed)?;
    while !trainer.is_done() {
        trainer.epoch(policy)?;
    }
    Ok(trainer.report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eirl_models::{Activation, PolicyNetworkConfig};

    fn small() -> PolicyNetworkConfig {
        PolicyNetworkConfig {
            hidden: vec![16],
            activation: Activation::Tanh,
            output_scale: 0.01,
        }
    }

    #[test]
    fn learns_a_linear_rule_and_stops_early() -> Result<(), ImitationError> {
        // a = 1[x0 + x1 > 0]
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let obs: Vec<f32> = (0..800)
            .map(|_| rand::Rng::gen_range(&mut rng, -1.0..1.0))
            .collect();
        let acts = Actions::Discrete(
            obs.chunks(2)
                .map(|s| usize::from(s[0] + s[1] > 0.0))
                .collect(),
        );
        let mut net =
            PolicyNetwork::new(2, PolicyHead::Categorical { num_actions: 2 }, &small(), 0)?;
        let cfg = BcConfig {
            max_epochs: 300,
            patience: 5,
            learning_rate: 1e-2,
            ..BcConfig::default()
        };
        let report = train_bc(&mut net, &obs, &acts, &cfg, 0)?;
        assert!(report.epochs < 300, "early stopping never triggered");
        let nll = negative_log_likelihood(&net, &obs, &acts)?;
        assert!(nll < 0.2, "nll {nll}");
        // Same seed, same result.
        let mut again =
            PolicyNetwork::new(2, PolicyHead::Categorical { num_actions: 2 }, &small(), 0)?;
        let report2 = train_bc(&mut again, &obs, &acts, &cfg, 0)?;
        assert_eq!(report, report2);
        Ok(())
    }

    #[test]
    fn gaussian_nll_fits_mean_and_shrinks_std() -> Result<(), ImitationError> {
        let obs: Vec<f32> = (0..400).map(|i| (i as f32 * 0.01) - 2.0).collect();
        let values: Vec<f32> = obs.iter().map(|x| 0.5 * x).collect();
        let acts = Actions::Continuous { values, dim: 1 };
        let head = PolicyHead::Gaussian {
            act_dim: 1,
            init_log_std: 0.0,
        };
        let mut net = PolicyNetwork::new(1, head, &small(), 1)?;
        let before = negative_log_likelihood(&net, &obs, &acts)?;
        let cfg = BcConfig {
            max_epochs: 60,
            learning_rate: 1e-2,
            validation_fraction: 0.0,
            ..BcConfig::default()
        };
        let report = train_bc(&mut net, &obs, &acts, &cfg, 0)?;
        assert_eq!(report.epochs, 60);
        let after = negative_log_likelihood(&net, &obs, &acts)?;
        assert!(after < before - 0.5, "{before} → {after}");
        assert!(net.log_std_values()[0] < -0.5);
        Ok(())
    }

    #[test]
    fn mse_fits_the_mean_and_leaves_the_std() -> Result<(), ImitationError> {
        let obs: Vec<f32> = (0..400).map(|i| (i as f32 * 0.01) - 2.0).collect();
        let values: Vec<f32> = obs.iter().map(|x| 0.5 * x).collect();
        let acts = Actions::Continuous {
            values: values.clone(),
            dim: 1,
        };
        let head = PolicyHead::Gaussian {
            act_dim: 1,
            init_log_std: 0.0,
        };
        let mut net = PolicyNetwork::new(1, head, &small(), 1)?;
        let mse = |net: &PolicyNetwork| -> Result<f32, ImitationError> {
            let out = net.outputs(&obs, obs.len())?;
            Ok(out
                .iter()
                .zip(&values)
                .map(|(m, a)| (m - a).powi(2))
                .sum::<f32>()
                / 400.0)
        };
        let before = mse(&net)?;
        let cfg = BcConfig {
            max_epochs: 60,
            learning_rate: 1e-2,
            validation_fraction: 0.0,
            continuous_loss: ContinuousLoss::Mse,
            ..BcConfig::default()
        };
        let report = train_bc(&mut net, &obs, &acts, &cfg, 0)?;
        // The reported loss is the MSE itself.
        assert!((report.train_loss[59] - mse(&net)?).abs() < 0.01);
        let after = mse(&net)?;
        assert!(after < 0.01 && after < before / 10.0, "{before} → {after}");
        assert_eq!(net.log_std_values(), [0.0]);
        Ok(())
    }

    #[test]
    fn rejects_bad_inputs() -> Result<(), ImitationError> {
        let mut net =
            PolicyNetwork::new(2, PolicyHead::Categorical { num_actions: 2 }, &small(), 0)?;
        let acts = Actions::Discrete(vec![0, 1]);
        assert!(train_bc(&mut net, &[0.0; 3], &acts, &BcConfig::default(), 0).is_err());
        let bad = BcConfig {
            validation_fraction: 1.0,
            ..BcConfig::default()
        };
        assert!(train_bc(&mut net, &[0.0; 4], &acts, &bad, 0).is_err());
        assert!(
            train_bc(
                &mut net,
                &[0.0; 4],
                &Actions::Discrete(vec![0, 5]),
                &BcConfig::default(),
                0
            )
            .is_err()
        );
        Ok(())
    }
}
