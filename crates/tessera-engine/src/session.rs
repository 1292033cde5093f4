//! DataFusion sessions for building products: each product's inputs, and nothing else,
//! registered as `<domain>.<table>`.
//!
//! Invariant: a build session holds exactly the product's declared inputs. A port's SQL
//! cannot read a table that is not one of its product's inputs, even by accident.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};
use tessera_model::mesh::Source;
use tessera_model::{Contract, custom};

use crate::{EngineError, Result};

/// A new session with one schema per domain in `domains`.
pub fn new_session(domains: impl IntoIterator<Item = String>) -> SessionContext {
    let ctx = SessionContext::new();
    let catalog = ctx
        .catalog("datafusion")
        .expect("a new session has the default catalog");
    for d in domains.into_iter().collect::<BTreeSet<_>>() {
        catalog
            .register_schema(&d, Arc::new(MemorySchemaProvider::new()))
            .expect("registering a schema in a memory catalog does not fail");
    }
    ctx
}

/// The file or folder a source's contract points to, and its format.
pub fn source_location(source: &Source, mesh_dir: &Path) -> Result<(PathBuf, String)> {
    let contract = &source.contract;
    let table = format!("{}.{}", source.domain, source.name);
    let server = contract.local_server().ok_or_else(|| EngineError::Source {
        table: table.clone(),
        file: contract.file.clone(),
        why: "the contract has no `local` server saying where the data is".into(),
    })?;
    let path = server.path.as_deref().unwrap_or_default();
    let format = server.format.clone().unwrap_or_else(|| {
        Path::new(path)
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default()
    });
    let full = mesh_dir.join(path);
    if !full.exists() {
        return Err(EngineError::Source {
            table,
            file: contract.file.clone(),
            why: format!(
                "the data file {} does not exist (servers[].path `{path}`, relative to the mesh root)",
                full.display()
            ),
        });
    }
    Ok((full, format))
}

/// Registers a source file under `<domain>.<source>`, read with its contract's columns.
pub async fn register_source(ctx: &SessionContext, source: &Source, mesh_dir: &Path) -> Result<()> {
    let (path, format) = source_location(source, mesh_dir)?;
    let table = format!("{}.{}", source.domain, source.name);
    register_file(ctx, &table, &source.contract, &path, &format).await
}

/// Registers the data a contract describes (`path`, `format`) as `table`.
pub async fn register_file(
    ctx: &SessionContext,
    table: &str,
    contract: &Contract,
    path: &Path,
    format: &str,
) -> Result<()> {
    let object = contract.objects.first();
    let schema = object.map(|o| tessera_quality::types::source_schema(&o.properties));
    let path_str = path.to_string_lossy().to_string();
    let server = contract.local_server();
    let setting = |name: &str| {
        server.and_then(|s| custom::lookup(s.custom_properties.as_ref(), name).cloned())
    };
    let fail = |e: datafusion::error::DataFusionError| EngineError::Source {
        table: table.to_string(),
        file: contract.file.clone(),
        why: format!("cannot read {path_str}: {e}"),
    };
    match format {
        "csv" => {
            let delimiter = setting(custom::CSV_DELIMITER)
                .and_then(|v| v.as_str().and_then(|s| s.bytes().next()))
                .unwrap_or(b',');
            let header = setting(custom::CSV_HEADER)
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            let mut options = CsvReadOptions::new()
                .has_header(header)
                .delimiter(delimiter)
                .file_extension("");
            if let Some(schema) = &schema {
                options = options.schema(schema);
            }
            ctx.register_csv(table, &path_str, options)
                .await
                .map_err(fail)
        }
        "parquet" => ctx
            .register_parquet(
                table,
                &path_str,
                ParquetReadOptions::default().file_extension(""),
            )
            .await
            .map_err(fail),
        "json" | "ndjson" => {
            let mut options = JsonReadOptions::default().file_extension("");
            if let Some(schema) = &schema {
                options = options.schema(schema);
            }
            ctx.register_json(table, &path_str, options)
                .await
                .map_err(fail)
        }
        other => Err(EngineError::Source {
            table: table.to_string(),
            file: contract.file.clone(),
            why: format!("unknown format `{other}`; Tessera reads csv, parquet, json and ndjson"),
        }),
    }
}

/// Registers an in-memory table.
pub fn register_batches(
    ctx: &SessionContext,
    table: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<()> {
    let mem = MemTable::try_new(schema, vec![batches]).map_err(EngineError::internal)?;
    register_provider(ctx, table, Arc::new(mem))
}

pub fn register_provider(
    ctx: &SessionContext,
    table: &str,
    provider: Arc<dyn TableProvider>,
) -> Result<()> {
    ctx.register_table(table, provider)
        .map_err(EngineError::internal)?;
    Ok(())
}

/// The type a column is stored as in Delta: view types become plain ones, timestamps
/// become microseconds (Delta's unit), and every column is nullable (the contract, not the
/// storage, says what is required).
pub fn storage_type(dt: &DataType) -> DataType {
    match dt {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        DataType::Date64 => DataType::Date32,
        DataType::UInt8 => DataType::Int16,
        DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        DataType::Float16 => DataType::Float32,
        other => other.clone(),
    }
}

pub fn storage_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), storage_type(f.data_type()), true))
            .collect::<Vec<_>>(),
    ))
}

/// Casts batches to the storage schema.
pub fn to_storage(batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    batches
        .into_iter()
        .map(|b| {
            let columns = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| {
                    if c.data_type() == f.data_type() {
                        Ok(c.clone())
                    } else {
                        cast(c, f.data_type())
                    }
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| EngineError::internal(e.into()))?;
            RecordBatch::try_new(schema.clone(), columns)
                .map_err(|e| EngineError::internal(e.into()))
        })
        .collect()
}
