//! Writing Arrow batches to a data file — CSV (with a header), Parquet (snappy) or
//! newline-delimited JSON — staged under a temporary name and renamed into place when
//! complete, so a reader never sees half a file.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::error::{DemoError, Result};

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
    Ndjson,
}

enum Writer {
    Csv(Box<arrow::csv::Writer<BufWriter<File>>>),
    Parquet(Box<ArrowWriter<BufWriter<File>>>),
    Ndjson(arrow::json::LineDelimitedWriter<BufWriter<File>>),
}

/// One data file being written.
pub struct Sink {
    path: PathBuf,
    partial: PathBuf,
    writer: Option<Writer>,
    rows: u64,
}

impl Sink {
    /// Starts `path` (its folder is created), staged as `<path>.partial`.
    pub fn create(path: &Path, format: Format, schema: SchemaRef) -> Result<Sink> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(DemoError::io(parent))?;
        }
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        let partial = path.with_file_name(name);
        let file = File::create(&partial).map_err(DemoError::io(&partial))?;
        let out = BufWriter::with_capacity(1 << 20, file);
        let writer = match format {
            Format::Csv => Writer::Csv(Box::new(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out),
            )),
            Format::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                    .build();
                let w = ArrowWriter::try_new(out, schema, Some(props))
                    .map_err(|e| DemoError::encode(path)(e.to_string()))?;
                Writer::Parquet(Box::new(w))
            }
            Format::Ndjson => Writer::Ndjson(arrow::json::LineDelimitedWriter::new(out)),
        };
        Ok(Sink {
            path: path.to_path_buf(),
            partial,
            writer: Some(writer),
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let fail = |e: String| DemoError::encode(&self.path)(e);
        match self.writer.as_mut() {
            Some(Writer::Csv(w)) => w.write(batch).map_err(|e| fail(e.to_string()))?,
            Some(Writer::Parquet(w)) => w.write(batch).map_err(|e| fail(e.to_string()))?,
            Some(Writer::Ndjson(w)) => w.write(batch).map_err(|e| fail(e.to_string()))?,
            None => return Err(DemoError::Internal("write after finish".into())),
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Completes the file and renames it into place. Returns its path and row count.
    pub fn finish(mut self) -> Result<(PathBuf, u64)> {
        let fail = |e: String| DemoError::encode(&self.path)(e);
        let out = match self.writer.take() {
            Some(Writer::Csv(w)) => w.into_inner(),
            Some(Writer::Parquet(w)) => w.into_inner().map_err(|e| fail(e.to_string()))?,
            Some(Writer::Ndjson(mut w)) => {
                w.finish().map_err(|e| fail(e.to_string()))?;
                w.into_inner()
            }
            None => return Err(DemoError::Internal("finished twice".into())),
        };
        let file = out
            .into_inner()
            .map_err(|e| DemoError::io(&self.partial)(e.into_error()))?;
        file.sync_all().map_err(DemoError::io(&self.partial))?;
        fs::rename(&self.partial, &self.path).map_err(DemoError::io(&self.path))?;
        Ok((self.path.clone(), self.rows))
    }
}

impl Drop for Sink {
    /// An unfinished file (an error happened) is removed rather than left half-written.
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec!["a", "b,c"])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn csv_is_renamed_into_place_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x/t.csv");
        let b = batch();
        let mut sink = Sink::create(&path, Format::Csv, b.schema()).unwrap();
        sink.write(&b).unwrap();
        assert!(!path.exists());
        let (p, rows) = sink.finish().unwrap();
        assert_eq!((p, rows), (path.clone(), 2));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "id,name\n1,a\n2,\"b,c\"\n"
        );
        assert_eq!(fs::read_dir(dir.path().join("x")).unwrap().count(), 1);
    }

    #[test]
    fn an_unfinished_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let b = batch();
        let mut sink = Sink::create(&path, Format::Parquet, b.schema()).unwrap();
        sink.write(&b).unwrap();
        drop(sink);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
