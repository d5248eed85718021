//! Free loopback ports for proxies and a port with nothing listening for "connection refused".

use std::net::{SocketAddr, TcpListener};

/// A loopback port that was free a moment ago: bound to `127.0.0.1:0`, then released. A proxy that
/// loses the race for it fails to start, and [`crate::Proxy`] retries with fresh ports.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for a free port");
    listener
        .local_addr()
        .expect("local_addr of a bound listener")
        .port()
}

/// An address on which nothing listens: connecting to it is refused.
pub fn closed_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}
