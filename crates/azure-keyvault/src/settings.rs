//! The `AzureKeyVault` section of the agent's appsettings and the `AZURE_*` environment the
//! credential chain reads. `Debug` never shows the client secret or the connection string.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::de::{self, Deserialize, Deserializer};
use serde_json::Value;

/// The `AzureKeyVault` section, read with Identity Manager's key names, case-insensitively.
#[derive(Default)]
pub struct KeyVaultSettings {
    /// `Vault`: the vault URL, e.g. `https://contoso-agent.vault.azure.net/`. The source is
    /// used only when it is set.
    pub vault: Option<String>,
    /// `ConnectionString` (Identity Manager 6.1): `RunAs=App` (system-assigned managed
    /// identity), `RunAs=App;AppId=…` (user-assigned), or `RunAs=App;AppId=…;TenantId=…;AppKey=…`
    /// (client secret). Replaces the environment chain when set.
    pub connection_string: Option<SecretString>,
    /// `CaFile` (ticket-agent's own key): PEM certificates trusted for the vault's and the token
    /// endpoint's TLS certificates in addition to the system's roots.
    pub ca_file: Option<PathBuf>,
}

impl KeyVaultSettings {
    /// Whether the binary should build a Key Vault source at all.
    pub fn enabled(&self) -> bool {
        self.vault.is_some()
    }
}

impl fmt::Debug for KeyVaultSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyVaultSettings")
            .field("vault", &self.vault)
            .field("connection_string", &self.connection_string.as_ref().map(|_| "[redacted]"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl<'de> Deserialize<'de> for KeyVaultSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = HashMap::<String, Value>::deserialize(deserializer)?;
        let mut section: HashMap<String, Value> =
            raw.into_iter().map(|(key, value)| (key.to_ascii_lowercase(), value)).collect();
        let mut text = |key: &str| -> Result<Option<String>, D::Error> {
            match section.remove(&key.to_ascii_lowercase()) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
                Some(_) => {
                    Err(de::Error::custom(format!("AzureKeyVault:{key}: expected a text value")))
                }
            }
        };
        Ok(KeyVaultSettings {
            vault: text("Vault")?,
            connection_string: text("ConnectionString")?.map(SecretString::from),
            ca_file: text("CaFile")?.map(PathBuf::from),
        })
    }
}

/// The environment variables of Azure's usual credential chain, read once so that tests and
/// the binary can hand them in explicitly.
#[derive(Default)]
pub struct AzureEnvironment {
    /// `AZURE_TENANT_ID`
    pub tenant_id: Option<String>,
    /// `AZURE_CLIENT_ID`
    pub client_id: Option<String>,
    /// `AZURE_CLIENT_SECRET`
    pub client_secret: Option<SecretString>,
    /// `AZURE_FEDERATED_TOKEN_FILE` (workload identity)
    pub federated_token_file: Option<PathBuf>,
    /// `AZURE_AUTHORITY_HOST`, e.g. `https://login.microsoftonline.com`
    pub authority_host: Option<String>,
}

impl AzureEnvironment {
    /// Reads the variables from this process's environment; empty values count as unset.
    pub fn from_process() -> AzureEnvironment {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
        AzureEnvironment {
            tenant_id: var("AZURE_TENANT_ID"),
            client_id: var("AZURE_CLIENT_ID"),
            client_secret: var("AZURE_CLIENT_SECRET").map(SecretString::from),
            federated_token_file: var("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from),
            authority_host: var("AZURE_AUTHORITY_HOST"),
        }
    }
}

impl fmt::Debug for AzureEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureEnvironment")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("federated_token_file", &self.federated_token_file)
            .field("authority_host", &self.authority_host)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_are_read_case_insensitively_and_blank_means_unset() {
        let settings: KeyVaultSettings = serde_json::from_value(
            json!({ "vault": "https://x.vault.azure.net/", "ConnectionString": " " }),
        )
        .unwrap();

        assert!(settings.enabled());
        assert_eq!(settings.vault.as_deref(), Some("https://x.vault.azure.net/"));
        assert!(settings.connection_string.is_none());
    }

    #[test]
    fn debug_never_shows_the_connection_string_or_the_client_secret() {
        let settings: KeyVaultSettings = serde_json::from_value(
            json!({ "Vault": "https://x/", "ConnectionString": "RunAs=App;AppKey=k3y-value" }),
        )
        .unwrap();
        let environment = AzureEnvironment {
            client_secret: Some("cl13nt-secret".into()),
            ..AzureEnvironment::default()
        };

        let shown = format!("{settings:?} {environment:?}");

        assert!(!shown.contains("k3y-value") && !shown.contains("cl13nt-secret"), "{shown}");
    }
}
