//! Machine description for BENCHMARKS.md.

use std::process::Command;

pub struct MachineInfo {
    pub cpu: String,
    pub cores: usize,
    pub rustc: String,
    pub date: String,
}

pub fn info() -> MachineInfo {
    MachineInfo {
        cpu: cpu_model().unwrap_or_else(|| "unknown CPU".to_string()),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        rustc: rustc_version().unwrap_or_else(|| "unknown rustc".to_string()),
        date: chrono::Local::now()
            .format("%Y-%m-%d %H:%M %:z")
            .to_string(),
    }
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

fn rustc_version() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("-V").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
