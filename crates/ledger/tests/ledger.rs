//! The SQLite ledger against real files: every transition, restarts, migrations, concurrency.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ta_domain::{
    ChangeType, ExternalReference, ProvisioningState, StateReport, TicketNumber, TicketOutcome,
};
use ta_ledger::{SCHEMA_VERSION, SqliteLedger, UNREPORTABLE};
use ta_ports::{Ledger, LedgerError, NewOrder, OrderStage, ResultRow};

const CONNECTION: &str = "EasyVistaManual";

fn reference(position: usize) -> ExternalReference {
    ExternalReference::derive(
        ChangeType::Added,
        &format!("39300{position:02}"),
        "orders.json",
        position,
        "fp",
    )
}

fn order(position: usize) -> NewOrder {
    NewOrder {
        reference: reference(position),
        connection: CONNECTION.to_owned(),
        delivery: "orders.json".to_owned(),
        position,
        assignment_id: Some(format!("39300{position:02}")),
        resource_type: "EasyVista_Laptop".to_owned(),
        change_type: "Added".to_owned(),
        owner_id: "21511".to_owned(),
        owner_type: "51".to_owned(),
        order_json: format!(r#"{{"AssignedResourceTypeId":"39300{position:02}"}}"#),
        decided: None,
    }
}

fn ticket(text: &str) -> TicketNumber {
    TicketNumber::new(text).unwrap()
}

fn executed(message: &str) -> StateReport {
    StateReport { state: ProvisioningState::Executed, message: message.to_owned() }
}

fn ledger_in(folder: &Path) -> SqliteLedger {
    SqliteLedger::open(&folder.join("ledger.db")).unwrap()
}

async fn stage_of(ledger: &SqliteLedger, reference: &ExternalReference) -> OrderStage {
    let all = ledger.orders(None).await.unwrap();
    all.into_iter()
        .find(|r| r.reference == reference.as_str())
        .expect("order is in the ledger")
        .stage
}

/// What SQLite holds in a column the port does not show.
fn column(folder: &Path, reference: &ExternalReference, column: &str) -> Option<String> {
    let conn = rusqlite::Connection::open(folder.join("ledger.db")).unwrap();
    conn.query_row(
        &format!("SELECT {column} FROM orders WHERE reference = ?1"),
        [reference.as_str()],
        |row| row.get(0),
    )
    .unwrap()
}

#[tokio::test]
async fn recording_again_adds_only_new_orders_and_lists_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_in(dir.path());

    assert_eq!(ledger.record_orders(&[order(1), order(2)]).await.unwrap().len(), 2);
    let mut changed = order(2);
    changed.order_json = "changed".to_owned();
    assert_eq!(
        ledger.record_orders(&[order(1), changed, order(3), order(3)]).await.unwrap(),
        vec![order(3).reference]
    );

    let all = ledger.orders(None).await.unwrap();
    let references: Vec<&str> = all.iter().map(|r| r.reference.as_str()).collect();
    assert_eq!(references, [reference(3).as_str(), reference(2).as_str(), reference(1).as_str()]);
    assert!(
        all.iter()
            .all(|r| r.stage == OrderStage::Received && r.attempts == 0 && r.ticket.is_none())
    );

    let pending = ledger.pending_orders(CONNECTION).await.unwrap();
    assert_eq!(pending.len(), 3);
    assert_eq!(pending[0].reference, reference(1), "pending orders come oldest first");
    assert_eq!(pending[1].order_json, order(2).order_json, "a known order is left as it was");
    assert_eq!(pending[2].position, 3);
    assert!(ledger.pending_orders("OtherConnection").await.unwrap().is_empty());
    assert_eq!(ledger.orders(Some("OtherConnection".to_owned())).await.unwrap(), []);
}

#[tokio::test]
async fn an_order_decided_on_arrival_is_recorded_finished_with_its_report() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let mut invalid = order(1);
    invalid.decided = Some(StateReport {
        state: ProvisioningState::Error,
        message: "no mapping for EasyVista_Laptop".into(),
    });

    assert_eq!(ledger.record_orders(&[invalid]).await.unwrap().len(), 1);

    assert!(ledger.pending_orders(CONNECTION).await.unwrap().is_empty());
    let record = &ledger.orders(None).await.unwrap()[0];
    assert_eq!(record.stage, OrderStage::Finished);
    assert_eq!(record.state.as_deref(), Some("Error"));
    assert_eq!(record.message.as_deref(), Some("no mapping for EasyVista_Laptop"));
    let unreported = ledger.unreported(CONNECTION).await.unwrap();
    assert_eq!(unreported.len(), 1);
    assert_eq!(unreported[0].row.provisioning_state, "Error");
}

#[tokio::test]
async fn an_order_goes_from_received_to_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_in(dir.path());
    let r = reference(1);
    ledger.record_orders(&[order(1)]).await.unwrap();

    assert_eq!(ledger.begin_create(&r).await.unwrap(), 1);
    assert_eq!(
        ledger.begin_create(&r).await.unwrap(),
        2,
        "creating stays creating, attempts count"
    );
    let pending = ledger.pending_orders(CONNECTION).await.unwrap();
    assert_eq!((pending[0].stage, pending[0].attempts), (OrderStage::Creating, 2));

    let before = Utc::now();
    ledger.ticket_opened(&r, &ticket("I260101_000001")).await.unwrap();
    assert!(ledger.pending_orders(CONNECTION).await.unwrap().is_empty());
    let open = ledger.open_tickets(CONNECTION).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((&open[0].reference, open[0].ticket.as_str()), (&r, "I260101_000001"));
    assert_eq!(open[0].resource_type, "EasyVista_Laptop");
    assert!(
        open[0].opened_at >= before - chrono::Duration::seconds(1)
            && open[0].opened_at <= Utc::now()
    );

    let polled_at = Utc::now();
    ledger.polled(std::slice::from_ref(&r), polled_at).await.unwrap();
    let record = &ledger.orders(None).await.unwrap()[0];
    assert_eq!(record.last_poll.map(|t| t.timestamp_micros()), Some(polled_at.timestamp_micros()));

    ledger
        .ticket_finished(&r, TicketOutcome::Closed, executed("ticket I260101_000001 closed"))
        .await
        .unwrap();
    assert!(ledger.open_tickets(CONNECTION).await.unwrap().is_empty());
    let record = &ledger.orders(None).await.unwrap()[0];
    assert_eq!(record.stage, OrderStage::Finished);
    assert_eq!(record.outcome.as_deref(), Some("closed"));

    let unreported = ledger.unreported(CONNECTION).await.unwrap();
    assert_eq!(unreported.len(), 1);
    assert_eq!(unreported[0].reference, r);
    assert_eq!(
        unreported[0].row,
        ResultRow {
            assignment_id: "3930001".into(),
            provisioning_state: "Executed".into(),
            message: "ticket I260101_000001 closed".into(),
            change_type: "Added".into(),
            owner_id: "21511".into(),
            owner_type: "51".into(),
        }
    );

    ledger.mark_reported(std::slice::from_ref(&r), "results/a.csv").await.unwrap();
    assert!(ledger.unreported(CONNECTION).await.unwrap().is_empty());
    assert_eq!(stage_of(&ledger, &r).await, OrderStage::Reported);
    assert_eq!(column(dir.path(), &r, "report_location").as_deref(), Some("results/a.csv"));
    assert!(column(dir.path(), &r, "reported_at").is_some());

    ledger.mark_reported(std::slice::from_ref(&r), "results/b.csv").await.unwrap();
    assert_eq!(
        column(dir.path(), &r, "report_location").as_deref(),
        Some("results/a.csv"),
        "reported stays as it was"
    );
}

#[tokio::test]
async fn a_received_order_can_get_its_ticket_without_a_create() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    ledger.record_orders(&[order(1)]).await.unwrap();

    ledger.ticket_opened(&reference(1), &ticket("I260101_000009")).await.unwrap();

    assert_eq!(stage_of(&ledger, &reference(1)).await, OrderStage::Open);
}

#[tokio::test]
async fn a_ticket_number_is_never_overwritten() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let r = reference(1);
    ledger.record_orders(&[order(1)]).await.unwrap();
    ledger.begin_create(&r).await.unwrap();
    ledger.ticket_opened(&r, &ticket("I260101_000001")).await.unwrap();

    ledger
        .ticket_opened(&r, &ticket("I260101_000001"))
        .await
        .expect("the same ticket again is fine");
    let second = ledger.ticket_opened(&r, &ticket("I260101_000002")).await.unwrap_err();

    assert!(
        matches!(&second, LedgerError::Conflict(m) if m.contains("I260101_000001")),
        "{second}"
    );
    let record = &ledger.orders(None).await.unwrap()[0];
    assert_eq!(record.ticket.as_deref(), Some("I260101_000001"));
}

#[tokio::test]
async fn one_ticket_cannot_belong_to_two_orders_of_a_connection() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    ledger.record_orders(&[order(1), order(2)]).await.unwrap();
    ledger.ticket_opened(&reference(1), &ticket("I260101_000001")).await.unwrap();

    let error = ledger.ticket_opened(&reference(2), &ticket("I260101_000001")).await.unwrap_err();

    assert!(matches!(error, LedgerError::Conflict(_)), "{error}");
    assert_eq!(stage_of(&ledger, &reference(2)).await, OrderStage::Received);
}

#[tokio::test]
async fn a_failed_create_without_a_report_stays_pending_with_the_error() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let r = reference(1);
    ledger.record_orders(&[order(1)]).await.unwrap();
    ledger.begin_create(&r).await.unwrap();

    ledger.create_failed(&r, "service desk unreachable: connection refused", None).await.unwrap();

    let pending = ledger.pending_orders(CONNECTION).await.unwrap();
    assert_eq!((pending.len(), pending[0].stage), (1, OrderStage::Creating));
    let record = &ledger.orders(None).await.unwrap()[0];
    assert_eq!(record.last_error.as_deref(), Some("service desk unreachable: connection refused"));
}

#[tokio::test]
async fn a_failed_create_with_a_report_finishes_the_order() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let r = reference(1);
    ledger.record_orders(&[order(1)]).await.unwrap();
    ledger.begin_create(&r).await.unwrap();
    let report = StateReport {
        state: ProvisioningState::Error,
        message: "rejected: unknown catalog".into(),
    };

    ledger
        .create_failed(&r, "rejected by the service desk (HTTP 406)", Some(report))
        .await
        .unwrap();

    assert!(ledger.pending_orders(CONNECTION).await.unwrap().is_empty());
    let record = &ledger.orders(None).await.unwrap()[0];
    assert_eq!(record.stage, OrderStage::Finished);
    assert_eq!(
        (record.state.as_deref(), record.message.as_deref()),
        (Some("Error"), Some("rejected: unknown catalog"))
    );
    assert_eq!(record.last_error.as_deref(), Some("rejected by the service desk (HTTP 406)"));
    assert_eq!(
        ledger.unreported(CONNECTION).await.unwrap()[0].row.message,
        "rejected: unknown catalog"
    );
}

#[tokio::test]
async fn transitions_out_of_order_are_refused_and_change_nothing() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let r = reference(1);
    ledger.record_orders(&[order(1)]).await.unwrap();

    let early_finish =
        ledger.ticket_finished(&r, TicketOutcome::Closed, executed("closed")).await.unwrap_err();
    assert!(matches!(early_finish, LedgerError::Conflict(_)), "{early_finish}");
    let early_report = ledger.mark_reported(std::slice::from_ref(&r), "x.csv").await.unwrap_err();
    assert!(matches!(early_report, LedgerError::Conflict(_)), "{early_report}");

    ledger.ticket_opened(&r, &ticket("I260101_000001")).await.unwrap();
    assert!(matches!(ledger.begin_create(&r).await, Err(LedgerError::Conflict(_))));
    assert!(matches!(ledger.create_failed(&r, "late", None).await, Err(LedgerError::Conflict(_))));

    ledger.ticket_finished(&r, TicketOutcome::Canceled, executed("canceled")).await.unwrap();
    let again =
        ledger.ticket_finished(&r, TicketOutcome::Closed, executed("closed")).await.unwrap_err();
    assert!(matches!(again, LedgerError::Conflict(_)), "{again}");
    let record = &ledger.orders(None).await.unwrap()[0];
    assert_eq!((record.stage, record.outcome.as_deref()), (OrderStage::Finished, Some("canceled")));
    assert_eq!(record.attempts, 0);
}

#[tokio::test]
async fn unknown_orders_are_named_in_the_error() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let r = reference(7);

    let errors = [
        ledger.begin_create(&r).await.unwrap_err(),
        ledger.ticket_opened(&r, &ticket("I1")).await.unwrap_err(),
        ledger.create_failed(&r, "x", None).await.unwrap_err(),
        ledger.ticket_finished(&r, TicketOutcome::Closed, executed("x")).await.unwrap_err(),
        ledger.mark_reported(std::slice::from_ref(&r), "x.csv").await.unwrap_err(),
    ];

    for error in errors {
        assert_eq!(error, LedgerError::UnknownOrder(r.to_string()));
    }
    ledger
        .polled(std::slice::from_ref(&r), Utc::now())
        .await
        .expect("a poll note for an unknown order is ignored");
}

#[tokio::test]
async fn marking_reported_is_all_or_nothing() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let mut decided = order(1);
    decided.decided = Some(executed("done"));
    ledger.record_orders(&[decided]).await.unwrap();

    let error = ledger.mark_reported(&[reference(1), reference(2)], "x.csv").await.unwrap_err();

    assert_eq!(error, LedgerError::UnknownOrder(reference(2).to_string()));
    assert_eq!(stage_of(&ledger, &reference(1)).await, OrderStage::Finished);
}

#[tokio::test]
async fn an_order_without_assignment_id_is_set_aside_as_unreportable() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_in(dir.path());
    let mut anonymous = order(1);
    anonymous.assignment_id = None;
    anonymous.decided = Some(StateReport {
        state: ProvisioningState::Error,
        message: "AssignedResourceTypeId missing".into(),
    });
    let mut reportable = order(2);
    reportable.decided = Some(executed("done"));
    ledger.record_orders(&[anonymous, reportable]).await.unwrap();

    let unreported = ledger.unreported(CONNECTION).await.unwrap();

    assert_eq!(unreported.iter().map(|f| &f.reference).collect::<Vec<_>>(), [&reference(2)]);
    assert_eq!(stage_of(&ledger, &reference(1)).await, OrderStage::Reported);
    assert_eq!(column(dir.path(), &reference(1), "report_location").as_deref(), Some(UNREPORTABLE));
    let kept = ledger.orders(None).await.unwrap();
    let audit = kept.iter().find(|r| r.reference == reference(1).as_str()).unwrap();
    assert_eq!(
        audit.message.as_deref(),
        Some("AssignedResourceTypeId missing"),
        "kept in the audit trail"
    );
}

#[tokio::test]
async fn watermarks_are_kept_per_connection() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    assert_eq!(ledger.watermark(CONNECTION).await.unwrap(), None);

    ledger.set_watermark(CONNECTION, Some("2026-01-01 10:00:00".into())).await.unwrap();
    ledger.set_watermark("Other", Some("w-other".into())).await.unwrap();
    ledger.set_watermark(CONNECTION, Some("2026-01-02 10:00:00".into())).await.unwrap();

    assert_eq!(ledger.watermark(CONNECTION).await.unwrap().as_deref(), Some("2026-01-02 10:00:00"));
    assert_eq!(ledger.watermark("Other").await.unwrap().as_deref(), Some("w-other"));
    ledger.set_watermark(CONNECTION, None).await.unwrap();
    assert_eq!(ledger.watermark(CONNECTION).await.unwrap(), None);
}

#[tokio::test]
async fn everything_is_found_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = ledger_in(dir.path());
        ledger.record_orders(&[order(1), order(2), order(3)]).await.unwrap();
        ledger.begin_create(&reference(1)).await.unwrap();
        ledger.ticket_opened(&reference(1), &ticket("I260101_000001")).await.unwrap();
        ledger.begin_create(&reference(2)).await.unwrap();
        ledger.set_watermark(CONNECTION, Some("w1".into())).await.unwrap();
    }

    let ledger = ledger_in(dir.path());

    let open = ledger.open_tickets(CONNECTION).await.unwrap();
    assert_eq!(open.iter().map(|t| t.ticket.as_str()).collect::<Vec<_>>(), ["I260101_000001"]);
    let pending = ledger.pending_orders(CONNECTION).await.unwrap();
    let stages: Vec<_> =
        pending.iter().map(|p| (p.reference.clone(), p.stage, p.attempts)).collect();
    assert_eq!(
        stages,
        [(reference(2), OrderStage::Creating, 1), (reference(3), OrderStage::Received, 0)]
    );
    assert_eq!(ledger.watermark(CONNECTION).await.unwrap().as_deref(), Some("w1"));
    assert_eq!(ledger.record_orders(&[order(1)]).await.unwrap().len(), 0);
}

#[tokio::test]
async fn migrations_run_once_and_reopening_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state/ledger.db");
    let ledger = SqliteLedger::open(&path).expect("parent folders are created");
    assert_eq!(ledger.schema_version().await.unwrap(), SCHEMA_VERSION);
    ledger.record_orders(&[order(1)]).await.unwrap();
    drop(ledger);

    // Re-running the first migration would fail on CREATE TABLE, so a second open proves it
    // was not re-run; the data is untouched too.
    let reopened = SqliteLedger::open(&path).unwrap();
    assert_eq!(reopened.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(reopened.orders(None).await.unwrap().len(), 1);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let journal: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
    assert_eq!(journal, "wal");
}

#[tokio::test]
async fn a_ledger_from_a_newer_agent_is_refused_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    drop(SqliteLedger::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1)).unwrap();
    drop(conn);

    let error = SqliteLedger::open(&path).unwrap_err();

    let LedgerError::Unavailable { location, reason } = &error else { panic!("{error}") };
    assert_eq!(location, &path.display().to_string());
    assert!(reason.contains("newer"), "{reason}");
}

#[tokio::test]
async fn a_path_that_cannot_hold_a_ledger_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, "x").unwrap();

    let error = SqliteLedger::open(&blocker.join("ledger.db")).unwrap_err();

    assert!(error.to_string().contains("not-a-folder"), "{error}");
    assert!(
        SqliteLedger::open(dir.path())
            .unwrap_err()
            .to_string()
            .contains(&dir.path().display().to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_from_many_tasks_at_once_all_complete() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(ledger_in(dir.path()));

    let mut tasks = Vec::new();
    for task in 0..8usize {
        let ledger = Arc::clone(&ledger);
        tasks.push(tokio::spawn(async move {
            for i in 0..10usize {
                let position = task * 10 + i + 1;
                ledger.record_orders(&[order(position)]).await.unwrap();
                ledger.begin_create(&reference(position)).await.unwrap();
                ledger
                    .ticket_opened(&reference(position), &ticket(&format!("I26_{position:06}")))
                    .await
                    .unwrap();
                ledger.open_tickets(CONNECTION).await.unwrap();
                ledger.orders(None).await.unwrap();
            }
        }));
    }
    let all = futures_join(tasks);

    tokio::time::timeout(Duration::from_secs(20), all).await.expect("no task is stuck");
    assert_eq!(ledger.open_tickets(CONNECTION).await.unwrap().len(), 80);
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        task.await.expect("task succeeded");
    }
}

#[tokio::test]
async fn a_result_batch_is_remembered_until_reported_and_never_reassigned() {
    let dir = tempfile::tempdir().unwrap();
    let r = reference(1);
    {
        let ledger = ledger_in(dir.path());
        ledger.record_orders(&[order(1)]).await.unwrap();
        let report = StateReport { state: ProvisioningState::Error, message: "refused".into() };
        ledger.create_failed(&r, "refused", Some(report)).await.unwrap();
        assert_eq!(ledger.unreported(CONNECTION).await.unwrap()[0].batch, None);

        ledger.assign_batch(std::slice::from_ref(&r), "batch-1.csv").await.unwrap();
        ledger.assign_batch(std::slice::from_ref(&r), "batch-2.csv").await.unwrap();
    }

    // As after a crash between the assignment and the publish: the batch is still known.
    let ledger = ledger_in(dir.path());
    let unreported = ledger.unreported(CONNECTION).await.unwrap();
    assert_eq!(unreported[0].batch.as_deref(), Some("batch-1.csv"));
    ledger.mark_reported(std::slice::from_ref(&r), "results/batch-1.csv").await.unwrap();
    assert!(ledger.unreported(CONNECTION).await.unwrap().is_empty());
}

#[tokio::test]
async fn only_finished_orders_can_be_assigned_a_batch() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    ledger.record_orders(&[order(1)]).await.unwrap();
    let error = ledger.assign_batch(&[reference(1)], "b.csv").await.unwrap_err();
    assert!(error.to_string().contains("no result to publish"), "{error}");
}

// === batches of creates and tickets ===

async fn attempts_of(ledger: &SqliteLedger) -> Vec<(String, OrderStage, u32, Option<String>)> {
    let mut all: Vec<_> = ledger
        .orders(None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.reference, r.stage, r.attempts, r.ticket))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[tokio::test]
async fn creates_noted_together_each_count_their_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_in(dir.path());
    ledger.record_orders(&[order(1), order(2), order(3)]).await.unwrap();
    ledger.begin_create(&reference(2)).await.unwrap();

    let attempts = ledger.begin_creates(&[reference(1), reference(2), reference(3)]).await.unwrap();

    assert_eq!(attempts, [1, 2, 1], "one attempt number per order, in the order given");
    let pending = ledger.pending_orders(CONNECTION).await.unwrap();
    assert!(pending.iter().all(|p| p.stage == OrderStage::Creating), "{pending:?}");
    drop(ledger);
    let reopened = ledger_in(dir.path());
    let pending = reopened.pending_orders(CONNECTION).await.unwrap();
    assert_eq!(pending.len(), 3, "the noted creates are on disk");
    assert!(pending.iter().all(|p| p.stage == OrderStage::Creating));
}

#[tokio::test]
async fn creates_noted_together_change_nothing_when_one_order_may_not_be_created() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    ledger.record_orders(&[order(1), order(2), order(3)]).await.unwrap();
    ledger.ticket_opened(&reference(2), &ticket("I260101_000002")).await.unwrap();
    let before = attempts_of(&ledger).await;

    let open = ledger.begin_creates(&[reference(1), reference(2)]).await.unwrap_err();
    let unknown = ledger.begin_creates(&[reference(3), reference(9)]).await.unwrap_err();

    assert!(matches!(&open, LedgerError::Conflict(m) if m.contains("is open")), "{open}");
    assert!(matches!(unknown, LedgerError::UnknownOrder(_)), "{unknown}");
    assert_eq!(attempts_of(&ledger).await, before, "all or nothing");
    assert_eq!(ledger.begin_creates(&[]).await.unwrap(), Vec::<u32>::new());
}

#[tokio::test]
async fn tickets_recorded_together_are_all_open() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_in(dir.path());
    ledger.record_orders(&[order(1), order(2), order(3)]).await.unwrap();
    ledger.begin_creates(&[reference(1), reference(2)]).await.unwrap();
    let opened = [
        (reference(1), ticket("I260101_000001")),
        (reference(2), ticket("I260101_000002")),
        (reference(3), ticket("I260101_000003")),
    ];

    ledger.tickets_opened(&opened).await.unwrap();
    ledger.tickets_opened(&opened[..2]).await.expect("the same tickets again are fine");

    drop(ledger);
    let reopened = ledger_in(dir.path());
    assert!(reopened.pending_orders(CONNECTION).await.unwrap().is_empty());
    let mut open: Vec<_> = reopened
        .open_tickets(CONNECTION)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.reference, t.ticket))
        .collect();
    open.sort_by_key(|(_, t)| t.clone());
    assert_eq!(open, opened);
    reopened.tickets_opened(&[]).await.unwrap();
}

#[tokio::test]
async fn tickets_recorded_together_change_nothing_when_one_order_has_another_ticket() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    ledger.record_orders(&[order(1), order(2), order(3)]).await.unwrap();
    ledger.begin_creates(&[reference(1), reference(2), reference(3)]).await.unwrap();
    ledger.ticket_opened(&reference(2), &ticket("I260101_000002")).await.unwrap();
    let before = attempts_of(&ledger).await;

    let other_ticket = ledger
        .tickets_opened(&[
            (reference(1), ticket("I260101_000001")),
            (reference(2), ticket("I260101_000099")),
        ])
        .await
        .unwrap_err();
    let shared_ticket = ledger
        .tickets_opened(&[
            (reference(1), ticket("I260101_000001")),
            (reference(3), ticket("I260101_000001")),
        ])
        .await
        .unwrap_err();
    let unknown = ledger
        .tickets_opened(&[
            (reference(1), ticket("I260101_000001")),
            (reference(9), ticket("I260101_000009")),
        ])
        .await
        .unwrap_err();

    assert!(
        matches!(&other_ticket, LedgerError::Conflict(m) if m.contains("I260101_000002")),
        "{other_ticket}"
    );
    assert!(matches!(shared_ticket, LedgerError::Conflict(_)), "{shared_ticket}");
    assert!(matches!(unknown, LedgerError::UnknownOrder(_)), "{unknown}");
    assert_eq!(attempts_of(&ledger).await, before, "all or nothing");
}

#[tokio::test]
async fn a_finished_order_takes_no_ticket_in_a_batch() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let finished = NewOrder { decided: Some(executed("nothing to do")), ..order(1) };
    ledger.record_orders(&[finished, order(2)]).await.unwrap();

    let error = ledger
        .tickets_opened(&[
            (reference(2), ticket("I260101_000002")),
            (reference(1), ticket("I260101_000001")),
        ])
        .await
        .unwrap_err();

    assert!(matches!(&error, LedgerError::Conflict(m) if m.contains("finished")), "{error}");
    assert_eq!(stage_of(&ledger, &reference(2)).await, OrderStage::Received);
}
