//! The Key Vault source against a local fake Entra ID token endpoint and vault, over HTTPS
//! with a test CA made at test time, through the real Azure SDK clients.

use secrecy::ExposeSecret;
use serde_json::json;
use ta_fakes::keyvault::{
    CLIENT_ID, CLIENT_SECRET, FEDERATED_TOKEN, FakeVault, IDENTITY_HEADER, TENANT, TOKEN,
    VaultSecret, client_to,
};
use ta_keyvault::{AzureEnvironment, KeyVaultSettings, KeyVaultSource};
use ta_ports::{SecretSetting, SecretSource};

/// Two pages: a disabled secret, one outside the agent's sections, and one deleted between the
/// listing and the read.
/// What the fake vault holds that the agent reads: enabled, under its prefixes.
fn the_enabled_secrets_under_the_prefixes() -> Vec<(String, String)> {
    vec![
        ("Connections:EasyVistaManual:Login".to_string(), "svc-agent".to_string()),
        ("Connections:EasyVistaManual:Password".to_string(), "vault-p4ssword".to_string()),
        ("TicketAgent:Mode".to_string(), "fulfill".to_string()),
    ]
}

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

    assert_eq!(values(&fetched), the_enabled_secrets_under_the_prefixes());
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

/// Set in the child process of the managed identity and workload identity tests; holds the
/// fake's address.
const CHILD_ADDRESS: &str = "TA_KV_TEST_FAKE_ADDRESS";
const CHILD_CA: &str = "TA_KV_TEST_FAKE_CA";
const CHILD_VAULT: &str = "TA_KV_TEST_FAKE_VAULT";

/// Runs the test `name` of this binary again as a child process that serves no fake of its
/// own: it gets the fake's address, CA and vault, its authority host, the variables in `set`,
/// and none of the managed identity variables of the host nor those in `remove`. Fails unless
/// the child ran that one test and it passed.
async fn run_self_as_child(
    name: &str,
    fake: &FakeVault,
    set: &[(&str, std::ffi::OsString)],
    remove: &[&str],
) {
    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ADDRESS, fake.address.to_string())
        .env(CHILD_CA, fake.ca_pem())
        .env(CHILD_VAULT, fake.vault_url())
        .env("AZURE_AUTHORITY_HOST", fake.authority_host());
    for variable in ["IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET"].iter().chain(remove) {
        command.env_remove(variable);
    }
    for (variable, value) in set {
        command.env(variable, value);
    }
    let output = command.output().await.unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("1 passed"), "the child ran the test: {shown}");
}

/// azure_identity reads `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` from the process environment
/// itself, and this workspace forbids the `unsafe` that setting a variable now needs, so the
/// test runs itself again as a child process with those variables set, against the fake that
/// this process serves. The child builds three sources in turn: the chain with only
/// `AZURE_CLIENT_ID` (a user-assigned managed identity), `ConnectionString` `RunAs=App` (the
/// system-assigned one), and the chain with a client secret, which wins over the managed
/// identity even when the host offers one.
#[tokio::test]
async fn a_managed_identity_from_identity_endpoint_reads_the_vault_and_a_client_secret_wins_over_it()
 {
    if let Ok(address) = std::env::var(CHILD_ADDRESS) {
        return managed_identity_child(&address).await;
    }
    let fake = start_fake().await;

    run_self_as_child(
        "a_managed_identity_from_identity_endpoint_reads_the_vault_and_a_client_secret_wins_over_it",
        &fake,
        &[
            ("IDENTITY_ENDPOINT", fake.identity_endpoint().into()),
            ("IDENTITY_HEADER", IDENTITY_HEADER.into()),
        ],
        &["IDENTITY_SERVER_THUMBPRINT"],
    )
    .await;
    let tokens: Vec<String> = fake
        .log()
        .into_iter()
        .filter(|line| line.starts_with("token") || line.starts_with("managed identity"))
        .collect();
    assert_eq!(
        tokens,
        [
            "managed identity resource=https://localhost client_id=mi-user-assigned".to_string(),
            "managed identity resource=https://localhost client_id=-".to_string(),
            format!("token {TENANT} scope=https://localhost/.default"),
        ]
    );
}

async fn managed_identity_child(address: &str) {
    let address: std::net::SocketAddr = address.parse().unwrap();
    let ca = std::env::var(CHILD_CA).unwrap();
    let vault = std::env::var(CHILD_VAULT).unwrap();
    let authority_host = std::env::var("AZURE_AUTHORITY_HOST").ok();
    let user_assigned = AzureEnvironment {
        client_id: Some("mi-user-assigned".into()),
        authority_host: authority_host.clone(),
        ..AzureEnvironment::default()
    };
    let system_assigned: KeyVaultSettings =
        serde_json::from_value(json!({ "Vault": vault, "ConnectionString": "RunAs=App" })).unwrap();
    let with_secret = AzureEnvironment {
        tenant_id: Some(TENANT.into()),
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(CLIENT_SECRET.into()),
        authority_host,
        ..AzureEnvironment::default()
    };

    for (settings, environment) in [
        (settings(&vault), &user_assigned),
        (system_assigned, &AzureEnvironment::default()),
        (settings(&vault), &with_secret),
    ] {
        let source = KeyVaultSource::with_transport(
            settings,
            prefixes(),
            environment,
            client_to(address, &ca),
        )
        .unwrap();
        let fetched = source.fetch().await.unwrap();
        assert!(
            values(&fetched).contains(&(
                "Connections:EasyVistaManual:Password".to_string(),
                "vault-p4ssword".to_string()
            )),
            "{environment:?}"
        );
    }
}

/// Workload identity as on AKS: the child gets `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
/// `AZURE_FEDERATED_TOKEN_FILE` (a file holding the fake's federated token) and
/// `AZURE_AUTHORITY_HOST` in its process environment, reads them the way the binary does
/// ([`AzureEnvironment::from_process`]), and reads the vault with the token the fake hands out
/// for that assertion. A child process for the same reason as the managed identity test.
#[tokio::test]
async fn a_workload_identity_from_azure_federated_token_file_reads_the_vault_with_the_files_assertion()
 {
    if let Ok(address) = std::env::var(CHILD_ADDRESS) {
        return workload_identity_child(&address).await;
    }
    let fake = start_fake().await;
    let token_file = std::env::temp_dir()
        .join(format!("ta-keyvault-test-federated-token-{}", std::process::id()));
    std::fs::write(&token_file, FEDERATED_TOKEN).unwrap();

    run_self_as_child(
        "a_workload_identity_from_azure_federated_token_file_reads_the_vault_with_the_files_assertion",
        &fake,
        &[
            ("AZURE_TENANT_ID", TENANT.into()),
            ("AZURE_CLIENT_ID", CLIENT_ID.into()),
            ("AZURE_FEDERATED_TOKEN_FILE", token_file.clone().into()),
        ],
        &["AZURE_CLIENT_SECRET", "IDENTITY_ENDPOINT", "IDENTITY_HEADER"],
    )
    .await;
    let _ = std::fs::remove_file(&token_file);
    let log = fake.log();
    let tokens: Vec<&String> = log
        .iter()
        .filter(|line| line.starts_with("token") || line.starts_with("managed identity"))
        .collect();
    assert_eq!(
        tokens,
        [&format!(
            "token {TENANT} scope=https://localhost/.default client_assertion={FEDERATED_TOKEN}"
        )],
        "one client-assertion grant carrying the file's content, nothing else: {log:?}"
    );
    assert!(log.contains(&"get Connections--EasyVistaManual--Password".to_string()), "{log:?}");
}

async fn workload_identity_child(address: &str) {
    let address: std::net::SocketAddr = address.parse().unwrap();
    let ca = std::env::var(CHILD_CA).unwrap();
    let vault = std::env::var(CHILD_VAULT).unwrap();
    let environment = AzureEnvironment::from_process();
    assert!(
        environment.client_secret.is_none() && environment.federated_token_file.is_some(),
        "{environment:?}"
    );

    let source = KeyVaultSource::with_transport(
        settings(&vault),
        prefixes(),
        &environment,
        client_to(address, &ca),
    )
    .unwrap();
    let fetched = source.fetch().await.unwrap();

    assert_eq!(values(&fetched), the_enabled_secrets_under_the_prefixes());
}
