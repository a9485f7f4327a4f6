//! The checks every request passes before it is queued (both transports).

use std::collections::HashSet;

use thiserror::Error;

use crate::EnvStep;

/// Why a request was refused; the message goes back to the actor.
#[derive(Debug, Clone, PartialEq, Error)]
pub(crate) enum InvalidStep {
    #[error("the request carries no steps")]
    Empty,
    #[error("the request carries {steps} steps, more than max_batch = {max_batch}")]
    TooMany { steps: usize, max_batch: usize },
    #[error("env_id {env_id} appears more than once in one request")]
    DuplicateEnv { env_id: u64 },
    #[error("step {index} (env_id {env_id}): {field} has {actual} values, expected {expected}")]
    Length {
        index: usize,
        env_id: u64,
        field: &'static str,
        actual: usize,
        expected: usize,
    },
    #[error("step {index} (env_id {env_id}): {field}[{position}] = {value} is not finite")]
    NonFinite {
        index: usize,
        env_id: u64,
        field: &'static str,
        position: usize,
        value: f32,
    },
    #[error(
        "step {index} (env_id {env_id}): |{field}[{position}]| = {value:e} exceeds max_abs_value = {limit:e}"
    )]
    OutOfRange {
        index: usize,
        env_id: u64,
        field: &'static str,
        position: usize,
        value: f32,
        limit: f32,
    },
    #[error(
        "step {index} (env_id {env_id}): final_obs given but the step is neither terminated nor truncated"
    )]
    FinalObsWithoutEnd { index: usize, env_id: u64 },
}

/// What a request is checked against: the served policy's `obs_dim` and the server's
/// `max_batch` and `max_abs_value`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub obs_dim: usize,
    pub max_batch: usize,
    pub max_abs: f32,
}

impl Limits {
    pub fn of(shared: &crate::shared::Shared) -> Self {
        Self {
            obs_dim: shared.dims.obs,
            max_batch: shared.config.max_batch,
            max_abs: shared.config.max_abs_value,
        }
    }
}

/// Checks `steps` against `limits`: shapes, duplicates, finiteness and magnitude.
pub(crate) fn validate_steps(steps: &[EnvStep], limits: Limits) -> Result<(), InvalidStep> {
    let Limits {
        obs_dim,
        max_batch,
        max_abs,
    } = limits;
    if steps.is_empty() {
        return Err(InvalidStep::Empty);
    }
    if steps.len() > max_batch {
        return Err(InvalidStep::TooMany {
            steps: steps.len(),
            max_batch,
        });
    }
    let mut seen = HashSet::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let env_id = step.env_id;
        if !seen.insert(env_id) {
            return Err(InvalidStep::DuplicateEnv { env_id });
        }
        check_values(index, env_id, "obs", &step.obs, obs_dim, max_abs)?;
        check_values(index, env_id, "reward", &[step.reward], 1, max_abs)?;
        if let Some(final_obs) = &step.final_obs {
            if !step.episode_ended() {
                return Err(InvalidStep::FinalObsWithoutEnd { index, env_id });
            }
            check_values(index, env_id, "final_obs", final_obs, obs_dim, max_abs)?;
        }
    }
    Ok(())
}

fn check_values(
    index: usize,
    env_id: u64,
    field: &'static str,
    values: &[f32],
    expected: usize,
    max_abs: f32,
) -> Result<(), InvalidStep> {
    if values.len() != expected {
        return Err(InvalidStep::Length {
            index,
            env_id,
            field,
            actual: values.len(),
            expected,
        });
    }
    let Some((position, &value)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite() || v.abs() > max_abs)
    else {
        return Ok(());
    };
    Err(if value.is_finite() {
        InvalidStep::OutOfRange {
            index,
            env_id,
            field,
            position,
            value,
            limit: max_abs,
        }
    } else {
        InvalidStep::NonFinite {
            index,
            env_id,
            field,
            position,
            value,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(env_id: u64) -> EnvStep {
        EnvStep::first(env_id, 1, 0, vec![0.0, 1.0])
    }

    fn validate(steps: &[EnvStep], obs_dim: usize, max_batch: usize) -> Result<(), InvalidStep> {
        validate_steps(
            steps,
            Limits {
                obs_dim,
                max_batch,
                max_abs: 1e6,
            },
        )
    }

    #[test]
    fn huge_finite_values_are_out_of_range() {
        let mut huge_reward = step(0);
        huge_reward.reward = 3e38;
        let err = validate(&[huge_reward], 2, 8).expect_err("3e38 reward");
        assert!(matches!(
            err,
            InvalidStep::OutOfRange {
                field: "reward",
                ..
            }
        ));
        assert!(err.to_string().contains("max_abs_value"), "{err}");
        let mut huge_obs = step(0);
        huge_obs.obs[1] = -2e6;
        assert!(matches!(
            validate(&[huge_obs], 2, 8),
            Err(InvalidStep::OutOfRange {
                field: "obs",
                position: 1,
                ..
            })
        ));
        let mut huge_final = step(0);
        huge_final.terminated = true;
        huge_final.final_obs = Some(vec![0.0, 1e7]);
        assert!(matches!(
            validate(&[huge_final], 2, 8),
            Err(InvalidStep::OutOfRange {
                field: "final_obs",
                ..
            })
        ));
        let mut at_limit = step(0);
        at_limit.reward = -1e6;
        at_limit.obs[0] = 1e6;
        assert_eq!(validate(&[at_limit], 2, 8), Ok(()));
    }

    #[test]
    fn accepts_well_formed_and_names_each_fault() {
        assert_eq!(validate(&[step(0), step(1)], 2, 8), Ok(()));
        assert_eq!(validate(&[], 2, 8), Err(InvalidStep::Empty));
        assert!(matches!(
            validate(&[step(0), step(1), step(2)], 2, 2),
            Err(InvalidStep::TooMany { .. })
        ));
        assert_eq!(
            validate(&[step(3), step(3)], 2, 8),
            Err(InvalidStep::DuplicateEnv { env_id: 3 })
        );
        let mut short = step(0);
        short.obs.pop();
        assert!(matches!(
            validate(&[short], 2, 8),
            Err(InvalidStep::Length { field: "obs", .. })
        ));
        let mut nan = step(0);
        nan.obs[1] = f32::NAN;
        assert!(matches!(
            validate(&[nan], 2, 8),
            Err(InvalidStep::NonFinite {
                field: "obs",
                position: 1,
                ..
            })
        ));
        let mut inf_reward = step(0);
        inf_reward.reward = f32::INFINITY;
        assert!(matches!(
            validate(&[inf_reward], 2, 8),
            Err(InvalidStep::NonFinite {
                field: "reward",
                ..
            })
        ));
        let mut stray_final = step(0);
        stray_final.final_obs = Some(vec![0.0, 0.0]);
        assert!(matches!(
            validate(&[stray_final.clone()], 2, 8),
            Err(InvalidStep::FinalObsWithoutEnd { .. })
        ));
        stray_final.truncated = true;
        assert_eq!(validate(&[stray_final.clone()], 2, 8), Ok(()));
        stray_final.final_obs = Some(vec![0.0]);
        assert!(matches!(
            validate(&[stray_final], 2, 8),
            Err(InvalidStep::Length {
                field: "final_obs",
                ..
            })
        ));
    }
}
