//! Retention from contracts (GDPR Art. 5(1)(e), storage limitation): each port whose
//! contract declares `slaProperties: [{property: retention, value, unit, element}]` keeps
//! rows whose `element` column (`<object>.<column>`) is within the retention; `tessera
//! retention apply` deletes the older ones as a new Delta version and records what it did
//! in the audit log.
//!
//! ```text
//!  contract retention (3 y, customers.signup_date) ─▶ cutoff = now − 3 years
//!    ─▶ DELETE FROM port WHERE signup_date < cutoff ─▶ version N+1 (tessera.operation = retention)
//! ```
//!
//! Units: `d`/`day(s)`, `w`/`week(s)`, `m`/`month(s)`, `y`/`yr`/`year(s)`. A retention
//! without `element` cannot be enforced on rows and is reported as such.

use chrono::{DateTime, Months, Utc};
use serde::Serialize;
use serde_json::json;
use tessera_catalog::{AuditOutcome, VersionRecord};

use crate::{Engine, EngineError, Result};

#[derive(Debug, Clone, Serialize)]
pub struct RetentionRule {
    pub table: String,
    pub product: String,
    pub column: Option<String>,
    /// As written: `3 y`.
    pub retention: String,
    pub cutoff: Option<DateTime<Utc>>,
    /// Why the rule cannot be applied, if it cannot.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetentionApplied {
    pub rule: RetentionRule,
    pub version_before: Option<i64>,
    pub version_after: Option<i64>,
    pub rows_deleted: u64,
}

/// `now` minus `value` `unit`s, or why not.
pub fn cutoff(
    now: DateTime<Utc>,
    value: &serde_json::Value,
    unit: Option<&str>,
) -> std::result::Result<DateTime<Utc>, String> {
    let n = value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| format!("value `{value}` is not a whole number"))?;
    let unit = unit.unwrap_or("d").to_ascii_lowercase();
    let days = |d: u64| now.checked_sub_signed(chrono::Duration::days(d as i64));
    let months = |m: u64| now.checked_sub_months(Months::new(m.min(u32::MAX as u64) as u32));
    let t = match unit.as_str() {
        "d" | "day" | "days" => days(n),
        "w" | "week" | "weeks" => days(n * 7),
        "m" | "month" | "months" => months(n),
        "y" | "yr" | "year" | "years" => months(n * 12),
        other => return Err(format!("unit `{other}` is not one of d, w, m (months), y")),
    };
    t.ok_or_else(|| "the retention reaches before the calendar starts".into())
}

impl Engine {
    /// The retention rules of every port's contract, with their cutoffs at `now`.
    pub fn retention_rules(&self, now: DateTime<Utc>) -> Vec<RetentionRule> {
        let mut out = Vec::new();
        for product in self.mesh.products() {
            for port in &product.ports {
                let Some(contract) = &port.contract else {
                    continue;
                };
                for sla in contract.sla.iter().filter(|s| s.property == "retention") {
                    let table = format!("{}.{}", product.domain, port.name);
                    let retention = format!("{} {}", sla.value, sla.unit.as_deref().unwrap_or("d"));
                    let column = sla
                        .element
                        .as_deref()
                        .map(|e| e.rsplit('.').next().unwrap_or(e).to_string());
                    let mut problem = None;
                    let cutoff = match cutoff(now, &sla.value, sla.unit.as_deref()) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            problem =
                                Some(format!("{}: slaProperties retention: {e}", contract.file));
                            None
                        }
                    };
                    if column.is_none() {
                        problem = Some(format!(
                            "{}: slaProperties retention has no `element` (the column it applies to, e.g. {}.updated_at), so rows cannot be aged",
                            contract.file, port.name
                        ));
                    }
                    out.push(RetentionRule {
                        table,
                        product: product.reference().to_string(),
                        column,
                        retention,
                        cutoff,
                        problem,
                    });
                }
            }
        }
        out
    }

    /// Deletes the rows older than each port's retention (dry run: counts nothing, changes
    /// nothing, returns the rules). Audited as `retention`.
    pub async fn retention_apply(
        &self,
        principal: Option<&str>,
        observer: &(dyn Fn(usize, usize, &str) + Sync),
    ) -> Result<Vec<RetentionApplied>> {
        let now = Utc::now();
        let run_id = format!("retention-{}", uuid::Uuid::now_v7());
        let rules = self.retention_rules(now);
        let mut out = Vec::new();
        for (i, rule) in rules.into_iter().enumerate() {
            observer(i, out.len() + 1, &rule.table);
            let (Some(column), Some(cut), None) = (&rule.column, rule.cutoff, &rule.problem) else {
                out.push(RetentionApplied {
                    rule,
                    version_before: None,
                    version_after: None,
                    rows_deleted: 0,
                });
                continue;
            };
            let (domain, port) = rule.table.split_once('.').expect("a table is domain.port");
            let product = rule
                .product
                .split_once('/')
                .map(|(_, p)| p)
                .unwrap_or_default();
            let key = tessera_catalog::PortKey::new(domain, product, port);
            let url = self.port_url(&key);
            // The cutoff is a time, not personal data, so it may be in the Delta log.
            // A text literal, which DataFusion coerces to the column's date or timestamp
            // type (deltalake cannot write every CAST into the log's predicate).
            let predicate = format!("\"{column}\" < '{}'", cut.format("%Y-%m-%dT%H:%M:%SZ"));
            let metadata = vec![
                ("tessera.operation".to_string(), json!("retention")),
                ("tessera.retentionRun".to_string(), json!(run_id)),
                ("tessera.product".to_string(), json!(rule.product)),
            ];
            let deleted = self
                .storage
                .delete(&url, tessera_storage::Predicate::Sql(predicate), metadata)
                .await
                .map_err(|e| {
                    EngineError::Invalid(format!("{} (retention on {column}): {e}", rule.table))
                })?;
            let Some(d) = deleted else {
                out.push(RetentionApplied {
                    rule,
                    version_before: None,
                    version_after: None,
                    rows_deleted: 0,
                });
                continue;
            };
            if let Some(after) = d.version_after {
                let versions = self.catalog.versions(&key).await?;
                if let Some(prev) = versions
                    .iter()
                    .rev()
                    .find(|v| v.version <= d.version_before)
                {
                    let r = self
                        .catalog
                        .record_version(&VersionRecord {
                            key: key.clone(),
                            version: after,
                            run_id: run_id.clone(),
                            rows: (prev.rows - d.rows_deleted as i64).max(0),
                            content_hash: prev.content_hash.clone(),
                            contract_version: prev.contract_version.clone(),
                            committed_at: Utc::now(),
                        })
                        .await;
                    match r {
                        Ok(()) | Err(tessera_catalog::CatalogError::Conflict(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            out.push(RetentionApplied {
                rule,
                version_before: Some(d.version_before),
                version_after: d.version_after,
                rows_deleted: d.rows_deleted,
            });
        }
        let resources: Vec<_> = out
            .iter()
            .map(|a| {
                json!({"table": a.rule.table, "column": a.rule.column, "retention": a.rule.retention,
                       "cutoff": a.rule.cutoff, "version_before": a.version_before,
                       "version_after": a.version_after, "rows_deleted": a.rows_deleted,
                       "problem": a.rule.problem})
            })
            .collect();
        self.audit_action(
            principal,
            None,
            "retention",
            json!(resources),
            AuditOutcome::Ok,
            None,
        )
        .await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoffs_count_back_in_calendar_units() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |v: serde_json::Value, u: &str| cutoff(now, &v, Some(u)).unwrap().to_rfc3339();
        assert_eq!(at(json!(3), "y"), "2023-11-25T00:00:00+00:00");
        assert_eq!(at(json!(13), "month"), "2025-10-25T00:00:00+00:00");
        assert_eq!(at(json!("30"), "d"), "2026-10-26T00:00:00+00:00");
        assert!(
            cutoff(now, &json!(1), Some("fortnight"))
                .unwrap_err()
                .contains("unit")
        );
        assert!(
            cutoff(now, &json!(-1), Some("d"))
                .unwrap_err()
                .contains("whole number")
        );
    }
}
