//! SQL over a published mesh: the sqllogictest files in tests/slt/ (results and every
//! error message), run against a query session over the fixture mesh tests/slt/mesh.
//!
//! To rewrite the expected results after a deliberate change, run with
//! `TESSERA_SLT_OVERRIDE=1`, then read the diff: every changed line must be right.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tessera_engine::query::QuerySession;
use tessera_engine::slt::SessionDb;
use tessera_engine::{Engine, Mode, RunOptions, Status};
use tessera_model::config::QueryLimits;

use tessera_engine::run::Quiet;

use crate::fixture::{copy, read_mesh};

/// The fixture mesh, published twice: shop.orders (and analytics.revenue_by_country) have
/// versions 0 and 1; version 1 adds order 107.
pub struct Published {
    /// Kept so the mesh folder outlives the engine.
    pub _dir: tempfile::TempDir,
    pub engine: Engine,
    /// An instant between version 0 and version 1 of shop.orders.
    pub between: chrono::DateTime<chrono::Utc>,
}

pub async fn published() -> Published {
    let dir = tempfile::tempdir().unwrap();
    copy(&slt_dir().join("mesh"), dir.path());
    let engine = open(dir.path()).await;
    publish_all(&engine).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let orders = dir.path().join("data/shop/raw_orders.csv");
    let csv = std::fs::read_to_string(&orders).unwrap();
    std::fs::write(
        &orders,
        format!("{csv}107,5,99.90,2026-04-05T23:59:59Z,paid\n"),
    )
    .unwrap();
    publish_all(&engine).await;
    Published {
        _dir: dir,
        engine,
        between,
    }
}

pub async fn open(root: &Path) -> Engine {
    let (mesh, diags) = tessera_model::load(&read_mesh(root));
    assert!(
        !diags.has_errors(),
        "the fixture mesh is invalid: {diags:?}"
    );
    Engine::open(mesh.unwrap(), root).await.unwrap()
}

pub async fn publish_all(engine: &Engine) {
    let out = engine
        .run(&[], Mode::Publish, &RunOptions::default(), &Quiet)
        .await
        .unwrap();
    assert!(
        out.iter()
            .all(|o| matches!(o.status, Status::Succeeded | Status::Skipped)),
        "{out:#?}"
    );
}

fn slt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt")
}

async fn run_file(session: QuerySession, file: &Path, vars: &[(&str, String)]) -> Option<String> {
    let rewrite = std::env::var_os("TESSERA_SLT_OVERRIDE").is_some();
    tessera_engine::slt::run_file(SessionDb::fixed(session), file, vars, rewrite)
        .await
        .err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files() {
    let mesh = published().await;
    let between = mesh
        .between
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut failures = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(slt_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "the .slt files are missing: {files:?}");
    for file in &files {
        // limits.slt runs under tight limits; every other file under mesh.yaml's.
        let limits = if file.ends_with("limits.slt") {
            QueryLimits {
                memory_limit: 16 << 20,
                timeout: Duration::from_secs(3),
                max_rows: 5,
                target_partitions: 2,
            }
        } else {
            mesh.engine.mesh.config.query
        };
        let session = QuerySession::new(mesh.engine.table_set(), limits);
        if let Some(f) = run_file(session, file, &[("BETWEEN_V0_V1", between.clone())]).await {
            failures.push(f);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
