//! What the SQLite and PostgreSQL stores share: the schema, the SQL text, how values are
//! encoded, and (in [`impl_catalog_store!`]) the implementation of every trait method.
//!
//! ```text
//!   CatalogStore method ──▶ impl_catalog_store! body (written once, compiled per backend)
//!        │                      │ write: store.write_tx()  SQLite: BEGIN IMMEDIATE on the one writer connection
//!        │                      │                          Postgres: BEGIN (READ COMMITTED)
//!        │                      │ read:  store.reader()    a pool; one statement = one snapshot
//!        │                      │ many reads, one snapshot: store.snapshot_tx()  (verify_audit)
//!        ▼                      ▼
//!   records ◀── decode (Columns, below) ◀── rows
//! ```
//!
//! The statements are portable: `$1`-style parameters (SQLite reads them as numbered
//! parameters), `INSERT … ON CONFLICT … DO NOTHING/UPDATE`, `UPDATE … RETURNING`.
//!
//! Encoding, the same in both databases:
//!
//! | Rust | column | stored as |
//! |---|---|---|
//! | `DateTime<Utc>` | `TEXT` | RFC 3339 UTC, nine fractional digits: `2025-05-01T09:30:00.123456789Z` |
//! | `serde_json::Value` | `TEXT` | compact JSON |
//! | `Vec<String>` (token purposes) | `TEXT` | compact JSON array, order kept |
//! | `RunKind`, `RunStatus`, `AuditOutcome` | `TEXT` | `as_str()` |
//! | `u32` (pid) | `BIGINT` | |
//! | `bool` | `BOOLEAN` | (SQLite: 0 / 1) |
//! | `f64` (measured) | `DOUBLE PRECISION` | NaN as NULL (SQLite cannot store NaN; both backends agree) |
//!
//! Fixed-width times sort as text in time order (for years 0000–9999) under any collation,
//! so `ORDER BY started_at` needs no date type, and they keep full precision, so a record
//! reads back equal to what was written.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::audit::RawAudit;
use crate::error::Result;
use crate::{
    AuditOutcome, AuditRecord, CheckRecord, ContractRecord, PortKey, PortRecord, ProductRecord,
    RunKind, RunRecord, RunStatus, TokenRecord, VersionRecord,
};

/// The migrations, in order: `(version, description, SQL)`. Each file in `migrations/`
/// must be listed here (a unit test checks it).
///
/// Embedded with `include_str!` rather than `sqlx::migrate!()`: that macro needs sqlx's
/// `macros` feature, whose proc-macro crate builds the SQLite (bundled C) and PostgreSQL
/// drivers a second time for the host, minutes on a 2-core machine, for one file. The
/// checksums are the same as `migrate!` would record, so switching later is seamless.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (2, "audit", include_str!("../migrations/0002_audit.sql")),
    (3, "tokens", include_str!("../migrations/0003_tokens.sql")),
    (
        4,
        "erasures",
        include_str!("../migrations/0004_erasures.sql"),
    ),
    (5, "access", include_str!("../migrations/0005_access.sql")),
    (6, "sla", include_str!("../migrations/0006_sla.sql")),
];

pub(crate) fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

// ---- encoding ----

pub(crate) fn time_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn json_text(v: &serde_json::Value) -> String {
    v.to_string()
}

pub(crate) fn strings_json_text(v: &[String]) -> String {
    serde_json::to_string(v).expect("strings always serialise")
}

fn decode_error(
    column: &'static str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: Box::new(e),
    }
}

/// Reading typed columns by name from a backend's row.
pub(crate) trait Columns {
    fn text(&self, col: &'static str) -> Result<String>;
    fn opt_text(&self, col: &'static str) -> Result<Option<String>>;
    fn int(&self, col: &'static str) -> Result<i64>;
    fn opt_int(&self, col: &'static str) -> Result<Option<i64>>;
    fn opt_float(&self, col: &'static str) -> Result<Option<f64>>;
    fn flag(&self, col: &'static str) -> Result<bool>;

    fn time(&self, col: &'static str) -> Result<DateTime<Utc>> {
        let text = self.text(col)?;
        Ok(parse_time(col, &text)?)
    }
    fn opt_time(&self, col: &'static str) -> Result<Option<DateTime<Utc>>> {
        match self.opt_text(col)? {
            Some(text) => Ok(Some(parse_time(col, &text)?)),
            None => Ok(None),
        }
    }
    fn json(&self, col: &'static str) -> Result<serde_json::Value> {
        let text = self.text(col)?;
        Ok(serde_json::from_str(&text).map_err(|e| decode_error(col, e))?)
    }
}

fn parse_time(col: &'static str, text: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| decode_error(col, e))
}

macro_rules! impl_columns {
    ($row:ty) => {
        impl $crate::sql::Columns for $row {
            fn text(&self, col: &'static str) -> $crate::Result<String> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn opt_text(&self, col: &'static str) -> $crate::Result<Option<String>> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn int(&self, col: &'static str) -> $crate::Result<i64> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn opt_int(&self, col: &'static str) -> $crate::Result<Option<i64>> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn opt_float(&self, col: &'static str) -> $crate::Result<Option<f64>> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn flag(&self, col: &'static str) -> $crate::Result<bool> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
        }
    };
}
pub(crate) use impl_columns;

// ---- decoding records ----

pub(crate) fn product(row: &impl Columns) -> Result<ProductRecord> {
    Ok(ProductRecord {
        domain: row.text("domain")?,
        product: row.text("product")?,
        status: row.text("status")?,
        description: row.opt_text("description")?,
        descriptor_yaml: row.text("descriptor_yaml")?,
        updated_at: row.time("updated_at")?,
    })
}

pub(crate) fn port(row: &impl Columns) -> Result<PortRecord> {
    Ok(PortRecord {
        key: PortKey {
            domain: row.text("domain")?,
            product: row.text("product")?,
            port: row.text("port")?,
        },
        contract_id: row.text("contract_id")?,
        contract_version: row.text("contract_version")?,
        table_uri: row.text("table_uri")?,
        write_mode: row.text("write_mode")?,
        updated_at: row.time("updated_at")?,
    })
}

pub(crate) fn contract(row: &impl Columns) -> Result<ContractRecord> {
    Ok(ContractRecord {
        contract_id: row.text("contract_id")?,
        version: row.text("version")?,
        content_hash: row.text("content_hash")?,
        document_yaml: row.text("document_yaml")?,
        recorded_at: row.time("recorded_at")?,
    })
}

pub(crate) fn run(row: &impl Columns) -> Result<RunRecord> {
    let kind = row.text("kind")?;
    let status = row.text("status")?;
    let pid = row.int("pid")?;
    Ok(RunRecord {
        id: row.text("id")?,
        kind: kind
            .parse::<RunKind>()
            .map_err(|e| decode_error("kind", e))?,
        domain: row.text("domain")?,
        product: row.text("product")?,
        status: status
            .parse::<RunStatus>()
            .map_err(|e| decode_error("status", e))?,
        started_at: row.time("started_at")?,
        finished_at: row.opt_time("finished_at")?,
        duration_ms: row.opt_int("duration_ms")?,
        rows: row.opt_int("row_count")?,
        error: row.opt_text("error")?,
        content_hash: row.opt_text("content_hash")?,
        host: row.text("host")?,
        pid: u32::try_from(pid).map_err(|e| decode_error("pid", e))?,
        summary: row.json("summary")?,
    })
}

pub(crate) fn check(row: &impl Columns) -> Result<CheckRecord> {
    Ok(CheckRecord {
        port: row.text("port")?,
        name: row.text("name")?,
        kind: row.text("kind")?,
        column: row.opt_text("column_name")?,
        severity: row.text("severity")?,
        passed: row.flag("passed")?,
        measured: row.opt_float("measured")?,
        expected: row.text("expected")?,
        failed_rows: row.opt_int("failed_rows")?,
        samples: row.json("samples")?,
        message: row.opt_text("message")?,
    })
}

pub(crate) fn version(row: &impl Columns) -> Result<VersionRecord> {
    Ok(VersionRecord {
        key: PortKey {
            domain: row.text("domain")?,
            product: row.text("product")?,
            port: row.text("port")?,
        },
        version: row.int("version")?,
        run_id: row.text("run_id")?,
        rows: row.int("row_count")?,
        content_hash: row.text("content_hash")?,
        contract_version: row.text("contract_version")?,
        committed_at: row.time("committed_at")?,
    })
}

/// An audit row as stored, and its stored hash (what `verify_audit` checks).
pub(crate) fn raw_audit(row: &impl Columns) -> Result<(RawAudit, String)> {
    let raw = RawAudit {
        seq: row.int("seq")?,
        at: row.text("at")?,
        principal: row.text("principal")?,
        purpose: row.opt_text("purpose")?,
        interface: row.text("interface")?,
        action: row.text("action")?,
        statement: row.opt_text("statement")?,
        resources: row.text("resources")?,
        row_count: row.opt_int("row_count")?,
        outcome: row.text("outcome")?,
        error: row.opt_text("error")?,
        prev_hash: row.text("prev_hash")?,
    };
    Ok((raw, row.text("hash")?))
}

pub(crate) fn audit_record(row: &impl Columns) -> Result<AuditRecord> {
    let outcome = row.text("outcome")?;
    Ok(AuditRecord {
        seq: row.int("seq")?,
        at: row.time("at")?,
        principal: row.text("principal")?,
        purpose: row.opt_text("purpose")?,
        interface: row.text("interface")?,
        action: row.text("action")?,
        statement: row.opt_text("statement")?,
        resources: row.json("resources")?,
        row_count: row.opt_int("row_count")?,
        outcome: outcome
            .parse::<AuditOutcome>()
            .map_err(|e| decode_error("outcome", e))?,
        error: row.opt_text("error")?,
        prev_hash: row.text("prev_hash")?,
        hash: row.text("hash")?,
    })
}

pub(crate) fn token(row: &impl Columns) -> Result<TokenRecord> {
    let purposes = row.text("purposes")?;
    Ok(TokenRecord {
        id: row.text("id")?,
        principal: row.text("principal")?,
        purposes: serde_json::from_str(&purposes).map_err(|e| decode_error("purposes", e))?,
        created_at: row.time("created_at")?,
        created_by: row.text("created_by")?,
        expires_at: row.opt_time("expires_at")?,
        revoked_at: row.opt_time("revoked_at")?,
        last_used_at: row.opt_time("last_used_at")?,
        note: row.opt_text("note")?,
    })
}

// ---- statements ----

macro_rules! product_columns {
    () => {
        "domain, product, status, description, descriptor_yaml, updated_at"
    };
}
macro_rules! port_columns {
    () => {
        "domain, product, port, contract_id, contract_version, table_uri, write_mode, updated_at"
    };
}
macro_rules! contract_columns {
    () => {
        "contract_id, version, content_hash, document_yaml, recorded_at"
    };
}
macro_rules! run_columns {
    () => {
        "id, kind, domain, product, status, started_at, finished_at, duration_ms, row_count, \
         error, content_hash, host, pid, summary"
    };
}
macro_rules! check_columns {
    () => {
        "port, name, kind, column_name, severity, passed, measured, expected, failed_rows, \
         samples, message"
    };
}
macro_rules! version_columns {
    () => {
        "domain, product, port, version, run_id, row_count, content_hash, contract_version, \
         committed_at"
    };
}

macro_rules! audit_columns {
    () => {
        "seq, at, principal, purpose, interface, action, statement, resources, row_count, \
         outcome, error, prev_hash, hash"
    };
}

/// Every column but `hash`, which is written once and never read back.
macro_rules! token_columns {
    () => {
        "id, principal, purposes, created_at, created_by, expires_at, revoked_at, \
         last_used_at, note"
    };
}

pub(crate) const UPSERT_PRODUCT: &str = concat!(
    "INSERT INTO products (",
    product_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (domain, product) DO UPDATE SET status = excluded.status, \
     description = excluded.description, descriptor_yaml = excluded.descriptor_yaml, \
     updated_at = excluded.updated_at"
);
pub(crate) const PRODUCTS: &str = concat!(
    "SELECT ",
    product_columns!(),
    " FROM products ORDER BY domain, product"
);

pub(crate) const UPSERT_PORT: &str = concat!(
    "INSERT INTO ports (",
    port_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (domain, product, port) DO UPDATE SET contract_id = excluded.contract_id, \
     contract_version = excluded.contract_version, table_uri = excluded.table_uri, \
     write_mode = excluded.write_mode, updated_at = excluded.updated_at"
);
pub(crate) const PORTS: &str = concat!(
    "SELECT ",
    port_columns!(),
    " FROM ports ORDER BY domain, product, port"
);

pub(crate) const INSERT_CONTRACT: &str = concat!(
    "INSERT INTO contracts (",
    contract_columns!(),
    ") VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (contract_id, version, content_hash) DO NOTHING"
);
pub(crate) const CONTRACTS: &str = concat!(
    "SELECT ",
    contract_columns!(),
    " FROM contracts WHERE contract_id = $1 ORDER BY recorded_at, version, content_hash"
);

pub(crate) const INSERT_RUN: &str = "INSERT INTO runs \
     (id, kind, domain, product, status, started_at, content_hash, host, pid, summary) \
     VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, 'null') ON CONFLICT (id) DO NOTHING";
pub(crate) const RUN_STATE: &str = "SELECT status, started_at FROM runs WHERE id = $1";
pub(crate) const FINISH_RUN: &str = "UPDATE runs SET status = $2, finished_at = $3, \
     duration_ms = $4, row_count = $5, error = $6, summary = $7 \
     WHERE id = $1 AND status = 'running'";
pub(crate) const RUN: &str = concat!("SELECT ", run_columns!(), " FROM runs WHERE id = $1");
/// Followed by optional `WHERE` filters, [`RUNS_ORDER`] and `LIMIT`.
pub(crate) const RUNS: &str = concat!("SELECT ", run_columns!(), " FROM runs");
pub(crate) const RUNS_ORDER: &str = " ORDER BY started_at DESC, id DESC";
pub(crate) const LAST_GOOD_PUBLISH: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE domain = $1 AND product = $2 AND kind = 'publish' \
     AND status = 'succeeded' ORDER BY started_at DESC, id DESC LIMIT 1"
);

/// Reserves `$2` check sequence numbers; returns the count after, or no row for an
/// unknown run. The row lock it takes serialises concurrent appends to one run.
pub(crate) const RESERVE_CHECKS: &str = "UPDATE runs SET checks_recorded = checks_recorded + $2 \
     WHERE id = $1 RETURNING checks_recorded";
pub(crate) const INSERT_CHECK: &str = concat!(
    "INSERT INTO checks (run_id, seq, ",
    check_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);
pub(crate) const CHECKS: &str = concat!(
    "SELECT ",
    check_columns!(),
    " FROM checks WHERE run_id = $1 ORDER BY seq"
);

pub(crate) const ALL_CHECKS: &str = concat!(
    "SELECT run_id, ",
    check_columns!(),
    " FROM checks ORDER BY run_id, seq"
);

pub(crate) const INSERT_VERSION: &str = concat!(
    "INSERT INTO versions (",
    version_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (domain, product, port, version) DO NOTHING"
);
pub(crate) const VERSION_RUN: &str = "SELECT run_id FROM versions \
     WHERE domain = $1 AND product = $2 AND port = $3 AND version = $4";
pub(crate) const DELETE_VERSION: &str =
    "DELETE FROM versions WHERE domain = $1 AND product = $2 AND port = $3 AND version = $4";
pub(crate) const VERSIONS: &str = concat!(
    "SELECT ",
    version_columns!(),
    " FROM versions WHERE domain = $1 AND product = $2 AND port = $3 ORDER BY version"
);
pub(crate) const LATEST_VERSION: &str = concat!(
    "SELECT ",
    version_columns!(),
    " FROM versions WHERE domain = $1 AND product = $2 AND port = $3 \
     ORDER BY version DESC LIMIT 1"
);

/// Claims the next audit seq; returns it and the hash of the record before it, or no row
/// when the head is gone. The row lock it takes (held to the end of the transaction)
/// serialises appends: a second appender waits here, then reads the first one's head.
pub(crate) const CLAIM_AUDIT_SEQ: &str =
    "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash";
pub(crate) const INSERT_AUDIT: &str = concat!(
    "INSERT INTO audit (",
    audit_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);
pub(crate) const INSERT_AUDIT_RESOURCE: &str =
    "INSERT INTO audit_resources (resource, seq) VALUES ($1, $2)";
pub(crate) const SET_AUDIT_HEAD_HASH: &str = "UPDATE audit_head SET hash = $1 WHERE id = 1";
/// Followed by optional `WHERE` filters, [`AUDIT_ORDER`] and `LIMIT`.
pub(crate) const AUDIT: &str = concat!("SELECT ", audit_columns!(), " FROM audit");
/// With the resource bound after it, and a closing parenthesis.
pub(crate) const AUDIT_NAMES_RESOURCE: &str =
    "seq IN (SELECT seq FROM audit_resources WHERE resource = ";
pub(crate) const AUDIT_ORDER: &str = " ORDER BY seq DESC";
pub(crate) const AUDIT_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1";
/// The records after `$1`, at most `$2`, in order.
pub(crate) const AUDIT_PAGE: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"
);
/// The index rows of the records `$1..=$2`.
pub(crate) const AUDIT_RESOURCES_PAGE: &str = "SELECT seq, resource FROM audit_resources \
     WHERE seq >= $1 AND seq <= $2 ORDER BY seq, resource";

/// No conflict target: a clash on either unique key (id or hash) inserts nothing.
pub(crate) const INSERT_TOKEN: &str = "INSERT INTO tokens \
     (id, hash, principal, purposes, created_at, created_by, expires_at, note) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";
/// Who holds the id `$1` or the hash `$2` (what made an insert do nothing).
pub(crate) const TOKEN_HOLDERS: &str =
    "SELECT id FROM tokens WHERE id = $1 OR hash = $2 ORDER BY id";
pub(crate) const TOKEN_BY_HASH: &str =
    concat!("SELECT ", token_columns!(), " FROM tokens WHERE hash = $1");
/// Followed by an optional `WHERE principal = …` and [`TOKENS_ORDER`].
pub(crate) const TOKENS: &str = concat!("SELECT ", token_columns!(), " FROM tokens");
pub(crate) const TOKENS_ORDER: &str = " ORDER BY created_at DESC, id DESC";
/// Revokes an active token; affects no row when it is already revoked or unknown. Under
/// READ COMMITTED a second revoker waits for the first's row lock, then sees it revoked.
pub(crate) const REVOKE_TOKEN: &str =
    "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
pub(crate) const TOKEN_EXISTS: &str = "SELECT id FROM tokens WHERE id = $1";
/// Fixed-width times compare as text, so this keeps the latest.
pub(crate) const TOUCH_TOKEN: &str = "UPDATE tokens SET last_used_at = $2 \
     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";

// ---- conflicts: what went wrong and what to do ----

pub(crate) fn run_exists(id: &str) -> crate::CatalogError {
    crate::CatalogError::Conflict(format!(
        "run {id} is already recorded\n  help: each run needs a new id (a fresh UUID)"
    ))
}

pub(crate) fn unknown_run(id: &str, action: &str) -> crate::CatalogError {
    crate::CatalogError::Conflict(format!(
        "cannot {action}: run {id} is not recorded\n  help: call start_run first"
    ))
}

pub(crate) fn not_running(id: &str, status: &str) -> crate::CatalogError {
    crate::CatalogError::Conflict(format!(
        "cannot finish run {id}: it already finished as {status}"
    ))
}

/// Another writer finished the run between our read and our update (PostgreSQL only:
/// SQLite's write transactions do not interleave).
pub(crate) fn finished_meanwhile(id: &str) -> crate::CatalogError {
    crate::CatalogError::Conflict(format!(
        "cannot finish run {id}: another process finished it at the same moment"
    ))
}

pub(crate) fn finish_as_running(id: &str) -> crate::CatalogError {
    crate::CatalogError::Conflict(format!(
        "cannot finish run {id} with status running\n  \
         help: finish it as succeeded, failed, skipped or interrupted"
    ))
}

pub(crate) fn version_taken(v: &VersionRecord, recorded_run: &str) -> crate::CatalogError {
    crate::CatalogError::Conflict(format!(
        "version {} of {} is already recorded for run {recorded_run}; \
         refusing to record it for run {}\n  \
         help: a Delta version is committed by exactly one run; the catalog and the table's \
         log disagree, and reconciling them (reopening the engine) makes the log win",
        v.version, v.key, v.run_id
    ))
}

pub(crate) fn audit_head_missing() -> crate::CatalogError {
    crate::CatalogError::Conflict(
        "cannot append to the audit log: its head (the row of audit_head) is missing\n  \
         help: the log was tampered with; run verify_audit, keep the database as evidence, \
         and start a new log elsewhere"
            .to_string(),
    )
}

pub(crate) fn audit_seq_taken(seq: i64) -> crate::CatalogError {
    crate::CatalogError::Conflict(format!(
        "cannot append record {seq} to the audit log: a record {seq} is already there, so \
         its head (audit_head) was rewound\n  \
         help: the log was tampered with; run verify_audit, keep the database as evidence, \
         and start a new log elsewhere"
    ))
}

pub(crate) fn token_id_taken(id: &str) -> crate::CatalogError {
    crate::CatalogError::Conflict(format!(
        "token {id} is already recorded\n  help: each token needs a new id (tok_ + 12 random \
         lowercase hex digits)"
    ))
}

pub(crate) fn token_hash_taken(id: &str, holder: &str) -> crate::CatalogError {
    crate::CatalogError::Conflict(format!(
        "cannot record token {id}: token {holder} has the same hash, so the same secret\n  \
         help: generate a new random secret for each token"
    ))
}

/// The insert did nothing, yet nobody holds the id or the hash: cannot happen while
/// tokens are never deleted, but say so rather than claim success.
pub(crate) fn token_clash_vanished(id: &str) -> crate::CatalogError {
    crate::CatalogError::Conflict(format!(
        "cannot record token {id}: its id or hash clashed with a token that is gone now\n  \
         help: try again"
    ))
}

pub(crate) fn unknown_token(id: &str) -> crate::CatalogError {
    crate::CatalogError::NotFound(format!(
        "cannot revoke token {id}: no token has this id\n  \
         help: list the tokens to see their ids (tok_ + 12 hex digits)"
    ))
}

/// Implements [`CatalogStore`](crate::CatalogStore) for a store type that has
/// `async fn write_tx(&self) -> Result<sqlx::Transaction<'static, $db>>` (a transaction
/// that may write), `async fn snapshot_tx(&self) -> Result<sqlx::Transaction<'static, $db>>`
/// (a read-only transaction whose statements all see one snapshot) and
/// `fn reader(&self) -> &sqlx::Pool<$db>`.
macro_rules! impl_catalog_store {
    ($store:ty, $db:ty, $kind:literal) => {
        #[async_trait::async_trait]
        impl $crate::CatalogStore for $store {
            fn kind(&self) -> &'static str {
                $kind
            }

            async fn upsert_product(&self, p: &$crate::ProductRecord) -> $crate::Result<()> {
                let mut tx = self.write_tx().await?;
                sqlx::query($crate::sql::UPSERT_PRODUCT)
                    .bind(&p.domain)
                    .bind(&p.product)
                    .bind(&p.status)
                    .bind(&p.description)
                    .bind(&p.descriptor_yaml)
                    .bind($crate::sql::time_text(&p.updated_at))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn products(&self) -> $crate::Result<Vec<$crate::ProductRecord>> {
                let rows = sqlx::query($crate::sql::PRODUCTS)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map($crate::sql::product).collect()
            }

            async fn upsert_port(&self, p: &$crate::PortRecord) -> $crate::Result<()> {
                let mut tx = self.write_tx().await?;
                sqlx::query($crate::sql::UPSERT_PORT)
                    .bind(&p.key.domain)
                    .bind(&p.key.product)
                    .bind(&p.key.port)
                    .bind(&p.contract_id)
                    .bind(&p.contract_version)
                    .bind(&p.table_uri)
                    .bind(&p.write_mode)
                    .bind($crate::sql::time_text(&p.updated_at))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn ports(&self) -> $crate::Result<Vec<$crate::PortRecord>> {
                let rows = sqlx::query($crate::sql::PORTS)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map($crate::sql::port).collect()
            }

            async fn record_contract(&self, c: &$crate::ContractRecord) -> $crate::Result<()> {
                let mut tx = self.write_tx().await?;
                sqlx::query($crate::sql::INSERT_CONTRACT)
                    .bind(&c.contract_id)
                    .bind(&c.version)
                    .bind(&c.content_hash)
                    .bind(&c.document_yaml)
                    .bind($crate::sql::time_text(&c.recorded_at))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn contracts(
                &self,
                contract_id: &str,
            ) -> $crate::Result<Vec<$crate::ContractRecord>> {
                let rows = sqlx::query($crate::sql::CONTRACTS)
                    .bind(contract_id)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map($crate::sql::contract).collect()
            }

            async fn start_run(&self, r: &$crate::NewRun) -> $crate::Result<()> {
                let mut tx = self.write_tx().await?;
                let inserted = sqlx::query($crate::sql::INSERT_RUN)
                    .bind(&r.id)
                    .bind(r.kind.as_str())
                    .bind(&r.domain)
                    .bind(&r.product)
                    .bind($crate::sql::time_text(&r.started_at))
                    .bind(&r.content_hash)
                    .bind(&r.host)
                    .bind(i64::from(r.pid))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if inserted == 0 {
                    return Err($crate::sql::run_exists(&r.id));
                }
                tx.commit().await?;
                Ok(())
            }

            async fn finish_run(&self, id: &str, f: &$crate::RunFinish) -> $crate::Result<()> {
                use $crate::sql::Columns as _;
                if !f.status.is_final() {
                    return Err($crate::sql::finish_as_running(id));
                }
                let mut tx = self.write_tx().await?;
                let Some(row) = sqlx::query($crate::sql::RUN_STATE)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Err($crate::sql::unknown_run(id, "finish it"));
                };
                let status = row.text("status")?;
                if status != $crate::RunStatus::Running.as_str() {
                    return Err($crate::sql::not_running(id, &status));
                }
                let started_at = row.time("started_at")?;
                let duration_ms = (f.finished_at - started_at).num_milliseconds();
                let updated = sqlx::query($crate::sql::FINISH_RUN)
                    .bind(id)
                    .bind(f.status.as_str())
                    .bind($crate::sql::time_text(&f.finished_at))
                    .bind(duration_ms)
                    .bind(f.rows)
                    .bind(&f.error)
                    .bind($crate::sql::json_text(&f.summary))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if updated == 0 {
                    return Err($crate::sql::finished_meanwhile(id));
                }
                tx.commit().await?;
                Ok(())
            }

            async fn run(&self, id: &str) -> $crate::Result<Option<$crate::RunRecord>> {
                let row = sqlx::query($crate::sql::RUN)
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map($crate::sql::run).transpose()
            }

            async fn runs(&self, q: &$crate::RunQuery) -> $crate::Result<Vec<$crate::RunRecord>> {
                let mut sql = sqlx::QueryBuilder::<$db>::new($crate::sql::RUNS);
                let mut filter = " WHERE ";
                if let Some(domain) = &q.domain {
                    sql.push(filter).push("domain = ").push_bind(domain.clone());
                    filter = " AND ";
                }
                if let Some(product) = &q.product {
                    sql.push(filter)
                        .push("product = ")
                        .push_bind(product.clone());
                    filter = " AND ";
                }
                if let Some(kind) = q.kind {
                    sql.push(filter).push("kind = ").push_bind(kind.as_str());
                    filter = " AND ";
                }
                if let Some(status) = q.status {
                    sql.push(filter)
                        .push("status = ")
                        .push_bind(status.as_str());
                }
                sql.push($crate::sql::RUNS_ORDER);
                if let Some(limit) = q.limit {
                    sql.push(" LIMIT ").push_bind(i64::from(limit));
                }
                let rows = sql.build().fetch_all(self.reader()).await?;
                rows.iter().map($crate::sql::run).collect()
            }

            async fn record_checks(
                &self,
                run_id: &str,
                checks: &[$crate::CheckRecord],
            ) -> $crate::Result<()> {
                use $crate::sql::Columns as _;
                let count = i64::try_from(checks.len()).expect("fewer than 2^63 checks");
                let mut tx = self.write_tx().await?;
                let Some(row) = sqlx::query($crate::sql::RESERVE_CHECKS)
                    .bind(run_id)
                    .bind(count)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Err($crate::sql::unknown_run(run_id, "record checks"));
                };
                let first = row.int("checks_recorded")? - count;
                for (seq, c) in (first..).zip(checks) {
                    sqlx::query($crate::sql::INSERT_CHECK)
                        .bind(run_id)
                        .bind(seq)
                        .bind(&c.port)
                        .bind(&c.name)
                        .bind(&c.kind)
                        .bind(&c.column)
                        .bind(&c.severity)
                        .bind(c.passed)
                        .bind(c.measured.filter(|m| !m.is_nan()))
                        .bind(&c.expected)
                        .bind(c.failed_rows)
                        .bind($crate::sql::json_text(&c.samples))
                        .bind(&c.message)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn checks(&self, run_id: &str) -> $crate::Result<Vec<$crate::CheckRecord>> {
                let rows = sqlx::query($crate::sql::CHECKS)
                    .bind(run_id)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map($crate::sql::check).collect()
            }

            async fn all_checks(&self) -> $crate::Result<Vec<(String, $crate::CheckRecord)>> {
                use $crate::sql::Columns as _;
                let rows = sqlx::query($crate::sql::ALL_CHECKS)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter()
                    .map(|r| Ok((r.text("run_id")?, $crate::sql::check(r)?)))
                    .collect()
            }

            async fn record_version(&self, v: &$crate::VersionRecord) -> $crate::Result<()> {
                use $crate::sql::Columns as _;
                let mut tx = self.write_tx().await?;
                // Insert, or find who holds the version. Under READ COMMITTED a holder can
                // vanish between the two statements (remove_version); then try again.
                for _ in 0..3 {
                    let inserted = sqlx::query($crate::sql::INSERT_VERSION)
                        .bind(&v.key.domain)
                        .bind(&v.key.product)
                        .bind(&v.key.port)
                        .bind(v.version)
                        .bind(&v.run_id)
                        .bind(v.rows)
                        .bind(&v.content_hash)
                        .bind(&v.contract_version)
                        .bind($crate::sql::time_text(&v.committed_at))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if inserted == 1 {
                        tx.commit().await?;
                        return Ok(());
                    }
                    let holder = sqlx::query($crate::sql::VERSION_RUN)
                        .bind(&v.key.domain)
                        .bind(&v.key.product)
                        .bind(&v.key.port)
                        .bind(v.version)
                        .fetch_optional(&mut *tx)
                        .await?;
                    match holder {
                        Some(row) => {
                            let recorded_run = row.text("run_id")?;
                            return if recorded_run == v.run_id {
                                Ok(()) // recorded before: a no-op
                            } else {
                                Err($crate::sql::version_taken(v, &recorded_run))
                            };
                        }
                        None => continue,
                    }
                }
                Err($crate::CatalogError::Conflict(format!(
                    "version {} of {} kept changing while it was being recorded\n  \
                     help: another process is recording and removing it; try again",
                    v.version, v.key
                )))
            }

            async fn remove_version(
                &self,
                key: &$crate::PortKey,
                version: i64,
            ) -> $crate::Result<bool> {
                let mut tx = self.write_tx().await?;
                let deleted = sqlx::query($crate::sql::DELETE_VERSION)
                    .bind(&key.domain)
                    .bind(&key.product)
                    .bind(&key.port)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(deleted > 0)
            }

            async fn versions(
                &self,
                key: &$crate::PortKey,
            ) -> $crate::Result<Vec<$crate::VersionRecord>> {
                let rows = sqlx::query($crate::sql::VERSIONS)
                    .bind(&key.domain)
                    .bind(&key.product)
                    .bind(&key.port)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map($crate::sql::version).collect()
            }

            async fn latest_version(
                &self,
                key: &$crate::PortKey,
            ) -> $crate::Result<Option<$crate::VersionRecord>> {
                let row = sqlx::query($crate::sql::LATEST_VERSION)
                    .bind(&key.domain)
                    .bind(&key.product)
                    .bind(&key.port)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map($crate::sql::version).transpose()
            }

            async fn last_good_publish(
                &self,
                domain: &str,
                product: &str,
            ) -> $crate::Result<Option<$crate::RunRecord>> {
                let row = sqlx::query($crate::sql::LAST_GOOD_PUBLISH)
                    .bind(domain)
                    .bind(product)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map($crate::sql::run).transpose()
            }

            async fn append_audit(
                &self,
                key: &[u8],
                r: &$crate::NewAuditRecord,
            ) -> $crate::Result<$crate::AuditRecord> {
                use $crate::sql::Columns as _;
                let key = $crate::audit::AuditKey::new(key)?;
                let tables = $crate::audit::resource_tables(&r.resources);
                let mut tx = self.write_tx().await?;
                let Some(head) = sqlx::query($crate::sql::CLAIM_AUDIT_SEQ)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Err($crate::sql::audit_head_missing());
                };
                let raw = $crate::audit::RawAudit {
                    seq: head.int("seq")?,
                    at: $crate::sql::time_text(&r.at),
                    principal: r.principal.clone(),
                    purpose: r.purpose.clone(),
                    interface: r.interface.clone(),
                    action: r.action.clone(),
                    statement: r.statement.clone(),
                    resources: $crate::sql::json_text(&r.resources),
                    row_count: r.row_count,
                    outcome: r.outcome.as_str().to_string(),
                    error: r.error.clone(),
                    prev_hash: head.text("hash")?,
                };
                let hash = key.hash(&raw);
                sqlx::query($crate::sql::INSERT_AUDIT)
                    .bind(raw.seq)
                    .bind(&raw.at)
                    .bind(&raw.principal)
                    .bind(&raw.purpose)
                    .bind(&raw.interface)
                    .bind(&raw.action)
                    .bind(&raw.statement)
                    .bind(&raw.resources)
                    .bind(raw.row_count)
                    .bind(&raw.outcome)
                    .bind(&raw.error)
                    .bind(&raw.prev_hash)
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match e.as_database_error() {
                        Some(db) if db.is_unique_violation() => {
                            $crate::sql::audit_seq_taken(raw.seq)
                        }
                        _ => $crate::CatalogError::Query(e),
                    })?;
                for table in &tables {
                    sqlx::query($crate::sql::INSERT_AUDIT_RESOURCE)
                        .bind(table)
                        .bind(raw.seq)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query($crate::sql::SET_AUDIT_HEAD_HASH)
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok($crate::AuditRecord {
                    seq: raw.seq,
                    at: r.at,
                    principal: raw.principal,
                    purpose: raw.purpose,
                    interface: raw.interface,
                    action: raw.action,
                    statement: raw.statement,
                    resources: r.resources.clone(),
                    row_count: raw.row_count,
                    outcome: r.outcome,
                    error: raw.error,
                    prev_hash: raw.prev_hash,
                    hash,
                })
            }

            async fn audit(
                &self,
                q: &$crate::AuditQuery,
            ) -> $crate::Result<Vec<$crate::AuditRecord>> {
                let mut sql = sqlx::QueryBuilder::<$db>::new($crate::sql::AUDIT);
                let mut filter = " WHERE ";
                let texts = [
                    ("principal = ", &q.principal),
                    ("purpose = ", &q.purpose),
                    ("action = ", &q.action),
                ];
                for (column, value) in texts {
                    if let Some(value) = value {
                        sql.push(filter).push(column).push_bind(value.clone());
                        filter = " AND ";
                    }
                }
                if let Some(resource) = &q.resource {
                    sql.push(filter)
                        .push($crate::sql::AUDIT_NAMES_RESOURCE)
                        .push_bind(resource.clone())
                        .push(")");
                    filter = " AND ";
                }
                if let Some(outcome) = q.outcome {
                    sql.push(filter)
                        .push("outcome = ")
                        .push_bind(outcome.as_str());
                    filter = " AND ";
                }
                if let Some(since) = &q.since {
                    sql.push(filter)
                        .push("at >= ")
                        .push_bind($crate::sql::time_text(since));
                    filter = " AND ";
                }
                if let Some(until) = &q.until {
                    sql.push(filter)
                        .push("at < ")
                        .push_bind($crate::sql::time_text(until));
                }
                sql.push($crate::sql::AUDIT_ORDER);
                if let Some(limit) = q.limit {
                    sql.push(" LIMIT ")
                        .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
                }
                let rows = sql.build().fetch_all(self.reader()).await?;
                rows.iter().map($crate::sql::audit_record).collect()
            }

            async fn verify_audit(&self, key: &[u8]) -> $crate::Result<$crate::AuditVerification> {
                use $crate::sql::Columns as _;
                let mut check = $crate::audit::ChainCheck::new($crate::audit::AuditKey::new(key)?);
                // One snapshot for the head and every page: appends made meanwhile are
                // neither half seen nor mistaken for damage.
                let mut tx = self.snapshot_tx().await?;
                let head = sqlx::query($crate::sql::AUDIT_HEAD)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| Ok::<_, $crate::CatalogError>((row.int("seq")?, row.text("hash")?)))
                    .transpose()?;
                // From the lowest seq there is, not from 1: a row added by hand below 1
                // must be seen too.
                let mut after = i64::MIN;
                loop {
                    let rows = sqlx::query($crate::sql::AUDIT_PAGE)
                        .bind(after)
                        .bind($crate::audit::PAGE_SIZE)
                        .fetch_all(&mut *tx)
                        .await?;
                    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
                        break;
                    };
                    let mut index = $crate::audit::IndexPage::default();
                    for row in sqlx::query($crate::sql::AUDIT_RESOURCES_PAGE)
                        .bind(first.int("seq")?)
                        .bind(last.int("seq")?)
                        .fetch_all(&mut *tx)
                        .await?
                    {
                        index.add(row.int("seq")?, row.text("resource")?);
                    }
                    for row in &rows {
                        let seq = row.int("seq")?;
                        check.record(seq, $crate::sql::raw_audit(row), index.tables(seq));
                    }
                    after = last.int("seq")?;
                    if rows.len() < $crate::audit::PAGE_SIZE as usize {
                        break;
                    }
                }
                tx.commit().await?;
                Ok(check.finish(head))
            }

            async fn create_token(&self, t: &$crate::NewToken) -> $crate::Result<()> {
                use $crate::sql::Columns as _;
                $crate::tokens::check_new_token(t)?;
                let mut tx = self.write_tx().await?;
                let inserted = sqlx::query($crate::sql::INSERT_TOKEN)
                    .bind(&t.id)
                    .bind(&t.hash)
                    .bind(&t.principal)
                    .bind($crate::sql::strings_json_text(&t.purposes))
                    .bind($crate::sql::time_text(&t.created_at))
                    .bind(&t.created_by)
                    .bind(t.expires_at.as_ref().map($crate::sql::time_text))
                    .bind(&t.note)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if inserted == 1 {
                    tx.commit().await?;
                    return Ok(());
                }
                // Say which key clashed: the id first (a token created twice), else the hash.
                let holders = sqlx::query($crate::sql::TOKEN_HOLDERS)
                    .bind(&t.id)
                    .bind(&t.hash)
                    .fetch_all(&mut *tx)
                    .await?;
                for row in &holders {
                    if row.text("id")? == t.id {
                        return Err($crate::sql::token_id_taken(&t.id));
                    }
                }
                match holders.first() {
                    Some(row) => Err($crate::sql::token_hash_taken(&t.id, &row.text("id")?)),
                    None => Err($crate::sql::token_clash_vanished(&t.id)),
                }
            }

            async fn token_by_hash(
                &self,
                hash: &str,
            ) -> $crate::Result<Option<$crate::TokenRecord>> {
                let row = sqlx::query($crate::sql::TOKEN_BY_HASH)
                    .bind(hash)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map($crate::sql::token).transpose()
            }

            async fn tokens(
                &self,
                principal: Option<&str>,
            ) -> $crate::Result<Vec<$crate::TokenRecord>> {
                let mut sql = sqlx::QueryBuilder::<$db>::new($crate::sql::TOKENS);
                if let Some(principal) = principal {
                    sql.push(" WHERE principal = ")
                        .push_bind(principal.to_string());
                }
                sql.push($crate::sql::TOKENS_ORDER);
                let rows = sql.build().fetch_all(self.reader()).await?;
                rows.iter().map($crate::sql::token).collect()
            }

            async fn revoke_token(
                &self,
                id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<bool> {
                let mut tx = self.write_tx().await?;
                let revoked = sqlx::query($crate::sql::REVOKE_TOKEN)
                    .bind(id)
                    .bind($crate::sql::time_text(&at))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if revoked == 0 {
                    let exists = sqlx::query($crate::sql::TOKEN_EXISTS)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_some();
                    return if exists {
                        Ok(false) // already revoked: its revoked_at stays
                    } else {
                        Err($crate::sql::unknown_token(id))
                    };
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn touch_token(
                &self,
                id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<()> {
                let mut tx = self.write_tx().await?;
                sqlx::query($crate::sql::TOUCH_TOKEN)
                    .bind(id)
                    .bind($crate::sql::time_text(&at))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn start_erasure(&self, e: &$crate::NewErasure) -> $crate::Result<()> {
                $crate::erasures::erasure_body!(start, self, e)
            }

            async fn erasure_progress(
                &self,
                id: &str,
                progress: &serde_json::Value,
            ) -> $crate::Result<()> {
                $crate::erasures::erasure_body!(progress, self, id, progress)
            }

            async fn claim_erasure(
                &self,
                id: &str,
                from: (String, u32),
                to: (String, u32),
            ) -> $crate::Result<bool> {
                $crate::erasures::erasure_body!(claim, self, id, from, to)
            }

            async fn finish_erasure(
                &self,
                id: &str,
                f: &$crate::ErasureFinish,
            ) -> $crate::Result<()> {
                $crate::erasures::erasure_body!(finish, self, id, f)
            }

            async fn erasures(
                &self,
                q: &$crate::ErasureQuery,
            ) -> $crate::Result<Vec<$crate::ErasureRecord>> {
                $crate::erasures::erasure_body!(list, self, $db, q)
            }

            async fn erasure_register(&self) -> $crate::Result<Vec<$crate::RegisterEntry>> {
                $crate::erasures::erasure_body!(register, self)
            }

            async fn create_access_request(
                &self,
                r: &$crate::NewAccessRequest,
            ) -> $crate::Result<()> {
                $crate::access::access_body!(create, self, r)
            }

            async fn decide_access_request(
                &self,
                id: &str,
                d: &$crate::AccessDecision,
            ) -> $crate::Result<$crate::AccessRequestRecord> {
                $crate::access::access_body!(decide, self, id, d)
            }

            async fn access_requests(
                &self,
                q: &$crate::AccessQuery,
            ) -> $crate::Result<Vec<$crate::AccessRequestRecord>> {
                $crate::access::access_body!(list, self, $db, q)
            }

            async fn record_slas(&self, records: &[$crate::SlaRecord]) -> $crate::Result<()> {
                $crate::sla::sla_body!(record, self, records)
            }

            async fn latest_slas(&self) -> $crate::Result<Vec<$crate::SlaRecord>> {
                $crate::sla::sla_body!(latest, self)
            }

            async fn sla_history(
                &self,
                port: Option<&str>,
                since: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Vec<$crate::SlaRecord>> {
                $crate::sla::sla_body!(history, self, $db, port, since)
            }

            async fn record_webhook_delivery(
                &self,
                d: &$crate::WebhookDelivery,
            ) -> $crate::Result<()> {
                $crate::sla::sla_body!(deliver, self, d)
            }

            async fn webhook_deliveries(
                &self,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::WebhookDelivery>> {
                $crate::sla::sla_body!(deliveries, self, limit)
            }
        }
    };
}
pub(crate) use impl_catalog_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<String> = MIGRATIONS
            .iter()
            .map(|(version, description, _)| format!("{version:04}_{description}.sql"))
            .collect();
        assert_eq!(
            files, embedded,
            "list every file of migrations/ in sql::MIGRATIONS"
        );
        for (name, (_, _, sql)) in files.iter().zip(MIGRATIONS) {
            assert_eq!(&std::fs::read_to_string(dir.join(name)).unwrap(), sql);
        }
    }

    #[test]
    fn times_are_fixed_width_so_text_order_is_time_order() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let times = [
            t("1999-12-31T23:59:59Z"),
            t("2025-01-01T00:00:00Z"),
            t("2025-01-01T00:00:00.000000001Z"),
            t("2025-01-01T00:00:00.1Z"),
            t("2025-01-01T00:00:01+01:00"),
            t("2025-01-01T00:00:01Z"),
        ];
        let texts: Vec<String> = times.iter().map(time_text).collect();
        assert_eq!(texts[1], "2025-01-01T00:00:00.000000000Z");
        for text in &texts {
            assert_eq!(text.len(), 30, "{text}");
        }
        let mut sorted = texts.clone();
        sorted.sort();
        let mut by_time = times.to_vec();
        by_time.sort();
        assert_eq!(sorted, by_time.iter().map(time_text).collect::<Vec<_>>());
        for (time, text) in times.iter().zip(&texts) {
            assert_eq!(&parse_time("t", text).unwrap(), time);
        }
    }
}
