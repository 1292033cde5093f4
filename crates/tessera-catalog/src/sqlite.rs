//! [`SqliteStore`]: the catalog in one SQLite file (the default), or in memory for tests.
//!
//! ```text
//!   this process                                    catalog.db (+ -wal, -shm)
//!   writes ─▶ writer pool (1 connection) ─ BEGIN IMMEDIATE ─▶ the file's write lock
//!   reads  ─▶ reader pool (4 connections) ─ WAL snapshots ─▶  (never blocked by a writer)
//!   other processes ─────────────────────────────────────────▶ the same lock, waited for
//!                                                               up to BUSY_TIMEOUT
//! ```
//!
//! - WAL journal: readers never wait for the writer, and a commit is one append.
//! - `synchronous = FULL`: a commit is on disk when it returns (WAL's `NORMAL` would
//!   give that up on power loss).
//! - Every write transaction starts with `BEGIN IMMEDIATE`, so it holds the write lock
//!   before it reads anything: a plain `BEGIN` that reads and then writes can fail with
//!   `SQLITE_BUSY` at once (no waiting) when another process wrote in between.
//! - One writer connection per process: this process's writers queue in the pool rather
//!   than poll SQLite's lock against each other.
//! - Opening retries a few times when another process is creating or migrating the same
//!   file at that moment (switching to WAL and SQLite migrations take no lock that can be
//!   waited for).
//! - Foreign keys are enforced.
//! - A read that needs several statements to agree (`verify_audit`) runs in one deferred
//!   transaction on a reader: one WAL snapshot throughout.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::error::{CatalogError, Result};
use crate::sql;

/// How long a write waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const READERS: u32 = 4;
const OPEN_ATTEMPTS: u32 = 6;

/// The catalog in a SQLite database. See the module docs for how it is opened.
pub struct SqliteStore {
    writer: SqlitePool,
    /// The same pool as `writer` for an in-memory database (one connection holds it).
    reader: SqlitePool,
    location: String,
}

impl SqliteStore {
    /// Opens (creating it and its parent folders if needed) the database file at `path`,
    /// and brings its schema up to date.
    pub async fn open_file(path: &Path) -> Result<SqliteStore> {
        let location = format!("sqlite://{}", path.display());
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| CatalogError::Connect {
                    url: location.clone(),
                    source: sqlx::Error::Io(e),
                })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Full);
        let mut attempt = 1;
        loop {
            match Self::try_open(&options, &location).await {
                Err(e) if attempt < OPEN_ATTEMPTS && opening_raced(&e) => {
                    tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn try_open(options: &SqliteConnectOptions, location: &str) -> Result<SqliteStore> {
        let connect_error = |source| CatalogError::Connect {
            url: location.to_string(),
            source,
        };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal),
            )
            .await
            .map_err(connect_error)?;
        sql::migrator()
            .run(&writer)
            .await
            .map_err(CatalogError::Migrate)?;
        // WAL is a property of the file now; readers need not (and should not) set it.
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.clone())
            .await
            .map_err(connect_error)?;
        Ok(SqliteStore {
            writer,
            reader,
            location: location.to_string(),
        })
    }

    /// A new, empty database in memory, gone when the store is dropped.
    pub async fn open_in_memory() -> Result<SqliteStore> {
        let location = "sqlite::memory:".to_string();
        // An in-memory database lives in its connection: keep exactly one, forever.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                SqliteConnectOptions::new()
                    .in_memory(true)
                    .foreign_keys(true),
            )
            .await
            .map_err(|source| CatalogError::Connect {
                url: location.clone(),
                source,
            })?;
        sql::migrator()
            .run(&pool)
            .await
            .map_err(CatalogError::Migrate)?;
        Ok(SqliteStore {
            writer: pool.clone(),
            reader: pool,
            location,
        })
    }

    /// Where the database is (`sqlite:///…/catalog.db` or `sqlite::memory:`).
    pub fn location(&self) -> &str {
        &self.location
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// A deferred transaction on a reader: its first statement takes a WAL snapshot that
    /// the rest share, and it never blocks the writer.
    async fn snapshot_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.reader.begin().await?)
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Whether opening failed because another connection was creating or migrating the
/// file at the same moment (worth another try) rather than for a lasting reason.
fn opening_raced(e: &CatalogError) -> bool {
    use sqlx::migrate::MigrateError;
    match e {
        CatalogError::Connect {
            source: sqlx::Error::Database(db),
            ..
        } => is_busy(db.as_ref()),
        // A migration that lost the race fails on "table … already exists" or on the
        // migrations table's key, or on a lock; the next attempt finds it applied.
        CatalogError::Migrate(
            MigrateError::Execute(sqlx::Error::Database(_))
            | MigrateError::ExecuteMigration(sqlx::Error::Database(_), _),
        ) => true,
        _ => false,
    }
}

fn is_busy(e: &dyn sqlx::error::DatabaseError) -> bool {
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    let primary = e
        .code()
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff);
    matches!(primary, Some(SQLITE_BUSY | SQLITE_LOCKED))
}

sql::impl_columns!(sqlx::sqlite::SqliteRow);
sql::impl_catalog_store!(SqliteStore, Sqlite, "sqlite");
