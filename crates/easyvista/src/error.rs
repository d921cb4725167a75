//! The adapter's errors, in the classes callers act on, and the reading of EasyVista's error
//! bodies (the 590 "message" holds JSON inside a string). Messages never quote a secret.

use std::time::Duration;

use serde_json::Value;
use ta_ports::{EntityError, TicketingError};

/// Why a call to EasyVista failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EasyVistaError {
    /// A setting is unusable; `value` is shown when it is not a secret.
    #[error("{setting}{}: {reason}", show_value(.value))]
    Config { setting: String, value: Option<String>, reason: String },
    /// 401 (login, password, token or account refused) or 403 (the REST profile does not allow
    /// the method, or the route does not exist: EasyVista does not tell them apart).
    #[error("{what}: authentication refused (HTTP {status}): {message}")]
    Authentication { what: String, status: u16, message: String },
    #[error("{what}: not found")]
    NotFound { what: String },
    /// EasyVista refused the request itself (406, 590, other 4xx): resending it will not help.
    #[error("{what}: rejected (HTTP {status}): {message}{}", show_field(.field))]
    Rejected { what: String, status: u16, message: String, field: Option<String> },
    /// 429 or a 5xx other than 590: the server is busy or failing.
    #[error("{what}: server unavailable (HTTP {status}): {message}")]
    Unavailable { what: String, status: u16, message: String, retry_after: Option<Duration> },
    /// No connection could be made: the request was never sent.
    #[error("{what}: unreachable: {reason}")]
    Unreachable { what: String, reason: String },
    /// The TLS handshake failed (certificate not trusted, name mismatch, no common protocol):
    /// nothing was sent, and sending again will not help until the settings change.
    #[error("{what}: TLS refused: {reason}; check the server certificate or the CaBundle setting")]
    Tls { what: String, reason: String },
    /// The connection broke after the request may have been sent.
    #[error("{what}: connection lost: {reason}")]
    ConnectionLost { what: String, reason: String },
    #[error("{what}: no answer within the request timeout")]
    Timeout { what: String },
    /// The answer is not what the API promises.
    #[error("{what}: unexpected answer: {reason}")]
    Protocol { what: String, reason: String },
    /// A create may have happened and the search by external reference failed too.
    #[error("create of {reference} unconfirmed: {reason}")]
    Unconfirmed { reference: String, reason: String },
}

fn show_value(value: &Option<String>) -> String {
    value.as_ref().map(|v| format!(" {v:?}")).unwrap_or_default()
}

fn show_field(field: &Option<String>) -> String {
    field.as_ref().map(|f| format!(" (field {f})")).unwrap_or_default()
}

impl EasyVistaError {
    pub(crate) fn config(setting: &str, value: Option<&str>, reason: &str) -> Self {
        EasyVistaError::Config {
            setting: setting.to_owned(),
            value: value.map(str::to_owned),
            reason: reason.to_owned(),
        }
    }

    pub(crate) fn protocol(what: &str, reason: impl Into<String>) -> Self {
        EasyVistaError::Protocol { what: what.to_owned(), reason: reason.into() }
    }

    /// A read failing this way may succeed if sent again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. }
                | Self::Unreachable { .. }
                | Self::ConnectionLost { .. }
                | Self::Timeout { .. }
        )
    }

    /// The server's own wait request (Retry-After), when it gave one.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl From<EasyVistaError> for TicketingError {
    fn from(error: EasyVistaError) -> Self {
        let text = error.to_string();
        match error {
            EasyVistaError::Authentication { .. } => TicketingError::Authentication(text),
            EasyVistaError::NotFound { .. } => TicketingError::NotFound(text),
            EasyVistaError::Rejected { status, message, field, .. } => {
                TicketingError::Rejected { status, message, field }
            }
            EasyVistaError::Unavailable { .. }
            | EasyVistaError::Unreachable { .. }
            | EasyVistaError::Tls { .. } => TicketingError::Unreachable(text),
            EasyVistaError::ConnectionLost { .. } => TicketingError::Unreachable(text),
            EasyVistaError::Timeout { .. } => TicketingError::Timeout(text),
            EasyVistaError::Protocol { .. } | EasyVistaError::Config { .. } => {
                TicketingError::Protocol(text)
            }
            EasyVistaError::Unconfirmed { reference, reason } => {
                TicketingError::Unconfirmed { reference, reason }
            }
        }
    }
}

pub(crate) fn entity_error(resource: &str, error: EasyVistaError) -> EntityError {
    EntityError::Read { resource: resource.to_owned(), reason: error.to_string() }
}

/// What an error body says: the inner text of EasyVista's message, and the field it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerMessage {
    pub(crate) text: String,
    pub(crate) field: Option<String>,
}

/// Reads an error body. EasyVista's 590 carries `{"message": "{\"error\": \"…\"} (2013-<id>)"}`:
/// JSON inside a string, followed by a code; other errors carry `{"error": "…"}`.
pub(crate) fn server_message(body: &[u8]) -> ServerMessage {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(value) => outer_text(&value),
        Err(_) => snippet(String::from_utf8_lossy(body).trim()),
    };
    let field = field_named_in(&text);
    ServerMessage { text, field }
}

fn outer_text(value: &Value) -> String {
    let Some(object) = value.as_object() else {
        return value.as_str().map(snippet).unwrap_or_else(|| snippet(&value.to_string()));
    };
    let message =
        key_ci(object, "message").or_else(|| key_ci(object, "error")).and_then(Value::as_str);
    let Some(message) = message else {
        return snippet(&value.to_string());
    };
    let correlation =
        key_ci(object, "correlationId").and_then(Value::as_str).filter(|c| !c.is_empty());
    let inner = inner_text(message);
    match correlation {
        Some(id) => format!("{inner} (correlation id {id})"),
        None => inner,
    }
}

/// The `error` of the JSON at the start of `message`, or the message itself.
fn inner_text(message: &str) -> String {
    let text = raw_inner_text(message);
    text.trim().trim_end_matches(['-', ' ']).trim().to_owned()
}

fn raw_inner_text(message: &str) -> String {
    let trimmed = message.trim_start();
    if trimmed.starts_with('{') {
        let mut values = serde_json::Deserializer::from_str(trimmed).into_iter::<Value>();
        if let Some(Ok(Value::Object(inner))) = values.next() {
            for key in ["error", "message", "error_message"] {
                if let Some(text) = key_ci(&inner, key).and_then(Value::as_str) {
                    return snippet(text);
                }
            }
        }
    }
    snippet(message)
}

/// The request field a rejection text names: `column 'URGENCY_ID'`, a foreign key
/// `FK_SD_REQUEST_SD_URGENCY`, or `Urgency ID doesn't exist`.
pub(crate) fn field_named_in(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if let Some(at) = lower.find("column '") {
        let rest = &text[at + "column '".len()..];
        if let Some(end) = rest.find('\'') {
            return Some(rest[..end].to_ascii_lowercase());
        }
    }
    if let Some(at) = lower.find("fk_sd_request_") {
        let name: String = text[at + "fk_sd_request_".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let table = name.to_ascii_lowercase();
        let table =
            table.strip_prefix("sd_").or_else(|| table.strip_prefix("am_")).unwrap_or(&table);
        if !table.is_empty() {
            return Some(format!("{table}_id"));
        }
    }
    if let Some(at) = lower.find(" id doesn't exist") {
        let word: String = lower[..at].rsplit(' ').next().unwrap_or_default().to_owned();
        if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
            return Some(format!("{word}_id"));
        }
    }
    for field in ["external_reference", "catalog_guid", "catalog_code", "end_date"] {
        if lower.contains(field) {
            return Some(field.to_owned());
        }
    }
    None
}

/// Looks a key up ignoring case: EasyVista's keys are case-insensitive.
pub(crate) fn key_ci<'a>(
    object: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Option<&'a Value> {
    object
        .get(key)
        .or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// At most 300 characters of server text, on one line.
pub(crate) fn snippet(text: &str) -> String {
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut out: String = one_line.chars().take(300).collect();
    if one_line.chars().count() > 300 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_590_inner_message_and_its_field_are_read() {
        let body = serde_json::json!({
            "message": "{\"error\": \"The INSERT statement conflicted with the FOREIGN KEY constraint \\\"FK_SD_REQUEST_SD_URGENCY\\\". The conflict occurred in database \\\"EVO_DATA50010\\\", table \\\"40000.SD_URGENCY\\\", column 'URGENCY_ID'\"} (2013-628f8b26158fb)",
            "correlationId": "628f8b26158fb",
            "dataError": "",
            "exception": []
        });
        let message = server_message(body.to_string().as_bytes());
        assert!(message.text.starts_with("The INSERT statement conflicted"), "{}", message.text);
        assert!(message.text.ends_with("(correlation id 628f8b26158fb)"), "{}", message.text);
        assert!(!message.text.contains("{\"error\""), "{}", message.text);
        assert_eq!(message.field.as_deref(), Some("urgency_id"));
    }

    #[test]
    fn fields_are_found_in_every_known_wording() {
        assert_eq!(
            field_named_in("conflicted with \"FK_SD_REQUEST_SD_IMPACT\"").as_deref(),
            Some("impact_id")
        );
        assert_eq!(field_named_in("Urgency ID doesn't exist - ").as_deref(), Some("urgency_id"));
        assert_eq!(
            field_named_in("external_reference is longer than 50").as_deref(),
            Some("external_reference")
        );
        assert_eq!(field_named_in("=(1,35) expected token:( * + - . IDENTIFIER"), None);
    }

    #[test]
    fn plain_error_bodies_and_non_json_are_read_too() {
        assert_eq!(
            server_message(br#"{"error": "Invalid Login / Password"}"#).text,
            "Invalid Login / Password"
        );
        assert_eq!(server_message(b"Bad Gateway").text, "Bad Gateway");
        let inner =
            serde_json::json!({"message": "{\"error\": \"Urgency ID doesn't exist - \"} (2013-1)"});
        let message = server_message(inner.to_string().as_bytes());
        assert_eq!(message.text, "Urgency ID doesn't exist");
        assert_eq!(message.field.as_deref(), Some("urgency_id"));
    }

    #[test]
    fn each_class_maps_to_the_ports_class() {
        let rejected = EasyVistaError::Rejected {
            what: "POST requests".into(),
            status: 590,
            message: "bad".into(),
            field: Some("urgency_id".into()),
        };
        assert_eq!(
            TicketingError::from(rejected),
            TicketingError::Rejected {
                status: 590,
                message: "bad".into(),
                field: Some("urgency_id".into())
            }
        );
        let timeout = TicketingError::from(EasyVistaError::Timeout { what: "GET requests".into() });
        assert_eq!(timeout.class(), "timeout");
        let lost = TicketingError::from(EasyVistaError::ConnectionLost {
            what: "x".into(),
            reason: "reset".into(),
        });
        assert_eq!(lost.class(), "unreachable");
    }
}
