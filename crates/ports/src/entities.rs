//! Reference data read page by page from the service desk, for export.

use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Map, Value};

/// One record as the service desk returns it; nested objects stay nested.
pub type Record = Map<String, Value>;

/// Records arriving one at a time, fetched page by page behind the scenes.
pub type RecordStream = BoxStream<'static, Result<Record, EntityError>>;

/// Records arriving a page at a time, in the order the service desk lists them.
pub type PageStream = BoxStream<'static, Result<Vec<Record>, EntityError>>;

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntityQuery {
    /// A list resource (`employees`) or a saved view URL (`internalqueries?queryguid=…`),
    /// relative to the account's API root.
    pub resource: String,
    /// Fields to ask for (dotted for nested ones); empty asks for the default extract.
    pub fields: Vec<String>,
    /// Only records whose LAST_UPDATE is at or after this timestamp.
    pub updated_since: Option<String>,
    /// Records per page; 0 lets the source choose.
    pub page_size: usize,
}

/// A source of reference records.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait EntitySource: Send + Sync {
    /// Streams the records of a query without holding more than a page at a time. The stream
    /// owns what it needs, so it can outlive the borrow of the source.
    fn records(&self, query: EntityQuery) -> RecordStream;

    /// The same records as [`EntitySource::records`], a page at a time, so a reader that
    /// handles many rows pays per page rather than per record. A source may fetch the next
    /// page while this one is handled, but holds at most one page ahead. By default, the
    /// records regrouped in pages of at most `page_size` (100 when 0); a
    /// failure ends the stream.
    fn pages(&self, query: EntityQuery) -> PageStream {
        let size = if query.page_size == 0 { 100 } else { query.page_size };
        self.records(query)
            .ready_chunks(size)
            .map(|chunk| chunk.into_iter().collect::<Result<Vec<_>, _>>())
            .boxed()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntityError {
    #[error("reading {resource} failed: {reason}")]
    Read { resource: String, reason: String },
}
