//! The shape of what the API returns: records of upper-case columns whose values are all strings,
//! with related records nested as objects.
//!
//! Records are built per answer from the store and serialized straight to JSON; searches, sorts
//! and projections read them by (dotted, case-insensitive) field name.

use std::borrow::Cow;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};

/// A column name: static for fixed columns, shared for language-suffixed ones.
#[derive(Debug, Clone)]
pub(crate) enum Key {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Key {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Static(s) => s,
            Self::Shared(s) => s,
        }
    }
}

impl From<&'static str> for Key {
    fn from(s: &'static str) -> Self {
        Self::Static(s)
    }
}

impl From<&Arc<str>> for Key {
    fn from(s: &Arc<str>) -> Self {
        Self::Shared(Arc::clone(s))
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Text(Cow<'static, str>),
    /// Shown as a string, like every number of the API.
    Number(u64),
    Record(Record),
}

impl Value {
    pub(crate) fn empty() -> Self {
        Self::Text(Cow::Borrowed(""))
    }

    pub(crate) fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::Text(t) => Some(Cow::Borrowed(t.as_ref())),
            Self::Number(n) => Some(Cow::Owned(n.to_string())),
            Self::Record(_) => None,
        }
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Text(Cow::Owned(s))
    }
}

impl From<&'static str> for Value {
    fn from(s: &'static str) -> Self {
        Self::Text(Cow::Borrowed(s))
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Self::Number(n)
    }
}

impl From<Option<u64>> for Value {
    fn from(n: Option<u64>) -> Self {
        n.map_or_else(Self::empty, Self::Number)
    }
}

impl From<Record> for Value {
    fn from(r: Record) -> Self {
        Self::Record(r)
    }
}

/// An ordered list of columns.
#[derive(Debug, Clone, Default)]
pub(crate) struct Record {
    entries: Vec<(Key, Value)>,
}

impl Record {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self { entries: Vec::with_capacity(n) }
    }

    pub(crate) fn push(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        self.entries.push((key.into(), value.into()));
    }

    fn entry(&self, name: &str) -> Option<&(Key, Value)> {
        self.entries.iter().find(|(k, _)| k.as_str().eq_ignore_ascii_case(name))
    }

    /// The value at a dotted path such as `status.status_en`, case-insensitively.
    pub(crate) fn lookup(&self, path: &str) -> Option<&Value> {
        let mut record = self;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let (_, value) = record.entry(part)?;
            if parts.peek().is_none() {
                return Some(value);
            }
            match value {
                Value::Record(inner) => record = inner,
                _ => return None,
            }
        }
        None
    }

    /// The text at a dotted path; `None` when the field does not exist or is an object.
    pub(crate) fn text(&self, path: &str) -> Option<Cow<'_, str>> {
        self.lookup(path).and_then(Value::text)
    }

    /// Keeps only the named fields (dotted names keep a part of a nested record), in the order of
    /// this record, plus the columns in `always`. Unknown names are ignored.
    pub(crate) fn project(self, fields: &[String], always: &[&str]) -> Record {
        let mut out = Record::with_capacity(fields.len() + always.len());
        for (key, value) in self.entries {
            let name = key.as_str();
            let whole = always.iter().any(|a| a.eq_ignore_ascii_case(name))
                || fields.iter().any(|f| f.eq_ignore_ascii_case(name));
            if whole {
                out.entries.push((key, value));
                continue;
            }
            let inner: Vec<String> = fields
                .iter()
                .filter_map(|f| {
                    let (head, rest) = f.split_once('.')?;
                    head.eq_ignore_ascii_case(name).then(|| rest.to_string())
                })
                .collect();
            if let (false, Value::Record(nested)) = (inner.is_empty(), value) {
                out.entries.push((key, Value::Record(nested.project(&inner, &[]))));
            }
        }
        out
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(key.as_str(), value)?;
        }
        map.end()
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(t) => serializer.serialize_str(t),
            Self::Number(n) => serializer.collect_str(n),
            Self::Record(r) => r.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Record {
        let mut status = Record::default();
        status.push("STATUS_ID", 8);
        status.push("STATUS_EN", "Closed");
        let mut r = Record::default();
        r.push("HREF", "h");
        r.push("RFC_NUMBER", "I1");
        r.push("TITLE", "t");
        r.push("STATUS", status);
        r
    }

    #[test]
    fn lookup_is_dotted_and_case_insensitive() {
        assert_eq!(ticket().text("status.status_en").as_deref(), Some("Closed"));
        assert_eq!(ticket().text("Status.Status_Id").as_deref(), Some("8"));
        assert!(ticket().text("status").is_none());
        assert!(ticket().text("missing").is_none());
    }

    #[test]
    fn projection_keeps_named_and_always_fields() {
        let fields = vec!["status.status_en".to_string(), "nope".to_string()];
        let json =
            serde_json::to_string(&ticket().project(&fields, &["HREF"])).expect("serializes");
        assert_eq!(json, r#"{"HREF":"h","STATUS":{"STATUS_EN":"Closed"}}"#);
    }

    #[test]
    fn numbers_are_strings() {
        let json = serde_json::to_string(&ticket()).expect("serializes");
        assert!(json.contains(r#""STATUS_ID":"8""#), "{json}");
    }
}
