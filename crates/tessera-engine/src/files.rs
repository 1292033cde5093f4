//! A mesh's definition files on disk: reading them all, and replacing some of them as one
//! change that can be undone. (`tessera-model` does no I/O; the CLI and the servers read
//! and write a mesh through here.)
//!
//! ```text
//!  read_mesh(root) ─▶ [MeshFile] ─▶ tessera_model::load
//!  replace(root, files) ─▶ Replaced ─┬─ keep()     the new files stay
//!                                    └─ restore()  the previous contents come back
//! ```

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use tessera_model::MeshFile;

use crate::{EngineError, Result};

/// Extensions of the files a mesh is made of (data files are not read here).
pub const MESH_EXTENSIONS: &[&str] = &["yaml", "yml", "sql", "cedar"];
/// Folders at the mesh root that are never part of its definition.
const SKIP_DIRS: &[&str] = &["target", "node_modules", "data"];
const MAX_DEPTH: usize = 8;

/// Reads every mesh file under `root`, with paths relative to it using `/`, sorted.
/// Hidden files and folders are skipped, and `data/`, `target/`, `node_modules/` at the
/// root.
pub fn read_mesh(root: &Path) -> Result<Vec<MeshFile>> {
    let mut files = Vec::new();
    walk(root, root, 0, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn walk(root: &Path, dir: &Path, depth: usize, files: &mut Vec<MeshFile>) -> Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let cannot_read = |e| EngineError::io(dir, e);
    for entry in fs::read_dir(dir).map_err(cannot_read)? {
        let entry = entry.map_err(cannot_read)?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(|e| EngineError::io(&path, e))?;
        if kind.is_dir() {
            // `data/` holds source data at the mesh root only; elsewhere it is a folder like any.
            if depth == 0 && SKIP_DIRS.contains(&name.as_str()) {
                continue;
            }
            walk(root, &path, depth + 1, files)?;
        } else if kind.is_file()
            && path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| MESH_EXTENSIONS.contains(&e))
        {
            let bytes = fs::read(&path).map_err(|e| EngineError::io(&path, e))?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            files.push(MeshFile { path: rel, bytes });
        }
    }
    Ok(())
}

/// Files written by [`replace`], with what was there before: [`Replaced::restore`] puts
/// it back, [`Replaced::keep`] accepts the change. Dropping it keeps the change too.
#[must_use = "restore() or keep() the replaced files"]
#[derive(Debug)]
pub struct Replaced {
    /// Each file written, and its previous bytes (`None`: it did not exist).
    previous: Vec<(PathBuf, Option<Vec<u8>>)>,
    /// Folders created for new files, outermost first.
    created_dirs: Vec<PathBuf>,
}

/// Writes `files` (paths relative to `root`, with `/`) in place of what is there. Each
/// file is written to a temporary name in its folder and renamed over the old one, so a
/// reader sees the old or the new file, never half of one. If one cannot be written, the
/// ones already written are put back and the error is returned.
///
/// Paths must stay inside `root` (no `..`, not absolute); callers validate them first,
/// and this refuses them again.
pub fn replace(root: &Path, files: &[MeshFile]) -> Result<Replaced> {
    let mut replaced = Replaced {
        previous: Vec::new(),
        created_dirs: Vec::new(),
    };
    for f in files {
        if let Err(e) = write_one(root, f, &mut replaced) {
            if let Err(undo) = replaced.restore() {
                tracing::error!("could not put back the files replaced before {e}: {undo}");
            }
            return Err(e);
        }
    }
    Ok(replaced)
}

fn write_one(root: &Path, f: &MeshFile, replaced: &mut Replaced) -> Result<()> {
    let inside = !f.path.is_empty()
        && !f.path.starts_with('/')
        && f.path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\\'));
    if !inside {
        return Err(EngineError::Invalid(format!(
            "{}: not a path inside the mesh",
            f.path
        )));
    }
    let target = root.join(&f.path);
    let parent = target.parent().unwrap_or(root).to_path_buf();
    let mut missing: Vec<PathBuf> = parent
        .ancestors()
        .take_while(|p| !p.exists())
        .map(Path::to_path_buf)
        .collect();
    fs::create_dir_all(&parent).map_err(|e| EngineError::io(&parent, e))?;
    missing.reverse();
    replaced.created_dirs.extend(missing);
    let before = match fs::read(&target) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(EngineError::io(&target, e)),
    };
    write_atomically(&target, &f.bytes)?;
    replaced.previous.push((target, before));
    Ok(())
}

fn write_atomically(target: &Path, bytes: &[u8]) -> Result<()> {
    let parent = target.parent().unwrap_or(Path::new("."));
    let tmp = parent.join(format!(
        ".{}.tessera-new",
        target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("file")
    ));
    let written = fs::File::create(&tmp)
        .and_then(|mut out| out.write_all(bytes).and_then(|()| out.sync_all()))
        .and_then(|()| fs::rename(&tmp, target));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(EngineError::io(target, e));
    }
    Ok(())
}

impl Replaced {
    /// How many files were written.
    pub fn len(&self) -> usize {
        self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.previous.is_empty()
    }

    /// Accepts the change.
    pub fn keep(self) {}

    /// Puts every replaced file back as it was (removing the ones that were new, and the
    /// folders made for them). Tries every file; returns the first failure.
    pub fn restore(self) -> Result<()> {
        let mut first: Option<EngineError> = None;
        for (path, before) in self.previous.iter().rev() {
            let undone = match before {
                Some(bytes) => write_atomically(path, bytes),
                None => match fs::remove_file(path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(EngineError::io(path, e)),
                },
            };
            if let Err(e) = undone {
                first.get_or_insert(e);
            }
        }
        for dir in self.created_dirs.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
        first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> MeshFile {
        MeshFile {
            path: path.into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn reads_definition_files_only_sorted_and_with_slashes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("domains/crm/customers")).unwrap();
        fs::create_dir_all(root.join("data/crm")).unwrap();
        fs::create_dir_all(root.join(".tessera")).unwrap();
        fs::write(root.join("mesh.yaml"), "name: m\n").unwrap();
        fs::write(root.join("domains/crm/customers/customers.sql"), "SELECT 1").unwrap();
        fs::write(root.join("domains/crm/customers/notes.txt"), "x").unwrap();
        fs::write(root.join("data/crm/raw.yaml"), "x").unwrap();
        fs::write(root.join(".tessera/state.yaml"), "x").unwrap();
        let paths: Vec<String> = read_mesh(root)
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(paths, ["domains/crm/customers/customers.sql", "mesh.yaml"]);
    }

    #[test]
    fn a_replacement_is_restored_exactly_new_files_and_folders_removed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("domains/crm/customers")).unwrap();
        fs::write(root.join("domains/crm/customers/customers.sql"), "old").unwrap();
        let replaced = replace(
            root,
            &[
                file("domains/crm/customers/customers.sql", "new"),
                file("domains/crm/leads/leads.sql", "SELECT 2"),
            ],
        )
        .unwrap();
        assert_eq!(replaced.len(), 2);
        let sql = root.join("domains/crm/customers/customers.sql");
        assert_eq!(fs::read_to_string(&sql).unwrap(), "new");
        assert!(root.join("domains/crm/leads/leads.sql").is_file());
        replaced.restore().unwrap();
        assert_eq!(fs::read_to_string(&sql).unwrap(), "old");
        assert!(!root.join("domains/crm/leads").exists());
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(root.join("domains/crm/customers"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["customers.sql"]);
    }

    #[test]
    fn paths_outside_the_mesh_are_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for bad in ["../escape.sql", "/abs.sql", "a/../../b.sql", "", "a//b.sql"] {
            let e = replace(root, &[file("ok.sql", "x"), file(bad, "y")]).unwrap_err();
            assert!(
                e.to_string().contains("not a path inside the mesh"),
                "{bad}: {e}"
            );
            assert!(
                !root.join("ok.sql").exists(),
                "{bad}: the first file was put back"
            );
        }
    }
}
