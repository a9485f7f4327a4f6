//! What actors send and receive, and the episode summaries the server emits.

/// An action chosen by the served policy.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Index of a discrete action.
    Discrete(i64),
    /// A continuous action vector.
    Continuous(Vec<f32>),
}

/// One env step as an actor reports it.
///
/// `reward`, `terminated` and `truncated` describe the transition that produced `obs`, so the
/// first step of an episode has reward 0 and both flags false. With auto-reset, the step that ends
/// an episode carries the NEXT episode's first observation in `obs`, and when truncated the true
/// last observation in `final_obs` (so the learner can bootstrap through truncation).
///
/// The server checks every request before it queues it: at least one step, at most
/// [`ServerConfig::max_batch`](crate::ServerConfig::max_batch) steps, no `env_id` twice,
/// `obs` (and `final_obs` if given) exactly the policy's `obs_dim` long and finite, `reward`
/// finite, and `final_obs` only on a step with `terminated || truncated`.
///
/// Per env the server keeps a slot keyed by `env_id`. A step whose `run_id` differs from the
/// slot's, or whose `step` is not the slot's last `step + 1`, resets the slot (SEED tags state
/// with a run id so a restarted actor is detected): its partial unroll is dropped, its recurrent
/// state zeroed and its episode statistics restarted.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvStep {
    /// Identifies the environment across requests, clients and reconnects.
    pub env_id: u64,
    /// Changes whenever the actor (re)starts the env.
    pub run_id: u64,
    /// Counts this env's steps within a run: 0, 1, 2, ...
    pub step: u64,
    /// The observation, `[obs_dim]`.
    pub obs: Vec<f32>,
    /// Reward of the transition that produced `obs`.
    pub reward: f32,
    /// That transition ended the episode in a terminal state.
    pub terminated: bool,
    /// That transition cut the episode short (time limit).
    pub truncated: bool,
    /// The true last observation of the episode that just ended, `[obs_dim]`; `obs` then already
    /// belongs to the next episode.
    pub final_obs: Option<Vec<f32>>,
}

impl EnvStep {
    /// The first step of an episode: reward 0, no flags, no final observation.
    pub fn first(env_id: u64, run_id: u64, step: u64, obs: Vec<f32>) -> Self {
        Self {
            env_id,
            run_id,
            step,
            obs,
            reward: 0.0,
            terminated: false,
            truncated: false,
            final_obs: None,
        }
    }

    /// `terminated || truncated`: `obs` starts a new episode.
    pub fn episode_ended(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// The policy's action for one env, in reply to its [`EnvStep`].
#[derive(Clone, Debug, PartialEq)]
pub struct ActReply {
    pub env_id: u64,
    pub action: Action,
}

/// Sum of rewards and number of transitions of one finished episode, emitted when a step arrives
/// with `terminated || truncated`.
///
/// Only episodes the server saw from their first step are reported: after a step gap the episode
/// in progress is incomplete and is skipped. A new slot (or a new run id) is assumed to start a
/// new episode, as an actor that starts an env also resets it.
#[derive(Clone, Debug, PartialEq)]
pub struct EpisodeStats {
    pub env_id: u64,
    pub episode_return: f64,
    pub length: u64,
}
