//! Shared by the benchmarks that run the release `ticket-agent` binary: finding it, and running
//! one command while watching its peak memory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The release binary beside the running example (`target/release/examples/…` →
/// `target/release/`); `cargo xtask bench` builds it first.
pub fn agent_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let binary = exe.parent().and_then(Path::parent).unwrap().join("ticket-agent");
    assert!(
        binary.exists(),
        "build it first: cargo build --release -p ticket-agent ({})",
        binary.display()
    );
    binary
}

/// Runs `ticket-agent --config DIR <args>` to its end; returns how long it took and its peak
/// resident memory in KiB, read from /proc (VmHWM) while it runs.
pub async fn run_measured(binary: &Path, dir: &Path, args: &[&str]) -> (Duration, u64) {
    let start = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .arg("--config")
        .arg(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the agent starts");
    let status_file = format!("/proc/{}/status", child.id().unwrap());
    let mut peak = 0;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "ticket-agent {args:?} failed: {status}");
            break;
        }
        if let Some(hwm) =
            std::fs::read_to_string(&status_file).ok().as_deref().and_then(high_water_mark)
        {
            peak = peak.max(hwm);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (start.elapsed(), peak)
}

fn high_water_mark(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
