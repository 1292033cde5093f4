//! The engine's view of the whole mesh as a [`TableSet`]: every queryable output port as
//! `<domain>.<port>`, and the mesh's own metadata as `mesh_meta.*`. This is the
//! ungoverned set; governance derives what a principal may read from it.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::datasource::MemTable;
use tessera_catalog::{CatalogStore, PortKey, RunQuery};
use tessera_model::Contract;
use tessera_model::Mesh;
use tessera_model::custom;
use tessera_model::mesh::{InputTarget, Port, Product};
use tessera_model::odcs::Property;
use tessera_storage::Storage;
use url::Url;

use super::QueryError;
use super::tables::{At, ColumnInfo, Opened, TableEntry, TableKind, TableSet, TableSource};
use crate::Engine;

pub const META_SCHEMA: &str = "mesh_meta";

/// The `mesh_meta` tables, with what each holds.
pub const META_TABLES: &[(&str, &str)] = &[
    (
        "products",
        "Data products: status, owner team, ports and inputs",
    ),
    (
        "ports",
        "Output ports: contract, latest published version, rows, where the table lives",
    ),
    (
        "columns",
        "Columns of every output port, from its contract: type, classification, subject key, description",
    ),
    (
        "versions",
        "Every published Delta version of every port, with the run that committed it",
    ),
    ("runs", "Build, test and publish runs, newest first"),
    ("checks", "Contract check results of every run"),
    (
        "lineage",
        "Edges from inputs (sources and other products' ports) to the products built from them",
    ),
    (
        "audit",
        "The audit log, newest first: who ran what, for which purpose, what it read (needs read_audit)",
    ),
];

/// Rows of `mesh_meta.audit` at most (the newest); `tessera audit` reads further back.
const AUDIT_ROWS: usize = 100_000;

/// How a port may be queried, from its product's and its contract's status (ODPS and
/// ODCS share the vocabulary): the weaker of the two wins.
fn port_status(product: &Product, port: &Port) -> &'static str {
    let rank = |s: &str| match s {
        "retired" => 0,
        "proposed" | "draft" => 1,
        "deprecated" => 2,
        _ => 3,
    };
    let product_status = product.descriptor.status.as_str();
    let contract_status = port
        .contract
        .as_ref()
        .map(|c| c.status.as_str())
        .unwrap_or("active");
    match rank(product_status).min(rank(contract_status)) {
        0 => "retired",
        1 => "draft",
        2 => "deprecated",
        _ => "active",
    }
}

/// What a query of a deprecated port is told, on every interface: until when it is served
/// and what replaces it (the contract's `tesseraSunset` and `tesseraReplacement`).
pub fn deprecation_notice(product: &Product, port: &Port, contract: &Contract) -> String {
    let table = format!("{}.{}", product.domain, port.name);
    let product_ref = format!("{}/{}", product.domain, product.name);
    let until = match contract.sunset() {
        Some(day) => format!("it will be retired on {day}"),
        None => "it may stop being served".to_string(),
    };
    let instead = match contract.replacement() {
        Some(r) => format!("; use {r} instead"),
        None => String::new(),
    };
    format!("{table} is deprecated ({product_ref}): {until}{instead}")
}

impl Engine {
    /// How a port may be queried — `active`, `deprecated`, `draft` or `retired` — from its
    /// product's and its contract's status (the weaker of the two), as `mesh_meta.ports`
    /// and the catalog API report it.
    pub fn port_status(product: &Product, port: &Port) -> &'static str {
        port_status(product, port)
    }

    /// Every active or deprecated output port, and `mesh_meta.*`. Retired and draft ports
    /// are listed as unavailable, with why.
    pub fn table_set(&self) -> TableSet {
        let mut set = TableSet::new();
        for product in self.mesh.products() {
            let product_ref = format!("{}/{}", product.domain, product.name);
            for port in &product.ports {
                let Some(contract) = &port.contract else {
                    continue;
                };
                let domain = product.domain.to_string();
                let name = port.name.to_string();
                let status = port_status(product, port);
                match status {
                    "retired" => {
                        set.mark_unavailable(
                            &domain,
                            &name,
                            format!("{product_ref} is retired; its data is no longer served"),
                        );
                        continue;
                    }
                    "draft" => {
                        set.mark_unavailable(&domain, &name, format!(
                            "{product_ref} is a draft; it is queryable once its status (in dataproduct.yaml and the contract) is active"
                        ));
                        continue;
                    }
                    _ => {}
                }
                let object = contract.objects.first();
                let description = product
                    .descriptor
                    .output_ports
                    .iter()
                    .find(|o| o.name == name)
                    .and_then(|o| o.description.clone())
                    .or_else(|| object.and_then(|o| o.description.clone()));
                let notice =
                    (status == "deprecated").then(|| deprecation_notice(product, port, contract));
                let key = Engine::port_key(product, port);
                set.insert(TableEntry {
                    schema: domain.clone(),
                    name: name.clone(),
                    kind: TableKind::Port,
                    product: Some(product_ref.clone()),
                    description,
                    columns: object
                        .map(|o| o.properties.iter().map(column_info).collect())
                        .unwrap_or_default(),
                    notice,
                    hidden: Vec::new(),
                    source: Arc::new(PortTable {
                        table: format!("{domain}.{name}"),
                        product: product_ref.clone(),
                        url: self.port_url(&key),
                        storage: self.storage.clone(),
                        erasure: crate::privacy::filter::ErasureGuard::new(
                            self,
                            contract,
                            port.name.as_str(),
                        )
                        .map(Arc::new),
                    }),
                });
            }
        }
        for entry in self.meta_entries(None) {
            set.insert(entry);
        }
        set
    }

    /// The `mesh_meta` tables; with a visibility, as a governed session sees them (ports
    /// it may not query and columns it may not see are left out of `columns` and
    /// `checks`; `ports` says whether it may query each).
    pub(crate) fn meta_entries(
        &self,
        visibility: Option<Arc<super::Visibility>>,
    ) -> Vec<TableEntry> {
        let data = Arc::new(MetaData {
            mesh: self.mesh.clone(),
            catalog: self.catalog.clone(),
            visibility,
            masking: self
                .governor
                .as_ref()
                .and_then(|g| g.governance.as_ref())
                .map(|g| {
                    g.settings
                        .masking
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        });
        META_TABLES
            .iter()
            .map(|(name, description)| TableEntry {
                schema: META_SCHEMA.into(),
                name: name.to_string(),
                kind: TableKind::Meta,
                product: None,
                description: Some(description.to_string()),
                columns: Vec::new(),
                hidden: Vec::new(),
                notice: None,
                source: Arc::new(MetaTable {
                    name,
                    data: data.clone(),
                }),
            })
            .collect()
    }

    /// A query session over the whole mesh, under mesh.yaml's limits.
    pub fn query_session(&self) -> super::QuerySession {
        super::QuerySession::new(self.table_set(), self.mesh.config.query)
    }
}

pub(crate) fn column_info(p: &Property) -> ColumnInfo {
    ColumnInfo {
        name: p.name.clone(),
        description: p.description.clone(),
        logical_type: p.logical_type.clone(),
        classification: p.classification.clone(),
        subject_key: custom::lookup(p.custom_properties.as_ref(), custom::SUBJECT_KEY)
            .and_then(|v| v.as_str().map(str::to_string)),
        required: p.required,
        unique: p.unique,
        primary_key: p.primary_key,
        tags: p.tags.clone(),
        masked: None,
    }
}

/// An output port's Delta table.
#[derive(Debug)]
struct PortTable {
    table: String,
    product: String,
    url: Url,
    storage: Storage,
    /// Filters erased subjects out of versions older than the latest (time travel).
    erasure: Option<Arc<crate::privacy::filter::ErasureGuard>>,
}

impl PortTable {
    fn open_error(&self, e: impl std::fmt::Display) -> QueryError {
        QueryError::Open {
            table: self.table.clone(),
            why: e.to_string(),
        }
    }

    async fn resolve(&self, at: &At) -> Result<i64, QueryError> {
        let latest = self
            .storage
            .latest_version(&self.url)
            .await
            .map_err(|e| self.open_error(e))?
            .ok_or_else(|| QueryError::Unavailable {
                name: self.table.clone(),
                why: format!(
                    "it has not been published yet\n  help: publish it with `tessera publish {}`",
                    self.product
                ),
            })?;
        match at {
            At::Latest => Ok(latest),
            At::Version(v) if *v <= latest => Ok(*v),
            At::Version(v) => Err(QueryError::TimeTravel {
                table: self.table.clone(),
                why: format!(
                    "there is no version {v}; its versions are 0 to {latest} (`tessera versions {}`)",
                    self.product
                ),
            }),
            At::Time(t) => {
                let history = self
                    .storage
                    .history(&self.url)
                    .await
                    .map_err(|e| self.open_error(e))?;
                let when = |c: &tessera_storage::Commit| {
                    c.timestamp_ms
                        .and_then(DateTime::<Utc>::from_timestamp_millis)
                };
                // Newest first: the first commit at or before `t`.
                if let Some(c) = history.iter().find(|c| when(c).is_some_and(|w| w <= *t)) {
                    return Ok(c.version);
                }
                let first = history
                    .iter()
                    .filter_map(when)
                    .min()
                    .map(|w| w.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_else(|| "unknown".into());
                Err(QueryError::TimeTravel {
                    table: self.table.clone(),
                    why: format!(
                        "there is no version as of {at}; its first version was published at {first}"
                    ),
                })
            }
        }
    }
}

#[async_trait]
impl TableSource for PortTable {
    async fn open(&self, at: &At) -> Result<Opened, QueryError> {
        let version = self.resolve(at).await?;
        let provider = self
            .storage
            .provider(&self.url, Some(version))
            .await
            .map_err(|e| self.open_error(e))?;
        let provider = match (&self.erasure, at) {
            (Some(guard), At::Version(_) | At::Time(_)) => guard
                .filter(provider)
                .await
                .map_err(|e| self.open_error(e))?,
            _ => provider,
        };
        Ok(Opened {
            provider,
            version: Some(version),
        })
    }
}

struct MetaData {
    mesh: Arc<Mesh>,
    catalog: Arc<dyn CatalogStore>,
    /// Set for a governed session.
    visibility: Option<Arc<super::Visibility>>,
    /// mesh.yaml's masking method per classification.
    masking: BTreeMap<String, String>,
}

impl MetaData {
    fn may_query(&self, table: &str) -> bool {
        self.visibility.as_ref().is_none_or(|v| v.may_query(table))
    }

    /// How the session sees a column: "visible", "masked (hash)"; `None` when absent.
    fn access(&self, table: &str, column: &str) -> Option<String> {
        match &self.visibility {
            None => Some("visible".into()),
            Some(v) => {
                let d = v.decisions.get(table)?;
                if !d.query.allowed {
                    return None;
                }
                match d.column(column)?.access {
                    tessera_governance::Access::Absent => None,
                    a => Some(a.label()),
                }
            }
        }
    }
}

impl std::fmt::Debug for MetaData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaData")
            .field("mesh", &self.mesh.config.name)
            .finish_non_exhaustive()
    }
}

/// One `mesh_meta` table, built from the mesh and the metadata store when it is read.
#[derive(Debug)]
struct MetaTable {
    name: &'static str,
    data: Arc<MetaData>,
}

#[async_trait]
impl TableSource for MetaTable {
    async fn open(&self, at: &At) -> Result<Opened, QueryError> {
        if *at != At::Latest {
            return Err(QueryError::TimeTravel {
                table: format!("{META_SCHEMA}.{}", self.name),
                why: "mesh_meta tables have no versions; mesh_meta.versions lists every port's"
                    .into(),
            });
        }
        let batch = self.build().await.map_err(|why| QueryError::Open {
            table: format!("{META_SCHEMA}.{}", self.name),
            why,
        })?;
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])
            .map_err(|e| QueryError::Execution(e.to_string()))?;
        Ok(Opened {
            provider: Arc::new(table),
            version: None,
        })
    }
}

/// Columns of a metadata table, built one at a time.
#[derive(Default)]
struct Columns {
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl Columns {
    fn push(mut self, name: &str, array: ArrayRef) -> Self {
        self.fields
            .push(Field::new(name, array.data_type().clone(), true));
        self.arrays.push(array);
        self
    }
    fn text<S: Into<String>>(self, name: &str, v: impl IntoIterator<Item = Option<S>>) -> Self {
        let v: Vec<Option<String>> = v.into_iter().map(|s| s.map(Into::into)).collect();
        self.push(name, Arc::new(StringArray::from(v)))
    }
    fn int(self, name: &str, v: impl IntoIterator<Item = Option<i64>>) -> Self {
        self.push(name, Arc::new(Int64Array::from_iter(v)))
    }
    fn float(self, name: &str, v: impl IntoIterator<Item = Option<f64>>) -> Self {
        self.push(name, Arc::new(Float64Array::from_iter(v)))
    }
    fn bool(self, name: &str, v: impl IntoIterator<Item = Option<bool>>) -> Self {
        self.push(name, Arc::new(BooleanArray::from_iter(v)))
    }
    fn time(self, name: &str, v: impl IntoIterator<Item = Option<DateTime<Utc>>>) -> Self {
        let array = TimestampMicrosecondArray::from_iter(
            v.into_iter().map(|t| t.map(|t| t.timestamp_micros())),
        )
        .with_timezone("UTC");
        self.push(name, Arc::new(array))
    }
    fn list(self, name: &str, v: impl IntoIterator<Item = Vec<String>>) -> Self {
        let mut b = ListBuilder::new(StringBuilder::new());
        for items in v {
            for i in items {
                b.values().append_value(i);
            }
            b.append(true);
        }
        self.push(name, Arc::new(b.finish()))
    }
    fn batch(self) -> Result<RecordBatch, String> {
        RecordBatch::try_new(Arc::new(Schema::new(self.fields)), self.arrays)
            .map_err(|e| e.to_string())
    }
}

impl MetaTable {
    async fn build(&self) -> Result<RecordBatch, String> {
        let mesh = &self.data.mesh;
        let catalog = &self.data.catalog;
        let err = |e: tessera_catalog::CatalogError| format!("metadata store: {e}");
        match self.name {
            "products" => {
                let last_publish = {
                    let mut m = BTreeMap::new();
                    for p in mesh.products() {
                        let run = catalog
                            .last_good_publish(p.domain.as_str(), p.name.as_str())
                            .await
                            .map_err(err)?;
                        m.insert(p.reference(), run.and_then(|r| r.finished_at));
                    }
                    m
                };
                let products: Vec<&Product> = mesh.products().collect();
                Columns::default()
                    .text(
                        "domain",
                        products.iter().map(|p| Some(p.domain.to_string())),
                    )
                    .text("product", products.iter().map(|p| Some(p.name.to_string())))
                    .text(
                        "id",
                        products.iter().map(|p| Some(p.descriptor.id.to_string())),
                    )
                    .text("name", products.iter().map(|p| p.descriptor.name.clone()))
                    .text(
                        "status",
                        products.iter().map(|p| Some(p.descriptor.status.clone())),
                    )
                    .text(
                        "description",
                        products
                            .iter()
                            .map(|p| product_description(&p.descriptor.document)),
                    )
                    .text(
                        "team",
                        products.iter().map(|p| p.descriptor.team.name.clone()),
                    )
                    .list(
                        "output_ports",
                        products
                            .iter()
                            .map(|p| p.ports.iter().map(|o| o.name.to_string()).collect()),
                    )
                    .list(
                        "inputs",
                        products
                            .iter()
                            .map(|p| mesh.inputs_of(p).iter().map(|(_, t)| t.table()).collect()),
                    )
                    .time(
                        "last_published_at",
                        products.iter().map(|p| last_publish[&p.reference()]),
                    )
                    .batch()
            }
            "ports" => {
                let mut rows = Vec::new();
                for p in mesh.products() {
                    for port in &p.ports {
                        let key = Engine::port_key(p, port);
                        let latest = catalog.latest_version(&key).await.map_err(err)?;
                        rows.push((p, port, key, latest));
                    }
                }
                Columns::default()
                    .text("domain", rows.iter().map(|r| Some(r.0.domain.to_string())))
                    .text("product", rows.iter().map(|r| Some(r.0.name.to_string())))
                    .text("port", rows.iter().map(|r| Some(r.1.name.to_string())))
                    .text(
                        "table_name",
                        rows.iter()
                            .map(|r| Some(format!("{}.{}", r.0.domain, r.1.name))),
                    )
                    .text("status", rows.iter().map(|r| Some(port_status(r.0, r.1))))
                    .text(
                        "contract_id",
                        rows.iter()
                            .map(|r| r.1.contract.as_ref().map(|c| c.id.to_string())),
                    )
                    .text(
                        "contract_version",
                        rows.iter()
                            .map(|r| r.1.contract.as_ref().map(|c| c.version.clone())),
                    )
                    .int(
                        "latest_version",
                        rows.iter().map(|r| r.3.as_ref().map(|v| v.version)),
                    )
                    .int("rows", rows.iter().map(|r| r.3.as_ref().map(|v| v.rows)))
                    .time(
                        "published_at",
                        rows.iter().map(|r| r.3.as_ref().map(|v| v.committed_at)),
                    )
                    .text(
                        "description",
                        rows.iter().map(|r| {
                            r.1.contract
                                .as_ref()
                                .and_then(|c| c.objects.first())
                                .and_then(|o| o.description.clone())
                        }),
                    )
                    .list(
                        "sla",
                        rows.iter().map(|r| {
                            r.1.contract
                                .as_ref()
                                .map(|c| c.sla.iter().map(|s| s.property.clone()).collect())
                                .unwrap_or_default()
                        }),
                    )
                    .text(
                        "access",
                        rows.iter().map(|r| {
                            let table = format!("{}.{}", r.0.domain, r.1.name);
                            Some(if self.data.may_query(&table) {
                                "granted"
                            } else {
                                "not permitted"
                            })
                        }),
                    )
                    .batch()
            }
            "columns" => {
                let mut rows = Vec::new();
                for p in mesh.products() {
                    for port in &p.ports {
                        let Some(object) = port.contract.as_ref().and_then(|c| c.objects.first())
                        else {
                            continue;
                        };
                        let table = format!("{}.{}", p.domain, port.name);
                        for (i, prop) in object.properties.iter().enumerate() {
                            if let Some(access) = self.data.access(&table, &prop.name) {
                                rows.push((p, port, i as i64 + 1, column_info(prop), access));
                            }
                        }
                    }
                }
                Columns::default()
                    .text("domain", rows.iter().map(|r| Some(r.0.domain.to_string())))
                    .text("product", rows.iter().map(|r| Some(r.0.name.to_string())))
                    .text("port", rows.iter().map(|r| Some(r.1.name.to_string())))
                    .text(
                        "table_name",
                        rows.iter()
                            .map(|r| Some(format!("{}.{}", r.0.domain, r.1.name))),
                    )
                    .text("column_name", rows.iter().map(|r| Some(r.3.name.clone())))
                    .int("ordinal_position", rows.iter().map(|r| Some(r.2)))
                    .text(
                        "logical_type",
                        rows.iter().map(|r| r.3.logical_type.clone()),
                    )
                    .bool("required", rows.iter().map(|r| Some(r.3.required)))
                    .bool("is_unique", rows.iter().map(|r| Some(r.3.unique)))
                    .bool("primary_key", rows.iter().map(|r| Some(r.3.primary_key)))
                    .text(
                        "classification",
                        rows.iter().map(|r| r.3.classification.clone()),
                    )
                    .bool(
                        "is_subject_key",
                        rows.iter().map(|r| Some(r.3.subject_key.is_some())),
                    )
                    .text("subject", rows.iter().map(|r| r.3.subject_key.clone()))
                    .list("tags", rows.iter().map(|r| r.3.tags.clone()))
                    .text("description", rows.iter().map(|r| r.3.description.clone()))
                    .text(
                        "masking",
                        rows.iter().map(|r| {
                            r.3.classification
                                .as_ref()
                                .and_then(|c| self.data.masking.get(c).cloned())
                        }),
                    )
                    .text("access", rows.iter().map(|r| Some(r.4.clone())))
                    .batch()
            }
            "versions" => {
                let mut rows = Vec::new();
                for p in mesh.products() {
                    for port in &p.ports {
                        let key: PortKey = Engine::port_key(p, port);
                        rows.extend(catalog.versions(&key).await.map_err(err)?);
                    }
                }
                Columns::default()
                    .text("domain", rows.iter().map(|v| Some(v.key.domain.clone())))
                    .text("product", rows.iter().map(|v| Some(v.key.product.clone())))
                    .text("port", rows.iter().map(|v| Some(v.key.port.clone())))
                    .text(
                        "table_name",
                        rows.iter()
                            .map(|v| Some(format!("{}.{}", v.key.domain, v.key.port))),
                    )
                    .int("version", rows.iter().map(|v| Some(v.version)))
                    .time("committed_at", rows.iter().map(|v| Some(v.committed_at)))
                    .int("rows", rows.iter().map(|v| Some(v.rows)))
                    .text("run_id", rows.iter().map(|v| Some(v.run_id.clone())))
                    .text(
                        "contract_version",
                        rows.iter().map(|v| Some(v.contract_version.clone())),
                    )
                    .text(
                        "content_hash",
                        rows.iter().map(|v| Some(v.content_hash.clone())),
                    )
                    .batch()
            }
            "runs" => {
                let runs = catalog.runs(&RunQuery::default()).await.map_err(err)?;
                Columns::default()
                    .text("run_id", runs.iter().map(|r| Some(r.id.clone())))
                    .text("kind", runs.iter().map(|r| Some(r.kind.as_str())))
                    .text("domain", runs.iter().map(|r| Some(r.domain.clone())))
                    .text("product", runs.iter().map(|r| Some(r.product.clone())))
                    .text("status", runs.iter().map(|r| Some(r.status.as_str())))
                    .time("started_at", runs.iter().map(|r| Some(r.started_at)))
                    .time("finished_at", runs.iter().map(|r| r.finished_at))
                    .int("duration_ms", runs.iter().map(|r| r.duration_ms))
                    .int("rows", runs.iter().map(|r| r.rows))
                    .text("error", runs.iter().map(|r| r.error.clone()))
                    .batch()
            }
            "checks" => {
                let runs: BTreeMap<String, (String, String)> = catalog
                    .runs(&RunQuery::default())
                    .await
                    .map_err(err)?
                    .into_iter()
                    .map(|r| (r.id, (r.domain, r.product)))
                    .collect();
                let of = |id: &str| runs.get(id).cloned().unwrap_or_default();
                let checks: Vec<_> = catalog
                    .all_checks()
                    .await
                    .map_err(err)?
                    .into_iter()
                    .filter(|(id, c)| self.data.may_query(&format!("{}.{}", of(id).0, c.port)))
                    .collect();
                Columns::default()
                    .text("run_id", checks.iter().map(|(id, _)| Some(id.clone())))
                    .text("domain", checks.iter().map(|(id, _)| Some(of(id).0)))
                    .text("product", checks.iter().map(|(id, _)| Some(of(id).1)))
                    .text("port", checks.iter().map(|(_, c)| Some(c.port.clone())))
                    .text(
                        "check_name",
                        checks.iter().map(|(_, c)| Some(c.name.clone())),
                    )
                    .text("kind", checks.iter().map(|(_, c)| Some(c.kind.clone())))
                    .text("column_name", checks.iter().map(|(_, c)| c.column.clone()))
                    .text(
                        "severity",
                        checks.iter().map(|(_, c)| Some(c.severity.clone())),
                    )
                    .bool("passed", checks.iter().map(|(_, c)| Some(c.passed)))
                    .float("measured", checks.iter().map(|(_, c)| c.measured))
                    .text(
                        "expected",
                        checks.iter().map(|(_, c)| Some(c.expected.clone())),
                    )
                    .int("failed_rows", checks.iter().map(|(_, c)| c.failed_rows))
                    .text("message", checks.iter().map(|(_, c)| c.message.clone()))
                    .batch()
            }
            "audit" => {
                let records = catalog
                    .audit(&tessera_catalog::AuditQuery {
                        limit: Some(AUDIT_ROWS),
                        ..Default::default()
                    })
                    .await
                    .map_err(err)?;
                let tables = |r: &tessera_catalog::AuditRecord| -> Vec<String> {
                    r.resources
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|t| t["table"].as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                Columns::default()
                    .int("seq", records.iter().map(|r| Some(r.seq)))
                    .time("at", records.iter().map(|r| Some(r.at)))
                    .text(
                        "principal",
                        records.iter().map(|r| Some(r.principal.clone())),
                    )
                    .text("purpose", records.iter().map(|r| r.purpose.clone()))
                    .text(
                        "interface",
                        records.iter().map(|r| Some(r.interface.clone())),
                    )
                    .text("action", records.iter().map(|r| Some(r.action.clone())))
                    .text("statement", records.iter().map(|r| r.statement.clone()))
                    .list("tables", records.iter().map(tables))
                    .text(
                        "resources",
                        records.iter().map(|r| Some(r.resources.to_string())),
                    )
                    .int("row_count", records.iter().map(|r| r.row_count))
                    .text("outcome", records.iter().map(|r| Some(r.outcome.as_str())))
                    .text("error", records.iter().map(|r| r.error.clone()))
                    .batch()
            }
            "lineage" => {
                let rows: Vec<_> = crate::lineage::edges(mesh)
                    .into_iter()
                    .map(|e| {
                        let (kind, product) = match &e.upstream {
                            InputTarget::Source(..) => ("source", None),
                            InputTarget::Port(r, _) => ("port", Some(r.to_string())),
                        };
                        (
                            kind,
                            e.upstream.table(),
                            product,
                            e.downstream,
                            e.pinned_version,
                        )
                    })
                    .collect();
                Columns::default()
                    .text("upstream_kind", rows.iter().map(|r| Some(r.0)))
                    .text("upstream_table", rows.iter().map(|r| Some(r.1.clone())))
                    .text("upstream_product", rows.iter().map(|r| r.2.clone()))
                    .text(
                        "downstream_domain",
                        rows.iter().map(|r| Some(r.3.domain.to_string())),
                    )
                    .text(
                        "downstream_product",
                        rows.iter().map(|r| Some(r.3.name.to_string())),
                    )
                    .list(
                        "downstream_tables",
                        rows.iter().map(|r| {
                            r.3.ports
                                .iter()
                                .map(|o| format!("{}.{}", r.3.domain, o.name))
                                .collect()
                        }),
                    )
                    .int(
                        "pinned_version",
                        rows.iter().map(|r| r.4.and_then(|v| i64::try_from(v).ok())),
                    )
                    .batch()
            }
            other => Err(format!("no metadata table {other}")),
        }
    }
}

/// ODPS `description` is an object (`purpose`, `usage`, `limitations`) or, leniently, text.
fn product_description(document: &serde_json::Value) -> Option<String> {
    match document.get("description")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o
            .get("purpose")
            .and_then(|p| p.as_str())
            .map(str::to_string),
        _ => None,
    }
}
