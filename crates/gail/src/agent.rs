//! The GAIL loop (Ho & Ermon 2016, Algorithm 1): sample → discriminator step → reward from D →
//! GAE with the learned baseline → TRPO step → value fit.

use eirl_agent::{Agent, AgentError, RunSettings, ScoreReference, StepInfo, meta};
use eirl_envs::{ActionKind, Actions, EpisodeEnd, Space, VecEnv};
use eirl_imitation::{
    Demonstrations, Discriminator, PolicyBatch, ValueBaseline, greedy_network_actions,
    network_actions, policy_head, trpo_step,
};
use eirl_models::{Checkpoint, PolicyNetwork};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::GailError;
use crate::advantages::{Segment, segment_advantages};
use crate::config::GailConfig;
use crate::normalizer::ObsNormalizer;

/// Statistics of one GAIL iteration.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct TrainInfo {
    /// Mean discriminator loss `−(E_π[log D] + E_E[log(1 − D)])` over the iteration's steps.
    pub disc_loss: f32,
    /// Fraction of policy pairs with `D > ½` at the last discriminator step.
    pub disc_policy_accuracy: f32,
    /// Fraction of expert pairs with `D < ½` at the last discriminator step.
    pub disc_expert_accuracy: f32,
    /// Mean reward (from D) of the iteration's policy pairs.
    pub mean_reward: f32,
    /// Mean `KL(π_old ‖ π_new)` of the TRPO step (0 when rejected).
    pub kl: f64,
    /// Whether the TRPO line search accepted a step.
    pub trpo_accepted: bool,
    /// Surrogate improvement of the TRPO step.
    pub surrogate_gain: f64,
    /// Value baseline's last-epoch loss.
    pub value_loss: f32,
}

impl TrainInfo {
    fn scalars(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("disc_loss", f64::from(self.disc_loss)),
            ("disc_policy_accuracy", f64::from(self.disc_policy_accuracy)),
            ("disc_expert_accuracy", f64::from(self.disc_expert_accuracy)),
            ("mean_reward", f64::from(self.mean_reward)),
            ("trpo_kl", self.kl),
            ("trpo_accepted", f64::from(u8::from(self.trpo_accepted))),
            ("surrogate_gain", self.surrogate_gain),
            ("value_loss", f64::from(self.value_loss)),
        ]
    }
}

/// A GAIL agent bound to its training environments and expert data.
pub struct Gail {
    cfg: GailConfig,
    env_id: String,
    env: VecEnv,
    obs: Vec<f32>,
    obs_dim: usize,
    kind: ActionKind,
    policy: PolicyNetwork,
    value: ValueBaseline,
    disc: Discriminator,
    normalizer: ObsNormalizer,
    /// Expert states `[M, obs_dim]`, raw and normalised, and the actions taken in them.
    expert_raw_obs: Vec<f32>,
    expert_obs: Vec<f32>,
    expert_actions: Actions,
    rng: ChaCha8Rng,
    steps: u64,
    iterations: u64,
    score_reference: Option<ScoreReference>,
}

/// Checks that `demos` were recorded on an env shaped like `env_id`'s.
fn check_demonstrations(
    env_id: &str,
    env: &VecEnv,
    demos: &Demonstrations,
) -> Result<(ActionKind, usize), GailError> {
    let mismatch = |what: String| GailError::Demonstrations(format!("{env_id}: {what}"));
    if !demos.env_id().is_empty() && demos.env_id() != env_id {
        return Err(mismatch(format!(
            "demonstrations were recorded on {}",
            demos.env_id()
        )));
    }
    if demos.obs_dim() != env.obs_dim() {
        return Err(mismatch(format!(
            "observations have {} dimensions, the demonstrations {}",
            env.obs_dim(),
            demos.obs_dim()
        )));
    }
    if demos.num_transitions() == 0 {
        return Err(mismatch("the demonstrations hold no transitions".into()));
    }
    match (env.action_space(), demos.action_kind()) {
        (Space::Discrete(n), ActionKind::Discrete) => {
            let (_, actions) = demos.state_action_pairs();
            if let Actions::Discrete(a) = &actions
                && let Some(&bad) = a.iter().find(|&&a| a >= *n)
            {
                return Err(mismatch(format!(
                    "demonstration action {bad} is outside the {n} actions"
                )));
            }
            Ok((ActionKind::Discrete, *n))
        }
        (Space::Box(b), ActionKind::Continuous(d)) if b.dim() == d => {
            Ok((ActionKind::Continuous(d), 0))
        }
        (space, kind) => Err(mismatch(format!(
            "action space {space:?} does not fit demonstration actions {kind:?}"
        ))),
    }
}

impl Gail {
    /// Builds the policy, value baseline, discriminator and `cfg.num_envs` environments of
    /// `env_id`, all from `seed`, and checks `demos` against the env (id, observation width,
    /// action kind and range).
    pub fn new(
        env_id: &str,
        cfg: GailConfig,
        demos: Demonstrations,
        seed: u64,
    ) -> Result<Self, GailError> {
        cfg.validate()?;
        let mut env = VecEnv::new(env_id, cfg.num_envs, seed)?;
        let (kind, num_actions) = check_demonstrations(env_id, &env, &demos)?;
        let obs_dim = env.obs_dim();
        let policy =
            PolicyNetwork::new(obs_dim, policy_head(env.action_space()), &cfg.policy, seed)?;
        let value = ValueBaseline::new(obs_dim, &cfg.value, seed.wrapping_add(1))?;
        let disc = Discriminator::new(
            obs_dim,
            kind,
            num_actions,
            &cfg.discriminator,
            seed.wrapping_add(2),
        )?;
        let score_reference =
            ScoreReference::from_returns(demos.expert_mean_return(), demos.random_mean_return());
        let (raw_expert_obs, expert_actions) = demos.state_action_pairs();
        let normalizer = if cfg.normalize_observations {
            ObsNormalizer::fit(&raw_expert_obs, obs_dim)
        } else {
            ObsNormalizer::identity(obs_dim)
        };
        let expert_obs = normalizer.apply(&raw_expert_obs);
        let obs = env.reset().to_vec();
        Ok(Gail {
            env_id: env_id.to_string(),
            env,
            obs,
            obs_dim,
            kind,
            policy,
            value,
            disc,
            normalizer,
            expert_raw_obs: raw_expert_obs,
            expert_obs,
            expert_actions,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6A09_E667_F3BC_C908),
            steps: 0,
            iterations: 0,
            score_reference,
            cfg,
        })
    }

    pub fn config(&self) -> &GailConfig {
        &self.cfg
    }

    /// Iterations (of Algorithm 1) completed so far.
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// The policy network π_θ (its inputs are normalised observations, see [`Gail::normalizer`]).
    pub fn policy(&self) -> &PolicyNetwork {
        &self.policy
    }

    /// The observation normaliser in front of every network.
    pub fn normalizer(&self) -> &ObsNormalizer {
        &self.normalizer
    }

    /// The discriminator D_w.
    pub fn discriminator(&self) -> &Discriminator {
        &self.disc
    }

    /// One iteration of Algorithm 1:
    /// 1. sample `steps_per_env` steps of π_θ in each of the `num_envs` envs;
    /// 2. update D_w by Adam on eq. 17, policy pairs vs expert pairs;
    /// 3. reward `r = −log D_w(s,a)` (or the configured variant) on the sampled pairs;
    /// 4. GAE with the value baseline, bootstrapping through truncation only;
    /// 5. a TRPO step (max KL δ, CG, backtracking; entropy weight λ = `trpo.ent_coef`);
    /// 6. fit V_φ to the λ-returns.
    fn iteration(&mut self) -> Result<StepInfo, GailError> {
        let n = self.cfg.num_envs;
        let t_len = self.cfg.steps_per_env;
        let d = self.obs_dim;
        let rows = n * t_len;

        // 1. Sample. Rows are time-major: (t, i) at t·N + i.
        let mut obs = Vec::with_capacity(rows * d);
        let mut actions = Actions::empty(self.kind);
        let mut ends = Vec::with_capacity(rows);
        let mut final_rows: Vec<(usize, Vec<f32>)> = Vec::new();
        let mut finished = Vec::new();
        for t in 0..t_len {
            let x = self.normalizer.apply(&self.obs);
            let a = network_actions(&self.policy, &x, n, false, &mut self.rng)?;
            let step = self.env.step(&a)?;
            obs.extend_from_slice(&x);
            actions.extend(&a)?;
            for i in 0..n {
                let end = step.end(i);
                ends.push(end);
                if end == EpisodeEnd::Truncated {
                    final_rows.push((t * n + i, step.next_obs(i).to_vec()));
                }
            }
            finished.extend_from_slice(step.finished);
            self.obs.copy_from_slice(step.obs);
        }
        self.steps += rows as u64;

        // 2. Discriminator: ascend E_π[log D] + E_E[log(1 − D)] (eq. 17).
        let mut disc_loss = 0.0;
        let mut last_stats = None;
        let m = self.cfg.disc_batch_size.min(rows);
        let expert_rows = self.expert_actions.len();
        let mut order: Vec<usize> = (0..rows).collect();
        for _ in 0..self.cfg.disc_updates {
            order.shuffle(&mut self.rng);
            let pi_idx = &order[..m];
            let ex_idx: Vec<usize> = (0..m).map(|_| self.rng.gen_range(0..expert_rows)).collect();
            let stats = self.disc.train_step(
                &gather_rows(&obs, d, pi_idx),
                &actions.gather(pi_idx),
                &gather_rows(&self.expert_obs, d, &ex_idx),
                &self.expert_actions.gather(&ex_idx),
            )?;
            disc_loss += stats.loss;
            last_stats = Some(stats);
        }
        if self.cfg.disc_updates > 0 {
            disc_loss /= self.cfg.disc_updates as f32;
        }

        // 3. Reward from the updated discriminator (cost log D_{w_{i+1}}).
        let r_t = self.disc.reward(&obs, &actions, self.cfg.reward)?;
        let mean_reward = r_t.iter().sum::<f32>() / rows as f32;

        // 4. GAE with V_φ, bootstrapping truncated episodes from their final observation.
        let mut values = self.value.predict(&obs)?;
        values.extend(self.value.predict(&self.normalizer.apply(&self.obs))?);
        let mut final_values = vec![0.0; rows];
        if !final_rows.is_empty() {
            let raw: Vec<f32> = final_rows.iter().flat_map(|(_, o)| o.clone()).collect();
            let v = self.value.predict(&self.normalizer.apply(&raw))?;
            for ((k, _), vk) in final_rows.iter().zip(v) {
                final_values[*k] = vk;
            }
        }
        let (mut adv, returns) = segment_advantages(
            &Segment {
                r_t: &r_t,
                ends: &ends,
                values: &values,
                final_values: &final_values,
                num_envs: n,
            },
            self.cfg.gamma,
            self.cfg.gae_lambda,
        )?;
        if self.cfg.normalize_advantages {
            standardize(&mut adv);
        }

        // 5. TRPO step on the policy.
        let trpo = trpo_step(
            &mut self.policy,
            &PolicyBatch {
                obs: &obs,
                actions: &actions,
                advantages: &adv,
            },
            &self.cfg.trpo,
        )?;

        // 6. Value fit on the λ-returns.
        let value_loss = self.value.fit(&obs, &returns)?;
        self.iterations += 1;

        let (acc_p, acc_e) = last_stats
            .map(|s| (s.policy_accuracy, s.expert_accuracy))
            .unwrap_or((0.0, 0.0));
        Ok(StepInfo {
            finished,
            scalars: TrainInfo {
                disc_loss,
                disc_policy_accuracy: acc_p,
                disc_expert_accuracy: acc_e,
                mean_reward,
                kl: trpo.kl,
                trpo_accepted: trpo.accepted,
                surrogate_gain: trpo.surrogate_after - trpo.surrogate_before,
                value_loss,
            }
            .scalars(),
            totals: Vec::new(),
        })
    }
}

impl Agent for Gail {
    fn algo(&self) -> &'static str {
        "gail"
    }

    fn env_id(&self) -> &str {
        &self.env_id
    }

    fn settings(&self) -> RunSettings {
        self.cfg.run_settings()
    }

    /// One iteration of Algorithm 1 (see [`Gail`]).
    fn step(&mut self) -> Result<StepInfo, AgentError> {
        Ok(self.iteration()?)
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    /// The deterministic policy's actions (argmax / mean) for raw observations `[n, obs_dim]`.
    fn greedy_actions(&self, obs: &[f32], n: usize) -> Result<Actions, AgentError> {
        let x = self.normalizer.apply(obs);
        Ok(greedy_network_actions(&self.policy, &x, n)?)
    }

    /// The demonstrations' expert return and a random policy's, when they carry them.
    fn score_reference(&self) -> Option<ScoreReference> {
        self.score_reference
    }

    /// Policy, value baseline, discriminator, observation normaliser and counters. Adam moments
    /// (value, discriminator) are not saved: a resumed run restarts them from zero.
    fn checkpoint(&self) -> Checkpoint {
        let mut ck = Checkpoint::new();
        ck.insert_params("policy", &self.policy);
        ck.insert_params("value", &self.value);
        ck.insert_params("discriminator", &self.disc);
        let d = self.obs_dim;
        ck.insert("obs_mean", vec![d], self.normalizer.mean().to_vec());
        ck.insert("obs_std", vec![d], self.normalizer.std().to_vec());
        meta::stamp(&mut ck, self.algo(), &self.env_id, self.steps);
        ck.set_meta("iterations", self.iterations.to_string());
        ck.set_meta(
            "normalize_observations",
            self.normalizer.enabled().to_string(),
        );
        ck
    }

    /// Restores networks, normaliser and counters from [`Agent::checkpoint`]'s output; fails
    /// when the checkpoint is for another env or architecture (metadata, statistics and the
    /// policy are checked before anything changes).
    fn restore(&mut self, ck: &Checkpoint) -> Result<(), AgentError> {
        let bad = |what: String| AgentError::Checkpoint(what);
        let steps = meta::verify(ck, self.algo(), &self.env_id)?;
        let iterations = ck.parse_meta("iterations")?;
        let enabled = match ck.meta("normalize_observations") {
            Some("true") => true,
            Some("false") => false,
            _ => return Err(bad("it lacks `normalize_observations`".into())),
        };
        let stat = |name: &str| -> Result<Vec<f32>, AgentError> {
            match ck.get(name) {
                Some((shape, v)) if shape == [self.obs_dim] && v.len() == self.obs_dim => {
                    if enabled && v.iter().any(|x| !x.is_finite()) {
                        return Err(bad(format!("`{name}` is not finite")));
                    }
                    Ok(v.to_vec())
                }
                _ => Err(bad(format!("it lacks `{name}` of {} values", self.obs_dim))),
            }
        };
        let normalizer = ObsNormalizer::from_parts(stat("obs_mean")?, stat("obs_std")?, enabled);
        if enabled && normalizer.std().iter().any(|&s| s <= 0.0) {
            return Err(bad("`obs_std` must be positive".into()));
        }
        // Restore into copies so a failure leaves the agent untouched.
        let mut policy = self.policy.clone();
        ck.restore_params("policy", &mut policy)?;
        ck.restore_params("value", &mut self.value)?;
        ck.restore_params("discriminator", &mut self.disc)?;
        self.policy = policy;
        // Expert states were normalised with the old statistics: redo them with the restored ones.
        if normalizer != self.normalizer {
            self.expert_obs = normalizer.apply(&self.expert_raw_obs);
            self.normalizer = normalizer;
        }
        self.steps = steps;
        self.iterations = iterations;
        Ok(())
    }
}

/// Rows `idx` of a row-major `[_, d]` matrix.
fn gather_rows(x: &[f32], d: usize, idx: &[usize]) -> Vec<f32> {
    idx.iter()
        .flat_map(|&i| &x[i * d..(i + 1) * d])
        .copied()
        .collect()
}

/// `(x − mean)/(std + 1e-8)` in place (baselines `trpo_mpi`'s advantage standardisation).
fn standardize(x: &mut [f32]) {
    let n = x.len().max(1) as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = x
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let scale = 1.0 / (var.sqrt() + 1e-8);
    for v in x {
        *v = ((f64::from(*v) - mean) * scale) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eirl_imitation::{CartPoleBalancer, Episode, MountainCarEnergyPump, record};

    fn small() -> GailConfig {
        GailConfig {
            num_envs: 2,
            steps_per_env: 16,
            ..GailConfig::default()
        }
    }

    fn demo(env_id: &str, obs_dim: usize, actions: Actions) -> Result<Demonstrations, GailError> {
        let t = actions.len();
        let mut d = Demonstrations::new(env_id, obs_dim, actions.kind());
        d.push_episode(&Episode {
            obs: vec![0.0; (t + 1) * obs_dim],
            actions,
            rewards: vec![1.0; t],
            terminated: true,
        })?;
        Ok(d)
    }

    fn demonstrations_error(r: Result<Gail, GailError>) -> String {
        match r {
            Err(GailError::Demonstrations(msg)) => msg,
            Err(other) => format!("wrong error kind: {other}"),
            Ok(_) => "accepted".into(),
        }
    }

    #[test]
    fn rejects_demonstrations_that_do_not_fit_the_env() -> Result<(), GailError> {
        let cp = "CartPole-v1";
        // Recorded on another env.
        let mc = record("MountainCar-v0", &mut MountainCarEnergyPump, 1, 0)?;
        let msg = demonstrations_error(Gail::new(cp, small(), mc, 0));
        assert!(msg.contains("recorded on MountainCar-v0"), "{msg}");
        // Unknown env id but the wrong observation width.
        let wide = demo("", 3, Actions::Discrete(vec![0, 1]))?;
        let msg = demonstrations_error(Gail::new(cp, small(), wide, 0));
        assert!(msg.contains("dimensions"), "{msg}");
        // An action outside CartPole's two.
        let bad = demo(cp, 4, Actions::Discrete(vec![0, 2]))?;
        let msg = demonstrations_error(Gail::new(cp, small(), bad, 0));
        assert!(msg.contains("action 2"), "{msg}");
        // Continuous actions for a discrete env, and discrete ones for a continuous env.
        let cont = Actions::Continuous {
            values: vec![0.5, -0.5],
            dim: 1,
        };
        let msg = demonstrations_error(Gail::new(cp, small(), demo(cp, 4, cont.clone())?, 0));
        assert!(msg.contains("does not fit"), "{msg}");
        let pend = "Pendulum-v1";
        let msg = demonstrations_error(Gail::new(
            pend,
            small(),
            demo(pend, 3, Actions::Discrete(vec![0]))?,
            0,
        ));
        assert!(msg.contains("does not fit"), "{msg}");
        // Empty demonstrations.
        let empty = Demonstrations::new(cp, 4, ActionKind::Discrete);
        let msg = demonstrations_error(Gail::new(cp, small(), empty, 0));
        assert!(msg.contains("no transitions"), "{msg}");
        // An invalid config is named before anything is built.
        let ok = record(cp, &mut CartPoleBalancer, 1, 0)?;
        let cfg = GailConfig {
            gae_lambda: 2.0,
            ..small()
        };
        assert!(
            matches!(Gail::new(cp, cfg, ok, 0), Err(GailError::Config(m)) if m.0.contains("gae_lambda"))
        );
        Ok(())
    }

    #[test]
    fn continuous_actions_run_end_to_end() -> Result<(), Box<dyn std::error::Error>> {
        // Pendulum with a fake "expert" (zero torque): checks shapes through every stage.
        let env_id = "Pendulum-v1";
        let mut d = Demonstrations::new(env_id, 3, ActionKind::Continuous(1));
        let t = 20;
        d.push_episode(&Episode {
            obs: (0..(t + 1) * 3).map(|i| (i as f32 * 0.1).sin()).collect(),
            actions: Actions::Continuous {
                values: vec![0.0; t],
                dim: 1,
            },
            rewards: vec![-1.0; t],
            terminated: false,
        })?;
        let mut agent = Gail::new(env_id, small(), d, 3)?;
        let info = agent.step()?;
        assert!(info.scalar("value_loss").is_some_and(f64::is_finite));
        let eval = agent.evaluate(1, 0)?;
        assert_eq!(eval.lengths, vec![200]);
        Ok(())
    }

    #[test]
    fn checkpoint_round_trips_through_bytes() -> Result<(), Box<dyn std::error::Error>> {
        let env_id = "CartPole-v1";
        let demos = record(env_id, &mut CartPoleBalancer, 1, 0)?;
        let mut agent = Gail::new(env_id, small(), demos.clone(), 1)?;
        agent.step()?;
        agent.step()?;
        let bytes = agent.checkpoint().to_bytes()?;
        let ck = Checkpoint::from_bytes(&bytes, std::path::Path::new("<memory>"))?;
        assert_eq!(ck.meta("algo"), Some("gail"));

        // A fresh agent with other weights (seed 9) becomes the trained one.
        let mut fresh = Gail::new(env_id, small(), demos.clone(), 9)?;
        let probe: Vec<f32> = (0..64 * 4).map(|i| (i as f32 * 0.37).sin() * 0.2).collect();
        let before = fresh
            .policy()
            .outputs(&fresh.normalizer().apply(&probe), 64)?;
        fresh.restore(&ck)?;
        let want = agent
            .policy()
            .outputs(&agent.normalizer().apply(&probe), 64)?;
        let got = fresh
            .policy()
            .outputs(&fresh.normalizer().apply(&probe), 64)?;
        assert_eq!(got, want);
        assert_ne!(before, want);
        assert_eq!(fresh.steps(), agent.steps());
        assert_eq!(fresh.iterations(), 2);
        let (o, a) = demos.state_action_pairs();
        assert_eq!(
            fresh
                .discriminator()
                .logits(&fresh.normalizer().apply(&o), &a)?,
            agent
                .discriminator()
                .logits(&agent.normalizer().apply(&o), &a)?
        );
        assert_eq!(fresh.evaluate(3, 7)?, agent.evaluate(3, 7)?);
        // Its checkpoint holds the same tensors and metadata.
        let again = fresh.checkpoint();
        assert!(again.names().eq(ck.names()));
        assert!(ck.names().all(|name| again.get(name) == ck.get(name)));
        for key in [
            "algo",
            "env_id",
            "env_steps",
            "iterations",
            "normalize_observations",
        ] {
            assert_eq!(again.meta(key), ck.meta(key), "{key}");
        }

        // Another env or another architecture is refused.
        let mc = record("MountainCar-v0", &mut MountainCarEnergyPump, 1, 0)?;
        let mut other_env = Gail::new("MountainCar-v0", small(), mc, 0)?;
        assert!(matches!(
            other_env.restore(&ck),
            Err(AgentError::Checkpoint(_))
        ));
        let mut wide = Gail::new(
            env_id,
            GailConfig {
                policy: eirl_models::PolicyNetworkConfig {
                    hidden: vec![8],
                    ..small().policy
                },
                ..small()
            },
            demos,
            0,
        )?;
        let steps = wide.steps();
        assert!(wide.restore(&ck).is_err());
        assert_eq!(wide.steps(), steps);
        Ok(())
    }
}
