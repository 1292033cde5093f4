//! A mesh on disk (the one `tessera init` writes) and an engine over it.

use std::fs;
use std::path::{Path, PathBuf};

use tessera_engine::Engine;
use tessera_model::MeshFile;

pub struct TestMesh {
    pub dir: tempfile::TempDir,
}

impl TestMesh {
    /// The example mesh: source crm.raw_customers (CSV) → product crm/customers.
    pub fn example() -> TestMesh {
        let dir = tempfile::tempdir().unwrap();
        for f in tessera_model::scaffold::new_mesh("test", "owner@example.com") {
            let p = dir.path().join(&f.path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, f.text).unwrap();
        }
        TestMesh { dir }
    }

    /// The example mesh plus marketing/names, which reads crm/customers' port.
    pub fn with_downstream() -> TestMesh {
        let mesh = TestMesh::example();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/marketing");
        copy(&fixtures, &mesh.path("domains/marketing"));
        mesh
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap()
    }

    /// Replaces `from` by `to` in a file; panics if `from` is not there.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    pub async fn engine(&self) -> Engine {
        let files = read_mesh(self.dir.path());
        let (mesh, diags) = tessera_model::load(&files);
        assert!(!diags.has_errors(), "the test mesh is invalid: {diags:?}");
        Engine::open(mesh.unwrap(), self.dir.path()).await.unwrap()
    }
}

pub fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

pub fn read_mesh(root: &Path) -> Vec<MeshFile> {
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<MeshFile>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || (dir == root && name == "data") {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out);
        } else if ["yaml", "yml", "sql", "cedar"]
            .iter()
            .any(|x| p.extension().is_some_and(|e| e == *x))
        {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push(MeshFile {
                path: rel,
                bytes: fs::read(&p).unwrap(),
            });
        }
    }
}
