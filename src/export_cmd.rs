//! `eirl export`: a trained run's network in another framework's layout.
//!
//! `--format torch` writes a safetensors file that `torch.nn` code loads with
//! `safetensors.torch.load_file` + `load_state_dict`: weights transposed from eirl's `[in, out]`
//! to PyTorch's `[out, in]`, tensors named as an `nn.Sequential` names them (`net.0.weight`,
//! `net.0.bias`, `net.2.weight`, …), and the architecture (layer sizes, activations, head) as
//! JSON in the metadata under `eirl_architecture` (see [`eirl_models::TorchExport`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use eirl_models::{
    Checkpoint, PolicyNetwork, PolicyNetworkConfig, QNetwork, QNetworkConfig, TorchExport,
    TorchHead, TorchLayer,
};
use eirl_runlog::{BEST_CHECKPOINT, LATEST_CHECKPOINT};
use serde::de::DeserializeOwned;

use crate::registry;

/// `eirl export` arguments.
#[derive(Args)]
pub struct ExportArgs {
    /// Run directory written by `eirl train`.
    #[arg(long)]
    run: PathBuf,
    /// Which checkpoint to export.
    #[arg(long, value_enum, default_value_t = Which::Best)]
    checkpoint: Which,
    /// `torch`: PyTorch's `[out, in]` weights and `nn.Sequential` names.
    #[arg(long, value_enum)]
    format: Format,
    /// The safetensors file to write.
    #[arg(long)]
    out: PathBuf,
}

/// A run's checkpoint.
#[derive(Clone, Copy, ValueEnum)]
enum Which {
    /// The best evaluation so far (`checkpoints/best.safetensors`).
    Best,
    /// The last save (`checkpoints/latest.safetensors`).
    Latest,
}

impl Which {
    fn file_name(self) -> &'static str {
        match self {
            Which::Best => BEST_CHECKPOINT,
            Which::Latest => LATEST_CHECKPOINT,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Which::Best => "best",
            Which::Latest => "latest",
        }
    }
}

/// Export formats.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// PyTorch (`torch.nn.Linear` layout, `state_dict` names).
    Torch,
}

/// The acting network of an algorithm's checkpoint: its kind, its checkpoint prefix and the
/// config table holding its architecture.
enum Acting {
    QNetwork {
        prefix: &'static str,
        config: &'static str,
    },
    Policy {
        prefix: &'static str,
        config: &'static str,
    },
}

/// Algorithms whose acting network is exported, and where it lives.
fn acting_network(algo: &str) -> Option<Acting> {
    match algo {
        "dqn" | "svrl" => Some(Acting::QNetwork {
            prefix: "online",
            config: "network",
        }),
        "bc" | "dagger" => Some(Acting::Policy {
            prefix: "policy",
            config: "network",
        }),
        _ => None,
    }
}

/// `config[key]` deserialised as `T`, with an error naming the key.
fn section<T: DeserializeOwned>(config: &toml::Table, key: &str) -> Result<T> {
    let value = config
        .get(key)
        .with_context(|| format!("the run's config has no [{key}] table"))?;
    value
        .clone()
        .try_into()
        .with_context(|| format!("reading [{key}] of the run's config"))
}

/// The network of `ck` in PyTorch's layout.
fn torch_export(
    acting: Acting,
    env_id: &str,
    config: &toml::Table,
    ck: &Checkpoint,
) -> Result<TorchExport> {
    let env = eirl_envs::make(env_id)?;
    let obs_dim = env.observation_space().dim();
    let restoring = |prefix: &str| format!("restoring the `{prefix}` network from the checkpoint");
    match acting {
        Acting::QNetwork {
            prefix,
            config: key,
        } => {
            let cfg: QNetworkConfig = section(config, key)?;
            let Some(actions) = env.action_space().n() else {
                bail!("{env_id} has no discrete action space, which a Q-network needs");
            };
            let mut q = QNetwork::new(obs_dim, actions, &cfg, 0)?;
            ck.restore_params(prefix, &mut q)
                .with_context(|| restoring(prefix))?;
            Ok(TorchExport::from_q_network(&q))
        }
        Acting::Policy {
            prefix,
            config: key,
        } => {
            let cfg: PolicyNetworkConfig = section(config, key)?;
            let head = eirl_imitation::policy_head(env.action_space());
            let mut p = PolicyNetwork::new(obs_dim, head, &cfg, 0)?;
            ck.restore_params(prefix, &mut p)
                .with_context(|| restoring(prefix))?;
            Ok(TorchExport::from_policy_network(&p))
        }
    }
}

/// The export's modules as PyTorch prints them, e.g.
/// `net = Sequential(Linear(4, 64), ReLU(), Linear(64, 2))`.
fn describe(export: &TorchExport) -> String {
    let arch = export.architecture();
    let layers: Vec<String> = arch
        .net
        .iter()
        .map(|l| match l {
            TorchLayer::Linear {
                in_features,
                out_features,
            } => format!("Linear({in_features}, {out_features})"),
            TorchLayer::ReLU => "ReLU()".into(),
            TorchLayer::Tanh => "Tanh()".into(),
        })
        .collect();
    let net = format!("net = Sequential({})", layers.join(", "));
    match arch.head {
        TorchHead::QValues { .. } => format!("{net}; Q = net(x)"),
        TorchHead::Dueling {
            features,
            num_actions,
        } => format!(
            "{net}; value = Linear({features}, 1), advantage = Linear({features}, \
             {num_actions}); Q = value + advantage - advantage.mean(-1)"
        ),
        TorchHead::CategoricalLogits { .. } => format!("{net}; logits = net(x)"),
        TorchHead::GaussianMean { .. } => format!("{net}; mean = net(x), log_std"),
    }
}

/// `eirl export`.
pub fn run(args: ExportArgs) -> Result<()> {
    let Format::Torch = args.format;
    let saved = registry::open_run(&args.run)?;
    let algo = saved.entry.algorithm.name;
    let Some(acting) = acting_network(algo) else {
        bail!(
            "exporting {algo} runs is not supported (supported: dqn, svrl, bc, dagger): gail's \
             policy reads clipped normalised observations, and acer, steve and seed networks have \
             several heads, which have no one-module PyTorch form yet"
        );
    };
    let path = saved
        .run
        .checkpoints_dir()
        .join(args.checkpoint.file_name());
    if !path.is_file() {
        bail!(
            "{} has no {} checkpoint ({} does not exist)",
            args.run.display(),
            args.checkpoint.name(),
            path.display()
        );
    }
    let ck = Checkpoint::load(&path)?;
    let export = torch_export(acting, &saved.env, &saved.config, &ck)
        .with_context(|| format!("exporting {}", path.display()))?;
    let mut meta = BTreeMap::from([
        ("eirl_algo".to_string(), algo.to_string()),
        ("eirl_env_id".to_string(), saved.env.clone()),
        (
            "eirl_checkpoint".to_string(),
            args.checkpoint.name().to_string(),
        ),
    ]);
    if let Some(steps) = ck.meta(eirl_agent::meta::STEPS_KEY) {
        meta.insert("eirl_env_steps".into(), steps.to_string());
    }
    export.save(&args.out, &meta)?;
    println!(
        "exported {} ({algo} on {}, {} checkpoint) to {} in PyTorch's layout: {}",
        args.run.display(),
        saved.env,
        args.checkpoint.name(),
        args.out.display(),
        describe(&export)
    );
    Ok(())
}
