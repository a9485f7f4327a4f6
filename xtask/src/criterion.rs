//! Reading criterion's saved results: `<target>/criterion/**/new/{estimates,benchmark}.json`.

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throughput {
    Elements(u64),
    Bytes(u64),
}

#[derive(Debug, Clone)]
pub struct BenchResult {
    /// Criterion's group id (the whole id for an ungrouped bench).
    pub group: String,
    /// `group/function/parameter`, as criterion prints it.
    pub full_id: String,
    /// Mean time per iteration, nanoseconds.
    pub mean_ns: f64,
    pub throughput: Option<Throughput>,
    /// When the result was written; benches of one run sort by it into execution order.
    pub written: SystemTime,
}

impl BenchResult {
    /// Throughput per second, with its unit.
    pub fn per_second(&self) -> Option<(f64, &'static str)> {
        let secs = self.mean_ns * 1e-9;
        match self.throughput? {
            _ if secs <= 0.0 => None,
            Throughput::Elements(n) => Some((n as f64 / secs, "elem/s")),
            Throughput::Bytes(n) => Some((n as f64 / secs, "B/s")),
        }
    }
}

/// Every result under `criterion_dir` written at or after `since`, in execution order.
pub fn collect(criterion_dir: &Path, since: Option<SystemTime>) -> Result<Vec<BenchResult>> {
    let mut results = Vec::new();
    if criterion_dir.is_dir() {
        walk(criterion_dir, &mut results)?;
    }
    if let Some(since) = since {
        results.retain(|r| r.written >= since);
    }
    results.sort_by_key(|r| r.written);
    Ok(results)
}

fn walk(dir: &Path, out: &mut Vec<BenchResult>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        match path.file_name().and_then(|n| n.to_str()) {
            Some("new") => {
                if let Some(result) = read_result(&path)? {
                    out.push(result);
                }
            }
            // Criterion's HTML report and the previous run's copy are not results.
            Some("report" | "base" | "change") => {}
            _ => walk(&path, out)?,
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

fn read_result(new_dir: &Path) -> Result<Option<BenchResult>> {
    let estimates_path = new_dir.join("estimates.json");
    let benchmark_path = new_dir.join("benchmark.json");
    if !estimates_path.is_file() || !benchmark_path.is_file() {
        return Ok(None);
    }
    let estimates = read_json(&estimates_path)?;
    let benchmark = read_json(&benchmark_path)?;
    let Some(mean_ns) = estimates["mean"]["point_estimate"].as_f64() else {
        return Ok(None);
    };
    let text = |key: &str| benchmark[key].as_str().map(str::to_string);
    let full_id = text("full_id")
        .or_else(|| text("title"))
        .unwrap_or_default();
    let group = text("group_id").unwrap_or_else(|| full_id.clone());
    let written = fs::metadata(&estimates_path)?.modified()?;
    Ok(Some(BenchResult {
        group,
        full_id,
        mean_ns,
        throughput: parse_throughput(&benchmark["throughput"]),
        written,
    }))
}

/// `{"Elements": n}`, `{"Bytes": n}`, `{"BytesDecimal": n}`, or criterion ≥0.6's
/// `{"ElementsAndBytes": {"elements": n, "bytes": m}}`.
fn parse_throughput(v: &Value) -> Option<Throughput> {
    let obj = v.as_object()?;
    let (kind, n) = obj.iter().next()?;
    match kind.as_str() {
        "Elements" => n.as_u64().map(Throughput::Elements),
        "Bytes" | "BytesDecimal" => n.as_u64().map(Throughput::Bytes),
        "ElementsAndBytes" => n["elements"].as_u64().map(Throughput::Elements),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_variants() {
        let parse = |s: &str| {
            serde_json::from_str::<Value>(s)
                .ok()
                .and_then(|v| parse_throughput(&v))
        };
        assert_eq!(
            parse(r#"{"Elements": 25600}"#),
            Some(Throughput::Elements(25600))
        );
        assert_eq!(parse(r#"{"BytesDecimal": 8}"#), Some(Throughput::Bytes(8)));
        assert_eq!(parse("null"), None);
    }

    #[test]
    fn collects_results_from_a_criterion_tree() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path();
        let new = dir.join("returns/vtrace/T100_B256/new");
        fs::create_dir_all(&new)?;
        fs::write(
            new.join("estimates.json"),
            r#"{"mean":{"point_estimate":2000.0,"standard_error":1.0}}"#,
        )?;
        fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"returns","function_id":"vtrace","value_str":"T100_B256",
               "throughput":{"Elements":25600},"full_id":"returns/vtrace/T100_B256"}"#,
        )?;
        fs::create_dir_all(dir.join("report"))?;
        let results = collect(dir, None)?;
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].full_id, "returns/vtrace/T100_B256");
        assert_eq!(results[0].group, "returns");
        let (rate, unit) = results[0].per_second().unwrap_or((0.0, ""));
        assert!((rate - 1.28e10).abs() < 1.0 && unit == "elem/s");
        Ok(())
    }
}
