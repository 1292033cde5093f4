//! The audit log: records read back as written, filters, tamper evidence (each kind of
//! tampering done by hand, with raw SQL on the same database), and concurrent appends.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tessera_catalog::{
    AuditOutcome, AuditQuery, AuditRecord, AuditVerification, CatalogError, CatalogStore,
    NewAuditRecord,
};

use crate::support::{Fixture, at, conflict};

backend_tests!(
    appended_records_read_back_equal_and_chained,
    filters_match_exactly_and_read_newest_first,
    an_intact_log_verifies_and_another_key_does_not,
    an_edited_record_is_reported_by_seq,
    a_record_deleted_in_the_middle_is_a_gap,
    deleting_the_newest_record_is_seen_by_the_head,
    an_edited_resource_index_is_reported,
    records_added_by_hand_are_reported,
    a_rewound_head_is_reported_and_refused,
    verify_reads_a_log_longer_than_a_page,
    concurrent_appends_to_one_store_lose_nothing,
    concurrent_appends_through_two_stores_lose_nothing,
    an_empty_key_is_refused_and_writes_nothing,
);

const KEY: &[u8] = b"the audit key, kept outside the catalog";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn record(
    principal: &str,
    action: &str,
    resources: serde_json::Value,
    secs: i64,
) -> NewAuditRecord {
    NewAuditRecord {
        at: at(secs),
        principal: principal.into(),
        purpose: None,
        interface: "cli".into(),
        action: action.into(),
        statement: None,
        resources,
        row_count: None,
        outcome: AuditOutcome::Ok,
        error: None,
    }
}

/// The hash as the trait documents it, computed here without the crate's code:
/// hex(HMAC-SHA256(key, prev_hash + "\n" + canonical JSON of every field but hash)).
fn documented_hash(key: &[u8], r: &AuditRecord) -> String {
    let s = |v: &str| serde_json::to_string(v).unwrap();
    let opt = |v: &Option<String>| v.as_deref().map_or("null".to_string(), s);
    let canonical = format!(
        "{{\"seq\":{},\"at\":{},\"principal\":{},\"purpose\":{},\"interface\":{},\"action\":{},\
         \"statement\":{},\"resources\":{},\"row_count\":{},\"outcome\":{},\"error\":{},\
         \"prev_hash\":{}}}",
        r.seq,
        s(&r.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
        s(&r.principal),
        opt(&r.purpose),
        s(&r.interface),
        s(&r.action),
        opt(&r.statement),
        serde_json::to_string(&r.resources).unwrap(),
        r.row_count.map_or("null".to_string(), |n| n.to_string()),
        s(r.outcome.as_str()),
        opt(&r.error),
        s(&r.prev_hash),
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{}\n{canonical}", r.prev_hash).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn append_all(store: &dyn CatalogStore, records: &[NewAuditRecord]) -> Vec<AuditRecord> {
    let mut written = Vec::new();
    for r in records {
        written.push(store.append_audit(KEY, r).await.unwrap());
    }
    written
}

/// Five plain records, 1 to 5.
async fn five(store: &dyn CatalogStore) -> Vec<AuditRecord> {
    let records: Vec<_> = (0..5)
        .map(|i| {
            record(
                &format!("user-{i}"),
                "query",
                serde_json::json!([{ "table": "crm.customers" }]),
                i,
            )
        })
        .collect();
    append_all(store, &records).await
}

fn messages(v: &AuditVerification) -> Vec<(Option<i64>, String)> {
    v.problems
        .iter()
        .map(|p| (p.seq, p.message.clone()))
        .collect()
}

#[track_caller]
fn assert_intact(v: &AuditVerification, records: u64) {
    assert!(v.is_intact(), "{:#?}", v.problems);
    assert_eq!(v.records, records);
    assert_eq!(v.head_seq, i64::try_from(records).ok().filter(|n| *n > 0));
}

async fn appended_records_read_back_equal_and_chained(fx: Fixture) {
    let store = fx.open().await;
    let full = NewAuditRecord {
        at: at(0),
        principal: "alice@example.com".into(),
        purpose: Some("support ticket #42".into()),
        interface: "pg".into(),
        action: "query".into(),
        statement: Some("SELECT email, \"naïve\" FROM crm.customers -- ✓\nWHERE id = 'x'".into()),
        resources: serde_json::json!([{
            "table": "crm.customers",
            "version": 3,
            "columns": [
                { "name": "email", "decision": "masked", "method": "hash" },
                { "name": "id", "decision": "allowed" },
            ],
        }]),
        row_count: Some(9_007_199_254_740_993),
        outcome: AuditOutcome::Ok,
        error: None,
    };
    let denied = NewAuditRecord {
        at: at(1) + chrono::Duration::nanoseconds(1),
        interface: "http".into(),
        action: "approve_access".into(),
        outcome: AuditOutcome::Denied,
        error: Some("policy `owners-approve` denies bob".into()),
        ..record("bob", "approve_access", serde_json::json!([]), 0)
    };
    let failed = NewAuditRecord {
        interface: "flight".into(),
        statement: Some("publish crm/customers".into()),
        outcome: AuditOutcome::Error,
        error: Some("disk full".into()),
        row_count: Some(0),
        ..record(
            "carol",
            "publish",
            serde_json::json!({ "table": "crm.customers" }),
            2,
        )
    };
    let written = append_all(&*store, &[full.clone(), denied.clone(), failed.clone()]).await;

    let mut prev = GENESIS.to_string();
    for ((r, new), seq) in written.iter().zip([&full, &denied, &failed]).zip(1..) {
        let want = AuditRecord {
            seq,
            at: new.at,
            principal: new.principal.clone(),
            purpose: new.purpose.clone(),
            interface: new.interface.clone(),
            action: new.action.clone(),
            statement: new.statement.clone(),
            resources: new.resources.clone(),
            row_count: new.row_count,
            outcome: new.outcome,
            error: new.error.clone(),
            prev_hash: prev.clone(),
            hash: r.hash.clone(),
        };
        assert_eq!(*r, want);
        assert_eq!(r.hash, documented_hash(KEY, r), "record {seq}");
        assert_eq!(r.hash.len(), 64);
        assert!(
            r.hash
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        prev = r.hash.clone();
    }

    // Read back, by another store as another process would: equal in every field.
    let reader = fx.open().await;
    let mut read = reader.audit(&AuditQuery::default()).await.unwrap();
    read.reverse();
    assert_eq!(read, written);
    assert_intact(&reader.verify_audit(KEY).await.unwrap(), 3);
}

async fn filters_match_exactly_and_read_newest_first(fx: Fixture) {
    let store = fx.open().await;
    let table = |name: &str| serde_json::json!({ "table": name });
    let plan = [
        NewAuditRecord {
            purpose: Some("support".into()),
            ..record(
                "alice",
                "query",
                serde_json::json!([table("crm.customers")]),
                0,
            )
        },
        record(
            "bob",
            "query",
            serde_json::json!([table("crm.customers_v2")]),
            10,
        ),
        NewAuditRecord {
            purpose: Some("marketing".into()),
            outcome: AuditOutcome::Denied,
            error: Some("denied by policy p1".into()),
            ..record(
                "alice",
                "query",
                serde_json::json!([table("sales.orders"), table("crm.customers")]),
                20,
            )
        },
        NewAuditRecord {
            purpose: Some("support".into()),
            statement: Some("SELECT * FROM crm.customers".into()),
            outcome: AuditOutcome::Error,
            // Names crm.customers only in text and in a nested object: not a resource.
            ..record(
                "carol",
                "publish",
                serde_json::json!([{ "view": "v", "source": table("crm.customers") }]),
                30,
            )
        },
        NewAuditRecord {
            purpose: Some("support".into()),
            ..record("bob", "erase", serde_json::json!([table("crm")]), 40)
        },
        record(
            "dave",
            "query",
            serde_json::json!([table("crm_customers")]),
            50,
        ),
    ];
    append_all(&*store, &plan).await;

    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q
    };
    let cases: Vec<(AuditQuery, Vec<i64>)> = vec![
        (AuditQuery::default(), vec![6, 5, 4, 3, 2, 1]),
        (q(|q| q.principal = Some("alice".into())), vec![3, 1]),
        (q(|q| q.principal = Some("alic".into())), vec![]),
        (q(|q| q.purpose = Some("support".into())), vec![5, 4, 1]),
        (q(|q| q.resource = Some("crm.customers".into())), vec![3, 1]),
        (q(|q| q.resource = Some("crm.customers_v2".into())), vec![2]),
        (q(|q| q.resource = Some("crm".into())), vec![5]),
        (q(|q| q.resource = Some("crm.%".into())), vec![]),
        (q(|q| q.resource = Some("sales.orders".into())), vec![3]),
        (q(|q| q.action = Some("query".into())), vec![6, 3, 2, 1]),
        (q(|q| q.outcome = Some(AuditOutcome::Denied)), vec![3]),
        (q(|q| q.outcome = Some(AuditOutcome::Error)), vec![4]),
        (q(|q| q.outcome = Some(AuditOutcome::Ok)), vec![6, 5, 2, 1]),
        // since is inclusive, until exclusive
        (q(|q| q.since = Some(at(20))), vec![6, 5, 4, 3]),
        (q(|q| q.until = Some(at(20))), vec![2, 1]),
        (
            q(|q| {
                q.since = Some(at(10));
                q.until = Some(at(30));
            }),
            vec![3, 2],
        ),
        (q(|q| q.limit = Some(2)), vec![6, 5]),
        (q(|q| q.limit = Some(0)), vec![]),
        (q(|q| q.limit = Some(usize::MAX)), vec![6, 5, 4, 3, 2, 1]),
        (
            q(|q| {
                q.principal = Some("alice".into());
                q.resource = Some("crm.customers".into());
                q.outcome = Some(AuditOutcome::Ok);
            }),
            vec![1],
        ),
        (
            q(|q| {
                q.purpose = Some("support".into());
                q.action = Some("erase".into());
                q.since = Some(at(0));
                q.limit = Some(5);
            }),
            vec![5],
        ),
        (q(|q| q.resource = Some("nowhere".into())), vec![]),
    ];
    for (query, want) in cases {
        let got: Vec<i64> = store
            .audit(&query)
            .await
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(got, want, "{query:?}");
    }
}

async fn an_intact_log_verifies_and_another_key_does_not(fx: Fixture) {
    let store = fx.open().await;
    assert_intact(&store.verify_audit(KEY).await.unwrap(), 0);
    five(&*store).await;
    assert_intact(&store.verify_audit(KEY).await.unwrap(), 5);

    let other = store.verify_audit(b"another key").await.unwrap();
    assert!(!other.is_intact());
    assert_eq!(other.records, 5);
    let seqs: Vec<_> = other.problems.iter().map(|p| p.seq).collect();
    assert_eq!(seqs, [Some(1), Some(2), Some(3), Some(4), Some(5)]);
    assert!(other.problems[0].message.contains("hash does not match"));
}

async fn an_edited_record_is_reported_by_seq(fx: Fixture) {
    let store = fx.open().await;
    five(&*store).await;
    fx.execute_raw("UPDATE audit SET principal = 'mallory' WHERE seq = 3".into())
        .await;
    let v = store.verify_audit(KEY).await.unwrap();
    assert_eq!(
        messages(&v),
        [(
            Some(3),
            "record 3 was changed after it was written (its hash does not match)".to_string()
        )]
    );
    assert_eq!((v.records, v.head_seq), (5, Some(5)));

    // A value that no longer decodes is still reported, not an error.
    fx.execute_raw("UPDATE audit SET outcome = 'fine', at = 'yesterday' WHERE seq = 4".into())
        .await;
    let v = store.verify_audit(KEY).await.unwrap();
    assert_eq!(
        v.problems.iter().map(|p| p.seq).collect::<Vec<_>>(),
        [Some(3), Some(4)]
    );
}

async fn a_record_deleted_in_the_middle_is_a_gap(fx: Fixture) {
    let store = fx.open().await;
    five(&*store).await;
    fx.execute_raw(
        "DELETE FROM audit_resources WHERE seq = 3; DELETE FROM audit WHERE seq = 3".into(),
    )
    .await;
    let v = store.verify_audit(KEY).await.unwrap();
    assert_eq!(
        messages(&v),
        [(
            Some(3),
            "record 3 is missing (sequence jumps from 2 to 4)".to_string()
        )]
    );
    assert_eq!(v.records, 4);

    // Appending goes on after the head; the gap stays visible.
    store
        .append_audit(KEY, &record("eve", "query", serde_json::json!([]), 9))
        .await
        .unwrap();
    let v = store.verify_audit(KEY).await.unwrap();
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert_eq!(v.head_seq, Some(6));
}

async fn deleting_the_newest_record_is_seen_by_the_head(fx: Fixture) {
    let store = fx.open().await;
    five(&*store).await;
    fx.execute_raw(
        "DELETE FROM audit_resources WHERE seq >= 4; DELETE FROM audit WHERE seq >= 4".into(),
    )
    .await;
    let v = store.verify_audit(KEY).await.unwrap();
    assert_eq!(
        messages(&v),
        [(
            Some(4),
            "the log ends at record 3 but its head says 5: the newest records were deleted"
                .to_string()
        )]
    );
    assert_eq!((v.records, v.head_seq), (3, Some(5)));

    // Everything deleted: still seen.
    fx.execute_raw("DELETE FROM audit_resources; DELETE FROM audit".into())
        .await;
    let v = store.verify_audit(KEY).await.unwrap();
    assert_eq!(
        messages(&v),
        [(
            Some(1),
            "the log is empty but its head says 5: the newest records were deleted".to_string()
        )]
    );
}

async fn an_edited_resource_index_is_reported(fx: Fixture) {
    let store = fx.open().await;
    five(&*store).await;
    // Hiding record 2 from `resource = crm.customers`, and pointing record 4 elsewhere.
    fx.execute_raw(
        "DELETE FROM audit_resources WHERE seq = 2; \
         UPDATE audit_resources SET resource = 'hr.salaries' WHERE seq = 4"
            .into(),
    )
    .await;
    let v = store.verify_audit(KEY).await.unwrap();
    assert_eq!(
        v.problems.iter().map(|p| p.seq).collect::<Vec<_>>(),
        [Some(2), Some(4)]
    );
    assert!(
        v.problems[1]
            .message
            .contains("(hr.salaries) do not match the tables it names (crm.customers)"),
        "{}",
        v.problems[1]
    );
}

async fn records_added_by_hand_are_reported(fx: Fixture) {
    let store = fx.open().await;
    let written = five(&*store).await;
    let insert = |seq: i64, prev_hash: &str| {
        format!(
            "INSERT INTO audit (seq, at, principal, purpose, interface, action, statement, \
             resources, row_count, outcome, error, prev_hash, hash) VALUES ({seq}, \
             '2025-05-01T09:30:00.000000000Z', 'ghost', NULL, 'cli', 'query', NULL, '[]', \
             NULL, 'ok', NULL, '{prev_hash}', '{}');",
            "f".repeat(64)
        )
    };
    fx.execute_raw(format!(
        "{} {}",
        insert(0, GENESIS),
        insert(6, &written[4].hash)
    ))
    .await;
    // The forged records are listed by audit(), which is why verify must look at them.
    assert_eq!(store.audit(&AuditQuery::default()).await.unwrap().len(), 7);
    let v = store.verify_audit(KEY).await.unwrap();
    assert_eq!(
        messages(&v),
        [
            (
                Some(0),
                "record 0 has a sequence number below 1, which no append writes: it was \
                 added by hand"
                    .to_string()
            ),
            (
                Some(6),
                "record 6 was changed after it was written (its hash does not match)".to_string()
            ),
            (
                Some(6),
                "the log goes on to record 6 but its head says 5: the head was rewound, or \
                 records were added without append_audit"
                    .to_string()
            ),
        ]
    );
    assert_eq!((v.records, v.head_seq), (7, Some(5)));
}

async fn a_rewound_head_is_reported_and_refused(fx: Fixture) {
    let store = fx.open().await;
    let written = five(&*store).await;
    fx.execute_raw(format!(
        "UPDATE audit_head SET seq = 2, hash = '{}'",
        written[1].hash
    ))
    .await;
    let v = store.verify_audit(KEY).await.unwrap();
    assert_eq!(v.head_seq, Some(2));
    assert_eq!(
        messages(&v),
        [(
            Some(3),
            "the log goes on to record 5 but its head says 2: the head was rewound, or \
             records were added without append_audit"
                .to_string()
        )]
    );
    let refused = conflict(
        store
            .append_audit(KEY, &record("eve", "query", serde_json::json!([]), 9))
            .await,
    );
    assert!(refused.contains("a record 3 is already there"), "{refused}");
    assert_eq!(store.audit(&AuditQuery::default()).await.unwrap().len(), 5);

    fx.execute_raw("DELETE FROM audit_head".into()).await;
    let v = store.verify_audit(KEY).await.unwrap();
    assert_eq!(v.head_seq, None);
    assert!(v.problems[0].message.contains("head"), "{:?}", v.problems);
    let refused = conflict(
        store
            .append_audit(KEY, &record("eve", "query", serde_json::json!([]), 9))
            .await,
    );
    assert!(refused.contains("head"), "{refused}");
}

/// More records than one page of verify_audit (10 000), written straight into the
/// tables with hashes computed here, to keep the test quick.
async fn verify_reads_a_log_longer_than_a_page(fx: Fixture) {
    const RECORDS: i64 = 10_050;
    let store = fx.open().await;
    let mut sql = String::from("BEGIN;\n");
    let mut prev = GENESIS.to_string();
    for chunk in (1..=RECORDS).collect::<Vec<_>>().chunks(500) {
        sql.push_str(
            "INSERT INTO audit (seq, at, principal, purpose, interface, action, statement, \
             resources, row_count, outcome, error, prev_hash, hash) VALUES\n",
        );
        let rows: Vec<String> = chunk
            .iter()
            .map(|&seq| {
                let mut r = AuditRecord {
                    seq,
                    at: at(seq),
                    principal: format!("user-{}", seq % 7),
                    purpose: None,
                    interface: "http".into(),
                    action: "query".into(),
                    statement: Some(format!("SELECT {seq}")),
                    resources: serde_json::json!([]),
                    row_count: Some(seq),
                    outcome: AuditOutcome::Ok,
                    error: None,
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                r.hash = documented_hash(KEY, &r);
                prev = r.hash.clone();
                format!(
                    "({seq}, '{}', '{}', NULL, 'http', 'query', 'SELECT {seq}', '[]', {seq}, \
                     'ok', NULL, '{}', '{}')",
                    r.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                    r.principal,
                    r.prev_hash,
                    r.hash
                )
            })
            .collect();
        sql.push_str(&rows.join(",\n"));
        sql.push_str(";\n");
    }
    sql.push_str(&format!(
        "UPDATE audit_head SET seq = {RECORDS}, hash = '{prev}';\nCOMMIT;"
    ));
    fx.execute_raw(sql).await;

    assert_intact(&store.verify_audit(KEY).await.unwrap(), RECORDS as u64);
    // The store appends after them, and a gap right after the first page is seen.
    let next = store
        .append_audit(KEY, &record("eve", "query", serde_json::json!([]), 0))
        .await
        .unwrap();
    assert_eq!((next.seq, next.prev_hash), (RECORDS + 1, prev));
    fx.execute_raw("DELETE FROM audit WHERE seq = 10001".into())
        .await;
    let v = store.verify_audit(KEY).await.unwrap();
    assert_eq!(
        messages(&v),
        [(
            Some(10_001),
            "record 10001 is missing (sequence jumps from 10000 to 10002)".to_string()
        )]
    );
    assert_eq!(v.records, RECORDS as u64);
}

const TASKS: usize = 8;
const APPENDS_PER_TASK: usize = 25;

/// `TASKS` tasks appending `APPENDS_PER_TASK` records each, task `t` through
/// `stores[t % len]`; then checks that every record is there, once, numbered 1..=200
/// without gaps, each task's records in its own order, and the log intact.
async fn append_concurrently(fx: &Fixture, stores: Vec<Arc<dyn CatalogStore>>) {
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = stores[t % stores.len()].clone();
            tokio::spawn(async move {
                for i in 0..APPENDS_PER_TASK {
                    let r = NewAuditRecord {
                        statement: Some(format!("{t}/{i}")),
                        ..record(&format!("task-{t}"), "query", serde_json::json!([]), 0)
                    };
                    store.append_audit(KEY, &r).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("an appending task panicked");
    }

    let reader = fx.open().await;
    let mut all = reader.audit(&AuditQuery::default()).await.unwrap();
    all.reverse();
    let total = TASKS * APPENDS_PER_TASK;
    assert_eq!(
        all.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=total as i64).collect::<Vec<_>>()
    );
    for t in 0..TASKS {
        let mine: Vec<_> = all
            .iter()
            .filter(|r| r.principal == format!("task-{t}"))
            .map(|r| r.statement.clone().unwrap())
            .collect();
        let want: Vec<_> = (0..APPENDS_PER_TASK).map(|i| format!("{t}/{i}")).collect();
        assert_eq!(mine, want, "task {t}'s records");
    }
    assert_intact(&reader.verify_audit(KEY).await.unwrap(), total as u64);
}

async fn concurrent_appends_to_one_store_lose_nothing(fx: Fixture) {
    let store = fx.open().await;
    append_concurrently(&fx, vec![store]).await;
}

async fn concurrent_appends_through_two_stores_lose_nothing(fx: Fixture) {
    // Two pools on the same database, as two processes would have.
    let (a, b) = tokio::join!(fx.open(), fx.open());
    append_concurrently(&fx, vec![a, b]).await;
}

async fn an_empty_key_is_refused_and_writes_nothing(fx: Fixture) {
    let store = fx.open().await;
    let r = record("alice", "query", serde_json::json!([]), 0);
    for err in [
        store.append_audit(b"", &r).await.err(),
        store.verify_audit(b"").await.err(),
    ] {
        match err {
            Some(CatalogError::InvalidArgument(message)) => {
                assert!(message.contains("audit key is empty"), "{message}")
            }
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }
    assert_eq!(store.audit(&AuditQuery::default()).await.unwrap(), vec![]);
    assert_intact(&store.verify_audit(KEY).await.unwrap(), 0);
}
