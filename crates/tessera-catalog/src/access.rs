//! Access requests and the grants they become: what the catalog keeps of them.
//!
//! ```text
//!   create_access_request(NewAccessRequest) ──▶ row, status requested
//!   decide_access_request(id, AccessDecision)
//!        requested ──▶ approved (optional expires_at: a grant) │ denied │ withdrawn
//!        approved  ──▶ revoked  (revoked_by, revoked_at; the approval is kept)
//!   access_requests(AccessQuery)       newest first; `active_at` = the grants at a time
//! ```
//!
//! The store keeps the state machine and nothing else: who may ask, decide or see a
//! request is the engine's decision (Cedar's `approve_access`), and names (`domain.port`,
//! purposes, principals) are taken as given. A request leaves `requested` exactly once,
//! under concurrency too (the update is conditional on the status it expects); a second
//! decision is a [`Conflict`](crate::CatalogError::Conflict) that names the first. A
//! principal has at most one open request per port and purpose (a unique index on the
//! open rows). Rows are never deleted.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::{CatalogError, Result, UnknownVariant};

/// Where an access request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessStatus {
    /// Asked, not decided yet.
    Requested,
    /// Granted (until `expires_at`, when set).
    Approved,
    /// Refused, with a reason.
    Denied,
    /// Taken back by the requester before anyone decided.
    Withdrawn,
    /// An approved grant taken back.
    Revoked,
}

impl AccessStatus {
    pub const ALL: [AccessStatus; 5] = [
        AccessStatus::Requested,
        AccessStatus::Approved,
        AccessStatus::Denied,
        AccessStatus::Withdrawn,
        AccessStatus::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccessStatus::Requested => "requested",
            AccessStatus::Approved => "approved",
            AccessStatus::Denied => "denied",
            AccessStatus::Withdrawn => "withdrawn",
            AccessStatus::Revoked => "revoked",
        }
    }

    /// The status a request must be in to move to `self` (`None` for `Requested`, which
    /// only a new request has).
    pub fn decided_from(self) -> Option<AccessStatus> {
        match self {
            AccessStatus::Requested => None,
            AccessStatus::Approved | AccessStatus::Denied | AccessStatus::Withdrawn => {
                Some(AccessStatus::Requested)
            }
            AccessStatus::Revoked => Some(AccessStatus::Approved),
        }
    }
}

impl FromStr for AccessStatus {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AccessStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVariant {
                what: "access request status",
                got: s.to_string(),
                expected: AccessStatus::ALL.map(AccessStatus::as_str).join(", "),
            })
    }
}

impl fmt::Display for AccessStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request as it is made. The caller picks the id (a UUID v7 as text).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NewAccessRequest {
    pub id: String,
    /// Who asks, and who is granted if it is approved.
    pub principal: String,
    /// `domain.port`.
    pub port: String,
    pub purpose: String,
    pub justification: String,
    pub created_at: DateTime<Utc>,
}

/// A decision on a request: `status` is `Approved`, `Denied`, `Withdrawn` (from
/// `Requested`) or `Revoked` (from `Approved`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AccessDecision {
    pub status: AccessStatus,
    /// Who decided.
    pub by: String,
    pub at: DateTime<Utc>,
    /// Why (kept for approve, deny and withdraw; a revocation's reason goes to the audit
    /// log only, the approval's is kept).
    pub reason: Option<String>,
    /// Approve only: when the grant ends.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An access request as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AccessRequestRecord {
    pub id: String,
    pub principal: String,
    pub port: String,
    pub purpose: String,
    pub justification: String,
    pub status: AccessStatus,
    pub created_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl AccessRequestRecord {
    /// Whether this is a grant in force at `at`: approved and not expired (an expiry at
    /// exactly `at` has ended it).
    pub fn is_active(&self, at: DateTime<Utc>) -> bool {
        self.status == AccessStatus::Approved && self.expires_at.is_none_or(|end| end > at)
    }
}

/// Which requests to list (newest first, by `created_at` then id). Every filter set must
/// hold.
#[derive(Debug, Clone, Default)]
pub struct AccessQuery {
    pub id: Option<String>,
    /// The requester.
    pub principal: Option<String>,
    /// Requests for any of these ports (`domain.port`); `Some(vec![])` matches nothing.
    pub ports: Option<Vec<String>>,
    pub purpose: Option<String>,
    pub status: Option<AccessStatus>,
    /// Only grants in force at this time: approved, and `expires_at` NULL or later.
    pub active_at: Option<DateTime<Utc>>,
    pub limit: Option<u64>,
}

pub(crate) fn check_new_request(r: &NewAccessRequest) -> Result<()> {
    let empty = [
        ("principal", &r.principal),
        ("port", &r.port),
        ("purpose", &r.purpose),
    ]
    .into_iter()
    .find(|(_, v)| v.trim().is_empty());
    if let Some((field, _)) = empty {
        return Err(CatalogError::InvalidArgument(format!(
            "cannot record access request {}: its {field} is empty",
            r.id
        )));
    }
    Ok(())
}

pub(crate) fn check_decision(id: &str, d: &AccessDecision) -> Result<()> {
    if d.status == AccessStatus::Requested {
        return Err(CatalogError::InvalidArgument(format!(
            "cannot decide access request {id} as requested\n  \
             help: decide it as approved, denied, withdrawn or revoked"
        )));
    }
    if d.expires_at.is_some() && d.status != AccessStatus::Approved {
        return Err(CatalogError::InvalidArgument(format!(
            "cannot decide access request {id} as {} with an expiry: only an approval has one",
            d.status
        )));
    }
    if d.by.trim().is_empty() {
        return Err(CatalogError::InvalidArgument(format!(
            "cannot decide access request {id}: the decider is empty"
        )));
    }
    Ok(())
}

pub(crate) fn record(row: &impl crate::sql::Columns) -> Result<AccessRequestRecord> {
    let status = row.text("status")?;
    Ok(AccessRequestRecord {
        id: row.text("id")?,
        principal: row.text("principal")?,
        port: row.text("port")?,
        purpose: row.text("purpose")?,
        justification: row.text("justification")?,
        status: status.parse().map_err(|e| sqlx::Error::ColumnDecode {
            index: "status".into(),
            source: Box::new(e),
        })?,
        created_at: row.time("created_at")?,
        decided_by: row.opt_text("decided_by")?,
        decided_at: row.opt_time("decided_at")?,
        reason: row.opt_text("reason")?,
        expires_at: row.opt_time("expires_at")?,
        revoked_by: row.opt_text("revoked_by")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}

/// Why a decision changed nothing: the request is unknown, or not in the status the
/// decision needs (the message says which it is in, and who decided it).
pub(crate) fn undecidable(
    id: &str,
    d: &AccessDecision,
    found: Option<AccessRequestRecord>,
) -> CatalogError {
    let Some(r) = found else {
        return CatalogError::NotFound(format!(
            "no access request has the id {id}\n  help: `tessera access list` shows the ids"
        ));
    };
    let verb = match d.status {
        AccessStatus::Approved => "approve",
        AccessStatus::Denied => "deny",
        AccessStatus::Withdrawn => "withdraw",
        AccessStatus::Revoked => "revoke",
        AccessStatus::Requested => "reopen",
    };
    let by = match (&r.status, &r.revoked_by, &r.decided_by) {
        (AccessStatus::Revoked, Some(who), _) => format!(" by {who}"),
        (_, _, Some(who)) => format!(" by {who}"),
        _ => String::new(),
    };
    let when = match (&r.status, r.revoked_at, r.decided_at) {
        (AccessStatus::Revoked, Some(t), _) => format!(" at {}", crate::sql::time_text(&t)),
        (_, _, Some(t)) => format!(" at {}", crate::sql::time_text(&t)),
        _ => String::new(),
    };
    let need = d.status.decided_from().map_or("", AccessStatus::as_str);
    CatalogError::Conflict(format!(
        "cannot {verb} access request {id}: it is {}{by}{when}, not {need}\n  \
         help: a decision is final; ask for access again with a new request",
        r.status
    ))
}

pub(crate) const COLUMNS: &str = "id, principal, port, purpose, justification, status, \
     created_at, decided_by, decided_at, reason, expires_at, revoked_by, revoked_at";

/// No conflict target: a clash on the id or on the one open request per principal, port
/// and purpose inserts nothing.
pub(crate) const INSERT: &str = "INSERT INTO access_requests \
     (id, principal, port, purpose, justification, status, created_at) \
     VALUES ($1, $2, $3, $4, $5, 'requested', $6) ON CONFLICT DO NOTHING";
/// What made an insert do nothing: the id `$1`, or an open request of `$2` for `$3`, `$4`.
pub(crate) const HOLDERS: &str = "SELECT id FROM access_requests WHERE id = $1 \
     OR (principal = $2 AND port = $3 AND purpose = $4 AND status = 'requested') ORDER BY id";
/// Moves `$1` from status `$3` to `$2`; affects no row when it is not in `$3` (a second
/// decider waits for the first's row lock, then sees the new status).
pub(crate) const DECIDE: &str = "UPDATE access_requests SET status = $2, decided_by = $4, \
     decided_at = $5, reason = $6, expires_at = $7 WHERE id = $1 AND status = $3";
pub(crate) const BY_ID: &str = "SELECT id, principal, port, purpose, justification, status, \
     created_at, decided_by, decided_at, reason, expires_at, revoked_by, revoked_at \
     FROM access_requests WHERE id = $1";
pub(crate) const REVOKE: &str = "UPDATE access_requests SET status = 'revoked', \
     revoked_by = $2, revoked_at = $3 WHERE id = $1 AND status = 'approved'";

/// The `CatalogStore` access-request methods' bodies, written once for both backends
/// (expanded inside `impl_catalog_store!`).
macro_rules! access_body {
    (create, $self:ident, $r:ident) => {{
        use $crate::sql::Columns as _;
        $crate::access::check_new_request($r)?;
        let mut tx = $self.write_tx().await?;
        let inserted = sqlx::query($crate::access::INSERT)
            .bind(&$r.id)
            .bind(&$r.principal)
            .bind(&$r.port)
            .bind(&$r.purpose)
            .bind(&$r.justification)
            .bind($crate::sql::time_text(&$r.created_at))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if inserted == 1 {
            tx.commit().await?;
            return Ok(());
        }
        let holders = sqlx::query($crate::access::HOLDERS)
            .bind(&$r.id)
            .bind(&$r.principal)
            .bind(&$r.port)
            .bind(&$r.purpose)
            .fetch_all(&mut *tx)
            .await?;
        let ids = holders
            .iter()
            .map(|row| row.text("id"))
            .collect::<$crate::Result<Vec<String>>>()?;
        Err($crate::CatalogError::Conflict(
            if ids.iter().any(|id| *id == $r.id) {
                format!(
                    "access request {} is already recorded\n  help: each request needs a new id",
                    $r.id
                )
            } else {
                format!(
                    "{} already has an open request for {} for purpose {}: {}\n  \
                     help: wait for the port's owners to decide it, or withdraw it first",
                    $r.principal,
                    $r.port,
                    $r.purpose,
                    ids.first()
                        .map_or("(decided meanwhile; try again)", String::as_str)
                )
            },
        ))
    }};
    (decide, $self:ident, $id:ident, $d:ident) => {{
        $crate::access::check_decision($id, $d)?;
        let from = $d
            .status
            .decided_from()
            .expect("check_decision refused Requested");
        let mut tx = $self.write_tx().await?;
        let changed = if $d.status == $crate::AccessStatus::Revoked {
            sqlx::query($crate::access::REVOKE)
                .bind($id)
                .bind(&$d.by)
                .bind($crate::sql::time_text(&$d.at))
                .execute(&mut *tx)
                .await?
        } else {
            sqlx::query($crate::access::DECIDE)
                .bind($id)
                .bind($d.status.as_str())
                .bind(from.as_str())
                .bind(&$d.by)
                .bind($crate::sql::time_text(&$d.at))
                .bind(&$d.reason)
                .bind($d.expires_at.as_ref().map($crate::sql::time_text))
                .execute(&mut *tx)
                .await?
        }
        .rows_affected();
        let row = sqlx::query($crate::access::BY_ID)
            .bind($id)
            .fetch_optional(&mut *tx)
            .await?;
        let found = row.as_ref().map($crate::access::record).transpose()?;
        if changed == 0 {
            return Err($crate::access::undecidable($id, $d, found));
        }
        tx.commit().await?;
        Ok(found.expect("the row just updated"))
    }};
    (list, $self:ident, $db:ty, $q:ident) => {{
        let mut sql = sqlx::QueryBuilder::<$db>::new(format!(
            "SELECT {} FROM access_requests WHERE 1 = 1",
            $crate::access::COLUMNS
        ));
        if let Some(id) = &$q.id {
            sql.push(" AND id = ").push_bind(id.clone());
        }
        if let Some(principal) = &$q.principal {
            sql.push(" AND principal = ").push_bind(principal.clone());
        }
        if let Some(ports) = &$q.ports {
            if ports.is_empty() {
                sql.push(" AND 1 = 0");
            } else {
                sql.push(" AND port IN (");
                let mut list = sql.separated(", ");
                for port in ports {
                    list.push_bind(port.clone());
                }
                sql.push(")");
            }
        }
        if let Some(purpose) = &$q.purpose {
            sql.push(" AND purpose = ").push_bind(purpose.clone());
        }
        if let Some(status) = $q.status {
            sql.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(at) = &$q.active_at {
            sql.push(" AND status = 'approved' AND (expires_at IS NULL OR expires_at > ")
                .push_bind($crate::sql::time_text(at))
                .push(")");
        }
        sql.push(" ORDER BY created_at DESC, id DESC");
        if let Some(limit) = $q.limit {
            sql.push(" LIMIT ")
                .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        let rows = sql.build().fetch_all($self.reader()).await?;
        rows.iter().map($crate::access::record).collect()
    }};
}
pub(crate) use access_body;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_back_and_name_the_ones_known() {
        for s in AccessStatus::ALL {
            assert_eq!(s.as_str().parse::<AccessStatus>().unwrap(), s);
        }
        let err = "granted".parse::<AccessStatus>().unwrap_err();
        assert_eq!(
            err.expected,
            "requested, approved, denied, withdrawn, revoked"
        );
    }

    #[test]
    fn an_expiry_is_the_end_of_a_grant() {
        let t = |s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let mut r = AccessRequestRecord {
            id: "a".into(),
            principal: "p".into(),
            port: "crm.customers".into(),
            purpose: "analytics".into(),
            justification: String::new(),
            status: AccessStatus::Approved,
            created_at: t("2026-01-01T00:00:00Z"),
            decided_by: Some("o".into()),
            decided_at: Some(t("2026-01-01T00:00:00Z")),
            reason: None,
            expires_at: Some(t("2026-02-01T00:00:00Z")),
            revoked_by: None,
            revoked_at: None,
        };
        assert!(r.is_active(t("2026-01-31T23:59:59Z")));
        assert!(!r.is_active(t("2026-02-01T00:00:00Z")));
        r.expires_at = None;
        assert!(r.is_active(t("2099-01-01T00:00:00Z")));
        r.status = AccessStatus::Revoked;
        assert!(!r.is_active(t("2026-01-02T00:00:00Z")));
    }
}
