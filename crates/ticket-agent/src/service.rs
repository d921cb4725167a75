//! Running as a service: the optional HTTP endpoint (`/healthz`, `/readyz`, `/metrics` in
//! Prometheus format) and the health state the run loop keeps up to date.
//!
//! It is off unless `TicketAgent:Http:Enabled` is true, and binds to loopback unless told
//! otherwise. It serves no settings, orders or secrets.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use tracing::{info, warn};

/// `TicketAgent:Http`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HttpSection {
    pub enabled: bool,
    /// Address and port to listen on; loopback by default.
    pub listen: String,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection { enabled: false, listen: "127.0.0.1:9464".into() }
    }
}

/// What `/readyz` answers from: each part must be true.
#[derive(Debug, Default)]
pub struct Health {
    ledger_open: Mutex<bool>,
    /// EasyVista answered the last cycle (or the start-up check) of each connection.
    reachable: Mutex<BTreeMap<String, bool>>,
}

impl Health {
    pub fn ledger_open(&self, open: bool) {
        *self.ledger_open.lock().unwrap_or_else(|e| e.into_inner()) = open;
    }

    pub fn reachable(&self, connection: &str, reachable: bool) {
        self.reachable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(connection.to_owned(), reachable);
    }

    fn report(&self) -> (bool, serde_json::Value) {
        let ledger = *self.ledger_open.lock().unwrap_or_else(|e| e.into_inner());
        let connections = self.reachable.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let ready = ledger && !connections.is_empty() && connections.values().all(|r| *r);
        let detail = serde_json::json!({
            "ready": ready,
            "settings_loaded": true,
            "ledger_open": ledger,
            "easyvista_reachable": connections,
        });
        (ready, detail)
    }
}

/// Installs the process-wide metrics recorder; every `metrics::counter!` from now on is kept.
pub fn install_metrics() -> Result<PrometheusHandle> {
    let seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
    let recorder =
        PrometheusBuilder::new().set_buckets(&seconds).context("metrics buckets")?.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).context("a metrics recorder is already installed")?;
    describe_metrics();
    Ok(handle)
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("ta_orders_received_total", "orders recorded in the ledger");
    describe_counter!("ta_order_files_rejected_total", "order files moved to Rejected/");
    describe_counter!(
        "ta_tickets_opened_total",
        "tickets opened (how=created) or found again by reference (how=adopted)"
    );
    describe_counter!(
        "ta_orders_failed_total",
        "orders that ended in an error without a ticket outcome"
    );
    describe_counter!("ta_ticket_outcomes_total", "tickets that ended, by outcome");
    describe_counter!(
        "ta_errors_total",
        "errors by class: failed calls to the service desk, and whole cycles that failed (ledger, store)"
    );
    describe_counter!("ta_results_published_total", "result rows published to Identity Manager");
    describe_counter!("ta_cycle_failures_total", "fulfill or sync cycles that stopped on an error");
    describe_counter!(
        "ta_easyvista_requests_total",
        "HTTP requests to EasyVista, by route and status"
    );
    describe_histogram!(
        "ta_easyvista_request_duration_seconds",
        "latency of HTTP requests to EasyVista, by route"
    );
    describe_gauge!("ta_open_tickets", "tickets being followed");
    describe_gauge!("ta_oldest_open_ticket_age_seconds", "age of the oldest ticket still open");
    describe_gauge!(
        "ta_last_successful_cycle_timestamp_seconds",
        "Unix time of the last cycle that completed"
    );
}

/// Starts the HTTP endpoint; returns the address it listens on.
pub async fn serve(
    section: &HttpSection,
    health: Arc<Health>,
    metrics: PrometheusHandle,
) -> Result<SocketAddr> {
    let address: SocketAddr = section.listen.parse().with_context(|| {
        format!("setting TicketAgent:Http:Listen: {:?} is not an address:port", section.listen)
    })?;
    if !address.ip().is_loopback() {
        warn!(%address, "the HTTP endpoint listens beyond this machine; protect it with a firewall");
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("setting TicketAgent:Http:Listen: cannot listen on {address}"))?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state((health, metrics));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(error = %e, "the HTTP endpoint stopped");
        }
    });
    info!(address = %bound, "HTTP endpoint listening: /healthz /readyz /metrics");
    Ok(bound)
}

type AppState = (Arc<Health>, PrometheusHandle);

async fn readyz(State((health, _)): State<AppState>) -> impl IntoResponse {
    let (ready, detail) = health.report();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(detail))
}

async fn render_metrics(State((_, handle)): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
}
