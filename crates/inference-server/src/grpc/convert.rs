//! Between the wire messages of `proto/seed.proto` and the crate's types.

use tonic::{Code, Status};

use super::proto;
use crate::{ActReply, Action, EnvStep, TransportError};

impl proto::ActRequest {
    /// The request as steps, as the gRPC service reads it (an empty `final_obs` means none);
    /// the service then checks them like every other request.
    pub fn into_steps(self) -> Vec<EnvStep> {
        self.steps
            .into_iter()
            .map(|s| EnvStep {
                env_id: s.env_id,
                run_id: s.run_id,
                step: s.step,
                obs: s.obs,
                reward: s.reward,
                terminated: s.terminated,
                truncated: s.truncated,
                final_obs: (!s.final_obs.is_empty()).then_some(s.final_obs),
            })
            .collect()
    }
}

pub(crate) fn steps_to_proto(steps: &[EnvStep]) -> proto::ActRequest {
    proto::ActRequest {
        steps: steps
            .iter()
            .map(|s| proto::EnvStep {
                env_id: s.env_id,
                run_id: s.run_id,
                step: s.step,
                obs: s.obs.clone(),
                reward: s.reward,
                terminated: s.terminated,
                truncated: s.truncated,
                final_obs: s.final_obs.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

pub(crate) fn replies_to_proto(replies: Vec<ActReply>) -> proto::ActResponse {
    proto::ActResponse {
        replies: replies
            .into_iter()
            .map(|r| proto::ActReply {
                env_id: r.env_id,
                action: Some(match r.action {
                    Action::Discrete(a) => proto::act_reply::Action::Discrete(a),
                    Action::Continuous(values) => {
                        proto::act_reply::Action::Continuous(proto::ContinuousAction { values })
                    }
                }),
            })
            .collect(),
    }
}

/// The replies to `steps`, checked to answer them one by one, in order.
pub(crate) fn replies_from_proto(
    response: proto::ActResponse,
    steps: &[EnvStep],
) -> Result<Vec<ActReply>, TransportError> {
    if response.replies.len() != steps.len() {
        return Err(TransportError::MalformedReply(format!(
            "{} replies to {} steps",
            response.replies.len(),
            steps.len()
        )));
    }
    response
        .replies
        .into_iter()
        .zip(steps)
        .map(|(reply, step)| {
            if reply.env_id != step.env_id {
                return Err(TransportError::MalformedReply(format!(
                    "reply for env {} where env {} was expected",
                    reply.env_id, step.env_id
                )));
            }
            let action = match reply.action {
                Some(proto::act_reply::Action::Discrete(a)) => Action::Discrete(a),
                Some(proto::act_reply::Action::Continuous(c)) => Action::Continuous(c.values),
                None => {
                    return Err(TransportError::MalformedReply(format!(
                        "reply for env {} carries no action",
                        reply.env_id
                    )));
                }
            };
            Ok(ActReply {
                env_id: reply.env_id,
                action,
            })
        })
        .collect()
}

const POLICY_PREFIX: &str = "policy error: ";

/// The status that closes a stream whose request failed with `err`.
pub(crate) fn status_for(err: TransportError) -> Status {
    match err {
        TransportError::Policy(m) => Status::internal(format!("{POLICY_PREFIX}{m}")),
        TransportError::Rejected(m) => Status::resource_exhausted(m),
        TransportError::InvalidRequest(m) => Status::invalid_argument(m),
        TransportError::Incompatible(m) => Status::failed_precondition(m),
        TransportError::Disconnected => shutting_down(false),
        TransportError::Finished => shutting_down(true),
        other => Status::internal(other.to_string()),
    }
}

/// The message of the UNAVAILABLE status that closes streams when training is over; clients
/// that do not know it treat it as any UNAVAILABLE (a disconnect).
const FINISHED_MESSAGE: &str = "training finished: the inference server is shutting down";

/// The status of a stream closed by shutdown, saying whether training is over.
pub(crate) fn shutting_down(finished: bool) -> Status {
    if finished {
        Status::unavailable(FINISHED_MESSAGE)
    } else {
        Status::unavailable("the inference server is shutting down")
    }
}

/// The error an actor sees for a status that closed its stream.
pub(crate) fn error_for(status: &Status) -> TransportError {
    let message = status.message().to_owned();
    match status.code() {
        Code::Unauthenticated => TransportError::Unauthenticated(message),
        Code::InvalidArgument => TransportError::InvalidRequest(message),
        Code::FailedPrecondition => TransportError::Incompatible(message),
        Code::ResourceExhausted | Code::OutOfRange => TransportError::Rejected(message),
        Code::Internal if message.starts_with(POLICY_PREFIX) => {
            TransportError::Policy(message[POLICY_PREFIX.len()..].to_owned())
        }
        Code::Unavailable if message == FINISHED_MESSAGE => TransportError::Finished,
        Code::Unavailable | Code::Cancelled | Code::Unknown => TransportError::Disconnected,
        code => TransportError::Status {
            code: format!("{code:?}"),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_replies_round_trip() {
        let steps = vec![
            EnvStep::first(3, 1, 0, vec![1.0, 2.0]),
            EnvStep {
                truncated: true,
                reward: 0.5,
                final_obs: Some(vec![9.0, 8.0]),
                ..EnvStep::first(4, 1, 7, vec![0.0, 0.0])
            },
        ];
        assert_eq!(steps_to_proto(&steps).into_steps(), steps);
        let replies = vec![
            ActReply {
                env_id: 3,
                action: Action::Discrete(-2),
            },
            ActReply {
                env_id: 4,
                action: Action::Continuous(vec![0.25, -1.0]),
            },
        ];
        let back = replies_from_proto(replies_to_proto(replies.clone()), &steps);
        assert_eq!(back, Ok(replies.clone()));
        let swapped: Vec<EnvStep> = steps.iter().rev().cloned().collect();
        assert!(replies_from_proto(replies_to_proto(replies.clone()), &swapped).is_err());
        assert!(replies_from_proto(replies_to_proto(replies), &steps[..1]).is_err());
    }

    #[test]
    fn errors_survive_the_wire() {
        for err in [
            TransportError::Policy("bad weights".into()),
            TransportError::Rejected("too many envs".into()),
            TransportError::InvalidRequest("obs too short".into()),
            TransportError::Incompatible("wrong env".into()),
            TransportError::Disconnected,
        ] {
            assert_eq!(error_for(&status_for(err.clone())), err);
        }
    }
}
