//! The protector over real PKCS#12 files (tests/fixtures, made by regenerate.sh): round trips,
//! wrong password, missing file, corrupt values, another certificate, the vendor's format.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use ta_rsa::{EncryptionCertificateSettings, Protector, RsaError};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn password() -> SecretString {
    SecretString::from("fixture-password".to_string())
}

fn open(name: &str) -> Result<Protector, RsaError> {
    Protector::from_pkcs12(&fixture(name), &password())
}

fn agent() -> Protector {
    open("agent.pfx").unwrap()
}

#[test]
fn a_protected_value_opens_to_the_original() {
    let protector = agent();

    let protected = protector.protect_value("hunter2 ünïcode").unwrap();
    let opened = protector.unprotect_value(&protected).unwrap();

    assert!(protected.starts_with("TAENC1:"));
    assert!(!protected.contains("hunter2"));
    assert_eq!(opened.expose_secret(), "hunter2 ünïcode");
}

#[test]
fn the_same_value_protects_differently_each_time() {
    let protector = agent();

    assert_ne!(protector.protect_value("same").unwrap(), protector.protect_value("same").unwrap());
}

#[test]
fn a_legacy_3des_pfx_of_the_same_certificate_opens_the_same_values() {
    let protected = agent().protect_value("from-agent").unwrap();

    let legacy = open("legacy.pfx").unwrap();

    assert_eq!(legacy.thumbprint_hex(), agent().thumbprint_hex());
    assert_eq!(legacy.unprotect_value(&protected).unwrap().expose_secret(), "from-agent");
}

#[test]
fn a_wrong_password_says_so() {
    let error =
        Protector::from_pkcs12(&fixture("agent.pfx"), &SecretString::from("nope".to_string()))
            .unwrap_err();

    assert!(matches!(error, RsaError::WrongPassword { .. }), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("EncryptionCertificate:Password: wrong password for certificate file")
    );
}

#[test]
fn a_missing_certificate_file_names_the_setting_and_the_path() {
    let error = open("absent.pfx").unwrap_err().to_string();

    assert!(error.starts_with("EncryptionCertificate:File: certificate file"), "{error}");
    assert!(error.contains("absent.pfx"), "{error}");
}

#[test]
fn a_certificate_that_is_not_rsa_is_refused() {
    let error = open("ec.pfx").unwrap_err();

    assert!(matches!(error, RsaError::NotRsa { .. }), "{error}");
}

#[test]
fn a_file_that_is_not_pkcs12_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.pfx");
    std::fs::write(&path, b"not a certificate").unwrap();

    let error = Protector::from_pkcs12(&path, &password()).unwrap_err().to_string();

    assert!(
        error.starts_with("EncryptionCertificate:File: cannot read certificate file"),
        "{error}"
    );
    assert!(error.contains("garbage.pfx"), "{error}");
}

#[test]
fn a_vendor_protected_pfx_password_is_refused() {
    let part = |n: usize| STANDARD.encode(vec![7u8; n]);
    let vendor = SecretString::from(format!("{}@{}@{}", part(128), part(128), part(16)));

    let error = Protector::from_pkcs12(&fixture("agent.pfx"), &vendor).unwrap_err();

    assert!(matches!(error, RsaError::VendorProtectedPassword), "{error}");
}

#[test]
fn a_changed_byte_makes_the_value_corrupt() {
    let protector = agent();
    let protected = protector.protect_value("secret").unwrap();
    let mut bytes = STANDARD.decode(protected.trim_start_matches("TAENC1:")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let tampered = format!("TAENC1:{}", STANDARD.encode(bytes));

    let error = protector.unprotect_value(&tampered).unwrap_err();

    assert!(matches!(error, RsaError::Corrupt(_)), "{error}");
}

#[test]
fn a_changed_wrapped_key_makes_the_value_corrupt() {
    let protector = agent();
    let protected = protector.protect_value("secret").unwrap();
    let mut bytes = STANDARD.decode(protected.trim_start_matches("TAENC1:")).unwrap();
    bytes[40] ^= 0x80;
    let tampered = format!("TAENC1:{}", STANDARD.encode(bytes));

    let error = protector.unprotect_value(&tampered).unwrap_err();

    assert!(matches!(error, RsaError::Corrupt(_)), "{error}");
}

#[test]
fn truncated_text_is_corrupt() {
    let protector = agent();
    let protected = protector.protect_value("secret").unwrap();

    let error = protector.unprotect_value(&protected[..60]).unwrap_err();

    assert!(matches!(error, RsaError::Corrupt(_)), "{error}");
}

#[test]
fn a_value_protected_with_another_certificate_says_so() {
    let protected = open("other.pfx").unwrap().protect_value("secret").unwrap();

    let error = agent().unprotect_value(&protected).unwrap_err();

    assert!(matches!(error, RsaError::OtherCertificate { .. }), "{error}");
    assert!(error.to_string().starts_with("the value was protected with another certificate"));
}

#[test]
fn a_value_in_the_vendors_format_is_refused_with_advice() {
    // The layout Identity Manager's tools print: marker 93 10 01 00, an RSA block, AES blocks.
    let mut bytes = vec![0x93, 0x10, 0x01, 0x00];
    bytes.extend_from_slice(&[0x5A; 256 + 32]);
    let vendor = STANDARD.encode(bytes);

    let error = agent().unprotect_value(&vendor).unwrap_err();

    assert!(matches!(error, RsaError::VendorFormat), "{error}");
    assert!(
        error.to_string().contains("protect the plain value again with `ticket-agent protect`")
    );
}

#[test]
fn a_plain_value_is_not_taken_for_a_protected_one() {
    let error = agent().unprotect_value("plain-password").unwrap_err();

    assert!(matches!(error, RsaError::NotProtected), "{error}");
}

#[test]
fn a_whole_file_keeps_its_keys_and_protects_every_leaf() {
    let protector = agent();
    let plain = r#"{ "Connections": { "EasyVistaManual": { "Login": "l", "Password": "p", "Port": 443,
        "Ssl": true, "Nothing": null, "Servers": [ "a", "b" ] } } }"#;

    let protected = protector.protect_json_file(plain).unwrap();
    let document: serde_json::Value = serde_json::from_str(&protected).unwrap();
    let connection = &document["Connections"]["EasyVistaManual"];
    let open = |value: &serde_json::Value| {
        protector.unprotect_value(value.as_str().unwrap()).unwrap().expose_secret().to_string()
    };

    assert_eq!(open(&connection["Login"]), "l");
    assert_eq!(open(&connection["Password"]), "p");
    assert_eq!(open(&connection["Port"]), "443");
    assert_eq!(open(&connection["Ssl"]), "true");
    assert_eq!(open(&connection["Servers"][1]), "b");
    assert!(connection["Nothing"].is_null());
    assert!(!protected.contains("\"p\""));
}

#[test]
fn a_file_that_is_not_json_is_refused() {
    let error = agent().protect_json_file("{ nope").unwrap_err();

    assert!(matches!(error, RsaError::InputJson(_)), "{error}");
}

fn settings(file: Option<&str>) -> EncryptionCertificateSettings {
    EncryptionCertificateSettings {
        use_encrypted_appsettings: true,
        file: file.map(PathBuf::from),
        password: Some(password()),
        ..Default::default()
    }
}

#[test]
fn a_relative_certificate_file_is_found_in_the_configuration_folder() {
    let dir = fixture("");

    let protector = Protector::from_settings(&dir, &settings(Some("agent.pfx"))).unwrap();

    assert_eq!(protector.thumbprint_hex(), agent().thumbprint_hex());
}

#[test]
fn the_windows_store_is_refused_with_what_to_use_instead() {
    let store = EncryptionCertificateSettings {
        store_location: Some("LocalMachine".into()),
        store_name: Some("My".into()),
        thumbprint: Some("ABCDEF".into()),
        ..settings(None)
    };

    let error = Protector::from_settings(Path::new("."), &store).unwrap_err().to_string();

    assert_eq!(
        error,
        "EncryptionCertificate: the Windows certificate store (StoreLocation, StoreName, Thumbprint, DistinguishedName) is not available on this system; use File and Password"
    );
}

#[test]
fn no_certificate_at_all_names_the_file_setting() {
    let error = Protector::from_settings(Path::new("."), &settings(None)).unwrap_err();

    assert!(matches!(error, RsaError::NoCertificate), "{error}");
}

#[test]
fn debug_output_shows_no_password_or_key() {
    let shown = format!("{:?} {:?}", agent(), settings(Some("agent.pfx")));

    assert!(!shown.contains("fixture-password"), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(shown.contains("ticket-agent test"), "{shown}");
}
