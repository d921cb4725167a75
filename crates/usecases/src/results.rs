//! Publishing decided provisioning states: the ledger's unreported results go out in one
//! batch, and are marked reported only once the sink says they are durably out.

use ta_ports::{Ledger, ResultSink};
use tracing::info;

use crate::fulfill::CycleError;

/// A published batch of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub rows: usize,
    pub location: String,
}

/// Publishes every unreported result of a connection; `None` when there was nothing to publish.
pub async fn publish_results(
    connection: &str,
    ledger: &dyn Ledger,
    sink: &dyn ResultSink,
) -> Result<Option<Published>, CycleError> {
    let finished = ledger.unreported(connection).await?;
    if finished.is_empty() {
        return Ok(None);
    }
    let rows: Vec<_> = finished.iter().map(|f| f.row.clone()).collect();
    let published = sink.publish(&rows).await?;
    let references: Vec<_> = finished.into_iter().map(|f| f.reference).collect();
    ledger.mark_reported(&references, &published.location).await?;
    info!(connection, rows = rows.len(), location = %published.location, "results published");
    Ok(Some(Published { rows: rows.len(), location: published.location }))
}
