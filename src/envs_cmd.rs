use eirl_envs::{Space, registry};

fn describe(space: &Space) -> String {
    match space {
        Space::Discrete(n) => format!("Discrete({n})"),
        Space::Box(b) if b.dim() > 1 && uniform(&b.low) && uniform(&b.high) => {
            format!(
                "Box({}, low={:.3e}, high={:.3e})",
                b.dim(),
                b.low[0],
                b.high[0]
            )
        }
        Space::Box(b) => {
            let fmt = |v: &[f32]| {
                v.iter()
                    .map(|x| format!("{x:.3e}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("Box(low=[{}], high=[{}])", fmt(&b.low), fmt(&b.high))
        }
    }
}

fn uniform(v: &[f32]) -> bool {
    v.iter().all(|x| x.to_bits() == v[0].to_bits())
}

pub fn run() -> anyhow::Result<()> {
    let mut missing = None;
    for spec in registry() {
        let env = match spec.make() {
            Ok(env) => env,
            Err(e) if spec.is_mujoco() => {
                println!("{:<26} (MuJoCo; not available here, see below)", spec.id);
                missing = Some(e);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        println!(
            "{:<26} obs={} action={} max_episode_steps={}",
            spec.id,
            describe(&Space::Box(env.observation_space().clone())),
            describe(env.action_space()),
            spec.max_episode_steps
        );
    }
    println!(
        "{:<26} any Gymnasium env with a Box observation space and a Discrete or Box action \
         space, run in Python (EIRL_PYTHON, else python3; needs `pip install gymnasium`), \
         e.g. gym:LunarLander-v3",
        format!("{}<id>", eirl_envs::GYM_PREFIX)
    );
    if let Some(e) = missing {
        println!(
            "MuJoCo ids need the MuJoCo {} library: {e}",
            eirl_envs::MUJOCO_VERSION
        );
    }
    Ok(())
}
