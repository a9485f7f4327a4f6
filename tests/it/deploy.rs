//! The SEED deployment files (`deploy/`, `Dockerfile`, `.dockerignore`): the Kubernetes
//! manifests validate against the Kubernetes API schemas offline (the `kubernetes-validate`
//! Python package, which ships them), the pieces agree with each other (ports, Secret, actor
//! ids, image user), every `eirl` flag they pass exists, and the Slurm task script trains a real
//! learner with two actors on this machine. When no Python with `kubernetes_validate` is found
//! the schema test fails under `CI=true` and skips with a message elsewhere.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::python_actor::stat;
use yaml_rust2::{Yaml, YamlLoader};

/// The Kubernetes version the manifests are checked against (their oldest supported one:
/// `podReplacementPolicy` of Indexed Jobs is beta, on by default, since 1.29).
const K8S_VERSION: &str = "1.30.0";

/// What `kubectl apply -k deploy/k8s` applies, and the Secret example applied by hand.
const APPLIED: &[&str] = &[
    "learner-service.yaml",
    "learner-statefulset.yaml",
    "actors-job.yaml",
];
const SECRET_EXAMPLE: &str = "secret.example.yaml";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn k8s(name: &str) -> PathBuf {
    root().join("deploy/k8s").join(name)
}

/// The one YAML document of a manifest file.
fn manifest(name: &str) -> Yaml {
    let text = read(&k8s(name));
    let mut docs =
        YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{name}: one document per file");
    docs.remove(0)
}

fn str_at<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {y:?}"))
}

fn int_at(y: &Yaml, what: &str) -> i64 {
    y.as_i64()
        .unwrap_or_else(|| panic!("{what} is not an integer: {y:?}"))
}

fn list<'a>(y: &'a Yaml, what: &str) -> &'a [Yaml] {
    y.as_vec()
        .unwrap_or_else(|| panic!("{what} is not a list: {y:?}"))
}

/// The single container of a workload's pod template.
fn container(workload: &Yaml, what: &str) -> Yaml {
    let containers = list(&workload["spec"]["template"]["spec"]["containers"], what);
    assert_eq!(containers.len(), 1, "{what}: one container");
    containers[0].clone()
}

fn args(container: &Yaml, what: &str) -> Vec<String> {
    list(&container["args"], what)
        .iter()
        .map(|a| str_at(a, what).to_owned())
        .collect()
}

/// The value of `--flag=value` in `args`.
fn arg_value<'a>(args: &'a [String], flag: &str) -> &'a str {
    let prefix = format!("{flag}=");
    args.iter()
        .find_map(|a| a.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {flag}=... in {args:?}"))
}

/// A container's env entry by name.
fn env_var(container: &Yaml, name: &str) -> Yaml {
    list(&container["env"], "env")
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no env var {name} in {container:?}"))
        .clone()
}

fn port_of(addr: &str) -> i64 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {addr}"))
}

/// Why `python` cannot run `kubernetes_validate`, if it cannot.
fn validator_missing(python: &Path) -> Option<String> {
    crate::python_actor::cannot_import(python, "kubernetes_validate")
}

/// Runs `python -m kubernetes_validate --strict` (unknown fields are errors) on `files`.
fn validate(python: &Path, files: &[PathBuf]) -> (ExitStatus, String) {
    let out = Command::new(python)
        .args(["-m", "kubernetes_validate", "--strict", "-k", K8S_VERSION])
        .args(files)
        .output()
        .expect("run kubernetes_validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text)
}

/// `text` with the line whose trimmed start is `starts` replaced by `with` (which keeps the
/// line's indentation); panics unless exactly one line matched, so a test cannot go vacuous.
fn replace_line(text: &str, starts: &str, with: &str) -> String {
    let mut hits = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let body = l.trim_start();
            if body.starts_with(starts) {
                hits += 1;
                format!("{}{with}", &l[..l.len() - body.len()])
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert_eq!(hits, 1, "`{starts}` lines");
    lines.join("\n") + "\n"
}

#[test]
fn k8s_manifests_validate_against_the_api_schemas() {
    let python = super::python_actor::python();
    if let Some(why) = validator_missing(&python) {
        let msg = format!(
            "{} cannot import kubernetes_validate ({why}); set EIRL_PYTHON or run \
             `python3 -m venv .venv-py && .venv-py/bin/pip install -r python/requirements-cluster.txt`",
            python.display()
        );
        assert!(
            !crate::python_actor::in_ci(),
            "CI=true, so the manifest schema test must run: {msg}"
        );
        eprintln!("skipping: k8s_manifests_validate_against_the_api_schemas: {msg}");
        return;
    }
    let files: Vec<PathBuf> = APPLIED
        .iter()
        .chain([&SECRET_EXAMPLE])
        .map(|f| k8s(f))
        .collect();
    let (status, out) = validate(&python, &files);
    assert!(status.success(), "{out}");
    // A kind without a schema is only a warning to the tool: it would pass unchecked.
    assert!(!out.contains("WARN") && !out.contains("ERROR"), "{out}");
    for resource in [
        "service/eirl-learner",
        "statefulset/eirl-learner",
        "job/eirl-actors",
        "secret/eirl-seed-token",
    ] {
        assert!(
            out.lines()
                .any(|l| l.contains(&format!("passed for resource {resource} "))),
            "{resource} not validated:\n{out}"
        );
    }

    // The same check rejects a misspelt field and a mistyped value.
    let tmp = tempfile::tempdir().expect("tmp");
    let learner = read(&k8s("learner-statefulset.yaml"));
    let jobs = read(&k8s("actors-job.yaml"));
    let broken = [
        (
            "statefulset/eirl-learner",
            "learner-statefulset.yaml",
            replace_line(&learner, "serviceName:", "serviceNmae: eirl-learner"),
        ),
        (
            "job/eirl-actors",
            "actors-job.yaml",
            replace_line(&jobs, "parallelism:", "parallelism: eight"),
        ),
    ];
    for (resource, name, text) in broken {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).expect("write");
        let (status, out) = validate(&python, &[path]);
        assert!(
            !status.success()
                && out
                    .lines()
                    .any(|l| l.starts_with("ERROR") && l.contains(resource)),
            "a broken {name} passed:\n{out}"
        );
    }
}

/// The `eirl seed <sub>` commands of `seed_rank.sh`: (sub, flags), one per command, with
/// continuation lines joined.
fn script_commands(script: &str) -> Vec<(String, Vec<String>)> {
    joined_lines(script)
        .iter()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (_, rest) = l.split_once("\"$bin\" seed ")?;
            let mut words = rest.split_whitespace();
            let sub = words.next()?.to_owned();
            let flags = words
                .filter(|w| w.starts_with("--"))
                .map(|w| w.split('=').next().unwrap_or(w).to_owned())
                .collect();
            Some((sub, flags))
        })
        .collect()
}

/// Logical lines of a shell text or markdown: continuation lines (`\\` at the end) joined.
pub(crate) fn joined_lines(text: &str) -> Vec<String> {
    let mut logical = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(head) = line.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(line);
            logical.push(std::mem::take(&mut cur));
        }
    }
    logical
}

/// The flags of every `<command>` written in a markdown text (code blocks, inline code, and
/// `[--flag]` in synopses): one entry per occurrence, the flags up to the end of the command
/// (a backtick, `&`, `;`, `|` or ` / `).
pub(crate) fn documented_flags(markdown: &str, command: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for line in joined_lines(markdown) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find(command) {
            let after = &rest[at + command.len()..];
            let end = after
                .find(['`', '&', ';', '|'])
                .unwrap_or(after.len())
                .min(after.find(" / ").unwrap_or(after.len()));
            let flags = after[..end]
                .split_whitespace()
                .map(|w| w.trim_matches(|c| matches!(c, '[' | ']' | ',' | '(' | ')')))
                .filter(|w| w.starts_with("--"))
                .map(|w| w.split('=').next().unwrap_or(w).to_owned())
                .collect();
            found.push(flags);
            rest = after;
        }
    }
    found
}

/// The `eirl seed <sub>` commands of the Kubernetes workloads: (sub, flags).
fn manifest_commands() -> Vec<(String, Vec<String>)> {
    [
        ("learner-statefulset.yaml", "serve"),
        ("actors-job.yaml", "actor"),
    ]
    .iter()
    .map(|(file, expected)| {
        let c = container(&manifest(file), file);
        let args = args(&c, file);
        assert_eq!(
            args.get(..2),
            Some(&["seed".to_owned(), (*expected).to_owned()][..]),
            "{file}"
        );
        let flags = args[2..]
            .iter()
            .map(|a| {
                assert!(a.starts_with("--"), "{file}: `{a}` is not a --flag=value");
                a.split('=').next().unwrap_or(a).to_owned()
            })
            .collect();
        ((*expected).to_owned(), flags)
    })
    .collect()
}

/// Whether `help` documents `flag` (a whole word: `--resume` is not `--resume-latest`).
pub(crate) fn has_flag(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(i, _)| {
        !help[i + flag.len()..]
            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

#[test]
fn every_eirl_flag_in_the_deployment_exists() {
    let script = read(&root().join("deploy/slurm/seed_rank.sh"));
    let mut used: Vec<(String, String, Vec<String>)> = manifest_commands()
        .into_iter()
        .map(|(sub, flags)| ("deploy/k8s".to_owned(), sub, flags))
        .collect();
    let from_script = script_commands(&script);
    assert_eq!(
        from_script
            .iter()
            .map(|(s, _)| s.as_str())
            .collect::<Vec<_>>(),
        ["serve", "actor"],
        "seed_rank.sh"
    );
    used.extend(
        from_script
            .into_iter()
            .map(|(sub, flags)| ("deploy/slurm/seed_rank.sh".to_owned(), sub, flags)),
    );
    for (_, sub, flags) in &used {
        let needed: &[&str] = match sub.as_str() {
            "serve" => &["--listen", "--out", "--resume-latest"],
            _ => &["--connect", "--actor-id"],
        };
        for n in needed {
            assert!(flags.iter().any(|f| f == n), "{sub} without {n}: {flags:?}");
        }
    }
    // The commands the READMEs show.
    for file in ["README.md", "deploy/README.md", "python/README.md"] {
        let text = read(&root().join(file));
        for sub in ["serve", "actor"] {
            for flags in documented_flags(&text, &format!("eirl seed {sub}")) {
                used.push((file.to_owned(), sub.to_owned(), flags));
            }
        }
    }
    assert!(
        used.iter().any(|(f, s, fl)| f == "README.md"
            && s == "actor"
            && fl.contains(&"--exit-when-finished".to_owned())),
        "README.md's commands were not found"
    );
    for sub in ["serve", "actor"] {
        let out = Command::new(env!("CARGO_BIN_EXE_eirl"))
            .args(["seed", sub, "--help"])
            .output()
            .expect("run eirl");
        assert!(out.status.success(), "eirl seed {sub} --help failed");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(!has_flag(&help, "--no-such-flag"), "{help}");
        for (file, s, flags) in used.iter().filter(|(_, s, _)| s == sub) {
            for f in flags {
                assert!(
                    has_flag(&help, f),
                    "{file}: `eirl seed {s}` has no {f}:\n{help}"
                );
            }
        }
    }
}

#[test]
fn deployment_pieces_agree() {
    let service = manifest("learner-service.yaml");
    let learner = manifest("learner-statefulset.yaml");
    let jobs = manifest("actors-job.yaml");
    let secret = manifest(SECRET_EXAMPLE);
    let kustomization = manifest("kustomization.yaml");
    assert_eq!(str_at(&service["kind"], "kind"), "Service");
    assert_eq!(str_at(&learner["kind"], "kind"), "StatefulSet");
    assert_eq!(str_at(&jobs["kind"], "kind"), "Job");
    assert_eq!(str_at(&secret["kind"], "kind"), "Secret");

    // kustomization.yaml lists every manifest but the Secret example (whose placeholder would
    // overwrite a real token on every apply).
    let listed: BTreeSet<&str> = list(&kustomization["resources"], "resources")
        .iter()
        .map(|r| str_at(r, "resource"))
        .collect();
    assert_eq!(listed, APPLIED.iter().copied().collect(), "kustomization");
    let on_disk: BTreeSet<String> = std::fs::read_dir(root().join("deploy/k8s"))
        .expect("deploy/k8s")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml" && n != SECRET_EXAMPLE)
        .collect();
    assert_eq!(
        on_disk,
        APPLIED.iter().map(|s| (*s).to_owned()).collect(),
        "manifests not in kustomization.yaml"
    );

    // One gRPC port: the Service's, the learner's --listen and container port, the actors'
    // --connect (to the Service's name).
    let service_name = str_at(&service["metadata"]["name"], "service name");
    let ports = list(&service["spec"]["ports"], "service ports");
    assert_eq!(ports.len(), 1);
    let port = int_at(&ports[0]["port"], "service port");
    assert_eq!(port, 50051);
    let lc = container(&learner, "learner");
    let la = args(&lc, "learner");
    let listen = arg_value(&la, "--listen");
    assert_eq!(port_of(listen), port);
    assert!(listen.starts_with("0.0.0.0:"), "{listen}");
    let target = str_at(&ports[0]["targetPort"], "targetPort");
    let cport = list(&lc["ports"], "container ports")
        .iter()
        .find(|p| p["name"].as_str() == Some(target))
        .unwrap_or_else(|| panic!("no container port named {target}"));
    assert_eq!(int_at(&cport["containerPort"], "containerPort"), port);
    for probe in ["readinessProbe", "livenessProbe"] {
        let p = &lc[probe]["tcpSocket"]["port"];
        assert!(
            p.as_str() == Some(target) || p.as_i64() == Some(port),
            "{probe}: {p:?}"
        );
    }
    let ac = container(&jobs, "actor");
    let aa = args(&ac, "actor");
    let connect = arg_value(&aa, "--connect");
    assert_eq!(connect, format!("{service_name}:{port}"));
    assert_eq!(
        str_at(&learner["spec"]["serviceName"], "serviceName"),
        service_name
    );
    // The Service selects the learner's pods, not the actors'.
    let selector = service["spec"]["selector"].as_hash().expect("selector");
    let learner_labels = &learner["spec"]["template"]["metadata"]["labels"];
    let actor_labels = &jobs["spec"]["template"]["metadata"]["labels"];
    assert!(!selector.is_empty());
    for (k, v) in selector {
        assert_eq!(&learner_labels[str_at(k, "label")], v, "selector {k:?}");
    }
    assert!(
        selector
            .iter()
            .any(|(k, v)| &actor_labels[str_at(k, "label")] != v),
        "the Service selects the actors too"
    );

    // Both pods read EIRL_SEED_TOKEN from the same key of the Secret the example creates.
    let secret_name = str_at(&secret["metadata"]["name"], "secret name");
    let secret_keys: Vec<&str> = secret["stringData"]
        .as_hash()
        .expect("stringData")
        .keys()
        .map(|k| str_at(k, "key"))
        .collect();
    assert_eq!(secret_keys.len(), 1);
    for c in [&lc, &ac] {
        let r = &env_var(c, "EIRL_SEED_TOKEN")["valueFrom"]["secretKeyRef"];
        assert_eq!(str_at(&r["name"], "secretKeyRef.name"), secret_name);
        assert_eq!(str_at(&r["key"], "secretKeyRef.key"), secret_keys[0]);
        assert_eq!(str_at(&c["image"], "image"), "eirl:latest");
        assert!(!c["resources"]["requests"].is_badvalue(), "{c:?}");
        assert!(!c["resources"]["limits"].is_badvalue(), "{c:?}");
    }
    assert_eq!(
        str_at(&env_var(&lc, "RUST_LOG")["value"], "RUST_LOG"),
        "info"
    );
    let create = format!("kubectl create secret generic {secret_name}");
    let from = format!("--from-literal={}=", secret_keys[0]);
    for doc in ["deploy/README.md", "deploy/k8s/secret.example.yaml"] {
        let text = read(&root().join(doc)).replace("\\\n", " ");
        let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            joined.contains(&create) && joined.contains(&from),
            "{doc} has no `{create} ... {from}`"
        );
    }

    // The learner: one replica whose run directories (--out) live on its volume claim, and that
    // resumes the newest run when the pod is restarted.
    assert_eq!(int_at(&learner["spec"]["replicas"], "replicas"), 1);
    let claim = &list(&learner["spec"]["volumeClaimTemplates"], "claims")[0];
    let claim_name = str_at(&claim["metadata"]["name"], "claim name");
    let mount = list(&lc["volumeMounts"], "volumeMounts")
        .iter()
        .find(|m| m["name"].as_str() == Some(claim_name))
        .unwrap_or_else(|| panic!("claim {claim_name} not mounted"));
    let mount_path = str_at(&mount["mountPath"], "mountPath");
    let out = arg_value(&la, "--out");
    assert!(
        Path::new(out).starts_with(mount_path),
        "--out {out} is not on the volume at {mount_path}"
    );
    assert!(la.iter().any(|a| a == "--resume-latest"), "{la:?}");

    // The actors: an Indexed Job, one actor per index, the index as --actor-id.
    let spec = &jobs["spec"];
    assert_eq!(str_at(&spec["completionMode"], "completionMode"), "Indexed");
    let n = int_at(&spec["parallelism"], "parallelism");
    assert!(n >= 1);
    assert_eq!(int_at(&spec["completions"], "completions"), n);
    let restart = str_at(&spec["template"]["spec"]["restartPolicy"], "restartPolicy");
    assert!(
        restart == "OnFailure" || !spec["podFailurePolicy"].is_badvalue(),
        "a failed actor pod is not replaced: {restart}"
    );
    let id = arg_value(&aa, "--actor-id");
    let var = id
        .strip_prefix("$(")
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or_else(|| panic!("--actor-id={id} is not $(VAR)"));
    if var != "JOB_COMPLETION_INDEX" {
        let field = &env_var(&ac, var)["valueFrom"]["fieldRef"]["fieldPath"];
        assert_eq!(
            str_at(field, "fieldPath"),
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        );
    }
    // Distinct indices give distinct seeds.
    let seed = arg_value(&aa, "--seed");
    assert!(seed.contains(&format!("$({var})")), "--seed={seed}");
    let seeds: BTreeSet<String> = (0..n)
        .map(|i| seed.replace(&format!("$({var})"), &i.to_string()))
        .collect();
    assert_eq!(seeds.len() as i64, n);
    for s in &seeds {
        s.parse::<u64>()
            .unwrap_or_else(|e| panic!("seed {s} is not a u64: {e}"));
    }

    // The image: built with the workspace's rust-version, run as the non-root user the pods
    // expect, with the binary as entrypoint (the manifests' args start at `seed`).
    let docker = read(&root().join("Dockerfile"));
    let cargo = read(&root().join("Cargo.toml"));
    let msrv = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"'))
        .expect("rust-version in Cargo.toml");
    assert!(
        docker.contains(&format!("ARG RUST_VERSION={msrv}\n")),
        "Dockerfile's RUST_VERSION is not {msrv}"
    );
    assert!(docker.contains("cargo build --release --locked --bin eirl"));
    assert!(docker.contains("ENTRYPOINT [\"eirl\"]"));
    let user = docker
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER line");
    let uid = user.split(':').next().unwrap_or(user);
    assert_ne!(uid, "0");
    for w in [&learner, &jobs] {
        let sc = &w["spec"]["template"]["spec"]["securityContext"];
        assert_eq!(
            sc["runAsUser"].as_i64().map(|u| u.to_string()).as_deref(),
            Some(uid)
        );
        assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
    }
    // .dockerignore keeps build outputs out and everything the build reads in.
    let ignore = read(&root().join(".dockerignore"));
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for p in ["target/", ".git/"] {
        assert!(patterns.contains(&p), ".dockerignore lacks {p}");
    }
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "crates",
        "configs",
        "python",
        "tests",
        "xtask",
    ] {
        assert!(
            !patterns
                .iter()
                .any(|p| p.trim_end_matches('/') == needed || p.starts_with(&format!("{needed}/"))),
            ".dockerignore drops {needed}, which the build needs"
        );
    }
}

#[test]
fn shell_scripts_parse() {
    for script in ["deploy/slurm/seed.sbatch", "deploy/slurm/seed_rank.sh"] {
        let path = root().join(script);
        let out = Command::new("bash")
            .arg("-n")
            .arg(&path)
            .output()
            .expect("run bash");
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "{script} is not executable");
    }
}

/// A folder for PATH with `name` as a shell script of `body`.
fn fake_tool(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write tool");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// One Slurm task (`seed_rank.sh`) in its own process group, killed with it when dropped.
struct Rank {
    child: Child,
    name: String,
    status: Option<ExitStatus>,
}

impl Rank {
    fn spawn(dir: &Path, env: &[(&str, String)], procid: u32, name: &str) -> Rank {
        let file =
            |ext: &str| std::fs::File::create(dir.join(format!("{name}.{ext}"))).expect("log file");
        let mut cmd = Command::new("bash");
        cmd.arg(root().join("deploy/slurm/seed_rank.sh"))
            .current_dir(dir)
            .env_remove("EIRL_SEED_TOKEN")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("SLURM_PROCID", procid.to_string())
            .stdin(Stdio::null())
            .stdout(file("out"))
            .stderr(file("err"))
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Rank {
            child,
            name: name.to_owned(),
            status: None,
        }
    }

    /// The exit status, if the task has exited.
    fn poll(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("wait");
        }
        self.status
    }

    fn wait(&mut self, limit: Duration, dir: &Path) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.poll() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still running after {limit:?}\n{}",
                self.name,
                logs(dir)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Panics unless this actor task ended the normal way, with status 0: its actor was told
    /// the learner finished (`--exit-when-finished`), or gave up on a learner that had gone.
    fn assert_actor_ended(&self, status: ExitStatus, dir: &Path) {
        let err = log(dir, &format!("{}.err", self.name));
        assert!(
            status.success()
                && (err.contains("finished training; exiting") || err.contains("is gone; exiting")),
            "{}: {status}\n{}",
            self.name,
            logs(dir)
        );
    }
}

impl Drop for Rank {
    fn drop(&mut self) {
        if self.status.is_none() {
            // The whole group: the task's shell and the eirl process it started.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .status();
            let _ = self.child.wait();
        }
    }
}

fn log(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

fn logs(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".out") || n.ends_with(".err"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .map(|n| format!("--- {n}:\n{}", log(dir, n)))
        .collect()
}

/// Runs the learner task and `actors` actor tasks of `seed_rank.sh` until the learner is done
/// and the actors have given up on it; returns the learner's stdout and stderr.
fn slurm_job(dir: &Path, env: &[(&str, String)], actors: u32, tag: &str) -> (String, String) {
    let learner_name = format!("{tag}-rank0");
    let mut learner = Rank::spawn(dir, env, 0, &learner_name);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log(dir, &format!("{learner_name}.err")).contains("inference server listening") {
        assert!(
            Instant::now() < deadline,
            "the learner task is not listening\n{}",
            logs(dir)
        );
        if let Some(status) = learner.poll() {
            panic!("the learner task exited: {status}\n{}", logs(dir));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut ranks: Vec<Rank> = (1..=actors)
        .map(|p| Rank::spawn(dir, env, p, &format!("{tag}-rank{p}")))
        .collect();
    // An actor task that fails while the learner trains (a flag it lacks, a refused token)
    // fails the test at once instead of leaving the learner waiting for experience. (One that
    // has given up on a learner that is done serving but still writing its files is fine.)
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = learner.poll() {
            break status;
        }
        for r in &mut ranks {
            if let Some(status) = r.poll() {
                r.assert_actor_ended(status, dir);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the learner task still running after 60 s\n{}",
            logs(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the learner task failed\n{}", logs(dir));
    // When the learner finishes, its connected actors exit at once (--exit-when-finished); one
    // that was reconnecting gives up after EIRL_SEED_GIVE_UP_AFTER seconds. Either way the task
    // exits 0: the normal end of a run.
    for r in &mut ranks {
        let status = r.wait(Duration::from_secs(30), dir);
        r.assert_actor_ended(status, dir);
    }
    assert!(
        ranks
            .iter()
            .any(|r| log(dir, &format!("{}.err", r.name)).contains("finished training; exiting")),
        "no actor task was told that the learner finished\n{}",
        logs(dir)
    );
    (
        log(dir, &format!("{learner_name}.out")),
        log(dir, &format!("{learner_name}.err")),
    )
}

fn done_steps(out: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix("done: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no done line in {out}"))
}

#[test]
fn slurm_tasks_train_and_resume_on_this_machine() {
    const STEPS: u64 = 40_000;
    const ENVS: u64 = 4;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    // The allocation's first host, as `scontrol show hostnames` prints it.
    fake_tool(&bin, "scontrol", "echo 127.0.0.1");
    let mut env = vec![
        ("PATH", path_with(&bin)),
        ("EIRL_BIN", env!("CARGO_BIN_EXE_eirl").to_owned()),
        ("EIRL_SEED_TOKEN", "slurm-task-test-token".to_owned()),
        ("EIRL_SEED_PORT", super::free_port().to_string()),
        ("EIRL_SEED_STEPS", STEPS.to_string()),
        ("EIRL_SEED_ENVS", ENVS.to_string()),
        ("EIRL_SEED_OUT", "runs".to_owned()),
        ("EIRL_SEED_GIVE_UP_AFTER", "3".to_owned()),
        ("SLURM_JOB_ID", "4242".to_owned()),
        ("SLURM_JOB_NODELIST", "node[1-2]".to_owned()),
        ("SLURM_NTASKS", "3".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    let (out, err) = slurm_job(dir, &env, 2, "first");
    assert!(done_steps(&out) >= STEPS, "{out}");
    let summary = out
        .lines()
        .find(|l| l.starts_with("inference server:"))
        .unwrap_or_else(|| panic!("no server summary\n{}", logs(dir)));
    assert!(stat(summary, "rows_served") >= STEPS, "{summary}");
    // Both actors were connected and served until the end.
    assert_eq!(stat(summary, "active_slots"), 2 * ENVS, "{summary}");
    assert!(err.contains("listening on 0.0.0.0:"), "{err}");
    let run = super::only_run_dir(&dir.join("runs"));
    assert!(run.join("checkpoints/latest.safetensors").is_file());

    // A requeued job runs the same tasks again: the learner continues that run.
    for (k, v) in &mut env {
        if *k == "EIRL_SEED_STEPS" {
            *v = (STEPS + 20_000).to_string();
        }
    }
    let (out, err) = slurm_job(dir, &env, 1, "requeued");
    assert!(err.contains("--resume-latest: resuming"), "{err}");
    let steps = done_steps(&out);
    assert!(steps < STEPS, "the requeued learner started over: {out}");
    assert_eq!(super::only_run_dir(&dir.join("runs")), run);
}

#[test]
fn sbatch_generates_a_token_and_runs_one_srun() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    fake_tool(&bin, "scontrol", "echo 127.0.0.1");
    // Records its arguments and what the tasks would get in their environment.
    fake_tool(
        &bin,
        "srun",
        "printf '%s\\n' \"$*\" \"$EIRL_SEED_TOKEN\" >> \"$SRUN_RECORD\"",
    );
    let sbatch = |ntasks: &str, record: &Path| {
        Command::new("bash")
            .arg(root().join("deploy/slurm/seed.sbatch"))
            .current_dir(dir)
            .env_remove("EIRL_SEED_TOKEN")
            .env_remove("EIRL_RANK_SCRIPT")
            .env("PATH", path_with(&bin))
            .env("SRUN_RECORD", record)
            .env("SLURM_SUBMIT_DIR", root())
            .env("SLURM_JOB_NODELIST", "node[1-3]")
            .env("SLURM_NTASKS", ntasks)
            .env("SLURM_CPUS_PER_TASK", "2")
            .output()
            .expect("run seed.sbatch")
    };
    let mut tokens = Vec::new();
    for i in 0..2 {
        let record = dir.join(format!("srun{i}.txt"));
        let out = sbatch("9", &record);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("127.0.0.1:50051, 8 actors"), "{stdout}");
        let lines: Vec<String> = read(&record).lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 2, "one srun: {lines:?}");
        let rank_script = root().join("deploy/slurm/seed_rank.sh");
        assert_eq!(
            lines[0],
            format!(
                "--kill-on-bad-exit=0 --ntasks=9 --cpus-per-task=2 bash {}",
                rank_script.display()
            )
        );
        let token = lines[1].clone();
        assert!(
            token.len() >= 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
            "token {token:?}"
        );
        assert!(!stdout.contains(&token), "the token is printed");
        tokens.push(token);
    }
    assert_ne!(tokens[0], tokens[1], "every job gets its own token");
    let out = sbatch("1", &dir.join("none.txt"));
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.join("none.txt").exists());
}
