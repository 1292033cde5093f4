//! The [`CatalogStore`] trait: what every metadata store must do and guarantee.

use crate::{
    CheckRecord, ContractRecord, NewRun, PortKey, PortRecord, ProductRecord, Result, RunFinish,
    RunKind, RunQuery, RunRecord, RunStatus, VersionRecord,
};

/// The metadata store: products, ports, contracts, runs, checks and port versions.
///
/// # Guarantees
///
/// Every implementation must provide these; callers rely on them.
///
/// - **Atomic:** each method is one transaction. A write is either fully recorded or not at
///   all (`record_checks` never leaves half a batch); a read sees one consistent state.
/// - **Durable:** a record is on disk (or committed on the server) when the future
///   resolves with `Ok`. Dropping the future before then may or may not record it.
/// - **Safe under concurrency:** any number of tasks and processes may use the same store
///   at once; writes serialise and none is lost. SQLite: WAL journal, every write
///   transaction takes the write lock up front (`BEGIN IMMEDIATE`) and waits for it up to
///   a busy timeout; one writer connection per process. PostgreSQL: transactions at READ
///   COMMITTED, with each check-then-write guarded by a row lock or a unique key.
/// - **Conflicts are errors, repeats are not:** writing what is already recorded is a
///   no-op (`record_contract`, `record_version`, the upserts); writing something that
///   contradicts it is [`CatalogError::Conflict`](crate::CatalogError::Conflict) and
///   changes nothing.
///
/// Orders are stable: ties are broken by a key, so the same state always reads back the
/// same way.
///
/// The required methods are the essence; the provided ones are built on them and may be
/// overridden when the backend can do better.
#[async_trait::async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn kind(&self) -> &'static str;

    /// Inserts the product, or replaces every field of the recorded one.
    async fn upsert_product(&self, p: &ProductRecord) -> Result<()>;
    /// All products, by domain then product.
    async fn products(&self) -> Result<Vec<ProductRecord>>;

    /// Inserts the port, or replaces every field of the recorded one.
    async fn upsert_port(&self, p: &PortRecord) -> Result<()>;
    /// All ports, by key.
    async fn ports(&self) -> Result<Vec<PortRecord>>;

    /// Records a contract document. Idempotent on `(contract_id, version, content_hash)`:
    /// recording it again keeps the first record (and its `recorded_at`). The same
    /// `(contract_id, version)` with another hash is a new record (history), never an error.
    async fn record_contract(&self, c: &ContractRecord) -> Result<()>;
    /// Every record of a contract id, oldest first.
    async fn contracts(&self, contract_id: &str) -> Result<Vec<ContractRecord>>;

    /// Records a new run with status `Running`. Conflict if the id is already recorded.
    async fn start_run(&self, r: &NewRun) -> Result<()>;
    /// Ends a `Running` run: sets its final status and outcome and computes `duration_ms`.
    /// Conflict if the run is unknown, is no longer `Running`, or `f.status` is `Running`.
    async fn finish_run(&self, id: &str, f: &RunFinish) -> Result<()>;
    /// The run with this id.
    async fn run(&self, id: &str) -> Result<Option<RunRecord>>;
    /// The runs matching `q`, newest first (by `started_at`, then id).
    async fn runs(&self, q: &RunQuery) -> Result<Vec<RunRecord>>;

    /// Appends checks to a run, keeping their order after any recorded before.
    /// Conflict if the run is unknown.
    async fn record_checks(&self, run_id: &str, checks: &[CheckRecord]) -> Result<()>;
    /// A run's checks in the order they were recorded (empty for an unknown run).
    async fn checks(&self, run_id: &str) -> Result<Vec<CheckRecord>>;
    /// Every recorded check with its run id, by run id and then in recorded order.
    async fn all_checks(&self) -> Result<Vec<(String, CheckRecord)>>;

    /// Records a committed port version. Idempotent: the same `(key, version, run_id)`
    /// again is a no-op (the first record stays). The same `(key, version)` with another
    /// `run_id` is a Conflict. The run need not be recorded in this catalog (versions are
    /// also recovered from Delta logs).
    async fn record_version(&self, v: &VersionRecord) -> Result<()>;
    /// Forgets a port version; `true` if it was recorded.
    async fn remove_version(&self, key: &PortKey, version: i64) -> Result<bool>;
    /// A port's versions, ascending.
    async fn versions(&self, key: &PortKey) -> Result<Vec<VersionRecord>>;

    /// A port's highest version.
    async fn latest_version(&self, key: &PortKey) -> Result<Option<VersionRecord>> {
        Ok(self.versions(key).await?.pop())
    }

    /// The newest (by `started_at`) `Succeeded` publish run of a product, to skip a
    /// publish when nothing changed.
    async fn last_good_publish(&self, domain: &str, product: &str) -> Result<Option<RunRecord>> {
        let q = RunQuery {
            domain: Some(domain.to_string()),
            product: Some(product.to_string()),
            kind: Some(RunKind::Publish),
            status: Some(RunStatus::Succeeded),
            limit: Some(1),
        };
        Ok(self.runs(&q).await?.into_iter().next())
    }
}
