//! A fake CyberArk Central Credential Provider over HTTPS that demands a client certificate of
//! its own test CA, serving accounts from a JSON object keyed by account name.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::tls::{self, TestCa};

/// The safe and AppID the fake answers for; anything else is refused as CyberArk would.
pub const SAFE: &str = "Agents";
pub const APP_ID: &str = "TicketAgent";
/// Files [`FakeCcp::write_files`] leaves in a folder.
pub const CLIENT_PFX_FILE: &str = "client.pfx";
pub const CA_FILE: &str = "ca.pem";

/// The query of every request that passed the TLS handshake.
type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// The running fake, its CA and a client certificate it accepts.
pub struct FakeCcp {
    pub address: SocketAddr,
    ca: TestCa,
    client_pfx: Vec<u8>,
    seen: Seen,
}

impl FakeCcp {
    /// Serves `accounts` (`{"<account>": {"UserName": …, "Content": …, "Address": …}}`) as
    /// `localhost` and `127.0.0.1`; the client certificate it accepts is opened by `pfx_password`.
    pub async fn start(accounts: Value, pfx_password: &str) -> FakeCcp {
        let ca = TestCa::new();
        let client_pfx = ca.client_pfx("ticket-agent", pfx_password);
        let seen: Seen = Arc::default();
        let app = axum::Router::new()
            .route("/AIMWebService/api/Accounts", get(accounts_endpoint))
            .with_state((Arc::new(accounts), seen.clone()));
        let (listener, address) = tls::bind().await;
        tls::serve(listener, ca.server_config(&["localhost", "127.0.0.1"], true), app);
        FakeCcp { address, ca, client_pfx, seen }
    }

    /// `https://localhost:<port>`
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.address.port())
    }

    /// `https://127.0.0.1:<port>`: the same server, reached without resolving a name.
    pub fn ip_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.address.port())
    }

    /// Writes the client certificate (`client.pfx`) and the CA (`ca.pem`) into `dir`.
    pub fn write_files(&self, dir: &Path) {
        std::fs::write(dir.join(CLIENT_PFX_FILE), &self.client_pfx).expect("client.pfx written");
        std::fs::write(dir.join(CA_FILE), self.ca.pem()).expect("ca.pem written");
    }

    /// The query of every request that passed the handshake, in order.
    pub fn seen(&self) -> Vec<HashMap<String, String>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn accounts_endpoint(
    State((accounts, seen)): State<(Arc<Value>, Seen)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    seen.lock().unwrap_or_else(|p| p.into_inner()).push(query.clone());
    let object = query.get("Object").cloned().unwrap_or_default();
    if query.get("AppID").map(String::as_str) != Some(APP_ID) {
        let body = json!({ "ErrorCode": "APPAP306E", "ErrorMsg": "Failed to authenticate the application" });
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    match accounts.get(&object) {
        Some(account) if query.get("Safe").map(String::as_str) == Some(SAFE) => {
            Json(account.clone()).into_response()
        }
        _ => {
            let message = format!(
                "Password object matching query [Safe={SAFE};Folder=Root;Object={object}] was not found"
            );
            (StatusCode::NOT_FOUND, Json(json!({ "ErrorCode": "APPAP004E", "ErrorMsg": message })))
                .into_response()
        }
    }
}
