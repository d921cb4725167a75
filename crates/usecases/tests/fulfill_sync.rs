//! The use cases over mockall mocks of every port: what they record, in which order, and what
//! they never do (open a ticket twice, acknowledge before recording, report before publishing).

use std::sync::{Arc, Mutex};

use chrono::{Duration, TimeZone, Utc};
use mockall::Sequence;
use mockall::predicate::*;
use ta_domain::{
    ExternalReference, OutcomePolicy, ProvisioningState, ResourceTypeMapping, StateReport,
    TemplateOptions, TicketNumber, TicketOutcome, TicketTemplates,
};
use ta_ports::{
    Delivery, FinishedOrder, FollowReport, MockLedger, MockOrderSource, MockResultSink,
    MockTicketingBackend, NewOrder, OpenTicket, OpenedTicket, OrderStage, PendingOrder,
    PublishedResults, ResultRow, StoreError, TicketObservation, TicketingError,
};
use ta_usecases::{
    DraftSettings, Fulfill, MappingSet, PreparedMapping, StopSignal, Sync, SyncSettings,
};

const MAPPINGS: &str = r#"<Root>
  <EasyVistaResourceTypeMapping Identifier="Badge_User" Connection="EasyVistaManual" RecipientId="EmployeeId"
    CatalogCode="42¤25¤43" UrgencyId="1" />
  <EasyVistaResourceTypeMapping Identifier="Safe_User" Connection="EasyVistaManual" RecipientId="18376"
    CatalogCode="50" TicketSynchroIsNotAvailable="true" />
</Root>"#;

fn mappings() -> Arc<MappingSet> {
    let parsed = ResourceTypeMapping::parse_all("mappings.xml", MAPPINGS).unwrap();
    Arc::new(MappingSet::new(parsed.into_iter().map(|mapping| PreparedMapping {
        mapping,
        templates: Arc::new(
            TicketTemplates::compile(None, None, TemplateOptions::default()).unwrap(),
        ),
    })))
}

fn order_json(id: u32, change: &str, resource_type: &str) -> String {
    format!(
        r#"{{"AssignedResourceTypeId": "{id}", "ChangeType": "{change}",
            "Owner": {{"Id": "7", "InternalDisplayName": "Bond, James", "EmployeeId": "18376"}},
            "ResourceType": {{"Id": "-41", "Identifier": "{resource_type}", "SourceEntityType": {{"Id": "51"}}}},
            "Changes": {{"login": "jbond"}}}}"#
    )
}

fn file(orders: &[String]) -> String {
    format!(r#"{{"ProvisioningOrdersList": [{}]}}"#, orders.join(","))
}

struct Ports {
    orders: MockOrderSource,
    results: MockResultSink,
    ledger: MockLedger,
    backend: MockTicketingBackend,
}

impl Ports {
    fn new() -> Ports {
        Ports {
            orders: MockOrderSource::new(),
            results: MockResultSink::new(),
            ledger: MockLedger::new(),
            backend: MockTicketingBackend::new(),
        }
    }

    fn fulfill(self) -> Fulfill {
        Fulfill {
            connection: "EasyVistaManual".into(),
            orders: Arc::new(self.orders),
            results: Arc::new(self.results),
            ledger: Arc::new(self.ledger),
            backend: Arc::new(self.backend),
            mappings: mappings(),
            policy: OutcomePolicy::default(),
            drafts: DraftSettings::default(),
            concurrency: 4,
            stop: StopSignal::new(),
        }
    }

    fn sync(self, policy: OutcomePolicy) -> Sync {
        Sync {
            connection: "EasyVistaManual".into(),
            results: Arc::new(self.results),
            ledger: Arc::new(self.ledger),
            backend: Arc::new(self.backend),
            mappings: mappings(),
            policy,
            settings: SyncSettings::default(),
        }
    }
}

fn reference(n: u32) -> ExternalReference {
    ExternalReference::parse(&format!("TA-A-{n}-0123456789abcdef")).unwrap()
}

fn pending(n: u32, stage: OrderStage) -> PendingOrder {
    PendingOrder {
        reference: reference(n),
        connection: "EasyVistaManual".into(),
        delivery: "orders.json".into(),
        position: 1,
        order_json: order_json(n, "Added", "Badge_User"),
        stage,
        attempts: u32::from(stage == OrderStage::Creating),
    }
}

fn rfc(n: u32) -> TicketNumber {
    TicketNumber::new(&format!("I261203_{n:06}")).unwrap()
}

/// Nothing left to do after the step under test.
fn quiet_ledger(ledger: &mut MockLedger) {
    ledger.expect_unreported().returning(|_| Ok(vec![]));
}

#[tokio::test]
async fn orders_are_recorded_before_their_file_is_acknowledged() {
    let mut ports = Ports::new();
    let mut seq = Sequence::new();
    let text =
        file(&[order_json(1, "Added", "Badge_User"), order_json(2, "Deleted", "Badge_User")]);
    ports
        .orders
        .expect_pending()
        .returning(move || Ok(vec![Delivery { name: "a.json".into(), text: text.clone() }]));
    let recorded: Arc<Mutex<Vec<NewOrder>>> = Arc::default();
    let sink = recorded.clone();
    ports.ledger.expect_record_orders().times(1).in_sequence(&mut seq).returning(move |orders| {
        sink.lock().unwrap().extend_from_slice(orders);
        Ok(orders.iter().map(|o| o.reference.clone()).collect())
    });
    ports
        .orders
        .expect_acknowledge()
        .with(eq("a.json"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    ports.ledger.expect_pending_orders().returning(|_| Ok(vec![]));
    quiet_ledger(&mut ports.ledger);

    let report = ports.fulfill().run_cycle().await.unwrap();

    assert_eq!((report.files_taken, report.orders_recorded, report.orders_invalid), (1, 2, 0));
    let recorded = recorded.lock().unwrap();
    assert_eq!(recorded.len(), 2);
    assert_ne!(recorded[0].reference, recorded[1].reference);
    assert_eq!(recorded[1].change_type, "Deleted");
    assert_eq!(recorded[0].owner_id, "7");
    assert_eq!(recorded[0].owner_type, "51");
    assert!(recorded.iter().all(|o| o.decided.is_none()));
}

#[tokio::test]
async fn a_file_that_fails_to_record_is_not_acknowledged() {
    let mut ports = Ports::new();
    let text = file(&[order_json(1, "Added", "Badge_User")]);
    ports
        .orders
        .expect_pending()
        .returning(move || Ok(vec![Delivery { name: "a.json".into(), text: text.clone() }]));
    ports.ledger.expect_record_orders().returning(|_| {
        Err(ta_ports::LedgerError::Unavailable {
            location: "ledger.db".into(),
            reason: "disk full".into(),
        })
    });
    ports.orders.expect_acknowledge().times(0);

    let err = ports.fulfill().run_cycle().await.unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
}

#[tokio::test]
async fn a_broken_file_is_rejected_and_the_others_go_on() {
    let mut ports = Ports::new();
    let good = file(&[order_json(1, "Added", "Badge_User")]);
    ports.orders.expect_pending().returning(move || {
        Ok(vec![
            Delivery { name: "broken.json".into(), text: "{ nope".into() },
            Delivery { name: "good.json".into(), text: good.clone() },
        ])
    });
    ports
        .orders
        .expect_reject()
        .withf(|name, reason| {
            name == "broken.json" && reason.starts_with("broken.json: not valid JSON")
        })
        .times(1)
        .returning(|_, _| Ok(()));
    ports
        .ledger
        .expect_record_orders()
        .times(1)
        .returning(|o| Ok(o.iter().map(|o| o.reference.clone()).collect()));
    ports.orders.expect_acknowledge().with(eq("good.json")).times(1).returning(|_| Ok(()));
    ports.ledger.expect_pending_orders().returning(|_| Ok(vec![]));
    quiet_ledger(&mut ports.ledger);

    let report = ports.fulfill().run_cycle().await.unwrap();
    assert_eq!((report.files_rejected, report.files_taken), (1, 1));
}

#[tokio::test]
async fn invalid_orders_and_unmapped_resource_types_are_decided_with_an_error() {
    let mut ports = Ports::new();
    let text = file(&[
        order_json(1, "Renamed", "Badge_User"),
        order_json(2, "Added", "Unknown_Type"),
        order_json(3, "Added", "Badge_User"),
    ]);
    ports
        .orders
        .expect_pending()
        .returning(move || Ok(vec![Delivery { name: "f.json".into(), text: text.clone() }]));
    let recorded: Arc<Mutex<Vec<NewOrder>>> = Arc::default();
    let sink = recorded.clone();
    ports.ledger.expect_record_orders().returning(move |orders| {
        sink.lock().unwrap().extend_from_slice(orders);
        Ok(orders.iter().map(|o| o.reference.clone()).collect())
    });
    ports.orders.expect_acknowledge().returning(|_| Ok(()));
    ports.ledger.expect_pending_orders().returning(|_| Ok(vec![]));
    quiet_ledger(&mut ports.ledger);

    let report = ports.fulfill().run_cycle().await.unwrap();

    assert_eq!(report.orders_invalid, 2);
    let recorded = recorded.lock().unwrap();
    let decided: Vec<_> =
        recorded.iter().map(|o| o.decided.as_ref().map(|d| (d.state, d.message.clone()))).collect();
    assert_eq!(
        decided[0],
        Some((
            ProvisioningState::Error,
            "f.json: order #1 (AssignedResourceTypeId 1): unknown ChangeType \"Renamed\" (expected Added, Modified or Deleted)".into()
        ))
    );
    assert_eq!(
        decided[1],
        Some((
            ProvisioningState::Error,
            "no EasyVistaResourceTypeMapping for resource type Unknown_Type".into()
        ))
    );
    assert_eq!(decided[2], None);
    assert_eq!(recorded[0].assignment_id.as_deref(), Some("1"));
}

#[tokio::test]
async fn a_create_is_noted_in_the_ledger_before_it_is_sent() {
    let mut ports = Ports::new();
    let mut seq = Sequence::new();
    ports.orders.expect_pending().returning(|| Ok(vec![]));
    ports.ledger.expect_pending_orders().returning(|_| Ok(vec![pending(1, OrderStage::Received)]));
    ports.backend.expect_find_by_external_reference().times(0);
    ports
        .ledger
        .expect_begin_creates()
        .withf(|references| references == [reference(1)])
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(vec![1]));
    ports
        .backend
        .expect_open_ticket()
        .withf(|draft| {
            draft.external_reference == reference(1)
                && draft.catalog == ta_domain::CatalogRef::Code("42".into())
                && draft.recipient == "18376"
                && draft.urgency_id.as_deref() == Some("1")
                && draft.title == "Added Badge_User for Bond, James"
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(OpenedTicket { number: rfc(1), adopted: false }));
    ports
        .ledger
        .expect_tickets_opened()
        .withf(|opened| opened == [(reference(1), rfc(1))])
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    quiet_ledger(&mut ports.ledger);

    let report = ports.fulfill().run_cycle().await.unwrap();
    assert_eq!(report.tickets_opened, 1);
}

/// The orders of a chunk share two ledger changes: every create is noted before the first is
/// sent, and every ticket is recorded once all the creates have answered.
#[tokio::test]
async fn a_chunk_of_creates_is_noted_at_once_before_any_is_sent_and_recorded_at_once() {
    let mut ports = Ports::new();
    let noted = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(Mutex::new(0));
    ports.orders.expect_pending().returning(|| Ok(vec![]));
    ports
        .ledger
        .expect_pending_orders()
        .returning(|_| Ok((1..=10).map(|n| pending(n, OrderStage::Received)).collect()));
    let (noted_in, sent_in) = (noted.clone(), sent.clone());
    ports.ledger.expect_begin_creates().times(1).returning(move |references| {
        assert_eq!(*sent_in.lock().unwrap(), 0, "no create is sent before they are noted");
        noted_in.lock().unwrap().extend_from_slice(references);
        Ok(vec![1; references.len()])
    });
    let (noted_in, sent_in) = (noted.clone(), sent.clone());
    ports.backend.expect_open_ticket().times(10).returning(move |draft| {
        assert!(noted_in.lock().unwrap().contains(&draft.external_reference));
        *sent_in.lock().unwrap() += 1;
        let n = draft.external_reference.as_str().split('-').nth(2).unwrap().parse().unwrap();
        Ok(OpenedTicket { number: rfc(n), adopted: false })
    });
    let sent_in = sent.clone();
    ports.ledger.expect_tickets_opened().times(1).returning(move |opened| {
        assert_eq!(*sent_in.lock().unwrap(), 10, "tickets are recorded once every create answered");
        let mut opened = opened.to_vec();
        opened.sort_by_key(|(_, ticket)| ticket.clone());
        let expected: Vec<_> = (1..=10).map(|n| (reference(n), rfc(n))).collect();
        assert_eq!(opened, expected);
        Ok(())
    });
    quiet_ledger(&mut ports.ledger);

    let report = ports.fulfill().run_cycle().await.unwrap();
    assert_eq!(report.tickets_opened, 10);
    assert_eq!(noted.lock().unwrap().len(), 10);
}

/// A ledger that cannot note the creates stops the cycle before anything is sent.
#[tokio::test]
async fn no_create_is_sent_when_the_ledger_cannot_note_it() {
    let mut ports = Ports::new();
    ports.orders.expect_pending().returning(|| Ok(vec![]));
    ports
        .ledger
        .expect_pending_orders()
        .returning(|_| Ok((1..=3).map(|n| pending(n, OrderStage::Received)).collect()));
    ports.ledger.expect_begin_creates().returning(|_| {
        Err(ta_ports::LedgerError::Unavailable {
            location: "ledger.db".into(),
            reason: "disk full".into(),
        })
    });
    ports.backend.expect_open_ticket().times(0);
    ports.ledger.expect_tickets_opened().times(0);

    let err = ports.fulfill().run_cycle().await.unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
}

#[tokio::test]
async fn an_order_left_creating_is_looked_up_before_any_new_create() {
    let mut ports = Ports::new();
    ports.orders.expect_pending().returning(|| Ok(vec![]));
    ports.ledger.expect_pending_orders().returning(|_| Ok(vec![pending(1, OrderStage::Creating)]));
    ports
        .backend
        .expect_find_by_external_reference()
        .with(eq(reference(1)))
        .times(1)
        .returning(|_| Ok(Some(rfc(9))));
    ports.backend.expect_open_ticket().times(0);
    ports.ledger.expect_begin_creates().times(0);
    ports
        .ledger
        .expect_tickets_opened()
        .withf(|opened| opened == [(reference(1), rfc(9))])
        .times(1)
        .returning(|_| Ok(()));
    quiet_ledger(&mut ports.ledger);

    let report = ports.fulfill().run_cycle().await.unwrap();
    assert_eq!((report.tickets_adopted, report.tickets_opened), (1, 0));
}

#[tokio::test]
async fn an_order_left_creating_whose_lookup_fails_is_not_created_blindly() {
    let mut ports = Ports::new();
    ports.orders.expect_pending().returning(|| Ok(vec![]));
    ports.ledger.expect_pending_orders().returning(|_| Ok(vec![pending(1, OrderStage::Creating)]));
    ports
        .backend
        .expect_find_by_external_reference()
        .returning(|_| Err(TicketingError::Timeout("search".into())));
    ports.backend.expect_open_ticket().times(0);
    ports
        .ledger
        .expect_create_failed()
        .withf(|_, _, report| report.is_none())
        .times(1)
        .returning(|_, _, _| Ok(()));
    quiet_ledger(&mut ports.ledger);

    let report = ports.fulfill().run_cycle().await.unwrap();
    assert_eq!(report.orders_retrying, 1);
}

#[tokio::test]
async fn a_refused_ticket_fails_its_order_and_a_transient_error_retries_it() {
    let mut ports = Ports::new();
    ports.orders.expect_pending().returning(|| Ok(vec![]));
    ports.ledger.expect_pending_orders().returning(|_| {
        Ok(vec![pending(1, OrderStage::Received), pending(2, OrderStage::Received)])
    });
    ports.ledger.expect_begin_creates().returning(|r| Ok(vec![1; r.len()]));
    ports.ledger.expect_tickets_opened().times(0);
    ports.backend.expect_open_ticket().returning(|draft| {
        if draft.external_reference == reference(1) {
            Err(TicketingError::Rejected {
                status: 406,
                message: "unknown recipient".into(),
                field: Some("recipient_id".into()),
            })
        } else {
            Err(TicketingError::Unreachable("connection refused".into()))
        }
    });
    ports
        .ledger
        .expect_create_failed()
        .withf(|r, _, report| {
            *r == reference(1)
                && report.as_ref().is_some_and(|s| {
                    s.state == ProvisioningState::Error
                        && s.message.contains("unknown recipient")
                        && s.message.contains("recipient_id")
                })
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    ports
        .ledger
        .expect_create_failed()
        .withf(|r, error, report| {
            *r == reference(2) && report.is_none() && error.contains("connection refused")
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    quiet_ledger(&mut ports.ledger);

    let report = ports.fulfill().run_cycle().await.unwrap();
    assert_eq!((report.orders_failed, report.orders_retrying), (1, 1));
}

#[tokio::test]
async fn refused_credentials_stop_the_cycle_with_a_connection_error() {
    let mut ports = Ports::new();
    ports.orders.expect_pending().returning(|| Ok(vec![]));
    ports.ledger.expect_pending_orders().returning(|_| Ok(vec![pending(1, OrderStage::Received)]));
    ports.ledger.expect_begin_creates().returning(|r| Ok(vec![1; r.len()]));
    ports
        .backend
        .expect_open_ticket()
        .returning(|_| Err(TicketingError::Authentication("401".into())));
    ports
        .ledger
        .expect_create_failed()
        .withf(|_, _, report| report.is_none())
        .returning(|_, _, _| Ok(()));

    let err = ports.fulfill().run_cycle().await.unwrap_err();
    assert_eq!(err.to_string(), "connection EasyVistaManual: authentication refused: 401");
}

fn open_ticket(n: u32, resource_type: &str, opened_days_ago: i64) -> OpenTicket {
    OpenTicket {
        reference: reference(n),
        ticket: rfc(n),
        resource_type: resource_type.into(),
        opened_at: now() - Duration::days(opened_days_ago),
    }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()
}

fn observation(n: u32, outcome: TicketOutcome) -> TicketObservation {
    TicketObservation { ticket: rfc(n), outcome, status: outcome.to_string() }
}

#[tokio::test]
async fn sync_turns_each_final_outcome_into_its_provisioning_state() {
    let mut ports = Ports::new();
    ports.ledger.expect_open_tickets().returning(|_| {
        Ok(vec![
            open_ticket(1, "Badge_User", 1),
            open_ticket(2, "Safe_User", 1),
            open_ticket(3, "Badge_User", 1),
            open_ticket(4, "Badge_User", 1),
            open_ticket(5, "Badge_User", 30),
            open_ticket(6, "Badge_User", 1),
            open_ticket(7, "Badge_User", 1),
        ])
    });
    ports.ledger.expect_watermark().returning(|_| Ok(None));
    ports
        .backend
        .expect_follow()
        .withf(|request| request.tickets.len() == 7 && request.watermark.is_none())
        .returning(|_| {
            Ok(FollowReport {
                observations: vec![
                    observation(1, TicketOutcome::Closed),
                    observation(2, TicketOutcome::Closed),
                    observation(3, TicketOutcome::Canceled),
                    observation(4, TicketOutcome::Lost),
                    observation(6, TicketOutcome::Open),
                    observation(7, TicketOutcome::Rejected),
                ],
                watermark: Some("w1".into()),
                requests: 2,
            })
        });
    let finished: Arc<Mutex<Vec<(ExternalReference, TicketOutcome, StateReport)>>> = Arc::default();
    let sink = finished.clone();
    ports.ledger.expect_ticket_finished().returning(move |r, o, s| {
        sink.lock().unwrap().push((r.clone(), o, s));
        Ok(())
    });
    ports
        .ledger
        .expect_polled()
        .withf(|refs, at| refs.len() == 7 && *at == now())
        .times(1)
        .returning(|_, _| Ok(()));
    ports
        .ledger
        .expect_set_watermark()
        .with(eq("EasyVistaManual"), eq(Some("w1".to_owned())))
        .times(1)
        .returning(|_, _| Ok(()));
    ports
        .ledger
        .expect_set_watermark()
        .with(eq("EasyVistaManual#full-read"), always())
        .times(1)
        .returning(|_, _| Ok(()));
    quiet_ledger(&mut ports.ledger);
    let policy =
        OutcomePolicy { stale_after: Some(Duration::days(15)), ..OutcomePolicy::default() };

    let report = ports.sync(policy).run_cycle(now()).await.unwrap();

    assert!(report.full_read);
    let finished = finished.lock().unwrap();
    let states: Vec<_> = finished.iter().map(|(r, o, s)| (r.clone(), *o, s.state)).collect();
    assert_eq!(
        states,
        [
            (reference(1), TicketOutcome::Closed, ProvisioningState::Executed),
            (reference(2), TicketOutcome::Closed, ProvisioningState::Verified),
            (reference(3), TicketOutcome::Canceled, ProvisioningState::Error),
            (reference(4), TicketOutcome::Lost, ProvisioningState::Error),
            (reference(5), TicketOutcome::Stale, ProvisioningState::Error),
            (reference(7), TicketOutcome::Rejected, ProvisioningState::Error),
        ]
    );
    assert!(finished[3].2.message.contains("disappeared"));
    assert!(finished[5].2.message.contains("rejected"), "{}", finished[5].2.message);
}

#[tokio::test]
async fn sync_reads_only_changes_between_full_reads() {
    let mut ports = Ports::new();
    ports.ledger.expect_open_tickets().returning(|_| Ok(vec![open_ticket(1, "Badge_User", 1)]));
    let recent = (now() - Duration::minutes(5)).to_rfc3339();
    ports
        .ledger
        .expect_watermark()
        .with(eq("EasyVistaManual#full-read"))
        .returning(move |_| Ok(Some(recent.clone())));
    ports
        .ledger
        .expect_watermark()
        .with(eq("EasyVistaManual"))
        .returning(|_| Ok(Some("w1".into())));
    ports
        .backend
        .expect_follow()
        .withf(|request| request.watermark.as_deref() == Some("w1"))
        .times(1)
        .returning(|_| {
            Ok(FollowReport { observations: vec![], watermark: Some("w2".into()), requests: 1 })
        });
    ports.ledger.expect_ticket_finished().times(0);
    ports.ledger.expect_polled().returning(|_, _| Ok(()));
    ports
        .ledger
        .expect_set_watermark()
        .with(eq("EasyVistaManual"), eq(Some("w2".to_owned())))
        .times(1)
        .returning(|_, _| Ok(()));
    quiet_ledger(&mut ports.ledger);

    let report = ports.sync(OutcomePolicy::default()).run_cycle(now()).await.unwrap();
    assert!(!report.full_read);
}

fn finished_order(n: u32, batch: Option<&str>) -> FinishedOrder {
    FinishedOrder {
        batch: batch.map(str::to_owned),
        reference: reference(n),
        row: ResultRow {
            assignment_id: n.to_string(),
            provisioning_state: "Executed".into(),
            message: "ticket closed".into(),
            change_type: "Added".into(),
            owner_id: "7".into(),
            owner_type: "51".into(),
        },
    }
}

#[tokio::test]
async fn results_get_their_batch_in_the_ledger_before_they_are_published_and_are_reported_after() {
    let mut ports = Ports::new();
    let mut seq = Sequence::new();
    ports.ledger.expect_open_tickets().returning(|_| Ok(vec![]));
    ports
        .ledger
        .expect_unreported()
        .returning(|_| Ok(vec![finished_order(1, None), finished_order(2, None)]));
    ports.results.expect_next_batch().times(1).returning(|| "r1.csv".into());
    ports
        .ledger
        .expect_assign_batch()
        .withf(|refs, batch| refs == [reference(1), reference(2)] && batch == "r1.csv")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    ports
        .results
        .expect_publish()
        .withf(|batch, rows| batch == "r1.csv" && rows.len() == 2)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(PublishedResults { location: "results/r1.csv".into() }));
    ports
        .ledger
        .expect_mark_reported()
        .withf(|refs, location| {
            refs == [reference(1), reference(2)] && location == "results/r1.csv"
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));

    let report = ports.sync(OutcomePolicy::default()).run_cycle(now()).await.unwrap();
    assert_eq!(report.results_published, 2);
}

#[tokio::test]
async fn results_that_fail_to_publish_stay_unreported() {
    let mut ports = Ports::new();
    ports.ledger.expect_open_tickets().returning(|_| Ok(vec![]));
    ports.ledger.expect_unreported().returning(|_| Ok(vec![finished_order(1, Some("b.csv"))]));
    ports.results.expect_publish().returning(|_, _| {
        Err(StoreError { location: "results".into(), reason: "read-only file system".into() })
    });
    ports.ledger.expect_mark_reported().times(0);

    let err = ports.sync(OutcomePolicy::default()).run_cycle(now()).await.unwrap_err();
    assert_eq!(err.to_string(), "results: read-only file system");
}

#[tokio::test]
async fn a_batch_started_before_a_crash_is_published_again_under_its_own_name() {
    let mut ports = Ports::new();
    ports.ledger.expect_open_tickets().returning(|_| Ok(vec![]));
    ports
        .ledger
        .expect_unreported()
        .returning(|_| Ok(vec![finished_order(1, Some("old.csv")), finished_order(2, None)]));
    ports.results.expect_next_batch().times(1).returning(|| "new.csv".into());
    ports
        .ledger
        .expect_assign_batch()
        .withf(|refs, batch| refs == [reference(2)] && batch == "new.csv")
        .times(1)
        .returning(|_, _| Ok(()));
    for (batch, n) in [("old.csv", 1), ("new.csv", 2)] {
        ports
            .results
            .expect_publish()
            .withf(move |b, rows| {
                b == batch && rows.len() == 1 && rows[0].assignment_id == n.to_string()
            })
            .times(1)
            .returning(move |_, _| Ok(PublishedResults { location: format!("results/{batch}") }));
        ports
            .ledger
            .expect_mark_reported()
            .withf(move |refs, location| {
                refs == [reference(n)] && location == format!("results/{batch}")
            })
            .times(1)
            .returning(|_, _| Ok(()));
    }

    let report = ports.sync(OutcomePolicy::default()).run_cycle(now()).await.unwrap();
    assert_eq!(report.results_published, 2);
}

/// A service desk that takes its time and remembers how many creates it had at once; when
/// given a stop signal, it asks the agent to stop during its first create.
#[derive(Default)]
struct SlowDesk {
    in_flight: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    sent: std::sync::atomic::AtomicUsize,
    stop_on_first: Option<StopSignal>,
}

#[async_trait::async_trait]
impl ta_ports::TicketingBackend for SlowDesk {
    async fn open_ticket(
        &self,
        draft: &ta_domain::TicketDraft,
    ) -> Result<OpenedTicket, TicketingError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        if self.sent.fetch_add(1, SeqCst) == 0
            && let Some(stop) = &self.stop_on_first
        {
            stop.stop();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        self.in_flight.fetch_sub(1, SeqCst);
        let n = draft.external_reference.as_str().split('-').nth(2).unwrap().parse().unwrap();
        Ok(OpenedTicket { number: rfc(n), adopted: false })
    }
    async fn find_by_external_reference(
        &self,
        _: &ExternalReference,
    ) -> Result<Option<TicketNumber>, TicketingError> {
        Ok(None)
    }
    async fn follow(&self, _: &ta_ports::FollowRequest) -> Result<FollowReport, TicketingError> {
        unreachable!("fulfill does not follow tickets")
    }
    async fn check_connection(&self) -> Result<String, TicketingError> {
        Ok("slow desk".into())
    }
}

/// A fulfill with 60 orders waiting for their tickets and a ledger that takes every change;
/// the references noted as about to be created are kept in `noted`.
fn sixty_orders_to_open(noted: Arc<Mutex<Vec<ExternalReference>>>) -> Fulfill {
    let mut ports = Ports::new();
    ports.orders.expect_pending().returning(|| Ok(vec![]));
    ports
        .ledger
        .expect_pending_orders()
        .returning(|_| Ok((1..=60).map(|n| pending(n, OrderStage::Received)).collect()));
    ports.ledger.expect_begin_creates().returning(move |references| {
        noted.lock().unwrap().extend_from_slice(references);
        Ok(vec![1; references.len()])
    });
    ports.ledger.expect_tickets_opened().returning(|_| Ok(()));
    quiet_ledger(&mut ports.ledger);
    ports.fulfill()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_more_creates_are_in_flight_than_the_concurrency_setting() {
    let desk = Arc::new(SlowDesk::default());
    let mut fulfill = sixty_orders_to_open(Arc::default());
    fulfill.backend = desk.clone();
    fulfill.concurrency = 3;

    let report = fulfill.run_cycle().await.unwrap();

    assert_eq!(report.tickets_opened, 60);
    assert_eq!(desk.most.load(std::sync::atomic::Ordering::SeqCst), 3, "3 at once, never more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn once_a_stop_is_asked_no_further_create_is_sent() {
    let noted = Arc::new(Mutex::new(Vec::new()));
    let mut fulfill = sixty_orders_to_open(noted.clone());
    let desk =
        Arc::new(SlowDesk { stop_on_first: Some(fulfill.stop.clone()), ..SlowDesk::default() });
    fulfill.backend = desk.clone();
    fulfill.concurrency = 1;

    let report = fulfill.run_cycle().await.unwrap();

    assert_eq!(desk.sent.load(std::sync::atomic::Ordering::SeqCst), 1, "only the create in flight");
    assert_eq!(report.tickets_opened, 1);
    // Only the first chunk was noted as being created; the chunks already under way when the
    // stop came stay untouched, and nothing counts as failed or to retry.
    // (A chunk is 4 orders per call slot, and three chunks are under way at once.)
    assert_eq!(*noted.lock().unwrap(), (1..=4).map(reference).collect::<Vec<_>>());
    assert_eq!((report.orders_failed, report.orders_retrying), (0, 0), "{report:?}");
}
