//! The audit trail of a query session: every statement — answered, refused or failed — is
//! appended to the metadata store's hash-chained audit log with who ran it, for which
//! purpose, the SQL, the ports and columns it read (from the optimised plan) with how the
//! session saw each column, the rows returned and the outcome.
//!
//! A streamed result is audited when it ends: the stream does not report its end until
//! the record is written, and a write that fails ends the stream with an error (fail
//! closed). A stream dropped early is recorded as cancelled, in the background.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;
use serde_json::{Value, json};
use tessera_catalog::{AuditOutcome, CatalogStore, NewAuditRecord};

use super::catalog::Read;
use super::rewrite::split_versioned;
use super::{QueryError, QueryErrorKind, Visibility};

/// Who runs a session, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub principal: String,
    pub purpose: Option<String>,
    /// `cli`, `http`, `pg`, `flight`, `sharing`.
    pub interface: String,
}

/// Writes a session's audit records.
pub(crate) struct Auditor {
    pub catalog: Arc<dyn CatalogStore>,
    pub key: Arc<[u8]>,
    pub actor: Actor,
    pub visibility: Option<Arc<Visibility>>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

/// What a planned statement will be audited as.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub auditor: Arc<Auditor>,
    pub action: &'static str,
    pub sql: String,
    pub resources: Value,
}

impl Pending {
    /// Appends the record; the error says the audit log could not be written.
    pub async fn write(
        &self,
        rows: Option<u64>,
        outcome: Result<(), &QueryError>,
    ) -> Result<(), QueryError> {
        self.auditor
            .write(
                self.action,
                &self.sql,
                self.resources.clone(),
                rows,
                outcome,
            )
            .await
    }
}

impl Auditor {
    pub async fn write(
        &self,
        action: &str,
        sql: &str,
        resources: Value,
        rows: Option<u64>,
        outcome: Result<(), &QueryError>,
    ) -> Result<(), QueryError> {
        let (outcome, error) = match outcome {
            Ok(()) => (AuditOutcome::Ok, None),
            Err(e) if e.kind() == QueryErrorKind::NotPermitted => {
                (AuditOutcome::Denied, Some(e.to_string()))
            }
            Err(e) => (AuditOutcome::Error, Some(e.to_string())),
        };
        let record = NewAuditRecord {
            at: Utc::now(),
            principal: self.actor.principal.clone(),
            purpose: self.actor.purpose.clone(),
            interface: self.actor.interface.clone(),
            action: action.to_string(),
            statement: Some(sql.to_string()),
            resources,
            row_count: rows.map(|r| r as i64),
            outcome,
            error,
        };
        self.catalog
            .append_audit(&self.key, &record)
            .await
            .map(|_| ())
            .map_err(|e| QueryError::Audit(e.to_string()))
    }

    /// The tables a plan reads, with the columns it reads of each and how this session
    /// sees them, as the audit record's `resources`.
    pub fn resources(&self, reads: &[Read], plan: Option<&LogicalPlan>) -> Value {
        let columns = plan.map(columns_read).unwrap_or_default();
        let list: Vec<Value> = reads
            .iter()
            .map(|r| {
                let decision = self
                    .visibility
                    .as_ref()
                    .and_then(|v| v.decisions.get(&r.table));
                let cols: Vec<Value> = columns
                    .get(&r.table)
                    .map(|names| {
                        names
                            .iter()
                            .map(|c| {
                                let access = decision
                                    .and_then(|d| d.column(c))
                                    .map(|d| d.access.label())
                                    .unwrap_or_else(|| "visible".into());
                                json!({ "name": c, "access": access })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let mut entry = json!({
                    "table": r.table,
                    "kind": r.kind,
                    "at": r.at,
                    "version": r.version,
                    "columns": cols,
                });
                if let Some(d) = decision {
                    entry["row_filters"] =
                        json!(d.row_filters.iter().map(|f| &f.name).collect::<Vec<_>>());
                    entry["consent"] = json!(d.consent.as_ref().map(|c| &c.purpose));
                }
                entry
            })
            .collect();
        Value::Array(list)
    }
}

/// Table → the columns an (optimised) plan scans of it.
fn columns_read(plan: &LogicalPlan) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let (schema, table) = match &scan.table_name {
                datafusion::common::TableReference::Full { schema, table, .. }
                | datafusion::common::TableReference::Partial { schema, table } => {
                    (schema.to_string(), table.to_string())
                }
                // A governed view, inlined: its scan carries the port's qualified name.
                datafusion::common::TableReference::Bare { table } => {
                    (String::new(), table.to_string())
                }
            };
            let table = split_versioned(&table).0;
            let name = if schema.is_empty() {
                table.to_string()
            } else {
                format!("{schema}.{table}")
            };
            let fields = scan.source.schema();
            let names: Vec<String> = match &scan.projection {
                Some(p) => p.iter().map(|&i| fields.field(i).name().clone()).collect(),
                None => fields.fields().iter().map(|f| f.name().clone()).collect(),
            };
            let entry = out.entry(name).or_default();
            for n in names {
                if !entry.contains(&n) {
                    entry.push(n);
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}
