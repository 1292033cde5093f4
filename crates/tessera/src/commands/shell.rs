//! The interactive SQL shell of `tessera sql`: line editing and history (rustyline),
//! statements over several lines until `;`, psql-style `\d`, Ctrl-C cancels a query.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;
use tessera_engine::query::{QuerySession, is_complete, split_statements};

use crate::cli::SqlFormat;
use crate::commands::sql::{Failure, run_statement};

const HELP: &str = r"  \d              list the tables you can query
  \d <table>      describe a table: columns, types, descriptions (e.g. \d web.events)
  \timing         show planning and execution time after each query (on/off)
  \?              this help
  \q              quit (or Ctrl-D)
  End each statement with ; — it may span lines. Ctrl-C cancels the running query.
  Time travel: SELECT … FROM crm.customers VERSION AS OF 3 (or TIMESTAMP AS OF '2026-11-24')";

pub async fn run(session: &QuerySession, root: &Path) -> Result<ExitCode> {
    let mut editor = DefaultEditor::new()?;
    let history = root.join(".tessera").join("sql_history");
    let _ = editor.load_history(&history);
    println!(
        "Tessera SQL — {} tables. \\d lists them, \\? helps, \\q quits; end statements with ;",
        session.tables().len()
    );
    let mut buffer = String::new();
    let mut timing = false;
    loop {
        let prompt = if buffer.is_empty() {
            "tessera> "
        } else {
            "    ...> "
        };
        let line = match tokio::task::block_in_place(|| editor.readline(prompt)) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let trimmed = line.trim();
        if buffer.is_empty() && trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            match trimmed {
                "\\q" | "\\quit" => break,
                "\\?" | "\\h" | "\\help" => println!("{HELP}"),
                "\\timing" => {
                    timing = !timing;
                    println!("timing is {}", if timing { "on" } else { "off" });
                }
                "\\d" | "\\dt" => {
                    execute(session, tessera_engine::query::SHOW_TABLES, timing).await;
                }
                other => match other.strip_prefix("\\d ") {
                    Some(table) => describe(session, table.trim(), timing).await,
                    None => eprintln!("unknown command {other}; \\? lists the commands"),
                },
            }
            continue;
        }
        if buffer.is_empty() && trimmed.is_empty() {
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if !is_complete(&buffer) {
            continue;
        }
        let _ = editor.add_history_entry(buffer.trim_end());
        for statement in split_statements(&buffer) {
            if !execute(session, &statement, timing).await {
                break;
            }
        }
        buffer.clear();
    }
    if let Some(dir) = history.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = editor.save_history(&history);
    Ok(ExitCode::SUCCESS)
}

/// Runs one statement, printing its result or error; Ctrl-C cancels it. Returns whether
/// it succeeded.
async fn execute(session: &QuerySession, sql: &str, timing: bool) -> bool {
    tokio::select! {
        outcome = run_statement(session, sql, SqlFormat::Table, None, timing) => match outcome {
            Ok(()) => true,
            Err(Failure::Query(e)) => {
                eprintln!("error: {e}");
                false
            }
            Err(Failure::Io(e)) => {
                eprintln!("error: {e:#}");
                false
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("cancelled");
            false
        }
    }
}

/// `\d web.events`: the table's columns with types and the contract's descriptions.
async fn describe(session: &QuerySession, table: &str, timing: bool) {
    // Planning a read of the table gives the same "unknown table, did you mean" errors.
    if let Err(e) = session
        .plan(&format!("SELECT * FROM {table} LIMIT 0"))
        .await
    {
        eprintln!("error: {e}");
        return;
    }
    let (schema, name) = table.split_once('.').unwrap_or(("", table));
    let quote = |s: &str| s.trim_matches('"').replace('\'', "''");
    let sql = format!(
        "SELECT column_name, data_type, is_nullable, description FROM information_schema.columns \
         WHERE table_schema = '{}' AND table_name = '{}' ORDER BY ordinal_position",
        quote(schema),
        quote(name)
    );
    if let Some(entry) = session
        .tables()
        .get(&quote(schema), &quote(name))
        .filter(|e| e.description.is_some())
    {
        println!(
            "{} — {}",
            entry.qualified(),
            entry.description.as_deref().unwrap_or_default()
        );
    }
    execute(session, &sql, timing).await;
}
