//! `tessera init DIR`: a new mesh with an example domain, source and product.

use std::fs;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use tessera_model::scaffold;

use crate::cli::InitArgs;
use crate::files;

pub fn run(args: InitArgs) -> Result<ExitCode> {
    let dir = &args.dir;
    if dir.exists() {
        let is_empty_dir = dir.is_dir()
            && fs::read_dir(dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .next()
                .is_none();
        if !is_empty_dir {
            bail!(
                "{} already exists and is not an empty folder; choose a new folder for the mesh",
                dir.display()
            );
        }
    }
    let name = match &args.name {
        Some(n) => n.trim().to_string(),
        None => dir
            .canonicalize()
            .unwrap_or_else(|_| dir.clone())
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "mesh".into()),
    };
    if name.is_empty() {
        bail!("the mesh name is empty; pass --name");
    }
    let owner = args.owner.clone().unwrap_or_else(super::default_owner);
    let new_files = scaffold::new_mesh(&name, &owner);

    // Write into a sibling staging folder, then move it into place in one rename, so an
    // interrupted init leaves no half-made mesh.
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = parent.join(format!(
        ".{}.tessera-init-{}",
        dir.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&staging);
    let staged = files::write_new_files(&staging, &new_files).and_then(|()| {
        fs::rename(&staging, dir).with_context(|| format!("cannot create {}", dir.display()))
    });
    if let Err(e) = staged {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }

    println!("Created mesh `{name}` in {}:", dir.display());
    for f in &new_files {
        println!("  {}", f.path);
    }
    println!(
        "\nNext:\n  cd {}\n  tessera validate                      check every file\n  tessera new product web/events        add a product",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
