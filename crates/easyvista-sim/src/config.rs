//! Configuration of a simulated EasyVista instance: account, credentials, status table, catalog,
//! reference tables, employees, saved views and realism switches.
//!
//! Everything here is plain data with defaults; nothing here does I/O.

use chrono::{DateTime, FixedOffset};

/// GUID of the "In progress" status in the default status table (invented, stable).
pub const IN_PROGRESS_GUID: &str = "{5B1A3E6C-7D2F-4A8B-9C0D-1E2F3A4B5C6D}";
/// GUID of the "Suspended" status in the default status table (invented, stable).
pub const SUSPENDED_GUID: &str = "{B7C8D9E0-1F2A-4B3C-8D4E-5F6A7B8C9D0E}";
/// GUID of the "Solved" meta-status, as documented by the vendor.
pub const SOLVED_GUID: &str = "{DC97DD1D-0F35-4153-B0E1-0F2E0155365D}";
/// GUID of the "Closed" meta-status that a close applies by default, as documented by the vendor.
pub const CLOSED_GUID: &str = "{C3D9DFA7-7A21-46C2-B3A3-8BC50C9FF4F3}";
/// GUID of the "Canceled" status in the default status table (invented, stable).
pub const CANCELED_GUID: &str = "{E4A8C2F1-6B3D-4F9E-A7C5-2D8B1E6F3A90}";
/// GUID of the "Rejected" status in the default status table (invented, stable).
pub const REJECTED_GUID: &str = "{F9D3B7A5-2E6C-4A1D-B8F4-7C3E9A5D1B62}";

/// First `EMPLOYEE_ID` of the synthetic employees; named employees have smaller ids.
pub const SYNTHETIC_EMPLOYEE_ID_BASE: u64 = 100_000;

/// The role a status plays in the ticket lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    InProgress,
    Suspended,
    Solved,
    Closed,
    Canceled,
    Rejected,
}

impl StatusKind {
    /// Whether a ticket in this status is finished: it has an end date and refuses writes.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Closed | Self::Canceled | Self::Rejected)
    }
}

/// One row of the `/status` table.
#[derive(Debug, Clone)]
pub struct StatusDef {
    pub id: u64,
    /// Upper case, in braces, as the API returns it.
    pub guid: String,
    pub label: String,
    pub kind: StatusKind,
}

/// Whether a catalog entry opens incidents (`I…` numbers) or service requests (`S…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketType {
    Incident,
    Request,
}

impl TicketType {
    pub fn letter(self) -> char {
        match self {
            Self::Incident => 'I',
            Self::Request => 'S',
        }
    }
}

/// One ticket subject of `/catalog-requests`.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub id: u64,
    pub code: String,
    /// Upper case, in braces.
    pub guid: String,
    pub title: String,
    pub path: String,
    pub ticket_type: TicketType,
    /// When set, a create without urgency, impact and department answers 590 with a SQL parser
    /// message naming no field, as some real catalogs do.
    pub requires_classification: bool,
}

/// A row of a reference table (urgency, severity, impact).
#[derive(Debug, Clone)]
pub struct ReferenceEntry {
    pub id: u64,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct LocationDef {
    pub id: u64,
    pub code: String,
    pub label: String,
    pub path: String,
    pub city: String,
}

#[derive(Debug, Clone)]
pub struct DepartmentDef {
    pub id: u64,
    pub code: String,
    pub label: String,
    pub path: String,
}

/// An employee to seed. `id: None` takes the next free id above the synthetic range.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct EmployeeSeed {
    pub id: Option<u64>,
    pub identification: String,
    /// The display name, "Last, First".
    pub last_name: String,
    pub e_mail: String,
    pub login: String,
    pub phone_number: String,
    pub location_id: Option<u64>,
    pub department_id: Option<u64>,
    pub manager_id: Option<u64>,
    /// `YYYY-MM-DD` or empty.
    pub begin_of_contract: String,
    /// `YYYY-MM-DD` or empty.
    pub end_of_contract: String,
}

/// A saved view served by `/internalqueries`; each row is a list of (column, value) pairs.
#[derive(Debug, Clone)]
pub struct InternalQueryView {
    pub query_guid: String,
    /// `None` answers whatever `filterguid` is asked.
    pub filter_guid: Option<String>,
    /// `None` answers whatever `viewguid` is asked.
    pub view_guid: Option<String>,
    pub rows: Vec<Vec<(String, String)>>,
}

/// How the REST user writes dates (`end_date`, `submit_date`, contract dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserDateFormat {
    /// `MM/DD/YYYY[ HH:MM:SS]`
    #[default]
    MonthDayYear,
    /// `DD/MM/YYYY[ HH:MM:SS]`
    DayMonthYear,
}

/// Behaviours that only some real instances show; off by default.
#[derive(Debug, Clone, Copy, Default)]
pub struct Realism {
    /// Ignore searches on `*_PATH` columns and answer the whole table, as measured on some
    /// instances.
    pub ignore_path_filters: bool,
    /// Ignore searches on sub-keys of nested objects (`status.status_en`) and answer the whole
    /// table, as measured on one instance.
    pub ignore_nested_filters: bool,
    /// Store the `description` sent at create in the `COMMENT` memo instead of `DESCRIPTION`.
    pub description_in_comment: bool,
    /// Ignore `requestor_*` keys and make the authenticated user the requestor.
    pub requestor_is_caller: bool,
    /// Ignore `max_rows` and answer every row from `offset` on, in one page without `@next`.
    pub ignore_max_rows: bool,
}

/// Where the simulator's clock comes from.
#[derive(Debug, Clone, Copy)]
pub enum ClockMode {
    /// The machine's clock, shown at the configured offset.
    Real,
    /// Starts at the given instant and advances with the machine's clock.
    StartAt(DateTime<FixedOffset>),
}

/// Everything a simulated instance is made of.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub account: String,
    pub login: String,
    pub password: String,
    pub token: String,
    pub statuses: Vec<StatusDef>,
    pub catalog: Vec<CatalogEntry>,
    pub urgencies: Vec<ReferenceEntry>,
    pub severities: Vec<ReferenceEntry>,
    pub impacts: Vec<ReferenceEntry>,
    pub locations: Vec<LocationDef>,
    pub departments: Vec<DepartmentDef>,
    /// Named employees; the first one is the REST user itself.
    pub employees: Vec<EmployeeSeed>,
    /// How many synthetic employees to generate from their index (no storage per row).
    pub synthetic_employees: u64,
    pub internal_queries: Vec<InternalQueryView>,
    /// Answer 400 to a search the simulator cannot parse, instead of the whole table.
    pub strict_search: bool,
    /// Suffix of translated labels: `STATUS_EN`, `LOCATION_EN`, `TITLE_EN`, …
    pub language: String,
    pub utc_offset: FixedOffset,
    pub clock: ClockMode,
    pub user_date_format: UserDateFormat,
    pub realism: Realism,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            account: "50004".into(),
            login: "agent".into(),
            password: "secret".into(),
            token: "sim-token-7f3c2a9e41b8".into(),
            statuses: default_statuses(),
            catalog: default_catalog(),
            urgencies: reference(&["Critical", "High", "Medium", "Low"]),
            severities: reference(&["Blocking", "Major", "Minor", "Cosmetic"]),
            impacts: reference(&["Company", "Site", "Team", "User"]),
            locations: default_locations(),
            departments: default_departments(),
            employees: default_employees(),
            synthetic_employees: 1_000,
            internal_queries: default_internal_queries(),
            strict_search: false,
            language: "EN".into(),
            utc_offset: FixedOffset::east_opt(3600).expect("one hour is a valid offset"),
            clock: ClockMode::Real,
            user_date_format: UserDateFormat::MonthDayYear,
            realism: Realism::default(),
        }
    }
}

impl SimulatorConfig {
    /// The status playing `kind`, if the table has one.
    pub fn status_of_kind(&self, kind: StatusKind) -> Option<&StatusDef> {
        self.statuses.iter().find(|s| s.kind == kind)
    }
}

fn status(id: u64, guid: &str, label: &str, kind: StatusKind) -> StatusDef {
    StatusDef { id, guid: guid.into(), label: label.into(), kind }
}

/// In progress 2, Suspended 5, Solved 7, Closed 8, Canceled 9, Rejected 10.
pub fn default_statuses() -> Vec<StatusDef> {
    vec![
        status(2, IN_PROGRESS_GUID, "In Progress", StatusKind::InProgress),
        status(5, SUSPENDED_GUID, "Suspended", StatusKind::Suspended),
        status(7, SOLVED_GUID, "Solved", StatusKind::Solved),
        status(8, CLOSED_GUID, "Closed", StatusKind::Closed),
        status(9, CANCELED_GUID, "Canceled", StatusKind::Canceled),
        status(10, REJECTED_GUID, "Rejected", StatusKind::Rejected),
    ]
}

fn entry(
    id: u64,
    code: &str,
    guid: &str,
    path: &str,
    ticket_type: TicketType,
    requires_classification: bool,
) -> CatalogEntry {
    let title = path.rsplit('/').next().unwrap_or(path);
    CatalogEntry {
        id,
        code: code.into(),
        guid: guid.into(),
        title: title.into(),
        path: path.into(),
        ticket_type,
        requires_classification,
    }
}

/// Incidents (`I`): codes 42, 43, 46. Service requests (`S`): codes 25, 26, 27, and 47 which
/// needs urgency, impact and department.
pub fn default_catalog() -> Vec<CatalogEntry> {
    use TicketType::{Incident, Request};
    vec![
        entry(
            4601,
            "42",
            "{61E17EFF-5ED7-4B20-B26F-4FAC57555EBC}",
            "Incidents/Access/Account problem",
            Incident,
            false,
        ),
        entry(
            4602,
            "43",
            "{0A4B6C8D-1E3F-4A5B-9C7D-2E4F6A8B0C1D}",
            "Incidents/Equipment/Printer",
            Incident,
            false,
        ),
        entry(
            4606,
            "46",
            "{7C9E1A3B-5D7F-4B9C-8E0A-3C5E7A9B1D2F}",
            "Incidents/Equipment/Router",
            Incident,
            false,
        ),
        entry(
            4701,
            "25",
            "{2B4D6F8A-0C2E-4F6A-8B1D-4F6A8C0E2B4D}",
            "Requests/Access/Grant access",
            Request,
            false,
        ),
        entry(
            4702,
            "26",
            "{3C5E7A9B-1D3F-4A7B-9C2E-5A7B9D1F3C5E}",
            "Requests/Access/Revoke access",
            Request,
            false,
        ),
        entry(
            4703,
            "27",
            "{4D6F8B0C-2E4A-4B8C-AD3F-6B8C0E2A4D6F}",
            "Requests/Accounts/Create account",
            Request,
            false,
        ),
        entry(
            4704,
            "47",
            "{5E7A9C1D-3F5B-4C9D-BE4A-7C9D1F3B5E7A}",
            "Requests/Hardware/New laptop",
            Request,
            true,
        ),
    ]
}

fn reference(labels: &[&str]) -> Vec<ReferenceEntry> {
    labels
        .iter()
        .zip(1..)
        .map(|(label, id)| ReferenceEntry { id, label: (*label).into() })
        .collect()
}

fn location(id: u64, code: &str, path: &str, city: &str) -> LocationDef {
    let label = path.rsplit('/').next().unwrap_or(path);
    LocationDef { id, code: code.into(), label: label.into(), path: path.into(), city: city.into() }
}

pub fn default_locations() -> Vec<LocationDef> {
    vec![
        location(1, "PAR", "Europe/France/Paris", "Paris"),
        location(2, "LYS", "Europe/France/Lyon", "Lyon"),
        location(3, "NYC", "North America/USA/New York", "New York"),
        location(4, "LON", "Europe/United Kingdom/London", "London"),
    ]
}

fn department(id: u64, code: &str, path: &str) -> DepartmentDef {
    let label = path.rsplit('/').next().unwrap_or(path);
    DepartmentDef { id, code: code.into(), label: label.into(), path: path.into() }
}

pub fn default_departments() -> Vec<DepartmentDef> {
    vec![
        department(1, "IT", "IT"),
        department(2, "SUP", "IT/Support"),
        department(3, "HR", "Human Resources"),
        department(4, "FIN", "Finance"),
    ]
}

fn employee(
    id: u64,
    identification: &str,
    name: &str,
    login: &str,
    loc: u64,
    dep: u64,
) -> EmployeeSeed {
    EmployeeSeed {
        id: Some(id),
        identification: identification.into(),
        last_name: name.into(),
        e_mail: format!("{login}@example.test"),
        login: login.into(),
        phone_number: format!("+33 1 00 00 {id:02} {id:02}"),
        location_id: Some(loc),
        department_id: Some(dep),
        manager_id: None,
        begin_of_contract: "2020-01-06".into(),
        end_of_contract: String::new(),
    }
}

/// Employee 1 is the REST user `agent`; the others are people tickets are opened for.
pub fn default_employees() -> Vec<EmployeeSeed> {
    vec![
        employee(1, "REST0001", "Agent, Ticket", "agent", 1, 1),
        employee(2, "000102", "Morley, Gaby", "gmorley", 1, 2),
        employee(3, "000103", "Seagal, Steven", "sseagal", 2, 3),
        employee(4, "000104", "Taverner, David", "dtaverner", 3, 4),
        employee(5, "000105", "Morley, Frédérique", "fmorley", 4, 1),
        employee(6, "000106", "Nguyen, Linh", "lnguyen", 1, 2),
    ]
}

/// One saved view of application accounts, as Identity Manager exports custom entities.
pub fn default_internal_queries() -> Vec<InternalQueryView> {
    let row = |id: &str, name: &str, owner: &str| {
        vec![
            ("E_APPLICATION_ID".to_string(), id.to_string()),
            ("E_NAME".to_string(), name.to_string()),
            ("E_OWNER_LOGIN".to_string(), owner.to_string()),
        ]
    };
    vec![InternalQueryView {
        query_guid: "{9A8B7C6D-5E4F-4A3B-8C2D-1E0F9A8B7C6D}".into(),
        filter_guid: None,
        view_guid: None,
        rows: vec![
            row("1", "Payroll", "gmorley"),
            row("2", "CRM", "sseagal"),
            row("3", "Wiki", "dtaverner"),
        ],
    }]
}
