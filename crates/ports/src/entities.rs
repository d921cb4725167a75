//! Reference data read page by page from the service desk, for export.

use std::ops::Range;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Map, Value};

/// One record as the service desk returns it; nested objects stay nested.
pub type Record = Map<String, Value>;

/// Records arriving one at a time, fetched page by page behind the scenes.
pub type RecordStream = BoxStream<'static, Result<Record, EntityError>>;

/// Records arriving a page at a time, in the order the service desk lists them.
pub type PageStream = BoxStream<'static, Result<Vec<Record>, EntityError>>;

/// Pages as JSON text, in the order the service desk lists them.
pub type RawPageStream = BoxStream<'static, Result<RawPage, EntityError>>;

/// One page of records as JSON text, so a reader can take what it needs from each record
/// without building a map of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawPage {
    /// The page as received.
    pub body: Bytes,
    /// Where in `body` the JSON list of the records is (`[{…}, …]`); every item is an object.
    pub records: Range<usize>,
    /// How many records the list holds.
    pub count: usize,
}

impl RawPage {
    /// A page of records already parsed, written back as JSON.
    pub fn from_records(records: &[Record]) -> RawPage {
        // A map of JSON values always serializes.
        let body = serde_json::to_vec(records).unwrap_or_else(|_| b"[]".to_vec());
        RawPage { records: 0..body.len(), count: records.len(), body: Bytes::from(body) }
    }

    /// The JSON list of the records.
    pub fn records_json(&self) -> &[u8] {
        self.body.get(self.records.clone()).unwrap_or(b"[]")
    }
}

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

    /// The pages of [`EntitySource::pages`] as JSON text, for a reader that goes through many
    /// records. Unlike the other two, these pages may still hold records updated before
    /// `updated_since` (a server can ignore the filter): a reader that asks for a range checks
    /// it. By default, the pages of [`EntitySource::pages`] written back as JSON.
    fn raw_pages(&self, query: EntityQuery) -> RawPageStream {
        self.pages(query).map(|page| page.map(|records| RawPage::from_records(&records))).boxed()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntityError {
    #[error("reading {resource} failed: {reason}")]
    Read { resource: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_written_back_as_a_raw_page_read_the_same() {
        let record: Record = serde_json::from_str(r#"{"ID":"1","L":{"P":"a,\"b\""}}"#).unwrap();
        let page = RawPage::from_records(&[record.clone(), record.clone()]);
        assert_eq!(page.count, 2);
        let back: Vec<Record> = serde_json::from_slice(page.records_json()).unwrap();
        assert_eq!(back, [record.clone(), record]);
    }
}
