//! `tessera runs` and `tessera versions`: what the metadata store recorded.

use std::process::ExitCode;

use anyhow::{Result, bail};
use tessera_catalog::{PortKey, RunQuery};

use crate::cli::{Format, RunsArgs, VersionsArgs};
use crate::commands::{mesh, progress};

pub fn runs(args: RunsArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    mesh::runtime()?.block_on(async {
        let engine = mesh::engine(&root).await?;
        if let Some(id) = &args.id {
            let Some(run) = engine.catalog.run(id).await? else {
                bail!("no run with id {id}; `tessera runs` lists them");
            };
            let checks = engine.catalog.checks(id).await?;
            if args.format == Format::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"run": run, "checks": checks})
                    )?
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "run {}  {} {}/{}  {}  started {}  {} rows  {}",
                run.id,
                run.kind.as_str(),
                run.domain,
                run.product,
                run.status.as_str(),
                run.started_at.format("%Y-%m-%d %H:%M:%S"),
                run.rows.map(progress::group).unwrap_or_else(|| "-".into()),
                run.duration_ms
                    .map(|d| format!("{:.1}s", d as f64 / 1000.0))
                    .unwrap_or_default()
            );
            if let Some(e) = &run.error {
                println!("  {e}");
            }
            for c in &checks {
                let mark = if c.passed {
                    "✓"
                } else if c.severity == "warning" {
                    "!"
                } else {
                    "✗"
                };
                println!(
                    "  {mark} {}.{:<50} {:>12}  expected {}{}",
                    c.port,
                    c.name,
                    c.measured
                        .map(progress::trim_num)
                        .unwrap_or_else(|| "-".into()),
                    c.expected,
                    c.failed_rows
                        .filter(|_| !c.passed)
                        .map(|n| format!("  ({} rows)", progress::group(n)))
                        .unwrap_or_default()
                );
                if !c.passed {
                    if let Some(m) = &c.message {
                        println!("      {m}");
                    }
                    for s in c.samples.as_array().into_iter().flatten() {
                        println!("      e.g. {s}");
                    }
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        let (domain, product) = match &args.product {
            Some(p) => {
                let r = mesh::products(&engine.mesh, std::slice::from_ref(p))?.remove(0);
                (Some(r.domain.to_string()), Some(r.product.to_string()))
            }
            None => (None, None),
        };
        let runs = engine
            .catalog
            .runs(&RunQuery {
                domain,
                product,
                limit: Some(args.limit),
                ..Default::default()
            })
            .await?;
        if args.format == Format::Json {
            println!("{}", serde_json::to_string_pretty(&runs)?);
            return Ok(ExitCode::SUCCESS);
        }
        if runs.is_empty() {
            println!("no runs yet; `tessera publish` builds and publishes the mesh");
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{:<36}  {:<19}  {:<7}  {:<28}  {:<11}  {:>12}  {:>8}  checks",
            "run", "started", "kind", "product", "status", "rows", "time"
        );
        for r in &runs {
            let checks = engine.catalog.checks(&r.id).await?;
            let failed = checks.iter().filter(|c| !c.passed).count();
            println!(
                "{:<36}  {:<19}  {:<7}  {:<28}  {:<11}  {:>12}  {:>8}  {}",
                r.id,
                r.started_at.format("%Y-%m-%d %H:%M:%S"),
                r.kind.as_str(),
                format!("{}/{}", r.domain, r.product),
                r.status.as_str(),
                r.rows.map(progress::group).unwrap_or_else(|| "-".into()),
                r.duration_ms
                    .map(|d| format!("{:.1}s", d as f64 / 1000.0))
                    .unwrap_or_default(),
                if checks.is_empty() {
                    "-".to_string()
                } else {
                    format!("{}/{} passed", checks.len() - failed, checks.len())
                }
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn versions(args: VersionsArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    mesh::runtime()?.block_on(async {
        let engine = mesh::engine(&root).await?;
        let r = mesh::products(&engine.mesh, std::slice::from_ref(&args.product))?.remove(0);
        let product = &engine.mesh.domains[&r.domain].products[&r.product];
        let mut all = Vec::new();
        for port in &product.ports {
            let key = PortKey {
                domain: r.domain.to_string(),
                product: r.product.to_string(),
                port: port.name.to_string(),
            };
            let versions = engine.catalog.versions(&key).await?;
            all.push((key, versions));
        }
        if args.format == Format::Json {
            let v: Vec<_> = all
                .iter()
                .map(|(k, v)| serde_json::json!({"port": k.port, "table": engine.port_url(k).to_string(), "versions": v}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
            return Ok(ExitCode::SUCCESS);
        }
        for (key, versions) in &all {
            println!("{}.{}  {}", r, key.port, engine.port_url(key));
            if versions.is_empty() {
                println!("  not published yet");
            }
            println!("  {:>7}  {:<19}  {:>12}  {:<9}  run", "version", "committed", "rows", "contract");
            for v in versions.iter().rev() {
                println!(
                    "  {:>7}  {:<19}  {:>12}  {:<9}  {}",
                    v.version,
                    v.committed_at.format("%Y-%m-%d %H:%M:%S"),
                    progress::group(v.rows),
                    v.contract_version,
                    v.run_id
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
