//! `appsettings.encrypted.agent.json` as a secret source: every leaf is opened with the
//! certificate, or the source fails as a whole naming the setting and the file. No value is
//! ever logged; only counts and paths are.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde_json::Value;
use ta_ports::{SecretSetting, SecretSource, SecretSourceError};

use crate::certificate::EncryptionCertificateSettings;
use crate::{Protector, RsaError};

/// The file name Identity Manager uses for protected agent settings.
pub const ENCRYPTED_FILE_NAME: &str = "appsettings.encrypted.agent.json";

/// Reads and opens `appsettings.encrypted.agent.json`.
#[derive(Debug)]
pub struct EncryptedSettingsSource {
    file: PathBuf,
    protector: Protector,
}

impl EncryptedSettingsSource {
    /// A source for `file`, opened with `protector`.
    pub fn new(file: PathBuf, protector: Protector) -> EncryptedSettingsSource {
        EncryptedSettingsSource { file, protector }
    }

    /// The source the configuration folder and its `EncryptionCertificate` section describe. The
    /// certificate is read now, so a bad certificate stops start-up before any source is applied.
    /// An error names this source and the setting, on one line:
    /// `appsettings.encrypted.agent.json: EncryptionCertificate:File: certificate file … not found`.
    pub fn from_settings(
        config_dir: &Path,
        settings: &EncryptionCertificateSettings,
    ) -> Result<EncryptedSettingsSource, SecretSourceError> {
        // Every certificate error of `RsaError` starts with the setting it concerns.
        let protector = Protector::from_settings(config_dir, settings).map_err(|error| {
            SecretSourceError::new(ENCRYPTED_FILE_NAME, None, error.to_string())
        })?;
        Ok(EncryptedSettingsSource::new(config_dir.join(ENCRYPTED_FILE_NAME), protector))
    }

    /// Reads and opens every value, without the async runtime the port needs.
    pub fn read(&self) -> Result<Vec<SecretSetting>, SecretSourceError> {
        let source = self.name();
        let fail = |setting: Option<&str>, reason: String| {
            SecretSourceError::new(&source, setting, reason)
        };

        let text = std::fs::read_to_string(&self.file)
            .map_err(|error| fail(None, format!("cannot read {}: {error}", self.file.display())))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let document: Value = serde_json::from_str(text).map_err(|error| {
            fail(None, format!("{} is not valid JSON: {error}", self.file.display()))
        })?;

        let mut leaves = Vec::new();
        collect_leaves(&document, &mut Vec::new(), &mut leaves);
        let mut settings = Vec::with_capacity(leaves.len());
        for (path, leaf) in leaves {
            let setting = path.join(":");
            let value = match leaf {
                Value::String(text) => self.protector.unprotect_value(text),
                _ => Err(RsaError::NotProtected),
            }
            .map_err(|error| fail(Some(&setting), error.to_string()))?;
            settings.push(SecretSetting { path, value });
        }

        tracing::debug!(file = %self.file.display(), settings = settings.len(), "protected settings opened");
        Ok(settings)
    }
}

#[async_trait]
impl SecretSource for EncryptedSettingsSource {
    fn name(&self) -> String {
        ENCRYPTED_FILE_NAME.to_string()
    }

    async fn fetch(&self) -> Result<Vec<SecretSetting>, SecretSourceError> {
        self.read()
    }
}

/// Every non-null leaf with its path; array elements take their index as a segment, as in
/// .NET configuration.
fn collect_leaves<'a>(
    value: &'a Value,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, &'a Value)>,
) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(key.clone());
                collect_leaves(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                path.push(index.to_string());
                collect_leaves(child, path, out);
                path.pop();
            }
        }
        Value::Null => {}
        leaf => out.push((path.clone(), leaf)),
    }
}
