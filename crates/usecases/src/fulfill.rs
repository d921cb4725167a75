//! Fulfill: take order deliveries in, record every order in the ledger, then open one ticket
//! per recorded order.
//!
//! It must never open a second ticket for an order nor lose one. An order is recorded before
//! its delivery is acknowledged; a create is only sent after the ledger notes it; an order the
//! ledger shows as "creating" is looked up by its external reference before anything else.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use ta_domain::{
    ChangeType, ExternalReference, OrderEntry, OrderFile, OutcomePolicy, ProvisioningOrder,
    StateReport, TicketDraft, TicketNumber, fingerprint_of,
};
use ta_ports::{
    Ledger, LedgerError, NewOrder, OrderSource, OrderStage, PendingOrder, ResultSink,
    TicketingBackend, TicketingError,
};
use tokio::sync::Semaphore;
use tracing::{debug, error, info, warn};

use crate::draft::{DraftSettings, draft_for};
use crate::mappings::MappingSet;
use crate::results::publish_results;
use crate::stop::StopSignal;

/// Orders per chunk, per call slot: a chunk costs two ledger changes however many orders it has.
const CHUNK_PER_SLOT: usize = 4;
/// Chunks in progress at once: while one waits for the ledger, the others' creates go on.
const CHUNKS_IN_FLIGHT: usize = 3;

/// Everything one connection's fulfill cycle works with.
#[derive(Clone)]
pub struct Fulfill {
    pub connection: String,
    pub orders: Arc<dyn OrderSource>,
    pub results: Arc<dyn ResultSink>,
    pub ledger: Arc<dyn Ledger>,
    pub backend: Arc<dyn TicketingBackend>,
    pub mappings: Arc<MappingSet>,
    pub policy: OutcomePolicy,
    pub drafts: DraftSettings,
    /// How many creates may be in flight at once.
    pub concurrency: usize,
    pub stop: StopSignal,
}

/// What one fulfill cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FulfillReport {
    pub files_taken: usize,
    pub files_rejected: usize,
    pub orders_recorded: usize,
    pub orders_invalid: usize,
    pub tickets_opened: usize,
    pub tickets_adopted: usize,
    pub orders_failed: usize,
    /// Orders left pending after a transient failure; retried next cycle.
    pub orders_retrying: usize,
    pub results_published: usize,
    pub results_location: Option<String>,
}

/// Why a cycle stopped early. Per-order problems never end up here: they are recorded on the
/// order and the cycle goes on.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] ta_ports::StoreError),
    #[error("connection {connection}: {source}")]
    Backend { connection: String, source: TicketingError },
}

impl CycleError {
    /// A short class name for logs and metrics (`ledger`, `store`, or the backend's class).
    pub fn class(&self) -> &'static str {
        match self {
            CycleError::Ledger(_) => "ledger",
            CycleError::Store(_) => "store",
            CycleError::Backend { source, .. } => source.class(),
        }
    }
}

/// How one pending order ended this cycle.
enum CreateResult {
    Opened,
    Adopted,
    Failed,
    Retrying,
    /// Not sent because a stop was asked for: left for the next cycle, nothing failed.
    Deferred,
    /// The service desk refused our credentials: no point sending more creates this cycle.
    AuthenticationRefused(TicketingError),
}

impl Fulfill {
    /// One cycle: intake, ticket creation, result publishing.
    pub async fn run_cycle(&self) -> Result<FulfillReport, CycleError> {
        let mut report = FulfillReport::default();
        self.intake(&mut report).await?;
        self.open_tickets(&mut report).await?;
        if let Some(published) =
            publish_results(&self.connection, self.ledger.as_ref(), self.results.as_ref()).await?
        {
            report.results_published = published.rows;
            report.results_location = Some(published.location);
        }
        Ok(report)
    }

    /// Takes every waiting delivery: records its orders, then acknowledges it. A delivery that
    /// is not an order file is rejected whole and the others go on.
    async fn intake(&self, report: &mut FulfillReport) -> Result<(), CycleError> {
        for delivery in self.orders.pending().await? {
            if self.stop.is_stopped() {
                break;
            }
            let file = match OrderFile::parse(&delivery.name, &delivery.text) {
                Ok(file) => file,
                Err(reason) => {
                    warn!(connection = %self.connection, delivery = %delivery.name, %reason, "order file rejected");
                    metrics::counter!("ta_order_files_rejected_total", "connection" => self.connection.clone()).increment(1);
                    self.orders.reject(&delivery.name, &reason.to_string()).await?;
                    report.files_rejected += 1;
                    continue;
                }
            };

            let orders: Vec<NewOrder> =
                file.entries.iter().map(|entry| self.new_order(&file.name, entry)).collect();
            report.orders_invalid += orders.iter().filter(|o| o.decided.is_some()).count();
            let recorded = self.ledger.record_orders(&orders).await?;
            self.orders.acknowledge(&delivery.name).await?;
            report.files_taken += 1;
            report.orders_recorded += recorded.len();
            metrics::counter!("ta_orders_received_total", "connection" => self.connection.clone())
                .increment(recorded.len() as u64);
            for reference in &recorded {
                info!(connection = %self.connection, order = %reference, delivery = %delivery.name, "order received");
            }
            info!(
                connection = %self.connection,
                delivery = %delivery.name,
                orders = orders.len(),
                new = recorded.len(),
                "order file taken"
            );
        }
        Ok(())
    }

    /// The ledger record of one entry; invalid orders and orders without a mapping are decided
    /// at once with an error report.
    fn new_order(&self, delivery: &str, entry: &OrderEntry) -> NewOrder {
        let order_json = entry.compact_json();
        let fingerprint = fingerprint_of(&order_json);
        let failed =
            |message: String| Some(StateReport { state: self.policy.failure_state, message });
        match &entry.order {
            Ok(order) => {
                let reference = ExternalReference::derive(
                    order.change_type,
                    &order.assigned_resource_type_id,
                    delivery,
                    entry.position,
                    &fingerprint,
                );
                let decided = self.check_mapping(order).err().and_then(failed);
                if let Some(report) = &decided {
                    warn!(connection = %self.connection, order = %reference, reason = %report.message, "order refused");
                }
                NewOrder {
                    reference,
                    connection: self.connection.clone(),
                    delivery: delivery.to_owned(),
                    position: entry.position,
                    assignment_id: Some(order.assigned_resource_type_id.clone()),
                    resource_type: order.resource_type.identifier.clone(),
                    change_type: order.change_type.to_string(),
                    owner_id: order.owner_id().unwrap_or_default(),
                    owner_type: order.owner_type(),
                    order_json,
                    decided,
                }
            }
            Err(invalid) => {
                let id = invalid.assigned_resource_type_id.clone();
                let reference = ExternalReference::derive(
                    ChangeType::Added,
                    id.as_deref().unwrap_or_default(),
                    delivery,
                    entry.position,
                    &fingerprint,
                );
                warn!(connection = %self.connection, order = %reference, reason = %invalid, "invalid order");
                let text = |pointer: &str| raw_text(entry, pointer).unwrap_or_default();
                NewOrder {
                    reference,
                    connection: self.connection.clone(),
                    delivery: delivery.to_owned(),
                    position: entry.position,
                    assignment_id: id,
                    resource_type: text("/ResourceType/Identifier"),
                    change_type: text("/ChangeType"),
                    owner_id: text("/Owner/Id"),
                    owner_type: text("/ResourceType/SourceEntityType/Id"),
                    order_json,
                    decided: failed(invalid.to_string()),
                }
            }
        }
    }

    fn check_mapping(&self, order: &ProvisioningOrder) -> Result<(), String> {
        let resource_type = &order.resource_type.identifier;
        let prepared = self.mappings.get(resource_type).ok_or_else(|| {
            format!("no EasyVistaResourceTypeMapping for resource type {resource_type}")
        })?;
        if !prepared.mapping.connection.eq_ignore_ascii_case(&self.connection) {
            return Err(format!(
                "resource type {resource_type} is mapped to connection {}, but its order came to connection {}",
                prepared.mapping.connection, self.connection
            ));
        }
        Ok(())
    }

    /// Opens the tickets of every pending order, a chunk at a time: each chunk's creates are
    /// noted in the ledger in one change before any of them is sent, and its tickets are
    /// recorded in one change once its creates have answered.
    async fn open_tickets(&self, report: &mut FulfillReport) -> Result<(), CycleError> {
        let pending = self.ledger.pending_orders(&self.connection).await?;
        if pending.is_empty() {
            return Ok(());
        }
        debug!(connection = %self.connection, orders = pending.len(), "opening tickets");

        // At most `concurrency` calls to the service desk at once; several chunks are in
        // progress, so that while one waits for the ledger the others' calls keep going.
        let slots = self.concurrency.max(1);
        let calls = Semaphore::new(slots);
        // Once the service desk refuses our credentials, sending more creates is pointless.
        let refused_flag = AtomicBool::new(false);
        let mut chunks = futures::stream::iter(pending)
            .take_while(|_| {
                futures::future::ready(
                    !self.stop.is_stopped() && !refused_flag.load(Ordering::SeqCst),
                )
            })
            .chunks(slots * CHUNK_PER_SLOT)
            .map(|chunk| self.open_chunk(chunk, &calls, &refused_flag))
            .buffer_unordered(CHUNKS_IN_FLIGHT);
        let mut refused = None;
        while let Some(results) = chunks.next().await {
            for result in results? {
                match result {
                    CreateResult::Opened => report.tickets_opened += 1,
                    CreateResult::Adopted => report.tickets_adopted += 1,
                    CreateResult::Failed => report.orders_failed += 1,
                    CreateResult::Retrying => report.orders_retrying += 1,
                    CreateResult::Deferred => {}
                    CreateResult::AuthenticationRefused(e) => {
                        report.orders_retrying += 1;
                        refused_flag.store(true, Ordering::SeqCst);
                        refused.get_or_insert(e);
                    }
                }
            }
        }
        match refused {
            Some(source) => {
                Err(CycleError::Backend { connection: self.connection.clone(), source })
            }
            None => Ok(()),
        }
    }

    /// One chunk of pending orders: drafts, then lookups of the orders left creating, then one
    /// ledger change noting every create, the creates, and one ledger change recording every
    /// ticket. An order whose ticket is not recorded yet when the agent dies is left creating,
    /// and so is looked up by its external reference before anything else next time.
    async fn open_chunk(
        &self,
        chunk: Vec<PendingOrder>,
        calls: &Semaphore,
        refused: &AtomicBool,
    ) -> Result<Vec<CreateResult>, CycleError> {
        let mut results = Vec::with_capacity(chunk.len());
        let mut drafted = Vec::with_capacity(chunk.len());
        for pending in chunk {
            match self.draft(&pending) {
                Ok(draft) => drafted.push((pending.stage, draft)),
                Err(reason) => results.push(self.fail(&pending.reference, reason).await?),
            }
        }

        // A create may have been sent before (the agent stopped, or the answer was lost): the
        // ticket may exist, so look for it before sending anything.
        let (creating, mut to_create): (Vec<_>, Vec<_>) =
            drafted.into_iter().partition(|(stage, _)| *stage == OrderStage::Creating);
        let mut opened = Vec::with_capacity(creating.len() + to_create.len());
        let lookups = creating.into_iter().map(|(_, draft)| async move {
            let found = {
                let _call = calls.acquire().await;
                self.backend.find_by_external_reference(&draft.external_reference).await
            };
            (draft, found)
        });
        for (draft, found) in futures::future::join_all(lookups).await {
            let reference = &draft.external_reference;
            match found {
                Ok(Some(ticket)) => {
                    info!(connection = %self.connection, order = %reference, ticket = %ticket, "ticket adopted");
                    opened.push((reference.clone(), ticket));
                    results.push(CreateResult::Adopted);
                }
                Ok(None) => to_create.push((OrderStage::Creating, draft)),
                Err(e) => {
                    let result = self.retry_later(reference, e).await?;
                    if matches!(result, CreateResult::AuthenticationRefused(_)) {
                        refused.store(true, Ordering::SeqCst);
                    }
                    results.push(result);
                }
            }
        }

        // Once a stop is asked for, no create is sent that was not noted already: these orders
        // stay pending, untouched, for the next cycle.
        if self.stop.is_stopped() {
            results.extend(to_create.drain(..).map(|_| CreateResult::Deferred));
        }
        let references: Vec<ExternalReference> =
            to_create.iter().map(|(_, draft)| draft.external_reference.clone()).collect();
        let attempts = match references.is_empty() {
            true => Vec::new(),
            false => self.ledger.begin_creates(&references).await?,
        };
        for reference in &references {
            debug!(connection = %self.connection, order = %reference, "ticket create noted");
        }
        let creates = to_create
            .iter()
            .zip(attempts)
            .map(|((_, draft), attempt)| self.create(draft, attempt, calls, refused));
        for created in futures::future::join_all(creates).await {
            let (result, ticket) = created?;
            results.push(result);
            opened.extend(ticket);
        }

        if !opened.is_empty() {
            self.ledger.tickets_opened(&opened).await?;
        }
        let adopted = results.iter().filter(|r| matches!(r, CreateResult::Adopted)).count();
        self.count_opened("adopted", adopted);
        self.count_opened("created", opened.len() - adopted);
        Ok(results)
    }

    /// The draft of a pending order's ticket, from the order as the ledger keeps it.
    fn draft(&self, pending: &PendingOrder) -> Result<TicketDraft, String> {
        let order = serde_json::from_str::<Value>(&pending.order_json)
            .map_err(|e| e.to_string())
            .and_then(ProvisioningOrder::from_owned_value)
            .map_err(|reason| format!("the recorded order cannot be read: {reason}"))?;
        let Some(prepared) = self.mappings.get(&order.resource_type.identifier) else {
            return Err(format!(
                "no EasyVistaResourceTypeMapping for resource type {}",
                order.resource_type.identifier
            ));
        };
        draft_for(&order, &pending.reference, prepared, &self.drafts)
    }

    /// Sends one create the ledger has noted, through a call slot. An opened ticket comes back
    /// to be recorded with its chunk; a failure is recorded at once.
    async fn create(
        &self,
        draft: &TicketDraft,
        attempt: u32,
        calls: &Semaphore,
        refused: &AtomicBool,
    ) -> Result<(CreateResult, Option<(ExternalReference, TicketNumber)>), CycleError> {
        let reference = &draft.external_reference;
        let opened = {
            let _call = calls.acquire().await;
            // Noted but not sent: the order stays creating and is looked up next cycle.
            if refused.load(Ordering::SeqCst) {
                return Ok((CreateResult::Retrying, None));
            }
            if self.stop.is_stopped() {
                return Ok((CreateResult::Deferred, None));
            }
            self.backend.open_ticket(draft).await
        };
        match opened {
            Ok(opened) => {
                let verb = if opened.adopted { "ticket adopted" } else { "ticket opened" };
                info!(connection = %self.connection, order = %reference, ticket = %opened.number, attempt, "{verb}");
                let result =
                    if opened.adopted { CreateResult::Adopted } else { CreateResult::Opened };
                Ok((result, Some((reference.clone(), opened.number))))
            }
            Err(TicketingError::Rejected { status, message, field }) => {
                let error = TicketingError::Rejected { status, message, field };
                metrics::counter!("ta_errors_total", "connection" => self.connection.clone(), "class" => error.class()).increment(1);
                let message = format!("the service desk refused the ticket: {error}");
                Ok((self.fail(reference, message).await?, None))
            }
            Err(e) => {
                let result = self.retry_later(reference, e).await?;
                if matches!(result, CreateResult::AuthenticationRefused(_)) {
                    refused.store(true, Ordering::SeqCst);
                }
                Ok((result, None))
            }
        }
    }

    fn count_opened(&self, how: &'static str, tickets: usize) {
        if tickets > 0 {
            metrics::counter!("ta_tickets_opened_total", "connection" => self.connection.clone(), "how" => how)
                .increment(tickets as u64);
        }
    }

    async fn fail(
        &self,
        reference: &ExternalReference,
        message: String,
    ) -> Result<CreateResult, CycleError> {
        error!(connection = %self.connection, order = %reference, reason = %message, "order failed");
        metrics::counter!("ta_orders_failed_total", "connection" => self.connection.clone())
            .increment(1);
        let report = StateReport { state: self.policy.failure_state, message: message.clone() };
        self.ledger.create_failed(reference, &message, Some(report)).await?;
        Ok(CreateResult::Failed)
    }

    async fn retry_later(
        &self,
        reference: &ExternalReference,
        e: TicketingError,
    ) -> Result<CreateResult, CycleError> {
        warn!(connection = %self.connection, order = %reference, error = %e, class = e.class(), "ticket not opened yet; will retry");
        metrics::counter!("ta_errors_total", "connection" => self.connection.clone(), "class" => e.class()).increment(1);
        self.ledger.create_failed(reference, &e.to_string(), None).await?;
        Ok(match e {
            TicketingError::Authentication(_) => CreateResult::AuthenticationRefused(e),
            _ => CreateResult::Retrying,
        })
    }
}

/// The text at `pointer` in an order entry as its file has it, valid order or not: what can
/// still be told of an order that did not parse.
pub(crate) fn raw_text(entry: &OrderEntry, pointer: &str) -> Option<String> {
    entry.raw.pointer(pointer).and_then(value_text)
}

/// A JSON string or number as text (ids come as either).
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
