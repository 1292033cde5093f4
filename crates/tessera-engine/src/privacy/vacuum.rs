//! `tessera vacuum`: removing what old versions left behind, so erased and expired rows
//! are physically gone.
//!
//! ```text
//!  every port ─▶ Delta VACUUM (full: files no version within the window reads, and
//!                orphans of failed publishes, older than the window)
//!             ─▶ checkpoint ─▶ log entries older than the window removed (old commits'
//!                statistics can quote a removed key as a min or max)
//!  quarantine folders, built candidates (.tessera/candidates) ─▶ files older than the
//!                window removed
//! ```
//!
//! The window is `privacy.vacuum_retention` in mesh.yaml (7 days unless set). After a
//! vacuum, time travel to versions older than the window fails: their files are gone.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::json;
use tessera_catalog::AuditOutcome;

use crate::{Engine, EngineError, Result};

#[derive(Debug, Clone, Serialize)]
pub struct PortVacuumed {
    pub table: String,
    /// `false` when nothing is published there.
    pub published: bool,
    pub files_deleted: usize,
    pub log_entries_deleted: usize,
    pub quarantine_files_deleted: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct VacuumReport {
    pub window_secs: u64,
    pub ports: Vec<PortVacuumed>,
    pub candidate_files_deleted: usize,
    pub duration_ms: u64,
}

impl VacuumReport {
    pub fn files_deleted(&self) -> usize {
        self.ports
            .iter()
            .map(|p| p.files_deleted + p.quarantine_files_deleted)
            .sum::<usize>()
            + self.candidate_files_deleted
    }
}

impl Engine {
    /// Vacuums every port of the mesh with `window` (default: mesh.yaml's
    /// `privacy.vacuum_retention`), its quarantine folder and old build candidates; audited
    /// as `vacuum`. `observer` hears each port's table before it is vacuumed.
    pub async fn vacuum(
        &self,
        window: Option<Duration>,
        principal: Option<&str>,
        observer: &dyn Fn(usize, usize, &str),
    ) -> Result<VacuumReport> {
        let started = std::time::Instant::now();
        let window = match window {
            Some(w) => w,
            None => super::settings::PrivacySettings::read(&self.mesh)?.vacuum_retention,
        };
        let ports: Vec<_> = self
            .mesh
            .products()
            .flat_map(|p| p.ports.iter().map(move |port| (p, port)))
            .collect();
        let mut out = Vec::new();
        for (i, (product, port)) in ports.iter().enumerate() {
            let key = Engine::port_key(product, port);
            let table = format!("{}.{}", key.domain, key.port);
            observer(i, ports.len(), &table);
            let url = self.port_url(&key);
            let v = self.storage.vacuum(&url, window).await?;
            let quarantine = self
                .storage
                .quarantine_url(&key.domain, &key.product, &key.port);
            let quarantine_files_deleted = match quarantine.to_file_path() {
                Ok(dir) if !dir.exists() => 0,
                _ => self.storage.remove_older(&quarantine, window).await?,
            };
            out.push(PortVacuumed {
                table,
                published: v.is_some(),
                files_deleted: v.as_ref().map_or(0, |v| v.files_deleted),
                log_entries_deleted: v.as_ref().map_or(0, |v| v.log_entries_deleted),
                quarantine_files_deleted,
            });
        }
        let candidate_files_deleted =
            remove_older_files(&self.mesh_dir.join(".tessera").join("candidates"), window)?;
        let report = VacuumReport {
            window_secs: window.as_secs(),
            ports: out,
            candidate_files_deleted,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        let resources: Vec<_> = report
            .ports
            .iter()
            .filter(|p| p.published)
            .map(|p| {
                json!({"table": p.table, "files_deleted": p.files_deleted,
                       "log_entries_deleted": p.log_entries_deleted,
                       "quarantine_files_deleted": p.quarantine_files_deleted})
            })
            .collect();
        self.audit_action(
            principal,
            None,
            "vacuum",
            json!(resources),
            AuditOutcome::Ok,
            None,
        )
        .await?;
        Ok(report)
    }
}

/// Removes files under `dir` (recursively) last modified more than `window` ago.
fn remove_older_files(dir: &std::path::Path, window: Duration) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let cutoff = SystemTime::now()
        .checked_sub(window)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::io(dir, e))?;
        let path = entry.path();
        let meta = entry.metadata().map_err(|e| EngineError::io(&path, e))?;
        if meta.is_dir() {
            removed += remove_older_files(&path, window)?;
        } else if meta.modified().is_ok_and(|m| m <= cutoff) {
            std::fs::remove_file(&path).map_err(|e| EngineError::io(&path, e))?;
            removed += 1;
        }
    }
    Ok(removed)
}
