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
    pub fn build(config: Config, stop: StopSignal) -> Result<Agent> {
        let plans = config.plans()?;
        let ledger_path = config.ledger_path();
        let ledger = Arc::new(SqliteLedger::open(&ledger_path).with_context(|| {
            format!("setting TicketAgent:LedgerPath ({})", ledger_path.display())
        })?);
        let connections = plans
            .into_iter()
            .map(|plan| connect(&config, plan, ledger.clone(), stop.clone()))
            .collect::<Result<Vec<_>>>()?;
        Ok(Agent { config, ledger, connections, stop })
    }
}

fn connect(
    config: &Config,
    plan: ConnectionPlan,
    ledger: Arc<SqliteLedger>,
    stop: StopSignal,
) -> Result<Connection> {
    let backend = Arc::new(
        EasyVistaClient::new(plan.easyvista.clone())
            .with_context(|| format!("connection {}", plan.id))?,
    );
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
    Ok(Connection { plan, fulfill, sync })
}
