//! The export folder Identity Manager synchronizes from: `<connection>_<entity>.csv` per entity
//! and its cookie. A table replaces the previous one only once it is complete and on disk.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use ta_ports::{ExportCookie, ExportSink, RowBatch, StoreError, TableWriter};

use crate::files::{blocking, store_error, sync_folder};

/// Numbers the temporary files of this process, so two tables never share one.
static TEMPORARY_COUNTER: AtomicU64 = AtomicU64::new(1);

/// An export folder as an [`ExportSink`].
///
/// Each table is a UTF-8 CSV file (no byte-order mark, CRLF line ends, a header row, fields
/// quoted only when they hold a comma, quote or line break, as RFC 4180 says) named
/// `<connection>_<entity>.csv`. It is written as `.<connection>_<entity>.csv.<process>-<n>.tmp`,
/// flushed to disk and renamed over the previous table. Cookies are JSON files named
/// `<connection>_<entity>.cookie.json`, in the cookie folder (the export folder unless set),
/// replaced the same way. Folders are created when missing.
#[derive(Debug, Clone)]
pub struct ExportFolder {
    path: PathBuf,
    cookies: PathBuf,
    connection: String,
}

impl ExportFolder {
    /// Characters of the connection identifier and entity names other than letters, digits,
    /// `-`, `_` and `.` are written as `_` in file names.
    pub fn new(path: impl Into<PathBuf>, connection_identifier: &str) -> ExportFolder {
        let path = path.into();
        ExportFolder { cookies: path.clone(), path, connection: file_part(connection_identifier) }
    }

    /// Keeps cookies in another folder.
    pub fn with_cookie_folder(mut self, cookies: impl Into<PathBuf>) -> ExportFolder {
        self.cookies = cookies.into();
        self
    }

    /// `<folder>/<connection>_<entity>.csv`.
    pub fn table_path(&self, entity: &str) -> PathBuf {
        self.path.join(format!("{}_{}.csv", self.connection, file_part(entity)))
    }

    /// `<cookie folder>/<connection>_<entity>.cookie.json`.
    pub fn cookie_path(&self, entity: &str) -> PathBuf {
        self.cookies.join(format!("{}_{}.cookie.json", self.connection, file_part(entity)))
    }
}

#[async_trait]
impl ExportSink for ExportFolder {
    async fn begin(
        &self,
        entity: &str,
        header: &[String],
    ) -> Result<Box<dyn TableWriter>, StoreError> {
        let target = self.table_path(entity);
        let folder = self.path.clone();
        let header = header.to_vec();
        let table = blocking(&self.path, move || CsvTable::create(folder, target, &header)).await?;
        Ok(Box::new(table))
    }

    async fn cookie(&self, entity: &str) -> Result<Option<ExportCookie>, StoreError> {
        let path = self.cookie_path(entity);
        blocking(&self.cookies, move || {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(store_error(&path, format!("cannot read the cookie: {e}"))),
            };
            serde_json::from_str(&text).map(Some).map_err(|e| {
                store_error(
                    &path,
                    format!("the cookie is not valid (delete it or run a complete export): {e}"),
                )
            })
        })
        .await
    }

    async fn save_cookie(&self, entity: &str, cookie: &ExportCookie) -> Result<(), StoreError> {
        let path = self.cookie_path(entity);
        let folder = self.cookies.clone();
        let text = serde_json::to_vec_pretty(cookie)
            .map_err(|e| store_error(&path, format!("cannot write the cookie: {e}")))?;
        blocking(&self.cookies, move || {
            std::fs::create_dir_all(&folder).map_err(|e| {
                store_error(&folder, format!("cannot create the cookie folder: {e}"))
            })?;
            let temporary = temporary_path(&folder, &path);
            let written = (|| {
                let mut file = File::create(&temporary)?;
                file.write_all(&text)?;
                file.sync_all()?;
                std::fs::rename(&temporary, &path)?;
                sync_folder(&folder)
            })();
            written.map_err(|e| {
                let _ = std::fs::remove_file(&temporary);
                store_error(&path, format!("cannot write the cookie: {e}"))
            })
        })
        .await
    }
}

/// One table being written under its temporary name; removed if dropped before its commit.
struct CsvTable {
    folder: PathBuf,
    target: PathBuf,
    temporary: PathBuf,
    csv: Option<csv::Writer<File>>,
    committed: bool,
}

impl CsvTable {
    fn create(folder: PathBuf, target: PathBuf, header: &[String]) -> Result<CsvTable, StoreError> {
        std::fs::create_dir_all(&folder)
            .map_err(|e| store_error(&folder, format!("cannot create the export folder: {e}")))?;
        let temporary = temporary_path(&folder, &target);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .map_err(|e| store_error(&temporary, format!("cannot create the table: {e}")))?;
        let csv = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            // The CSV writer's own buffer is the only one: cells are copied once, then written
            // to the file in large blocks.
            .buffer_capacity(256 * 1024)
            .from_writer(file);
        let mut table = CsvTable { folder, target, temporary, csv: Some(csv), committed: false };
        let written = table.csv.as_mut().map(|csv| csv.write_record(header));
        if let Some(Err(e)) = written {
            return Err(table.failed(e));
        }
        Ok(table)
    }

    fn failed(&self, error: impl std::fmt::Display) -> StoreError {
        store_error(&self.target, format!("cannot write the table: {error}"))
    }

    fn remove_temporary(&mut self) {
        self.csv = None;
        if !self.committed {
            // Best effort: a leftover temporary file is never read under its name.
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

impl Drop for CsvTable {
    fn drop(&mut self) {
        self.remove_temporary();
    }
}

#[async_trait]
impl TableWriter for CsvTable {
    async fn write_rows(&mut self, rows: Vec<Vec<String>>) -> Result<(), StoreError> {
        let mut csv = self.csv.take().ok_or_else(|| self.failed("the table is closed"))?;
        let (csv, written) = tokio::task::spawn_blocking(move || {
            let written = rows.iter().try_for_each(|row| csv.write_record(row));
            (csv, written)
        })
        .await
        .map_err(|e| self.failed(format!("file task failed: {e}")))?;
        self.csv = Some(csv);
        written.map_err(|e| self.failed(e))
    }

    /// Cells are written straight from the batch's buffer: no string per cell.
    async fn write_batch(&mut self, batch: RowBatch) -> Result<(), StoreError> {
        let mut csv = self.csv.take().ok_or_else(|| self.failed("the table is closed"))?;
        let (csv, written) = tokio::task::spawn_blocking(move || {
            let written = batch.rows().try_for_each(|row| csv.write_record(row));
            (csv, written)
        })
        .await
        .map_err(|e| self.failed(format!("file task failed: {e}")))?;
        self.csv = Some(csv);
        written.map_err(|e| self.failed(e))
    }

    async fn commit(&mut self) -> Result<String, StoreError> {
        let csv = self.csv.take().ok_or_else(|| self.failed("the table is closed"))?;
        let (folder, temporary, target) =
            (self.folder.clone(), self.temporary.clone(), self.target.clone());
        let renamed =
            blocking(&self.target, move || commit_table(csv, &folder, &temporary, &target)).await;
        // Once renamed, the temporary name is gone, whatever happened after.
        self.committed = !self.temporary.exists();
        renamed
    }

    async fn abort(&mut self) {
        self.remove_temporary();
    }
}

/// Flushes the table to disk and renames it over the previous one.
fn commit_table(
    csv: csv::Writer<File>,
    folder: &Path,
    temporary: &Path,
    target: &Path,
) -> Result<String, StoreError> {
    let failed =
        |e: &dyn std::fmt::Display| store_error(target, format!("cannot write the table: {e}"));
    let file = csv.into_inner().map_err(|e| failed(e.error()))?;
    file.sync_all().map_err(|e| failed(&e))?;
    drop(file);
    std::fs::rename(temporary, target).map_err(|e| {
        store_error(target, format!("cannot rename {} into place: {e}", temporary.display()))
    })?;
    sync_folder(folder)
        .map_err(|e| store_error(folder, format!("cannot flush the folder to disk: {e}")))?;
    Ok(target.display().to_string())
}

/// `.<name>.<process>-<n>.tmp` beside `target`: hidden, and never taken for a table.
fn temporary_path(folder: &Path, target: &Path) -> PathBuf {
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("export");
    let counter = TEMPORARY_COUNTER.fetch_add(1, Ordering::Relaxed);
    folder.join(format!(".{name}.{}-{counter}.tmp", std::process::id()))
}

fn file_part(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(row: &[&str]) -> Vec<String> {
        row.iter().map(|c| (*c).to_owned()).collect()
    }

    fn files(folder: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn cells_are_quoted_as_rfc_4180_says_and_stay_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let folder = ExportFolder::new(dir.path(), "EasyVistaExport");
        let mut table = folder.begin("Employees", &cells(&["ID", "NAME", "NOTE"])).await.unwrap();
        table
            .write_rows(vec![
                cells(&["1", "Morley, Frédérique", "said \"hi\""]),
                cells(&["2", "Nguyễn Linh 李", "two\nlines"]),
                cells(&["3", "", "plain"]),
            ])
            .await
            .unwrap();
        let mut batch = RowBatch::new(3);
        for cell in ["4", "tab\there", "ok"] {
            batch.cell_buffer().push_str(cell);
            batch.end_cell();
        }
        batch.end_row();
        table.write_batch(batch).await.unwrap();
        let location = table.commit().await.unwrap();

        let path = dir.path().join("EasyVistaExport_Employees.csv");
        assert_eq!(location, path.display().to_string());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "ID,NAME,NOTE\r\n1,\"Morley, Frédérique\",\"said \"\"hi\"\"\"\r\n2,Nguyễn Linh 李,\"two\nlines\"\r\n3,,plain\r\n4,tab\there,ok\r\n"
        );
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(&rows[1][2], "two\nlines");
        assert_eq!(files(dir.path()), ["EasyVistaExport_Employees.csv"]);
    }

    #[tokio::test]
    async fn an_empty_table_is_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let folder = ExportFolder::new(dir.path().join("new"), "EV");
        let mut table =
            folder.begin("Profiles", &cells(&["NAME_EN", "PROFILE_GUID"])).await.unwrap();
        table.commit().await.unwrap();
        let text = std::fs::read_to_string(dir.path().join("new/EV_Profiles.csv")).unwrap();
        assert_eq!(text, "NAME_EN,PROFILE_GUID\r\n");
    }

    #[tokio::test]
    async fn the_previous_table_stays_until_the_new_one_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let folder = ExportFolder::new(dir.path(), "EV");
        let mut first = folder.begin("Employees", &cells(&["ID"])).await.unwrap();
        first.write_rows(vec![cells(&["1"])]).await.unwrap();
        first.commit().await.unwrap();
        let path = folder.table_path("Employees");

        let mut aborted = folder.begin("Employees", &cells(&["ID"])).await.unwrap();
        aborted.write_rows(vec![cells(&["2"])]).await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "ID\r\n1\r\n");
        assert_eq!(files(dir.path()).len(), 2, "the new table is written aside");
        aborted.abort().await;
        assert_eq!(files(dir.path()), ["EV_Employees.csv"]);

        let mut dropped = folder.begin("Employees", &cells(&["ID"])).await.unwrap();
        dropped.write_rows(vec![cells(&["3"])]).await.unwrap();
        drop(dropped);
        assert_eq!(files(dir.path()), ["EV_Employees.csv"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "ID\r\n1\r\n");
    }

    #[tokio::test]
    async fn cookies_are_saved_beside_the_tables_or_in_their_own_folder() {
        let dir = tempfile::tempdir().unwrap();
        let folder = ExportFolder::new(dir.path(), "EV");
        assert_eq!(folder.cookie("Employees").await.unwrap(), None);
        let cookie = ExportCookie {
            since: "2025-01-01T00:00:00.000+01:00".into(),
            last_update: "2025-01-01T00:10:00.000+01:00".into(),
            seen: vec!["00000000000000ff".into()],
            columns: vec!["ID".into()],
        };
        folder.save_cookie("Employees", &cookie).await.unwrap();
        assert_eq!(folder.cookie("Employees").await.unwrap(), Some(cookie.clone()));
        assert_eq!(files(dir.path()), ["EV_Employees.cookie.json"]);

        let elsewhere = folder.clone().with_cookie_folder(dir.path().join("cookies"));
        elsewhere.save_cookie("Profiles", &cookie).await.unwrap();
        assert!(dir.path().join("cookies/EV_Profiles.cookie.json").is_file());

        std::fs::write(folder.cookie_path("Broken"), "{").unwrap();
        let error = folder.cookie("Broken").await.unwrap_err();
        assert!(error.location.ends_with("EV_Broken.cookie.json"), "{error}");
    }

    #[test]
    fn names_keep_only_safe_characters() {
        let folder = ExportFolder::new("out", "EV");
        assert_eq!(folder.table_path("My Entity/x"), Path::new("out/EV_My_Entity_x.csv"));
    }
}
