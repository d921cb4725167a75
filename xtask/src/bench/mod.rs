//! `cargo xtask bench`: speed and memory goals, measured in release builds.
//!
//! Each benchmark is an example program of the crate it measures (`crates/<crate>/examples/`),
//! built with `--release` and run here in turn. It prints what it measured next to its goal and
//! exits non-zero when a goal is missed.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// (name, package, example, what it measures)
const BENCHES: &[(&str, &str, &str, &str)] = &[
    ("simulator", "easyvista-sim", "bench_sim", "list pages and ticket creations per second"),
    ("follow", "ta-easyvista", "bench_follow", "one delta sync cycle over 100,000 open tickets"),
    (
        "fulfill",
        "ticket-agent",
        "bench_fulfill",
        "10,000 orders into the simulator vs a bare client",
    ),
    (
        "export",
        "ticket-agent",
        "bench_export",
        "export 100,000 and 1,000,000 employees vs a bare client",
    ),
];

pub fn run(names: &[String]) -> Result<()> {
    let selected: Vec<_> = BENCHES
        .iter()
        .filter(|(name, ..)| names.is_empty() || names.iter().any(|n| n == name))
        .collect();
    if selected.is_empty() {
        let known: Vec<&str> = BENCHES.iter().map(|(name, ..)| *name).collect();
        bail!("no benchmark matches {names:?}; known: {known:?}");
    }
    let mut failed = Vec::new();
    for (name, package, example, what) in selected {
        println!("== {name}: {what}");
        // Some benchmarks run the package's release binaries: build those first.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let built = Command::new(&cargo)
            .args(["build", "--quiet", "--release", "--package", package, "--bins"])
            .status()
            .with_context(|| format!("cannot build {package}"))?;
        if !built.success() {
            failed.push(*name);
            continue;
        }
        let status = Command::new(&cargo)
            .args(["run", "--quiet", "--release", "--package", package, "--example", example])
            .status()
            .with_context(|| format!("cannot start benchmark {name}"))?;
        if !status.success() {
            failed.push(*name);
        }
    }
    if !failed.is_empty() {
        bail!("benchmarks missed their goals or failed: {failed:?}");
    }
    Ok(())
}
