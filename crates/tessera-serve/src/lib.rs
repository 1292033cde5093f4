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
mod pg;
mod state;

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
        let router = http::router(shared.clone());
        let admitting = conn::Admitting {
            listener,
            shared: shared.clone(),
            interface: "http",
        };
        let mut stopped = stopped.clone();
        running.tasks.push(tokio::spawn(async move {
            let served = axum::serve(admitting, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("the HTTP server stopped: {e}");
            }
        }));
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
