//! `ticket-agent`: the command line. It parses arguments, loads settings, wires the adapters
//! to the use cases and prints what happened. No business rule lives here.

/// Prints a line on standard output. A reader that went away (`ticket-agent status | head`)
/// ends the output quietly instead of a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod config;
mod demo;
mod export;
mod logging;
mod output;
mod protect;
mod service;
mod wiring;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Sources};
use crate::wiring::Agent;

/// Opens EasyVista tickets for Identity Manager's manual provisioning orders, follows them,
/// and reports each order's provisioning state back.
///
/// Exit status: 0 done; 1 the work could not be done (EasyVista refused or did not answer, the
/// ledger or a folder failed); 2 bad command line or configuration (settings, mappings,
/// templates).
#[derive(Debug, Parser)]
#[command(name = "ticket-agent", version, propagate_version = true)]
struct Cli {
    /// The configuration folder: appsettings.agent.json, the mapping XML, the templates.
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    config: PathBuf,

    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Take waiting order files, record every order and open its ticket (one cycle).
    Fulfill,
    /// Read the open tickets and report the provisioning state of those that ended (one cycle).
    Sync,
    /// Run fulfill and sync on their intervals until Ctrl-C or SIGTERM.
    Run,
    /// Show the tickets an order file would open, without contacting anything.
    Render {
        /// The order file (JSON with ProvisioningOrdersList).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Validate settings, mappings and templates, then test each EasyVista connection.
    Check,
    /// List orders with their ticket, state and last poll, from the ledger.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Only this connection.
        #[arg(long)]
        connection: Option<String>,
    },
    /// Run the whole flow against a built-in EasyVista simulator with the example files.
    Demo {
        /// Keep the demo's files in this folder (default: a new temporary folder).
        #[arg(long, value_name = "DIR")]
        work: Option<PathBuf>,
    },
    /// Protect setting values with the EncryptionCertificate, for appsettings.encrypted.agent.json.
    Protect(protect::ProtectArgs),
    /// Export employees and the ExportSettingsOptions entities to CSV for Identity Manager.
    Export(export::ExportArgs),
}

/// An error with the exit status it should end the process with.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

/// A configuration problem: exit status 2.
pub fn config_error(error: impl Into<anyhow::Error>) -> Failure {
    Failure { code: 2, error: error.into() }
}

/// The work could not be done: exit status 1.
pub fn work_error(error: impl Into<anyhow::Error>) -> Failure {
    Failure { code: 1, error: error.into() }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", describe(&failure.error));
            ExitCode::from(failure.code)
        }
    }
}

/// An error and its causes on one line, each cause said once: many errors already quote their
/// cause in their own message.
fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

async fn execute(cli: Cli) -> Result<(), Failure> {
    let dir = cli.config.clone();
    // Commands that load the settings log from before loading starts, so that the secret
    // sources' own logs are not lost; the level is read from the plain file and the environment.
    if !matches!(cli.command, Command::Demo { .. } | Command::Protect(_) | Command::Export(_)) {
        logging::init(cli.log_format, logging::early_settings(&dir).as_ref());
    }
    match cli.command {
        Command::Demo { work } => {
            // The demo narrates on standard output; only problems are logged unless RUST_LOG says.
            logging::init_with_default(cli.log_format, "warn");
            demo::run(work).await
        }
        Command::Export(args) => export::run(&dir, args, cli.log_format).await,
        Command::Protect(args) => {
            logging::init(cli.log_format, None);
            protect::run(&dir, args).await
        }
        Command::Render { file, json } => {
            let config = Config::load(&dir, Sources::Local).await.map_err(config_error)?;
            output::render(&config, &file, json)
        }
        Command::Status { json, connection } => {
            let config = Config::load(&dir, Sources::Local).await.map_err(config_error)?;
            output::status(&config, connection, json).await
        }
        Command::Check => {
            let config = Config::load(&dir, Sources::All).await.map_err(config_error)?;
            output::check(config).await
        }
        Command::Run => {
            // Listen before anything else: a stop while settings load ends the command cleanly.
            let mut signals = output::StopSignals::listen();
            let config = tokio::select! {
                config = Config::load(&dir, Sources::All) => config.map_err(config_error)?,
                _ = signals.wait() => return Ok(()),
            };
            let agent = Agent::build(config, ta_usecases::StopSignal::new())?;
            output::run_until_stopped(agent, signals).await
        }
        Command::Fulfill | Command::Sync => {
            let config = Config::load(&dir, Sources::All).await.map_err(config_error)?;
            let agent = Agent::build(config, ta_usecases::StopSignal::new())?;
            match cli.command {
                Command::Fulfill => output::fulfill_once(&agent).await,
                _ => output::sync_once(&agent).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_says_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading employees failed: {0}")]
        struct Inner(String);
        #[derive(Debug, thiserror::Error)]
        #[error("connection EV: {source}")]
        struct Outer {
            source: Inner,
        }
        let error =
            anyhow::Error::new(Outer { source: Inner("HTTP 401".into()) }).context("export failed");
        assert_eq!(
            describe(&error),
            "export failed: connection EV: reading employees failed: HTTP 401"
        );
    }
}
