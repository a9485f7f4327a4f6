//! The diagnosis (the paper's Figure 4): more information, worse imitation.

use eirl_causal::{CausalError, Graph, InputMode};
use eirl_imitation::Demonstrations;
use serde::{Deserialize, Serialize};

use crate::{CausalConfusionConfig, Setup};

/// Returns at one training-set size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiagnosePoint {
    /// Training samples.
    pub samples: usize,
    /// BC on ORIGINAL observations: mean return over the evaluation episodes, and its std.
    pub original_return: f64,
    pub original_std: f64,
    /// BC on CONFOUNDED observations.
    pub confounded_return: f64,
    pub confounded_std: f64,
}

/// A diagnosis run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseReport {
    pub env_id: String,
    pub seed: u64,
    /// The expert's mean return on the evaluation seeds (Gymnasium's start distribution).
    pub expert_return: f64,
    /// The expert's mean return over the demonstrations (their start distribution).
    pub demo_return: f64,
    /// Demonstration steps (transitions) recorded.
    pub demo_steps: usize,
    /// BC on ORIGINAL and on CONFOUNDED observations at the default sample count.
    pub samples: usize,
    pub original_return: f64,
    pub confounded_return: f64,
    /// One point per sample count of the sweep (including the default).
    pub points: Vec<DiagnosePoint>,
    pub eval_episodes: usize,
}

/// BC on ORIGINAL and CONFOUNDED observations of the same expert steps, at every sample count
/// of the sweep, each evaluated on its own observation type.
///
/// # Errors
/// As [`Setup::new`], training and evaluation.
pub fn diagnose(
    cfg: &CausalConfusionConfig,
    seed: u64,
    demos: Option<Demonstrations>,
    progress: &mut dyn FnMut(&str),
) -> Result<DiagnoseReport, CausalError> {
    let setup = Setup::new(cfg, seed, demos, progress)?;
    let mut expert = setup.expert()?;
    let (expert_return, _) = setup.evaluate(&setup.confounded_id, &mut expert)?;
    let mut sizes = cfg.sample_sweep.clone();
    sizes.push(cfg.train_samples);
    sizes.sort_unstable();
    sizes.dedup();
    let full = Graph::full(setup.features);
    let mut points = Vec::with_capacity(sizes.len());
    for (i, &n) in sizes.iter().enumerate() {
        progress(&format!("BC on {n} samples ({}/{})", i + 1, sizes.len()));
        let model_seed = seed.wrapping_mul(7919).wrapping_add(n as u64);
        let orig = setup.train(
            InputMode::Plain,
            &Setup::sample(&setup.original, n),
            model_seed,
        )?;
        let conf = setup.train(
            InputMode::Plain,
            &Setup::sample(&setup.confounded, n),
            model_seed,
        )?;
        let (original_return, original_std) =
            setup.evaluate(&setup.original_id, &mut orig.with_graph(full.clone()))?;
        let (confounded_return, confounded_std) =
            setup.evaluate(&setup.confounded_id, &mut conf.with_graph(full.clone()))?;
        points.push(DiagnosePoint {
            samples: n,
            original_return,
            original_std,
            confounded_return,
            confounded_std,
        });
    }
    let at_default = points
        .iter()
        .find(|p| p.samples == cfg.train_samples)
        .cloned()
        .ok_or_else(|| CausalError::Config("the default sample count was not run".into()))?;
    Ok(DiagnoseReport {
        env_id: cfg.env_id.clone(),
        seed,
        expert_return,
        demo_return: setup.demos.mean_return().unwrap_or(f64::NAN),
        demo_steps: setup.demos.num_transitions(),
        samples: cfg.train_samples,
        original_return: at_default.original_return,
        confounded_return: at_default.confounded_return,
        points,
        eval_episodes: cfg.eval_episodes,
    })
}
