//! Logs on standard error through tracing: readable text by default, one JSON object per line
//! with `--log-format json`. The level comes from RUST_LOG, else from the settings'
//! `Serilog:MinimumLevel` section as Identity Manager writes it, else `info`.

use std::collections::BTreeMap;

use serde::Deserialize;
use ta_settings::SettingsTree;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `Serilog:MinimumLevel`: `{"Default": "Information", "Override": {"ta_easyvista": "Debug"}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct MinimumLevel {
    default: Option<String>,
    #[serde(rename = "Override")]
    overrides: BTreeMap<String, String>,
}

/// Libraries whose own logs are only useful when something is wrong.
/// The Azure SDK logs every failed attempt at info; start-up reports the final failure itself.
const QUIET: &[&str] = &[
    "hyper",
    "hyper_util",
    "reqwest",
    "rustls",
    "h2",
    "tower",
    "axum",
    "typespec_client_core",
    "azure_core",
    "azure_identity",
];

pub fn init(format: LogFormat, settings: Option<&SettingsTree>) {
    install(format, directives(settings));
}

/// The settings that decide the log level before the secret sources are read:
/// `appsettings.agent.json` and the environment. Logging starts from these so that whatever
/// loading the other sources logs is seen; `None` when the file cannot be read (loading will
/// then report it).
pub fn early_settings(dir: &std::path::Path) -> Option<SettingsTree> {
    let mut settings = SettingsTree::from_dir(dir).ok()?;
    settings.apply_env(std::env::vars());
    Some(settings)
}

/// Like [`init`], with a fixed default level instead of the settings' one.
pub fn init_with_default(format: LogFormat, level: &str) {
    let mut parts = vec![level.to_owned()];
    parts.extend(QUIET.iter().map(|target| format!("{target}=warn")));
    install(format, parts.join(","));
}

fn install(format: LogFormat, directives: String) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests, demo) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
}

fn directives(settings: Option<&SettingsTree>) -> String {
    const PATH: &str = "Serilog:MinimumLevel";
    // Serilog takes both `"MinimumLevel": "Debug"` and the section with Default and Override.
    let shorthand = settings.and_then(|s| s.section::<String>(PATH).ok().flatten());
    let section = match shorthand {
        Some(default) => MinimumLevel { default: Some(default), ..MinimumLevel::default() },
        None => settings
            .and_then(|s| s.section::<MinimumLevel>(PATH).ok().flatten())
            .unwrap_or_default(),
    };
    let mut parts = vec![section.default.as_deref().map(level).unwrap_or("info").to_owned()];
    parts.extend(QUIET.iter().map(|target| format!("{target}=warn")));
    parts.extend(
        section
            .overrides
            .iter()
            .map(|(target, value)| format!("{}={}", target.replace('.', "::"), level(value))),
    );
    parts.join(",")
}

/// Serilog level names to tracing's.
fn level(serilog: &str) -> &'static str {
    match serilog.to_ascii_lowercase().as_str() {
        "verbose" | "trace" => "trace",
        "debug" => "debug",
        "warning" | "warn" => "warn",
        "error" | "fatal" => "error",
        _ => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serilog_minimum_level_becomes_filter_directives() {
        let settings = SettingsTree::from_json(
            "test",
            r#"{"Serilog": {"MinimumLevel": {"Default": "Warning", "Override": {"ta_easyvista": "Verbose"}}}}"#,
        )
        .unwrap();
        let directives = directives(Some(&settings));
        assert!(directives.starts_with("warn,"), "{directives}");
        assert!(directives.ends_with(",ta_easyvista=trace"), "{directives}");
    }

    #[test]
    fn without_settings_the_level_is_info() {
        assert!(directives(None).starts_with("info,"));
    }

    #[test]
    fn serilog_shorthand_minimum_level_sets_the_default() {
        let settings =
            SettingsTree::from_json("test", r#"{"Serilog": {"MinimumLevel": "Debug"}}"#).unwrap();
        assert!(directives(Some(&settings)).starts_with("debug,"));
    }
}
