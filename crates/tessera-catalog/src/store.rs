//! The [`CatalogStore`] trait: what every metadata store must do and guarantee.

use chrono::{DateTime, Utc};

use crate::{
    AccessDecision, AccessQuery, AccessRequestRecord, AccessStatus, AuditQuery, AuditRecord,
    AuditVerification, CheckRecord, ContractRecord, ErasureFinish, ErasureQuery, ErasureRecord,
    NewAccessRequest, NewAuditRecord, NewErasure, NewRun, NewToken, PortKey, PortRecord,
    ProductRecord, RegisterEntry, Result, RunFinish, RunKind, RunQuery, RunRecord, RunStatus,
    SlaRecord, TokenRecord, VersionRecord, WebhookDelivery,
};

/// The metadata store: products, ports, contracts, runs, checks and port versions, the
/// audit log, API tokens, erasures, access requests, and SLA monitoring history.
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
/// - **The audit log is append-only and tamper-evident:** records are numbered 1, 2, 3, …
///   without gaps and hash-chained, each hash an HMAC-SHA256 under a key the caller holds
///   and the database never sees; a head row, written in the same transaction as each
///   append, names the newest record. [`verify_audit`](Self::verify_audit) detects an
///   edited record, a deleted one (in the middle or at the end), a record moved or
///   replaced, and an edited resource index. Rewriting the log so that it verifies needs
///   the key. (Deleting the newest records *and* rewinding the head to match is
///   undetectable from the database alone: keep the newest seq and hash elsewhere too,
///   to compare.) The store offers no way to change or delete a record.
/// - **A token's secret is never stored, and its hash never read back:** the store keeps
///   the hex SHA-256 the caller computed, finds a token by it, and lists tokens without
///   it. Tokens are never deleted (revoking one sets `revoked_at`), and the store decides
///   nothing about access: revoked and expired tokens read back like the others.
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

    /// Appends one record to the audit log and returns it as written: `seq` = the previous
    /// record's + 1 (from 1); `prev_hash` = the previous record's hash (64 `0`s for the
    /// first); `hash` = hex(HMAC-SHA256(`key`, `prev_hash` + `"\n"` + the canonical JSON of
    /// every field but `hash`)). One transaction that also updates the log's head; appends
    /// from many tasks and processes serialise, and none is lost.
    ///
    /// [`InvalidArgument`](crate::CatalogError::InvalidArgument) if `key` is empty
    /// (nothing is written); Conflict if the log's head is gone or was rewound (the log was
    /// tampered with; nothing is written).
    async fn append_audit(&self, key: &[u8], r: &NewAuditRecord) -> Result<AuditRecord>;
    /// The audit records matching `q`, newest first (by `seq`).
    async fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>>;
    /// Reads the whole audit log, in `seq` order and in pages, from one consistent
    /// snapshot, and checks it against `key`: `seq` contiguous from 1, each `prev_hash` the
    /// previous record's hash, each hash recomputed with `key`, the resource index in
    /// agreement with each record, the head naming the last record. Damage is reported in
    /// the result, not as an error (at most the first 1000 problems are listed).
    ///
    /// [`InvalidArgument`](crate::CatalogError::InvalidArgument) if `key` is empty.
    async fn verify_audit(&self, key: &[u8]) -> Result<AuditVerification>;

    /// Records a new token. Conflict if the id or the hash is already recorded (nothing is
    /// written). [`InvalidArgument`](crate::CatalogError::InvalidArgument) if the hash is
    /// not 64 lowercase hex digits or the principal is empty (nothing is written; the
    /// message never repeats the hash).
    async fn create_token(&self, t: &NewToken) -> Result<()>;
    /// The token with this hash, revoked or expired ones included (the caller decides). A
    /// hash in any other spelling than 64 lowercase hex digits matches nothing.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>>;
    /// Every token, newest first (by `created_at`, then id), optionally only one
    /// principal's.
    async fn tokens(&self, principal: Option<&str>) -> Result<Vec<TokenRecord>>;
    /// Revokes a token at `at`. `Ok(true)` if it was active (not revoked; an expired one
    /// counts) and is now revoked, `Ok(false)` if it was already revoked (its `revoked_at`
    /// is kept); [`NotFound`](crate::CatalogError::NotFound) if no token has this id.
    /// Concurrent revokes of one token: exactly one returns `true`.
    async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<bool>;
    /// Notes that a token was used at `at` (`last_used_at` = max(old, `at`), so late or
    /// concurrent reports never move it back); a no-op for an unknown id. A write: a
    /// caller on a hot path may want to report a token's use at most every so often.
    async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> Result<()>;

    /// Records a new erasure (status running, with its plan) and enters its subject in the
    /// erasure register, in one transaction. A subject already in the register keeps its
    /// first entry. Conflict if the id is already recorded;
    /// [`InvalidArgument`](crate::CatalogError::InvalidArgument) if `key_hash` is not 64
    /// lowercase hex digits (the message never repeats it).
    async fn start_erasure(&self, e: &NewErasure) -> Result<()>;
    /// Replaces a running erasure's progress. Conflict if it is not running.
    async fn erasure_progress(&self, id: &str, progress: &serde_json::Value) -> Result<()>;
    /// Hands a running erasure from the process `from` (host, pid) to `to`; `false` if it is
    /// no longer running under `from` (another process claimed or finished it first).
    async fn claim_erasure(&self, id: &str, from: (String, u32), to: (String, u32))
    -> Result<bool>;
    /// Ends a running erasure with its report. Conflict if it is not running.
    async fn finish_erasure(&self, id: &str, f: &ErasureFinish) -> Result<()>;
    /// The erasures matching `q`, newest first (by `started_at`, then id).
    async fn erasures(&self, q: &ErasureQuery) -> Result<Vec<ErasureRecord>>;
    /// Every erased subject, by kind and hash: what every build filters out of its inputs.
    async fn erasure_register(&self) -> Result<Vec<RegisterEntry>>;

    /// Records a new access request, status `Requested`. Conflict if the id is already
    /// recorded, or if the principal already has an open (`Requested`) request for the
    /// same port and purpose (the message names it); nothing is written.
    /// [`InvalidArgument`](crate::CatalogError::InvalidArgument) if the principal, port or
    /// purpose is empty.
    async fn create_access_request(&self, r: &NewAccessRequest) -> Result<()>;
    /// Decides a request and returns it as recorded: `Approved`, `Denied` or `Withdrawn`
    /// from `Requested`, `Revoked` from `Approved`. The move is made once: under
    /// concurrency exactly one decider succeeds, and any other decision (approving a
    /// denied request, deciding twice) is a Conflict that names the status it is in, who
    /// decided it and when; nothing is written.
    /// [`NotFound`](crate::CatalogError::NotFound) for an unknown id;
    /// [`InvalidArgument`](crate::CatalogError::InvalidArgument) for a decision as
    /// `Requested`, an expiry on anything but an approval, or an empty decider.
    async fn decide_access_request(
        &self,
        id: &str,
        d: &AccessDecision,
    ) -> Result<AccessRequestRecord>;
    /// The access requests matching `q`, newest first (by `created_at`, then id).
    async fn access_requests(&self, q: &AccessQuery) -> Result<Vec<AccessRequestRecord>>;

    /// The access request with this id.
    async fn access_request(&self, id: &str) -> Result<Option<AccessRequestRecord>> {
        let q = AccessQuery {
            id: Some(id.to_string()),
            ..AccessQuery::default()
        };
        Ok(self.access_requests(&q).await?.into_iter().next())
    }

    /// A principal's grants in force at `at` (approved, not expired), newest first.
    async fn access_grants(
        &self,
        principal: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessRequestRecord>> {
        let q = AccessQuery {
            principal: Some(principal.to_string()),
            status: Some(AccessStatus::Approved),
            active_at: Some(at),
            ..AccessQuery::default()
        };
        self.access_requests(&q).await
    }

    /// Records one evaluation's SLA states, all or none. A row already recorded (same port,
    /// property, element and time) is kept as it is.
    async fn record_slas(&self, records: &[SlaRecord]) -> Result<()>;
    /// The newest recorded state of every (port, property, element), by port, property,
    /// element.
    async fn latest_slas(&self) -> Result<Vec<SlaRecord>>;
    /// The SLA states recorded at or after `since`, of one port or all, by port,
    /// property, element, then time.
    async fn sla_history(&self, port: Option<&str>, since: DateTime<Utc>)
    -> Result<Vec<SlaRecord>>;
    /// Records a webhook delivery. Idempotent on its id.
    async fn record_webhook_delivery(&self, d: &WebhookDelivery) -> Result<()>;
    /// The newest `limit` webhook deliveries, newest first.
    async fn webhook_deliveries(&self, limit: u32) -> Result<Vec<WebhookDelivery>>;

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
