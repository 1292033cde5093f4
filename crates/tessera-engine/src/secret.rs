//! The mesh secret: the key material for the `hash` mask and the audit log's chain.
//!
//! Read from `TESSERA_MESH_SECRET` when set (a deployment puts it in its secret store),
//! else from `.tessera/secret` under the mesh root, created on first use with 32 random
//! bytes and permissions 0600. Keep the same secret across restarts and replicas: masked
//! keys join across products only under one secret, and the audit log verifies only with
//! the secret it was written with.
//!
//! Invariant: the secret is never logged or printed, and never stored in the metadata
//! store.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use rand::RngCore as _;

use crate::{EngineError, Result};

pub const ENV: &str = "TESSERA_MESH_SECRET";
pub const FILE: &str = ".tessera/secret";

/// The mesh secret, creating `.tessera/secret` when neither it nor the variable exists.
pub fn load(mesh_dir: &Path) -> Result<Vec<u8>> {
    if let Ok(value) = std::env::var(ENV) {
        let value = value.trim();
        if value.len() < 16 {
            return Err(EngineError::Invalid(format!(
                "{ENV} is shorter than 16 characters; use e.g. `openssl rand -hex 32`"
            )));
        }
        return Ok(value.as_bytes().to_vec());
    }
    let path = mesh_dir.join(FILE);
    match fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 16 => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => {
            return Err(EngineError::Invalid(format!(
                "{} is shorter than 16 characters; delete it to have a new one made (masked values and the audit chain change with it)",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(EngineError::io(&path, e)),
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| EngineError::io(parent, e))?;
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let text = hex::encode(bytes);
    // Written aside, then linked into place: a reader never sees a half-written file,
    // and of two processes racing, the first link wins and the other reads it.
    let aside = path.with_extension(format!("new-{}", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options
        .open(&aside)
        .map_err(|e| EngineError::io(&aside, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| EngineError::io(&aside, e))?;
    drop(f);
    let linked = fs::hard_link(&aside, &path);
    let _ = fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(text.into_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load(mesh_dir),
        Err(e) => Err(EngineError::io(&path, e)),
    }
}
