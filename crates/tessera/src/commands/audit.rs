//! `tessera audit` and `tessera audit verify`: the audit log, for principals allowed to
//! read it, and the check that it is intact.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use tessera_catalog::{AuditOutcome, AuditQuery};
use tessera_governance::{Action, Resource};

use crate::cli::{AuditArgs, AuditCommand, AuditVerifyArgs, Format};
use crate::commands::mesh;
use crate::exit;

pub fn run(args: AuditArgs) -> Result<ExitCode> {
    if let Some(AuditCommand::Verify(v)) = args.command {
        return verify(v);
    }
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    let since = match &args.since {
        None => None,
        Some(text) => Some(Utc::now() - duration("--since", text)?),
    };
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        let governor = engine.governor.as_ref().context("governance is not loaded")?;
        if let Some(gov) = &governor.governance {
            let (Some(p), Some(purpose)) = (&args.who.principal, &args.who.purpose) else {
                bail!("reading the audit log needs who is asking and why: --as PRINCIPAL --purpose PURPOSE");
            };
            let session = match gov.session(p, purpose) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(exit::INVALID));
                }
            };
            let verdict = gov.authorize(&session, Action::ReadAudit, &Resource::Mesh);
            let outcome = if verdict.allowed {
                AuditOutcome::Ok
            } else {
                AuditOutcome::Denied
            };
            engine
                .audit_action(
                    Some(p),
                    Some(purpose),
                    "read_audit",
                    serde_json::json!([]),
                    outcome,
                    (!verdict.allowed).then(|| verdict.explain()),
                )
                .await
                .context("the audit log could not be written")?;
            if !verdict.allowed {
                eprintln!(
                    "error: not permitted: {p} may not read the audit log for purpose {purpose}: {}",
                    verdict.explain()
                );
                return Ok(ExitCode::from(exit::INVALID));
            }
        }
        let outcome = match args.outcome.as_deref() {
            Some(o) => Some(o.parse::<AuditOutcome>().map_err(|e| anyhow::anyhow!("{e}"))?),
            None => None,
        };
        let query = AuditQuery {
            principal: args.of_principal.clone(),
            purpose: args.for_purpose.clone(),
            resource: args.table.clone(),
            outcome,
            since,
            limit: Some(args.limit),
            ..Default::default()
        };
        let records = engine.catalog.audit(&query).await?;
        if args.format == Format::Json {
            println!("{}", serde_json::to_string_pretty(&records)?);
            return Ok(ExitCode::SUCCESS);
        }
        if records.is_empty() {
            println!("no audit records match");
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{:>6}  {:<20}  {:<16}  {:<17}  {:<9}  {:<7}  {:>6}  tables · statement",
            "seq", "at (UTC)", "principal", "purpose", "interface", "outcome", "rows"
        );
        for r in &records {
            let tables: Vec<String> = r
                .resources
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t["table"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let statement = r
                .statement
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let statement: String = if statement.chars().count() > 60 {
                statement.chars().take(59).chain(['…']).collect()
            } else {
                statement
            };
            println!(
                "{:>6}  {:<20}  {:<16}  {:<17}  {:<9}  {:<7}  {:>6}  {} · {}",
                r.seq,
                r.at.format("%Y-%m-%d %H:%M:%S"),
                r.principal,
                r.purpose.as_deref().unwrap_or("-"),
                r.interface,
                r.outcome.as_str(),
                r.row_count.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                if tables.is_empty() { "-".into() } else { tables.join(",") },
                if r.action == "query" { statement } else { format!("[{}] {statement}", r.action) },
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// A duration flag's value (`30m`, `1h`, `7d`); `flag` names it in the error.
pub(crate) fn duration(flag: &str, text: &str) -> Result<chrono::Duration> {
    let t = text.trim();
    if let Some(days) = t.strip_suffix('d')
        && let Ok(n) = days.parse::<i64>()
    {
        return Ok(chrono::Duration::days(n));
    }
    tessera_model::config::parse_duration(t)
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .with_context(|| format!("{flag} {text}: write a duration such as 30m, 1h or 7d"))
}

fn verify(args: AuditVerifyArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        let governor = engine
            .governor
            .as_ref()
            .context("governance is not loaded")?;
        let report = engine.catalog.verify_audit(governor.audit_key()).await?;
        if args.format == Format::Json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else if report.is_intact() {
            println!(
                "the audit log is intact: {} record(s), newest {}",
                report.records,
                report
                    .head_seq
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into())
            );
        } else {
            println!(
                "the audit log is NOT intact ({} record(s) read):",
                report.records
            );
            for p in &report.problems {
                println!("  {p}");
            }
        }
        Ok(if report.is_intact() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(exit::INVALID)
        })
    })
}
