//! The CyberArk secret source: asks the Central Credential Provider for every account the
//! mapping file names and hands back the settings they feed. Never logs a property's value.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::Value;
use ta_ports::{SecretSetting, SecretSource, SecretSourceError};
use tracing::{debug, info, warn};
use url::Url;

use crate::mapping::{self, AccountProperty, MappedSetting};
use crate::settings::CyberArkSettings;
use crate::tls;

/// The error code the provider answers when no account matches the query.
const NOT_FOUND_CODE: &str = "APPAP004E";

/// Reads the accounts named in `appsettings.cyberArk.agent.json` from a CyberArk Central
/// Credential Provider.
pub struct CyberArkSource {
    name: String,
    accounts_url: Url,
    application_id: String,
    safe_name: String,
    mapping: Vec<MappedSetting>,
    client: reqwest::Client,
}

impl std::fmt::Debug for CyberArkSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CyberArkSource")
            .field("accounts_url", &self.accounts_url.as_str())
            .field("application_id", &self.application_id)
            .field("safe_name", &self.safe_name)
            .field("mapped_settings", &self.mapping.len())
            .finish_non_exhaustive()
    }
}

/// An account's properties as the provider returned them.
struct Account {
    user_name: Option<SecretString>,
    content: Option<SecretString>,
    address: Option<SecretString>,
}

impl CyberArkSource {
    /// Checks the settings, reads the mapping file and the client certificate from
    /// `config_dir`, and builds the HTTPS client. Contacts nobody yet. The caller builds a
    /// source only when [`CyberArkSettings::enabled`] is true.
    pub fn new(
        settings: CyberArkSettings,
        config_dir: &Path,
    ) -> Result<CyberArkSource, SecretSourceError> {
        let server = settings.server.clone().unwrap_or_default();
        let name =
            if server.is_empty() { "CyberArk".to_string() } else { format!("CyberArk {server}") };
        let fail = |setting: &str, reason: String| {
            SecretSourceError::new(name.clone(), Some(setting), reason)
        };
        let required = |value: Option<String>, setting: &str| {
            value.ok_or_else(|| {
                fail(setting, "required when CyberArk:UseCyberArkSetting is true".into())
            })
        };

        let store = if settings.file.is_none() { store_setting(&settings) } else { None };
        let server = required(settings.server, "CyberArk:Server")?;
        let safe_name = required(settings.safe_name, "CyberArk:SafeName")?;
        let application_id = required(settings.application_id, "CyberArk:ApplicationId")?;
        let accounts_url =
            accounts_url(&server).map_err(|reason| fail("CyberArk:Server", reason))?;
        if let Some(setting) = store {
            return Err(fail(setting, STORE_REFUSED.into()));
        }
        if accounts_url.scheme() == "http" && settings.file.is_some() {
            warn!(server = %server, "CyberArk:Server uses plain http; the client certificate cannot be presented");
        }

        let Some(mapping_file) = mapping::find_mapping_file(config_dir) else {
            return Err(SecretSourceError::new(
                name,
                None,
                format!(
                    "CyberArk:UseCyberArkSetting is true but {} is missing from {}",
                    mapping::MAPPING_FILE,
                    config_dir.display()
                ),
            ));
        };
        let mapping = mapping::read_mapping(&mapping_file).map_err(|e| {
            let file =
                mapping_file.file_name().and_then(|f| f.to_str()).unwrap_or(mapping::MAPPING_FILE);
            SecretSourceError::new(name.clone(), None, format!("{file}: {e}"))
        })?;

        let in_config_dir =
            |path: PathBuf| if path.is_relative() { config_dir.join(path) } else { path };
        let identity_file = settings.file.map(in_config_dir);
        let ca_file = settings.ca_file.map(in_config_dir);
        let client = tls::build_client(
            identity_file.as_deref().map(|file| (file, settings.password.as_ref())),
            ca_file.as_deref(),
        )
        .map_err(|e| fail(e.setting, e.reason))?;

        Ok(CyberArkSource { name, accounts_url, application_id, safe_name, mapping, client })
    }

    /// One GET per account; `setting` is the first mapped setting that names it.
    async fn read_account(
        &self,
        account: &str,
        setting: &str,
    ) -> Result<Account, SecretSourceError> {
        let query = [
            ("AppID", self.application_id.as_str()),
            ("Safe", self.safe_name.as_str()),
            ("Object", account),
        ];
        let response = self
            .client
            .get(self.accounts_url.clone())
            .query(&query)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                SecretSourceError::new(
                    &self.name,
                    Some("CyberArk:Server"),
                    format!(
                        "cannot reach the Central Credential Provider at {}: {}",
                        self.accounts_url,
                        chain(&e.without_url())
                    ),
                )
            })?;

        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            SecretSourceError::new(
                &self.name,
                Some(setting),
                format!(
                    "account {account:?}: reading the answer failed: {}",
                    chain(&e.without_url())
                ),
            )
        })?;
        if !status.is_success() {
            return Err(SecretSourceError::new(
                &self.name,
                Some(setting),
                self.refusal(account, status, &body),
            ));
        }

        let fields: HashMap<String, Value> = serde_json::from_slice(&body).map_err(|_| {
            SecretSourceError::new(
                &self.name,
                Some(setting),
                format!("account {account:?}: the answer is not a JSON object"),
            )
        })?;
        Ok(account_from(fields))
    }

    /// The reason for an error answer: the provider's code and message, verbatim.
    fn refusal(&self, account: &str, status: reqwest::StatusCode, body: &[u8]) -> String {
        let error: HashMap<String, Value> = serde_json::from_slice(body).unwrap_or_default();
        let field = |name: &str| {
            error
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .and_then(|(_, value)| value.as_str())
        };
        let reason = match (field("ErrorCode"), field("ErrorMsg")) {
            (Some(NOT_FOUND_CODE), message) => format!(
                "account {account:?} not found in safe {:?} ({NOT_FOUND_CODE}: {})",
                self.safe_name,
                message.unwrap_or("no message")
            ),
            (Some(code), message) => {
                format!(
                    "account {account:?}: {code}: {} (HTTP {})",
                    message.unwrap_or("no message"),
                    status.as_u16()
                )
            }
            (None, _) => format!(
                "account {account:?}: the provider answered HTTP {} without an error code",
                status.as_u16()
            ),
        };
        // The provider's message may span lines; start-up reports one line.
        reason.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

#[async_trait]
impl SecretSource for CyberArkSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn fetch(&self) -> Result<Vec<SecretSetting>, SecretSourceError> {
        let mut accounts: HashMap<&str, Account> = HashMap::new();
        for mapped in &self.mapping {
            if !accounts.contains_key(mapped.account.as_str()) {
                let account = self.read_account(&mapped.account, &mapped.key()).await?;
                debug!(source = %self.name, account = %mapped.account, "CyberArk account read");
                accounts.insert(&mapped.account, account);
            }
        }

        let mut settings = Vec::with_capacity(self.mapping.len());
        for mapped in &self.mapping {
            let account = &accounts[mapped.account.as_str()];
            let value = match mapped.property {
                AccountProperty::UserName => &account.user_name,
                AccountProperty::Content => &account.content,
                AccountProperty::Address => &account.address,
            };
            let Some(value) = value else {
                return Err(SecretSourceError::new(
                    &self.name,
                    Some(&mapped.key()),
                    format!(
                        "account {:?} has no {} property",
                        mapped.account,
                        mapped.property.field()
                    ),
                ));
            };
            settings.push(SecretSetting { path: mapped.path.clone(), value: value.clone() });
        }
        info!(source = %self.name, accounts = accounts.len(), settings = settings.len(), "CyberArk accounts read");
        Ok(settings)
    }
}

/// `{Server}/AIMWebService/api/Accounts`, unless `Server` already ends with `/api/Accounts`.
fn accounts_url(server: &str) -> Result<Url, String> {
    let mut url = Url::parse(server).map_err(|e| format!("{server:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("{server:?} must start with https://"));
    }
    if url.query().is_some() {
        return Err(format!("{server:?} must not carry a query"));
    }
    let path = url.path().trim_end_matches('/').to_string();
    if path.to_ascii_lowercase().ends_with("/api/accounts") {
        url.set_path(&path);
    } else {
        url.set_path(&format!("{path}/AIMWebService/api/Accounts"));
    }
    Ok(url)
}

/// Why a client certificate named in the Windows certificate store is refused. ticket-agent
/// reads certificates from PKCS#12 files only, on every system; the store cannot be reached
/// from Linux at all.
const STORE_REFUSED: &str = "client certificates from the Windows certificate store \
    (StoreLocation, StoreName, Thumbprint, DistinguishedName) are not available on this system; \
    set CyberArk:File to a PKCS#12 file and CyberArk:Password to its password";

/// The first Windows-store key set, when `File` is not: that setting is the one refused.
fn store_setting(settings: &CyberArkSettings) -> Option<&'static str> {
    [
        (&settings.store_location, "CyberArk:StoreLocation"),
        (&settings.store_name, "CyberArk:StoreName"),
        (&settings.thumbprint, "CyberArk:Thumbprint"),
        (&settings.distinguished_name, "CyberArk:DistinguishedName"),
    ]
    .into_iter()
    .find(|(value, _)| value.is_some())
    .map(|(_, setting)| setting)
}

/// Keeps only the three properties the agent uses, compared without regard to case, each
/// wrapped as a secret at once; empty values count as absent.
fn account_from(fields: HashMap<String, Value>) -> Account {
    let mut account = Account { user_name: None, content: None, address: None };
    for (key, value) in fields {
        let slot = match key.to_ascii_lowercase().as_str() {
            "username" => &mut account.user_name,
            "content" => &mut account.content,
            "address" => &mut account.address,
            _ => continue,
        };
        if let Value::String(text) = value
            && !text.is_empty()
        {
            *slot = Some(SecretString::from(text));
        }
    }
    account
}

/// An error with its causes, which is where reqwest says "connection refused" or names a
/// certificate problem.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    // SDK messages carry line breaks; start-up reports one line.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_windows_store_key_is_named_when_no_file_is_set() {
        let set = |key: &str| {
            let mut settings = CyberArkSettings::default();
            let value = Some("x".to_string());
            match key {
                "StoreLocation" => settings.store_location = value,
                "StoreName" => settings.store_name = value,
                "Thumbprint" => settings.thumbprint = value,
                _ => settings.distinguished_name = value,
            }
            settings
        };

        for key in ["StoreLocation", "StoreName", "Thumbprint", "DistinguishedName"] {
            assert_eq!(store_setting(&set(key)), Some(format!("CyberArk:{key}").as_str()));
        }
        assert_eq!(store_setting(&CyberArkSettings::default()), None);
    }

    #[test]
    fn the_accounts_path_is_appended_once() {
        assert_eq!(
            accounts_url("https://ccp.contoso.com").unwrap().as_str(),
            "https://ccp.contoso.com/AIMWebService/api/Accounts"
        );
        assert_eq!(
            accounts_url("https://ccp.contoso.com/custom/api/Accounts/").unwrap().as_str(),
            "https://ccp.contoso.com/custom/api/Accounts"
        );
        assert!(accounts_url("ccp.contoso.com").is_err());
    }
}
