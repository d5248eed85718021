//! End-to-end harness for Sluice: starts the real `sluice` binary against mock upstreams over
//! loopback sockets, so tests read as "this client, through this proxy, to this upstream, sees that".
//!
//! Everything here is bounded: every socket read has a timeout, every wait loop has a deadline, and
//! every process the harness starts is killed by PID when its handle drops (and by the kernel via
//! `PR_SET_PDEATHSIG` if the test process itself dies). Traffic only ever goes to 127.0.0.1.

pub mod admin;
pub mod binary;
pub mod bootstrap;
pub mod client;
pub mod lb;
pub mod pattern;
pub mod ports;
pub mod proxy;
pub mod sys;
pub mod tcp;
pub mod tempdir;
pub mod upstream;
pub mod wait;
pub mod wire;

pub use admin::Admin;
pub use binary::sluice_bin;
pub use bootstrap::{Bootstrap, Cluster, HttpListener, Route, TcpListener, VirtualHost};
pub use client::{HttpClient, Request, Response};
pub use pattern::{PatternVerifier, write_pattern};
pub use ports::closed_port;
pub use proxy::{Config, Proxy, ProxyBuilder, RssSampler, RunOutcome, run_sluice};
pub use sys::MachineLock;
pub use tcp::TcpUpstream;
pub use tempdir::TempDir;
pub use upstream::{HttpUpstream, Recorded, Reply};
pub use wait::{Deadline, eventually};

/// One KiB, for readable sizes.
pub const KIB: u64 = 1024;
/// One MiB, for readable sizes.
pub const MIB: u64 = 1024 * KIB;
/// One GiB, for readable sizes.
pub const GIB: u64 = 1024 * MIB;
