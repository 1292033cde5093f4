//! Integration tests of tessera-demo: the written mesh, the generated data, and the whole
//! mesh built with DataFusion over that data, every contract checked.

mod build;
mod checks;
mod data;
mod mesh;
mod support;
