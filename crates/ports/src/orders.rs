//! Where orders come from and where provisioning results go (Identity Manager's side).

use async_trait::async_trait;
use serde::Serialize;

/// One delivery of orders: the text of one order file, not yet parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Unique within the source, e.g. the file name; used in messages and references.
    pub name: String,
    pub text: String,
}

/// Hands out order deliveries and takes them back once every order is safely recorded.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait OrderSource: Send + Sync {
    /// Deliveries waiting to be taken, oldest first.
    async fn pending(&self) -> Result<Vec<Delivery>, StoreError>;

    /// Every order of this delivery is recorded: it must never be handed out again.
    async fn acknowledge(&self, delivery: &str) -> Result<(), StoreError>;

    /// The delivery is unusable as a whole; keep it aside with the reason.
    async fn reject(&self, delivery: &str, reason: &str) -> Result<(), StoreError>;
}

/// One result row, in the columns Identity Manager reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultRow {
    pub assignment_id: String,
    /// A provisioning state name: `Executed`, `Verified`, `Error`, …
    pub provisioning_state: String,
    pub message: String,
    pub change_type: String,
    pub owner_id: String,
    pub owner_type: String,
}

/// Takes provisioning results back to Identity Manager.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ResultSink: Send + Sync {
    /// Publishes rows durably and all together: when this returns Ok they are all out, when it
    /// fails none of them is.
    async fn publish(&self, rows: &[ResultRow]) -> Result<PublishedResults, StoreError>;
}

/// Where published results can be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedResults {
    pub location: String,
}

/// A storage failure on Identity Manager's side of the agent (files, folders).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {reason}")]
pub struct StoreError {
    /// The file or folder concerned.
    pub location: String,
    pub reason: String,
}
