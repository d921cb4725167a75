//! The `CyberArk` section of the agent's appsettings, read with Identity Manager's key names,
//! case-insensitively like .NET configuration. `Debug` never shows the certificate password.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::de::{self, Deserialize, Deserializer};
use serde_json::Value;

/// The `CyberArk` section: which safe and application to ask, where the Central Credential
/// Provider listens, and the client certificate it may require.
#[derive(Default)]
pub struct CyberArkSettings {
    /// `UseCyberArkSetting`: the source is used only when true (default false).
    pub use_cyber_ark_setting: bool,
    /// `SafeName`: the safe holding the accounts.
    pub safe_name: Option<String>,
    /// `ApplicationId`: the CyberArk AppID allowed to read the safe.
    pub application_id: Option<String>,
    /// `Server`: base URL of the Central Credential Provider, e.g. `https://ccp.contoso.com`.
    pub server: Option<String>,
    /// `File`: client certificate and key as PKCS#12; relative paths start at the config dir.
    pub file: Option<PathBuf>,
    /// `Password`: password of `File`.
    pub password: Option<SecretString>,
    /// `DistinguishedName`, `Thumbprint`, `StoreLocation`, `StoreName`: the Windows certificate
    /// store variant; kept only to refuse it with a clear message.
    pub distinguished_name: Option<String>,
    pub thumbprint: Option<String>,
    pub store_location: Option<String>,
    pub store_name: Option<String>,
    /// `CaFile` (ticket-agent's own key): PEM certificates trusted for the provider's TLS
    /// certificate in addition to the system's roots.
    pub ca_file: Option<PathBuf>,
}

impl CyberArkSettings {
    /// Whether the binary should build a CyberArk source at all.
    pub fn enabled(&self) -> bool {
        self.use_cyber_ark_setting
    }
}

impl fmt::Debug for CyberArkSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CyberArkSettings")
            .field("use_cyber_ark_setting", &self.use_cyber_ark_setting)
            .field("safe_name", &self.safe_name)
            .field("application_id", &self.application_id)
            .field("server", &self.server)
            .field("file", &self.file)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("thumbprint", &self.thumbprint)
            .field("distinguished_name", &self.distinguished_name)
            .field("store_location", &self.store_location)
            .field("store_name", &self.store_name)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl<'de> Deserialize<'de> for CyberArkSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = HashMap::<String, Value>::deserialize(deserializer)?;
        let mut section: HashMap<String, Value> =
            raw.into_iter().map(|(key, value)| (key.to_ascii_lowercase(), value)).collect();
        let mut text = |key: &str| -> Result<Option<String>, D::Error> {
            match section.remove(&key.to_ascii_lowercase()) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::Bool(b)) => Ok(Some(b.to_string())),
                Some(_) => Err(de::Error::custom(format!("CyberArk:{key}: expected a text value"))),
            }
        };

        let use_cyber_ark_setting = match text("UseCyberArkSetting")? {
            None => false,
            Some(flag) if flag.eq_ignore_ascii_case("true") => true,
            Some(flag) if flag.eq_ignore_ascii_case("false") => false,
            Some(flag) => {
                return Err(de::Error::custom(format!(
                    "CyberArk:UseCyberArkSetting: expected true or false, got {flag:?}"
                )));
            }
        };
        Ok(CyberArkSettings {
            use_cyber_ark_setting,
            safe_name: text("SafeName")?,
            application_id: text("ApplicationId")?,
            server: text("Server")?,
            file: text("File")?.map(PathBuf::from),
            password: text("Password")?.map(SecretString::from),
            distinguished_name: text("DistinguishedName")?,
            thumbprint: text("Thumbprint")?,
            store_location: text("StoreLocation")?,
            store_name: text("StoreName")?,
            ca_file: text("CaFile")?.map(PathBuf::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_are_read_case_insensitively_and_flags_may_be_text() {
        let settings: CyberArkSettings = serde_json::from_value(json!({
            "usecyberarksetting": "True", "SAFENAME": "Agents", "ApplicationId": "TicketAgent",
            "Server": "https://ccp.contoso.com", "File": "client.pfx", "Password": "pfx-pass"
        }))
        .unwrap();

        assert!(settings.enabled());
        assert_eq!(settings.safe_name.as_deref(), Some("Agents"));
        assert_eq!(settings.file, Some(PathBuf::from("client.pfx")));
        assert_eq!(settings.password.unwrap().expose_secret(), "pfx-pass");
    }

    #[test]
    fn a_missing_flag_means_disabled_and_a_wrong_one_is_refused() {
        let off: CyberArkSettings =
            serde_json::from_value(json!({ "SafeName": "Agents" })).unwrap();
        assert!(!off.enabled());

        let error =
            serde_json::from_value::<CyberArkSettings>(json!({ "UseCyberArkSetting": "yes" }))
                .unwrap_err();
        assert!(error.to_string().contains("CyberArk:UseCyberArkSetting"), "{error}");
    }

    #[test]
    fn debug_never_shows_the_certificate_password() {
        let settings: CyberArkSettings = serde_json::from_value(
            json!({ "UseCyberArkSetting": true, "Password": "hunter2-pfx" }),
        )
        .unwrap();

        let shown = format!("{settings:?}");

        assert!(!shown.contains("hunter2-pfx"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
