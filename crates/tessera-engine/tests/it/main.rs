//! Integration tests of the build runner: real Delta tables in temp folders, a real SQLite
//! metadata store, the scaffolded example mesh.

mod access;
mod fixture;
mod governance;
mod publish;
mod sql;
