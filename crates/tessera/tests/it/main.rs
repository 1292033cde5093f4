//! The one integration-test binary of the `tessera` crate.

mod cli;
mod differential;
mod governance;
mod privacy;
mod publish;
