//! Targeted interventions that pick the graph of a trained [`GraphPolicy`]: by policy execution
//! (Algorithm 2 of the paper) and by expert queries (Algorithm 1).
//!
//! Both are the same search over graphs (the official `SoftQAlgo`): sample
//! `G ∼ p(G) ∝ exp⟨w, G⟩/T`, score it, add `(G, score)` to the data, refit `w` by ridge
//! regression of the scores on the graphs, and return the mode `G_i = [w_i > 0]`. Policy
//! execution scores a graph by the return of an episode of `π_G`; expert queries score it by
//! `−` the loss of `π_G` on expert labels of the states where the graphs disagree most.

use eirl_envs::Actions;
use eirl_models::PolicyHead;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{CausalError, Graph, GraphDistribution, GraphPolicy, ridge};

/// The search's settings (official defaults: 20 iterations, temperature 10, ridge α = 1, one
/// evaluation per iteration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Graphs sampled and scored.
    pub iterations: usize,
    /// `T` in `p(G) ∝ exp⟨w, G⟩/T`.
    pub temperature: f64,
    /// The ridge penalty of the fit of `w`.
    pub ridge_alpha: f64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            iterations: 20,
            temperature: 10.0,
            ridge_alpha: 1.0,
        }
    }
}

/// One iteration of the search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchStep {
    /// 0-based iteration.
    pub iteration: usize,
    /// The graph sampled.
    pub graph: Graph,
    /// Its score (an episode return, or minus a loss).
    pub score: f64,
    /// `w` after refitting on every score so far.
    pub weights: Vec<f64>,
    /// The mode of the refitted distribution: the graph the search would return now.
    pub mode: Graph,
}

/// Runs the search over graphs of `n` features, calling `score` once per iteration.
///
/// # Errors
/// Zero iterations, a non-positive temperature, a non-finite score, and whatever `score`
/// returns.
pub fn search_graphs<E>(
    n: usize,
    cfg: &SearchConfig,
    seed: u64,
    mut score: impl FnMut(&Graph) -> Result<f64, E>,
) -> Result<Vec<SearchStep>, E>
where
    E: From<CausalError>,
{
    if cfg.iterations == 0 || !(cfg.temperature.is_finite() && cfg.temperature > 0.0) {
        return Err(CausalError::Config(format!(
            "graph search needs ≥ 1 iteration and a positive temperature (got {}, {})",
            cfg.iterations, cfg.temperature
        ))
        .into());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut dist = GraphDistribution::uniform(n, cfg.temperature);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    let mut trace = Vec::with_capacity(cfg.iterations);
    for iteration in 0..cfg.iterations {
        let graph = dist.sample(&mut rng);
        let s = score(&graph)?;
        if !s.is_finite() {
            return Err(CausalError::Config(format!("graph {graph} scored {s}")).into());
        }
        xs.push(graph.as_f64());
        ys.push(s);
        dist.weights = ridge(&xs, &ys, cfg.ridge_alpha)?.coef;
        trace.push(SearchStep {
            iteration,
            graph,
            score: s,
            weights: dist.weights.clone(),
            mode: dist.mode(),
        });
    }
    Ok(trace)
}

/// The disagreement score of each state (Algorithm 1): `D(X) = E_G KL(π_G(X) ‖ π_mix(X))` with
/// `π_mix = E_G π_G`, over the given graphs (all `2ⁿ` for small `n`, samples otherwise).
///
/// For a Gaussian head the KL to the mixture has no closed form; the score is then
/// `E_G ‖μ_G − μ̄‖² / (2σ²)`, the KL to the moment-matched mean with the shared σ
/// (`σ² = e^{2 log σ}` per dimension).
///
/// # Errors
/// No graphs, or shapes that do not fit the policy.
pub fn disagreement(
    policy: &GraphPolicy,
    obs: &[f32],
    graphs: &[Graph],
) -> Result<Vec<f64>, CausalError> {
    if graphs.is_empty() {
        return Err(CausalError::Config("disagreement needs ≥ 1 graph".into()));
    }
    let rows = obs.len() / policy.features().max(1);
    let d = policy.network().output_dim();
    let outs = graphs
        .iter()
        .map(|g| policy.outputs(obs, g))
        .collect::<Result<Vec<_>, _>>()?;
    let k = graphs.len() as f64;
    let scores = match policy.network().head() {
        PolicyHead::Categorical { .. } => (0..rows)
            .map(|r| {
                let probs: Vec<Vec<f64>> = outs
                    .iter()
                    .map(|o| softmax(&o[r * d..(r + 1) * d]))
                    .collect();
                let mix: Vec<f64> = (0..d)
                    .map(|a| probs.iter().map(|p| p[a]).sum::<f64>() / k)
                    .collect();
                probs.iter().map(|p| kl(p, &mix)).sum::<f64>() / k
            })
            .collect(),
        PolicyHead::Gaussian { .. } => {
            let var: Vec<f64> = policy
                .network()
                .log_std_values()
                .iter()
                .map(|l| (2.0 * f64::from(*l)).exp())
                .collect();
            (0..rows)
                .map(|r| {
                    let mean: Vec<f64> = (0..d)
                        .map(|j| outs.iter().map(|o| f64::from(o[r * d + j])).sum::<f64>() / k)
                        .collect();
                    outs.iter()
                        .map(|o| {
                            (0..d)
                                .map(|j| {
                                    (f64::from(o[r * d + j]) - mean[j]).powi(2) / (2.0 * var[j])
                                })
                                .sum::<f64>()
                        })
                        .sum::<f64>()
                        / k
                })
                .collect()
        }
    };
    Ok(scores)
}

/// The indices of the `budget` highest scores, highest first (ties: lower index first).
pub fn most_disputed(scores: &[f64], budget: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    idx.truncate(budget);
    idx
}

/// Scores graphs by `−` the loss of `π_G` on expert-labelled pairs (Algorithm 1's inner loop)
/// and searches over them.
///
/// # Errors
/// As [`search_graphs`] and [`GraphPolicy::loss`].
pub fn expert_query_search(
    policy: &GraphPolicy,
    obs: &[f32],
    labels: &Actions,
    cfg: &SearchConfig,
    seed: u64,
) -> Result<Vec<SearchStep>, CausalError> {
    search_graphs(policy.features(), cfg, seed, |g| {
        Ok::<_, CausalError>(-policy.loss(obs, labels, g)?)
    })
}

fn softmax(logits: &[f32]) -> Vec<f64> {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = logits.iter().map(|l| f64::from(l - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// `KL(p ‖ q) = Σ p log(p/q)` (terms with `p = 0` are 0).
pub fn kl(p: &[f64], q: &[f64]) -> f64 {
    p.iter()
        .zip(q)
        .filter(|(a, _)| **a > 0.0)
        .map(|(a, b)| a * (a / b).ln())
        .sum()
}
