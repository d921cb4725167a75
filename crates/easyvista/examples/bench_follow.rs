//! Benchmark: one delta follow cycle over 100,000 open tickets of which 1,000 changed, against
//! the simulator. Goal: at most 15 HTTP requests (polling ticket by ticket costs 100,000) and
//! memory that does not grow with the number of followed tickets. Exits non-zero on a miss.
//!
//! The simulator runs in a child process (this program started again with
//! `BENCH_FOLLOW_ROLE=simulator`), so the peak resident memory measured here is the client's
//! alone: the simulator's own peak (100,000 seeded tickets, every page filtered and sorted)
//! would otherwise hide anything the client does.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
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
/// Growth of the client's peak resident set allowed during the delta cycle. A row held for each
/// of the 100,000 followed tickets (about 1 KB parsed) would take several times this.
const MAX_PEAK_GROWTH_KB: u64 = 16 * 1024;
const ROLE: &str = "BENCH_FOLLOW_ROLE";

fn main() -> ExitCode {
    let open_tickets: usize = std::env::var("BENCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(OPEN_TICKETS)
        .max(CHANGED);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if std::env::var(ROLE).as_deref() == Ok("simulator") {
        runtime.block_on(simulator(open_tickets));
        return ExitCode::SUCCESS;
    }
    runtime.block_on(client(open_tickets))
}

// === The simulator's process ===

/// Seeds the tickets, prints how to reach them, closes the changed ones when told `change` on
/// stdin, and stops at the end of stdin.
async fn simulator(open_tickets: usize) {
    let sim = Simulator::start(SimulatorConfig::default()).await.expect("the simulator starts");
    let admin = sim.admin();
    let started = Instant::now();
    let tickets: Vec<String> = (0..open_tickets)
        .map(|i| {
            let seed = TicketSeed {
                external_reference: format!("TA-A-{i}-bench"),
                ..TicketSeed::default()
            };
            admin.seed_ticket(seed).expect("seeded")
        })
        .collect();
    eprintln!(
        "seeded {open_tickets} open tickets in {:.2?} (simulator process)",
        started.elapsed()
    );

    // The simulator stamps each change one millisecond after the previous one, so the 100,000
    // seeds sit in the last 100 s before the watermark, far denser than any real instance. Other
    // activity (one unfollowed ticket moving back and forth) pushes them out of the 2 s overlap
    // before the previous cycle, as time would.
    let other = admin.seed_ticket(TicketSeed::default()).expect("seeded");
    for i in 0..2_500 {
        let status = if i % 2 == 0 { StatusKind::Suspended } else { StatusKind::InProgress };
        admin.set_ticket_status(&other, status).expect("moved");
    }

    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}\n{}\n{}\n{}",
            sim.server_url(),
            sim.account(),
            sim.login(),
            sim.password()
        )
        .unwrap();
        for rfc in &tickets {
            writeln!(out, "{rfc}").unwrap();
        }
        writeln!(out, "ready").unwrap();
        out.flush().unwrap();
    }

    let step = open_tickets / CHANGED;
    // One command, `change`, then the end of stdin: read them as they come.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(command) = receiver.recv().await {
        if command == "change" {
            for rfc in tickets.iter().step_by(step).take(CHANGED) {
                admin.close_ticket(rfc).expect("closed");
            }
            println!("changed");
            std::io::stdout().flush().unwrap();
        }
    }
    sim.shutdown().await;
}

// === The client's process (measured) ===

struct SimulatorProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl SimulatorProcess {
    fn start(open_tickets: usize) -> SimulatorProcess {
        let mut child = Command::new(std::env::current_exe().expect("this program's path"))
            .env(ROLE, "simulator")
            .env("BENCH_TICKETS", open_tickets.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the simulator process starts");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        SimulatorProcess { child, stdin, stdout }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        let read = self.stdout.read_line(&mut line).expect("the simulator answers");
        assert!(read > 0, "the simulator process ended early");
        line.trim_end().to_owned()
    }

    fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("open");
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }

    fn stop(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

async fn client(open_tickets: usize) -> ExitCode {
    let started = Instant::now();
    let mut sim = SimulatorProcess::start(open_tickets);
    let server_url = sim.line();
    let account = sim.line();
    let login = sim.line();
    let password = sim.line();
    let mut tickets = Vec::with_capacity(open_tickets);
    loop {
        let line = sim.line();
        if line == "ready" {
            break;
        }
        tickets.push(TicketNumber::new(&line).expect("an RFC number"));
    }
    println!("simulator process ready with {} tickets in {:.2?}", tickets.len(), started.elapsed());

    let credentials = Credentials::Basic { login, password: SecretString::from(password) };
    let client = EasyVistaClient::new(EasyVistaConfig::new(&server_url, &account, credentials))
        .expect("valid settings");
    let admin = reqwest::Client::new();
    let counters_url = format!("{server_url}_admin/counters");

    // The previous cycle: its watermark is the newest LAST_UPDATE, whatever tickets it read.
    let previous = client
        .follow(&FollowRequest { tickets: vec![tickets[0].clone()], watermark: None })
        .await
        .expect("previous cycle");
    sim.send("change");
    assert_eq!(sim.line(), "changed");

    let request = FollowRequest { tickets, watermark: previous.watermark.clone() };
    let calls_before = list_and_get_calls(&admin, &counters_url).await;
    let peak_before = peak_rss_kb();
    let started = Instant::now();
    let delta = client.follow(&request).await.expect("delta cycle");
    let elapsed = started.elapsed();
    let peak_after = peak_rss_kb();
    let calls = list_and_get_calls(&admin, &counters_url).await - calls_before;
    sim.stop();

    let closed = delta.observations.iter().filter(|o| o.outcome == TicketOutcome::Closed).count();
    println!(
        "delta cycle: {calls} HTTP requests (client counted {}), {elapsed:.2?}, {closed} of {CHANGED} changed tickets seen; goal <= {MAX_REQUESTS} requests (ticket-by-ticket polling: {open_tickets})",
        delta.requests
    );
    let mut ok = calls <= MAX_REQUESTS && closed == CHANGED;
    match (peak_before, peak_after) {
        (Some(before), Some(after)) => {
            let growth = after.saturating_sub(before);
            println!(
                "client peak RSS: {before} kB before the cycle, {after} kB after (+{growth} kB; goal <= +{MAX_PEAK_GROWTH_KB} kB; the simulator runs in another process)"
            );
            ok &= growth <= MAX_PEAK_GROWTH_KB;
        }
        _ => println!("client peak RSS: not available on this system (no /proc/self/status)"),
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        println!("GOAL MISSED");
        ExitCode::FAILURE
    }
}

/// The list and single-ticket reads the simulator served so far, from its admin counters.
async fn list_and_get_calls(admin: &reqwest::Client, url: &str) -> u64 {
    let counters: serde_json::Value =
        admin.get(url).send().await.expect("counters").json().await.expect("counters JSON");
    [routes::LIST_REQUESTS, routes::GET_REQUEST]
        .iter()
        .filter_map(|route| counters["requests"][route].as_object())
        .flat_map(|statuses| statuses.values())
        .filter_map(serde_json::Value::as_u64)
        .sum()
}

/// VmHWM from /proc/self/status, in kB, where the system has it.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
