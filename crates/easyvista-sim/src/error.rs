//! Errors: those of the public API ([`SimulatorError`], [`AdminError`]) and the answers the
//! EasyVista routes give when they refuse a call ([`ApiError`]).

/// Starting or stopping the simulator failed.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// An admin action could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("no ticket {0}")]
    UnknownTicket(String),
    #[error("no status {0} in the status table")]
    UnknownStatus(String),
    #[error("no catalog entry with code {0}")]
    UnknownCatalog(String),
    #[error("no employee {0}")]
    UnknownEmployee(u64),
    #[error("unknown route {0:?}; known routes are listed in easyvista_sim::routes")]
    UnknownRoute(String),
    #[error("invalid fault: {0}")]
    InvalidFault(String),
}

/// Why an EasyVista route refused a call; each maps to the status and body the real API uses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ApiError {
    /// 401, also for an unknown account.
    #[error("invalid login or password")]
    Unauthorized,
    /// 403: the real API cannot tell a missing route from a forbidden one.
    #[error("route not allowed")]
    Forbidden,
    /// 404
    #[error("resource not found")]
    NotFound,
    /// 406: the recipient is unknown.
    #[error("recipient not found")]
    RecipientUnknown,
    /// 590 with the given text in the embedded error.
    #[error("rejected: {0}")]
    Rejected(String),
    /// 400: a body that is not JSON, or (in strict mode) a search that cannot be parsed.
    #[error("bad request: {0}")]
    BadRequest(String),
}
