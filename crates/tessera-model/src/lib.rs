//! Tessera's domain model: a mesh of domains and data products, read from the standards'
//! files (ODPS v1 descriptors, ODCS v3 contracts) with exact error locations, and checked.
//!
//! ```text
//!  bytes ─▶ yaml (located tree, bounded) ─▶ shape (structure, typos) ─▶ odcs / odps / config (typed views)
//!                                                                          │
//!                                               mesh::load ◀───────────────┘  (meaning: ids, inputs, cycles, SQL)
//! ```
//!
//! Invariant: this crate does no I/O and has no async. Callers hand it file bytes and a
//! path used only in messages; it hands back a model and [`Diagnostics`].
//!
//! Invariant: documents are kept whole ([`odcs::Contract::document`]), so whatever Tessera
//! reads it can write back without losing fields, including ones it does not use.

#![allow(
    clippy::result_large_err,
    reason = "a Diagnostic is the error path: built once per problem found, never on a hot path"
)]

pub mod config;
pub mod custom;
pub mod diagnostic;
pub mod diff;
pub mod mesh;
pub mod names;
pub mod odcs;
pub mod odps;
pub mod scaffold;
pub mod shape;
pub mod sql;
pub mod yaml;

pub use config::{DomainConfig, MeshConfig};
pub use diagnostic::{Diagnostic, Diagnostics, Location, Severity};
pub use mesh::{Mesh, MeshFile, check_file, load};
pub use names::{
    ContractId, DomainName, NameError, PortName, ProductId, ProductName, ProductRef, SourceName,
};
pub use odcs::Contract;
pub use odps::DataProduct;
