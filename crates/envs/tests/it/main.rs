//! Integration tests of eirl-envs: Gymnasium conformance vectors, the public API, VecEnv.

mod api;
mod conformance;
mod discretized;
mod evaluate;
mod gym;
mod mujoco;
mod properties;
mod vec_env;

/// The registered specs this machine can make: every classic-control one, and the MuJoCo ones
/// when the MuJoCo library loads (`tests/it/mujoco.rs` checks that CI has it).
pub(crate) fn runnable_specs() -> impl Iterator<Item = &'static eirl_envs::EnvSpec> {
    let mujoco = eirl_envs::mujoco_available().is_ok();
    eirl_envs::registry()
        .iter()
        .filter(move |s| mujoco || !s.is_mujoco())
}
