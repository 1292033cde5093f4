//! Runs: their lifecycle, their order, and the last good publish.

use tessera_catalog::{RunFinish, RunKind, RunQuery, RunRecord, RunStatus};

use crate::support::{Fixture, at, conflict, finish_as, new_run};

backend_tests!(
    a_run_starts_running_and_finishes_once,
    finish_run_conflicts_change_nothing,
    runs_are_newest_first_and_filtered,
    last_good_publish_is_the_newest_succeeded_publish,
);

async fn a_run_starts_running_and_finishes_once(fx: Fixture) {
    let store = fx.open().await;
    let start = new_run("r1", RunKind::Publish, "crm", "customers", 0);
    store.start_run(&start).await.unwrap();

    let running = RunRecord {
        id: "r1".into(),
        kind: RunKind::Publish,
        domain: "crm".into(),
        product: "customers".into(),
        status: RunStatus::Running,
        started_at: at(0),
        finished_at: None,
        duration_ms: None,
        rows: None,
        error: None,
        content_hash: Some("hash-of-r1".into()),
        host: "builder-1".into(),
        pid: 4_000_000_000,
        summary: serde_json::Value::Null,
    };
    assert_eq!(store.run("r1").await.unwrap(), Some(running.clone()));

    let summary = serde_json::json!({
        "ports": [{ "name": "main", "rows": 1234, "ratio": 0.25, "ok": true, "note": null }],
        "text": "naïve \"quoted\" \\ line\nbreak ✓",
        "big": 9_007_199_254_740_993_i64,
    });
    let finish = RunFinish {
        status: RunStatus::Failed,
        finished_at: at(0) + chrono::Duration::microseconds(1_234_567),
        rows: Some(1234),
        error: Some("check `not_null(customer_id)` failed".into()),
        summary: summary.clone(),
    };
    store.finish_run("r1", &finish).await.unwrap();

    let finished = store.run("r1").await.unwrap().unwrap();
    assert_eq!(
        finished,
        RunRecord {
            status: RunStatus::Failed,
            finished_at: Some(finish.finished_at),
            duration_ms: Some(1234),
            rows: Some(1234),
            error: finish.error.clone(),
            summary,
            ..running
        }
    );

    let again = conflict(
        store
            .finish_run("r1", &finish_as(RunStatus::Succeeded, 9))
            .await,
    );
    assert!(again.contains("already finished as failed"), "{again}");
    assert_eq!(store.run("r1").await.unwrap(), Some(finished));
    assert_eq!(store.run("nope").await.unwrap(), None);
}

async fn finish_run_conflicts_change_nothing(fx: Fixture) {
    let store = fx.open().await;
    let unknown = conflict(
        store
            .finish_run("ghost", &finish_as(RunStatus::Succeeded, 1))
            .await,
    );
    assert!(unknown.contains("run ghost is not recorded"), "{unknown}");
    assert_eq!(store.run("ghost").await.unwrap(), None);

    store
        .start_run(&new_run("r1", RunKind::Build, "crm", "customers", 0))
        .await
        .unwrap();
    let before = store.run("r1").await.unwrap();

    let as_running = conflict(
        store
            .finish_run("r1", &finish_as(RunStatus::Running, 1))
            .await,
    );
    assert!(as_running.contains("with status running"), "{as_running}");

    let twice = conflict(
        store
            .start_run(&new_run("r1", RunKind::Test, "sales", "orders", 5))
            .await,
    );
    assert!(twice.contains("run r1 is already recorded"), "{twice}");
    assert_eq!(store.run("r1").await.unwrap(), before);

    // Interrupted is a final status like any other.
    store
        .finish_run("r1", &finish_as(RunStatus::Interrupted, 2))
        .await
        .unwrap();
    assert_eq!(
        store.run("r1").await.unwrap().unwrap().status,
        RunStatus::Interrupted
    );
}

fn ids(runs: &[RunRecord]) -> Vec<&str> {
    runs.iter().map(|r| r.id.as_str()).collect()
}

async fn runs_are_newest_first_and_filtered(fx: Fixture) {
    let store = fx.open().await;
    // (id, kind, product, started, final status)
    let plan = [
        (
            "a",
            RunKind::Build,
            "customers",
            10,
            Some(RunStatus::Succeeded),
        ),
        ("b", RunKind::Test, "customers", 20, Some(RunStatus::Failed)),
        (
            "c",
            RunKind::Publish,
            "customers",
            30,
            Some(RunStatus::Succeeded),
        ),
        ("d", RunKind::Publish, "leads", 25, None),
        ("e", RunKind::Build, "leads", 5, Some(RunStatus::Skipped)),
        // started at the same instant as `c`: the id breaks the tie
        (
            "f",
            RunKind::Publish,
            "customers",
            30,
            Some(RunStatus::Failed),
        ),
    ];
    for (id, kind, product, started, status) in plan {
        store
            .start_run(&new_run(id, kind, "crm", product, started))
            .await
            .unwrap();
        if let Some(status) = status {
            store
                .finish_run(id, &finish_as(status, started + 1))
                .await
                .unwrap();
        }
    }
    store
        .start_run(&new_run("x", RunKind::Build, "sales", "customers", 50))
        .await
        .unwrap();

    let all = store.runs(&RunQuery::default()).await.unwrap();
    assert_eq!(ids(&all), ["x", "f", "c", "d", "b", "a", "e"]);

    let q = |domain: Option<&str>,
             product: Option<&str>,
             kind: Option<RunKind>,
             status: Option<RunStatus>,
             limit: Option<u32>| RunQuery {
        domain: domain.map(Into::into),
        product: product.map(Into::into),
        kind,
        status,
        limit,
    };
    let cases = [
        (
            q(Some("crm"), None, None, None, None),
            vec!["f", "c", "d", "b", "a", "e"],
        ),
        (
            q(Some("crm"), Some("customers"), None, None, None),
            vec!["f", "c", "b", "a"],
        ),
        (
            q(None, Some("customers"), None, None, None),
            vec!["x", "f", "c", "b", "a"],
        ),
        (
            q(None, None, Some(RunKind::Publish), None, None),
            vec!["f", "c", "d"],
        ),
        (
            q(None, None, None, Some(RunStatus::Running), None),
            vec!["x", "d"],
        ),
        (
            q(
                Some("crm"),
                Some("customers"),
                Some(RunKind::Publish),
                Some(RunStatus::Succeeded),
                None,
            ),
            vec!["c"],
        ),
        (q(None, None, None, None, Some(2)), vec!["x", "f"]),
        (
            q(Some("crm"), None, Some(RunKind::Build), None, Some(1)),
            vec!["a"],
        ),
        (q(None, None, None, None, Some(0)), vec![]),
        (q(Some("nowhere"), None, None, None, None), vec![]),
    ];
    for (query, want) in cases {
        let got = store.runs(&query).await.unwrap();
        assert_eq!(ids(&got), want, "{query:?}");
    }
}

async fn last_good_publish_is_the_newest_succeeded_publish(fx: Fixture) {
    let store = fx.open().await;
    assert_eq!(
        store.last_good_publish("crm", "customers").await.unwrap(),
        None
    );
    let runs = [
        (
            "old-good",
            RunKind::Publish,
            "customers",
            10,
            Some(RunStatus::Succeeded),
        ),
        (
            "good",
            RunKind::Publish,
            "customers",
            20,
            Some(RunStatus::Succeeded),
        ),
        (
            "newer-failed",
            RunKind::Publish,
            "customers",
            30,
            Some(RunStatus::Failed),
        ),
        (
            "newer-skipped",
            RunKind::Publish,
            "customers",
            35,
            Some(RunStatus::Skipped),
        ),
        (
            "newer-build",
            RunKind::Build,
            "customers",
            40,
            Some(RunStatus::Succeeded),
        ),
        ("newer-running", RunKind::Publish, "customers", 50, None),
        (
            "other-product",
            RunKind::Publish,
            "leads",
            60,
            Some(RunStatus::Succeeded),
        ),
    ];
    for (id, kind, product, started, status) in runs {
        store
            .start_run(&new_run(id, kind, "crm", product, started))
            .await
            .unwrap();
        if let Some(status) = status {
            store
                .finish_run(id, &finish_as(status, started + 1))
                .await
                .unwrap();
        }
    }
    let good = store
        .last_good_publish("crm", "customers")
        .await
        .unwrap()
        .expect("a succeeded publish");
    assert_eq!(good.id, "good");
    assert_eq!(good, store.run("good").await.unwrap().unwrap());
    assert_eq!(
        store
            .last_good_publish("crm", "leads")
            .await
            .unwrap()
            .map(|r| r.id),
        Some("other-product".into())
    );
    assert_eq!(
        store.last_good_publish("sales", "customers").await.unwrap(),
        None
    );
}
