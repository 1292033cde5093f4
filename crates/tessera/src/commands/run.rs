//! `tessera build` and `tessera publish`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use tessera_engine::publish::Refusal;
use tessera_engine::{Engine, Mode, RunOptions, Status};
use tessera_model::ProductRef;

use crate::cli::{Format, RunArgs};
use crate::commands::{mesh, progress};
use crate::exit;

pub fn run(args: RunArgs, mode: Mode) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        let products = mesh::products(&engine.mesh, &args.products)?;
        if mode == Mode::Publish
            && let Some(refused) =
                refuse_publish(&engine, &products, args.principal.as_deref()).await?
        {
            return Ok(refused);
        }
        let bars = progress::Bars::new(args.output.quiet || args.output.format == Format::Json);
        let options = RunOptions {
            force: args.force,
            ..Default::default()
        };
        let outcomes = engine.run(&products, mode, &options, &bars).await?;
        if mode == Mode::Publish {
            audit_publish(&engine, &outcomes, args.principal.as_deref()).await?;
        }
        report(&outcomes, args.output.format, args.output.quiet)
    })
}

/// Whether a publish must be refused ([`tessera_engine::publish`]): a principal policy does
/// not let publish a product, or an error-level global rule that a product to publish (or
/// the mesh as a whole) violates. Prints why and records the refusal; `None` lets it go
/// ahead.
async fn refuse_publish(
    engine: &Engine,
    products: &[ProductRef],
    principal: Option<&str>,
) -> Result<Option<ExitCode>> {
    let targets = tessera_engine::publish::targets(&engine.mesh, products);
    if let Some(principal) = principal {
        match engine.may_publish(principal, &targets) {
            Ok(()) => {}
            Err(refusal @ Refusal::UnknownPrincipal(_)) => {
                print_reasons(&refusal);
                return Ok(Some(ExitCode::from(exit::INVALID)));
            }
            Err(refusal) => {
                print_reasons(&refusal);
                eprintln!("nothing was published");
                audit_refusal(engine, &targets, Some(principal), &refusal).await?;
                return Ok(Some(ExitCode::from(exit::INVALID)));
            }
        }
    }
    let (blocking, failures) = engine.blocking_violations(&targets).await;
    for f in &failures {
        eprintln!("warning: rule {} does not run: {}", f.rule, f.error);
    }
    if blocking.is_empty() {
        return Ok(None);
    }
    let count = blocking.len();
    let refusal = Refusal::Rules(blocking);
    for reason in refusal.reasons() {
        eprintln!("error[rule]: {reason}");
    }
    eprintln!(
        "nothing was published: {count} violation(s) of error-level global rules (policies/rules/); `tessera validate` lists them"
    );
    audit_refusal(engine, &targets, principal, &refusal).await?;
    Ok(Some(ExitCode::from(exit::INVALID)))
}

fn print_reasons(refusal: &Refusal) {
    for reason in refusal.reasons() {
        eprintln!("error: {reason}");
    }
}

/// Records a refused publish in the audit log.
async fn audit_refusal(
    engine: &Engine,
    targets: &[ProductRef],
    principal: Option<&str>,
    refusal: &Refusal,
) -> Result<()> {
    engine
        .audit_publish_refused(targets, principal, refusal, "cli")
        .await
        .context("the audit log could not be written")
}

/// One audit record per publish run: who published which products, and how each went.
async fn audit_publish(
    engine: &Engine,
    outcomes: &[tessera_engine::ProductOutcome],
    principal: Option<&str>,
) -> Result<()> {
    engine
        .audit_published(outcomes, principal, "cli")
        .await
        .context("the audit log could not be written")
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
