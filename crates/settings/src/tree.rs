//! The merged settings tree: every source flattened to `Section:Key` paths, applied in order,
//! later sources winning key by key, keys compared without regard to case. Values that came
//! from a secret source or the environment, and values of any file whose key names a secret
//! (`Password`, `ClientSecret`, `Token`, …), are `SecretString`; `Debug` shows no value at all.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use ta_ports::SecretSetting;

use crate::SettingsError;
use crate::extract::Node;

/// The plain settings file, required in the configuration folder.
pub const SETTINGS_FILE_NAME: &str = "appsettings.agent.json";

/// Environment variables with this prefix are always read (prefix removed); others only when
/// their first segment names a section the files already have.
pub const ENV_PREFIX: &str = "TICKETAGENT_";

/// One setting's value as held in the tree.
#[derive(Clone)]
pub(crate) enum Scalar {
    Null,
    Text(String),
    Number(String),
    Bool(bool),
    Secret(SecretString),
}

impl Scalar {
    /// The value as text, for parsing into the type a caller asks for.
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Scalar::Null => None,
            Scalar::Text(text) | Scalar::Number(text) => Some(text),
            Scalar::Bool(true) => Some("true"),
            Scalar::Bool(false) => Some("false"),
            Scalar::Secret(secret) => Some(secret.expose_secret()),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) value: Scalar,
    pub(crate) origin: String,
}

/// What `check` can print about one setting: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingInfo {
    /// `Section:Key`, spelled as first written.
    pub path: String,
    /// The source that supplied the value in force.
    pub origin: String,
    /// Is the value held as a secret: it came from a secret source or the environment, or its
    /// key names a secret (`Password`, `ClientSecret`, `Token`, …)?
    pub secret: bool,
}

/// All settings, merged. Build it with [`SettingsTree::from_dir`], then apply later sources.
/// Clone it to read the sections that configure later sources (`EncryptionCertificate`,
/// `AzureKeyVault`, `CyberArk`) with the environment applied, before those sources run.
#[derive(Default, Clone)]
pub struct SettingsTree {
    /// By lower-case path (`connections:easyvistamanual:password`).
    pub(crate) entries: BTreeMap<String, Entry>,
    /// The first spelling of each path prefix, by lower-case prefix: section and map keys (such
    /// as connection identifiers) keep the case they were written in.
    spellings: HashMap<String, String>,
}

impl fmt::Debug for SettingsTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings: Vec<String> = self
            .settings()
            .into_iter()
            .map(|info| format!("{} (from {})", info.path, info.origin))
            .collect();
        f.debug_struct("SettingsTree").field("settings", &settings).finish()
    }
}

impl SettingsTree {
    /// Reads `appsettings.agent.json` from the configuration folder (a BOM is tolerated).
    pub fn from_dir(dir: &Path) -> Result<SettingsTree, SettingsError> {
        let file = dir.join(SETTINGS_FILE_NAME);
        let text = std::fs::read_to_string(&file).map_err(|error| SettingsError::Read {
            file: file.clone(),
            reason: error.to_string(),
        })?;
        SettingsTree::from_json(SETTINGS_FILE_NAME, &text)
            .map_err(|error| SettingsError::Json { file, reason: error.to_string() })
    }

    /// A tree from JSON text; every value's origin is `origin`.
    pub fn from_json(origin: &str, text: &str) -> Result<SettingsTree, serde_json::Error> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let document: Value = serde_json::from_str(text)?;
        let mut tree = SettingsTree::default();
        tree.apply_json_value(origin, &document);
        Ok(tree)
    }

    /// Applies the plain values of a JSON document (a later file wins key by key).
    pub fn apply_json_value(&mut self, origin: &str, document: &Value) {
        let mut leaves = Vec::new();
        flatten(document, &mut Vec::new(), &mut leaves);
        for (path, value) in leaves {
            self.insert(&path, value, origin);
        }
    }

    /// Applies one secret source's settings; each wins over what earlier sources set.
    pub fn apply_secrets(&mut self, source_name: &str, settings: Vec<SecretSetting>) {
        let count = settings.len();
        for setting in settings {
            let path: Vec<String> = setting.path.iter().flat_map(|part| split_key(part)).collect();
            if !path.is_empty() {
                self.insert(&path, Scalar::Secret(setting.value), source_name);
            }
        }
        tracing::debug!(source = source_name, settings = count, "secret source applied");
    }

    /// Applies environment variables, `__` separating path segments
    /// (`Connections__EasyVistaManual__Password`). Names starting with [`ENV_PREFIX`] are always
    /// read, prefix removed, and win over the same setting without it; other names are read only
    /// when they contain `__` and their first segment is a section the tree already has.
    /// Every value read is kept as a secret.
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) {
        let mut plain = Vec::new();
        let mut prefixed = Vec::new();
        for (name, value) in vars {
            if let Some(rest) = strip_prefix_ignore_case(&name, ENV_PREFIX) {
                prefixed.push((rest.to_string(), name, value));
            } else if name.contains("__")
                && self.has_section(name.split("__").next().unwrap_or_default())
            {
                plain.push((name.clone(), name, value));
            }
        }
        plain.sort_by(|a, b| a.1.cmp(&b.1));
        prefixed.sort_by(|a, b| a.1.cmp(&b.1));

        let count = plain.len() + prefixed.len();
        for (key, name, value) in plain.into_iter().chain(prefixed) {
            let path: Vec<String> =
                key.split("__").map(str::to_string).filter(|part| !part.is_empty()).collect();
            if !path.is_empty() {
                self.insert(
                    &path,
                    Scalar::Secret(SecretString::from(value)),
                    &format!("environment variable {name}"),
                );
            }
        }
        tracing::debug!(settings = count, "environment variables applied");
    }

    /// A typed section (`"TicketAgent"`, `"Connections:EasyVistaManual"`), or `None` when no
    /// setting lies under that path. Struct fields match keys without regard to case; map keys
    /// (connection identifiers) stay as written; text is parsed into numbers and booleans.
    pub fn section<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, SettingsError> {
        let Some(node) = self.node(path) else {
            return Ok(None);
        };
        T::deserialize(&node).map(Some).map_err(|error| {
            let setting = if error.path.is_empty() { node.path.clone() } else { error.path };
            SettingsError::Invalid {
                origin: self.origin_note(&setting),
                path: setting,
                message: error.message,
            }
        })
    }

    /// Which source supplied the value in force at `path`, when a value is set there.
    pub fn origin_of(&self, path: &str) -> Option<String> {
        self.entries.get(&lower_key(path)).map(|entry| entry.origin.clone())
    }

    /// Every setting with its origin, in path order; no values.
    pub fn settings(&self) -> Vec<SettingInfo> {
        self.entries
            .iter()
            .map(|(key, entry)| SettingInfo {
                path: self.spelled(key),
                origin: entry.origin.clone(),
                secret: matches!(entry.value, Scalar::Secret(_)),
            })
            .collect()
    }

    /// Is there any setting under this top-level section?
    pub fn has_section(&self, name: &str) -> bool {
        let prefix = format!("{}:", name.to_lowercase());
        self.entries.range(prefix.clone()..).next().is_some_and(|(key, _)| key.starts_with(&prefix))
    }

    /// The direct children of a section, spelled as first written.
    pub fn keys_of(&self, path: &str) -> Vec<String> {
        self.node(path)
            .map(|node| node.children.into_iter().map(|(name, _)| name).collect())
            .unwrap_or_default()
    }

    /// " (from X)" for messages about `path`, when a value is set there.
    pub(crate) fn origin_note(&self, path: &str) -> String {
        self.origin_of(path).map(|origin| format!(" (from {origin})")).unwrap_or_default()
    }

    fn insert(&mut self, path: &[String], value: Scalar, origin: &str) {
        let mut prefix = String::new();
        for segment in path {
            if !prefix.is_empty() {
                prefix.push(':');
            }
            prefix.push_str(&segment.to_lowercase());
            self.spellings.entry(prefix.clone()).or_insert_with(|| segment.clone());
        }
        self.entries.insert(prefix, Entry { value, origin: origin.to_string() });
    }

    /// The lower-case path written with each segment's first spelling.
    fn spelled(&self, key: &str) -> String {
        let mut prefix = String::new();
        let mut spelled = Vec::new();
        for segment in key.split(':') {
            if !prefix.is_empty() {
                prefix.push(':');
            }
            prefix.push_str(segment);
            spelled
                .push(self.spellings.get(&prefix).cloned().unwrap_or_else(|| segment.to_string()));
        }
        spelled.join(":")
    }

    /// The settings at and under `path` as a nested node, or `None` when there are none.
    pub(crate) fn node(&self, path: &str) -> Option<Node<'_>> {
        let key = lower_key(path);
        let mut root = Node::new(if key.is_empty() { String::new() } else { self.spelled(&key) });
        let mut found = false;

        if !key.is_empty()
            && let Some(entry) = self.entries.get(&key)
        {
            root.value = Some(entry);
            found = true;
        }
        let prefix = if key.is_empty() { String::new() } else { format!("{key}:") };
        for (full, entry) in self.entries.range(prefix.clone()..) {
            let Some(rest) = full.strip_prefix(&prefix) else { break };
            found = true;
            let mut node = &mut root;
            let mut walked = key.clone();
            for segment in rest.split(':') {
                if !walked.is_empty() {
                    walked.push(':');
                }
                walked.push_str(segment);
                let name =
                    self.spellings.get(&walked).cloned().unwrap_or_else(|| segment.to_string());
                node = node.child(name, || self.spelled(&walked));
            }
            node.value = Some(entry);
        }
        found.then_some(root)
    }
}

/// `Section:Key` in lower case, separators trimmed.
pub(crate) fn lower_key(path: &str) -> String {
    split_key(path).map(|segment| segment.to_lowercase()).collect::<Vec<_>>().join(":")
}

fn split_key(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split(':').filter(|segment| !segment.is_empty()).map(str::to_string)
}

fn strip_prefix_ignore_case<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &name[prefix.len()..])
}

/// Words that make a key name a secret one when it contains them (compared in lower case, with
/// `_` and `-` removed): `Password`, `ProxyPassword`, `ClientSecret`, `AccessToken`, `ApiKey`,
/// `ConnectionString`, `SasToken`, `Credentials`, …
const SECRET_KEY_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "connectionstring",
    "apikey",
    "accesskey",
    "accountkey",
    "privatekey",
    "sharedkey",
    "subscriptionkey",
];

/// Does the setting at `path` hold a secret by its key's name? The key is the last segment
/// that is not a list index, so every element of `Tokens: [...]` is secret too.
pub(crate) fn names_a_secret(path: &[String]) -> bool {
    let Some(key) = path.iter().rev().find(|segment| segment.parse::<usize>().is_err()) else {
        return false;
    };
    let key: String =
        key.chars().filter(|c| *c != '_' && *c != '-').collect::<String>().to_lowercase();
    SECRET_KEY_WORDS.iter().any(|word| key.contains(word))
}

/// Every leaf of a JSON document with its path: object keys split on `:` as .NET does, array
/// elements under their index. Empty objects and arrays contribute nothing. A text or number
/// whose key names a secret ([`names_a_secret`]) becomes a [`Scalar::Secret`] here, so the tree
/// never holds it as plain text.
fn flatten(value: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Scalar)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let depth = path.len();
                path.extend(split_key(key));
                flatten(child, path, out);
                path.truncate(depth);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                path.push(index.to_string());
                flatten(child, path, out);
                path.pop();
            }
        }
        leaf if !path.is_empty() => {
            let secret = names_a_secret(path);
            let scalar = match leaf {
                Value::String(text) if secret => Scalar::Secret(SecretString::from(text.as_str())),
                Value::Number(number) if secret => {
                    Scalar::Secret(SecretString::from(number.to_string()))
                }
                Value::String(text) => Scalar::Text(text.clone()),
                Value::Number(number) => Scalar::Number(number.to_string()),
                Value::Bool(flag) => Scalar::Bool(*flag),
                _ => Scalar::Null,
            };
            out.push((path.clone(), scalar));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> Vec<String> {
        text.split(':').map(str::to_string).collect()
    }

    #[test]
    fn key_names_that_say_secret_are_recognised_in_any_case() {
        for secret in [
            "Connections:A:Password",
            "x:CLIENTSECRET",
            "x:client_secret",
            "x:AccessToken",
            "x:ApiKey",
            "x:api-key",
            "x:StorageConnectionString",
            "x:Pwd",
            "x:Credentials:0",
        ] {
            assert!(names_a_secret(&path(secret)), "{secret}");
        }
        for plain in [
            "Connections:A:Server",
            "x:Login",
            "x:Account",
            "x:KeyVault",
            "x:Key",
            "x:PageSize",
            "x:0",
        ] {
            assert!(!names_a_secret(&path(plain)), "{plain}");
        }
    }

    #[test]
    fn flatten_keeps_secret_named_text_and_numbers_out_of_plain_scalars() {
        let document = serde_json::json!({ "A": { "Password": "pw", "Pin": 1, "Token": 7, "UseToken": true, "Login": "me" } });
        let mut leaves = Vec::new();

        flatten(&document, &mut Vec::new(), &mut leaves);
        let kinds: Vec<(String, &str)> = leaves
            .iter()
            .map(|(path, scalar)| {
                let kind = match scalar {
                    Scalar::Secret(_) => "secret",
                    Scalar::Text(_) => "text",
                    Scalar::Number(_) => "number",
                    Scalar::Bool(_) => "bool",
                    Scalar::Null => "null",
                };
                (path.join(":"), kind)
            })
            .collect();

        assert_eq!(
            kinds,
            [
                ("A:Password".to_string(), "secret"),
                ("A:Pin".to_string(), "number"),
                ("A:Token".to_string(), "secret"),
                ("A:UseToken".to_string(), "bool"),
                ("A:Login".to_string(), "text"),
            ]
        );
    }
}
