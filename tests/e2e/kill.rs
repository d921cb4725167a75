//! Crash safety: the agent killed with SIGKILL at random moments, then restarted, never opens a
//! second ticket for an order, never loses one, and reports each result exactly once.

use std::collections::HashSet;
use std::time::Duration;

use easyvista_sim::{FaultSpec, routes};
use rand::{Rng, SeedableRng};

use crate::harness::{BIN, Setup, badge_order};

const ORDERS: u32 = 500;
const FILES: u32 = 10;
const KILLS: usize = 20;

/// Starts `ticket-agent <command>` and kills it with SIGKILL after `after`, unless it ended
/// first; true when it was killed.
async fn kill_after(setup: &Setup, command: &str, after: Duration) -> bool {
    let mut child = tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(setup.dir.path())
        .arg(command)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    if tokio::time::timeout(after, child.wait()).await.is_err() {
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        return true;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_agent_at_random_moments_opens_each_ticket_once_and_reports_each_result_once() {
    let setup = Setup::new().await;
    let per_file = ORDERS / FILES;
    for file in 0..FILES {
        let orders: Vec<_> = (0..per_file)
            .map(|i| badge_order(100_000 + file * per_file + i, "Added", 2 + i % 5))
            .collect();
        setup.drop_orders(&format!("burst-{file:02}.json"), &orders);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261203);
    // A service desk that takes its time, and sometimes says 590 after creating the ticket:
    // each run gets only part of the burst done before it is killed.
    let slow =
        FaultSpec::fail_after_create(0.05).with_latency(Duration::from_millis(100)).with_seed(7);
    setup.sim.admin().set_fault(routes::CREATE_REQUEST, slow).unwrap();

    // Kills count only when they land while the burst is unfinished; a run that ended on its
    // own, or a kill after the last ticket, is tried again (within a bound).
    let mut midway = Vec::new();
    let mut attempts = 0;
    while midway.len() < KILLS {
        attempts += 1;
        assert!(attempts <= KILLS * 4, "only {} of {attempts} kills landed mid-work", midway.len());
        let after = Duration::from_millis(rng.random_range(50..600));
        let killed = kill_after(&setup, "fulfill", after).await;
        let tickets = setup.sim.admin().tickets().len();
        if killed && tickets < ORDERS as usize {
            midway.push(tickets);
        }
    }
    eprintln!("tickets at each of the {KILLS} kills ({attempts} runs): {midway:?}");
    assert!(
        midway.first() < midway.last() && midway.iter().any(|&n| n > 0),
        "the kills landed while tickets were being opened: {midway:?}"
    );
    setup.sim.admin().clear_faults();
    for _ in 0..3 {
        setup.ok(&["fulfill"]).await;
    }

    let tickets = setup.sim.admin().tickets();
    let references: HashSet<_> = tickets.iter().map(|t| t.external_reference.clone()).collect();
    assert_eq!(tickets.len(), ORDERS as usize, "exactly one ticket per order");
    assert_eq!(references.len(), ORDERS as usize, "no two tickets for one order");
    let status: serde_json::Value =
        serde_json::from_str(&setup.ok(&["status", "--json"]).await).unwrap();
    let stages: Vec<_> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["stage"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stages.len(), ORDERS as usize);
    assert!(stages.iter().all(|s| s == "open"), "every order has its ticket: {stages:?}");

    // The tickets close a batch at a time, each batch followed by a sync that is killed at a
    // random moment: while it reads, while it records outcomes, while it publishes, or after.
    // Reads take their time, so most kills land before the run ends.
    let slow_reads = FaultSpec::latency(Duration::from_millis(40));
    setup.sim.admin().set_fault(routes::LIST_REQUESTS, slow_reads).unwrap();
    let mut sync_kills = 0;
    for batch in tickets.chunks(tickets.len() / (KILLS / 2)) {
        for ticket in batch {
            setup.sim.admin().close_ticket(&ticket.rfc).unwrap();
        }
        let after = Duration::from_millis(rng.random_range(5..400));
        sync_kills += usize::from(kill_after(&setup, "sync", after).await);
    }
    eprintln!("{sync_kills} of {} sync runs killed", KILLS / 2);
    assert!(sync_kills > 0, "no sync run was killed");
    setup.sim.admin().clear_faults();
    setup.ok(&["sync"]).await;

    let rows = setup.result_rows();
    let assignments: HashSet<_> = rows.iter().map(|(_, r)| r[0].to_owned()).collect();
    assert_eq!(assignments.len(), ORDERS as usize, "every finished order is reported");
    assert_eq!(rows.len(), ORDERS as usize, "and reported once");
    assert!(rows.iter().all(|(_, r)| &r[1] == "Executed"));
}
