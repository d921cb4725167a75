//! A fake Azure Key Vault and Entra ID token endpoint on one HTTPS port, answering as
//! `vault.localhost` and `login.localhost`: client-secret and client-assertion (workload
//! identity) tokens, an App Service style managed identity endpoint
//! (`IDENTITY_ENDPOINT`/`IDENTITY_HEADER`), the vault's authentication challenge, a paged secret
//! list and secret reads. It records what it was asked, never values, except the client
//! assertion (a fake federated token), so that a test can tell which file it came from.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::tls::{self, TestCa};

pub const VAULT_HOST: &str = "vault.localhost";
pub const LOGIN_HOST: &str = "login.localhost";
pub const TENANT: &str = "contoso-tenant";
pub const CLIENT_ID: &str = "ticket-agent-app";
/// The only client secret the token endpoint accepts.
pub const CLIENT_SECRET: &str = "kv-client-s3cret-5d1e";
/// The only client assertion (federated token, as in `AZURE_FEDERATED_TOKEN_FILE`) the token
/// endpoint accepts. Not a JWT: the fake compares it as text, as it does the client secret.
pub const FEDERATED_TOKEN: &str = "kv-federated-token-e4a2";
/// `client_assertion_type` of the client-assertion grant.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The access token it hands out, and the only one the vault accepts.
pub const TOKEN: &str = "kv-access-token-9c3b";
/// The only `X-IDENTITY-HEADER` the managed identity endpoint accepts (`IDENTITY_HEADER`).
pub const IDENTITY_HEADER: &str = "mi-identity-header-71f0";
/// Secrets per page of the list; later ones are behind `nextLink`.
pub const PAGE_SIZE: usize = 4;

/// One secret of the fake vault.
#[derive(Clone, Debug)]
pub struct VaultSecret {
    pub name: String,
    /// `None`: listed, but gone when read (404 SecretNotFound).
    pub value: Option<String>,
    pub enabled: bool,
}

impl VaultSecret {
    pub fn new(name: &str, value: &str) -> VaultSecret {
        VaultSecret { name: name.into(), value: Some(value.into()), enabled: true }
    }

    pub fn disabled(name: &str, value: &str) -> VaultSecret {
        VaultSecret { enabled: false, ..VaultSecret::new(name, value) }
    }

    pub fn gone(name: &str) -> VaultSecret {
        VaultSecret { name: name.into(), value: None, enabled: true }
    }
}

/// The running fake: its address, its CA, and what it was asked.
pub struct FakeVault {
    pub address: SocketAddr,
    ca: TestCa,
    state: Arc<Shared>,
}

struct Shared {
    port: u16,
    secrets: Vec<VaultSecret>,
    log: Mutex<Vec<String>>,
}

impl FakeVault {
    pub async fn start(secrets: Vec<VaultSecret>) -> FakeVault {
        let ca = TestCa::new();
        let (listener, address) = tls::bind().await;
        let state = Arc::new(Shared { port: address.port(), secrets, log: Mutex::default() });
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/msi/token", get(managed_identity_token))
            .route("/secrets", get(list))
            .route("/secrets/{name}/", get(read))
            .with_state(state.clone());
        tls::serve(listener, ca.server_config(&[VAULT_HOST, LOGIN_HOST], false), app);
        FakeVault { address, ca, state }
    }

    /// `https://vault.localhost:<port>/`
    pub fn vault_url(&self) -> String {
        format!("https://{VAULT_HOST}:{}/", self.address.port())
    }

    /// `https://login.localhost:<port>`, for `AZURE_AUTHORITY_HOST`.
    pub fn authority_host(&self) -> String {
        format!("https://{LOGIN_HOST}:{}", self.address.port())
    }

    /// The CA that signed the fake's certificate, in PEM.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// `https://login.localhost:<port>/msi/token`, for `IDENTITY_ENDPOINT` (with
    /// [`IDENTITY_HEADER`] as `IDENTITY_HEADER`).
    pub fn identity_endpoint(&self) -> String {
        format!("https://{LOGIN_HOST}:{}/msi/token", self.address.port())
    }

    /// A client that resolves both host names to the fake and trusts its CA.
    pub fn client(&self) -> reqwest::Client {
        client_to(self.address, &self.ca.pem())
    }

    /// What was asked, in order: `challenge`, `token <tenant> scope=<scope>` (client secret),
    /// `token <tenant> scope=<scope> client_assertion=<assertion>` (client assertion),
    /// `managed identity resource=<resource> client_id=<id or ->`, `list page <n>`,
    /// `get <name>`.
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A client that resolves both host names of a fake at `address` and trusts `ca_pem`: for a
/// test's child process, which has the fake's address and CA but not the fake itself.
pub fn client_to(address: SocketAddr, ca_pem: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .resolve(VAULT_HOST, address)
        .resolve(LOGIN_HOST, address)
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes()).expect("CA PEM"))
        .build()
        .expect("HTTPS client")
}

impl Shared {
    fn note(&self, line: String) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }

    fn item(&self, secret: &VaultSecret) -> Value {
        json!({ "id": format!("https://{VAULT_HOST}:{}/secrets/{}", self.port, secret.name),
                "attributes": { "enabled": secret.enabled, "created": 1493938410, "updated": 1493938410 } })
    }
}

/// The v2.0 token endpoint, `client_credentials` grant only: with `client_secret`, or with a
/// `client_assertion` of type [`JWT_BEARER`] (what azure_identity's workload identity and
/// client assertion credentials send).
async fn token(
    State(fake): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    body: String,
) -> Response {
    let form: HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str);
    let scope = field("scope").unwrap_or_default();
    let client_ok = tenant == TENANT
        && field("client_id") == Some(CLIENT_ID)
        && field("grant_type") == Some("client_credentials");
    if let Some(assertion) = field("client_assertion") {
        fake.note(format!("token {tenant} scope={scope} client_assertion={assertion}"));
        if !client_ok
            || field("client_assertion_type") != Some(JWT_BEARER)
            || assertion != FEDERATED_TOKEN
            || form.contains_key("client_secret")
        {
            let body = json!({ "error": "invalid_client", "error_codes": [70021],
                "error_description": "AADSTS70021: No matching federated identity record found for presented assertion." });
            return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        }
    } else {
        fake.note(format!("token {tenant} scope={scope}"));
        if !client_ok || field("client_secret") != Some(CLIENT_SECRET) {
            let body = json!({ "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided." });
            return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        }
    }
    Json(json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": TOKEN }))
        .into_response()
}

/// The managed identity endpoint as App Service runs it (api-version 2019-08-01): a GET with
/// `resource` (and `client_id` for a user-assigned identity) and the `X-IDENTITY-HEADER` secret.
async fn managed_identity_token(
    State(fake): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let resource = query.get("resource").cloned().unwrap_or_default();
    let client_id = query.get("client_id").map_or("-", String::as_str);
    fake.note(format!("managed identity resource={resource} client_id={client_id}"));
    let secret = headers.get("x-identity-header").and_then(|v| v.to_str().ok());
    if secret != Some(IDENTITY_HEADER)
        || query.get("api-version").map(String::as_str) != Some("2019-08-01")
    {
        let body = json!({ "statusCode": 401, "message": "Unauthorized: missing or wrong X-IDENTITY-HEADER" });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    Json(json!({ "access_token": TOKEN, "expires_on": (now + 3600).to_string(),
                 "resource": resource, "token_type": "Bearer", "client_id": client_id }))
    .into_response()
}

/// The vault's answer to a request without the token: the challenge naming the resource.
fn challenge(fake: &Shared, headers: &HeaderMap) -> Option<Response> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if authorization == Some(&format!("Bearer {TOKEN}")) {
        return None;
    }
    fake.note("challenge".into());
    let authenticate = format!(
        "Bearer authorization=\"https://{LOGIN_HOST}:{}/{TENANT}\", resource=\"https://localhost\"",
        fake.port
    );
    let body = json!({ "error": { "code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer token." } });
    Some(
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, authenticate)], Json(body))
            .into_response(),
    )
}

async fn list(
    State(fake): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(challenge) = challenge(&fake, &headers) {
        return challenge;
    }
    let page: usize = query.get("$skiptoken").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    fake.note(format!("list page {page}"));
    let items: Vec<Value> = fake
        .secrets
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|s| fake.item(s))
        .collect();
    let next = (fake.secrets.len() > page * PAGE_SIZE).then(|| {
        format!(
            "https://{VAULT_HOST}:{}/secrets?api-version=2025-07-01&$skiptoken={}",
            fake.port,
            page + 1
        )
    });
    Json(json!({ "value": items, "nextLink": next })).into_response()
}

async fn read(
    State(fake): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if let Some(challenge) = challenge(&fake, &headers) {
        return challenge;
    }
    fake.note(format!("get {name}"));
    let value = fake.secrets.iter().find(|s| s.name == name).and_then(|s| s.value.clone());
    let Some(value) = value else {
        let body = json!({ "error": { "code": "SecretNotFound", "message": format!("A secret with (name/id) {name} was not found in this key vault.") } });
        return (StatusCode::NOT_FOUND, [("x-ms-error-code", "SecretNotFound")], Json(body))
            .into_response();
    };
    Json(json!({ "value": value, "id": format!("https://{VAULT_HOST}:{}/secrets/{name}/0123abcd", fake.port),
                 "attributes": { "enabled": true } }))
    .into_response()
}
