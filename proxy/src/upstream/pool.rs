//! A worker's idle upstream HTTP/1.1 connections, keyed by host address.
//!
//! Only the owning worker touches it, so it needs no lock. A connection is returned here only
//! after a response was read completely and both sides agreed to keep it alive; it is taken
//! out again, newest first (the warmest socket), for the next request to the same host.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::Connection;

/// Idle connections kept per host at most; more are closed when returned. Bounds the file
/// descriptors a worker holds for a host after a burst.
pub const IDLE_PER_HOST_MAX: usize = 1024;

/// The pool.
#[derive(Debug, Default)]
pub struct Pool {
    idle: HashMap<SocketAddr, Vec<Connection>>,
}

impl Pool {
    /// Takes the most recently returned idle connection to `address`.
    pub fn take(&mut self, address: SocketAddr) -> Option<Connection> {
        self.idle.get_mut(&address)?.pop()
    }

    /// Returns a reusable connection.
    pub fn put(&mut self, conn: Connection) {
        let list = self.idle.entry(conn.address).or_default();
        if list.len() < IDLE_PER_HOST_MAX {
            list.push(conn);
        }
    }

    /// Closes every idle connection.
    pub fn clear(&mut self) {
        self.idle.clear();
    }

    /// Closes idle connections to hosts not in `keep`.
    pub fn retain_hosts(&mut self, keep: impl Fn(&SocketAddr) -> bool) {
        self.idle.retain(|addr, _| keep(addr));
    }
}
