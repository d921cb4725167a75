//! The `EncryptionCertificate` settings section, shaped like Identity Manager's, and how it
//! becomes a [`Protector`]. Only the PKCS#12 file variant is supported; the Windows store
//! variants are refused with a message that says what to use instead.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::RsaError;
use crate::protector::{Protector, resolve_in};

/// The `EncryptionCertificate` section (Identity Manager's key names; matched without regard to
/// case by the settings loader).
#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EncryptionCertificateSettings {
    /// Read `appsettings.encrypted.agent.json` at start-up.
    pub use_encrypted_appsettings: bool,
    /// The PKCS#12 (.pfx) file; relative paths are relative to the configuration folder.
    pub file: Option<PathBuf>,
    /// The .pfx password; absent means an empty password.
    pub password: Option<SecretString>,
    /// Windows store variant (refused on this system).
    pub store_location: Option<String>,
    pub store_name: Option<String>,
    pub distinguished_name: Option<String>,
    pub thumbprint: Option<String>,
}

impl fmt::Debug for EncryptionCertificateSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionCertificateSettings")
            .field("use_encrypted_appsettings", &self.use_encrypted_appsettings)
            .field("file", &self.file)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("store_location", &self.store_location)
            .field("store_name", &self.store_name)
            .field("distinguished_name", &self.distinguished_name)
            .field("thumbprint", &self.thumbprint)
            .finish()
    }
}

impl EncryptionCertificateSettings {
    /// Does the section name a certificate in the Windows store rather than a file?
    pub fn names_windows_store(&self) -> bool {
        self.file.is_none()
            && [&self.store_location, &self.store_name, &self.distinguished_name, &self.thumbprint]
                .iter()
                .any(|setting| setting.as_deref().is_some_and(|value| !value.trim().is_empty()))
    }

    /// The certificate file this section names, resolved against the configuration folder.
    pub fn certificate_path(&self, config_dir: &Path) -> Result<PathBuf, RsaError> {
        match &self.file {
            Some(file) if !file.as_os_str().is_empty() => Ok(resolve_in(config_dir, file)),
            _ if self.names_windows_store() => Err(RsaError::WindowsStore),
            _ => Err(RsaError::NoCertificate),
        }
    }
}

impl Protector {
    /// The protector an `EncryptionCertificate` section names (File wins over store keys, as in
    /// Identity Manager).
    pub fn from_settings(
        config_dir: &Path,
        settings: &EncryptionCertificateSettings,
    ) -> Result<Protector, RsaError> {
        let path = settings.certificate_path(config_dir)?;
        let empty = SecretString::from(String::new());
        Protector::from_pkcs12(&path, settings.password.as_ref().unwrap_or(&empty))
    }
}
