//! Tessera's engine: DataFusion sessions over the mesh, and the build runner.
//!
//! ```text
//!  plan (DAG of the named products and their stale upstreams)
//!    └─ per product, in order:
//!         hash inputs+SQL+contract ─▶ unchanged since last good publish? ─▶ skipped
//!         register inputs ─▶ run each port's SQL ─▶ candidate (Arrow batches)
//!         check candidate against the port's contract (tessera-quality)
//!         every error-level check passed? ─▶ commit a Delta version per port ─▶ record in catalog
//!                                    no  ─▶ quarantine failing rows, commit nothing
//! ```
//!
//! Invariant: the catalog records a Delta version only after the Delta commit succeeded,
//! and [`Engine::open`] reconciles the two (the log is the truth): after a crash between
//! the two writes, the catalog is brought back in line on the next start.
//!
//! Invariant: a product whose build or checks failed commits nothing, and products
//! downstream of it are not built in that run.

pub mod access;
pub mod candidate;
pub mod evolution;
pub mod files;
pub mod hash;
pub mod lineage;
pub mod plan;
pub mod privacy;
pub mod publish;
pub mod query;
pub mod rules;
pub mod run;
pub mod secret;
pub mod session;
pub mod sla;
pub mod slt;
pub mod standalone;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::error::DataFusionError;
use tessera_catalog::{CatalogStore, PortKey};
use tessera_model::Mesh;
use tessera_model::mesh::{Port, Product};
use tessera_storage::Storage;

pub use run::{Mode, PortOutcome, ProductOutcome, RunOptions, Status};

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A source's data cannot be read.
    #[error("source {table} ({file}): {why}")]
    Source {
        table: String,
        file: String,
        why: String,
    },
    /// A port's SQL does not plan or run.
    #[error("{file}{at}: {message}{help}", at = at(*line, *column), help = help(tables))]
    Sql {
        file: String,
        line: Option<u64>,
        column: Option<u64>,
        message: String,
        /// The tables the query can read, with their columns.
        tables: Vec<String>,
    },
    /// An input port has never been published.
    #[error(
        "input {table} has not been published yet\n  help: publish it first: tessera publish {product}"
    )]
    Unpublished { table: String, product: String },
    #[error(transparent)]
    Storage(#[from] tessera_storage::StorageError),
    #[error("metadata store: {0}")]
    Catalog(#[from] tessera_catalog::CatalogError),
    #[error(transparent)]
    Quality(#[from] tessera_quality::QualityError),
    #[error("{context}: {source}")]
    DataFusion {
        context: String,
        #[source]
        source: DataFusionError,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn at(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

fn help(tables: &[String]) -> String {
    if tables.is_empty() {
        String::new()
    } else {
        format!("\n  help: the query can read: {}", tables.join("; "))
    }
}

impl EngineError {
    pub(crate) fn internal(source: DataFusionError) -> EngineError {
        EngineError::DataFusion {
            context: "internal".into(),
            source,
        }
    }
    pub(crate) fn io(path: &Path, source: std::io::Error) -> EngineError {
        EngineError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// A mesh opened for building: its files, its storage and its metadata store. Cloning
/// is cheap (shared handles); a governed session keeps a clone to re-decide its tables
/// when access grants change.
#[derive(Clone)]
pub struct Engine {
    pub mesh: Arc<Mesh>,
    pub mesh_dir: PathBuf,
    pub storage: Storage,
    pub catalog: Arc<dyn CatalogStore>,
    /// The mesh's governance, when it declares principals (see [`Engine::governed`]).
    pub governor: Option<query::Governor>,
}

impl Engine {
    /// Opens a loaded mesh's storage and metadata store, and reconciles the store with the
    /// Delta logs (see the module invariant).
    pub async fn open(mesh: Mesh, mesh_dir: &Path) -> Result<Engine> {
        let storage = Storage::open(&mesh.config.storage_root, mesh_dir)?;
        let catalog = tessera_catalog::open(&mesh.config.catalog_url, mesh_dir).await?;
        let engine = Engine {
            mesh: Arc::new(mesh),
            mesh_dir: mesh_dir.to_path_buf(),
            storage,
            catalog,
            governor: None,
        };
        engine.reconcile().await?;
        Ok(engine)
    }

    pub fn port_key(product: &Product, port: &Port) -> PortKey {
        PortKey {
            domain: product.domain.to_string(),
            product: product.name.to_string(),
            port: port.name.to_string(),
        }
    }

    pub fn port_url(&self, key: &PortKey) -> url::Url {
        self.storage.port_url(&key.domain, &key.product, &key.port)
    }

    /// Brings the catalog in line with the Delta logs, and marks runs whose process is
    /// gone as interrupted.
    pub async fn reconcile(&self) -> Result<()> {
        for product in self.mesh.products() {
            for port in &product.ports {
                let key = Self::port_key(product, port);
                self.reconcile_port(&key).await?;
            }
        }
        let host = run::host_name();
        let running = self
            .catalog
            .runs(&tessera_catalog::RunQuery {
                status: Some(tessera_catalog::RunStatus::Running),
                ..Default::default()
            })
            .await?;
        for r in running {
            if r.host == host && !run::process_alive(r.pid) {
                // Another process may be marking it at the same moment: a conflict means done.
                let marked = self
                    .catalog
                    .finish_run(
                        &r.id,
                        &tessera_catalog::RunFinish {
                            status: tessera_catalog::RunStatus::Interrupted,
                            finished_at: chrono::Utc::now(),
                            rows: None,
                            error: Some("the process ended before the run finished".into()),
                            summary: serde_json::Value::Null,
                        },
                    )
                    .await;
                match marked {
                    Ok(()) | Err(tessera_catalog::CatalogError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// One port: versions in the log but not the catalog are recorded from their commit
    /// metadata; versions the catalog claims beyond the log's latest are removed. Only the
    /// difference is read, so this stays cheap on long histories.
    async fn reconcile_port(&self, key: &PortKey) -> Result<()> {
        let url = self.port_url(key);
        let table = self.storage.table(&url).await?;
        let latest = table.as_ref().and_then(|t| t.version()).map(|v| v as i64);
        let recorded = self.catalog.versions(key).await?;
        for v in &recorded {
            if latest.is_none_or(|l| v.version > l) {
                self.catalog.remove_version(key, v.version).await?;
            }
        }
        let (Some(table), Some(latest)) = (table, latest) else {
            return Ok(());
        };
        for version in 0..=latest {
            if recorded.iter().any(|v| v.version == version) {
                continue;
            }
            let Some(commit) = self.storage.commit_at(&table, version).await? else {
                continue;
            };
            let Some(meta) = commit.meta else { continue };
            let recorded = self
                .catalog
                .record_version(&tessera_catalog::VersionRecord {
                    key: key.clone(),
                    version,
                    run_id: meta.run_id,
                    rows: meta.rows,
                    content_hash: meta.content_hash,
                    contract_version: meta.contract_version,
                    committed_at: commit
                        .timestamp_ms
                        .and_then(chrono::DateTime::from_timestamp_millis)
                        .unwrap_or_else(chrono::Utc::now),
                })
                .await;
            match recorded {
                // A concurrent process recorded it first.
                Ok(()) | Err(tessera_catalog::CatalogError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
