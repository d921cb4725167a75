//! Benchmark of the simulator (run by `cargo xtask bench simulator`, in release): list pages of 100
//! employees per second out of a million synthetic ones, and ticket creations per second, both
//! from concurrent clients over loopback. Exits non-zero when a goal is missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use easyvista_sim::{Simulator, SimulatorConfig};

const EMPLOYEES: u64 = 1_000_000;
const CLIENTS: usize = 16;
const WARM_UP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);
const PAGES_GOAL: f64 = 5_000.0;
const CREATES_GOAL: f64 = 3_000.0;

#[derive(Clone, Copy)]
enum Load {
    ListPages,
    CreateTickets,
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let config = SimulatorConfig { synthetic_employees: EMPLOYEES, ..SimulatorConfig::default() };
    let sim = Simulator::start(config).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build()?;

    let pages = measure(&client, sim.base_url(), Load::ListPages).await?;
    let creates = measure(&client, sim.base_url(), Load::CreateTickets).await?;
    let created = sim.admin().counters().tickets_created;
    sim.shutdown().await;

    println!(
        "list pages of 100 employees ({EMPLOYEES} synthetic): {pages:>8.0}/s (goal {PAGES_GOAL:.0}/s)"
    );
    println!(
        "ticket creations:                               {creates:>8.0}/s (goal {CREATES_GOAL:.0}/s)"
    );
    println!("tickets created in total: {created}");
    let mut missed = Vec::new();
    if pages < PAGES_GOAL {
        missed.push("list pages");
    }
    if creates < CREATES_GOAL {
        missed.push("ticket creations");
    }
    if !missed.is_empty() {
        anyhow::bail!("goals missed: {missed:?}");
    }
    Ok(())
}

/// Runs `CLIENTS` loops for the warm-up and the measure window; returns calls per second.
async fn measure(client: &reqwest::Client, base: &str, load: Load) -> anyhow::Result<f64> {
    let counting = Arc::new(AtomicU64::new(0));
    let counted = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + WARM_UP + MEASURE;
    let mut tasks = Vec::new();
    for client_index in 0..CLIENTS {
        let (client, base) = (client.clone(), base.to_string());
        let (counting, counted) = (Arc::clone(&counting), Arc::clone(&counted));
        tasks.push(tokio::spawn(async move {
            let mut seed = 0x2545_F491_4F6C_DD1D_u64 ^ client_index as u64;
            let mut i = 0u64;
            while Instant::now() < deadline {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let ok = call(&client, &base, load, seed, client_index, i).await?;
                i += 1;
                if ok && counting.load(Ordering::Relaxed) == 1 {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(WARM_UP).await;
    counting.store(1, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(MEASURE).await;
    let calls = counted.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    for task in tasks {
        task.await??;
    }
    Ok(calls as f64 / elapsed.as_secs_f64())
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    load: Load,
    seed: u64,
    client_index: usize,
    i: u64,
) -> anyhow::Result<bool> {
    let response = match load {
        Load::ListPages => {
            let offset = (seed >> 33) % (EMPLOYEES - 100);
            client
                .get(format!("{base}employees?max_rows=100&offset={offset}"))
                .basic_auth("agent", Some("secret"))
                .send()
                .await?
        }
        Load::CreateTickets => {
            let body = serde_json::json!({"requests": [{
                "catalog_code": "25",
                "title": "Grant access",
                "recipient_mail": format!("employee{:07}@synthetic.example.test", (seed >> 33) % EMPLOYEES),
                "external_reference": format!("bench-{client_index}-{i}"),
            }]});
            client
                .post(format!("{base}requests"))
                .basic_auth("agent", Some("secret"))
                .json(&body)
                .send()
                .await?
        }
    };
    let status = response.status();
    let body = response.bytes().await?;
    let expected = match load {
        Load::ListPages => 200,
        Load::CreateTickets => 201,
    };
    if status.as_u16() != expected {
        anyhow::bail!("unexpected {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(true)
}
