//! Shared by the tests: one generated mesh per test run, reading it back as Tessera does.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tessera_demo::{DemoOptions, GenerateReport, generate, write_mesh};
use tessera_model::{Diagnostics, Mesh, MeshFile};

/// The scale the shared mesh is generated at: small, yet every dirty-row kind occurs.
pub const SCALE: f64 = 0.01;
pub const SEED: u64 = 42;

/// A mesh with data at [`SCALE`], written once per test process under Cargo's temp
/// folder. One folder per process, as nextest runs each test in a process of its own;
/// folders of processes that have ended are removed.
pub fn shared() -> &'static (PathBuf, GenerateReport) {
    static SHARED: OnceLock<(PathBuf, GenerateReport)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tessera-demo-it");
        remove_stale(&parent);
        let dir = parent.join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&dir);
        write_mesh(&dir).expect("the mesh is written");
        let report = generate(
            &dir,
            &DemoOptions {
                scale: SCALE,
                seed: SEED,
            },
            &mut |_| {},
        )
        .expect("the data is generated");
        (dir, report)
    })
}

/// Removes the folders of test processes that are no longer running (Linux: `/proc`).
fn remove_stale(parent: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.parse::<u32>().is_ok() && !Path::new("/proc").join(&name).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The mesh's files as the CLI reads them: `.yaml`, `.yml`, `.sql` and `.cedar` files,
/// leaving out hidden folders and the root's `data/`.
pub fn mesh_files(root: &Path) -> Vec<MeshFile> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<MeshFile>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                if dir == root && name == "data" {
                    continue;
                }
                walk(root, &path, out);
            } else if ["yaml", "yml", "sql", "cedar"]
                .iter()
                .any(|e| path.extension().is_some_and(|x| x == *e))
            {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(MeshFile {
                    path: rel,
                    bytes: std::fs::read(&path).unwrap(),
                });
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

pub fn load(root: &Path) -> (Option<Mesh>, Diagnostics) {
    tessera_model::load(&mesh_files(root))
}

/// Every finding, one per line, for assertion messages.
pub fn render(diags: &Diagnostics) -> String {
    diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
