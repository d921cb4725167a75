//! Benchmark: one delta follow cycle over 100,000 open tickets of which 1,000 changed, against
//! the simulator. Goal: at most 15 HTTP requests (polling ticket by ticket costs 100,000) and
//! memory that does not grow with the number of followed tickets. Exits non-zero on a miss.

use std::process::ExitCode;
use std::time::Instant;

use easyvista_sim::{Simulator, SimulatorConfig, StatusKind, TicketSeed, routes};
use secrecy::SecretString;
use ta_domain::{TicketNumber, TicketOutcome};
use ta_easyvista::{Credentials, EasyVistaClient, EasyVistaConfig};
use ta_ports::{FollowRequest, TicketingBackend};

/// `BENCH_TICKETS` overrides it for a quick run at a smaller scale.
const OPEN_TICKETS: usize = 100_000;
const CHANGED: usize = 1_000;
const MAX_REQUESTS: u64 = 15;
/// Growth of the peak resident set allowed during the delta cycle.
const MAX_PEAK_GROWTH_KB: u64 = 64 * 1024;

#[tokio::main]
async fn main() -> ExitCode {
    let open_tickets: usize = std::env::var("BENCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(OPEN_TICKETS)
        .max(CHANGED);
    let sim = Simulator::start(SimulatorConfig::default()).await.expect("the simulator starts");
    let admin = sim.admin();

    let started = Instant::now();
    let tickets: Vec<TicketNumber> = (0..open_tickets)
        .map(|i| {
            let seed = TicketSeed {
                external_reference: format!("TA-A-{i}-bench"),
                ..TicketSeed::default()
            };
            TicketNumber::new(&admin.seed_ticket(seed).expect("seeded")).expect("an RFC number")
        })
        .collect();
    println!("seeded {open_tickets} open tickets in {:.2?}", started.elapsed());

    let credentials = Credentials::Basic {
        login: sim.login().to_owned(),
        password: SecretString::from(sim.password().to_owned()),
    };
    let client =
        EasyVistaClient::new(EasyVistaConfig::new(sim.server_url(), sim.account(), credentials))
            .expect("valid settings");

    // The simulator stamps each change one millisecond after the previous one, so the 100,000
    // seeds sit in the last 100 s before the watermark, far denser than any real instance. Other
    // activity (one unfollowed ticket moving back and forth) pushes them out of the 2 s overlap
    // before the previous cycle, as time would.
    let other = admin.seed_ticket(TicketSeed::default()).expect("seeded");
    for i in 0..2_500 {
        let status = if i % 2 == 0 { StatusKind::Suspended } else { StatusKind::InProgress };
        admin.set_ticket_status(&other, status).expect("moved");
    }

    // The previous cycle: its watermark is the newest LAST_UPDATE, whatever tickets it read.
    let previous = client
        .follow(&FollowRequest { tickets: vec![tickets[0].clone()], watermark: None })
        .await
        .expect("previous cycle");
    println!(
        "a full read of N tickets costs 1 + N/{} requests (here it would be {})",
        100,
        1 + open_tickets.div_ceil(100)
    );

    let step = open_tickets / CHANGED;
    for ticket in tickets.iter().step_by(step).take(CHANGED) {
        admin.close_ticket(ticket.as_str()).expect("closed");
    }

    let request = FollowRequest { tickets, watermark: previous.watermark.clone() };
    let peak_before = peak_rss_kb();
    let calls_before =
        admin.counters().total(routes::LIST_REQUESTS) + admin.counters().total(routes::GET_REQUEST);
    let started = Instant::now();
    let delta = client.follow(&request).await.expect("delta cycle");
    let elapsed = started.elapsed();
    let calls = admin.counters().total(routes::LIST_REQUESTS)
        + admin.counters().total(routes::GET_REQUEST)
        - calls_before;
    let peak_after = peak_rss_kb();

    let closed = delta.observations.iter().filter(|o| o.outcome == TicketOutcome::Closed).count();
    println!(
        "delta cycle: {calls} HTTP requests (client counted {}), {elapsed:.2?}, {closed} of {CHANGED} changed tickets seen; goal <= {MAX_REQUESTS} requests (ticket-by-ticket polling: {open_tickets})",
        delta.requests
    );
    let mut ok = calls <= MAX_REQUESTS && closed == CHANGED;
    if let (Some(before), Some(after)) = (peak_before, peak_after) {
        let growth = after.saturating_sub(before);
        println!(
            "peak RSS: {before} kB before the cycle, {after} kB after (+{growth} kB; goal <= +{MAX_PEAK_GROWTH_KB} kB)"
        );
        ok &= growth <= MAX_PEAK_GROWTH_KB;
    }
    sim.shutdown().await;
    if ok {
        ExitCode::SUCCESS
    } else {
        println!("GOAL MISSED");
        ExitCode::FAILURE
    }
}

/// VmHWM from /proc/self/status, in kB, where the system has it.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
