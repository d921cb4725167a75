//! Tickets as the domain sees them: the draft to open, the number EasyVista gives it, and the
//! rule that reads a ticket's status as an outcome.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::mapping::RecipientKind;
use crate::outcome::TicketOutcome;
use crate::reference::ExternalReference;

/// EasyVista's Closed meta-status, applied by a plain close.
pub const CLOSED_META_STATUS_GUID: &str = "C3D9DFA7-7A21-46C2-B3A3-8BC50C9FF4F3";

/// A ticket's RFC number (`I251203_000042`), the last segment of the HREF EasyVista returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TicketNumber(String);

/// How the catalog entry (the ticket's subject) is named on create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CatalogRef {
    /// Sent as `catalog_guid`.
    Guid(String),
    /// Sent as `catalog_code`.
    Code(String),
}

/// Everything needed to open one ticket for one order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketDraft {
    pub external_reference: ExternalReference,
    pub catalog: CatalogRef,
    pub title: String,
    pub description: String,
    pub urgency_id: Option<String>,
    pub severity_id: Option<String>,
    pub impact_id: Option<String>,
    pub recipient: String,
    #[serde(skip)]
    pub recipient_kind: RecipientKind,
    pub origin: Option<String>,
}

/// Reads a ticket's status GUID and end date as an outcome, against configurable sets.
///
/// GUIDs are compared without braces and ignoring case. A ticket whose status is in no set is
/// open unless it has an end date, in which case it ended without the work (canceled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusClassifier {
    closed: BTreeSet<String>,
    canceled: BTreeSet<String>,
    rejected: BTreeSet<String>,
}

/// The classifier's reading, and whether the status was one it was told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub outcome: TicketOutcome,
    pub known_status: bool,
}

// === TicketNumber ===

impl TicketNumber {
    pub fn new(text: &str) -> Result<TicketNumber, String> {
        let text = text.trim();
        if text.is_empty() || text.contains(['/', '"', ',', ' ', '?', '#']) {
            return Err(format!("{text:?} is not a ticket number"));
        }
        Ok(TicketNumber(text.to_owned()))
    }

    /// The RFC number at the end of a ticket HREF (`…/requests/I251203_000042`).
    pub fn from_href(href: &str) -> Result<TicketNumber, String> {
        let path = href.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
        let last = path.rsplit('/').next().unwrap_or_default();
        TicketNumber::new(last).map_err(|_| format!("no ticket number at the end of HREF {href:?}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// === CatalogRef ===

impl CatalogRef {
    /// A value shaped like a GUID (braces optional) is a catalog GUID; anything else a code.
    pub fn from_value(value: &str) -> CatalogRef {
        let bare = normalize_guid(value);
        let is_guid = bare.len() == 36
            && bare.chars().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            });
        if is_guid { CatalogRef::Guid(bare) } else { CatalogRef::Code(value.trim().to_owned()) }
    }
}

/// A GUID without braces, upper case: the form GUIDs are compared in.
pub fn normalize_guid(guid: &str) -> String {
    guid.trim().trim_start_matches('{').trim_end_matches('}').to_ascii_uppercase()
}

// === StatusClassifier ===

impl Default for StatusClassifier {
    fn default() -> Self {
        StatusClassifier::new([CLOSED_META_STATUS_GUID], [], [])
    }
}

impl StatusClassifier {
    pub fn new<'a>(
        closed: impl IntoIterator<Item = &'a str>,
        canceled: impl IntoIterator<Item = &'a str>,
        rejected: impl IntoIterator<Item = &'a str>,
    ) -> StatusClassifier {
        StatusClassifier {
            closed: closed.into_iter().map(normalize_guid).collect(),
            canceled: canceled.into_iter().map(normalize_guid).collect(),
            rejected: rejected.into_iter().map(normalize_guid).collect(),
        }
    }

    /// `end_date` is the ticket's END_DATE_UT: empty while the ticket is open.
    pub fn classify(&self, status_guid: &str, end_date: &str) -> Classification {
        let guid = normalize_guid(status_guid);
        let known = |outcome| Classification { outcome, known_status: true };
        if self.closed.contains(&guid) {
            known(TicketOutcome::Closed)
        } else if self.canceled.contains(&guid) {
            known(TicketOutcome::Canceled)
        } else if self.rejected.contains(&guid) {
            known(TicketOutcome::Rejected)
        } else if !end_date.trim().is_empty() {
            Classification { outcome: TicketOutcome::Canceled, known_status: false }
        } else {
            Classification { outcome: TicketOutcome::Open, known_status: false }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_number_is_the_last_segment_of_the_href() {
        let href = "https://ev.example.com/api/v1/50004/requests/I210412_000001";
        assert_eq!(TicketNumber::from_href(href).unwrap().as_str(), "I210412_000001");
        assert_eq!(
            TicketNumber::from_href(&format!("{href}/")).unwrap().as_str(),
            "I210412_000001"
        );
        assert!(TicketNumber::from_href("").is_err());
    }

    #[test]
    fn catalog_values_shaped_like_guids_are_guids() {
        assert_eq!(
            CatalogRef::from_value("{61e17eff-5ed7-4b20-b26f-4fac57555ebc}"),
            CatalogRef::Guid("61E17EFF-5ED7-4B20-B26F-4FAC57555EBC".into())
        );
        assert_eq!(CatalogRef::from_value("42"), CatalogRef::Code("42".into()));
        assert_eq!(
            CatalogRef::from_value("61E17EFF-5ED7"),
            CatalogRef::Code("61E17EFF-5ED7".into())
        );
    }

    #[test]
    fn statuses_compare_without_braces_and_ignoring_case() {
        let classifier = StatusClassifier::new(
            [CLOSED_META_STATUS_GUID],
            ["{aaaaaaaa-0000-0000-0000-000000000001}"],
            ["BBBBBBBB-0000-0000-0000-000000000002"],
        );
        let closed = classifier
            .classify("{c3d9dfa7-7a21-46c2-b3a3-8bc50c9ff4f3}", "2026-01-01T00:00:00.000+01:00");
        assert_eq!(closed, Classification { outcome: TicketOutcome::Closed, known_status: true });
        assert_eq!(
            classifier.classify("AAAAAAAA-0000-0000-0000-000000000001", "x").outcome,
            TicketOutcome::Canceled
        );
        assert_eq!(
            classifier.classify("{bbbbbbbb-0000-0000-0000-000000000002}", "").outcome,
            TicketOutcome::Rejected
        );
    }

    #[test]
    fn unknown_status_is_open_unless_the_ticket_has_ended() {
        let classifier = StatusClassifier::default();
        let open = classifier.classify("{DC97DD1D-0F35-4153-B0E1-0F2E0155365D}", "");
        assert_eq!(open, Classification { outcome: TicketOutcome::Open, known_status: false });
        let ended = classifier
            .classify("{DC97DD1D-0F35-4153-B0E1-0F2E0155365D}", "2026-01-01T00:00:00.000+01:00");
        assert_eq!(ended.outcome, TicketOutcome::Canceled);
    }
}
