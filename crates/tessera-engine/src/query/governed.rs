//! Governed views: the [`TableSet`] a principal reads for a purpose. Each port they may
//! query is replaced by a view over the raw table —
//!
//! ```text
//! SELECT <visible columns>, tessera_mask_<method>(<masked column>) AS <column>   -- absent columns left out
//! FROM raw
//! WHERE (<row filter, principal's values bound>) AND …
//!   AND <subject key> IN (SELECT subject FROM <consent port>, latest record per subject
//!                         for the purpose, granted)                            -- consent purposes
//! ```
//!
//! — and ports they may not query are listed as not permitted, with the policy that
//! decided. The session plans against these views only; a masked value is what every
//! filter, join and aggregate sees, and a row that is filtered out is not there for any
//! of them.
//!
//! Invariant: a governed set holds no raw port. The raw source is reachable only inside
//! the view this module builds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::prelude::SessionContext;
use tessera_governance::{
    Access, ColumnFacts, Governance, Mask, PortDecision, PortFacts, Session, keyed,
};

use super::QueryError;
use super::tables::{At, HiddenColumn, Opened, TableEntry, TableKind, TableSet, TableSource};
use crate::Engine;

/// Governance as the engine applies it: the decisions and the keys derived from the mesh
/// secret.
#[derive(Clone)]
pub struct Governor {
    /// `None` for a mesh without principals (ungoverned, but still audited).
    pub governance: Option<Arc<Governance>>,
    mask_key: Arc<[u8]>,
    audit_key: Arc<[u8]>,
}

impl std::fmt::Debug for Governor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governor").finish_non_exhaustive()
    }
}

impl Governor {
    /// `secret` is the mesh secret (see `tessera_engine::secret`); the keys for masks and
    /// for the audit log are derived from it.
    pub fn new(governance: Arc<Governance>, secret: &[u8]) -> Governor {
        Governor {
            governance: Some(governance),
            ..Governor::new_keys(secret)
        }
    }

    fn new_keys(secret: &[u8]) -> Governor {
        Governor {
            governance: None,
            mask_key: Arc::from(keyed::derive(secret, "mask")),
            audit_key: Arc::from(keyed::derive(secret, "audit")),
        }
    }

    pub fn audit_key(&self) -> &[u8] {
        &self.audit_key
    }
}

/// What a governed session may see, for `mesh_meta` and the audit log.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    /// Every port's decision, by `domain.port`.
    pub decisions: BTreeMap<String, PortDecision>,
    /// Whether the session may read the audit log.
    pub read_audit: bool,
}

impl Visibility {
    pub fn may_query(&self, table: &str) -> bool {
        self.decisions.get(table).is_some_and(|d| d.query.allowed)
    }
}

/// The facts governance decides on, from a port's table entry.
pub(crate) fn facts(entry: &TableEntry) -> PortFacts {
    PortFacts {
        table: entry.qualified(),
        columns: entry
            .columns
            .iter()
            .map(|c| ColumnFacts {
                name: c.name.clone(),
                classification: c.classification.clone(),
                subject_key: c.subject_key.clone(),
            })
            .collect(),
    }
}

impl Engine {
    /// The tables `session` may read, as governed views, and what it may see.
    pub fn governed_table_set(
        &self,
        governor: &Governor,
        session: &Session,
    ) -> (TableSet, Arc<Visibility>) {
        let Some(gov) = &governor.governance else {
            return (self.table_set(), Arc::new(Visibility::default()));
        };
        let base = self.table_set();
        let mut visibility = Visibility {
            decisions: BTreeMap::new(),
            read_audit: gov
                .authorize(
                    session,
                    tessera_governance::Action::ReadAudit,
                    &tessera_governance::Resource::Mesh,
                )
                .allowed,
        };
        let consent_source = gov.settings.consent.as_ref().map(|c| {
            let (schema, name) = c.port.split_once('.').unwrap_or_default();
            match base.get(schema, name) {
                Some(e) => Ok(e.source.clone()),
                None => Err(format!(
                    "the consent port {} cannot be read ({}), so no row of a subject can be shown for a purpose that needs consent",
                    c.port,
                    base.unavailable(schema, name).unwrap_or("it is not in the mesh")
                )),
            }
        });
        let who = format!(
            "{} ({}) for purpose {}",
            session.principal.id,
            session.principal.kind.as_str().replace('_', " "),
            session.purpose.name
        );
        let mut set = TableSet::new();
        for entry in base.entries() {
            if entry.kind != TableKind::Port {
                continue;
            }
            let decision = gov.decide_port(session, &facts(entry));
            let table = entry.qualified();
            if !decision.query.allowed {
                set.mark_denied(
                    &entry.schema,
                    &entry.name,
                    format!("{who} may not query it: {}", decision.query.explain()),
                );
                visibility.decisions.insert(table, decision);
                continue;
            }
            let mut columns = Vec::new();
            let mut hidden = Vec::new();
            for c in &entry.columns {
                match decision.column(&c.name).map(|d| (d.access, d)) {
                    Some((Access::Visible, _)) => columns.push(c.clone()),
                    Some((Access::Masked(m), _)) => {
                        let mut c = c.clone();
                        c.masked = Some(m.as_str().to_string());
                        columns.push(c);
                    }
                    Some((Access::Absent, d)) => hidden.push(HiddenColumn {
                        name: c.name.clone(),
                        why: format!(
                            "{who} may not read {table}.{}: {}",
                            c.name,
                            d.verdict.explain()
                        ),
                    }),
                    None => {}
                }
            }
            let consent = match (&decision.consent, &consent_source) {
                (Some(_), Some(Ok(source))) => Some(Ok(source.clone())),
                (Some(_), Some(Err(why))) => Some(Err(why.clone())),
                (Some(_), None) => Some(Err("no consent port is configured".to_string())),
                (None, _) => None,
            };
            let decision = Arc::new(decision);
            set.insert(TableEntry {
                columns,
                hidden,
                source: Arc::new(GovernedSource {
                    table: table.clone(),
                    raw: entry.source.clone(),
                    decision: decision.clone(),
                    consent,
                    mask_key: governor.mask_key.clone(),
                }),
                ..(**entry).clone()
            });
            visibility.decisions.insert(table, (*decision).clone());
        }
        for (schema, name, why) in base.unavailable_entries() {
            set.mark_unavailable(schema, name, why);
        }
        let visibility = Arc::new(visibility);
        for entry in self.meta_entries(Some(visibility.clone())) {
            if entry.name == "audit" && !visibility.read_audit {
                let verdict = gov.authorize(
                    session,
                    tessera_governance::Action::ReadAudit,
                    &tessera_governance::Resource::Mesh,
                );
                set.mark_denied(
                    &entry.schema,
                    &entry.name,
                    format!("{who} may not read the audit log: {}", verdict.explain()),
                );
                continue;
            }
            set.insert(entry);
        }
        (set, visibility)
    }
}

/// A port seen through a principal's decision.
#[derive(Debug)]
struct GovernedSource {
    table: String,
    raw: Arc<dyn TableSource>,
    decision: Arc<PortDecision>,
    consent: Option<Result<Arc<dyn TableSource>, String>>,
    mask_key: Arc<[u8]>,
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[async_trait]
impl TableSource for GovernedSource {
    async fn open(&self, at: &At) -> Result<Opened, QueryError> {
        let raw = self.raw.open(at).await?;
        let ctx = SessionContext::new();
        let fail = |why: String| QueryError::Open {
            table: self.table.clone(),
            why,
        };
        // Registered under the port's own name: DataFusion inlines views, so this is the
        // name the scan has in the session's plan (and in its audit record).
        ctx.register_table(
            datafusion::common::TableReference::bare(self.table.clone()),
            raw.provider.clone(),
        )
        .map_err(|e| fail(e.to_string()))?;
        for (_, mask) in Mask::ALL {
            ctx.register_udf(super::masks::udf(*mask, self.mask_key.clone()));
        }
        let mut select = Vec::new();
        for field in raw.provider.schema().fields() {
            let name = field.name();
            match self.decision.column(name).map(|d| d.access) {
                Some(Access::Visible) => select.push(quote(name)),
                Some(Access::Masked(m)) => select.push(format!(
                    "tessera_mask_{}({}) AS {}",
                    m.as_str(),
                    quote(name),
                    quote(name)
                )),
                // Absent, or a column the contract does not describe: deny by default.
                Some(Access::Absent) | None => {}
            }
        }
        if select.is_empty() {
            // Every column is hidden: the rows still count (a COUNT(*) works).
            select.push("NULL AS \"(no permitted columns)\"".into());
        }
        let mut sql = format!("SELECT {} FROM {}", select.join(", "), quote(&self.table));
        let mut conditions: Vec<String> = self
            .decision
            .row_filters
            .iter()
            .map(|f| format!("({})", f.predicate))
            .collect();
        if let Some(consent) = &self.consent {
            let source = consent.as_ref().map_err(|why| fail(why.clone()))?;
            let opened = source.open(&At::Latest).await?;
            ctx.register_table("consent", opened.provider)
                .map_err(|e| fail(e.to_string()))?;
            let c = self
                .decision
                .consent
                .as_ref()
                .expect("a consent source is only set with a consent decision");
            let s = &c.settings;
            let mut granted = String::new();
            let _ = write!(
                granted,
                "SELECT subject FROM (SELECT {subject} AS subject, {granted} AS granted, \
                 row_number() OVER (PARTITION BY {subject} ORDER BY {at} DESC, {granted} ASC) AS latest \
                 FROM consent WHERE {purpose} = {value}) WHERE latest = 1 AND granted",
                subject = quote(&s.subject),
                granted = quote(&s.granted),
                at = quote(&s.recorded_at),
                purpose = quote(&s.purpose),
                value = literal(&c.purpose),
            );
            for column in &c.columns {
                conditions.push(format!("{} IN ({granted})", quote(column)));
            }
        }
        if !conditions.is_empty() {
            let _ = write!(sql, " WHERE {}", conditions.join(" AND "));
        }
        let plan = ctx
            .sql(&sql)
            .await
            .map_err(|e| {
                let names: Vec<&str> = self
                    .decision
                    .row_filters
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect();
                fail(format!(
                    "its governed view does not plan (row filters: {}): {}",
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    },
                    e.strip_backtrace()
                ))
            })?
            .into_unoptimized_plan();
        let view: Arc<dyn TableProvider> = Arc::new(ViewTable::new(plan, None));
        Ok(Opened {
            provider: view,
            version: raw.version,
        })
    }
}

impl Engine {
    /// Reads the mesh secret and the mesh's governance (when it declares principals), so
    /// that [`Engine::session`] can start sessions. Returns governance's findings; with
    /// errors among them, no session can start.
    pub fn enable_governance(&mut self) -> crate::Result<tessera_model::Diagnostics> {
        let secret = crate::secret::load(&self.mesh_dir)?;
        let (governance, diags) = if Governance::configured(&self.mesh) {
            Governance::load(&self.mesh)
        } else {
            (None, tessera_model::Diagnostics::new())
        };
        if diags.has_errors() {
            self.governor = None;
            return Ok(diags);
        }
        self.governor = Some(Governor {
            governance: governance.map(Arc::new),
            ..Governor::new_keys(&secret)
        });
        Ok(diags)
    }

    /// That a governed mesh declares `principal` — the check a session starts with, for
    /// callers that read metadata without a session (a server's catalog API). Always
    /// passes in an ungoverned mesh.
    pub fn check_principal(&self, principal: &str) -> Result<(), QueryError> {
        match self.governor.as_ref().and_then(|g| g.governance.as_ref()) {
            Some(gov) => gov
                .principal(principal)
                .map(|_| ())
                .map_err(|e| QueryError::Denied {
                    name: "this session".into(),
                    why: e.to_string(),
                }),
            None => Ok(()),
        }
    }

    /// A query session for `principal` and `purpose`, audited as coming from `interface`.
    ///
    /// In a governed mesh both are required and must be declared; the session reads
    /// governed views only. A mesh without `policies/principals.yaml` is ungoverned: the
    /// session reads every port, and is audited as `principal` (or the local user).
    pub fn session(
        &self,
        principal: Option<&str>,
        purpose: Option<&str>,
        interface: &str,
    ) -> Result<super::QuerySession, QueryError> {
        let Some(governor) = &self.governor else {
            return Err(QueryError::Denied {
                name: "this session".into(),
                why: "governance is not loaded (Engine::enable_governance); refusing to run ungoverned".into(),
            });
        };
        let (tables, visibility, actor, tracked) = match &governor.governance {
            Some(gov) => {
                let (Some(principal), Some(purpose)) = (principal, purpose) else {
                    return Err(QueryError::Denied {
                        name: "this session".into(),
                        why: format!(
                            "this mesh is governed: say who you are and why — a principal (--as) and a purpose (--purpose: {})",
                            gov.settings
                                .purposes
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                };
                let session = gov
                    .session(principal, purpose)
                    .map_err(|e| QueryError::Denied {
                        name: "this session".into(),
                        why: e.to_string(),
                    })?;
                let (tables, visibility) = self.governed_table_set(governor, &session);
                (
                    tables,
                    Some(visibility),
                    super::Actor {
                        principal: principal.to_string(),
                        purpose: Some(purpose.to_string()),
                        interface: interface.to_string(),
                    },
                    Some(session),
                )
            }
            None => (
                self.table_set(),
                None,
                super::Actor {
                    principal: principal.map(str::to_string).unwrap_or_else(local_user),
                    purpose: purpose.map(str::to_string),
                    interface: interface.to_string(),
                },
                None,
            ),
        };
        let query = super::QuerySession::new(tables, self.mesh.config.query).audited(
            super::audit::Auditor {
                catalog: self.catalog.clone(),
                key: governor.audit_key.clone(),
                actor,
                visibility,
            },
        );
        // Access grants are read per statement (grants.rs): an approval works on the
        // next statement, an expiry ends it there.
        Ok(match tracked {
            Some(session) => {
                let grants =
                    super::grants::Grants::new(self.clone(), governor.clone(), session, &query);
                query.tracking_grants(grants)
            }
            None => query,
        })
    }
}

impl Engine {
    /// Appends a record of an action that is not a query (a publish, reading the audit
    /// log) to the audit log, as `principal` (else the local operator). Does nothing
    /// before [`Engine::enable_governance`] (there is no audit key yet).
    pub async fn audit_action(
        &self,
        principal: Option<&str>,
        purpose: Option<&str>,
        action: &str,
        resources: serde_json::Value,
        outcome: tessera_catalog::AuditOutcome,
        error: Option<String>,
    ) -> crate::Result<()> {
        self.audit_action_via("cli", principal, purpose, action, resources, outcome, error)
            .await
    }

    /// [`Engine::audit_action`] for an action that came through `interface` (`http`, …)
    /// rather than the command line.
    #[allow(clippy::too_many_arguments)] // the audit record's fields, each said once
    pub async fn audit_action_via(
        &self,
        interface: &str,
        principal: Option<&str>,
        purpose: Option<&str>,
        action: &str,
        resources: serde_json::Value,
        outcome: tessera_catalog::AuditOutcome,
        error: Option<String>,
    ) -> crate::Result<()> {
        let Some(governor) = &self.governor else {
            return Ok(());
        };
        let record = tessera_catalog::NewAuditRecord {
            at: chrono::Utc::now(),
            principal: principal.map(str::to_string).unwrap_or_else(local_user),
            purpose: purpose.map(str::to_string),
            interface: interface.into(),
            action: action.to_string(),
            statement: None,
            resources,
            row_count: None,
            outcome,
            error,
        };
        self.catalog
            .append_audit(&governor.audit_key, &record)
            .await?;
        Ok(())
    }
}

/// The operating-system user, for the audit log of an ungoverned mesh.
fn local_user() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("local:{user}")
}
