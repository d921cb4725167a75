//! The pure core of ticket-agent: provisioning orders, resource-type mappings, ticket drafts,
//! ticket outcomes and the provisioning states they produce.
//!
//! Architecture invariant: this crate does no I/O, knows no async runtime and no HTTP or SQL
//! types. Everything here is a function of its arguments, so every rule is testable with plain
//! values. Time is always passed in by the caller.

pub mod mapping;
pub mod order;
pub mod outcome;
pub mod reference;
pub mod template;
pub mod ticket;

pub use mapping::{CatalogCodes, MappingError, RecipientKind, ResourceTypeMapping};
pub use order::{
    ChangeType, OrderEntry, OrderError, OrderFile, OrderFileError, ProvisioningOrder,
    fingerprint_of,
};
pub use outcome::{OutcomePolicy, ProvisioningState, StateReport, TicketOutcome, report};
pub use reference::ExternalReference;
pub use template::{
    RenderedTicket, TemplateError, TemplateOptions, TemplateSource, TicketTemplates,
};
pub use ticket::{CatalogRef, Classification, StatusClassifier, TicketDraft, TicketNumber};
