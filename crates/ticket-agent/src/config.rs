//! The agent's configuration: settings from every source, the `TicketAgent` section, the
//! mappings and their templates, resolved into what each connection needs.
//!
//! Every error names the file or setting concerned. Nothing here contacts EasyVista.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use ta_domain::{
    OutcomePolicy, ProvisioningState, RecipientKind, ResourceTypeMapping, StatusClassifier,
    TemplateOptions, TemplateSource, TicketTemplates,
};
use ta_easyvista::{Credentials, EasyVistaConfig};
use ta_ports::SecretSource;
use ta_settings::SettingsTree;
use ta_usecases::{DraftSettings, MappingSet, PreparedMapping};

/// The agent's own section of `appsettings.agent.json`; Identity Manager ignores it.
pub const AGENT_SECTION: &str = "TicketAgent";

/// `TicketAgent`: settings shared by every connection, each overridable per connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AgentSection {
    /// The mapping XML: one file, or a folder whose `*.xml` files are all read.
    pub mappings: PathBuf,
    /// Where template files named by mappings are looked up by file name, when the path the
    /// mapping gives does not exist here (e.g. a Windows path from Identity Manager's Conf).
    pub templates_path: Option<PathBuf>,
    pub ledger_path: PathBuf,
    pub concurrency: usize,
    /// `Error` (Identity Manager's documentation) or `Errored`.
    pub failure_state: String,
    /// Report a ticket still open after this many days as an error; unset never does.
    pub stale_after_days: Option<u32>,
    pub full_read_every_minutes: u32,
    /// `UsercubeProfileLink` of templates, with `{OwnerId}` and `{OwnerType}` placeholders.
    pub profile_link: Option<String>,
    pub html_escape: bool,
    /// Each wait between cycles is lengthened or shortened at random by up to this share.
    pub jitter_percent: u32,
    /// How long `run` waits for in-flight work after a stop signal.
    pub shutdown_grace_seconds: u64,
    /// The optional HTTP endpoint: health and metrics.
    pub http: crate::service::HttpSection,
    pub connections: BTreeMap<String, ConnectionOptions>,
}

/// Settings of one connection, under `TicketAgent` (defaults) or
/// `TicketAgent:Connections:<Id>`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConnectionOptions {
    pub orders_path: Option<PathBuf>,
    pub results_path: Option<PathBuf>,
    pub orders_settle_milliseconds: Option<u64>,
    /// `Id`, `Identification`, `Mail` or `Name`: the EasyVista recipient field.
    pub recipient_field: Option<String>,
    pub origin: Option<String>,
    pub closed_status_guids: Option<Vec<String>>,
    pub canceled_status_guids: Option<Vec<String>>,
    pub rejected_status_guids: Option<Vec<String>>,
    pub allow_insecure_http: Option<bool>,
    pub ca_bundle: Option<PathBuf>,
    pub connect_timeout_seconds: Option<u64>,
    pub request_timeout_seconds: Option<u64>,
    pub page_size: Option<usize>,
    /// `run`'s intervals for this connection; `TicketAgent`'s own when not set here.
    pub fulfill_interval_seconds: Option<u64>,
    pub sync_interval_seconds: Option<u64>,
}

impl Default for AgentSection {
    fn default() -> Self {
        AgentSection {
            mappings: PathBuf::from("mappings.xml"),
            templates_path: None,
            ledger_path: PathBuf::from("ticket-agent.db"),
            concurrency: 4,
            failure_state: "Error".into(),
            stale_after_days: None,
            full_read_every_minutes: 60,
            profile_link: None,
            html_escape: false,
            jitter_percent: 10,
            shutdown_grace_seconds: 30,
            http: crate::service::HttpSection::default(),
            connections: BTreeMap::new(),
        }
    }
}

/// Everything loaded from a configuration folder.
pub struct Config {
    pub dir: PathBuf,
    pub settings: SettingsTree,
    pub agent: AgentSection,
    pub mappings: Arc<MappingSet>,
    pub policy: OutcomePolicy,
    /// Attributes of mapping elements the agent does not know, one line each (file, line,
    /// mapping, attribute): logged at start-up, failures for `check`.
    pub mapping_warnings: Vec<String>,
}

/// One served connection, resolved.
pub struct ConnectionPlan {
    pub id: String,
    pub orders_path: PathBuf,
    pub results_path: PathBuf,
    pub settle: Duration,
    /// How often `run` takes order files and follows tickets for this connection.
    pub fulfill_every: Duration,
    pub sync_every: Duration,
    pub drafts: DraftSettings,
    pub easyvista: EasyVistaConfig,
}

/// How far to go when loading settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// The settings file and the environment only: contacts nothing (render).
    Local,
    /// Every configured source, vaults included.
    All,
}

impl Config {
    pub async fn load(dir: &Path, sources: Sources) -> Result<Config> {
        let settings = load_settings(dir, sources).await?;
        Config::from_settings(dir, settings)
    }

    pub fn from_settings(dir: &Path, settings: SettingsTree) -> Result<Config> {
        let agent: AgentSection = settings.section(AGENT_SECTION)?.unwrap_or_default();
        let failure_state: ProvisioningState = agent
            .failure_state
            .parse()
            .map_err(|e| anyhow!("setting {AGENT_SECTION}:FailureState: {e}"))?;
        if !matches!(failure_state, ProvisioningState::Error | ProvisioningState::Errored) {
            bail!(
                "setting {AGENT_SECTION}:FailureState must be Error or Errored, not {failure_state}"
            );
        }
        let policy = OutcomePolicy {
            failure_state,
            stale_after: agent.stale_after_days.map(|days| chrono::Duration::days(i64::from(days))),
        };
        for path in unknown_agent_settings(&settings) {
            tracing::warn!(setting = %path, "not a setting of the agent; ignored (misspelled?)");
        }
        let (mappings, mapping_warnings) = load_mappings(dir, &agent)?;
        for warning in &mapping_warnings {
            tracing::warn!("{warning}");
        }
        let mappings = Arc::new(mappings);
        Ok(Config { dir: dir.to_owned(), settings, agent, mappings, policy, mapping_warnings })
    }

    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_owned() } else { self.dir.join(path) }
    }

    /// The connections the agent serves: those of the settings that some mapping names.
    pub fn connection_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .settings
            .connection_ids()
            .into_iter()
            .filter(|id| self.mappings.for_connection(id).next().is_some())
            .collect();
        ids.sort();
        ids
    }

    /// Checks that every mapping names a connection of the settings.
    pub fn check_mapping_connections(&self) -> Result<()> {
        let known = self.settings.connection_ids();
        for prepared in self.mappings.iter() {
            let wanted = &prepared.mapping.connection;
            if !known.iter().any(|k| k.eq_ignore_ascii_case(wanted)) {
                bail!(
                    "mapping {} names connection {wanted}, which is not in the Connections section of {} (known: {})",
                    prepared.mapping.identifier,
                    ta_settings::SETTINGS_FILE_NAME,
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                );
            }
        }
        Ok(())
    }

    /// Resolves one connection: its folders, how drafts are addressed, how EasyVista is reached.
    pub fn plan(&self, id: &str) -> Result<ConnectionPlan> {
        let settings = self.settings.connection(id)?;
        let options = connection_options(&self.settings, &settings.id)?;
        let setting = |key: &str| {
            format!("{AGENT_SECTION}:Connections:{}:{key} (or {AGENT_SECTION}:{key})", settings.id)
        };

        let orders_path = options
            .orders_path
            .as_deref()
            .map(|p| self.resolve(p))
            .ok_or_else(|| anyhow!("setting {} is required", setting("OrdersPath")))?;
        let results_path = options
            .results_path
            .as_deref()
            .map(|p| self.resolve(p))
            .ok_or_else(|| anyhow!("setting {} is required", setting("ResultsPath")))?;
        let recipient_kind = match &options.recipient_field {
            Some(field) => field
                .parse::<RecipientKind>()
                .map_err(|e| anyhow!("setting {}: {e}", setting("RecipientField")))?,
            None => RecipientKind::default(),
        };

        Ok(ConnectionPlan {
            id: settings.id.clone(),
            orders_path,
            results_path,
            settle: Duration::from_millis(options.orders_settle_milliseconds.unwrap_or(0)),
            fulfill_every: interval(options.fulfill_interval_seconds, 60, || {
                setting("FulfillIntervalSeconds")
            })?,
            sync_every: interval(options.sync_interval_seconds, 300, || {
                setting("SyncIntervalSeconds")
            })?,
            drafts: DraftSettings { recipient_kind, origin: options.origin.clone() },
            easyvista: easyvista_config(&self.dir, &self.settings, &settings.id)?,
        })
    }

    /// Every served connection resolved; two connections may not share an orders folder.
    pub fn plans(&self) -> Result<Vec<ConnectionPlan>> {
        self.check_mapping_connections()?;
        let ids = self.connection_ids();
        if ids.is_empty() {
            bail!(
                "no connection to serve: no EasyVistaResourceTypeMapping in {} names a connection of {}",
                self.resolve(&self.agent.mappings).display(),
                ta_settings::SETTINGS_FILE_NAME
            );
        }
        let plans = ids.iter().map(|id| self.plan(id)).collect::<Result<Vec<_>>>()?;
        let mut seen: HashMap<&Path, &str> = HashMap::new();
        for plan in &plans {
            if let Some(other) = seen.insert(&plan.orders_path, &plan.id) {
                bail!(
                    "connections {other} and {} share the orders folder {}: give each its own with {AGENT_SECTION}:Connections:<Id>:OrdersPath",
                    plan.id,
                    plan.orders_path.display()
                );
            }
        }
        Ok(plans)
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.resolve(&self.agent.ledger_path)
    }
}

/// The keys `TicketAgent` may hold; any other is most likely a misspelling.
const AGENT_KEYS: &[&str] = &[
    "Mappings",
    "TemplatesPath",
    "LedgerPath",
    "Concurrency",
    "FailureState",
    "StaleAfterDays",
    "FullReadEveryMinutes",
    "ProfileLink",
    "HtmlEscape",
    "JitterPercent",
    "ShutdownGraceSeconds",
    "Http",
    "Connections",
    "Export",
];

/// The keys of a connection's options (also allowed directly in `TicketAgent`).
const CONNECTION_KEYS: &[&str] = &[
    "FulfillIntervalSeconds",
    "SyncIntervalSeconds",
    "OrdersPath",
    "ResultsPath",
    "OrdersSettleMilliseconds",
    "RecipientField",
    "Origin",
    "ClosedStatusGuids",
    "CanceledStatusGuids",
    "RejectedStatusGuids",
    "AllowInsecureHttp",
    "CaBundle",
    "ConnectTimeoutSeconds",
    "RequestTimeoutSeconds",
    "PageSize",
    "Export",
];

/// Settings under `TicketAgent` that the agent does not know, as full paths: they are ignored,
/// so they are reported (a misspelled key would otherwise silently keep its default).
pub fn unknown_agent_settings(settings: &SettingsTree) -> Vec<String> {
    let known = |key: &str, list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(key));
    let mut unknown: Vec<String> = settings
        .keys_of(AGENT_SECTION)
        .into_iter()
        .filter(|key| !known(key, AGENT_KEYS) && !known(key, CONNECTION_KEYS))
        .map(|key| format!("{AGENT_SECTION}:{key}"))
        .collect();
    let connections = format!("{AGENT_SECTION}:Connections");
    for id in settings.keys_of(&connections) {
        let path = format!("{connections}:{id}");
        unknown.extend(
            settings
                .keys_of(&path)
                .into_iter()
                .filter(|key| !known(key, CONNECTION_KEYS))
                .map(|key| format!("{path}:{key}")),
        );
    }
    unknown
}

/// An interval of `run` in whole seconds, at least one; `default` when not set.
fn interval(seconds: Option<u64>, default: u64, setting: impl Fn() -> String) -> Result<Duration> {
    match seconds.unwrap_or(default) {
        0 => bail!("setting {} must be at least 1 (seconds)", setting()),
        seconds => Ok(Duration::from_secs(seconds)),
    }
}

/// One connection's options: its own under `TicketAgent:Connections:<Id>`, each missing one
/// taken from `TicketAgent` itself.
pub fn connection_options(settings: &SettingsTree, id: &str) -> Result<ConnectionOptions> {
    let agent: AgentSection = settings.section(AGENT_SECTION)?.unwrap_or_default();
    let d: ConnectionOptions = settings.section(AGENT_SECTION)?.unwrap_or_default();
    let own = agent
        .connections
        .into_iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(id))
        .map(|(_, options)| options)
        .unwrap_or_default();
    Ok(ConnectionOptions {
        orders_path: own.orders_path.or(d.orders_path),
        results_path: own.results_path.or(d.results_path),
        orders_settle_milliseconds: own.orders_settle_milliseconds.or(d.orders_settle_milliseconds),
        recipient_field: own.recipient_field.or(d.recipient_field),
        origin: own.origin.or(d.origin),
        closed_status_guids: own.closed_status_guids.or(d.closed_status_guids),
        canceled_status_guids: own.canceled_status_guids.or(d.canceled_status_guids),
        rejected_status_guids: own.rejected_status_guids.or(d.rejected_status_guids),
        allow_insecure_http: own.allow_insecure_http.or(d.allow_insecure_http),
        ca_bundle: own.ca_bundle.or(d.ca_bundle),
        connect_timeout_seconds: own.connect_timeout_seconds.or(d.connect_timeout_seconds),
        request_timeout_seconds: own.request_timeout_seconds.or(d.request_timeout_seconds),
        page_size: own.page_size.or(d.page_size),
        fulfill_interval_seconds: own.fulfill_interval_seconds.or(d.fulfill_interval_seconds),
        sync_interval_seconds: own.sync_interval_seconds.or(d.sync_interval_seconds),
    })
}

/// How one connection reaches EasyVista: its credentials from `Connections:<Id>` and the
/// transport and status options of [`connection_options`]. Needs no mapping and no folder.
pub fn easyvista_config(dir: &Path, settings: &SettingsTree, id: &str) -> Result<EasyVistaConfig> {
    let connection = settings.connection(id)?;
    let options = connection_options(settings, &connection.id)?;
    let required = |value: Option<String>, key: &str| {
        value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            anyhow!(
                "setting Connections:{}:{key} is required in {}",
                connection.id,
                ta_settings::SETTINGS_FILE_NAME
            )
        })
    };
    let server = required(connection.server.clone(), "Server")?;
    let account = required(connection.account.clone(), "Account")?;
    let credentials = match (&connection.token, &connection.login, &connection.password) {
        (Some(token), _, _) => Credentials::Bearer(token.clone()),
        (None, Some(login), Some(password)) => {
            Credentials::Basic { login: login.clone(), password: password.clone() }
        }
        _ => bail!(
            "connection {}: set Connections:{0}:Login and Connections:{0}:Password, or Connections:{0}:Token",
            connection.id
        ),
    };

    let mut easyvista = EasyVistaConfig::new(server, account, credentials);
    easyvista.allow_insecure_http = options.allow_insecure_http.unwrap_or(false);
    easyvista.ca_bundle = options.ca_bundle.map(|p| if p.is_absolute() { p } else { dir.join(p) });
    if let Some(seconds) = options.connect_timeout_seconds {
        easyvista.connect_timeout = Duration::from_secs(seconds);
    }
    if let Some(seconds) = options.request_timeout_seconds {
        easyvista.request_timeout = Duration::from_secs(seconds);
    }
    if let Some(size) = options.page_size {
        easyvista.page_size = size.max(1);
    }
    let closed = options
        .closed_status_guids
        .unwrap_or_else(|| vec![ta_domain::ticket::CLOSED_META_STATUS_GUID.to_owned()]);
    let canceled = options.canceled_status_guids.unwrap_or_default();
    let rejected = options.rejected_status_guids.unwrap_or_default();
    easyvista.classifier = StatusClassifier::new(
        closed.iter().map(String::as_str),
        canceled.iter().map(String::as_str),
        rejected.iter().map(String::as_str),
    );
    Ok(easyvista)
}

/// Reads every settings source in order, later ones winning key by key:
/// `appsettings.agent.json`, `appsettings.encrypted.agent.json`, then the environment.
pub async fn load_settings(dir: &Path, sources: Sources) -> Result<SettingsTree> {
    let mut settings = SettingsTree::from_dir(dir)?;
    // The environment may configure the other sources (a vault URL, a certificate password),
    // so a first view with it applied decides which sources to read.
    let mut view = SettingsTree::from_dir(dir)?;
    view.apply_env(std::env::vars());

    if sources == Sources::All {
        for source in secret_sources(dir, &view)? {
            let name = source.name();
            let values = source.fetch().await?;
            settings.apply_secrets(&name, values);
        }
    }
    settings.apply_env(std::env::vars());
    Ok(settings)
}

/// The settings sections a vault may supply: secrets named `Connections--…` or `TicketAgent--…`.
const VAULT_PREFIXES: &[&str] = &["Connections", "TicketAgent"];

/// The secret sources the settings turn on, in precedence order: the encrypted settings file,
/// Azure Key Vault, CyberArk.
fn secret_sources(dir: &Path, view: &SettingsTree) -> Result<Vec<Box<dyn SecretSource>>> {
    let mut sources: Vec<Box<dyn SecretSource>> = Vec::new();
    if let Some(certificate) =
        view.section::<ta_rsa::EncryptionCertificateSettings>("EncryptionCertificate")?
        && certificate.use_encrypted_appsettings
    {
        sources.push(Box::new(ta_rsa::EncryptedSettingsSource::from_settings(dir, &certificate)?));
    }
    if let Some(vault) = view.section::<ta_keyvault::KeyVaultSettings>("AzureKeyVault")?
        && vault.enabled()
    {
        let prefixes = VAULT_PREFIXES.iter().map(|p| (*p).to_owned()).collect();
        sources.push(Box::new(ta_keyvault::KeyVaultSource::new(vault, prefixes)?));
    }
    if let Some(cyberark) = view.section::<ta_cyberark::CyberArkSettings>("CyberArk")?
        && cyberark.enabled()
    {
        sources.push(Box::new(ta_cyberark::CyberArkSource::new(cyberark, dir)?));
    }
    Ok(sources)
}

/// Reads the mapping XML (a file, or every `*.xml` of a folder) and compiles each mapping's
/// templates.
/// The mappings of every mapping file, with a line for each attribute the agent does not know.
pub fn load_mappings(dir: &Path, agent: &AgentSection) -> Result<(MappingSet, Vec<String>)> {
    let location = if agent.mappings.is_absolute() {
        agent.mappings.clone()
    } else {
        dir.join(&agent.mappings)
    };
    let files = if location.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&location)
            .with_context(|| format!("cannot read the mappings folder {}", location.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml")))
            .collect();
        files.sort();
        files
    } else {
        vec![location.clone()]
    };

    let templates_folder = agent
        .templates_path
        .as_ref()
        .map(|t| if t.is_absolute() { t.clone() } else { dir.join(t) });
    let options = TemplateOptions {
        html_escape: agent.html_escape,
        profile_link: agent.profile_link.clone(),
    };
    let mut prepared: Vec<PreparedMapping> = Vec::new();
    let mut warnings = Vec::new();
    for file in &files {
        let xml = std::fs::read_to_string(file).with_context(|| {
            format!(
                "cannot read the mapping file {} (setting {AGENT_SECTION}:Mappings)",
                file.display()
            )
        })?;
        let base = file.parent().unwrap_or(dir);
        for mapping in ResourceTypeMapping::parse_all(&file.display().to_string(), &xml)? {
            if prepared.iter().any(|p| p.mapping.identifier == mapping.identifier) {
                bail!(
                    "{}: EasyVistaResourceTypeMapping {:?} is defined twice",
                    file.display(),
                    mapping.identifier
                );
            }
            let templates =
                compile_templates(&mapping, base, templates_folder.as_deref(), &options)
                    .with_context(|| {
                        format!(
                            "{}, line {}: mapping {}",
                            file.display(),
                            mapping.line,
                            mapping.identifier
                        )
                    })?;
            warnings.extend(mapping.unknown_attributes.iter().map(|attribute| {
                format!(
                    "{}, line {}: mapping {}: attribute {attribute} is not one of EasyVistaResourceTypeMapping's and is ignored (misspelled?)",
                    file.display(),
                    mapping.line,
                    mapping.identifier
                )
            }));
            prepared.push(PreparedMapping { mapping, templates: Arc::new(templates) });
        }
    }
    Ok((MappingSet::new(prepared), warnings))
}

fn compile_templates(
    mapping: &ResourceTypeMapping,
    base: &Path,
    templates_folder: Option<&Path>,
    options: &TemplateOptions,
) -> Result<TicketTemplates> {
    let read = |attribute: &str, path: &Option<String>| -> Result<Option<(String, String)>> {
        let Some(path) = path else { return Ok(None) };
        let file = find_template(path, base, templates_folder).ok_or_else(|| {
            anyhow!("the {attribute} template {path} does not exist (relative paths are read from the mapping file's folder; see {AGENT_SECTION}:TemplatesPath)")
        })?;
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read the {attribute} template {}", file.display()))?;
        Ok(Some((file.display().to_string(), text)))
    };
    let title = read("Title", &mapping.title)?;
    let description = read("Description", &mapping.description)?;
    Ok(TicketTemplates::compile(
        template_source(&title),
        template_source(&description),
        options.clone(),
    )?)
}

fn template_source(template: &Option<(String, String)>) -> Option<TemplateSource<'_>> {
    template
        .as_ref()
        .map(|(name, text)| TemplateSource { name: name.as_str(), text: text.as_str() })
}

/// A template path as written, relative to the mapping file; else its file name in the
/// templates folder (for Windows paths copied from Identity Manager's configuration).
fn find_template(path: &str, base: &Path, templates_folder: Option<&Path>) -> Option<PathBuf> {
    let written = Path::new(path);
    let direct = if written.is_absolute() { written.to_owned() } else { base.join(written) };
    if direct.is_file() {
        return Some(direct);
    }
    let name = path.rsplit(['/', '\\']).next()?;
    let candidate = templates_folder?.join(name);
    candidate.is_file().then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: &str) -> SettingsTree {
        SettingsTree::from_json("test", json).unwrap()
    }

    #[test]
    fn connection_options_fall_back_to_the_agent_section_and_their_own_win() {
        let settings = settings(
            r#"{"TicketAgent": {"PageSize": 250, "RequestTimeoutSeconds": 30, "OrdersPath": "orders",
                "Connections": {"EasyVistaManual": {"PageSize": 500}}}}"#,
        );
        let options = connection_options(&settings, "easyvistamanual").unwrap();
        assert_eq!(options.page_size, Some(500), "the connection's own value wins");
        assert_eq!(
            options.request_timeout_seconds,
            Some(30),
            "the agent section's value is the default"
        );
        assert_eq!(options.orders_path.as_deref(), Some(Path::new("orders")));
    }

    #[test]
    fn each_connection_has_its_own_intervals_or_the_agents() {
        let settings = settings(
            r#"{"TicketAgent": {"SyncIntervalSeconds": 120,
                "Connections": {"EasyVistaManual": {"FulfillIntervalSeconds": 15}}}}"#,
        );
        let options = connection_options(&settings, "EasyVistaManual").unwrap();
        assert_eq!(options.fulfill_interval_seconds, Some(15));
        assert_eq!(options.sync_interval_seconds, Some(120));
        let name = || "TicketAgent:SyncIntervalSeconds".to_owned();
        assert_eq!(interval(None, 300, name).unwrap(), Duration::from_secs(300));
        let error = interval(Some(0), 300, name).unwrap_err().to_string();
        assert!(error.contains("TicketAgent:SyncIntervalSeconds must be at least 1"), "{error}");
        assert!(unknown_agent_settings(&settings).is_empty());
    }

    #[test]
    fn easyvista_config_needs_no_folders_and_takes_the_agent_defaults() {
        let settings = settings(
            r#"{"Connections": {"EV": {"Server": "https://ev.example.com", "Account": "50004", "Token": "t"}},
                "TicketAgent": {"ConnectTimeoutSeconds": 3, "CaBundle": "ca.pem"}}"#,
        );
        let config = easyvista_config(Path::new("/etc/ticket-agent"), &settings, "EV").unwrap();
        assert_eq!(config.connect_timeout, Duration::from_secs(3));
        assert_eq!(config.ca_bundle.as_deref(), Some(Path::new("/etc/ticket-agent/ca.pem")));
    }

    #[test]
    fn misspelled_agent_settings_are_reported_with_their_path() {
        let settings = settings(
            r#"{"TicketAgent": {"Concurency": 4, "concurrency": 2, "OrdersPath": "o",
                "Connections": {"EV": {"RecipentField": "Mail", "PageSize": 5}}}}"#,
        );
        assert_eq!(
            unknown_agent_settings(&settings),
            ["TicketAgent:Concurency", "TicketAgent:Connections:EV:RecipentField"]
        );
    }

    #[test]
    fn a_connection_without_credentials_names_the_settings_to_set() {
        let settings = settings(
            r#"{"Connections": {"EV": {"Server": "https://ev.example.com", "Account": "1"}}}"#,
        );
        let error = easyvista_config(Path::new("."), &settings, "EV").unwrap_err().to_string();
        assert_eq!(
            error,
            "connection EV: set Connections:EV:Login and Connections:EV:Password, or Connections:EV:Token"
        );
    }
}
