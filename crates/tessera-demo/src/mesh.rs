//! The demo mesh's files, embedded in the binary from `examples/marketing/`, and writing
//! them out without overwriting anything.
//!
//! Invariant: [`FILES`] lists every file of `examples/marketing/` except generated data
//! (`data/`) and Tessera's state (`.tessera/`); a test walks the folder and compares, so a
//! file added there and not here fails the build's tests.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{DemoError, Result};

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(
            (
                $path,
                include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/marketing/", $path)),
            ),
        )*]
    };
}

/// Every file of the demo mesh: its path relative to the mesh root (with `/`), and its bytes.
pub static FILES: &[(&str, &[u8])] = embed![
    ".gitignore",
    "README.md",
    "mesh.yaml",
    "policies/principals.yaml",
    "policies/access.cedar",
    "policies/rules/classified_columns_are_masked.sql",
    "policies/rules/products_have_an_owner.sql",
    "policies/rules/ports_promise_freshness.sql",
    "policies/row_filters.yaml",
    "policies/tests/crm_owner.slt",
    "policies/tests/analyst.slt",
    "policies/tests/data_scientist.slt",
    "policies/tests/mailer.slt",
    "policies/tests/dpo.slt",
    "policies/tests/finance.slt",
    "domains/crm/domain.yaml",
    "domains/crm/sources/raw_customers.odcs.yaml",
    "domains/crm/customers/dataproduct.yaml",
    "domains/crm/customers/customers.odcs.yaml",
    "domains/crm/customers/customers.sql",
    "domains/web/domain.yaml",
    "domains/web/sources/raw_events.odcs.yaml",
    "domains/web/events/dataproduct.yaml",
    "domains/web/events/events.odcs.yaml",
    "domains/web/events/events.sql",
    "domains/ads/domain.yaml",
    "domains/ads/sources/raw_campaigns.odcs.yaml",
    "domains/ads/sources/raw_daily_spend.odcs.yaml",
    "domains/ads/campaigns/dataproduct.yaml",
    "domains/ads/campaigns/campaigns.odcs.yaml",
    "domains/ads/campaigns/campaigns.sql",
    "domains/ads/campaigns/daily_spend.odcs.yaml",
    "domains/ads/campaigns/daily_spend.sql",
    "domains/orders/domain.yaml",
    "domains/orders/sources/raw_orders.odcs.yaml",
    "domains/orders/orders/dataproduct.yaml",
    "domains/orders/orders/orders.odcs.yaml",
    "domains/orders/orders/orders.sql",
    "domains/consent/domain.yaml",
    "domains/consent/sources/raw_consents.odcs.yaml",
    "domains/consent/consents/dataproduct.yaml",
    "domains/consent/consents/consents.odcs.yaml",
    "domains/consent/consents/consents.sql",
    "domains/marketing/domain.yaml",
    "domains/marketing/customer_360/dataproduct.yaml",
    "domains/marketing/customer_360/customer_360.odcs.yaml",
    "domains/marketing/customer_360/customer_360.sql",
    "domains/marketing/attribution/dataproduct.yaml",
    "domains/marketing/attribution/attribution.odcs.yaml",
    "domains/marketing/attribution/attribution.sql",
    "domains/marketing/segments/dataproduct.yaml",
    "domains/marketing/segments/segments.odcs.yaml",
    "domains/marketing/segments/segments.sql",
    "domains/marketing/mmm_weekly/dataproduct.yaml",
    "domains/marketing/mmm_weekly/mmm_weekly.odcs.yaml",
    "domains/marketing/mmm_weekly/mmm_weekly.sql",
];

/// Writes every file of the demo mesh into `dir` (created if missing) and returns their
/// paths, in [`FILES`] order.
///
/// Never overwrites: when any of the files exists already, nothing is written and the
/// error names the first one. Each file is created with `create_new`, so a file that
/// appears in between is not overwritten either; on any failure the files this call
/// created are removed again.
pub fn write_mesh(dir: &Path) -> Result<Vec<PathBuf>> {
    let targets: Vec<PathBuf> = FILES.iter().map(|(rel, _)| dir.join(rel)).collect();
    if let Some(existing) = targets.iter().find(|p| p.symlink_metadata().is_ok()) {
        return Err(DemoError::AlreadyExists(existing.clone()));
    }
    let mut written = Vec::with_capacity(FILES.len());
    for ((_, bytes), path) in FILES.iter().zip(&targets) {
        if let Err(e) = write_new(path, bytes) {
            for p in &written {
                let _ = fs::remove_file(p);
            }
            return Err(e);
        }
        written.push(path.clone());
    }
    Ok(written)
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(DemoError::io(parent))?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => DemoError::AlreadyExists(path.to_path_buf()),
            _ => DemoError::Io {
                path: path.to_path_buf(),
                source: e,
            },
        })?;
    file.write_all(bytes).map_err(DemoError::io(path))?;
    file.sync_all().map_err(DemoError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for (path, bytes) in FILES {
            assert!(!path.starts_with('/') && !path.contains(".."), "{path}");
            assert!(seen.insert(*path), "{path} listed twice");
            assert!(!bytes.is_empty(), "{path} is empty");
        }
    }

    #[test]
    fn writes_every_file_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_mesh(dir.path()).unwrap();
        assert_eq!(written.len(), FILES.len());
        for ((rel, bytes), path) in FILES.iter().zip(&written) {
            assert_eq!(path, &dir.path().join(rel));
            assert_eq!(&fs::read(path).unwrap(), bytes, "{rel}");
        }
    }

    #[test]
    fn refuses_to_overwrite_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let taken = dir.path().join("domains/crm/domain.yaml");
        fs::create_dir_all(taken.parent().unwrap()).unwrap();
        fs::write(&taken, "mine").unwrap();
        let err = write_mesh(dir.path()).unwrap_err();
        match &err {
            DemoError::AlreadyExists(p) => assert_eq!(p, &taken),
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
        assert!(err.to_string().contains("domains/crm/domain.yaml"), "{err}");
        assert_eq!(fs::read_to_string(&taken).unwrap(), "mine");
        assert!(
            !dir.path().join("mesh.yaml").exists(),
            "nothing else is written"
        );
    }

    #[test]
    fn a_second_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_mesh(dir.path()).unwrap();
        assert!(matches!(
            write_mesh(dir.path()),
            Err(DemoError::AlreadyExists(_))
        ));
    }
}
