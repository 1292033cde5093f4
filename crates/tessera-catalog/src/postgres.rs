//! [`PostgresStore`]: the catalog in a PostgreSQL database, for meshes shared by several
//! machines.
//!
//! - A pool of up to 8 connections; every method is one transaction at PostgreSQL's
//!   default isolation (READ COMMITTED). The writes that check before they write are
//!   guarded so that concurrent writers cannot both succeed where only one may:
//!   `finish_run` updates the run only `WHERE status = 'running'`, `record_checks` locks
//!   the run's row while it numbers the checks, `append_audit` locks the audit log's head
//!   row while it numbers and chains a record, and inserts lean on a unique key
//!   (`INSERT … ON CONFLICT`).
//! - `verify_audit` reads the whole log in pages inside one REPEATABLE READ, READ ONLY
//!   transaction, so every page and the head come from one snapshot.
//! - Migrations take sqlx's advisory lock, so processes starting together migrate once.
//! - The tables go into the first schema of the connection's `search_path` (`public`
//!   unless the URL or the role says otherwise).
//! - Connections say `application_name=tessera` (unless the URL sets one), so a DBA
//!   can tell them apart in `pg_stat_activity`.
//! - No TLS in this build: use it on a trusted network or through a local proxy.

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, Transaction};

use crate::error::{CatalogError, Result, redact};
use crate::sql;

const MAX_CONNECTIONS: u32 = 8;

/// The catalog in a PostgreSQL database. See the module docs.
pub struct PostgresStore {
    pool: PgPool,
    /// The URL, password hidden.
    location: String,
}

impl PostgresStore {
    /// Connects to the database `url` names (`postgres://` or `postgresql://`) and brings
    /// its schema up to date. The database must exist; the user needs the right to create
    /// tables in it (the first time) and to read and write them.
    pub async fn connect(url: &str) -> Result<PostgresStore> {
        let location = redact(url);
        let mut options = PgConnectOptions::from_str(url).map_err(|e| CatalogError::BadUrl {
            url: location.clone(),
            why: e.to_string(),
        })?;
        if options.get_application_name().is_none() {
            options = options.application_name("tessera");
        }
        // One plain connection first: a pool retries a refused connection until its
        // acquire timeout (30 s) and then reports only "timed out"; this fails at once,
        // with the reason.
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(|source| CatalogError::Connect {
                url: location.clone(),
                source,
            })?;
        // Best effort: the server ends the session anyway when the socket closes.
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_lazy_with(options);
        sql::migrator()
            .run(&pool)
            .await
            .map_err(CatalogError::Migrate)?;
        Ok(PostgresStore { pool, location })
    }

    /// The URL the store was opened with, password hidden.
    pub fn location(&self) -> &str {
        &self.location
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// REPEATABLE READ, READ ONLY: every statement sees the snapshot of the first (a
    /// read-only transaction at this level never fails to serialise).
    async fn snapshot_tx(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?)
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

sql::impl_columns!(sqlx::postgres::PgRow);
sql::impl_catalog_store!(PostgresStore, Postgres, "postgres");
