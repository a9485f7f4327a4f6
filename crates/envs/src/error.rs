//! The one error type of this crate.

use thiserror::Error;

/// Everything that can go wrong when creating or driving an environment.
///
/// Environments never panic on user input: a malformed action or state comes back as one of
/// these variants and leaves the environment unchanged.
#[derive(Error, Debug, Clone, PartialEq)]
pub enum EnvError {
    /// [`make`](crate::make) was asked for an id that is not registered.
    #[error("unknown environment id `{id}`; known ids: {known}")]
    UnknownEnv {
        /// The id that was asked for.
        id: String,
        /// The registered ids, comma separated.
        known: String,
    },
    /// The action does not fit the environment's action space.
    #[error("invalid action for {env}: {reason}")]
    InvalidAction {
        /// The environment id.
        env: &'static str,
        /// What is wrong with the action.
        reason: String,
    },
    /// A state passed to [`Env::set_state`](crate::Env::set_state) has the wrong length or
    /// non-finite entries.
    #[error("invalid state for {env}: {reason}")]
    InvalidState {
        /// The environment id.
        env: &'static str,
        /// What is wrong with the state.
        reason: String,
    },
    /// A `gym:` env's Python side failed: Python or Gymnasium is missing, Gymnasium has no such
    /// id or the env's spaces are not supported, the env raised, or its process died or stopped
    /// answering. The reason says which, and how to fix a missing install.
    #[error("{id}: {reason}")]
    Gym {
        /// The env id, `gym:<Gymnasium id>`.
        id: String,
        /// What went wrong.
        reason: String,
    },
    /// A MuJoCo env cannot run here: the MuJoCo library is missing or of another version, or
    /// a model does not compile. The reason says which, and how to install the library.
    #[error("{id}: {reason}")]
    Mujoco {
        /// The env id, e.g. `Hopper-v5`.
        id: String,
        /// What went wrong.
        reason: String,
    },
    /// An argument other than an action or a state is out of its domain (e.g. zero envs).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong with the argument.
        reason: String,
    },
}
