//! What every adapter shares: the governed engine, the authenticator, the session cache,
//! the limits on concurrent work, and the metrics.
//!
//! The one path from a request to data:
//!
//! ```text
//!  credentials ─▶ Authenticator ─▶ Caller {principal, purposes}
//!  purpose ─────▶ Caller::purpose ─▶ Shared::session(caller, purpose, interface)
//!                                        └─▶ Engine::session (governed views, audited)
//!  SQL ─────────▶ Shared::run ─▶ a query permit ─▶ plan ─▶ Rows (row cap, metrics)
//! ```

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use futures::Stream;
use tessera_engine::Engine;
use tessera_engine::query::{QueryError, QuerySession, ResultStream};
use tessera_model::config::ServeSettings;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::{Authenticator, Caller};
use crate::error::{ErrorKind, ServeError};
use crate::metrics::{Interface, Metrics, Outcome};

/// The server's state, shared by the three adapters.
pub struct Shared {
    engine: RwLock<Arc<Engine>>,
    pub auth: Authenticator,
    sessions: Mutex<HashMap<SessionKey, QuerySession>>,
    queries: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    pub metrics: Metrics,
    pub settings: ServeSettings,
    /// Set when shutdown begins: new statements are refused, running ones finish.
    draining: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    principal: String,
    purpose: Option<String>,
    interface: &'static str,
}

impl Shared {
    /// `engine` must have governance enabled ([`Engine::enable_governance`]).
    pub fn new(engine: Engine) -> Shared {
        let settings = engine.mesh.config.serve.clone();
        let auth = Authenticator::new(engine.catalog.clone(), settings.anonymous.clone());
        Shared {
            engine: RwLock::new(Arc::new(engine)),
            auth,
            sessions: Mutex::new(HashMap::new()),
            queries: Arc::new(Semaphore::new(settings.max_queries)),
            connections: Arc::new(Semaphore::new(settings.max_connections)),
            metrics: Metrics::new(),
            settings,
            draining: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn engine(&self) -> Arc<Engine> {
        self.engine
            .read()
            .expect("engine lock is never poisoned")
            .clone()
    }

    /// Serves a newly loaded engine (after a publish through the API, or a reload): new
    /// sessions see it; statements already running finish on the old one.
    pub fn replace_engine(&self, engine: Engine) {
        *self.engine.write().expect("engine lock is never poisoned") = Arc::new(engine);
        self.sessions
            .lock()
            .expect("session cache lock is never poisoned")
            .clear();
    }

    /// Starts draining: statements not yet started are refused with `unavailable`.
    pub fn drain(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Statements running now (holding a query permit).
    pub fn running(&self) -> usize {
        self.settings
            .max_queries
            .saturating_sub(self.queries.available_permits())
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Admits one client connection, or refuses it when `server.max_connections` are open.
    pub fn admit_connection(
        &self,
        interface: &'static str,
    ) -> Result<ConnectionPermit, ServeError> {
        if self.is_draining() {
            return Err(ServeError::new(
                ErrorKind::Unavailable,
                "the server is shutting down",
            ));
        }
        let permit = self.connections.clone().try_acquire_owned().map_err(|_| {
            ServeError::new(
                ErrorKind::Unavailable,
                format!(
                    "too many connections (server.max_connections = {}); try again later",
                    self.settings.max_connections
                ),
            )
        })?;
        let gauge = self
            .metrics
            .connections
            .get_or_create(&Interface { interface })
            .clone();
        gauge.inc();
        Ok(ConnectionPermit {
            _permit: permit,
            gauge,
        })
    }

    /// A governed session for the caller and purpose, on `interface` (`http`, `pg`,
    /// `flight`). Sessions are cached per (principal, purpose, interface): the governed
    /// view of the mesh depends on nothing else, and building it decides every port.
    pub fn session(
        &self,
        caller: &Caller,
        purpose: Option<&str>,
        interface: &'static str,
    ) -> Result<QuerySession, ServeError> {
        let purpose = caller.purpose(purpose)?;
        let key = SessionKey {
            principal: caller.principal.clone(),
            purpose: purpose.clone(),
            interface,
        };
        if let Some(s) = self
            .sessions
            .lock()
            .expect("session cache lock is never poisoned")
            .get(&key)
        {
            return Ok(s.clone());
        }
        let session =
            self.engine()
                .session(Some(&caller.principal), purpose.as_deref(), interface)?;
        self.sessions
            .lock()
            .expect("session cache lock is never poisoned")
            .insert(key, session.clone());
        Ok(session)
    }

    /// Plans and starts one statement under the server's limits: it waits for one of
    /// `server.max_queries` permits (refused while draining), and its rows are capped at
    /// `query.max_rows`.
    pub async fn run(
        self: &Arc<Self>,
        session: &QuerySession,
        sql: &str,
        interface: &'static str,
    ) -> Result<Rows, ServeError> {
        if self.is_draining() {
            return Err(ServeError::new(
                ErrorKind::Unavailable,
                "the server is shutting down; no new statements",
            ));
        }
        let permit =
            self.queries.clone().acquire_owned().await.map_err(|_| {
                ServeError::new(ErrorKind::Unavailable, "the server is shutting down")
            })?;
        let started = Instant::now();
        let result = async {
            let query = session.plan(sql).await?;
            query.stream().await
        }
        .await;
        match result {
            Ok(stream) => {
                self.metrics.running.inc();
                Ok(Rows {
                    schema: stream.schema(),
                    max_rows: session.limits().max_rows,
                    stream: Some(stream),
                    rows: 0,
                    shared: self.clone(),
                    interface,
                    started,
                    _permit: permit,
                    finished: false,
                    aborting: None,
                })
            }
            Err(e) => {
                let e = ServeError::from(e);
                self.count_query(interface, Some(e.kind), started);
                Err(e)
            }
        }
    }

    fn count_query(&self, interface: &'static str, error: Option<ErrorKind>, started: Instant) {
        let outcome = error.map(ErrorKind::as_str).unwrap_or("ok");
        self.metrics
            .queries
            .get_or_create(&Outcome { interface, outcome })
            .inc();
        self.metrics
            .query_latency
            .get_or_create(&Interface { interface })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Held while a client connection is open.
pub struct ConnectionPermit {
    _permit: OwnedSemaphorePermit,
    gauge: prometheus_client::metrics::gauge::Gauge,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// A running statement's result: batches as they are computed, ended with an error if
/// the rows pass `query.max_rows`.
pub struct Rows {
    schema: SchemaRef,
    stream: Option<ResultStream>,
    max_rows: u64,
    rows: u64,
    shared: Arc<Shared>,
    interface: &'static str,
    started: Instant,
    _permit: OwnedSemaphorePermit,
    finished: bool,
    aborting: Option<Pin<Box<dyn std::future::Future<Output = QueryError> + Send>>>,
}

impl Rows {
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn finish(&mut self, error: Option<ErrorKind>) {
        if !self.finished {
            self.finished = true;
            self.shared.metrics.running.dec();
            self.shared.count_query(self.interface, error, self.started);
        }
    }
}

impl Drop for Rows {
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            self.shared.metrics.running.dec();
        }
    }
}

impl Stream for Rows {
    type Item = Result<RecordBatch, ServeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(aborting) = self.aborting.as_mut() {
            let e = match aborting.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(e) => e,
            };
            self.aborting = None;
            let e = ServeError::from(e);
            self.finish(Some(e.kind));
            return Poll::Ready(Some(Err(e)));
        }
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(stream).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.stream = None;
                self.finish(None);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                self.stream = None;
                let e = ServeError::from(e);
                self.finish(Some(e.kind));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(batch))) => {
                self.rows += batch.num_rows() as u64;
                if self.rows > self.max_rows {
                    let stream = self.stream.take().expect("checked above");
                    let max_rows = self.max_rows;
                    self.aborting = Some(Box::pin(stream.abort(row_cap(max_rows))));
                    return self.poll_next(cx);
                }
                self.shared
                    .metrics
                    .rows
                    .get_or_create(&Interface {
                        interface: self.interface,
                    })
                    .inc_by(batch.num_rows() as u64);
                Poll::Ready(Some(Ok(batch)))
            }
        }
    }
}

fn row_cap(max_rows: u64) -> QueryError {
    QueryError::Limit {
        what: "result row",
        key: "query.max_rows",
        value: max_rows.to_string(),
        detail: Some(
            "add a LIMIT or an aggregate, or export the whole result with `tessera sql … -o FILE`"
                .into(),
        ),
    }
}

impl Rows {
    /// Deprecation notices of the ports the statement reads.
    pub fn notices(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .stream
            .iter()
            .flat_map(|s| s.reads())
            .filter_map(|r| r.notice.clone())
            .collect();
        out.dedup();
        out
    }
}
