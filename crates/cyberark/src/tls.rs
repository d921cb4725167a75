//! The HTTPS client toward the Central Credential Provider: extra trusted roots and the
//! PKCS#12 client certificate for mutual TLS. Never logs or returns the key or its password.

use std::fs;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use secrecy::{ExposeSecret, SecretString};

/// A reason the client cannot be built, with the setting it concerns.
pub(crate) struct TlsError {
    pub setting: &'static str,
    pub reason: String,
}

/// Builds the client; `identity_file` is the PKCS#12 file, `ca_file` PEM roots to trust too.
pub(crate) fn build_client(
    identity_file: Option<(&Path, Option<&SecretString>)>,
    ca_file: Option<&Path>,
) -> Result<reqwest::Client, TlsError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60));

    if let Some(ca_file) = ca_file {
        let setting = "CyberArk:CaFile";
        let pem = fs::read(ca_file).map_err(|e| TlsError {
            setting,
            reason: format!("cannot read {}: {e}", ca_file.display()),
        })?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TlsError {
            setting,
            reason: format!("{} holds no PEM certificate: {e}", ca_file.display()),
        })?;
        builder = builder.tls_certs_merge(roots);
    }
    if let Some((file, password)) = identity_file {
        builder = builder.identity(identity_from_pkcs12(file, password)?);
    }

    builder.build().map_err(|e| TlsError {
        setting: "CyberArk:Server",
        reason: format!("cannot build the HTTPS client: {e}"),
    })
}

/// reqwest with rustls takes a client identity only as PEM, so the PKCS#12 key and chain are
/// re-encoded in memory; nothing is written to disk.
fn identity_from_pkcs12(
    file: &Path,
    password: Option<&SecretString>,
) -> Result<reqwest::Identity, TlsError> {
    let file_error = |reason: String| TlsError { setting: "CyberArk:File", reason };
    let der =
        fs::read(file).map_err(|e| file_error(format!("cannot read {}: {e}", file.display())))?;
    let password = password.map(|p| p.expose_secret()).unwrap_or_default();
    if looks_protected(password) {
        return Err(TlsError {
            setting: "CyberArk:Password",
            reason: "passwords protected by Identity Manager's Protect-CertificatePassword tool are not supported; \
                     give the plain password (for instance from an environment variable)"
                .into(),
        });
    }

    let store = KeyStore::from_pkcs12(&der, password, Pkcs12ImportPolicy::Relaxed).map_err(
        |e| match e {
            // The file's MAC is keyed by the password: it fails to verify when the password is
            // wrong (or, much less likely, when the file was altered after it was written).
            p12_keystore::error::Error::MacError(_) => TlsError {
                setting: "CyberArk:Password",
                reason: format!("wrong password for the PKCS#12 file {}", file.display()),
            },
            other => {
                file_error(format!("cannot open the PKCS#12 file {}: {other}", file.display()))
            }
        },
    )?;
    let Some((_, chain)) = store.private_key_chain() else {
        return Err(file_error(format!(
            "{} holds no private key with its certificate",
            file.display()
        )));
    };
    if chain.certs().is_empty() {
        return Err(file_error(format!(
            "{} holds a private key but no certificate",
            file.display()
        )));
    }

    let mut pem = pem_block("PRIVATE KEY", chain.key().as_der());
    for cert in chain.certs() {
        pem.push_str(&pem_block("CERTIFICATE", cert.as_der()));
    }
    reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| {
        file_error(format!("the key or certificate in {} cannot be used: {e}", file.display()))
    })
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let mut block = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        block.push_str(std::str::from_utf8(line).unwrap_or_default());
        block.push('\n');
    }
    block.push_str(&format!("-----END {label}-----\n"));
    block
}

/// Identity Manager's protected form is three base64 parts joined by `@`.
fn looks_protected(password: &str) -> bool {
    let parts: Vec<&str> = password.split('@').collect();
    parts.len() == 3 && parts.iter().all(|part| part.len() >= 16 && STANDARD.decode(part).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_passwords_are_recognised_and_plain_ones_with_at_signs_are_not() {
        let block = STANDARD.encode([7u8; 128]);
        assert!(looks_protected(&format!("{block}@{block}@{}", STANDARD.encode([1u8; 16]))));
        assert!(!looks_protected("p@ss@word"));
        assert!(!looks_protected("plain"));
    }

    #[test]
    fn pem_blocks_wrap_at_64_columns() {
        let block = pem_block("CERTIFICATE", &[0u8; 100]);

        assert!(block.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(block.lines().all(|line| line.len() <= 64 || line.starts_with("-----")));
        assert!(block.ends_with("-----END CERTIFICATE-----\n"));
    }
}
