//! Running as a service: `run` picks up new files, stops cleanly on SIGTERM without losing an
//! order, serves health and Prometheus metrics, and can log JSON.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use easyvista_sim::{FaultSpec, routes};
use serde_json::json;

use crate::harness::{BIN, Setup, badge_order};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Settings for `run`: short intervals, no jitter, the HTTP endpoint on `port`.
fn run_settings(setup: &Setup, port: u16) {
    let mut settings = setup.settings();
    let agent = &mut settings["TicketAgent"];
    agent["FulfillIntervalSeconds"] = json!(1);
    agent["SyncIntervalSeconds"] = json!(1);
    agent["JitterPercent"] = json!(0);
    agent["ShutdownGraceSeconds"] = json!(10);
    agent["Http"] = json!({ "Enabled": true, "Listen": format!("127.0.0.1:{port}") });
    setup.write_settings(settings);
}

fn start_run(setup: &Setup, extra: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(setup.dir.path())
        .args(extra)
        .arg("run")
        .env("RUST_LOG", "info")
        // Nobody reads them: a full pipe would block the agent's logging.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Sends SIGTERM and waits, at most `limit`, for `run` to end with status 0.
async fn stop_within(child: &mut tokio::process::Child, limit: Duration, why: &str) {
    terminate(child);
    let status = tokio::time::timeout(limit, child.wait()).await.expect(why).unwrap();
    assert!(status.success(), "SIGTERM ends run with status 0: {status}");
}

fn terminate(child: &tokio::process::Child) {
    let pid = child.id().expect("still running");
    let status =
        std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// Waits up to `limit` for `done` to hold.
async fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

/// The value of one Prometheus sample, by metric name and a label fragment.
fn sample(metrics: &str, name: &str, labels: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| line.starts_with(name) && line.contains(labels))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_picks_up_files_dropped_while_it_runs_and_its_metrics_match() {
    let setup = Setup::new().await;
    let port = free_port();
    run_settings(&setup, port);
    let mut child = start_run(&setup, &[]);

    assert!(
        eventually(Duration::from_secs(10), || std::fs::metadata(
            setup.dir.path().join("work/ticket-agent.db")
        )
        .is_ok())
        .await,
        "the agent started"
    );
    let (status, _) = loop_until_http(port, "/healthz").await;
    assert_eq!(status, 200);

    setup.drop_orders("late-1.json", &[badge_order(1, "Added", 2), badge_order(2, "Added", 3)]);
    let admin = setup.sim.admin();
    assert!(
        eventually(Duration::from_secs(10), || admin.tickets().len() == 2).await,
        "the dropped file was picked up"
    );
    setup.drop_orders("late-2.json", &[badge_order(3, "Deleted", 4)]);
    assert!(eventually(Duration::from_secs(10), || admin.tickets().len() == 3).await);
    let first =
        admin.tickets().into_iter().find(|t| t.external_reference.starts_with("TA-A-1-")).unwrap();
    admin.close_ticket(&first.rfc).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || !setup.result_rows().is_empty()).await,
        "the closed ticket was reported"
    );

    let (status, ready) = http_get(port, "/readyz").await.unwrap();
    assert_eq!(status, 200, "{ready}");
    let conn = "connection=\"EasyVistaManual\"";
    // The results file appears just before its rows are counted, and the gauges follow the
    // cycle: scrape until the counts have settled, then check each.
    let mut metrics = String::new();
    for _ in 0..100 {
        let (status, text) = http_get(port, "/metrics").await.unwrap();
        assert_eq!(status, 200);
        metrics = text;
        if sample(&metrics, "ta_results_published_total", conn) == Some(1.0)
            && sample(&metrics, "ta_open_tickets", conn) == Some(2.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sample(&metrics, "ta_orders_received_total", conn), Some(3.0), "{metrics}");
    assert_eq!(
        sample(&metrics, "ta_tickets_opened_total", "how=\"created\""),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "ta_ticket_outcomes_total", "outcome=\"closed\""),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "ta_results_published_total", conn), Some(1.0), "{metrics}");
    assert_eq!(sample(&metrics, "ta_open_tickets", conn), Some(2.0), "{metrics}");
    assert!(
        sample(&metrics, "ta_oldest_open_ticket_age_seconds", conn).is_some_and(|age| age >= 0.0),
        "{metrics}"
    );
    assert!(
        sample(&metrics, "ta_easyvista_request_duration_seconds_count", "route=\"POST requests\"")
            .is_some_and(|n| n >= 3.0),
        "create latencies are in the histogram: {metrics}"
    );
    assert!(
        sample(&metrics, "ta_last_successful_cycle_timestamp_seconds", "cycle=\"sync\"").is_some(),
        "{metrics}"
    );
    let requests = sample(&metrics, "ta_easyvista_requests_total", "status=\"201\"");
    assert!(
        requests.is_some_and(|n| n >= 3.0),
        "creates are counted by route and status: {metrics}"
    );

    stop_within(&mut child, Duration::from_secs(15), "stops in time").await;
}

async fn loop_until_http(port: u16, path: &str) -> (u16, String) {
    for _ in 0..100 {
        if let Some(answer) = http_get(port, path).await {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no answer on port {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_of_300_orders_loses_nothing() {
    let setup = Setup::new().await;
    let port = free_port();
    run_settings(&setup, port);
    let slow = FaultSpec::latency(Duration::from_millis(10));
    setup.sim.admin().set_fault(routes::CREATE_REQUEST, slow).unwrap();
    for file in 0..6 {
        let orders: Vec<_> =
            (0..50).map(|i| badge_order(200_000 + file * 50 + i, "Added", 2 + i % 5)).collect();
        setup.drop_orders(&format!("burst-{file}.json"), &orders);
    }

    let mut child = start_run(&setup, &[]);
    let admin = setup.sim.admin();
    assert!(
        eventually(Duration::from_secs(15), || admin.tickets().len() >= 20).await,
        "the burst started"
    );
    stop_within(&mut child, Duration::from_secs(15), "stops in time").await;
    let at_stop = admin.tickets().len();
    assert!(at_stop < 300, "stopped mid-burst ({at_stop} tickets)");

    setup.sim.admin().clear_faults();
    setup.ok(&["fulfill"]).await;

    let tickets = admin.tickets();
    let references: HashSet<_> = tickets.iter().map(|t| t.external_reference.clone()).collect();
    assert_eq!((tickets.len(), references.len()), (300, 300), "every order has exactly one ticket");
}

#[tokio::test]
async fn json_logs_parse_line_by_line() {
    let setup = Setup::new().await;
    setup.drop_orders("a.json", &[badge_order(1, "Added", 2)]);
    let output = tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(setup.dir.path())
        .args(["--log-format", "json", "fulfill"])
        .env("RUST_LOG", "debug")
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(events.len() >= 3, "{stderr}");
    let opened =
        events.iter().find(|e| e["message"] == "ticket opened").expect("a ticket-opened event");
    assert_eq!(opened["connection"], "EasyVistaManual");
    assert!(opened["order"].as_str().unwrap().starts_with("TA-A-1-"));
    assert!(opened["ticket"].as_str().unwrap().starts_with('S'));
    assert!(events.iter().all(|e| e["level"].is_string() && e["timestamp"].is_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_easyvista_is_first_checked_ends_run_with_status_0() {
    let setup = Setup::new().await;
    let port = free_port();
    run_settings(&setup, port);
    // The start-up connection check reads the ticket list: its answer is held back.
    let hang = FaultSpec::stalls(1.0, Duration::from_secs(60));
    setup.sim.admin().set_fault(routes::LIST_REQUESTS, hang).unwrap();
    setup.drop_orders("waiting.json", &[badge_order(300_001, "Added", 2)]);

    let mut child = start_run(&setup, &[]);
    let admin = setup.sim.admin();
    assert!(
        eventually(Duration::from_secs(15), || {
            admin.counters().requests.keys().any(|route| route.starts_with("GET /requests"))
        })
        .await,
        "the start-up check reached EasyVista"
    );
    stop_within(
        &mut child,
        Duration::from_secs(10),
        "a stop during start-up does not wait for the check",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_slower_than_the_grace_period_are_abandoned_and_resumed_without_duplicates() {
    let setup = Setup::new().await;
    let port = free_port();
    run_settings(&setup, port);
    let mut settings = setup.settings();
    settings["TicketAgent"]["ShutdownGraceSeconds"] = json!(1);
    setup.write_settings(settings);
    let orders: Vec<_> = (0..5).map(|i| badge_order(310_000 + i, "Added", 2 + i % 3)).collect();
    setup.drop_orders("slow.json", &orders);
    // EasyVista creates each ticket, then takes 30 s to answer.
    let slow = FaultSpec::stalls(1.0, Duration::from_secs(30));
    setup.sim.admin().set_fault(routes::CREATE_REQUEST, slow).unwrap();

    let mut child = start_run(&setup, &[]);
    let admin = setup.sim.admin();
    assert!(
        eventually(Duration::from_secs(15), || !admin.tickets().is_empty()).await,
        "creates were sent"
    );
    let asked = Instant::now();
    stop_within(&mut child, Duration::from_secs(10), "the grace period bounds the stop").await;
    // The creates would take 30 s more; a 1 s grace period ends the process long before.
    assert!(asked.elapsed() < Duration::from_secs(6), "stopped after {:?}", asked.elapsed());

    setup.sim.admin().clear_faults();
    setup.ok(&["fulfill"]).await;
    let tickets = admin.tickets();
    let references: HashSet<_> = tickets.iter().map(|t| t.external_reference.clone()).collect();
    assert_eq!((tickets.len(), references.len()), (5, 5), "one ticket per order after resuming");
}
