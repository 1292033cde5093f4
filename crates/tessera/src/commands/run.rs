//! `tessera build` and `tessera publish`.

use std::process::ExitCode;

use anyhow::Result;
use tessera_engine::{Mode, RunOptions, Status};

use crate::cli::{Format, RunArgs};
use crate::commands::{mesh, progress};
use crate::exit;

pub fn run(args: RunArgs, mode: Mode) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    mesh::runtime()?.block_on(async {
        let engine = mesh::engine(&root).await?;
        let products = mesh::products(&engine.mesh, &args.products)?;
        let bars = progress::Bars::new(args.output.quiet || args.output.format == Format::Json);
        let options = RunOptions {
            force: args.force,
            ..Default::default()
        };
        let outcomes = engine.run(&products, mode, &options, &bars).await?;
        report(&outcomes, args.output.format, args.output.quiet)
    })
}

/// Prints the summary (text) or every outcome (JSON); the exit code says whether all went well.
pub fn report(
    outcomes: &[tessera_engine::ProductOutcome],
    format: Format,
    quiet: bool,
) -> Result<ExitCode> {
    let bad = outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Failed | Status::Blocked))
        .count();
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(outcomes)?),
        Format::Text if !quiet => {
            let count = |s: Status| outcomes.iter().filter(|o| o.status == s).count();
            println!(
                "{} products: {} succeeded, {} unchanged, {} failed, {} not built",
                outcomes.len(),
                count(Status::Succeeded),
                count(Status::Skipped),
                count(Status::Failed),
                count(Status::Blocked)
            );
        }
        Format::Text => {}
    }
    Ok(if bad > 0 {
        ExitCode::from(exit::INVALID)
    } else {
        ExitCode::SUCCESS
    })
}
