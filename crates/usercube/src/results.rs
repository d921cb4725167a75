//! The results folder Identity Manager reads provisioning results from, one CSV file per publish.
//! A file appears under its final name only once it is complete and on disk.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use ta_ports::{PublishedResults, ResultRow, ResultSink, StoreError};

use crate::files::{blocking, exists, store_error, sync_folder};

/// The columns Identity Manager reads, in its order.
pub const RESULT_HEADER: [&str; 6] =
    ["AssignmentId", "ProvisioningState", "Message", "ChangeType", "OwnerId", "OwnerType"];

type Rename = fn(&Path, &Path) -> std::io::Result<()>;

/// Numbers every file this process writes, so two publishes in the same millisecond differ.
static FILE_COUNTER: AtomicU64 = AtomicU64::new(1);

/// A results folder as a [`ResultSink`].
///
/// Each batch is one UTF-8 CSV file (no byte-order mark, CRLF line ends, fields quoted only
/// when they hold a comma, quote or line break, as RFC 4180 says) named
/// `<connection>_results_<UTC yyyyMMddTHHmmssfffZ>_<process>-<counter>.csv`. It is written as
/// `.results-<process>-<counter>.csv.tmp` first, flushed to disk, then renamed. A batch whose
/// file is already there is left as it is. Publishing no rows writes no file and returns an
/// empty location. The folder is created when missing.
#[derive(Debug, Clone)]
pub struct ResultFolder {
    path: PathBuf,
    connection: String,
}

impl ResultFolder {
    /// `connection_identifier` starts every file name; characters other than letters, digits,
    /// `-`, `_` and `.` are written as `_`.
    pub fn new(path: impl Into<PathBuf>, connection_identifier: impl Into<String>) -> ResultFolder {
        let connection = connection_identifier
            .into()
            .chars()
            .map(
                |c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' },
            )
            .collect();
        ResultFolder { path: path.into(), connection }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `rename` is `std::fs::rename` except in tests that need it to fail.
    fn publish_now(
        &self,
        batch: &str,
        rows: &[ResultRow],
        rename: Rename,
    ) -> Result<PublishedResults, StoreError> {
        if rows.is_empty() {
            return Ok(PublishedResults { location: String::new() });
        }
        if batch.is_empty() || batch.contains(['/', '\\']) || batch.starts_with('.') {
            return Err(store_error(&self.path, format!("{batch:?} is not a result batch name")));
        }
        let target = self.path.join(batch);
        if exists(&target) {
            tracing::debug!(file = %target.display(), "result batch already published");
            return Ok(PublishedResults { location: target.display().to_string() });
        }
        std::fs::create_dir_all(&self.path)
            .map_err(|e| store_error(&self.path, format!("cannot create results folder: {e}")))?;

        let counter = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temporary =
            self.path.join(format!(".results-{}-{counter}.csv.tmp", std::process::id()));
        let written = write_csv(&temporary, rows).and_then(|()| {
            rename(&temporary, &target).map_err(|e| {
                store_error(
                    &target,
                    format!("cannot rename {} into place: {e}", temporary.display()),
                )
            })
        });
        match written {
            Ok(()) => {}
            Err(e) => {
                // Best effort: a leftover temporary file is harmless (its name is never read).
                let _ = std::fs::remove_file(&temporary);
                return Err(e);
            }
        }

        if let Err(e) = sync_folder(&self.path) {
            // Not known to be durable: take it back, so the rows are published again later
            // rather than lost.
            let _ = std::fs::remove_file(&target);
            return Err(store_error(&self.path, format!("cannot flush folder to disk: {e}")));
        }
        tracing::debug!(rows = rows.len(), file = %target.display(), "results file in place");
        Ok(PublishedResults { location: target.display().to_string() })
    }
}

#[async_trait]
impl ResultSink for ResultFolder {
    fn next_batch(&self) -> String {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ");
        let counter = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("{}_results_{stamp}_{}-{counter:04}.csv", self.connection, std::process::id())
    }

    async fn publish(
        &self,
        batch: &str,
        rows: &[ResultRow],
    ) -> Result<PublishedResults, StoreError> {
        let (folder, batch, rows) = (self.clone(), batch.to_owned(), rows.to_vec());
        blocking(&self.path, move || {
            folder.publish_now(&batch, &rows, |from, to| std::fs::rename(from, to))
        })
        .await
    }
}

/// Writes the whole file and flushes it to disk; the file must not exist yet.
fn write_csv(path: &Path, rows: &[ResultRow]) -> Result<(), StoreError> {
    let failed =
        |e: &dyn std::fmt::Display| store_error(path, format!("cannot write results: {e}"));

    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| failed(&e))?;
    let mut csv = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(BufWriter::new(file));
    csv.write_record(RESULT_HEADER).map_err(|e| failed(&e))?;
    for row in rows {
        csv.write_record([
            &row.assignment_id,
            &row.provisioning_state,
            &row.message,
            &row.change_type,
            &row.owner_id,
            &row.owner_type,
        ])
        .map_err(|e| failed(&e))?;
    }

    let buffered = csv.into_inner().map_err(|e| failed(&e.error()))?;
    let mut file = buffered.into_inner().map_err(|e| failed(&e.error()))?;
    file.flush().map_err(|e| failed(&e))?;
    file.sync_all().map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_rename_leaves_neither_the_final_nor_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let folder = ResultFolder::new(dir.path(), "EasyVistaManual");
        let row = ResultRow {
            assignment_id: "1".into(),
            provisioning_state: "Executed".into(),
            message: String::new(),
            change_type: "Added".into(),
            owner_id: "2".into(),
            owner_type: "3".into(),
        };
        let refuse: Rename = |_, _| Err(std::io::Error::other("disk full"));

        let error = folder.publish_now(&folder.next_batch(), &[row], refuse).unwrap_err();

        assert!(error.reason.contains("disk full"), "{error}");
        assert!(error.location.contains("EasyVistaManual_results_"), "{error}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
