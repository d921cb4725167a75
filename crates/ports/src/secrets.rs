//! Sources of setting values kept out of the plain settings file: RSA-protected settings,
//! vaults. Each hands back setting paths with their values, already wrapped as secrets.

use std::fmt;

use async_trait::async_trait;
use secrecy::SecretString;

/// One setting value from a secret source, e.g. path `["Connections", "EasyVistaManual",
/// "Password"]`.
pub struct SecretSetting {
    pub path: Vec<String>,
    pub value: SecretString,
}

impl fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSetting")
            .field("path", &self.path.join(":"))
            .field("value", &"[redacted]")
            .finish()
    }
}

/// A place settings can come from besides the plain settings file.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// Names the source in messages: "appsettings.encrypted.agent.json", "Azure Key Vault …".
    fn name(&self) -> String;

    /// Every setting this source provides. Fails as a whole: a source is applied completely
    /// or not at all.
    async fn fetch(&self) -> Result<Vec<SecretSetting>, SecretSourceError>;
}

/// Why a secret source could not be read. Messages never contain a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {setting}{reason}")]
pub struct SecretSourceError {
    pub source_name: String,
    /// The setting concerned, when there is one, as `Section:Key`; shown before the reason.
    pub setting: String,
    pub reason: String,
}

impl SecretSourceError {
    pub fn new(
        source_name: impl Into<String>,
        setting: Option<&str>,
        reason: impl Into<String>,
    ) -> Self {
        SecretSourceError {
            source_name: source_name.into(),
            setting: setting.map(|s| format!("setting {s}: ")).unwrap_or_default(),
            reason: reason.into(),
        }
    }
}
