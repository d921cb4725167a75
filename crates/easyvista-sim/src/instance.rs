//! One simulated instance: its fixed reference tables ([`Instance`]) and its changing data
//! ([`Store`]: employees and tickets), with the rendering of every record the API returns.
//!
//! Nothing here knows about HTTP; handlers lock the store and call in.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::clock::{Clock, Millis};
use crate::config::{
    CatalogEntry, DepartmentDef, EmployeeSeed, LocationDef, ReferenceEntry, SimulatorConfig,
    StatusDef, StatusKind,
};
use crate::employees::{Directory, Employee, EmployeeKey, Row, TextColumn, push_padded};
use crate::record::{Key, Record, Value};

/// Language-suffixed column names, built once from the configured language.
pub(crate) struct Labels {
    pub(crate) status: Arc<str>,
    pub(crate) location: Arc<str>,
    pub(crate) department: Arc<str>,
    pub(crate) title: Arc<str>,
    pub(crate) urgency: Arc<str>,
    pub(crate) question: Arc<str>,
}

/// What does not change while the simulator runs.
pub(crate) struct Instance {
    pub(crate) config: SimulatorConfig,
    pub(crate) clock: Clock,
    pub(crate) labels: Labels,
    /// `http://127.0.0.1:PORT/api/v1/{account}/`
    pub(crate) base_url: String,
    /// When the seed data was last changed: the `LAST_UPDATE` of seeded employees, synthetic
    /// employee 0 and every row of the reference tables.
    pub(crate) seed_epoch: Millis,
}

/// 2024-01-01T08:00:00Z.
const SEED_EPOCH: Millis = 1_704_096_000_000;

/// A ticket as the store keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    pub(crate) request_id: u64,
    pub(crate) rfc: String,
    pub(crate) catalog_id: u64,
    pub(crate) status_id: u64,
    pub(crate) urgency_id: Option<u64>,
    pub(crate) severity_id: Option<u64>,
    pub(crate) impact_id: Option<u64>,
    pub(crate) origin: String,
    pub(crate) recipient_id: u64,
    pub(crate) requestor_id: u64,
    pub(crate) submitted_by: u64,
    pub(crate) owner_id: Option<u64>,
    pub(crate) location_id: Option<u64>,
    pub(crate) department_id: Option<u64>,
    pub(crate) external_reference: String,
    pub(crate) title: String,
    pub(crate) comment: String,
    pub(crate) description: String,
    pub(crate) requestor_phone: String,
    pub(crate) creation: Millis,
    pub(crate) submit: Millis,
    pub(crate) max_resolution: Millis,
    pub(crate) end: Option<Millis>,
    pub(crate) last_update: Millis,
    /// Closed through `{"closed": …}` or moved to a final status: the workflow is over.
    pub(crate) closed: bool,
    /// The status to go back to on restart.
    pub(crate) suspended_from: Option<u64>,
}

/// What changes: employees and tickets.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub(crate) directory: Directory,
    pub(crate) tickets: BTreeMap<u64, Ticket>,
    by_rfc: HashMap<String, u64>,
    next_request_id: u64,
    next_rfc_counter: u64,
}

impl Instance {
    pub(crate) fn new(mut config: SimulatorConfig, base_url: String) -> Self {
        // GUIDs come out upper case in braces, however they were configured.
        for status in &mut config.statuses {
            status.guid = canonical_guid(&status.guid);
        }
        for entry in &mut config.catalog {
            entry.guid = canonical_guid(&entry.guid);
        }
        let clock = Clock::new(config.clock, config.utc_offset);
        let suffix = config.language.to_ascii_uppercase();
        let label = |column: &str| -> Arc<str> { Arc::from(format!("{column}_{suffix}")) };
        let labels = Labels {
            status: label("STATUS"),
            location: label("LOCATION"),
            department: label("DEPARTMENT"),
            title: label("TITLE"),
            urgency: label("URGENCY"),
            question: label("QUESTION"),
        };
        Self { config, clock, labels, base_url, seed_epoch: SEED_EPOCH }
    }

    /// Adds the seed `LAST_UPDATE` to a row of a reference table (they never change), unless the
    /// row has one already.
    pub(crate) fn with_seed_stamp(&self, mut record: Record) -> Record {
        if record.lookup("LAST_UPDATE").is_none() {
            record.push("LAST_UPDATE", self.clock.format(self.seed_epoch));
        }
        record
    }

    pub(crate) fn href(&self, path: std::fmt::Arguments<'_>) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub(crate) fn status(&self, id: u64) -> Option<&StatusDef> {
        self.config.statuses.iter().find(|s| s.id == id)
    }

    pub(crate) fn status_by_kind(&self, kind: StatusKind) -> Option<&StatusDef> {
        self.config.status_of_kind(kind)
    }

    /// Accepts a GUID with or without braces, in any case.
    pub(crate) fn status_by_guid(&self, guid: &str) -> Option<&StatusDef> {
        let wanted = normalize_guid(guid);
        self.config.statuses.iter().find(|s| normalize_guid(&s.guid) == wanted)
    }

    pub(crate) fn catalog(&self, id: u64) -> Option<&CatalogEntry> {
        self.config.catalog.iter().find(|c| c.id == id)
    }

    pub(crate) fn catalog_by_guid(&self, guid: &str) -> Option<&CatalogEntry> {
        let wanted = normalize_guid(guid);
        self.config.catalog.iter().find(|c| normalize_guid(&c.guid) == wanted)
    }

    pub(crate) fn catalog_by_code(&self, code: &str) -> Option<&CatalogEntry> {
        self.config.catalog.iter().find(|c| c.code.eq_ignore_ascii_case(code.trim()))
    }

    pub(crate) fn location(&self, id: Option<u64>) -> Option<&LocationDef> {
        id.and_then(|id| self.config.locations.iter().find(|l| l.id == id))
    }

    pub(crate) fn department(&self, id: Option<u64>) -> Option<&DepartmentDef> {
        id.and_then(|id| self.config.departments.iter().find(|d| d.id == id))
    }

    /// The employee the REST user is: the one whose login is the configured login, else the first.
    pub(crate) fn caller_id(&self, store: &Store) -> u64 {
        store
            .directory
            .find(EmployeeKey::Login, &self.config.login)
            .first()
            .copied()
            .or_else(|| self.config.employees.first().and_then(|e| e.id))
            .unwrap_or(1)
    }

    // === records ===

    pub(crate) fn status_record(&self, status: &StatusDef) -> Record {
        let mut r = Record::with_capacity(4);
        r.push("HREF", self.href(format_args!("status/{}", status.id)));
        r.push("STATUS_ID", status.id);
        r.push("STATUS_GUID", status.guid.clone());
        r.push(&self.labels.status, status.label.clone());
        r
    }

    pub(crate) fn location_record(&self, location: Option<&LocationDef>) -> Record {
        let mut r = Record::with_capacity(6);
        let Some(l) = location else {
            for key in ["CITY", "LOCATION_CODE", "LOCATION_PATH", "HREF", "LOCATION_ID"] {
                r.push(key, "");
            }
            r.push(&self.labels.location, "");
            return r;
        };
        r.push("HREF", self.href(format_args!("locations/{}", l.id)));
        r.push("LOCATION_ID", l.id);
        r.push("LOCATION_CODE", l.code.clone());
        r.push(&self.labels.location, l.label.clone());
        r.push("LOCATION_PATH", l.path.clone());
        r.push("CITY", l.city.clone());
        r
    }

    pub(crate) fn department_record(&self, department: Option<&DepartmentDef>) -> Record {
        let mut r = Record::with_capacity(6);
        let Some(d) = department else {
            for key in
                ["DEPARTMENT_CODE", "DEPARTMENT_PATH", "HREF", "DEPARTMENT_ID", "DEPARTMENT_LABEL"]
            {
                r.push(key, "");
            }
            r.push(&self.labels.department, "");
            return r;
        };
        r.push("HREF", self.href(format_args!("departments/{}", d.id)));
        r.push("DEPARTMENT_ID", d.id);
        r.push("DEPARTMENT_CODE", d.code.clone());
        r.push(&self.labels.department, d.label.clone());
        r.push("DEPARTMENT_PATH", d.path.clone());
        r.push("DEPARTMENT_LABEL", d.label.clone());
        r
    }

    /// A catalog entry; the GUID only on the single GET, as on real instances.
    pub(crate) fn catalog_record(&self, entry: &CatalogEntry, with_guid: bool) -> Record {
        let mut r = Record::with_capacity(6);
        r.push("HREF", self.href(format_args!("catalog-requests/{}", entry.id)));
        r.push("SD_CATALOG_ID", entry.id);
        r.push("CODE", entry.code.clone());
        r.push(&self.labels.title, entry.title.clone());
        r.push("CATALOG_REQUEST_PATH", entry.path.clone());
        if with_guid {
            r.push("CATALOG_GUID", entry.guid.clone());
        }
        r
    }

    pub(crate) fn reference_record(
        &self,
        route: &'static str,
        id_column: &'static str,
        entry: &ReferenceEntry,
    ) -> Record {
        let mut r = Record::with_capacity(3);
        r.push("HREF", self.href(format_args!("{route}/{}", entry.id)));
        r.push(id_column, entry.id);
        r.push(&self.labels.urgency, entry.label.clone());
        r
    }

    /// An employee with every column, nested `LOCATION` and `DEPARTMENT` included.
    pub(crate) fn employee_record(&self, e: &Employee) -> Record {
        let location = self.location(e.location_id);
        let department = self.department(e.department_id);
        let mut r = Record::with_capacity(18);
        r.push("HREF", self.href(format_args!("employees/{}", e.id)));
        r.push("EMPLOYEE_ID", e.id);
        r.push("IDENTIFICATION", e.identification.clone());
        r.push("LAST_NAME", e.last_name.clone());
        r.push("E_MAIL", e.e_mail.clone());
        r.push("LOGIN", e.login.clone());
        r.push("PHONE_NUMBER", e.phone_number.clone());
        r.push("CELLULAR_NUMBER", e.cellular_number.clone());
        r.push("MANAGER_ID", e.manager_id);
        r.push("BEGIN_OF_CONTRACT", e.begin_of_contract.clone());
        r.push("END_OF_CONTRACT", e.end_of_contract.clone());
        r.push("LOCATION_ID", e.location_id);
        r.push("LOCATION_PATH", location.map(|l| l.path.clone()).unwrap_or_default());
        r.push("DEPARTMENT_ID", e.department_id);
        r.push("DEPARTMENT_PATH", department.map(|d| d.path.clone()).unwrap_or_default());
        r.push("LAST_UPDATE", self.clock.format(e.last_update));
        r.push("LOCATION", self.location_record(location));
        r.push("DEPARTMENT", self.department_record(department));
        r
    }

    /// Writes the list extract of an employee as JSON, the same bytes as serializing the
    /// projected record but without building it: pages of a large directory are the hot path.
    pub(crate) fn write_employee_extract(&self, out: &mut String, row: &Row<'_>) {
        let id = |out: &mut String, n: Option<u64>| {
            out.push('"');
            if let Some(n) = n {
                push_padded(out, n, 1);
            }
            out.push('"');
        };
        out.push_str("{\"HREF\":\"");
        out.push_str(&self.base_url);
        out.push_str("employees/");
        push_padded(out, row.id(), 1);
        out.push_str("\",\"EMPLOYEE_ID\":");
        id(out, Some(row.id()));
        for (key, column) in [
            (",\"IDENTIFICATION\":", TextColumn::Identification),
            (",\"LAST_NAME\":", TextColumn::LastName),
            (",\"E_MAIL\":", TextColumn::Mail),
            (",\"LOGIN\":", TextColumn::Login),
            (",\"PHONE_NUMBER\":", TextColumn::Phone),
            (",\"CELLULAR_NUMBER\":", TextColumn::Cellular),
        ] {
            out.push_str(key);
            row.write_json_text(out, column);
        }
        out.push_str(",\"MANAGER_ID\":");
        id(out, row.manager_id());
        out.push_str(",\"BEGIN_OF_CONTRACT\":");
        row.write_json_text(out, TextColumn::BeginOfContract);
        out.push_str(",\"END_OF_CONTRACT\":");
        row.write_json_text(out, TextColumn::EndOfContract);
        out.push_str(",\"LOCATION_ID\":");
        id(out, row.location_id());
        out.push_str(",\"LOCATION_PATH\":");
        push_json_str(out, self.location(row.location_id()).map_or("", |l| l.path.as_str()));
        out.push_str(",\"DEPARTMENT_ID\":");
        id(out, row.department_id());
        out.push_str(",\"DEPARTMENT_PATH\":");
        push_json_str(out, self.department(row.department_id()).map_or("", |d| d.path.as_str()));
        out.push_str(",\"LAST_UPDATE\":\"");
        self.clock.write(out, row.last_update());
        out.push_str("\"}");
    }

    /// The extract of an employee nested in a ticket as `RECIPIENT` or `REQUESTOR`.
    fn person_record(&self, e: Option<&Employee>) -> Record {
        let mut r = Record::with_capacity(9);
        let Some(e) = e else {
            for key in [
                "HREF",
                "BEGIN_OF_CONTRACT",
                "CELLULAR_NUMBER",
                "DEPARTMENT_PATH",
                "E_MAIL",
                "EMPLOYEE_ID",
                "LAST_NAME",
                "LOCATION_PATH",
                "PHONE_NUMBER",
            ] {
                r.push(key, "");
            }
            return r;
        };
        r.push("HREF", self.href(format_args!("employees/{}", e.id)));
        r.push("BEGIN_OF_CONTRACT", e.begin_of_contract.clone());
        r.push("CELLULAR_NUMBER", e.cellular_number.clone());
        r.push(
            "DEPARTMENT_PATH",
            self.department(e.department_id).map(|d| d.path.clone()).unwrap_or_default(),
        );
        r.push("E_MAIL", e.e_mail.clone());
        r.push("EMPLOYEE_ID", e.id);
        r.push("LAST_NAME", e.last_name.clone());
        r.push(
            "LOCATION_PATH",
            self.location(e.location_id).map(|l| l.path.clone()).unwrap_or_default(),
        );
        r.push("PHONE_NUMBER", e.phone_number.clone());
        r
    }

    fn stamp(&self, ms: Option<Millis>) -> Value {
        ms.map_or_else(Value::empty, |ms| Value::from(self.clock.format(ms)))
    }

    /// A ticket with every column; memo fields are links.
    pub(crate) fn ticket_record(&self, store: &Store, t: &Ticket) -> Record {
        let href = self.href(format_args!("requests/{}", t.rfc));
        let catalog = self.catalog(t.catalog_id);
        let location = self.location(t.location_id);
        let department = self.department(t.department_id);
        let link = |memo: &str| {
            let mut r = Record::with_capacity(1);
            r.push("HREF", format!("{href}/{memo}"));
            r
        };
        let mut r = Record::with_capacity(48);
        r.push("HREF", href.clone());
        r.push("RFC_NUMBER", t.rfc.clone());
        r.push("REQUEST_ID", t.request_id);
        r.push("TITLE", t.title.clone());
        r.push("SD_CATALOG_ID", t.catalog_id);
        r.push("SD_CATALOG_PATH", catalog.map(|c| c.path.clone()).unwrap_or_default());
        r.push("STATUS_ID", t.status_id);
        r.push("URGENCY_ID", t.urgency_id);
        r.push("SEVERITY_ID", t.severity_id);
        r.push("IMPACT_ID", t.impact_id);
        r.push("REQUEST_ORIGIN_ID", t.origin.clone());
        r.push("ORIGIN_TOOL_ID", "1");
        r.push("RECIPIENT_ID", t.recipient_id);
        r.push("REQUESTOR_ID", t.requestor_id);
        r.push("SUBMITTED_BY", t.submitted_by);
        r.push("OWNER_ID", t.owner_id);
        r.push("LOCATION_ID", t.location_id);
        r.push("LOCATION_PATH", location.map(|l| l.path.clone()).unwrap_or_default());
        r.push("DEPARTMENT_ID", t.department_id);
        r.push("DEPARTMENT_PATH", department.map(|d| d.path.clone()).unwrap_or_default());
        r.push("EXTERNAL_REFERENCE", t.external_reference.clone());
        r.push("PARENT_REQUEST_ID", "");
        r.push("REQUESTOR_PHONE", t.requestor_phone.clone());
        r.push("CREATION_DATE_UT", self.stamp(Some(t.creation)));
        r.push("SUBMIT_DATE_UT", self.stamp(Some(t.submit)));
        r.push("MAX_RESOLUTION_DATE_UT", self.stamp(Some(t.max_resolution)));
        r.push("EXPECTED_DATE_UT", "");
        r.push("END_DATE_UT", self.stamp(t.end));
        r.push("LAST_UPDATE", self.stamp(Some(t.last_update)));
        r.push("COMMENT", link("comment"));
        r.push("DESCRIPTION", link("description"));
        for key in ["AVAILABLE_FIELD_1", "AVAILABLE_FIELD_2", "AVAILABLE_FIELD_3"] {
            r.push(key, "");
        }
        let mut catalog_request = Record::with_capacity(5);
        if let Some(c) = catalog {
            catalog_request.push("CODE", c.code.clone());
            catalog_request.push("CATALOG_REQUEST_PATH", c.path.clone());
            catalog_request.push("HREF", self.href(format_args!("catalog-requests/{}", c.id)));
            catalog_request.push("SD_CATALOG_ID", c.id);
            catalog_request.push(&self.labels.title, c.title.clone());
        }
        r.push("CATALOG_REQUEST", catalog_request);
        let mut status = Record::with_capacity(4);
        if let Some(s) = self.status(t.status_id) {
            status.push(&self.labels.status, s.label.clone());
            status.push("STATUS_GUID", s.guid.clone());
            status.push("HREF", self.href(format_args!("status/{}", s.id)));
            status.push("STATUS_ID", s.id);
        }
        r.push("STATUS", status);
        r.push("RECIPIENT", self.person_record(store.directory.get(t.recipient_id).as_ref()));
        r.push("REQUESTOR", self.person_record(store.directory.get(t.requestor_id).as_ref()));
        r.push("LOCATION", self.location_record(location));
        r.push("DEPARTMENT", self.department_record(department));
        let mut known_error = Record::with_capacity(4);
        for key in ["KNOWNERROR_PATH", "KNOWN_PROBLEMS_ID", "KP_NUMBER"] {
            known_error.push(key, "");
        }
        known_error.push(Key::from(&self.labels.question), "");
        r.push("KNOWNERROR", known_error);
        r
    }
}

/// The columns of an employee that `GET /employees` shows when `fields` is not given: the
/// columns nested in tickets as `RECIPIENT`, and those a directory sync needs.
pub(crate) const EMPLOYEE_LIST_EXTRACT: &[&str] = &[
    "HREF",
    "EMPLOYEE_ID",
    "IDENTIFICATION",
    "LAST_NAME",
    "E_MAIL",
    "LOGIN",
    "PHONE_NUMBER",
    "CELLULAR_NUMBER",
    "MANAGER_ID",
    "BEGIN_OF_CONTRACT",
    "END_OF_CONTRACT",
    "LOCATION_ID",
    "LOCATION_PATH",
    "DEPARTMENT_ID",
    "DEPARTMENT_PATH",
    "LAST_UPDATE",
];

/// The columns of a ticket that `GET /requests` shows when `fields` is not given.
pub(crate) const TICKET_LIST_EXTRACT: &[&str] = &[
    "HREF",
    "RFC_NUMBER",
    "REQUEST_ID",
    "SUBMIT_DATE_UT",
    "MAX_RESOLUTION_DATE_UT",
    "COMMENT",
    "CATALOG_REQUEST",
    "STATUS",
    "RECIPIENT",
    "REQUESTOR",
    "LOCATION",
    "DEPARTMENT",
    "KNOWNERROR",
];

impl Store {
    pub(crate) fn new(instance: &Instance) -> Self {
        let config = &instance.config;
        let epoch = instance.seed_epoch;
        let mut directory = Directory::new(
            config.synthetic_employees,
            config.locations.iter().map(|l| l.id).collect(),
            config.departments.iter().map(|d| d.id).collect(),
            epoch,
        );
        for seed in &config.employees {
            directory.insert(employee_from_seed(seed, epoch), seed.id);
        }
        Self {
            directory,
            tickets: BTreeMap::new(),
            by_rfc: HashMap::new(),
            next_request_id: 40_001,
            next_rfc_counter: 1,
        }
    }

    pub(crate) fn ticket(&self, rfc: &str) -> Option<&Ticket> {
        self.by_rfc.get(&rfc.to_ascii_uppercase()).and_then(|id| self.tickets.get(id))
    }

    pub(crate) fn ticket_mut(&mut self, rfc: &str) -> Option<&mut Ticket> {
        let id = *self.by_rfc.get(&rfc.to_ascii_uppercase())?;
        self.tickets.get_mut(&id)
    }

    pub(crate) fn remove_ticket(&mut self, rfc: &str) -> Option<Ticket> {
        let id = self.by_rfc.remove(&rfc.to_ascii_uppercase())?;
        self.tickets.remove(&id)
    }

    /// The next REQUEST_ID and RFC number (`I`/`S` + `YYMMDD` + `_` + six digits).
    pub(crate) fn allocate_number(&mut self, letter: char, day: &str) -> (u64, String) {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let rfc = format!("{letter}{day}_{:06}", self.next_rfc_counter);
        self.next_rfc_counter += 1;
        (request_id, rfc)
    }

    pub(crate) fn insert_ticket(&mut self, ticket: Ticket) {
        self.by_rfc.insert(ticket.rfc.to_ascii_uppercase(), ticket.request_id);
        self.tickets.insert(ticket.request_id, ticket);
    }
}

pub(crate) fn employee_from_seed(seed: &EmployeeSeed, last_update: Millis) -> Employee {
    Employee {
        id: seed.id.unwrap_or(0),
        identification: seed.identification.clone(),
        last_name: seed.last_name.clone(),
        e_mail: seed.e_mail.clone(),
        login: seed.login.clone(),
        phone_number: seed.phone_number.clone(),
        cellular_number: String::new(),
        manager_id: seed.manager_id,
        begin_of_contract: seed.begin_of_contract.clone(),
        end_of_contract: seed.end_of_contract.clone(),
        location_id: seed.location_id,
        department_id: seed.department_id,
        last_update,
    }
}

/// Appends `s` as a JSON string.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::Value::from(s).to_string());
    }
}

/// Upper case without braces, for comparing GUIDs however they were written.
pub(crate) fn normalize_guid(guid: &str) -> String {
    guid.trim().trim_start_matches('{').trim_end_matches('}').to_ascii_uppercase()
}

/// Upper case in braces, as the API shows GUIDs.
pub(crate) fn canonical_guid(guid: &str) -> String {
    format!("{{{}}}", normalize_guid(guid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_made_canonical() {
        assert_eq!(canonical_guid(" dc97dd1d-0f35-4153-b0e1-0F2E0155365D "), crate::SOLVED_GUID);
        assert_eq!(canonical_guid("{dc97dd1d-0f35-4153-b0e1-0f2e0155365d}"), crate::SOLVED_GUID);
        assert_eq!(canonical_guid(crate::SOLVED_GUID), crate::SOLVED_GUID);
    }

    #[test]
    fn the_seed_epoch_is_new_years_day_2024_at_eight_utc() {
        let expected = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
            .and_then(|d| d.and_hms_opt(8, 0, 0))
            .map(|d| d.and_utc().timestamp_millis());
        assert_eq!(Some(SEED_EPOCH), expected);
    }

    #[test]
    fn the_fast_employee_extract_matches_the_projected_record() {
        let config = SimulatorConfig { synthetic_employees: 10, ..SimulatorConfig::default() };
        let instance = Instance::new(config, "http://127.0.0.1:1/api/v1/50004/".into());
        let mut store = Store::new(&instance);
        let mut odd = store.directory.get(2).expect("named employee");
        odd.last_name = "Quote \"and\" back\\slash, Zoë\u{1}".into();
        odd.manager_id = None;
        store.directory.insert(odd, Some(2));
        let extract: Vec<String> = EMPLOYEE_LIST_EXTRACT.iter().map(|f| (*f).to_string()).collect();
        for id in [2, 5, crate::config::SYNTHETIC_EMPLOYEE_ID_BASE + 3] {
            let e = store.directory.get(id).expect("exists");
            let mut fast = String::new();
            instance.write_employee_extract(&mut fast, &store.directory.row(id).expect("exists"));
            let slow =
                serde_json::to_string(&instance.employee_record(&e).project(&extract, &["HREF"]))
                    .expect("serializes");
            assert_eq!(fast, slow);
        }
    }
}
