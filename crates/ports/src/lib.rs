//! The ports of ticket-agent: what the use cases need from the outside world, as object-safe
//! async traits. Adapters implement them; the use cases hold them as `Arc<dyn …>`.
//!
//! Architecture invariant: this crate names no adapter, no HTTP client and no database. It
//! depends on the domain only. With the `mocks` feature every port has a mockall mock
//! (`MockTicketingBackend`, `MockLedger`, …) for unit tests.

pub mod entities;
pub mod export;
pub mod ledger;
pub mod orders;
pub mod secrets;
pub mod ticketing;

pub use entities::{
    EntityError, EntityQuery, EntitySource, PageStream, RawPage, RawPageStream, Record,
    RecordStream,
};
pub use export::{ExportCookie, ExportSink, RowBatch, TableWriter};
pub use ledger::{
    FinishedOrder, Ledger, LedgerError, NewOrder, OpenTicket, OrderRecord, OrderStage, PendingOrder,
};
pub use orders::{Delivery, OrderSource, PublishedResults, ResultRow, ResultSink, StoreError};
pub use secrets::{SecretSetting, SecretSource, SecretSourceError};
pub use ticketing::{
    FollowReport, FollowRequest, OpenedTicket, TicketObservation, TicketingBackend, TicketingError,
};

#[cfg(feature = "mocks")]
pub use {
    entities::MockEntitySource, export::MockExportSink, export::MockTableWriter,
    ledger::MockLedger, orders::MockOrderSource, orders::MockResultSink, secrets::MockSecretSource,
    ticketing::MockTicketingBackend,
};
