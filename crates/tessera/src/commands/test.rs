//! `tessera test`: check candidates, published versions, or a standalone contract.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use tessera_engine::{RunOptions, Status};
use tessera_quality::{CheckOptions, Report, Severity};

use crate::cli::{Format, TestArgs};
use crate::commands::{mesh, progress};
use crate::exit;

pub fn run(args: TestArgs) -> Result<ExitCode> {
    let (files, products): (Vec<&String>, Vec<&String>) = args
        .targets
        .iter()
        .partition(|t| t.ends_with(".yaml") || t.ends_with(".yml") || Path::new(t).is_file());
    if !files.is_empty() && !products.is_empty() {
        bail!("give either contract files or products, not both");
    }
    let options = CheckOptions {
        sample_rows: args.samples,
    };
    let rt = mesh::runtime()?;
    if !files.is_empty() {
        return rt.block_on(standalone(&files, &options, args.output.format));
    }
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    rt.block_on(async {
        let engine = mesh::engine(&root).await?;
        let products: Vec<String> = products.into_iter().cloned().collect();
        let wanted = mesh::products(&engine.mesh, &products)?;
        let bars = progress::Bars::new(args.output.quiet || args.output.format == Format::Json);
        let run_options = RunOptions {
            check: options,
            ..Default::default()
        };
        let outcomes = engine
            .test(&wanted, args.published, &run_options, &bars)
            .await?;
        if args.output.format == Format::Text && !args.output.quiet {
            for o in &outcomes {
                for p in &o.ports {
                    if let Some(r) = &p.report {
                        print!("{}", report_text(&format!("{}.{}", o.product, p.port), r));
                    }
                }
            }
        }
        let failed = outcomes.iter().any(|o| o.status == Status::Failed);
        crate::commands::run::report(&outcomes, args.output.format, args.output.quiet)?;
        Ok(if failed {
            ExitCode::from(exit::INVALID)
        } else {
            ExitCode::SUCCESS
        })
    })
}

async fn standalone(files: &[&String], options: &CheckOptions, format: Format) -> Result<ExitCode> {
    let mut all = Vec::new();
    let mut failed = false;
    for f in files {
        let path = Path::new(f.as_str());
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {f}"))?;
        let (contract, diags) = tessera_model::Contract::parse(f, &text);
        let Some(contract) = contract.filter(|_| !diags.has_errors()) else {
            for d in diags
                .iter()
                .filter(|d| d.severity == tessera_model::Severity::Error)
            {
                eprintln!("{d}");
            }
            bail!("{f}: the contract has errors (above)");
        };
        // The data path is tried relative to the contract's folder, the mesh around it,
        // and the current folder.
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mesh_root = crate::files::find_mesh_root(dir);
        let mut bases: Vec<&Path> = vec![dir];
        if let Some(root) = &mesh_root {
            bases.push(root);
        }
        bases.push(Path::new("."));
        let reports = tessera_engine::standalone::test_contract(&contract, &bases, options).await?;
        for r in &reports {
            failed |= !r.passed();
            if format == Format::Text {
                print!("{}", report_text(&r.object, r));
            }
        }
        all.push(serde_json::json!({"contract": f, "passed": reports.iter().all(Report::passed), "reports": reports}));
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(if failed {
        ExitCode::from(exit::INVALID)
    } else {
        ExitCode::SUCCESS
    })
}

/// A check report as a table: one line per check.
pub fn report_text(title: &str, r: &Report) -> String {
    let mut out = format!("{title} ({} rows)\n", progress::group(r.rows));
    for c in &r.checks {
        let mark = match (c.passed, c.severity) {
            (true, _) => "✓",
            (false, Severity::Warning) => "!",
            (false, Severity::Error) => "✗",
        };
        let measured = c
            .measured
            .map(progress::trim_num)
            .unwrap_or_else(|| "-".into());
        out += &format!(
            "  {mark} {:<58} {:>12}  expected {}",
            c.name, measured, c.expected
        );
        if let (false, Some(n)) = (c.passed, c.failed_rows) {
            out += &format!("  ({} rows)", progress::group(n));
        }
        out += "\n";
        if !c.passed {
            if let Some(m) = &c.message {
                for line in m.lines() {
                    out += &format!("      {line}\n");
                }
            }
            for s in &c.samples {
                out += &format!("      e.g. {}\n", progress::clip(&s.to_string()));
            }
        }
    }
    let errors = r.failed(Severity::Error).count();
    let warnings = r.failed(Severity::Warning).count();
    out += &format!(
        "  {} — {} checks, {errors} failed, {warnings} warnings\n",
        if r.passed() { "passed" } else { "FAILED" },
        r.checks.len()
    );
    out
}
