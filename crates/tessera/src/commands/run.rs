//! `tessera build` and `tessera publish`.

use std::process::ExitCode;

use anyhow::{Context, Result};
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

/// Whether a publish must be refused: a principal policy does not let publish a product,
/// or an error-level global rule that a product to publish (or the mesh as a whole)
/// violates. Prints why; `None` lets it go ahead.
async fn refuse_publish(
    engine: &Engine,
    products: &[ProductRef],
    principal: Option<&str>,
) -> Result<Option<ExitCode>> {
    let targets: Vec<ProductRef> = if products.is_empty() {
        engine.mesh.products().map(|p| p.reference()).collect()
    } else {
        products.to_vec()
    };
    let governance = engine.governor.as_ref().and_then(|g| g.governance.as_ref());
    if let (Some(gov), Some(principal)) = (governance, principal) {
        let Some(who) = gov.principals.get(principal) else {
            eprintln!("error: unknown principal `{principal}` (policies/principals.yaml)");
            return Ok(Some(ExitCode::from(exit::INVALID)));
        };
        // Publishing is not done for a purpose; the context says so.
        let session = tessera_governance::Session {
            principal: who.clone(),
            purpose: tessera_governance::Purpose {
                name: "publish".into(),
                basis: tessera_governance::Basis::LegitimateInterest,
                description: None,
                consent_purpose: String::new(),
            },
        };
        let mut refused = 0;
        for p in &targets {
            let verdict = gov.authorize(
                &session,
                tessera_governance::Action::Publish,
                &tessera_governance::Resource::Product(p.to_string()),
            );
            if !verdict.allowed {
                refused += 1;
                eprintln!(
                    "error: not permitted: {principal} may not publish {p}: {}",
                    verdict.explain()
                );
            }
        }
        if refused > 0 {
            eprintln!("nothing was published");
            audit_refusal(engine, &targets, Some(principal), "not permitted by policy").await?;
            return Ok(Some(ExitCode::from(exit::INVALID)));
        }
    }
    let (violations, failures) = engine.check_rules().await;
    for f in &failures {
        eprintln!("warning: rule {} does not run: {}", f.rule, f.error);
    }
    let blocking: Vec<_> = violations
        .iter()
        .filter(|v| v.severity == tessera_engine::rules::RuleSeverity::Error)
        .filter(|v| match (&v.domain, &v.product) {
            (Some(d), Some(p)) => targets
                .iter()
                .any(|t| t.domain.as_str() == d && t.product.as_str() == p),
            (Some(d), None) => targets.iter().any(|t| t.domain.as_str() == d),
            _ => true,
        })
        .collect();
    if blocking.is_empty() {
        return Ok(None);
    }
    for v in &blocking {
        eprintln!("error[rule]: {}: {}", v.rule, v.message);
    }
    eprintln!(
        "nothing was published: {} violation(s) of error-level global rules (policies/rules/); `tessera validate` lists them",
        blocking.len()
    );
    let why = blocking
        .iter()
        .map(|v| format!("{}: {}", v.rule, v.message))
        .collect::<Vec<_>>()
        .join("; ");
    audit_refusal(engine, &targets, principal, &why).await?;
    Ok(Some(ExitCode::from(exit::INVALID)))
}

/// Records a refused publish in the audit log.
async fn audit_refusal(
    engine: &Engine,
    targets: &[ProductRef],
    principal: Option<&str>,
    why: &str,
) -> Result<()> {
    let resources = serde_json::Value::Array(
        targets
            .iter()
            .map(|p| serde_json::json!({ "product": p.to_string(), "status": "refused" }))
            .collect(),
    );
    engine
        .audit_action(
            principal,
            None,
            "publish",
            resources,
            tessera_catalog::AuditOutcome::Denied,
            Some(why.to_string()),
        )
        .await
        .context("the audit log could not be written")?;
    Ok(())
}

/// One audit record per publish run: who published which products, and how each went.
async fn audit_publish(
    engine: &Engine,
    outcomes: &[tessera_engine::ProductOutcome],
    principal: Option<&str>,
) -> Result<()> {
    let resources: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| serde_json::json!({ "product": o.product.to_string(), "status": o.status }))
        .collect();
    let failed = outcomes
        .iter()
        .any(|o| matches!(o.status, Status::Failed | Status::Blocked));
    let outcome = if failed {
        tessera_catalog::AuditOutcome::Error
    } else {
        tessera_catalog::AuditOutcome::Ok
    };
    engine
        .audit_action(
            principal,
            None,
            "publish",
            serde_json::Value::Array(resources),
            outcome,
            None,
        )
        .await
        .context("the audit log could not be written")?;
    Ok(())
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
