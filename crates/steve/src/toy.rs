//! The paper's toy value-estimation study (STEVE Figure 1; official `toy_demo.py`), exactly
//! as the official script runs it.
//!
//! A chain of 101 non-terminal states `0..=100` and a terminal state 101: from `s` the chain
//! moves to `s + 1` with reward −1, except that entering the terminal state pays 100, so the
//! true value of `s` is `V(s) = s` (no discounting). A fixed policy's values are estimated in
//! tables initialised to random integers in `[0, 100]`; each update draws states uniformly and
//! backs them up. The error is `mean_s (s − Q̄(s))²` over the non-terminal states, after every
//! update.
//!
//! - `td`: Q-learning on one table, one sampled state per update: `Q(s) ← r + Q(s')`.
//! - `mve`: an ensemble of 8 tables; per update each member backs up its own sampled state
//!   with an H = 5 rollout from the real next state, `Σ rewards + Q̄(ŝ_{H+1})` (`Q̄` the
//!   ensemble mean). With the noisy model the rollout is repeated for 8 model samples and the
//!   targets averaged.
//! - `steve`: the same rollouts, candidates `Σ_{k≤i} r_k + Q_l(ŝ_{i+1})` for every horizon
//!   `i = 0..=5`, every Q member `l` (and every model sample), combined by inverse variance
//!   with ε = 1e-8 ([`eirl_returns::steve_target_eps`]).
//!
//! The oracle model is the true chain; the noisy model jumps to a uniformly random state with
//! probability 0.1 per step (the reward still follows the true chain's rule). `td` consults no
//! model. Each ensemble update draws 8 states (one per member), `td` one.

use eirl_returns::{mve_target, steve_target_eps};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::SteveError;

/// The official hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToyConfig {
    /// Non-terminal states (official: 100, i.e. states `0..=100`).
    pub nonterminal_states: usize,
    /// Probability that the noisy model jumps to a random state (official: 0.1).
    pub noise: f64,
    /// Updates per trial (official: 10 000).
    pub updates: usize,
    /// Q ensemble size (official: 8).
    pub q_ensemble: usize,
    /// Noisy-model samples per target (official: 8).
    pub model_ensemble: usize,
    /// Rollout horizon (official: 5).
    pub horizon: usize,
    /// Trials per method (official: 10).
    pub trials: usize,
}

impl Default for ToyConfig {
    fn default() -> Self {
        ToyConfig {
            nonterminal_states: 100,
            noise: 0.1,
            updates: 10_000,
            q_ensemble: 8,
            model_ensemble: 8,
            horizon: 5,
            trials: 10,
        }
    }
}

/// A value estimator of the study.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToyMethod {
    Td,
    Mve,
    Steve,
}

impl ToyMethod {
    pub const ALL: [ToyMethod; 3] = [ToyMethod::Td, ToyMethod::Mve, ToyMethod::Steve];

    pub fn name(self) -> &'static str {
        match self {
            ToyMethod::Td => "td",
            ToyMethod::Mve => "mve",
            ToyMethod::Steve => "steve",
        }
    }

    /// States drawn per update.
    pub fn samples_per_update(self, cfg: &ToyConfig) -> usize {
        match self {
            ToyMethod::Td => 1,
            _ => cfg.q_ensemble,
        }
    }
}

/// The model rollouts use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToyModel {
    Oracle,
    Noisy,
}

impl ToyModel {
    pub const ALL: [ToyModel; 2] = [ToyModel::Oracle, ToyModel::Noisy];

    pub fn name(self) -> &'static str {
        match self {
            ToyModel::Oracle => "oracle",
            ToyModel::Noisy => "noisy",
        }
    }
}

struct Chain {
    /// 101 for the official size: the terminal state; states `0..terminal` are non-terminal.
    terminal: usize,
    noise: f64,
}

impl Chain {
    fn reward(&self, s: usize) -> f64 {
        if s == self.terminal {
            0.0
        } else if s + 1 == self.terminal {
            self.terminal as f64 - 1.0
        } else {
            -1.0
        }
    }

    fn step(&self, s: usize) -> (usize, f64) {
        let next = if s == self.terminal { s } else { s + 1 };
        (next, self.reward(s))
    }

    fn noisy_step(&self, s: usize, rng: &mut impl Rng) -> (usize, f64) {
        let next = if s == self.terminal {
            s
        } else if rng.r#gen::<f64>() < self.noise {
            rng.gen_range(0..self.terminal)
        } else {
            s + 1
        };
        (next, self.reward(s))
    }

    fn model_step(&self, s: usize, model: ToyModel, rng: &mut impl Rng) -> (usize, f64) {
        match model {
            ToyModel::Oracle => self.step(s),
            ToyModel::Noisy => self.noisy_step(s, rng),
        }
    }
}

/// `mean_s (s − q(s))²` over the non-terminal states.
fn value_error(q: &[f64], terminal: usize) -> f64 {
    (0..terminal)
        .map(|s| (s as f64 - q[s]).powi(2))
        .sum::<f64>()
        / terminal as f64
}

/// One trial: the value error after each update (`[updates]`).
pub fn run_trial(
    cfg: &ToyConfig,
    method: ToyMethod,
    model: ToyModel,
    seed: u64,
) -> Result<Vec<f64>, SteveError> {
    if cfg.nonterminal_states == 0
        || cfg.q_ensemble == 0
        || cfg.model_ensemble == 0
        || cfg.horizon == 0
    {
        return Err(SteveError::Shape("toy study sizes must be positive".into()));
    }
    if !(0.0..=1.0).contains(&cfg.noise) {
        return Err(SteveError::Shape(format!(
            "noise {} not in [0, 1]",
            cfg.noise
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let chain = Chain {
        terminal: cfg.nonterminal_states + 1,
        noise: cfg.noise,
    };
    let states = chain.terminal; // non-terminal states 0..terminal
    let members = if method == ToyMethod::Td {
        1
    } else {
        cfg.q_ensemble
    };
    // q[l][s] for s in 0..=terminal; the terminal entry stays 0.
    let mut q: Vec<Vec<f64>> = (0..members)
        .map(|_| {
            let mut t: Vec<f64> = (0..=states)
                .map(|_| rng.gen_range(0..states) as f64)
                .collect();
            t[states] = 0.0;
            t
        })
        .collect();
    let mean_q = |q: &[Vec<f64>], s: usize| q.iter().map(|t| t[s]).sum::<f64>() / q.len() as f64;
    let h = cfg.horizon;
    let samples = if model == ToyModel::Noisy {
        cfg.model_ensemble
    } else {
        1
    };
    let mut errors = Vec::with_capacity(cfg.updates);
    let mut mean = vec![0.0; states + 1];
    let (mut cands, mut weights) = (Vec::new(), vec![0.0; h + 1]);
    let zeros = vec![0.0; h + 1];
    let mut rewards = vec![0.0; h];
    for _ in 0..cfg.updates {
        for l in 0..members {
            let s = rng.gen_range(0..states);
            let (s1, r) = chain.step(s);
            let target = match method {
                ToyMethod::Td => r + q[0][s1],
                ToyMethod::Mve => {
                    let mut sum = 0.0;
                    for _ in 0..samples {
                        let (mut x, mut total) = (s1, r);
                        for _ in 0..h {
                            let (nx, rr) = chain.model_step(x, model, &mut rng);
                            total += rr;
                            x = nx;
                        }
                        sum += total + mean_q(&q, x);
                    }
                    sum / samples as f64
                }
                ToyMethod::Steve => {
                    // candidates [H+1, samples·L], column (sample, l).
                    let k = samples * members;
                    cands.clear();
                    cands.resize((h + 1) * k, 0.0);
                    for j in 0..samples {
                        let mut path = vec![s1];
                        for t in 0..h {
                            let (nx, rr) = chain.model_step(path[t], model, &mut rng);
                            rewards[t] = rr;
                            path.push(nx);
                        }
                        for i in 0..=h {
                            for (ll, table) in q.iter().enumerate() {
                                cands[i * k + j * members + ll] = mve_target(
                                    r,
                                    1.0,
                                    &rewards[..i],
                                    &zeros[..=i],
                                    table[path[i]],
                                )?;
                            }
                        }
                    }
                    steve_target_eps(&cands, h + 1, 1e-8, &mut weights)?
                }
            };
            q[l][s] = target;
        }
        for (s, m) in mean.iter_mut().enumerate() {
            *m = mean_q(&q, s);
        }
        errors.push(value_error(&mean, states));
    }
    Ok(errors)
}

/// One row of the study's output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToyRow {
    pub method: ToyMethod,
    pub model: ToyModel,
    pub trial: usize,
    pub update: usize,
    pub mse: f64,
}

/// Every method under both models, `cfg.trials` trials each (trial `t` of every method and
/// model is seeded from `seed` and `t`). `td` runs once per trial and is reported under both
/// models, since it consults none.
pub fn run_study(
    cfg: &ToyConfig,
    seed: u64,
    mut progress: impl FnMut(&str),
) -> Result<Vec<ToyRow>, SteveError> {
    let mut rows = Vec::with_capacity(cfg.trials * cfg.updates * 6);
    for method in ToyMethod::ALL {
        for (mi, model) in ToyModel::ALL.into_iter().enumerate() {
            progress(&format!("{} / {}", method.name(), model.name()));
            for trial in 0..cfg.trials {
                let trial_seed = seed.wrapping_mul(1_000_003).wrapping_add(
                    trial as u64 * 7919 + 1 + 100 * mi as u64 * u64::from(method != ToyMethod::Td),
                );
                let errors = run_trial(cfg, method, model, trial_seed)?;
                rows.extend(errors.into_iter().enumerate().map(|(update, mse)| ToyRow {
                    method,
                    model,
                    trial,
                    update,
                    mse,
                }));
            }
        }
    }
    Ok(rows)
}

/// The first update after which the mean error over trials stays below `threshold` for
/// the rest of the run, or `None`.
pub fn updates_to_threshold(mean_curve: &[f64], threshold: f64) -> Option<usize> {
    let last_above = mean_curve
        .iter()
        .rposition(|&e| e.is_nan() || e >= threshold);
    match last_above {
        None => Some(0),
        Some(i) if i + 1 < mean_curve.len() => Some(i + 1),
        Some(_) => None,
    }
}
