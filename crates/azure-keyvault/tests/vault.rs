//! The Key Vault source against a local fake Entra ID token endpoint and vault, over HTTPS
//! with a test CA made at test time, through the real Azure SDK clients.

use secrecy::ExposeSecret;
use serde_json::json;
use ta_fakes::keyvault::{CLIENT_ID, CLIENT_SECRET, FakeVault, TENANT, TOKEN, VaultSecret};
use ta_keyvault::{AzureEnvironment, KeyVaultSettings, KeyVaultSource};
use ta_ports::{SecretSetting, SecretSource};

/// Two pages: a disabled secret, one outside the agent's sections, and one deleted between the
/// listing and the read.
async fn start_fake() -> FakeVault {
    FakeVault::start(vec![
        VaultSecret::new("Connections--EasyVistaManual--Login", "svc-agent"),
        VaultSecret::new("Connections--EasyVistaManual--Password", "vault-p4ssword"),
        VaultSecret::new("Unrelated--Thing", "unrelated"),
        VaultSecret::disabled("Connections--Old--Password", "disabled-value"),
        VaultSecret::new("TicketAgent--Mode", "fulfill"),
        VaultSecret::gone("Connections--Gone--Password"),
    ])
    .await
}

fn environment(secret: &str, fake: &FakeVault) -> AzureEnvironment {
    AzureEnvironment {
        tenant_id: Some(TENANT.into()),
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(secret.into()),
        authority_host: Some(fake.authority_host()),
        ..AzureEnvironment::default()
    }
}

fn settings(vault: &str) -> KeyVaultSettings {
    serde_json::from_value(json!({ "Vault": vault })).unwrap()
}

fn prefixes() -> Vec<String> {
    vec!["Connections".into(), "TicketAgent".into()]
}

fn values(settings: &[SecretSetting]) -> Vec<(String, String)> {
    let mut values: Vec<(String, String)> =
        settings.iter().map(|s| (s.path.join(":"), s.value.expose_secret().to_string())).collect();
    values.sort();
    values
}

#[tokio::test]
async fn enabled_secrets_under_the_agent_prefixes_are_read_from_every_page_after_the_challenge() {
    let fake = start_fake().await;
    let (vault, http) = (fake.vault_url(), fake.client());
    let source = KeyVaultSource::with_transport(
        settings(&vault),
        prefixes(),
        &environment(CLIENT_SECRET, &fake),
        http,
    )
    .unwrap();

    let fetched = source.fetch().await.unwrap();

    assert_eq!(
        values(&fetched),
        vec![
            ("Connections:EasyVistaManual:Login".to_string(), "svc-agent".to_string()),
            ("Connections:EasyVistaManual:Password".to_string(), "vault-p4ssword".to_string()),
            ("TicketAgent:Mode".to_string(), "fulfill".to_string()),
        ]
    );
    let log = fake.log();
    assert_eq!(log[0], "challenge", "the first request goes without a token: {log:?}");
    assert_eq!(log[1], format!("token {TENANT} scope=https://localhost/.default"));
    assert!(log.contains(&"list page 2".to_string()), "nextLink followed: {log:?}");
    assert!(
        !log.iter().any(|l| l.contains("Old") || l.contains("Unrelated")),
        "disabled and foreign secrets are not read: {log:?}"
    );
    assert!(log.contains(&"get Connections--Gone--Password".to_string()), "{log:?}");
    assert_eq!(source.name(), format!("Azure Key Vault {vault}"));
}

#[tokio::test]
async fn a_wrong_client_secret_stops_the_fetch_with_the_token_error() {
    let fake = start_fake().await;
    let (vault, http) = (fake.vault_url(), fake.client());
    let source = KeyVaultSource::with_transport(
        settings(&vault),
        prefixes(),
        &environment("wrong", &fake),
        http,
    )
    .unwrap();

    let error = source.fetch().await.unwrap_err();

    let line = error.to_string();
    assert!(
        line.starts_with(&format!(
            "Azure Key Vault {vault}: setting AzureKeyVault:Vault: cannot list the secrets"
        )),
        "{line}"
    );
    assert!(line.contains("AADSTS7000215"), "{line}");
    assert!(!line.contains('\n') && !line.contains("wrong"), "{line}");
}

#[tokio::test]
async fn an_unreachable_vault_is_reported_against_the_vault_setting() {
    let fake = start_fake().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let http = reqwest::Client::builder().resolve("vault.localhost", closed).build().unwrap();
    let vault = format!("https://vault.localhost:{}/", closed.port());
    let source = KeyVaultSource::with_transport(
        settings(&vault),
        prefixes(),
        &environment(CLIENT_SECRET, &fake),
        http,
    )
    .unwrap();

    let error = source.fetch().await.unwrap_err();

    assert_eq!(error.setting, "setting AzureKeyVault:Vault: ");
    assert!(error.reason.contains(&format!("cannot list the secrets of {vault}")), "{error}");
}

#[tokio::test]
async fn a_vault_url_without_https_or_a_half_configured_client_secret_stops_construction() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();

    let plain = KeyVaultSource::with_transport(
        settings("http://vault.localhost/"),
        prefixes(),
        &AzureEnvironment::default(),
        http.clone(),
    )
    .unwrap_err();
    assert_eq!(plain.setting, "setting AzureKeyVault:Vault: ");

    let environment = AzureEnvironment {
        client_secret: Some(CLIENT_SECRET.into()),
        ..AzureEnvironment::default()
    };
    let half = KeyVaultSource::with_transport(
        settings("https://vault.localhost/"),
        prefixes(),
        &environment,
        http,
    )
    .unwrap_err();
    assert_eq!(half.setting, "setting AZURE_TENANT_ID: ");
}

#[tokio::test]
async fn debug_of_the_source_and_its_output_shows_no_secret() {
    let fake = start_fake().await;
    let (vault, http) = (fake.vault_url(), fake.client());
    let source = KeyVaultSource::with_transport(
        settings(&vault),
        prefixes(),
        &environment(CLIENT_SECRET, &fake),
        http,
    )
    .unwrap();

    let fetched = source.fetch().await.unwrap();

    let shown = format!("{source:?} {fetched:?}");
    assert!(
        !shown.contains("vault-p4ssword")
            && !shown.contains(CLIENT_SECRET)
            && !shown.contains(TOKEN),
        "{shown}"
    );
}
