//! Erasures of data subjects and the erasure register: what the catalog keeps of them.
//!
//! ```text
//!   start_erasure(NewErasure)  ── one transaction ──▶ erasures row (status running, plan)
//!                                                 └─▶ erasure_register (kind, key_hash)
//!   erasure_progress(id, progress)                    after each port, while running
//!   claim_erasure(id, from, to)                       a later process takes over a dead one's
//!   finish_erasure(id, ErasureFinish)                 completed / failed, with the report
//!   erasure_register()                                what every build filters out
//! ```
//!
//! The subject is never in clear here: `key_hash` is a keyed hash the caller computes
//! (see `tessera_engine::privacy`); the store only checks that it looks like one (64
//! lowercase hex digits), so a caller that passes the key itself by mistake is refused
//! without the key being repeated. A register entry is never removed: erasure is forever.

use chrono::{DateTime, Utc};

use crate::{CatalogError, Result};

/// Where an erasure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErasureStatus {
    /// Started, not finished: in progress, or its process died (see `host`/`pid`).
    Running,
    /// Every planned port was erased.
    Completed,
    /// It stopped on an error; the report says which ports were done.
    Failed,
}

impl ErasureStatus {
    pub const ALL: [ErasureStatus; 3] = [
        ErasureStatus::Running,
        ErasureStatus::Completed,
        ErasureStatus::Failed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ErasureStatus::Running => "running",
            ErasureStatus::Completed => "completed",
            ErasureStatus::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Option<ErasureStatus> {
        ErasureStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for ErasureStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An erasure as it starts: its plan is recorded, and the subject enters the register, in
/// one transaction.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NewErasure {
    pub id: String,
    pub subject_kind: String,
    /// Hex HMAC-SHA256 of the subject (64 lowercase hex digits), never the key itself.
    pub key_hash: String,
    pub principal: String,
    pub reason: Option<String>,
    pub started_at: DateTime<Utc>,
    pub host: String,
    pub pid: u32,
    pub plan: serde_json::Value,
}

/// How an erasure ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ErasureFinish {
    pub status: ErasureStatus,
    pub finished_at: DateTime<Utc>,
    pub progress: serde_json::Value,
    pub report: serde_json::Value,
}

/// An erasure as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ErasureRecord {
    pub id: String,
    pub subject_kind: String,
    pub key_hash: String,
    pub status: ErasureStatus,
    pub principal: String,
    pub reason: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub host: String,
    pub pid: u32,
    pub plan: serde_json::Value,
    pub progress: serde_json::Value,
    pub report: Option<serde_json::Value>,
}

/// One erased subject, as builds see it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct RegisterEntry {
    pub subject_kind: String,
    pub key_hash: String,
    pub erasure_id: String,
    pub recorded_at: DateTime<Utc>,
}

/// Which erasures to list (newest first).
#[derive(Debug, Clone, Default)]
pub struct ErasureQuery {
    pub status: Option<ErasureStatus>,
    /// `(kind, key_hash)`: one subject's erasures.
    pub subject: Option<(String, String)>,
    pub id: Option<String>,
}

pub(crate) fn check_new_erasure(e: &NewErasure) -> Result<()> {
    let ok = e.key_hash.len() == 64
        && e.key_hash
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !ok {
        return Err(CatalogError::InvalidArgument(format!(
            "cannot record erasure {}: its key_hash is not 64 lowercase hex digits\n  \
             help: pass the keyed hash of the subject, never the subject's key itself",
            e.id
        )));
    }
    if e.subject_kind.is_empty() {
        return Err(CatalogError::InvalidArgument(format!(
            "cannot record erasure {}: its subject kind is empty",
            e.id
        )));
    }
    Ok(())
}

pub(crate) fn erasure(row: &impl crate::sql::Columns) -> Result<ErasureRecord> {
    let status = row.text("status")?;
    Ok(ErasureRecord {
        id: row.text("id")?,
        subject_kind: row.text("subject_kind")?,
        key_hash: row.text("key_hash")?,
        status: ErasureStatus::parse(&status).ok_or_else(|| {
            CatalogError::Conflict(format!(
                "erasure status `{status}` is not one this build knows (running, completed, failed)"
            ))
        })?,
        principal: row.text("principal")?,
        reason: row.opt_text("reason")?,
        started_at: row.time("started_at")?,
        finished_at: row.opt_time("finished_at")?,
        host: row.text("host")?,
        pid: row.int("pid")? as u32,
        plan: row.json("plan")?,
        progress: row.json("progress")?,
        report: match row.opt_text("report")? {
            Some(_) => Some(row.json("report")?),
            None => None,
        },
    })
}

pub(crate) fn register_entry(row: &impl crate::sql::Columns) -> Result<RegisterEntry> {
    Ok(RegisterEntry {
        subject_kind: row.text("subject_kind")?,
        key_hash: row.text("key_hash")?,
        erasure_id: row.text("erasure_id")?,
        recorded_at: row.time("recorded_at")?,
    })
}

pub(crate) const ERASURE_COLUMNS: &str = "id, subject_kind, key_hash, status, principal, reason, \
     started_at, finished_at, host, pid, plan, progress, report";

pub(crate) const INSERT_ERASURE: &str = "INSERT INTO erasures (id, subject_kind, key_hash, status, \
     principal, reason, started_at, host, pid, plan, progress) \
     VALUES ($1, $2, $3, 'running', $4, $5, $6, $7, $8, $9, '{}') ON CONFLICT (id) DO NOTHING";
pub(crate) const INSERT_REGISTER: &str = "INSERT INTO erasure_register \
     (subject_kind, key_hash, erasure_id, recorded_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (subject_kind, key_hash) DO NOTHING";
pub(crate) const UPDATE_PROGRESS: &str =
    "UPDATE erasures SET progress = $2 WHERE id = $1 AND status = 'running'";
pub(crate) const CLAIM: &str = "UPDATE erasures SET host = $4, pid = $5 \
     WHERE id = $1 AND status = 'running' AND host = $2 AND pid = $3";
pub(crate) const FINISH: &str = "UPDATE erasures SET status = $2, finished_at = $3, progress = $4, \
     report = $5 WHERE id = $1 AND status = 'running'";
pub(crate) const REGISTER: &str = "SELECT subject_kind, key_hash, erasure_id, recorded_at \
     FROM erasure_register ORDER BY subject_kind, key_hash";

pub(crate) fn not_running(id: &str, action: &str) -> CatalogError {
    CatalogError::Conflict(format!(
        "cannot {action} erasure {id}: it is not recorded as running (unknown, finished, or \
         taken over by another process)"
    ))
}

/// The `CatalogStore` erasure methods' bodies, written once for both backends (expanded
/// inside `impl_catalog_store!`). Each arm is an expression, so `async_trait` sees plain
/// method bodies.
macro_rules! erasure_body {
    (start, $self:ident, $e:ident) => {{
        $crate::erasures::check_new_erasure($e)?;
        let mut tx = $self.write_tx().await?;
        let inserted = sqlx::query($crate::erasures::INSERT_ERASURE)
            .bind(&$e.id)
            .bind(&$e.subject_kind)
            .bind(&$e.key_hash)
            .bind(&$e.principal)
            .bind(&$e.reason)
            .bind($crate::sql::time_text(&$e.started_at))
            .bind(&$e.host)
            .bind(i64::from($e.pid))
            .bind($crate::sql::json_text(&$e.plan))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if inserted == 0 {
            return Err($crate::CatalogError::Conflict(format!(
                "erasure {} is already recorded\n  help: each erasure needs a new id",
                $e.id
            )));
        }
        sqlx::query($crate::erasures::INSERT_REGISTER)
            .bind(&$e.subject_kind)
            .bind(&$e.key_hash)
            .bind(&$e.id)
            .bind($crate::sql::time_text(&$e.started_at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }};
    (progress, $self:ident, $id:ident, $progress:ident) => {{
        let mut tx = $self.write_tx().await?;
        let n = sqlx::query($crate::erasures::UPDATE_PROGRESS)
            .bind($id)
            .bind($crate::sql::json_text($progress))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err($crate::erasures::not_running($id, "record progress of"));
        }
        tx.commit().await?;
        Ok(())
    }};
    (claim, $self:ident, $id:ident, $from:ident, $to:ident) => {{
        let mut tx = $self.write_tx().await?;
        let n = sqlx::query($crate::erasures::CLAIM)
            .bind($id)
            .bind(&$from.0)
            .bind(i64::from($from.1))
            .bind(&$to.0)
            .bind(i64::from($to.1))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }};
    (finish, $self:ident, $id:ident, $f:ident) => {{
        if $f.status == $crate::ErasureStatus::Running {
            return Err($crate::CatalogError::InvalidArgument(format!(
                "cannot finish erasure {} as running",
                $id
            )));
        }
        let mut tx = $self.write_tx().await?;
        let n = sqlx::query($crate::erasures::FINISH)
            .bind($id)
            .bind($f.status.as_str())
            .bind($crate::sql::time_text(&$f.finished_at))
            .bind($crate::sql::json_text(&$f.progress))
            .bind($crate::sql::json_text(&$f.report))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err($crate::erasures::not_running($id, "finish"));
        }
        tx.commit().await?;
        Ok(())
    }};
    (list, $self:ident, $db:ty, $q:ident) => {{
        let mut sql = sqlx::QueryBuilder::<$db>::new(format!(
            "SELECT {} FROM erasures WHERE 1 = 1",
            $crate::erasures::ERASURE_COLUMNS
        ));
        if let Some(status) = $q.status {
            sql.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some((kind, hash)) = &$q.subject {
            sql.push(" AND subject_kind = ")
                .push_bind(kind.clone())
                .push(" AND key_hash = ")
                .push_bind(hash.clone());
        }
        if let Some(id) = &$q.id {
            sql.push(" AND id = ").push_bind(id.clone());
        }
        sql.push(" ORDER BY started_at DESC, id DESC");
        let rows = sql.build().fetch_all($self.reader()).await?;
        rows.iter().map($crate::erasures::erasure).collect()
    }};
    (register, $self:ident) => {{
        let rows = sqlx::query($crate::erasures::REGISTER)
            .fetch_all($self.reader())
            .await?;
        rows.iter().map($crate::erasures::register_entry).collect()
    }};
}
pub(crate) use erasure_body;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_key_in_clear_is_refused_without_being_repeated() {
        let e = NewErasure {
            id: "e1".into(),
            subject_kind: "customer".into(),
            key_hash: "4711".into(),
            principal: "dpo".into(),
            reason: None,
            started_at: Utc::now(),
            host: "h".into(),
            pid: 1,
            plan: serde_json::json!([]),
        };
        let err = check_new_erasure(&e).unwrap_err().to_string();
        assert!(err.contains("not 64 lowercase hex digits"), "{err}");
        assert!(!err.contains("4711"), "{err}");
        let ok = NewErasure {
            key_hash: "ab".repeat(32),
            ..e
        };
        check_new_erasure(&ok).unwrap();
    }
}
