//! A built but unpublished port: the result of its SQL, kept so that `tessera test` can
//! check what `tessera build` produced.
//!
//! Candidates live in the mesh's work folder, `.tessera/candidates/<domain>/<product>/`, as
//! one Parquet file and one JSON manifest per port. They are a build cache, never read by
//! consumers; a new build of the product replaces them (written to a temporary name, then
//! renamed, so a reader never sees half a file).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, RecordBatchReader};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::{EngineError, Result};

/// A port's data as built, in memory.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: i64,
    /// The product build's content hash.
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub run_id: String,
    pub content_hash: String,
    pub rows: i64,
    pub built_at: chrono::DateTime<chrono::Utc>,
}

pub fn folder(mesh_dir: &Path, domain: &str, product: &str) -> PathBuf {
    mesh_dir
        .join(".tessera")
        .join("candidates")
        .join(domain)
        .join(product)
}

/// Saves a port's candidate.
pub fn save(dir: &Path, port: &str, candidate: &Candidate, manifest: &Manifest) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
    let data = dir.join(format!("{port}.parquet"));
    let tmp = dir.join(format!(".{port}.parquet.tmp"));
    let file = fs::File::create(&tmp).map_err(|e| EngineError::io(&tmp, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let parquet = |e: datafusion::parquet::errors::ParquetError| EngineError::Io {
        path: tmp.display().to_string(),
        source: std::io::Error::other(e),
    };
    let mut writer =
        ArrowWriter::try_new(file, candidate.schema.clone(), Some(props)).map_err(parquet)?;
    for b in &candidate.batches {
        writer.write(b).map_err(parquet)?;
    }
    writer.close().map_err(parquet)?;
    fs::rename(&tmp, &data).map_err(|e| EngineError::io(&data, e))?;
    let m = dir.join(format!("{port}.json"));
    let text = serde_json::to_vec_pretty(manifest).expect("a manifest serializes");
    fs::write(&m, text).map_err(|e| EngineError::io(&m, e))?;
    Ok(())
}

/// Loads a port's candidate, or `None` when the port was not built.
pub fn load(dir: &Path, port: &str) -> Result<Option<(Candidate, Manifest)>> {
    let m = dir.join(format!("{port}.json"));
    let data = dir.join(format!("{port}.parquet"));
    if !m.exists() || !data.exists() {
        return Ok(None);
    }
    let manifest: Manifest =
        serde_json::from_slice(&fs::read(&m).map_err(|e| EngineError::io(&m, e))?)
            .map_err(|e| EngineError::io(&m, std::io::Error::other(e)))?;
    let file = fs::File::open(&data).map_err(|e| EngineError::io(&data, e))?;
    let parquet = |e: datafusion::parquet::errors::ParquetError| {
        EngineError::io(&data, std::io::Error::other(e))
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(parquet)?
        .build()
        .map_err(parquet)?;
    let schema: SchemaRef = Arc::clone(&reader.schema());
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EngineError::io(&data, std::io::Error::other(e)))?;
    Ok(Some((
        Candidate {
            schema,
            rows: batches.iter().map(|b| b.num_rows() as i64).sum(),
            batches,
            hash: manifest.content_hash.clone(),
        },
        manifest,
    )))
}
