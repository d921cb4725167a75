//! The orders folder Identity Manager fills with `*.json` order files.
//! A file leaves the folder only by a move into `Completed/` or `Rejected/`; none is ever deleted.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use ta_ports::{Delivery, OrderSource, StoreError};

use crate::files::{blocking, exists, free_path, plain_name, store_error, sync_folder};

/// Where acknowledged order files go, inside the orders folder.
pub const COMPLETED_FOLDER: &str = "Completed";
/// Where rejected order files go, each beside a `<name>.error.txt` that holds the reason.
pub const REJECTED_FOLDER: &str = "Rejected";

/// An orders folder as an [`OrderSource`].
///
/// - Only `*.json` files directly in the folder are deliveries (any case of the extension);
///   subfolders, `*.json.tmp`, `*.json.part` and every other name are left alone.
/// - Deliveries come oldest first: by modification time, then by name.
/// - A file modified less than `settle` ago is left for a later call, in case its writer is
///   still at work. The default is zero: Identity Manager's writers rename finished files into
///   place, and tests need no wait.
/// - The text is the file's UTF-8 content without a leading byte-order mark. A file that is not
///   UTF-8 can never be read as orders, so `pending` rejects it at once (reason included) and
///   does not hand it out.
#[derive(Debug, Clone)]
pub struct OrderFolder {
    path: PathBuf,
    settle: Duration,
}

impl OrderFolder {
    pub fn new(path: impl Into<PathBuf>) -> OrderFolder {
        OrderFolder { path: path.into(), settle: Duration::ZERO }
    }

    /// Leaves files younger than this for a later call.
    pub fn with_settle(mut self, settle: Duration) -> OrderFolder {
        self.settle = settle;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn pending_now(&self) -> Result<Vec<Delivery>, StoreError> {
        let mut waiting = self.list()?;
        waiting.sort();

        let mut deliveries = Vec::with_capacity(waiting.len());
        for (_, name) in waiting {
            let path = self.path.join(&name);
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                // Taken away between the listing and now: nothing to hand out.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(store_error(&path, format!("cannot read order file: {e}"))),
            };
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").map(<[u8]>::to_vec).unwrap_or(bytes);
            match String::from_utf8(bytes) {
                Ok(text) => deliveries.push(Delivery { name, text }),
                Err(e) => {
                    let reason = format!(
                        "not UTF-8 text (invalid byte at offset {})",
                        e.utf8_error().valid_up_to()
                    );
                    tracing::warn!(delivery = %name, reason = %reason, "order file rejected");
                    self.reject_now(&name, &reason)?;
                }
            }
        }
        Ok(deliveries)
    }

    /// Order files ready to take, with their modification times.
    fn list(&self) -> Result<Vec<(SystemTime, String)>, StoreError> {
        let entries = std::fs::read_dir(&self.path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => store_error(
                &self.path,
                "the orders folder does not exist (setting OrdersPath); Identity Manager writes its order files there",
            ),
            _ => store_error(&self.path, format!("cannot list orders: {e}")),
        })?;
        let now = SystemTime::now();

        let mut waiting = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| store_error(&self.path, format!("cannot list orders: {e}")))?;
            let Ok(name) = entry.file_name().into_string() else {
                tracing::warn!(path = %entry.path().display(), "order file name is not UTF-8; left alone");
                continue;
            };
            if !is_order_file_name(&name) {
                continue;
            }
            let Ok(metadata) = std::fs::metadata(entry.path()) else { continue };
            if !metadata.is_file() {
                continue;
            }
            let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let settled = now.duration_since(modified).is_ok_and(|age| age >= self.settle);
            if !self.settle.is_zero() && !settled {
                tracing::debug!(delivery = %name, "order file modified too recently; left for later");
                continue;
            }
            waiting.push((modified, name));
        }
        Ok(waiting)
    }

    /// The order file, which must be directly in the folder.
    fn order_file(&self, name: &str) -> Result<PathBuf, StoreError> {
        plain_name(&self.path, name)?;
        let path = self.path.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.is_file() => Ok(path),
            Ok(_) => Err(store_error(&path, "not an order file")),
            Err(e) => Err(store_error(&path, format!("no such order file: {e}"))),
        }
    }

    fn subfolder(&self, name: &str) -> Result<PathBuf, StoreError> {
        let folder = self.path.join(name);
        std::fs::create_dir_all(&folder)
            .map_err(|e| store_error(&folder, format!("cannot create folder: {e}")))?;
        Ok(folder)
    }

    fn acknowledge_now(&self, name: &str) -> Result<(), StoreError> {
        let source = self.order_file(name)?;
        let completed = self.subfolder(COMPLETED_FOLDER)?;
        let target = free_path(&completed, name, exists);

        move_durably(&source, &target, &self.path)?;
        tracing::debug!(delivery = %name, to = %target.display(), "order file moved to Completed");
        Ok(())
    }

    fn reject_now(&self, name: &str, reason: &str) -> Result<(), StoreError> {
        let source = self.order_file(name)?;
        let rejected = self.subfolder(REJECTED_FOLDER)?;
        let target = free_path(&rejected, name, exists);

        // The reason first: a crash between the two steps leaves the order file where it was
        // (to be rejected again), never a rejected file without its reason. A reason file with
        // no order file beside it is such a leftover and may be replaced.
        let reason_path = reason_file(&target);
        write_durably(&reason_path, format!("{reason}\n").as_bytes())?;
        move_durably(&source, &target, &self.path)?;
        tracing::debug!(delivery = %name, to = %target.display(), "order file moved to Rejected");
        Ok(())
    }
}

#[async_trait]
impl OrderSource for OrderFolder {
    async fn pending(&self) -> Result<Vec<Delivery>, StoreError> {
        let folder = self.clone();
        blocking(&self.path, move || folder.pending_now()).await
    }

    async fn acknowledge(&self, delivery: &str) -> Result<(), StoreError> {
        let (folder, delivery) = (self.clone(), delivery.to_owned());
        blocking(&self.path, move || folder.acknowledge_now(&delivery)).await
    }

    async fn reject(&self, delivery: &str, reason: &str) -> Result<(), StoreError> {
        let (folder, delivery, reason) = (self.clone(), delivery.to_owned(), reason.to_owned());
        blocking(&self.path, move || folder.reject_now(&delivery, &reason)).await
    }
}

/// `<name>.json` in any case, and nothing else (`x.json.tmp`, `x.json.part` are not orders).
fn is_order_file_name(name: &str) -> bool {
    name.len() > ".json".len()
        && name.get(name.len() - 5..).is_some_and(|end| end.eq_ignore_ascii_case(".json"))
}

/// `Rejected/orders.json` → `Rejected/orders.json.error.txt`.
fn reason_file(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".error.txt");
    target.with_file_name(name)
}

fn write_durably(path: &Path, content: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;

    let mut file = std::fs::File::create(path)
        .map_err(|e| store_error(path, format!("cannot create: {e}")))?;
    file.write_all(content).map_err(|e| store_error(path, format!("cannot write: {e}")))?;
    file.sync_all().map_err(|e| store_error(path, format!("cannot flush to disk: {e}")))
}

/// Renames within the orders folder, then flushes both folders so the move survives a crash.
fn move_durably(source: &Path, target: &Path, folder: &Path) -> Result<(), StoreError> {
    std::fs::rename(source, target)
        .map_err(|e| store_error(source, format!("cannot move to {}: {e}", target.display())))?;
    if let Some(parent) = target.parent() {
        sync_folder(parent)
            .map_err(|e| store_error(parent, format!("cannot flush folder to disk: {e}")))?;
    }
    sync_folder(folder)
        .map_err(|e| store_error(folder, format!("cannot flush folder to disk: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_names_are_order_files() {
        for name in ["a.json", "A.JSON", "orders 2026.Json"] {
            assert!(is_order_file_name(name), "{name}");
        }
        for name in [".json", "a.json.tmp", "a.json.part", "a.csv", "json", "a.jsonx", "é.jso"] {
            assert!(!is_order_file_name(name), "{name}");
        }
    }
}
