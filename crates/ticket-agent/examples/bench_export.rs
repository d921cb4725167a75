//! Benchmark: `ticket-agent export` of 100,000 and 1,000,000 simulated employees with the
//! release binary, against a bare client that only downloads the same pages. Exits non-zero on a
//! missed goal: rate ratio ≥ 0.8, peak memory ≤ 64 MiB and flat from one size to the other.
//!
//! The comparison: both sides read the same in-process simulator, one after the other, in pages
//! of `PAGE_SIZE` with no `fields` (the default extract), so the simulator renders the same
//! bytes for both. The bare client downloads each page in full and drops it, never parsing it,
//! one request at a time, as the agent sends them (the agent reads the next page while it writes
//! the current one). The agent's time runs from its start to its exit, so it includes start-up,
//! parsing, the CSV file, its flush to disk and the rename.
//!
//! Two servers are measured at each size:
//! - one that answers each page after `PAGE_LATENCY`, as a service desk across a network does
//!   (a real EasyVista takes far longer for a page of employees): the ratio then shows whether the
//!   agent's work per page hides behind the wait for the next one, and the goals apply here;
//! - one that answers at once. The simulator then spends the machine's cores rendering pages and
//!   shares them with the agent's parsing and writing, so the ratio measures CPU per row on this
//!   machine. It is printed for information, with no goal.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use easyvista_sim::{FaultSpec, RunningSimulator, Simulator, SimulatorConfig, routes};
use serde_json::json;

const PAGE_SIZE: usize = 1000;
const PAGE_LATENCY: Duration = Duration::from_millis(25);
const RATIO_GOAL: f64 = 0.8;
const MEMORY_GOAL_MIB: f64 = 64.0;
/// How much more the larger export may use than the smaller one and still count as flat.
const MEMORY_GROWTH_ALLOWED_MIB: f64 = 8.0;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let binary = support::agent_binary();
    let mut passed = true;
    let mut peaks = Vec::new();
    for employees in [100_000u64, 1_000_000] {
        let (ok, peak) = runtime.block_on(measure(&binary, employees, Some(PAGE_LATENCY)));
        passed &= ok;
        peaks.push(peak);
        runtime.block_on(measure(&binary, employees, None));
    }
    let growth = peaks[1] - peaks[0];
    let flat = growth <= MEMORY_GROWTH_ALLOWED_MIB;
    println!(
        "memory growth 100,000 → 1,000,000 rows: {growth:+.1} MiB (goal ≤ {MEMORY_GROWTH_ALLOWED_MIB} MiB)"
    );
    passed &= flat;
    println!("{}", if passed { "goals met" } else { "GOAL MISSED" });
    if !passed {
        std::process::exit(1);
    }
}

/// One size: the bare client first, then the agent. Returns whether the goals hold and the
/// peak memory in MiB.
async fn measure(binary: &Path, synthetic: u64, latency: Option<Duration>) -> (bool, f64) {
    let config = SimulatorConfig { synthetic_employees: synthetic, ..SimulatorConfig::default() };
    let sim = Simulator::start(config).await.expect("simulator starts");
    let total = bare_total(&sim).await;
    if let Some(latency) = latency {
        sim.admin().set_fault(routes::LIST_EMPLOYEES, FaultSpec::latency(latency)).unwrap();
    }

    let bare = bare_client(&sim, total).await;
    let dir = tempfile::tempdir().unwrap();
    configure(&sim, dir.path());
    let (agent, peak_kib) = run_export(binary, dir.path(), total).await;
    let written = count_lines(&dir.path().join("export/Bench_Employees.csv"));
    assert_eq!(written, total + 1, "every employee and the header are written");
    sim.shutdown().await;

    let ratio = agent / bare;
    let peak = peak_kib as f64 / 1024.0;
    match latency {
        Some(latency) => println!(
            "-- {total} employees, pages of {PAGE_SIZE}, each answered after {} ms (goals apply)",
            latency.as_millis()
        ),
        None => println!(
            "-- {total} employees, pages of {PAGE_SIZE}, answered at once: CPU-bound, shared with the simulator (no goal)"
        ),
    }
    let goal = |text: String| if latency.is_some() { text } else { String::new() };
    println!("bare client:  {bare:>9.0} rows/s");
    println!(
        "ticket-agent: {agent:>9.0} rows/s (ratio {ratio:.2}{})",
        goal(format!(", goal ≥ {RATIO_GOAL}"))
    );
    println!("peak memory:  {peak:>9.1} MiB{}", goal(format!("   (goal ≤ {MEMORY_GOAL_MIB} MiB)")));
    (ratio >= RATIO_GOAL && peak <= MEMORY_GOAL_MIB, peak)
}

fn employees_url(sim: &RunningSimulator) -> String {
    format!("{}api/v1/{}/employees", sim.server_url(), sim.account())
}

async fn bare_total(sim: &RunningSimulator) -> usize {
    let body: serde_json::Value = reqwest::Client::new()
        .get(employees_url(sim))
        .query(&[("max_rows", "1"), ("offset", "0")])
        .basic_auth(sim.login(), Some(sim.password()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["total_record_count"].as_str().unwrap().parse().unwrap()
}

/// Downloads the same pages the export reads, one request at a time as the agent sends them,
/// and drops them.
async fn bare_client(sim: &RunningSimulator, total: usize) -> f64 {
    let client = reqwest::Client::new();
    let url = employees_url(sim);
    let start = Instant::now();
    for offset in (0..total).step_by(PAGE_SIZE) {
        let bytes = client
            .get(&url)
            .query(&[("max_rows", PAGE_SIZE), ("offset", offset)])
            .basic_auth(sim.login(), Some(sim.password()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(!bytes.is_empty());
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn configure(sim: &RunningSimulator, dir: &Path) {
    let settings = json!({
        "Connections": { "Bench": {
            "Server": sim.server_url(), "Account": sim.account(),
            "Login": sim.login(), "Password": sim.password(),
        }},
        "TicketAgent": {
            "AllowInsecureHttp": true,
            "Export": { "OutputPath": "export", "PageSize": PAGE_SIZE },
        },
    });
    std::fs::write(dir.join("appsettings.agent.json"), settings.to_string()).unwrap();
}

/// Runs `ticket-agent export --full` and returns its rate and peak resident memory (KiB).
async fn run_export(binary: &Path, dir: &Path, total: usize) -> (f64, u64) {
    let (took, peak) = support::run_measured(binary, dir, &["export", "--full"]).await;
    (total as f64 / took.as_secs_f64(), peak)
}

fn count_lines(path: &Path) -> usize {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_path(path).unwrap();
    reader.records().count()
}
