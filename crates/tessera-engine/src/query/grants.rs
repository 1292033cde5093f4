//! Access grants in a governed session: every statement is decided with the grants in
//! force when it is planned.
//!
//! ```text
//!  QuerySession::plan(sql)
//!    └─▶ Grants::current ─▶ catalog.access_grants(principal, now), this purpose's ports
//!          same ports as the set was decided with? ─▶ the session's tables as they are
//!          else ─▶ Engine::governed_table_set(session.with_grants(ports)) ─▶ kept, used
//! ```
//!
//! A grant is an approved access request that has not expired (docs/access.md). Policies
//! see the ports as `context.granted`; this module only makes sure the set a statement is
//! planned against was decided with the grants of that moment, so an approval works on
//! the next statement of a session opened before it (a PostgreSQL connection, a cached
//! server session), and an expired or revoked grant stops working on the next statement.
//!
//! The cost is one indexed read of the metadata store per statement; the governed set is
//! rebuilt only when the ports change. A failed read fails the statement (closed): a
//! grant is never assumed.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tessera_catalog::CatalogStore;
use tessera_governance::Session;

use super::{Governor, QueryError, QuerySession, TableSet, audit::Auditor};
use crate::Engine;

/// Re-decides a session's tables when the principal's grants for its purpose change.
pub(crate) struct Grants {
    catalog: Arc<dyn CatalogStore>,
    engine: Engine,
    governor: Governor,
    session: Session,
    current: Mutex<Decided>,
}

/// The tables and auditor last decided, and the grants they were decided with.
struct Decided {
    granted: BTreeSet<String>,
    tables: Arc<TableSet>,
    auditor: Option<Arc<Auditor>>,
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants")
            .field("principal", &self.session.principal.id)
            .field("purpose", &self.session.purpose.name)
            .finish_non_exhaustive()
    }
}

impl Grants {
    /// Tracks `session`'s grants for `query`, whose tables were decided with
    /// `session.granted`.
    pub(crate) fn new(
        engine: Engine,
        governor: Governor,
        session: Session,
        query: &QuerySession,
    ) -> Grants {
        Grants {
            catalog: engine.catalog.clone(),
            current: Mutex::new(Decided {
                granted: session.granted.clone(),
                tables: query.tables.clone(),
                auditor: query.auditor.clone(),
            }),
            engine,
            governor,
            session,
        }
    }

    /// The ports (`domain.port`) the principal holds a grant on for the session's purpose
    /// now.
    pub(crate) async fn granted_now(&self) -> Result<BTreeSet<String>, QueryError> {
        let grants = self
            .catalog
            .access_grants(&self.session.principal.id, chrono::Utc::now())
            .await
            .map_err(|e| QueryError::Execution(format!("could not read access grants: {e}")))?;
        Ok(grants
            .into_iter()
            .filter(|g| g.purpose == self.session.purpose.name)
            .map(|g| g.port)
            .collect())
    }

    /// `query` with the tables and auditor decided with the grants in force now.
    pub(crate) async fn current(&self, query: &QuerySession) -> Result<QuerySession, QueryError> {
        let granted = self.granted_now().await?;
        let mut decided = self.current.lock().expect("grants lock is never poisoned");
        if decided.granted != granted {
            let session = self.session.clone().with_grants(granted.iter().cloned());
            let (tables, visibility) = self.engine.governed_table_set(&self.governor, &session);
            decided.tables = Arc::new(tables);
            decided.auditor = decided.auditor.as_ref().map(|a| {
                Arc::new(Auditor {
                    catalog: a.catalog.clone(),
                    key: a.key.clone(),
                    actor: a.actor.clone(),
                    visibility: Some(visibility),
                })
            });
            decided.granted = granted;
        }
        let mut now = query.clone();
        now.tables = decided.tables.clone();
        now.auditor = decided.auditor.clone();
        now.grants = None;
        Ok(now)
    }
}
