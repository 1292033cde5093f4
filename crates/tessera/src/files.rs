//! Reading a mesh from disk and writing scaffolded files safely. The model crate does no
//! I/O; this is where bytes come from and go to.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tessera_model::MeshFile;
use tessera_model::scaffold::NewFile;

/// The nearest folder at or above `start` that holds a `mesh.yaml`.
pub fn find_mesh_root(start: &Path) -> Option<PathBuf> {
    let start = start.canonicalize().ok()?;
    start
        .ancestors()
        .find(|dir| dir.join("mesh.yaml").is_file())
        .map(Path::to_path_buf)
}

/// Reads every mesh file under `root`, with paths relative to it using `/`
/// ([`tessera_engine::files::read_mesh`]).
pub fn read_mesh(root: &Path) -> Result<Vec<MeshFile>> {
    Ok(tessera_engine::files::read_mesh(root)?)
}

/// Writes new files under `root`, refusing to overwrite any, and leaving nothing behind if
/// one cannot be written: each file goes to a temporary name first and is renamed into
/// place only when all have been written.
pub fn write_new_files(root: &Path, files: &[NewFile]) -> Result<()> {
    let existing: Vec<String> = files
        .iter()
        .filter(|f| root.join(&f.path).exists())
        .map(|f| f.path.clone())
        .collect();
    if !existing.is_empty() {
        bail!(
            "these files already exist and would be overwritten: {}",
            existing.join(", ")
        );
    }
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        for f in files {
            let target = root.join(&f.path);
            let parent = target.parent().unwrap_or(root).to_path_buf();
            let mut missing: Vec<PathBuf> = parent
                .ancestors()
                .take_while(|p| !p.exists())
                .map(Path::to_path_buf)
                .collect();
            fs::create_dir_all(&parent)
                .with_context(|| format!("cannot create folder {}", parent.display()))?;
            missing.reverse();
            created_dirs.extend(missing);
            let tmp = parent.join(format!(
                ".{}.tessera-new",
                target
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("file")
            ));
            let mut out = fs::File::create(&tmp)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            out.write_all(f.text.as_bytes())
                .and_then(|()| out.sync_all())
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            staged.push((tmp, target));
        }
        for (tmp, target) in &staged {
            fs::rename(tmp, target)
                .with_context(|| format!("cannot create {}", target.display()))?;
        }
        Ok(())
    })();
    if result.is_err() {
        for (tmp, target) in &staged {
            let _ = fs::remove_file(tmp);
            let _ = fs::remove_file(target);
        }
        for dir in created_dirs.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
    result
}

/// A path for messages: `base/rel`, without a leading `./`.
pub fn display_path(base: &Path, rel: &str) -> String {
    let base = base.to_string_lossy();
    let base = base.trim_start_matches("./").trim_end_matches('/');
    if base.is_empty() || base == "." {
        rel.to_string()
    } else {
        format!("{base}/{rel}")
    }
}
