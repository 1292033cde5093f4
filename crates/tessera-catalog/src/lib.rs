//! Tessera's metadata store: what the mesh looks like (products, ports, contracts), what
//! happened to it (runs, their checks, the Delta versions they committed), who did what
//! with its data (the audit log), and who may ask (API tokens).
//!
//! ```text
//!   catalog.url ──▶ open() ──▶ SqliteStore    (sqlite://path, sqlite::memory:)
//!                     │        PostgresStore  (postgres://…, postgresql://…)
//!                     │             │
//!                     └ migrations ─┘  one set of SQL files, brought up to date on open
//!                                 │
//!                                 ▼
//!                     Arc<dyn CatalogStore>  ◀── engine, server, CLI
//! ```
//!
//! The contract:
//!
//! - [`CatalogStore`] is the only interface; its doc comment lists the guarantees every
//!   backend gives (atomic methods, durable on return, safe for many processes).
//! - Both backends share one schema (`migrations/`), the same SQL text and one
//!   implementation of the trait (`sql.rs`); only how a connection is opened and how a
//!   write transaction begins differ. The same test suite runs against both.
//! - Times are stored as fixed-width RFC 3339 UTC text and JSON as text (see `sql.rs`), so
//!   every record reads back equal to what was written.
//! - The store keeps what it is given: it checks consistency between records (a run
//!   finishes once; a version belongs to one run), not the meaning of names or documents,
//!   which the model has already checked.
//! - The audit log is append-only and tamper-evident: records are numbered without gaps
//!   and hash-chained with HMAC-SHA256 under a key the caller holds (see `audit.rs` for
//!   the exact form). [`CatalogStore::verify_audit`] detects an edited record, a record
//!   deleted in the middle or at the end, and an edited resource index; rewriting the
//!   log so that it verifies needs the key, which is not in the database. What it cannot
//!   see: the newest records deleted *and* the head rewound to match; keep the newest
//!   `(seq, hash)` elsewhere too to catch that.
//! - API tokens are kept as the hex SHA-256 of their secret, which the caller computes;
//!   a token is found by that hash, listed without it, revoked by its public id (`tok_…`)
//!   and never deleted. Whether a token is still accepted is the caller's decision (see
//!   `tokens.rs`).
//! - Access requests move `requested → approved | denied | withdrawn` once (and an
//!   approval to `revoked`); a second decision is a conflict. An approved, unexpired
//!   request is a grant; who may ask or decide is the caller's decision (see `access.rs`).
//!
//! **Invariant:** no error or log carries a password (see [`redact`]), and the audit key
//! is never stored or shown.
//!
//! **Invariant:** a token's secret never reaches the catalog, and its hash never leaves
//! it: [`TokenRecord`] has no hash, [`NewToken`]'s `Debug` hides it, and no error repeats
//! it.
//!
//! **Invariant:** the audit log's canonical form and hash never change (a unit test pins
//! one hash): every record ever written must verify with every later build.
//!
//! **Invariant:** this crate knows nothing of the model, DataFusion or Delta: records are
//! plain data, so the engine and adapters can depend on it without pulling those in.

mod access;
mod audit;
mod catalog_url;
mod erasures;
mod error;
mod postgres;
mod records;
mod sla;
mod sql;
mod sqlite;
mod store;
mod tokens;

use std::path::Path;
use std::sync::Arc;

pub use access::{
    AccessDecision, AccessQuery, AccessRequestRecord, AccessStatus, NewAccessRequest,
};
pub use erasures::{
    ErasureFinish, ErasureQuery, ErasureRecord, ErasureStatus, NewErasure, RegisterEntry,
};
pub use error::{CatalogError, Result, redact};
pub use postgres::PostgresStore;
pub use records::{
    AuditOutcome, AuditProblem, AuditQuery, AuditRecord, AuditVerification, CheckRecord,
    ContractRecord, NewAuditRecord, NewRun, NewToken, PortKey, PortRecord, ProductRecord,
    RunFinish, RunKind, RunQuery, RunRecord, RunStatus, TokenRecord, UnknownVariant, VersionRecord,
};
pub use sla::{SlaRecord, WebhookDelivery};
pub use sqlite::SqliteStore;
pub use store::CatalogStore;

use catalog_url::CatalogUrl;

/// Opens the metadata store named by `url` and brings its schema up to date.
///
/// - `sqlite://relative/path.db` (or `sqlite:relative/path.db`) is relative to `base_dir`
///   (the mesh root); `sqlite:///abs/path.db` is absolute. Parent folders and the file
///   are created.
/// - `sqlite::memory:` is a fresh database that lives as long as the store (for tests).
/// - `postgres://` and `postgresql://` connect to a server; the database must exist.
///
/// Errors: [`CatalogError::BadUrl`] for any other form, [`CatalogError::Connect`] when the
/// file or server cannot be reached (the URL in the message has its password hidden),
/// [`CatalogError::Migrate`] when the schema cannot be brought up to date.
pub async fn open(url: &str, base_dir: &Path) -> Result<Arc<dyn CatalogStore>> {
    Ok(match CatalogUrl::parse(url, base_dir)? {
        CatalogUrl::SqliteFile(path) => Arc::new(SqliteStore::open_file(&path).await?),
        CatalogUrl::SqliteMemory => Arc::new(SqliteStore::open_in_memory().await?),
        CatalogUrl::Postgres(url) => Arc::new(PostgresStore::connect(&url).await?),
    })
}
