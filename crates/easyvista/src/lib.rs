//! ticket-agent's adapter for the EasyVista Service Manager REST API v1: opens tickets, follows
//! them in batches and streams reference records, over reqwest with verified TLS.
//!
//! It implements [`ta_ports::TicketingBackend`] and [`ta_ports::EntitySource`]. It never resends a
//! create whose result is unknown before a search by external reference proved it absent.

mod client;
mod config;
mod create;
mod error;
mod follow;
mod records;
mod transport;

pub use client::EasyVistaClient;
pub use config::{Credentials, EasyVistaConfig, ReadRetries};
pub use error::EasyVistaError;
pub use follow::delta_bound;
