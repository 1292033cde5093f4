//! Output ports as Delta Lake tables.
//!
//! Each output port is one Delta table at `<storage root>/<domain>/<product>/<port>`. The
//! storage root is a local folder (relative to the mesh root) or an object store URL
//! (`s3://…`, credentials from the environment as the AWS SDK reads them); both go through
//! the same code path (deltalake's log store over `object_store`).
//!
//! ```text
//!  candidate batches ─▶ write Parquet files (not yet visible) ─▶ commit one log entry ─▶ version N+1
//!                                        │ crash / conflict                       (atomic: the
//!                                        ▼                                          entry exists
//!                        orphan files, never read; version N keeps serving          or it does not)
//! ```
//!
//! Invariant: a table changes only by one Delta commit per publish. Every commit Tessera
//! makes carries its run in the commit's metadata ([`CommitMeta`], under `tessera.*` keys),
//! so the metadata store can be rebuilt from the Delta log after a crash
//! ([`Storage::history`]): the log is the truth, the catalog a record of it.

mod maintenance;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};
use url::Url;

pub use maintenance::{Deleted, Predicate, Vacuumed};

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The storage root in mesh.yaml cannot be used.
    #[error("storage root `{root}`: {why}")]
    BadRoot { root: String, why: String },
    /// Reading or writing a table failed.
    #[error("Delta table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<DeltaTableError>,
    },
    /// Another publisher committed to the table first.
    #[error(
        "Delta table {table}: another publish committed first ({source})\n  help: run the publish again; it will build on the new version"
    )]
    Conflict {
        table: String,
        #[source]
        source: Box<DeltaTableError>,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// How a publish writes a port (from the contract's `tesseraWriteMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// Replace the snapshot: the new version holds exactly the candidate's rows.
    Overwrite,
    /// Add the candidate's rows to what is there.
    Append,
}

impl WriteMode {
    pub fn parse(s: &str) -> Option<WriteMode> {
        match s {
            "overwrite" => Some(WriteMode::Overwrite),
            "append" => Some(WriteMode::Append),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Overwrite => "overwrite",
            WriteMode::Append => "append",
        }
    }
}

/// What Tessera writes into each commit's metadata, and reads back from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitMeta {
    pub run_id: String,
    /// `<domain>/<product>`.
    pub product: String,
    pub rows: i64,
    pub content_hash: String,
    pub contract_version: String,
}

const META_KEYS: [&str; 5] = [
    "tessera.runId",
    "tessera.product",
    "tessera.rows",
    "tessera.contentHash",
    "tessera.contractVersion",
];

impl CommitMeta {
    fn to_app_metadata(&self) -> Vec<(String, serde_json::Value)> {
        let values = [
            serde_json::Value::from(self.run_id.clone()),
            self.product.clone().into(),
            self.rows.into(),
            self.content_hash.clone().into(),
            self.contract_version.clone().into(),
        ];
        META_KEYS
            .iter()
            .map(|k| k.to_string())
            .zip(values)
            .collect()
    }

    fn from_info(info: &HashMap<String, serde_json::Value>) -> Option<CommitMeta> {
        let s = |k: &str| info.get(k).and_then(|v| v.as_str()).map(str::to_string);
        Some(CommitMeta {
            run_id: s(META_KEYS[0])?,
            product: s(META_KEYS[1])?,
            rows: info.get(META_KEYS[2]).and_then(|v| v.as_i64())?,
            content_hash: s(META_KEYS[3])?,
            contract_version: s(META_KEYS[4])?,
        })
    }
}

/// One entry of a table's Delta log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Commit {
    pub version: i64,
    /// Milliseconds since the epoch, as the log records it.
    pub timestamp_ms: Option<i64>,
    pub operation: Option<String>,
    /// Present when Tessera made the commit.
    pub meta: Option<CommitMeta>,
}

/// The mesh's storage root.
#[derive(Debug, Clone)]
pub struct Storage {
    root: Url,
}

impl Storage {
    /// Resolves the storage root from mesh.yaml: a URL with a scheme, or a folder relative
    /// to `mesh_dir` (created if missing).
    pub fn open(root: &str, mesh_dir: &Path) -> Result<Storage> {
        let bad = |why: String| StorageError::BadRoot {
            root: root.to_string(),
            why,
        };
        let url = match Url::parse(root) {
            Ok(url) if url.scheme().len() > 1 => {
                if url.scheme() == "file" {
                    let path = url
                        .to_file_path()
                        .map_err(|_| bad("not a local path".into()))?;
                    return Storage::open(&path.to_string_lossy(), mesh_dir);
                }
                url
            }
            // No scheme (or a Windows drive letter): a folder.
            _ => {
                let path = mesh_dir.join(root);
                std::fs::create_dir_all(&path).map_err(|e| StorageError::Io {
                    path: path.display().to_string(),
                    source: e,
                })?;
                let path = path.canonicalize().map_err(|e| StorageError::Io {
                    path: path.display().to_string(),
                    source: e,
                })?;
                Url::from_directory_path(&path).map_err(|_| bad("not an absolute path".into()))?
            }
        };
        let mut url = url;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        Ok(Storage { root: url })
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    /// Where a port's table lives: `<root>/<domain>/<product>/<port>/`.
    pub fn port_url(&self, domain: &str, product: &str, port: &str) -> Url {
        self.root
            .join(&format!("{domain}/{product}/{port}/"))
            .expect("names are checked identifiers, so the join is a valid URL")
    }

    /// Where a port's quarantined rows go: `<root>/_quarantine/<domain>/<product>/<port>/`.
    pub fn quarantine_url(&self, domain: &str, product: &str, port: &str) -> Url {
        self.root
            .join(&format!("_quarantine/{domain}/{product}/{port}/"))
            .expect("names are checked identifiers, so the join is a valid URL")
    }

    /// The table at its latest version, or `None` when nothing was published there yet.
    pub async fn table(&self, url: &Url) -> Result<Option<DeltaTable>> {
        if let Ok(path) = url.to_file_path()
            && !path.join("_delta_log").is_dir()
        {
            return Ok(None);
        }
        let table = DeltaTable::try_from_url(url.clone())
            .await
            .map_err(|e| delta_error(url, e))?;
        Ok(table.version().is_some().then_some(table))
    }

    /// The table at `version`.
    pub async fn table_at(&self, url: &Url, version: i64) -> Result<DeltaTable> {
        let mut table = DeltaTableBuilder::from_url(url.clone())
            .map_err(|e| delta_error(url, e))?
            .build()
            .map_err(|e| delta_error(url, e))?;
        table
            .load_version(version.max(0) as u64)
            .await
            .map_err(|e| delta_error(url, e))?;
        Ok(table)
    }

    /// A DataFusion table over the port at its latest version or at `version`.
    pub async fn provider(
        &self,
        url: &Url,
        version: Option<i64>,
    ) -> Result<Arc<dyn TableProvider>> {
        let table = match version {
            Some(v) => self.table_at(url, v).await?,
            None => self.table(url).await?.ok_or_else(|| StorageError::Delta {
                table: url.to_string(),
                source: Box::new(DeltaTableError::NotATable(
                    "nothing has been published here yet".into(),
                )),
            })?,
        };
        table
            .table_provider()
            .with_session(scan_defaults())
            .await
            .map_err(|e| StorageError::Delta {
                table: url.to_string(),
                source: Box::new(DeltaTableError::from(e)),
            })
    }

    /// Commits `batches` as one new version of the table at `url` (created on the first
    /// publish). Returns the new version. Either the whole commit lands or none of it.
    pub async fn commit(
        &self,
        url: &Url,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        mode: WriteMode,
        meta: &CommitMeta,
    ) -> Result<i64> {
        if let Ok(path) = url.to_file_path() {
            std::fs::create_dir_all(&path).map_err(|e| StorageError::Io {
                path: path.display().to_string(),
                source: e,
            })?;
        }
        let table = DeltaTable::try_from_url(url.clone())
            .await
            .map_err(|e| delta_error(url, e))?;
        let batches = if batches.is_empty() {
            // An empty port is still a table with the contract's columns.
            vec![RecordBatch::new_empty(schema)]
        } else {
            batches
        };
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let mut write = table
            .write(batches)
            .with_writer_properties(writer_properties(rows))
            .with_save_mode(match mode {
                WriteMode::Overwrite => SaveMode::Overwrite,
                WriteMode::Append => SaveMode::Append,
            })
            .with_commit_properties(
                CommitProperties::default()
                    .with_metadata(meta.to_app_metadata())
                    // A conflict is reported, not silently retried: the caller's
                    // candidate was checked against what it read.
                    .with_max_retries(0),
            );
        if mode == WriteMode::Overwrite {
            // A new major contract version may change the columns; the snapshot is replaced whole.
            write = write.with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite);
        }
        let table = write.await.map_err(|e| match e {
            e @ DeltaTableError::Transaction { .. } => StorageError::Conflict {
                table: url.to_string(),
                source: Box::new(e),
            },
            e => delta_error(url, e),
        })?;
        Ok(table.version().unwrap_or(0) as i64)
    }

    /// Writes one object `name` under the folder `dir` (e.g. quarantined rows). Returns its URL.
    pub async fn put(&self, dir: &Url, name: &str, bytes: Vec<u8>) -> Result<Url> {
        let store = DeltaTableBuilder::from_url(dir.clone())
            .map_err(|e| delta_error(dir, e))?
            .build_storage()
            .map_err(|e| delta_error(dir, e))?
            .object_store(None);
        store
            .put(&deltalake::Path::from(name), bytes.into())
            .await
            .map_err(|e| delta_error(dir, e.into()))?;
        Ok(dir.join(name).expect("a file name joins onto a folder URL"))
    }

    /// The latest version of the table, or `None` when nothing was published there yet.
    pub async fn latest_version(&self, url: &Url) -> Result<Option<i64>> {
        Ok(self
            .table(url)
            .await?
            .and_then(|t| t.version())
            .map(|v| v as i64))
    }

    /// One version's commit, read from the log (`None` if the entry is absent, e.g. expired
    /// after the log retention).
    pub async fn commit_at(&self, table: &DeltaTable, version: i64) -> Result<Option<Commit>> {
        let url = table.table_url().clone();
        let Some(bytes) = table
            .log_store()
            .read_commit_entry(version.max(0) as u64)
            .await
            .map_err(|e| delta_error(&url, e))?
        else {
            return Ok(None);
        };
        let info = bytes
            .split(|b| *b == b'\n')
            .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
            .find_map(|v| v.get("commitInfo").cloned());
        let info: HashMap<String, serde_json::Value> = info
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        Ok(Some(Commit {
            version,
            timestamp_ms: info.get("timestamp").and_then(|v| v.as_i64()),
            operation: info
                .get("operation")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            meta: CommitMeta::from_info(&info),
        }))
    }

    /// The table's log, newest first (empty when the table does not exist yet). Each
    /// version's commit is read from the log itself, so versions are exact.
    pub async fn history(&self, url: &Url) -> Result<Vec<Commit>> {
        let Some(table) = self.table(url).await? else {
            return Ok(Vec::new());
        };
        let latest = table.version().unwrap_or(0) as i64;
        let mut out = Vec::new();
        for version in (0..=latest).rev() {
            if let Some(c) = self.commit_at(&table, version).await? {
                out.push(c);
            }
        }
        Ok(out)
    }
}

/// The fewest rows per Parquet row group in published files.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// The most (the Parquet writer's default).
pub const MAX_ROW_GROUP_ROWS: usize = 1024 * 1024;

/// Rows per row group for a port of `rows` rows: at least 8 groups (so a query splits
/// even a one-file port across every core, and can skip groups on their statistics), but
/// no smaller than 128k rows and no larger than 1M — small groups cost decoding time on
/// large ports. Measured in bench/ (`bench/run --only sql`): 1M-row ports read by one core
/// with one group; 10M-row ports slower to scan with 128k groups than 1M ones.
pub fn row_group_rows(rows: usize) -> usize {
    (rows / 8).clamp(ROW_GROUP_ROWS, MAX_ROW_GROUP_ROWS)
}

/// Scan settings for ports' table providers: DataFusion's defaults. (Without a session,
/// deltalake turns Parquet row-level filter pushdown on, which bench/ measured as 35%
/// slower on a selective filter; DataFusion leaves it off by default.)
fn scan_defaults() -> Arc<datafusion::execution::SessionState> {
    static STATE: std::sync::OnceLock<Arc<datafusion::execution::SessionState>> =
        std::sync::OnceLock::new();
    STATE
        .get_or_init(|| Arc::new(datafusion::prelude::SessionContext::new().state()))
        .clone()
}

fn writer_properties(rows: usize) -> deltalake::parquet::file::properties::WriterProperties {
    use deltalake::parquet::basic::Compression;
    use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
    WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group_rows(rows)))
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Page)
        .build()
}

fn delta_error(url: &Url, source: DeltaTableError) -> StorageError {
    StorageError::Delta {
        table: url.to_string(),
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::parquet::file::reader::{FileReader, SerializedFileReader};

    #[tokio::test]
    async fn published_files_have_row_groups_of_bounded_size() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open("data", dir.path()).unwrap();
        let url = storage.port_url("d", "p", "port");
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let rows = ROW_GROUP_ROWS * 9 + 10;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from_iter_values(0..rows as i64))],
        )
        .unwrap();
        let meta = CommitMeta {
            run_id: "r".into(),
            product: "d/p".into(),
            rows: rows as i64,
            content_hash: "h".into(),
            contract_version: "1.0.0".into(),
        };
        storage
            .commit(&url, schema, vec![batch], WriteMode::Overwrite, &meta)
            .await
            .unwrap();
        let mut groups = Vec::new();
        for entry in std::fs::read_dir(url.to_file_path().unwrap()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "parquet") {
                let reader =
                    SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
                for g in reader.metadata().row_groups() {
                    groups.push(g.num_rows() as usize);
                }
            }
        }
        assert_eq!(groups.iter().sum::<usize>(), rows);
        assert!(groups.len() >= 8, "{groups:?}");
        assert!(
            groups.iter().all(|n| *n <= row_group_rows(rows)),
            "{groups:?}"
        );
        assert_eq!(row_group_rows(1000), ROW_GROUP_ROWS);
        assert_eq!(row_group_rows(4_000_000), 500_000);
        assert_eq!(row_group_rows(100_000_000), MAX_ROW_GROUP_ROWS);
    }
}
