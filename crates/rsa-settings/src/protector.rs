//! The protector: a certificate with its RSA private key, read from a PKCS#12 file, that
//! protects and opens setting values. It never logs or displays a plain value or the key.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aes_gcm::aead::{Aead, Generate, Key, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::{Digest, Sha256};
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::RsaError;
use crate::format::{Envelope, THUMBPRINT_LEN};

/// The setting that names the certificate file, for messages.
pub const FILE_SETTING: &str = "EncryptionCertificate:File";
/// The setting that holds the certificate file's password, for messages.
pub const PASSWORD_SETTING: &str = "EncryptionCertificate:Password";

const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";
const MIN_KEY_BITS: usize = 2048;

/// Protects values with a certificate's public key and opens them with its private key.
pub struct Protector {
    private_key: RsaPrivateKey,
    public_key: RsaPublicKey,
    thumbprint: [u8; THUMBPRINT_LEN],
    subject: String,
    /// Data keys already unwrapped, by wrapped key: a whole protected file shares one data key,
    /// so opening it costs one RSA operation rather than one per value.
    unwrapped: Mutex<HashMap<Vec<u8>, Key<Aes256Gcm>>>,
}

impl fmt::Debug for Protector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Protector")
            .field("subject", &self.subject)
            .field("thumbprint", &self.thumbprint_hex())
            .finish_non_exhaustive()
    }
}

impl Protector {
    /// Reads the certificate and its private key from a PKCS#12 (.pfx) file.
    pub fn from_pkcs12(path: &Path, password: &SecretString) -> Result<Protector, RsaError> {
        let password = password.expose_secret();
        if crate::format::is_vendor_protected_password(password) {
            return Err(RsaError::VendorProtectedPassword);
        }
        let data = std::fs::read(path).map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => {
                RsaError::CertificateMissing { path: path.to_path_buf() }
            }
            _ => RsaError::CertificateUnreadable {
                path: path.to_path_buf(),
                reason: error.to_string(),
            },
        })?;

        let store = KeyStore::from_pkcs12(&data, password, Pkcs12ImportPolicy::Strict).map_err(
            |error| match error {
                p12_keystore::error::Error::MacError(_)
                | p12_keystore::error::Error::UnpadError => {
                    RsaError::WrongPassword { path: path.to_path_buf() }
                }
                other => RsaError::CertificateUnreadable {
                    path: path.to_path_buf(),
                    reason: other.to_string(),
                },
            },
        )?;
        let no_key = || RsaError::NoPrivateKey { path: path.to_path_buf() };
        let (_, chain) = store.private_key_chain().ok_or_else(no_key)?;
        let certificate = chain.certs().first().ok_or_else(no_key)?;

        if chain.key().oid().to_string() != RSA_ENCRYPTION_OID {
            return Err(RsaError::NotRsa { path: path.to_path_buf() });
        }
        let private_key = RsaPrivateKey::from_pkcs8_der(chain.key().as_der())
            .map_err(|_| RsaError::NotRsa { path: path.to_path_buf() })?;
        let bits = private_key.size() * 8;
        if bits < MIN_KEY_BITS {
            return Err(RsaError::KeyTooSmall { path: path.to_path_buf(), bits });
        }

        Ok(Protector {
            public_key: private_key.to_public_key(),
            private_key,
            thumbprint: Sha256::digest(certificate.as_der()).into(),
            subject: certificate.subject().to_string(),
            unwrapped: Mutex::new(HashMap::new()),
        })
    }

    /// The SHA-256 thumbprint of the certificate, lower-case hex; it identifies the certificate
    /// inside every value it protects.
    pub fn thumbprint_hex(&self) -> String {
        hex(&self.thumbprint)
    }

    /// The certificate's subject, e.g. `CN=ticket-agent`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Protects one value under a fresh data key.
    pub fn protect_value(&self, plain: &str) -> Result<String, RsaError> {
        self.data_key()?.seal(plain)
    }

    /// Opens one protected value. Fails with a message that says why (not protected, the
    /// vendor's format, another certificate, corrupt) and never contains the value.
    pub fn unprotect_value(&self, protected: &str) -> Result<SecretString, RsaError> {
        let envelope = Envelope::decode(protected)?;
        if envelope.thumbprint != self.thumbprint {
            return Err(RsaError::OtherCertificate {
                found: hex(&envelope.thumbprint),
                expected: self.thumbprint_hex(),
            });
        }

        let key = self.unwrap_key(&envelope.wrapped_key)?;
        let header = Envelope::header(&envelope.thumbprint, &envelope.wrapped_key);
        let plain = Aes256Gcm::new(&key)
            .decrypt(
                &Nonce::from(envelope.nonce),
                Payload { msg: &envelope.ciphertext, aad: &header },
            )
            .map_err(|_| RsaError::Corrupt("authentication failed".into()))?;
        let plain =
            String::from_utf8(plain).map_err(|_| RsaError::Corrupt("not UTF-8 text".into()))?;
        Ok(SecretString::from(plain))
    }

    /// Protects a whole settings file: keys stay clear, every leaf (strings, numbers, booleans,
    /// each array element) becomes a protected string; nulls stay null. The file shares one
    /// data key; each value has its own nonce.
    pub fn protect_json_file(&self, text: &str) -> Result<String, RsaError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut document: Value =
            serde_json::from_str(text).map_err(|error| RsaError::InputJson(error.to_string()))?;
        let key = self.data_key()?;

        protect_leaves(&mut document, &key)?;
        serde_json::to_string_pretty(&document)
            .map_err(|error| RsaError::InputJson(error.to_string()))
    }

    fn data_key(&self) -> Result<DataKey, RsaError> {
        let key = Key::<Aes256Gcm>::generate();
        let wrapped =
            self.public_key.oaep_encrypt::<Sha256>(key.as_slice()).map_err(|_| RsaError::Crypto)?;
        Ok(DataKey { cipher: Aes256Gcm::new(&key), wrapped, thumbprint: self.thumbprint })
    }

    fn unwrap_key(&self, wrapped: &[u8]) -> Result<Key<Aes256Gcm>, RsaError> {
        let mut cache = self.unwrapped.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(key) = cache.get(wrapped) {
            return Ok(*key);
        }

        let bytes = self.private_key.oaep_decrypt::<Sha256>(wrapped).map_err(|_| {
            RsaError::Corrupt("the data key does not open with this certificate".into())
        })?;
        let key = Key::<Aes256Gcm>::try_from(bytes.as_slice())
            .map_err(|_| RsaError::Corrupt("the data key has the wrong length".into()))?;
        cache.insert(wrapped.to_vec(), key);
        Ok(key)
    }
}

/// A data key ready to seal values, with its RSA-wrapped form.
struct DataKey {
    cipher: Aes256Gcm,
    wrapped: Vec<u8>,
    thumbprint: [u8; THUMBPRINT_LEN],
}

impl DataKey {
    fn seal(&self, plain: &str) -> Result<String, RsaError> {
        let header = Envelope::header(&self.thumbprint, &self.wrapped);
        let nonce = Nonce::generate();
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: plain.as_bytes(), aad: &header })
            .map_err(|_| RsaError::Crypto)?;

        Ok(Envelope {
            thumbprint: self.thumbprint,
            wrapped_key: self.wrapped.clone(),
            nonce: nonce.into(),
            ciphertext,
        }
        .encode())
    }
}

fn protect_leaves(value: &mut Value, key: &DataKey) -> Result<(), RsaError> {
    match value {
        Value::Object(map) => map.values_mut().try_for_each(|child| protect_leaves(child, key)),
        Value::Array(items) => items.iter_mut().try_for_each(|child| protect_leaves(child, key)),
        Value::Null => Ok(()),
        Value::String(text) => {
            *value = Value::String(key.seal(text)?);
            Ok(())
        }
        Value::Number(number) => {
            *value = Value::String(key.seal(&number.to_string())?);
            Ok(())
        }
        Value::Bool(flag) => {
            *value = Value::String(key.seal(if *flag { "true" } else { "false" })?);
            Ok(())
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Where a relative certificate path points: relative to the configuration folder.
pub fn resolve_in(config_dir: &Path, file: &Path) -> PathBuf {
    if file.is_absolute() { file.to_path_buf() } else { config_dir.join(file) }
}
