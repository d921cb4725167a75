//! The layering check: every workspace crate may depend only on the layers below it.
//!
//! domain ← ports ← use cases ← adapters ← the `ticket-agent` binary. The rule is read from
//! `cargo metadata`, so a wrong edge added to any Cargo.toml fails `cargo xtask layers` (and CI).

use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The layer of each workspace crate; a crate missing here fails the check until it is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Domain,
    Ports,
    UseCases,
    Adapter,
    Binary,
    Tooling,
}

fn layer_of(package: &str) -> Option<Layer> {
    Some(match package {
        "ta-domain" => Layer::Domain,
        "ta-ports" => Layer::Ports,
        "ta-usecases" => Layer::UseCases,
        "ta-easyvista" | "easyvista-sim" | "ta-usercube" | "ta-ledger" | "ta-settings"
        | "ta-rsa" | "ta-keyvault" | "ta-cyberark" => Layer::Adapter,
        "ticket-agent" => Layer::Binary,
        "xtask" | "ta-fakes" => Layer::Tooling,
        _ => return None,
    })
}

/// May a crate of layer `from` depend on a crate of layer `to`?
fn allowed(from: Layer, to: Layer, dev_only: bool, target: &str) -> bool {
    use Layer::*;
    match (from, to) {
        // The vault fakes are test support: any crate's tests may use them, nothing else may.
        (_, Tooling) if dev_only && target == "ta-fakes" => true,
        (Binary | Tooling, _) => true,
        (UseCases, Ports | Domain) | (Adapter, Ports | Domain) | (Ports, Domain) => true,
        // The simulator is test infrastructure: any crate's tests may run against it.
        (_, Adapter) if dev_only && target == "easyvista-sim" => true,
        _ => false,
    }
}

pub fn check() -> Result<()> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("cargo metadata printed no JSON")?;
    let violations = violations(&metadata);
    if violations.is_empty() {
        println!("layers: every crate depends only on the layers below it");
        return Ok(());
    }
    for v in &violations {
        eprintln!("layers: {v}");
    }
    bail!("{} layering violation(s); see docs/architecture.md", violations.len())
}

/// Every edge between workspace crates that breaks the rule, as a sentence.
fn violations(metadata: &Value) -> Vec<String> {
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let members: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut found = Vec::new();
    for package in &packages {
        let name = package["name"].as_str().unwrap_or_default();
        let Some(from) = layer_of(name) else {
            found.push(format!("crate {name} has no layer: place it in xtask/src/layers.rs"));
            continue;
        };
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let target = dep["name"].as_str().unwrap_or_default();
            if !members.contains(&target) {
                continue;
            }
            let dev_only = dep["kind"].as_str() == Some("dev");
            let Some(to) = layer_of(target) else { continue };
            if !allowed(from, to, dev_only, target) {
                let kind = if dev_only { "dev-dependency" } else { "dependency" };
                found.push(format!("{name} ({from:?}) may not have a {kind} on {target} ({to:?})"));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn package(name: &str, deps: &[(&str, Option<&str>)]) -> Value {
        let deps: Vec<Value> =
            deps.iter().map(|(n, kind)| json!({"name": n, "kind": kind})).collect();
        json!({"name": name, "dependencies": deps})
    }

    fn metadata(packages: Vec<Value>) -> Value {
        json!({ "packages": packages })
    }

    fn healthy() -> Vec<Value> {
        vec![
            package("ta-domain", &[("serde", None)]),
            package("ta-ports", &[("ta-domain", None)]),
            package("ta-usecases", &[("ta-ports", None), ("ta-domain", None)]),
            package("ta-easyvista", &[("ta-ports", None), ("easyvista-sim", Some("dev"))]),
            package("easyvista-sim", &[]),
            package("ticket-agent", &[("ta-usecases", None), ("ta-easyvista", None)]),
            package("ta-keyvault", &[("ta-ports", None), ("ta-fakes", Some("dev"))]),
            package("ta-fakes", &[("serde_json", None)]),
        ]
    }

    #[test]
    fn the_intended_shape_passes() {
        assert_eq!(violations(&metadata(healthy())), Vec::<String>::new());
    }

    #[test]
    fn domain_depending_on_ports_fails() {
        let mut packages = healthy();
        packages[0] = package("ta-domain", &[("ta-ports", None)]);
        assert_eq!(
            violations(&metadata(packages)),
            ["ta-domain (Domain) may not have a dependency on ta-ports (Ports)"]
        );
    }

    #[test]
    fn an_adapter_depending_on_another_adapter_fails() {
        let mut packages = healthy();
        packages[3] = package("ta-easyvista", &[("ta-ports", None), ("easyvista-sim", None)]);
        assert_eq!(violations(&metadata(packages)).len(), 1);
    }

    #[test]
    fn use_cases_knowing_an_adapter_fails() {
        let mut packages = healthy();
        packages[2] = package("ta-usecases", &[("ta-ports", None), ("ta-easyvista", None)]);
        assert_eq!(violations(&metadata(packages)).len(), 1);
    }

    #[test]
    fn the_test_fakes_are_a_dev_dependency_only() {
        let mut packages = healthy();
        packages[2] = package("ta-usecases", &[("ta-ports", None), ("ta-fakes", Some("dev"))]);
        assert_eq!(violations(&metadata(packages.clone())), Vec::<String>::new());

        packages[6] = package("ta-keyvault", &[("ta-ports", None), ("ta-fakes", None)]);
        assert_eq!(
            violations(&metadata(packages)),
            ["ta-keyvault (Adapter) may not have a dependency on ta-fakes (Tooling)"]
        );
    }

    #[test]
    fn an_unplaced_crate_fails() {
        let mut packages = healthy();
        packages.push(package("ta-mystery", &[]));
        assert_eq!(
            violations(&metadata(packages)),
            ["crate ta-mystery has no layer: place it in xtask/src/layers.rs"]
        );
    }

    #[test]
    fn the_real_workspace_passes() {
        check().expect("the workspace follows its own layering rule");
    }
}
