//! What diagnosis and intervention runs share: the environments, the expert, the
//! demonstrations, the training samples, training and evaluation.

use eirl_causal::{
    CausalError, GraphPolicy, InputMode, Pairs, StateExpert, rich_mountain_car_start, slot_pairs,
    train_graph_policy,
};
use eirl_envs::{Nuisance, Policy, Space, evaluate, make};
use eirl_imitation::{Demonstrations, policy_head, run_episode_from, scripted_expert};
use eirl_models::PolicyHead;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::CausalConfusionConfig;

/// Mean and standard deviation of the returns of `policy` over `episodes` episodes of
/// `env_id` (episode `i` reset with `seed + i`, all acting in one batch).
///
/// # Errors
/// An unknown env or a policy that cannot act.
pub fn eval_return(
    env_id: &str,
    policy: &mut dyn Policy,
    episodes: usize,
    seed: u64,
) -> Result<(f64, f64), CausalError> {
    let stats = evaluate(env_id, policy, episodes.max(1), seed).map_err(CausalError::Policy)?;
    Ok((stats.mean(), stats.std()))
}

/// The environments, expert, demonstrations and sample pools of one run.
pub struct Setup {
    /// The settings.
    pub cfg: CausalConfusionConfig,
    /// The run's seed.
    pub seed: u64,
    /// `<env>-confounded`: state plus the previous action.
    pub confounded_id: String,
    /// `<env>-original`: state plus a random action.
    pub original_id: String,
    /// Width of the state (the base env's observation).
    pub state_dim: usize,
    /// Width of the policies' input: state plus the action slot.
    pub features: usize,
    /// The action space.
    pub space: Space,
    /// The demonstrations (recorded on `<env>`, `<env>-confounded` or `<env>-original`: only
    /// their states and actions are used).
    pub demos: Demonstrations,
    /// Every demonstration step `t ≥ 1` as a CONFOUNDED pair, in a seeded random order, so a
    /// sample of `n` is the first `n` (samples of different sizes are nested).
    pub confounded: Pairs,
    /// The same steps in the same order as ORIGINAL pairs (the slot redrawn at random).
    pub original: Pairs,
    /// First seed of every evaluation (shared by all methods of the run).
    pub eval_seed: u64,
}

impl Setup {
    /// Builds the run: records the demonstrations when none are given.
    ///
    /// # Errors
    /// An unknown env or expert, an expert for another env, rich starts on an env other than
    /// MountainCar, demonstrations of another env, or too few demonstration steps for the
    /// largest sample.
    pub fn new(
        cfg: &CausalConfusionConfig,
        seed: u64,
        demos: Option<Demonstrations>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Self, CausalError> {
        let base = make(&cfg.env_id)?;
        let state_dim = base.observation_space().dim();
        let space = base.action_space().clone();
        let confounded_id = format!("{}{}", cfg.env_id, Nuisance::PreviousAction.suffix());
        let original_id = format!("{}{}", cfg.env_id, Nuisance::RandomAction.suffix());
        let features = make(&confounded_id)?.observation_space().dim();
        let demos = match demos {
            Some(d) => {
                let base = eirl_envs::spec(d.env_id())
                    .ok()
                    .and_then(|s| s.slotted_from().map(|(b, _)| b.to_string()))
                    .unwrap_or_else(|| d.env_id().to_string());
                if d.env_id().is_empty() {
                    return Err(CausalError::Config(format!(
                        "the demonstrations carry no env id; causal confusion needs them recorded \
                         on {confounded_id} (`eirl demo record --env {confounded_id}`)"
                    )));
                }
                if base != cfg.env_id {
                    return Err(CausalError::Config(format!(
                        "demonstrations of {} do not fit {} (record them on {confounded_id})",
                        d.env_id(),
                        cfg.env_id
                    )));
                }
                d
            }
            None => {
                progress(&format!(
                    "recording {} expert steps on {confounded_id}",
                    cfg.demo_steps
                ));
                record(cfg, &confounded_id, state_dim, features, seed)?
            }
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xC0FF_EE00);
        let conf = slot_pairs(
            &demos,
            state_dim,
            &space,
            Nuisance::PreviousAction,
            &mut rng,
        )?;
        let orig = slot_pairs(&demos, state_dim, &space, Nuisance::RandomAction, &mut rng)?;
        let mut order: Vec<usize> = (0..conf.len()).collect();
        order.shuffle(&mut rng);
        let largest = cfg
            .sample_sweep
            .iter()
            .copied()
            .chain([cfg.train_samples])
            .max()
            .unwrap_or(0);
        if largest == 0 || largest > order.len() {
            return Err(CausalError::Config(format!(
                "samples of up to {largest} need at least that many demonstration steps; \
                 there are {} (raise demo_steps)",
                order.len()
            )));
        }
        Ok(Setup {
            cfg: cfg.clone(),
            seed,
            state_dim,
            features,
            space,
            confounded: conf.gather(&order),
            original: orig.gather(&order),
            demos,
            confounded_id,
            original_id,
            eval_seed: 1_000_000 + seed.wrapping_mul(10_000),
        })
    }

    /// The policy head of the action space.
    pub fn head(&self) -> PolicyHead {
        policy_head(&self.space)
    }

    /// The scripted expert, reading the state part of (confounded) observations.
    ///
    /// # Errors
    /// An unknown expert, or one for another env.
    pub fn expert(&self) -> Result<StateExpert, CausalError> {
        expert(&self.cfg, self.state_dim, self.features)
    }

    /// The first `n` pairs of a pool.
    pub fn sample(pool: &Pairs, n: usize) -> Pairs {
        let idx: Vec<usize> = (0..n.min(pool.len())).collect();
        pool.gather(&idx)
    }

    /// A policy of `mode` trained on `pairs` (the official trainer of that network).
    ///
    /// # Errors
    /// As [`train_graph_policy`].
    pub fn train(
        &self,
        mode: InputMode,
        pairs: &Pairs,
        model_seed: u64,
    ) -> Result<GraphPolicy, CausalError> {
        let cfg = match mode {
            InputMode::Graph => &self.cfg.graph,
            InputMode::Plain | InputMode::Dropout { .. } => &self.cfg.plain,
        };
        let mut policy =
            GraphPolicy::new(self.features, self.head(), &cfg.hidden, mode, model_seed)?;
        train_graph_policy(
            &mut policy,
            &pairs.obs,
            &pairs.actions,
            cfg,
            model_seed ^ 0xBC,
        )?;
        Ok(policy)
    }

    /// [`eval_return`] on the run's evaluation seeds.
    ///
    /// # Errors
    /// As [`eval_return`].
    pub fn evaluate(
        &self,
        env_id: &str,
        policy: &mut dyn Policy,
    ) -> Result<(f64, f64), CausalError> {
        eval_return(env_id, policy, self.cfg.eval_episodes, self.eval_seed)
    }
}

fn expert(
    cfg: &CausalConfusionConfig,
    state_dim: usize,
    features: usize,
) -> Result<StateExpert, CausalError> {
    let Some((policy, env)) = scripted_expert(&cfg.expert) else {
        return Err(CausalError::Config(format!(
            "unknown expert {:?}; known: {}",
            cfg.expert,
            eirl_imitation::SCRIPTED_EXPERTS.join(", ")
        )));
    };
    if env != cfg.env_id {
        return Err(CausalError::Config(format!(
            "expert {} solves {env}, not {}",
            cfg.expert, cfg.env_id
        )));
    }
    StateExpert::new(policy, state_dim, features)
}

/// Whole expert episodes on `<env>-confounded` until `demo_steps` steps (official
/// `run_num_steps`), from the wide start distribution when asked.
fn record(
    cfg: &CausalConfusionConfig,
    confounded_id: &str,
    state_dim: usize,
    features: usize,
    seed: u64,
) -> Result<Demonstrations, CausalError> {
    if cfg.rich_starts && !crate::RICH_START_ENVS.contains(&cfg.env_id.as_str()) {
        return Err(CausalError::Config(format!(
            "rich_starts is the official MountainCar start distribution; {} has none",
            cfg.env_id
        )));
    }
    let mut expert = expert(cfg, state_dim, features)?;
    let env = make(confounded_id)?;
    let mut demos = Demonstrations::new(
        confounded_id,
        env.observation_space().dim(),
        eirl_envs::ActionKind::of(env.action_space()),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(0x5747));
    let mut episode_seed = seed.wrapping_mul(1_000_003);
    while demos.num_transitions() < cfg.demo_steps {
        let start = cfg.rich_starts.then(|| rich_mountain_car_start(&mut rng));
        let ep = run_episode_from(confounded_id, &mut expert, episode_seed, start.as_deref())?;
        demos.push_episode(&ep)?;
        episode_seed = episode_seed.wrapping_add(1);
    }
    demos.set_expert_mean_return(demos.mean_return());
    Ok(demos)
}
