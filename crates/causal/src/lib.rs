//! Causal confusion in imitation learning (de Haan, Jayaraman & Levine, NeurIPS 2019): the
//! components, with no agent inside.
//!
//! Behavioural cloning on observations that include a nuisance correlated with the expert's
//! action (the CONFOUNDED observation: the state plus the previous action,
//! `<BaseId>-confounded` in [`eirl_envs`]) can imitate *worse* than on the state alone (the
//! ORIGINAL observation, `<BaseId>-original`, the same slot filled with a random action): the
//! learner latches onto the effect instead of the cause. The remedy is to learn a policy for
//! every causal graph at once and pick the graph by targeted interventions.
//!
//! * [`Graph`] — which input features are parents of the action, numbered as the official code
//!   numbers masks; [`uniform_graph`], [`GraphDistribution`] (`p(G) ∝ exp⟨w, G⟩/T`).
//! * [`GraphPolicy`] — `π_G(X) = f_φ([X ⊙ G, G])` (eq. 6.1) and the plain and input-dropout
//!   networks of the paper's baselines; [`train_graph_policy`] (BC with `G` uniform per sample,
//!   on top of [`eirl_imitation::bc_update`]).
//! * [`search_graphs`] — the official `SoftQAlgo`: sample `G`, score it, ridge-regress the
//!   scores on the graphs ([`ridge`], scikit-learn's `Ridge`), return the mode. Policy
//!   execution (Algorithm 2) scores by episode return; expert queries (Algorithm 1) score by
//!   `−` loss on expert labels of the states with the highest [`disagreement`].
//! * [`slot_pairs`], [`StateExpert`], [`rich_mountain_car_start`] — the paper's data.
//!
//! ```
//! use eirl_causal::{Graph, SearchConfig, search_graphs};
//!
//! // A planted score: feature 0 helps, feature 2 hurts, feature 1 does nothing.
//! let score = |g: &Graph| -> Result<f64, eirl_causal::CausalError> {
//!     let e = g.as_f64();
//!     Ok(-150.0 + 30.0 * e[0] - 40.0 * e[2])
//! };
//! let trace = search_graphs(3, &SearchConfig::default(), 0, score)?;
//! let chosen = &trace.last().expect("20 iterations").mode;
//! assert_eq!(chosen.edges()[0], true);
//! assert_eq!(chosen.edges()[2], false);
//! # Ok::<(), eirl_causal::CausalError>(())
//! ```

mod data;
mod error;
mod graph;
mod intervention;
mod policy;
mod ridge;

pub use data::{Pairs, StateExpert, rich_mountain_car_start, slot_pairs};
pub use error::CausalError;
pub use graph::{Graph, GraphDistribution, MAX_ENUMERATED_FEATURES, uniform_graph};
pub use intervention::{
    SearchConfig, SearchStep, disagreement, expert_query_search, kl, most_disputed, search_graphs,
};
pub use policy::{
    FixedGraph, GraphBcConfig, GraphBcReport, GraphPolicy, InputMode, UniformGraphs,
    train_graph_policy,
};
pub use ridge::{RidgeFit, ridge};
