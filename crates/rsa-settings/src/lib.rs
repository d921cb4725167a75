//! RSA-protected settings: our own versioned protected-value format (RSA-OAEP-SHA256 wrapping
//! an AES-256-GCM key), the library behind `ticket-agent protect`, and
//! `appsettings.encrypted.agent.json` as a secret source. Never logs or displays a plain value.

mod certificate;
pub mod format;
mod protector;
mod source;

use std::path::PathBuf;

pub use certificate::EncryptionCertificateSettings;
pub use protector::{FILE_SETTING, PASSWORD_SETTING, Protector};
pub use source::{ENCRYPTED_FILE_NAME, EncryptedSettingsSource};

/// Why a certificate could not be read or a value could not be protected or opened. Messages
/// name the setting or file concerned and never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum RsaError {
    #[error(
        "EncryptionCertificate:File is not set: name the PKCS#12 (.pfx) certificate file that protects the settings"
    )]
    NoCertificate,
    #[error(
        "EncryptionCertificate: the Windows certificate store (StoreLocation, StoreName, Thumbprint, DistinguishedName) is not available on this system; use File and Password"
    )]
    WindowsStore,
    #[error("EncryptionCertificate:File: certificate file {} not found", path.display())]
    CertificateMissing { path: PathBuf },
    #[error("EncryptionCertificate:File: cannot read certificate file {}: {reason}", path.display())]
    CertificateUnreadable { path: PathBuf, reason: String },
    #[error("EncryptionCertificate:Password: wrong password for certificate file {}", path.display())]
    WrongPassword { path: PathBuf },
    #[error(
        "EncryptionCertificate:Password is in Identity Manager's protected form, which only Identity Manager can read; give the plain password"
    )]
    VendorProtectedPassword,
    #[error("EncryptionCertificate:File: certificate file {} holds no private key with its certificate", path.display())]
    NoPrivateKey { path: PathBuf },
    #[error("EncryptionCertificate:File: the key in {} is not an RSA key; protected settings need an RSA certificate", path.display())]
    NotRsa { path: PathBuf },
    #[error("EncryptionCertificate:File: the RSA key in {} has {bits} bits; at least 2048 are needed", path.display())]
    KeyTooSmall { path: PathBuf, bits: usize },
    #[error("not a protected value; protect it with `ticket-agent protect`")]
    NotProtected,
    #[error(
        "the value is in Identity Manager's protected format, which ticket-agent cannot open; protect the plain value again with `ticket-agent protect`"
    )]
    VendorFormat,
    #[error("protected value of format version {0}, which this ticket-agent does not know")]
    UnsupportedVersion(u8),
    #[error("corrupt protected value: {0}")]
    Corrupt(String),
    #[error(
        "the value was protected with another certificate (thumbprint {found}, expected {expected})"
    )]
    OtherCertificate { found: String, expected: String },
    #[error("the file to protect is not valid JSON: {0}")]
    InputJson(String),
    #[error("encryption failed")]
    Crypto,
}
