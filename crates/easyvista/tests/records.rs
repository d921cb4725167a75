//! Streaming reads: the simulator's lists and saved views, and a small fake server showing the
//! quirks the simulator does not have (ignored filters, ignored paging, odd envelopes).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use common::{client, config_for, simulator};
use easyvista_sim::{TicketSeed, routes};
use futures::TryStreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use ta_domain::{TicketNumber, TicketOutcome};
use ta_easyvista::{Credentials, EasyVistaClient, EasyVistaConfig};
use ta_ports::{EntityQuery, EntitySource, FollowRequest, TicketingBackend};

fn query(resource: &str, page_size: usize) -> EntityQuery {
    EntityQuery { resource: resource.into(), page_size, ..EntityQuery::default() }
}

#[tokio::test]
async fn paging_over_250_records_with_max_rows_100_yields_250_records() {
    let sim = simulator().await;
    for i in 0..250 {
        sim.admin()
            .seed_ticket(TicketSeed {
                external_reference: format!("TA-A-{i}-x"),
                ..TicketSeed::default()
            })
            .unwrap();
    }
    let mut q = query("requests", 100);
    q.fields = vec!["rfc_number".into()];
    let records: Vec<_> = client(&sim).records(q).try_collect().await.unwrap();

    assert_eq!(records.len(), 250);
    let unique: std::collections::HashSet<&str> =
        records.iter().map(|r| r["RFC_NUMBER"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), 250);
    assert_eq!(sim.admin().counters().total(routes::LIST_REQUESTS), 3);
}

#[tokio::test]
async fn employees_and_saved_views_stream_too() {
    let sim = simulator().await;
    let employees: Vec<_> =
        client(&sim).records(query("/employees", 0)).try_collect().await.unwrap();
    assert!(employees.len() > 100, "{} employees", employees.len());

    let view = "internalqueries?queryguid={9A8B7C6D-5E4F-4A3B-8C2D-1E0F9A8B7C6D}";
    let rows: Vec<_> = client(&sim).records(query(view, 2)).try_collect().await.unwrap();
    let names: Vec<&str> =
        rows.iter().filter_map(|r| r.get("E_NAME").and_then(Value::as_str)).collect();
    assert_eq!(names, ["Payroll", "CRM", "Wiki"]);
}

#[tokio::test]
async fn a_resource_outside_the_api_root_is_refused() {
    let sim = simulator().await;
    let error = client(&sim)
        .records(query("https://elsewhere.example/steal", 0))
        .try_collect::<Vec<_>>()
        .await;
    assert!(error.unwrap_err().to_string().contains("leaves the account's API root"));
}

// === A fake EasyVista with the quirks of some real instances ===

#[derive(Clone, Default)]
struct Fake {
    tickets: Arc<Vec<Value>>,
    /// Answers every list with the whole table, whatever `search`, `max_rows` or `offset` say.
    /// Otherwise pages by `@next` only (a `start` parameter, `offset` ignored), with mixed-case
    /// envelope keys, a numeric count and no total.
    ignore_everything: bool,
    /// When set, pages by `offset` with no `@next`, never answering more than this many rows
    /// whatever `max_rows` asks for, and gives `total_record_count` (as a string).
    cap_max_rows: Option<usize>,
    /// How many of the first list calls answer 429 with `Retry-After: 1`.
    throttled: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    single_reads: Arc<AtomicUsize>,
}

async fn fake_list(
    State(fake): State<Fake>,
    Query(params): Query<HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    fake.calls.fetch_add(1, Ordering::Relaxed);
    let throttle = fake
        .throttled
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1));
    if throttle.is_ok() {
        let headers = [(axum::http::header::RETRY_AFTER, "1")];
        let body = axum::Json(json!({"error": "Too many requests"}));
        return (axum::http::StatusCode::TOO_MANY_REQUESTS, headers, body).into_response();
    }
    fake_page(&fake, &params).into_response()
}

fn fake_page(fake: &Fake, params: &HashMap<String, String>) -> axum::Json<Value> {
    let all = fake.tickets.as_slice();
    if fake.ignore_everything {
        return axum::Json(
            json!({"record_count": all.len().to_string(), "total_record_count": all.len().to_string(), "records": all}),
        );
    }
    let max_rows: usize = params.get("max_rows").and_then(|v| v.parse().ok()).unwrap_or(100);
    if let Some(cap) = fake.cap_max_rows {
        let offset: usize = params.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
        let page: Vec<&Value> = all.iter().skip(offset).take(max_rows.min(cap)).collect();
        return axum::Json(json!({
            "record_count": page.len().to_string(),
            "total_record_count": all.len().to_string(),
            "records": page,
        }));
    }
    let start: usize = params.get("start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let page: Vec<&Value> = all.iter().skip(start).take(max_rows).collect();
    let mut body = json!({"Record_Count": page.len(), "Records": page});
    if start + max_rows < all.len() {
        body["@next"] = json!(format!("requests?start={}&max_rows={max_rows}", start + max_rows));
    }
    axum::Json(body)
}

async fn fake_ticket(
    State(fake): State<Fake>,
    axum::extract::Path((_, rfc)): axum::extract::Path<(String, String)>,
) -> Result<axum::Json<Value>, axum::http::StatusCode> {
    fake.single_reads.fetch_add(1, Ordering::Relaxed);
    fake.tickets
        .iter()
        .find(|t| t["RFC_NUMBER"] == rfc.as_str())
        .map(|t| axum::Json(t.clone()))
        .ok_or(axum::http::StatusCode::NOT_FOUND)
}

fn fake_tickets(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let (guid, end) = if i % 2 == 0 {
                (easyvista_sim::CLOSED_GUID, "2026-01-02T10:00:00.000+01:00")
            } else {
                (easyvista_sim::IN_PROGRESS_GUID, "")
            };
            json!({
                "RFC_NUMBER": format!("I260101_{i:06}"),
                "LAST_UPDATE": "2026-01-02T10:00:00.000+01:00",
                "END_DATE_UT": end,
                "EXTERNAL_REFERENCE": format!("TA-A-{i}-fake"),
                "STATUS": {"STATUS_GUID": guid, "STATUS_EN": if end.is_empty() { "In Progress" } else { "Closed" }},
            })
        })
        .collect()
}

async fn start_fake(fake: Fake) -> EasyVistaClient {
    let app = Router::new()
        .route("/api/v1/{account}/requests", get(fake_list))
        .route("/api/v1/{account}/requests/{rfc}", get(fake_ticket))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let credentials = Credentials::Bearer(secrecy::SecretString::from("t"));
    let mut config = EasyVistaConfig::new(format!("http://{addr}/api/v1/"), "50004", credentials);
    config.read_retries = common::fast_retries();
    config.batch_size = 10;
    EasyVistaClient::new(config).unwrap()
}

#[tokio::test]
async fn a_server_that_ignores_the_search_filter_still_gives_correct_results() {
    let fake =
        Fake { tickets: Arc::new(fake_tickets(300)), ignore_everything: true, ..Fake::default() };
    let client = start_fake(fake.clone()).await;

    let followed: Vec<TicketNumber> = [3, 4, 250, 299]
        .iter()
        .map(|i| TicketNumber::new(&format!("I260101_{i:06}")).unwrap())
        .collect();
    let mut with_lost = followed.clone();
    with_lost.push(TicketNumber::new("I260101_999999").unwrap());
    let report =
        client.follow(&FollowRequest { tickets: with_lost, watermark: None }).await.unwrap();

    assert_eq!(report.observations.len(), 5, "{:?}", report.observations);
    for observation in &report.observations {
        let expected = match observation.ticket.as_str() {
            "I260101_000004" | "I260101_000250" => TicketOutcome::Closed,
            "I260101_000003" | "I260101_000299" => TicketOutcome::Open,
            "I260101_999999" => TicketOutcome::Lost,
            other => panic!("{other} was not followed"),
        };
        assert_eq!(observation.outcome, expected, "{}", observation.ticket);
    }

    let found = client
        .find_by_external_reference(&ta_domain::ExternalReference::parse("TA-A-251-fake").unwrap())
        .await;
    assert_eq!(found.unwrap().unwrap().as_str(), "I260101_000251");
    let absent = client
        .find_by_external_reference(&ta_domain::ExternalReference::parse("TA-A-9999-fake").unwrap())
        .await;
    assert_eq!(absent.unwrap(), None);
}

#[tokio::test]
async fn a_server_that_ignores_max_rows_and_offset_is_read_once_not_forever() {
    let fake =
        Fake { tickets: Arc::new(fake_tickets(250)), ignore_everything: true, ..Fake::default() };
    let client = start_fake(fake.clone()).await;
    let records: Vec<_> = client.records(query("requests", 100)).try_collect().await.unwrap();
    assert_eq!(records.len(), 250);
    assert_eq!(fake.calls.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn next_links_casing_and_numeric_counts_are_followed() {
    let fake = Fake { tickets: Arc::new(fake_tickets(250)), ..Fake::default() };
    let client = start_fake(fake.clone()).await;
    let records: Vec<_> = client.records(query("requests", 100)).try_collect().await.unwrap();
    let numbers: Vec<&str> = records.iter().map(|r| r["RFC_NUMBER"].as_str().unwrap()).collect();
    assert_eq!(numbers.len(), 250);
    assert_eq!(numbers[100], "I260101_000100");
    assert_eq!(numbers[249], "I260101_000249");
    assert_eq!(fake.calls.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn a_server_that_caps_max_rows_is_read_to_its_total_record_count() {
    let fake =
        Fake { tickets: Arc::new(fake_tickets(250)), cap_max_rows: Some(40), ..Fake::default() };
    let client = start_fake(fake.clone()).await;

    let records: Vec<_> = client.records(query("requests", 100)).try_collect().await.unwrap();
    let numbers: Vec<&str> = records.iter().map(|r| r["RFC_NUMBER"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..250).map(|i| format!("I260101_{i:06}")).collect();
    assert_eq!(numbers, expected, "every row once, in order");
    // Six pages of 40 and one of 10: the short pages did not end the read early.
    assert_eq!(fake.calls.load(Ordering::Relaxed), 7);

    // The export's reader (raw pages) and the page reader go as far.
    let raw: Vec<_> = client.raw_pages(query("requests", 100)).try_collect().await.unwrap();
    assert_eq!(raw.iter().map(|p| p.count).collect::<Vec<_>>(), [40, 40, 40, 40, 40, 40, 10]);
    let pages: Vec<_> = client.pages(query("requests", 100)).try_collect().await.unwrap();
    assert_eq!(pages.concat(), records);
}

#[tokio::test]
async fn a_read_answered_429_waits_as_long_as_retry_after_asks() {
    let fake = Fake {
        tickets: Arc::new(fake_tickets(10)),
        throttled: Arc::new(AtomicUsize::new(1)),
        ..Fake::default()
    };
    // The backoff alone would wait at most 40 ms (common::fast_retries).
    let client = start_fake(fake.clone()).await;
    let started = std::time::Instant::now();
    let records: Vec<_> = client.records(query("requests", 100)).try_collect().await.unwrap();
    let waited = started.elapsed();

    assert_eq!(records.len(), 10);
    assert_eq!(fake.calls.load(Ordering::Relaxed), 2, "the 429, then the page");
    assert!(waited >= std::time::Duration::from_millis(950), "retried after {waited:?}");
}

#[tokio::test]
async fn a_delta_on_a_server_that_ignores_the_range_falls_back_to_a_full_read() {
    let fake =
        Fake { tickets: Arc::new(fake_tickets(50)), ignore_everything: true, ..Fake::default() };
    let client = start_fake(fake.clone()).await;
    let tickets = vec![TicketNumber::new("I260101_000002").unwrap()];
    let watermark = Some("ev1:2026-06-01T00:00:00.000+02:00".to_owned());
    let report = client.follow(&FollowRequest { tickets, watermark }).await.unwrap();
    assert_eq!(report.observations.len(), 1);
    assert_eq!(report.observations[0].outcome, TicketOutcome::Closed);
    // The delta search (whose rows were all older than its bound), then a full read: the probe
    // for the newest LAST_UPDATE, the batch search (which the server ignored too) and the
    // single read of the followed ticket.
    assert_eq!(fake.calls.load(Ordering::Relaxed), 3, "delta search, probe, batch search");
    assert_eq!(fake.single_reads.load(Ordering::Relaxed), 1, "the ticket read alone");
    assert_eq!(report.requests, 4);
    assert_eq!(
        report.watermark.as_deref(),
        Some("ev1:2026-01-02T10:00:00.000+01:00"),
        "the full read's probe gives the next watermark"
    );
}

#[tokio::test]
async fn an_unreadable_updated_since_is_refused() {
    let sim = simulator().await;
    let client = EasyVistaClient::new(config_for(&sim)).unwrap();
    let mut q = query("employees", 0);
    q.updated_since = Some("yesterday".into());
    let error = client.records(q).try_collect::<Vec<_>>().await.unwrap_err();
    assert!(error.to_string().contains("updated_since"), "{error}");
}

#[tokio::test]
async fn pages_hold_the_same_records_as_the_record_stream() {
    let fake = Fake { tickets: Arc::new(fake_tickets(250)), ..Fake::default() };
    let client = start_fake(fake.clone()).await;
    let pages: Vec<_> = client.pages(query("requests", 100)).try_collect().await.unwrap();
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [100, 100, 50]);
    let records: Vec<_> = client.records(query("requests", 100)).try_collect().await.unwrap();
    assert_eq!(pages.concat(), records);

    let ignoring =
        Fake { tickets: Arc::new(fake_tickets(250)), ignore_everything: true, ..Fake::default() };
    let client = start_fake(ignoring.clone()).await;
    let pages: Vec<_> = client.pages(query("requests", 100)).try_collect().await.unwrap();
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [250]);
    assert_eq!(ignoring.calls.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn raw_pages_hold_the_same_records_as_parsed_pages() {
    let fake = Fake { tickets: Arc::new(fake_tickets(250)), ..Fake::default() };
    let client = start_fake(fake.clone()).await;
    let raw: Vec<_> = client.raw_pages(query("requests", 100)).try_collect().await.unwrap();
    assert_eq!(raw.iter().map(|p| p.count).collect::<Vec<_>>(), [100, 100, 50]);
    let parsed: Vec<Vec<ta_ports::Record>> =
        raw.iter().map(|page| serde_json::from_slice(page.records_json()).unwrap()).collect();
    let pages: Vec<_> = client.pages(query("requests", 100)).try_collect().await.unwrap();
    assert_eq!(parsed, pages);

    let ignoring =
        Fake { tickets: Arc::new(fake_tickets(250)), ignore_everything: true, ..Fake::default() };
    let client = start_fake(ignoring.clone()).await;
    let raw: Vec<_> = client.raw_pages(query("requests", 100)).try_collect().await.unwrap();
    assert_eq!(raw.iter().map(|p| p.count).collect::<Vec<_>>(), [250]);
    assert_eq!(ignoring.calls.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn pages_are_read_at_most_one_ahead_of_the_reader() {
    let fake = Fake { tickets: Arc::new(fake_tickets(1000)), ..Fake::default() };
    let client = start_fake(fake.clone()).await;
    let mut pages = client.pages(query("requests", 10));
    let first = futures::StreamExt::next(&mut pages).await.unwrap().unwrap();
    assert_eq!(first.len(), 10);
    // Give the read-ahead task time to run as far as it can.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let calls = fake.calls.load(Ordering::Relaxed);
    assert!(calls <= 3, "{calls} pages requested while the reader holds one");
    drop(pages);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(fake.calls.load(Ordering::Relaxed), calls, "reading stops with the reader");
}
