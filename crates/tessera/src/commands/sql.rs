//! `tessera sql` and `tessera explain`: SQL over the mesh, through the engine's query
//! session (the same one every server interface uses).

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read as _, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::pretty::pretty_format_batches;
use futures::StreamExt;
use tessera_engine::query::{QueryError, QuerySession, Read, plain_schema, to_plain};

use crate::cli::{ExplainArgs, SqlArgs, SqlFormat};
use crate::commands::{mesh, shell};
use crate::exit;

pub fn run(args: SqlArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    let format = match (args.format, &args.output) {
        (Some(f), _) => f,
        (None, Some(path)) => format_of(path)?,
        (None, None) => SqlFormat::Table,
    };
    let text = match (&args.sql, &args.file) {
        (Some(sql), _) => Some(sql.clone()),
        (None, Some(file)) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?,
        ),
        (None, None) if !std::io::stdin().is_terminal() => {
            let mut sql = String::new();
            std::io::stdin()
                .read_to_string(&mut sql)
                .context("cannot read SQL from stdin")?;
            Some(sql)
        }
        (None, None) => None,
    };
    if args.output.is_none()
        && matches!(format, SqlFormat::Parquet | SqlFormat::Arrow)
        && std::io::stdout().is_terminal()
    {
        bail!("--format {format:?} is binary; write it to a file with -o FILE, or pipe stdout");
    }
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        let session = match engine.session(
            args.who.principal.as_deref(),
            args.who.purpose.as_deref(),
            "cli",
        ) {
            Ok(s) => s,
            Err(e) => return Ok(query_failed(&e)),
        };
        match text {
            None => shell::run(&session, &root).await,
            Some(sql) => script(&session, &sql, format, args.output.as_deref(), args.timing).await,
        }
    })
}

pub fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let root = mesh::root(args.mesh.mesh.as_deref())?;
    let sql = match (&args.sql, &args.file) {
        (Some(sql), _) => sql.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?,
        (None, None) => bail!("give the query, or -f FILE"),
    };
    mesh::runtime()?.block_on(async {
        let engine = mesh::governed_engine(&root).await?;
        let session = match engine.session(
            args.who.principal.as_deref(),
            args.who.purpose.as_deref(),
            "cli",
        ) {
            Ok(s) => s,
            Err(e) => return Ok(query_failed(&e)),
        };
        let explained = async {
            let query = session.plan(&sql).await?;
            for n in query.notices() {
                eprintln!("warning: {n}");
            }
            query.explain(args.analyze).await
        }
        .await;
        match explained {
            Ok(e) => {
                if let Some(analyzed) = &e.analyzed {
                    println!("Physical plan, with the metrics of this run:\n{analyzed}");
                } else if args.tree {
                    println!("{}", e.tree);
                } else {
                    println!("Logical plan (optimized):\n{}\n", e.logical);
                    println!("Physical plan:\n{}", e.physical);
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Ok(query_failed(&e)),
        }
    })
}

fn format_of(path: &Path) -> Result<SqlFormat> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "csv" => SqlFormat::Csv,
        "json" => SqlFormat::Json,
        "ndjson" | "jsonl" => SqlFormat::Ndjson,
        "parquet" => SqlFormat::Parquet,
        "arrow" | "feather" | "ipc" => SqlFormat::Arrow,
        "txt" => SqlFormat::Table,
        _ => bail!(
            "cannot tell the format of {} from its extension; add --format (csv, json, ndjson, parquet, arrow, table)",
            path.display()
        ),
    })
}

/// Prints a query error and returns the exit code for it.
pub fn query_failed(e: &QueryError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(exit::INVALID)
}

/// Runs each statement of `sql` in order; stops at the first that fails.
async fn script(
    session: &QuerySession,
    sql: &str,
    format: SqlFormat,
    output: Option<&Path>,
    timing: bool,
) -> Result<ExitCode> {
    let statements = tessera_engine::query::split_statements(sql);
    if statements.is_empty() {
        return Ok(query_failed(&QueryError::Empty));
    }
    if statements.len() > 1 && (output.is_some() || format != SqlFormat::Table) {
        bail!(
            "the SQL has {} statements, but --format {format:?} / -o write one result; run them one at a time",
            statements.len()
        );
    }
    for (i, statement) in statements.iter().enumerate() {
        if i > 0 {
            println!();
        }
        match run_statement(session, statement, format, output, timing).await {
            Ok(()) => {}
            Err(Failure::Query(e)) => return Ok(query_failed(&e)),
            Err(Failure::Io(e)) => return Err(e),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub enum Failure {
    Query(QueryError),
    Io(anyhow::Error),
}

impl From<QueryError> for Failure {
    fn from(e: QueryError) -> Self {
        Failure::Query(e)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Io(e)
    }
}

/// Runs one statement and writes its result: to stdout capped at `query.max_rows`, or
/// streamed to a file (written beside it and renamed into place, so a failed query
/// leaves no partial file).
pub async fn run_statement(
    session: &QuerySession,
    sql: &str,
    format: SqlFormat,
    output: Option<&Path>,
    timing: bool,
) -> Result<(), Failure> {
    let started = Instant::now();
    let query = session.plan(sql).await?;
    let planned = started.elapsed();
    for n in query.notices() {
        eprintln!("warning: {n}");
    }
    let (rows, reads) = match output {
        None => {
            let result = query.collect(true).await?;
            let mut out = BufWriter::new(std::io::stdout());
            let mut writer = ResultWriter::new(format, &mut out, result.schema.clone(), false)?;
            for b in &result.batches {
                writer.write(b)?;
            }
            writer.finish()?;
            out.flush().context("writing to stdout")?;
            (result.rows, result.reads)
        }
        Some(path) => {
            let staged = staged_path(path);
            let written = write_file(query, format, &staged).await;
            match written {
                Ok((rows, reads)) => {
                    std::fs::rename(&staged, path)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("wrote {rows} rows to {}", path.display());
                    (rows, reads)
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&staged);
                    return Err(e);
                }
            }
        }
    };
    if timing {
        let total = started.elapsed();
        eprintln!(
            "timing: planning {:.3}s, execution {:.3}s, total {:.3}s, {rows} rows; read {}",
            planned.as_secs_f64(),
            (total - planned).as_secs_f64(),
            total.as_secs_f64(),
            describe_reads(&reads)
        );
    }
    Ok(())
}

fn describe_reads(reads: &[Read]) -> String {
    if reads.is_empty() {
        return "no tables".into();
    }
    reads
        .iter()
        .map(|r| match r.version {
            Some(v) => format!("{} v{v}", r.table),
            None => r.table.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn staged_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "result".into());
    path.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

async fn write_file(
    query: tessera_engine::query::Query,
    format: SqlFormat,
    path: &Path,
) -> Result<(usize, Vec<Read>), Failure> {
    let mut stream = query.stream().await?;
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let mut writer = ResultWriter::new(format, &mut out, stream.schema(), true)?;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        writer.write(&batch)?;
    }
    writer.finish()?;
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok((rows, stream.reads().to_vec()))
}

/// Writes batches in one of the output formats.
pub enum ResultWriter<'w, W: Write + Send> {
    Table {
        out: &'w mut W,
        batches: Vec<RecordBatch>,
        schema: SchemaRef,
    },
    Csv(datafusion::arrow::csv::Writer<&'w mut W>),
    Json(datafusion::arrow::json::Writer<&'w mut W, datafusion::arrow::json::writer::JsonArray>),
    Ndjson(
        datafusion::arrow::json::Writer<&'w mut W, datafusion::arrow::json::writer::LineDelimited>,
    ),
    Parquet(
        datafusion::parquet::arrow::ArrowWriter<&'w mut W>,
        SchemaRef,
    ),
    ArrowFile(
        datafusion::arrow::ipc::writer::FileWriter<&'w mut W>,
        SchemaRef,
    ),
    ArrowStream(
        datafusion::arrow::ipc::writer::StreamWriter<&'w mut W>,
        SchemaRef,
    ),
}

impl<'w, W: Write + Send> ResultWriter<'w, W> {
    pub fn new(format: SqlFormat, out: &'w mut W, schema: SchemaRef, file: bool) -> Result<Self> {
        use datafusion::arrow::json::WriterBuilder;
        Ok(match format {
            SqlFormat::Table => ResultWriter::Table {
                out,
                batches: Vec::new(),
                schema,
            },
            SqlFormat::Csv => {
                let mut w = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out);
                // The header, even when no row follows.
                w.write(&RecordBatch::new_empty(schema))
                    .context("writing CSV")?;
                ResultWriter::Csv(w)
            }
            SqlFormat::Json => {
                ResultWriter::Json(WriterBuilder::new().with_explicit_nulls(true).build(out))
            }
            SqlFormat::Ndjson => {
                ResultWriter::Ndjson(WriterBuilder::new().with_explicit_nulls(true).build(out))
            }
            SqlFormat::Parquet => {
                let schema = plain_schema(&schema);
                ResultWriter::Parquet(
                    datafusion::parquet::arrow::ArrowWriter::try_new(out, schema.clone(), None)
                        .context("cannot start the Parquet file")?,
                    schema,
                )
            }
            SqlFormat::Arrow if file => {
                let schema = plain_schema(&schema);
                ResultWriter::ArrowFile(
                    datafusion::arrow::ipc::writer::FileWriter::try_new(out, &schema)
                        .context("cannot start the Arrow file")?,
                    schema,
                )
            }
            SqlFormat::Arrow => {
                let schema = plain_schema(&schema);
                ResultWriter::ArrowStream(
                    datafusion::arrow::ipc::writer::StreamWriter::try_new(out, &schema)
                        .context("cannot start the Arrow stream")?,
                    schema,
                )
            }
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            ResultWriter::Table { batches, .. } => {
                batches.push(batch.clone());
                Ok(())
            }
            ResultWriter::Csv(w) => w.write(batch).context("writing CSV"),
            ResultWriter::Json(w) => w.write(batch).context("writing JSON"),
            ResultWriter::Ndjson(w) => w.write(batch).context("writing NDJSON"),
            ResultWriter::Parquet(w, s) => w.write(&to_plain(batch, s)?).context("writing Parquet"),
            ResultWriter::ArrowFile(w, s) => w.write(&to_plain(batch, s)?).context("writing Arrow"),
            ResultWriter::ArrowStream(w, s) => {
                w.write(&to_plain(batch, s)?).context("writing Arrow")
            }
        }
    }

    pub fn finish(self) -> Result<()> {
        match self {
            ResultWriter::Table {
                out,
                batches,
                schema,
            } => {
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                let table = if batches.is_empty() {
                    pretty_format_batches(&[RecordBatch::new_empty(schema)])
                } else {
                    pretty_format_batches(&batches)
                }
                .context("formatting the result")?;
                writeln!(out, "{table}")?;
                writeln!(out, "({rows} row{})", if rows == 1 { "" } else { "s" })?;
                Ok(())
            }
            ResultWriter::Csv(w) => {
                w.into_inner().flush()?;
                Ok(())
            }
            ResultWriter::Json(mut w) => {
                w.finish().context("writing JSON")?;
                writeln!(w.into_inner())?;
                Ok(())
            }
            ResultWriter::Ndjson(mut w) => w.finish().context("writing NDJSON"),
            ResultWriter::Parquet(w, _) => w.close().map(|_| ()).context("finishing Parquet"),
            ResultWriter::ArrowFile(mut w, _) => w.finish().context("finishing Arrow"),
            ResultWriter::ArrowStream(mut w, _) => w.finish().context("finishing Arrow"),
        }
    }
}
