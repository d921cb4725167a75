//! Sync: follow the open tickets of a connection, and for every ticket that ended (closed,
//! canceled, rejected, lost) or went stale, decide the provisioning state by the domain rule
//! and hand it to the result sink.
//!
//! Tickets are read in batches through the backend's follow call, never one request per
//! ticket; between full reads, only what changed since the last watermark is asked for.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use ta_domain::{OutcomePolicy, TicketOutcome, report};
use ta_ports::{FollowRequest, Ledger, OpenTicket, ResultSink, TicketingBackend};
use tracing::{debug, info, warn};

use crate::fulfill::CycleError;
use crate::mappings::MappingSet;
use crate::results::publish_results;

/// Everything one connection's sync cycle works with.
#[derive(Clone)]
pub struct Sync {
    pub connection: String,
    pub results: Arc<dyn ResultSink>,
    pub ledger: Arc<dyn Ledger>,
    pub backend: Arc<dyn TicketingBackend>,
    pub mappings: Arc<MappingSet>,
    pub policy: OutcomePolicy,
    pub settings: SyncSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSettings {
    /// A full read of every open ticket (which also finds deleted ones) happens at least this
    /// often; cycles in between read only what changed.
    pub full_read_every: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings { full_read_every: Duration::hours(1) }
    }
}

/// What one sync cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub tickets_followed: usize,
    pub full_read: bool,
    pub requests: u64,
    /// Finished tickets by outcome (`closed`, `canceled`, …).
    pub finished: HashMap<String, usize>,
    pub results_published: usize,
    pub results_location: Option<String>,
}

impl Sync {
    /// One cycle at time `now`.
    pub async fn run_cycle(&self, now: DateTime<Utc>) -> Result<SyncReport, CycleError> {
        let mut cycle = SyncReport::default();
        let open = self.ledger.open_tickets(&self.connection).await?;
        cycle.tickets_followed = open.len();

        if !open.is_empty() {
            self.follow(&open, now, &mut cycle).await?;
        }
        if let Some(published) =
            publish_results(&self.connection, self.ledger.as_ref(), self.results.as_ref()).await?
        {
            cycle.results_published = published.rows;
            cycle.results_location = Some(published.location);
        }
        Ok(cycle)
    }

    async fn follow(
        &self,
        open: &[OpenTicket],
        now: DateTime<Utc>,
        cycle: &mut SyncReport,
    ) -> Result<(), CycleError> {
        let full_read_key = format!("{}#full-read", self.connection);
        let last_full = self
            .ledger
            .watermark(&full_read_key)
            .await?
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.to_utc());
        let full = last_full.is_none_or(|t| now - t >= self.settings.full_read_every);
        let watermark = if full { None } else { self.ledger.watermark(&self.connection).await? };

        let request =
            FollowRequest { tickets: open.iter().map(|t| t.ticket.clone()).collect(), watermark };
        let followed = self.backend.follow(&request).await.map_err(|source| {
            CycleError::Backend { connection: self.connection.clone(), source }
        })?;
        cycle.full_read = full;
        cycle.requests = followed.requests;
        debug!(connection = %self.connection, tickets = open.len(), full, requests = followed.requests, "tickets read");

        let by_ticket: HashMap<_, _> = open.iter().map(|t| (t.ticket.clone(), t)).collect();
        let mut observed: HashMap<_, _> = HashMap::new();
        for observation in &followed.observations {
            observed.insert(observation.ticket.clone(), observation);
        }

        for ticket in open {
            let outcome =
                observed.get(&ticket.ticket).map(|o| o.outcome).unwrap_or(TicketOutcome::Open);
            let outcome = self.policy.settle(outcome, ticket.opened_at, now);
            if !outcome.is_final() {
                continue;
            }
            let not_synchronized = self
                .mappings
                .get(&ticket.resource_type)
                .is_some_and(|m| m.mapping.ticket_synchro_is_not_available);
            let Some(state) = report(outcome, &ticket.ticket, not_synchronized, &self.policy)
            else {
                continue;
            };
            self.ledger.ticket_finished(&ticket.reference, outcome, state.clone()).await?;
            *cycle.finished.entry(outcome.to_string()).or_default() += 1;
            metrics::counter!("ta_ticket_outcomes_total", "connection" => self.connection.clone(), "outcome" => outcome.as_str())
                .increment(1);
            let status =
                observed.get(&ticket.ticket).map(|o| o.status.as_str()).unwrap_or_default();
            if matches!(outcome, TicketOutcome::Lost | TicketOutcome::Stale) {
                warn!(connection = %self.connection, order = %ticket.reference, ticket = %ticket.ticket, %outcome, state = %state.state, "ticket {outcome}");
            } else {
                info!(connection = %self.connection, order = %ticket.reference, ticket = %ticket.ticket, %outcome, status, state = %state.state, "ticket finished");
            }
        }
        let unknown: Vec<_> =
            followed.observations.iter().filter(|o| !by_ticket.contains_key(&o.ticket)).collect();
        if !unknown.is_empty() {
            debug!(connection = %self.connection, count = unknown.len(), "ignored observations of tickets not followed");
        }

        let references: Vec<_> = open.iter().map(|t| t.reference.clone()).collect();
        self.ledger.polled(&references, now).await?;
        self.ledger.set_watermark(&self.connection, followed.watermark).await?;
        if full {
            self.ledger.set_watermark(&full_read_key, Some(now.to_rfc3339())).await?;
        }
        Ok(())
    }
}
