//! SV-RL's configuration: every DQN key at the top level (a DQN preset is an SV-RL preset), plus
//! an `[svrl]` table with the matrix-estimation settings. Defaults are the official code's
//! (`sv_rl/main.py` argparse, github.com/YyzHarry/SV-RL at 0f9d063).
//!
//! ```toml
//! learning_rate = 1e-3      # any DqnConfig key, as in configs/dqn/*.toml
//! total_steps = 50000
//!
//! [svrl]
//! mask_p = 0.9              # official --maskp
//! mask_schedule_updates = 2000000   # official --maskscheduler --maskstep 2e6; absent = off
//! estimator = "soft_impute" # official --me_type softimp; or "usvt"
//! ```
//!
//! The DQN keys stay at the top level (rather than under a `[dqn]` table) because the run
//! machinery sets `total_steps` there (`--steps`), and every agent config carries its
//! `total_steps` / `eval_interval` / `eval_episodes` at the top ([`eirl_agent::RunSettings`]).

use eirl_agent::{ConfigError, ensure};
use eirl_dqn::DqnConfig;
use eirl_matrix_estimation::{Estimator, SoftImpute, Usvt};
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The name of the SV-RL table in a config.
pub const SVRL_TABLE: &str = "svrl";

/// Which matrix estimator re-estimates the masked target entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EstimatorKind {
    /// fancyimpute's `SoftImpute()` with every default (λ = σ_max/50, 100 iterations,
    /// tolerance 1e-3): the official default `--me_type softimp`. Observed entries are kept.
    #[default]
    SoftImpute,
    /// Chatterjee's USVT with η = 0.01. Listed in the official README but absent from its code;
    /// every entry of the target matrix is replaced by the estimate.
    Usvt,
}

impl EstimatorKind {
    /// The estimator with its default parameters.
    pub fn estimator(self) -> Estimator {
        match self {
            EstimatorKind::SoftImpute => Estimator::SoftImpute(SoftImpute::default()),
            EstimatorKind::Usvt => Estimator::Usvt(Usvt::default()),
        }
    }
}

/// The `[svrl]` table: how the target network's next-state Q matrix is masked and completed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SvRlParams {
    /// p₀, the probability that an entry of the `[B, |A|]` target matrix is *observed* (kept);
    /// the other entries are re-estimated (official `--maskp`, default 0.9). In (0, 1]; 1 turns
    /// SV-RL into plain DQN.
    pub mask_p: f64,
    /// The linear p schedule (official `--maskscheduler`, off by default, with `--maskstep`,
    /// default 2e6): before each gradient step p rises by `(1 − p₀)/mask_schedule_updates`, so
    /// the k-th update uses `min(p₀ + k·(1 − p₀)/mask_schedule_updates, 1)` and p = 1 from update
    /// `mask_schedule_updates` on. Absent: p stays p₀.
    pub mask_schedule_updates: Option<u64>,
    /// The matrix estimator (official `--me_type`, default `softimp`).
    pub estimator: EstimatorKind,
}

impl Default for SvRlParams {
    fn default() -> Self {
        SvRlParams {
            mask_p: 0.9,
            mask_schedule_updates: None,
            estimator: EstimatorKind::SoftImpute,
        }
    }
}

impl SvRlParams {
    /// Rejects out-of-range values with a message naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(self.mask_p > 0.0 && self.mask_p <= 1.0, || {
            format!("svrl.mask_p must be in (0, 1], got {}", self.mask_p)
        })?;
        ensure(self.mask_schedule_updates != Some(0), || {
            "svrl.mask_schedule_updates must be positive (leave it out to keep p fixed)".into()
        })
    }

    /// The observation probability schedule.
    pub fn schedule(&self) -> MaskSchedule {
        MaskSchedule {
            p0: self.mask_p,
            updates: self.mask_schedule_updates,
        }
    }
}

/// The observation probability of the k-th gradient step (official `dqn_learn.py`:
/// `if maskscheduler: p = min(p + (1 − p0)/maskstep, 1)`, incremented before use).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaskSchedule {
    /// p₀.
    pub p0: f64,
    /// `maskstep`: updates until p = 1; `None` = p₀ throughout.
    pub updates: Option<u64>,
}

impl MaskSchedule {
    /// p for update `k` (1 = the first update): `min(p₀ + k·(1 − p₀)/n, 1)`, exactly 1 from
    /// `k = n` on. The official code adds the increment k times; the closed form differs from
    /// that sum only by floating-point rounding.
    pub fn p(&self, k: u64) -> f64 {
        match self.updates {
            None => self.p0,
            Some(n) if k >= n => 1.0,
            Some(n) => (self.p0 + k as f64 * ((1.0 - self.p0) / n as f64)).min(1.0),
        }
    }
}

/// SV-RL's whole configuration: DQN's ([`DqnConfig`], at the top level) and `[svrl]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SvRlConfig {
    /// Every DQN hyperparameter (network, replay, ε schedule, run length, Double DQN …).
    pub dqn: DqnConfig,
    /// The matrix-estimation settings.
    pub svrl: SvRlParams,
}

impl SvRlConfig {
    /// Rejects out-of-range values (DQN's are checked when the agent is built).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.svrl.validate()
    }
}

/// Serialised flat: DQN's keys, then the `svrl` table.
impl Serialize for SvRlConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = toml::Table::try_from(&self.dqn).map_err(S::Error::custom)?;
        let svrl = toml::Table::try_from(&self.svrl).map_err(S::Error::custom)?;
        table.insert(SVRL_TABLE.into(), toml::Value::Table(svrl));
        table.serialize(serializer)
    }
}

/// The `svrl` table is taken out and read as [`SvRlParams`]; the rest must be a [`DqnConfig`].
/// Unknown keys in either part are errors (both deny unknown fields).
impl<'de> Deserialize<'de> for SvRlConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(deserializer)?;
        let svrl = match table.remove(SVRL_TABLE) {
            None => SvRlParams::default(),
            Some(v) => SvRlParams::deserialize(v)
                .map_err(|e| D::Error::custom(format!("in [{SVRL_TABLE}]: {e}")))?,
        };
        let dqn = DqnConfig::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)?;
        Ok(SvRlConfig { dqn, svrl })
    }
}
