//! The Key Vault source against a local fake Entra ID token endpoint and vault, over HTTPS
//! with a test CA made at test time, through the real Azure SDK clients.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use ta_keyvault::{AzureEnvironment, KeyVaultSettings, KeyVaultSource};
use ta_ports::{SecretSetting, SecretSource};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const TENANT: &str = "contoso-tenant";
const CLIENT_ID: &str = "ticket-agent-app";
const CLIENT_SECRET: &str = "app-s3cret";
const TOKEN: &str = "access-token-123";

/// The fake's view of what happened, and the port its links point at.
#[derive(Default)]
struct Fake {
    port: u16,
    log: Mutex<Vec<String>>,
}

/// A TLS server for `login.localhost` and `vault.localhost`, plus a client that resolves both
/// names to it and trusts its certificate.
async fn start_fake() -> (Arc<Fake>, reqwest::Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let key = KeyPair::generate().unwrap();
    let cert =
        CertificateParams::new(vec!["vault.localhost".to_string(), "login.localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let fake = Arc::new(Fake { port: address.port(), log: Mutex::default() });
    let app = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/secrets", get(list))
        .route("/secrets/{name}/", get(read))
        .with_state(fake.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    (fake, client_for(address, &cert.pem()))
}

fn client_for(address: SocketAddr, ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .resolve("vault.localhost", address)
        .resolve("login.localhost", address)
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

async fn token(
    State(fake): State<Arc<Fake>>,
    Path(tenant): Path<String>,
    body: String,
) -> Response {
    let form: HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    fake.log
        .lock()
        .unwrap()
        .push(format!("token {tenant} scope={}", form.get("scope").cloned().unwrap_or_default()));
    let field = |name: &str| form.get(name).map(String::as_str);
    if tenant != TENANT
        || field("client_id") != Some(CLIENT_ID)
        || field("client_secret") != Some(CLIENT_SECRET)
    {
        let body = json!({ "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided." });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    Json(json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": TOKEN }))
        .into_response()
}

/// The vault's answer to a request without a valid token: the challenge naming the resource.
fn challenge(fake: &Fake, headers: &HeaderMap) -> Option<Response> {
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"))
    {
        return None;
    }
    fake.log.lock().unwrap().push("challenge".into());
    let authenticate = format!(
        "Bearer authorization=\"https://login.localhost:{}/{TENANT}\", resource=\"https://localhost\"",
        fake.port
    );
    let body = json!({ "error": { "code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer token." } });
    Some(
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, authenticate)], Json(body))
            .into_response(),
    )
}

fn item(fake: &Fake, name: &str, enabled: bool) -> Value {
    json!({ "id": format!("https://vault.localhost:{}/secrets/{name}", fake.port),
            "attributes": { "enabled": enabled, "created": 1493938410, "updated": 1493938410 } })
}

async fn list(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(challenge) = challenge(&fake, &headers) {
        return challenge;
    }
    let page = query.get("$skiptoken").cloned().unwrap_or_else(|| "1".into());
    fake.log.lock().unwrap().push(format!("list page {page}"));
    if page == "1" {
        let next = format!(
            "https://vault.localhost:{}/secrets?api-version=2025-07-01&$skiptoken=2",
            fake.port
        );
        Json(json!({ "value": [
            item(&fake, "Connections--EasyVistaManual--Login", true),
            item(&fake, "Connections--EasyVistaManual--Password", true),
            item(&fake, "Unrelated--Thing", true),
            item(&fake, "Connections--Old--Password", false),
        ], "nextLink": next }))
        .into_response()
    } else {
        Json(json!({ "value": [
            item(&fake, "TicketAgent--Mode", true),
            item(&fake, "Connections--Gone--Password", true),
        ], "nextLink": null }))
        .into_response()
    }
}

async fn read(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if let Some(challenge) = challenge(&fake, &headers) {
        return challenge;
    }
    fake.log.lock().unwrap().push(format!("get {name}"));
    let value = match name.as_str() {
        "Connections--EasyVistaManual--Login" => "svc-agent",
        "Connections--EasyVistaManual--Password" => "vault-p4ssword",
        "TicketAgent--Mode" => "fulfill",
        "Connections--Old--Password" => "disabled-value",
        _ => {
            let body = json!({ "error": { "code": "SecretNotFound", "message": format!("A secret with (name/id) {name} was not found in this key vault.") } });
            return (StatusCode::NOT_FOUND, [("x-ms-error-code", "SecretNotFound")], Json(body))
                .into_response();
        }
    };
    Json(json!({ "value": value, "id": format!("https://vault.localhost:{}/secrets/{name}/0123abcd", fake.port),
                 "attributes": { "enabled": true } }))
    .into_response()
}

fn environment(secret: &str, port: u16) -> AzureEnvironment {
    AzureEnvironment {
        tenant_id: Some(TENANT.into()),
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(secret.into()),
        authority_host: Some(format!("https://login.localhost:{port}")),
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
    let (fake, http) = start_fake().await;
    let vault = format!("https://vault.localhost:{}/", fake.port);
    let source = KeyVaultSource::with_transport(
        settings(&vault),
        prefixes(),
        &environment(CLIENT_SECRET, fake.port),
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
    let log = fake.log.lock().unwrap().clone();
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
    let (fake, http) = start_fake().await;
    let vault = format!("https://vault.localhost:{}/", fake.port);
    let source = KeyVaultSource::with_transport(
        settings(&vault),
        prefixes(),
        &environment("wrong", fake.port),
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
    let (fake, _) = start_fake().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let http = reqwest::Client::builder().resolve("vault.localhost", closed).build().unwrap();
    let vault = format!("https://vault.localhost:{}/", closed.port());
    let source = KeyVaultSource::with_transport(
        settings(&vault),
        prefixes(),
        &environment(CLIENT_SECRET, fake.port),
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
    let (fake, http) = start_fake().await;
    let vault = format!("https://vault.localhost:{}/", fake.port);
    let source = KeyVaultSource::with_transport(
        settings(&vault),
        prefixes(),
        &environment(CLIENT_SECRET, fake.port),
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
