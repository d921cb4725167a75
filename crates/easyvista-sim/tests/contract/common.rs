//! A simulator and an HTTP client wired together, with small helpers for the calls tests make.

use easyvista_sim::{RunningSimulator, Simulator, SimulatorConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct Harness {
    pub sim: RunningSimulator,
    pub http: reqwest::Client,
}

impl Harness {
    pub async fn start() -> Self {
        Self::with(SimulatorConfig::default()).await
    }

    pub async fn with(config: SimulatorConfig) -> Self {
        // reqwest is built without a TLS provider; plain HTTP still needs one installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = Simulator::start(config).await.expect("simulator starts");
        let http = reqwest::Client::builder().build().expect("client builds");
        Self { sim, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.base_url(), path)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("{}_admin/{}", self.sim.server_url(), path)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .basic_auth(self.sim.login(), Some(self.sim.password()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request is answered");
        let status = response.status();
        let text = response.text().await.expect("body is read");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("body is json")
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// Creates a ticket from one item and returns its RFC number.
    pub async fn create(&self, item: Value) -> String {
        let (status, body) = self.post("requests", json!({ "requests": [item] })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        rfc_of(&body)
    }

    pub async fn ticket(&self, rfc: &str) -> Value {
        let (status, body) = self.get(&format!("requests/{rfc}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// The RFC number is the last segment of the HREF.
pub fn rfc_of(body: &Value) -> String {
    let href = body["HREF"].as_str().expect("HREF is a string");
    href.rsplit('/').next().expect("HREF has segments").to_string()
}

/// The error text inside a 590 body, whose `message` is a string holding JSON.
pub fn rejection(body: &Value) -> String {
    let message = body["message"].as_str().expect("message is a string");
    let correlation = body["correlationId"].as_str().expect("correlationId is a string");
    let suffix = format!(" (2013-{correlation})");
    let inner =
        message.strip_suffix(&suffix).expect("message ends with the code and correlation id");
    let inner: Value = serde_json::from_str(inner).expect("message holds json");
    inner["error"].as_str().expect("inner error is a string").to_string()
}

pub fn records(body: &Value) -> &Vec<Value> {
    body["records"].as_array().expect("records is an array")
}

pub fn column(body: &Value, name: &str) -> Vec<String> {
    records(body).iter().map(|r| r[name].as_str().unwrap_or("<missing>").to_string()).collect()
}
