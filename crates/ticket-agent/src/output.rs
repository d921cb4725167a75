//! The commands that run cycles or read the ledger, and how their results are printed.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use ta_ports::{Ledger, TicketingBackend};
use ta_usecases::fulfill::CycleError;
use ta_usecases::{FulfillReport, SyncReport, render_file};
use tracing::{error, info, warn};

use std::sync::Arc;

use crate::config::Config;
use crate::service::Health;
use crate::wiring::{Agent, Connection};
use crate::{Failure, config_error, work_error};

pub async fn fulfill_once(agent: &Agent) -> Result<(), Failure> {
    let mut failed = Vec::new();
    for connection in &agent.connections {
        match connection.fulfill.run_cycle().await {
            Ok(report) => {
                say!("{}", describe_fulfill(&connection.plan.id, &report));
                if report.orders_retrying > 0 {
                    failed.push(format!(
                        "{}: {} order(s) could not be sent to EasyVista yet; the next fulfill retries them",
                        connection.plan.id, report.orders_retrying
                    ));
                }
            }
            Err(e) => failed.push(format!("{}: fulfill failed: {e}", connection.plan.id)),
        }
    }
    finish(failed)
}

pub async fn sync_once(agent: &Agent) -> Result<(), Failure> {
    let mut failed = Vec::new();
    for connection in &agent.connections {
        match connection.sync.run_cycle(Utc::now()).await {
            Ok(report) => say!("{}", describe_sync(&connection.plan.id, &report)),
            Err(e) => failed.push(format!("{}: sync failed: {e}", connection.plan.id)),
        }
    }
    finish(failed)
}

fn finish(failed: Vec<String>) -> Result<(), Failure> {
    if failed.is_empty() { Ok(()) } else { Err(work_error(anyhow::anyhow!(failed.join("; ")))) }
}

pub fn describe_fulfill(connection: &str, r: &FulfillReport) -> String {
    let mut line = format!(
        "{connection}: fulfill took {} order file(s) and rejected {}; recorded {} new order(s), {} refused at once; \
         tickets opened {}, adopted {}; orders failed {}, to retry {}",
        r.files_taken,
        r.files_rejected,
        r.orders_recorded,
        r.orders_invalid,
        r.tickets_opened,
        r.tickets_adopted,
        r.orders_failed,
        r.orders_retrying
    );
    if let Some(location) = &r.results_location {
        line.push_str(&format!("; {} result(s) written to {location}", r.results_published));
    }
    line
}

pub fn describe_sync(connection: &str, r: &SyncReport) -> String {
    let mut finished: Vec<String> =
        r.finished.iter().map(|(outcome, n)| format!("{n} {outcome}")).collect();
    finished.sort();
    let finished = if finished.is_empty() { "none".to_owned() } else { finished.join(", ") };
    let mut line = format!(
        "{connection}: sync followed {} ticket(s) in {} request(s) ({} read); finished: {finished}",
        r.tickets_followed,
        r.requests,
        if r.full_read { "full" } else { "changes only" }
    );
    if let Some(location) = &r.results_location {
        line.push_str(&format!("; {} result(s) written to {location}", r.results_published));
    }
    line
}

/// `run`: each connection alternates fulfill and sync on their intervals, one cycle at a time,
/// until Ctrl-C or SIGTERM; then no new work starts and in-flight work gets a grace period.
/// `signals` is listening from the moment the command started, so a stop asked for while the
/// settings load or EasyVista is first checked ends the command cleanly too.
pub async fn run_until_stopped(agent: Agent, mut signals: StopSignals) -> Result<(), Failure> {
    let metrics = crate::service::install_metrics().map_err(work_error)?;
    let health = Arc::new(Health::default());
    health.ledger_open(true);
    if agent.config.agent.http.enabled {
        crate::service::serve(&agent.config.agent.http, health.clone(), metrics)
            .await
            .map_err(config_error)?;
    }
    let first_checks = async {
        for connection in &agent.connections {
            let reachable = connection.fulfill.backend.check_connection().await;
            if let Err(e) = &reachable {
                warn!(connection = %connection.plan.id, error = %e, "EasyVista does not answer yet; cycles will retry");
            }
            health.reachable(&connection.plan.id, reachable.is_ok());
        }
    };
    tokio::select! {
        _ = first_checks => {}
        _ = signals.wait() => {
            info!("stop requested before the first cycle; nothing was under way");
            return Ok(());
        }
    }

    let stop = agent.stop.clone();
    let grace = Duration::from_secs(agent.config.agent.shutdown_grace_seconds);
    let jitter = agent.config.agent.jitter_percent.min(50);
    let (stopped_tx, stopped_rx) = tokio::sync::watch::channel(false);

    let mut tasks = tokio::task::JoinSet::new();
    for connection in agent.connections {
        let mut stopped = stopped_rx.clone();
        let health = health.clone();
        tasks.spawn(async move {
            run_connection(&connection, jitter, &health, &mut stopped).await;
        });
    }
    info!(connections = tasks.len(), "agent running; Ctrl-C or SIGTERM stops it");

    signals.wait().await;
    info!(grace_seconds = grace.as_secs(), "stop requested; finishing in-flight work");
    stop.stop();
    let _ = stopped_tx.send(true);
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        warn!("grace period over; abandoning in-flight calls (the ledger resumes them on restart)");
        tasks.abort_all();
    }
    info!("agent stopped");
    Ok(())
}

async fn run_connection(
    connection: &Connection,
    jitter: u32,
    health: &Health,
    stopped: &mut tokio::sync::watch::Receiver<bool>,
) {
    let id = &connection.plan.id;
    let (fulfill_every, sync_every) = (connection.plan.fulfill_every, connection.plan.sync_every);
    // Agents started together (after a reboot, say) do not call EasyVista in step either.
    let mut next_fulfill = tokio::time::Instant::now() + first_delay(fulfill_every, jitter);
    let mut next_sync = tokio::time::Instant::now() + first_delay(sync_every, jitter);
    loop {
        let (is_fulfill, at) =
            if next_fulfill <= next_sync { (true, next_fulfill) } else { (false, next_sync) };
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
        let (cycle, outcome) = if is_fulfill {
            next_fulfill = tokio::time::Instant::now() + jittered(fulfill_every, jitter);
            let outcome = connection.fulfill.run_cycle().await;
            ("fulfill", outcome.map(|r| (describe_fulfill(id, &r), fulfill_reached(&r))))
        } else {
            next_sync = tokio::time::Instant::now() + jittered(sync_every, jitter);
            let outcome = connection.sync.run_cycle(Utc::now()).await;
            ("sync", outcome.map(|r| (describe_sync(id, &r), (r.requests > 0).then_some(true))))
        };
        match outcome {
            Ok((summary, reached)) => {
                info!(connection = %id, cycle, "{summary}");
                health.ledger_open(true);
                if let Some(reached) = reached {
                    health.reachable(id, reached);
                }
                metrics::gauge!("ta_last_successful_cycle_timestamp_seconds", "connection" => id.clone(), "cycle" => cycle)
                    .set(Utc::now().timestamp() as f64);
            }
            Err(e) => {
                error!(connection = %id, cycle, error = %e, class = e.class(), "{cycle} cycle failed");
                match &e {
                    CycleError::Backend { .. } => health.reachable(id, false),
                    CycleError::Ledger(_) => health.ledger_open(false),
                    CycleError::Store(_) => {}
                }
                metrics::counter!("ta_cycle_failures_total", "connection" => id.clone(), "cycle" => cycle).increment(1);
                // Fulfill has counted the refusal that ends its cycle with the order it hit;
                // every other cycle failure is counted here.
                let counted = cycle == "fulfill" && matches!(e, CycleError::Backend { .. });
                if !counted {
                    metrics::counter!("ta_errors_total", "connection" => id.clone(), "class" => e.class()).increment(1);
                }
            }
        }
        update_ticket_gauges(connection).await;
    }
}

/// Did a fulfill cycle reach EasyVista? `None` when it sent nothing; `false` when every order
/// it tried is to be retried (EasyVista did not answer), `true` when any call got an answer.
fn fulfill_reached(report: &FulfillReport) -> Option<bool> {
    let answered = report.tickets_opened + report.tickets_adopted + report.orders_failed;
    match (answered, report.orders_retrying) {
        (0, 0) => None,
        (0, _) => Some(false),
        _ => Some(true),
    }
}

/// Open tickets and the age of the oldest, from the ledger.
async fn update_ticket_gauges(connection: &Connection) {
    let id = connection.plan.id.clone();
    let Ok(open) = connection.fulfill.ledger.open_tickets(&id).await else { return };
    let oldest = open.iter().map(|t| t.opened_at).min();
    metrics::gauge!("ta_open_tickets", "connection" => id.clone()).set(open.len() as f64);
    let age = oldest.map(|t| (Utc::now() - t).num_milliseconds() as f64 / 1000.0).unwrap_or(0.0);
    metrics::gauge!("ta_oldest_open_ticket_age_seconds", "connection" => id).set(age);
}

/// How long the first cycle waits: nothing without jitter, else up to `percent` of the interval.
fn first_delay(interval: Duration, percent: u32) -> Duration {
    match spread(interval, percent) {
        0.0 => Duration::ZERO,
        spread => Duration::from_secs_f64(rand::rng().random_range(0.0..=spread)),
    }
}

/// `percent` of `interval`, in seconds: how far jitter may move a wait.
fn spread(interval: Duration, percent: u32) -> f64 {
    interval.as_secs_f64() * f64::from(percent) / 100.0
}

/// Spreads cycles of many agents apart: the interval plus or minus up to `percent` of it.
fn jittered(interval: Duration, percent: u32) -> Duration {
    let spread = spread(interval, percent);
    if spread == 0.0 {
        return interval;
    }
    let offset = rand::rng().random_range(-spread..=spread);
    Duration::from_secs_f64((interval.as_secs_f64() + offset).max(0.1))
}

/// Ctrl-C and SIGTERM, listened to from the moment this is made: a signal that arrives
/// before anyone waits is kept, not lost, and does not end the process abruptly.
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    /// Must be called inside the runtime.
    pub fn listen() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            StopSignals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// Waits for Ctrl-C or SIGTERM.
    pub async fn wait(&mut self) {
        #[cfg(unix)]
        {
            async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = next(&mut self.interrupt) => {}
                _ = next(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `render`: the tickets an order file would open.
pub fn render(config: &Config, file: &Path, json: bool) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        config_error(anyhow::anyhow!("cannot read order file {}: {e}", file.display()))
    })?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Each order is drafted with its own connection's recipient field and origin.
    let drafts = config
        .connection_ids()
        .iter()
        .map(|id| config.plan(id).map(|plan| (id.to_ascii_lowercase(), plan.drafts)))
        .collect::<anyhow::Result<std::collections::HashMap<_, _>>>()
        .map_err(config_error)?;
    let drafts_of = |connection: &str| {
        drafts.get(&connection.to_ascii_lowercase()).cloned().unwrap_or_default()
    };
    let rendered = render_file(&name, &text, &config.mappings, &drafts_of)
        .map_err(|e| config_error(anyhow::anyhow!(e)))?;

    if json {
        let value: Vec<serde_json::Value> = rendered
            .iter()
            .map(|r| {
                serde_json::json!({
                    "position": r.position,
                    "assignment_id": r.assignment_id,
                    "resource_type": r.resource_type,
                    "change_type": r.change_type,
                    "connection": r.connection,
                    "ticket": r.ticket.as_ref().ok(),
                    "error": r.ticket.as_ref().err(),
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        return Ok(());
    }
    for r in &rendered {
        say!("── order #{} ──", r.position);
        match &r.ticket {
            Ok(t) => {
                let catalog = match &t.catalog {
                    ta_domain::CatalogRef::Code(code) => format!("catalog_code {code}"),
                    ta_domain::CatalogRef::Guid(guid) => format!("catalog_guid {guid}"),
                };
                say!(
                    "assignment:  {} ({} {})",
                    r.assignment_id.as_deref().unwrap_or("?"),
                    r.change_type.as_deref().unwrap_or("?"),
                    r.resource_type.as_deref().unwrap_or("?")
                );
                say!("connection:  {}", r.connection.as_deref().unwrap_or("?"));
                say!("reference:   {}", t.external_reference);
                say!("catalog:     {catalog}");
                say!("recipient:   {} ({:?})", t.recipient, t.recipient_kind);
                let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                say!(
                    "urgency:     {}   severity: {}   impact: {}",
                    opt(&t.urgency_id),
                    opt(&t.severity_id),
                    opt(&t.impact_id)
                );
                say!("title:       {}", t.title);
                say!("description:");
                for line in t.description.lines() {
                    say!("  {line}");
                }
            }
            Err(e) => say!("no ticket: {e}"),
        }
    }
    Ok(())
}

/// `status`: the ledger's orders, newest first.
pub async fn status(
    config: &Config,
    connection: Option<String>,
    json: bool,
) -> Result<(), Failure> {
    let path = config.ledger_path();
    if !path.exists() {
        return Err(config_error(anyhow::anyhow!(
            "no ledger at {} yet (setting TicketAgent:LedgerPath): run fulfill first",
            path.display()
        )));
    }
    if let Some(wanted) = &connection
        && !config.settings.connection_ids().iter().any(|id| id.eq_ignore_ascii_case(wanted))
    {
        return Err(config_error(anyhow::anyhow!(
            "--connection {wanted}: no such connection in {} (known: {})",
            ta_settings::SETTINGS_FILE_NAME,
            config.settings.connection_ids().join(", ")
        )));
    }
    let ledger = ta_ledger::SqliteLedger::open(&path).map_err(work_error)?;
    let orders = ledger.orders(connection).await.map_err(work_error)?;
    if json {
        say!("{}", serde_json::to_string_pretty(&orders).unwrap_or_default());
        return Ok(());
    }
    print_table(&orders);
    Ok(())
}

pub fn print_table(orders: &[ta_ports::OrderRecord]) {
    let rows: Vec<[String; 8]> = orders
        .iter()
        .map(|o| {
            [
                o.assignment_id.clone().unwrap_or_else(|| "-".into()),
                o.change_type.clone(),
                o.resource_type.clone(),
                o.ticket.clone().unwrap_or_else(|| "-".into()),
                format!("{:?}", o.stage).to_lowercase(),
                o.state.clone().unwrap_or_else(|| "-".into()),
                o.last_poll
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_else(|| "-".into()),
                o.message.clone().or_else(|| o.last_error.clone()).unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "ASSIGNMENT",
        "CHANGE",
        "RESOURCE TYPE",
        "TICKET",
        "STAGE",
        "STATE",
        "LAST POLL (UTC)",
        "MESSAGE",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate().take(7) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i < 7 {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                out.push_str(cell);
            }
        }
        out.trim_end().to_owned()
    };
    say!("{}", line(header.to_vec()));
    for row in &rows {
        say!("{}", line(row.iter().map(String::as_str).collect()));
    }
    say!("{} order(s)", rows.len());
}

/// `check`: settings, mappings and templates are already loaded (or we would not be here);
/// test each connection with a cheap call.
pub async fn check(config: Config) -> Result<(), Failure> {
    say!("settings: {} loaded", config.dir.join(ta_settings::SETTINGS_FILE_NAME).display());
    say!("mappings: {} resource type(s) with their templates", config.mappings.len());
    // Configuration problems found along the way; check reports them all, then fails.
    let mut problems = Vec::new();
    for path in crate::config::unknown_agent_settings(&config.settings) {
        say!("settings: FAILED: {path} is not a setting of the agent (misspelled?)");
        problems.push(format!("{path} is not a setting of the agent"));
    }
    for warning in &config.mapping_warnings {
        say!("mappings: FAILED: {warning}");
        problems.push(warning.clone());
    }
    let plans = config.plans().map_err(config_error)?;
    let template_errors = config.mappings.check_templates();
    for error in &template_errors {
        say!("templates: FAILED: {error}");
    }
    if !template_errors.is_empty() {
        return Err(config_error(anyhow::anyhow!(
            "{} template(s) fail to render a sample order: {}",
            template_errors.len(),
            template_errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        )));
    }
    say!("templates: every mapping renders a sample order of each change type");
    let mut failed = Vec::new();
    for plan in plans {
        let id = plan.id.clone();
        for key in ["Server", "Login", "Password", "Token", "Account"] {
            let path = format!("Connections:{id}:{key}");
            if let Some(origin) = config.settings.origin_of(&path) {
                say!("{id}: {path} (from {origin})");
            }
        }
        say!(
            "{id}: orders from {}, results to {}",
            plan.orders_path.display(),
            plan.results_path.display()
        );
        if !plan.orders_path.is_dir() {
            let reason = format!(
                "the orders folder {} does not exist (setting OrdersPath; Identity Manager writes its order files there)",
                plan.orders_path.display()
            );
            say!("{id}: FAILED: {reason}");
            problems.push(format!("{id}: {reason}"));
        }
        let client = match ta_easyvista::EasyVistaClient::new(plan.easyvista) {
            Ok(client) => client,
            Err(e) => {
                say!("{id}: FAILED: {e}");
                problems.push(format!("connection {id}: {e}"));
                continue;
            }
        };
        match client.check_connection().await {
            Ok(answer) => say!("{id}: EasyVista answers: {answer}"),
            Err(e) => {
                say!("{id}: FAILED: {e}");
                failed.push(format!("EasyVista check failed for {id}: {e}"));
            }
        }
    }
    if !problems.is_empty() {
        return Err(config_error(anyhow::anyhow!(problems.join("; "))));
    }
    if !failed.is_empty() {
        return Err(work_error(anyhow::anyhow!(failed.join("; "))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_percentage_and_varies() {
        let interval = Duration::from_secs(100);
        let draws: Vec<Duration> = (0..200).map(|_| jittered(interval, 10)).collect();
        assert!(
            draws.iter().all(|d| *d >= Duration::from_secs(90) && *d <= Duration::from_secs(110))
        );
        assert!(draws.iter().any(|d| *d != draws[0]), "200 draws were all {:?}", draws[0]);
        assert_eq!(jittered(interval, 0), interval);
    }

    #[test]
    fn the_first_cycle_waits_only_with_jitter_and_at_most_its_share() {
        let interval = Duration::from_secs(100);
        assert_eq!(first_delay(interval, 0), Duration::ZERO);
        let draws: Vec<Duration> = (0..200).map(|_| first_delay(interval, 10)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_secs(10)));
        assert!(draws.iter().any(|d| *d != draws[0]));
    }

    #[test]
    fn a_fulfill_cycle_reached_easyvista_only_when_something_answered() {
        let report = |opened, failed, retrying| FulfillReport {
            tickets_opened: opened,
            orders_failed: failed,
            orders_retrying: retrying,
            ..FulfillReport::default()
        };
        assert_eq!(fulfill_reached(&report(0, 0, 0)), None, "nothing sent says nothing");
        assert_eq!(fulfill_reached(&report(0, 0, 5)), Some(false), "every create unanswered");
        assert_eq!(fulfill_reached(&report(0, 1, 5)), Some(true), "a refusal is an answer");
        assert_eq!(fulfill_reached(&report(3, 0, 1)), Some(true));
    }
}
