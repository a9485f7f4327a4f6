//! Every JSON file in tests/data/rlax (including files added later) is checked against our
//! implementation, in f64 (≤ 1e-10 abs + rel) and in f32 (≤ 1e-4).

use eirl_returns as er;
use eirl_testkit::{Tol, isclose};
use num_traits::Float;
use serde_json::{Map, Value};
use std::path::PathBuf;

type Args = Map<String, Value>;
type Outputs<F> = Vec<(&'static str, Vec<F>)>;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/rlax")
}

/// Typed access to one case's arguments; every argument read is recorded so that an argument we
/// do not understand fails the case instead of being silently ignored.
struct A<'a> {
    args: &'a Args,
    used: std::cell::RefCell<Vec<&'static str>>,
}

impl<'a> A<'a> {
    fn new(args: &'a Args) -> Self {
        A {
            args,
            used: Default::default(),
        }
    }
    fn get(&self, k: &'static str) -> Result<&'a Value, String> {
        self.used.borrow_mut().push(k);
        self.args
            .get(k)
            .ok_or_else(|| format!("missing argument `{k}`"))
    }
    fn has(&self, k: &'static str) -> bool {
        self.used.borrow_mut().push(k);
        self.args.contains_key(k)
    }
    fn f<F: Float>(&self, k: &'static str) -> Result<F, String> {
        num::<F>(self.get(k)?).ok_or_else(|| format!("`{k}` is not a number"))
    }
    fn v<F: Float>(&self, k: &'static str) -> Result<Vec<F>, String> {
        vec_of(self.get(k)?).ok_or_else(|| format!("`{k}` is not a list of numbers"))
    }
    /// Row-major flattening of a 2-d list.
    fn m<F: Float>(&self, k: &'static str) -> Result<Vec<F>, String> {
        let rows = self
            .get(k)?
            .as_array()
            .ok_or_else(|| format!("`{k}` is not a list"))?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(
                vec_of::<F>(row).ok_or_else(|| format!("`{k}` is not a 2-d list of numbers"))?,
            );
        }
        Ok(out)
    }
    fn ints(&self, k: &'static str) -> Result<Vec<usize>, String> {
        let arr = self
            .get(k)?
            .as_array()
            .ok_or_else(|| format!("`{k}` is not a list"))?;
        arr.iter()
            .map(|x| {
                x.as_u64()
                    .map(|u| u as usize)
                    .ok_or_else(|| format!("`{k}` holds a non-index"))
            })
            .collect()
    }
    fn int(&self, k: &'static str) -> Result<usize, String> {
        self.get(k)?
            .as_u64()
            .map(|u| u as usize)
            .ok_or_else(|| format!("`{k}` is not an index"))
    }
    /// A λ that may be a scalar or a per-step list.
    fn lambda<F: Float>(&self, k: &'static str) -> Result<LambdaArg<F>, String> {
        let v = self.get(k)?;
        if let Some(x) = num::<F>(v) {
            Ok(LambdaArg::Const(x))
        } else {
            Ok(LambdaArg::PerStep(vec_of(v).ok_or_else(|| {
                format!("`{k}` is neither scalar nor list")
            })?))
        }
    }
    fn lambda_or<F: Float>(&self, k: &'static str, default: F) -> Result<LambdaArg<F>, String> {
        if self.has(k) {
            self.lambda(k)
        } else {
            Ok(LambdaArg::Const(default))
        }
    }
    fn f_or<F: Float>(&self, k: &'static str, default: F) -> Result<F, String> {
        if self.has(k) { self.f(k) } else { Ok(default) }
    }
    /// Arguments that do not change values (gradient plumbing) are accepted; anything else unread
    /// is an error.
    fn finish(&self) -> Result<(), String> {
        let used = self.used.borrow();
        let unknown: Vec<&String> = self
            .args
            .keys()
            .filter(|k| !used.contains(&k.as_str()) && k.as_str() != "stop_target_gradients")
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(format!("unhandled arguments {unknown:?}"))
        }
    }
}

enum LambdaArg<F> {
    Const(F),
    PerStep(Vec<F>),
}

impl<F: Float> LambdaArg<F> {
    fn as_lambda(&self) -> er::Lambda<'_, F> {
        match self {
            LambdaArg::Const(l) => er::Lambda::Const(*l),
            LambdaArg::PerStep(v) => er::Lambda::PerStep(v),
        }
    }
    fn scalar(&self) -> Result<F, String> {
        match self {
            LambdaArg::Const(l) => Ok(*l),
            LambdaArg::PerStep(_) => {
                Err("a per-step lambda_ is not supported by this function".into())
            }
        }
    }
}

fn num<F: Float>(v: &Value) -> Option<F> {
    v.as_f64().and_then(F::from)
}

fn vec_of<F: Float>(v: &Value) -> Option<Vec<F>> {
    v.as_array()?.iter().map(num).collect()
}

fn e(err: er::ReturnsError) -> String {
    format!("eirl-returns refused the inputs: {err}")
}

/// Runs rlax's `function` on `args` with our implementation, in precision F.
fn run<F: Float>(function: &str, args: &Args) -> Result<Outputs<F>, String> {
    let a = A::new(args);
    let out: Outputs<F> = match function {
        "discounted_returns" => {
            let (r, d) = (a.v::<F>("r_t")?, a.v::<F>("discount_t")?);
            // rlax accepts v_t as a scalar or a vector; only its last entry bootstraps.
            let v = match a.f::<F>("v_t") {
                Ok(x) => x,
                Err(_) => *a.v::<F>("v_t")?.last().ok_or("empty v_t")?,
            };
            vec![("returns", er::discounted_returns(&r, &d, v).map_err(e)?)]
        }
        "lambda_returns" => {
            let lam = a.lambda_or("lambda_", F::one())?;
            let g = er::lambda_returns(
                &a.v::<F>("r_t")?,
                &a.v("discount_t")?,
                &a.v("v_t")?,
                lam.as_lambda(),
            );
            vec![("returns", g.map_err(e)?)]
        }
        "n_step_bootstrapped_returns" => {
            let lam = a.lambda_or("lambda_t", F::one())?;
            let g = er::n_step_bootstrapped_returns(
                &a.v::<F>("r_t")?,
                &a.v("discount_t")?,
                &a.v("v_t")?,
                a.int("n")?,
                lam.as_lambda(),
            );
            vec![("returns", g.map_err(e)?)]
        }
        "truncated_generalized_advantage_estimation" => {
            let lam = a.lambda("lambda_")?;
            let g = er::truncated_generalized_advantage_estimation(
                &a.v::<F>("r_t")?,
                &a.v("discount_t")?,
                lam.as_lambda(),
                &a.v("values")?,
            );
            vec![("advantages", g.map_err(e)?)]
        }
        "td_learning" => {
            let x = er::td_learning(
                a.f::<F>("v_tm1")?,
                a.f("r_t")?,
                a.f("discount_t")?,
                a.f("v_t")?,
            );
            vec![("error", vec![x])]
        }
        "td_lambda" => {
            let lam = a.lambda("lambda_")?;
            let g = er::td_lambda(
                &a.v::<F>("v_tm1")?,
                &a.v("r_t")?,
                &a.v("discount_t")?,
                &a.v("v_t")?,
                lam.as_lambda(),
            );
            vec![("errors", g.map_err(e)?)]
        }
        "q_learning" => {
            let x = er::q_learning(
                &a.v::<F>("q_tm1")?,
                a.int("a_tm1")?,
                a.f("r_t")?,
                a.f("discount_t")?,
                &a.v("q_t")?,
            );
            vec![("error", vec![x.map_err(e)?])]
        }
        "double_q_learning" => {
            let x = er::double_q_learning(
                &a.v::<F>("q_tm1")?,
                a.int("a_tm1")?,
                a.f("r_t")?,
                a.f("discount_t")?,
                &a.v("q_t_value")?,
                &a.v("q_t_selector")?,
            );
            vec![("error", vec![x.map_err(e)?])]
        }
        "general_off_policy_returns_from_q_and_v" => {
            let g = er::general_off_policy_returns_from_q_and_v(
                &a.v::<F>("q_t")?,
                &a.v("v_t")?,
                &a.v("r_t")?,
                &a.v("discount_t")?,
                &a.v("c_t")?,
            );
            vec![("returns", g.map_err(e)?)]
        }
        "general_off_policy_returns_from_action_values" => {
            let g = er::general_off_policy_returns_from_action_values(
                &a.m::<F>("q_t")?,
                &a.ints("a_t")?,
                &a.v("r_t")?,
                &a.v("discount_t")?,
                &a.v("c_t")?,
                &a.m("pi_t")?,
            );
            vec![("returns", g.map_err(e)?)]
        }
        "retrace" => {
            let eps = a.f_or("eps", F::from(1e-8).ok_or("eps")?)?;
            let g = er::retrace(
                &a.m::<F>("q_tm1")?,
                &a.m("q_t")?,
                &a.ints("a_tm1")?,
                &a.ints("a_t")?,
                &a.v("r_t")?,
                &a.v("discount_t")?,
                &a.m("pi_t")?,
                &a.v("mu_t")?,
                a.f("lambda_")?,
                eps,
            );
            vec![("errors", g.map_err(e)?)]
        }
        "retrace_continuous" => {
            let lam = a.lambda("lambda_")?;
            let g = er::retrace_continuous(
                &a.v::<F>("q_tm1")?,
                &a.v("q_t")?,
                &a.v("v_t")?,
                &a.v("r_t")?,
                &a.v("discount_t")?,
                &a.v("log_rhos")?,
                lam.as_lambda(),
            );
            vec![("errors", g.map_err(e)?)]
        }
        "vtrace"
        | "leaky_vtrace"
        | "vtrace_td_error_and_advantage"
        | "leaky_vtrace_td_error_and_advantage" => {
            let leaky = function.starts_with("leaky");
            let with_adv = function.ends_with("advantage");
            let one = F::one();
            let params = er::VTraceParams {
                lambda: a.lambda_or("lambda_", one)?.scalar()?,
                clip_rho_threshold: a.f_or("clip_rho_threshold", one)?,
                clip_pg_rho_threshold: if with_adv {
                    a.f_or("clip_pg_rho_threshold", one)?
                } else {
                    one
                },
                alpha: if leaky {
                    // rlax names it `alpha_` in leaky_vtrace and `alpha` in the advantage variant.
                    if a.has("alpha_") {
                        a.f("alpha_")?
                    } else {
                        a.f_or("alpha", one)?
                    }
                } else {
                    one
                },
                pg_bootstrap: er::PgBootstrap::Rlax,
            };
            let (vm, vt, r, d, rho) = (
                a.v::<F>("v_tm1")?,
                a.v("v_t")?,
                a.v("r_t")?,
                a.v("discount_t")?,
                a.v("rho_tm1")?,
            );
            if with_adv {
                let o = er::vtrace_td_error_and_advantage(&vm, &vt, &r, &d, &rho, &params)
                    .map_err(e)?;
                vec![
                    ("errors", o.errors),
                    ("pg_advantage", o.pg_advantage),
                    ("q_estimate", o.q_estimate),
                ]
            } else {
                vec![(
                    "errors",
                    er::vtrace(&vm, &vt, &r, &d, &rho, &params).map_err(e)?,
                )]
            }
        }
        other => {
            return Err(format!(
                "unknown rlax function `{other}`: add it to the dispatcher in tests/it/conformance.rs"
            ));
        }
    };
    a.finish()?;
    Ok(out)
}

/// Expected outputs, keyed like [`run`]'s (a single unnamed value matches a single output).
fn expected(v: &Value) -> Result<Vec<(String, Vec<f64>)>, String> {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| {
                Ok((
                    k.clone(),
                    vec_or_scalar(x).ok_or(format!("expected.{k} is not numeric"))?,
                ))
            })
            .collect(),
        x => Ok(vec![(
            String::new(),
            vec_or_scalar(x).ok_or("expected is not numeric")?,
        )]),
    }
}

fn vec_or_scalar(v: &Value) -> Option<Vec<f64>> {
    v.as_f64().map(|x| vec![x]).or_else(|| vec_of::<f64>(v))
}

fn compare<F: Float + std::fmt::Debug>(
    got: &Outputs<F>,
    want: &[(String, Vec<f64>)],
    tol: Tol,
) -> Result<(), String> {
    if want.len() == 1 && want[0].0.is_empty() {
        if got.len() != 1 {
            return Err(format!("{} outputs for one expected value", got.len()));
        }
    } else if got.len() != want.len() {
        return Err(format!(
            "outputs {:?} vs expected {:?}",
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            want.iter().map(|w| &w.0).collect::<Vec<_>>()
        ));
    }
    for (name, exp) in want {
        let (label, act) = if name.is_empty() {
            (got[0].0, &got[0].1)
        } else {
            let g = got
                .iter()
                .find(|g| g.0 == name)
                .ok_or(format!("no output `{name}`"))?;
            (g.0, &g.1)
        };
        if act.len() != exp.len() {
            return Err(format!(
                "`{label}`: length {} vs expected {}",
                act.len(),
                exp.len()
            ));
        }
        for (i, (&x, &y)) in act.iter().zip(exp).enumerate() {
            let x = x.to_f64().unwrap_or(f64::NAN);
            if !isclose(x, y, tol) {
                return Err(format!(
                    "`{label}`[{i}]: got {x:e}, rlax {y:e} (atol {}, rtol {})",
                    tol.atol, tol.rtol
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn every_rlax_vector_file_matches() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data/rlax exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 15,
        "expected the 15 rlax vector files, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    let mut checked = 0usize;
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable vector file");
        let doc: Value = serde_json::from_str(&text).expect("valid JSON");
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(function) = doc["function"].as_str() else {
            failures.push(format!("{file}: no `function` field"));
            continue;
        };
        let Some(cases) = doc["cases"].as_array().filter(|c| !c.is_empty()) else {
            failures.push(format!("{file}: no cases"));
            continue;
        };
        for case in cases {
            let name = case["name"].as_str().unwrap_or("?");
            let Some(args) = case["args"].as_object() else {
                failures.push(format!("{file}/{name}: args is not an object"));
                continue;
            };
            let result = expected(&case["expected"]).and_then(|want| {
                let r64 = run::<f64>(function, args).and_then(|g| compare(&g, &want, Tol::F64));
                let r32 = run::<f32>(function, args).and_then(|g| compare(&g, &want, Tol::F32));
                r64.map_err(|m| format!("f64: {m}"))
                    .and(r32.map_err(|m| format!("f32: {m}")))
            });
            match result {
                Ok(()) => checked += 1,
                Err(m) => failures.push(format!("{file}/{name} ({function}): {m}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} rlax case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "rlax conformance: {checked} cases in {} files, f64 and f32",
        files.len()
    );
}

#[test]
fn unknown_function_is_reported() {
    let args = Args::new();
    let err = run::<f64>("no_such_estimator", &args).unwrap_err();
    assert!(
        err.contains("unknown rlax function `no_such_estimator`"),
        "{err}"
    );
}

#[test]
fn unhandled_argument_is_reported() {
    let mut args = Args::new();
    args.insert("v_tm1".into(), 0.0.into());
    args.insert("r_t".into(), 1.0.into());
    args.insert("discount_t".into(), 0.5.into());
    args.insert("v_t".into(), 2.0.into());
    args.insert("sample_mask".into(), true.into());
    let err = run::<f64>("td_learning", &args).unwrap_err();
    assert!(err.contains("sample_mask"), "{err}");
}
