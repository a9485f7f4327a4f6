//! Imitation learning components for eirl: expert demonstrations on disk, scripted experts,
//! behavioural cloning, DAgger, GAIL's discriminator and a standalone TRPO policy step.
//!
//! These are the pieces of Ho & Ermon's *Generative Adversarial Imitation Learning* (2016) and
//! of the baselines every imitation paper compares against; the `gail` agent wires them into
//! Algorithm 1, and causal-confusion work builds on the same datasets and BC.
//! * [`Demonstrations`] — trajectories on disk in the `imitation` library's formats, both ways:
//!   a numpy-readable `.npz` in its legacy flat layout (plus eirl's env id and reference
//!   returns), and — with the on-by-default `hf-datasets` feature — its current format, a
//!   HuggingFace `datasets` folder (`imitation.data.serialize.save`); see [`demos`] and below.
//!   Written atomically and loaded defensively (hostile files are errors, not panics or huge
//!   allocations). Files from `imitation` carry no env id: [`Demonstrations::load_for`] takes
//!   the caller's `--env` after checking the data fits its spaces, with a warning.
//!
//! # HuggingFace `datasets` folders (feature `hf-datasets`)
//!
//! What `imitation.data.serialize.save` writes (`Dataset.save_to_disk`, one row per
//! trajectory), read and written by [`Demonstrations::load`] / [`Demonstrations::save_dataset`]:
//!
//! | file | content |
//! |---|---|
//! | `state.json` | `_data_files`: the shard files in order (eirl writes one, `data-00000-of-00001.arrow`) |
//! | `dataset_info.json` | `features`: the column types in `datasets`' JSON (eirl writes the `Sequence` form, which `datasets` 2.x to 5.x read) |
//! | `data-0000K-of-0000N.arrow` | an Arrow IPC **stream** of the rows |
//! | `eirl.json` | eirl only (ignored by `datasets`): `eirl_format`, `env_id`, `expert_mean_return`, `random_mean_return` |
//!
//! | column | Arrow type | per trajectory of `T` actions |
//! |---|---|---|
//! | `obs` | `list<list<float32>>` | `T + 1` observations |
//! | `acts` | `list<int64>` / `list<list<float32>>` | `T` discrete / continuous actions |
//! | `infos` | `list<string>` | `T` jsonpickled dicts (eirl writes `"{}"` and never reads them) |
//! | `terminal` | `bool` | ended in a terminal state |
//! | `rews` | `list<float32>` | `T` rewards |
//!
//! float64 values, smaller integer actions and `large_list` columns are read too. Before the
//! Arrow reader sees a stream, its framing, flatbuffers, column types and every record batch's
//! buffers are checked (`arrow-ipc` asserts, rather than checks, some of these), so a hostile or
//! truncated folder is an [`ImitationError::Format`]. A folder is written into a temp folder
//! beside the target and renamed into place; an existing `datasets` folder there is replaced,
//! any other existing path refused.
//! * [`MountainCarEnergyPump`], [`CartPoleBalancer`], [`NetworkPolicy`] (all
//!   [`eirl_envs::Policy`]s), [`record`], [`normalized_score`] `= (x − random)/(expert − random)`.
//! * [`train_bc`] — maximum likelihood of expert actions with validation early stopping.
//! * [`dagger`] — Ross et al. 2011: expert relabelling of the learner's own states.
//! * [`Discriminator`] — `D_w(s,a)` = P(policy | s, a), trained on GAIL eq. 17; cost `log D`.
//! * [`trpo`] — TRPO (Schulman et al. 2015) with Fisher-vector products `Jᵀ M J v` (no double
//!   backward needed), conjugate gradient and a KL-constrained backtracking line search;
//!   [`ValueBaseline`] and [`gae`] supply the advantages.
//!
//! ```
//! use eirl_envs::evaluate;
//! use eirl_imitation::{
//!     BcConfig, Demonstrations, MountainCarEnergyPump, NetworkPolicy, record, train_bc,
//! };
//! use eirl_models::{PolicyHead, PolicyNetwork, PolicyNetworkConfig};
//!
//! // Two expert episodes, saved and loaded back.
//! let demos = record("MountainCar-v0", &mut MountainCarEnergyPump, 2, 0)?;
//! let dir = tempfile::tempdir().expect("temp dir");
//! let path = dir.path().join("demos.npz");
//! demos.save(&path)?;
//! let demos = Demonstrations::load(&path)?;
//! assert!(demos.expert_mean_return().is_some_and(|r| r > -200.0));
//!
//! // Behavioural cloning on the (state, action) pairs.
//! let (obs, actions) = demos.state_action_pairs();
//! let head = PolicyHead::Categorical { num_actions: 3 };
//! let mut policy = PolicyNetwork::new(2, head, &PolicyNetworkConfig::default(), 0)?;
//! let cfg = BcConfig { max_epochs: 5, ..BcConfig::default() };
//! let report = train_bc(&mut policy, &obs, &actions, &cfg, 0)?;
//! assert!(report.epochs >= 1);
//! let eval = evaluate("MountainCar-v0", &mut NetworkPolicy::new(&policy, true, 0), 1, 100)?;
//! assert_eq!(eval.returns.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```

#[cfg(test)]
mod alloc_probe;
mod bc;
mod dagger;
pub mod demos;
mod discriminator;
mod error;
mod expert;
mod flat;
#[cfg(feature = "hf-datasets")]
mod hf;
mod npy;
pub mod trpo;
mod value;

pub use bc::{
    BcConfig, BcEpoch, BcReport, BcTrainer, ContinuousLoss, bc_update, negative_log_likelihood,
    train_bc,
};
pub use dagger::{Dagger, DaggerConfig, DaggerRound, dagger};
pub use demos::{DemoFormat, Demonstrations, Episode};
pub use discriminator::{Discriminator, DiscriminatorConfig, DiscriminatorStats, RewardKind};
pub use eirl_envs::{ActionKind, Actions, Policy, PolicyError, normalized_score};
pub use error::ImitationError;
pub use expert::{
    CartPoleBalancer, MountainCarContinuousPump, MountainCarEnergyPump, NetworkPolicy,
    RandomPolicy, SCRIPTED_EXPERTS, greedy_network_actions, mean, network_actions, policy_head,
    random_mean_return, record, record_from, run_episode, run_episode_from, scripted_expert,
};
pub use flat::{flat_gradients, flat_params, set_flat_params};
pub use npy::LoadLimits;
pub use trpo::{PolicyBatch, TrpoConfig, TrpoStats, trpo_step};
pub use value::{ValueBaseline, ValueConfig, gae};
