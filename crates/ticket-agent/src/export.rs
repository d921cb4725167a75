//! `ticket-agent export`: reads the export settings of each connection, wires the EasyVista
//! client to an export folder and runs the export use case, showing progress on standard error.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use ta_easyvista::{EasyVistaClient, EasyVistaConfig};
use ta_settings::SettingsTree;
use ta_usecases::{Export, ExportEntity, ExportOptions, ExportProgress, ExportSettings};
use ta_usercube::ExportFolder;
use tracing::info;

use crate::config::{AGENT_SECTION, Sources, load_settings};
use crate::{Failure, config_error, work_error};

/// The table name of employees, as Identity Manager's EasyVista export names it.
pub const EMPLOYEES: &str = "Employees";

/// What the command line asks.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Export every record, ignoring the cookies of previous runs.
    #[arg(long)]
    full: bool,
    /// Only this connection (default: every connection with export settings).
    #[arg(long, value_name = "ID")]
    connection: Option<String>,
    /// Write the tables here instead of the configured OutputPath.
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
}

/// `TicketAgent:Export`, overridable key by key in `TicketAgent:Connections:<Id>:Export`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExportSection {
    /// The folder the tables are written to.
    pub output_path: Option<PathBuf>,
    /// The folder of the cookies (default: the output folder).
    pub cookie_path: Option<PathBuf>,
    /// Whether to export employees (default true).
    pub employees: Option<bool>,
    /// The employee columns, dotted for nested ones (`LOCATION.LOCATION_PATH`); unset takes the
    /// columns of the first record.
    pub employee_columns: Option<Vec<String>>,
    /// Columns per custom entity, by its `ExportSettingsOptions` name.
    pub columns: Option<BTreeMap<String, Vec<String>>>,
    /// Records per page (default: the connection's PageSize).
    pub page_size: Option<usize>,
    /// How far before the newest LAST_UPDATE an incremental export starts again (default 600).
    pub incremental_overlap_seconds: Option<u64>,
}

impl ExportSection {
    fn or(self, defaults: &ExportSection) -> ExportSection {
        ExportSection {
            output_path: self.output_path.or_else(|| defaults.output_path.clone()),
            cookie_path: self.cookie_path.or_else(|| defaults.cookie_path.clone()),
            employees: self.employees.or(defaults.employees),
            employee_columns: self.employee_columns.or_else(|| defaults.employee_columns.clone()),
            columns: self.columns.or_else(|| defaults.columns.clone()),
            page_size: self.page_size.or(defaults.page_size),
            incremental_overlap_seconds: self
                .incremental_overlap_seconds
                .or(defaults.incremental_overlap_seconds),
        }
    }
}

/// The keys of `Connections:<Id>` an export reads beyond the common ones.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectionExportKeys {
    /// Entity name to the REST API URL of its EasyVista view.
    export_settings_options: BTreeMap<String, String>,
}

/// `TicketAgent:Export` and `TicketAgent:Connections:<Id>:Export` with the connection options.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ExportAgentKeys {
    export: ExportSection,
    connections: BTreeMap<String, ConnectionExportOptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectionExportOptions {
    export: ExportSection,
}

/// One connection's export, resolved.
struct ExportPlan {
    id: String,
    output: PathBuf,
    cookies: PathBuf,
    entities: Vec<ExportEntity>,
    settings: ExportSettings,
    easyvista: EasyVistaConfig,
}

pub async fn run(
    dir: &Path,
    args: ExportArgs,
    log_format: crate::logging::LogFormat,
) -> Result<(), Failure> {
    let settings = load_settings(dir, Sources::All).await.map_err(config_error)?;
    crate::logging::init(log_format, Some(&settings));
    let plans = plans(dir, &settings, &args).map_err(config_error)?;

    for plan in plans {
        let client = EasyVistaClient::new(plan.easyvista.clone())
            .with_context(|| format!("connection {}", plan.id))
            .map_err(config_error)?;
        let folder = ExportFolder::new(&plan.output, &plan.id).with_cookie_folder(&plan.cookies);
        let export = Export {
            connection: plan.id.clone(),
            source: Arc::new(client),
            sink: Arc::new(folder),
            entities: plan.entities.clone(),
            settings: plan.settings,
        };
        let progress = Progress::new(&plan.id);
        let report = export
            .run(ExportOptions { complete: args.full }, &progress)
            .await
            .map_err(work_error)?;
        for table in report.tables {
            let mode = if table.incremental { "incremental" } else { "complete" };
            say!(
                "{}: {} {} rows ({mode}) in {}",
                plan.id,
                table.entity,
                table.rows,
                table.location
            );
        }
    }
    Ok(())
}

/// The connections to export: the one asked, else those with export settings, else the only one.
fn plans(dir: &Path, settings: &SettingsTree, args: &ExportArgs) -> Result<Vec<ExportPlan>> {
    let agent: ExportAgentKeys = settings.section(AGENT_SECTION)?.unwrap_or_default();
    let ids = match &args.connection {
        Some(id) => vec![settings.connection(id)?.id],
        None => {
            let all = settings.connection_ids();
            let with_export: Vec<String> = all
                .iter()
                .filter(|id| {
                    let keys: ConnectionExportKeys =
                        settings.connection_section(id).unwrap_or_default();
                    !keys.export_settings_options.is_empty()
                        || agent.connections.keys().any(|k| k.eq_ignore_ascii_case(id))
                })
                .cloned()
                .collect();
            match (with_export.is_empty(), all.len()) {
                (false, _) => with_export,
                (true, 1) => all,
                (true, 0) => bail!(
                    "no connection in the Connections section of {}",
                    ta_settings::SETTINGS_FILE_NAME
                ),
                (true, _) => bail!(
                    "several connections and none with ExportSettingsOptions or {AGENT_SECTION}:Connections:<Id>:Export: choose one with --connection ({})",
                    all.join(", ")
                ),
            }
        }
    };
    ids.iter().map(|id| plan(dir, settings, &agent, id, args)).collect()
}

fn plan(
    dir: &Path,
    settings: &SettingsTree,
    agent: &ExportAgentKeys,
    id: &str,
    args: &ExportArgs,
) -> Result<ExportPlan> {
    let own = agent
        .connections
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(id))
        .map(|(_, options)| options.export.clone())
        .unwrap_or_default();
    let export = own.or(&agent.export);
    let resolve = |path: &Path| if path.is_absolute() { path.to_owned() } else { dir.join(path) };
    let setting = |key: &str| {
        format!("{AGENT_SECTION}:Connections:{id}:Export:{key} (or {AGENT_SECTION}:Export:{key})")
    };

    let output =
        args.output.clone().or_else(|| export.output_path.as_deref().map(resolve)).ok_or_else(
            || anyhow!("setting {} is required (or give --output)", setting("OutputPath")),
        )?;
    let cookies = export.cookie_path.as_deref().map(resolve).unwrap_or_else(|| output.clone());

    let keys: ConnectionExportKeys = settings.connection_section(id)?;
    let mut entities = Vec::new();
    if export.employees.unwrap_or(true) {
        entities.push(ExportEntity {
            name: EMPLOYEES.to_owned(),
            resource: "employees".to_owned(),
            columns: export.employee_columns.clone().unwrap_or_default(),
        });
    }
    let columns = export.columns.clone().unwrap_or_default();
    for (name, url) in &keys.export_settings_options {
        if name.eq_ignore_ascii_case(EMPLOYEES) {
            bail!(
                "setting Connections:{id}:ExportSettingsOptions:{name}: Employees is exported without a view; use {} for its columns",
                setting("EmployeeColumns")
            );
        }
        if url.trim().is_empty() {
            bail!("setting Connections:{id}:ExportSettingsOptions:{name} is empty");
        }
        let chosen =
            columns.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, c)| c.clone());
        entities.push(ExportEntity {
            name: name.clone(),
            resource: url.trim().to_owned(),
            columns: chosen.unwrap_or_default(),
        });
    }
    if entities.is_empty() {
        bail!(
            "connection {id}: nothing to export ({} is false and there is no ExportSettingsOptions)",
            setting("Employees")
        );
    }

    let easyvista = crate::config::easyvista_config(dir, settings, id)?;
    let export_settings = ExportSettings {
        page_size: export.page_size.unwrap_or(easyvista.page_size).max(1),
        overlap: chrono::Duration::seconds(
            i64::try_from(export.incremental_overlap_seconds.unwrap_or(600))
                .unwrap_or(i64::MAX / 1000),
        ),
        ..ExportSettings::default()
    };
    Ok(ExportPlan {
        id: id.to_owned(),
        output,
        cookies,
        entities,
        settings: export_settings,
        easyvista,
    })
}

/// A progress bar on a terminal; elsewhere a log line at most every ten seconds.
struct Progress {
    connection: String,
    bar: Option<indicatif::ProgressBar>,
    state: Mutex<(Instant, Instant)>,
}

const LOG_EVERY: Duration = Duration::from_secs(10);

impl Progress {
    fn new(connection: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {prefix} {human_pos} rows ({per_sec}) {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar
        });
        let now = Instant::now();
        Progress { connection: connection.to_owned(), bar, state: Mutex::new((now, now)) }
    }
}

impl ExportProgress for Progress {
    fn started(&self, entity: &str, _incremental: bool) {
        let now = Instant::now();
        if let Ok(mut state) = self.state.lock() {
            *state = (now, now);
        }
        if let Some(bar) = &self.bar {
            bar.reset();
            bar.set_prefix(format!("{}_{entity}", self.connection));
            bar.enable_steady_tick(Duration::from_millis(200));
        }
    }

    fn rows(&self, entity: &str, written: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(written);
            return;
        }
        let Ok(mut state) = self.state.lock() else { return };
        let (started, logged) = &mut *state;
        if logged.elapsed() >= LOG_EVERY {
            *logged = Instant::now();
            let rate = written as f64 / started.elapsed().as_secs_f64().max(0.001);
            info!(connection = %self.connection, entity, rows = written, rows_per_second = rate.round() as u64, "exporting");
        }
    }

    fn finished(&self, _entity: &str, written: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(written);
            bar.finish_and_clear();
        }
    }
}
