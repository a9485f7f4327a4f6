//! Architecture tests (rust-analyzer's "tidy" idea): the layering ARCHITECTURE.md states, read
//! from `cargo metadata` and the CLI's sources, so a change that breaks it fails here.
//!
//! Every workspace crate declares `[package.metadata.eirl] kind = "component" | "agent"` (an
//! extension agent adds `extends = "<base agent crate>"`). Component crates never depend on
//! agent crates; agent crates never depend on each other, except an extension on its base.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

struct Package {
    name: String,
    kind: Option<String>,
    extends: Option<String>,
    /// `(dependency, kind)`: kind is "normal", "dev" or "build".
    deps: Vec<(String, String)>,
}

fn workspace() -> Vec<Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let text = |v: &Value| v.as_str().map(str::to_string);
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| Package {
            name: text(&p["name"]).expect("name"),
            kind: text(&p["metadata"]["eirl"]["kind"]),
            extends: text(&p["metadata"]["eirl"]["extends"]),
            deps: p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|d| {
                    (
                        text(&d["name"]).expect("dep name"),
                        text(&d["kind"]).unwrap_or_else(|| "normal".into()),
                    )
                })
                .collect(),
        })
        .collect()
}

#[test]
fn crates_keep_their_layers() {
    let packages = workspace();
    let kinds: BTreeMap<&str, &str> = packages
        .iter()
        .filter_map(|p| Some((p.name.as_str(), p.kind.as_deref()?)))
        .collect();
    let mut problems = Vec::new();
    for p in &packages {
        if p.name == "eirl" || p.name == "xtask" {
            continue; // the CLI and the orchestrator sit on top of everything
        }
        match p.kind.as_deref() {
            Some("component") | Some("agent") => {}
            other => problems.push(format!(
                "{} declares kind {other:?}; add [package.metadata.eirl] kind = \"component\" or \"agent\"",
                p.name
            )),
        }
        if let Some(base) = &p.extends
            && (p.kind.as_deref() != Some("agent") || kinds.get(base.as_str()) != Some(&"agent"))
        {
            problems.push(format!(
                "{} extends {base}: only an agent crate may extend an agent crate",
                p.name
            ));
        }
        for (dep, dep_kind) in &p.deps {
            if kinds.get(dep.as_str()) != Some(&"agent") {
                continue;
            }
            match p.kind.as_deref() {
                Some("component") => problems.push(format!(
                    "component {} depends on agent {dep} ({dep_kind})",
                    p.name
                )),
                Some("agent") if p.extends.as_deref() != Some(dep.as_str()) => {
                    problems.push(format!(
                        "agent {} depends on agent {dep} ({dep_kind}) without `extends = \"{dep}\"`",
                        p.name
                    ))
                }
                _ => {}
            }
        }
    }
    // Plain numerics and the inference server know no networks, envs or agents; only
    // eirl-models depends on dfdx directly.
    let forbidden: &[(&str, &[&str])] = &[
        ("eirl-returns", &["dfdx", "eirl-envs", "eirl-models"]),
        ("eirl-replay", &["dfdx", "eirl-envs", "eirl-models"]),
        (
            "eirl-matrix-estimation",
            &["dfdx", "eirl-envs", "eirl-models"],
        ),
        ("eirl-svp", &["dfdx", "eirl-envs", "eirl-models"]),
        (
            "eirl-inference-server",
            &["dfdx", "eirl-envs", "eirl-models"],
        ),
    ];
    for p in &packages {
        for (dep, dep_kind) in &p.deps {
            if dep_kind != "normal" {
                continue;
            }
            if dep == "dfdx" && p.name != "eirl-models" {
                problems.push(format!(
                    "{} depends on dfdx directly (only eirl-models may)",
                    p.name
                ));
            }
            for (name, banned) in forbidden {
                if p.name == *name && banned.contains(&dep.as_str()) {
                    problems.push(format!("{name} must not depend on {dep}"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
    // The checks above have something to check.
    assert!(
        kinds.values().filter(|k| **k == "agent").count() >= 5,
        "{kinds:?}"
    );
    assert!(
        kinds.values().filter(|k| **k == "component").count() >= 8,
        "{kinds:?}"
    );
}

/// `crate::<module>` references of each file in `src/`, by module name.
fn src_imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files: Vec<String> = std::fs::read_dir(src)
        .expect("src/")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    files
        .iter()
        .map(|m| {
            let text = std::fs::read_to_string(src.join(format!("{m}.rs"))).expect("read");
            let used = files
                .iter()
                .filter(|other| *other != m && text.contains(&format!("crate::{other}")))
                .cloned()
                .collect();
            (m.clone(), used)
        })
        .collect()
}

#[test]
fn the_cli_is_argument_parsing_and_the_registry() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = src_imports(&src);
    // No import circle: repeatedly remove files that import no remaining file.
    let mut left = graph.clone();
    while let Some(leaf) = left
        .iter()
        .find(|(_, used)| used.iter().all(|u| !left.contains_key(u)))
        .map(|(m, _)| m.clone())
    {
        left.remove(&leaf);
    }
    assert!(left.is_empty(), "import circle among src/ files: {left:?}");
    assert!(graph.contains_key("registry"), "{graph:?}");
    // Agent logic lives in crates: nothing in src/ implements the contract or defines traits.
    for m in graph.keys() {
        let text = std::fs::read_to_string(src.join(format!("{m}.rs"))).expect("read");
        for needle in [
            "impl Agent for",
            "impl Policy for",
            "pub trait ",
            "\ntrait ",
        ] {
            assert!(
                !text.contains(needle),
                "src/{m}.rs contains `{}`",
                needle.trim()
            );
        }
    }
}
