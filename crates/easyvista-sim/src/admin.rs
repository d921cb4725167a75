//! The admin side, outside the EasyVista routes: move tickets through statuses, delete them,
//! seed employees and tickets, reset, read counters and inject faults; in process through
//! [`Admin`] and over HTTP under `/_admin/`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};

use crate::config::{EmployeeSeed, StatusKind};
use crate::error::AdminError;
use crate::faults::{Counters, FaultSpec};
use crate::instance::{Store, Ticket, employee_from_seed};
use crate::server::Shared;

/// A status given by its role in the default table or by its GUID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusRef {
    Kind(StatusKind),
    Guid(String),
}

impl From<StatusKind> for StatusRef {
    fn from(kind: StatusKind) -> Self {
        Self::Kind(kind)
    }
}

impl From<&str> for StatusRef {
    fn from(guid: &str) -> Self {
        Self::Guid(guid.to_string())
    }
}

/// A ticket to create without going through `POST /requests`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketSeed {
    pub catalog_code: String,
    pub title: String,
    pub description: String,
    pub external_reference: String,
    /// The REST user when `None`.
    pub recipient_id: Option<u64>,
    /// In progress when `None`.
    pub status: Option<StatusKind>,
}

impl Default for TicketSeed {
    fn default() -> Self {
        Self {
            catalog_code: "25".into(),
            title: "Seeded ticket".into(),
            description: String::new(),
            external_reference: String::new(),
            recipient_id: None,
            status: None,
        }
    }
}

/// What a test may want to know about a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketSnapshot {
    pub rfc: String,
    pub request_id: u64,
    pub external_reference: String,
    pub title: String,
    pub catalog_code: String,
    pub status_id: u64,
    pub status_guid: String,
    pub status_label: String,
    /// `END_DATE_UT` as the API shows it, when set.
    pub end_date: Option<String>,
    /// `LAST_UPDATE` as the API shows it.
    pub last_update: String,
    /// Closed or in a final status: writes are refused.
    pub closed: bool,
    pub comment: String,
    pub description: String,
    /// `RECIPIENT_ID`, and the reference ids as numbers in text ("" when unset).
    pub recipient_id: String,
    pub urgency_id: String,
    pub severity_id: String,
    pub impact_id: String,
    pub origin: String,
}

/// The in-process admin handle; cheap to clone.
#[derive(Clone)]
pub struct Admin {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

impl Admin {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Moves a ticket to any status, as the workflow would. A final status (closed, canceled,
    /// rejected) sets `END_DATE_UT` and refuses later writes; any other status reopens it.
    pub fn set_ticket_status(
        &self,
        rfc: &str,
        status: impl Into<StatusRef>,
    ) -> Result<TicketSnapshot, AdminError> {
        let instance = &self.shared.instance;
        let status = match status.into() {
            StatusRef::Kind(kind) => instance
                .status_by_kind(kind)
                .ok_or_else(|| AdminError::UnknownStatus(format!("{kind:?}")))?,
            StatusRef::Guid(guid) => {
                instance.status_by_guid(&guid).ok_or(AdminError::UnknownStatus(guid))?
            }
        };
        let (status_id, is_final) = (status.id, status.kind.is_final());
        let now = instance.clock.next_stamp();
        let mut store = self.shared.write();
        let ticket =
            store.ticket_mut(rfc).ok_or_else(|| AdminError::UnknownTicket(rfc.to_string()))?;
        ticket.status_id = status_id;
        ticket.suspended_from = None;
        ticket.closed = is_final;
        ticket.end = is_final.then_some(now);
        ticket.last_update = now;
        tracing::debug!(ticket = %rfc, status = status_id, "ticket moved by admin");
        let ticket = ticket.clone();
        Ok(self.snapshot(&ticket))
    }

    pub fn solve_ticket(&self, rfc: &str) -> Result<TicketSnapshot, AdminError> {
        self.set_ticket_status(rfc, StatusKind::Solved)
    }

    pub fn close_ticket(&self, rfc: &str) -> Result<TicketSnapshot, AdminError> {
        self.set_ticket_status(rfc, StatusKind::Closed)
    }

    pub fn cancel_ticket(&self, rfc: &str) -> Result<TicketSnapshot, AdminError> {
        self.set_ticket_status(rfc, StatusKind::Canceled)
    }

    pub fn reject_ticket(&self, rfc: &str) -> Result<TicketSnapshot, AdminError> {
        self.set_ticket_status(rfc, StatusKind::Rejected)
    }

    pub fn delete_ticket(&self, rfc: &str) -> Result<(), AdminError> {
        self.shared
            .write()
            .remove_ticket(rfc)
            .map(|_| ())
            .ok_or_else(|| AdminError::UnknownTicket(rfc.to_string()))
    }

    /// Adds or replaces employees; returns their ids (given ones, or fresh ones above the
    /// synthetic range).
    pub fn seed_employees(&self, seeds: Vec<EmployeeSeed>) -> Result<Vec<u64>, AdminError> {
        let now = self.shared.instance.clock.next_stamp();
        let mut store = self.shared.write();
        Ok(seeds
            .iter()
            .map(|seed| store.directory.insert(employee_from_seed(seed, now), seed.id))
            .collect())
    }

    /// Creates a ticket directly; returns its RFC number.
    pub fn seed_ticket(&self, seed: TicketSeed) -> Result<String, AdminError> {
        let instance = &self.shared.instance;
        let catalog = instance
            .catalog_by_code(&seed.catalog_code)
            .ok_or_else(|| AdminError::UnknownCatalog(seed.catalog_code.clone()))?;
        let status = instance
            .status_by_kind(seed.status.unwrap_or(StatusKind::InProgress))
            .ok_or_else(|| AdminError::UnknownStatus(format!("{:?}", seed.status)))?;
        let now = instance.clock.next_stamp();
        let mut store = self.shared.write();
        let caller = instance.caller_id(&store);
        let recipient_id = seed.recipient_id.unwrap_or(caller);
        let recipient =
            store.directory.get(recipient_id).ok_or(AdminError::UnknownEmployee(recipient_id))?;
        let day = instance.clock.to_local(now).format("%y%m%d").to_string();
        let (request_id, rfc) = store.allocate_number(catalog.ticket_type.letter(), &day);
        let is_final = status.kind.is_final();
        store.insert_ticket(Ticket {
            request_id,
            rfc: rfc.clone(),
            catalog_id: catalog.id,
            status_id: status.id,
            urgency_id: None,
            severity_id: None,
            impact_id: None,
            origin: String::new(),
            recipient_id,
            requestor_id: recipient_id,
            submitted_by: caller,
            owner_id: None,
            location_id: recipient.location_id,
            department_id: recipient.department_id,
            external_reference: seed.external_reference,
            title: seed.title,
            comment: String::new(),
            description: seed.description,
            requestor_phone: String::new(),
            creation: now,
            submit: now,
            max_resolution: now + 8 * 3600 * 1000,
            end: is_final.then_some(now),
            last_update: now,
            closed: is_final,
            suspended_from: None,
        });
        Ok(rfc)
    }

    /// Back to the configured state: tickets, employees, counters and faults.
    pub fn reset(&self) {
        let fresh = Store::new(&self.shared.instance);
        *self.shared.write() = fresh;
        self.shared.counters.reset();
        self.shared.faults.clear();
    }

    pub fn counters(&self) -> Counters {
        self.shared.counters.snapshot()
    }

    /// Every ticket, in creation order.
    pub fn tickets(&self) -> Vec<TicketSnapshot> {
        let store = self.shared.read();
        store.tickets.values().map(|t| self.snapshot(t)).collect()
    }

    pub fn ticket(&self, rfc: &str) -> Option<TicketSnapshot> {
        let store = self.shared.read();
        store.ticket(rfc).map(|t| self.snapshot(t))
    }

    /// Sets the fault of a route label from [`crate::routes`] (or [`crate::routes::ANY`]).
    pub fn set_fault(&self, route: &str, spec: FaultSpec) -> Result<(), AdminError> {
        self.shared.faults.set(route, spec)
    }

    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    fn snapshot(&self, t: &Ticket) -> TicketSnapshot {
        let instance = &self.shared.instance;
        let status = instance.status(t.status_id);
        TicketSnapshot {
            rfc: t.rfc.clone(),
            request_id: t.request_id,
            external_reference: t.external_reference.clone(),
            title: t.title.clone(),
            catalog_code: instance
                .catalog(t.catalog_id)
                .map(|c| c.code.clone())
                .unwrap_or_default(),
            status_id: t.status_id,
            status_guid: status.map(|s| s.guid.clone()).unwrap_or_default(),
            status_label: status.map(|s| s.label.clone()).unwrap_or_default(),
            end_date: t.end.map(|ms| instance.clock.format(ms)),
            last_update: instance.clock.format(t.last_update),
            closed: t.closed,
            comment: t.comment.clone(),
            description: t.description.clone(),
            recipient_id: t.recipient_id.to_string(),
            urgency_id: t.urgency_id.map(|id| id.to_string()).unwrap_or_default(),
            severity_id: t.severity_id.map(|id| id.to_string()).unwrap_or_default(),
            impact_id: t.impact_id.map(|id| id.to_string()).unwrap_or_default(),
            origin: t.origin.clone(),
        }
    }
}

// === over HTTP ===

type AdminState = State<Arc<Shared>>;

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::UnknownTicket(_) | Self::UnknownEmployee(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, axum::Json(serde_json::json!({ "error": self.to_string() }))).into_response()
    }
}

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_admin/tickets", get(http_tickets).post(http_seed_ticket))
        .route("/_admin/tickets/{rfc}", get(http_ticket).delete(http_delete_ticket))
        .route("/_admin/tickets/{rfc}/status", put(http_set_status))
        .route("/_admin/employees", post(http_seed_employees))
        .route("/_admin/reset", post(http_reset))
        .route("/_admin/counters", get(http_counters))
        .route("/_admin/faults", put(http_set_fault).delete(http_clear_faults))
}

fn admin(shared: Arc<Shared>) -> Admin {
    Admin::new(shared)
}

async fn http_tickets(State(shared): AdminState) -> Response {
    axum::Json(admin(shared).tickets()).into_response()
}

async fn http_ticket(
    State(shared): AdminState,
    Path(rfc): Path<String>,
) -> Result<Response, AdminError> {
    let ticket = admin(shared).ticket(&rfc).ok_or(AdminError::UnknownTicket(rfc))?;
    Ok(axum::Json(ticket).into_response())
}

async fn http_seed_ticket(
    State(shared): AdminState,
    axum::Json(seed): axum::Json<TicketSeed>,
) -> Result<Response, AdminError> {
    let rfc = admin(shared).seed_ticket(seed)?;
    Ok((StatusCode::CREATED, axum::Json(serde_json::json!({ "rfc": rfc }))).into_response())
}

async fn http_delete_ticket(
    State(shared): AdminState,
    Path(rfc): Path<String>,
) -> Result<Response, AdminError> {
    admin(shared).delete_ticket(&rfc)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn http_set_status(
    State(shared): AdminState,
    Path(rfc): Path<String>,
    axum::Json(status): axum::Json<StatusRef>,
) -> Result<Response, AdminError> {
    Ok(axum::Json(admin(shared).set_ticket_status(&rfc, status)?).into_response())
}

async fn http_seed_employees(
    State(shared): AdminState,
    axum::Json(seeds): axum::Json<Vec<EmployeeSeed>>,
) -> Result<Response, AdminError> {
    let ids = admin(shared).seed_employees(seeds)?;
    Ok((StatusCode::CREATED, axum::Json(serde_json::json!({ "ids": ids }))).into_response())
}

async fn http_reset(State(shared): AdminState) -> Response {
    admin(shared).reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn http_counters(State(shared): AdminState) -> Response {
    axum::Json(admin(shared).counters()).into_response()
}

#[derive(Deserialize)]
struct FaultRequest {
    route: String,
    #[serde(default)]
    fault: FaultSpec,
}

async fn http_set_fault(
    State(shared): AdminState,
    axum::Json(body): axum::Json<FaultRequest>,
) -> Result<Response, AdminError> {
    admin(shared).set_fault(&body.route, body.fault)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn http_clear_faults(State(shared): AdminState) -> Response {
    admin(shared).clear_faults();
    StatusCode::NO_CONTENT.into_response()
}
