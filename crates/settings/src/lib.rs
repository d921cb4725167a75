//! ticket-agent's settings: `appsettings.agent.json`, then secret sources, then environment
//! variables, merged key by key into one case-insensitive tree, as .NET configuration does.
//! Secrets stay `SecretString`; nothing here logs or displays a setting's value.

mod connection;
mod extract;
mod tree;

use std::path::PathBuf;

pub use connection::{CONNECTIONS, ConnectionSettings};
pub use tree::{ENV_PREFIX, SETTINGS_FILE_NAME, SettingInfo, SettingsTree};

/// Why settings could not be loaded or read. Messages name the file or the setting and the
/// source that supplied it, never a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings file {}: {reason}", file.display())]
    Read { file: PathBuf, reason: String },
    #[error("settings file {} is not valid JSON: {reason}", file.display())]
    Json { file: PathBuf, reason: String },
    #[error("setting {path}{origin}: {message}")]
    Invalid { path: String, origin: String, message: String },
    #[error("connection {id} is not in the Connections section (known: {known})")]
    UnknownConnection { id: String, known: String },
}
