//! Erasing a data subject from every port that holds its key, along lineage, with a
//! report — and rolling an interrupted erasure forward.
//!
//! ```text
//!  validate: subject ─▶ kind (contracts) ─▶ ports marked with the kind, in lineage order
//!  authorize: Cedar `erase` on every port (all or nothing) ─▶ refusal audited
//!  act:  start_erasure (plan + register entry, one transaction: from here on every build
//!        filters the subject out of its inputs)
//!        for each port, upstream first:  DELETE WHERE tessera_erased(key columns)
//!            ─▶ new Delta version (commit names the erasure) ─▶ catalog version ─▶ progress
//!  record: finish_erasure (report) ─▶ audit record `erase` with the report per port
//! ```
//!
//! Crash safety: the register entry is written before any port is touched, so a crash
//! never lets a rebuild resurrect the subject. A process killed in the middle leaves the
//! erasure `running` with its plan and its progress; the next `tessera erase` on this host
//! sees that the process is gone, claims the erasure, finds ports already done by reading
//! their Delta logs (each erase commit carries `tessera.erasureId`), deletes from the rest
//! (matching on the register's keyed hash, as the key itself was never stored) and
//! finishes the report with `resumed: true` and what the crash left.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_catalog::{
    AuditOutcome, ErasureFinish, ErasureQuery, ErasureRecord, ErasureStatus, NewErasure,
    VersionRecord,
};
use tessera_governance::{Action, Resource};

use super::filter::{self, Matcher};
use super::{Subject, SubjectPort};
use crate::{Engine, EngineError, Result};

/// The environment variable of the test-only failpoints, which abort the process (like
/// `kill -9`): `erase-after-ports:N` after N ports were erased and recorded,
/// `erase-after-commit:N` after the Nth port's Delta commit but before its progress was
/// recorded. Used by the crash tests.
pub const FAILPOINT_ENV: &str = "TESSERA_FAILPOINT";

/// Who asks for an erasure, and why.
#[derive(Debug, Clone)]
pub struct EraseRequest {
    pub subject: Subject,
    /// The principal (required in a governed mesh; `None` = the local user).
    pub principal: Option<String>,
    pub reason: Option<String>,
}

/// One port of a plan, as it is before the erasure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedPort {
    pub table: String,
    pub product: String,
    pub columns: Vec<String>,
    /// The latest Delta version; `None` if nothing is published.
    pub version: Option<i64>,
    /// Rows holding the subject (a dry run counts them; a real run reports what it
    /// deleted instead).
    pub rows: Option<u64>,
}

/// What an erasure did to one port.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortErased {
    pub table: String,
    pub version_before: Option<i64>,
    /// `None` when there was nothing to delete (no commit).
    pub version_after: Option<i64>,
    pub rows_deleted: u64,
    pub files_removed: usize,
    pub files_added: usize,
    /// `deleted`, `no rows`, `not published`, or `done before the interruption`.
    pub outcome: String,
}

/// The erasure report: stored with the erasure, summarised in the audit log, printed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub erasure_id: String,
    pub subject_kind: String,
    /// The subject's keyed hash (the register's entry), never the key.
    pub key_hash: String,
    pub principal: String,
    pub reason: Option<String>,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Wall time of this process's part.
    pub duration_ms: u64,
    /// The erasure was interrupted (its process died) and rolled forward by a later one.
    pub resumed: bool,
    /// What the interruption had left: ports already done and ports still to do.
    pub interruption: Option<String>,
    pub ports: Vec<PortErased>,
    pub rows_deleted: u64,
    pub error: Option<String>,
}

/// A dry run's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub subject_kind: String,
    pub ports: Vec<PlannedPort>,
    /// Unfinished erasures the next real run would roll forward first.
    pub unfinished: Vec<String>,
}

/// Progress, for a front end's progress bar.
pub enum EraseEvent<'a> {
    Started { erasure: &'a str, ports: usize },
    Port { index: usize, table: &'a str },
    PortDone { result: &'a PortErased },
}

fn failpoint(name: &str) -> Option<usize> {
    std::env::var(FAILPOINT_ENV)
        .ok()?
        .strip_prefix(name)?
        .strip_prefix(':')?
        .parse()
        .ok()
}

fn abort_at(name: &str, n: usize) {
    if failpoint(name) == Some(n) {
        eprintln!("{FAILPOINT_ENV}: {name}:{n}: aborting");
        std::process::abort();
    }
}

impl Engine {
    /// The principal acting, checked: in a governed mesh it must be declared and may erase
    /// from every port in `ports` (Cedar `erase`), else the refusal is audited and returned.
    async fn authorize_erase(
        &self,
        principal: Option<&str>,
        ports: &[SubjectPort],
    ) -> Result<String> {
        let gov = self.governor.as_ref().and_then(|g| g.governance.as_ref());
        let Some(gov) = gov else {
            return Ok(principal.map(str::to_string).unwrap_or_else(|| {
                format!("local:{}", std::env::var("USER").unwrap_or_default())
            }));
        };
        let Some(principal) = principal else {
            return Err(EngineError::Invalid(
                "erasing needs who is asking: --as PRINCIPAL (the mesh is governed)".into(),
            ));
        };
        let Some(who) = gov.principals.get(principal) else {
            return Err(EngineError::Invalid(format!(
                "unknown principal `{principal}` (policies/principals.yaml)"
            )));
        };
        let session = crate::publish::operation_session(who, Action::Erase);
        let refused: Vec<String> = ports
            .iter()
            .filter_map(|p| {
                let v = gov.authorize(&session, Action::Erase, &Resource::Port(p.table.clone()));
                (!v.allowed).then(|| format!("{}: {}", p.table, v.explain()))
            })
            .collect();
        if !refused.is_empty() {
            let resources: Vec<_> = ports.iter().map(|p| json!({"table": p.table})).collect();
            self.audit_action(
                Some(principal),
                None,
                "erase",
                json!(resources),
                AuditOutcome::Denied,
                Some(format!("not permitted: {}", refused.join("; "))),
            )
            .await?;
            return Err(EngineError::Invalid(format!(
                "not permitted: {principal} may not erase from {}; nothing was erased",
                refused.join("; ")
            )));
        }
        Ok(principal.to_string())
    }

    /// What `erase` would do: the ports, their versions and the rows holding the subject.
    pub async fn erase_plan(&self, req: &EraseRequest) -> Result<Plan> {
        let ports = super::subject_ports(&self.mesh, &req.subject.kind);
        self.authorize_erase(req.principal.as_deref(), &ports)
            .await?;
        let matcher = Matcher::Key(req.subject.key.clone());
        let mut planned = Vec::new();
        for p in &ports {
            let url = self.port_url(&p.key);
            let version = self.storage.latest_version(&url).await?;
            let rows = match version {
                Some(_) => Some(self.count_matching(p, &matcher).await?),
                None => None,
            };
            planned.push(PlannedPort {
                table: p.table.clone(),
                product: p.product.clone(),
                columns: p.columns.clone(),
                version,
                rows,
            });
        }
        let unfinished = self
            .catalog
            .erasures(&ErasureQuery {
                status: Some(ErasureStatus::Running),
                ..Default::default()
            })
            .await?
            .into_iter()
            .map(|e| e.id)
            .collect();
        Ok(Plan {
            subject_kind: req.subject.kind.clone(),
            ports: planned,
            unfinished,
        })
    }

    async fn count_matching(&self, p: &SubjectPort, matcher: &Matcher) -> Result<u64> {
        let url = self.port_url(&p.key);
        let provider = self.storage.provider(&url, None).await?;
        let ctx = datafusion::prelude::SessionContext::new();
        let Some(predicate) = filter::matching(matcher, &p.columns) else {
            return Ok(0);
        };
        let n = ctx
            .read_table(provider)
            .and_then(|df| df.filter(predicate))
            .map_err(EngineError::internal)?
            .count()
            .await
            .map_err(EngineError::internal)?;
        Ok(n as u64)
    }

    /// Rolls forward every erasure left `running` by a process on this host that is gone,
    /// as `principal` (who needs `erase` on its ports, as for a new erasure). Returns their
    /// reports.
    pub async fn resume_erasures(
        &self,
        principal: Option<&str>,
        observer: &dyn Fn(EraseEvent<'_>),
    ) -> Result<Vec<Report>> {
        let host = crate::run::host_name();
        let mut reports = Vec::new();
        for e in self
            .catalog
            .erasures(&ErasureQuery {
                status: Some(ErasureStatus::Running),
                ..Default::default()
            })
            .await?
        {
            if e.host != host || crate::run::process_alive(e.pid) {
                continue;
            }
            let ports = super::subject_ports(&self.mesh, &e.subject_kind);
            self.authorize_erase(principal, &ports).await?;
            let claimed = self
                .catalog
                .claim_erasure(
                    &e.id,
                    (e.host.clone(), e.pid),
                    (host.clone(), std::process::id()),
                )
                .await?;
            if !claimed {
                continue; // another process took it over first
            }
            let secret = crate::secret::load(&self.mesh_dir)?;
            let mut hashes = std::collections::HashSet::new();
            let mut h = [0u8; 32];
            hex::decode_to_slice(&e.key_hash, &mut h).map_err(|_| {
                EngineError::Invalid(format!("erasure {} has a malformed key hash", e.id))
            })?;
            hashes.insert(h);
            let matcher = Matcher::Hashes {
                register_key: super::register_key(&secret).into(),
                kind: e.subject_kind.clone(),
                hashes: std::sync::Arc::new(hashes),
            };
            reports.push(self.carry_out(&e, &matcher, true, observer).await?);
        }
        Ok(reports)
    }

    /// Erases `req.subject` from every port holding its kind: first rolls forward
    /// interrupted erasures (their reports come first in the result), then this one. If
    /// an interrupted erasure was of the same subject, it is this erasure and no second
    /// one is started.
    pub async fn erase(
        &self,
        req: &EraseRequest,
        observer: &dyn Fn(EraseEvent<'_>),
    ) -> Result<Vec<Report>> {
        let ports = super::subject_ports(&self.mesh, &req.subject.kind);
        let principal = self
            .authorize_erase(req.principal.as_deref(), &ports)
            .await?;
        let secret = crate::secret::load(&self.mesh_dir)?;
        let key_hash = super::key_hash(
            &super::register_key(&secret),
            &req.subject.kind,
            &req.subject.key,
        );
        let mut reports = self
            .resume_erasures(req.principal.as_deref(), observer)
            .await?;
        if reports
            .iter()
            .any(|r| r.subject_kind == req.subject.kind && r.key_hash == key_hash)
        {
            return Ok(reports);
        }
        let plan: Vec<_> = ports
            .iter()
            .map(|p| json!({"table": p.table, "product": p.product, "columns": p.columns}))
            .collect();
        let record = NewErasure {
            id: uuid::Uuid::now_v7().to_string(),
            subject_kind: req.subject.kind.clone(),
            key_hash,
            principal,
            reason: req.reason.clone(),
            started_at: Utc::now(),
            host: crate::run::host_name(),
            pid: std::process::id(),
            plan: json!(plan),
        };
        self.catalog.start_erasure(&record).await?;
        let recorded = self
            .catalog
            .erasures(&ErasureQuery {
                id: Some(record.id.clone()),
                ..Default::default()
            })
            .await?
            .pop()
            .ok_or_else(|| EngineError::Invalid(format!("erasure {} vanished", record.id)))?;
        let matcher = Matcher::Key(req.subject.key.clone());
        reports.push(self.carry_out(&recorded, &matcher, false, observer).await?);
        Ok(reports)
    }

    /// Works through an erasure's plan from where its progress stands; finishes it with
    /// its report and audits it.
    async fn carry_out(
        &self,
        e: &ErasureRecord,
        matcher: &Matcher,
        resumed: bool,
        observer: &dyn Fn(EraseEvent<'_>),
    ) -> Result<Report> {
        let started = Instant::now();
        let planned: Vec<String> = e
            .plan
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.get("table").and_then(|t| t.as_str()).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut progress: serde_json::Map<String, serde_json::Value> = match &e.progress {
            serde_json::Value::Object(m) => m.clone(),
            _ => Default::default(),
        };
        let interruption = resumed.then(|| {
            let done: Vec<&str> = planned
                .iter()
                .filter(|t| progress.contains_key(t.as_str()))
                .map(String::as_str)
                .collect();
            let todo: Vec<&str> = planned
                .iter()
                .filter(|t| !progress.contains_key(t.as_str()))
                .map(String::as_str)
                .collect();
            format!(
                "the erasing process (host {}, pid {}) ended before finishing: {} of {} ports recorded done ({}); rolled forward: {}",
                e.host,
                e.pid,
                done.len(),
                planned.len(),
                if done.is_empty() { "none".into() } else { done.join(", ") },
                if todo.is_empty() { "none".into() } else { todo.join(", ") },
            )
        });
        observer(EraseEvent::Started {
            erasure: &e.id,
            ports: planned.len(),
        });
        let ports = super::subject_ports(&self.mesh, &e.subject_kind);
        let mut error = None;
        let mut erased_now = 0usize;
        for (index, table) in planned.iter().enumerate() {
            observer(EraseEvent::Port { index, table });
            if progress.contains_key(table) {
                continue;
            }
            let Some(port) = ports.iter().find(|p| &p.table == table) else {
                // The mesh changed since the plan: the port no longer marks the kind.
                let result = PortErased {
                    table: table.clone(),
                    version_before: None,
                    version_after: None,
                    rows_deleted: 0,
                    files_removed: 0,
                    files_added: 0,
                    outcome: "no longer holds this kind of subject".into(),
                };
                progress.insert(
                    table.clone(),
                    serde_json::to_value(&result).unwrap_or_default(),
                );
                continue;
            };
            let result = match self.erase_port(e, port, matcher).await {
                Ok(r) => r,
                Err(err) => {
                    error = Some(format!("{table}: {err}"));
                    break;
                }
            };
            observer(EraseEvent::PortDone { result: &result });
            abort_at("erase-after-commit", erased_now + 1);
            progress.insert(
                table.clone(),
                serde_json::to_value(&result).unwrap_or_default(),
            );
            self.catalog
                .erasure_progress(&e.id, &serde_json::Value::Object(progress.clone()))
                .await?;
            erased_now += 1;
            abort_at("erase-after-ports", erased_now);
        }
        let results: Vec<PortErased> = planned
            .iter()
            .filter_map(|t| progress.get(t))
            .filter_map(|v| serde_json::from_value(v.clone()).ok())
            .collect();
        let status = if error.is_some() {
            ErasureStatus::Failed
        } else {
            ErasureStatus::Completed
        };
        let report = Report {
            erasure_id: e.id.clone(),
            subject_kind: e.subject_kind.clone(),
            key_hash: e.key_hash.clone(),
            principal: e.principal.clone(),
            reason: e.reason.clone(),
            status: status.as_str().into(),
            started_at: e.started_at,
            finished_at: Utc::now(),
            duration_ms: started.elapsed().as_millis() as u64,
            resumed,
            interruption,
            rows_deleted: results.iter().map(|r| r.rows_deleted).sum(),
            ports: results,
            error: error.clone(),
        };
        let report_json = serde_json::to_value(&report).unwrap_or_default();
        self.catalog
            .finish_erasure(
                &e.id,
                &ErasureFinish {
                    status,
                    finished_at: report.finished_at,
                    progress: serde_json::Value::Object(progress),
                    report: report_json,
                },
            )
            .await?;
        let mut resources: Vec<serde_json::Value> = report
            .ports
            .iter()
            .map(|p| {
                json!({
                    "table": p.table, "version_before": p.version_before,
                    "version_after": p.version_after, "rows_deleted": p.rows_deleted,
                    "outcome": p.outcome,
                })
            })
            .collect();
        resources.push(json!({
            "erasure": report.erasure_id, "subject_kind": report.subject_kind,
            "key_hash": report.key_hash, "reason": report.reason, "resumed": report.resumed,
            "interruption": report.interruption, "rows_deleted": report.rows_deleted,
            "started_at": report.started_at, "finished_at": report.finished_at,
        }));
        self.audit_action(
            Some(&report.principal),
            None,
            "erase",
            json!(resources),
            if error.is_some() {
                AuditOutcome::Error
            } else {
                AuditOutcome::Ok
            },
            error.clone(),
        )
        .await?;
        if let Some(error) = error {
            return Err(EngineError::Invalid(format!(
                "erasure {} stopped: {error}\n  help: the subject is in the erasure register, so no build brings it back; run `tessera erase` again to finish the remaining ports (report: tessera erase report {})",
                e.id, e.id
            )));
        }
        Ok(report)
    }

    /// One port: if this erasure already committed to it (before a crash), that commit;
    /// else a Delta DELETE of the matching rows, recorded in the catalog.
    async fn erase_port(
        &self,
        e: &ErasureRecord,
        port: &SubjectPort,
        matcher: &Matcher,
    ) -> Result<PortErased> {
        let url = self.port_url(&port.key);
        let Some(latest) = self.storage.latest_version(&url).await? else {
            return Ok(PortErased {
                table: port.table.clone(),
                version_before: None,
                version_after: None,
                rows_deleted: 0,
                files_removed: 0,
                files_added: 0,
                outcome: "not published".into(),
            });
        };
        // Committed before an interruption? Look back through versions newer than the
        // erasure's start.
        let mut v = latest;
        while v >= 0 {
            let Some(info) = self.storage.commit_info(&url, v).await? else {
                break;
            };
            let ts = info.get("timestamp").and_then(|t| t.as_i64()).unwrap_or(0);
            if ts < e.started_at.timestamp_millis() {
                break;
            }
            if info.get("tessera.erasureId").and_then(|x| x.as_str()) == Some(e.id.as_str()) {
                let metrics = info.get("operationMetrics");
                let n = |k: &str| {
                    metrics
                        .and_then(|m| m.get(k))
                        .and_then(|x| x.as_u64())
                        .unwrap_or(0)
                };
                let result = PortErased {
                    table: port.table.clone(),
                    version_before: Some(v - 1),
                    version_after: Some(v),
                    rows_deleted: n("num_deleted_rows"),
                    files_removed: n("num_removed_files") as usize,
                    files_added: n("num_added_files") as usize,
                    outcome: "done before the interruption".into(),
                };
                self.record_erase_version(e, port, &result).await?;
                return Ok(result);
            }
            v -= 1;
        }
        let Some(mut predicate) = filter::matching(matcher, &port.columns) else {
            return Err(EngineError::Invalid(format!(
                "{}: no subject-key columns to match",
                port.table
            )));
        };
        // File statistics: with one integer key column, only files whose [min, max] holds
        // the key can hold the subject. None: nothing to delete, no commit. Some: the DELETE
        // is narrowed to their combined range, so Delta skips the other files (the range,
        // not the key, is what the log's predicate shows).
        if let (Matcher::Key(key), [column]) = (matcher, port.columns.as_slice())
            && let Ok(k) = key.parse::<i64>()
            && let Some(ranges) = self.storage.integer_ranges(&url, column).await?
        {
            let candidates: Vec<_> = ranges
                .iter()
                .filter(|r| r.is_none_or(|(lo, hi)| lo <= k && k <= hi))
                .collect();
            if candidates.is_empty() {
                return Ok(PortErased {
                    table: port.table.clone(),
                    version_before: Some(latest),
                    version_after: None,
                    rows_deleted: 0,
                    files_removed: 0,
                    files_added: 0,
                    outcome: "no rows (no file's statistics admit the key)".into(),
                });
            }
            if candidates.iter().all(|r| r.is_some()) {
                let lo = candidates.iter().filter_map(|r| r.map(|x| x.0)).min();
                let hi = candidates.iter().filter_map(|r| r.map(|x| x.1)).max();
                if let (Some(lo), Some(hi)) = (lo, hi) {
                    let c = datafusion::prelude::ident(column);
                    predicate = predicate
                        .and(c.clone().gt_eq(datafusion::prelude::lit(lo)))
                        .and(c.lt_eq(datafusion::prelude::lit(hi)));
                }
            }
        }
        let metadata = vec![
            ("tessera.operation".to_string(), json!("erase")),
            ("tessera.erasureId".to_string(), json!(e.id)),
            ("tessera.product".to_string(), json!(port.product)),
        ];
        let deleted = self
            .storage
            .delete(&url, tessera_storage::Predicate::Expr(predicate), metadata)
            .await?
            .ok_or_else(|| EngineError::Invalid(format!("{}: the table vanished", port.table)))?;
        let result = PortErased {
            table: port.table.clone(),
            version_before: Some(deleted.version_before),
            version_after: deleted.version_after,
            rows_deleted: deleted.rows_deleted,
            files_removed: deleted.files_removed,
            files_added: deleted.files_added,
            outcome: if deleted.version_after.is_some() {
                "deleted".into()
            } else {
                "no rows".into()
            },
        };
        self.record_erase_version(e, port, &result).await?;
        Ok(result)
    }

    /// Records an erase commit as a port version: the rows left, and the content hash and
    /// contract version of the version it changed (the same inputs, less the subject), so
    /// an unchanged product is still skipped by the next publish.
    async fn record_erase_version(
        &self,
        e: &ErasureRecord,
        port: &SubjectPort,
        result: &PortErased,
    ) -> Result<()> {
        let (Some(after), Some(before)) = (result.version_after, result.version_before) else {
            return Ok(());
        };
        let versions = self.catalog.versions(&port.key).await?;
        let Some(prev) = versions.iter().rev().find(|v| v.version <= before) else {
            return Ok(());
        };
        let recorded = self
            .catalog
            .record_version(&VersionRecord {
                key: port.key.clone(),
                version: after,
                run_id: e.id.clone(),
                rows: (prev.rows - result.rows_deleted as i64).max(0),
                content_hash: prev.content_hash.clone(),
                contract_version: prev.contract_version.clone(),
                committed_at: Utc::now(),
            })
            .await;
        match recorded {
            Ok(()) | Err(tessera_catalog::CatalogError::Conflict(_)) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Recorded erasures, newest first (`id` for one).
    pub async fn erasure_reports(&self, id: Option<&str>) -> Result<Vec<ErasureRecord>> {
        Ok(self
            .catalog
            .erasures(&ErasureQuery {
                id: id.map(str::to_string),
                ..Default::default()
            })
            .await?)
    }
}
