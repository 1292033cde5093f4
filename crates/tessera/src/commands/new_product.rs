//! `tessera new product DOMAIN/PRODUCT`: scaffold a data product in an existing mesh.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use tessera_model::diagnostic::suggest;
use tessera_model::{ContractId, PortName, ProductRef, scaffold};

use crate::cli::NewProductArgs;
use crate::files;

pub fn run(args: NewProductArgs) -> Result<ExitCode> {
    let product_ref = ProductRef::parse(&args.product).map_err(anyhow::Error::msg)?;
    let ProductRef { domain, product } = &product_ref;
    let port = match &args.port {
        Some(port) => PortName::parse(port)?,
        None => PortName::from(product),
    };
    let start = match &args.mesh {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("cannot read the current folder")?,
    };
    let Some(root) = files::find_mesh_root(&start) else {
        bail!(
            "{} is not inside a mesh (no mesh.yaml here or above); run `tessera init <dir>` first, or pass --mesh",
            start.display()
        );
    };
    let product_dir = root
        .join("domains")
        .join(domain.as_str())
        .join(product.as_str());
    if product_dir.exists() {
        bail!(
            "product {domain}/{product} already exists at {}",
            product_dir.display()
        );
    }

    let mesh_files = files::read_mesh(&root)?;
    let (mesh, _) = tessera_model::load(&mesh_files);
    let index = mesh
        .as_ref()
        .map(|m| m.contract_index())
        .unwrap_or_default();
    let mut inputs = Vec::new();
    for id in &args.inputs {
        let Some(target) = index.get(id.as_str()) else {
            let hint = suggest(id, index.keys().copied())
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            bail!("no source or output port in the mesh has contract id `{id}`{hint}");
        };
        inputs.push((
            target.name().to_string(),
            ContractId::new(id.as_str()),
            target.table(),
        ));
    }
    let domain_owner = mesh
        .as_ref()
        .and_then(|m| m.domains.get(domain))
        .and_then(|d| d.config.as_ref())
        .and_then(|c| c.owners().first().map(|o| o.to_string()));
    let owner = args
        .owner
        .clone()
        .or(domain_owner)
        .unwrap_or_else(super::default_owner);
    let with_domain = !root
        .join("domains")
        .join(domain.as_str())
        .join("domain.yaml")
        .exists();
    let spec = scaffold::ProductSpec {
        product: product_ref.clone(),
        port,
        inputs,
        owner,
    };
    let new_files = scaffold::new_product(&spec, with_domain);
    files::write_new_files(&root, &new_files)?;

    println!("Created product {domain}/{product}:");
    for f in &new_files {
        println!("  {}", f.path);
    }
    println!(
        "\nNext: describe the columns in {port}.odcs.yaml, write the query in {port}.sql, then run `tessera validate`.",
        port = spec.port
    );
    Ok(ExitCode::SUCCESS)
}
