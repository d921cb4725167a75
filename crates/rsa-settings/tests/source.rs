//! `appsettings.encrypted.agent.json` as a secret source, over real files: a file protected by
//! `protect_json_file` reads back to the original leaves; any bad value fails the whole source.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use ta_ports::SecretSource;
use ta_rsa::{
    ENCRYPTED_FILE_NAME, EncryptedSettingsSource, EncryptionCertificateSettings, Protector,
};

const PLAIN: &str = r#"{
  "Connections": {
    "EasyVistaManual": { "Login": "enc-login", "Password": "enc-password", "Account": 50004 },
    "ADExport": { "Servers": [ { "Server": "paris" }, { "Server": "marseille" } ] }
  },
  "TaskAgentConfiguration": { "HttpClientTimeoutSupplement": 0 }
}"#;

fn certificate_settings() -> EncryptionCertificateSettings {
    EncryptionCertificateSettings {
        use_encrypted_appsettings: true,
        file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agent.pfx")),
        password: Some(SecretString::from("fixture-password".to_string())),
        ..Default::default()
    }
}

fn config_dir_with(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(ENCRYPTED_FILE_NAME), text).unwrap();
    dir
}

fn protected_file() -> String {
    Protector::from_settings(Path::new("."), &certificate_settings())
        .unwrap()
        .protect_json_file(PLAIN)
        .unwrap()
}

#[tokio::test]
async fn a_protected_file_reads_back_to_every_original_leaf() {
    let dir = config_dir_with(&protected_file());
    let source =
        EncryptedSettingsSource::from_settings(dir.path(), &certificate_settings()).unwrap();

    let settings = source.fetch().await.unwrap();
    let read: Vec<(String, String)> =
        settings.iter().map(|s| (s.path.join(":"), s.value.expose_secret().to_string())).collect();

    assert_eq!(source.name(), "appsettings.encrypted.agent.json");
    assert_eq!(
        read,
        [
            ("Connections:EasyVistaManual:Login".to_string(), "enc-login".to_string()),
            ("Connections:EasyVistaManual:Password".into(), "enc-password".into()),
            ("Connections:EasyVistaManual:Account".into(), "50004".into()),
            ("Connections:ADExport:Servers:0:Server".into(), "paris".into()),
            ("Connections:ADExport:Servers:1:Server".into(), "marseille".into()),
            ("TaskAgentConfiguration:HttpClientTimeoutSupplement".into(), "0".into()),
        ]
    );
}

#[tokio::test]
async fn a_corrupt_value_fails_the_whole_source_naming_the_setting_and_the_file() {
    let protected = protected_file();
    let mut document: serde_json::Value = serde_json::from_str(&protected).unwrap();
    let password =
        document["Connections"]["EasyVistaManual"]["Password"].as_str().unwrap().to_string();
    let cut = password.len() - 30;
    let broken = format!("{}AAAA{}", &password[..cut], &password[cut + 4..]);
    document["Connections"]["EasyVistaManual"]["Password"] = broken.into();
    let dir = config_dir_with(&document.to_string());
    let source =
        EncryptedSettingsSource::from_settings(dir.path(), &certificate_settings()).unwrap();

    let error = source.fetch().await.unwrap_err().to_string();

    assert!(
        error.starts_with(
            "appsettings.encrypted.agent.json: setting Connections:EasyVistaManual:Password: corrupt protected value"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_plain_value_in_the_protected_file_is_refused() {
    let dir = config_dir_with(
        r#"{ "Connections": { "EasyVistaManual": { "Password": "plain-text-3" } } }"#,
    );
    let source =
        EncryptedSettingsSource::from_settings(dir.path(), &certificate_settings()).unwrap();

    let error = source.fetch().await.unwrap_err().to_string();

    assert_eq!(
        error,
        "appsettings.encrypted.agent.json: setting Connections:EasyVistaManual:Password: not a protected value; protect it with `ticket-agent protect`"
    );
}

#[tokio::test]
async fn a_missing_protected_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let source =
        EncryptedSettingsSource::from_settings(dir.path(), &certificate_settings()).unwrap();

    let error = source.fetch().await.unwrap_err().to_string();

    assert!(error.starts_with("appsettings.encrypted.agent.json: cannot read"), "{error}");
    assert!(error.contains(&dir.path().display().to_string()), "{error}");
}

#[test]
fn a_missing_certificate_stops_the_source_before_it_reads() {
    let dir = config_dir_with(&protected_file());
    let missing = EncryptionCertificateSettings {
        file: Some("missing.pfx".into()),
        ..certificate_settings()
    };

    let error =
        EncryptedSettingsSource::from_settings(dir.path(), &missing).unwrap_err().to_string();

    assert!(
        error.starts_with(
            "appsettings.encrypted.agent.json: EncryptionCertificate:File: certificate file"
        ),
        "{error}"
    );
    assert!(error.contains(&dir.path().join("missing.pfx").display().to_string()), "{error}");
    assert!(error.ends_with("not found"), "{error}");
}

#[test]
fn a_wrong_certificate_password_names_the_source_and_the_password_setting() {
    let dir = config_dir_with(&protected_file());
    let wrong = EncryptionCertificateSettings {
        password: Some(SecretString::from("not-the-password".to_string())),
        ..certificate_settings()
    };

    let error = EncryptedSettingsSource::from_settings(dir.path(), &wrong).unwrap_err().to_string();

    assert!(
        error.starts_with(
            "appsettings.encrypted.agent.json: EncryptionCertificate:Password: wrong password for certificate file"
        ),
        "{error}"
    );
    assert!(error.contains("agent.pfx"), "{error}");
    assert!(!error.contains("not-the-password"), "{error}");
}
