//! `tessera policy check|test|schema`: governance as code — what a principal may see and
//! why, policy tests, and the Cedar schema policies are validated against.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tessera_engine::Engine;
use tessera_engine::query::Governor;
use tessera_governance::{Access, Governance};

use crate::cli::{Format, PolicyCheckArgs, PolicyCommand, PolicySchemaArgs, PolicyTestArgs};
use crate::commands::mesh;
use crate::exit;

pub fn run(cmd: PolicyCommand) -> Result<ExitCode> {
    match cmd {
        PolicyCommand::Check(args) => check(args),
        PolicyCommand::Test(args) => test(args),
        PolicyCommand::Schema(args) => schema(args),
    }
}

fn governance(engine: &Engine) -> Result<(&Governor, &Arc<Governance>)> {
    let governor = engine
        .governor
        .as_ref()
        .context("governance is not loaded")?;
    let Some(gov) = &governor.governance else {
        bail!(
            "this mesh is not governed: it has no policies/principals.yaml (see docs/governance.md)"
        );
    };
    Ok((governor, gov))
}

fn check(args: PolicyCheckArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        let (governor, gov) = governance(&engine)?;
        let (Some(principal), Some(purpose)) = (&args.who.principal, &args.who.purpose) else {
            bail!("say whose access to check: --as PRINCIPAL --purpose PURPOSE");
        };
        let session = match gov.session(principal, purpose) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(exit::INVALID));
            }
        };
        let (_, visibility) = engine.governed_table_set(governor, &session);
        for t in &args.tables {
            if !visibility.decisions.contains_key(t) {
                let known: Vec<&str> = visibility.decisions.keys().map(String::as_str).collect();
                bail!(
                    "{t} is not a queryable port of this mesh; ports: {}",
                    known.join(", ")
                );
            }
        }
        let chosen: Vec<_> = visibility
            .decisions
            .values()
            .filter(|d| args.tables.is_empty() || args.tables.contains(&d.table))
            .collect();
        if args.format == Format::Json {
            let out = serde_json::json!({
                "principal": session.principal,
                "purpose": session.purpose,
                "read_audit": visibility.read_audit,
                "ports": chosen,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{} ({}) for purpose {} (lawful basis: {})",
            session.principal.id,
            session.principal.kind.as_str().replace('_', " "),
            session.purpose.name,
            session.purpose.basis
        );
        for d in chosen {
            println!();
            if !d.query.allowed {
                println!("{}: NOT PERMITTED — {}", d.table, d.query.explain());
                continue;
            }
            println!("{}: may query — {}", d.table, d.query.explain());
            let width = d.columns.iter().map(|c| c.name.len()).max().unwrap_or(6).max(6);
            for c in &d.columns {
                let access = match c.access {
                    Access::Visible => "visible".to_string(),
                    Access::Masked(m) => format!("masked ({m})"),
                    Access::Absent => "ABSENT".to_string(),
                };
                println!("  {:width$}  {:<20}  {}", c.name, access, c.verdict.explain());
            }
            for f in &d.row_filters {
                println!("  row filter {}: {}", f.name, f.predicate);
            }
            if let Some(c) = &d.consent {
                println!(
                    "  consent: only rows whose {} consented to `{}` ({}, latest record per subject)",
                    c.columns.join(", "),
                    c.purpose,
                    c.settings.port
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn test(args: PolicyTestArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    let files: Vec<PathBuf> = if args.files.is_empty() {
        let dir = root.join("policies/tests");
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "slt"))
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        if files.is_empty() {
            bail!(
                "no policy tests: policies/tests/*.slt is empty (see `tessera policy test --help`)"
            );
        }
        files
    } else {
        args.files.clone()
    };
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        governance(&engine)?;
        let engine = Arc::new(engine);
        let mut failed = 0;
        for file in &files {
            let db = tessera_engine::slt::SessionDb::switching(engine.clone());
            match tessera_engine::slt::run_file(db, file, &[], args.rewrite).await {
                Ok(()) if args.rewrite => println!("rewrote {}", file.display()),
                Ok(()) => println!("ok      {}", file.display()),
                Err(e) => {
                    failed += 1;
                    println!("FAILED  {e}");
                }
            }
        }
        println!(
            "\n{} file(s), {} passed, {failed} failed",
            files.len(),
            files.len() - failed
        );
        Ok(if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(exit::INVALID)
        })
    })
}

fn schema(args: PolicySchemaArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        let (_, gov) = governance(&engine)?;
        print!("{}", gov.policies.schema_text);
        Ok(ExitCode::SUCCESS)
    })
}
