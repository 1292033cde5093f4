//! Erasures and the erasure register: a started erasure is in the register at once, its
//! progress and report read back as written, a dead process's erasure is claimed once,
//! and a register entry outlives its erasure.

use serde_json::json;
use tessera_catalog::{ErasureFinish, ErasureQuery, ErasureStatus, NewErasure};

use crate::support::{Fixture, at, conflict};

backend_tests!(
    a_started_erasure_is_registered_and_reads_back,
    progress_and_finish_only_while_running,
    a_dead_erasure_is_claimed_by_one_process,
    erasing_a_subject_twice_keeps_the_first_register_entry,
    a_key_in_clear_is_refused_and_writes_nothing,
);

fn hash(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn erasure(id: &str, key_hash: String, started: i64) -> NewErasure {
    NewErasure {
        id: id.into(),
        subject_kind: "customer".into(),
        key_hash,
        principal: "dpo@example.com".into(),
        reason: Some("Art. 17 request #123".into()),
        started_at: at(started),
        host: "host-a".into(),
        pid: 4242,
        plan: json!([{"port": "crm.customers"}, {"port": "marketing.customer_360"}]),
    }
}

async fn a_started_erasure_is_registered_and_reads_back(fx: Fixture) {
    let store = fx.open().await;
    store
        .start_erasure(&erasure("e1", hash(1), 10))
        .await
        .unwrap();
    let register = store.erasure_register().await.unwrap();
    assert_eq!(register.len(), 1);
    assert_eq!(register[0].subject_kind, "customer");
    assert_eq!(register[0].key_hash, hash(1));
    assert_eq!(register[0].erasure_id, "e1");
    // Another process sees it.
    let other = fx.open().await;
    let all = other.erasures(&ErasureQuery::default()).await.unwrap();
    assert_eq!(all.len(), 1);
    let e = &all[0];
    assert_eq!(e.status, ErasureStatus::Running);
    assert_eq!(e.reason.as_deref(), Some("Art. 17 request #123"));
    assert_eq!(e.started_at, at(10));
    assert_eq!(e.pid, 4242);
    assert_eq!(e.plan[1]["port"], "marketing.customer_360");
    assert_eq!(e.progress, json!({}));
    assert_eq!(e.report, None);
    let running = other
        .erasures(&ErasureQuery {
            status: Some(ErasureStatus::Running),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(running.len(), 1);
    let by_subject = other
        .erasures(&ErasureQuery {
            subject: Some(("customer".into(), hash(2))),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(by_subject.is_empty());
    assert!(
        conflict(store.start_erasure(&erasure("e1", hash(3), 11)).await)
            .contains("already recorded")
    );
    assert_eq!(store.erasure_register().await.unwrap().len(), 1);
}

async fn progress_and_finish_only_while_running(fx: Fixture) {
    let store = fx.open().await;
    store
        .start_erasure(&erasure("e1", hash(1), 10))
        .await
        .unwrap();
    let progress =
        json!({"crm.customers": {"version_before": 3, "version_after": 4, "rows_deleted": 1}});
    store.erasure_progress("e1", &progress).await.unwrap();
    let finish = ErasureFinish {
        status: ErasureStatus::Completed,
        finished_at: at(20),
        progress: progress.clone(),
        report: json!({"ports": 1}),
    };
    store.finish_erasure("e1", &finish).await.unwrap();
    let e = store
        .erasures(&ErasureQuery {
            id: Some("e1".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0);
    assert_eq!(e.status, ErasureStatus::Completed);
    assert_eq!(e.finished_at, Some(at(20)));
    assert_eq!(e.progress, progress);
    assert_eq!(e.report, Some(json!({"ports": 1})));
    assert!(
        conflict(store.erasure_progress("e1", &json!({})).await)
            .contains("not recorded as running")
    );
    assert!(
        conflict(store.finish_erasure("e1", &finish).await).contains("not recorded as running")
    );
    assert!(conflict(store.finish_erasure("nope", &finish).await).contains("nope"));
}

async fn a_dead_erasure_is_claimed_by_one_process(fx: Fixture) {
    let store = fx.open().await;
    store
        .start_erasure(&erasure("e1", hash(1), 10))
        .await
        .unwrap();
    let from = ("host-a".to_string(), 4242);
    let mut tasks = Vec::new();
    for pid in [1u32, 2, 3, 4] {
        let store = fx.open().await;
        let from = from.clone();
        tasks.push(tokio::spawn(async move {
            store
                .claim_erasure("e1", from, ("host-b".into(), pid))
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
    let e = store
        .erasures(&ErasureQuery::default())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(e.host, "host-b");
    assert!(
        !store
            .claim_erasure("e1", from, ("host-c".into(), 9))
            .await
            .unwrap()
    );
}

async fn erasing_a_subject_twice_keeps_the_first_register_entry(fx: Fixture) {
    let store = fx.open().await;
    store
        .start_erasure(&erasure("e1", hash(1), 10))
        .await
        .unwrap();
    store
        .start_erasure(&erasure("e2", hash(1), 30))
        .await
        .unwrap();
    store
        .start_erasure(&erasure("e3", hash(2), 20))
        .await
        .unwrap();
    let register = store.erasure_register().await.unwrap();
    assert_eq!(register.len(), 2);
    assert_eq!(register[0].erasure_id, "e1");
    assert_eq!(register[0].recorded_at, at(10));
    let ids: Vec<String> = store
        .erasures(&ErasureQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["e2", "e3", "e1"]);
}

async fn a_key_in_clear_is_refused_and_writes_nothing(fx: Fixture) {
    let store = fx.open().await;
    let err = store
        .start_erasure(&erasure("e1", "4711".into(), 10))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not 64 lowercase hex digits"), "{err}");
    assert!(!err.contains("4711"), "{err}");
    assert!(store.erasure_register().await.unwrap().is_empty());
    assert!(
        store
            .erasures(&ErasureQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
}
