//! `tessera serve`: the HTTP API, the PostgreSQL wire protocol and Arrow Flight SQL over
//! one governed engine.
//!
//! Each adapter is thin: it authenticates ([`auth`]), turns the request into (principal,
//! purpose, statement), and hands it to [`Shared`], which starts the session through
//! `Engine::session` — the only way to data — and runs the statement under the server's
//! limits. No adapter plans SQL or reads a table itself, so a policy holds on every path.
//!
//! ```text
//!   HTTP (axum) ─┐
//!   PG wire ─────┼─▶ Authenticator ─▶ Shared::session ─▶ Engine::session ─▶ QuerySession
//!   Flight SQL ──┘                     Shared::run (permits, row cap, metrics)
//! ```

pub mod auth;
mod conn;
pub mod error;
mod flight;
pub mod http;
pub mod metrics;
mod monitor;
mod pg;
mod state;
mod ui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use auth::{AuthError, Authenticator, Caller, IssuedToken, TOKEN_PREFIX, issue, token_hash};
pub use error::{ErrorKind, ServeError};
pub use state::{ConnectionPermit, Rows, Shared};

/// Where to listen; `None` leaves a protocol off.
#[derive(Debug, Clone, Default)]
pub struct Listen {
    pub http: Option<SocketAddr>,
    pub pg: Option<SocketAddr>,
    pub flight: Option<SocketAddr>,
}

/// A started server: the addresses it listens on (port 0 resolved) and its tasks.
pub struct Running {
    pub http: Option<SocketAddr>,
    pub pg: Option<SocketAddr>,
    pub flight: Option<SocketAddr>,
    pub shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn bind(what: &str, addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen for {what} on {addr}: {e}"))
    })
}

/// Binds every listener first (an address in use fails before anything is served), then
/// serves each protocol on its own task.
pub async fn start(shared: Arc<Shared>, listen: &Listen) -> std::io::Result<Running> {
    let http = match listen.http {
        Some(a) => Some(bind("HTTP", a).await?),
        None => None,
    };
    let pg = match listen.pg {
        Some(a) => Some(bind("PostgreSQL", a).await?),
        None => None,
    };
    let flight = match listen.flight {
        Some(a) => Some(bind("Flight SQL", a).await?),
        None => None,
    };
    let (stop, stopped) = watch::channel(false);
    let mut running = Running {
        http: http.as_ref().map(TcpListener::local_addr).transpose()?,
        pg: pg.as_ref().map(TcpListener::local_addr).transpose()?,
        flight: flight.as_ref().map(TcpListener::local_addr).transpose()?,
        shared: shared.clone(),
        stop,
        tasks: Vec::new(),
    };
    if let Some(listener) = http {
        // The web UI's "how to connect" snippets name the ports actually listened on.
        let router = http::router(shared.clone()).layer(axum::Extension(ui::Endpoints {
            pg: running.pg,
            flight: running.flight,
        }));
        let admitting = conn::Admitting {
            listener,
            shared: shared.clone(),
            interface: "http",
        };
        let head_within = shared.settings.idle_timeout.min(HTTP_HEAD_TIMEOUT);
        running.tasks.push(tokio::spawn(serve_http(
            admitting,
            router,
            head_within,
            stopped.clone(),
        )));
    }
    // SLA monitoring and build schedules (docs/sla.md).
    let monitoring = tessera_engine::sla::settings::MonitoringSettings::read(&shared.engine().mesh)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let evaluate_now = Arc::new(tokio::sync::Notify::new());
    if let Some(every) = monitoring.evaluate_every {
        running.tasks.push(tokio::spawn(monitor::sla_job(
            shared.clone(),
            monitoring.clone(),
            every,
            evaluate_now.clone(),
            stopped.clone(),
        )));
    }
    running.tasks.push(tokio::spawn(monitor::build_job(
        shared.clone(),
        evaluate_now,
        stopped.clone(),
    )));
    // The contracts' retention, applied on a schedule when mesh.yaml asks for one.
    match tessera_engine::privacy::settings::PrivacySettings::read(&shared.engine().mesh) {
        Ok(settings) => {
            if let Some(every) = settings.retention_schedule {
                running.tasks.push(tokio::spawn(retention_job(
                    shared.clone(),
                    every,
                    stopped.clone(),
                )));
            }
        }
        Err(e) => tracing::warn!("privacy settings: {e}; no retention schedule"),
    }
    if let Some(listener) = pg {
        let (shared, stopped) = (shared.clone(), stopped.clone());
        running.tasks.push(tokio::spawn(async move {
            if let Err(e) = pg::serve(shared, listener, stopped).await {
                tracing::error!("the PostgreSQL server stopped: {e}");
            }
        }));
    }
    if let Some(listener) = flight {
        let (shared, stopped) = (shared.clone(), stopped.clone());
        running.tasks.push(tokio::spawn(async move {
            if let Err(e) = flight::serve(shared, listener, stopped).await {
                tracing::error!("the Flight SQL server stopped: {e}");
            }
        }));
    }
    Ok(running)
}

/// The longest a client may take to send a request's head (line and headers): longer
/// than any real client needs, short enough that a byte-at-a-time sender cannot hold a
/// connection slot. `server.idle_timeout` when that is shorter.
const HTTP_HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves HTTP/1.1 and HTTP/2 connections until the server stops. axum::serve does the
/// same, but gives hyper no timer, so a request head has no deadline (a slowloris
/// sender resets the idle timeout with every byte). On stop: no new connections; each
/// open one finishes the request it is serving and closes.
async fn serve_http(
    listener: conn::Admitting,
    router: axum::Router,
    head_within: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;

    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = until_stopped(&mut stopped) => break,
            accepted = listener.next() => accepted,
            // Reap finished connection tasks as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((io, addr)) = accepted else { continue };
        let service = TowerToHyperService::new(router.clone());
        let mut stopped = stopped.clone();
        connections.spawn(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(head_within);
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            tokio::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                _ = until_stopped(&mut stopped) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = served {
                tracing::debug!(interface = "http", %addr, "connection closed: {e}");
            }
        });
    }
    // Let open connections finish their requests; Running::shutdown bounds the wait.
    while connections.join_next().await.is_some() {}
}

/// Applies the contracts' `retention` now and then every `every` (privacy.
/// retention_schedule), on the engine being served, until the server stops. Each run is
/// audited (action `retention`, principal `tessera`); a failed run is logged and tried
/// again at the next tick.
async fn retention_job(shared: Arc<Shared>, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = until_stopped(&mut stopped) => return,
            _ = ticks.tick() => {}
        }
        let engine = shared.engine();
        match engine.retention_apply(Some("tessera"), &|_, _, _| {}).await {
            Ok(applied) => {
                let rows: u64 = applied.iter().map(|a| a.rows_deleted).sum();
                let ports = applied.iter().filter(|a| a.rows_deleted > 0).count();
                tracing::info!(rows, ports, "retention applied");
            }
            Err(e) => tracing::warn!("retention: {e}; trying again in {every:?}"),
        }
    }
}

/// One publish at a time per mesh folder on this server: the API's publishes and the
/// scheduled ones (a `tessera publish` on the same host is not held back by it).
pub(crate) fn publish_lock(mesh_dir: &std::path::Path) -> Arc<tokio::sync::Mutex<()>> {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::OnceLock;
    static LOCKS: OnceLock<std::sync::Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
        OnceLock::new();
    LOCKS
        .get_or_init(Default::default)
        .lock()
        .expect("publish lock table is never poisoned")
        .entry(mesh_dir.to_path_buf())
        .or_default()
        .clone()
}

/// Returns once the server stops (or is gone).
async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

impl Running {
    /// Stops accepting, lets running statements finish for up to `grace`, then stops.
    /// Returns how many statements were still running when the grace period ended.
    pub async fn shutdown(self, grace: Duration) -> usize {
        self.shared.drain();
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        while self.shared.running() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = self.shared.running();
        for task in &self.tasks {
            task.abort();
        }
        left
    }
}
