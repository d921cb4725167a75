//! Streaming reads of any list resource or saved view: one page in memory at a time, records
//! yielded one by one. It must never loop forever on a server that ignores paging.

use std::collections::VecDeque;
use std::sync::Arc;

use std::ops::Range;

use futures::{Stream, StreamExt};
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use ta_ports::RawPage;
use tracing::debug;
use url::Url;

use crate::error::{EasyVistaError, key_ci, snippet};
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
/// an empty page, once `total_record_count` records came, when a page repeats (a server that
/// ignores `offset`), or, when the server gives no total, on a page of another size than asked
/// for without `@next`.
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

/// The same pages as [`stream_pages`] as JSON text, unparsed (never an empty page).
pub(crate) fn stream_raw_pages(
    transport: Arc<Transport>,
    cost: Arc<Cost>,
    url: Url,
    page_size: usize,
) -> impl Stream<Item = Result<RawPage, EasyVistaError>> + Send + 'static {
    let pager = Pager::new(transport, cost, url, page_size);
    futures::stream::try_unfold(pager, |mut pager| async move {
        while !pager.done {
            if let Some(page) = pager.fetch_raw().await? {
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

    /// The URL of the next page.
    fn next_page_url(&mut self) -> Url {
        match self.next_url.take() {
            Some(next) => next,
            None => with_paging(&self.url, self.offset, self.page_size),
        }
    }

    async fn fetch(&mut self) -> Result<(), EasyVistaError> {
        let url = self.next_page_url();
        let body = self.transport.get(&url, &self.cost).await?;
        let page = parse_page(body, url.path())?;
        let fingerprint = page_fingerprint(&page.records);
        if self.advance(&url, page.records.len(), page.total, page.next.as_deref(), fingerprint) {
            self.buffer.extend(page.records);
        }
        Ok(())
    }

    /// The next page as JSON text, or `None` once paging is over.
    async fn fetch_raw(&mut self) -> Result<Option<RawPage>, EasyVistaError> {
        let url = self.next_page_url();
        let body = self.transport.get_bytes(&url, &self.cost).await?;
        let envelope = parse_raw_page(&body, url.path())?;
        let fingerprint = envelope.fingerprint(&body);
        let fresh = self.advance(
            &url,
            envelope.count,
            envelope.total,
            envelope.next.as_deref(),
            fingerprint,
        );
        Ok(fresh.then(|| RawPage { body, records: envelope.records, count: envelope.count }))
    }

    /// Moves past a page of `count` records; false when it holds nothing new (empty, or the
    /// same as the last one). Decides whether another page follows.
    fn advance(
        &mut self,
        url: &Url,
        count: usize,
        total: Option<usize>,
        next: Option<&str>,
        fingerprint: String,
    ) -> bool {
        if count == 0 {
            self.done = true;
            return false;
        }
        if self.last_page.as_ref() == Some(&fingerprint) {
            debug!(path = url.path(), "the same page came back twice; the server ignores paging");
            self.done = true;
            return false;
        }
        self.last_page = Some(fingerprint);
        self.offset += count;

        let next = next.and_then(|next| self.resolve_next(next));
        self.done = match total {
            // The server said how many rows match: page on until they all came (or an empty
            // page says there are no more), whatever the size of this page. A server that caps
            // `max_rows` below the page size answers short pages before the end.
            Some(total) => self.offset >= total,
            // Without a total, a page shorter than asked for without `@next` is the last one,
            // and so is a page longer than asked for (the server ignored `max_rows`).
            None => next.is_none() && count != self.page_size,
        };
        self.next_url = next;
        true
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

/// A list envelope read from the page text: where its records are, without parsing them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RawEnvelope {
    /// The JSON list of the records within the body (empty when there is none).
    pub(crate) records: Range<usize>,
    pub(crate) count: usize,
    /// The text of the first and of the last record within the body.
    first: Range<usize>,
    last: Range<usize>,
    pub(crate) total: Option<usize>,
    pub(crate) next: Option<String>,
}

impl RawEnvelope {
    /// Tells a page from the one before: its size, first and last record.
    fn fingerprint(&self, body: &[u8]) -> String {
        let text =
            |range: &Range<usize>| String::from_utf8_lossy(&body[range.clone()]).into_owned();
        format!("{}|{}|{}", self.count, text(&self.first), text(&self.last))
    }
}

/// Reads a list envelope as [`parse_page`] does, from the page text in one pass: keys in any
/// case, counts as strings or numbers, the records under `records` or the one list there is.
/// Records are only located and checked to be objects.
pub(crate) fn parse_raw_page(body: &[u8], path: &str) -> Result<RawEnvelope, EasyVistaError> {
    let what = format!("GET {path}");
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let top = serde::de::DeserializeSeed::deserialize(Scan { body }, &mut deserializer)
        .and_then(|top| deserializer.end().map(|()| top))
        .map_err(|e| {
            let shown = snippet(&String::from_utf8_lossy(&body[..body.len().min(2000)]));
            EasyVistaError::protocol(
                &what,
                format!("a list answer that is not JSON ({e}): {shown}"),
            )
        })?;
    let located = |list: ListScan| match list.not_object {
        Some(kind) => {
            Err(EasyVistaError::protocol(&what, format!("a record is {kind}, not an object")))
        }
        None => Ok(RawEnvelope {
            records: list_range(body, &list),
            count: list.count,
            first: list.first,
            last: list.last,
            ..RawEnvelope::default()
        }),
    };
    let entries = match top {
        Scanned::Object(entries) => entries,
        Scanned::List(list) => return located(list),
        other => {
            return Err(EasyVistaError::protocol(
                &what,
                format!("a list answer is not an object: {}", other.kind()),
            ));
        }
    };

    let value_ci = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .or_else(|| entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
            .map(|(_, value)| value)
    };
    let total = value_ci("total_record_count").and_then(Scanned::count);
    let page_count = value_ci("record_count").and_then(Scanned::count);
    let next = match value_ci("@next") {
        Some(Scanned::Text(next)) if !next.trim().is_empty() => Some(next.clone()),
        _ => None,
    };
    let records = entries.iter().find(|(k, _)| k.eq_ignore_ascii_case("records")).or_else(|| {
        let mut lists = entries.iter().filter(|(_, v)| matches!(v, Scanned::List(_)));
        match (lists.next(), lists.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    });
    let envelope = match records.map(|(_, value)| value) {
        Some(Scanned::List(list)) => located(list.clone())?,
        Some(other) => {
            return Err(EasyVistaError::protocol(
                &what,
                format!("records is {}, not a list", other.kind()),
            ));
        }
        None if page_count == Some(0) || total == Some(0) => RawEnvelope::default(),
        None => return Err(EasyVistaError::protocol(&what, "a list answer without records")),
    };
    Ok(RawEnvelope { total, next, ..envelope })
}

/// The text of a list from its first item to its last, widened to its brackets.
fn list_range(body: &[u8], list: &ListScan) -> Range<usize> {
    if list.count == 0 {
        return 0..0;
    }
    let mut start = list.first.start;
    while start > 0 && body[start - 1] != b'[' {
        start -= 1;
    }
    let mut end = list.last.end;
    while end < body.len() && body[end] != b']' {
        end += 1;
    }
    start.saturating_sub(1)..(end + 1).min(body.len())
}

/// What one pass over a JSON value keeps of it.
#[derive(Debug, Clone)]
enum Scanned {
    Object(Vec<(String, Scanned)>),
    List(ListScan),
    Text(String),
    Number(Option<u64>),
    /// Null, a boolean, or an object inside a value.
    Other(&'static str),
}

/// A JSON list, located: its items are not parsed.
#[derive(Debug, Clone, Default)]
struct ListScan {
    count: usize,
    first: Range<usize>,
    last: Range<usize>,
    /// What the first item that is not an object is.
    not_object: Option<&'static str>,
}

impl Scanned {
    /// A count given as `"12"` or `12`.
    fn count(&self) -> Option<usize> {
        match self {
            Scanned::Text(text) => text.trim().parse().ok(),
            Scanned::Number(number) => number.map(|n| n as usize),
            _ => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Scanned::Object(_) => "an object",
            Scanned::List(_) => "a list",
            Scanned::Text(_) => "a string",
            Scanned::Number(_) => "a number",
            Scanned::Other(kind) => kind,
        }
    }
}

/// Scans one value of `body`: the top of the answer keeps its keys, lists are located.
struct Scan<'b> {
    body: &'b [u8],
}

/// Scans a value below the top: objects there are skipped.
struct Nested<'b> {
    body: &'b [u8],
}

impl<'de> serde::de::DeserializeSeed<'de> for Scan<'_> {
    type Value = Scanned;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Scanned, D::Error> {
        deserializer.deserialize_any(ScanVisitor { body: self.body, top: true })
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Nested<'_> {
    type Value = Scanned;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Scanned, D::Error> {
        deserializer.deserialize_any(ScanVisitor { body: self.body, top: false })
    }
}

struct ScanVisitor<'b> {
    body: &'b [u8],
    top: bool,
}

impl<'de> serde::de::Visitor<'de> for ScanVisitor<'_> {
    type Value = Scanned;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Scanned, A::Error> {
        if !self.top {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Scanned::Other("an object"));
        }
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value_seed(Nested { body: self.body })?));
        }
        Ok(Scanned::Object(entries))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scanned, A::Error> {
        let base = self.body.as_ptr() as usize;
        let mut list = ListScan::default();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            let text = item.get();
            let start = text.as_ptr() as usize - base;
            let range = start..start + text.len();
            if list.count == 0 {
                list.first = range.clone();
            }
            if list.not_object.is_none() && !text.starts_with('{') {
                let kind = match text.as_bytes()[0] {
                    b'"' => "a string",
                    b'[' => "a list",
                    b'n' => "null",
                    b't' | b'f' => "a boolean",
                    _ => "a number",
                };
                list.not_object = Some(kind);
            }
            list.last = range;
            list.count += 1;
        }
        Ok(Scanned::List(list))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Scanned, E> {
        Ok(Scanned::Text(text.to_owned()))
    }

    fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Scanned, E> {
        Ok(Scanned::Number(Some(number)))
    }

    fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<Scanned, E> {
        Ok(Scanned::Number(u64::try_from(number).ok()))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Scanned, E> {
        Ok(Scanned::Number(None))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Scanned, E> {
        Ok(Scanned::Other("a boolean"))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Scanned, E> {
        Ok(Scanned::Other("null"))
    }
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
    fn raw_envelopes_are_read_as_parsed_ones_are() {
        let text = |value: Value| value.to_string().into_bytes();
        let body = text(
            json!({"HREF": "x", "Record_Count": "2", "TOTAL_RECORD_COUNT": 5, "Records": [{"A": "1"}, {"A": "[2]"}], "@next": "requests?offset=2"}),
        );
        let page = parse_raw_page(&body, "/requests").unwrap();
        assert_eq!(page.count, 2);
        assert_eq!(&body[page.records.clone()], br#"[{"A":"1"},{"A":"[2]"}]"#);
        assert_eq!(page.total, Some(5));
        assert_eq!(page.next.as_deref(), Some("requests?offset=2"));

        let spaced = b" [ {\"A\": 1} ,\n {\"B\": {}} ] ";
        let list = parse_raw_page(spaced, "/documents").unwrap();
        assert_eq!((list.count, &spaced[list.records.clone()]), (2, &spaced[1..spaced.len() - 1]));

        let documents = text(json!({"Documents": [{"DOCUMENT_ID": "1"}], "Total": 1}));
        assert_eq!(parse_raw_page(&documents, "/documents").unwrap().count, 1);
        let empty = text(json!({"record_count": "0", "total_record_count": "0"}));
        assert_eq!(parse_raw_page(&empty, "/requests").unwrap().count, 0);
        let refused =
            |body: Value| parse_raw_page(&text(body), "/requests").unwrap_err().to_string();
        assert!(refused(json!({"HREF": "x"})).contains("without records"));
        assert!(refused(json!("nope")).contains("not an object: a string"));
        assert!(refused(json!({"records": {"A": 1}})).contains("records is an object"));
        assert!(refused(json!({"records": [{"A": 1}, 3]})).contains("a record is a number"));
        assert!(parse_raw_page(b"{\"records\": [", "/requests").is_err());
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
