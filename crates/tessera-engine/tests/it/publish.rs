//! build → check → publish, on real Delta tables and a real SQLite catalog.

use tessera_catalog::{PortKey, RunQuery, RunStatus};
use tessera_engine::run::Quiet;
use tessera_engine::{Mode, RunOptions, Status};
use tessera_model::ProductRef;

use crate::fixture::TestMesh;

fn customers() -> ProductRef {
    ProductRef::parse("crm/customers").unwrap()
}

fn key() -> PortKey {
    PortKey {
        domain: "crm".into(),
        product: "customers".into(),
        port: "customers".into(),
    }
}

const SOURCE: &str = "data/crm/raw_customers.csv";

#[tokio::test]
async fn publish_commits_a_delta_version_and_records_it() {
    let mesh = TestMesh::example();
    let engine = mesh.engine().await;
    let out = engine
        .run(
            &[customers()],
            Mode::Publish,
            &RunOptions::default(),
            &Quiet,
        )
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, Status::Succeeded, "{:?}", out[0].message);
    let port = &out[0].ports[0];
    assert_eq!(port.version, Some(0));
    let report = port.report.as_ref().unwrap();
    assert!(report.passed());
    assert!(report.checks.iter().any(|c| c.kind == "primaryKey"));

    // The Delta table holds the rows; the catalog agrees with the log.
    let table = engine
        .storage
        .table(&engine.port_url(&key()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(table.version(), Some(0));
    let versions = engine.catalog.versions(&key()).await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].rows, port.rows);
    assert!(port.rows > 0);
    let runs = engine.catalog.runs(&RunQuery::default()).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    assert!(!engine.catalog.checks(&runs[0].id).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unchanged_product_is_skipped_and_a_changed_source_republishes() {
    let mesh = TestMesh::example();
    let engine = mesh.engine().await;
    let opts = RunOptions::default();
    engine.run(&[], Mode::Publish, &opts, &Quiet).await.unwrap();
    let again = engine.run(&[], Mode::Publish, &opts, &Quiet).await.unwrap();
    assert_eq!(again[0].status, Status::Skipped);
    assert_eq!(again[0].ports[0].version, Some(0));

    // New rows in the source: a new version.
    let csv = mesh.read(SOURCE);
    mesh.write(SOURCE, &format!("{csv}99,Zed Last,zed@example.com,GB\n"));
    let third = engine.run(&[], Mode::Publish, &opts, &Quiet).await.unwrap();
    assert_eq!(third[0].status, Status::Succeeded, "{:?}", third[0].message);
    assert_eq!(third[0].ports[0].version, Some(1));

    // --force rebuilds an unchanged product.
    let forced = RunOptions {
        force: true,
        ..Default::default()
    };
    let fourth = engine
        .run(&[], Mode::Publish, &forced, &Quiet)
        .await
        .unwrap();
    assert_eq!(fourth[0].ports[0].version, Some(2));
}

#[tokio::test]
async fn failing_checks_commit_nothing_and_quarantine_the_rows() {
    let mesh = TestMesh::example();
    let engine = mesh.engine().await;
    engine
        .run(&[], Mode::Publish, &RunOptions::default(), &Quiet)
        .await
        .unwrap();

    // The SQL repeats one id and adds a row without one: the port's primary key breaks
    // (the source itself is clean, so its checks pass).
    mesh.edit(
        "domains/crm/customers/customers.sql",
        "FROM crm.raw_customers",
        "FROM crm.raw_customers\nUNION ALL SELECT id, name FROM crm.raw_customers WHERE id = 1\nUNION ALL SELECT NULL, 'No Id'",
    );
    let engine = mesh.engine().await;
    let out = engine
        .run(&[], Mode::Publish, &RunOptions::default(), &Quiet)
        .await
        .unwrap();
    let o = &out[0];
    assert_eq!(o.status, Status::Failed);
    assert!(
        o.message
            .as_ref()
            .unwrap()
            .contains("nothing was published"),
        "{:?}",
        o.message
    );
    let report = o.ports[0].report.as_ref().unwrap();
    let failed: Vec<_> = report.checks.iter().filter(|c| !c.passed).collect();
    assert!(
        failed
            .iter()
            .any(|c| c.kind == "primaryKey" && c.failed_rows == Some(1)),
        "{failed:#?}"
    );
    assert!(
        failed
            .iter()
            .all(|c| c.samples.len() <= 10 && !c.samples.is_empty())
    );
    let quarantine = o.ports[0]
        .quarantine
        .as_ref()
        .expect("failing rows are quarantined");
    let path = url::Url::parse(quarantine).unwrap().to_file_path().unwrap();
    assert!(path.is_file(), "{path:?}");

    // Still version 0, in the log and in the catalog.
    let table = engine
        .storage
        .table(&engine.port_url(&key()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(table.version(), Some(0));
    assert_eq!(engine.catalog.versions(&key()).await.unwrap().len(), 1);
    let runs = engine.catalog.runs(&RunQuery::default()).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Failed);
}

#[tokio::test]
async fn a_ragged_csv_row_and_a_missing_file_are_clear_errors() {
    let mesh = TestMesh::example();
    let engine = mesh.engine().await;
    let csv = mesh.read(SOURCE);
    mesh.write(SOURCE, &format!("{csv}7,Only two\n"));
    let out = engine
        .run(&[], Mode::Publish, &RunOptions::default(), &Quiet)
        .await
        .unwrap();
    assert_eq!(out[0].status, Status::Failed);
    let msg = out[0].message.clone().unwrap();
    assert!(
        msg.contains("customers.sql") || msg.contains("raw_customers"),
        "{msg}"
    );
    assert!(
        engine
            .storage
            .table(&engine.port_url(&key()))
            .await
            .unwrap()
            .is_none()
    );

    std::fs::remove_file(mesh.path(SOURCE)).unwrap();
    let out = engine
        .run(&[], Mode::Publish, &RunOptions::default(), &Quiet)
        .await
        .unwrap();
    let msg = out[0].message.clone().unwrap();
    assert!(
        msg.contains("does not exist") && msg.contains("raw_customers.csv"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_sql_error_names_the_file_and_the_tables_it_can_read() {
    let mesh = TestMesh::example();
    mesh.edit(
        "domains/crm/customers/customers.sql",
        "    name\n",
        "    nmae AS name\n",
    );
    let engine = mesh.engine().await;
    let out = engine
        .run(&[], Mode::Publish, &RunOptions::default(), &Quiet)
        .await
        .unwrap();
    let msg = out[0].message.clone().unwrap();
    assert!(msg.contains("domains/crm/customers/customers.sql"), "{msg}");
    assert!(msg.contains("nmae"), "{msg}");
    assert!(
        msg.contains("crm.raw_customers (id, name, email, country)"),
        "{msg}"
    );
}

#[tokio::test]
async fn build_keeps_a_candidate_that_test_checks_without_publishing() {
    let mesh = TestMesh::example();
    let engine = mesh.engine().await;
    let built = engine
        .run(&[], Mode::Build, &RunOptions::default(), &Quiet)
        .await
        .unwrap();
    assert_eq!(built[0].status, Status::Succeeded, "{:?}", built[0].message);
    assert!(
        engine
            .storage
            .table(&engine.port_url(&key()))
            .await
            .unwrap()
            .is_none()
    );
    let tested = engine
        .test(&[], false, &RunOptions::default(), &Quiet)
        .await
        .unwrap();
    assert_eq!(
        tested[0].status,
        Status::Succeeded,
        "{:?}",
        tested[0].message
    );
    assert!(tested[0].ports[0].report.as_ref().unwrap().checks.len() > 3);
    // The published version does not exist yet: a clear failure.
    let published = engine
        .test(&[], true, &RunOptions::default(), &Quiet)
        .await
        .unwrap();
    assert_eq!(published[0].status, Status::Failed);
    assert!(
        published[0]
            .message
            .as_ref()
            .unwrap()
            .contains("tessera publish crm/customers")
    );
}

#[tokio::test]
async fn reopening_reconciles_the_catalog_with_the_delta_log() {
    let mesh = TestMesh::example();
    let engine = mesh.engine().await;
    engine
        .run(&[], Mode::Publish, &RunOptions::default(), &Quiet)
        .await
        .unwrap();
    // As if the process died between the Delta commit and the catalog write.
    engine.catalog.remove_version(&key(), 0).await.unwrap();
    drop(engine);
    let engine = mesh.engine().await;
    let versions = engine.catalog.versions(&key()).await.unwrap();
    assert_eq!(
        versions.len(),
        1,
        "the version in the log is recorded again"
    );
    assert_eq!(versions[0].version, 0);
    assert!(versions[0].rows > 0);
}

#[tokio::test]
async fn two_publishers_racing_lose_no_version_and_duplicate_none() {
    let mesh = TestMesh::example();
    let a = mesh.engine().await;
    let b = mesh.engine().await;
    let forced = RunOptions {
        force: true,
        ..Default::default()
    };
    let (ra, rb) = tokio::join!(
        a.run(&[], Mode::Publish, &forced, &Quiet),
        b.run(&[], Mode::Publish, &forced, &Quiet)
    );
    let outcomes = [ra.unwrap().remove(0), rb.unwrap().remove(0)];
    let won: Vec<_> = outcomes
        .iter()
        .filter(|o| o.status == Status::Succeeded)
        .collect();
    assert!(!won.is_empty(), "{outcomes:#?}");
    for o in outcomes.iter().filter(|o| o.status == Status::Failed) {
        let msg = o.message.as_deref().unwrap_or_default();
        assert!(
            msg.contains("another publish committed first") || msg.contains("Delta"),
            "{msg}"
        );
    }
    let table = a.storage.table(&a.port_url(&key())).await.unwrap().unwrap();
    let versions = a.catalog.versions(&key()).await.unwrap();
    let numbers: Vec<i64> = versions.iter().map(|v| v.version).collect();
    let expected: Vec<i64> = (0..=table.version().unwrap() as i64).collect();
    assert_eq!(numbers, expected, "every committed version recorded once");
    assert_eq!(versions.len(), won.len());
}

#[tokio::test]
async fn each_run_emits_openlineage_start_and_complete_or_fail() {
    let mesh = TestMesh::example();
    let text = mesh.read("mesh.yaml");
    mesh.write(
        "mesh.yaml",
        &format!("{text}lineage:\n  file: lineage.ndjson\n"),
    );
    let engine = mesh.engine().await;
    engine
        .run(&[], Mode::Publish, &RunOptions::default(), &Quiet)
        .await
        .unwrap();
    let events: Vec<serde_json::Value> = mesh
        .read("lineage.ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["eventType"], "START");
    assert_eq!(events[1]["eventType"], "COMPLETE");
    assert_eq!(events[0]["run"]["runId"], events[1]["run"]["runId"]);
    assert_eq!(events[1]["job"]["name"], "crm/customers");
    let input = events[1]["inputs"][0]["name"].as_str().unwrap();
    assert!(input.ends_with("data/crm/raw_customers.csv"), "{input}");
    let output = &events[1]["outputs"][0];
    assert!(
        output["name"]
            .as_str()
            .unwrap()
            .ends_with("crm/customers/customers")
    );
    assert!(
        output["outputFacets"]["outputStatistics"]["rowCount"]
            .as_i64()
            .unwrap()
            > 0
    );

    // A failing build: FAIL with the error.
    mesh.write(SOURCE, "id,name,email,country\n");
    let engine = mesh.engine().await;
    engine
        .run(&[], Mode::Publish, &RunOptions::default(), &Quiet)
        .await
        .unwrap();
    let last: serde_json::Value =
        serde_json::from_str(mesh.read("lineage.ndjson").lines().last().unwrap()).unwrap();
    assert_eq!(last["eventType"], "FAIL");
    assert!(
        last["run"]["facets"]["errorMessage"]["message"]
            .as_str()
            .unwrap()
            .contains("check")
    );
}

#[tokio::test]
async fn a_standalone_contract_is_checked_against_its_local_file() {
    let mesh = TestMesh::example();
    let path = mesh.path("domains/crm/sources/raw_customers.odcs.yaml");
    let text = mesh.read("domains/crm/sources/raw_customers.odcs.yaml");
    // The path is relative to the contract's folder when tested standalone.
    let text = text.replace(
        "path: data/crm/raw_customers.csv",
        "path: ../../../data/crm/raw_customers.csv",
    );
    std::fs::write(&path, &text).unwrap();
    let (contract, diags) = tessera_model::Contract::parse("raw_customers.odcs.yaml", &text);
    assert!(!diags.has_errors(), "{diags:?}");
    let contract = contract.unwrap();
    let opts = tessera_quality::CheckOptions::default();
    let reports =
        tessera_engine::standalone::test_contract(&contract, &[path.parent().unwrap()], &opts)
            .await
            .unwrap();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].passed(), "{:#?}", reports[0]);
    assert!(reports[0].rows > 0);

    // A duplicate id breaks `unique`.
    let csv = mesh.read(SOURCE);
    let first = csv.lines().nth(1).unwrap();
    mesh.write(SOURCE, &format!("{csv}{first}\n"));
    let reports =
        tessera_engine::standalone::test_contract(&contract, &[path.parent().unwrap()], &opts)
            .await
            .unwrap();
    let unique = reports[0]
        .checks
        .iter()
        .find(|c| c.kind == "unique")
        .unwrap();
    assert!(!unique.passed);
    assert_eq!(unique.failed_rows, Some(1));
    assert_eq!(
        unique.samples.len(),
        2,
        "both rows of the repeated id are shown"
    );
}

#[tokio::test]
async fn downstream_products_build_after_their_inputs_and_can_pin_a_version() {
    let mesh = TestMesh::with_downstream();
    let engine = mesh.engine().await;
    let names = ProductRef::parse("marketing/names").unwrap();
    // Publishing the downstream product publishes its stale upstream first.
    let out = engine
        .run(
            std::slice::from_ref(&names),
            Mode::Publish,
            &RunOptions::default(),
            &Quiet,
        )
        .await
        .unwrap();
    let order: Vec<&str> = out.iter().map(|o| o.product.as_str()).collect();
    assert_eq!(order, ["crm/customers", "marketing/names"]);
    assert!(
        out.iter().all(|o| o.status == Status::Succeeded),
        "{out:#?}"
    );
    let rows_v0 = out[1].ports[0].rows;

    // --force rebuilds the named product, not its fresh upstream.
    let forced = RunOptions {
        force: true,
        ..Default::default()
    };
    let out = engine
        .run(std::slice::from_ref(&names), Mode::Publish, &forced, &Quiet)
        .await
        .unwrap();
    assert_eq!(
        (out[0].status, out[1].status),
        (Status::Skipped, Status::Succeeded)
    );

    // A new upstream version makes the downstream product stale.
    let csv = mesh.read(SOURCE);
    mesh.write(SOURCE, &format!("{csv}99,Zed,zed@example.com,GB\n"));
    let out = engine
        .run(
            std::slice::from_ref(&names),
            Mode::Publish,
            &RunOptions::default(),
            &Quiet,
        )
        .await
        .unwrap();
    assert_eq!(out[1].status, Status::Succeeded);
    assert_eq!(out[1].ports[0].rows, rows_v0 + 1);

    // Pinning the input to version 0 reads that version.
    mesh.edit(
        "domains/marketing/names/dataproduct.yaml",
        "    contractId: crm.customers.customers\n",
        "    contractId: crm.customers.customers\n    customProperties:\n      - property: tesseraInputVersion\n        value: 0\n",
    );
    let engine = mesh.engine().await;
    let out = engine
        .run(
            std::slice::from_ref(&names),
            Mode::Publish,
            &RunOptions::default(),
            &Quiet,
        )
        .await
        .unwrap();
    assert_eq!(out[0].status, Status::Skipped, "crm/customers is unchanged");
    assert_eq!(out[1].status, Status::Succeeded, "{:?}", out[1].message);
    assert_eq!(out[1].ports[0].rows, rows_v0);

    // A failed upstream blocks the downstream product in the same run.
    mesh.write(SOURCE, "id,name,email,country\n,No Id,x@example.com,GB\n");
    let out = engine
        .run(&[], Mode::Publish, &RunOptions::default(), &Quiet)
        .await
        .unwrap();
    assert_eq!(out[0].status, Status::Failed);
    assert_eq!(out[1].status, Status::Blocked);
    assert!(
        out[1]
            .message
            .as_ref()
            .unwrap()
            .contains("crm/customers failed")
    );
}

/// The same publish, with the metadata store on PostgreSQL (the server scripts/test starts).
#[tokio::test]
async fn publish_and_reconcile_with_a_postgres_catalog() {
    use sqlx::Connection;
    let admin = std::env::var("TESSERA_TEST_POSTGRES_URL").expect(
        "TESSERA_TEST_POSTGRES_URL is not set; run scripts/test, which starts a test PostgreSQL",
    );
    let db = format!("tessera_engine_{}", uuid_like());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let url = match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{db}"),
        None => panic!("{admin} names no database"),
    };

    let mesh = TestMesh::example();
    mesh.edit(
        "mesh.yaml",
        "url: sqlite://.tessera/catalog.db",
        &format!("url: {url}"),
    );
    let result = async move {
        let engine = mesh.engine().await;
        assert_eq!(engine.catalog.kind(), "postgres");
        let out = engine
            .run(&[], Mode::Publish, &RunOptions::default(), &Quiet)
            .await
            .unwrap();
        assert_eq!(out[0].status, Status::Succeeded, "{:?}", out[0].message);
        engine.catalog.remove_version(&key(), 0).await.unwrap();
        drop(engine);
        let engine = mesh.engine().await;
        assert_eq!(engine.catalog.versions(&key()).await.unwrap().len(), 1);
        let again = engine
            .run(&[], Mode::Publish, &RunOptions::default(), &Quiet)
            .await
            .unwrap();
        assert_eq!(again[0].status, Status::Skipped);
    };
    let outcome = tokio::spawn(result).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

fn uuid_like() -> String {
    use std::hash::{BuildHasher, RandomState};
    format!("{:016x}", RandomState::new().hash_one(std::process::id()))
}
