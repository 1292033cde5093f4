//! Checks: appended per run, read back in the order recorded, samples intact.

use tessera_catalog::{CheckRecord, RunKind};

use crate::support::{Fixture, check, conflict, new_run};

backend_tests!(
    checks_keep_their_order_across_batches_and_samples_round_trip,
    checks_belong_to_their_run,
    checks_for_an_unknown_run_are_a_conflict,
    a_nan_measure_reads_back_as_none_and_infinities_are_kept,
);

async fn checks_keep_their_order_across_batches_and_samples_round_trip(fx: Fixture) {
    let store = fx.open().await;
    store
        .start_run(&new_run("r1", RunKind::Test, "crm", "customers", 0))
        .await
        .unwrap();

    let detailed = CheckRecord {
        port: "main".into(),
        name: "email_format".into(),
        kind: "pattern".into(),
        column: Some("email".into()),
        severity: "warning".into(),
        passed: false,
        measured: Some(-1.5e-300),
        expected: r"^[^@]+@[^@]+$".into(),
        failed_rows: Some(2),
        samples: serde_json::json!([
            { "customer_id": 7, "email": "not-an-email", "score": 0.1, "tags": ["a", "b"] },
            { "customer_id": 9, "email": "naïve@@example", "score": null, "tags": [] },
            "text with 'quotes', \"double quotes\", a \\ and a\nnewline",
            12345678901234567_i64,
        ]),
        message: Some("2 rows do not match ^[^@]+@[^@]+$".into()),
    };
    let bare = CheckRecord {
        column: None,
        measured: None,
        failed_rows: None,
        message: None,
        samples: serde_json::json!(null),
        ..check("row_count", true)
    };
    // Names deliberately out of alphabetical order: the order kept is the order given.
    let first = vec![check("z_first", true), detailed, check("b_third", false)];
    let second = vec![bare, check("a_fifth", true)];
    store.record_checks("r1", &first).await.unwrap();
    store.record_checks("r1", &second).await.unwrap();
    store.record_checks("r1", &[]).await.unwrap();

    let want: Vec<CheckRecord> = first.into_iter().chain(second).collect();
    assert_eq!(store.checks("r1").await.unwrap(), want);
    assert_eq!(
        store.checks("r1").await.unwrap()[0].measured,
        Some(0.1 + 0.2)
    );
}

async fn checks_belong_to_their_run(fx: Fixture) {
    let store = fx.open().await;
    for id in ["r1", "r2"] {
        store
            .start_run(&new_run(id, RunKind::Test, "crm", "customers", 0))
            .await
            .unwrap();
    }
    store
        .record_checks("r1", &[check("one", true)])
        .await
        .unwrap();
    store
        .record_checks("r2", &[check("two", false), check("three", true)])
        .await
        .unwrap();
    store
        .record_checks("r1", &[check("four", false)])
        .await
        .unwrap();

    let names = |checks: Vec<CheckRecord>| checks.into_iter().map(|c| c.name).collect::<Vec<_>>();
    assert_eq!(names(store.checks("r1").await.unwrap()), ["one", "four"]);
    assert_eq!(names(store.checks("r2").await.unwrap()), ["two", "three"]);
    assert!(store.checks("r3").await.unwrap().is_empty());
    let all: Vec<_> = store
        .all_checks()
        .await
        .unwrap()
        .into_iter()
        .map(|(run, c)| (run, c.name))
        .collect();
    let want = [
        ("r1", "one"),
        ("r1", "four"),
        ("r2", "two"),
        ("r2", "three"),
    ];
    assert_eq!(all, want.map(|(r, n)| (r.to_string(), n.to_string())));
}

async fn checks_for_an_unknown_run_are_a_conflict(fx: Fixture) {
    let store = fx.open().await;
    let message = conflict(store.record_checks("ghost", &[check("one", true)]).await);
    assert!(
        message.contains("cannot record checks: run ghost is not recorded"),
        "{message}"
    );
    assert!(store.checks("ghost").await.unwrap().is_empty());
}

async fn a_nan_measure_reads_back_as_none_and_infinities_are_kept(fx: Fixture) {
    let store = fx.open().await;
    store
        .start_run(&new_run("r1", RunKind::Test, "crm", "customers", 0))
        .await
        .unwrap();
    let measured = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        f64::MIN_POSITIVE,
    ];
    let batch: Vec<CheckRecord> = measured
        .iter()
        .map(|m| CheckRecord {
            measured: Some(*m),
            ..check(&format!("{m}"), true)
        })
        .collect();
    store.record_checks("r1", &batch).await.unwrap();
    let got: Vec<Option<f64>> = store
        .checks("r1")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.measured)
        .collect();
    assert_eq!(
        got,
        [
            None,
            Some(f64::INFINITY),
            Some(f64::NEG_INFINITY),
            Some(-0.0),
            Some(f64::MIN_POSITIVE)
        ]
    );
}
