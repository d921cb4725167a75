//! Fault injection and call counting per route.
//!
//! Each route with a fault draws from its own seeded generator, so a test that makes the same
//! calls in the same order sees the same faults every run.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::AdminError;

/// Labels of the EasyVista routes, as used by [`crate::Admin::set_fault`] and in [`Counters`].
pub mod routes {
    pub const LIST_REQUESTS: &str = "GET /requests";
    pub const CREATE_REQUEST: &str = "POST /requests";
    pub const GET_REQUEST: &str = "GET /requests/{rfc}";
    pub const UPDATE_REQUEST: &str = "PUT /requests/{rfc}";
    pub const GET_REQUEST_MEMO: &str = "GET /requests/{rfc}/{memo}";
    pub const LIST_EMPLOYEES: &str = "GET /employees";
    pub const CREATE_EMPLOYEE: &str = "POST /employees";
    pub const GET_EMPLOYEE: &str = "GET /employees/{id}";
    pub const UPDATE_EMPLOYEE: &str = "PUT /employees/{id}";
    pub const LIST_LOCATIONS: &str = "GET /locations";
    pub const GET_LOCATION: &str = "GET /locations/{id}";
    pub const LIST_DEPARTMENTS: &str = "GET /departments";
    pub const GET_DEPARTMENT: &str = "GET /departments/{id}";
    pub const LIST_CATALOG: &str = "GET /catalog-requests";
    pub const GET_CATALOG: &str = "GET /catalog-requests/{id}";
    pub const LIST_STATUS: &str = "GET /status";
    pub const GET_STATUS: &str = "GET /status/{id}";
    pub const LIST_URGENCY: &str = "GET /urgency";
    pub const LIST_URGENCIES: &str = "GET /urgencies";
    pub const INTERNAL_QUERIES: &str = "GET /internalqueries";
    pub const LICENSE: &str = "GET /license";
    pub const SWAGGER: &str = "GET /swagger";
    /// A fault set on this label applies to every route that has none of its own.
    pub const ANY: &str = "*";

    /// Every route label, [`ANY`] excluded.
    pub const ALL: &[&str] = &[
        LIST_REQUESTS,
        CREATE_REQUEST,
        GET_REQUEST,
        UPDATE_REQUEST,
        GET_REQUEST_MEMO,
        LIST_EMPLOYEES,
        CREATE_EMPLOYEE,
        GET_EMPLOYEE,
        UPDATE_EMPLOYEE,
        LIST_LOCATIONS,
        GET_LOCATION,
        LIST_DEPARTMENTS,
        GET_DEPARTMENT,
        LIST_CATALOG,
        GET_CATALOG,
        LIST_STATUS,
        GET_STATUS,
        LIST_URGENCY,
        LIST_URGENCIES,
        INTERNAL_QUERIES,
        LICENSE,
        SWAGGER,
    ];
}

/// What goes wrong on a route. Rates are probabilities in `0.0..=1.0`; one draw per call picks at
/// most one of drop, error, stall, fail-after-create, drop-after-create and error-after-create
/// (their rates add up to at most 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultSpec {
    /// Share of calls answered with `error_status` instead of being served.
    pub error_rate: f64,
    /// 500, 503, 429, … (429 and 503 carry `Retry-After: retry_after_secs`).
    pub error_status: u16,
    pub retry_after_secs: u64,
    /// Share of calls whose connection is closed without an answer.
    pub drop_rate: f64,
    /// Share of calls served normally but answered only after `stall_ms` (beyond the client's
    /// timeout). A stalled create still creates the ticket.
    pub stall_rate: f64,
    pub stall_ms: u64,
    /// Share of creates that create the ticket and then answer 590 (only on `POST /requests`).
    pub fail_after_create_rate: f64,
    /// Share of creates that create the ticket and then close the connection without an answer
    /// (only on `POST /requests`; counted as `"dropped"`).
    pub drop_after_create_rate: f64,
    /// Share of creates that create the ticket and then answer `error_status` (503, 500, 429, …,
    /// with `Retry-After` as for `error_rate`; only on `POST /requests`).
    pub error_after_create_rate: f64,
    /// Added to every call of the route.
    pub latency_ms: u64,
    /// Seed of the route's generator.
    pub seed: u64,
}

impl Default for FaultSpec {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            error_status: 503,
            retry_after_secs: 1,
            drop_rate: 0.0,
            stall_rate: 0.0,
            stall_ms: 30_000,
            fail_after_create_rate: 0.0,
            drop_after_create_rate: 0.0,
            error_after_create_rate: 0.0,
            latency_ms: 0,
            seed: 1,
        }
    }
}

impl FaultSpec {
    /// `rate` of calls answer `status` (500, 503, 429, …).
    pub fn errors(rate: f64, status: u16) -> Self {
        Self { error_rate: rate, error_status: status, ..Self::default() }
    }

    /// `rate` of calls lose their connection without an answer.
    pub fn drops(rate: f64) -> Self {
        Self { drop_rate: rate, ..Self::default() }
    }

    /// `rate` of calls are answered only after `delay`.
    pub fn stalls(rate: f64, delay: Duration) -> Self {
        Self { stall_rate: rate, stall_ms: millis(delay), ..Self::default() }
    }

    /// `rate` of creates answer 590 although the ticket was created.
    pub fn fail_after_create(rate: f64) -> Self {
        Self { fail_after_create_rate: rate, ..Self::default() }
    }

    /// `rate` of creates lose their connection without an answer although the ticket was created.
    pub fn drop_after_create(rate: f64) -> Self {
        Self { drop_after_create_rate: rate, ..Self::default() }
    }

    /// `rate` of creates answer `status` (503, 500, 429, …) although the ticket was created.
    pub fn error_after_create(rate: f64, status: u16) -> Self {
        Self { error_after_create_rate: rate, error_status: status, ..Self::default() }
    }

    /// Every call takes `delay` longer.
    pub fn latency(delay: Duration) -> Self {
        Self { latency_ms: millis(delay), ..Self::default() }
    }

    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    pub fn with_latency(self, delay: Duration) -> Self {
        Self { latency_ms: millis(delay), ..self }
    }

    pub fn with_retry_after(self, seconds: u64) -> Self {
        Self { retry_after_secs: seconds, ..self }
    }

    fn validate(&self) -> Result<(), AdminError> {
        let rates = [
            self.error_rate,
            self.drop_rate,
            self.stall_rate,
            self.fail_after_create_rate,
            self.drop_after_create_rate,
            self.error_after_create_rate,
        ];
        if rates.iter().any(|r| !(0.0..=1.0).contains(r)) {
            return Err(AdminError::InvalidFault("every rate must be between 0 and 1".into()));
        }
        if rates.iter().sum::<f64>() > 1.0 + 1e-9 {
            return Err(AdminError::InvalidFault("the rates add up to more than 1".into()));
        }
        let uses_status = self.error_rate > 0.0 || self.error_after_create_rate > 0.0;
        if uses_status && !(400..=599).contains(&self.error_status) {
            return Err(AdminError::InvalidFault(format!(
                "{} is not an error status",
                self.error_status
            )));
        }
        Ok(())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What the draw decided for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    Drop,
    Error { status: u16, retry_after_secs: u64 },
    Stall(Duration),
    FailAfterCreate,
    DropAfterCreate,
    ErrorAfterCreate { status: u16, retry_after_secs: u64 },
}

struct RouteFault {
    spec: FaultSpec,
    rng: u64,
}

/// The faults in force, per route label.
#[derive(Default)]
pub(crate) struct Faults {
    any: AtomicBool,
    table: Mutex<HashMap<String, RouteFault>>,
}

impl Faults {
    pub(crate) fn set(&self, route: &str, spec: FaultSpec) -> Result<(), AdminError> {
        if route != routes::ANY && !routes::ALL.contains(&route) {
            return Err(AdminError::UnknownRoute(route.to_string()));
        }
        spec.validate()?;
        let mut table = self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let rng = spec.seed ^ 0x9E37_79B9_7F4A_7C15;
        table.insert(route.to_string(), RouteFault { spec, rng });
        self.any.store(true, Ordering::Release);
        Ok(())
    }

    pub(crate) fn clear(&self) {
        let mut table = self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        table.clear();
        self.any.store(false, Ordering::Release);
    }

    /// Draws the fault of one call of `route`, with the latency to add.
    pub(crate) fn decide(&self, route: &str) -> (Fault, Duration) {
        if !self.any.load(Ordering::Acquire) {
            return (Fault::None, Duration::ZERO);
        }
        let mut table = self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = if table.contains_key(route) { route } else { routes::ANY };
        let Some(entry) = table.get_mut(key) else { return (Fault::None, Duration::ZERO) };
        let draw = next_unit(&mut entry.rng);
        let spec = &entry.spec;
        let latency = Duration::from_millis(spec.latency_ms);
        let mut edge = spec.drop_rate;
        if draw < edge {
            return (Fault::Drop, latency);
        }
        edge += spec.error_rate;
        if draw < edge {
            let fault =
                Fault::Error { status: spec.error_status, retry_after_secs: spec.retry_after_secs };
            return (fault, latency);
        }
        edge += spec.stall_rate;
        if draw < edge {
            return (Fault::Stall(Duration::from_millis(spec.stall_ms)), latency);
        }
        if route != routes::CREATE_REQUEST {
            return (Fault::None, latency);
        }
        edge += spec.fail_after_create_rate;
        if draw < edge {
            return (Fault::FailAfterCreate, latency);
        }
        edge += spec.drop_after_create_rate;
        if draw < edge {
            return (Fault::DropAfterCreate, latency);
        }
        edge += spec.error_after_create_rate;
        if draw < edge {
            let fault = Fault::ErrorAfterCreate {
                status: spec.error_status,
                retry_after_secs: spec.retry_after_secs,
            };
            return (fault, latency);
        }
        (Fault::None, latency)
    }
}

/// SplitMix64, mapped to `[0, 1)`.
fn next_unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Calls seen per route and outcome, and tickets created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Route label → outcome (`"201"`, `"590"`, …, or `"dropped"`) → calls.
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Tickets created through `POST /requests`, including those answered 590 afterwards.
    pub tickets_created: u64,
}

impl Counters {
    /// Calls of `route` answered with `status`.
    pub fn get(&self, route: &str, status: u16) -> u64 {
        self.outcome(route, &status.to_string())
    }

    /// Calls of `route` whose connection was dropped.
    pub fn dropped(&self, route: &str) -> u64 {
        self.outcome(route, "dropped")
    }

    /// Every call of `route`, whatever the outcome.
    pub fn total(&self, route: &str) -> u64 {
        self.requests.get(route).map_or(0, |o| o.values().sum())
    }

    fn outcome(&self, route: &str, outcome: &str) -> u64 {
        self.requests.get(route).and_then(|o| o.get(outcome)).copied().unwrap_or(0)
    }
}

/// The live counters; `status` 0 stands for a dropped connection.
#[derive(Default)]
pub(crate) struct CounterTable {
    calls: Mutex<HashMap<(&'static str, u16), u64>>,
    pub(crate) tickets_created: AtomicU64,
}

impl CounterTable {
    pub(crate) fn count(&self, route: &'static str, status: u16) {
        let mut calls = self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *calls.entry((route, status)).or_default() += 1;
    }

    pub(crate) fn snapshot(&self) -> Counters {
        let calls = self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut requests: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((route, status), n) in calls.iter() {
            let outcome = if *status == 0 { "dropped".to_string() } else { status.to_string() };
            requests.entry((*route).to_string()).or_default().insert(outcome, *n);
        }
        Counters { requests, tickets_created: self.tickets_created.load(Ordering::Relaxed) }
    }

    pub(crate) fn reset(&self) {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        self.tickets_created.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(faults: &Faults, route: &str, n: usize) -> Vec<Fault> {
        (0..n).map(|_| faults.decide(route).0).collect()
    }

    #[test]
    fn same_seed_same_faults() {
        let (a, b) = (Faults::default(), Faults::default());
        let spec = FaultSpec::errors(0.2, 503).with_seed(7);
        a.set(routes::GET_REQUEST, spec.clone()).expect("valid");
        b.set(routes::GET_REQUEST, spec).expect("valid");
        assert_eq!(draws(&a, routes::GET_REQUEST, 200), draws(&b, routes::GET_REQUEST, 200));
    }

    #[test]
    fn rates_are_roughly_honoured() {
        let faults = Faults::default();
        faults.set(routes::ANY, FaultSpec::drops(0.2)).expect("valid");
        let dropped = draws(&faults, routes::LIST_EMPLOYEES, 10_000)
            .iter()
            .filter(|f| **f == Fault::Drop)
            .count();
        assert!((1_700..2_300).contains(&dropped), "{dropped}");
    }

    #[test]
    fn fail_after_create_only_on_create() {
        let faults = Faults::default();
        faults.set(routes::ANY, FaultSpec::fail_after_create(1.0)).expect("valid");
        assert_eq!(faults.decide(routes::CREATE_REQUEST).0, Fault::FailAfterCreate);
        assert_eq!(faults.decide(routes::GET_REQUEST).0, Fault::None);
    }

    #[test]
    fn after_create_faults_only_on_create() {
        let faults = Faults::default();
        faults.set(routes::ANY, FaultSpec::drop_after_create(1.0)).expect("valid");
        assert_eq!(faults.decide(routes::CREATE_REQUEST).0, Fault::DropAfterCreate);
        assert_eq!(faults.decide(routes::UPDATE_REQUEST).0, Fault::None);
        faults
            .set(routes::ANY, FaultSpec::error_after_create(1.0, 503).with_retry_after(4))
            .expect("valid");
        assert_eq!(
            faults.decide(routes::CREATE_REQUEST).0,
            Fault::ErrorAfterCreate { status: 503, retry_after_secs: 4 }
        );
        assert_eq!(faults.decide(routes::GET_REQUEST).0, Fault::None);
    }

    #[test]
    fn after_create_rates_share_one_draw() {
        let faults = Faults::default();
        let spec = FaultSpec {
            fail_after_create_rate: 0.2,
            drop_after_create_rate: 0.3,
            error_after_create_rate: 0.5,
            ..FaultSpec::default()
        };
        faults.set(routes::CREATE_REQUEST, spec).expect("valid");
        let seen = draws(&faults, routes::CREATE_REQUEST, 10_000);
        let count = |f: fn(&Fault) -> bool| seen.iter().filter(|x| f(x)).count();
        assert_eq!(count(|f| *f == Fault::None), 0);
        assert!((1_700..2_300).contains(&count(|f| *f == Fault::FailAfterCreate)));
        assert!((2_700..3_300).contains(&count(|f| *f == Fault::DropAfterCreate)));
        assert!((4_700..5_300).contains(&count(|f| matches!(f, Fault::ErrorAfterCreate { .. }))));
    }

    #[test]
    fn bad_specs_are_refused() {
        let faults = Faults::default();
        assert!(faults.set("GET /nope", FaultSpec::default()).is_err());
        assert!(faults.set(routes::ANY, FaultSpec::errors(1.5, 500)).is_err());
        assert!(
            faults
                .set(
                    routes::ANY,
                    FaultSpec { drop_rate: 0.6, error_rate: 0.6, ..FaultSpec::default() }
                )
                .is_err()
        );
        assert!(faults.set(routes::ANY, FaultSpec::error_after_create(0.5, 201)).is_err());
        assert!(
            faults
                .set(
                    routes::ANY,
                    FaultSpec {
                        fail_after_create_rate: 0.5,
                        drop_after_create_rate: 0.4,
                        error_after_create_rate: 0.2,
                        ..FaultSpec::default()
                    }
                )
                .is_err()
        );
    }
}
