//! `tessera subject export`: everything the mesh holds about one data subject (GDPR
//! Art. 15), read through a governed session, with who read the ports holding it.
//!
//! ```text
//!  subject ─▶ ports marked with its kind ─▶ per port, as the principal and purpose:
//!             SELECT * FROM <port> WHERE <key column> = '<key>'   (governed, audited)
//!          ─▶ rows with product, port, version ─┐
//!  audit log: records that read those ports ────┴▶ SubjectExport (JSON or HTML)
//! ```
//!
//! The audit log records which ports a query read, not which subjects, so `reads` lists
//! every recorded query over a port that holds this kind of subject: who, when, for which
//! purpose — a superset of the reads of this subject's rows.

use serde::Serialize;
use tessera_catalog::{AuditQuery, AuditRecord};

use super::Subject;
use crate::query::QueryError;
use crate::{Engine, EngineError, Result};

#[derive(Debug, Clone, Serialize)]
pub struct PortRows {
    pub product: String,
    pub table: String,
    pub version: Option<i64>,
    pub columns: Vec<String>,
    pub rows: Vec<serde_json::Value>,
    /// Why the port could not be read (e.g. not permitted), instead of rows.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubjectExport {
    pub subject_kind: String,
    pub key: String,
    pub principal: String,
    pub purpose: String,
    pub exported_at: chrono::DateTime<chrono::Utc>,
    pub ports: Vec<PortRows>,
    pub reads: Vec<AuditRecord>,
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl Engine {
    /// Exports the subject's rows from every port holding its kind, as `principal` for
    /// `purpose` (governed: what the policies hide stays hidden, and every query is
    /// audited), with the audit records of reads of those ports (at most `max_reads`).
    pub async fn subject_export(
        &self,
        subject: &Subject,
        principal: Option<&str>,
        purpose: Option<&str>,
        max_reads: usize,
    ) -> Result<SubjectExport> {
        let session = self
            .session(principal, purpose, "cli")
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let mut ports = Vec::new();
        for p in super::subject_ports(&self.mesh, &subject.kind) {
            let condition = p
                .columns
                .iter()
                .map(|c| format!("CAST(\"{c}\" AS VARCHAR) = {}", quote(&subject.key)))
                .collect::<Vec<_>>()
                .join(" OR ");
            let sql = format!("SELECT * FROM {} WHERE {condition}", p.table);
            let result: std::result::Result<_, QueryError> =
                async { session.plan(&sql).await?.collect(false).await }.await;
            let mut entry = PortRows {
                product: p.product.clone(),
                table: p.table.clone(),
                version: None,
                columns: Vec::new(),
                rows: Vec::new(),
                error: None,
            };
            match result {
                Ok(r) => {
                    entry.version = r
                        .reads
                        .iter()
                        .find(|x| x.table == p.table)
                        .and_then(|x| x.version);
                    entry.columns = r.schema.fields().iter().map(|f| f.name().clone()).collect();
                    entry.rows = to_json_rows(&r.batches)?;
                }
                Err(e) => entry.error = Some(e.to_string()),
            }
            ports.push(entry);
        }
        let mut reads = Vec::new();
        for p in &ports {
            let records = self
                .catalog
                .audit(&AuditQuery {
                    resource: Some(p.table.clone()),
                    limit: Some(max_reads),
                    ..Default::default()
                })
                .await?;
            reads.extend(records.into_iter().filter(|r| r.action == "query"));
        }
        reads.sort_by_key(|r| std::cmp::Reverse(r.seq));
        reads.dedup_by_key(|r| r.seq);
        reads.truncate(max_reads);
        Ok(SubjectExport {
            subject_kind: subject.kind.clone(),
            key: subject.key.clone(),
            principal: principal.unwrap_or_default().to_string(),
            purpose: purpose.unwrap_or_default().to_string(),
            exported_at: chrono::Utc::now(),
            ports,
            reads,
        })
    }
}

fn to_json_rows(
    batches: &[datafusion::arrow::array::RecordBatch],
) -> Result<Vec<serde_json::Value>> {
    use datafusion::arrow::json::{WriterBuilder, writer::JsonArray};
    let mut buf = Vec::new();
    {
        let mut w = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, JsonArray>(&mut buf);
        for b in batches {
            w.write(b).map_err(|e| EngineError::internal(e.into()))?;
        }
        w.finish().map_err(|e| EngineError::internal(e.into()))?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_slice(&buf) {
        Ok(serde_json::Value::Array(rows)) => Ok(rows),
        _ => Ok(Vec::new()),
    }
}
