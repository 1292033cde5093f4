//! Privacy operations: erasing a data subject along lineage, vacuuming old versions,
//! exporting what the mesh holds about a subject, and enforcing declared retention.
//!
//! A data subject is found through the contracts: every column marked
//! `tesseraSubjectKey: <kind>` holds the key of a subject of that kind, in source-aligned
//! and derived products alike. `--subject customer_id=4711` names the subject by such a
//! column (or by its kind, `customer=4711`); the key is matched on its text, so `4711`
//! finds the integer 4711 and the string `"4711"`.
//!
//! ```text
//!  erase:   subject ─▶ keyed hash ─▶ register (catalog) ─┐ every later build filters its
//!           ports with the subject's kind, in lineage     │ inputs through the register
//!           order ─▶ Delta DELETE per port (new version) ─┴▶ report (catalog + audit log)
//!  vacuum:  files of versions older than privacy.vacuum_retention, orphans, old log
//!           entries and quarantined rows ─▶ removed
//! ```
//!
//! Invariant: the subject's key is never stored. The register, the erasure records, the
//! audit log and the Delta commits carry only its keyed hash (HMAC-SHA256 under a key
//! derived from the mesh secret for this one use); a DELETE's predicate, which Delta
//! writes into the log, is a function call on the column, never the key.

pub mod erase;
pub mod export;
pub mod filter;
pub mod retention;
pub mod settings;
pub mod vacuum;

use tessera_catalog::PortKey;
use tessera_governance::keyed;
use tessera_model::Mesh;

use crate::{Engine, EngineError, Result};

/// A data subject as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The subject kind (`tesseraSubjectKey`), e.g. `customer`.
    pub kind: String,
    /// The key, as text.
    pub key: String,
}

impl Subject {
    /// Parses `<column or kind>=<key>` against the mesh's contracts.
    pub fn parse(mesh: &Mesh, text: &str) -> Result<Subject> {
        let Some((name, key)) = text.split_once('=') else {
            return Err(EngineError::Invalid(format!(
                "--subject `{text}`: expected <column>=<key>, e.g. customer_id=4711"
            )));
        };
        let (name, key) = (name.trim(), key.trim());
        if key.is_empty() {
            return Err(EngineError::Invalid(format!(
                "--subject `{text}`: the key after `=` is empty"
            )));
        }
        let mut by_column = std::collections::BTreeSet::new();
        let mut kinds = std::collections::BTreeSet::new();
        let mut columns = std::collections::BTreeSet::new();
        for contract in contracts(mesh) {
            for object in &contract.objects {
                for p in &object.properties {
                    if let Some(kind) = p.subject_key() {
                        kinds.insert(kind.to_string());
                        columns.insert(p.name.clone());
                        if p.name == name {
                            by_column.insert(kind.to_string());
                        }
                    }
                }
            }
        }
        let kind = if by_column.len() == 1 {
            by_column.into_iter().next().expect("one")
        } else if by_column.len() > 1 {
            return Err(EngineError::Invalid(format!(
                "--subject `{text}`: column `{name}` is the key of several kinds of subject ({}); name the kind instead, e.g. {}={key}",
                by_column.iter().cloned().collect::<Vec<_>>().join(", "),
                by_column.iter().next().expect("several")
            )));
        } else if kinds.contains(name) {
            name.to_string()
        } else if kinds.is_empty() {
            return Err(EngineError::Invalid(format!(
                "--subject `{text}`: no contract in this mesh marks a column as a subject key\n  help: mark the column in its contract: customProperties: [{{property: tesseraSubjectKey, value: customer}}]"
            )));
        } else {
            return Err(EngineError::Invalid(format!(
                "--subject `{text}`: `{name}` is neither a subject-key column nor a subject kind\n  help: subject-key columns: {}; kinds: {}",
                columns.into_iter().collect::<Vec<_>>().join(", "),
                kinds.into_iter().collect::<Vec<_>>().join(", ")
            )));
        };
        Ok(Subject {
            kind,
            key: key.to_string(),
        })
    }
}

fn contracts(mesh: &Mesh) -> impl Iterator<Item = &tessera_model::Contract> {
    mesh.products()
        .flat_map(|p| p.ports.iter().filter_map(|port| port.contract.as_ref()))
        .chain(
            mesh.domains
                .values()
                .flat_map(|d| d.sources.values().map(|s| &s.contract)),
        )
}

/// The key the register's hashes are made with, derived from the mesh secret.
pub fn register_key(secret: &[u8]) -> Vec<u8> {
    keyed::derive(secret, "erasure")
}

/// The keyed hash of a subject: hex HMAC-SHA256 of `<kind>\n<key>`.
pub fn key_hash(register_key: &[u8], kind: &str, key: &str) -> String {
    hex::encode(keyed::hmac(
        register_key,
        format!("{kind}\n{key}").as_bytes(),
    ))
}

/// An output port holding keys of one kind of subject.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubjectPort {
    pub key: PortKey,
    /// `<domain>.<port>`.
    pub table: String,
    /// `<domain>/<product>`.
    pub product: String,
    /// The columns marked with the kind.
    pub columns: Vec<String>,
}

/// The columns of a contract's object marked as keys of `kind`.
pub fn subject_columns(
    contract: &tessera_model::Contract,
    object: &str,
    kind: &str,
) -> Vec<String> {
    let Some(object) = crate::run::port_object(contract, object) else {
        return Vec::new();
    };
    object
        .properties
        .iter()
        .filter(|p| p.subject_key() == Some(kind))
        .map(|p| p.name.clone())
        .collect()
}

/// The subject kinds marked in a contract's object, sorted.
pub fn subject_kinds_of(contract: &tessera_model::Contract, object: &str) -> Vec<String> {
    let Some(object) = crate::run::port_object(contract, object) else {
        return Vec::new();
    };
    let mut kinds: Vec<String> = object
        .properties
        .iter()
        .filter_map(|p| p.subject_key().map(str::to_string))
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// Every output port with a column marked as a key of `kind`, in lineage order (a port
/// comes after every port it reads from).
pub fn subject_ports(mesh: &Mesh, kind: &str) -> Vec<SubjectPort> {
    let mut out = Vec::new();
    for r in crate::plan::order(mesh, &[]) {
        let Some(product) = mesh
            .domains
            .get(&r.domain)
            .and_then(|d| d.products.get(&r.product))
        else {
            continue;
        };
        for port in &product.ports {
            let Some(contract) = &port.contract else {
                continue;
            };
            let columns = subject_columns(contract, port.name.as_str(), kind);
            if columns.is_empty() {
                continue;
            }
            out.push(SubjectPort {
                key: Engine::port_key(product, port),
                table: format!("{}.{}", product.domain, port.name),
                product: r.to_string(),
                columns,
            });
        }
    }
    out
}

/// The kinds of subject the mesh's contracts mark, sorted.
pub fn subject_kinds(mesh: &Mesh) -> Vec<String> {
    let mut kinds: Vec<String> = contracts(mesh)
        .flat_map(|c| c.objects.iter())
        .flat_map(|o| o.properties.iter())
        .filter_map(|p| p.subject_key().map(str::to_string))
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}
