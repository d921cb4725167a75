//! Publishing decided provisioning states: the ledger's unreported results go out in one
//! batch, and are marked reported only once the sink says they are durably out.

use std::collections::BTreeMap;

use ta_ports::{FinishedOrder, Ledger, ResultSink};
use tracing::info;

use crate::fulfill::CycleError;

/// A published batch of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub rows: usize,
    pub location: String,
}

/// Publishes every unreported result of a connection; `None` when there was nothing to publish.
///
/// Rows a previous attempt had assigned to a batch go out in that same batch (the sink finds it
/// already out if the attempt got that far); new rows are assigned a new batch in the ledger
/// before it is written. So a crash at any point publishes no row twice and loses none.
pub async fn publish_results(
    connection: &str,
    ledger: &dyn Ledger,
    sink: &dyn ResultSink,
) -> Result<Option<Published>, CycleError> {
    let finished = ledger.unreported(connection).await?;
    if finished.is_empty() {
        return Ok(None);
    }
    let mut batches: BTreeMap<Option<String>, Vec<FinishedOrder>> = BTreeMap::new();
    for order in finished {
        batches.entry(order.batch.clone()).or_default().push(order);
    }

    let mut last = None;
    let mut total = 0;
    for (batch, orders) in batches {
        let references: Vec<_> = orders.iter().map(|f| f.reference.clone()).collect();
        let batch = match batch {
            Some(batch) => batch,
            None => {
                let batch = sink.next_batch();
                ledger.assign_batch(&references, &batch).await?;
                batch
            }
        };
        let rows: Vec<_> = orders.into_iter().map(|f| f.row).collect();
        let published = sink.publish(&batch, &rows).await?;
        ledger.mark_reported(&references, &published.location).await?;
        for reference in &references {
            info!(connection, order = %reference, location = %published.location, "result reported");
        }
        info!(connection, rows = rows.len(), location = %published.location, "results published");
        metrics::counter!("ta_results_published_total", "connection" => connection.to_owned())
            .increment(rows.len() as u64);
        total += rows.len();
        last = Some(published.location);
    }
    Ok(last.map(|location| Published { rows: total, location }))
}
