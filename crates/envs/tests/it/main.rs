//! Integration tests of eirl-envs: Gymnasium conformance vectors, the public API, VecEnv.

mod api;
mod conformance;
mod discretized;
mod evaluate;
mod gym;
mod properties;
mod vec_env;
