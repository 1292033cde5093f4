//! The DataFusion catalog a query session plans against: one schema per schema of its
//! [`TableSet`], an `information_schema` describing exactly that set, and the schemas the
//! session's extensions declared (`pg_catalog` for PostgreSQL clients), built over this
//! catalog. Nothing else is reachable by name.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result as DfResult};
use futures::future::join_all;
use serde::Serialize;

use super::QueryError;
use super::rewrite::split_versioned;
use super::tables::{At, TableKind, TableSet};

pub(crate) const CATALOG: &str = "mesh";
pub(crate) const INFORMATION_SCHEMA: &str = "information_schema";
pub(crate) const INFORMATION_TABLES: &[&str] = &["schemata", "tables", "columns"];

/// A table a query read, and at which version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Read {
    /// `<schema>.<name>`.
    pub table: String,
    pub kind: TableKind,
    pub at: At,
    /// The Delta version read (ports).
    pub version: Option<i64>,
    pub notice: Option<String>,
}

pub(crate) type Reads = Arc<Mutex<Vec<Read>>>;

#[derive(Debug)]
pub(crate) struct MeshCatalog {
    pub set: Arc<TableSet>,
    pub reads: Reads,
    /// The schema names session extensions declared ([`super::SessionExtension`]): the
    /// only names `register_schema` accepts.
    pub extension_schemas: Vec<String>,
    /// The schemas extensions registered, by name.
    pub extensions: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
}

impl MeshCatalog {
    pub fn new(set: Arc<TableSet>, reads: Reads, extension_schemas: Vec<String>) -> MeshCatalog {
        MeshCatalog {
            set,
            reads,
            extension_schemas,
            extensions: RwLock::new(BTreeMap::new()),
        }
    }
}

impl CatalogProvider for MeshCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.set.schemas().into_iter().collect();
        names.push(INFORMATION_SCHEMA.into());
        names.extend(
            self.extensions
                .read()
                .expect("extension schemas lock is never poisoned")
                .keys()
                .cloned(),
        );
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == INFORMATION_SCHEMA {
            return Some(Arc::new(InformationSchema {
                set: self.set.clone(),
            }));
        }
        if self.set.has_schema(name) {
            return Some(Arc::new(MeshSchema {
                schema: name.to_string(),
                set: self.set.clone(),
                reads: self.reads.clone(),
            }));
        }
        self.extensions
            .read()
            .expect("extension schemas lock is never poisoned")
            .get(name)
            .cloned()
    }

    /// Only a schema an extension declared, and never over the mesh's own names: an
    /// extension adds names, it cannot replace what governance built.
    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        if name == INFORMATION_SCHEMA
            || self.set.has_schema(name)
            || !self.extension_schemas.iter().any(|s| s == name)
        {
            return Err(DataFusionError::Plan(format!(
                "schema `{name}` cannot be added to the mesh catalog: only a schema a session \
                 extension declares, and not one of the mesh's own, can be"
            )));
        }
        Ok(self
            .extensions
            .write()
            .expect("extension schemas lock is never poisoned")
            .insert(name.to_string(), schema))
    }
}

#[derive(Debug)]
struct MeshSchema {
    schema: String,
    set: Arc<TableSet>,
    reads: Reads,
}

#[async_trait]
impl SchemaProvider for MeshSchema {
    fn table_names(&self) -> Vec<String> {
        self.set
            .entries()
            .filter(|e| e.schema == self.schema)
            .map(|e| e.name.clone())
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let (base, at) = split_versioned(name);
        let Some(entry) = self.set.get(&self.schema, base) else {
            return Ok(None);
        };
        let table = entry.qualified();
        let at = at.ok_or_else(|| {
            external(QueryError::TimeTravel {
                table: table.clone(),
                why: format!("`{name}` names no version; write `{table} VERSION AS OF 3`"),
            })
        })?;
        let opened = entry.source.open(&at).await.map_err(external)?;
        let mut reads = self.reads.lock().expect("reads lock is never poisoned");
        let read = Read {
            table,
            kind: entry.kind,
            at,
            version: opened.version,
            notice: entry.notice.clone(),
        };
        if !reads.contains(&read) {
            reads.push(read);
        }
        Ok(Some(opened.provider))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.set
            .get(&self.schema, split_versioned(name).0)
            .is_some()
    }
}

fn external(e: QueryError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// `information_schema.{schemata,tables,columns}` over the session's tables, with the
/// contracts' descriptions. Column types are those the session reads (each port is
/// opened at its latest version); a port never published lists its contract's columns
/// with no type.
#[derive(Debug)]
struct InformationSchema {
    set: Arc<TableSet>,
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        INFORMATION_TABLES.iter().map(|s| s.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let batch = match name {
            "schemata" => self.schemata(),
            "tables" => self.tables(),
            "columns" => self.columns().await,
            _ => return Ok(None),
        }?;
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        Ok(Some(Arc::new(table)))
    }

    fn table_exist(&self, name: &str) -> bool {
        INFORMATION_TABLES.contains(&name)
    }
}

fn text(values: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> DfResult<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )?)
}

impl InformationSchema {
    fn schemata(&self) -> DfResult<RecordBatch> {
        let mut names: Vec<String> = self.set.schemas().into_iter().collect();
        names.push(INFORMATION_SCHEMA.into());
        let n = names.len();
        batch(vec![
            ("catalog_name", text(vec![Some(CATALOG.into()); n])),
            ("schema_name", text(names.into_iter().map(Some).collect())),
        ])
    }

    fn tables(&self) -> DfResult<RecordBatch> {
        let mut rows: Vec<(String, String, String, Option<String>)> = self
            .set
            .entries()
            .map(|e| {
                (
                    e.schema.clone(),
                    e.name.clone(),
                    match e.kind {
                        TableKind::Port => "BASE TABLE".to_string(),
                        TableKind::Meta => "VIEW".to_string(),
                    },
                    e.description.clone(),
                )
            })
            .collect();
        for t in INFORMATION_TABLES {
            rows.push((
                INFORMATION_SCHEMA.into(),
                t.to_string(),
                "VIEW".into(),
                None,
            ));
        }
        let n = rows.len();
        batch(vec![
            ("table_catalog", text(vec![Some(CATALOG.into()); n])),
            (
                "table_schema",
                text(rows.iter().map(|r| Some(r.0.clone())).collect()),
            ),
            (
                "table_name",
                text(rows.iter().map(|r| Some(r.1.clone())).collect()),
            ),
            (
                "table_type",
                text(rows.iter().map(|r| Some(r.2.clone())).collect()),
            ),
            ("description", text(rows.into_iter().map(|r| r.3).collect())),
        ])
    }

    async fn columns(&self) -> DfResult<RecordBatch> {
        let entries: Vec<_> = self.set.entries().cloned().collect();
        let opened = join_all(entries.iter().map(|e| e.source.open(&At::Latest))).await;
        let mut schema_col = Vec::new();
        let mut table_col = Vec::new();
        let mut name_col = Vec::new();
        let mut ordinal = Vec::new();
        let mut nullable = Vec::new();
        let mut data_type = Vec::new();
        let mut description = Vec::new();
        for (entry, opened) in entries.iter().zip(opened) {
            // What the session reads, when it can be opened; else what the contract says.
            let fields: Vec<(String, Option<String>, Option<bool>)> = match opened {
                Ok(o) => o
                    .provider
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| {
                        (
                            f.name().clone(),
                            Some(type_name(f.data_type())),
                            Some(f.is_nullable()),
                        )
                    })
                    .collect(),
                Err(_) => entry
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), None, None))
                    .collect(),
            };
            for (i, (name, dt, null)) in fields.into_iter().enumerate() {
                let info = entry.column(&name);
                schema_col.push(Some(entry.schema.clone()));
                table_col.push(Some(entry.name.clone()));
                ordinal.push(i as u64 + 1);
                nullable.push(null.map(|n| if n { "YES" } else { "NO" }.to_string()));
                data_type.push(dt);
                description.push(info.and_then(|c| c.description.clone()));
                name_col.push(Some(name));
            }
        }
        let n = name_col.len();
        batch(vec![
            ("table_catalog", text(vec![Some(CATALOG.into()); n])),
            ("table_schema", text(schema_col)),
            ("table_name", text(table_col)),
            ("column_name", text(name_col)),
            ("ordinal_position", Arc::new(UInt64Array::from(ordinal))),
            ("is_nullable", text(nullable)),
            ("data_type", text(data_type)),
            ("description", text(description)),
        ])
    }
}

/// An Arrow type as SQL users read it.
pub(crate) fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Timestamp(_, Some(tz)) => format!("TIMESTAMP WITH TIME ZONE ({tz})"),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BINARY".into(),
        other => other.to_string(),
    }
}
