//! The PostgreSQL wire protocol (v3): psql, psycopg, JDBC and BI tools query the governed
//! engine as if it were a read-only PostgreSQL 16 database named `mesh`.
//!
//! ```text
//!  accept ─▶ admitted? (server.max_connections; no: FATAL 57P03 at startup, close)
//!         ─▶ SSLRequest/GSSENCRequest refused (no TLS) ─▶ Startup
//!         ─▶ login (startup): user = principal, password = token, purpose from options
//!         ─▶ messages, one at a time (pgwire's process_message):
//!              Query ─────────────▶ Backend: commands in turn ─▶ Shared::run
//!              Parse/Bind/Describe/Execute/Sync ─▶ Backend (values bound as literals)
//!              CancelRequest ─▶ the running statement of that connection stops
//!         ─▶ closed on Terminate, when idle past server.idle_timeout (FATAL 57P05),
//!            or between statements once the server stops (FATAL 57P01)
//! ```
//!
//! The adapter is thin: statements go to the caller's governed session through
//! [`Shared`]; the only SQL it answers itself is connection chatter (`SET`/`SHOW`/`RESET`
//! of settings, `BEGIN`/`COMMIT`/`ROLLBACK` as no-ops: everything is read-only), and
//! `pg_catalog` is a session extension built over the governed catalog ([`catalog`]).
//!
//! Connecting: `psql "postgresql://ana@127.0.0.1:5433/mesh?options=-c%20tessera.purpose%3Danalytics"`
//! with the token as password (`PGPASSWORD`); or `PGOPTIONS="-c tessera.purpose=analytics"`;
//! or `SET tessera.purpose = 'analytics'` once connected (`SHOW`/`RESET` it too). The
//! token is checked again before each statement: revoking it ends its connections.
//!
//! Errors: an `ErrorResponse` of severity ERROR whose message is [`ServeError::message`]
//! unchanged — the same text the HTTP API and Flight SQL return — and whose SQLSTATE is
//! [`ErrorKind::sqlstate`](crate::ErrorKind::sqlstate). Failed credentials are FATAL
//! (28P01: bad, expired or revoked token; 28000: a token of another principal).
//!
//! Not supported: TLS (serve on loopback or behind a TLS proxy), MD5/SCRAM (see
//! [`startup`]), COPY, cursors (`DECLARE`), writes of any kind; psql's `\d+ t`, `\dn+`,
//! `\du` and `\dT` (their catalog queries use SQL DataFusion cannot plan).

mod backend;
mod bounded;
mod catalog;
mod params;
mod startup;
mod statement;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use datafusion_postgres::pgwire::api::auth::DefaultServerParameterProvider;
use datafusion_postgres::pgwire::api::cancel::DefaultCancelHandler;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionManager, DefaultClient, NoopHandler, PgWireConnectionState,
    RandomPidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError};
use datafusion_postgres::pgwire::messages::response::{GssEncResponse, SslResponse};
use datafusion_postgres::pgwire::messages::{
    PgWireBackendMessage, PgWireFrontendMessage, SslNegotiationMetaMessage,
};
use datafusion_postgres::pgwire::tokio::server::{
    PgWireMessageServerCodec, process_error, process_message,
};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::codec::Framed;

use crate::conn::Connection;
use crate::error::ServeError;
use crate::state::Shared;
use backend::{Backend, Server};

/// The interface name in sessions, audit records and metrics.
const INTERFACE: &str = "pg";

/// The PostgreSQL version clients are told (psql and drivers pick their catalog queries
/// by it); datafusion-pg-catalog models PostgreSQL 16's catalog.
const SERVER_VERSION: &str = "16.6";

/// A client must have logged in within this time (and within `server.idle_timeout`).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection over `server.max_connections` gets this long to send its startup packet,
/// to be told why it is refused.
const REFUSED_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves connections from `listener` until `stopped` turns true; then stops accepting
/// and lets each open connection finish its statement (the caller aborts the task after
/// its grace period, which ends the connections still open).
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut stopped: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut parameters = DefaultServerParameterProvider::default();
    parameters.server_version = format!("{SERVER_VERSION} (Tessera {})", env!("CARGO_PKG_VERSION"));
    parameters.is_superuser = false;
    parameters.default_transaction_read_only = true;
    let server = Arc::new(Server {
        shared,
        cancels: Arc::new(ConnectionManager::new()),
        pids: RandomPidSecretKeyGenerator::default(),
        parameters,
    });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = wait_for_stop(&mut stopped) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let admitted = server.shared.admit_connection(INTERFACE);
                    let stopped = stopped.clone();
                    connections.spawn(connection(server.clone(), stream, addr, admitted, stopped));
                }
                // Out of file descriptors and the like: wait and go on.
                Err(e) => {
                    tracing::warn!(interface = INTERFACE, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// One connection, admitted (it holds its permit and is closed when idle) or refused.
async fn connection(
    server: Arc<Server>,
    stream: TcpStream,
    addr: SocketAddr,
    admitted: Result<crate::state::ConnectionPermit, ServeError>,
    stopped: watch::Receiver<bool>,
) {
    let idle = server.shared.settings.idle_timeout;
    match admitted {
        Ok(permit) => {
            let backend = Backend::new(server.clone(), None);
            let max =
                usize::try_from(server.shared.settings.max_request_size).unwrap_or(usize::MAX);
            let io = bounded::Bounded::new(Connection::new(stream, idle, permit), max);
            converse(
                server,
                backend,
                io,
                addr,
                STARTUP_TIMEOUT.min(idle),
                stopped,
            )
            .await;
        }
        Err(e) => {
            tracing::warn!(interface = INTERFACE, %addr, "connection refused: {e}");
            let backend = Backend::new(server.clone(), Some(e));
            converse(server, backend, stream, addr, REFUSED_TIMEOUT, stopped).await;
        }
    }
}

fn fatal(code: &str, message: String) -> PgWireBackendMessage {
    PgWireBackendMessage::ErrorResponse(ErrorInfo::new("FATAL".into(), code.into(), message).into())
}

/// The message loop of pgwire's `process_socket`, with Tessera's ends: the login
/// deadline, the idle timeout and the server's stop.
async fn converse<S>(
    server: Arc<Server>,
    backend: Backend,
    io: S,
    addr: SocketAddr,
    login_within: Duration,
    mut stopped: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static,
{
    let backend = Arc::new(backend);
    let cancels = Arc::new(DefaultCancelHandler::new(server.cancels.clone()));
    let copy = Arc::new(NoopHandler);
    let mut socket = Framed::new(
        io,
        PgWireMessageServerCodec::<statement::Command>::new(DefaultClient::new(addr, false)),
    );
    let login_deadline = tokio::time::Instant::now() + login_within;
    loop {
        let logging_in = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingSslRequest
                | PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let message = tokio::select! {
            _ = wait_for_stop(&mut stopped), if !logging_in => {
                let why = "terminating connection: the server is shutting down";
                let _ = socket.send(fatal("57P01", why.into())).await;
                break;
            }
            _ = tokio::time::sleep_until(login_deadline), if logging_in => {
                tracing::info!(interface = INTERFACE, %addr, "no login within {login_within:?}");
                break;
            }
            message = socket.next() => message,
        };
        let message = match message {
            None => break,
            Some(Ok(m)) => m,
            Some(Err(PgWireError::IoError(e))) if e.kind() == io::ErrorKind::TimedOut => {
                let idle = humantime(server.shared.settings.idle_timeout);
                let _ = socket
                    .send(fatal(
                        "57P05",
                        format!(
                            "terminating connection: idle longer than server.idle_timeout ({idle})"
                        ),
                    ))
                    .await;
                break;
            }
            Some(Err(PgWireError::IoError(e)))
                if e.get_ref()
                    .is_some_and(|inner| inner.is::<bounded::TooLarge>()) =>
            {
                tracing::info!(interface = INTERFACE, %addr, "{e}");
                let _ = socket.send(fatal("54000", e.to_string())).await;
                break;
            }
            Some(Err(PgWireError::IoError(e))) => {
                tracing::debug!(interface = INTERFACE, %addr, "connection closed: {e}");
                break;
            }
            // Bytes that are not the protocol: say so, as PostgreSQL does, and close —
            // the stream cannot be resynchronised.
            Some(Err(e)) => {
                tracing::info!(interface = INTERFACE, %addr, "protocol violation: {e}");
                let _ = socket
                    .send(fatal(
                        "08P01",
                        format!("invalid frontend message: {e} (is this a PostgreSQL client?)"),
                    ))
                    .await;
                break;
            }
        };
        match message {
            // No TLS, no GSSAPI: say so, and read the startup packet in the clear.
            PgWireFrontendMessage::SslNegotiation(SslNegotiationMetaMessage::PostgresSsl(_)) => {
                if socket
                    .send(PgWireBackendMessage::SslResponse(SslResponse::Refuse))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            PgWireFrontendMessage::SslNegotiation(SslNegotiationMetaMessage::PostgresGss(_)) => {
                if socket
                    .send(PgWireBackendMessage::GssEncResponse(GssEncResponse::Refuse))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            PgWireFrontendMessage::SslNegotiation(SslNegotiationMetaMessage::None) => {
                socket.set_state(PgWireConnectionState::AwaitingStartup);
            }
            PgWireFrontendMessage::Terminate(_) => break,
            message => {
                let extended = message.is_extended_query();
                if let Err(e) = process_message(
                    message,
                    &mut socket,
                    backend.clone(),
                    backend.clone(),
                    backend.clone(),
                    copy.clone(),
                    cancels.clone(),
                )
                .await
                    && process_error(&mut socket, e, extended).await.is_err()
                {
                    break;
                }
            }
        }
    }
}

/// Returns once the server stops (or is gone).
async fn wait_for_stop(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// `5m`, `30s`, `1500ms`.
fn humantime(d: Duration) -> String {
    match d.as_millis() {
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}
