//! Changing published data outside a publish: deleting rows (erasure, retention) and
//! removing the files of old versions (vacuum).
//!
//! ```text
//!  delete(predicate) ─▶ files whose rows match are rewritten without them ─▶ one commit (N+1)
//!                        (files with no match are not touched; no match, no commit)
//!  vacuum(window)    ─▶ files no version newer than the window reads, and orphans ─▶ removed
//!                    ─▶ checkpoint at the latest version ─▶ log entries older than it and the
//!                       window removed (their statistics may quote removed values)
//! ```
//!
//! Invariant: a delete is one Delta commit, made without retries, carrying `tessera.*`
//! metadata that names what made it (`tessera.operation`, `tessera.erasureId`…), so a
//! process that died after the commit can find it in the log. After a vacuum with window
//! `w`, versions committed more than `w` ago may no longer be readable (time travel fails
//! with a clear error), which is the point.

use std::time::Duration;

use datafusion::prelude::Expr;
use deltalake::DeltaTableError;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::vacuum::VacuumMode;
use url::Url;

use crate::{Result, Storage, StorageError, delta_error, writer_properties};

/// Which rows a delete removes. Delta writes the predicate into the log as SQL text, so
/// it must not quote personal data (an erasure passes a function call on the column).
#[derive(Debug, Clone)]
pub enum Predicate {
    /// A DataFusion expression over the table's columns.
    Expr(Expr),
    /// SQL text over the table's columns.
    Sql(String),
}

/// What a delete did to one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Deleted {
    /// The version the delete read.
    pub version_before: i64,
    /// The version it committed; `None` when no row matched (nothing was committed).
    pub version_after: Option<i64>,
    pub rows_deleted: u64,
    /// Data files rewritten or dropped, and files written in their place.
    pub files_removed: usize,
    pub files_added: usize,
}

/// What a vacuum removed from one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Vacuumed {
    pub files_deleted: usize,
    pub log_entries_deleted: usize,
}

impl Storage {
    /// Deletes the rows of the table at `url` that match `predicate`, as one new version
    /// whose commit carries `metadata` (keys `tessera.*`). `None` when nothing is published
    /// there.
    pub async fn delete(
        &self,
        url: &Url,
        predicate: Predicate,
        metadata: Vec<(String, serde_json::Value)>,
    ) -> Result<Option<Deleted>> {
        let Some(table) = self.table(url).await? else {
            return Ok(None);
        };
        let version_before = table.version().unwrap_or(0) as i64;
        let rows = table
            .snapshot()
            .ok()
            .and_then(|s| {
                s.log_data()
                    .iter()
                    .map(|f| f.num_records().map(|n| n as u64))
                    .sum::<Option<u64>>()
            })
            .unwrap_or(0);
        let delete = table.delete();
        let delete = match predicate {
            Predicate::Expr(e) => delete.with_predicate(e),
            Predicate::Sql(s) => delete.with_predicate(s),
        };
        let (table, metrics) = delete
            .with_writer_properties(writer_properties(rows as usize))
            .with_commit_properties(
                CommitProperties::default()
                    .with_metadata(metadata)
                    .with_max_retries(0),
            )
            .await
            .map_err(|e| match e {
                e @ DeltaTableError::Transaction { .. } => StorageError::Conflict {
                    table: url.to_string(),
                    source: Box::new(e),
                },
                e => delta_error(url, e),
            })?;
        let version = table.version().unwrap_or(0) as i64;
        let version_after = (version != version_before).then_some(version);
        let rows_deleted = match metrics.num_deleted_rows {
            Some(n) => n as u64,
            None if version_after.is_some() => {
                let after: u64 = table
                    .snapshot()
                    .ok()
                    .and_then(|s| {
                        s.log_data()
                            .iter()
                            .map(|f| f.num_records().map(|n| n as u64))
                            .sum::<Option<u64>>()
                    })
                    .unwrap_or(rows);
                rows.saturating_sub(after)
            }
            None => 0,
        };
        Ok(Some(Deleted {
            version_before,
            version_after,
            rows_deleted,
            files_removed: metrics.num_removed_files,
            files_added: metrics.num_added_files,
        }))
    }

    /// Removes the files of the table at `url` that no version committed within `window`
    /// reads, and files no version ever committed (from failed publishes), when older than
    /// `window`; then writes a checkpoint and removes log entries older than it and the
    /// window. `None` when nothing is published there.
    pub async fn vacuum(&self, url: &Url, window: Duration) -> Result<Option<Vacuumed>> {
        let Some(table) = self.table(url).await? else {
            return Ok(None);
        };
        let retention = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let (table, metrics) = table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .await
            .map_err(|e| delta_error(url, e))?;
        let version = table.version().unwrap_or(0);
        deltalake::checkpoints::create_checkpoint(&table, None)
            .await
            .map_err(|e| delta_error(url, e))?;
        let cutoff = chrono::Utc::now().timestamp_millis() - retention.num_milliseconds();
        let log_entries_deleted = deltalake::checkpoints::cleanup_expired_logs_for(
            version,
            table.log_store().as_ref(),
            cutoff,
            None,
        )
        .await
        .map_err(|e| delta_error(url, e))?;
        Ok(Some(Vacuumed {
            files_deleted: metrics.files_deleted.len(),
            log_entries_deleted,
        }))
    }

    /// The `[min, max]` of an integer `column` in each data file of the latest version, from
    /// the Delta log's statistics (`None` for a file without them). `None` when nothing is
    /// published or the column has no integer statistics.
    pub async fn integer_ranges(
        &self,
        url: &Url,
        column: &str,
    ) -> Result<Option<Vec<Option<(i64, i64)>>>> {
        use datafusion::arrow::array::{Array as _, AsArray as _};
        use datafusion::arrow::datatypes::{DataType, Int64Type};
        let Some(table) = self.table(url).await? else {
            return Ok(None);
        };
        let actions = table
            .snapshot()
            .and_then(|s| s.add_actions_table(true))
            .map_err(|e| delta_error(url, e))?;
        let (Some(min), Some(max)) = (
            actions.column_by_name(&format!("min.{column}")),
            actions.column_by_name(&format!("max.{column}")),
        ) else {
            return Ok(None);
        };
        if !min.data_type().is_integer() || !max.data_type().is_integer() {
            return Ok(None);
        }
        let min = datafusion::arrow::compute::cast(min, &DataType::Int64)
            .map_err(|e| delta_error(url, e.into()))?;
        let max = datafusion::arrow::compute::cast(max, &DataType::Int64)
            .map_err(|e| delta_error(url, e.into()))?;
        let (min, max) = (
            min.as_primitive::<Int64Type>(),
            max.as_primitive::<Int64Type>(),
        );
        Ok(Some(
            (0..min.len())
                .map(|i| (min.is_valid(i) && max.is_valid(i)).then(|| (min.value(i), max.value(i))))
                .collect(),
        ))
    }

    /// The `commitInfo` of one version of the table at `url` (every key, Tessera's and
    /// Delta's), or `None` when the table or the log entry is absent.
    pub async fn commit_info(
        &self,
        url: &Url,
        version: i64,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
        let Some(table) = self.table(url).await? else {
            return Ok(None);
        };
        let Some(bytes) = table
            .log_store()
            .read_commit_entry(version.max(0) as u64)
            .await
            .map_err(|e| delta_error(url, e))?
        else {
            return Ok(None);
        };
        Ok(bytes
            .split(|b| *b == b'\n')
            .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
            .find_map(|v| match v.get("commitInfo") {
                Some(serde_json::Value::Object(m)) => Some(m.clone()),
                _ => None,
            }))
    }

    /// Removes every object under the folder `dir` older than `window` (quarantined rows).
    /// Returns how many were removed.
    pub async fn remove_older(&self, dir: &Url, window: Duration) -> Result<usize> {
        use futures::TryStreamExt as _;
        use object_store::ObjectStoreExt as _;
        let store = deltalake::DeltaTableBuilder::from_url(dir.clone())
            .map_err(|e| delta_error(dir, e))?
            .build_storage()
            .map_err(|e| delta_error(dir, e))?
            .object_store(None);
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let objects: Vec<_> = store
            .list(None)
            .try_collect()
            .await
            .map_err(|e| delta_error(dir, e.into()))?;
        let mut removed = 0;
        for o in objects {
            if o.last_modified <= cutoff {
                match store.delete(&o.location).await {
                    Ok(()) => removed += 1,
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(delta_error(dir, e.into())),
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use crate::Storage;

    #[tokio::test]
    async fn remove_older_removes_only_under_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open("data", dir.path()).unwrap();
        let quarantine = storage.quarantine_url("d", "p", "port");
        storage
            .put(&quarantine, "run-1.parquet", b"rows".to_vec())
            .await
            .unwrap();
        let elsewhere = dir.path().join("data").join("keep.txt");
        std::fs::write(&elsewhere, "kept").unwrap();
        let week = std::time::Duration::from_secs(7 * 86_400);
        assert_eq!(storage.remove_older(&quarantine, week).await.unwrap(), 0);
        let removed = storage
            .remove_older(&quarantine, std::time::Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(removed, 1);
        assert!(elsewhere.exists());
        let folder = quarantine.to_file_path().unwrap();
        assert!(!folder.join("run-1.parquet").exists());
    }
}
