//! The Key Vault secret source: lists the vault's secrets, keeps the enabled ones under the
//! agent's sections, and reads their values. Never logs a value; fails as a whole.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::http::{
    ClientOptions, ExponentialRetryOptions, RetryOptions, StatusCode, Transport,
};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use futures::{StreamExt, TryStreamExt};
use secrecy::SecretString;
use ta_ports::{SecretSetting, SecretSource, SecretSourceError};
use tracing::{debug, info, warn};
use url::Url;

use crate::credential;
use crate::settings::{AzureEnvironment, KeyVaultSettings};

/// Secrets read at once; Key Vault throttles clients that open many more.
const PARALLEL_READS: usize = 8;
const VAULT_SETTING: &str = "AzureKeyVault:Vault";

/// Settings stored as Key Vault secrets named like `Connections--EasyVistaManual--Password`.
pub struct KeyVaultSource {
    name: String,
    vault: Url,
    prefixes: Vec<String>,
    client: SecretClient,
}

impl std::fmt::Debug for KeyVaultSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVaultSource")
            .field("vault", &self.vault.as_str())
            .field("prefixes", &self.prefixes)
            .finish_non_exhaustive()
    }
}

impl KeyVaultSource {
    /// A source for `settings.vault`, authenticating as the process environment says (see
    /// [`AzureEnvironment`]). `prefixes` are the top-level sections the agent reads
    /// (`Connections`, `TicketAgent`, …): only secrets named `<prefix>--…` are read; an empty
    /// list reads every enabled secret. Contacts nobody yet.
    pub fn new(
        settings: KeyVaultSettings,
        prefixes: Vec<String>,
    ) -> Result<KeyVaultSource, SecretSourceError> {
        let name = source_name(&settings);
        let http = http_client(settings.ca_file.as_deref())
            .map_err(|(setting, reason)| SecretSourceError::new(&name, Some(setting), reason))?;
        KeyVaultSource::with_transport(settings, prefixes, &AzureEnvironment::from_process(), http)
    }

    /// Like [`KeyVaultSource::new`], with the Azure environment and the HTTP client given by the
    /// caller (`settings.ca_file` is then ignored: the client decides what it trusts). The
    /// client carries both the token requests and the vault requests.
    pub fn with_transport(
        settings: KeyVaultSettings,
        prefixes: Vec<String>,
        environment: &AzureEnvironment,
        http: reqwest::Client,
    ) -> Result<KeyVaultSource, SecretSourceError> {
        let name = source_name(&settings);
        let fail =
            |setting: &str, reason: String| SecretSourceError::new(&name, Some(setting), reason);
        let vault_text =
            settings.vault.as_deref().ok_or_else(|| fail(VAULT_SETTING, "required".into()))?;
        let vault = Url::parse(vault_text)
            .map_err(|e| fail(VAULT_SETTING, format!("{vault_text:?} is not a URL: {e}")))?;
        if vault.scheme() != "https" {
            return Err(fail(VAULT_SETTING, format!("{vault_text:?} must start with https://")));
        }

        let client_options = client_options(http, environment.authority_host.as_deref())
            .map_err(|reason| fail("AZURE_AUTHORITY_HOST", reason))?;
        let credential = credential::credential(
            settings.connection_string.as_ref(),
            environment,
            client_options.clone(),
        )
        .map_err(|e| fail(e.setting, e.reason))?;
        let options = SecretClientOptions { client_options, ..SecretClientOptions::default() };
        let client = SecretClient::new(vault.as_str(), credential, Some(options))
            .map_err(|e| fail(VAULT_SETTING, format!("cannot set up the Key Vault client: {e}")))?;

        Ok(KeyVaultSource { name, vault, prefixes, client })
    }

    /// The names of the enabled secrets under the agent's prefixes, every page of the list.
    async fn wanted_names(&self) -> Result<Vec<String>, SecretSourceError> {
        let list_error = |e: azure_core::Error| {
            SecretSourceError::new(
                &self.name,
                Some(VAULT_SETTING),
                format!("cannot list the secrets of {}: {}", self.vault, chain(&e)),
            )
        };
        let mut pager = self.client.list_secret_properties(None).map_err(list_error)?;
        let mut names = Vec::new();
        while let Some(properties) = pager.try_next().await.map_err(list_error)? {
            let Some(name) = properties.id.as_deref().and_then(secret_name) else { continue };
            let enabled = properties.attributes.as_ref().and_then(|a| a.enabled) == Some(true);
            if !enabled {
                debug!(source = %self.name, secret = name, "disabled secret skipped");
            } else if self.wanted(name) {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    fn wanted(&self, secret: &str) -> bool {
        self.prefixes.is_empty()
            || self.prefixes.iter().any(|prefix| {
                let head = format!("{prefix}--");
                secret.len() > head.len() && secret[..head.len()].eq_ignore_ascii_case(&head)
            })
    }

    /// The latest value of one secret; `None` when it was deleted after the listing.
    async fn read(&self, secret: &str) -> Result<Option<SecretSetting>, SecretSourceError> {
        let setting = path_of(secret).join(":");
        let read_error = |e: azure_core::Error| {
            SecretSourceError::new(
                &self.name,
                Some(&setting),
                format!("cannot read secret {secret}: {}", chain(&e)),
            )
        };
        let response = match self.client.get_secret(secret, None).await {
            Ok(response) => response,
            Err(e) if e.http_status() == Some(StatusCode::NotFound) => {
                warn!(source = %self.name, secret, "secret listed but gone when read; skipped");
                return Ok(None);
            }
            Err(e) => return Err(read_error(e)),
        };
        let value = response.into_model().map_err(read_error)?.value.unwrap_or_default();
        Ok(Some(SecretSetting { path: path_of(secret), value: SecretString::from(value) }))
    }
}

#[async_trait]
impl SecretSource for KeyVaultSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn fetch(&self) -> Result<Vec<SecretSetting>, SecretSourceError> {
        let names = self.wanted_names().await?;

        let reads: Vec<_> = names.iter().map(|name| self.read(name)).collect();
        let read: Vec<Option<SecretSetting>> =
            futures::stream::iter(reads).buffered(PARALLEL_READS).try_collect().await?;

        let settings: Vec<SecretSetting> = read.into_iter().flatten().collect();
        info!(source = %self.name, secrets = settings.len(), "Key Vault secrets read");
        Ok(settings)
    }
}

fn source_name(settings: &KeyVaultSettings) -> String {
    match &settings.vault {
        Some(vault) => format!("Azure Key Vault {vault}"),
        None => "Azure Key Vault".to_string(),
    }
}

/// Our reqwest client (rustls with ring, the workspace's only TLS stack) as the SDK transport.
fn http_client(ca_file: Option<&Path>) -> Result<reqwest::Client, (&'static str, String)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60));
    if let Some(ca_file) = ca_file {
        let pem = std::fs::read(ca_file).map_err(|e| {
            ("AzureKeyVault:CaFile", format!("cannot read {}: {e}", ca_file.display()))
        })?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            ("AzureKeyVault:CaFile", format!("{} holds no PEM certificate: {e}", ca_file.display()))
        })?;
        builder = builder.tls_certs_merge(roots);
    }
    builder.build().map_err(|e| (VAULT_SETTING, format!("cannot build the HTTPS client: {e}")))
}

/// Few, short retries: the vault is read once at start-up, where a quick clear failure is
/// worth more than a minute of waiting.
fn client_options(
    http: reqwest::Client,
    authority_host: Option<&str>,
) -> Result<ClientOptions, String> {
    let mut options = ClientOptions {
        transport: Some(Transport::new(Arc::new(http))),
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            max_retries: 2,
            initial_delay: azure_core::time::Duration::milliseconds(200),
            ..ExponentialRetryOptions::default()
        }),
        ..ClientOptions::default()
    };
    if let Some(host) = authority_host {
        Url::parse(host).map_err(|e| format!("{host:?} is not a URL: {e}"))?;
        let mut custom = azure_core::cloud::CustomConfiguration::default();
        custom.authority_host = host.to_string();
        options.cloud = Some(Arc::new(custom.into()));
    }
    Ok(options)
}

/// The name in a secret id `https://<vault>/secrets/<name>[/<version>]`.
fn secret_name(id: &str) -> Option<&str> {
    let (_, rest) = id.split_once("/secrets/")?;
    rest.split('/').next().filter(|name| !name.is_empty())
}

/// `Connections--EasyVistaManual--Password` → `["Connections", "EasyVistaManual", "Password"]`.
fn path_of(secret: &str) -> Vec<String> {
    secret.split("--").map(str::to_string).collect()
}

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let next = inner.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = inner.source();
    }
    // SDK messages carry line breaks; start-up reports one line.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_come_from_ids_and_map_to_setting_paths() {
        assert_eq!(
            secret_name("https://x.vault.azure.net/secrets/Connections--A--Login"),
            Some("Connections--A--Login")
        );
        assert_eq!(secret_name("https://x.vault.azure.net/secrets/B/4387e9f3"), Some("B"));
        assert_eq!(
            path_of("Connections--ADExport--Servers--1--Server"),
            ["Connections", "ADExport", "Servers", "1", "Server"]
        );
    }
}
