//! Opening a ticket, and reconciling a create whose result is unknown: a 590, a timeout or a
//! lost connection is "possibly done". It must never send a create again before a search by
//! external reference proved the ticket absent.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Map, Value, json};
use ta_domain::{CatalogRef, ExternalReference, RecipientKind, TicketDraft, TicketNumber};
use ta_ports::OpenedTicket;
use tracing::{debug, warn};

use crate::client::EasyVistaClient;
use crate::error::{EasyVistaError, key_ci};
use crate::records::{stream_records, text_field};
use crate::transport::Cost;

/// What a failed create tells about the ticket.
enum AfterFailure {
    /// The request never reached EasyVista, or it refused it before doing anything (429).
    NotCreated,
    /// The ticket may exist: look it up before anything else.
    PossiblyCreated,
    /// Final: sending it again will not help.
    Final,
}

impl EasyVistaClient {
    /// Opens one ticket, adopting the ticket an earlier attempt created when the result of a
    /// create is unknown. See the module header for the rule.
    pub async fn create_ticket(&self, draft: &TicketDraft) -> Result<OpenedTicket, EasyVistaError> {
        let transport = &self.inner.transport;
        let reference = &draft.external_reference;
        let url = transport.resource_url("requests")?;
        let body = self.create_body(draft);
        let cost = Cost::default();
        let attempts = self.inner.config.create_attempts.max(1);

        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match transport.post(&url, &body, &cost).await {
                Ok(answer) => return self.created(reference, &answer, &cost).await,
                Err(failure) => failure,
            };

            match after_failure(&failure) {
                AfterFailure::Final if is_status(&failure, 406) => {
                    return Err(self.recipient_refused(draft, failure));
                }
                AfterFailure::Final => return Err(failure),
                AfterFailure::NotCreated => {
                    warn!(order = %reference, attempt, error = %failure, "create not accepted; it will be sent again");
                }
                AfterFailure::PossiblyCreated => {
                    warn!(order = %reference, attempt, error = %failure, "create result unknown; looking the reference up");
                    if matches!(
                        failure,
                        EasyVistaError::Timeout { .. } | EasyVistaError::ConnectionLost { .. }
                    ) {
                        // The server may still be working on the create: give it time to land
                        // before the search, so an absence found is a real one.
                        tokio::time::sleep(self.inner.config.reconcile_delay).await;
                    }
                    match self.find_reference(reference, &cost).await {
                        Ok(Some(number)) => {
                            debug!(order = %reference, ticket = %number, "unconfirmed create found by its reference");
                            return Ok(OpenedTicket { number, adopted: true });
                        }
                        // A 590 that created nothing is a rejection: say why.
                        Ok(None) if is_status(&failure, 590) => return Err(failure),
                        Ok(None) => {}
                        Err(search) => {
                            return Err(EasyVistaError::Unconfirmed {
                                reference: reference.to_string(),
                                reason: format!(
                                    "{failure}; the search by external reference then failed: {search}"
                                ),
                            });
                        }
                    }
                }
            }

            if attempt >= attempts {
                return Err(failure);
            }
            tokio::time::sleep(self.create_pause(&failure, attempt)).await;
        }
    }

    /// The ticket carrying this external reference; the server's filter is never trusted.
    pub(crate) async fn find_reference(
        &self,
        reference: &ExternalReference,
        cost: &Cost,
    ) -> Result<Option<TicketNumber>, EasyVistaError> {
        let transport = &self.inner.transport;
        let mut url = transport.resource_url("requests")?;
        url.query_pairs_mut()
            .append_pair("search", &format!("external_reference:\"{}\"", reference.as_str()))
            .append_pair("fields", "rfc_number,external_reference")
            .append_pair("sort", "rfc_number asc");

        let shared_cost = std::sync::Arc::new(Cost::default());
        let mut records = std::pin::pin!(stream_records(
            transport.clone(),
            shared_cost.clone(),
            url,
            self.inner.config.page_size
        ));
        let mut found: Vec<TicketNumber> = Vec::new();
        let mut outcome = Ok(());
        while let Some(record) = records.next().await {
            let record = match record {
                Ok(record) => record,
                Err(error) => {
                    outcome = Err(error);
                    break;
                }
            };
            if text_field(&record, "external_reference").map(str::trim) != Some(reference.as_str())
            {
                self.filter_ignored("external_reference");
                continue;
            }
            match ticket_number(&record) {
                Some(number) => found.push(number),
                None => {
                    outcome = Err(EasyVistaError::protocol(
                        "GET requests",
                        "a ticket without RFC_NUMBER or HREF",
                    ));
                    break;
                }
            }
        }
        cost.add(shared_cost.get());
        outcome?;

        found.sort();
        found.dedup();
        if found.len() > 1 {
            let numbers: Vec<&str> = found.iter().map(TicketNumber::as_str).collect();
            warn!(order = %reference, tickets = ?numbers, "several tickets carry this external reference; the oldest is kept");
        }
        Ok(found.into_iter().next())
    }

    /// The JSON body of `POST /requests`.
    pub(crate) fn create_body(&self, draft: &TicketDraft) -> Value {
        let config = &self.inner.config;
        let mut request = Map::new();
        match &draft.catalog {
            CatalogRef::Guid(guid) => request.insert("catalog_guid".into(), json!(guid)),
            CatalogRef::Code(code) => request.insert("catalog_code".into(), json!(code)),
        };
        request.insert("title".into(), json!(draft.title));
        request.insert("description".into(), json!(draft.description));
        for (key, value) in [
            ("urgency_id", &draft.urgency_id),
            ("severity_id", &draft.severity_id),
            ("impact_id", &draft.impact_id),
        ] {
            if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                request.insert(key.into(), json!(value));
            }
        }
        request.insert(recipient_field(self.recipient_kind(draft)).into(), json!(draft.recipient));
        if let Some(origin) =
            config.origin.as_ref().or(draft.origin.as_ref()).filter(|o| !o.trim().is_empty())
        {
            request.insert("origin".into(), json!(origin));
        }
        request.insert("external_reference".into(), json!(draft.external_reference.as_str()));
        json!({ "requests": [request] })
    }

    fn recipient_kind(&self, draft: &TicketDraft) -> RecipientKind {
        self.inner.config.recipient_kind.unwrap_or(draft.recipient_kind)
    }

    /// A 2xx answer: the RFC number is the end of the HREF. Without a usable HREF the ticket
    /// exists but its number is unknown, so it is looked up.
    async fn created(
        &self,
        reference: &ExternalReference,
        answer: &Value,
        cost: &Cost,
    ) -> Result<OpenedTicket, EasyVistaError> {
        let href = answer.as_object().and_then(|a| key_ci(a, "HREF")).and_then(Value::as_str);
        match href.map(TicketNumber::from_href) {
            Some(Ok(number)) => {
                debug!(order = %reference, ticket = %number, "create answered with a ticket");
                Ok(OpenedTicket { number, adopted: false })
            }
            _ => {
                warn!(order = %reference, "create answered without a ticket HREF; looking the reference up");
                match self.find_reference(reference, cost).await {
                    Ok(Some(number)) => Ok(OpenedTicket { number, adopted: true }),
                    Ok(None) => Err(EasyVistaError::protocol(
                        "POST requests",
                        "the create succeeded without an HREF and no ticket carries the reference",
                    )),
                    Err(search) => Err(EasyVistaError::Unconfirmed {
                        reference: reference.to_string(),
                        reason: format!(
                            "the create answered without an HREF; the search then failed: {search}"
                        ),
                    }),
                }
            }
        }
    }

    fn recipient_refused(&self, draft: &TicketDraft, failure: EasyVistaError) -> EasyVistaError {
        let field = recipient_field(self.recipient_kind(draft));
        let detail = match &failure {
            EasyVistaError::Rejected { message, .. } if !message.is_empty() => {
                format!(": {message}")
            }
            _ => String::new(),
        };
        EasyVistaError::Rejected {
            what: "POST requests".into(),
            status: 406,
            message: format!(
                "recipient {:?} is unknown or outside the REST user's domains{detail}",
                draft.recipient
            ),
            field: Some(field.to_owned()),
        }
    }

    /// The pause before sending a create again: what `Retry-After` asks for, up to
    /// `max_retry_after`, else a doubling delay up to `max_delay`.
    fn create_pause(&self, failure: &EasyVistaError, attempt: u32) -> Duration {
        let retries = &self.inner.config.read_retries;
        match failure.retry_after() {
            Some(asked) => asked.min(retries.max_retry_after),
            None => retries.min_delay.saturating_mul(1 << attempt.min(10)).min(retries.max_delay),
        }
    }
}

fn after_failure(error: &EasyVistaError) -> AfterFailure {
    match error {
        EasyVistaError::Unreachable { .. } => AfterFailure::NotCreated,
        EasyVistaError::Unavailable { status: 429, .. } => AfterFailure::NotCreated,
        EasyVistaError::Unavailable { .. }
        | EasyVistaError::Timeout { .. }
        | EasyVistaError::ConnectionLost { .. }
        | EasyVistaError::Rejected { status: 590, .. } => AfterFailure::PossiblyCreated,
        _ => AfterFailure::Final,
    }
}

fn is_status(error: &EasyVistaError, wanted: u16) -> bool {
    matches!(error, EasyVistaError::Rejected { status, .. } if *status == wanted)
}

fn recipient_field(kind: RecipientKind) -> &'static str {
    match kind {
        RecipientKind::Id => "recipient_id",
        RecipientKind::Identification => "recipient_identification",
        RecipientKind::Mail => "recipient_mail",
        RecipientKind::Name => "recipient_name",
    }
}

/// A ticket's RFC number, from RFC_NUMBER or else the end of its HREF.
pub(crate) fn ticket_number(record: &crate::records::Record) -> Option<TicketNumber> {
    if let Some(number) = text_field(record, "rfc_number").and_then(|n| TicketNumber::new(n).ok()) {
        return Some(number);
    }
    text_field(record, "href").and_then(|href| TicketNumber::from_href(href).ok())
}
