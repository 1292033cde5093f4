//! A running server over the governed fixture mesh of the engine's tests
//! (crates/tessera-engine/tests/governance/mesh: shop, web and marketing domains, a consent
//! port, principals sam, wendy, ana, dan, dora, finn, nobody and the service account
//! mailer), published, with a fixed mesh secret and a token for every principal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_engine::run::Quiet;
use tessera_engine::{Engine, Mode, RunOptions, Status};
use tessera_serve::{Listen, Running, Shared};

/// Each gets a token. `mallory` is not declared in principals.yaml (a token whose
/// principal was removed since): her sessions are refused.
pub const PRINCIPALS: &[&str] = &[
    "sam", "wendy", "ana", "dan", "dora", "finn", "nobody", "mailer", "mallory",
];

pub fn governance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tessera-engine/tests/governance")
}

pub struct Server {
    /// The mesh; removed when the server is dropped.
    _dir: tempfile::TempDir,
    pub running: Running,
    /// principal → a token with no purpose restriction.
    pub tokens: BTreeMap<String, String>,
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The mesh's definition files (not its data), with paths relative to `root`.
fn read_mesh(root: &Path, dir: &Path) -> Vec<tessera_model::MeshFile> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('.') || (dir == root && name == "data") {
            continue;
        }
        if path.is_dir() {
            out.extend(read_mesh(root, &path));
        } else if ["yaml", "sql", "cedar"]
            .iter()
            .any(|x| path.extension().is_some_and(|e| e == *x))
        {
            out.push(tessera_model::MeshFile {
                path: path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                bytes: std::fs::read(&path).unwrap(),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The governed engine over a published copy of the fixture mesh in `root`, with
/// `mesh_yaml_extra` appended to its mesh.yaml (a `query:` block there replaces the
/// fixture's).
/// The copied mesh's files are changed by `edit` before it is loaded.
pub async fn engine_edited(root: &Path, mesh_yaml_extra: &str, edit: impl FnOnce(&Path)) -> Engine {
    copy(&governance_dir().join("mesh"), root);
    edit(root);
    if !mesh_yaml_extra.is_empty() {
        // The fixture's own `query:` block gives way to one in `mesh_yaml_extra`.
        let path = root.join("mesh.yaml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        if mesh_yaml_extra.contains("query:") {
            text = text.replace("query:\n  max_rows: 1000\n  timeout: 60s\n", "");
        }
        text.push_str(mesh_yaml_extra);
        std::fs::write(&path, text).unwrap();
    }
    let (mesh, diags) = tessera_model::load(&read_mesh(root, root));
    assert!(
        !diags.has_errors(),
        "the fixture mesh is invalid: {diags:?}"
    );
    let mut engine = Engine::open(mesh.unwrap(), root).await.unwrap();
    let out = engine
        .run(&[], Mode::Publish, &RunOptions::default(), &Quiet)
        .await
        .unwrap();
    assert!(
        out.iter()
            .all(|o| matches!(o.status, Status::Succeeded | Status::Skipped)),
        "{out:#?}"
    );
    // The fixed secret of the engine's governance tests: masked hashes match its .slt files.
    std::fs::write(
        root.join(".tessera/secret"),
        "fixture-secret-0123456789abcdef",
    )
    .unwrap();
    let diags = engine.enable_governance().unwrap();
    assert!(!diags.has_errors(), "{diags:?}");
    engine
}

/// The server on loopback (port 0 for each protocol), with a token per principal.
pub async fn server(mesh_yaml_extra: &str) -> Server {
    server_edited(mesh_yaml_extra, |_| {}).await
}

/// [`server`], with the mesh's files changed by `edit` before it is loaded and published.
pub async fn server_edited(mesh_yaml_extra: &str, edit: impl FnOnce(&Path)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_edited(dir.path(), mesh_yaml_extra, edit).await;
    let mut tokens = BTreeMap::new();
    for p in PRINCIPALS {
        let issued = tessera_serve::issue(engine.catalog.as_ref(), p, vec![], None, "test", None)
            .await
            .unwrap();
        tokens.insert(p.to_string(), issued.token);
    }
    let shared = Arc::new(Shared::new(engine));
    let loopback = "127.0.0.1:0".parse().unwrap();
    let running = tessera_serve::start(
        shared,
        &Listen {
            http: Some(loopback),
            pg: Some(loopback),
            flight: Some(loopback),
        },
    )
    .await
    .unwrap();
    Server {
        _dir: dir,
        running,
        tokens,
    }
}

impl Server {
    pub fn token(&self, principal: &str) -> &str {
        &self.tokens[principal]
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.http.unwrap())
    }
}

/// The python with the protocol clients (scripts/test sets it up). Without it the test
/// fails rather than skips, so CI cannot pass without the clients.
pub fn python() -> PathBuf {
    match std::env::var_os("TESSERA_TEST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "TESSERA_TEST_PYTHON is not set: these tests need a python with psycopg, pyarrow and \
             adbc-driver-flightsql. Run scripts/test (it makes the venv from \
             scripts/test-requirements.txt and exports TESSERA_TEST_PYTHON)."
        ),
    }
}

pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}
