//! The EasyVista routes under `/api/v1/{account}/`: authentication, fault injection and counting
//! (one middleware), the handlers, and the list machinery shared by every collection.
//!
//! Handlers hold the store lock only while they build the answer; they never await under it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, MatchedPath, Path, Query, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::error::ApiError;
use crate::faults::{Fault, routes};
use crate::instance::{EMPLOYEE_LIST_EXTRACT, Instance, TICKET_LIST_EXTRACT, push_json_str};
use crate::query::{SearchPlan, SortKey, compare_values, parse_fields, parse_sort, plan_search};
use crate::record::{Key, Record, Value};
use crate::server::{ConnectionControl, Shared};
use crate::writes;

type AppState = State<Arc<Shared>>;
type Params = Query<Vec<(String, String)>>;

/// The fault drawn for a call, for handlers that act on it (create answers 590 afterwards).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FaultDecision(pub(crate) Fault);

/// Set on a response by a handler that did its work but whose answer must be lost: the
/// middleware closes the connection instead of sending it.
#[derive(Debug, Clone, Copy)]
struct LoseAnswer;

const DEFAULT_MAX_ROWS: usize = 100;
const MEMOS: &[&str] =
    &["comment", "description", "dynamic_details", "risk_description", "system_affected"];

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/api/v1/{account}/requests", get(list_requests).post(create_request))
        .route("/api/v1/{account}/requests/{rfc}", get(get_request).put(update_request))
        .route("/api/v1/{account}/requests/{rfc}/{memo}", get(get_memo))
        .route("/api/v1/{account}/employees", get(list_employees).post(create_employee))
        .route("/api/v1/{account}/employees/{id}", get(get_employee).put(update_employee))
        .route("/api/v1/{account}/locations", get(list_locations))
        .route("/api/v1/{account}/locations/{id}", get(get_location))
        .route("/api/v1/{account}/departments", get(list_departments))
        .route("/api/v1/{account}/departments/{id}", get(get_department))
        .route("/api/v1/{account}/catalog-requests", get(list_catalog))
        .route("/api/v1/{account}/catalog-requests/{id}", get(get_catalog))
        .route("/api/v1/{account}/status", get(list_status))
        .route("/api/v1/{account}/status/{id}", get(get_status))
        .route("/api/v1/{account}/urgency", get(list_urgency))
        .route("/api/v1/{account}/urgencies", get(list_urgency))
        .route("/api/v1/{account}/internalqueries", get(internal_queries))
        .route("/api/v1/{account}/license", get(license))
        .route("/api/v1/{account}/swagger", get(swagger))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), observe))
        .method_not_allowed_fallback(unknown_route);
    api.merge(crate::admin::router()).fallback(unknown_route).with_state(shared)
}

// === responses ===

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self {
            Self::Unauthorized => {
                (status(401), axum::Json(json!({"error": "Invalid Login / Password"})))
                    .into_response()
            }
            Self::Forbidden => {
                (status(403), axum::Json(json!({"error": "Unauthorized Method for your profile"})))
                    .into_response()
            }
            Self::NotFound => {
                (status(404), axum::Json(json!({"error": "Resource not found"}))).into_response()
            }
            Self::RecipientUnknown => (
                status(406),
                axum::Json(
                    json!({"error": "The recipient does not exist or is not in your domains"}),
                ),
            )
                .into_response(),
            Self::BadRequest(why) => {
                (status(400), axum::Json(json!({"error": why}))).into_response()
            }
            Self::Rejected(why) => (status(590), axum::Json(rejection_body(&why))).into_response(),
        }
    }
}

/// The 590 body: `message` is a string holding JSON, followed by the error code and a
/// correlation id.
pub(crate) fn rejection_body(error: &str) -> Json {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0x628f_8b26_158f);
    let correlation =
        format!("{:013x}", NEXT.fetch_add(0x1_0f3d, Ordering::Relaxed) & 0xf_ffff_ffff_ffff);
    let inner = json!({ "error": error }).to_string();
    json!({
        "message": format!("{inner} (2013-{correlation})"),
        "correlationId": correlation,
        "dataError": "",
        "exception": [],
    })
}

fn created(href: String) -> Response {
    (StatusCode::CREATED, axum::Json(json!({ "HREF": href }))).into_response()
}

fn ok_json(body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes)
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn unknown_route(State(shared): AppState, request: Request) -> Response {
    let path = request.uri().path();
    if path.starts_with("/api/v1/") {
        if let Err(e) = authorize(&shared, path, request.headers()) {
            return e.into_response();
        }
        return ApiError::Forbidden.into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

// === authentication, faults and counting ===

fn route_label(method: &Method, matched: Option<&MatchedPath>) -> &'static str {
    let Some(rest) = matched.and_then(|m| m.as_str().strip_prefix("/api/v1/{account}")) else {
        return "unrouted";
    };
    routes::ALL
        .iter()
        .find(|label| label.split_once(' ').is_some_and(|(m, p)| m == method.as_str() && p == rest))
        .copied()
        .unwrap_or("unrouted")
}

fn authorize(shared: &Shared, path: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let config = &shared.instance.config;
    let account = path.trim_start_matches("/api/v1/").split('/').next().unwrap_or("");
    if account != config.account {
        return Err(ApiError::Unauthorized);
    }
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthorized)?;
    let (scheme, credentials) = value.trim().split_once(' ').ok_or(ApiError::Unauthorized)?;
    let credentials = credentials.trim();
    let valid = if scheme.eq_ignore_ascii_case("basic") {
        base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|pair| pair.split_once(':').map(|(l, p)| (l.to_string(), p.to_string())))
            .is_some_and(|(login, password)| login == config.login && password == config.password)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        credentials == config.token
    } else {
        false
    };
    if valid { Ok(()) } else { Err(ApiError::Unauthorized) }
}

async fn observe(State(shared): AppState, mut request: Request, next: Next) -> Response {
    let label = route_label(request.method(), request.extensions().get::<MatchedPath>());
    let (fault, latency) = shared.faults.decide(label);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let control = request.extensions().get::<ConnectionControl>().cloned();
    match fault {
        Fault::Drop => {
            shared.counters.count(label, 0);
            return drop_connection(control).await;
        }
        Fault::Error { status, retry_after_secs } => {
            shared.counters.count(label, status);
            return injected_error(status, retry_after_secs);
        }
        Fault::None
        | Fault::Stall(_)
        | Fault::FailAfterCreate
        | Fault::DropAfterCreate
        | Fault::ErrorAfterCreate { .. } => {}
    }

    let response = match authorize(&shared, request.uri().path(), request.headers()) {
        Ok(()) => {
            request.extensions_mut().insert(FaultDecision(fault));
            next.run(request).await
        }
        Err(e) => e.into_response(),
    };
    if response.extensions().get::<LoseAnswer>().is_some() {
        shared.counters.count(label, 0);
        return drop_connection(control).await;
    }
    shared.counters.count(label, response.status().as_u16());
    if let Fault::Stall(delay) = fault {
        tokio::time::sleep(delay).await;
    }
    response
}

/// Closes the connection without an answer; the 503 is only for a request served without one.
async fn drop_connection(control: Option<ConnectionControl>) -> Response {
    if let Some(control) = control {
        control.drop_connection();
        std::future::pending::<()>().await;
    }
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

fn injected_error(status: u16, retry_after_secs: u64) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response =
        (code, axum::Json(json!({"error": "Internal Server Error (injected)"}))).into_response();
    if matches!(status, 429 | 503) {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    }
    response
}

// === lists ===

/// The list parameters common to every collection.
struct ListQuery {
    max_rows: usize,
    offset: usize,
    sort: Vec<SortKey>,
    fields: Option<Vec<String>>,
    search: SearchPlan,
    /// The other parameters, echoed in `@next`/`@previous`.
    passthrough: Vec<(String, String)>,
    raw: Option<String>,
}

impl ListQuery {
    fn parse(
        shared: &Shared,
        params: Vec<(String, String)>,
        raw: Option<String>,
    ) -> Result<Self, ApiError> {
        let get = |name: &str| {
            params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        };
        let max_rows = if shared.instance.config.realism.ignore_max_rows {
            usize::MAX / 2
        } else {
            get("max_rows").and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_MAX_ROWS)
        };
        let offset = get("offset").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
        let search = plan_search(get("search"), shared.instance.config.realism);
        if let (SearchPlan::Unparseable(why), true) =
            (&search, shared.instance.config.strict_search)
        {
            return Err(ApiError::BadRequest(format!("search cannot be parsed: {why}")));
        }
        let passthrough = params
            .iter()
            .filter(|(k, _)| {
                !k.eq_ignore_ascii_case("max_rows") && !k.eq_ignore_ascii_case("offset")
            })
            .cloned()
            .collect();
        Ok(Self {
            max_rows,
            offset,
            sort: parse_sort(get("sort")),
            fields: parse_fields(get("fields")),
            search,
            passthrough,
            raw,
        })
    }

    /// Whether rows come out in storage order, unfiltered (the cheap path).
    fn is_plain(&self) -> bool {
        self.sort.is_empty() && !matches!(self.search, SearchPlan::Filter(_))
    }

    fn page_link(&self, base: &str, offset: usize) -> String {
        const VALUE: &AsciiSet =
            &NON_ALPHANUMERIC.remove(b'_').remove(b'-').remove(b'.').remove(b'*');
        let mut link = format!("{base}?");
        for (k, v) in &self.passthrough {
            link.push_str(&format!(
                "{}={}&",
                utf8_percent_encode(k, VALUE),
                utf8_percent_encode(v, VALUE)
            ));
        }
        link.push_str(&format!("max_rows={}&offset={offset}", self.max_rows));
        link
    }

    /// Filters and sorts `ids` by their rendered rows and returns one page of ids and the total.
    fn select(
        &self,
        instance: &Instance,
        ids: Vec<u64>,
        render: impl Fn(u64) -> Option<Record>,
    ) -> Result<(Vec<u64>, usize), ApiError> {
        let search = match &self.search {
            SearchPlan::Filter(search) => {
                let known = ids
                    .first()
                    .and_then(|id| render(*id))
                    .is_none_or(|sample| search.fields_exist_on(&sample));
                if !known && instance.config.strict_search {
                    return Err(ApiError::BadRequest("search names an unknown field".into()));
                }
                known.then_some(search)
            }
            _ => None,
        };
        if search.is_none() && self.sort.is_empty() {
            let total = ids.len();
            let page = ids.into_iter().skip(self.offset).take(self.max_rows).collect();
            return Ok((page, total));
        }
        let mut kept: Vec<(u64, Vec<Option<String>>)> = Vec::new();
        for id in ids {
            let Some(record) = render(id) else { continue };
            if let Some(search) = search
                && !search.matches(&record, &instance.clock).map_err(|e| ApiError::Rejected(e.0))?
            {
                continue;
            }
            let keys =
                self.sort.iter().map(|k| record.text(&k.field).map(|t| t.into_owned())).collect();
            kept.push((id, keys));
        }
        kept.sort_by(|(_, a), (_, b)| {
            for ((x, y), key) in a.iter().zip(b).zip(&self.sort) {
                let ordering = compare_values(x.as_deref(), y.as_deref());
                let ordering = if key.descending { ordering.reverse() } else { ordering };
                if ordering.is_ne() {
                    return ordering;
                }
            }
            std::cmp::Ordering::Equal
        });
        let total = kept.len();
        Ok((
            kept.into_iter().skip(self.offset).take(self.max_rows).map(|(id, _)| id).collect(),
            total,
        ))
    }

    /// Applies `fields`, or the resource's default extract, to a row.
    fn shape(&self, record: Record, extract: Option<&[&str]>, always: &[&str]) -> Record {
        match (&self.fields, extract) {
            (Some(fields), _) => record.project(fields, always),
            (None, Some(extract)) => {
                let fields: Vec<String> = extract.iter().map(|f| (*f).to_string()).collect();
                record.project(&fields, always)
            }
            (None, None) => record,
        }
    }

    fn envelope(&self, base: String, records: Vec<Record>, total: usize) -> Response {
        match serde_json::to_string(&records) {
            Ok(array) => self.envelope_raw(base, &array, records.len(), total),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }

    /// The envelope around `records`, a JSON array already written.
    fn envelope_raw(&self, base: String, records: &str, count: usize, total: usize) -> Response {
        let mut out = String::with_capacity(records.len() + 512);
        let href = match &self.raw {
            Some(raw) => format!("{base}?{raw}"),
            None => base.clone(),
        };
        out.push_str("{\"HREF\":");
        push_json_str(&mut out, &href);
        out.push_str(&format!(
            ",\"record_count\":\"{count}\",\"total_record_count\":\"{total}\",\"records\":"
        ));
        out.push_str(records);
        if self.offset + count < total {
            out.push_str(",\"@next\":");
            push_json_str(&mut out, &self.page_link(&base, self.offset + self.max_rows));
        }
        if self.offset > 0 {
            out.push_str(",\"@previous\":");
            push_json_str(
                &mut out,
                &self.page_link(&base, self.offset.saturating_sub(self.max_rows)),
            );
        }
        out.push('}');
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], out)
            .into_response()
    }
}

/// A small table listed through the generic machinery.
fn list_table(
    shared: &Shared,
    resource: &str,
    query: ListQuery,
    rows: Vec<Record>,
) -> Result<Response, ApiError> {
    let ids = (0..rows.len() as u64).collect();
    let (page, total) = query.select(&shared.instance, ids, |i| rows.get(i as usize).cloned())?;
    let records = page
        .into_iter()
        .filter_map(|i| rows.get(i as usize).cloned())
        .map(|r| query.shape(r, None, &["HREF"]))
        .collect();
    Ok(query.envelope(shared.instance.href(format_args!("{resource}")), records, total))
}

// === requests ===

async fn list_requests(
    State(shared): AppState,
    Query(params): Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = ListQuery::parse(&shared, params, raw)?;
    let instance = &shared.instance;
    let store = shared.read();
    let ids = store.tickets.keys().copied().collect();
    let render = |id| store.tickets.get(&id).map(|t| instance.ticket_record(&store, t));
    let (page, total) = query.select(instance, ids, render)?;
    let records = page
        .into_iter()
        .filter_map(render)
        .map(|r| query.shape(r, Some(TICKET_LIST_EXTRACT), &["HREF", "RFC_NUMBER"]))
        .collect();
    Ok(query.envelope(instance.href(format_args!("requests")), records, total))
}

async fn create_request(
    State(shared): AppState,
    Extension(decision): Extension<FaultDecision>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: Json = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("body is not json: {e}")))?;
    let rfc = {
        let mut store = shared.write();
        writes::create_ticket(&shared.instance, &mut store, &body)?
    };
    shared.counters.tickets_created.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::debug!(ticket = %rfc, "ticket created");
    match decision.0 {
        Fault::FailAfterCreate => Err(ApiError::Rejected(
            "Transaction (Process ID 67) was deadlocked on lock resources - ".into(),
        )),
        Fault::ErrorAfterCreate { status, retry_after_secs } => {
            Ok(injected_error(status, retry_after_secs))
        }
        Fault::DropAfterCreate => {
            let mut response = StatusCode::SERVICE_UNAVAILABLE.into_response();
            response.extensions_mut().insert(LoseAnswer);
            Ok(response)
        }
        Fault::None | Fault::Drop | Fault::Error { .. } | Fault::Stall(_) => {
            Ok(created(shared.instance.href(format_args!("requests/{rfc}"))))
        }
    }
}

async fn get_request(
    State(shared): AppState,
    Path((_, rfc)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let store = shared.read();
    let ticket = store.ticket(&rfc).ok_or(ApiError::NotFound)?;
    let record = shared.instance.ticket_record(&store, ticket);
    let fields = params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("fields"))
        .and_then(|(_, v)| parse_fields(Some(v)));
    let record = match fields {
        Some(fields) => record.project(&fields, &["HREF", "RFC_NUMBER"]),
        None => record,
    };
    Ok(ok_json(&record))
}

async fn get_memo(
    State(shared): AppState,
    Path((_, rfc, memo)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let memo = memo.to_ascii_lowercase();
    if !MEMOS.contains(&memo.as_str()) {
        return Err(ApiError::NotFound);
    }
    let store = shared.read();
    let ticket = store.ticket(&rfc).ok_or(ApiError::NotFound)?;
    let text = match memo.as_str() {
        "comment" => ticket.comment.clone(),
        "description" => ticket.description.clone(),
        _ => String::new(),
    };
    let parent = shared.instance.href(format_args!("requests/{}", ticket.rfc));
    let mut body = serde_json::Map::new();
    body.insert(memo.to_ascii_uppercase(), Json::String(text));
    body.insert("PARENT_HREF".into(), Json::String(parent.clone()));
    body.insert("HREF".into(), Json::String(format!("{parent}/{memo}")));
    Ok(ok_json(&body))
}

async fn update_request(
    State(shared): AppState,
    Path((_, rfc)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: Json = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("body is not json: {e}")))?;
    let rfc = {
        let mut store = shared.write();
        writes::update_ticket(&shared.instance, &mut store, &rfc, &body)?;
        store.ticket(&rfc).map(|t| t.rfc.clone()).unwrap_or(rfc)
    };
    tracing::debug!(ticket = %rfc, "ticket updated");
    Ok(created(shared.instance.href(format_args!("requests/{rfc}"))))
}

// === employees ===

/// Columns a search can pin to find employees without scanning the synthetic range.
const EMPLOYEE_KEYS: &[(&str, crate::employees::EmployeeKey)] = &[
    ("EMPLOYEE_ID", crate::employees::EmployeeKey::Id),
    ("IDENTIFICATION", crate::employees::EmployeeKey::Identification),
    ("E_MAIL", crate::employees::EmployeeKey::Mail),
    ("LOGIN", crate::employees::EmployeeKey::Login),
    ("LAST_NAME", crate::employees::EmployeeKey::Name),
];

async fn list_employees(
    State(shared): AppState,
    Query(params): Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = ListQuery::parse(&shared, params, raw)?;
    let instance = &shared.instance;
    let store = shared.read();
    let directory = &store.directory;
    let render = |id| directory.get(id).map(|e| instance.employee_record(&e));
    let (page, total) = if query.is_plain() {
        let total = usize::try_from(directory.len()).unwrap_or(usize::MAX);
        (directory.page_ids(query.offset as u64, query.max_rows as u64), total)
    } else {
        let pinned = match &query.search {
            SearchPlan::Filter(search) => EMPLOYEE_KEYS
                .iter()
                .find_map(|(column, key)| search.pinned_values(column).map(|values| (key, values))),
            _ => None,
        };
        let ids = match pinned {
            Some((key, values)) => {
                let mut ids: Vec<u64> =
                    values.iter().flat_map(|v| directory.find(*key, v)).collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            }
            // A `LAST_UPDATE` range visits only the synthetic rows inside it (synthetic employee
            // i was last updated i ms after the seed stamp). A search or sort on other columns
            // still renders every synthetic row (about a second per million).
            None => match &query.search {
                SearchPlan::Filter(search) => {
                    let known = directory
                        .all_ids()
                        .next()
                        .and_then(render)
                        .is_some_and(|sample| search.fields_exist_on(&sample));
                    match search.time_windows("LAST_UPDATE", &instance.clock) {
                        Some(windows) if known => directory.updated_within(&windows),
                        _ => directory.all_ids().collect(),
                    }
                }
                _ => directory.all_ids().collect(),
            },
        };
        query.select(instance, ids, render)?
    };
    let base = instance.href(format_args!("employees"));
    if query.fields.is_none() {
        let mut array = String::with_capacity(page.len() * 640 + 2);
        array.push('[');
        let mut count = 0;
        for row in page.into_iter().filter_map(|id| directory.row(id)) {
            if count > 0 {
                array.push(',');
            }
            instance.write_employee_extract(&mut array, &row);
            count += 1;
        }
        array.push(']');
        return Ok(query.envelope_raw(base, &array, count, total));
    }
    let records = page
        .into_iter()
        .filter_map(render)
        .map(|r| query.shape(r, Some(EMPLOYEE_LIST_EXTRACT), &["HREF"]))
        .collect();
    Ok(query.envelope(base, records, total))
}

fn parse_employee_id(id: &str) -> Result<u64, ApiError> {
    id.trim().parse().map_err(|_| ApiError::NotFound)
}

async fn get_employee(
    State(shared): AppState,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let store = shared.read();
    let employee = store.directory.get(parse_employee_id(&id)?).ok_or(ApiError::NotFound)?;
    Ok(ok_json(&shared.instance.employee_record(&employee)))
}

async fn create_employee(
    State(shared): AppState,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: Json = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("body is not json: {e}")))?;
    let id = writes::create_employee(&shared.instance, &mut shared.write(), &body)?;
    Ok(created(shared.instance.href(format_args!("employees/{id}"))))
}

async fn update_employee(
    State(shared): AppState,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let id = parse_employee_id(&id)?;
    let body: Json = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("body is not json: {e}")))?;
    writes::update_employee(&shared.instance, &mut shared.write(), id, &body)?;
    Ok(created(shared.instance.href(format_args!("employees/{id}"))))
}

// === reference tables ===

async fn list_locations(
    State(shared): AppState,
    Query(params): Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = ListQuery::parse(&shared, params, raw)?;
    let instance = &shared.instance;
    let rows = instance
        .config
        .locations
        .iter()
        .map(|l| instance.with_seed_stamp(instance.location_record(Some(l))))
        .collect();
    list_table(&shared, "locations", query, rows)
}

async fn get_location(
    State(shared): AppState,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let instance = &shared.instance;
    let location = instance.location(id.parse().ok()).ok_or(ApiError::NotFound)?;
    Ok(ok_json(&instance.with_seed_stamp(instance.location_record(Some(location)))))
}

async fn list_departments(
    State(shared): AppState,
    Query(params): Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = ListQuery::parse(&shared, params, raw)?;
    let instance = &shared.instance;
    let rows = instance
        .config
        .departments
        .iter()
        .map(|d| instance.with_seed_stamp(instance.department_record(Some(d))))
        .collect();
    list_table(&shared, "departments", query, rows)
}

async fn get_department(
    State(shared): AppState,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let instance = &shared.instance;
    let department = instance.department(id.parse().ok()).ok_or(ApiError::NotFound)?;
    Ok(ok_json(&instance.with_seed_stamp(instance.department_record(Some(department)))))
}

async fn list_catalog(
    State(shared): AppState,
    Query(params): Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = ListQuery::parse(&shared, params, raw)?;
    let instance = &shared.instance;
    let rows = instance
        .config
        .catalog
        .iter()
        .map(|c| instance.with_seed_stamp(instance.catalog_record(c, false)))
        .collect();
    list_table(&shared, "catalog-requests", query, rows)
}

async fn get_catalog(
    State(shared): AppState,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let instance = &shared.instance;
    let entry = id.parse().ok().and_then(|id| instance.catalog(id)).ok_or(ApiError::NotFound)?;
    Ok(ok_json(&instance.with_seed_stamp(instance.catalog_record(entry, true))))
}

async fn list_status(
    State(shared): AppState,
    Query(params): Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = ListQuery::parse(&shared, params, raw)?;
    let instance = &shared.instance;
    let rows = instance
        .config
        .statuses
        .iter()
        .map(|s| instance.with_seed_stamp(instance.status_record(s)))
        .collect();
    list_table(&shared, "status", query, rows)
}

async fn get_status(
    State(shared): AppState,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let instance = &shared.instance;
    let status = id.parse().ok().and_then(|id| instance.status(id)).ok_or(ApiError::NotFound)?;
    Ok(ok_json(&instance.with_seed_stamp(instance.status_record(status))))
}

async fn list_urgency(
    State(shared): AppState,
    Query(params): Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = ListQuery::parse(&shared, params, raw)?;
    let instance = &shared.instance;
    let rows = instance
        .config
        .urgencies
        .iter()
        .map(|u| instance.with_seed_stamp(instance.reference_record("urgency", "URGENCY_ID", u)))
        .collect();
    list_table(&shared, "urgency", query, rows)
}

async fn internal_queries(
    State(shared): AppState,
    Query(params): Params,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let get = |name: &str| {
        params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    };
    let same = |configured: &Option<String>, asked: Option<&String>| match (configured, asked) {
        (None, _) => true,
        (Some(c), Some(a)) => {
            crate::instance::normalize_guid(c) == crate::instance::normalize_guid(a)
        }
        (Some(_), None) => false,
    };
    let (query_guid, filter_guid, view_guid) =
        (get("queryguid"), get("filterguid"), get("viewguid"));
    let instance = &shared.instance;
    let view = instance
        .config
        .internal_queries
        .iter()
        .find(|v| {
            query_guid.as_ref().is_some_and(|q| {
                crate::instance::normalize_guid(q) == crate::instance::normalize_guid(&v.query_guid)
            }) && same(&v.filter_guid, filter_guid.as_ref())
                && same(&v.view_guid, view_guid.as_ref())
        })
        .ok_or(ApiError::NotFound)?;
    let rows = view
        .rows
        .iter()
        .map(|row| {
            let mut r = Record::with_capacity(row.len());
            for (column, value) in row {
                r.push(
                    Key::Shared(Arc::from(column.to_ascii_uppercase())),
                    Value::from(value.clone()),
                );
            }
            instance.with_seed_stamp(r)
        })
        .collect();
    let query = ListQuery::parse(&shared, params.clone(), raw)?;
    list_table(&shared, "internalqueries", query, rows)
}

async fn license(State(shared): AppState) -> Response {
    let instance = &shared.instance;
    let now =
        instance.clock.to_local(instance.clock.now()).format("%Y-%m-%dT%H:%M:%S%z").to_string();
    ok_json(&json!({
        "HREF": instance.href(format_args!("license")),
        "License": {"Account": "40000", "Connected": "1", "DateTime": now, "MaxConnexions": "9999"},
    }))
}

/// Real instances answer the OpenAPI document with 201.
async fn swagger() -> Response {
    let body = json!({"openapi": "3.0.1", "info": {"title": "EasyVista simulator", "version": "1"}, "paths": {}});
    (StatusCode::CREATED, axum::Json(body)).into_response()
}
