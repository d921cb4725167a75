//! The ledger: the durable record of every order the agent took, its ticket and its outcome.
//!
//! It is both the idempotency record (an order is known by its external reference, and a
//! ticket is only ever opened for an order the ledger holds) and the audit trail.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use ta_domain::{ExternalReference, StateReport, TicketNumber, TicketOutcome};

use crate::orders::ResultRow;

/// An order as first recorded, before any ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub reference: ExternalReference,
    pub connection: String,
    /// The delivery (order file) it came in, and its 1-based position there.
    pub delivery: String,
    pub position: usize,
    /// The order's AssignedResourceTypeId, when it could be read.
    pub assignment_id: Option<String>,
    pub resource_type: String,
    pub change_type: String,
    pub owner_id: String,
    pub owner_type: String,
    /// The order entry exactly as delivered, so the ticket can be opened later from the ledger
    /// alone.
    pub order_json: String,
    /// Set when the order is already decided without a ticket (an invalid order, no mapping):
    /// it is recorded as finished with this report.
    pub decided: Option<StateReport>,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStage {
    /// Recorded; no create sent yet.
    Received,
    /// A create was sent at least once and its result is not recorded: the ticket may exist.
    Creating,
    /// The ticket exists and is being followed.
    Open,
    /// The provisioning state is decided and waits to be reported.
    Finished,
    /// The provisioning state was published to Identity Manager.
    Reported,
}

/// An order that still needs its ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOrder {
    pub reference: ExternalReference,
    pub connection: String,
    pub delivery: String,
    pub position: usize,
    pub order_json: String,
    pub stage: OrderStage,
    pub attempts: u32,
}

/// A ticket being followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTicket {
    pub reference: ExternalReference,
    pub ticket: TicketNumber,
    pub resource_type: String,
    pub opened_at: DateTime<Utc>,
}

/// A decided order whose result row waits to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedOrder {
    pub reference: ExternalReference,
    pub row: ResultRow,
    /// The result batch this row was assigned to, when a publish of it was started.
    pub batch: Option<String>,
}

/// Everything the ledger knows of one order, for `status` and audits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRecord {
    pub reference: String,
    pub connection: String,
    pub delivery: String,
    pub position: usize,
    pub assignment_id: Option<String>,
    pub resource_type: String,
    pub change_type: String,
    pub stage: OrderStage,
    pub ticket: Option<String>,
    pub outcome: Option<String>,
    pub state: Option<String>,
    pub message: Option<String>,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_poll: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Durable storage of orders; every method is atomic.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Records orders in one transaction. Orders whose reference is already known are left
    /// as they are. Returns the references of the new ones, in the order given.
    async fn record_orders(
        &self,
        orders: &[NewOrder],
    ) -> Result<Vec<ExternalReference>, LedgerError>;

    /// Orders of a connection that have no ticket yet (received, or creating), oldest first.
    async fn pending_orders(&self, connection: &str) -> Result<Vec<PendingOrder>, LedgerError>;

    /// Notes that a create is about to be sent; from now on the ticket may exist. Returns the
    /// attempt number.
    async fn begin_create(&self, reference: &ExternalReference) -> Result<u32, LedgerError>;

    /// The order's ticket exists.
    async fn ticket_opened(
        &self,
        reference: &ExternalReference,
        ticket: &TicketNumber,
    ) -> Result<(), LedgerError>;

    /// Notes that creates are about to be sent for all these orders, in one durable change:
    /// all or nothing. Returns each order's attempt number, in the order given.
    async fn begin_creates(
        &self,
        references: &[ExternalReference],
    ) -> Result<Vec<u32>, LedgerError>;

    /// These orders' tickets exist, recorded in one durable change: all or nothing. A ticket
    /// already recorded for its order is accepted again; a different one is a conflict.
    async fn tickets_opened(
        &self,
        opened: &[(ExternalReference, TicketNumber)],
    ) -> Result<(), LedgerError>;

    /// A create failed. With a report the order is finished with it; without, the error is
    /// noted and the order stays pending for another try.
    async fn create_failed(
        &self,
        reference: &ExternalReference,
        error: &str,
        report: Option<StateReport>,
    ) -> Result<(), LedgerError>;

    /// Tickets of a connection being followed.
    async fn open_tickets(&self, connection: &str) -> Result<Vec<OpenTicket>, LedgerError>;

    /// A followed ticket ended: the order is finished with this report.
    async fn ticket_finished(
        &self,
        reference: &ExternalReference,
        outcome: TicketOutcome,
        report: StateReport,
    ) -> Result<(), LedgerError>;

    /// Notes when these orders' tickets were last read.
    async fn polled(
        &self,
        references: &[ExternalReference],
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError>;

    /// Finished orders of a connection whose results are not published yet.
    async fn unreported(&self, connection: &str) -> Result<Vec<FinishedOrder>, LedgerError>;

    /// These finished orders' results are about to be published as batch `batch`. An order
    /// already assigned to a batch keeps its batch.
    async fn assign_batch(
        &self,
        references: &[ExternalReference],
        batch: &str,
    ) -> Result<(), LedgerError>;

    /// Their results are published at `location`.
    async fn mark_reported(
        &self,
        references: &[ExternalReference],
        location: &str,
    ) -> Result<(), LedgerError>;

    /// The follow watermark of a connection, from its last sync cycle.
    async fn watermark(&self, connection: &str) -> Result<Option<String>, LedgerError>;

    async fn set_watermark(
        &self,
        connection: &str,
        watermark: Option<String>,
    ) -> Result<(), LedgerError>;

    /// Every order, or those of one connection, newest first.
    async fn orders(&self, connection: Option<String>) -> Result<Vec<OrderRecord>, LedgerError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {location} cannot be used: {reason}")]
    Unavailable { location: String, reason: String },
    #[error("ledger has no order {0}")]
    UnknownOrder(String),
    #[error("ledger refused the change: {0}")]
    Conflict(String),
}
