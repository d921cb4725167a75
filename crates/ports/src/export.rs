//! Where exported reference data goes (Identity Manager's side): one table per entity, written
//! row by row and made visible only on commit, plus the cookie an incremental export resumes from.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::orders::StoreError;

/// Takes exported tables. A table being written is invisible under its final name until
/// [`TableWriter::commit`]; until then the previous export of that entity stays in place.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ExportSink: Send + Sync {
    /// Starts writing `entity` with this header row.
    async fn begin(
        &self,
        entity: &str,
        header: &[String],
    ) -> Result<Box<dyn TableWriter>, StoreError>;

    /// The cookie saved after the last committed export of `entity`, if any.
    async fn cookie(&self, entity: &str) -> Result<Option<ExportCookie>, StoreError>;

    /// Saves the cookie of `entity`; called only after its table was committed.
    async fn save_cookie(&self, entity: &str, cookie: &ExportCookie) -> Result<(), StoreError>;
}

/// One table being written. Rows come a page at a time; each row has one cell per header column.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait TableWriter: Send {
    async fn write_rows(&mut self, rows: Vec<Vec<String>>) -> Result<(), StoreError>;

    /// Makes the table durable and visible under its final name, replacing the previous one.
    /// Returns where it is.
    async fn commit(&mut self) -> Result<String, StoreError>;

    /// Drops what was written; the previous export stays as it was.
    async fn abort(&mut self);
}

/// What an incremental export of one entity resumes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportCookie {
    /// The next export asks for records updated at or after this timestamp.
    pub since: String,
    /// The newest `LAST_UPDATE` seen.
    pub last_update: String,
    /// Fingerprints of the rows already written that were updated at or after `since`: the
    /// next run skips them when they come back unchanged.
    #[serde(default)]
    pub seen: Vec<String>,
    /// The columns written, so that an incremental run with no row keeps the header.
    #[serde(default)]
    pub columns: Vec<String>,
}
