//! The ledger on an embedded SQLite file: every order the agent took, its ticket and outcome.
//! It must never lose a committed order or ticket number, and never overwrite a ticket number.
//!
//! One connection on a writer thread of its own does all the work. Calls that arrive while the
//! writer is busy are grouped into one SQLite transaction (group commit): each call still runs
//! in a savepoint of its own, so a failing call changes nothing and spoils no other, and no call
//! returns before the transaction holding it is committed. The file runs in WAL mode with
//! `synchronous=FULL`, so a change that returned Ok survives a crash or a power cut, and the
//! cost of flushing to disk is shared by every call of a group.
//!
//! An order decided without an assignment id (its `AssignedResourceTypeId` was unreadable) can
//! never be reported to Identity Manager, whose result rows are keyed by that id. `unreported`
//! marks such orders reported at the location [`UNREPORTABLE`] instead of handing them out, so
//! they stay in the audit trail and do not wait forever.

mod schema;

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Savepoint, params};
use ta_domain::{ExternalReference, StateReport, TicketNumber, TicketOutcome};
use ta_ports::{
    FinishedOrder, Ledger, LedgerError, NewOrder, OpenTicket, OrderRecord, OrderStage,
    PendingOrder, ResultRow,
};

pub use schema::SCHEMA_VERSION;

/// The report location given to finished orders that have no assignment id.
pub const UNREPORTABLE: &str = "unreportable";

/// How long a call waits for another process holding the file (a `status` command, a backup).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The ledger in one SQLite file (or in memory, for tests). Cheap to clone; clones share the
/// connection.
#[derive(Clone)]
pub struct SqliteLedger {
    inner: Arc<Inner>,
}

struct Inner {
    location: String,
    jobs: Sender<Job>,
}

/// One call's work: it runs on the writer thread inside the group's transaction and hands back
/// what to do once that transaction is committed (or failed to commit).
type Job = Box<dyn FnOnce(&mut Connection) -> Finish + Send>;
type Finish = Box<dyn FnOnce(Option<&str>) + Send>;

/// At most this many calls share one transaction.
const MAX_GROUP: usize = 256;

/// Why a step inside a call failed, before the location is attached.
enum Failure {
    Sql(rusqlite::Error),
    Ledger(LedgerError),
    /// A stored value this build cannot read back.
    Corrupt(String),
    /// The transaction holding the call could not be committed.
    Commit(String),
}

type Step<T> = Result<T, Failure>;

// === SqliteLedger ===

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger").field("location", &self.inner.location).finish()
    }
}

impl SqliteLedger {
    /// Opens the ledger file, creating it and its parent folders when missing, and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<SqliteLedger, LedgerError> {
        let location = path.display().to_string();
        let unavailable =
            |reason: String| LedgerError::Unavailable { location: location.clone(), reason };

        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                unavailable(format!("cannot create folder {}: {e}", parent.display()))
            })?;
        }
        let conn = Connection::open(path).map_err(|e| unavailable(e.to_string()))?;

        let journal: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| unavailable(format!("cannot switch to WAL mode: {e}")))?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Err(unavailable(format!("WAL mode refused (journal mode stays {journal})")));
        }
        Self::prepare(conn, location)
    }

    /// A ledger that lives in memory only, for tests.
    pub fn open_in_memory() -> Result<SqliteLedger, LedgerError> {
        let location = ":memory:".to_owned();
        let conn = Connection::open_in_memory().map_err(|e| LedgerError::Unavailable {
            location: location.clone(),
            reason: e.to_string(),
        })?;
        Self::prepare(conn, location)
    }

    /// The file (or `:memory:`) this ledger lives in, for messages.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// The schema version of the file, as SQLite's `user_version` records it.
    pub async fn schema_version(&self) -> Result<u32, LedgerError> {
        self.run(|conn| Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)).await
    }

    fn prepare(mut conn: Connection, location: String) -> Result<SqliteLedger, LedgerError> {
        let unavailable =
            |reason: String| LedgerError::Unavailable { location: location.clone(), reason };

        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| unavailable(e.to_string()))?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| unavailable(e.to_string()))?;
        schema::migrate(&mut conn).map_err(unavailable)?;

        let (jobs, queue) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer(conn, queue))
            .map_err(|e| unavailable(format!("cannot start the ledger writer: {e}")))?;
        Ok(SqliteLedger { inner: Arc::new(Inner { location, jobs }) })
    }

    /// Runs one unit of work on the writer thread; returns once the transaction holding it is
    /// committed.
    async fn run<T, F>(&self, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Step<T> + Send + 'static,
    {
        let location = self.inner.location.clone();
        let stopped = |reason: &str| LedgerError::Unavailable {
            location: location.clone(),
            reason: reason.into(),
        };
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = work(conn);
            Box::new(move |commit_failure: Option<&str>| {
                let outcome = match (result, commit_failure) {
                    (Ok(_), Some(reason)) => Err(Failure::Commit(reason.to_owned())),
                    (result, _) => result,
                };
                let _ = answer.send(outcome);
            })
        });
        self.inner.jobs.send(job).map_err(|_| stopped("the ledger writer has stopped"))?;
        match answered.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(failure)) => Err(failure.into_ledger_error(&location)),
            Err(_) => Err(stopped("the ledger call failed without an answer")),
        }
    }
}

/// The writer thread: takes every call waiting, runs them in one transaction, commits once,
/// then answers them all. Ends when every handle to the ledger is gone.
fn writer(mut conn: Connection, queue: Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }

        // Without the outer transaction (the file is locked by another process beyond the busy
        // timeout), each call's savepoint is a transaction of its own: slower, still correct.
        let grouped = conn.execute_batch("BEGIN IMMEDIATE").is_ok();
        let mut finishes = Vec::with_capacity(group.len());
        for job in group {
            // A panicking call loses its answer (its caller sees an error); its savepoint was
            // rolled back while unwinding, and the others go on.
            if let Ok(finish) = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn))) {
                finishes.push(finish);
            }
        }
        let commit_failure = if grouped {
            conn.execute_batch("COMMIT").err().map(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                e.to_string()
            })
        } else {
            None
        };
        for finish in finishes {
            finish(commit_failure.as_deref());
        }
    }
}

#[async_trait]
impl Ledger for SqliteLedger {
    async fn record_orders(
        &self,
        orders: &[NewOrder],
    ) -> Result<Vec<ExternalReference>, LedgerError> {
        let orders = orders.to_vec();
        self.run(move |conn| {
            let tx = write(conn)?;
            let now = now();
            let mut added = Vec::new();
            {
                let mut sequence: i64 =
                    tx.prepare_cached("SELECT IFNULL(MAX(sequence), 0) + 1 FROM orders")?.query_row([], |row| row.get(0))?;
                let mut insert = tx.prepare_cached(
                    "INSERT INTO orders (reference, sequence, connection, delivery, position, assignment_id,
                        resource_type, change_type, owner_id, owner_type, order_json, stage, state, message,
                        attempts, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 0, ?15, ?15)
                     ON CONFLICT (reference) DO NOTHING",
                )?;
                for order in &orders {
                    let (stage, state, message) = match &order.decided {
                        Some(report) => (OrderStage::Finished, Some(report.state.name()), Some(report.message.as_str())),
                        None => (OrderStage::Received, None, None),
                    };
                    let inserted = insert.execute(params![
                        order.reference.as_str(),
                        sequence,
                        order.connection,
                        order.delivery,
                        to_i64(order.position),
                        order.assignment_id,
                        order.resource_type,
                        order.change_type,
                        order.owner_id,
                        order.owner_type,
                        order.order_json,
                        stage_name(stage),
                        state,
                        message,
                        now,
                    ])?;
                    if inserted == 1 {
                        sequence += 1;
                        added.push(order.reference.clone());
                    }
                }
            }
            tx.commit()?;
            tracing::debug!(added = added.len(), offered = orders.len(), "orders recorded");
            Ok(added)
        })
        .await
    }

    async fn pending_orders(&self, connection: &str) -> Result<Vec<PendingOrder>, LedgerError> {
        let connection = connection.to_owned();
        self.run(move |conn| {
            let mut query = conn.prepare_cached(
                "SELECT reference, connection, delivery, position, order_json, stage, attempts FROM orders
                 WHERE connection = ?1 AND stage IN ('received', 'creating') ORDER BY sequence",
            )?;
            let rows = query.query_map([&connection], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, u32>(6)?,
                ))
            })?;
            let mut pending = Vec::new();
            for row in rows {
                let (reference, connection, delivery, position, order_json, stage, attempts) = row?;
                pending.push(PendingOrder {
                    reference: parse_reference(&reference)?,
                    connection,
                    delivery,
                    position: to_usize(position),
                    order_json,
                    stage: parse_stage(&stage)?,
                    attempts,
                });
            }
            Ok(pending)
        })
        .await
    }

    async fn begin_create(&self, reference: &ExternalReference) -> Result<u32, LedgerError> {
        let reference = reference.clone();
        self.run(move |conn| {
            let tx = write(conn)?;
            let attempts = begin_one(&tx, &reference, &now())?;
            tx.commit()?;
            tracing::debug!(order = %reference, attempts, "create begun");
            Ok(attempts)
        })
        .await
    }

    /// All or nothing: an unknown order, or one past creating, changes no order.
    async fn begin_creates(
        &self,
        references: &[ExternalReference],
    ) -> Result<Vec<u32>, LedgerError> {
        if references.is_empty() {
            return Ok(Vec::new());
        }
        let references = references.to_vec();
        self.run(move |conn| {
            let tx = write(conn)?;
            let now = now();
            let attempts = references
                .iter()
                .map(|reference| begin_one(&tx, reference, &now))
                .collect::<Step<Vec<u32>>>()?;
            tx.commit()?;
            tracing::debug!(orders = references.len(), "creates begun");
            Ok(attempts)
        })
        .await
    }

    async fn ticket_opened(
        &self,
        reference: &ExternalReference,
        ticket: &TicketNumber,
    ) -> Result<(), LedgerError> {
        let (reference, ticket) = (reference.clone(), ticket.clone());
        self.run(move |conn| {
            let tx = write(conn)?;
            open_one(&tx, &reference, &ticket, &now())?;
            tx.commit()?;
            tracing::debug!(order = %reference, ticket = %ticket, "ticket recorded");
            Ok(())
        })
        .await
    }

    /// All or nothing: an unknown order, or one holding another ticket, changes no order.
    async fn tickets_opened(
        &self,
        opened: &[(ExternalReference, TicketNumber)],
    ) -> Result<(), LedgerError> {
        if opened.is_empty() {
            return Ok(());
        }
        let opened = opened.to_vec();
        self.run(move |conn| {
            let tx = write(conn)?;
            let now = now();
            for (reference, ticket) in &opened {
                open_one(&tx, reference, ticket, &now)?;
            }
            tx.commit()?;
            tracing::debug!(orders = opened.len(), "tickets recorded");
            Ok(())
        })
        .await
    }

    async fn create_failed(
        &self,
        reference: &ExternalReference,
        error: &str,
        report: Option<StateReport>,
    ) -> Result<(), LedgerError> {
        let (reference, error) = (reference.clone(), error.to_owned());
        self.run(move |conn| {
            let tx = write(conn)?;
            let (stage, _) = current(&tx, &reference)?;
            if !matches!(stage, OrderStage::Received | OrderStage::Creating) {
                return Err(conflict(format!(
                    "order {reference} is {}: a failed create cannot be recorded",
                    stage_name(stage)
                )));
            }

            match &report {
                Some(report) => tx.prepare_cached("UPDATE orders SET stage = 'finished', state = ?2, message = ?3, last_error = ?4, updated_at = ?5
                     WHERE reference = ?1")?.execute(params![reference.as_str(), report.state.name(), report.message, error, now()],
                )?,
                None => tx.prepare_cached("UPDATE orders SET last_error = ?2, updated_at = ?3 WHERE reference = ?1")?.execute(params![reference.as_str(), error, now()],
                )?,
            };
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn open_tickets(&self, connection: &str) -> Result<Vec<OpenTicket>, LedgerError> {
        let connection = connection.to_owned();
        self.run(move |conn| {
            let mut query = conn.prepare_cached(
                "SELECT reference, ticket, resource_type, opened_at FROM orders
                 WHERE connection = ?1 AND stage = 'open' ORDER BY sequence",
            )?;
            let rows = query.query_map([&connection], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                ))
            })?;
            let mut open = Vec::new();
            for row in rows {
                let (reference, ticket, resource_type, opened_at) = row?;
                let ticket = ticket.ok_or_else(|| {
                    Failure::Corrupt(format!("open order {reference} has no ticket"))
                })?;
                let ticket = TicketNumber::new(&ticket)
                    .map_err(|e| Failure::Corrupt(format!("order {reference}: {e}")))?;
                let opened_at = opened_at.unwrap_or_default();
                open.push(OpenTicket {
                    reference: parse_reference(&reference)?,
                    ticket,
                    resource_type,
                    opened_at: parse_time(&opened_at)?,
                });
            }
            Ok(open)
        })
        .await
    }

    async fn ticket_finished(
        &self,
        reference: &ExternalReference,
        outcome: TicketOutcome,
        report: StateReport,
    ) -> Result<(), LedgerError> {
        let reference = reference.clone();
        self.run(move |conn| {
            let tx = write(conn)?;
            let (stage, _) = current(&tx, &reference)?;
            if stage != OrderStage::Open {
                return Err(conflict(format!(
                    "order {reference} is {}: only an open ticket can finish",
                    stage_name(stage)
                )));
            }

            tx.prepare_cached("UPDATE orders SET stage = 'finished', outcome = ?2, state = ?3, message = ?4, updated_at = ?5
                 WHERE reference = ?1")?.execute(params![reference.as_str(), outcome.as_str(), report.state.name(), report.message, now()],
            )?;
            tx.commit()?;
            tracing::debug!(order = %reference, %outcome, state = %report.state, "order finished");
            Ok(())
        })
        .await
    }

    /// References the ledger does not hold are passed over: a poll note is bookkeeping, not
    /// worth failing a follow cycle for.
    async fn polled(
        &self,
        references: &[ExternalReference],
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let references = references.to_vec();
        self.run(move |conn| {
            let tx = write(conn)?;
            let at = timestamp(at);
            {
                let mut update =
                    tx.prepare_cached("UPDATE orders SET last_poll = ?2 WHERE reference = ?1")?;
                for reference in &references {
                    update.execute(params![reference.as_str(), at])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Finished orders without an assignment id are marked reported at [`UNREPORTABLE`] here,
    /// in the same transaction, and are not returned.
    async fn unreported(&self, connection: &str) -> Result<Vec<FinishedOrder>, LedgerError> {
        let connection = connection.to_owned();
        self.run(move |conn| {
            let tx = write(conn)?;
            set_aside_unreportable(&tx, &connection)?;

            let mut finished = Vec::new();
            {
                let mut query = tx.prepare_cached(
                    "SELECT reference, assignment_id, state, message, change_type, owner_id, owner_type, batch
                     FROM orders WHERE connection = ?1 AND stage = 'finished' ORDER BY sequence",
                )?;
                let rows = query.query_map([&connection], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        ResultRow {
                            assignment_id: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                            provisioning_state: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                            message: row.get::<_, Option<String>>(3)?.unwrap_or_default(),
                            change_type: row.get(4)?,
                            owner_id: row.get(5)?,
                            owner_type: row.get(6)?,
                        },
                        row.get::<_, Option<String>>(7)?,
                    ))
                })?;
                for row in rows {
                    let (reference, row, batch) = row?;
                    finished.push(FinishedOrder { reference: parse_reference(&reference)?, row, batch });
                }
            }
            tx.commit()?;
            Ok(finished)
        })
        .await
    }

    /// All or nothing, like `mark_reported`; an order that already has a batch keeps it.
    async fn assign_batch(
        &self,
        references: &[ExternalReference],
        batch: &str,
    ) -> Result<(), LedgerError> {
        let (references, batch) = (references.to_vec(), batch.to_owned());
        self.run(move |conn| {
            let tx = write(conn)?;
            let now = now();
            for reference in &references {
                if !awaits_report(&tx, reference, "publish")? {
                    continue;
                }
                tx.prepare_cached("UPDATE orders SET batch = ?2, updated_at = ?3 WHERE reference = ?1 AND batch IS NULL")?.execute(params![reference.as_str(), batch, now],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// All or nothing: an unknown reference, or one not finished yet, changes no order. An
    /// order already reported is left as it is.
    async fn mark_reported(
        &self,
        references: &[ExternalReference],
        location: &str,
    ) -> Result<(), LedgerError> {
        let (references, location) = (references.to_vec(), location.to_owned());
        self.run(move |conn| {
            let tx = write(conn)?;
            let now = now();
            for reference in &references {
                if !awaits_report(&tx, reference, "report")? {
                    continue;
                }
                tx.prepare_cached("UPDATE orders SET stage = 'reported', reported_at = ?2, report_location = ?3, updated_at = ?2
                     WHERE reference = ?1")?.execute(params![reference.as_str(), now, location],
                )?;
            }
            tx.commit()?;
            tracing::debug!(orders = references.len(), location = %location, "results reported");
            Ok(())
        })
        .await
    }

    async fn watermark(&self, connection: &str) -> Result<Option<String>, LedgerError> {
        let connection = connection.to_owned();
        self.run(move |conn| {
            let stored: Option<Option<String>> = conn
                .prepare_cached("SELECT watermark FROM watermarks WHERE connection = ?1")?
                .query_row([&connection], |row| row.get(0))
                .optional()?;
            Ok(stored.flatten())
        })
        .await
    }

    async fn set_watermark(
        &self,
        connection: &str,
        watermark: Option<String>,
    ) -> Result<(), LedgerError> {
        let connection = connection.to_owned();
        self.run(move |conn| {
            conn.prepare_cached("INSERT INTO watermarks (connection, watermark, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (connection) DO UPDATE SET watermark = excluded.watermark, updated_at = excluded.updated_at")?.execute(params![connection, watermark, now()],
            )?;
            Ok(())
        })
        .await
    }

    async fn orders(&self, connection: Option<String>) -> Result<Vec<OrderRecord>, LedgerError> {
        self.run(move |conn| {
            let mut query = conn.prepare_cached(
                "SELECT reference, connection, delivery, position, assignment_id, resource_type, change_type,
                        stage, ticket, outcome, state, message, attempts, created_at, updated_at, last_poll,
                        last_error
                 FROM orders WHERE ?1 IS NULL OR connection = ?1 ORDER BY sequence DESC",
            )?;
            let rows = query.query_map([&connection], |row| {
                Ok(StoredRecord {
                    reference: row.get(0)?,
                    connection: row.get(1)?,
                    delivery: row.get(2)?,
                    position: row.get(3)?,
                    assignment_id: row.get(4)?,
                    resource_type: row.get(5)?,
                    change_type: row.get(6)?,
                    stage: row.get(7)?,
                    ticket: row.get(8)?,
                    outcome: row.get(9)?,
                    state: row.get(10)?,
                    message: row.get(11)?,
                    attempts: row.get(12)?,
                    created_at: row.get(13)?,
                    updated_at: row.get(14)?,
                    last_poll: row.get(15)?,
                    last_error: row.get(16)?,
                })
            })?;
            let mut records = Vec::new();
            for row in rows {
                records.push(row?.into_record()?);
            }
            Ok(records)
        })
        .await
    }
}

// === Failure ===

impl From<rusqlite::Error> for Failure {
    fn from(error: rusqlite::Error) -> Self {
        Failure::Sql(error)
    }
}

impl Failure {
    fn into_ledger_error(self, location: &str) -> LedgerError {
        match self {
            Failure::Ledger(error) => error,
            // The one constraint a caller can trip is a ticket number given to two orders.
            Failure::Sql(rusqlite::Error::SqliteFailure(code, message))
                if code.code == ErrorCode::ConstraintViolation =>
            {
                LedgerError::Conflict(message.unwrap_or_else(|| code.to_string()))
            }
            Failure::Sql(error) => LedgerError::Unavailable {
                location: location.to_owned(),
                reason: error.to_string(),
            },
            Failure::Corrupt(reason) => LedgerError::Unavailable {
                location: location.to_owned(),
                reason: format!("unreadable record: {reason}"),
            },
            Failure::Commit(reason) => LedgerError::Unavailable {
                location: location.to_owned(),
                reason: format!("commit failed: {reason}"),
            },
        }
    }
}

// === rows as stored ===

/// An `orders` row as SQLite hands it back, before its values are checked.
struct StoredRecord {
    reference: String,
    connection: String,
    delivery: String,
    position: i64,
    assignment_id: Option<String>,
    resource_type: String,
    change_type: String,
    stage: String,
    ticket: Option<String>,
    outcome: Option<String>,
    state: Option<String>,
    message: Option<String>,
    attempts: u32,
    created_at: String,
    updated_at: String,
    last_poll: Option<String>,
    last_error: Option<String>,
}

impl StoredRecord {
    fn into_record(self) -> Step<OrderRecord> {
        Ok(OrderRecord {
            stage: parse_stage(&self.stage)?,
            created_at: parse_time(&self.created_at)?,
            updated_at: parse_time(&self.updated_at)?,
            last_poll: self.last_poll.as_deref().map(parse_time).transpose()?,
            reference: self.reference,
            connection: self.connection,
            delivery: self.delivery,
            position: to_usize(self.position),
            assignment_id: self.assignment_id,
            resource_type: self.resource_type,
            change_type: self.change_type,
            ticket: self.ticket,
            outcome: self.outcome,
            state: self.state,
            message: self.message,
            attempts: self.attempts,
            last_error: self.last_error,
        })
    }
}

// === helpers ===

/// Whether an order's result still waits to go out: true when finished, false when already
/// reported (left as it is); any other stage is a conflict, as it has no result to `action`.
fn awaits_report(tx: &Connection, reference: &ExternalReference, action: &str) -> Step<bool> {
    match current(tx, reference)?.0 {
        OrderStage::Finished => Ok(true),
        OrderStage::Reported => Ok(false),
        stage => Err(conflict(format!(
            "order {reference} is {}: it has no result to {action}",
            stage_name(stage)
        ))),
    }
}

/// A call's own savepoint inside the group's transaction (which already holds the file's write
/// lock): committing it keeps its changes for the group, dropping it undoes them.
fn write(conn: &mut Connection) -> Step<Savepoint<'_>> {
    Ok(conn.savepoint()?)
}

/// The stage and ticket of an order the ledger must hold.
fn current(tx: &Connection, reference: &ExternalReference) -> Step<(OrderStage, Option<String>)> {
    let found: Option<(String, Option<String>)> = tx
        .prepare_cached("SELECT stage, ticket FROM orders WHERE reference = ?1")?
        .query_row([reference.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let (stage, ticket) =
        found.ok_or_else(|| Failure::Ledger(LedgerError::UnknownOrder(reference.to_string())))?;
    Ok((parse_stage(&stage)?, ticket))
}

/// Notes one order's create: one UPDATE when the order may be created; only when it may not is
/// its row read, to say why.
fn begin_one(tx: &Connection, reference: &ExternalReference, now: &str) -> Step<u32> {
    let attempts: Option<u32> = tx
        .prepare_cached(
            "UPDATE orders SET stage = 'creating', attempts = attempts + 1, updated_at = ?2
             WHERE reference = ?1 AND stage IN ('received', 'creating') RETURNING attempts",
        )?
        .query_row(params![reference.as_str(), now], |row| row.get(0))
        .optional()?;
    if let Some(attempts) = attempts {
        return Ok(attempts);
    }
    let (stage, _) = current(tx, reference)?;
    Err(conflict(format!("order {reference} is {}: no create may be sent", stage_name(stage))))
}

/// Records one order's ticket: one UPDATE when the order has none yet; otherwise its row is
/// read, and the same ticket again is accepted while any other is a conflict.
fn open_one(
    tx: &Connection,
    reference: &ExternalReference,
    ticket: &TicketNumber,
    now: &str,
) -> Step<()> {
    let changed = tx
        .prepare_cached(
            "UPDATE orders SET ticket = ?2, stage = 'open', opened_at = ?3, updated_at = ?3,
                 last_error = NULL
             WHERE reference = ?1 AND ticket IS NULL AND stage IN ('received', 'creating')",
        )?
        .execute(params![reference.as_str(), ticket.as_str(), now])?;
    if changed == 1 {
        return Ok(());
    }
    match current(tx, reference)? {
        (_, Some(known)) if known == ticket.as_str() => Ok(()),
        (_, Some(known)) => Err(conflict(format!(
            "order {reference} already has ticket {known}; ticket {ticket} is not recorded"
        ))),
        (stage, None) => Err(conflict(format!(
            "order {reference} is {} without a ticket; ticket {ticket} is not recorded",
            stage_name(stage)
        ))),
    }
}

fn set_aside_unreportable(tx: &Connection, connection: &str) -> Step<()> {
    let now = now();
    let mut update = tx.prepare_cached(
        "UPDATE orders SET stage = 'reported', reported_at = ?2, report_location = ?3, updated_at = ?2
         WHERE connection = ?1 AND stage = 'finished' AND (assignment_id IS NULL OR assignment_id = '')
         RETURNING reference, state",
    )?;
    let rows = update.query_map(params![connection, now, UNREPORTABLE], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
    })?;
    for row in rows {
        let (reference, state) = row?;
        tracing::warn!(
            order = %reference,
            connection,
            state = state.as_deref().unwrap_or_default(),
            "order has no assignment id; its result cannot be reported to Identity Manager"
        );
    }
    Ok(())
}

fn conflict(message: String) -> Failure {
    Failure::Ledger(LedgerError::Conflict(message))
}

fn stage_name(stage: OrderStage) -> &'static str {
    match stage {
        OrderStage::Received => "received",
        OrderStage::Creating => "creating",
        OrderStage::Open => "open",
        OrderStage::Finished => "finished",
        OrderStage::Reported => "reported",
    }
}

fn parse_stage(text: &str) -> Step<OrderStage> {
    Ok(match text {
        "received" => OrderStage::Received,
        "creating" => OrderStage::Creating,
        "open" => OrderStage::Open,
        "finished" => OrderStage::Finished,
        "reported" => OrderStage::Reported,
        other => return Err(Failure::Corrupt(format!("unknown stage {other:?}"))),
    })
}

fn parse_reference(text: &str) -> Step<ExternalReference> {
    ExternalReference::parse(text).map_err(Failure::Corrupt)
}

/// Fixed-width UTC timestamps, so text order is time order.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn now() -> String {
    timestamp(Utc::now())
}

fn parse_time(text: &str) -> Step<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| Failure::Corrupt(format!("timestamp {text:?}: {e}")))
}

fn to_i64(position: usize) -> i64 {
    i64::try_from(position).unwrap_or(i64::MAX)
}

fn to_usize(position: i64) -> usize {
    usize::try_from(position).unwrap_or_default()
}
