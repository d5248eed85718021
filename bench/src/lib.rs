//! Benchmark tooling for Sluice: the pieces of the fixed-response upstream that are worth testing
//! without sockets (HTTP/1.1 request framing, canned responses, argument parsing).
//!
//! The binary `sluice-upstream` wires these to monoio on io_uring; `scripts/bench.sh` drives it.

pub mod args;
pub mod http1;
