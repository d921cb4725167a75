//! A loopback simulator of the EasyVista Service Manager REST API v1, for contract tests,
//! end-to-end tests and benchmarks of the ticket agent.
//!
//! It serves `/api/v1/{account}/…` with the shapes and quirks of real instances, and an admin
//! side under `/_admin/…` (or in process through [`Admin`]) to move tickets, seed data, count
//! calls and inject faults. It never talks to anything but its own loopback listener.
//!
//! ```no_run
//! # async fn demo() -> Result<(), easyvista_sim::SimulatorError> {
//! use easyvista_sim::{Simulator, SimulatorConfig, StatusKind};
//!
//! let sim = Simulator::start(SimulatorConfig::default()).await?;
//! println!("{} as {}:{}", sim.base_url(), sim.login(), sim.password());
//! // … the code under test creates a ticket, then the test moves it on:
//! # let rfc = "S250101_000001";
//! sim.admin().set_ticket_status(rfc, StatusKind::Solved).ok();
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
mod api;
mod clock;
mod config;
mod employees;
mod error;
mod faults;
mod instance;
mod query;
mod record;
mod server;
mod writes;

pub use admin::{Admin, StatusRef, TicketSeed, TicketSnapshot};
pub use config::{
    CANCELED_GUID, CLOSED_GUID, CatalogEntry, ClockMode, DepartmentDef, EmployeeSeed,
    IN_PROGRESS_GUID, InternalQueryView, LocationDef, REJECTED_GUID, Realism, ReferenceEntry,
    SOLVED_GUID, SUSPENDED_GUID, SYNTHETIC_EMPLOYEE_ID_BASE, SimulatorConfig, StatusDef,
    StatusKind, TicketType, UserDateFormat, default_catalog, default_departments,
    default_employees, default_internal_queries, default_locations, default_statuses,
};
pub use error::{AdminError, SimulatorError};
pub use faults::{Counters, FaultSpec, routes};
pub use server::{RunningSimulator, Simulator};
pub use writes::EXTERNAL_REFERENCE_MAX;
