//! Shared helpers of the black-box tests: a simulator, a client configured for it, drafts.
#![allow(dead_code)]

use std::time::Duration;

use easyvista_sim::{RunningSimulator, Simulator, SimulatorConfig};
use secrecy::SecretString;
use ta_domain::{CatalogRef, ExternalReference, RecipientKind, StatusClassifier, TicketDraft};
use ta_easyvista::{Credentials, EasyVistaClient, EasyVistaConfig, ReadRetries};

pub async fn simulator() -> RunningSimulator {
    simulator_with(SimulatorConfig::default()).await
}

pub async fn simulator_with(config: SimulatorConfig) -> RunningSimulator {
    Simulator::start(config).await.expect("the simulator starts")
}

/// Settings for the simulator, with short retry delays so the suite runs in seconds.
pub fn config_for(sim: &RunningSimulator) -> EasyVistaConfig {
    let credentials = Credentials::Basic {
        login: sim.login().to_owned(),
        password: SecretString::from(sim.password().to_owned()),
    };
    let mut config = EasyVistaConfig::new(sim.server_url(), sim.account(), credentials);
    config.request_timeout = Duration::from_secs(5);
    config.read_retries = fast_retries();
    config.reconcile_delay = Duration::from_millis(20);
    config.classifier = StatusClassifier::new(
        [easyvista_sim::CLOSED_GUID],
        [easyvista_sim::CANCELED_GUID],
        [easyvista_sim::REJECTED_GUID],
    );
    config
}

pub fn fast_retries() -> ReadRetries {
    ReadRetries {
        max_attempts: 8,
        max_elapsed: Duration::from_secs(20),
        min_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
    }
}

pub fn client(sim: &RunningSimulator) -> EasyVistaClient {
    EasyVistaClient::new(config_for(sim)).expect("valid settings")
}

pub fn reference(n: usize) -> ExternalReference {
    ExternalReference::parse(&format!("TA-A-{n}-test")).expect("a valid reference")
}

/// A draft for the simulator's catalog code 25 (a service request), recipient employee 2.
pub fn draft(n: usize) -> TicketDraft {
    TicketDraft {
        external_reference: reference(n),
        catalog: CatalogRef::Code("25".into()),
        title: format!("Grant access {n}"),
        description: "Please grant access".into(),
        urgency_id: Some("2".into()),
        severity_id: Some("3".into()),
        impact_id: Some("4".into()),
        recipient: "2".into(),
        recipient_kind: RecipientKind::Id,
        origin: None,
    }
}
