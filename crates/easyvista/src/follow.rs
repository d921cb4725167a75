//! Following many tickets cheaply: a delta search on LAST_UPDATE since the watermark, or a full
//! read by batched RFC searches. It never sends one request per ticket per cycle except for
//! tickets a batch did not return (lost, or a server that ignored the filter).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use futures::{StreamExt, TryStreamExt};
use ta_domain::{TicketNumber, TicketOutcome};
use ta_ports::{FollowReport, FollowRequest, TicketObservation};
use tracing::{debug, info, warn};
use url::Url;

use crate::client::EasyVistaClient;
use crate::create::ticket_number;
use crate::error::{EasyVistaError, key_ci};
use crate::records::{Record, parse_page, stream_records, text_field};
use crate::transport::Cost;

/// The columns a follow needs; everything else stays on the server.
const FOLLOW_FIELDS: &str = "rfc_number,last_update,end_date_ut,status";
/// Marks the watermark format, so a watermark from another version is recognised and dropped.
const WATERMARK_PREFIX: &str = "ev1:";
/// Batched searches (and single reads) in flight at once during a full read.
const CONCURRENCY: usize = 4;

pub(crate) type Stamp = DateTime<FixedOffset>;

enum DeltaFailure {
    /// Rows older than the range came back: the server ignored the LAST_UPDATE filter.
    FilterIgnored,
    Failed(EasyVistaError),
}

impl From<EasyVistaError> for DeltaFailure {
    fn from(error: EasyVistaError) -> Self {
        DeltaFailure::Failed(error)
    }
}

impl EasyVistaClient {
    /// One follow cycle. With a watermark, only tickets whose LAST_UPDATE moved since then are
    /// reported; without one (or with one this version cannot read), every followed ticket is
    /// read and tickets EasyVista no longer has are reported lost.
    pub async fn follow_tickets(
        &self,
        request: &FollowRequest,
    ) -> Result<FollowReport, EasyVistaError> {
        let cost = Arc::new(Cost::default());
        let mut unique = HashSet::new();
        let tickets: Vec<&TicketNumber> =
            request.tickets.iter().filter(|t| unique.insert(t.as_str())).collect();
        if tickets.is_empty() {
            return Ok(FollowReport {
                observations: Vec::new(),
                watermark: request.watermark.clone(),
                requests: 0,
            });
        }

        let since = request.watermark.as_deref().and_then(|text| {
            let since = decode_watermark(text);
            if since.is_none() {
                warn!(connection = %self.api_root(), watermark = text, "unreadable follow watermark; reading every ticket");
            }
            since
        });
        let (observations, newest) = match since {
            Some(since) => match self.follow_changed(&tickets, since, &cost).await {
                Ok(found) => found,
                Err(DeltaFailure::FilterIgnored) => {
                    self.filter_ignored("last_update range");
                    self.follow_all(&tickets, &cost).await?
                }
                Err(DeltaFailure::Failed(error)) => return Err(error),
            },
            None => self.follow_all(&tickets, &cost).await?,
        };

        let report = FollowReport {
            watermark: newest.map(encode_watermark).or_else(|| request.watermark.clone()),
            observations,
            requests: cost.get(),
        };
        debug!(
            connection = %self.api_root(),
            followed = tickets.len(),
            observed = report.observations.len(),
            requests = report.requests,
            delta = since.is_some(),
            "follow cycle done"
        );
        Ok(report)
    }

    /// Delta mode: one range search on LAST_UPDATE, newest first, paged, de-duplicated.
    /// Sorting newest first means an update during the sweep moves a row to pages already
    /// read: rows shift, one is read twice, none is skipped; the moved ticket itself is newer
    /// than the new watermark and comes in the next cycle.
    async fn follow_changed(
        &self,
        tickets: &[&TicketNumber],
        since: Stamp,
        cost: &Arc<Cost>,
    ) -> Result<(Vec<TicketObservation>, Option<Stamp>), DeltaFailure> {
        let overlap =
            chrono::Duration::from_std(self.inner.config.delta_overlap).unwrap_or_default();
        let bound = since - overlap;
        let followed: HashSet<&str> = tickets.iter().map(|t| t.as_str()).collect();
        let mut url = self.inner.transport.resource_url("requests")?;
        url.query_pairs_mut()
            .append_pair("search", &format!("last_update:({};)", format_stamp(bound)))
            .append_pair("fields", FOLLOW_FIELDS)
            .append_pair("sort", "last_update desc,rfc_number asc");

        let records = stream_records(
            self.inner.transport.clone(),
            cost.clone(),
            url,
            self.inner.config.page_size,
        );
        let mut records = std::pin::pin!(records);
        let mut newest = since;
        let mut seen = HashSet::new();
        let mut observations = Vec::new();
        while let Some(record) = records.next().await {
            let record = record?;
            if let Some(updated) = text_field(&record, "last_update").and_then(parse_stamp) {
                if updated < bound {
                    return Err(DeltaFailure::FilterIgnored);
                }
                newest = newest.max(updated);
            }
            let Some(number) = ticket_number(&record) else {
                return Err(EasyVistaError::protocol(
                    "GET requests",
                    "a ticket without RFC_NUMBER or HREF",
                )
                .into());
            };
            if followed.contains(number.as_str()) && seen.insert(number.clone()) {
                observations.push(self.observe(number, &record));
            }
        }
        Ok((observations, Some(newest)))
    }

    /// Full mode: the newest LAST_UPDATE first (the next watermark), then batched RFC searches,
    /// then a single read of each ticket no batch returned.
    async fn follow_all(
        &self,
        tickets: &[&TicketNumber],
        cost: &Arc<Cost>,
    ) -> Result<(Vec<TicketObservation>, Option<Stamp>), EasyVistaError> {
        let newest = self.newest_update(cost).await?;

        let batch_size = self.inner.config.batch_size.max(1);
        let batches: Vec<Vec<TicketNumber>> = tickets
            .chunks(batch_size)
            .map(|batch| batch.iter().map(|t| (*t).clone()).collect())
            .collect();
        let batches: Vec<(Vec<TicketObservation>, Vec<TicketNumber>)> =
            futures::stream::iter(batches)
                .map(|batch: Vec<TicketNumber>| self.read_batch(batch, cost))
                .buffered(CONCURRENCY)
                .try_collect()
                .await?;

        let mut observations = Vec::with_capacity(tickets.len());
        let mut missing = Vec::new();
        for (found, absent) in batches {
            observations.extend(found);
            missing.extend(absent);
        }
        let singles: Vec<TicketObservation> = futures::stream::iter(missing)
            .map(|ticket: TicketNumber| self.read_one(ticket, cost))
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        observations.extend(singles);
        Ok((observations, newest))
    }

    /// The newest LAST_UPDATE on the server, read before the tickets: anything updated after
    /// it is newer and the next delta finds it.
    async fn newest_update(&self, cost: &Cost) -> Result<Option<Stamp>, EasyVistaError> {
        let mut url = self.inner.transport.resource_url("requests")?;
        url.query_pairs_mut()
            .append_pair("fields", "rfc_number,last_update")
            .append_pair("sort", "last_update desc")
            .append_pair("max_rows", "1");
        let page = parse_page(self.inner.transport.get(&url, cost).await?, url.path())?;
        Ok(page
            .records
            .iter()
            .filter_map(|r| text_field(r, "last_update").and_then(parse_stamp))
            .max())
    }

    /// One search for a batch of RFC numbers (`rfc_number:"A",rfc_number:"B"` is an OR). Rows
    /// for other tickets mean the server ignored the filter: the batch's remaining tickets are
    /// then read one by one. Returns the observations and the tickets not returned.
    async fn read_batch(
        &self,
        batch: Vec<TicketNumber>,
        cost: &Arc<Cost>,
    ) -> Result<(Vec<TicketObservation>, Vec<TicketNumber>), EasyVistaError> {
        let wanted: HashSet<&str> = batch.iter().map(|t| t.as_str()).collect();
        let search: Vec<String> = batch.iter().map(|t| format!("rfc_number:\"{t}\"")).collect();
        let mut url = self.inner.transport.resource_url("requests")?;
        url.query_pairs_mut()
            .append_pair("search", &search.join(","))
            .append_pair("fields", FOLLOW_FIELDS)
            .append_pair("sort", "rfc_number asc");

        let records = stream_records(self.inner.transport.clone(), cost.clone(), url, batch.len());
        let mut records = std::pin::pin!(records);
        let mut found = HashSet::new();
        let mut observations = Vec::with_capacity(batch.len());
        while let Some(record) = records.next().await {
            let record = record?;
            let number = ticket_number(&record).ok_or_else(|| {
                EasyVistaError::protocol("GET requests", "a ticket without RFC_NUMBER or HREF")
            })?;
            if !wanted.contains(number.as_str()) {
                self.filter_ignored("rfc_number");
                break;
            }
            if found.insert(number.clone()) {
                observations.push(self.observe(number, &record));
            }
        }
        let missing = batch.into_iter().filter(|t| !found.contains(t)).collect();
        Ok((observations, missing))
    }

    /// A single read; a ticket EasyVista does not have is lost.
    async fn read_one(
        &self,
        ticket: TicketNumber,
        cost: &Arc<Cost>,
    ) -> Result<TicketObservation, EasyVistaError> {
        let url = self.ticket_url(&ticket)?;
        match self.inner.transport.get(&url, cost).await {
            Ok(serde_json::Value::Object(record)) => {
                if ticket_number(&record).is_some_and(|n| n != ticket) {
                    return Err(EasyVistaError::protocol(
                        &format!("GET requests/{ticket}"),
                        "the answer is another ticket",
                    ));
                }
                Ok(self.observe(ticket, &record))
            }
            Ok(_) => Err(EasyVistaError::protocol(
                &format!("GET requests/{ticket}"),
                "the answer is not a ticket",
            )),
            Err(EasyVistaError::NotFound { .. }) => {
                debug!(ticket = %ticket, "ticket not found in EasyVista; read as lost");
                Ok(TicketObservation {
                    ticket,
                    outcome: TicketOutcome::Lost,
                    status: "not found".to_owned(),
                })
            }
            Err(error) => Err(error),
        }
    }

    fn ticket_url(&self, ticket: &TicketNumber) -> Result<Url, EasyVistaError> {
        let mut url = self.inner.transport.resource_url("requests/")?;
        url.path_segments_mut()
            .map_err(|()| {
                EasyVistaError::config(
                    "Server",
                    Some(self.api_root().as_str()),
                    "cannot hold a path",
                )
            })?
            .pop_if_empty()
            .push(ticket.as_str());
        url.query_pairs_mut().append_pair("fields", FOLLOW_FIELDS);
        Ok(url)
    }

    /// A ticket's outcome from STATUS.STATUS_GUID and END_DATE_UT.
    fn observe(&self, ticket: TicketNumber, record: &Record) -> TicketObservation {
        let guid = text_field(record, "status.status_guid")
            .or_else(|| text_field(record, "status_guid"))
            .unwrap_or("");
        let end_date = text_field(record, "end_date_ut").unwrap_or("");
        let classification = self.inner.config.classifier.classify(guid, end_date);
        let label = status_label(record).unwrap_or(guid).to_owned();
        if !classification.known_status && self.first_unknown_status(guid) {
            info!(
                ticket = %ticket,
                status = guid,
                label = %label,
                outcome = %classification.outcome,
                "status is in no configured set; read as {} (logged once per status)",
                classification.outcome
            );
        }
        TicketObservation { ticket, outcome: classification.outcome, status: label }
    }
}

/// The status label in whatever language the instance uses (`STATUS_EN`, `STATUS_FR`, …).
fn status_label(record: &Record) -> Option<&str> {
    let status = key_ci(record, "status")?.as_object()?;
    status
        .iter()
        .find(|(key, value)| {
            let key = key.to_ascii_uppercase();
            key.starts_with("STATUS_")
                && !matches!(key.as_str(), "STATUS_ID" | "STATUS_GUID")
                && value.is_string()
        })
        .and_then(|(_, value)| value.as_str())
        .filter(|label| !label.is_empty())
}

/// An EasyVista timestamp: ISO 8601 with an offset (`+02:00`, `Z` or `+0000`).
pub(crate) fn parse_stamp(text: &str) -> Option<Stamp> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .ok()
        .or_else(|| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
}

/// The only bound format EasyVista honours in a range search: milliseconds and an offset.
pub(crate) fn format_stamp(stamp: Stamp) -> String {
    stamp.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

fn encode_watermark(stamp: Stamp) -> String {
    format!("{WATERMARK_PREFIX}{}", format_stamp(stamp))
}

fn decode_watermark(text: &str) -> Option<Stamp> {
    text.strip_prefix(WATERMARK_PREFIX).and_then(parse_stamp)
}

/// How far back the next delta search starts from a watermark, for documentation and tests.
pub fn delta_bound(watermark: &str, overlap: Duration) -> Option<String> {
    let since = decode_watermark(watermark)?;
    Some(format_stamp(since - chrono::Duration::from_std(overlap).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_keep_milliseconds_and_the_offset() {
        let stamp = parse_stamp("2026-08-17T15:40:41.610+02:00").unwrap();
        let watermark = encode_watermark(stamp);
        assert_eq!(watermark, "ev1:2026-08-17T15:40:41.610+02:00");
        assert_eq!(decode_watermark(&watermark), Some(stamp));
        assert_eq!(
            delta_bound(&watermark, Duration::from_secs(2)).unwrap(),
            "2026-08-17T15:40:39.610+02:00"
        );
        assert_eq!(decode_watermark("2026-08-17T15:40:41.610+02:00"), None);
    }

    #[test]
    fn timestamps_in_every_observed_shape_are_read() {
        assert!(parse_stamp("2021-04-09T11:29:36.947Z").is_some());
        assert!(parse_stamp("2022-02-07T16:14:06+0000").is_some());
        assert!(parse_stamp("2020-07-16T04:00:24.000-04:00").is_some());
        assert!(parse_stamp("").is_none());
        assert!(parse_stamp("04/20/2021 12:00:00").is_none());
    }
}
