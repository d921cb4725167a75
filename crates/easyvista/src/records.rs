//! Streaming reads of any list resource or saved view: one page in memory at a time, records
//! yielded one by one. It must never loop forever on a server that ignores paging.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use serde_json::{Map, Value};
use tracing::debug;
use url::Url;

use crate::error::{EasyVistaError, key_ci};
use crate::transport::{Cost, Transport};

pub(crate) type Record = Map<String, Value>;

/// One page as read from the envelope.
#[derive(Debug, Default)]
pub(crate) struct Page {
    pub(crate) records: Vec<Record>,
    pub(crate) total: Option<usize>,
    pub(crate) next: Option<String>,
}

struct Pager {
    transport: Arc<Transport>,
    cost: Arc<Cost>,
    /// The query without paging parameters.
    url: Url,
    page_size: usize,
    offset: usize,
    next_url: Option<Url>,
    buffer: VecDeque<Record>,
    done: bool,
    last_page: Option<String>,
}

/// Streams every record `url` lists, `page_size` at a time, by offset or by `@next`. Stops on
/// an empty page, on a short page without `@next`, once `total_record_count` records came, or
/// when a page repeats (a server that ignores `offset`).
pub(crate) fn stream_records(
    transport: Arc<Transport>,
    cost: Arc<Cost>,
    url: Url,
    page_size: usize,
) -> impl Stream<Item = Result<Record, EasyVistaError>> + Send + 'static {
    let pager = Pager::new(transport, cost, url, page_size);
    futures::stream::try_unfold(pager, |mut pager| async move {
        loop {
            if let Some(record) = pager.buffer.pop_front() {
                return Ok(Some((record, pager)));
            }
            if pager.done {
                return Ok(None);
            }
            pager.fetch().await?;
        }
    })
}

/// The same records as [`stream_records`], a page at a time (never an empty page).
pub(crate) fn stream_pages(
    transport: Arc<Transport>,
    cost: Arc<Cost>,
    url: Url,
    page_size: usize,
) -> impl Stream<Item = Result<Vec<Record>, EasyVistaError>> + Send + 'static {
    let pager = Pager::new(transport, cost, url, page_size);
    futures::stream::try_unfold(pager, |mut pager| async move {
        while !pager.done {
            pager.fetch().await?;
            if !pager.buffer.is_empty() {
                let page = Vec::from(std::mem::take(&mut pager.buffer));
                return Ok(Some((page, pager)));
            }
        }
        Ok(None)
    })
}

/// Drives `pages` on a task of its own, so the next page is fetched and parsed while the reader
/// handles this one. At most one page waits for the reader besides the one being read; the task
/// stops when the reader drops the stream.
pub(crate) fn read_ahead<T: Send + 'static>(
    pages: impl Stream<Item = T> + Send + 'static,
) -> impl Stream<Item = T> + Send + 'static {
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    let start = Some((pages, sender));
    futures::stream::unfold((receiver, start, None), |(mut receiver, mut start, task)| async move {
        // Started on the first read, so the stream can be built outside a runtime.
        let task = task.or_else(|| {
            let (pages, sender) = start.take()?;
            Some(AbortOnDrop(tokio::spawn(async move {
                let mut pages = std::pin::pin!(pages);
                while let Some(page) = pages.next().await {
                    if sender.send(page).await.is_err() {
                        break;
                    }
                }
            })))
        });
        let page = receiver.recv().await?;
        Some((page, (receiver, start, task)))
    })
}

/// Stops the read-ahead task once its reader is gone.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Pager {
    fn new(transport: Arc<Transport>, cost: Arc<Cost>, url: Url, page_size: usize) -> Pager {
        Pager {
            transport,
            cost,
            url,
            page_size: page_size.max(1),
            offset: 0,
            next_url: None,
            buffer: VecDeque::new(),
            done: false,
            last_page: None,
        }
    }

    async fn fetch(&mut self) -> Result<(), EasyVistaError> {
        let url = match self.next_url.take() {
            Some(next) => next,
            None => with_paging(&self.url, self.offset, self.page_size),
        };
        let body = self.transport.get(&url, &self.cost).await?;
        let page = parse_page(body, url.path())?;
        let count = page.records.len();
        if count == 0 {
            self.done = true;
            return Ok(());
        }

        let fingerprint = page_fingerprint(&page.records);
        if self.last_page.as_ref() == Some(&fingerprint) {
            debug!(path = url.path(), "the same page came back twice; the server ignores paging");
            self.done = true;
            return Ok(());
        }
        self.last_page = Some(fingerprint);
        self.offset += count;

        let next = page.next.as_deref().and_then(|next| self.resolve_next(next));
        let reached_total = page.total.is_some_and(|total| self.offset >= total);
        let ignored_max_rows = count > self.page_size && next.is_none();
        if reached_total || ignored_max_rows || (count < self.page_size && next.is_none()) {
            self.done = true;
        }
        self.next_url = next;
        self.buffer.extend(page.records);
        Ok(())
    }

    /// `@next` is followed only when it stays under the API root; otherwise offset paging goes on.
    fn resolve_next(&self, next: &str) -> Option<Url> {
        let url = self.transport.root().join(next.trim()).ok()?;
        if self.transport.is_under_root(&url) {
            Some(url)
        } else {
            debug!(next, "ignoring an @next link outside the API root; paging by offset");
            None
        }
    }
}

/// `url` with `max_rows` and `offset` set, replacing any already there.
pub(crate) fn with_paging(url: &Url, offset: usize, page_size: usize) -> Url {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(key, _)| {
            !key.eq_ignore_ascii_case("max_rows") && !key.eq_ignore_ascii_case("offset")
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut paged = url.clone();
    paged.set_query(None);
    {
        let mut query = paged.query_pairs_mut();
        for (key, value) in &kept {
            query.append_pair(key, value);
        }
        query.append_pair("max_rows", &page_size.to_string());
        query.append_pair("offset", &offset.to_string());
    }
    paged
}

/// Reads a list envelope whatever the casing of its keys and whether counts are strings.
pub(crate) fn parse_page(body: Value, path: &str) -> Result<Page, EasyVistaError> {
    let what = format!("GET {path}");
    let mut object = match body {
        Value::Object(object) => object,
        Value::Array(items) => {
            return Ok(Page { records: objects(items, &what)?, ..Page::default() });
        }
        other => {
            return Err(EasyVistaError::protocol(
                &what,
                format!("a list answer is not an object: {}", kind(&other)),
            ));
        }
    };
    let total = key_ci(&object, "total_record_count").and_then(count);
    let next = key_ci(&object, "@next")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .map(str::to_owned);
    let page_count = key_ci(&object, "record_count").and_then(count);

    let records_key =
        object.keys().find(|k| k.eq_ignore_ascii_case("records")).cloned().or_else(|| {
            let arrays: Vec<&String> =
                object.iter().filter(|(_, v)| v.is_array()).map(|(k, _)| k).collect();
            (arrays.len() == 1).then(|| arrays[0].clone())
        });
    let records = match records_key.and_then(|key| object.remove(&key)) {
        Some(Value::Array(items)) => objects(items, &what)?,
        Some(other) => {
            return Err(EasyVistaError::protocol(
                &what,
                format!("records is {}, not a list", kind(&other)),
            ));
        }
        None if page_count == Some(0) || total == Some(0) => Vec::new(),
        None => return Err(EasyVistaError::protocol(&what, "a list answer without records")),
    };
    Ok(Page { records, total, next })
}

fn objects(items: Vec<Value>, what: &str) -> Result<Vec<Record>, EasyVistaError> {
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(record) => Ok(record),
            other => Err(EasyVistaError::protocol(
                what,
                format!("a record is {}, not an object", kind(&other)),
            )),
        })
        .collect()
}

/// A count given as `"12"` or `12`.
fn count(value: &Value) -> Option<usize> {
    match value {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(number) => number.as_u64().map(|n| n as usize),
        _ => None,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn page_fingerprint(records: &[Record]) -> String {
    let first = records.first().map(|r| Value::Object(r.clone()).to_string()).unwrap_or_default();
    let last = records.last().map(|r| Value::Object(r.clone()).to_string()).unwrap_or_default();
    format!("{}|{first}|{last}", records.len())
}

/// A text column of a record, read case-insensitively; nested `A.B` names go into objects.
pub(crate) fn text_field<'a>(record: &'a Record, name: &str) -> Option<&'a str> {
    if let Some(value) = key_ci(record, name) {
        return value.as_str();
    }
    let (outer, inner) = name.split_once('.')?;
    key_ci(record, outer)?.as_object().and_then(|nested| text_field(nested, inner))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn envelopes_are_read_whatever_their_casing_and_count_types() {
        let page = parse_page(
            json!({"HREF": "x", "Record_Count": "2", "TOTAL_RECORD_COUNT": 5, "Records": [{"A": "1"}, {"A": "2"}], "@next": "requests?offset=2"}),
            "/requests",
        )
        .unwrap();
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.total, Some(5));
        assert_eq!(page.next.as_deref(), Some("requests?offset=2"));

        let documents =
            parse_page(json!({"Documents": [{"DOCUMENT_ID": "1"}]}), "/documents").unwrap();
        assert_eq!(documents.records.len(), 1);
        let empty =
            parse_page(json!({"record_count": "0", "total_record_count": "0"}), "/requests")
                .unwrap();
        assert!(empty.records.is_empty());
        assert!(parse_page(json!({"HREF": "x"}), "/requests").is_err());
        assert!(parse_page(json!("nope"), "/requests").is_err());
    }

    #[test]
    fn paging_parameters_replace_any_given() {
        let url = Url::parse("https://h/api/v1/1/internalqueries?queryguid=Q&max_rows=5&OFFSET=3")
            .unwrap();
        let paged = with_paging(&url, 200, 100);
        assert_eq!(paged.query(), Some("queryguid=Q&max_rows=100&offset=200"));
    }

    #[test]
    fn nested_fields_are_read_ignoring_case() {
        let record: Record =
            serde_json::from_value(json!({"STATUS": {"STATUS_GUID": "{G}"}, "rfc_number": "I1"}))
                .unwrap();
        assert_eq!(text_field(&record, "status.status_guid"), Some("{G}"));
        assert_eq!(text_field(&record, "RFC_NUMBER"), Some("I1"));
        assert_eq!(text_field(&record, "end_date_ut"), None);
    }
}
