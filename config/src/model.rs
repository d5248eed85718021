//! The validated bootstrap: what the rest of Sluice consumes once a config file has been read.
//!
//! Every value here is resolved: Envoy's defaults are applied (no `Option` meaning "use the
//! default"), durations are `Duration`, addresses are parsed, and cross references (a route's
//! cluster, a tcp_proxy's cluster) have been checked. A `Bootstrap` that exists is valid.
//! `Option` is used only where Envoy itself distinguishes "absent" from any value.
//!
//! Field names follow Envoy's v3 protos so that a reader can map each one back to the docs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Where a node of the source document starts: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// `config.bootstrap.v3.Bootstrap`, the parts Sluice implements.
#[derive(Debug, Clone, PartialEq)]
pub struct Bootstrap {
    /// `node`.
    pub node: Node,
    /// `admin`; `None` when the bootstrap has no admin block (no admin listener is opened).
    pub admin: Option<Admin>,
    /// `static_resources.listeners`, in file order.
    pub listeners: Vec<Listener>,
    /// `static_resources.clusters`, in file order.
    pub clusters: Vec<Cluster>,
    /// `cluster_manager.local_cluster_name` (used by zone-aware routing).
    pub local_cluster_name: Option<String>,
}

/// `config.core.v3.Node`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Node {
    /// `id`.
    pub id: String,
    /// `cluster`.
    pub cluster: String,
    /// `locality`.
    pub locality: Locality,
    /// `metadata` (a `google.protobuf.Struct`, kept as JSON).
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// `config.bootstrap.v3.Admin`.
#[derive(Debug, Clone, PartialEq)]
pub struct Admin {
    /// `address.socket_address`.
    pub address: SocketAddr,
    /// Where `address` was written, for bind errors.
    pub loc: Loc,
}

/// `config.listener.v3.Listener`.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// `name` (Envoy generates one when absent; so does Sluice: the address as text).
    pub name: String,
    /// `address.socket_address`.
    pub address: SocketAddr,
    /// `filter_chains`. Today exactly one chain without `filter_chain_match`.
    pub filter_chains: Vec<FilterChain>,
    /// Where the listener was written, for bind errors.
    pub loc: Loc,
}

/// `config.listener.v3.FilterChain`.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterChain {
    /// `name`.
    pub name: String,
    /// The terminal network filter of the chain.
    pub terminal: NetworkFilter,
}

/// The network filters Sluice implements.
#[derive(Debug, Clone, PartialEq)]
pub enum NetworkFilter {
    /// `envoy.filters.network.http_connection_manager`.
    HttpConnectionManager(Box<HttpConnectionManager>),
    /// `envoy.filters.network.tcp_proxy`.
    TcpProxy(TcpProxy),
}

/// `extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConnectionManager {
    /// `stat_prefix` (required).
    pub stat_prefix: String,
    /// `codec_type`, default `AUTO`.
    pub codec_type: CodecType,
    /// The inline `route_config`.
    pub route_config: RouteConfiguration,
    /// `http_filters`, in order; the last one is the router.
    pub http_filters: Vec<HttpFilter>,
    /// `use_remote_address`, default false: whether the downstream peer address is appended to
    /// `x-forwarded-for` and trusted as the client address.
    pub use_remote_address: bool,
    /// `generate_request_id`, default true.
    pub generate_request_id: bool,
    /// `server_name`, default `envoy` as in Envoy (the `server` response header on local replies).
    pub server_name: String,
}

/// `HttpConnectionManager.CodecType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecType {
    /// `AUTO`.
    Auto,
    /// `HTTP1`.
    Http1,
    /// `HTTP2`.
    Http2,
}

/// One entry of `http_filters`.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpFilter {
    /// `envoy.filters.http.router`.
    Router,
}

/// `config.route.v3.RouteConfiguration`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfiguration {
    /// `name`.
    pub name: String,
    /// `virtual_hosts`, in file order.
    pub virtual_hosts: Vec<VirtualHost>,
}

/// `config.route.v3.VirtualHost`.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualHost {
    /// `name` (required).
    pub name: String,
    /// `domains` (required, at least one), as written.
    pub domains: Vec<String>,
    /// `routes`, in order: the first match wins.
    pub routes: Vec<Route>,
}

/// `config.route.v3.Route`.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// `name`.
    pub name: String,
    /// `match`.
    pub matcher: RouteMatch,
    /// One of `route`, `redirect`, `direct_response`.
    pub action: RouteAction,
}

/// `config.route.v3.RouteMatch`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatch {
    /// The path specifier.
    pub path: PathMatch,
    /// `case_sensitive`, default true.
    pub case_sensitive: bool,
}

/// The `path_specifier` oneof of `RouteMatch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// `prefix`.
    Prefix(String),
    /// `path` (exact).
    Path(String),
}

/// The `action` oneof of `Route`.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteAction {
    /// `route`: forward to a cluster.
    Forward(Box<ForwardAction>),
    /// `direct_response`.
    DirectResponse(DirectResponse),
    /// `redirect`.
    Redirect(Redirect),
}

/// `config.route.v3.RouteAction`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardAction {
    /// `cluster` (checked to exist).
    pub cluster: String,
    /// `timeout`, default 15 s; `Duration::ZERO` disables it, as in Envoy.
    pub timeout: Duration,
    /// `prefix_rewrite`.
    pub prefix_rewrite: Option<String>,
    /// `host_rewrite_literal`.
    pub host_rewrite_literal: Option<String>,
    /// `hash_policy`, in order.
    pub hash_policy: Vec<HashPolicy>,
    /// `metadata_match.filter_metadata["envoy.lb"]`, flattened to key -> value.
    pub metadata_match: BTreeMap<String, serde_json::Value>,
}

/// `config.route.v3.DirectResponseAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectResponse {
    /// `status` (100..=599).
    pub status: u16,
    /// `body.inline_string` / `body.inline_bytes` (decoded) / `body.filename` (read at load).
    pub body: Option<Vec<u8>>,
}

/// `config.route.v3.RedirectAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// `https_redirect: true` becomes `Some("https")`; `scheme_redirect` as written.
    pub scheme: Option<String>,
    /// `host_redirect`.
    pub host: Option<String>,
    /// `port_redirect`.
    pub port: Option<u16>,
    /// `path_redirect` or `prefix_rewrite`.
    pub path: Option<RedirectPath>,
    /// `response_code`, default `MOVED_PERMANENTLY` (301).
    pub response_code: u16,
    /// `strip_query`, default false.
    pub strip_query: bool,
}

/// The `path_rewrite_specifier` oneof of `RedirectAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectPath {
    /// `path_redirect`: replaces the whole path.
    Path(String),
    /// `prefix_rewrite`: replaces the matched prefix.
    PrefixRewrite(String),
}

/// `config.route.v3.RouteAction.HashPolicy`.
#[derive(Debug, Clone, PartialEq)]
pub struct HashPolicy {
    /// The policy specifier.
    pub kind: HashPolicyKind,
    /// `terminal`, default false.
    pub terminal: bool,
}

/// The `policy_specifier` oneof of `HashPolicy`.
#[derive(Debug, Clone, PartialEq)]
pub enum HashPolicyKind {
    /// `header.header_name` (lower-cased).
    Header {
        /// The header name, lower case.
        name: String,
    },
    /// `cookie`.
    Cookie {
        /// `name`.
        name: String,
        /// `ttl`; when set and the cookie is absent, the proxy generates one.
        ttl: Option<Duration>,
        /// `path`.
        path: Option<String>,
    },
    /// `connection_properties.source_ip: true`.
    SourceIp,
    /// `query_parameter.name`.
    QueryParameter {
        /// The parameter name.
        name: String,
    },
}

/// `extensions.filters.network.tcp_proxy.v3.TcpProxy`.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpProxy {
    /// `stat_prefix` (required).
    pub stat_prefix: String,
    /// `cluster` (checked to exist).
    pub cluster: String,
    /// `idle_timeout`, default 1 h; `Duration::ZERO` disables it.
    pub idle_timeout: Duration,
}

/// `config.cluster.v3.Cluster`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// `name` (required, unique).
    pub name: String,
    /// `type`; only `STATIC` today.
    pub discovery: DiscoveryType,
    /// `connect_timeout`, default 5 s.
    pub connect_timeout: Duration,
    /// `per_connection_buffer_limit_bytes`, default 1 MiB.
    pub per_connection_buffer_limit_bytes: u32,
    /// `lb_policy` with its policy-specific config.
    pub lb_policy: LbPolicy,
    /// `common_lb_config`.
    pub common_lb_config: CommonLbConfig,
    /// `lb_subset_config`; `None` when absent (no subsetting).
    pub lb_subset_config: Option<LbSubsetConfig>,
    /// `load_assignment`.
    pub load_assignment: ClusterLoadAssignment,
    /// Where the cluster was written.
    pub loc: Loc,
}

/// `Cluster.DiscoveryType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryType {
    /// `STATIC`.
    Static,
}

/// `lb_policy` and the matching `*_lb_config`.
#[derive(Debug, Clone, PartialEq)]
pub enum LbPolicy {
    /// `ROUND_ROBIN` with `round_robin_lb_config`.
    RoundRobin {
        /// `round_robin_lb_config.slow_start_config`.
        slow_start: Option<SlowStartConfig>,
    },
    /// `LEAST_REQUEST` with `least_request_lb_config`.
    LeastRequest {
        /// `choice_count`, default 2.
        choice_count: u32,
        /// `active_request_bias`, default 1.0.
        active_request_bias: f64,
        /// `slow_start_config`.
        slow_start: Option<SlowStartConfig>,
    },
    /// `RANDOM`.
    Random,
    /// `RING_HASH` with `ring_hash_lb_config`.
    RingHash {
        /// `minimum_ring_size`, default 1024.
        minimum_ring_size: u64,
        /// `maximum_ring_size`, default 8M.
        maximum_ring_size: u64,
        /// `hash_function`, default `XX_HASH`.
        hash_function: HashFunction,
    },
    /// `MAGLEV` with `maglev_lb_config`.
    Maglev {
        /// `table_size`, default 65537, a prime up to 5,000,011.
        table_size: u64,
    },
}

/// `RingHashLbConfig.HashFunction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFunction {
    /// `XX_HASH`.
    XxHash,
    /// `MURMUR_HASH_2`.
    MurmurHash2,
}

/// `Cluster.SlowStartConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct SlowStartConfig {
    /// `slow_start_window` (required).
    pub slow_start_window: Duration,
    /// `aggression.default_value`, default 1.0.
    pub aggression: f64,
    /// `min_weight_percent`, default 10 (%).
    pub min_weight_percent: f64,
}

/// `Cluster.CommonLbConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonLbConfig {
    /// `healthy_panic_threshold.value` in percent, default 50; 0 disables panic mode.
    pub healthy_panic_threshold: f64,
    /// `locality_weighted_lb_config` present.
    pub locality_weighted: bool,
    /// `zone_aware_lb_config`, with defaults when absent.
    pub zone_aware: ZoneAwareLbConfig,
}

/// `Cluster.CommonLbConfig.ZoneAwareLbConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneAwareLbConfig {
    /// `routing_enabled.value` in percent, default 100.
    pub routing_enabled: f64,
    /// `min_cluster_size`, default 6.
    pub min_cluster_size: u64,
    /// `fail_traffic_on_panic`, default false.
    pub fail_traffic_on_panic: bool,
}

/// `Cluster.LbSubsetConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct LbSubsetConfig {
    /// `fallback_policy`, default `NO_FALLBACK`.
    pub fallback_policy: SubsetFallbackPolicy,
    /// `default_subset` (a Struct flattened to key -> value).
    pub default_subset: BTreeMap<String, serde_json::Value>,
    /// `subset_selectors`.
    pub subset_selectors: Vec<SubsetSelector>,
    /// `locality_weight_aware`.
    pub locality_weight_aware: bool,
    /// `scale_locality_weight`.
    pub scale_locality_weight: bool,
    /// `panic_mode_any`.
    pub panic_mode_any: bool,
    /// `list_as_any`.
    pub list_as_any: bool,
}

/// `LbSubsetConfig.LbSubsetFallbackPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubsetFallbackPolicy {
    /// `NO_FALLBACK`.
    NoFallback,
    /// `ANY_ENDPOINT`.
    AnyEndpoint,
    /// `DEFAULT_SUBSET`.
    DefaultSubset,
}

/// `LbSubsetConfig.LbSubsetSelector`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubsetSelector {
    /// `keys`.
    pub keys: Vec<String>,
    /// `single_host_per_subset`.
    pub single_host_per_subset: bool,
    /// `fallback_policy`, default `NOT_DEFINED`.
    pub fallback_policy: SelectorFallbackPolicy,
    /// `fallback_keys_subset` (for `KEYS_SUBSET`).
    pub fallback_keys_subset: Vec<String>,
}

/// `LbSubsetSelector.LbSubsetSelectorFallbackPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorFallbackPolicy {
    /// `NOT_DEFINED`: use the cluster's `fallback_policy`.
    NotDefined,
    /// `NO_FALLBACK`.
    NoFallback,
    /// `ANY_ENDPOINT`.
    AnyEndpoint,
    /// `DEFAULT_SUBSET`.
    DefaultSubset,
    /// `KEYS_SUBSET`.
    KeysSubset,
}

/// `config.endpoint.v3.ClusterLoadAssignment`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterLoadAssignment {
    /// `endpoints`, one entry per locality and priority.
    pub endpoints: Vec<LocalityLbEndpoints>,
    /// `policy.overprovisioning_factor`, default 140 (percent).
    pub overprovisioning_factor: u32,
}

/// `config.endpoint.v3.LocalityLbEndpoints`.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalityLbEndpoints {
    /// `locality`.
    pub locality: Locality,
    /// `lb_endpoints`.
    pub lb_endpoints: Vec<LbEndpoint>,
    /// `load_balancing_weight`; `None` when absent (Envoy then ignores the locality under
    /// locality-weighted load balancing).
    pub load_balancing_weight: Option<u32>,
    /// `priority`, default 0.
    pub priority: u32,
}

/// `config.core.v3.Locality`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Locality {
    /// `region`.
    pub region: String,
    /// `zone`.
    pub zone: String,
    /// `sub_zone`.
    pub sub_zone: String,
}

/// `config.endpoint.v3.LbEndpoint`.
#[derive(Debug, Clone, PartialEq)]
pub struct LbEndpoint {
    /// `endpoint.address.socket_address`.
    pub address: SocketAddr,
    /// `endpoint.hostname`.
    pub hostname: String,
    /// `health_status`, default `UNKNOWN` (treated as healthy).
    pub health_status: HealthStatus,
    /// `load_balancing_weight`, default 1.
    pub load_balancing_weight: u32,
    /// `metadata.filter_metadata["envoy.lb"]`, flattened to key -> value.
    pub lb_metadata: BTreeMap<String, serde_json::Value>,
}

/// `config.core.v3.HealthStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// `UNKNOWN`.
    Unknown,
    /// `HEALTHY`.
    Healthy,
    /// `UNHEALTHY`.
    Unhealthy,
    /// `DRAINING`.
    Draining,
    /// `TIMEOUT`.
    Timeout,
    /// `DEGRADED`.
    Degraded,
}
