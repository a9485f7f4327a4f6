//! Causal graphs over the input features and distributions over them.
//!
//! A graph `G ∈ {0, 1}ⁿ` says which of the `n` input features are causes of the expert's action
//! (the paper's "G as a binary vector indicating which state variables are parents of the
//! action"). Graphs are numbered as the official code numbers masks (`mask_idx_to_mask`): the
//! first feature is the most significant bit, so index 1 of `n = 3` is `[0, 0, 1]`.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::CausalError;

/// The largest feature count whose graphs are enumerated (2²⁰ graphs).
pub const MAX_ENUMERATED_FEATURES: usize = 20;

/// Which input features a policy may use: `G_i = 1` keeps feature `i`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Graph(Vec<bool>);

impl Graph {
    /// A graph from its edges.
    pub fn new(edges: Vec<bool>) -> Self {
        Graph(edges)
    }

    /// Every feature kept (`[1, …, 1]`).
    pub fn full(n: usize) -> Self {
        Graph(vec![true; n])
    }

    /// Graph number `index` of `n` features, first feature most significant.
    ///
    /// # Errors
    /// [`CausalError::Config`] when `n > 63` or `index ≥ 2ⁿ`.
    pub fn from_index(n: usize, index: u64) -> Result<Self, CausalError> {
        if n > 63 || index >> n != 0 {
            return Err(CausalError::Config(format!(
                "graph index {index} out of range for {n} features"
            )));
        }
        Ok(Graph(
            (0..n).map(|i| (index >> (n - 1 - i)) & 1 == 1).collect(),
        ))
    }

    /// This graph's number (inverse of [`Graph::from_index`]); `None` above 63 features.
    pub fn index(&self) -> Option<u64> {
        (self.0.len() <= 63).then(|| {
            self.0
                .iter()
                .fold(0u64, |acc, &e| (acc << 1) | u64::from(e))
        })
    }

    /// All `2ⁿ` graphs in index order.
    ///
    /// # Errors
    /// [`CausalError::Config`] above [`MAX_ENUMERATED_FEATURES`] features.
    pub fn all(n: usize) -> Result<Vec<Graph>, CausalError> {
        if n > MAX_ENUMERATED_FEATURES {
            return Err(CausalError::Config(format!(
                "enumerating the graphs of {n} features (2^{n}) is refused; at most {MAX_ENUMERATED_FEATURES}"
            )));
        }
        (0..1u64 << n).map(|i| Graph::from_index(n, i)).collect()
    }

    /// The number of features.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the graph has no features at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The edges.
    pub fn edges(&self) -> &[bool] {
        &self.0
    }

    /// The edges as `0.0 / 1.0`, the form a policy network takes.
    pub fn as_f32(&self) -> Vec<f32> {
        self.0.iter().map(|&e| f32::from(u8::from(e))).collect()
    }

    /// The edges as `0.0 / 1.0` in f64, the regressors of the intervention fits.
    pub fn as_f64(&self) -> Vec<f64> {
        self.0.iter().map(|&e| f64::from(u8::from(e))).collect()
    }
}

impl std::fmt::Display for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[")?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(if *e { "1" } else { "0" })?;
        }
        f.write_str("]")
    }
}

/// `n` independent fair coins: the uniform distribution over the `2ⁿ` graphs, under which the
/// graph-parameterized policy is trained (the official `random_mask_from_state`).
pub fn uniform_graph(n: usize, rng: &mut impl Rng) -> Graph {
    Graph((0..n).map(|_| rng.r#gen::<bool>()).collect())
}

/// `p(G) ∝ exp⟨w, G⟩ / T`, which factorises into independent edges `G_i ∼ Bernoulli(σ(w_i / T))`
/// (the official `sample(weights, temperature)`: Bernoulli logits `w / T`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphDistribution {
    /// The weights `w`, one per feature.
    pub weights: Vec<f64>,
    /// The temperature `T > 0` (official policy-execution default 10).
    pub temperature: f64,
}

impl GraphDistribution {
    /// `w = 0`: the uniform distribution.
    pub fn uniform(n: usize, temperature: f64) -> Self {
        GraphDistribution {
            weights: vec![0.0; n],
            temperature,
        }
    }

    /// `P(G_i = 1) = σ(w_i / T)`.
    pub fn edge_probabilities(&self) -> Vec<f64> {
        self.weights
            .iter()
            .map(|w| sigmoid(w / self.temperature))
            .collect()
    }

    /// One graph.
    pub fn sample(&self, rng: &mut impl Rng) -> Graph {
        Graph(
            self.edge_probabilities()
                .into_iter()
                .map(|p| rng.r#gen::<f64>() < p)
                .collect(),
        )
    }

    /// `log p(G)`.
    pub fn log_prob(&self, g: &Graph) -> f64 {
        self.weights
            .iter()
            .zip(g.edges())
            .map(|(w, &e)| {
                let z = w / self.temperature;
                // log σ(z) = −log(1 + e^{−z}); log(1 − σ(z)) = log σ(−z).
                let s = if e { z } else { -z };
                -softplus(-s)
            })
            .sum()
    }

    /// The most probable graph: `G_i = [w_i > 0]` (the official `(sign(w) + 1) // 2`, which
    /// drops a feature whose weight is exactly 0).
    pub fn mode(&self) -> Graph {
        Graph(self.weights.iter().map(|&w| w > 0.0).collect())
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `log(1 + eˣ)` without overflow.
fn softplus(x: f64) -> f64 {
    if x > 30.0 { x } else { x.exp().ln_1p() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::float_cmp)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn bits(g: &Graph) -> Vec<u8> {
        g.edges().iter().map(|&e| u8::from(e)).collect()
    }

    #[test]
    fn indices_follow_the_official_numbering() {
        // ccil/utils/utils.py: test_mask_idx_to_mask, test_mask_to_mask_idx.
        assert_eq!(bits(&Graph::from_index(3, 0).unwrap()), [0, 0, 0]);
        assert_eq!(bits(&Graph::from_index(3, 1).unwrap()), [0, 0, 1]);
        assert_eq!(bits(&Graph::from_index(3, 2).unwrap()), [0, 1, 0]);
        assert_eq!(bits(&Graph::from_index(3, 7).unwrap()), [1, 1, 1]);
        assert_eq!(Graph::new(vec![true, false, false]).index(), Some(4));
        assert!(Graph::from_index(3, 8).is_err());
        let all = Graph::all(4).unwrap();
        assert_eq!(all.len(), 16);
        for (i, g) in all.iter().enumerate() {
            assert_eq!(g.index(), Some(i as u64));
        }
        assert!(Graph::all(21).is_err());
        assert_eq!(Graph::from_index(3, 5).unwrap().to_string(), "[1, 0, 1]");
    }

    #[test]
    fn distribution_probabilities_sum_to_one_and_match_sampling() {
        let d = GraphDistribution {
            weights: vec![12.0, -7.0, 0.0],
            temperature: 10.0,
        };
        let total: f64 = Graph::all(3)
            .unwrap()
            .iter()
            .map(|g| d.log_prob(g).exp())
            .sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        // p(G) ∝ exp(⟨w, G⟩ / T): ratios between graphs differing in one edge.
        let a = Graph::new(vec![true, false, false]);
        let b = Graph::new(vec![false, false, false]);
        assert!((d.log_prob(&a) - d.log_prob(&b) - 1.2).abs() < 1e-12);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let n = 20_000;
        let mut first = 0;
        for _ in 0..n {
            first += usize::from(d.sample(&mut rng).edges()[0]);
        }
        let p = d.edge_probabilities()[0];
        let freq = first as f64 / n as f64;
        assert!((freq - p).abs() < 0.015, "{freq} vs {p}");
        assert_eq!(bits(&d.mode()), [1, 0, 0]);
    }
}
