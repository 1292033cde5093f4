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

/// A word that names no [`RunKind`] or [`RunStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown run {what} `{got}`; expected one of {expected}")]
pub struct UnknownVariant {
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
        parse_variant("kind", &RunKind::ALL, RunKind::as_str, s)
    }
}

impl FromStr for RunStatus {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_variant("status", &RunStatus::ALL, RunStatus::as_str, s)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_statuses_round_trip_through_text_and_serde() {
        for k in RunKind::ALL {
            assert_eq!(k.as_str().parse::<RunKind>(), Ok(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let err = "Build".parse::<RunKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown run kind `Build`; expected one of build, test, publish"
        );
    }

    #[test]
    fn port_key_displays_as_a_path() {
        assert_eq!(
            PortKey::new("crm", "customers", "main").to_string(),
            "crm/customers/main"
        );
    }
}
