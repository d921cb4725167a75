//! Opening tickets against the simulator: every create path, and the reconcile rule under
//! failures (a create whose result is unknown is looked up, never resent blindly).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use common::{client, config_for, draft, simulator};
use easyvista_sim::{FaultSpec, routes};
use futures::StreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use ta_domain::{CatalogRef, RecipientKind};
use ta_easyvista::{Credentials, EasyVistaClient};
use ta_ports::{TicketingBackend, TicketingError};

#[tokio::test]
async fn a_create_opens_one_ticket_numbered_from_its_href() {
    let sim = simulator().await;
    let opened = client(&sim).open_ticket(&draft(1)).await.unwrap();

    assert!(!opened.adopted);
    let ticket = sim.admin().ticket(opened.number.as_str()).expect("the ticket exists");
    assert_eq!(ticket.external_reference, "TA-A-1-test");
    assert_eq!(ticket.catalog_code, "25");
    assert_eq!(ticket.title, "Grant access 1");
    assert!(opened.number.as_str().starts_with('S'), "{}", opened.number);
    assert_eq!(sim.admin().counters().total(routes::CREATE_REQUEST), 1);
}

#[tokio::test]
async fn origin_severity_and_impact_reach_the_server() {
    let sim = simulator().await;
    let mut from_draft = draft(1);
    from_draft.origin = Some("Portal".into());
    let opened = client(&sim).open_ticket(&from_draft).await.unwrap();
    let ticket = sim.admin().ticket(opened.number.as_str()).unwrap();
    assert_eq!(ticket.severity_id, "3");
    assert_eq!(ticket.impact_id, "4");
    assert_eq!(ticket.urgency_id, "2");
    assert_eq!(ticket.origin, "Portal");

    // The connection's Origin setting wins over the draft's.
    let mut config = config_for(&sim);
    config.origin = Some("Identity Manager".into());
    let mut other = draft(2);
    other.origin = Some("Portal".into());
    other.severity_id = Some("1".into());
    let opened = EasyVistaClient::new(config).unwrap().open_ticket(&other).await.unwrap();
    let ticket = sim.admin().ticket(opened.number.as_str()).unwrap();
    assert_eq!(ticket.origin, "Identity Manager");
    assert_eq!(ticket.severity_id, "1");
}

#[tokio::test]
async fn a_catalog_guid_is_sent_as_catalog_guid_and_a_code_as_catalog_code() {
    let sim = simulator().await;
    let client = client(&sim);
    let mut by_guid = draft(1);
    by_guid.catalog = CatalogRef::from_value("{61e17eff-5ed7-4b20-b26f-4fac57555ebc}");
    let incident = client.open_ticket(&by_guid).await.unwrap();
    assert!(incident.number.as_str().starts_with('I'), "{}", incident.number);
    assert_eq!(sim.admin().ticket(incident.number.as_str()).unwrap().catalog_code, "42");

    let mut unknown_guid = draft(2);
    unknown_guid.catalog = CatalogRef::Guid("00000000-0000-0000-0000-000000000000".into());
    let error = client.open_ticket(&unknown_guid).await.unwrap_err();
    assert!(matches!(error, TicketingError::Rejected { status: 590, .. }), "{error}");
}

#[tokio::test]
async fn the_recipient_is_sent_in_the_configured_field() {
    let sim = simulator().await;
    let mut config = config_for(&sim);
    config.recipient_kind = Some(RecipientKind::Mail);
    let client = EasyVistaClient::new(config).unwrap();
    let mut by_mail = draft(1);
    by_mail.recipient = "sseagal@example.test".into();
    let opened = client.open_ticket(&by_mail).await.unwrap();
    assert!(sim.admin().ticket(opened.number.as_str()).is_some());

    let mut by_identification = draft(2);
    by_identification.recipient = "000104".into();
    by_identification.recipient_kind = RecipientKind::Identification;
    let opened = common::client(&sim).open_ticket(&by_identification).await.unwrap();
    assert!(sim.admin().ticket(opened.number.as_str()).is_some());
}

#[tokio::test]
async fn an_unknown_recipient_is_a_406_rejection_naming_the_field_and_is_not_resent() {
    let sim = simulator().await;
    let mut nobody = draft(1);
    nobody.recipient = "999999999".into();
    let error = client(&sim).open_ticket(&nobody).await.unwrap_err();

    let TicketingError::Rejected { status, message, field } = error else {
        panic!("not a rejection: {error}")
    };
    assert_eq!(status, 406);
    assert_eq!(field.as_deref(), Some("recipient_id"));
    assert!(message.contains("999999999"), "{message}");
    assert_eq!(sim.admin().counters().total(routes::CREATE_REQUEST), 1);
    assert!(sim.admin().tickets().is_empty());
}

#[tokio::test]
async fn a_590_quotes_the_inner_message_and_names_the_field() {
    let sim = simulator().await;
    let mut bad_urgency = draft(1);
    bad_urgency.urgency_id = Some("77".into());
    let error = client(&sim).open_ticket(&bad_urgency).await.unwrap_err();

    let TicketingError::Rejected { status, message, field } = error else {
        panic!("not a rejection: {error}")
    };
    assert_eq!(status, 590);
    assert_eq!(field.as_deref(), Some("urgency_id"));
    assert!(message.contains("FK_SD_REQUEST_SD_URGENCY"), "{message}");
    assert!(!message.contains("{\"error\""), "the inner JSON is unwrapped: {message}");
    // The 590 was checked by a search before being reported.
    assert_eq!(sim.admin().counters().total(routes::CREATE_REQUEST), 1);
    assert!(sim.admin().counters().total(routes::LIST_REQUESTS) >= 1);
}

#[tokio::test]
async fn a_590_after_the_ticket_was_created_adopts_it() {
    let sim = simulator().await;
    sim.admin().set_fault(routes::CREATE_REQUEST, FaultSpec::fail_after_create(1.0)).unwrap();
    let opened = client(&sim).open_ticket(&draft(1)).await.unwrap();

    assert!(opened.adopted);
    let tickets = sim.admin().tickets();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].rfc, opened.number.as_str());
    assert_eq!(sim.admin().counters().total(routes::CREATE_REQUEST), 1, "never resent");
}

#[tokio::test]
async fn a_create_that_times_out_is_found_by_its_reference_not_sent_again() {
    let sim = simulator().await;
    sim.admin()
        .set_fault(routes::CREATE_REQUEST, FaultSpec::stalls(1.0, Duration::from_millis(600)))
        .unwrap();
    let mut config = config_for(&sim);
    config.request_timeout = Duration::from_millis(200);
    let client = EasyVistaClient::new(config).unwrap();

    let opened = client.open_ticket(&draft(1)).await.unwrap();
    assert!(opened.adopted);
    // The stalled create still lands; wait for the server to finish it before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.admin().tickets().len(), 1);
    assert_eq!(sim.admin().counters().total(routes::CREATE_REQUEST), 1);
}

/// Opens tickets 0..n one after the other and checks, for each, that every create sent after the
/// first was preceded by a search (a resend only after the search proved the ticket absent).
/// Returns how many creates were sent in all.
async fn open_each_searching_before_any_resend(
    sim: &easyvista_sim::RunningSimulator,
    client: &EasyVistaClient,
    n: usize,
) -> u64 {
    let mut sent = 0;
    for i in 0..n {
        let before = sim.admin().counters();
        let opened = client.open_ticket(&draft(i)).await.unwrap();
        let after = sim.admin().counters();
        assert_eq!(
            sim.admin().ticket(opened.number.as_str()).unwrap().external_reference,
            format!("TA-A-{i}-test")
        );
        let creates = after.total(routes::CREATE_REQUEST) - before.total(routes::CREATE_REQUEST);
        let searches = after.total(routes::LIST_REQUESTS) - before.total(routes::LIST_REQUESTS);
        assert!(
            searches + 1 >= creates,
            "order {i}: {creates} creates sent with only {searches} searches between them"
        );
        sent += creates;
    }
    sent
}

/// Exactly one ticket per reference, `n` in all.
fn assert_one_ticket_each(sim: &easyvista_sim::RunningSimulator, n: usize) {
    let tickets = sim.admin().tickets();
    let references: HashSet<&str> = tickets.iter().map(|t| t.external_reference.as_str()).collect();
    assert_eq!(references.len(), n, "every order has its ticket");
    assert_eq!(tickets.len(), n, "and only one");
}

#[tokio::test]
async fn a_connection_lost_after_the_create_adopts_the_ticket_without_resending() {
    let sim = simulator().await;
    sim.admin().set_fault(routes::CREATE_REQUEST, FaultSpec::drop_after_create(1.0)).unwrap();
    let opened = client(&sim).open_ticket(&draft(1)).await.unwrap();

    assert!(opened.adopted);
    assert_one_ticket_each(&sim, 1);
    let counters = sim.admin().counters();
    assert_eq!(counters.total(routes::CREATE_REQUEST), 1, "never resent");
    assert_eq!(counters.dropped(routes::CREATE_REQUEST), 1, "the fault fired");
    assert!(counters.total(routes::LIST_REQUESTS) >= 1, "the reference was searched");
}

#[tokio::test]
async fn a_5xx_after_the_create_adopts_the_ticket_without_resending() {
    let sim = simulator().await;
    let fault = FaultSpec::error_after_create(1.0, 503).with_retry_after(0);
    sim.admin().set_fault(routes::CREATE_REQUEST, fault).unwrap();
    let opened = client(&sim).open_ticket(&draft(1)).await.unwrap();

    assert!(opened.adopted);
    assert_one_ticket_each(&sim, 1);
    let counters = sim.admin().counters();
    assert_eq!(counters.total(routes::CREATE_REQUEST), 1, "never resent");
    assert_eq!(counters.get(routes::CREATE_REQUEST, 503), 1, "the fault fired");
    assert!(counters.total(routes::LIST_REQUESTS) >= 1, "the reference was searched");
}

#[tokio::test]
async fn a_lost_connection_is_resent_only_after_the_search_proves_the_ticket_absent() {
    let sim = simulator().await;
    // Some connections are lost before the ticket is created, others after: only the search
    // tells them apart, and a blind resend of the second kind opens a duplicate.
    let fault = FaultSpec { drop_rate: 0.3, drop_after_create_rate: 0.3, ..FaultSpec::default() };
    resends_only_after_a_search(&sim, fault, "a create that lost its answer").await;
}

#[tokio::test]
async fn a_5xx_is_resent_only_after_the_search_proves_the_ticket_absent() {
    let sim = simulator().await;
    // Some 503s come before the ticket is created, others after it.
    let fault = FaultSpec {
        error_rate: 0.3,
        error_after_create_rate: 0.3,
        error_status: 503,
        retry_after_secs: 0,
        ..FaultSpec::default()
    };
    resends_only_after_a_search(&sim, fault, "a create answered 503").await;
}

/// Under `fault` on creates, 20 orders each get exactly one ticket, some creates are resent,
/// each only after a search, and some tickets were created by a create whose answer failed.
async fn resends_only_after_a_search(
    sim: &easyvista_sim::RunningSimulator,
    fault: FaultSpec,
    failed: &str,
) {
    sim.admin().set_fault(routes::CREATE_REQUEST, fault.with_seed(7)).unwrap();
    let mut config = config_for(sim);
    config.create_attempts = 12;
    let client = EasyVistaClient::new(config).unwrap();

    let sent = open_each_searching_before_any_resend(sim, &client, 20).await;
    assert_one_ticket_each(sim, 20);
    let counters = sim.admin().counters();
    assert!(sent > 20, "some creates were resent ({sent} sent)");
    assert!(
        counters.tickets_created > counters.get(routes::CREATE_REQUEST, 201),
        "some tickets were created by {failed}"
    );
}

#[tokio::test]
async fn when_the_check_after_a_590_fails_too_the_create_is_unconfirmed() {
    let sim = simulator().await;
    sim.admin().set_fault(routes::CREATE_REQUEST, FaultSpec::fail_after_create(1.0)).unwrap();
    sim.admin().set_fault(routes::LIST_REQUESTS, FaultSpec::errors(1.0, 500)).unwrap();
    let error = client(&sim).open_ticket(&draft(1)).await.unwrap_err();

    assert!(
        matches!(&error, TicketingError::Unconfirmed { reference, .. } if reference == "TA-A-1-test"),
        "{error}"
    );
    assert!(error.is_transient());
    assert_eq!(sim.admin().counters().total(routes::CREATE_REQUEST), 1);
}

#[tokio::test]
async fn bad_credentials_are_an_authentication_error() {
    let sim = simulator().await;
    let mut config = config_for(&sim);
    config.credentials =
        Credentials::Basic { login: "agent".into(), password: SecretString::from("wrong") };
    let error = EasyVistaClient::new(config).unwrap().open_ticket(&draft(1)).await.unwrap_err();
    assert!(matches!(error, TicketingError::Authentication(_)), "{error}");
    assert!(!error.to_string().contains("wrong"));

    let mut bearer = config_for(&sim);
    bearer.credentials = Credentials::Bearer(SecretString::from(sim.token().to_owned()));
    let opened = EasyVistaClient::new(bearer).unwrap().open_ticket(&draft(2)).await.unwrap();
    assert!(!opened.adopted);
}

#[tokio::test]
async fn a_thousand_creates_under_failures_give_a_thousand_tickets_and_no_duplicate() {
    let sim = simulator().await;
    // 20% of every call fails: 5xx, dropped connections, answers past the timeout.
    let failing = FaultSpec {
        error_rate: 0.08,
        error_status: 503,
        retry_after_secs: 0,
        drop_rate: 0.07,
        stall_rate: 0.05,
        stall_ms: 600,
        ..FaultSpec::default()
    };
    // Creates also create the ticket and then answer 590 (5% of the time), lose the connection
    // (3%) or answer 503 (3%).
    let creates = FaultSpec {
        fail_after_create_rate: 0.05,
        drop_after_create_rate: 0.03,
        error_after_create_rate: 0.03,
        seed: 11,
        ..failing.clone()
    };
    sim.admin().set_fault(routes::ANY, failing.with_seed(5)).unwrap();
    sim.admin().set_fault(routes::CREATE_REQUEST, creates).unwrap();
    let mut config = config_for(&sim);
    // Generous for a loaded CI machine, still well under the stall.
    config.request_timeout = Duration::from_millis(300);
    config.create_attempts = 6;
    let client = EasyVistaClient::new(config).unwrap();

    let opened: Vec<String> = futures::stream::iter(0..1000)
        .map(|n| open_like_the_use_case(&client, n))
        .buffer_unordered(16)
        .collect()
        .await;

    tokio::time::sleep(Duration::from_millis(650)).await; // let stalled answers finish
    let tickets = sim.admin().tickets();
    let references: HashSet<&str> = tickets.iter().map(|t| t.external_reference.as_str()).collect();
    assert_eq!(tickets.len(), 1000, "exactly one ticket per create");
    assert_eq!(references.len(), 1000, "no duplicate");
    let numbers: HashSet<&str> = tickets.iter().map(|t| t.rfc.as_str()).collect();
    assert!(
        opened.iter().all(|rfc| numbers.contains(rfc.as_str())),
        "every reported number exists"
    );

    let counters = sim.admin().counters();
    assert!(counters.get(routes::CREATE_REQUEST, 590) > 0, "590 after create fired");
    assert!(counters.dropped(routes::CREATE_REQUEST) > 0, "drops fired");
    assert!(counters.get(routes::CREATE_REQUEST, 503) > 0, "errors fired");
    // Tickets whose create was answered neither 201 nor 590: lost or 503 after creating.
    let answered =
        counters.get(routes::CREATE_REQUEST, 201) + counters.get(routes::CREATE_REQUEST, 590);
    assert!(counters.tickets_created > answered, "drops and errors after create fired");
}

/// Fulfill cycles an order may take: with 20% of calls failing, needing more than a few means
/// the machine is starved, not that the client is wrong.
const PASSES: usize = 30;

/// What the fulfill use case does: on a transient failure the order stays "creating"; the next
/// pass looks the reference up first and only then opens again.
async fn open_like_the_use_case(client: &EasyVistaClient, n: usize) -> String {
    let draft = draft(n);
    for pass in 0..PASSES {
        if pass > 0 {
            match client.find_by_external_reference(&draft.external_reference).await {
                Ok(Some(found)) => return found.to_string(),
                Ok(None) => {}
                Err(error) if error.is_transient() => continue,
                Err(error) => panic!("order {n}: {error}"),
            }
        }
        match client.open_ticket(&draft).await {
            Ok(opened) => return opened.number.to_string(),
            Err(error) if error.is_transient() => {
                eprintln!("order {n} pass {pass}: {error}");
                continue;
            }
            Err(error) => panic!("order {n}: {error}"),
        }
    }
    panic!("order {n}: no ticket after {PASSES} passes")
}

// === A fake EasyVista for answers the simulator does not give ===

/// Creates answer 201 with an empty body (no HREF), after `throttled` answers of 429 with
/// `Retry-After: 1`; list searches honour `external_reference:"…"`.
#[derive(Clone, Default)]
struct CreateFake {
    throttled: Arc<AtomicUsize>,
    tickets: Arc<Mutex<Vec<Value>>>,
    posts: Arc<AtomicUsize>,
    searches: Arc<Mutex<Vec<String>>>,
}

async fn fake_create(
    State(fake): State<CreateFake>,
    axum::Json(body): axum::Json<Value>,
) -> axum::response::Response {
    fake.posts.fetch_add(1, Ordering::Relaxed);
    let throttle = fake
        .throttled
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1));
    if throttle.is_ok() {
        let headers = [(axum::http::header::RETRY_AFTER, "1")];
        return (StatusCode::TOO_MANY_REQUESTS, headers, "").into_response();
    }
    let reference = body["requests"][0]["external_reference"].as_str().unwrap_or("").to_owned();
    let mut tickets = fake.tickets.lock().unwrap();
    let rfc = format!("S260101_{:06}", tickets.len() + 1);
    tickets.push(json!({"RFC_NUMBER": rfc, "EXTERNAL_REFERENCE": reference}));
    (StatusCode::CREATED, "").into_response()
}

async fn fake_search(
    State(fake): State<CreateFake>,
    Query(params): Query<HashMap<String, String>>,
) -> axum::Json<Value> {
    let search = params.get("search").cloned().unwrap_or_default();
    fake.searches.lock().unwrap().push(search.clone());
    let wanted = search.strip_prefix("external_reference:").map(|v| v.trim_matches('"'));
    let found: Vec<Value> = fake
        .tickets
        .lock()
        .unwrap()
        .iter()
        .filter(|t| wanted.is_none_or(|w| t["EXTERNAL_REFERENCE"] == w))
        .cloned()
        .collect();
    let count = found.len().to_string();
    axum::Json(json!({"record_count": count, "total_record_count": count, "records": found}))
}

async fn start_create_fake(fake: CreateFake) -> EasyVistaClient {
    let app = Router::new()
        .route("/api/v1/{account}/requests", get(fake_search).post(fake_create))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let credentials = Credentials::Bearer(SecretString::from("t"));
    let mut config =
        ta_easyvista::EasyVistaConfig::new(format!("http://{addr}/api/v1/"), "50004", credentials);
    config.read_retries = common::fast_retries();
    config.reconcile_delay = Duration::from_millis(20);
    EasyVistaClient::new(config).unwrap()
}

#[tokio::test]
async fn a_201_without_an_href_is_found_by_its_external_reference() {
    let fake = CreateFake::default();
    let client = start_create_fake(fake.clone()).await;
    fake.tickets
        .lock()
        .unwrap()
        .push(json!({"RFC_NUMBER": "S250101_000001", "EXTERNAL_REFERENCE": "TA-A-9-test"}));

    let opened = client.open_ticket(&draft(1)).await.unwrap();
    assert_eq!(opened.number.as_str(), "S260101_000002", "the ticket carrying the reference");
    assert_eq!(fake.posts.load(Ordering::Relaxed), 1, "never resent");
    assert_eq!(*fake.searches.lock().unwrap(), [r#"external_reference:"TA-A-1-test""#]);
}

#[tokio::test]
async fn a_create_answered_429_waits_as_long_as_retry_after_asks() {
    let fake = CreateFake { throttled: Arc::new(AtomicUsize::new(1)), ..CreateFake::default() };
    // The doubling pause alone would be at most 40 ms (common::fast_retries).
    let client = start_create_fake(fake.clone()).await;
    let started = std::time::Instant::now();
    let opened = client.open_ticket(&draft(1)).await.unwrap();
    let waited = started.elapsed();

    assert_eq!(opened.number.as_str(), "S260101_000001");
    assert_eq!(fake.posts.load(Ordering::Relaxed), 2, "the 429 was sent again");
    assert_eq!(fake.tickets.lock().unwrap().len(), 1);
    assert!(waited >= Duration::from_millis(950), "sent again after {waited:?}");
}
