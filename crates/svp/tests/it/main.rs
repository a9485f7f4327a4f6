//! eirl-svp: the grid, the tasks' dynamics, the planner.
#![allow(clippy::unwrap_used, clippy::float_cmp)]

mod plan_tests;
