//! Wiring: builds the adapters of each served connection and hands them to the use cases.
//! This is the one place that knows every crate.

use std::sync::Arc;

use anyhow::{Context, Result};
use ta_easyvista::EasyVistaClient;
use ta_ledger::SqliteLedger;
use ta_ports::{Ledger, TicketingBackend};
use ta_usecases::{Fulfill, StopSignal, Sync, SyncSettings};
use ta_usercube::{OrderFolder, ResultFolder};

use crate::config::{Config, ConnectionPlan};
use crate::{Failure, config_error, work_error};

/// One served connection, ready to run.
pub struct Connection {
    pub plan: ConnectionPlan,
    pub fulfill: Fulfill,
    pub sync: Sync,
}

/// The agent: its configuration, its ledger and its connections.
pub struct Agent {
    pub config: Config,
    pub ledger: Arc<SqliteLedger>,
    pub connections: Vec<Connection>,
    pub stop: StopSignal,
}

impl Agent {
    /// Resolves every connection and checks its settings before the ledger is touched; a
    /// settings problem is a configuration error (exit 2), a ledger that cannot be opened a
    /// failure of the work (exit 1).
    pub fn build(config: Config, stop: StopSignal) -> Result<Agent, Failure> {
        let plans = config.plans().map_err(config_error)?;
        let clients = plans
            .iter()
            .map(|plan| {
                EasyVistaClient::new(plan.easyvista.clone())
                    .map(Arc::new)
                    .with_context(|| format!("connection {}", plan.id))
            })
            .collect::<Result<Vec<_>>>()
            .map_err(config_error)?;
        let ledger_path = config.ledger_path();
        let ledger = SqliteLedger::open(&ledger_path)
            .with_context(|| format!("setting TicketAgent:LedgerPath ({})", ledger_path.display()))
            .map_err(work_error)?;
        let ledger = Arc::new(ledger);
        let connections = plans
            .into_iter()
            .zip(clients)
            .map(|(plan, backend)| connect(&config, plan, backend, ledger.clone(), stop.clone()))
            .collect();
        Ok(Agent { config, ledger, connections, stop })
    }
}

fn connect(
    config: &Config,
    plan: ConnectionPlan,
    backend: Arc<EasyVistaClient>,
    ledger: Arc<SqliteLedger>,
    stop: StopSignal,
) -> Connection {
    let orders = Arc::new(OrderFolder::new(&plan.orders_path).with_settle(plan.settle));
    let results = Arc::new(ResultFolder::new(&plan.results_path, &plan.id));
    let ledger: Arc<dyn Ledger> = ledger;
    let ticketing: Arc<dyn TicketingBackend> = backend.clone();
    let fulfill = Fulfill {
        connection: plan.id.clone(),
        orders,
        results: results.clone(),
        ledger: ledger.clone(),
        backend: ticketing.clone(),
        mappings: config.mappings.clone(),
        policy: config.policy,
        drafts: plan.drafts.clone(),
        concurrency: config.agent.concurrency.max(1),
        stop,
    };
    let sync = Sync {
        connection: plan.id.clone(),
        results,
        ledger,
        backend: ticketing,
        mappings: config.mappings.clone(),
        policy: config.policy,
        settings: SyncSettings {
            full_read_every: chrono::Duration::minutes(i64::from(
                config.agent.full_read_every_minutes.max(1),
            )),
        },
    };
    Connection { plan, fulfill, sync }
}
