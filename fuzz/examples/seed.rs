//! Writes the seed corpora of the fuzz targets (generated at run time, not committed):
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example seed -- <fixtures> <corpus>
//! ```
//!
//! `<fixtures>` is `shared/fixtures` (ODCS and ODPS examples), `<corpus>` is `fuzz/corpus`.
//! Seeds: every fixture, the crate's own test corpus (`crates/tessera-model/tests/corpus`)
//! and the files `tessera init` writes, each as a `parse_file` input; and for `load_mesh`,
//! the scaffolded mesh (valid) plus copies with fixture contracts and products swapped in.

use std::fs;
use std::path::{Path, PathBuf};

use tessera_fuzz::{FILE_NAMES, MESH_PATHS, encode_file, encode_mesh, scaffolded_mesh};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(fixtures), Some(corpus)) = (args.next(), args.next()) else {
        return Err("usage: seed <fixtures dir> <corpus dir>".into());
    };
    let fixtures = PathBuf::from(fixtures);
    let corpus = PathBuf::from(corpus);
    let crate_corpus =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/tessera-model/tests/corpus");

    let contracts = yaml_files(&fixtures.join("odcs/examples"))?;
    let products = yaml_files(&fixtures.join("odps/examples"))?;

    // ---- parse_file ----
    let dir = corpus.join("parse_file");
    fs::create_dir_all(&dir)?;
    let mut n = 0;
    let index = |name: &str| FILE_NAMES.iter().position(|n| *n == name).unwrap_or(0);
    let mut put = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        n += 1;
        fs::write(
            dir.join(format!("seed-{n:04}")),
            encode_file(index(name), bytes),
        )
    };
    for path in &contracts {
        put("x.odcs.yaml", &fs::read(path)?)?;
    }
    for path in &products {
        put("dataproduct.yaml", &fs::read(path)?)?;
    }
    for (kind, name) in [
        ("contract", "x.odcs.yaml"),
        ("product", "dataproduct.yaml"),
        ("mesh", "mesh.yaml"),
        ("domain", "domain.yaml"),
        ("sql", "p.sql"),
    ] {
        for path in files_in(&crate_corpus.join(kind))? {
            put(name, &fs::read(path)?)?;
        }
    }
    let mesh = scaffolded_mesh();
    for (path, text) in &mesh {
        let name = path.rsplit('/').next().unwrap_or(path);
        let name = if name.ends_with(".odcs.yaml") {
            "x.odcs.yaml"
        } else if name.ends_with(".sql") {
            "p.sql"
        } else {
            name
        };
        put(name, text.as_bytes())?;
    }
    let parse_seeds = n;

    // ---- load_mesh ----
    let dir = corpus.join("load_mesh");
    fs::create_dir_all(&dir)?;
    let slots: Vec<Vec<u8>> = MESH_PATHS
        .iter()
        .map(|p| {
            mesh.iter()
                .find(|(path, _)| path == p)
                .map(|(_, text)| text.clone().into_bytes())
                .unwrap_or_default()
        })
        .collect();
    let write_mesh = |name: &str, slots: &[Vec<u8>]| {
        let refs: Vec<&[u8]> = slots.iter().map(Vec::as_slice).collect();
        fs::write(dir.join(name), encode_mesh(&refs))
    };
    write_mesh("scaffold", &slots)?;
    // The same mesh with each slot emptied in turn (missing files, dangling references).
    for i in 0..slots.len() {
        let mut s = slots.clone();
        s[i].clear();
        write_mesh(&format!("scaffold-without-{i}"), &s)?;
    }
    // Fixture contracts and products in the layout's slots.
    let slot = |suffix: &str| MESH_PATHS.iter().position(|p| p.ends_with(suffix));
    let contract_slots: Vec<usize> = MESH_PATHS
        .iter()
        .enumerate()
        .filter(|(_, p)| p.ends_with(".odcs.yaml"))
        .map(|(i, _)| i)
        .collect();
    for (k, path) in contracts.iter().enumerate() {
        let mut s = slots.clone();
        s[contract_slots[k % contract_slots.len()]] = fs::read(path)?;
        write_mesh(&format!("contract-{k:02}"), &s)?;
    }
    if let Some(i) = slot("customers/dataproduct.yaml") {
        for (k, path) in products.iter().enumerate() {
            let mut s = slots.clone();
            s[i] = fs::read(path)?;
            write_mesh(&format!("product-{k:02}"), &s)?;
        }
    }
    let mesh_seeds = fs::read_dir(&dir)?.count();
    println!(
        "seeded {} ({parse_seeds} parse_file inputs, {mesh_seeds} load_mesh inputs)",
        corpus.display()
    );
    Ok(())
}

fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

/// Every `*.yaml` under `dir`, recursively, sorted.
fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for path in files_in(&d)? {
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
        for entry in fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
