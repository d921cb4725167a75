//! Fault injection: errors, dropped connections, stalls, latency, and 590 after a create.

use std::time::{Duration, Instant};

use easyvista_sim::{FaultSpec, routes};
use reqwest::StatusCode;
use serde_json::json;

use super::common::Harness;

async fn statuses(h: &Harness, n: usize) -> Vec<u16> {
    let mut seen = Vec::with_capacity(n);
    for _ in 0..n {
        let response = h
            .http
            .get(h.url("license"))
            .basic_auth("agent", Some("secret"))
            .send()
            .await
            .expect("answered");
        seen.push(response.status().as_u16());
    }
    seen
}

#[tokio::test]
async fn error_rates_are_reproducible_from_the_seed() {
    let (a, b) = (Harness::start().await, Harness::start().await);
    for h in [&a, &b] {
        h.sim
            .admin()
            .set_fault(routes::LICENSE, FaultSpec::errors(0.2, 500).with_seed(42))
            .expect("valid");
    }
    let (first, second) = (statuses(&a, 200).await, statuses(&b, 200).await);
    assert_eq!(first, second);
    let failed = first.iter().filter(|s| **s == 500).count();
    assert!((20..=60).contains(&failed), "{failed} of 200");
    assert!(first.iter().all(|s| *s == 200 || *s == 500));
    assert_eq!(a.sim.admin().counters().get(routes::LICENSE, 500), failed as u64);
}

#[tokio::test]
async fn unavailable_answers_carry_retry_after() {
    let h = Harness::start().await;
    h.sim
        .admin()
        .set_fault(routes::ANY, FaultSpec::errors(1.0, 503).with_retry_after(3))
        .expect("valid");
    let response = h
        .http
        .get(h.url("requests"))
        .basic_auth("agent", Some("secret"))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "3");
    h.sim.admin().clear_faults();
    assert_eq!(h.get("requests").await.0, StatusCode::OK);
}

#[tokio::test]
async fn dropped_connections_are_errors_for_the_client() {
    let h = Harness::start().await;
    h.sim.admin().set_fault(routes::CREATE_REQUEST, FaultSpec::drops(1.0)).expect("valid");
    let body = json!({"requests": [{"catalog_code": "25"}]});
    let result =
        h.http.post(h.url("requests")).basic_auth("agent", Some("secret")).json(&body).send().await;
    let error = result.expect_err("no answer");
    assert!(!error.is_timeout() && !error.is_status(), "{error:?}");
    assert!(h.sim.admin().tickets().is_empty(), "a dropped create creates nothing");
    assert_eq!(h.sim.admin().counters().dropped(routes::CREATE_REQUEST), 1);
    assert_eq!(h.get("license").await.0, StatusCode::OK, "other routes still answer");
}

/// Quirk 14 (and 32): a slow answer beyond the client's timeout, the ticket created anyway.
#[tokio::test]
async fn stalled_creates_time_out_on_the_client_but_create_the_ticket() {
    let h = Harness::start().await;
    h.sim
        .admin()
        .set_fault(routes::CREATE_REQUEST, FaultSpec::stalls(1.0, Duration::from_secs(5)))
        .expect("valid");
    let body = json!({"requests": [{"catalog_code": "25", "external_reference": "slow-1"}]});
    let result = h
        .http
        .post(h.url("requests"))
        .basic_auth("agent", Some("secret"))
        .json(&body)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(result.expect_err("times out").is_timeout());
    // The ticket is created before the answer stalls; on a starved machine the create itself
    // may still be under way when the client gives up.
    let mut tickets = h.sim.admin().tickets();
    for _ in 0..50 {
        if !tickets.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        tickets = h.sim.admin().tickets();
    }
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].external_reference, "slow-1");
}

#[tokio::test]
async fn latency_is_added() {
    let h = Harness::start().await;
    h.sim
        .admin()
        .set_fault(routes::LICENSE, FaultSpec::latency(Duration::from_millis(150)))
        .expect("valid");
    let started = Instant::now();
    assert_eq!(h.get("license").await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

/// Quirk 14: 590 does not prove that nothing was created.
#[tokio::test]
async fn a_590_after_create_leaves_the_ticket_behind() {
    let h = Harness::start().await;
    h.sim
        .admin()
        .set_fault(routes::CREATE_REQUEST, FaultSpec::fail_after_create(0.05).with_seed(3))
        .expect("valid");
    let mut answered_590 = 0;
    for i in 0..200 {
        let body =
            json!({"requests": [{"catalog_code": "25", "external_reference": format!("ord-{i}")}]});
        let (status, _) = h.post("requests", body).await;
        match status.as_u16() {
            201 => {}
            590 => answered_590 += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!((3..=20).contains(&answered_590), "{answered_590}");
    assert_eq!(h.sim.admin().tickets().len(), 200);
    assert_eq!(h.sim.admin().counters().tickets_created, 200);
    let (_, found) = h.get(r#"requests?search=external_reference:"ord-7""#).await;
    assert_eq!(found["total_record_count"], "1");
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let h = Harness::start().await;
    let url = h.url("license");
    h.sim.shutdown().await;
    let result = h.http.get(url).basic_auth("agent", Some("secret")).send().await;
    assert!(result.is_err());
}

/// Sets a fault through the admin HTTP API, as a client outside the process would.
async fn set_fault_over_http(h: &Harness, fault: serde_json::Value) {
    let status = h
        .http
        .put(h.admin_url("faults"))
        .json(&json!({"route": "POST /requests", "fault": fault}))
        .send()
        .await
        .expect("answered")
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
}

async fn found_by_reference(h: &Harness, reference: &str) -> Vec<String> {
    let (status, found) = h
        .get(&format!(r#"requests?search=external_reference:"{reference}"&fields=rfc_number"#))
        .await;
    assert_eq!(status, StatusCode::OK);
    super::common::column(&found, "RFC_NUMBER")
}

/// Quirk 14, lost answer: the connection closes after the create, yet the ticket exists and a
/// search by external reference finds it.
#[tokio::test]
async fn a_connection_dropped_after_create_leaves_the_ticket_behind() {
    let h = Harness::start().await;
    set_fault_over_http(&h, json!({"drop_after_create_rate": 1.0})).await;
    let body = json!({"requests": [{"catalog_code": "25", "external_reference": "lost-1"}]});
    let result =
        h.http.post(h.url("requests")).basic_auth("agent", Some("secret")).json(&body).send().await;
    let error = result.expect_err("no answer");
    assert!(!error.is_timeout() && !error.is_status(), "{error:?}");

    let found = found_by_reference(&h, "lost-1").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(h.ticket(&found[0]).await["EXTERNAL_REFERENCE"], "lost-1");
    let counters = h.sim.admin().counters();
    assert_eq!(counters.dropped(routes::CREATE_REQUEST), 1);
    assert_eq!(counters.get(routes::CREATE_REQUEST, 201), 0);
    assert_eq!(counters.tickets_created, 1);

    a_refused_create_is_answered_as_usual(&h).await;
}

/// Quirk 14, server error: a 503 (with Retry-After) after the create, the ticket there anyway.
#[tokio::test]
async fn a_503_after_create_leaves_the_ticket_behind() {
    let h = Harness::start().await;
    set_fault_over_http(
        &h,
        json!({"error_after_create_rate": 1.0, "error_status": 503, "retry_after_secs": 2}),
    )
    .await;
    let body = json!({"requests": [{"catalog_code": "25", "external_reference": "busy-1"}]});
    let response = h
        .http
        .post(h.url("requests"))
        .basic_auth("agent", Some("secret"))
        .json(&body)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "2");

    let found = found_by_reference(&h, "busy-1").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let counters = h.sim.admin().counters();
    assert_eq!(counters.get(routes::CREATE_REQUEST, 503), 1);
    assert_eq!(counters.tickets_created, 1);

    a_refused_create_is_answered_as_usual(&h).await;
}

#[tokio::test]
async fn a_500_after_create_uses_the_error_status_and_only_touches_creates() {
    let h = Harness::start().await;
    h.sim.admin().set_fault(routes::ANY, FaultSpec::error_after_create(1.0, 500)).expect("valid");
    let (status, _) = h
        .post(
            "requests",
            json!({"requests": [{"catalog_code": "25", "external_reference": "e-1"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(found_by_reference(&h, "e-1").await.len(), 1, "searches are not faulted");
    let rfc = h.sim.admin().tickets()[0].rfc.clone();
    let (status, _) = h.put(&format!("requests/{rfc}"), json!({"title": "changed"})).await;
    assert_eq!(status, StatusCode::CREATED, "updates are not faulted");
}

/// A create the simulator refuses creates nothing, so an after-create fault leaves it alone:
/// it gets its usual 406, and the one ticket already there stays the only one.
async fn a_refused_create_is_answered_as_usual(h: &Harness) {
    let unknown =
        json!({"requests": [{"catalog_code": "25", "recipient_mail": "who@nowhere.test"}]});
    assert_eq!(h.post("requests", unknown).await.0, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(h.sim.admin().tickets().len(), 1);
}
