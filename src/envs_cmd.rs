use eirl_envs::{Space, registry};

fn describe(space: &Space) -> String {
    match space {
        Space::Discrete(n) => format!("Discrete({n})"),
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

pub fn run() -> anyhow::Result<()> {
    for spec in registry() {
        let env = spec.make();
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
    Ok(())
}
