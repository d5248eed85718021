//! Sluice: an Envoy-compatible edge proxy on io_uring, thread-per-core and shared-nothing.
//!
//! `cli` parses flags and loads the bootstrap; `runtime` starts the control thread and the
//! workers; a worker serves `http` and `tcp_proxy` connections to `upstream` hosts; `admin`
//! and `stats` give the operator Envoy's view of it all; `layered_runtime` holds Envoy's runtime
//! key/value overrides. See ARCHITECTURE.md.

pub mod access_log;
pub mod admin;
pub mod cli;
pub mod http;
pub mod io;
pub mod layered_runtime;
pub mod listener;
pub mod log;
pub mod runtime;
pub mod stats;
pub mod sys;
pub mod tcp_proxy;
#[cfg(test)]
mod test_support;
pub mod timer;
pub mod upstream;
