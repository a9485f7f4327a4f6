//! Causal confusion in imitation learning (de Haan, Jayaraman & Levine, NeurIPS 2019) as runs:
//! a thin agent over [`eirl_causal`] (graphs, graph-parameterized policies, the graph search)
//! and [`eirl_imitation`] (demonstrations, experts, behavioural cloning, DAgger).
//!
//! * [`diagnose`] — the paper's Figure 4: behavioural cloning on ORIGINAL observations (state
//!   plus a random action) and on CONFOUNDED ones (state plus the previous action) from the same
//!   expert transitions, against the number of demonstration samples, with the expert's return.
//! * [`intervene`] — a graph-parameterized policy trained on CONFOUNDED data, its graph chosen
//!   by policy execution (Algorithm 2: episodes of `π_G` scored by their return) or by expert
//!   queries (Algorithm 1: expert labels of the states where the graphs disagree most), with
//!   the return of the chosen graph against the budget used, and the baselines (BC on both
//!   observations, input dropout, DAgger on CONFOUNDED observations for expert queries).
//!
//! Defaults are the official code's (`pimdh/causal-confusion`): 100k demonstration steps from
//! the wide MountainCar start distribution, 300 training samples, MLPs `[50, 50]` (plain,
//! 5000 updates) and `[50, 50, 50]` (graph-parameterized, 10 000 updates) at batch 64 and
//! Adam 1e-3, 20 evaluation episodes, search with 20 iterations, `T = 10`, ridge `α = 1`.
//! The expert is the scripted energy pump (`mountaincar-pump`) where the official code loads a
//! DQN it trained on a dense-reward variant; both reach the flag from every start.
//!
//! The continuous task: the paper's is Hopper (MuJoCo, not in eirl yet); here
//! MountainCarContinuous-v0 with the same confounding (the slot holds the previous continuous
//! action) and a continuous energy pump as expert ([`CausalConfusionConfig::for_env`]).
//! Continuous policies are diagonal Gaussians whose mean is fitted by mean squared error (the
//! paper's loss), σ fixed; greedy actions are the mean.

mod config;
mod diagnose;
mod intervene;
mod run;

pub use config::{CausalConfusionConfig, Mode, RICH_START_ENVS};
pub use diagnose::{DiagnosePoint, DiagnoseReport, diagnose};
pub use intervene::{CurvePoint, GraphReturn, InterveneReport, intervene};
pub use run::{Setup, eval_return};
