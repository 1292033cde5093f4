//! `tessera test <contract>`: one contract checked against the data its `local` server
//! points to, outside any mesh — what datacontract-cli users expect of `datacontract test`.
//!
//! The server's `path` is absolute, or relative to one of the folders the caller gives, in
//! order (the CLI passes the contract's folder, the mesh root around it, and the current
//! folder); the first where the data exists wins. A `{model}` in it stands for each schema
//! object's name, so one contract can describe a folder of tables.

use std::path::Path;

use datafusion::arrow::datatypes::SchemaRef;
use tessera_model::odcs::Contract;
use tessera_quality::{CheckOptions, Report};

use crate::run::check_batches;
use crate::session;
use crate::{EngineError, Result};

/// Checks every schema object of `contract` against its data, found under the first of
/// `bases` where it exists.
pub async fn test_contract(
    contract: &Contract,
    bases: &[&Path],
    options: &CheckOptions,
) -> Result<Vec<Report>> {
    let server = contract.local_server().ok_or_else(|| {
        EngineError::Invalid(format!(
            "{}: the contract has no `local` server (servers[].type: local, with a path and a format), so Tessera does not know where its data is",
            contract.file
        ))
    })?;
    let Some(path) = server.path.as_deref() else {
        return Err(EngineError::Invalid(format!(
            "{}: the local server `{}` has no `path`",
            contract.file, server.server
        )));
    };
    let mut reports = Vec::new();
    for object in &contract.objects {
        let rel = path.replace("{model}", &object.name);
        let tried: Vec<std::path::PathBuf> = bases.iter().map(|b| b.join(&rel)).collect();
        let Some(p) = tried.iter().find(|p| p.exists()).cloned() else {
            return Err(EngineError::Source {
                table: object.name.clone(),
                file: contract.file.clone(),
                why: format!(
                    "the data file `{rel}` does not exist (looked in: {})",
                    tried
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        let format = server.format.clone().unwrap_or_else(|| {
            p.extension()
                .map(|e| e.to_string_lossy().to_lowercase())
                .unwrap_or_default()
        });
        let ctx = session::new_session(Vec::<String>::new());
        let mut single = contract.clone();
        single.objects = vec![object.clone()];
        session::register_file(&ctx, "data", &single, &p, &format).await?;
        let df = ctx.table("data").await.map_err(EngineError::internal)?;
        let schema: SchemaRef = std::sync::Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(|e| EngineError::Source {
            table: object.name.clone(),
            file: contract.file.clone(),
            why: format!("cannot read {}: {}", p.display(), e.strip_backtrace()),
        })?;
        let (report, _) = check_batches(contract, object, schema, batches, options).await?;
        reports.push(report);
    }
    Ok(reports)
}
