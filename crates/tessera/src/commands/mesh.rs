//! Opening a mesh for the commands that build, test or read its history: load and check
//! every file (refusing a mesh with errors, as `validate` reports them), then open its
//! storage and metadata store.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tessera_engine::Engine;
use tessera_model::{Mesh, ProductRef};

use crate::files;

/// The mesh root: `--mesh`, else the nearest folder upwards with a mesh.yaml.
pub fn root(given: Option<&Path>) -> Result<PathBuf> {
    let start = given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    if start.join("mesh.yaml").is_file() {
        return start
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", start.display()));
    }
    if given.is_some() {
        bail!("{}: no mesh.yaml there", start.display());
    }
    files::find_mesh_root(&start).context(
        "not inside a mesh (no mesh.yaml here or in a folder above); pass --mesh DIR or cd into a mesh",
    )
}

/// Loads the mesh at `root`. A mesh with errors is refused, with every error printed.
pub fn load(root: &Path) -> Result<Mesh> {
    let mesh_files = files::read_mesh(root)?;
    let (mesh, diags) = tessera_model::load(&mesh_files);
    if diags.has_errors() || mesh.is_none() {
        let shown = relative(root);
        for mut d in diags
            .into_iter()
            .filter(|d| d.severity == tessera_model::Severity::Error)
        {
            d.file = files::display_path(&shown, &d.file);
            eprintln!("{d}");
        }
        bail!("the mesh has errors (above); fix them first — `tessera validate` lists them too");
    }
    Ok(mesh.expect("checked above"))
}

fn relative(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| cwd.canonicalize().ok())
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Opens the mesh's engine (storage and metadata store).
pub async fn engine(root: &Path) -> Result<Engine> {
    let mesh = load(root)?;
    Engine::open(mesh, root)
        .await
        .with_context(|| format!("opening the mesh at {}", root.display()))
}

/// Opens the engine with governance loaded (the mesh secret, and principals, policies,
/// row filters when the mesh declares them). Governance errors are printed and refused;
/// warnings are printed.
pub async fn governed_engine(root: &Path) -> Result<Engine> {
    let mut engine = engine(root).await?;
    let diags = engine
        .enable_governance()
        .context("loading the mesh's governance")?;
    let shown = relative(root);
    for mut d in diags.into_iter() {
        d.file = files::display_path(&shown, &d.file);
        eprintln!("{d}");
    }
    if engine.governor.is_none() {
        bail!(
            "the mesh's policies have errors (above); fix them first — `tessera validate` lists them too"
        );
    }
    Ok(engine)
}

/// Product arguments (`crm/customers`), each checked against the mesh.
pub fn products(mesh: &Mesh, given: &[String]) -> Result<Vec<ProductRef>> {
    let known: Vec<String> = mesh.products().map(|p| p.reference().to_string()).collect();
    given
        .iter()
        .map(|g| {
            let r = ProductRef::parse(g).map_err(|e| anyhow::anyhow!("{e}"))?;
            let exists = mesh
                .domains
                .get(&r.domain)
                .is_some_and(|d| d.products.contains_key(&r.product));
            if !exists {
                let near = tessera_model::diagnostic::suggest(g, known.iter().map(String::as_str))
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_default();
                bail!(
                    "no product `{g}` in this mesh{near} (products: {})",
                    known.join(", ")
                );
            }
            Ok(r)
        })
        .collect()
}
