//! The ticketing backend: open tickets, find them again, follow many of them cheaply.

use async_trait::async_trait;
use ta_domain::{ExternalReference, TicketDraft, TicketNumber, TicketOutcome};

/// A service desk that holds tickets (EasyVista, or another one behind the same port).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait TicketingBackend: Send + Sync {
    /// Opens one ticket. An implementation must never open a second ticket for the same
    /// external reference: when it cannot tell whether a create went through (a timeout, a
    /// dropped connection, an ambiguous rejection), it looks the reference up and adopts the
    /// ticket it finds instead of sending the create again.
    async fn open_ticket(&self, draft: &TicketDraft) -> Result<OpenedTicket, TicketingError>;

    /// The ticket carrying this external reference, if there is one.
    async fn find_by_external_reference(
        &self,
        reference: &ExternalReference,
    ) -> Result<Option<TicketNumber>, TicketingError>;

    /// The outcomes of many tickets, read in batches. With a watermark from the previous
    /// cycle, an implementation may report only the tickets that changed since then; tickets
    /// it does not report are unchanged.
    async fn follow(&self, request: &FollowRequest) -> Result<FollowReport, TicketingError>;

    /// A cheap call proving the backend answers and accepts the credentials; returns a short
    /// description of what answered.
    async fn check_connection(&self) -> Result<String, TicketingError>;
}

/// A ticket that now exists for a draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedTicket {
    pub number: TicketNumber,
    /// True when the ticket was found by its external reference rather than created by this
    /// call (a previous attempt had created it).
    pub adopted: bool,
}

/// Which tickets to follow this cycle.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FollowRequest {
    pub tickets: Vec<TicketNumber>,
    /// Opaque position returned by the previous cycle's report; `None` asks for a full read.
    pub watermark: Option<String>,
}

/// What one follow cycle learned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FollowReport {
    pub observations: Vec<TicketObservation>,
    /// Where the next cycle may start from.
    pub watermark: Option<String>,
    /// HTTP requests (or equivalent calls) this cycle cost, for logs and metrics.
    pub requests: u64,
}

/// One ticket's outcome as read this cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketObservation {
    pub ticket: TicketNumber,
    pub outcome: TicketOutcome,
    /// The status as the backend names it, for messages.
    pub status: String,
}

/// Why a call to the ticketing backend failed, in classes callers act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketingError {
    /// The credentials or the account were refused. Retrying will not help.
    #[error("authentication refused: {0}")]
    Authentication(String),
    /// The resource does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The backend refused the request as invalid (EasyVista 406 or 590); `field` names the
    /// offending field when the backend says it.
    #[error("rejected by the service desk (HTTP {status}): {message}{}", describe_field(.field))]
    Rejected { status: u16, message: String, field: Option<String> },
    /// No connection could be made, or it was lost before an answer.
    #[error("service desk unreachable: {0}")]
    Unreachable(String),
    /// No answer in time.
    #[error("service desk did not answer in time: {0}")]
    Timeout(String),
    /// The answer was not what the API promises.
    #[error("unexpected answer from the service desk: {0}")]
    Protocol(String),
    /// A create may or may not have happened and the check by external reference failed too:
    /// the caller must look the reference up again before any new create.
    #[error("create of {reference} unconfirmed: {reason}")]
    Unconfirmed { reference: String, reason: String },
}

fn describe_field(field: &Option<String>) -> String {
    field.as_ref().map(|f| format!(" (field {f})")).unwrap_or_default()
}

impl TicketingError {
    /// Worth trying again later: the failure says nothing about the request itself.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable(_) | Self::Timeout(_) | Self::Unconfirmed { .. } | Self::Protocol(_)
        )
    }

    /// A short class name for logs and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Authentication(_) => "authentication",
            Self::NotFound(_) => "not_found",
            Self::Rejected { .. } => "rejected",
            Self::Unreachable(_) => "unreachable",
            Self::Timeout(_) => "timeout",
            Self::Protocol(_) => "protocol",
            Self::Unconfirmed { .. } => "unconfirmed",
        }
    }
}
