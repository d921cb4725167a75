//! Benchmark: fulfill 10,000 orders into the simulator with the release `ticket-agent` binary,
//! against a bare client posting the same tickets at the same concurrency with no agent logic.
//!
//! Two service desks are measured, one after the other:
//! - one that answers each create after `CREATE_LATENCY`, as a service desk across a network
//!   does (a real EasyVista answers in tens to hundreds of milliseconds): what the ratio then
//!   shows is whether the agent keeps its `CONCURRENCY` creates in flight all the time, and this
//!   is where the goals apply: at least 0.7 of the bare client's rate, peak memory under 100 MiB;
//! - one that answers at once. The simulator then spends the machine's cores on creating
//!   tickets, and shares them with the agent's own work (ledger, templates, HTTP), so its ratio
//!   measures CPU per order on this machine. It is printed for information, with no goal.
//!
//! Run with `cargo xtask bench fulfill` (which builds the binary first).

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use easyvista_sim::{FaultSpec, Simulator, SimulatorConfig, routes};
use futures::StreamExt;
use serde_json::json;

const ORDERS: usize = 10_000;
const PER_FILE: usize = 500;
const CONCURRENCY: usize = 8;
const CREATE_LATENCY: Duration = Duration::from_millis(20);
const RATIO_GOAL: f64 = 0.7;
const MEMORY_GOAL_MIB: f64 = 100.0;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let passed = runtime.block_on(bench());
    std::process::exit(if passed { 0 } else { 1 });
}

async fn bench() -> bool {
    let binary = support::agent_binary();
    let latency = CREATE_LATENCY.as_millis();
    println!("-- a service desk answering each create after {latency} ms (goals apply)");
    let (ratio, peak_mib) = measure(&binary, Some(CREATE_LATENCY)).await;
    println!("-- a service desk answering at once: CPU-bound, shared with the simulator (no goal)");
    measure(&binary, None).await;

    let passed = ratio >= RATIO_GOAL && peak_mib < MEMORY_GOAL_MIB;
    println!("{}", if passed { "goals met" } else { "GOAL MISSED" });
    passed
}

/// The bare client, then the agent, against a fresh simulator; the ratio and peak memory.
async fn measure(binary: &Path, latency: Option<Duration>) -> (f64, f64) {
    let sim = Simulator::start(SimulatorConfig::default()).await.expect("simulator");
    let slow_creates = || {
        if let Some(latency) = latency {
            sim.admin().set_fault(routes::CREATE_REQUEST, FaultSpec::latency(latency)).unwrap();
        }
    };
    slow_creates();
    let bare = bare_client(&sim).await;
    sim.admin().reset();
    slow_creates();

    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &sim);
    let (agent, peak_kib) = run_agent(binary, dir.path()).await;
    let created = sim.admin().tickets().len();
    assert_eq!(created, ORDERS, "the agent opened one ticket per order");

    let ratio = agent / bare;
    let peak_mib = peak_kib as f64 / 1024.0;
    println!("bare client:  {bare:>8.0} tickets/s ({ORDERS} creates, concurrency {CONCURRENCY})");
    let goal = |text: String| if latency.is_some() { text } else { String::new() };
    println!(
        "ticket-agent: {agent:>8.0} orders/s  (ratio {ratio:.2}{})",
        goal(format!(", goal ≥ {RATIO_GOAL}"))
    );
    println!(
        "peak memory:  {peak_mib:>8.1} MiB{}",
        goal(format!("      (goal < {MEMORY_GOAL_MIB} MiB)"))
    );
    (ratio, peak_mib)
}

/// Posts the same tickets the agent will, with nothing else around them.
async fn bare_client(sim: &easyvista_sim::RunningSimulator) -> f64 {
    let client = reqwest::Client::new();
    let url = format!("{}requests", sim.base_url());
    let start = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(0..ORDERS)
        .map(|i| {
            let body = json!({"requests": [{
                "catalog_code": "27",
                "title": format!("Create building badge for User {i}"),
                "description": format!("Please set up the building badge of User {i}.\n - badgeNumber: B-{i}\n - site: Paris"),
                "urgency_id": "3", "severity_id": "3", "impact_id": "4",
                "recipient_id": "2", "origin": "3",
                "external_reference": format!("BARE-{i}"),
            }]});
            let request = client.post(&url).basic_auth(sim.login(), Some(sim.password())).json(&body);
            async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 201), "every bare create succeeded");
    ORDERS as f64 / start.elapsed().as_secs_f64()
}

fn write_config(dir: &Path, sim: &easyvista_sim::RunningSimulator) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for file in [
        "mappings.xml",
        "templates/BadgeTitle.txt",
        "templates/BadgeDescription.txt",
        "templates/PayrollTitle.txt",
        "templates/PayrollDescription.txt",
    ] {
        std::fs::create_dir_all(dir.join(file).parent().unwrap()).unwrap();
        std::fs::copy(examples.join(file), dir.join(file)).unwrap();
    }
    let mut settings: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(examples.join("appsettings.agent.json")).unwrap(),
    )
    .unwrap();
    settings["Connections"]["EasyVistaManual"] = json!({
        "Server": sim.server_url(), "Account": sim.account(), "Login": sim.login(), "Password": sim.password(),
    });
    settings["TicketAgent"]["Concurrency"] = json!(CONCURRENCY);
    std::fs::write(dir.join("appsettings.agent.json"), settings.to_string()).unwrap();

    let orders = dir.join("work/orders/EasyVistaManual");
    std::fs::create_dir_all(&orders).unwrap();
    for file in 0..ORDERS / PER_FILE {
        let list: Vec<_> = (0..PER_FILE)
            .map(|i| {
                let n = file * PER_FILE + i;
                json!({
                    "AssignedResourceTypeId": (1_000_000 + n).to_string(),
                    "ChangeType": "Added",
                    "WorkflowInstanceId": n.to_string(),
                    "Owner": { "Id": (20_000 + n).to_string(), "InternalDisplayName": format!("User {n}"), "EVEmployeeId": "2" },
                    "ResourceType": { "Id": "-41", "Identifier": "Badge_User_NominativeUser",
                                      "SourceEntityType": { "Id": "51", "Identifier": "Directory_User" } },
                    "Changes": { "badgeNumber": format!("B-{n}"), "site": "Paris" },
                    "Resource": {}
                })
            })
            .collect();
        let text = json!({ "ProvisioningOrdersList": list }).to_string();
        std::fs::write(orders.join(format!("orders-{file:03}.json")), text).unwrap();
    }
}

/// Runs `ticket-agent fulfill` and returns its rate and peak resident memory (KiB).
async fn run_agent(binary: &Path, dir: &Path) -> (f64, u64) {
    let (took, peak) = support::run_measured(binary, dir, &["fulfill"]).await;
    (ORDERS as f64 / took.as_secs_f64(), peak)
}
