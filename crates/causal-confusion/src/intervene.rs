//! Targeted interventions on a graph-parameterized policy trained on CONFOUNDED data.

use std::collections::HashMap;

use eirl_causal::{
    CausalError, Graph, GraphPolicy, InputMode, SearchStep, disagreement, expert_query_search,
    most_disputed, search_graphs,
};
use eirl_envs::Policy;
use eirl_imitation::{Dagger, DaggerConfig, Demonstrations, NetworkPolicy, run_episode};
use eirl_models::{Activation, PolicyNetwork, PolicyNetworkConfig};
use serde::{Deserialize, Serialize};

use crate::{CausalConfusionConfig, Mode, Setup};

/// The return of `π_G` for one graph, on the run's evaluation seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphReturn {
    pub graph: Graph,
    pub mean_return: f64,
    pub std_return: f64,
}

/// The return reached after using part of the budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Intervention episodes (policy execution) or expert queries used so far.
    pub used: usize,
    /// The graph chosen at that point (`None` for DAgger, which has no graph).
    pub graph: Option<Graph>,
    /// Mean evaluation return of the policy at that point.
    pub mean_return: f64,
}

/// An intervention run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterveneReport {
    pub env_id: String,
    pub seed: u64,
    pub mode: Mode,
    pub budget: usize,
    /// Training samples of every policy.
    pub samples: usize,
    pub eval_episodes: usize,
    /// The expert on the evaluation seeds.
    pub expert_return: f64,
    /// Plain BC on ORIGINAL / CONFOUNDED observations of the same samples.
    pub original_return: f64,
    pub confounded_return: f64,
    /// Plain network with input dropout, on CONFOUNDED observations.
    pub dropout_return: f64,
    /// The graph-parameterized policy with every feature kept.
    pub full_graph_return: f64,
    /// Every graph's return (evaluation only: these episodes are not part of the budget).
    pub graph_returns: Vec<GraphReturn>,
    /// The graph the intervention returned, and its return.
    pub chosen_graph: Graph,
    pub final_return: f64,
    /// Episodes (policy execution) or expert queries (expert-query mode) used.
    pub episodes_or_queries_used: usize,
    /// Environment steps of the intervention episodes (0 for expert queries).
    pub intervention_env_steps: usize,
    /// `(final − confounded) / (original − confounded)`: the share of the confusion gap
    /// recovered (`None` when ORIGINAL is not better than CONFOUNDED).
    pub gap_recovered: Option<f64>,
    /// The chosen graph's return against the budget used.
    pub curve: Vec<CurvePoint>,
    /// DAgger on CONFOUNDED observations from the same samples: return against expert queries
    /// (expert-query mode only).
    pub dagger: Vec<CurvePoint>,
    /// The search (for expert queries: the one on the whole budget).
    pub trace: Vec<SearchStep>,
}

/// Graphs whose returns are all evaluated up front (2⁶ = 64 policies) for the report.
const ENUMERATE_UP_TO: usize = 6;

/// Trains the graph-parameterized policy on CONFOUNDED samples and picks its graph by `mode`
/// within `budget` episodes or expert queries; evaluates the baselines on the same samples.
///
/// # Errors
/// A zero budget, and as [`Setup::new`], training and evaluation.
pub fn intervene(
    cfg: &CausalConfusionConfig,
    mode: Mode,
    budget: usize,
    seed: u64,
    demos: Option<Demonstrations>,
    progress: &mut dyn FnMut(&str),
) -> Result<InterveneReport, CausalError> {
    if budget == 0 {
        return Err(CausalError::Config(
            "the intervention budget must be positive".into(),
        ));
    }
    let setup = Setup::new(cfg, seed, demos, progress)?;
    let n = cfg.train_samples;
    let conf = Setup::sample(&setup.confounded, n);
    let model_seed = seed.wrapping_mul(7919).wrapping_add(n as u64);
    progress("training BC (ORIGINAL, CONFOUNDED), dropout and the graph-parameterized policy");
    let full = Graph::full(setup.features);
    let mut expert = setup.expert()?;
    let (expert_return, _) = setup.evaluate(&setup.confounded_id, &mut expert)?;
    let orig = setup.train(
        InputMode::Plain,
        &Setup::sample(&setup.original, n),
        model_seed,
    )?;
    let (original_return, _) =
        setup.evaluate(&setup.original_id, &mut orig.with_graph(full.clone()))?;
    let plain = setup.train(InputMode::Plain, &conf, model_seed)?;
    let (confounded_return, _) =
        setup.evaluate(&setup.confounded_id, &mut plain.with_graph(full.clone()))?;
    let dropout = setup.train(InputMode::Dropout { p: cfg.dropout }, &conf, model_seed)?;
    let (dropout_return, _) =
        setup.evaluate(&setup.confounded_id, &mut dropout.with_graph(full.clone()))?;
    let policy = setup.train(InputMode::Graph, &conf, model_seed)?;

    let mut returns = GraphReturns {
        setup: &setup,
        policy: &policy,
        cache: HashMap::new(),
    };
    let mut graph_returns = Vec::new();
    if setup.features <= ENUMERATE_UP_TO {
        for g in Graph::all(setup.features)? {
            let (mean_return, std_return) = returns.get(&g)?;
            graph_returns.push(GraphReturn {
                graph: g,
                mean_return,
                std_return,
            });
        }
    }
    let full_graph_return = returns.get(&full)?.0;

    progress(&format!("intervening by {} (budget {budget})", mode.name()));
    let (trace, curve, used, dagger, intervention_env_steps) = match mode {
        Mode::PolicyExecution => {
            let episode_seed = 2_000_000 + seed.wrapping_mul(10_000);
            let mut k = 0u64;
            let mut env_steps = 0usize;
            let trace = search_graphs(
                setup.features,
                &eirl_causal::SearchConfig {
                    iterations: budget,
                    ..cfg.search.clone()
                },
                seed,
                |g| {
                    let ep = run_episode(
                        &setup.confounded_id,
                        &mut policy.with_graph(g.clone()),
                        episode_seed + k,
                    )?;
                    k += 1;
                    env_steps += ep.actions.len();
                    Ok::<_, CausalError>(ep.episode_return())
                },
            )?;
            let mut curve = Vec::with_capacity(trace.len());
            for s in &trace {
                curve.push(CurvePoint {
                    used: s.iteration + 1,
                    graph: Some(s.mode.clone()),
                    mean_return: returns.get(&s.mode)?.0,
                });
            }
            (trace, curve, budget, Vec::new(), env_steps)
        }
        Mode::ExpertQuery => {
            let (states, rows) = mixture_states(&setup, &policy, seed)?;
            let scores = disagreement(&policy, &states, &Graph::all(setup.features)?)?;
            let chosen = most_disputed(&scores, budget);
            let used = chosen.len();
            let d = setup.features;
            let obs: Vec<f32> = chosen
                .iter()
                .flat_map(|&i| states[i * d..(i + 1) * d].iter().copied())
                .collect();
            let queries_before = expert.queries;
            let labels = expert.act(&obs, used).map_err(CausalError::Policy)?;
            debug_assert_eq!(expert.queries - queries_before, used);
            progress(&format!(
                "{used} expert queries on the most disputed of {rows} mixture states"
            ));
            let mut curve = Vec::new();
            let mut trace = Vec::new();
            for b in query_grid(used) {
                let steps = expert_query_search(
                    &policy,
                    &obs[..b * d],
                    &labels.slice(0..b),
                    &cfg.search,
                    seed,
                )?;
                let mode_graph = steps
                    .last()
                    .map(|s| s.mode.clone())
                    .unwrap_or_else(|| full.clone());
                curve.push(CurvePoint {
                    used: b,
                    graph: Some(mode_graph.clone()),
                    mean_return: returns.get(&mode_graph)?.0,
                });
                trace = steps;
            }
            let dagger = dagger_curve(&setup, &conf, budget, &mut expert, model_seed)?;
            (trace, curve, used, dagger, 0)
        }
    };
    let chosen_graph = curve
        .last()
        .and_then(|p| p.graph.clone())
        .unwrap_or_else(|| full.clone());
    let final_return = returns.get(&chosen_graph)?.0;
    let gap = original_return - confounded_return;
    Ok(InterveneReport {
        env_id: cfg.env_id.clone(),
        seed,
        mode,
        budget,
        samples: n,
        eval_episodes: cfg.eval_episodes,
        expert_return,
        original_return,
        confounded_return,
        dropout_return,
        full_graph_return,
        graph_returns,
        chosen_graph,
        final_return,
        episodes_or_queries_used: used,
        intervention_env_steps,
        gap_recovered: (gap > 0.0).then(|| (final_return - confounded_return) / gap),
        curve,
        dagger,
        trace,
    })
}

/// Evaluation returns of `π_G`, each graph evaluated once.
struct GraphReturns<'a> {
    setup: &'a Setup,
    policy: &'a GraphPolicy,
    cache: HashMap<Graph, (f64, f64)>,
}

impl GraphReturns<'_> {
    fn get(&mut self, g: &Graph) -> Result<(f64, f64), CausalError> {
        if let Some(r) = self.cache.get(g) {
            return Ok(*r);
        }
        let r = self.setup.evaluate(
            &self.setup.confounded_id,
            &mut self.policy.with_graph(g.clone()),
        )?;
        self.cache.insert(g.clone(), r);
        Ok(r)
    }
}

/// The states visited by the mixture policy (a fresh uniform graph per step) over
/// `mixture_episodes` episodes: `[rows, features]` and `rows`.
fn mixture_states(
    setup: &Setup,
    policy: &GraphPolicy,
    seed: u64,
) -> Result<(Vec<f32>, usize), CausalError> {
    let d = setup.features;
    let mut states = Vec::new();
    let mut mixture = policy.mixture(seed ^ 0x3141);
    for e in 0..setup.cfg.mixture_episodes.max(1) {
        let ep_seed = 3_000_000 + seed.wrapping_mul(10_000) + e as u64;
        let ep = run_episode(&setup.confounded_id, &mut mixture, ep_seed)?;
        let t = ep.actions.len();
        states.extend_from_slice(&ep.obs[..t * d]);
    }
    let rows = states.len() / d;
    Ok((states, rows))
}

/// Budgets at which the expert-query curve is drawn: 10, 20, 50, 100, 200, 500, … below
/// `used`, then `used`.
fn query_grid(used: usize) -> Vec<usize> {
    let mut grid: Vec<usize> = [1, 2, 5]
        .iter()
        .flat_map(|m| (1..7).map(move |e| m * 10usize.pow(e)))
        .filter(|&b| b < used)
        .collect();
    grid.sort_unstable();
    grid.push(used);
    grid
}

/// DAgger on CONFOUNDED observations, round 0 on the same samples, one labelled episode per
/// round until the expert has labelled at least `budget` states (at most 50 rounds).
fn dagger_curve(
    setup: &Setup,
    conf: &eirl_causal::Pairs,
    budget: usize,
    expert: &mut dyn Policy,
    model_seed: u64,
) -> Result<Vec<CurvePoint>, CausalError> {
    let cfg = DaggerConfig {
        rounds: 50,
        episodes_per_round: 1,
        beta_rampdown_rounds: setup.cfg.dagger_beta_rampdown_rounds,
        deterministic_learner: true,
        bc: setup.cfg.dagger_bc.clone(),
    };
    let net_cfg = PolicyNetworkConfig {
        hidden: setup.cfg.plain.hidden.clone(),
        activation: Activation::Relu,
        output_scale: 1.0,
    };
    let mut learner = PolicyNetwork::new(setup.features, setup.head(), &net_cfg, model_seed)?;
    let mut run = Dagger::from_pairs(
        &setup.confounded_id,
        cfg,
        conf.obs.clone(),
        conf.actions.clone(),
        model_seed,
    )?;
    let initial = conf.len();
    let mut curve = Vec::new();
    while !run.is_done() {
        let round = run.round(expert, &mut learner)?;
        let used = round.dataset_size - initial;
        let (mean_return, _) = setup.evaluate(
            &setup.confounded_id,
            &mut NetworkPolicy::new(&learner, true, 0),
        )?;
        curve.push(CurvePoint {
            used,
            graph: None,
            mean_return,
        });
        if used >= budget {
            break;
        }
    }
    Ok(curve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_grid_ends_at_the_budget() {
        assert_eq!(query_grid(5), vec![5]);
        assert_eq!(query_grid(10), vec![10]);
        assert_eq!(query_grid(120), vec![10, 20, 50, 100, 120]);
    }
}
