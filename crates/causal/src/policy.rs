//! Graph-parameterized policies `π_G(X) = f_φ([X ⊙ G, G])` (eq. 6.1 of the paper; the official
//! `UniformMaskPolicy`) and their training by behavioural cloning with `G` drawn uniformly per
//! sample, with the two reference networks of the paper's experiments: the plain policy
//! `f_φ(X)` (the official `SimplePolicy`) and input dropout.

use eirl_envs::{Actions, Policy, PolicyError};
use eirl_imitation::{BcConfig, ContinuousLoss, bc_update, negative_log_likelihood};
use eirl_models::{
    Activation, Adam, AdamConfig, Categorical, PolicyHead, PolicyNetwork, PolicyNetworkConfig,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{CausalError, Graph, uniform_graph};

/// What the network sees of an observation `X` (n features) and a graph `G`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputMode {
    /// `f_φ([X ⊙ G, G])`, width 2n: the graph-parameterized policy; trained with `G` uniform.
    Graph,
    /// `f_φ(X)`, width n: plain behavioural cloning (graphs are ignored).
    Plain,
    /// `f_φ(X ⊙ G / (1 − p))` during training with `G_i ∼ Bernoulli(1 − p)` (inverted input
    /// dropout), `f_φ(X)` when acting: the paper's dropout baseline, a network that is made
    /// robust to missing features but is not told which are missing.
    Dropout {
        /// Probability of dropping a feature.
        p: f32,
    },
}

impl InputMode {
    /// The network's input width for `n` features.
    pub fn input_dim(self, n: usize) -> usize {
        match self {
            InputMode::Graph => 2 * n,
            InputMode::Plain | InputMode::Dropout { .. } => n,
        }
    }
}

/// A policy network over `n` features conditioned on a [`Graph`] through its [`InputMode`].
#[derive(Clone)]
pub struct GraphPolicy {
    net: PolicyNetwork,
    mode: InputMode,
    features: usize,
}

impl GraphPolicy {
    /// A fresh network `input_dim → hidden… → head` with ReLU activations (the official MLP),
    /// parameters drawn from `seed`.
    ///
    /// # Errors
    /// A zero width, or a dropout probability outside `[0, 1)`.
    pub fn new(
        features: usize,
        head: PolicyHead,
        hidden: &[usize],
        mode: InputMode,
        seed: u64,
    ) -> Result<Self, CausalError> {
        if let InputMode::Dropout { p } = mode
            && !(0.0..1.0).contains(&p)
        {
            return Err(CausalError::Config(format!(
                "dropout probability must lie in [0, 1), got {p}"
            )));
        }
        let cfg = PolicyNetworkConfig {
            hidden: hidden.to_vec(),
            activation: Activation::Relu,
            output_scale: 1.0,
        };
        let net = PolicyNetwork::new(mode.input_dim(features), head, &cfg, seed)?;
        Ok(GraphPolicy {
            net,
            mode,
            features,
        })
    }

    /// The number of observation features `n`.
    pub fn features(&self) -> usize {
        self.features
    }

    /// How graphs enter the network.
    pub fn mode(&self) -> InputMode {
        self.mode
    }

    /// The underlying network.
    pub fn network(&self) -> &PolicyNetwork {
        &self.net
    }

    /// The underlying network, for loading or setting parameters.
    pub fn network_mut(&mut self) -> &mut PolicyNetwork {
        &mut self.net
    }

    /// The network's input for `obs: [batch, n]` under one graph per row (`graphs` has `batch`
    /// rows of `n` values in {0, 1}); `training` selects dropout's scaled masks.
    fn encode_rows(&self, obs: &[f32], graphs: &[f32], training: bool) -> Vec<f32> {
        let n = self.features;
        match self.mode {
            InputMode::Plain => obs.to_vec(),
            InputMode::Graph => obs
                .chunks_exact(n)
                .zip(graphs.chunks_exact(n))
                .flat_map(|(x, g)| {
                    x.iter()
                        .zip(g)
                        .map(|(a, b)| a * b)
                        .chain(g.iter().copied())
                        .collect::<Vec<_>>()
                })
                .collect(),
            InputMode::Dropout { .. } if !training => obs.to_vec(),
            InputMode::Dropout { p } => obs
                .iter()
                .zip(graphs)
                .map(|(x, g)| x * g / (1.0 - p))
                .collect(),
        }
    }

    /// The network's input for `obs: [batch, n]` under one graph for every row.
    ///
    /// # Errors
    /// A graph or observation of the wrong width.
    pub fn encode(&self, obs: &[f32], graph: &Graph) -> Result<Vec<f32>, CausalError> {
        let n = self.features;
        if graph.len() != n || obs.len() % n.max(1) != 0 {
            return Err(CausalError::Config(format!(
                "a policy over {n} features got a graph of {} and {} observation values",
                graph.len(),
                obs.len()
            )));
        }
        let g = graph.as_f32();
        let rows = obs.len() / n;
        let graphs: Vec<f32> = (0..rows).flat_map(|_| g.iter().copied()).collect();
        Ok(self.encode_rows(obs, &graphs, false))
    }

    /// Logits (categorical) or means (Gaussian) of `π_G` for `obs: [batch, n]`.
    ///
    /// # Errors
    /// As [`GraphPolicy::encode`].
    pub fn outputs(&self, obs: &[f32], graph: &Graph) -> Result<Vec<f32>, CausalError> {
        let x = self.encode(obs, graph)?;
        Ok(self.net.outputs(&x, obs.len() / self.features)?)
    }

    /// The greedy actions of `π_G` (argmax / mean, the official `hard_discrete_action`).
    ///
    /// # Errors
    /// As [`GraphPolicy::encode`].
    pub fn greedy_actions(&self, obs: &[f32], graph: &Graph) -> Result<Actions, CausalError> {
        let out = self.outputs(obs, graph)?;
        Ok(match self.net.head() {
            PolicyHead::Categorical { num_actions } => Actions::Discrete(
                out.chunks_exact(num_actions)
                    .map(Categorical::argmax)
                    .collect(),
            ),
            PolicyHead::Gaussian { act_dim, .. } => Actions::Continuous {
                values: out,
                dim: act_dim,
            },
        })
    }

    /// Mean `−log π_G(a|x)` over labelled pairs: the per-graph loss that expert-query
    /// interventions regress on.
    ///
    /// # Errors
    /// As [`GraphPolicy::encode`], and labels that do not fit the head.
    pub fn loss(&self, obs: &[f32], actions: &Actions, graph: &Graph) -> Result<f64, CausalError> {
        let x = self.encode(obs, graph)?;
        Ok(f64::from(negative_log_likelihood(&self.net, &x, actions)?))
    }

    /// A [`Policy`] acting greedily with a fixed graph.
    pub fn with_graph(&self, graph: Graph) -> FixedGraph<'_> {
        FixedGraph {
            policy: self,
            graph,
        }
    }

    /// A [`Policy`] acting greedily with a fresh uniform graph per observation: the mixture
    /// `π_mix` whose states expert-query interventions score (the official
    /// `RandomMaskPolicyAgent`).
    pub fn mixture(&self, seed: u64) -> UniformGraphs<'_> {
        UniformGraphs {
            policy: self,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }
}

/// `π_G` for one graph, acting greedily.
pub struct FixedGraph<'a> {
    policy: &'a GraphPolicy,
    graph: Graph,
}

impl Policy for FixedGraph<'_> {
    fn act(&mut self, obs: &[f32], _batch: usize) -> Result<Actions, PolicyError> {
        Ok(self.policy.greedy_actions(obs, &self.graph)?)
    }
}

/// `π_G` with `G` uniform, drawn afresh for every observation, acting greedily.
pub struct UniformGraphs<'a> {
    policy: &'a GraphPolicy,
    rng: ChaCha8Rng,
}

impl Policy for UniformGraphs<'_> {
    fn act(&mut self, obs: &[f32], batch: usize) -> Result<Actions, PolicyError> {
        let n = self.policy.features;
        let mut out: Option<Actions> = None;
        for row in obs.chunks_exact(n.max(1)).take(batch) {
            let g = uniform_graph(n, &mut self.rng);
            let a = self.policy.greedy_actions(row, &g)?;
            match &mut out {
                Some(acc) => acc.extend(&a).map_err(CausalError::from)?,
                None => out = Some(a),
            }
        }
        out.ok_or_else(|| CausalError::Config("no observation to act on".into()).into())
    }
}

/// Behavioural cloning of a [`GraphPolicy`]: a fixed number of Adam updates on shuffled
/// minibatches (the official trainer runs epochs of 500 batches of 64), a fresh graph per
/// sample and update (uniform for [`InputMode::Graph`], Bernoulli(1 − p) for dropout).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphBcConfig {
    /// Hidden widths (official: `[50, 50]` plain, `[50, 50, 50]` graph-parameterized).
    pub hidden: Vec<usize>,
    /// Minibatch size (official 64).
    pub batch_size: usize,
    /// Adam updates (official: 10 epochs × 500 plain, 20 × 500 graph-parameterized).
    pub updates: usize,
    /// Adam step size (PyTorch's default, 1e-3).
    pub learning_rate: f32,
}

impl GraphBcConfig {
    /// The official settings for a network of `mode`.
    pub fn official(mode: InputMode) -> Self {
        match mode {
            InputMode::Graph => GraphBcConfig {
                hidden: vec![50, 50, 50],
                updates: 10_000,
                ..GraphBcConfig::default()
            },
            InputMode::Plain | InputMode::Dropout { .. } => GraphBcConfig::default(),
        }
    }
}

impl Default for GraphBcConfig {
    fn default() -> Self {
        GraphBcConfig {
            hidden: vec![50, 50],
            batch_size: 64,
            updates: 5_000,
            learning_rate: 1e-3,
        }
    }
}

/// What a [`train_graph_policy`] run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphBcReport {
    /// Adam updates made.
    pub updates: usize,
    /// Mean training loss over each block of 500 updates (the official epoch).
    pub loss_per_500: Vec<f32>,
}

/// Trains `policy` on pairs `obs: [N, n]`, `actions: N` with a fresh graph per sample and update:
/// cross-entropy for discrete actions (the official loss, no entropy term), mean squared error
/// of the mean for continuous ones (the paper's choice; σ stays at its initial value).
///
/// # Errors
/// Empty or mismatched data, a zero batch size, labels that do not fit the head, or a
/// non-finite loss.
pub fn train_graph_policy(
    policy: &mut GraphPolicy,
    obs: &[f32],
    actions: &Actions,
    cfg: &GraphBcConfig,
    seed: u64,
) -> Result<GraphBcReport, CausalError> {
    let n = policy.features;
    let rows = actions.len();
    if rows == 0 || obs.len() != rows * n {
        return Err(CausalError::Config(format!(
            "{rows} labels need {} observation values of width {n}, got {}",
            rows * n,
            obs.len()
        )));
    }
    if cfg.batch_size == 0 || !(cfg.learning_rate.is_finite() && cfg.learning_rate > 0.0) {
        return Err(CausalError::Config(
            "graph BC needs batch_size ≥ 1 and a positive learning rate".into(),
        ));
    }
    let bc = BcConfig {
        learning_rate: cfg.learning_rate,
        batch_size: cfg.batch_size,
        ent_coef: 0.0,
        max_grad_norm: None,
        continuous_loss: ContinuousLoss::Mse,
        ..BcConfig::default()
    };
    let mut opt = Adam::new(AdamConfig {
        lr: cfg.learning_rate,
        ..AdamConfig::default()
    });
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..rows).collect();
    let mut cursor = rows;
    let mut report = GraphBcReport {
        updates: 0,
        loss_per_500: Vec::new(),
    };
    let mut block = (0.0f64, 0usize);
    let keep = match policy.mode {
        InputMode::Dropout { p } => 1.0 - f64::from(p),
        InputMode::Graph | InputMode::Plain => 0.5,
    };
    while report.updates < cfg.updates {
        if cursor >= rows {
            order.shuffle(&mut rng);
            cursor = 0;
        }
        let idx = &order[cursor..(cursor + cfg.batch_size).min(rows)];
        cursor += idx.len();
        let b_obs: Vec<f32> = idx
            .iter()
            .flat_map(|&i| &obs[i * n..(i + 1) * n])
            .copied()
            .collect();
        let graphs: Vec<f32> = (0..idx.len() * n)
            .map(|_| f32::from(u8::from(rng.r#gen::<f64>() < keep)))
            .collect();
        let x = policy.encode_rows(&b_obs, &graphs, true);
        let loss = bc_update(&mut policy.net, &mut opt, &x, &actions.gather(idx), &bc)?;
        report.updates += 1;
        block.0 += f64::from(loss);
        block.1 += 1;
        if block.1 == 500 || report.updates == cfg.updates {
            report.loss_per_500.push((block.0 / block.1 as f64) as f32);
            block = (0.0, 0);
        }
    }
    Ok(report)
}
