//! The records the catalog keeps: plain data, no I/O.
//!
//! Names (domain, product, port) are the model's validated names as strings: the catalog
//! stores what it is given and never re-checks them. Times are UTC and round-trip exactly
//! (to the nanosecond) through both backends.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// Identifies an output port: `domain/product/port`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PortKey {
    pub domain: String,
    pub product: String,
    pub port: String,
}

impl PortKey {
    pub fn new(
        domain: impl Into<String>,
        product: impl Into<String>,
        port: impl Into<String>,
    ) -> Self {
        PortKey {
            domain: domain.into(),
            product: product.into(),
            port: port.into(),
        }
    }
}

impl fmt::Display for PortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.domain, self.product, self.port)
    }
}

/// A data product as last synchronised from the mesh.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProductRecord {
    pub domain: String,
    pub product: String,
    pub status: String,
    pub description: Option<String>,
    pub descriptor_yaml: String,
    pub updated_at: DateTime<Utc>,
}

/// An output port: its contract and where its table lives.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PortRecord {
    pub key: PortKey,
    pub contract_id: String,
    pub contract_version: String,
    pub table_uri: String,
    pub write_mode: String,
    pub updated_at: DateTime<Utc>,
}

/// One version of a contract document, as first seen.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ContractRecord {
    pub contract_id: String,
    pub version: String,
    pub content_hash: String,
    pub document_yaml: String,
    pub recorded_at: DateTime<Utc>,
}

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Build,
    Test,
    Publish,
}

impl RunKind {
    pub const ALL: [RunKind; 3] = [RunKind::Build, RunKind::Test, RunKind::Publish];

    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Build => "build",
            RunKind::Test => "test",
            RunKind::Publish => "publish",
        }
    }
}

/// Where a run is. `Running` until [`finish_run`](crate::CatalogStore::finish_run) sets
/// one of the others, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Skipped,
    Interrupted,
}

impl RunStatus {
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Skipped,
        RunStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Skipped => "skipped",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// Every status but `Running`.
    pub fn is_final(self) -> bool {
        self != RunStatus::Running
    }
}

/// A word that names no [`RunKind`], [`RunStatus`] or [`AuditOutcome`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{got}`; expected one of {expected}")]
pub struct UnknownVariant {
    /// What was being read: `run kind`, `run status` or `audit outcome`.
    pub what: &'static str,
    pub got: String,
    pub expected: String,
}

fn parse_variant<T: Copy>(
    what: &'static str,
    all: &[T],
    name: fn(T) -> &'static str,
    s: &str,
) -> Result<T, UnknownVariant> {
    all.iter()
        .copied()
        .find(|v| name(*v) == s)
        .ok_or_else(|| UnknownVariant {
            what,
            got: s.to_string(),
            expected: all.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", "),
        })
}

impl FromStr for RunKind {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_variant("run kind", &RunKind::ALL, RunKind::as_str, s)
    }
}

impl FromStr for RunStatus {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_variant("run status", &RunStatus::ALL, RunStatus::as_str, s)
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run as it starts. The caller picks the id (a UUID as text).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NewRun {
    pub id: String,
    pub kind: RunKind,
    pub domain: String,
    pub product: String,
    pub started_at: DateTime<Utc>,
    pub content_hash: Option<String>,
    pub host: String,
    pub pid: u32,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunFinish {
    pub status: RunStatus,
    pub finished_at: DateTime<Utc>,
    pub rows: Option<i64>,
    pub error: Option<String>,
    pub summary: serde_json::Value,
}

/// A run as recorded. While it is `Running`, the finish fields are `None` and `summary`
/// is `null`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRecord {
    pub id: String,
    pub kind: RunKind,
    pub domain: String,
    pub product: String,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `finished_at - started_at` in whole milliseconds (negative if the clock went back).
    pub duration_ms: Option<i64>,
    pub rows: Option<i64>,
    pub error: Option<String>,
    pub content_hash: Option<String>,
    pub host: String,
    pub pid: u32,
    pub summary: serde_json::Value,
}

/// Which runs [`runs`](crate::CatalogStore::runs) returns: every `Some` filter must match.
/// Newest first (by `started_at`); at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    pub domain: Option<String>,
    pub product: Option<String>,
    pub kind: Option<RunKind>,
    pub status: Option<RunStatus>,
    pub limit: Option<u32>,
}

/// The outcome of one contract check in a run.
///
/// `measured` is stored as a double; a NaN is stored as `None` (SQLite has no NaN), and
/// the infinities are kept.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckRecord {
    pub port: String,
    pub name: String,
    pub kind: String,
    pub column: Option<String>,
    pub severity: String,
    pub passed: bool,
    pub measured: Option<f64>,
    pub expected: String,
    pub failed_rows: Option<i64>,
    pub samples: serde_json::Value,
    pub message: Option<String>,
}

/// A committed Delta version of a port, and the run that committed it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VersionRecord {
    pub key: PortKey,
    pub version: i64,
    pub run_id: String,
    pub rows: i64,
    pub content_hash: String,
    pub contract_version: String,
    pub committed_at: DateTime<Utc>,
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    /// It was allowed and done.
    Ok,
    /// A policy refused it.
    Denied,
    /// It was allowed but failed.
    Error,
}

impl AuditOutcome {
    pub const ALL: [AuditOutcome; 3] =
        [AuditOutcome::Ok, AuditOutcome::Denied, AuditOutcome::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Error => "error",
        }
    }
}

impl FromStr for AuditOutcome {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_variant("audit outcome", &AuditOutcome::ALL, AuditOutcome::as_str, s)
    }
}

impl fmt::Display for AuditOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audited action, as the caller reports it to
/// [`append_audit`](crate::CatalogStore::append_audit), which numbers and chains it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NewAuditRecord {
    pub at: DateTime<Utc>,
    /// Who acted.
    pub principal: String,
    /// Why, when the caller declared a purpose.
    pub purpose: Option<String>,
    /// Where the request came in: `cli`, `http`, `pg`, `flight`, `sharing`.
    pub interface: String,
    /// What was asked: `query`, `publish`, `erase`, `approve_access`, ...
    pub action: String,
    /// The SQL text, or a description of the action.
    pub statement: Option<String>,
    /// What it touched, e.g.
    /// `[{"table":"crm.customers","version":3,"columns":[{"name":"email","decision":"masked","method":"hash"}]}]`.
    /// The `"table"` values (of the objects in this array, or of this object) are what
    /// [`AuditQuery::resource`] matches.
    pub resources: serde_json::Value,
    pub row_count: Option<i64>,
    pub outcome: AuditOutcome,
    pub error: Option<String>,
}

/// An audit record as written: the caller's fields, its place in the log (`seq`, from 1)
/// and its links in the chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub principal: String,
    pub purpose: Option<String>,
    pub interface: String,
    pub action: String,
    pub statement: Option<String>,
    pub resources: serde_json::Value,
    pub row_count: Option<i64>,
    pub outcome: AuditOutcome,
    pub error: Option<String>,
    /// The previous record's `hash` (64 `0`s for record 1).
    pub prev_hash: String,
    /// Hex HMAC-SHA256 of this record and `prev_hash` (see
    /// [`append_audit`](crate::CatalogStore::append_audit)).
    pub hash: String,
}

/// Which records [`audit`](crate::CatalogStore::audit) returns: every `Some` filter must
/// match. Newest first (by `seq`); at most `limit`. The default is everything.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub principal: Option<String>,
    pub purpose: Option<String>,
    /// A table name such as `crm.customers`: the records whose resources name exactly
    /// that table (`crm.customers_v2` is another table).
    pub resource: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<AuditOutcome>,
    /// Records at or after this time (`at >= since`).
    pub since: Option<DateTime<Utc>>,
    /// Records before this time (`at < until`).
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<usize>,
}

/// What [`verify_audit`](crate::CatalogStore::verify_audit) found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditVerification {
    /// How many records were read.
    pub records: u64,
    /// The newest record's seq according to the log's head; `None` when the head says the
    /// log is empty (or the head is gone, which is a problem).
    pub head_seq: Option<i64>,
    /// Everything that is not as written, in log order. Empty when the log is intact.
    pub problems: Vec<AuditProblem>,
}

impl AuditVerification {
    /// No record was changed, removed or added without the key, as far as the log shows.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One thing wrong with the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditProblem {
    /// The record it concerns, when it concerns one.
    pub seq: Option<i64>,
    /// What is wrong, e.g. `record 17 was changed after it was written (its hash does not
    /// match)`.
    pub message: String,
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A token as the caller creates it: who it speaks for, for which purposes, until when.
///
/// The caller generates the secret, shows it once, and passes only its hash: the catalog
/// never sees the token itself. `Debug` prints `hash: "<redacted>"`, and there is no
/// `Serialize`, so the hash cannot end up in a log or a response by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Public name of the token, `tok_` + 12 lowercase hex digits: shown in lists, used to
    /// revoke it.
    pub id: String,
    /// Hex SHA-256 of the secret token: 64 lowercase hex digits.
    pub hash: String,
    /// Who the token acts as.
    pub principal: String,
    /// The purposes it may declare, in the caller's order; empty = any purpose the
    /// principal may use.
    pub purposes: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Who created it (an administrator, or the principal itself).
    pub created_by: String,
    /// When it stops being accepted; `None` = never.
    pub expires_at: Option<DateTime<Utc>>,
    /// What it is for, in the creator's words.
    pub note: Option<String>,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .field("hash", &"<redacted>")
            .field("principal", &self.principal)
            .field("purposes", &self.purposes)
            .field("created_at", &self.created_at)
            .field("created_by", &self.created_by)
            .field("expires_at", &self.expires_at)
            .field("note", &self.note)
            .finish()
    }
}

/// A token as listed: never the hash.
///
/// The store reports what is recorded; whether the token is still accepted (not revoked,
/// not expired) is the caller's decision, at the caller's clock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenRecord {
    pub id: String,
    pub principal: String,
    /// In the order they were given; empty = any purpose the principal may use.
    pub purposes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was first revoked; revoking again keeps this.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The latest use reported through [`touch_token`](crate::CatalogStore::touch_token).
    pub last_used_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_statuses_and_outcomes_round_trip_through_text_and_serde() {
        for k in RunKind::ALL {
            assert_eq!(k.as_str().parse::<RunKind>(), Ok(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for o in AuditOutcome::ALL {
            assert_eq!(o.as_str().parse::<AuditOutcome>(), Ok(o));
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        assert_eq!(
            "OK".parse::<AuditOutcome>().unwrap_err().to_string(),
            "unknown audit outcome `OK`; expected one of ok, denied, error"
        );
        let err = "Build".parse::<RunKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown run kind `Build`; expected one of build, test, publish"
        );
    }

    #[test]
    fn a_new_token_does_not_show_its_hash() {
        let hash = "ab".repeat(32);
        let t = NewToken {
            id: "tok_0123456789ab".into(),
            hash: hash.clone(),
            principal: "alice".into(),
            purposes: vec!["analytics".into()],
            created_at: Utc::now(),
            created_by: "admin".into(),
            expires_at: None,
            note: None,
        };
        let shown = format!("{t:?} {t:#?}");
        assert!(!shown.contains(&hash), "{shown}");
        assert!(shown.contains(r#"hash: "<redacted>""#), "{shown}");
        assert!(shown.contains("tok_0123456789ab"), "{shown}");
    }

    #[test]
    fn port_key_displays_as_a_path() {
        assert_eq!(
            PortKey::new("crm", "customers", "main").to_string(),
            "crm/customers/main"
        );
    }
}
