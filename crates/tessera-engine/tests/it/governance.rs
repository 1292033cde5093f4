//! Governance enforced in the engine: the matrix of principals × purposes × queries in
//! tests/governance/*.slt (exact rows or errors), the bypass attempts, the audit log.
//!
//! To rewrite expected results after a deliberate change: `TESSERA_SLT_OVERRIDE=1`, then
//! read the diff.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_catalog::AuditQuery;
use tessera_engine::Engine;
use tessera_engine::query::QueryErrorKind;
use tessera_engine::slt::SessionDb;

use crate::fixture::copy;
use crate::sql::{open, publish_all};

fn governance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/governance")
}

struct Governed {
    dir: tempfile::TempDir,
    engine: Arc<Engine>,
}

async fn governed() -> Governed {
    let dir = tempfile::tempdir().unwrap();
    copy(&governance_dir().join("mesh"), dir.path());
    let mut engine = open(dir.path()).await;
    publish_all(&engine).await;
    // A fixed mesh secret, so masked hashes are the same in every run.
    std::fs::write(
        dir.path().join(".tessera/secret"),
        "fixture-secret-0123456789abcdef",
    )
    .unwrap();
    let diags = engine.enable_governance().unwrap();
    assert!(!diags.has_errors(), "{diags:?}");
    Governed {
        dir,
        engine: Arc::new(engine),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_matrix_and_bypass_attempts() {
    let g = governed().await;
    let rewrite = std::env::var_os("TESSERA_SLT_OVERRIDE").is_some();
    let mut files: Vec<PathBuf> = std::fs::read_dir(governance_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "the .slt files are missing: {files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let db = SessionDb::switching(g.engine.clone());
        if let Err(e) = tessera_engine::slt::run_file(db, file, &[], rewrite).await {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_is_audited_and_the_log_detects_edits() {
    let g = governed().await;
    let ana = g
        .engine
        .session(Some("ana"), Some("analytics"), "cli")
        .unwrap();
    let ok = ana
        .collect("SELECT id, email FROM shop.customers ORDER BY id")
        .await
        .unwrap();
    assert_eq!(ok.rows, 3, "ana sees customers of US and GB only");
    let denied = g
        .engine
        .session(Some("mailer"), Some("email_marketing"), "cli")
        .unwrap()
        .collect("SELECT * FROM shop.orders")
        .await
        .unwrap_err();
    assert_eq!(denied.kind(), QueryErrorKind::NotPermitted, "{denied}");
    let absent = g
        .engine
        .session(Some("dan"), Some("modelling"), "cli")
        .unwrap()
        .collect("SELECT name FROM shop.customers")
        .await
        .unwrap_err();
    assert!(
        absent.to_string().contains("no-pii-for-modelling"),
        "names the policy: {absent}"
    );

    let records = g
        .engine
        .catalog
        .audit(&AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(records.len(), 3, "{records:#?}");
    let (newest, middle, oldest) = (&records[0], &records[1], &records[2]);
    assert_eq!(
        (
            oldest.principal.as_str(),
            oldest.purpose.as_deref(),
            oldest.row_count
        ),
        ("ana", Some("analytics"), Some(3))
    );
    assert_eq!(oldest.outcome.as_str(), "ok");
    let read = &oldest.resources[0];
    assert_eq!(read["table"], "shop.customers");
    assert_eq!(read["row_filters"][0], "customer-regions");
    let columns: Vec<(String, String)> = read["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().into(),
                c["access"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("id".to_string(), "visible".to_string()),
            ("email".to_string(), "masked (partial)".to_string()),
            // Read by the row filter.
            ("country".to_string(), "visible".to_string()),
        ]
    );
    assert_eq!(
        (middle.principal.as_str(), middle.outcome.as_str()),
        ("mailer", "denied")
    );
    assert_eq!(
        (newest.principal.as_str(), newest.outcome.as_str()),
        ("dan", "denied")
    );

    let key = g.engine.governor.as_ref().unwrap().audit_key().to_vec();
    assert!(
        g.engine
            .catalog
            .verify_audit(&key)
            .await
            .unwrap()
            .is_intact()
    );
    // Edit the record by hand, as someone with database access might.
    let db = g.dir.path().join(".tessera/catalog.db");
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        db.display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE audit SET principal = 'someone-else' WHERE seq = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    let verified = g.engine.catalog.verify_audit(&key).await.unwrap();
    assert!(!verified.is_intact());
    assert_eq!(verified.problems[0].seq, Some(1), "{:?}", verified.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_need_a_known_principal_and_purpose() {
    let g = governed().await;
    for (who, why, expected) in [
        (None, Some("analytics"), "say who you are"),
        (Some("ana"), None, "say who you are"),
        (Some("anna"), Some("analytics"), "did you mean `ana`"),
        (Some("ana"), Some("fun"), "unknown purpose `fun`"),
    ] {
        let e = g.engine.session(who, why, "cli").unwrap_err();
        assert!(e.to_string().contains(expected), "{who:?}/{why:?}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_rules_report_each_violation_with_its_product() {
    let g = governed().await;
    let (violations, failures) = g.engine.check_rules().await;
    assert!(failures.is_empty(), "{failures:?}");
    let errors: Vec<(Option<&str>, Option<&str>, &str)> = violations
        .iter()
        .filter(|v| v.severity == tessera_engine::rules::RuleSeverity::Error)
        .map(|v| (v.domain.as_deref(), v.product.as_deref(), v.rule.as_str()))
        .collect();
    // Every product has a team, every classified column a masking method.
    assert_eq!(errors, []);
    let warnings = violations
        .iter()
        .filter(|v| v.severity == tessera_engine::rules::RuleSeverity::Warning)
        .count();
    assert_eq!(warnings, 8, "no port of the fixture promises freshness");

    // Take the masking of `confidential` away: the masking rule names the column.
    let text = std::fs::read_to_string(g.dir.path().join("mesh.yaml")).unwrap();
    let (mesh, _) = tessera_model::load(&crate::fixture::read_mesh(g.dir.path()));
    let mut mesh = mesh.unwrap();
    let f = mesh
        .governance_files
        .iter_mut()
        .find(|f| f.path == "mesh.yaml")
        .unwrap();
    f.bytes = text
        .replace("  confidential: generalize\n", "")
        .into_bytes();
    let (gov, diags) = tessera_governance::Governance::load(&mesh);
    assert!(!diags.has_errors(), "{diags:?}");
    let engine = Engine::for_rules(mesh, g.dir.path(), gov.map(Arc::new))
        .await
        .unwrap();
    let (violations, _) = engine.check_rules().await;
    let masked: Vec<&str> = violations
        .iter()
        .filter(|v| v.rule.ends_with("classified_columns_are_masked.sql"))
        .map(|v| v.message.as_str())
        .collect();
    assert_eq!(masked.len(), 1, "{masked:?}");
    assert!(
        masked[0].starts_with("shop/orders: ") && masked[0].contains("column_name=amount"),
        "{}",
        masked[0]
    );
}
