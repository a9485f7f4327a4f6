#![allow(clippy::unwrap_used, clippy::float_cmp)]

mod agent;
mod expansion;
mod toy;
mod world_model;
