//! The CyberArk source against a local fake Central Credential Provider over HTTPS that
//! demands a client certificate signed by a test CA made at test time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use ta_cyberark::{CyberArkSettings, CyberArkSource};
use ta_ports::{SecretSetting, SecretSource};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const PFX_PASSWORD: &str = "client-pfx-pass";

/// A test CA, the server's certificate and a client certificate packed as a .pfx, on disk.
struct Pki {
    dir: tempfile::TempDir,
    ca_der: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
}

fn make_pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();

    let client_key = KeyPair::generate().unwrap();
    let client_cert = CertificateParams::new(vec!["ticket-agent".to_string()])
        .unwrap()
        .signed_by(&client_key, &ca)
        .unwrap();
    let chain = PrivateKeyChain::new(
        vec![1u8, 2, 3, 4],
        PrivateKey::from_der(&client_key.serialize_der()).unwrap(),
        [
            Certificate::from_der(client_cert.der()).unwrap(),
            Certificate::from_der(ca.der()).unwrap(),
        ],
    );
    let mut store = KeyStore::new();
    store.add_entry("ticket-agent", KeyStoreEntry::PrivateKeyChain(chain));
    // Few key-derivation rounds: the default count makes each test take seconds in debug builds.
    let pfx =
        store.writer(PFX_PASSWORD).encryption_iterations(16).mac_iterations(16).write().unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("client.pfx"), pfx).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    Pki {
        ca_der: ca.der().clone(),
        server_chain: vec![server_cert.der().clone()],
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        dir,
    }
}

/// What the fake provider saw: the query of every request that passed the TLS handshake.
type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// Serves the accounts endpoint; TLS handshakes without a client certificate from the CA fail.
async fn start_fake_ccp(pki: &Pki, accounts: Value) -> (SocketAddr, Seen) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).build().unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server_chain.clone(), pki.server_key.clone_key())
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/AIMWebService/api/Accounts", get(accounts_endpoint))
        .with_state((Arc::new(accounts), seen.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
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
    (address, seen)
}

async fn accounts_endpoint(
    State((accounts, seen)): State<(Arc<Value>, Seen)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    seen.lock().unwrap().push(query.clone());
    let object = query.get("Object").cloned().unwrap_or_default();
    if query.get("AppID").map(String::as_str) != Some("TicketAgent") {
        let body = json!({ "ErrorCode": "APPAP306E", "ErrorMsg": "Failed to authenticate the application" });
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    match accounts.get(&object) {
        Some(account) if query.get("Safe").map(String::as_str) == Some("Agents") => {
            Json(account.clone()).into_response()
        }
        _ => {
            let message = format!(
                "Password object matching query [Safe=Agents;Folder=Root;Object={object}] was not found"
            );
            (StatusCode::NOT_FOUND, Json(json!({ "ErrorCode": "APPAP004E", "ErrorMsg": message })))
                .into_response()
        }
    }
}

fn settings(server: &str, with_certificate: bool) -> CyberArkSettings {
    let mut section = json!({
        "UseCyberArkSetting": "true", "SafeName": "Agents", "ApplicationId": "TicketAgent",
        "Server": server, "CaFile": "ca.pem"
    });
    if with_certificate {
        section["File"] = json!("client.pfx");
        section["Password"] = json!(PFX_PASSWORD);
    }
    serde_json::from_value(section).unwrap()
}

fn write_mapping(dir: &Path, mapping: Value) {
    std::fs::write(dir.join("appsettings.cyberArk.agent.json"), mapping.to_string()).unwrap();
}

fn easyvista_accounts() -> Value {
    json!({
        "EasyVistaApi": { "UserName": "svc-ticket-agent", "Content": "s3cr3t-content", "Address": "https://ev.contoso.com/",
                           "Safe": "Agents", "Folder": "Root", "Name": "EasyVistaApi" }
    })
}

fn values(settings: &[SecretSetting]) -> Vec<(String, String)> {
    settings.iter().map(|s| (s.path.join(":"), s.value.expose_secret().to_string())).collect()
}

#[tokio::test]
async fn accounts_feed_login_password_and_server_over_mutual_tls() {
    let pki = make_pki();
    let (address, seen) = start_fake_ccp(&pki, easyvista_accounts()).await;
    write_mapping(
        pki.dir.path(),
        json!({ "Connections": { "EasyVistaManual": {
            "Login": "EasyVistaApi", "Password": "EasyVistaApi", "Server": "EasyVistaApi" } } }),
    );
    let source = CyberArkSource::new(
        settings(&format!("https://localhost:{}", address.port()), true),
        pki.dir.path(),
    )
    .unwrap();

    let fetched = source.fetch().await.unwrap();

    assert_eq!(
        values(&fetched),
        vec![
            ("Connections:EasyVistaManual:Login".to_string(), "svc-ticket-agent".to_string()),
            ("Connections:EasyVistaManual:Password".to_string(), "s3cr3t-content".to_string()),
            (
                "Connections:EasyVistaManual:Server".to_string(),
                "https://ev.contoso.com/".to_string()
            ),
        ]
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "one request per distinct account: {seen:?}");
    assert_eq!(seen[0]["Safe"], "Agents");
    assert_eq!(seen[0]["Object"], "EasyVistaApi");
}

#[tokio::test]
async fn account_names_are_url_encoded() {
    let pki = make_pki();
    let accounts =
        json!({ "Ticket Agent & Co/1": { "UserName": "u", "Content": "c", "Address": "a" } });
    let (address, seen) = start_fake_ccp(&pki, accounts).await;
    write_mapping(
        pki.dir.path(),
        json!({ "Connections": { "X": { "ClientSecret": "Ticket Agent & Co/1" } } }),
    );
    let source = CyberArkSource::new(
        settings(&format!("https://localhost:{}", address.port()), true),
        pki.dir.path(),
    )
    .unwrap();

    let fetched = source.fetch().await.unwrap();

    assert_eq!(values(&fetched), vec![("Connections:X:ClientSecret".to_string(), "c".to_string())]);
    assert_eq!(seen.lock().unwrap()[0]["Object"], "Ticket Agent & Co/1");
}

#[tokio::test]
async fn without_the_client_certificate_the_provider_refuses_the_connection() {
    let pki = make_pki();
    let (address, seen) = start_fake_ccp(&pki, easyvista_accounts()).await;
    write_mapping(
        pki.dir.path(),
        json!({ "Connections": { "EasyVistaManual": { "Login": "EasyVistaApi" } } }),
    );
    let source = CyberArkSource::new(
        settings(&format!("https://localhost:{}", address.port()), false),
        pki.dir.path(),
    )
    .unwrap();

    let error = source.fetch().await.unwrap_err();

    assert_eq!(error.setting, "setting CyberArk:Server: ");
    assert!(error.reason.starts_with("cannot reach the Central Credential Provider"), "{error}");
    assert!(seen.lock().unwrap().is_empty(), "no request may pass the handshake");
}

#[tokio::test]
async fn a_missing_account_is_reported_as_not_found_naming_the_setting() {
    let pki = make_pki();
    let (address, _) = start_fake_ccp(&pki, easyvista_accounts()).await;
    write_mapping(
        pki.dir.path(),
        json!({ "Connections": { "EasyVistaManual": { "Login": "EasyVistaApi", "Password": "NoSuchAccount" } } }),
    );
    let source = CyberArkSource::new(
        settings(&format!("https://localhost:{}", address.port()), true),
        pki.dir.path(),
    )
    .unwrap();

    let error = source.fetch().await.unwrap_err();

    let line = error.to_string();
    assert!(
        line.starts_with(&format!(
            "CyberArk https://localhost:{}: setting Connections:EasyVistaManual:Password: ",
            address.port()
        )),
        "{line}"
    );
    assert!(
        line.contains("account \"NoSuchAccount\" not found in safe \"Agents\" (APPAP004E"),
        "{line}"
    );
    assert!(!line.contains('\n'), "one line: {line}");
}

#[tokio::test]
async fn other_provider_errors_are_surfaced_with_code_and_message() {
    let pki = make_pki();
    let (address, _) = start_fake_ccp(&pki, easyvista_accounts()).await;
    write_mapping(pki.dir.path(), json!({ "Connections": { "X": { "Login": "EasyVistaApi" } } }));
    let mut settings = settings(&format!("https://localhost:{}", address.port()), true);
    settings.application_id = Some("SomeoneElse".into());
    let source = CyberArkSource::new(settings, pki.dir.path()).unwrap();

    let error = source.fetch().await.unwrap_err();

    assert!(
        error.reason.contains("APPAP306E: Failed to authenticate the application (HTTP 403)"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_reported_against_cyberark_server() {
    let pki = make_pki();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    write_mapping(pki.dir.path(), json!({ "Connections": { "X": { "Login": "EasyVistaApi" } } }));
    let source =
        CyberArkSource::new(settings(&format!("https://127.0.0.1:{port}"), true), pki.dir.path())
            .unwrap();

    let error = source.fetch().await.unwrap_err();

    assert_eq!(error.setting, "setting CyberArk:Server: ");
    assert!(
        error.reason.contains(&format!("https://127.0.0.1:{port}/AIMWebService/api/Accounts")),
        "{error}"
    );
}

#[tokio::test]
async fn a_wrong_certificate_password_stops_construction_naming_the_file_setting() {
    let pki = make_pki();
    write_mapping(pki.dir.path(), json!({ "Connections": { "X": { "Login": "EasyVistaApi" } } }));
    let mut settings = settings("https://localhost:1", true);
    settings.password = Some("wrong".into());

    let error = CyberArkSource::new(settings, pki.dir.path()).unwrap_err();

    assert_eq!(error.setting, "setting CyberArk:File: ");
}

#[tokio::test]
async fn a_missing_mapping_file_and_missing_required_settings_stop_construction() {
    let pki = make_pki();

    let no_mapping =
        CyberArkSource::new(settings("https://localhost:1", true), pki.dir.path()).unwrap_err();
    assert!(
        no_mapping.reason.contains("appsettings.cyberArk.agent.json is missing"),
        "{no_mapping}"
    );

    let mut no_safe = settings("https://localhost:1", true);
    no_safe.safe_name = None;
    let error = CyberArkSource::new(no_safe, pki.dir.path()).unwrap_err();
    assert_eq!(error.setting, "setting CyberArk:SafeName: ");
}

#[tokio::test]
async fn debug_of_the_source_and_its_output_shows_no_secret() {
    let pki = make_pki();
    let (address, _) = start_fake_ccp(&pki, easyvista_accounts()).await;
    write_mapping(
        pki.dir.path(),
        json!({ "Connections": { "E": { "Password": "EasyVistaApi" } } }),
    );
    let source = CyberArkSource::new(
        settings(&format!("https://localhost:{}", address.port()), true),
        pki.dir.path(),
    )
    .unwrap();

    let fetched = source.fetch().await.unwrap();

    let shown = format!("{source:?} {fetched:?}");
    assert!(!shown.contains("s3cr3t-content") && !shown.contains(PFX_PASSWORD), "{shown}");
}
