//! Export: copy reference records (employees, custom entities) out to one table per entity,
//! page by page, nested objects flattened into dotted columns. Memory never grows with rows.
//!
//! A table is committed only once every row is written; its cookie is saved only after that.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use ta_ports::{
    EntityError, EntityQuery, EntitySource, ExportCookie, ExportSink, Record, RowBatch, StoreError,
    TableWriter,
};
use tracing::{debug, info};

use rows::Layout;

mod rows;

/// The column every incremental export follows.
pub const LAST_UPDATE: &str = "LAST_UPDATE";

/// One entity to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportEntity {
    /// The table name: `Employees`, or the key of `ExportSettingsOptions`.
    pub name: String,
    /// A list resource (`employees`) or a saved view URL (`internalqueries?queryguid=…`).
    pub resource: String,
    /// The columns to write, dotted for nested values. Empty takes the columns of the first
    /// record (or those of the previous export when there is no record).
    pub columns: Vec<String>,
}

/// How exports are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSettings {
    /// Records per page asked of the source; 0 lets the source choose. Rows are handed to the
    /// sink in batches of the same size.
    pub page_size: usize,
    /// How far before the newest `LAST_UPDATE` the next incremental run starts reading. It must
    /// exceed how long a complete export takes, so a record changed behind the sweep is caught.
    pub overlap: Duration,
    /// At most this many row fingerprints are kept in a cookie; beyond it the overlap shrinks.
    pub max_fingerprints: usize,
}

impl Default for ExportSettings {
    fn default() -> Self {
        ExportSettings { page_size: 0, overlap: Duration::minutes(10), max_fingerprints: 50_000 }
    }
}

/// Options of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// Ignore the cookies: export every record.
    pub complete: bool,
}

/// Told how an export goes, so the caller can show it; must not block.
pub trait ExportProgress: Send + Sync {
    fn started(&self, entity: &str, incremental: bool);
    /// `written` rows of `entity` so far.
    fn rows(&self, entity: &str, written: u64);
    fn finished(&self, entity: &str, written: u64);
}

/// Progress nobody looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ExportProgress for NoProgress {
    fn started(&self, _: &str, _: bool) {}
    fn rows(&self, _: &str, _: u64) {}
    fn finished(&self, _: &str, _: u64) {}
}

/// Everything one connection's export works with.
#[derive(Clone)]
pub struct Export {
    pub connection: String,
    pub source: Arc<dyn EntitySource>,
    pub sink: Arc<dyn ExportSink>,
    pub entities: Vec<ExportEntity>,
    pub settings: ExportSettings,
}

/// What one run wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    pub tables: Vec<ExportedTable>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedTable {
    pub entity: String,
    pub location: String,
    pub rows: u64,
    /// Rows read again in the overlap and left out because they were already exported as is.
    pub unchanged: u64,
    pub incremental: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("connection {connection}: {source}")]
    Read { connection: String, source: EntityError },
    #[error("connection {connection}: table {entity}: {source}")]
    Store { connection: String, entity: String, source: StoreError },
}

impl Export {
    /// Exports every entity in turn; stops at the first that fails, whose previous table and
    /// cookie are left untouched.
    pub async fn run(
        &self,
        options: ExportOptions,
        progress: &dyn ExportProgress,
    ) -> Result<ExportReport, ExportError> {
        let mut report = ExportReport::default();
        for entity in &self.entities {
            report.tables.push(self.export_entity(entity, options, progress).await?);
        }
        Ok(report)
    }

    async fn export_entity(
        &self,
        entity: &ExportEntity,
        options: ExportOptions,
        progress: &dyn ExportProgress,
    ) -> Result<ExportedTable, ExportError> {
        let store = |source| ExportError::Store {
            connection: self.connection.clone(),
            entity: entity.name.clone(),
            source,
        };
        let previous = self.sink.cookie(&entity.name).await.map_err(store)?;
        let resume = previous.as_ref().filter(|c| !options.complete && !c.since.is_empty());
        let incremental = resume.is_some();
        progress.started(&entity.name, incremental);
        info!(connection = %self.connection, entity = %entity.name, incremental, "export started");

        let query = EntityQuery {
            resource: entity.resource.clone(),
            fields: requested_fields(&entity.columns),
            updated_since: resume.map(|c| c.since.clone()),
            page_size: self.settings.page_size,
        };
        let already: HashSet<u64> = resume
            .map(|c| c.seen.iter().filter_map(|f| u64::from_str_radix(f, 16).ok()).collect())
            .unwrap_or_default();
        let mut watermark = Watermark::new(&self.settings, resume);
        let mut table = Table {
            sink: self.sink.clone(),
            writer: None,
            writing: None,
            columns: entity.columns.clone(),
            batch: RowBatch::new(entity.columns.len()),
            batch_size: self.settings.page_size.clamp(1, 10_000),
            written: 0,
        };
        let mut unchanged = 0u64;

        // The server may ignore the range filter: records older than asked are left out here.
        let since = query.updated_since.as_deref().and_then(parse_stamp);
        let mut layout = Layout::default();
        // (row in the batch, LAST_UPDATE) of the rows of this page whose fingerprint is kept.
        let mut pending = Vec::new();
        let mut pages = self.source.raw_pages(query);
        while let Some(item) = pages.next().await {
            let page = match item {
                Ok(page) => page,
                Err(source) => {
                    table.abort().await;
                    return Err(ExportError::Read { connection: self.connection.clone(), source });
                }
            };
            let read = rows::for_each_record(page.records_json(), |record| {
                let mut slots = layout.slots(record, &table.columns, LAST_UPDATE);
                let stamp = slots[table.columns.len()]
                    .and_then(|at| rows::entry_text(record, at))
                    .map(|text| (text, parse_stamp(text)));
                if let (Some(since), Some((_, Some(stamp)))) = (since, stamp)
                    && stamp < since
                {
                    return;
                }
                if table.columns.is_empty() {
                    table.set_columns(rows::columns_of(record));
                    layout.reset();
                    slots = layout.slots(record, &table.columns, LAST_UPDATE);
                }
                table.write_entries(record, &slots[..table.columns.len()]);
                // The fingerprint matters only to a row the next run reads again, or to the
                // skipping of rows this run already wrote.
                let kept = match stamp {
                    Some((_, Some(parsed))) => watermark.keeps(parsed).then_some(parsed),
                    Some((text, None)) => {
                        debug!(entity = %entity.name, stamp = text, "a LAST_UPDATE is not a timestamp");
                        None
                    }
                    None => None,
                };
                if already.is_empty() {
                    // Nothing to skip: fingerprints are worked out for the whole page at once.
                    if let Some(parsed) = kept {
                        pending.push((table.batch.len(), parsed));
                    }
                    table.batch.end_row();
                    return;
                }
                let fingerprint = row_fingerprint(table.batch.partial_row());
                if let Some(parsed) = kept {
                    watermark.observe(parsed, fingerprint);
                }
                if already.contains(&fingerprint) {
                    table.batch.discard_partial_row();
                    unchanged += 1;
                    return;
                }
                table.batch.end_row();
            });
            if let Err(error) = read {
                table.abort().await;
                let source = EntityError::Read {
                    resource: entity.resource.clone(),
                    reason: format!("a page of records is not valid JSON: {error}"),
                };
                return Err(ExportError::Read { connection: self.connection.clone(), source });
            }
            if !pending.is_empty() {
                let rows: Vec<usize> = pending.iter().map(|(row, _)| *row).collect();
                let fingerprints = batch_fingerprints(&table.batch, &rows);
                for ((_, stamp), fingerprint) in pending.drain(..).zip(fingerprints) {
                    watermark.observe(stamp, fingerprint);
                }
            }
            if table.batch.len() >= table.batch_size {
                table.flush(&entity.name, progress).await.map_err(store)?;
            }
        }

        if table.columns.is_empty()
            && let Some(previous) = &previous
        {
            table.set_columns(previous.columns.clone());
        }
        let location = match table.finish(&entity.name, progress).await {
            Ok(location) => location,
            Err(error) => return Err(store(error)),
        };
        if let Some(cookie) = watermark.cookie(table.columns.clone()).or_else(|| {
            // No timestamp seen: an incremental run keeps its starting point; a table without
            // LAST_UPDATE keeps only its columns, so every run of it is complete.
            resume.cloned().map(|c| ExportCookie { columns: table.columns.clone(), ..c }).or(Some(
                ExportCookie { columns: table.columns.clone(), ..ExportCookie::default() },
            ))
        }) {
            self.sink.save_cookie(&entity.name, &cookie).await.map_err(store)?;
        }
        progress.finished(&entity.name, table.written);
        info!(connection = %self.connection, entity = %entity.name, rows = table.written, unchanged, %location, "export committed");
        Ok(ExportedTable {
            entity: entity.name.clone(),
            location,
            rows: table.written,
            unchanged,
            incremental,
        })
    }
}

/// A batch being written on a task of its own: the task gives the writer back with the outcome.
type Writing = tokio::task::JoinHandle<(Box<dyn TableWriter>, Result<(), StoreError>)>;

/// The table being written: opened on the first batch, so its header can come from the first
/// record.
struct Table {
    sink: Arc<dyn ExportSink>,
    /// The writer, while no batch is being written.
    writer: Option<Box<dyn TableWriter>>,
    /// The batch being written, which holds the writer until it is done.
    writing: Option<Writing>,
    columns: Vec<String>,
    /// Rows not yet handed to the writer, then the row being written.
    batch: RowBatch,
    batch_size: usize,
    written: u64,
}

impl Table {
    fn set_columns(&mut self, columns: Vec<String>) {
        self.batch = RowBatch::new(columns.len());
        self.columns = columns;
    }

    /// Writes the cells of `record`, one per slot (the entry of each column), as the row in
    /// progress; the caller ends the row or discards it.
    fn write_entries(&mut self, record: &[rows::Entry], slots: &[Option<usize>]) {
        for slot in slots {
            if let Some(at) = *slot {
                rows::write_entry(self.batch.cell_buffer(), record, at);
            }
            self.batch.end_cell();
        }
    }

    /// Hands the rows held to the writer, which writes them while the next page is read: at
    /// most one batch is being written at a time.
    async fn flush(
        &mut self,
        entity: &str,
        progress: &dyn ExportProgress,
    ) -> Result<(), StoreError> {
        self.settle().await?;
        if self.writer.is_none() {
            self.writer = Some(self.sink.begin(entity, &self.columns).await?);
        }
        if self.batch.is_empty() {
            return Ok(());
        }
        // The next batch starts with room for as much as this one held.
        let next = RowBatch::with_capacity(
            self.batch.width(),
            self.batch_size,
            self.batch.text_len() / self.batch.len() + 1,
        );
        let rows = std::mem::replace(&mut self.batch, next);
        let count = rows.len() as u64;
        let mut writer = self.writer.take().expect("opened above");
        self.writing = Some(tokio::spawn(async move {
            let written = writer.write_batch(rows).await;
            (writer, written)
        }));
        self.written += count;
        progress.rows(entity, self.written);
        Ok(())
    }

    /// Waits for the batch being written; if it failed, the table is aborted.
    async fn settle(&mut self) -> Result<(), StoreError> {
        let Some(task) = self.writing.take() else { return Ok(()) };
        let (mut writer, written) = match task.await {
            Ok(done) => done,
            Err(failure) => std::panic::resume_unwind(failure.into_panic()),
        };
        if let Err(error) = written {
            writer.abort().await;
            return Err(error);
        }
        self.writer = Some(writer);
        Ok(())
    }

    /// Writes what is left and commits; an empty table still gets its header.
    async fn finish(
        &mut self,
        entity: &str,
        progress: &dyn ExportProgress,
    ) -> Result<String, StoreError> {
        self.flush(entity, progress).await?;
        self.settle().await?;
        let writer = self.writer.as_mut().expect("opened by flush");
        match writer.commit().await {
            Ok(location) => Ok(location),
            Err(error) => {
                writer.abort().await;
                Err(error)
            }
        }
    }

    async fn abort(&mut self) {
        // A failed write has already aborted the table.
        if self.settle().await.is_ok()
            && let Some(writer) = self.writer.as_mut()
        {
            writer.abort().await;
        }
    }
}

/// The fields to ask for: the chosen columns plus `LAST_UPDATE`, or the source's default.
fn requested_fields(columns: &[String]) -> Vec<String> {
    if columns.is_empty() {
        return Vec::new();
    }
    let mut fields = columns.to_vec();
    if !fields.iter().any(|c| c.eq_ignore_ascii_case(LAST_UPDATE)) {
        fields.push(LAST_UPDATE.to_owned());
    }
    fields
}

/// The columns of a record in its own order, nested objects as `OUTER.INNER`.
pub fn flatten_columns(record: &Record) -> Vec<String> {
    fn walk(prefix: &str, record: &Record, out: &mut Vec<String>) {
        for (key, value) in record {
            let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            match value {
                Value::Object(nested) if !nested.is_empty() => walk(&name, nested, out),
                _ => out.push(name),
            }
        }
    }
    let mut columns = Vec::new();
    walk("", record, &mut columns);
    columns
}

/// One cell per column; a column the record lacks is empty.
pub fn row_cells(record: &Record, columns: &[String]) -> Vec<String> {
    columns
        .iter()
        .map(|column| {
            let mut cell = String::new();
            if let Some(value) = lookup(record, column) {
                write_cell(&mut cell, value);
            }
            cell
        })
        .collect()
}

/// A value by column name, any case: the key itself, else `OUTER.INNER` inside nested objects.
fn lookup<'a>(record: &'a Record, name: &str) -> Option<&'a Value> {
    if let Some(value) = record.get(name) {
        return Some(value);
    }
    if let Some((_, value)) = record.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)) {
        return Some(value);
    }
    let mut parts = name.match_indices('.');
    parts.find_map(|(at, _)| {
        let nested = lookup(record, &name[..at])?.as_object()?;
        lookup(nested, &name[at + 1..])
    })
}

/// The text of a cell: `null` is empty, a string as is, anything else as its JSON text.
fn write_cell(cell: &mut String, value: &Value) {
    use std::fmt::Write;

    match value {
        Value::Null => {}
        Value::String(text) => cell.push_str(text),
        // Writing into a String cannot fail.
        other => {
            let _ = write!(cell, "{other}");
        }
    }
}

/// A stable 64-bit FNV-1a of the cells, each followed by 0x1f, so a cookie written by one build
/// is read by the next.
struct Fingerprint(u64);

impl Fingerprint {
    fn new() -> Fingerprint {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }

    fn cell(&mut self, text: &[u8]) {
        const PRIME: u64 = 0x0100_0000_01b3;
        // One local the loop keeps in a register; the same bytes in the same order as ever.
        let mut hash = self.0;
        for &byte in text {
            hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
        }
        self.0 = (hash ^ 0x1f).wrapping_mul(PRIME);
    }

    fn finish(self) -> u64 {
        self.0
    }
}

/// The fingerprint of a row's cells.
fn row_fingerprint<'c>(cells: impl IntoIterator<Item = &'c str>) -> u64 {
    let mut hash = Fingerprint::new();
    for cell in cells {
        hash.cell(cell.as_bytes());
    }
    hash.finish()
}

/// The fingerprints of `rows` of `batch`, as [`row_fingerprint`] gives them. Four rows are
/// hashed side by side, since each hash waits on its previous byte.
fn batch_fingerprints(batch: &RowBatch, rows: &[usize]) -> Vec<u64> {
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut out = Vec::with_capacity(rows.len());
    let mut fours = rows.chunks_exact(4);
    for four in &mut fours {
        let mut hashes = [Fingerprint::new().0; 4];
        for column in 0..batch.width() {
            let cells: [&[u8]; 4] = std::array::from_fn(|j| batch.cell(four[j], column).as_bytes());
            let common = cells.iter().map(|c| c.len()).min().unwrap_or(0);
            let [a, b, c, d] = cells.map(|cell| &cell[..common]);
            for (((&a, &b), &c), &d) in a.iter().zip(b).zip(c).zip(d) {
                for (hash, byte) in hashes.iter_mut().zip([a, b, c, d]) {
                    *hash = (*hash ^ u64::from(byte)).wrapping_mul(PRIME);
                }
            }
            for (hash, cell) in hashes.iter_mut().zip(cells) {
                let mut rest = Fingerprint(*hash);
                rest.cell(&cell[common..]);
                *hash = rest.0;
            }
        }
        out.extend(hashes);
    }
    for &row in fours.remainder() {
        out.push(row_fingerprint((0..batch.width()).map(|column| batch.cell(row, column))));
    }
    out
}

#[cfg(test)]
fn fingerprint(cells: &[String]) -> u64 {
    row_fingerprint(cells.iter().map(String::as_str))
}

fn parse_stamp(text: &str) -> Option<DateTime<FixedOffset>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .ok()
        .or_else(|| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
}

fn format_stamp(stamp: DateTime<FixedOffset>) -> String {
    stamp.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// The newest `LAST_UPDATE` seen, and the fingerprints of the rows in the overlap before it.
struct Watermark {
    overlap: Duration,
    cap: usize,
    newest: Option<DateTime<FixedOffset>>,
    /// (stamp, fingerprint) of the rows in the overlap, oldest first.
    window: BTreeSet<(DateTime<FixedOffset>, u64)>,
    shrunk: bool,
}

impl Watermark {
    fn new(settings: &ExportSettings, resume: Option<&ExportCookie>) -> Watermark {
        Watermark {
            overlap: settings.overlap,
            cap: settings.max_fingerprints.max(1),
            newest: resume.and_then(|c| parse_stamp(&c.last_update)),
            window: BTreeSet::new(),
            shrunk: false,
        }
    }

    /// Whether [`Watermark::observe`] would keep a row of `stamp` (so its fingerprint matters).
    fn keeps(&self, stamp: DateTime<FixedOffset>) -> bool {
        self.newest.is_none_or(|newest| stamp > newest || stamp >= newest - self.overlap)
    }

    fn observe(&mut self, stamp: DateTime<FixedOffset>, fingerprint: u64) {
        if self.newest.is_none_or(|newest| stamp > newest) {
            self.newest = Some(stamp);
        }
        let floor = self.newest.map(|newest| newest - self.overlap);
        if floor.is_some_and(|floor| stamp < floor) {
            return;
        }
        self.window.insert((stamp, fingerprint));
        if self.window.len() > self.cap {
            self.prune();
        }
    }

    /// Drops what fell out of the overlap, then whole oldest stamps while over the cap, so the
    /// next run never starts in the middle of rows it has no fingerprint for.
    fn prune(&mut self) {
        let floor = self.newest.map(|newest| newest - self.overlap);
        while let Some(&(oldest, _)) = self.window.first() {
            let stale = floor.is_some_and(|floor| oldest < floor);
            if !stale && self.window.len() <= self.cap {
                break;
            }
            self.shrunk |= !stale;
            while self.window.first().is_some_and(|(stamp, _)| *stamp == oldest) {
                self.window.pop_first();
            }
        }
    }

    fn cookie(mut self, columns: Vec<String>) -> Option<ExportCookie> {
        let newest = self.newest?;
        self.prune();
        if self.shrunk {
            debug!(
                fingerprints = self.cap,
                "too many rows in the incremental overlap; the next run starts later than the overlap asks"
            );
        }
        let since = self.window.first().map(|(stamp, _)| *stamp).unwrap_or(newest);
        let seen = self.window.iter().map(|(_, f)| format!("{f:016x}")).collect();
        Some(ExportCookie {
            since: format_stamp(since),
            last_update: format_stamp(newest),
            seen,
            columns,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use serde_json::json;
    use ta_ports::RecordStream;

    use super::*;

    fn record(value: serde_json::Value) -> Record {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn nested_objects_become_dotted_columns() {
        let employee = record(json!({
            "EMPLOYEE_ID": "7", "LAST_NAME": "Morley, Gaby",
            "LOCATION": {"LOCATION_ID": "1", "LOCATION_PATH": "Europe/France/Paris", "SITE": {"CODE": "P1"}},
            "MANAGER": {}, "GROUPS": ["a", "b"], "ACTIVE": true, "MANAGER_ID": null,
        }));
        let columns = flatten_columns(&employee);
        assert_eq!(
            columns,
            [
                "EMPLOYEE_ID",
                "LAST_NAME",
                "LOCATION.LOCATION_ID",
                "LOCATION.LOCATION_PATH",
                "LOCATION.SITE.CODE",
                "MANAGER",
                "GROUPS",
                "ACTIVE",
                "MANAGER_ID"
            ]
        );
        assert_eq!(
            row_cells(&employee, &columns),
            [
                "7",
                "Morley, Gaby",
                "1",
                "Europe/France/Paris",
                "P1",
                "{}",
                r#"["a","b"]"#,
                "true",
                ""
            ]
        );
    }

    #[test]
    fn chosen_columns_are_found_in_any_case_and_missing_ones_are_empty() {
        let employee = record(
            json!({"EMPLOYEE_ID": 7, "LOCATION": {"LOCATION_PATH": "Paris"}, "A.B": "flat"}),
        );
        let columns: Vec<String> = ["location.location_path", "employee_id", "PHONE_NUMBER", "A.B"]
            .map(String::from)
            .into();
        assert_eq!(row_cells(&employee, &columns), ["Paris", "7", "", "flat"]);
    }

    #[test]
    fn fingerprints_stay_those_of_earlier_builds() {
        // Cookies keep fingerprints from run to run: the hash of a row must never change.
        let cells = ["7", "Morley, Gaby", ""].map(String::from);
        assert_eq!(fingerprint(&cells), 0x27b787a2550c09f8);
    }

    #[test]
    fn fingerprints_of_a_batch_are_those_of_each_row() {
        let rows: Vec<Vec<String>> = (0..11)
            .map(|i| vec!["x".repeat(i), format!("{i}, é"), String::new(), "y".repeat(11 - i)])
            .collect();
        let mut batch = RowBatch::new(4);
        for row in &rows {
            for cell in row {
                batch.cell_buffer().push_str(cell);
                batch.end_cell();
            }
            batch.end_row();
        }
        let picked = [0, 3, 4, 5, 10, 1, 2, 9, 7];
        let expected: Vec<u64> = picked.iter().map(|&i| fingerprint(&rows[i])).collect();
        assert_eq!(batch_fingerprints(&batch, &picked), expected);
    }

    #[test]
    fn last_update_is_asked_for_only_alongside_chosen_columns() {
        assert!(requested_fields(&[]).is_empty());
        assert_eq!(requested_fields(&["LOGIN".into()]), ["LOGIN", "LAST_UPDATE"]);
        assert_eq!(requested_fields(&["last_update".into()]), ["last_update"]);
    }

    #[test]
    fn the_watermark_keeps_the_overlap_and_shrinks_it_past_the_cap() {
        let at = |ms: i64| {
            parse_stamp("2025-01-01T00:00:00.000+01:00").unwrap() + Duration::milliseconds(ms)
        };
        let settings = ExportSettings {
            overlap: Duration::milliseconds(100),
            max_fingerprints: 3,
            ..Default::default()
        };
        let mut watermark = Watermark::new(&settings, None);
        for (ms, fp) in [(0, 1), (500, 2), (450, 3), (300, 4)] {
            watermark.observe(at(ms), fp);
        }
        let cookie = watermark.cookie(vec![]).unwrap();
        assert_eq!(cookie.last_update, "2025-01-01T00:00:00.500+01:00");
        assert_eq!(cookie.since, "2025-01-01T00:00:00.450+01:00");
        assert_eq!(cookie.seen, ["0000000000000003", "0000000000000002"]);

        let mut full = Watermark::new(&settings, None);
        for ms in 0..10 {
            full.observe(at(ms), ms as u64);
        }
        let cookie = full.cookie(vec![]).unwrap();
        assert_eq!(cookie.seen.len(), 3);
        assert_eq!(cookie.since, "2025-01-01T00:00:00.007+01:00");
    }

    // === fakes of the ports ===

    struct Source {
        pages: Vec<Result<Record, EntityError>>,
        queries: Mutex<Vec<EntityQuery>>,
    }

    impl EntitySource for Source {
        fn records(&self, query: EntityQuery) -> RecordStream {
            self.queries.lock().unwrap().push(query);
            futures::stream::iter(self.pages.clone()).boxed()
        }
    }

    #[derive(Default)]
    struct Folder {
        committed: Mutex<BTreeMap<String, Vec<Vec<String>>>>,
        cookies: Mutex<BTreeMap<String, ExportCookie>>,
        aborted: Mutex<Vec<String>>,
    }

    struct Sink(Arc<Folder>);

    struct Writer {
        entity: String,
        rows: Vec<Vec<String>>,
        folder: Arc<Folder>,
    }

    #[async_trait]
    impl ExportSink for Sink {
        async fn begin(
            &self,
            entity: &str,
            header: &[String],
        ) -> Result<Box<dyn TableWriter>, StoreError> {
            Ok(Box::new(Writer {
                entity: entity.into(),
                rows: vec![header.to_vec()],
                folder: self.0.clone(),
            }))
        }
        async fn cookie(&self, entity: &str) -> Result<Option<ExportCookie>, StoreError> {
            Ok(self.0.cookies.lock().unwrap().get(entity).cloned())
        }
        async fn save_cookie(&self, entity: &str, cookie: &ExportCookie) -> Result<(), StoreError> {
            self.0.cookies.lock().unwrap().insert(entity.into(), cookie.clone());
            Ok(())
        }
    }

    #[async_trait]
    impl TableWriter for Writer {
        async fn write_rows(&mut self, rows: Vec<Vec<String>>) -> Result<(), StoreError> {
            self.rows.extend(rows);
            Ok(())
        }
        async fn commit(&mut self) -> Result<String, StoreError> {
            self.folder
                .committed
                .lock()
                .unwrap()
                .insert(self.entity.clone(), std::mem::take(&mut self.rows));
            Ok(format!("{}.csv", self.entity))
        }
        async fn abort(&mut self) {
            self.folder.aborted.lock().unwrap().push(self.entity.clone());
        }
    }

    fn export(
        pages: Vec<Result<Record, EntityError>>,
        columns: &[&str],
        folder: &Arc<Folder>,
    ) -> (Export, Arc<Source>) {
        let source = Arc::new(Source { pages, queries: Mutex::new(Vec::new()) });
        let export = Export {
            connection: "EV".into(),
            source: source.clone(),
            sink: Arc::new(Sink(folder.clone())),
            entities: vec![ExportEntity {
                name: "Employees".into(),
                resource: "employees".into(),
                columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            }],
            settings: ExportSettings { page_size: 2, ..Default::default() },
        };
        (export, source)
    }

    fn employee(id: u32, name: &str, ms: u32) -> Result<Record, EntityError> {
        Ok(record(json!({
            "EMPLOYEE_ID": id.to_string(), "LAST_NAME": name,
            "LAST_UPDATE": format!("2025-03-01T10:00:00.{ms:03}+01:00"),
            "LOCATION": {"LOCATION_PATH": "Europe/France"},
        })))
    }

    #[tokio::test]
    async fn an_incremental_run_writes_only_what_changed_since_the_cookie() {
        let folder = Arc::new(Folder::default());
        let first = vec![employee(1, "A", 100), employee(2, "B", 200), employee(3, "C", 300)];
        let (run, _) = export(first, &["EMPLOYEE_ID", "LOCATION.LOCATION_PATH"], &folder);
        let report = run.run(ExportOptions::default(), &NoProgress).await.unwrap();
        assert_eq!(report.tables[0].rows, 3);
        assert!(!report.tables[0].incremental);
        let cookie = folder.cookies.lock().unwrap()["Employees"].clone();
        assert_eq!(cookie.last_update, "2025-03-01T10:00:00.300+01:00");
        assert_eq!(cookie.since, "2025-03-01T10:00:00.100+01:00");

        // The source answers the overlap again, plus the one employee that changed.
        let second = vec![
            employee(1, "A", 100),
            employee(2, "B", 200),
            employee(3, "C", 300),
            employee(2, "B2", 900),
        ];
        let (run, source) = export(second, &["EMPLOYEE_ID", "LAST_NAME"], &folder);
        // Columns changed, so fingerprints differ: only the same columns are compared.
        let report = run.run(ExportOptions::default(), &NoProgress).await.unwrap();
        assert!(report.tables[0].incremental);
        assert_eq!(
            source.queries.lock().unwrap()[0].updated_since.as_deref(),
            Some("2025-03-01T10:00:00.100+01:00")
        );
        assert_eq!(
            source.queries.lock().unwrap()[0].fields,
            ["EMPLOYEE_ID", "LAST_NAME", "LAST_UPDATE"]
        );

        // A server that ignores the range filter also sends what changed before it.
        let third = vec![
            employee(1, "A", 100),
            employee(2, "B2", 900),
            employee(5, "older than asked", 50),
            employee(3, "C", 300),
            employee(4, "D", 950),
        ];
        let (run, _) = export(third, &["EMPLOYEE_ID", "LAST_NAME"], &folder);
        let report = run.run(ExportOptions::default(), &NoProgress).await.unwrap();
        assert_eq!(report.tables[0].rows, 1);
        assert_eq!(report.tables[0].unchanged, 3);
        assert_eq!(
            folder.committed.lock().unwrap()["Employees"],
            [vec!["EMPLOYEE_ID", "LAST_NAME"], vec!["4", "D"]]
        );

        let (run, source) =
            export(vec![employee(1, "A", 100)], &["EMPLOYEE_ID", "LAST_NAME"], &folder);
        let report = run.run(ExportOptions { complete: true }, &NoProgress).await.unwrap();
        assert!(!report.tables[0].incremental);
        assert_eq!(report.tables[0].rows, 1);
        assert_eq!(source.queries.lock().unwrap()[0].updated_since, None);
    }

    #[tokio::test]
    async fn a_read_failure_aborts_the_table_and_keeps_the_cookie() {
        let folder = Arc::new(Folder::default());
        let failure =
            Err(EntityError::Read { resource: "employees".into(), reason: "boom".into() });
        let (run, _) = export(
            vec![employee(1, "A", 100), employee(2, "B", 200), employee(3, "C", 300), failure],
            &[],
            &folder,
        );
        let error = run.run(ExportOptions::default(), &NoProgress).await.unwrap_err();
        assert!(error.to_string().contains("boom"), "{error}");
        assert_eq!(*folder.aborted.lock().unwrap(), ["Employees"]);
        assert!(folder.committed.lock().unwrap().is_empty());
        assert!(folder.cookies.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn columns_come_from_the_first_record_and_an_empty_table_keeps_them() {
        let folder = Arc::new(Folder::default());
        let odd = Ok(record(json!({"EXTRA": "x", "EMPLOYEE_ID": "9"})));
        let (run, _) = export(vec![employee(1, "A", 100), odd], &[], &folder);
        run.run(ExportOptions::default(), &NoProgress).await.unwrap();
        let header = ["EMPLOYEE_ID", "LAST_NAME", "LAST_UPDATE", "LOCATION.LOCATION_PATH"];
        assert_eq!(
            folder.committed.lock().unwrap()["Employees"],
            [
                header.to_vec(),
                vec!["1", "A", "2025-03-01T10:00:00.100+01:00", "Europe/France"],
                vec!["9", "", "", ""],
            ]
        );

        let (run, _) = export(vec![], &[], &folder);
        let report = run.run(ExportOptions::default(), &NoProgress).await.unwrap();
        assert_eq!(report.tables[0].rows, 0);
        assert_eq!(folder.committed.lock().unwrap()["Employees"], [header.to_vec()]);
    }

    #[tokio::test]
    async fn an_empty_table_with_chosen_columns_is_a_header() {
        let folder = Arc::new(Folder::default());
        let (run, _) = export(vec![], &["E_NAME", "E_OWNER_LOGIN"], &folder);
        run.run(ExportOptions::default(), &NoProgress).await.unwrap();
        assert_eq!(
            folder.committed.lock().unwrap()["Employees"],
            [vec!["E_NAME", "E_OWNER_LOGIN"]]
        );
        // No LAST_UPDATE: the next run is complete again.
        assert_eq!(folder.cookies.lock().unwrap()["Employees"].since, "");
    }
}
