//! A worker's idle upstream HTTP/1.1 connections, keyed by cluster and host.
//!
//! Only the owning worker touches it, so it needs no lock. A connection is returned here only
//! after a response was read completely and both sides agreed to keep it alive; it is taken
//! out again, newest first (the warmest socket), for the next request to the same host of the
//! same cluster. Two clusters that name one address never share a connection, so their stats
//! and limits stay apart.
//!
//! An idle connection can die while it waits (the upstream's own idle timeout) or, from a
//! broken upstream, receive bytes nobody asked for. Each idle connection keeps the read of its
//! next response posted (see `crate::io`): when that read has completed by the time the
//! connection would be handed out, the upstream closed or spoke out of turn, and the
//! connection is closed instead of carrying the next request, so stray bytes never become the
//! next response. Watching costs nothing: the read is the one the next response needs.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

use sluice_lb::breaker::Priority;

use super::Connection;
use crate::io::Transport;
use crate::runtime::snapshot::{Cluster, Host};
use crate::stats::StatId;

/// Idle connections kept per host at most; more are closed when returned. Bounds the file
/// descriptors a worker holds for a host after a burst.
pub const IDLE_PER_HOST_MAX: usize = 1024;

/// Identifies one host of one cluster at one routing priority. The cluster part is the
/// cluster's `upstream_cx_total` stat id: stable for a cluster name across snapshots, distinct
/// between clusters. Priorities keep their own connections, as Envoy keeps a pool per
/// priority, since each connection holds its priority's circuit-breaker budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolKey {
    /// The cluster.
    pub cluster: StatId,
    /// The host's address.
    pub address: SocketAddr,
    /// The routing priority of the requests it carries.
    pub priority: Priority,
}

impl PoolKey {
    /// The key of `host` of `cluster` at `priority`.
    pub fn new(cluster: &Cluster, host: &Host, priority: Priority) -> Self {
        PoolKey {
            cluster: cluster.stats.upstream_cx_total,
            address: host.address,
            priority,
        }
    }
}

/// How long an idle connection may wait and how many requests it may carry, from the
/// cluster's `HttpProtocolOptions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReuseLimits {
    /// `common_http_protocol_options.idle_timeout` (1 h by default); `None` disables it.
    pub idle_timeout: Option<Duration>,
    /// `common_http_protocol_options.max_requests_per_connection`; `None` is unlimited.
    pub max_requests: Option<u32>,
}

impl Default for ReuseLimits {
    fn default() -> Self {
        ReuseLimits {
            idle_timeout: Some(Duration::from_secs(3600)),
            max_requests: None,
        }
    }
}

/// Hashes pool keys for the per-request lookup: a multiply-and-rotate over the key's few
/// words. The keys are the worker's own (cluster ids and configured addresses), not chosen
/// by clients, so SipHash's protection against crafted collisions buys nothing here.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            if let Some(w) = word.get_mut(..chunk.len()) {
                w.copy_from_slice(chunk);
            }
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The pool of connections over one transport.
#[derive(Debug)]
pub struct Pool<U: Transport = TcpStream> {
    idle: HashMap<PoolKey, Vec<Connection<U>>, BuildHasherDefault<KeyHasher>>,
}

impl<U: Transport> Default for Pool<U> {
    fn default() -> Self {
        Pool {
            idle: HashMap::default(),
        }
    }
}

impl<U: Transport> Pool<U> {
    /// Takes the most recently returned idle connection to `key` that is still usable,
    /// closing stale ones on the way.
    pub fn take(
        &mut self,
        key: PoolKey,
        limits: ReuseLimits,
        now: Instant,
    ) -> Option<Connection<U>> {
        let list = self.idle.get_mut(&key)?;
        while let Some(mut conn) = list.pop() {
            let expired = limits
                .idle_timeout
                .is_some_and(|t| now.saturating_duration_since(conn.idle_since) >= t);
            if expired || conn.reader.has_completed() {
                // Dropped here: closed and counted by its accounting guard.
                continue;
            }
            return Some(conn);
        }
        None
    }

    /// Returns a reusable connection, unless it has carried its last request.
    pub fn put(&mut self, mut conn: Connection<U>, limits: ReuseLimits, now: Instant) {
        if limits.max_requests.is_some_and(|m| conn.requests >= m) {
            return;
        }
        conn.idle_since = now;
        conn.reader.post();
        let list = self.idle.entry(conn.key).or_default();
        if list.len() < IDLE_PER_HOST_MAX {
            list.push(conn);
        }
    }

    /// Closes the longest idle connection of `cluster` at `priority`, to any host, so the
    /// circuit-breaker budget it holds can open another. Returns whether one was closed.
    pub fn close_one_idle(&mut self, cluster: StatId, priority: Priority) -> bool {
        let oldest = self
            .idle
            .iter_mut()
            .filter(|(k, list)| k.cluster == cluster && k.priority == priority && !list.is_empty())
            .min_by_key(|(_, list)| list.first().map(|c| c.idle_since));
        match oldest {
            Some((_, list)) => {
                // Dropped here: closed and counted by its accounting guard.
                list.remove(0);
                true
            }
            None => false,
        }
    }

    /// Closes every idle connection of the cluster `cluster`.
    pub fn close_cluster(&mut self, cluster: StatId) {
        self.idle.retain(|k, _| k.cluster != cluster);
    }

    /// Closes every idle connection.
    pub fn clear(&mut self) {
        self.idle.clear();
    }

    /// Closes idle connections whose cluster and host `keep` rejects (hosts that left the
    /// snapshot).
    pub fn retain(&mut self, keep: impl Fn(&PoolKey) -> bool) {
        self.idle.retain(|key, _| keep(key));
    }

    /// Idle connections held, for tests and gauges.
    pub fn len(&self) -> usize {
        self.idle.values().map(Vec::len).sum()
    }

    /// Whether no idle connection is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
