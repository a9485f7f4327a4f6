//! Structured value-based planning (SVP; Yang, Zhang, Xu & Katabi, ICLR 2020, Sec. 3).
//!
//! Optimal Q matrices of control tasks are approximately low-rank. SVP backs up only a random
//! subset Ω of the |S| × |A| Q matrix per value-iteration step (each entry with probability p,
//! eq. 3.3) and fills in the rest by matrix estimation (soft-impute, eq. 3.4), saving a factor
//! 1/p of the Bellman backups. This crate holds the official code's four discretised tasks
//! ([`Task`]: inverted pendulum, mountain car, double integrator, cart-pole — grids, 1000
//! actions, dynamics, rewards), the planner ([`plan`]; `p = 1` is full value iteration), the
//! greedy policy at continuous states and the official simulation ([`simulate`]), and plan
//! comparisons ([`agreement`]: exact greedy agreement — harsh with 1000 actions, where full
//! VI's own Q holds many near-ties — and the share of states whose action is near-optimal under
//! the reference Q, with the mean loss).
//!
//! ```
//! use eirl_svp::{plan, PlanConfig, Task};
//!
//! // Two iterations of full value iteration on mountain car.
//! let cfg = PlanConfig { p: 1.0, max_iters: 2, ..PlanConfig::default() };
//! let done = plan(Task::MountainCar, &cfg, |_, _| {})?;
//! assert_eq!(done.backups(), 2 * 2500 * 1000);
//! // After two sweeps, V(s) ≥ −1 − 0.95 everywhere and the top edge earns its +10.
//! assert!(done.v.iter().all(|&v| v >= -1.95 - 1e-12));
//! assert!(done.v.iter().any(|&v| v > 10.0));
//! # Ok::<(), eirl_svp::SvpError>(())
//! ```

mod grid;
mod plan;
mod policy;
mod task;

pub use grid::{Interpolants, RectangleGrid, linspace};
pub use plan::{IterationStats, Plan, PlanConfig, plan};
pub use policy::{
    Agreement, GreedyPolicy, HeatMap, HeatMapOf, NEAR_OPTIMAL, Simulation, agreement,
    greedy_actions, heat_map, simulate,
};
pub use task::{NUM_ACTIONS, OfficialMetric, Task};

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SvpError {
    #[error("{0}")]
    UnknownTask(String),
    #[error("SVP config: {0}")]
    Config(String),
    #[error("value iteration diverged (non-finite residual) at iteration {iteration}")]
    Diverged { iteration: usize },
    #[error(transparent)]
    MatrixEstimation(#[from] eirl_matrix_estimation::MatrixError),
}
