//! Upstream connections: connecting with the cluster's timeout, per-worker pools of idle
//! keep-alive connections, and the load balancer adapter.

pub mod breaker;
pub mod health;
pub mod lb;
pub mod outlier;
pub mod pool;

use std::time::Instant;

use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use monoio::net::TcpStream;

use self::pool::PoolKey;
use crate::io::{Connect, Reader, Transport, Writer};
use crate::runtime::snapshot::{Cluster, Host};
use crate::runtime::worker::Worker;
use crate::stats::{Shard, StatId};
use sluice_lb::ActiveTicket;

/// An open upstream connection, counted in its host's and cluster's gauges until dropped.
///
/// Generic over its transport; plain TCP unless said otherwise.
#[derive(Debug)]
pub struct Connection<U: Transport = TcpStream> {
    /// The socket's read side. While the connection idles in a pool it keeps the read of the
    /// next response posted, which is how bytes or a close from an idle upstream are seen.
    pub reader: Reader<U>,
    /// The socket's write side.
    pub writer: Writer<U>,
    /// The cluster and host it belongs to (its pool slot).
    pub key: PoolKey,
    /// Requests it has carried (for `max_requests_per_connection`).
    pub requests: u32,
    /// When it last went idle.
    pub idle_since: Instant,
    /// Keeps the connection counted; may be split off with the socket.
    pub accounting: Accounting,
}

/// Decrements the active-connection gauges when the connection goes away, and gives back
/// its circuit-breaker budget (which wakes a request of its cluster waiting to connect).
#[derive(Debug)]
pub struct Accounting {
    shard: Arc<Shard>,
    host_cx_active: StatId,
    cluster_cx_active: StatId,
    cluster_cx_destroy: StatId,
    /// Boxed: taken once per connection, and it keeps `Connection` (moved on every
    /// request) small.
    budget: Option<Box<breaker::ConnectionToken>>,
}

impl Drop for Accounting {
    fn drop(&mut self) {
        self.shard.dec(self.host_cx_active);
        self.shard.dec(self.cluster_cx_active);
        self.shard.inc(self.cluster_cx_destroy);
        drop(self.budget.take());
    }
}

/// Why a new upstream connection could not be made.
#[derive(Debug)]
pub enum ConnectError {
    /// Refused, unreachable, reset while connecting.
    Failed(io::Error),
    /// `connect_timeout` elapsed.
    Timeout,
    /// The cluster's or the host's `max_connections` is reached (`upstream_cx_overflow`).
    Overflow,
    /// The cluster's `max_connection_pools` is reached (`upstream_cx_pool_overflow`).
    PoolOverflow,
}

/// Opens a new connection to `host` of `cluster` at `priority` if the circuit breakers allow
/// one now, counting a refusal (for callers that do not wait: shadows, tunnels, tcp_proxy).
pub async fn connect_now<U: Connect>(
    worker: &Rc<Worker>,
    cluster: &Cluster,
    host: &Host,
    priority: sluice_lb::breaker::Priority,
) -> Result<Connection<U>, ConnectError> {
    match breaker::ConnectionToken::take(worker, cluster, host, priority) {
        Ok(budget) => connect(worker, cluster, host, budget).await,
        Err(breaker::NoConnection::Connections) => {
            worker.shard.inc(cluster.stats.upstream_cx_overflow);
            Err(ConnectError::Overflow)
        }
        Err(breaker::NoConnection::Pools) => {
            worker.shard.inc(cluster.stats.upstream_cx_pool_overflow);
            Err(ConnectError::PoolOverflow)
        }
    }
}

/// Opens a new connection to `host` of `cluster` over the transport `U` with the circuit
/// breaker budget already taken for it, counting it in the stats.
pub async fn connect<U: Connect>(
    worker: &Rc<Worker>,
    cluster: &Cluster,
    host: &Host,
    budget: breaker::ConnectionToken,
) -> Result<Connection<U>, ConnectError> {
    let shard = &worker.shard;
    shard.inc(cluster.stats.upstream_cx_total);
    shard.inc(host.stats.cx_total);
    let attempt = monoio::time::timeout(
        cluster.connect_timeout.max(Duration::from_millis(1)),
        U::connect(host.address),
    )
    .await;
    let stream = match attempt {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            shard.inc(cluster.stats.upstream_cx_connect_fail);
            shard.inc(host.stats.cx_connect_fail);
            return Err(ConnectError::Failed(e));
        }
        Err(_) => {
            shard.inc(cluster.stats.upstream_cx_connect_fail);
            shard.inc(cluster.stats.upstream_cx_connect_timeout);
            shard.inc(host.stats.cx_connect_fail);
            return Err(ConnectError::Timeout);
        }
    };
    shard.inc(cluster.stats.upstream_cx_active);
    shard.inc(host.stats.cx_active);
    let (reader, writer, _) = crate::io::split(stream);
    Ok(Connection {
        reader,
        writer,
        key: budget.key(),
        requests: 0,
        idle_since: Instant::now(),
        accounting: Accounting {
            shard: Arc::clone(shard),
            host_cx_active: host.stats.cx_active,
            cluster_cx_active: cluster.stats.upstream_cx_active,
            cluster_cx_destroy: cluster.stats.upstream_cx_destroy,
            budget: Some(Box::new(budget)),
        },
    })
}

/// One request in flight to one host: counted in the cluster's and host's active-request
/// gauges and in this worker's row of the least-request table from `begin` until dropped, so
/// success, failure, retry and cancellation (the client went away and the request future was
/// dropped) all release it exactly once, and so is its circuit-breaker request token
/// (`max_requests`), taken once the attempt has a connection ([`ActiveRequest::admit`]).
#[derive(Debug)]
pub struct ActiveRequest<'a> {
    worker: &'a Worker,
    cluster: &'a Cluster,
    host: &'a Host,
    ticket: Option<ActiveTicket>,
    budget: Option<breaker::RequestToken>,
}

impl<'a> ActiveRequest<'a> {
    /// Starts counting a request to host number `host_id` of `cluster`.
    pub fn begin(worker: &'a Worker, cluster: &'a Cluster, host_id: usize, host: &'a Host) -> Self {
        let shard = &worker.shard;
        shard.inc(cluster.stats.upstream_rq_total);
        shard.inc(cluster.stats.upstream_rq_active);
        shard.inc(host.stats.rq_total);
        shard.inc(host.stats.rq_active);
        let slot = u32::try_from(host_id).map_or(u32::MAX, |id| cluster.lb.active_slot(id));
        let ticket = cluster.lb.active_requests().begin(worker.index, slot);
        ActiveRequest {
            worker,
            cluster,
            host,
            ticket: Some(ticket),
            budget: None,
        }
    }

    /// Takes the request's `max_requests` token at `priority`; false (and nothing held) when
    /// that many requests are in flight.
    pub fn admit(&mut self, priority: sluice_lb::breaker::Priority) -> bool {
        self.budget = breaker::RequestToken::take(self.worker, self.cluster, priority);
        self.budget.is_some()
    }
}

impl Drop for ActiveRequest<'_> {
    fn drop(&mut self) {
        let shard = &self.worker.shard;
        shard.dec(self.cluster.stats.upstream_rq_active);
        shard.dec(self.host.stats.rq_active);
        if let Some(ticket) = self.ticket.take() {
            self.cluster
                .lb
                .active_requests()
                .end(self.worker.index, ticket);
        }
    }
}

/// Which status-code counters the router counts for a request (Envoy's `chargeUpstreamCode`
/// under the router's `dynamic_stats` and `suppress_grpc_request_failure_code_stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeStats {
    /// `dynamic_stats`: `upstream_rq_completed`, `upstream_rq_<N>xx`, and the host's
    /// `rq_error` for a 5xx.
    pub is_enabled: bool,
    /// `upstream_rq_<N>xx`: false for a gRPC request under
    /// `suppress_grpc_request_failure_code_stats`.
    pub has_classes: bool,
}

impl CodeStats {
    /// Envoy's default: every counter.
    pub const ALL: CodeStats = CodeStats {
        is_enabled: true,
        has_classes: true,
    };

    /// The counters for one request; `is_grpc` is only asked when it matters.
    pub fn new(router: &sluice_config::model::Router, is_grpc: impl FnOnce() -> bool) -> Self {
        CodeStats {
            is_enabled: router.dynamic_stats,
            has_classes: !(router.suppress_grpc_request_failure_code_stats && is_grpc()),
        }
    }

    /// Counts an answer `status` the client gets, as Envoy's `chargeUpstreamCode` does
    /// whether the upstream sent it or the router made it (no healthy host, a failed connect,
    /// a reset, a timeout): `upstream_rq_<N>xx` and `upstream_rq_completed`, as allowed.
    pub fn count_status(self, shard: &Shard, cluster: &Cluster, status: u16) {
        if !self.is_enabled {
            return;
        }
        if self.has_classes {
            shard.inc(cluster.stats.class(status));
        }
        shard.inc(cluster.stats.upstream_rq_completed);
    }

    /// Counts a response the router retried instead of returning, under `retry.`: a
    /// completion always and its class unless suppressed for gRPC, as Envoy's router charges
    /// it whatever `dynamic_stats` says.
    pub fn count_retried(self, shard: &Shard, cluster: &Cluster, status: u16) {
        shard.inc(cluster.retry_stats.upstream_rq_completed);
        if self.has_classes {
            shard.inc(cluster.retry_stats.class(status));
        }
    }
}

/// Counts a response head from `host` of `cluster`: the cluster's status class and
/// completions and the host's error (5xx), as `codes` allows, and the host's success.
pub fn count_response(
    shard: &Shard,
    cluster: &Cluster,
    host: &Host,
    status: u16,
    codes: CodeStats,
) {
    codes.count_status(shard, cluster, status);
    if status >= 500 {
        if codes.is_enabled {
            shard.inc(host.stats.rq_error);
        }
    } else {
        shard.inc(host.stats.rq_success);
    }
}
