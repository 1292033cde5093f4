//! `tessera erase`, `tessera vacuum`, `tessera subject export`, `tessera retention`: the
//! privacy operations of `tessera_engine::privacy`, with progress and printed reports.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tessera_engine::privacy::erase::{EraseEvent, EraseRequest, Plan, Report};
use tessera_engine::privacy::export::SubjectExport;
use tessera_engine::privacy::settings::parse_window;
use tessera_engine::privacy::{Subject, settings::PrivacySettings};
use tessera_engine::{Engine, EngineError};

use crate::cli::{
    EraseArgs, EraseCommand, EraseReportArgs, Format, RetentionArgs, RetentionCommand,
    SubjectCommand, SubjectExportArgs, VacuumArgs,
};
use crate::commands::mesh;
use crate::exit;

fn bar(quiet: bool, len: u64) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg} {elapsed:.dim}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// An engine error a user caused (a refusal, a bad subject) exits 1; others are I/O.
fn fail(e: EngineError) -> Result<ExitCode> {
    match e {
        EngineError::Invalid(message) => {
            eprintln!("error: {message}");
            Ok(ExitCode::from(exit::INVALID))
        }
        e => Err(e.into()),
    }
}

pub fn erase(args: EraseArgs) -> Result<ExitCode> {
    if let Some(EraseCommand::Report(r)) = args.command {
        return report(r);
    }
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    let json = args.output.format == Format::Json;
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        let progress = bar(args.output.quiet || json, 0);
        let observer = |e: EraseEvent<'_>| match e {
            EraseEvent::Started { erasure, ports } => {
                progress.set_length(ports as u64);
                progress.set_position(0);
                progress.set_message(format!("erasure {erasure}"));
            }
            EraseEvent::Port { index, table } => {
                progress.set_position(index as u64);
                progress.set_message(format!("erasing from {table}"));
            }
            EraseEvent::PortDone { .. } => progress.inc(1),
        };
        let reports = if args.resume {
            match engine
                .resume_erasures(args.principal.as_deref(), &observer)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    progress.finish_and_clear();
                    return fail(e);
                }
            }
        } else {
            let text = args.subject.as_deref().context("--subject is required")?;
            let subject = match Subject::parse(&engine.mesh, text) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let req = EraseRequest {
                subject,
                principal: args.principal.clone(),
                reason: args.reason.clone(),
            };
            if args.dry_run {
                progress.finish_and_clear();
                return match engine.erase_plan(&req).await {
                    Ok(plan) => {
                        print_plan(&plan, json)?;
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(e) => fail(e),
                };
            }
            match engine.erase(&req, &observer).await {
                Ok(r) => r,
                Err(e) => {
                    progress.finish_and_clear();
                    return fail(e);
                }
            }
        };
        progress.finish_and_clear();
        if json {
            println!("{}", serde_json::to_string_pretty(&reports)?);
        } else if reports.is_empty() {
            println!("no interrupted erasure to roll forward");
        } else {
            let window = PrivacySettings::read(&engine.mesh)
                .map(|s| s.vacuum_retention)
                .unwrap_or_default();
            for r in &reports {
                print!("{}", report_text(r));
            }
            println!(
                "Old Delta versions still hold the erased rows until `tessera vacuum` removes their files (privacy.vacuum_retention: {}).",
                human(window)
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn print_plan(plan: &Plan, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(plan)?);
        return Ok(());
    }
    println!(
        "dry run: erasing this {} would touch {} port{} (in lineage order); nothing was changed",
        plan.subject_kind,
        plan.ports.len(),
        if plan.ports.len() == 1 { "" } else { "s" }
    );
    for p in &plan.ports {
        let version = p
            .version
            .map_or("not published".to_string(), |v| format!("v{v}"));
        let rows = match p.rows {
            Some(n) => format!("{n} row{} to delete", if n == 1 { "" } else { "s" }),
            None => "-".into(),
        };
        println!(
            "  {:<32} {:<14} {:<22} by {}",
            p.table,
            version,
            rows,
            p.columns.join(", ")
        );
    }
    if !plan.unfinished.is_empty() {
        println!(
            "interrupted erasures to roll forward first: {}",
            plan.unfinished.join(", ")
        );
    }
    Ok(())
}

pub fn report_text(r: &Report) -> String {
    let mut out = format!(
        "erasure {} of a {} (key hash {}…): {}, {} row{} deleted from {} port{}, by {}\n",
        r.erasure_id,
        r.subject_kind,
        &r.key_hash[..12.min(r.key_hash.len())],
        r.status,
        r.rows_deleted,
        if r.rows_deleted == 1 { "" } else { "s" },
        r.ports.iter().filter(|p| p.rows_deleted > 0).count(),
        if r.ports.iter().filter(|p| p.rows_deleted > 0).count() == 1 {
            ""
        } else {
            "s"
        },
        r.principal,
    );
    out += &format!(
        "  started {}, finished {}\n",
        r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        r.finished_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some(reason) = &r.reason {
        out += &format!("  reason: {reason}\n");
    }
    if let Some(i) = &r.interruption {
        out += &format!("  resumed: {i}\n");
    }
    for p in &r.ports {
        let versions = match (p.version_before, p.version_after) {
            (Some(b), Some(a)) => format!("v{b} → v{a}"),
            (Some(b), None) => format!("v{b}"),
            _ => "-".into(),
        };
        out += &format!(
            "  {:<32} {:<14} {:>8} row{}  {}\n",
            p.table,
            versions,
            p.rows_deleted,
            if p.rows_deleted == 1 { " " } else { "s" },
            p.outcome
        );
    }
    if let Some(e) = &r.error {
        out += &format!("  error: {e}\n");
    }
    out
}

fn report(args: EraseReportArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    mesh::runtime()?.block_on(async {
        let engine = mesh::engine(&root).await?;
        let records = engine.erasure_reports(args.id.as_deref()).await?;
        if let Some(id) = &args.id
            && records.is_empty()
        {
            eprintln!("error: no erasure {id}; `tessera erase report` lists them");
            return Ok(ExitCode::from(exit::INVALID));
        }
        if args.format == Format::Json {
            println!("{}", serde_json::to_string_pretty(&records)?);
            return Ok(ExitCode::SUCCESS);
        }
        if records.is_empty() {
            println!("no erasures recorded");
        }
        for e in &records {
            match e
                .report
                .as_ref()
                .and_then(|r| serde_json::from_value::<Report>(r.clone()).ok())
            {
                Some(r) if args.id.is_some() => print!("{}", report_text(&r)),
                Some(r) => println!(
                    "{}  {}  {:<9} {} rows  {}",
                    r.erasure_id,
                    r.started_at.format("%Y-%m-%d %H:%M:%S"),
                    r.status,
                    r.rows_deleted,
                    r.reason.as_deref().unwrap_or("")
                ),
                None => println!(
                    "{}  {}  {:<9} (host {}, pid {}; not finished)",
                    e.id,
                    e.started_at.format("%Y-%m-%d %H:%M:%S"),
                    e.status,
                    e.host,
                    e.pid
                ),
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn vacuum(args: VacuumArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    let window = match &args.older_than {
        None => None,
        Some(text) => Some(parse_window(text).with_context(|| {
            format!("--older-than `{text}`: expected a duration such as 0s, 10m, 1h or 7d")
        })?),
    };
    let json = args.output.format == Format::Json;
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        let progress = bar(args.output.quiet || json, 0);
        let observer = |i: usize, n: usize, table: &str| {
            progress.set_length(n as u64);
            progress.set_position(i as u64);
            progress.set_message(format!("vacuuming {table}"));
        };
        let report = match engine
            .vacuum(window, args.principal.as_deref(), &observer)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                progress.finish_and_clear();
                return fail(e);
            }
        };
        progress.finish_and_clear();
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(ExitCode::SUCCESS);
        }
        for p in report.ports.iter().filter(|p| p.published) {
            println!(
                "  {:<32} {:>5} data files  {:>4} log entries  {:>4} quarantine files removed",
                p.table, p.files_deleted, p.log_entries_deleted, p.quarantine_files_deleted
            );
        }
        println!(
            "vacuumed {} ports (older than {}): {} files removed, {} candidate files; {} ms",
            report.ports.iter().filter(|p| p.published).count(),
            human(Duration::from_secs(report.window_secs)),
            report.files_deleted(),
            report.candidate_files_deleted,
            report.duration_ms
        );
        Ok(ExitCode::SUCCESS)
    })
}

pub fn subject(cmd: SubjectCommand) -> Result<ExitCode> {
    let SubjectCommand::Export(args) = cmd;
    export(args)
}

fn export(args: SubjectExportArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    let format = match &args.output {
        None => "json",
        Some(path) => match path.extension().and_then(|e| e.to_str()) {
            Some("json") => "json",
            Some("html" | "htm") => "html",
            _ => bail!(
                "-o {}: the format comes from the extension: .json or .html",
                path.display()
            ),
        },
    };
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        let subject = match Subject::parse(&engine.mesh, &args.subject) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let export = match engine
            .subject_export(
                &subject,
                args.who.principal.as_deref(),
                args.who.purpose.as_deref(),
                args.max_reads,
            )
            .await
        {
            Ok(x) => x,
            Err(e) => return fail(e),
        };
        let text = if format == "html" {
            html(&export)
        } else {
            serde_json::to_string_pretty(&export)? + "\n"
        };
        match &args.output {
            None => print!("{text}"),
            Some(path) => {
                std::fs::write(path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                let rows: usize = export.ports.iter().map(|p| p.rows.len()).sum();
                eprintln!(
                    "wrote {}: {rows} rows from {} ports, {} reads",
                    path.display(),
                    export.ports.len(),
                    export.reads.len()
                );
            }
        }
        let refused: Vec<_> = export.ports.iter().filter(|p| p.error.is_some()).collect();
        for p in &refused {
            eprintln!(
                "warning: {}: {}",
                p.table,
                p.error.as_deref().unwrap_or_default()
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html(x: &SubjectExport) -> String {
    let mut out = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Subject access export: {kind} {key}</title>\
         <style>body{{font-family:sans-serif}}table{{border-collapse:collapse;margin-bottom:1.5em}}\
         td,th{{border:1px solid #ccc;padding:2px 6px;font-size:90%}}</style></head><body>\n\
         <h1>Subject access export</h1>\n<p>{kind} <b>{key}</b>, exported {at} by {who} for {why}.</p>\n",
        kind = esc(&x.subject_kind),
        key = esc(&x.key),
        at = x.exported_at.format("%Y-%m-%d %H:%M:%S UTC"),
        who = esc(&x.principal),
        why = esc(&x.purpose),
    );
    for p in &x.ports {
        let version = p
            .version
            .map_or(String::new(), |v| format!(", version {v}"));
        out += &format!(
            "<h2>{} <small>(product {}{version})</small></h2>\n",
            esc(&p.table),
            esc(&p.product)
        );
        if let Some(e) = &p.error {
            out += &format!("<p>Not read: {}</p>\n", esc(e));
            continue;
        }
        if p.rows.is_empty() {
            out += "<p>No rows.</p>\n";
            continue;
        }
        out += "<table><tr>";
        for c in &p.columns {
            out += &format!("<th>{}</th>", esc(c));
        }
        out += "</tr>\n";
        for row in &p.rows {
            out += "<tr>";
            for c in &p.columns {
                let v = match row.get(c) {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                };
                out += &format!("<td>{}</td>", esc(&v));
            }
            out += "</tr>\n";
        }
        out += "</table>\n";
    }
    out += "<h2>Reads of ports holding this kind of subject</h2>\n<table><tr><th>when</th><th>who</th><th>purpose</th><th>interface</th><th>statement</th></tr>\n";
    for r in &x.reads {
        out += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            r.at.format("%Y-%m-%d %H:%M:%S"),
            esc(&r.principal),
            esc(r.purpose.as_deref().unwrap_or("")),
            esc(&r.interface),
            esc(r.statement.as_deref().unwrap_or(""))
        );
    }
    out += "</table>\n</body></html>\n";
    out
}

pub fn retention(cmd: RetentionCommand) -> Result<ExitCode> {
    let (args, apply) = match cmd {
        RetentionCommand::Show(a) => (a, false),
        RetentionCommand::Apply(a) => (a, true),
    };
    retention_run(args, apply)
}

fn retention_run(args: RetentionArgs, apply: bool) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    let json = args.output.format == Format::Json;
    mesh::runtime()?.block_on(async {
        let engine: Engine = mesh::governed_engine(&root).await?;
        if !apply {
            let rules = engine.retention_rules(chrono::Utc::now());
            if json {
                println!("{}", serde_json::to_string_pretty(&rules)?);
                return Ok(ExitCode::SUCCESS);
            }
            for r in &rules {
                println!(
                    "  {:<32} {:<10} on {:<14} {}",
                    r.table,
                    r.retention,
                    r.column.as_deref().unwrap_or("-"),
                    match (&r.cutoff, &r.problem) {
                        (_, Some(p)) => format!("cannot apply: {p}"),
                        (Some(c), None) => format!("rows before {} expire", c.format("%Y-%m-%d")),
                        _ => String::new(),
                    }
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        let progress = bar(args.output.quiet || json, 0);
        let observer = |i: usize, n: usize, table: &str| {
            progress.set_length(n.max(i + 1) as u64);
            progress.set_position(i as u64);
            progress.set_message(format!("applying retention to {table}"));
        };
        let applied = match engine
            .retention_apply(args.principal.as_deref(), &observer)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                progress.finish_and_clear();
                return fail(e);
            }
        };
        progress.finish_and_clear();
        if json {
            println!("{}", serde_json::to_string_pretty(&applied)?);
            return Ok(ExitCode::SUCCESS);
        }
        let mut problems = false;
        for a in &applied {
            let what = match (&a.rule.problem, a.version_before, a.version_after) {
                (Some(p), _, _) => {
                    problems = true;
                    format!("not applied: {p}")
                }
                (None, None, _) => "not published".into(),
                (None, Some(b), Some(v)) => {
                    format!("{} rows deleted, v{b} → v{v}", a.rows_deleted)
                }
                (None, Some(b), None) => format!("nothing expired (v{b})"),
            };
            println!("  {:<32} {:<10} {what}", a.rule.table, a.rule.retention);
        }
        let total: u64 = applied.iter().map(|a| a.rows_deleted).sum();
        println!("retention applied: {total} rows deleted");
        if problems {
            eprintln!(
                "warning: some retentions cannot be applied to rows (above); give them an `element`"
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}
