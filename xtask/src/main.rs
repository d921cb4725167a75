//! Developer tasks: `cargo xtask ci`, `cargo xtask layers`, `cargo xtask bench`.
//!
//! Nothing here ships in the agent; it only builds, checks and measures the workspace.

mod bench;
mod layers;

use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("layers") => layers::check(),
        Some("ci") => ci(),
        Some("bench") => bench::run(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <layers|ci|bench [NAME...]>");
            eprintln!("  layers  check that every crate depends only on the layers below it");
            eprintln!("  ci      the same checks as .ci/run: layers, tests, fmt, clippy");
            eprintln!("  bench   run the benchmarks (all, or the ones named)");
            bail!("no task given")
        }
    }
}

/// Runs what CI runs, in the same order, stopping at the first failure.
fn ci() -> Result<()> {
    layers::check()?;
    cargo(&["test", "--workspace"])?;
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])
}

fn cargo(args: &[&str]) -> Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .status()
        .with_context(|| format!("cannot start cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed", args.join(" "));
    }
    Ok(())
}
