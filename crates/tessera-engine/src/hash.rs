//! The content hash of a product build: what it reads and how. Two builds with the same
//! hash produce the same data, so a product whose hash matches its last good publish is
//! skipped.
//!
//! Covered: Tessera's version, the product descriptor, each port's SQL and contract, and
//! each input's identity — a source file's path, size and modification time (every file
//! of a folder), or an upstream port's table and Delta version (or the hash of the
//! candidate built in the same run).

use std::path::Path;

use sha2::{Digest, Sha256};

#[derive(Default)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn new() -> Hasher {
        let mut h = Hasher(Sha256::new());
        h.part("tessera", env!("CARGO_PKG_VERSION"));
        h
    }

    /// Adds a labelled part (labels keep `a`+`bc` apart from `ab`+`c`).
    pub fn part(&mut self, label: &str, value: &str) {
        self.0.update((label.len() as u64).to_le_bytes());
        self.0.update(label.as_bytes());
        self.0.update((value.len() as u64).to_le_bytes());
        self.0.update(value.as_bytes());
    }

    /// Adds a file's or a folder's identity (path, size, mtime of every file, sorted).
    pub fn file(&mut self, label: &str, path: &Path) {
        let mut entries = Vec::new();
        collect(path, &mut entries);
        entries.sort();
        for e in entries {
            self.part(label, &e);
        }
    }

    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

fn collect(path: &Path, out: &mut Vec<String>) {
    let Ok(meta) = std::fs::metadata(path) else {
        out.push(format!("{}:missing", path.display()));
        return;
    };
    if meta.is_dir() {
        if let Ok(rd) = std::fs::read_dir(path) {
            for e in rd.flatten() {
                collect(&e.path(), out);
            }
        }
        return;
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    out.push(format!("{}:{}:{mtime}", path.display(), meta.len()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_separate_parts() {
        let mut a = Hasher::new();
        a.part("x", "ab");
        a.part("y", "c");
        let mut b = Hasher::new();
        b.part("x", "a");
        b.part("y", "bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn a_changed_file_changes_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.csv");
        std::fs::write(&f, "a\n1\n").unwrap();
        let mut h1 = Hasher::new();
        h1.file("src", &f);
        std::fs::write(&f, "a\n1\n2\n").unwrap();
        let mut h2 = Hasher::new();
        h2.file("src", &f);
        assert_ne!(h1.finish(), h2.finish());
    }
}
