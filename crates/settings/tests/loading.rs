//! Loading settings from real files in a temporary folder, then secret sources and the
//! environment on top: each source alone, all together, and what wins key by key.

use std::collections::BTreeMap;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use ta_ports::SecretSetting;
use ta_settings::{SettingsError, SettingsTree};

const PLAIN: &str = r#"{
  "Connections": {
    "EasyVistaManual": {
      "Server": "https://plain.example/",
      "Account": "50004",
      "Login": "plain-login",
      "Password": "plain-password-1",
      "Filter": "plain-filter",
      "ExportSettingsOptions": { "PageSize": "200", "Since": 3 }
    },
    "EasyVistaExport": { "Server": "https://export.example/", "Password": "plain-password-2" }
  },
  "TicketAgent": {
    "PollSeconds": "30",
    "DryRun": "True",
    "Mappings": [ { "Entity": "Directory_User", "Catalog": 12 }, { "Entity": "Group", "Catalog": "13" } ]
  }
}"#;

fn write_settings(dir: &Path, text: &str) {
    std::fs::write(dir.join("appsettings.agent.json"), text).unwrap();
}

fn loaded() -> (tempfile::TempDir, SettingsTree) {
    let dir = tempfile::tempdir().unwrap();
    write_settings(dir.path(), PLAIN);
    let tree = SettingsTree::from_dir(dir.path()).unwrap();
    (dir, tree)
}

fn secret(path: &str, value: &str) -> SecretSetting {
    SecretSetting {
        path: path.split(':').map(str::to_string).collect(),
        value: SecretString::from(value.to_string()),
    }
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
}

fn password(tree: &SettingsTree) -> String {
    tree.connection("EasyVistaManual").unwrap().password.unwrap().expose_secret().to_string()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TicketAgent {
    poll_seconds: u32,
    dry_run: bool,
    mappings: Vec<Mapping>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
struct Mapping {
    entity: String,
    catalog: u32,
}

#[test]
fn the_plain_file_alone_gives_typed_sections_whatever_the_case() {
    let (_dir, tree) = loaded();

    let agent: TicketAgent = tree.section("ticketagent").unwrap().unwrap();
    let connection = tree.connection("easyvistamanual").unwrap();

    assert_eq!(agent.poll_seconds, 30);
    assert!(agent.dry_run);
    assert_eq!(agent.mappings[1], Mapping { entity: "Group".into(), catalog: 13 });
    assert_eq!(connection.id, "EasyVistaManual");
    assert_eq!(connection.server.as_deref(), Some("https://plain.example/"));
    assert_eq!(connection.account.as_deref(), Some("50004"));
    assert_eq!(password(&tree), "plain-password-1");
    assert_eq!(
        tree.origin_of("Connections:EasyVistaManual:Password").as_deref(),
        Some("appsettings.agent.json")
    );
}

#[test]
fn map_keys_keep_their_spelling_and_extra_keys_are_reachable() {
    let (_dir, tree) = loaded();

    let connections: BTreeMap<String, BTreeMap<String, serde_json::Value>> =
        tree.section("CONNECTIONS").unwrap().unwrap();
    let options: serde_json::Value =
        tree.section("Connections:EasyVistaManual:ExportSettingsOptions").unwrap().unwrap();

    assert_eq!(connections.keys().collect::<Vec<_>>(), ["EasyVistaExport", "EasyVistaManual"]);
    assert_eq!(tree.connection_ids(), ["EasyVistaExport", "EasyVistaManual"]);
    assert_eq!(options, serde_json::json!({ "PageSize": "200", "Since": 3 }));
}

#[test]
fn a_missing_section_is_none_and_an_unknown_connection_names_the_known_ones() {
    let (_dir, tree) = loaded();

    let missing: Option<TicketAgent> = tree.section("Nowhere").unwrap();
    let error = tree.connection("Jira").unwrap_err();

    assert!(missing.is_none());
    assert_eq!(
        error.to_string(),
        "connection Jira is not in the Connections section (known: EasyVistaExport, EasyVistaManual)"
    );
}

#[test]
fn a_byte_order_mark_is_tolerated() {
    let dir = tempfile::tempdir().unwrap();
    write_settings(dir.path(), &format!("\u{feff}{PLAIN}"));

    let tree = SettingsTree::from_dir(dir.path()).unwrap();

    assert_eq!(password(&tree), "plain-password-1");
}

#[test]
fn a_missing_settings_file_is_named() {
    let dir = tempfile::tempdir().unwrap();

    let error = SettingsTree::from_dir(dir.path()).unwrap_err();

    assert!(matches!(error, SettingsError::Read { .. }));
    assert!(error.to_string().contains("appsettings.agent.json"), "{error}");
}

#[test]
fn invalid_json_is_named_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    write_settings(dir.path(), "{\n  \"Connections\": {\n    \"A\": \"x\",,\n  }\n}");

    let error = SettingsTree::from_dir(dir.path()).unwrap_err().to_string();

    assert!(error.contains("appsettings.agent.json"), "{error}");
    assert!(error.contains("line 3 column"), "{error}");
}

#[test]
fn an_encrypted_file_alone_overrides_the_plain_value() {
    let (_dir, mut tree) = loaded();

    tree.apply_secrets(
        "appsettings.encrypted.agent.json",
        vec![secret("Connections:EasyVistaManual:Password", "enc")],
    );

    assert_eq!(password(&tree), "enc");
    assert_eq!(
        tree.origin_of("connections:easyvistamanual:password").as_deref(),
        Some("appsettings.encrypted.agent.json")
    );
}

#[test]
fn a_vault_alone_overrides_only_the_keys_it_supplies() {
    let (_dir, mut tree) = loaded();

    tree.apply_secrets(
        "Azure Key Vault https://vault.example/",
        vec![secret("Connections:EasyVistaManual:Login", "vault-login")],
    );
    let connection = tree.connection("EasyVistaManual").unwrap();
    let filter: String = tree.section("Connections:EasyVistaManual:Filter").unwrap().unwrap();
    let login = tree
        .settings()
        .into_iter()
        .find(|info| info.path == "Connections:EasyVistaManual:Login")
        .unwrap();

    assert_eq!(connection.login.as_deref(), Some("vault-login"));
    assert_eq!(password(&tree), "plain-password-1");
    assert_eq!(filter, "plain-filter");
    assert_eq!(login.origin, "Azure Key Vault https://vault.example/");
    assert!(login.secret, "a vault's value is held as a secret even under a plain key name");
    assert_eq!(
        tree.origin_of("Connections:EasyVistaManual:Password").as_deref(),
        Some("appsettings.agent.json")
    );
}

#[test]
fn an_environment_variable_alone_overrides_with_double_underscores() {
    let (_dir, mut tree) = loaded();

    tree.apply_env(env(&[("Connections__EasyVistaManual__Password", "env")]));

    assert_eq!(password(&tree), "env");
    assert_eq!(
        tree.origin_of("Connections:EasyVistaManual:Password").as_deref(),
        Some("environment variable Connections__EasyVistaManual__Password")
    );
}

#[test]
fn all_sources_together_apply_in_order() {
    let (_dir, mut tree) = loaded();

    tree.apply_secrets(
        "appsettings.encrypted.agent.json",
        vec![
            secret("Connections:EasyVistaManual:Password", "enc"),
            secret("Connections:EasyVistaManual:Login", "enc-login"),
            secret("Connections:EasyVistaManual:Account", "enc-account"),
            secret("Connections:EasyVistaExport:Password", "enc-export"),
        ],
    );
    tree.apply_secrets(
        "Azure Key Vault",
        vec![
            secret("Connections:EasyVistaManual:Password", "vault"),
            secret("Connections:EasyVistaManual:Login", "vault-login"),
        ],
    );
    tree.apply_secrets(
        "CyberArk",
        vec![secret("Connections:EasyVistaManual:Password", "cyberark")],
    );
    tree.apply_env(env(&[("Connections__EasyVistaManual__Password", "env")]));
    let manual = tree.connection("EasyVistaManual").unwrap();
    let export = tree.connection("EasyVistaExport").unwrap();

    assert_eq!(manual.password.unwrap().expose_secret(), "env");
    assert_eq!(manual.login.as_deref(), Some("vault-login"));
    assert_eq!(manual.account.as_deref(), Some("enc-account"));
    assert_eq!(manual.server.as_deref(), Some("https://plain.example/"));
    assert_eq!(export.password.unwrap().expose_secret(), "enc-export");
    assert_eq!(
        tree.origin_of("Connections:EasyVistaManual:Login").as_deref(),
        Some("Azure Key Vault")
    );
    assert_eq!(
        tree.origin_of("Connections:EasyVistaManual:Server").as_deref(),
        Some("appsettings.agent.json")
    );
}

#[test]
fn keys_differing_only_in_case_are_one_setting() {
    let (_dir, mut tree) = loaded();

    tree.apply_secrets(
        "Azure Key Vault",
        vec![secret("connections:easyvistamanual:PASSWORD", "vault")],
    );
    let paths: Vec<String> = tree.settings().into_iter().map(|info| info.path).collect();

    assert_eq!(password(&tree), "vault");
    assert_eq!(
        paths
            .iter()
            .filter(|path| path.eq_ignore_ascii_case("Connections:EasyVistaManual:Password"))
            .count(),
        1
    );
    assert!(paths.contains(&"Connections:EasyVistaManual:Password".to_string()));
}

#[test]
fn unrelated_environment_variables_are_ignored_and_the_prefix_reaches_new_sections() {
    let (_dir, mut tree) = loaded();

    tree.apply_env(env(&[
        ("PATH", "/usr/bin"),
        ("Unrelated__Key", "x"),
        ("TICKETAGENT_AzureKeyVault__Vault", "https://vault.example/"),
        ("TICKETAGENT_Connections__EasyVistaManual__Password", "prefixed"),
        ("Connections__EasyVistaManual__Password", "unprefixed"),
    ]));

    assert!(!tree.has_section("Unrelated"));
    assert!(tree.origin_of("PATH").is_none());
    let vault: String = tree.section("AzureKeyVault:Vault").unwrap().unwrap();
    assert_eq!(vault, "https://vault.example/");
    assert_eq!(password(&tree), "prefixed");
}

#[test]
fn debug_output_shows_no_value_from_any_source() {
    let (_dir, mut tree) = loaded();
    tree.apply_secrets(
        "Azure Key Vault",
        vec![secret("Connections:EasyVistaManual:Login", "vault-secret-7")],
    );
    tree.apply_env(env(&[("Connections__EasyVistaManual__Token", "env-secret-8")]));

    let shown = format!(
        "{tree:?} {:?} {:#?}",
        tree.connection("EasyVistaManual").unwrap(),
        tree.settings()
    );

    for value in ["plain-password-1", "plain-login", "vault-secret-7", "env-secret-8", "50004"] {
        assert!(!shown.contains(value), "{value} shown in {shown}");
    }
    assert!(shown.contains("Connections:EasyVistaManual:Password (from appsettings.agent.json)"));
}

#[test]
fn an_invalid_value_names_the_setting_and_its_source_but_not_a_secret() {
    let (_dir, mut tree) = loaded();
    tree.apply_secrets(
        "Azure Key Vault",
        vec![secret("TicketAgent:PollSeconds", "not-a-number-secret")],
    );

    let error = tree.section::<TicketAgent>("TicketAgent").unwrap_err().to_string();

    assert_eq!(
        error,
        "setting TicketAgent:PollSeconds (from Azure Key Vault): expected a whole number, 0 or more"
    );
}

#[test]
fn a_secret_that_serde_would_quote_is_hidden_in_errors() {
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "PascalCase")]
    #[allow(dead_code)]
    struct Strict {
        mode: Mode,
    }
    #[derive(Debug, Deserialize)]
    enum Mode {
        Fast,
    }
    let (_dir, mut tree) = loaded();
    tree.apply_env(env(&[("TICKETAGENT_Strict__Mode", "hidden-value-9")]));

    let error = tree.section::<Strict>("Strict").unwrap_err().to_string();

    assert!(!error.contains("hidden-value-9"), "{error}");
    assert!(
        error.starts_with(
            "setting Strict:Mode (from environment variable TICKETAGENT_Strict__Mode)"
        ),
        "{error}"
    );
}

#[test]
fn a_missing_required_key_names_the_section() {
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "PascalCase")]
    #[allow(dead_code)]
    struct NeedsQueue {
        queue: String,
    }
    let (_dir, tree) = loaded();

    let error = tree.section::<NeedsQueue>("Connections:EasyVistaExport").unwrap_err().to_string();

    assert_eq!(error, "setting Connections:EasyVistaExport: missing field `Queue`");
}

#[test]
fn a_clone_with_the_environment_configures_sources_without_changing_the_order() {
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Certificate {
        file: String,
        password: SecretString,
    }
    let dir = tempfile::tempdir().unwrap();
    write_settings(
        dir.path(),
        r#"{ "EncryptionCertificate": { "File": "agent.pfx" }, "Connections": { "A": { "Password": "file" } } }"#,
    );
    let mut tree = SettingsTree::from_dir(dir.path()).unwrap();
    let vars = env(&[
        ("EncryptionCertificate__Password", "pfx-password"),
        ("Connections__A__Password", "env"),
    ]);

    let mut bootstrap = tree.clone();
    bootstrap.apply_env(vars.clone());
    let certificate: Certificate = bootstrap.section("EncryptionCertificate").unwrap().unwrap();
    tree.apply_secrets("vault", vec![secret("Connections:A:Password", "vault")]);
    tree.apply_env(vars);

    assert_eq!(certificate.file, "agent.pfx");
    assert_eq!(certificate.password.expose_secret(), "pfx-password");
    assert_eq!(tree.connection("a").unwrap().password.unwrap().expose_secret(), "env");
}

#[test]
fn plain_file_values_under_secret_key_names_are_held_as_secrets() {
    let dir = tempfile::tempdir().unwrap();
    write_settings(
        dir.path(),
        r#"{
  "Connections": { "A": { "Server": "https://a.example/", "Login": "a-login", "PASSWORD": "file-pw-1", "Token": "file-tok-2" } },
  "AzureKeyVault": { "ClientSecret": "file-cs-3", "ConnectionString": "file-cn-4" },
  "TicketAgent": { "Api_Key": "file-ak-5", "Pin": { "Passphrase": 60731 }, "RefreshTokens": [ "file-rt-6" ], "PageSize": 50 }
}"#,
    );

    let tree = SettingsTree::from_dir(dir.path()).unwrap();
    let secret_paths: Vec<String> =
        tree.settings().into_iter().filter(|info| info.secret).map(|info| info.path).collect();
    let shown = format!("{tree:?} {:?}", tree.settings());
    let passphrase: SecretString = tree.section("TicketAgent:Pin:Passphrase").unwrap().unwrap();
    let as_json: serde_json::Value = tree.section("Connections:A").unwrap().unwrap();

    assert_eq!(
        secret_paths,
        [
            "AzureKeyVault:ClientSecret",
            "AzureKeyVault:ConnectionString",
            "Connections:A:PASSWORD",
            "Connections:A:Token",
            "TicketAgent:Api_Key",
            "TicketAgent:Pin:Passphrase",
            "TicketAgent:RefreshTokens:0",
        ]
    );
    for value in
        ["file-pw-1", "file-tok-2", "file-cs-3", "file-cn-4", "file-ak-5", "60731", "file-rt-6"]
    {
        assert!(!shown.contains(value), "{value} shown in {shown}");
    }
    assert_eq!(passphrase.expose_secret(), "60731");
    assert_eq!(tree.connection("A").unwrap().password.unwrap().expose_secret(), "file-pw-1");
    assert_eq!(as_json["Login"], "a-login");
    assert_eq!(as_json["PASSWORD"], "file-pw-1");
    let page_size: u32 = tree.section("TicketAgent:PageSize").unwrap().unwrap();
    assert_eq!(page_size, 50);
}
