//! The mapping file `appsettings.cyberArk.agent.json`: the settings tree of
//! `appsettings.agent.json` whose values are CyberArk account names. It holds no secret.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The documented file name; the agent also accepts any other letter case of it.
pub const MAPPING_FILE: &str = "appsettings.cyberArk.agent.json";

/// Which property of a CyberArk account feeds a setting, decided by the setting's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountProperty {
    /// `UserName`, for `Login`, `ApplicationId`, `ClientId`.
    UserName,
    /// `Content` (the password itself), for `Password`, `ApplicationKey`, `ClientSecret`.
    Content,
    /// `Address`, for `Server`, `MicrosoftGraphPathApi`, `ResponseUri`.
    Address,
}

impl AccountProperty {
    /// The property for a setting key, compared without regard to case.
    pub fn for_key(key: &str) -> Option<AccountProperty> {
        let is = |names: &[&str]| names.iter().any(|name| name.eq_ignore_ascii_case(key));
        if is(&["Login", "ApplicationId", "ClientId"]) {
            Some(AccountProperty::UserName)
        } else if is(&["Password", "ApplicationKey", "ClientSecret"]) {
            Some(AccountProperty::Content)
        } else if is(&["Server", "MicrosoftGraphPathApi", "ResponseUri"]) {
            Some(AccountProperty::Address)
        } else {
            None
        }
    }

    /// The property's name in the provider's answer.
    pub fn field(self) -> &'static str {
        match self {
            AccountProperty::UserName => "UserName",
            AccountProperty::Content => "Content",
            AccountProperty::Address => "Address",
        }
    }
}

/// One line of the mapping: this setting takes that property of that account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedSetting {
    pub path: Vec<String>,
    pub account: String,
    pub property: AccountProperty,
}

impl MappedSetting {
    /// The setting as `Connections:X:Login`, for messages.
    pub fn key(&self) -> String {
        self.path.join(":")
    }
}

/// Why the mapping file cannot be used; `setting` is empty for file-level problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    pub setting: Option<String>,
    pub reason: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.setting {
            Some(setting) => write!(f, "setting {setting}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// Finds the mapping file in `config_dir`, accepting any letter case of its name (the vendor's
/// documents spell it two ways, and Linux file names are case-sensitive).
pub fn find_mapping_file(config_dir: &Path) -> Option<PathBuf> {
    let exact = config_dir.join(MAPPING_FILE);
    if exact.is_file() {
        return Some(exact);
    }
    let entries = fs::read_dir(config_dir).ok()?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            entry.file_name().to_str().is_some_and(|name| name.eq_ignore_ascii_case(MAPPING_FILE))
        })
        .map(|entry| entry.path())
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Reads and checks the mapping file: every leaf must be an account name under a key whose
/// account property is known.
pub fn read_mapping(file: &Path) -> Result<Vec<MappedSetting>, MappingError> {
    let file_error = |reason: String| MappingError { setting: None, reason };
    let text = fs::read_to_string(file)
        .map_err(|e| file_error(format!("cannot read {}: {e}", file.display())))?;
    let tree: Value = serde_json::from_str(&text)
        .map_err(|e| file_error(format!("{} is not valid JSON: {e}", file.display())))?;
    if !tree.is_object() {
        return Err(file_error(format!("{} must hold a JSON object", file.display())));
    }

    let mut mapped = Vec::new();
    collect(&tree, &mut Vec::new(), &mut mapped)?;
    Ok(mapped)
}

fn collect(
    node: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<MappedSetting>,
) -> Result<(), MappingError> {
    match node {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(key.clone());
                collect(child, path, out)?;
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                path.push(index.to_string());
                collect(child, path, out)?;
                path.pop();
            }
        }
        Value::String(account) => {
            let setting = || Some(path.join(":"));
            let key = path.last().map(String::as_str).unwrap_or_default();
            let Some(property) = AccountProperty::for_key(key) else {
                return Err(MappingError {
                    setting: setting(),
                    reason: format!(
                        "key {key} has no CyberArk account property; only Login, ApplicationId, ClientId \
                         (UserName), Password, ApplicationKey, ClientSecret (Content) and Server, \
                         MicrosoftGraphPathApi, ResponseUri (Address) can be mapped"
                    ),
                });
            };
            let account = account.trim();
            if account.is_empty() {
                return Err(MappingError {
                    setting: setting(),
                    reason: "the account name is empty".into(),
                });
            }
            out.push(MappedSetting { path: path.clone(), account: account.to_string(), property });
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {
            return Err(MappingError {
                setting: Some(path.join(":")),
                reason: "expected a CyberArk account name (text)".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping_of(json: &str) -> Result<Vec<MappedSetting>, MappingError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(MAPPING_FILE);
        fs::write(&file, json).unwrap();
        read_mapping(&file)
    }

    #[test]
    fn leaves_become_settings_with_the_property_their_key_asks_for() {
        let mapped = mapping_of(
            r#"{ "Connections": { "AD_Export": {
                "Login": "AdAccount", "password": "AdAccount",
                "Servers": [ { "Server": "AdAccount" }, { "Server": "AdServer2" } ] } } }"#,
        )
        .unwrap();

        let lines: Vec<(String, &str, AccountProperty)> =
            mapped.iter().map(|m| (m.key(), m.account.as_str(), m.property)).collect();
        assert_eq!(
            lines,
            vec![
                ("Connections:AD_Export:Login".into(), "AdAccount", AccountProperty::UserName),
                ("Connections:AD_Export:password".into(), "AdAccount", AccountProperty::Content),
                (
                    "Connections:AD_Export:Servers:0:Server".into(),
                    "AdAccount",
                    AccountProperty::Address
                ),
                (
                    "Connections:AD_Export:Servers:1:Server".into(),
                    "AdServer2",
                    AccountProperty::Address
                ),
            ]
        );
    }

    #[test]
    fn a_key_without_an_account_property_is_refused_by_name() {
        let error =
            mapping_of(r#"{ "Connections": { "EasyVistaManual": { "Account": "EvAccount" } } }"#)
                .unwrap_err();

        assert_eq!(error.setting.as_deref(), Some("Connections:EasyVistaManual:Account"));
        assert!(error.reason.contains("no CyberArk account property"), "{error}");
    }

    #[test]
    fn a_number_where_an_account_name_belongs_is_refused() {
        let error = mapping_of(r#"{ "Connections": { "X": { "Login": 12 } } }"#).unwrap_err();

        assert_eq!(error.setting.as_deref(), Some("Connections:X:Login"));
    }

    #[test]
    fn the_file_is_found_whatever_the_case_of_its_name() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_mapping_file(dir.path()), None);

        fs::write(dir.path().join("appsettings.cyberark.agent.json"), "{}").unwrap();

        let found = find_mapping_file(dir.path()).unwrap();
        assert_eq!(found.file_name().unwrap(), "appsettings.cyberark.agent.json");
    }
}
