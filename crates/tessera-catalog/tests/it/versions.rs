//! Port versions: idempotent records, conflicts between runs, removal, order.

use tessera_catalog::VersionRecord;

use crate::support::{Fixture, conflict, key, version};

backend_tests!(
    recording_a_version_twice_is_a_no_op,
    a_version_taken_by_another_run_is_a_conflict,
    versions_ascend_and_latest_is_the_highest,
    remove_version_says_whether_it_existed,
    versions_need_no_recorded_run,
);

async fn recording_a_version_twice_is_a_no_op(fx: Fixture) {
    let store = fx.open().await;
    let main = key("main");
    let v1 = version(&main, 1, "run-1");
    store.record_version(&v1).await.unwrap();
    store.record_version(&v1).await.unwrap();
    // Same (key, version, run): a no-op even if the rest differs; the first record stays.
    store
        .record_version(&VersionRecord {
            rows: 0,
            content_hash: "other".into(),
            ..v1.clone()
        })
        .await
        .unwrap();
    assert_eq!(store.versions(&main).await.unwrap(), vec![v1]);
}

async fn a_version_taken_by_another_run_is_a_conflict(fx: Fixture) {
    let store = fx.open().await;
    let main = key("main");
    let v1 = version(&main, 1, "run-1");
    store.record_version(&v1).await.unwrap();

    let message = conflict(store.record_version(&version(&main, 1, "run-2")).await);
    assert!(
        message.starts_with(
            "version 1 of crm/customers/main is already recorded for run run-1; \
             refusing to record it for run run-2"
        ),
        "{message}"
    );
    assert!(message.contains("help:"), "{message}");
    assert_eq!(store.versions(&main).await.unwrap(), vec![v1]);

    // The same version number of another port is another version.
    store
        .record_version(&version(&key("archive"), 1, "run-2"))
        .await
        .unwrap();
}

async fn versions_ascend_and_latest_is_the_highest(fx: Fixture) {
    let store = fx.open().await;
    let main = key("main");
    let archive = key("archive");
    assert_eq!(store.versions(&main).await.unwrap(), vec![]);
    assert_eq!(store.latest_version(&main).await.unwrap(), None);

    for v in [3, 0, 10, 2] {
        store
            .record_version(&version(&main, v, &format!("run-{v}")))
            .await
            .unwrap();
    }
    store
        .record_version(&version(&archive, 99, "run-a"))
        .await
        .unwrap();

    let got = store.versions(&main).await.unwrap();
    assert_eq!(
        got.iter().map(|v| v.version).collect::<Vec<_>>(),
        [0, 2, 3, 10]
    );
    assert_eq!(got[2], version(&main, 3, "run-3"));
    assert_eq!(
        store.latest_version(&main).await.unwrap(),
        Some(version(&main, 10, "run-10"))
    );
    assert_eq!(
        store.latest_version(&archive).await.unwrap(),
        Some(version(&archive, 99, "run-a"))
    );
}

async fn remove_version_says_whether_it_existed(fx: Fixture) {
    let store = fx.open().await;
    let main = key("main");
    for v in 1..=3 {
        store
            .record_version(&version(&main, v, "run-1"))
            .await
            .unwrap();
    }
    assert!(store.remove_version(&main, 2).await.unwrap());
    assert!(!store.remove_version(&main, 2).await.unwrap());
    assert!(!store.remove_version(&key("archive"), 1).await.unwrap());
    assert_eq!(
        store.versions(&main).await.unwrap(),
        vec![version(&main, 1, "run-1"), version(&main, 3, "run-1")]
    );
    // Once removed, the version may be recorded again, by another run.
    store
        .record_version(&version(&main, 2, "run-2"))
        .await
        .unwrap();
    assert_eq!(store.versions(&main).await.unwrap().len(), 3);
    assert!(store.remove_version(&main, 3).await.unwrap());
    assert_eq!(
        store.latest_version(&main).await.unwrap(),
        Some(version(&main, 2, "run-2"))
    );
}

async fn versions_need_no_recorded_run(fx: Fixture) {
    // The engine recovers versions from Delta logs, whose runs this catalog may never
    // have seen (a new catalog over existing tables).
    let store = fx.open().await;
    let v = version(&key("main"), 0, "run-from-another-catalog");
    store.record_version(&v).await.unwrap();
    assert_eq!(store.run("run-from-another-catalog").await.unwrap(), None);
    assert_eq!(store.versions(&key("main")).await.unwrap(), vec![v]);
}
