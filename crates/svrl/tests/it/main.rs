//! SV-RL: the target completion, the p schedule, a short training run with its scalars and
//! checkpoint, and config errors.

use eirl_agent::{Agent, AgentError, Build, defaults_of, overlay, train};
use eirl_dqn::{Dqn, DqnConfig, NextQTransform};
use eirl_matrix_estimation::{Estimator, Mask, SoftImpute, Usvt};
use eirl_models::{Activation, Checkpoint, QNetworkConfig};
use eirl_runlog::{LATEST_CHECKPOINT, RunDir, metric_series, read_metrics};
use eirl_svrl::{
    ALGORITHM, EstimatorKind, MaskSchedule, SvRl, SvRlConfig, SvRlParams, TargetCompletion,
    complete_target,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A near-low-rank `[b, a]` "next-state Q matrix": rank 2 plus a little noise.
fn q_matrix(b: usize, a: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let f: Vec<f64> = (0..b).map(|_| rng.gen_range(5.0..20.0)).collect();
    let g: Vec<f64> = (0..b).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut q = Vec::with_capacity(b * a);
    for i in 0..b {
        for j in 0..a {
            let x = j as f64 / a as f64;
            let noise: f64 = rng.gen_range(-0.01..0.01);
            q.push((f[i] * (1.0 - 0.2 * x) + g[i] * (3.0 * x).sin() + noise) as f32);
        }
    }
    q
}

#[test]
fn soft_impute_keeps_observed_entries_and_reestimates_the_masked_ones() -> Result<(), String> {
    let (b, a) = (32, 9);
    let q = q_matrix(b, a, 1);
    let (lo, hi) = q
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mask = Mask::bernoulli(b, a, 0.7, &mut rng).map_err(|e| e.to_string())?;
    let mut out = q.clone();
    let done =
        complete_target(&mut out, b, a, &mask, &Estimator::default()).map_err(|e| e.to_string())?;
    assert!(done.iterations >= 2, "{done:?}");
    let (mut masked, mut err_est, mut err_mean) = (0, 0.0_f64, 0.0_f64);
    let mean = q.iter().map(|&v| f64::from(v)).sum::<f64>() / q.len() as f64;
    for (k, (&o, &x)) in mask.as_slice().iter().zip(&q).enumerate() {
        let y = out[k];
        if o {
            assert!(
                (y - x).abs() <= 1e-5 * x.abs().max(1.0),
                "observed {k}: {y} vs {x}"
            );
        } else {
            masked += 1;
            assert!(
                y.to_bits() != x.to_bits(),
                "masked entry {k} was not re-estimated"
            );
            assert!(
                (lo - 1e-4..=hi + 1e-4).contains(&y),
                "{y} outside [{lo}, {hi}]"
            );
            err_est += f64::from(y - x).powi(2);
            err_mean += (mean - f64::from(x)).powi(2);
        }
    }
    assert!(masked > 0);
    // The low-rank estimate is far closer than the matrix mean would be.
    assert!(
        err_est < 0.1 * err_mean,
        "estimate {err_est} vs mean {err_mean}"
    );

    // USVT re-estimates every entry, within the clipped range.
    let mut usvt = q.clone();
    complete_target(&mut usvt, b, a, &mask, &Estimator::Usvt(Usvt::default()))
        .map_err(|e| e.to_string())?;
    assert!(usvt.iter().all(|y| (lo - 1e-4..=hi + 1e-4).contains(y)));
    Ok(())
}

/// `target_rank` is the 99%-energy rank of the raw target matrix: 1 for a rank-1 matrix, the
/// full width for an identity block, averaged over updates.
#[test]
fn target_rank_is_the_energy_rank_of_the_raw_target() -> Result<(), String> {
    let (b, a) = (16, 5);
    let mut t = TargetCompletion::new(
        MaskSchedule {
            p0: 0.9,
            updates: None,
        },
        Estimator::default(),
        3,
    );
    // Rank 1: (i + 1) · (j + 1).
    let mut rank1: Vec<f32> = (0..b * a)
        .map(|k| ((k / a + 1) * (k % a + 1)) as f32)
        .collect();
    t.apply(&mut rank1, b, a).map_err(|e| e.to_string())?;
    assert!((t.stats().target_rank_sum - 1.0).abs() < 1e-12);
    // Five equal singular values: the identity on the first five rows.
    let mut eye: Vec<f32> = (0..b * a)
        .map(|k| f32::from(u8::from(k / a == k % a)))
        .collect();
    t.apply(&mut eye, b, a).map_err(|e| e.to_string())?;
    let s = t.stats();
    assert!((s.target_rank_sum - 6.0).abs() < 1e-12, "{s:?}");
    let scalars = s.scalars().ok_or("no scalars")?;
    assert_eq!(scalars[4].0, "target_rank");
    assert!((scalars[4].1 - 3.0).abs() < 1e-12);
    Ok(())
}

#[test]
fn p_one_leaves_the_target_bit_identical() -> Result<(), String> {
    let (b, a) = (64, 25);
    let q = q_matrix(b, a, 3);
    let schedule = MaskSchedule {
        p0: 1.0,
        updates: None,
    };
    for estimator in [Estimator::default(), Estimator::Usvt(Usvt::default())] {
        let mut t = TargetCompletion::new(schedule, estimator, 0);
        let mut out = q.clone();
        for _ in 0..3 {
            t.apply(&mut out, b, a).map_err(|e| e.to_string())?;
        }
        assert!(out.iter().zip(&q).all(|(y, x)| y.to_bits() == x.to_bits()));
        let s = t.stats();
        assert_eq!((s.updates, s.reestimated, s.entries), (3, 0, 3 * 64 * 25));
    }
    // A full mask through the pure function, too.
    let mut out = q.clone();
    complete_target(&mut out, b, a, &Mask::full(b, a), &Estimator::default())
        .map_err(|e| e.to_string())?;
    assert!(out.iter().zip(&q).all(|(y, x)| y.to_bits() == x.to_bits()));
    Ok(())
}

#[test]
fn the_schedule_follows_the_official_increment_and_reaches_one() -> Result<(), String> {
    let n = 1000;
    let s = MaskSchedule {
        p0: 0.9,
        updates: Some(n),
    };
    // Official: `p = min(p + (1 − p0)/maskstep, 1)` before each update.
    let mut p = 0.9_f64;
    for k in 1..=n + 10 {
        p = (p + (1.0 - 0.9) / n as f64).min(1.0);
        assert!((s.p(k) - p).abs() < 1e-12, "update {k}: {} vs {p}", s.p(k));
    }
    assert!((s.p(1) - (0.9 + 1e-4)).abs() < 1e-15);
    assert!(s.p(n - 1) < 1.0);
    assert!((s.p(n) - 1.0).abs() < f64::EPSILON && (s.p(10 * n) - 1.0).abs() < f64::EPSILON);
    let fixed = MaskSchedule {
        p0: 0.9,
        updates: None,
    };
    assert!(
        (fixed.p(1) - 0.9).abs() < f64::EPSILON && (fixed.p(u64::MAX) - 0.9).abs() < f64::EPSILON
    );

    // Driven through the transform: after n updates the next p is 1, and from then on nothing
    // changes.
    let (b, a) = (8, 4);
    let mut t = TargetCompletion::new(
        MaskSchedule {
            p0: 0.5,
            updates: Some(20),
        },
        Estimator::default(),
        7,
    );
    let mut p_sum = 0.0;
    for k in 1..=20 {
        assert!((t.next_p() - (0.5 + 0.5 * k as f64 / 20.0)).abs() < 1e-12);
        p_sum += t.next_p();
        let mut q = q_matrix(b, a, k);
        t.apply(&mut q, b, a).map_err(|e| e.to_string())?;
    }
    assert!((t.next_p() - 1.0).abs() < f64::EPSILON);
    let before = t.stats();
    assert!((before.p_sum - p_sum).abs() < 1e-9);
    let q = q_matrix(b, a, 99);
    let mut out = q.clone();
    t.apply(&mut out, b, a).map_err(|e| e.to_string())?;
    assert_eq!(out, q);
    assert_eq!(t.stats().reestimated, before.reestimated);
    Ok(())
}

fn small_cartpole(total_steps: u64) -> SvRlConfig {
    SvRlConfig {
        dqn: DqnConfig {
            network: QNetworkConfig {
                hidden: vec![32, 32],
                activation: Activation::Relu,
                dueling: false,
            },
            learning_rate: 1e-3,
            batch_size: 32,
            buffer_size: 5_000,
            learning_starts: 500,
            train_freq: 4,
            target_update_interval: 250,
            exploration_fraction: 0.3,
            total_steps,
            eval_interval: 1_500,
            eval_episodes: 2,
            double_q: true,
            ..DqnConfig::default()
        },
        svrl: SvRlParams::default(),
    }
}

#[test]
fn a_short_cartpole_run_logs_svrl_scalars_and_its_checkpoint_restores()
-> Result<(), Box<dyn std::error::Error>> {
    let root = tempfile::tempdir()?;
    let run = RunDir::create(root.path(), "svrl", "CartPole-v1", 5)?;
    let mut agent = SvRl::new("CartPole-v1", small_cartpole(3_000), 5)?;
    let report = train(&mut agent, &run, false)?;
    assert_eq!(report.steps, 3_000);
    // (3000 − 500) / 4 gradient steps, each through SV-RL with a fresh 32×2 mask.
    let stats = agent.stats();
    assert_eq!(stats.updates, agent.dqn().updates());
    assert!(stats.updates >= 600, "{stats:?}");
    let frac = stats.reestimated as f64 / stats.entries as f64;
    assert!((frac - 0.1).abs() < 0.02, "re-estimated fraction {frac}");
    assert!(agent.summary().is_some_and(|s| s.contains("SV-RL")));

    let rows = read_metrics(&run.metrics_path())?;
    for name in [
        "mask_p",
        "estimate_rank",
        "estimate_iterations",
        "reestimated_fraction",
        "target_rank",
        "loss",
    ] {
        let series = metric_series(&rows, name);
        assert!(series.len() >= 2, "{name}: {series:?}");
        for &(_, v) in &series {
            assert!(v.is_finite(), "{name} = {v}");
        }
    }
    for (_, p) in metric_series(&rows, "mask_p") {
        assert!((p - 0.9).abs() < 1e-12);
    }
    for (_, r) in metric_series(&rows, "estimate_rank") {
        assert!((0.0..=2.0).contains(&r), "rank {r} of a 32×2 matrix");
    }
    for (_, r) in metric_series(&rows, "target_rank") {
        assert!((1.0..=2.0).contains(&r), "target rank {r} of a 32×2 matrix");
    }
    for (_, f) in metric_series(&rows, "reestimated_fraction") {
        assert!((0.0..0.3).contains(&f), "fraction {f}");
    }

    // The latest checkpoint restores into a fresh agent, which then acts the same.
    let ck = Checkpoint::load(&run.checkpoints_dir().join(LATEST_CHECKPOINT))?;
    assert_eq!(ck.meta("algo"), Some("svrl"));
    let mut resumed = small_cartpole(6_000);
    resumed.svrl.mask_schedule_updates = Some(10_000);
    let mut fresh = SvRl::new("CartPole-v1", resumed, 6)?;
    fresh.restore(&ck)?;
    assert_eq!(fresh.steps(), 3_000);
    assert_eq!(fresh.dqn().updates(), agent.dqn().updates());
    let obs: Vec<f32> = q_matrix(16, 4, 11).iter().map(|v| v / 20.0 - 0.5).collect();
    assert_eq!(
        fresh.greedy_actions(&obs, 16)?,
        agent.greedy_actions(&obs, 16)?
    );
    assert_eq!(fresh.evaluate(2, 1)?.returns, agent.evaluate(2, 1)?.returns);
    // It keeps training from there, after DQN refills its replay memory (`learning_starts` more
    // steps; the memory is not checkpointed), the p schedule resumed at DQN's update count.
    let k = agent.dqn().updates() + 1;
    assert!((fresh.mask_p() - (0.9 + k as f64 * 0.1 / 10_000.0)).abs() < 1e-12);
    while fresh.steps() < 3_600 {
        fresh.step()?;
    }
    assert!(fresh.stats().updates > 0);

    // A plain DQN checkpoint is not an SV-RL one, nor the other way round.
    let mut dqn = Dqn::new("CartPole-v1", small_cartpole(3_000).dqn, 5)?;
    assert!(dqn.restore(&ck).is_err());
    assert!(fresh.restore(&dqn.checkpoint()).is_err());
    Ok(())
}

#[test]
fn same_seed_same_masks() -> Result<(), AgentError> {
    let run = |seed| -> Result<_, AgentError> {
        let mut agent = SvRl::new("CartPole-v1", small_cartpole(800), seed)?;
        while !agent.is_done() {
            agent.step()?;
        }
        Ok((agent.stats(), agent.evaluate(2, 0)?.returns))
    };
    let (a, b) = (run(3)?, run(3)?);
    assert!(a.0.updates > 0);
    assert_eq!(a, b);
    Ok(())
}

fn build(config: &toml::Table) -> Result<Box<dyn Agent>, AgentError> {
    (ALGORITHM.build)(Build {
        env_id: "CartPole-v1",
        config,
        seed: 0,
        demos: None,
        expert: None,
    })
}

fn with(extra: &str) -> Result<toml::Table, Box<dyn std::error::Error>> {
    let mut table = (ALGORITHM.defaults)()?;
    overlay(&mut table, toml::from_str(extra)?);
    Ok(table)
}

#[test]
fn config_errors_are_errors() -> Result<(), Box<dyn std::error::Error>> {
    // The defaults round-trip: DQN's keys at the top, SV-RL's under [svrl].
    let defaults = defaults_of::<SvRlConfig>()?;
    assert!(defaults.contains_key("total_steps") && defaults.contains_key("svrl"));
    let cfg: SvRlConfig = defaults.clone().try_into()?;
    assert_eq!(cfg, SvRlConfig::default());
    assert!((cfg.svrl.mask_p - 0.9).abs() < f64::EPSILON);
    assert_eq!(cfg.svrl.estimator, EstimatorKind::SoftImpute);
    assert!(build(&defaults).is_ok());
    let cfg: SvRlConfig =
        with("[svrl]\nmask_p = 0.95\nmask_schedule_updates = 2000000\nestimator = \"usvt\"")?
            .try_into()?;
    assert_eq!(cfg.svrl.mask_schedule_updates, Some(2_000_000));
    assert_eq!(
        cfg.svrl.estimator.estimator(),
        Estimator::Usvt(Usvt::default())
    );
    assert_eq!(
        EstimatorKind::SoftImpute.estimator(),
        Estimator::SoftImpute(SoftImpute::default())
    );

    for (extra, needle) in [
        ("[svrl]\nmask_p = 0.0", "mask_p"),
        ("[svrl]\nmask_p = -0.5", "mask_p"),
        ("[svrl]\nmask_p = 1.5", "mask_p"),
        ("[svrl]\nmask_p = nan", "mask_p"),
        ("[svrl]\nmask_schedule_updates = 0", "mask_schedule_updates"),
        ("[svrl]\nmaskp = 0.9", "maskp"),
        ("[svrl]\nestimator = \"nucnorm\"", "nucnorm"),
        ("maskp = 0.9", "maskp"),
        ("svrl = 3", "svrl"),
        ("learning_rate = -1.0", "learning_rate"),
    ] {
        let Err(err) = build(&with(extra)?) else {
            panic!("`{extra}` was accepted")
        };
        let msg = err.to_string();
        assert!(msg.contains(needle), "`{extra}`: {msg}");
    }
    Ok(())
}

#[test]
fn shipped_presets_are_valid_and_match_dqn() -> Result<(), Box<dyn std::error::Error>> {
    let presets = [
        (
            include_str!("../../../../configs/svrl/CartPole-v1.toml"),
            include_str!("../../../../configs/dqn/CartPole-v1.toml"),
        ),
        (
            include_str!("../../../../configs/svrl/Acrobot-v1.toml"),
            include_str!("../../../../configs/dqn/Acrobot-v1.toml"),
        ),
        (
            include_str!("../../../../configs/svrl/Pendulum-v1-discrete25.toml"),
            include_str!("../../../../configs/dqn/Pendulum-v1-discrete25.toml"),
        ),
        (
            include_str!("../../../../configs/svrl/MountainCarContinuous-v0-discrete25.toml"),
            include_str!("../../../../configs/dqn/MountainCarContinuous-v0-discrete25.toml"),
        ),
    ];
    for (svrl, dqn) in presets {
        let cfg: SvRlConfig = with(svrl)?.try_into()?;
        cfg.validate()?;
        let mut dqn_table = defaults_of::<DqnConfig>()?;
        overlay(&mut dqn_table, toml::from_str(dqn)?);
        let dqn_cfg: DqnConfig = dqn_table.try_into()?;
        dqn_cfg.validate()?;
        assert_eq!(cfg.dqn, dqn_cfg);
        assert_eq!(cfg.svrl, SvRlParams::default());
    }
    Ok(())
}
