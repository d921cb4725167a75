//! Starting and stopping the simulator: the listener, one task per connection, and the means to
//! close a connection without answering (the "dropped connection" fault).

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::admin::Admin;
use crate::config::SimulatorConfig;
use crate::error::SimulatorError;
use crate::faults::{CounterTable, Faults};
use crate::instance::{Instance, Store};

/// State shared by every connection.
pub(crate) struct Shared {
    pub(crate) instance: Instance,
    store: RwLock<Store>,
    pub(crate) faults: Faults,
    pub(crate) counters: CounterTable,
}

impl Shared {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Lets a handler close its own connection without an answer.
#[derive(Clone, Default)]
pub(crate) struct ConnectionControl(Arc<Notify>);

impl ConnectionControl {
    pub(crate) fn drop_connection(&self) {
        self.0.notify_one();
    }
}

/// Entry point: `Simulator::start(config).await`.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Starts a simulator on an ephemeral loopback port.
    pub async fn start(config: SimulatorConfig) -> Result<RunningSimulator, SimulatorError> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a simulator on `addr`.
    pub async fn start_on(
        config: SimulatorConfig,
        addr: SocketAddr,
    ) -> Result<RunningSimulator, SimulatorError> {
        validate(&config)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SimulatorError::Bind { addr: addr.to_string(), source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimulatorError::Bind { addr: addr.to_string(), source })?;
        let server_url = format!("http://{addr}/");
        let base_url = format!("{server_url}api/v1/{}/", config.account);

        let instance = Instance::new(config, base_url);
        let store = Store::new(&instance);
        let shared = Arc::new(Shared {
            instance,
            store: RwLock::new(store),
            faults: Faults::default(),
            counters: CounterTable::default(),
        });
        let router = crate::api::router(Arc::clone(&shared));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, router, stopped));
        info!(%addr, account = %shared.instance.config.account, "easyvista simulator listening");
        Ok(RunningSimulator { shared, addr, server_url, stop, task: Some(task) })
    }
}

fn validate(config: &SimulatorConfig) -> Result<(), SimulatorError> {
    if config.account.is_empty() || config.account.contains('/') {
        return Err(SimulatorError::Config("the account must be one path segment".into()));
    }
    if config.statuses.is_empty() {
        return Err(SimulatorError::Config("the status table is empty".into()));
    }
    if config.catalog.is_empty() {
        return Err(SimulatorError::Config("the catalog is empty".into()));
    }
    Ok(())
}

/// A simulator serving on loopback; dropping it stops it.
pub struct RunningSimulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server_url: String,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningSimulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSimulator").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl RunningSimulator {
    /// `http://127.0.0.1:PORT/api/v1/{account}/`, the API root a client is configured with.
    pub fn base_url(&self) -> &str {
        &self.shared.instance.base_url
    }

    /// `http://127.0.0.1:PORT/`, where `/_admin/…` lives.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn account(&self) -> &str {
        &self.shared.instance.config.account
    }

    pub fn login(&self) -> &str {
        &self.shared.instance.config.login
    }

    pub fn password(&self) -> &str {
        &self.shared.instance.config.password
    }

    pub fn token(&self) -> &str {
        &self.shared.instance.config.token
    }

    /// The in-process admin side: move tickets, seed, reset, count, inject faults.
    pub fn admin(&self) -> Admin {
        Admin::new(Arc::clone(&self.shared))
    }

    /// Stops accepting, closes every connection, and waits for the listener to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, router: Router, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    debug!(connection = %peer, "connection accepted");
                    tokio::spawn(serve_connection(stream, router.clone(), stopped.clone()));
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            _ = stopped.changed() => break,
        }
    }
}

async fn serve_connection(stream: TcpStream, router: Router, mut stopped: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let control = ConnectionControl::default();
    let for_requests = control.clone();
    let service =
        tower::ServiceExt::map_request(router, move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(for_requests.clone());
            request
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new());
    let connection =
        builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    // Dropping the connection future closes the socket, whatever was in flight.
    tokio::select! {
        _ = connection => {}
        () = control.0.notified() => debug!("connection dropped on purpose"),
        _ = stopped.changed() => {}
    }
}
