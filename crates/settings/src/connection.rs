//! Connections: the `Connections:<Identifier>` sections, found without regard to case, with the
//! keys every ticketing connection shares pulled out and secrets kept as `SecretString`.

use std::fmt;

use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::{SettingsError, SettingsTree};

/// The section every connection lives under.
pub const CONNECTIONS: &str = "Connections";

/// The common keys of one connection. `Debug` shows the identifier and the server only: a login
/// or an account may have come from a vault.
#[derive(Clone)]
pub struct ConnectionSettings {
    /// The identifier as written in the settings (`EasyVistaManual`).
    pub id: String,
    /// `Connections:<id>`, for messages and for reading further keys with
    /// [`SettingsTree::section`].
    pub path: String,
    pub server: Option<String>,
    pub account: Option<String>,
    pub login: Option<String>,
    pub password: Option<SecretString>,
    pub token: Option<SecretString>,
}

impl fmt::Debug for ConnectionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |set: bool| if set { "[redacted]" } else { "[not set]" };
        f.debug_struct("ConnectionSettings")
            .field("id", &self.id)
            .field("server", &self.server)
            .field("account", &hidden(self.account.is_some()))
            .field("login", &hidden(self.login.is_some()))
            .field("password", &hidden(self.password.is_some()))
            .field("token", &hidden(self.token.is_some()))
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CommonKeys {
    server: Option<String>,
    account: Option<String>,
    login: Option<String>,
    password: Option<SecretString>,
    token: Option<SecretString>,
}

impl SettingsTree {
    /// The identifiers under `Connections`, as written.
    pub fn connection_ids(&self) -> Vec<String> {
        self.keys_of(CONNECTIONS)
    }

    /// The common keys of the connection `id` (any case).
    pub fn connection(&self, id: &str) -> Result<ConnectionSettings, SettingsError> {
        let (id, path) = self.connection_path(id)?;
        let keys: CommonKeys = self.section(&path)?.unwrap_or(CommonKeys {
            server: None,
            account: None,
            login: None,
            password: None,
            token: None,
        });
        Ok(ConnectionSettings {
            id,
            path,
            server: keys.server,
            account: keys.account,
            login: keys.login,
            password: keys.password,
            token: keys.token,
        })
    }

    /// The whole connection `id` (any case) as the caller's own type, for keys beyond the common
    /// ones (e.g. `ExportSettingsOptions`).
    pub fn connection_section<T: DeserializeOwned>(&self, id: &str) -> Result<T, SettingsError> {
        let (_, path) = self.connection_path(id)?;
        self.section(&path)?
            .ok_or(SettingsError::UnknownConnection { id: id.to_string(), known: self.known_ids() })
    }

    fn connection_path(&self, id: &str) -> Result<(String, String), SettingsError> {
        let found = self.connection_ids().into_iter().find(|known| known.eq_ignore_ascii_case(id));
        let id = found.ok_or_else(|| SettingsError::UnknownConnection {
            id: id.to_string(),
            known: self.known_ids(),
        })?;
        let path = format!("{CONNECTIONS}:{id}");
        Ok((id, path))
    }

    fn known_ids(&self) -> String {
        let ids = self.connection_ids();
        if ids.is_empty() { "none".to_string() } else { ids.join(", ") }
    }
}
