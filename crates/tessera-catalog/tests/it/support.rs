//! Fixtures (a fresh catalog per test, on either backend) and record builders.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sqlx::Connection;
use tessera_catalog::{
    CatalogError, CatalogStore, CheckRecord, NewRun, PortKey, RunFinish, RunKind, RunStatus,
    VersionRecord, redact,
};

pub const POSTGRES_URL_VAR: &str = "TESSERA_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a test's catalog is: open it as often as the test needs (each `open` is a new
/// pool, as another process would have).
#[derive(Debug, Clone)]
pub struct Fixture {
    pub backend: Backend,
    pub url: String,
    pub base_dir: PathBuf,
}

impl Fixture {
    pub async fn open(&self) -> Arc<dyn CatalogStore> {
        tessera_catalog::open(&self.url, &self.base_dir)
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", redact(&self.url)))
    }

    /// Runs `sql` (one or more statements) on the catalog's database directly, around the
    /// store, as someone with access to the database could.
    pub async fn execute_raw(&self, sql: String) {
        let result = match self.backend {
            Backend::Sqlite => {
                let path = self.url.strip_prefix("sqlite://").expect("a sqlite:// URL");
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(self.base_dir.join(path))
                    .busy_timeout(std::time::Duration::from_secs(10));
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .expect("a raw SQLite connection");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                    .execute(&mut conn)
                    .await
                    .map(drop)
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("a raw PostgreSQL connection");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                    .execute(&mut conn)
                    .await
                    .map(drop)
            }
        };
        let shown: String = sql.chars().take(200).collect();
        result.unwrap_or_else(|e| panic!("{shown}: {e}"));
    }
}

/// The PostgreSQL server for the tests, or a failure that says how to get one.
pub fn postgres_admin_url() -> String {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{POSTGRES_URL_VAR} is not set, so the PostgreSQL half of the catalog tests cannot run.\n\
             Run the tests through scripts/test (it starts a test PostgreSQL on 127.0.0.1:54329),\n\
             or start one with `scripts/pg-test-server start` and\n\
             export {POSTGRES_URL_VAR}=$(scripts/pg-test-server url)\n\
             or point it at any server where the user may CREATE DATABASE."
        ),
    }
}

/// Runs `test` against a fresh, empty catalog on `backend`, then removes the catalog
/// (also when the test panics, whose panic is then passed on).
pub async fn with_fixture<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let fx = Fixture {
                backend,
                url: "sqlite://catalog/test.db".into(),
                base_dir: dir.path().to_path_buf(),
            };
            finish(tokio::spawn(test(fx)).await);
        }
        Backend::Postgres => {
            let admin_url = postgres_admin_url();
            let name = format!("tessera_test_{:016x}", RandomState::new().hash_one(0u8));
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot reach the test PostgreSQL at {} ({POSTGRES_URL_VAR}): {e}\n\
                         Is it running? `scripts/pg-test-server start` starts it.",
                        redact(&admin_url)
                    )
                });
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
            let mut url = url::Url::parse(&admin_url).expect("a URL");
            url.set_path(&name);
            let fx = Fixture {
                backend,
                url: url.to_string(),
                base_dir: std::env::temp_dir(),
            };
            let outcome = tokio::spawn(test(fx)).await;
            // FORCE ends the connections the test's pools still hold.
            let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await;
            finish(outcome);
            dropped.unwrap_or_else(|e| panic!("DROP DATABASE {name}: {e}"));
        }
    }
}

fn finish(outcome: Result<(), tokio::task::JoinError>) {
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("the test task did not finish: {e}"),
        }
    }
}

/// The message of a Conflict, or a failure naming what came instead.
#[track_caller]
pub fn conflict<T: std::fmt::Debug>(result: Result<T, CatalogError>) -> String {
    match result {
        Err(CatalogError::Conflict(message)) => message,
        other => panic!("expected a Conflict, got {other:?}"),
    }
}

// ---- record builders ----

/// A fixed instant plus `secs`, with nanoseconds, to show that times round-trip exactly.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 5, 1, 9, 30, 0).unwrap()
        + Duration::seconds(secs)
        + Duration::nanoseconds(123_456_789)
}

pub fn new_run(id: &str, kind: RunKind, domain: &str, product: &str, started: i64) -> NewRun {
    NewRun {
        id: id.into(),
        kind,
        domain: domain.into(),
        product: product.into(),
        started_at: at(started),
        content_hash: Some(format!("hash-of-{id}")),
        host: "builder-1".into(),
        pid: 4_000_000_000,
    }
}

pub fn finish_as(status: RunStatus, finished: i64) -> RunFinish {
    RunFinish {
        status,
        finished_at: at(finished),
        rows: Some(42),
        error: None,
        summary: serde_json::json!({ "ports": { "main": { "rows": 42 } } }),
    }
}

pub fn key(port: &str) -> PortKey {
    PortKey::new("crm", "customers", port)
}

pub fn version(key: &PortKey, version: i64, run_id: &str) -> VersionRecord {
    VersionRecord {
        key: key.clone(),
        version,
        run_id: run_id.into(),
        rows: 100 + version,
        content_hash: format!("sha256:{version:04}"),
        contract_version: "1.0.0".into(),
        committed_at: at(version),
    }
}

pub fn check(name: &str, passed: bool) -> CheckRecord {
    CheckRecord {
        port: "main".into(),
        name: name.into(),
        kind: "not_null".into(),
        column: Some("customer_id".into()),
        severity: "error".into(),
        passed,
        measured: Some(0.1 + 0.2),
        expected: "0".into(),
        failed_rows: if passed { None } else { Some(3) },
        samples: serde_json::json!([]),
        message: None,
    }
}
