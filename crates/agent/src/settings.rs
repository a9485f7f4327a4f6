//! Settings every run shares, and the one way configs report a bad value.

/// A configuration value out of range; the message names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid config: {0}")]
pub struct ConfigError(pub String);

/// `Ok` when `ok`, else a [`ConfigError`] with `msg()`: the check every config's `validate`
/// is built from.
pub fn ensure(ok: bool, msg: impl FnOnce() -> String) -> Result<(), ConfigError> {
    if ok { Ok(()) } else { Err(ConfigError(msg())) }
}

/// `Ok` when `v` is positive and finite, else an error naming `name`.
pub fn ensure_positive(
    name: &str,
    v: impl Into<f64> + Copy + std::fmt::Display,
) -> Result<(), ConfigError> {
    let x: f64 = v.into();
    ensure(x > 0.0 && x.is_finite(), || {
        format!("{name} must be positive and finite, got {v}")
    })
}

/// How long a run is and how it is evaluated; each agent config holds these three fields at
/// its top level (`total_steps`, `eval_interval`, `eval_episodes`) and hands them over through
/// [`crate::Agent::settings`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunSettings {
    /// Length of the run, in the agent's steps (`--steps` overrides it).
    pub total_steps: u64,
    /// Evaluate the greedy policy every this many steps (and at the end).
    pub eval_interval: u64,
    /// Episodes per evaluation (one in each of that many envs).
    pub eval_episodes: usize,
}

impl RunSettings {
    /// Rejects a run of no steps, a zero interval or no evaluation episodes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(self.total_steps >= 1, || {
            "total_steps must be at least 1".into()
        })?;
        ensure(self.eval_interval >= 1, || {
            "eval_interval must be at least 1".into()
        })?;
        ensure(self.eval_episodes >= 1, || {
            "eval_episodes must be at least 1".into()
        })?;
        ensure(self.eval_episodes <= eirl_envs::MAX_EVAL_EPISODES, || {
            format!(
                "eval_episodes = {} is more than the limit of {} (one environment per episode \
                 is held in memory)",
                self.eval_episodes,
                eirl_envs::MAX_EVAL_EPISODES
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let ok = RunSettings {
            total_steps: 10,
            eval_interval: 5,
            eval_episodes: 3,
        };
        assert!(ok.validate().is_ok());
        for (bad, field) in [
            (
                RunSettings {
                    total_steps: 0,
                    ..ok
                },
                "total_steps",
            ),
            (
                RunSettings {
                    eval_interval: 0,
                    ..ok
                },
                "eval_interval",
            ),
            (
                RunSettings {
                    eval_episodes: 0,
                    ..ok
                },
                "eval_episodes",
            ),
            (
                RunSettings {
                    eval_episodes: 1_000_000_000_000_000,
                    ..ok
                },
                "eval_episodes = 1000000000000000 is more than the limit of 1000000",
            ),
        ] {
            let err = bad
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(field), "{err}");
        }
    }
}
