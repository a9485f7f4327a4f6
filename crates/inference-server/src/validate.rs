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
        "step {index} (env_id {env_id}): final_obs given but the step is neither terminated nor truncated"
    )]
    FinalObsWithoutEnd { index: usize, env_id: u64 },
}

/// Checks `steps` against the served policy's `obs_dim` and the server's `max_batch`.
pub(crate) fn validate_steps(
    steps: &[EnvStep],
    obs_dim: usize,
    max_batch: usize,
) -> Result<(), InvalidStep> {
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
        check_values(index, env_id, "obs", &step.obs, obs_dim)?;
        if !step.reward.is_finite() {
            return Err(InvalidStep::NonFinite {
                index,
                env_id,
                field: "reward",
                position: 0,
                value: step.reward,
            });
        }
        if let Some(final_obs) = &step.final_obs {
            if !step.episode_ended() {
                return Err(InvalidStep::FinalObsWithoutEnd { index, env_id });
            }
            check_values(index, env_id, "final_obs", final_obs, obs_dim)?;
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
    match values.iter().position(|v| !v.is_finite()) {
        Some(position) => Err(InvalidStep::NonFinite {
            index,
            env_id,
            field,
            position,
            value: values[position],
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(env_id: u64) -> EnvStep {
        EnvStep::first(env_id, 1, 0, vec![0.0, 1.0])
    }

    #[test]
    fn accepts_well_formed_and_names_each_fault() {
        assert_eq!(validate_steps(&[step(0), step(1)], 2, 8), Ok(()));
        assert_eq!(validate_steps(&[], 2, 8), Err(InvalidStep::Empty));
        assert!(matches!(
            validate_steps(&[step(0), step(1), step(2)], 2, 2),
            Err(InvalidStep::TooMany { .. })
        ));
        assert_eq!(
            validate_steps(&[step(3), step(3)], 2, 8),
            Err(InvalidStep::DuplicateEnv { env_id: 3 })
        );
        let mut short = step(0);
        short.obs.pop();
        assert!(matches!(
            validate_steps(&[short], 2, 8),
            Err(InvalidStep::Length { field: "obs", .. })
        ));
        let mut nan = step(0);
        nan.obs[1] = f32::NAN;
        assert!(matches!(
            validate_steps(&[nan], 2, 8),
            Err(InvalidStep::NonFinite {
                field: "obs",
                position: 1,
                ..
            })
        ));
        let mut inf_reward = step(0);
        inf_reward.reward = f32::INFINITY;
        assert!(matches!(
            validate_steps(&[inf_reward], 2, 8),
            Err(InvalidStep::NonFinite {
                field: "reward",
                ..
            })
        ));
        let mut stray_final = step(0);
        stray_final.final_obs = Some(vec![0.0, 0.0]);
        assert!(matches!(
            validate_steps(&[stray_final.clone()], 2, 8),
            Err(InvalidStep::FinalObsWithoutEnd { .. })
        ));
        stray_final.truncated = true;
        assert_eq!(validate_steps(&[stray_final.clone()], 2, 8), Ok(()));
        stray_final.final_obs = Some(vec![0.0]);
        assert!(matches!(
            validate_steps(&[stray_final], 2, 8),
            Err(InvalidStep::Length {
                field: "final_obs",
                ..
            })
        ));
    }
}
