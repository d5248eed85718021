//! Snapshots: the immutable, fully resolved view of listeners, routes and clusters that the
//! control thread builds and every worker reads.
//!
//! A new snapshot is built whenever cluster membership or health changes. Clusters whose
//! description did not change are carried over by `Arc`, so their load-balancing tables are
//! built once and never per worker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sluice_config::model;

use crate::http::router::{self, RouteTable};
use crate::stats::{Kind, Registry, RegistryFull, StatId};
use crate::upstream::health::HealthTable;
use crate::upstream::lb::{self, ClusterLb};
use sluice_lb::health::HealthFlags;

/// Everything a worker needs to serve traffic, at one generation.
#[derive(Debug)]
pub struct Snapshot {
    /// Rises by one with every snapshot the control thread publishes.
    pub generation: u64,
    /// Listeners by index; the set is fixed at start-up.
    pub listeners: Vec<Arc<Listener>>,
    /// Clusters by index; routes refer to them by this index.
    pub clusters: Vec<Arc<Cluster>>,
    /// `server.worker_<i>.snapshot_generation`, set by each worker when it installs this.
    pub worker_generation: Vec<StatId>,
    /// The layered runtime (Envoy's `Runtime::Snapshot`) at this generation.
    pub runtime: Arc<crate::layered_runtime::Runtime>,
    /// Cluster index by name, for `cluster_header` routes (built once, not scanned per
    /// request).
    pub cluster_names: std::collections::HashMap<Box<[u8]>, usize>,
}

/// A listener and what serves its connections.
#[derive(Debug)]
pub struct Listener {
    /// `name`.
    pub name: String,
    /// Bound address.
    pub address: SocketAddr,
    /// The terminal filter.
    pub kind: ListenerKind,
    /// `listener.<address>.*` stats.
    pub stats: ListenerStats,
}

/// What a listener's connections are handed to.
#[derive(Debug)]
pub enum ListenerKind {
    /// HTTP connection manager.
    Http(Arc<HttpConnManager>),
    /// TCP proxy.
    Tcp(TcpProxy),
}

/// A resolved `http_connection_manager`.
#[derive(Debug)]
pub struct HttpConnManager {
    /// `stat_prefix`.
    pub stat_prefix: String,
    /// Inline route configuration.
    pub routes: RouteTable,
    /// `use_remote_address`.
    pub use_remote_address: bool,
    /// `generate_request_id`.
    pub generate_request_id: bool,
    /// `server_name`: the `server` header on every response.
    pub server_name: String,
    /// The listener's `per_connection_buffer_limit_bytes`.
    pub buffer_limit_bytes: u32,
    /// `http_filters`, in order, the router last.
    pub filters: crate::http::filter::FilterChain,
    /// The router filter's own options.
    pub router: model::Router,
    /// Downstream timeouts.
    pub timeouts: model::HcmTimeouts,
    /// Trust and forwarding-header options.
    pub header_options: model::HcmHeaderOptions,
    /// `normalize_path`, `merge_slashes`, `path_with_escaped_slashes_action`, resolved with
    /// the runtime when the listener was first built and kept from then on, as Envoy reads
    /// them once when it creates the connection manager.
    pub path_rules: crate::http::path::PathRules,
    /// `upgrade_configs`: upgrade types let through unless a route disables them.
    pub upgrades: Vec<model::UpgradeConfig>,
    /// `http.<stat_prefix>.*` stats.
    pub stats: HttpStats,
    /// `access_log`.
    pub access_logs: crate::access_log::AccessLogs,
    /// `local_reply_config`; `None` when it would change nothing.
    pub local_replies: Option<crate::http::local_reply::LocalReplies>,
}

/// A resolved `tcp_proxy`.
#[derive(Debug)]
pub struct TcpProxy {
    /// Index of the target cluster.
    pub cluster: usize,
    /// `idle_timeout`; `None` when disabled.
    pub idle_timeout: Option<Duration>,
    /// `tcp.<stat_prefix>.*` stats.
    pub stats: TcpStats,
}

/// An upstream cluster at this generation.
#[derive(Debug)]
pub struct Cluster {
    /// `name`.
    pub name: String,
    /// `connect_timeout`.
    pub connect_timeout: Duration,
    /// `per_connection_buffer_limit_bytes`: bounds each read from its connections.
    pub buffer_limit_bytes: u32,
    /// How long pooled connections may idle and how many requests each may carry.
    pub reuse: crate::upstream::pool::ReuseLimits,
    /// Hosts, in the order the load balancer indexes them.
    pub hosts: Vec<Host>,
    /// The shared, immutable load-balancing structure (host sets, priority loads, tables).
    pub lb: Arc<ClusterLb>,
    /// `cluster.<name>.*` stats.
    pub stats: ClusterStats,
    /// `cluster.<name>.retry.*`: responses that were retried, not returned.
    pub retry_stats: RetryCodeStats,
    /// `cluster.<name>.health_check.*`, when the cluster has a health check.
    pub health_check_stats: Option<HealthCheckStats>,
    /// `cluster.<name>.outlier_detection.*`, when the cluster detects outliers (workers
    /// report its results to the control thread only then).
    pub outlier_stats: Option<OutlierStats>,
    /// Whether its outlier detector counts connection results apart from responses
    /// (`split_external_local_origin_errors`), so workers report successful connects.
    pub outlier_counts_connects: bool,
    /// Circuit-breaker counts, carried from the previous snapshot while `circuit_breakers`
    /// is unchanged.
    pub breakers: Arc<crate::upstream::breaker::Breakers>,
    /// `circuit_breakers.<priority>.*` gauges, `default` then `high`.
    pub breaker_stats: [crate::upstream::breaker::BreakerStats; 2],
    /// The description it was built from, to tell whether a rebuild is needed.
    pub source: model::Cluster,
}

/// One upstream host.
#[derive(Debug)]
pub struct Host {
    /// Address to connect to.
    pub address: SocketAddr,
    /// `hostname`.
    pub hostname: String,
    /// `load_balancing_weight`.
    pub weight: u32,
    /// Priority level.
    pub priority: u32,
    /// Locality.
    pub locality: model::Locality,
    /// Health as the endpoint reports it (`health_status`).
    pub health: model::HealthStatus,
    /// Health flags from discovery and active health checking together (what `/clusters`
    /// prints and what the load balancer sees).
    pub flags: HealthFlags,
    /// `health_check_config.disable_active_health_check`.
    pub health_check_disabled: bool,
    /// The endpoint's `metadata.filter_metadata` (`%UPSTREAM_METADATA(...)%`); empty for most.
    pub metadata: model::FilterMetadata,
    /// Per-host stats shown by `/clusters`.
    pub stats: HostStats,
    /// Open connections to the host across workers, when the cluster limits them per host
    /// (`per_host_thresholds`); carried across snapshots by address.
    pub connections: Option<Arc<sluice_lb::breaker::Gate>>,
}

macro_rules! stat_struct {
    ($(#[$doc:meta])* $name:ident via $method:ident { $($field:ident : $kind:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name {
            $(
                #[doc = concat!("`", stringify!($field), "`")]
                pub $field: StatId,
            )*
        }

        impl $name {
            fn register(reg: &mut Registry, prefix: &str) -> Result<Self, RegistryFull> {
                Ok(Self {
                    $($field: reg.$method(&format!("{prefix}{}", stringify!($field)), Kind::$kind)?,)*
                })
            }
        }
    };
}

/// The counter of `status`'s class among five (1xx to 5xx); anything else counts as 5xx.
fn by_class(status: u16, [c1, c2, c3, c4, c5]: [StatId; 5]) -> StatId {
    match status / 100 {
        1 => c1,
        2 => c2,
        3 => c3,
        4 => c4,
        _ => c5,
    }
}

stat_struct!(
    /// `listener.<address>.*`.
    ListenerStats via id {
        downstream_cx_total: Counter,
        downstream_cx_active: Gauge,
        downstream_cx_destroy: Counter,
    }
);

stat_struct!(
    /// `http.<stat_prefix>.*`.
    HttpStats via id {
        downstream_cx_total: Counter,
        downstream_cx_active: Gauge,
        downstream_cx_http1_total: Counter,
        downstream_cx_destroy: Counter,
        downstream_cx_protocol_error: Counter,
        downstream_rq_total: Counter,
        downstream_rq_http1_total: Counter,
        downstream_rq_active: Gauge,
        downstream_rq_completed: Counter,
        downstream_rq_1xx: Counter,
        downstream_rq_2xx: Counter,
        downstream_rq_3xx: Counter,
        downstream_rq_4xx: Counter,
        downstream_rq_5xx: Counter,
        downstream_rq_timeout: Counter,
        downstream_rq_header_timeout: Counter,
        downstream_rq_idle_timeout: Counter,
        downstream_cx_idle_timeout: Counter,
        downstream_cx_max_duration_reached: Counter,
        downstream_rq_max_duration_reached: Counter,
        downstream_rq_rx_reset: Counter,
        downstream_rq_too_large: Counter,
        no_route: Counter,
        rq_direct_response: Counter,
        rq_redirect: Counter,
        downstream_cx_upgrades_total: Counter,
        dropped_headers_with_underscores: Counter,
        requests_rejected_with_underscores_in_headers: Counter,
        downstream_rq_failed_path_normalization: Counter,
        downstream_rq_redirected_with_normalized_path: Counter,
        downstream_cx_upgrades_active: Gauge,
    }
);

impl HttpStats {
    /// The `downstream_rq_Nxx` counter for a status code.
    pub fn class(&self, status: u16) -> StatId {
        by_class(
            status,
            [
                self.downstream_rq_1xx,
                self.downstream_rq_2xx,
                self.downstream_rq_3xx,
                self.downstream_rq_4xx,
                self.downstream_rq_5xx,
            ],
        )
    }
}

stat_struct!(
    /// `tcp.<stat_prefix>.*`.
    TcpStats via id {
        downstream_cx_total: Counter,
        downstream_cx_no_route: Counter,
        downstream_cx_rx_bytes_total: Counter,
        downstream_cx_tx_bytes_total: Counter,
        idle_timeout: Counter,
    }
);

stat_struct!(
    /// `cluster.<name>.*`.
    ClusterStats via id {
        upstream_cx_total: Counter,
        upstream_cx_active: Gauge,
        upstream_cx_http1_total: Counter,
        upstream_cx_connect_fail: Counter,
        upstream_cx_connect_timeout: Counter,
        upstream_cx_destroy: Counter,
        upstream_cx_destroy_remote: Counter,
        upstream_cx_rx_bytes_total: Counter,
        upstream_cx_tx_bytes_total: Counter,
        upstream_cx_none_healthy: Counter,
        upstream_cx_overflow: Counter,
        upstream_cx_pool_overflow: Counter,
        upstream_rq_pending_total: Counter,
        upstream_rq_pending_active: Gauge,
        upstream_rq_pending_overflow: Counter,
        upstream_rq_retry_overflow: Counter,
        lb_healthy_panic: Counter,
        upstream_rq_total: Counter,
        upstream_rq_active: Gauge,
        upstream_rq_completed: Counter,
        upstream_rq_timeout: Counter,
        upstream_rq_per_try_timeout: Counter,
        upstream_rq_rx_reset: Counter,
        upstream_rq_tx_reset: Counter,
        upstream_rq_retry: Counter,
        upstream_rq_retry_success: Counter,
        upstream_rq_retry_limit_exceeded: Counter,
        retry_or_shadow_abandoned: Counter,
        upstream_rq_1xx: Counter,
        upstream_rq_2xx: Counter,
        upstream_rq_3xx: Counter,
        upstream_rq_4xx: Counter,
        upstream_rq_5xx: Counter,
        membership_total: Gauge,
        membership_healthy: Gauge,
        membership_degraded: Gauge,
    }
);

impl ClusterStats {
    /// The `upstream_rq_Nxx` counter for a status code.
    pub fn class(&self, status: u16) -> StatId {
        by_class(
            status,
            [
                self.upstream_rq_1xx,
                self.upstream_rq_2xx,
                self.upstream_rq_3xx,
                self.upstream_rq_4xx,
                self.upstream_rq_5xx,
            ],
        )
    }
}

stat_struct!(
    /// `cluster.<name>.health_check.*`, Envoy's `ALL_HEALTH_CHECKER_STATS`.
    HealthCheckStats via id {
        attempt: Counter,
        success: Counter,
        failure: Counter,
        passive_failure: Counter,
        network_failure: Counter,
        verify_cluster: Counter,
        healthy: Gauge,
        degraded: Gauge,
    }
);

/// `cluster.<name>.outlier_detection.*`, Envoy's `ALL_OUTLIER_DETECTION_STATS`, in the
/// order of `sluice_lb::outlier::OutlierStats::named`.
#[derive(Debug, Clone)]
pub struct OutlierStats(pub Vec<StatId>);

impl OutlierStats {
    fn register(reg: &mut Registry, prefix: &str) -> Result<Self, RegistryFull> {
        let named = sluice_lb::outlier::OutlierStats::default().named();
        let ids = named.iter().map(|(name, _)| {
            let kind = if *name == "ejections_active" {
                Kind::Gauge
            } else {
                Kind::Counter
            };
            reg.id(&format!("{prefix}{name}"), kind)
        });
        Ok(Self(ids.collect::<Result<_, _>>()?))
    }
}

stat_struct!(
    /// `cluster.<name>.retry.*`: the status codes of responses the router retried instead of
    /// returning (Envoy's `chargeBasicResponseStat` with the `retry` prefix).
    RetryCodeStats via id {
        upstream_rq_completed: Counter,
        upstream_rq_1xx: Counter,
        upstream_rq_2xx: Counter,
        upstream_rq_3xx: Counter,
        upstream_rq_4xx: Counter,
        upstream_rq_5xx: Counter,
    }
);

impl RetryCodeStats {
    /// The `retry.upstream_rq_Nxx` counter for a status code.
    pub fn class(&self, status: u16) -> StatId {
        by_class(
            status,
            [
                self.upstream_rq_1xx,
                self.upstream_rq_2xx,
                self.upstream_rq_3xx,
                self.upstream_rq_4xx,
                self.upstream_rq_5xx,
            ],
        )
    }
}

stat_struct!(
    /// Per-host counters behind `/clusters`.
    HostStats via id_hidden {
        cx_active: Gauge,
        cx_connect_fail: Counter,
        cx_total: Counter,
        rq_active: Gauge,
        rq_error: Counter,
        rq_success: Counter,
        rq_timeout: Counter,
        rq_total: Counter,
    }
);

/// Why a snapshot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A route table could not be built (unknown cluster, regex, weights).
    #[error(transparent)]
    Route(#[from] router::BuildError),
    /// A tcp_proxy names a missing cluster.
    #[error("tcp_proxy `{0}` names unknown cluster `{1}`")]
    TcpUnknownCluster(String, String),
    /// Too many stats.
    #[error(transparent)]
    Stats(#[from] RegistryFull),
    /// An access log file could not be opened.
    #[error(transparent)]
    AccessLog(#[from] crate::access_log::BuildError),
    /// The load balancer refused the cluster's configuration.
    #[error("cluster `{0}`: {1}")]
    Lb(String, String),
}

/// Envoy's listener stat scope: `0.0.0.0_80`, `[::1]_80` written as `::1_80`.
pub fn listener_stat_name(addr: &SocketAddr) -> String {
    format!("{}_{}", addr.ip(), addr.port())
}

impl HttpConnManager {
    /// The `server` header of a local reply: `server_name`, or none under
    /// `server_header_transformation: PASS_THROUGH`.
    pub fn local_reply_server(&self) -> &[u8] {
        match self.header_options.server_header_transformation {
            model::ServerHeaderTransformation::PassThrough => b"",
            _ => self.server_name.as_bytes(),
        }
    }
}

impl Snapshot {
    /// The index of the cluster named `name` (`cluster_header` routes), if it exists.
    pub fn cluster_index(&self, name: &[u8]) -> Option<usize> {
        self.cluster_names.get(name).copied()
    }

    /// Builds a snapshot from the authoritative configuration. Clusters equal to one in
    /// `previous` are reused as they are (same `Arc`, same LB tables); a changed cluster's load
    /// balancer takes over its predecessor's in-flight request counts.
    pub fn build(
        generation: u64,
        bootstrap: &model::Bootstrap,
        previous: Option<&Snapshot>,
        registry: &mut Registry,
        runtime: Arc<crate::layered_runtime::Runtime>,
        health: &HealthTable,
    ) -> Result<Snapshot, BuildError> {
        let listeners = &bootstrap.listeners;
        let clusters = &bootstrap.clusters;
        let local_cluster = bootstrap
            .local_cluster_name
            .as_deref()
            .and_then(|name| clusters.iter().find(|c| c.name == name))
            .map(|c| lb::host_descs(c, health));
        let ctx = lb::Context {
            workers: registry.workers(),
            node_locality: &bootstrap.node.locality,
            local_cluster: local_cluster.as_deref(),
        };
        let local_changed = previous.is_some_and(|p| {
            bootstrap.local_cluster_name.as_deref().is_some_and(|name| {
                let old = p
                    .clusters
                    .iter()
                    .find(|c| c.name == name)
                    .map(|c| &c.source);
                old != clusters.iter().find(|c| c.name == name)
            })
        });
        let mut built = Vec::with_capacity(clusters.len());
        for c in clusters {
            let same_name = previous.and_then(|p| p.clusters.iter().find(|old| old.name == c.name));
            match same_name {
                // Zone-aware clusters depend on the local cluster too: rebuild them all when it
                // changed.
                Some(old)
                    if old.source == *c
                        && !local_changed
                        && old.hosts.iter().all(|h| h.flags == health.flags(c, h)) =>
                {
                    built.push(Arc::clone(old));
                }
                _ => built.push(Arc::new(build_cluster(
                    c,
                    &ctx,
                    same_name.map(|old| &**old),
                    registry,
                    health,
                )?)),
            }
        }
        let index = |name: &str| built.iter().position(|c| c.name == name);
        let mut out_listeners = Vec::with_capacity(listeners.len());
        for (position, l) in listeners.iter().enumerate() {
            let stats = ListenerStats::register(
                registry,
                &format!("listener.{}.", listener_stat_name(&l.address)),
            )?;
            let chain = l.filter_chains.first();
            let kind = match chain.map(|c| &c.terminal) {
                Some(model::NetworkFilter::HttpConnectionManager(hcm)) => {
                    let routes = RouteTable::build(&hcm.route_config, index)?;
                    // Listeners never change after start-up, so the one at this position is
                    // this connection manager in an earlier generation.
                    let path_rules = match previous
                        .and_then(|p| p.listeners.get(position))
                        .map(|l| &l.kind)
                    {
                        Some(ListenerKind::Http(before)) => before.path_rules,
                        _ => crate::http::path::PathRules::resolve(
                            &hcm.header_options.path,
                            &runtime,
                            creation_draw(),
                        ),
                    };
                    ListenerKind::Http(Arc::new(HttpConnManager {
                        stat_prefix: hcm.stat_prefix.clone(),
                        routes,
                        use_remote_address: hcm.use_remote_address,
                        generate_request_id: hcm.generate_request_id,
                        server_name: hcm.server_name.clone(),
                        buffer_limit_bytes: l.per_connection_buffer_limit_bytes,
                        filters: crate::http::filter::FilterChain::build(hcm, registry)?,
                        router: hcm
                            .http_filters
                            .iter()
                            .find_map(|f| match f {
                                model::HttpFilter::Router(r) => Some(r.clone()),
                                _ => None,
                            })
                            .unwrap_or_default(),
                        timeouts: hcm.timeouts,
                        upgrades: hcm.upgrade_configs.clone(),
                        header_options: hcm.header_options.clone(),
                        path_rules,
                        access_logs: crate::access_log::AccessLogs::build(
                            &hcm.access_log,
                            registry,
                        )?,
                        local_replies: crate::http::local_reply::LocalReplies::build(
                            hcm.local_reply_config.as_ref(),
                        )?,
                        stats: HttpStats::register(
                            registry,
                            &format!("http.{}.", hcm.stat_prefix),
                        )?,
                    }))
                }
                Some(model::NetworkFilter::TcpProxy(tcp)) => {
                    let cluster = index(&tcp.cluster).ok_or_else(|| {
                        BuildError::TcpUnknownCluster(tcp.stat_prefix.clone(), tcp.cluster.clone())
                    })?;
                    ListenerKind::Tcp(TcpProxy {
                        cluster,
                        idle_timeout: (!tcp.idle_timeout.is_zero()).then_some(tcp.idle_timeout),
                        stats: TcpStats::register(registry, &format!("tcp.{}.", tcp.stat_prefix))?,
                    })
                }
                None => {
                    // The config crate refuses listeners without a filter chain.
                    return Err(BuildError::TcpUnknownCluster(l.name.clone(), String::new()));
                }
            };
            out_listeners.push(Arc::new(Listener {
                name: l.name.clone(),
                address: l.address,
                kind,
                stats,
            }));
        }
        let worker_generation = (0..registry.workers())
            .map(|i| {
                registry.id(
                    &format!("server.worker_{i}.snapshot_generation"),
                    Kind::Gauge,
                )
            })
            .collect::<Result<_, _>>()?;
        let cluster_names = built
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes().into(), i))
            .collect();
        Ok(Snapshot {
            generation,
            listeners: out_listeners,
            clusters: built,
            worker_generation,
            runtime,
            cluster_names,
        })
    }
}

/// A random draw for the runtime percentages Envoy evaluates once, when it creates a connection
/// manager (`http_connection_manager.normalize_path`, for one).
fn creation_draw() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

fn build_cluster(
    c: &model::Cluster,
    ctx: &lb::Context<'_>,
    previous: Option<&Cluster>,
    registry: &mut Registry,
    health: &HealthTable,
) -> Result<Cluster, BuildError> {
    use crate::upstream::breaker::{BreakerStats, Breakers};
    // Requests in flight hold budget in the counts they started with: keep them while the
    // thresholds are the same.
    let breakers = match previous {
        Some(old) if old.breakers.resources.config == c.circuit_breakers => {
            Arc::clone(&old.breakers)
        }
        _ => Arc::new(Breakers::new(&c.circuit_breakers, ctx.workers)),
    };
    let breaker_stats = BreakerStats::register(registry, &c.name, &c.circuit_breakers)?;
    let limits_hosts = c.circuit_breakers.per_host_max_connections != [None, None];
    let carried: std::collections::HashMap<SocketAddr, &Arc<sluice_lb::breaker::Gate>> =
        match previous {
            Some(old) if limits_hosts => old
                .hosts
                .iter()
                .filter_map(|h| Some((h.address, h.connections.as_ref()?)))
                .collect(),
            _ => std::collections::HashMap::new(),
        };
    let host_connections = |address: SocketAddr| {
        limits_hosts.then(|| {
            carried.get(&address).map_or_else(
                || Arc::new(sluice_lb::breaker::Gate::new(u64::MAX)),
                |g| Arc::clone(g),
            )
        })
    };
    let previous = previous.map(|old| &*old.lb);
    let prefix = format!("cluster.{}.", c.name);
    let stats = ClusterStats::register(registry, &prefix)?;
    let retry_stats = RetryCodeStats::register(registry, &format!("{prefix}retry."))?;
    let health_check_stats = match c.health_check {
        Some(_) => Some(HealthCheckStats::register(
            registry,
            &format!("{prefix}health_check."),
        )?),
        None => None,
    };
    let outlier_stats = match c.outlier_detection {
        Some(_) => Some(OutlierStats::register(
            registry,
            &format!("{prefix}outlier_detection."),
        )?),
        None => None,
    };
    let mut hosts = Vec::new();
    for group in &c.load_assignment.endpoints {
        for ep in &group.lb_endpoints {
            let host_prefix = format!("{prefix}host.{}.", ep.address);
            hosts.push(Host {
                address: ep.address,
                hostname: ep.hostname.clone(),
                weight: ep.load_balancing_weight,
                priority: group.priority,
                locality: group.locality.clone(),
                health: ep.health_status,
                flags: health.endpoint_flags(
                    c,
                    ep.address,
                    ep.health_status,
                    ep.health_check_config.disable_active_health_check,
                ),
                health_check_disabled: ep.health_check_config.disable_active_health_check,
                metadata: ep.metadata.clone(),
                stats: HostStats::register(registry, &host_prefix)?,
                connections: host_connections(ep.address),
            });
        }
    }
    let lb = lb::build(c, ctx, previous, health).map_err(|e| BuildError::Lb(c.name.clone(), e))?;
    Ok(Cluster {
        name: c.name.clone(),
        connect_timeout: c.connect_timeout,
        buffer_limit_bytes: c.per_connection_buffer_limit_bytes,
        reuse: crate::upstream::pool::ReuseLimits {
            idle_timeout: c.http_protocol.idle_timeout,
            max_requests: c.http_protocol.max_requests_per_connection,
        },
        hosts,
        lb,
        stats,
        retry_stats,
        health_check_stats,
        outlier_stats,
        outlier_counts_connects: c
            .outlier_detection
            .as_ref()
            .is_some_and(|o| o.split_external_local_origin_errors),
        breakers,
        breaker_stats,
        source: c.clone(),
    })
}
