//! Small file-system steps both folders share: durable renames, names that never overwrite.
//! Nothing here deletes or replaces a file someone else wrote.

use std::io;
use std::path::{Path, PathBuf};

use ta_ports::StoreError;

/// A storage error naming the file or folder concerned.
pub(crate) fn store_error(location: &Path, reason: impl std::fmt::Display) -> StoreError {
    StoreError { location: location.display().to_string(), reason: reason.to_string() }
}

/// Makes a folder's entries (a file just created or renamed into it) survive a crash.
///
/// Only Unix can open a folder to flush it; elsewhere the rename is as durable as the system
/// makes it.
pub(crate) fn sync_folder(folder: &Path) -> io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(folder)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = folder;
    Ok(())
}

/// A delivery name must be a plain file name inside the folder: no separator, no `..`.
pub(crate) fn plain_name(folder: &Path, name: &str) -> Result<(), StoreError> {
    let plain = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\']);
    if plain {
        Ok(())
    } else {
        Err(store_error(folder, format!("{name:?} is not a file name in this folder")))
    }
}

/// The first free path in `folder` for `name`: the name itself, else the name with a UTC
/// timestamp before its extension, then with a counter too. `taken` says whether a path is in
/// use. The agent is the only writer of its folders, so a check then a rename is enough.
pub(crate) fn free_path(folder: &Path, name: &str, taken: impl Fn(&Path) -> bool) -> PathBuf {
    let first = folder.join(name);
    if !taken(&first) {
        return first;
    }

    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, format!(".{extension}")),
        _ => (name, String::new()),
    };
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ");
    let mut counter = 1u32;
    loop {
        let suffix = if counter == 1 { String::new() } else { format!("-{counter}") };
        let candidate = folder.join(format!("{stem}.{stamp}{suffix}{extension}"));
        if !taken(&candidate) {
            return candidate;
        }
        counter += 1;
    }
}

/// Whether anything (file, folder, link) is at this path.
pub(crate) fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Runs file work on the blocking pool, so a slow disk never stalls the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    location: &Path,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(store_error(location, format!("file task failed: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_name_gets_a_timestamp_before_its_extension() {
        let folder = Path::new("done");
        assert_eq!(free_path(folder, "a.json", |_| false), folder.join("a.json"));

        let second = free_path(folder, "a.json", |p| p == folder.join("a.json"));
        let name = second.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.starts_with("a.") && name.ends_with("Z.json"), "{name}");

        let third = free_path(folder, "a.json", |p| p == folder.join("a.json") || p == second);
        let name = third.file_name().unwrap().to_str().unwrap();
        assert!(name.ends_with("Z-2.json"), "{name}");
    }

    #[test]
    fn names_with_separators_are_refused() {
        for bad in ["", ".", "..", "../x.json", "sub/x.json", "sub\\x.json"] {
            assert!(plain_name(Path::new("orders"), bad).is_err(), "{bad:?}");
        }
        assert!(plain_name(Path::new("orders"), "x.json").is_ok());
    }
}
