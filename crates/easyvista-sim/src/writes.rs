//! The writes of the EasyVista routes: creating, updating, closing, suspending and restarting
//! tickets, creating and updating employees.
//!
//! Keys are case-insensitive and unknown keys are ignored. Every check runs before anything is
//! changed, so a refused write leaves the store as it was.

use std::collections::HashMap;

use serde_json::Value as Json;

use crate::clock::Millis;
use crate::config::{CatalogEntry, ReferenceEntry, StatusKind};
use crate::employees::{Employee, EmployeeKey};
use crate::error::ApiError;
use crate::instance::{Instance, Store, Ticket};

/// The most characters `EXTERNAL_REFERENCE` holds.
pub const EXTERNAL_REFERENCE_MAX: usize = 50;
const MAX_RESOLUTION_DELAY_MS: i64 = 8 * 3600 * 1000;
const NOTHING_TO_UPDATE: &str =
    "Nothing to update (check fieldnames, if wrong they are ignored) - ";
/// What the real server says when the SQL it built from an under-specified body does not parse.
const PARSER_ERROR: &str = "=(1,41) expected token:( * + - . IDENTIFIER CASE NOT - ";

/// A write body item with its keys in lower case and its scalar values as text.
pub(crate) struct Fields(HashMap<String, Json>);

impl Fields {
    pub(crate) fn from_json(value: &Json) -> Option<Self> {
        let object = value.as_object()?;
        Some(Self(object.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect()))
    }

    /// The first item of `{"<table>": [ … ]}`; later items are ignored, as on real instances.
    pub(crate) fn first_item(body: &Json, table: &str) -> Result<Self, ApiError> {
        let envelope = Self::from_json(body)
            .ok_or_else(|| ApiError::Rejected(format!("no {table} table in the body - ")))?;
        let item = match envelope.0.get(table) {
            Some(Json::Array(items)) => items.first(),
            Some(object @ Json::Object(_)) => Some(object),
            _ => None,
        };
        item.and_then(Self::from_json)
            .ok_or_else(|| ApiError::Rejected(format!("no {table} table in the body - ")))
    }

    pub(crate) fn text(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            Json::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
            Json::Null => Some(String::new()),
            _ => None,
        }
    }

    /// The text of `key` when it is present and not blank.
    fn given(&self, key: &str) -> Option<String> {
        self.text(key).filter(|v| !v.trim().is_empty())
    }

    pub(crate) fn object(&self, key: &str) -> Option<Fields> {
        match self.0.get(key)? {
            Json::Object(_) => Self::from_json(&self.0[key]),
            _ => Some(Self(HashMap::new())),
        }
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

/// The 590 text of a foreign-key violation on SD_REQUEST.
fn foreign_key(instance: &Instance, constraint: &str, table: &str, column: &str) -> ApiError {
    ApiError::Rejected(format!(
        "The INSERT statement conflicted with the FOREIGN KEY constraint \"{constraint}\". \
         The conflict occurred in database \"EVO_DATA{}\", table \"40000.{table}\", column '{column}'",
        instance.config.account
    ))
}

fn parse_id(value: &str) -> Option<u64> {
    value.trim().parse().ok()
}

/// Checks an optional reference id against its table.
fn reference_id(
    fields: &Fields,
    key: &str,
    table: &[ReferenceEntry],
    on_error: impl Fn() -> ApiError,
) -> Result<Option<u64>, ApiError> {
    let Some(raw) = fields.given(key) else { return Ok(None) };
    match parse_id(&raw) {
        Some(id) if table.iter().any(|e| e.id == id) => Ok(Some(id)),
        _ => Err(on_error()),
    }
}

fn location_of(instance: &Instance, fields: &Fields) -> Result<Option<u64>, ApiError> {
    let locations = &instance.config.locations;
    if let Some(raw) = fields.given("location_id") {
        return match parse_id(&raw).filter(|id| locations.iter().any(|l| l.id == *id)) {
            Some(id) => Ok(Some(id)),
            None => Err(foreign_key(
                instance,
                "FK_SD_REQUEST_AM_LOCATION",
                "AM_LOCATION",
                "LOCATION_ID",
            )),
        };
    }
    if let Some(code) = fields.given("location_code") {
        return match locations.iter().find(|l| l.code.eq_ignore_ascii_case(code.trim())) {
            Some(l) => Ok(Some(l.id)),
            None => Err(ApiError::Rejected(format!("Location code {code} doesn't exist - "))),
        };
    }
    Ok(None)
}

fn department_of(instance: &Instance, fields: &Fields) -> Result<Option<u64>, ApiError> {
    let departments = &instance.config.departments;
    if let Some(raw) = fields.given("department_id") {
        return match parse_id(&raw).filter(|id| departments.iter().any(|d| d.id == *id)) {
            Some(id) => Ok(Some(id)),
            None => Err(foreign_key(
                instance,
                "FK_SD_REQUEST_AM_DEPARTMENT",
                "AM_DEPARTMENT",
                "DEPARTMENT_ID",
            )),
        };
    }
    if let Some(code) = fields.given("department_code") {
        return match departments.iter().find(|d| d.code.eq_ignore_ascii_case(code.trim())) {
            Some(d) => Ok(Some(d.id)),
            None => Err(ApiError::Rejected(format!("Department code {code} doesn't exist - "))),
        };
    }
    Ok(None)
}

fn catalog_of<'a>(instance: &'a Instance, fields: &Fields) -> Result<&'a CatalogEntry, ApiError> {
    // A wrong GUID stops the create: the code is then never looked at.
    if let Some(guid) = fields.given("catalog_guid") {
        return instance
            .catalog_by_guid(&guid)
            .ok_or_else(|| ApiError::Rejected(PARSER_ERROR.into()));
    }
    if let Some(code) = fields.given("catalog_code") {
        return instance
            .catalog_by_code(&code)
            .ok_or_else(|| ApiError::Rejected(PARSER_ERROR.into()));
    }
    Err(ApiError::Rejected(PARSER_ERROR.into()))
}

/// Finds an employee by the first of `keys` present in the body; `None` when none is present.
fn person_of(store: &Store, fields: &Fields, keys: &[(&str, EmployeeKey)]) -> Option<Option<u64>> {
    let (value, key) = keys.iter().find_map(|(name, key)| fields.given(name).map(|v| (v, *key)))?;
    Some(store.directory.find(key, &value).first().copied())
}

fn check_external_reference(value: &str) -> Result<(), ApiError> {
    if value.chars().count() > EXTERNAL_REFERENCE_MAX {
        return Err(ApiError::Rejected(
            "String or binary data would be truncated in column 'EXTERNAL_REFERENCE' - ".into(),
        ));
    }
    Ok(())
}

/// `POST /requests`: creates the ticket described by the first item and returns its RFC number.
pub(crate) fn create_ticket(
    instance: &Instance,
    store: &mut Store,
    body: &Json,
) -> Result<String, ApiError> {
    let fields = Fields::first_item(body, "requests")?;
    let config = &instance.config;

    let catalog = catalog_of(instance, &fields)?;
    let external_reference = fields.text("external_reference").unwrap_or_default();
    check_external_reference(&external_reference)?;

    let urgency_id = reference_id(&fields, "urgency_id", &config.urgencies, || {
        foreign_key(instance, "FK_SD_REQUEST_SD_URGENCY", "SD_URGENCY", "URGENCY_ID")
    })?;
    let severity_id = reference_id(&fields, "severity_id", &config.severities, || {
        foreign_key(instance, "FK_SD_REQUEST_SD_SEVERITY", "SD_SEVERITY", "SEVERITY_ID")
    })?;
    let impact_id = reference_id(&fields, "impact_id", &config.impacts, || {
        foreign_key(instance, "FK_SD_REQUEST_SD_IMPACT", "SD_IMPACT", "IMPACT_ID")
    })?;
    let location_id = location_of(instance, &fields)?;
    let department_id = department_of(instance, &fields)?;
    if catalog.requires_classification
        && (urgency_id.is_none() || impact_id.is_none() || department_id.is_none())
    {
        return Err(ApiError::Rejected(PARSER_ERROR.into()));
    }

    let caller = instance.caller_id(store);
    let recipient_keys = [
        ("recipient_id", EmployeeKey::Id),
        ("recipient_identification", EmployeeKey::Identification),
        ("recipient_mail", EmployeeKey::Mail),
        ("recipient_name", EmployeeKey::Name),
    ];
    let recipient_id = match person_of(store, &fields, &recipient_keys) {
        None => caller,
        Some(Some(id)) => id,
        Some(None) => return Err(ApiError::RecipientUnknown),
    };
    let requestor_keys = [
        ("requestor_identification", EmployeeKey::Identification),
        ("requestor_mail", EmployeeKey::Mail),
        ("requestor_name", EmployeeKey::Name),
    ];
    let requestor_id = if config.realism.requestor_is_caller {
        caller
    } else {
        person_of(store, &fields, &requestor_keys).flatten().unwrap_or(caller)
    };
    let submit = match fields.given("submit_date") {
        None => None,
        Some(raw) => Some(
            instance
                .clock
                .parse_user_date(&raw, config.user_date_format)
                .ok_or_else(|| ApiError::Rejected("Invalid Submit Date - ".into()))?,
        ),
    };

    let recipient = store.directory.get(recipient_id);
    let now = instance.clock.next_stamp();
    let day = instance.clock.to_local(now).format("%y%m%d").to_string();
    let (request_id, rfc) = store.allocate_number(catalog.ticket_type.letter(), &day);
    let description = fields.text("description").unwrap_or_default();
    let (comment, description) = if config.realism.description_in_comment {
        (description, String::new())
    } else {
        (fields.text("comment").unwrap_or_default(), description)
    };
    let status_id = instance
        .status_by_kind(StatusKind::InProgress)
        .or(config.statuses.first())
        .map_or(0, |s| s.id);
    store.insert_ticket(Ticket {
        request_id,
        rfc: rfc.clone(),
        catalog_id: catalog.id,
        status_id,
        urgency_id,
        severity_id,
        impact_id,
        origin: fields.text("origin").unwrap_or_default(),
        recipient_id,
        requestor_id,
        submitted_by: caller,
        owner_id: None,
        location_id: location_id.or(recipient.as_ref().and_then(|e| e.location_id)),
        department_id: department_id.or(recipient.as_ref().and_then(|e| e.department_id)),
        external_reference,
        title: fields.text("title").unwrap_or_default(),
        comment,
        description,
        requestor_phone: fields.text("phone").unwrap_or_default(),
        creation: now,
        submit: submit.unwrap_or(now),
        max_resolution: now + MAX_RESOLUTION_DELAY_MS,
        end: None,
        last_update: now,
        closed: false,
        suspended_from: None,
    });
    Ok(rfc)
}

/// `PUT /requests/{rfc}`: close, suspend, restart, or a flat update of columns.
pub(crate) fn update_ticket(
    instance: &Instance,
    store: &mut Store,
    rfc: &str,
    body: &Json,
) -> Result<(), ApiError> {
    let fields =
        Fields::from_json(body).ok_or_else(|| ApiError::Rejected(NOTHING_TO_UPDATE.into()))?;
    let ticket = store.ticket(rfc).ok_or(ApiError::NotFound)?;
    if ticket.closed {
        return Err(ApiError::Rejected(
            "The request is closed and can no longer be modified - ".into(),
        ));
    }
    let change = if let Some(inner) = fields.object("closed") {
        close_change(instance, ticket, &inner)?
    } else if let Some(inner) = fields.object("suspended") {
        suspend_change(instance, ticket, &inner)?
    } else if fields.has("restarted") {
        restart_change(instance, ticket)?
    } else {
        flat_change(instance, &fields)?
    };

    let now = instance.clock.next_stamp();
    let ticket = store.ticket_mut(rfc).ok_or(ApiError::NotFound)?;
    change(ticket, now);
    ticket.last_update = now;
    Ok(())
}

type Change = Box<dyn FnOnce(&mut Ticket, Millis)>;

fn append(memo: &mut String, text: &str) {
    if text.is_empty() {
        return;
    }
    if !memo.is_empty() {
        memo.push('\n');
    }
    memo.push_str(text);
}

fn close_change(instance: &Instance, ticket: &Ticket, inner: &Fields) -> Result<Change, ApiError> {
    let status = match inner.given("status_guid") {
        Some(guid) => instance
            .status_by_guid(&guid)
            .ok_or_else(|| ApiError::Rejected("Status GUID doesn't exist - ".into()))?,
        None => instance
            .status_by_kind(StatusKind::Closed)
            .ok_or_else(|| ApiError::Rejected("No closed status configured - ".into()))?,
    };
    if let Some(raw) = inner.given("end_date") {
        // The end date only dates the open actions; it must still be in the user's format.
        instance
            .clock
            .parse_user_date(&raw, instance.config.user_date_format)
            .ok_or_else(|| ApiError::Rejected("Invalid End Date - ".into()))?;
    }
    let catalog_id = match inner.given("catalog_guid") {
        Some(guid) => {
            instance
                .catalog_by_guid(&guid)
                .ok_or_else(|| ApiError::Rejected(PARSER_ERROR.into()))?
                .id
        }
        None => ticket.catalog_id,
    };
    let (status_id, comment) = (status.id, inner.text("comment").unwrap_or_default());
    Ok(Box::new(move |t, now| {
        t.status_id = status_id;
        t.catalog_id = catalog_id;
        t.end = Some(now);
        t.closed = true;
        t.suspended_from = None;
        append(&mut t.comment, &comment);
    }))
}

fn suspend_change(
    instance: &Instance,
    ticket: &Ticket,
    inner: &Fields,
) -> Result<Change, ApiError> {
    let suspended = instance
        .status_by_kind(StatusKind::Suspended)
        .ok_or_else(|| ApiError::Rejected("No suspended status configured - ".into()))?;
    if ticket.suspended_from.is_some() {
        return Err(ApiError::Rejected("The request is already suspended - ".into()));
    }
    let (status_id, comment) = (suspended.id, inner.text("comment").unwrap_or_default());
    Ok(Box::new(move |t, _| {
        t.suspended_from = Some(t.status_id);
        t.status_id = status_id;
        append(&mut t.comment, &comment);
    }))
}

fn restart_change(instance: &Instance, ticket: &Ticket) -> Result<Change, ApiError> {
    let Some(previous) = ticket.suspended_from else {
        return Err(ApiError::Rejected("The request is not suspended - ".into()));
    };
    let fallback = instance.status_by_kind(StatusKind::InProgress).map(|s| s.id);
    let status_id = instance.status(previous).map(|s| s.id).or(fallback).unwrap_or(previous);
    Ok(Box::new(move |t, _| {
        t.status_id = status_id;
        t.suspended_from = None;
    }))
}

/// A flat update: the columns a REST user may write. `status_id` is accepted and ignored, as on
/// real instances; a body with nothing else is "nothing to update".
fn flat_change(instance: &Instance, fields: &Fields) -> Result<Change, ApiError> {
    let config = &instance.config;
    let title = fields.text("title");
    let external_reference = fields.text("external_reference");
    if let Some(r) = &external_reference {
        check_external_reference(r)?;
    }
    let comment = fields.text("comment");
    let description = fields.text("description");
    let phone = fields.text("phone");
    let urgency = reference_id(fields, "urgency_id", &config.urgencies, || {
        ApiError::Rejected("Urgency ID doesn't exist - ".into())
    })?;
    let severity = reference_id(fields, "severity_id", &config.severities, || {
        ApiError::Rejected("Severity ID doesn't exist - ".into())
    })?;
    let impact = reference_id(fields, "impact_id", &config.impacts, || {
        ApiError::Rejected("Impact ID doesn't exist - ".into())
    })?;
    let owner = match fields.given("owner_id") {
        None => None,
        Some(raw) => Some(
            parse_id(&raw).ok_or_else(|| ApiError::Rejected("Owner ID doesn't exist - ".into()))?,
        ),
    };
    let location = location_of(instance, fields)?;
    let department = department_of(instance, fields)?;
    let anything = title.is_some()
        || external_reference.is_some()
        || comment.is_some()
        || description.is_some()
        || phone.is_some()
        || urgency.is_some()
        || severity.is_some()
        || impact.is_some()
        || owner.is_some()
        || location.is_some()
        || department.is_some();
    if !anything {
        return Err(ApiError::Rejected(NOTHING_TO_UPDATE.into()));
    }
    Ok(Box::new(move |t, _| {
        let set = |slot: &mut String, value: Option<String>| {
            if let Some(v) = value {
                *slot = v;
            }
        };
        set(&mut t.title, title);
        set(&mut t.external_reference, external_reference);
        set(&mut t.comment, comment);
        set(&mut t.description, description);
        set(&mut t.requestor_phone, phone);
        t.urgency_id = urgency.or(t.urgency_id);
        t.severity_id = severity.or(t.severity_id);
        t.impact_id = impact.or(t.impact_id);
        t.owner_id = owner.or(t.owner_id);
        t.location_id = location.or(t.location_id);
        t.department_id = department.or(t.department_id);
    }))
}

/// Where a text column lives in an employee.
type TextSlot = fn(&mut Employee) -> &mut String;

/// The employee columns a write may set, checked; `None` for columns not in the body.
struct EmployeeChange {
    text: Vec<(TextSlot, String)>,
    location_id: Option<u64>,
    department_id: Option<u64>,
    manager_id: Option<Option<u64>>,
}

impl EmployeeChange {
    fn parse(instance: &Instance, fields: &Fields) -> Result<Self, ApiError> {
        let mut text: Vec<(TextSlot, String)> = Vec::new();
        let plain: [(&str, TextSlot); 6] = [
            ("identification", |e| &mut e.identification),
            ("last_name", |e| &mut e.last_name),
            ("e_mail", |e| &mut e.e_mail),
            ("login", |e| &mut e.login),
            ("phone_number", |e| &mut e.phone_number),
            ("cellular_number", |e| &mut e.cellular_number),
        ];
        for (key, slot) in plain {
            if let Some(v) = fields.text(key) {
                text.push((slot, v));
            }
        }
        let dates: [(&str, TextSlot); 2] = [
            ("begin_of_contract", |e| &mut e.begin_of_contract),
            ("end_of_contract", |e| &mut e.end_of_contract),
        ];
        for (key, slot) in dates {
            let Some(raw) = fields.text(key) else { continue };
            let day = if raw.trim().is_empty() {
                String::new()
            } else {
                let ms = instance
                    .clock
                    .parse_user_date(&raw, instance.config.user_date_format)
                    .ok_or_else(|| {
                        ApiError::Rejected(format!("Invalid date for {} - ", key.to_uppercase()))
                    })?;
                instance.clock.format_day(ms)
            };
            text.push((slot, day));
        }
        let location_id = match fields.given("location_id") {
            None => None,
            Some(raw) => Some(
                parse_id(&raw)
                    .filter(|id| instance.config.locations.iter().any(|l| l.id == *id))
                    .ok_or_else(|| {
                    foreign_key(
                        instance,
                        "FK_AM_EMPLOYEE_AM_LOCATION",
                        "AM_LOCATION",
                        "LOCATION_ID",
                    )
                })?,
            ),
        };
        let department_id = match fields.given("department_id") {
            None => None,
            Some(raw) => Some(
                parse_id(&raw)
                    .filter(|id| instance.config.departments.iter().any(|d| d.id == *id))
                    .ok_or_else(|| {
                        foreign_key(
                            instance,
                            "FK_AM_EMPLOYEE_AM_DEPARTMENT",
                            "AM_DEPARTMENT",
                            "DEPARTMENT_ID",
                        )
                    })?,
            ),
        };
        let manager_id = match fields.text("manager_id") {
            None => None,
            Some(raw) if raw.trim().is_empty() => Some(None),
            Some(raw) => Some(Some(
                parse_id(&raw)
                    .ok_or_else(|| ApiError::Rejected("Manager ID doesn't exist - ".into()))?,
            )),
        };
        Ok(Self { text, location_id, department_id, manager_id })
    }

    fn is_empty(&self) -> bool {
        self.text.is_empty()
            && self.location_id.is_none()
            && self.department_id.is_none()
            && self.manager_id.is_none()
    }

    fn apply(self, e: &mut Employee, now: Millis) {
        for (slot, value) in self.text {
            *slot(e) = value;
        }
        e.location_id = self.location_id.or(e.location_id);
        e.department_id = self.department_id.or(e.department_id);
        if let Some(manager) = self.manager_id {
            e.manager_id = manager;
        }
        e.last_update = now;
    }
}

/// `POST /employees`: creates the first item and returns its id.
pub(crate) fn create_employee(
    instance: &Instance,
    store: &mut Store,
    body: &Json,
) -> Result<u64, ApiError> {
    let fields = Fields::first_item(body, "employees")?;
    let change = EmployeeChange::parse(instance, &fields)?;
    if change.is_empty() {
        return Err(ApiError::Rejected(
            "Nothing to insert (check fieldnames, if wrong they are ignored) - ".into(),
        ));
    }
    let now = instance.clock.next_stamp();
    let mut employee = Employee {
        id: 0,
        identification: String::new(),
        last_name: String::new(),
        e_mail: String::new(),
        login: String::new(),
        phone_number: String::new(),
        cellular_number: String::new(),
        manager_id: None,
        begin_of_contract: String::new(),
        end_of_contract: String::new(),
        location_id: None,
        department_id: None,
        last_update: now,
    };
    change.apply(&mut employee, now);
    Ok(store.directory.insert(employee, None))
}

/// `PUT /employees/{id}`: a flat update; a synthetic employee becomes stored on its first change.
pub(crate) fn update_employee(
    instance: &Instance,
    store: &mut Store,
    id: u64,
    body: &Json,
) -> Result<(), ApiError> {
    let fields =
        Fields::from_json(body).ok_or_else(|| ApiError::Rejected(NOTHING_TO_UPDATE.into()))?;
    let mut employee = store.directory.get(id).ok_or(ApiError::NotFound)?;
    let change = EmployeeChange::parse(instance, &fields)?;
    if change.is_empty() {
        return Err(ApiError::Rejected(NOTHING_TO_UPDATE.into()));
    }
    change.apply(&mut employee, instance.clock.next_stamp());
    store.directory.insert(employee, Some(id));
    Ok(())
}
