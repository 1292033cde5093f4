//! tessera serve's tests: one binary (see ARCHITECTURE.md: few integration-test binaries).

mod access;
mod admin;
mod catalog;
mod flight;
mod http;
mod lifecycle;
mod parity;
mod pg;
mod robustness;
mod sla;
mod support;
mod ui;
