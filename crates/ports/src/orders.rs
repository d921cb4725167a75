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

/// Takes provisioning results back to Identity Manager, in named batches.
///
/// A batch is named before it is written, so the ledger can note where its rows go first: after
/// a crash between writing a batch and noting it published, the same batch is published again
/// under the same name, which finds it already out. No row is ever published twice.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ResultSink: Send + Sync {
    /// A name for a new batch, never used before by this sink.
    fn next_batch(&self) -> String;

    /// Publishes rows as batch `batch`, durably and all together: when this returns Ok they are
    /// all out, when it fails none of them is. A batch already out is left as it is.
    async fn publish(
        &self,
        batch: &str,
        rows: &[ResultRow],
    ) -> Result<PublishedResults, StoreError>;
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
