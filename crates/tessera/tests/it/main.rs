//! The one integration-test binary of the `tessera` crate.

mod access;
mod cli;
mod differential;
mod evolution;
mod governance;
mod privacy;
mod publish;
