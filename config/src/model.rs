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
    /// `layered_runtime.layers`, lowest precedence first; empty when absent.
    pub layered_runtime: Vec<RuntimeLayer>,
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
    /// `per_connection_buffer_limit_bytes`, default 1 MiB: bounds how much of a connection's
    /// data the proxy holds (its read buffers, and a request body kept for retries).
    pub per_connection_buffer_limit_bytes: u32,
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
    /// Downstream timeouts, with Envoy's defaults applied.
    pub timeouts: HcmTimeouts,
    /// How the request's forwarding and `x-envoy-*` headers are treated.
    pub header_options: HcmHeaderOptions,
    /// `upgrade_configs`: the upgrade types (`websocket`, `connect`, ...) this connection
    /// manager lets through, lower-cased; routes may disable (or re-enable) each.
    pub upgrade_configs: Vec<UpgradeConfig>,
    /// `access_log`: every logger, in order.
    pub access_log: Vec<crate::access_log::AccessLog>,
    /// `local_reply_config`; `None` when absent (local replies are sent as generated).
    pub local_reply_config: Option<LocalReplyConfig>,
}

/// `HttpConnectionManager.local_reply_config`: how the replies the proxy generates itself
/// (errors, direct responses, redirects, filter replies) are rewritten before they are sent.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalReplyConfig {
    /// `mappers`, in order: the first whose filter matches a reply rewrites it.
    pub mappers: Vec<ResponseMapper>,
    /// `body_format`; `None` keeps the body as generated (Envoy's `%LOCAL_REPLY_BODY%` as
    /// `text/plain`).
    pub body_format: Option<BodyFormat>,
}

/// `ResponseMapper`: what to change in a local reply its filter matches.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseMapper {
    /// `filter` (required): an access log filter evaluated on the reply.
    pub filter: crate::access_log::Filter,
    /// `status_code`: the new status, in 200..=599.
    pub status_code: Option<u16>,
    /// `body`: the new body, which `%LOCAL_REPLY_BODY%` then prints.
    pub body: Option<Vec<u8>>,
    /// `body_format_override`: used instead of the config's `body_format`.
    pub body_format_override: Option<BodyFormat>,
    /// `headers_to_add`, in order.
    pub headers_to_add: Vec<HeaderValueOption>,
}

/// A `SubstitutionFormatString` that formats a local reply's body.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyFormat {
    /// The format (`text_format`, `text_format_source` or `json_format`).
    pub format: crate::access_log::LogFormat,
    /// `content_type`, else `text/plain` for text and `application/json` for JSON, as Envoy.
    pub content_type: String,
}

/// The `HttpConnectionManager` fields that decide who is trusted and how request headers are
/// rewritten on the way in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HcmHeaderOptions {
    /// `xff_num_trusted_hops`: without `use_remote_address`, the client is this many addresses
    /// from the right of `x-forwarded-for` (0: the last one).
    pub xff_num_trusted_hops: u32,
    /// `skip_xff_append`: do not append the peer to `x-forwarded-for`.
    pub skip_xff_append: bool,
    /// `internal_address_config.cidr_ranges`; `None` (absent) means Envoy's default: RFC 1918,
    /// loopback and unique-local IPv6 addresses are internal.
    pub internal_cidrs: Option<Vec<(std::net::IpAddr, u8)>>,
    /// `preserve_external_request_id`: keep an edge request's `x-request-id`.
    pub preserve_external_request_id: bool,
    /// `server_header_transformation`.
    pub server_header_transformation: ServerHeaderTransformation,
    /// `strip_matching_host_port` / `strip_any_host_port`.
    pub strip_port: StripPort,
    /// `max_request_headers_kb`, default 60.
    pub max_request_headers_kb: u32,
    /// `common_http_protocol_options.max_headers_count`, default 100.
    pub max_headers_count: u32,
    /// `common_http_protocol_options.headers_with_underscores_action`.
    pub headers_with_underscores: UnderscoreAction,
    /// `http_protocol_options.accept_http_10`, default false (HTTP/1.0 gets 426).
    pub accept_http_10: bool,
    /// `http_protocol_options.default_host_for_http_10`: the Host of an HTTP/1.0 request
    /// that has none.
    pub default_host_for_http_10: Option<String>,
    /// `http_protocol_options.header_key_format`: how header names are written to downstream
    /// clients (the responses; a cluster's own option covers the requests sent upstream).
    pub header_key_format: HeaderKeyFormat,
    /// How the request path is normalized before routing.
    pub path: PathOptions,
}

/// `HttpProtocolOptions.HeadersWithUnderscoresAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnderscoreAction {
    /// `ALLOW` (default).
    Allow,
    /// `REJECT_REQUEST`: 400 and the connection closes.
    RejectRequest,
    /// `DROP_HEADER`: the header is removed.
    DropHeader,
}

impl Default for HcmHeaderOptions {
    /// Envoy's defaults: nothing trusted beyond the default internal ranges, headers limited
    /// to 60 KiB and 100 lines, HTTP/1.0 refused.
    fn default() -> Self {
        HcmHeaderOptions {
            xff_num_trusted_hops: 0,
            skip_xff_append: false,
            internal_cidrs: None,
            preserve_external_request_id: false,
            server_header_transformation: ServerHeaderTransformation::Overwrite,
            strip_port: StripPort::Keep,
            max_request_headers_kb: 60,
            max_headers_count: 100,
            headers_with_underscores: UnderscoreAction::Allow,
            accept_http_10: false,
            default_host_for_http_10: None,
            header_key_format: HeaderKeyFormat::Lower,
            path: PathOptions::default(),
        }
    }
}

/// The `strip_port_mode` oneof: whether the port leaves the Host header before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripPort {
    /// Neither is set: the port stays and is part of virtual host matching.
    Keep,
    /// `strip_matching_host_port: true`: only a port equal to the listener's.
    Matching,
    /// `strip_any_host_port: true`.
    Any,
}

/// `Http1ProtocolOptions.header_key_format`: the case of header names on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKeyFormat {
    /// Not set (default): names are written lower-case, as Envoy stores them.
    Lower,
    /// `proper_case_words`: the first letter and every letter after a character that is
    /// neither a letter nor a digit are upper-cased (`content-type` -> `Content-Type`).
    ProperCaseWords,
}

/// The `HttpConnectionManager` fields that rewrite or refuse a request path before routing,
/// applied in Envoy's order: escaped slashes, then `normalize_path`, then `merge_slashes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathOptions {
    /// `normalize_path`: RFC 3986 normalization (dot segments removed, percent-encoded
    /// unreserved characters decoded). `None` when not written: Envoy then reads the runtime
    /// key `http_connection_manager.normalize_path` (a percentage, default 0, so off) when
    /// the listener is created.
    pub normalize_path: Option<bool>,
    /// `merge_slashes`: runs of `/` in the path become one.
    pub merge_slashes: bool,
    /// `path_with_escaped_slashes_action`: what `%2F`, `%2f`, `%5C` and `%5c` in the path do.
    pub escaped_slashes: EscapedSlashesAction,
}

/// `HttpConnectionManager.PathWithEscapedSlashesAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EscapedSlashesAction {
    /// `IMPLEMENTATION_SPECIFIC_DEFAULT` (also when not written): the runtime key
    /// `http_connection_manager.path_with_escaped_slashes_action` decides (2 reject, 3
    /// redirect, 4 forward, anything else keep), which is `KEEP_UNCHANGED` by default.
    #[default]
    ImplementationSpecificDefault,
    /// `KEEP_UNCHANGED`: the escapes stay as they are.
    KeepUnchanged,
    /// `REJECT_REQUEST`: a path with one is answered 400.
    RejectRequest,
    /// `UNESCAPE_AND_REDIRECT`: answered 307 to the unescaped (and normalized) path.
    UnescapeAndRedirect,
    /// `UNESCAPE_AND_FORWARD`: unescaped, then routed and forwarded.
    UnescapeAndForward,
}

/// `HttpConnectionManager.ServerHeaderTransformation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerHeaderTransformation {
    /// `OVERWRITE` (default): `server` is `server_name`.
    Overwrite,
    /// `APPEND_IF_ABSENT`: the upstream's `server` is kept, `server_name` added when absent.
    AppendIfAbsent,
    /// `PASS_THROUGH`: the upstream's `server`, if any, untouched.
    PassThrough,
}

/// The downstream timeouts of an `HttpConnectionManager`. `None` means disabled (Envoy's `0s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HcmTimeouts {
    /// `common_http_protocol_options.idle_timeout`: a connection with no active stream for this
    /// long is closed. Default 1 h.
    pub idle: Option<Duration>,
    /// `stream_idle_timeout`: a stream with no activity in either direction for this long is
    /// reset (408 before the response started). Default 5 min.
    pub stream_idle: Option<Duration>,
    /// `request_timeout`: the whole request must be received within this. Default disabled.
    pub request: Option<Duration>,
    /// `request_headers_timeout`: the request head must be received within this. Default
    /// disabled.
    pub request_headers: Option<Duration>,
    /// `common_http_protocol_options.max_connection_duration`. Default disabled.
    pub max_connection_duration: Option<Duration>,
    /// `drain_timeout` (5 s): how long a connection whose drain sequence began (its
    /// `idle_timeout` or `max_connection_duration` ran out) stays open; a request in that
    /// time is answered with `connection: close`. `0s` closes at once.
    pub drain: Duration,
    /// `delayed_close_timeout`: how long to wait for the peer to close after a local close
    /// was decided (the response is flushed first). Default 1 s; `None` when `0s`.
    pub delayed_close: Option<Duration>,
}

impl Default for HcmTimeouts {
    fn default() -> Self {
        HcmTimeouts {
            idle: Some(Duration::from_secs(3600)),
            stream_idle: Some(Duration::from_secs(300)),
            request: None,
            request_headers: None,
            max_connection_duration: None,
            drain: Duration::from_secs(5),
            delayed_close: Some(Duration::from_secs(1)),
        }
    }
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

/// One entry of `http_filters`. `name` is the filter's `name` as written: per-route configs
/// (`typed_per_filter_config`) are looked up by it.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpFilter {
    /// `envoy.filters.http.fault`.
    Fault {
        /// `name`.
        name: String,
        /// The filter-level `HTTPFault`.
        config: Box<Fault>,
    },
    /// `envoy.filters.http.local_ratelimit`.
    LocalRateLimit {
        /// `name`.
        name: String,
        /// The filter-level `LocalRateLimit`.
        config: Box<LocalRateLimit>,
    },
    /// `envoy.filters.http.cors` (its `Cors` message is empty; the policies live on the
    /// routes).
    Cors {
        /// `name`.
        name: String,
    },
    /// `envoy.filters.http.router`, with its own options.
    Router(Router),
}

impl HttpFilter {
    /// The filter's `name`; the router's is not kept (it has no per-route config).
    pub fn name(&self) -> Option<&str> {
        match self {
            HttpFilter::Fault { name, .. }
            | HttpFilter::LocalRateLimit { name, .. }
            | HttpFilter::Cors { name } => Some(name),
            HttpFilter::Router(_) => None,
        }
    }
}

/// `extensions.filters.http.router.v3.Router`: the router filter's own options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    /// `dynamic_stats`, default true: the router counts each upstream response by status class
    /// (`upstream_rq_<N>xx`, `upstream_rq_completed`) and the host's `rq_error` on 5xx.
    pub dynamic_stats: bool,
    /// `suppress_envoy_headers`: the router adds none of its `x-envoy-*` headers
    /// (`x-envoy-expected-rq-timeout-ms`, `x-envoy-original-path`,
    /// `x-envoy-upstream-service-time`). `x-envoy-attempt-count` is not affected.
    pub suppress_envoy_headers: bool,
    /// `strict_check_headers`: a request carrying an invalid value in any of these is answered
    /// 400 (`IH`) instead of having the value ignored.
    pub strict_check_headers: Vec<StrictCheckHeader>,
    /// `respect_expected_rq_timeout`: a trusted request's `x-envoy-expected-rq-timeout-ms` (set
    /// by an Envoy in front) becomes the route timeout.
    pub respect_expected_rq_timeout: bool,
    /// `suppress_grpc_request_failure_code_stats`: gRPC requests do not count
    /// `upstream_rq_<N>xx` (`upstream_rq_completed` still counts).
    pub suppress_grpc_request_failure_code_stats: bool,
}

impl Default for Router {
    /// Envoy's defaults: dynamic stats on, everything else off.
    fn default() -> Self {
        Router {
            dynamic_stats: true,
            suppress_envoy_headers: false,
            strict_check_headers: Vec::new(),
            respect_expected_rq_timeout: false,
            suppress_grpc_request_failure_code_stats: false,
        }
    }
}

/// A header `strict_check_headers` may name (the only ones Envoy can check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictCheckHeader {
    /// `x-envoy-upstream-rq-timeout-ms`: an integer.
    UpstreamRqTimeoutMs,
    /// `x-envoy-upstream-rq-per-try-timeout-ms`: an integer.
    UpstreamRqPerTryTimeoutMs,
    /// `x-envoy-max-retries`: an integer.
    MaxRetries,
    /// `x-envoy-retry-on`: a comma-separated list of retry conditions.
    RetryOn,
    /// `x-envoy-retry-grpc-on`: a comma-separated list of gRPC retry conditions.
    RetryGrpcOn,
}

impl StrictCheckHeader {
    /// Every checkable header, with its name.
    pub const ALL: [(StrictCheckHeader, &'static str); 5] = [
        (
            StrictCheckHeader::UpstreamRqTimeoutMs,
            "x-envoy-upstream-rq-timeout-ms",
        ),
        (
            StrictCheckHeader::UpstreamRqPerTryTimeoutMs,
            "x-envoy-upstream-rq-per-try-timeout-ms",
        ),
        (StrictCheckHeader::MaxRetries, "x-envoy-max-retries"),
        (StrictCheckHeader::RetryOn, "x-envoy-retry-on"),
        (StrictCheckHeader::RetryGrpcOn, "x-envoy-retry-grpc-on"),
    ];

    /// The header's (lower-case) name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(h, _)| *h == self)
            .map_or("", |(_, n)| n)
    }
}

/// One value of `typed_per_filter_config` on a virtual host or route: the per-route config of
/// the HTTP filter named by its key (checked to exist in `http_filters` and to be of this kind).
#[derive(Debug, Clone, PartialEq)]
pub enum FilterOverride {
    /// An `HTTPFault` that replaces the filter-level one for this route.
    Fault(Box<Fault>),
    /// A `LocalRateLimit` with its own token bucket for this route.
    LocalRateLimit(Box<LocalRateLimit>),
    /// `extensions.filters.http.cors.v3.CorsPolicy`.
    Cors(Box<CorsPolicy>),
}

/// `type.v3.FractionalPercent`: `numerator / denominator`, the denominator being 100, 10 000 or
/// 1 000 000. A numerator above the denominator means always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fraction {
    /// `numerator`.
    pub numerator: u32,
    /// `denominator` as a number.
    pub denominator: u32,
}

/// `extensions.filters.http.fault.v3.HTTPFault`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// `delay`.
    pub delay: Option<FaultDelay>,
    /// `abort`.
    pub abort: Option<FaultAbort>,
    /// `upstream_cluster`: only requests whose route targets this cluster; `None` when empty.
    pub upstream_cluster: Option<String>,
    /// `headers`: every matcher must match for a fault to be considered.
    pub headers: Vec<HeaderMatcher>,
    /// `downstream_nodes`: only requests whose `x-envoy-downstream-service-node` is one of these;
    /// empty means all.
    pub downstream_nodes: Vec<String>,
    /// `max_active_faults`; `None` is unlimited.
    pub max_active_faults: Option<u32>,
    /// The runtime keys, with Envoy's defaults applied.
    pub runtime: FaultRuntimeKeys,
    /// `disable_downstream_cluster_stats`.
    pub disable_downstream_cluster_stats: bool,
}

/// The runtime keys an `HTTPFault` reads (`*_runtime`), defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRuntimeKeys {
    /// `delay_percent_runtime`, default `fault.http.delay.fixed_delay_percent`.
    pub delay_percent: String,
    /// `abort_percent_runtime`, default `fault.http.abort.abort_percent`.
    pub abort_percent: String,
    /// `delay_duration_runtime`, default `fault.http.delay.fixed_duration_ms`.
    pub delay_duration: String,
    /// `abort_http_status_runtime`, default `fault.http.abort.http_status`.
    pub abort_http_status: String,
    /// `max_active_faults_runtime`, default `fault.http.max_active_faults`.
    pub max_active_faults: String,
}

impl Default for FaultRuntimeKeys {
    fn default() -> Self {
        FaultRuntimeKeys {
            delay_percent: "fault.http.delay.fixed_delay_percent".to_owned(),
            abort_percent: "fault.http.abort.abort_percent".to_owned(),
            delay_duration: "fault.http.delay.fixed_duration_ms".to_owned(),
            abort_http_status: "fault.http.abort.http_status".to_owned(),
            max_active_faults: "fault.http.max_active_faults".to_owned(),
        }
    }
}

/// `extensions.filters.common.fault.v3.FaultDelay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultDelay {
    /// `fixed_delay` or `header_delay`.
    pub kind: FaultDelayKind,
    /// `percentage`; Envoy's default is 0 %.
    pub percentage: Fraction,
}

/// The `fault_delay_secifier` oneof (sic, Envoy's spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultDelayKind {
    /// `fixed_delay` (> 0).
    Fixed(Duration),
    /// `header_delay: {}`: milliseconds from `x-envoy-fault-delay-request`, the percentage capped
    /// by `x-envoy-fault-delay-request-percentage`.
    Header,
}

/// `extensions.filters.http.fault.v3.FaultAbort`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultAbort {
    /// `http_status` or `header_abort`.
    pub kind: FaultAbortKind,
    /// `percentage`; Envoy's default is 0 %.
    pub percentage: Fraction,
    /// `response_body`, default `fault filter abort`.
    pub response_body: String,
}

/// The `error_type` oneof of `FaultAbort` (`grpc_status` is not supported yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAbortKind {
    /// `http_status` (200..=599).
    HttpStatus(u16),
    /// `header_abort: {}`: the status from `x-envoy-fault-abort-request`, the percentage capped
    /// by `x-envoy-fault-abort-request-percentage`.
    Header,
}

/// `extensions.filters.http.local_ratelimit.v3.LocalRateLimit`.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalRateLimit {
    /// `stat_prefix` (required): stats are `<stat_prefix>.http_local_rate_limit.*`.
    pub stat_prefix: String,
    /// `status.code`; 429 when absent or below 400, as in Envoy.
    pub status: u16,
    /// `token_bucket`; required per route, optional at the filter level only when the filter is
    /// not enabled there.
    pub token_bucket: Option<TokenBucket>,
    /// `filter_enabled`; `None` means 0 % (Envoy's "for safety" default).
    pub filter_enabled: Option<RuntimeFraction>,
    /// `filter_enforced`; `None` means 0 %.
    pub filter_enforced: Option<RuntimeFraction>,
    /// `request_headers_to_add_when_not_enforced`.
    pub request_headers_to_add_when_not_enforced: Vec<HeaderValueOption>,
    /// `response_headers_to_add`: on the local reply of an enforced limit.
    pub response_headers_to_add: Vec<HeaderValueOption>,
    /// `local_rate_limit_per_downstream_connection`: one bucket per connection instead of one
    /// per filter config.
    pub per_downstream_connection: bool,
    /// `enable_x_ratelimit_headers: DRAFT_VERSION_03`.
    pub enable_x_ratelimit_headers: bool,
    /// `enable_retry_after_header`.
    pub enable_retry_after_header: bool,
}

/// `type.v3.TokenBucket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    /// `max_tokens`: the capacity and the initial content.
    pub max_tokens: u32,
    /// `tokens_per_fill`, default 1.
    pub tokens_per_fill: u32,
    /// `fill_interval` (>= 50 ms).
    pub fill_interval: Duration,
}

/// A CORS policy: `extensions.filters.http.cors.v3.CorsPolicy`, or the deprecated
/// `config.route.v3.CorsPolicy` written as `cors` on a virtual host or route action.
#[derive(Debug, Clone, PartialEq)]
pub struct CorsPolicy {
    /// `allow_origin_string_match`: an origin is allowed when any matches.
    pub allow_origin_string_match: Vec<StringMatcher>,
    /// `allow_methods` (`*` echoes the request's `access-control-request-method`).
    pub allow_methods: String,
    /// `allow_headers` (`*` echoes `access-control-request-headers`).
    pub allow_headers: String,
    /// `expose_headers`.
    pub expose_headers: String,
    /// `max_age`.
    pub max_age: String,
    /// `allow_credentials`.
    pub allow_credentials: Option<bool>,
    /// `allow_private_network_access`.
    pub allow_private_network_access: Option<bool>,
    /// `forward_not_matching_preflights`; `None` means true.
    pub forward_not_matching_preflights: Option<bool>,
    /// `filter_enabled`; `None` means 100 %.
    pub filter_enabled: Option<RuntimeFraction>,
    /// `shadow_enabled`; `None` means 0 %.
    pub shadow_enabled: Option<RuntimeFraction>,
}

/// `config.route.v3.RouteConfiguration`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfiguration {
    /// `name`.
    pub name: String,
    /// `virtual_hosts`, in file order.
    pub virtual_hosts: Vec<VirtualHost>,
    /// `request_headers_to_add` / `_remove`, `response_headers_to_add` / `_remove` of the
    /// route configuration (applied last on requests, i.e. outermost level).
    pub headers: HeaderMutations,
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
    /// Header mutations of the virtual host.
    pub headers: HeaderMutations,
    /// `retry_policy`: used by routes that have none of their own.
    pub retry_policy: Option<RetryPolicy>,
    /// `typed_per_filter_config`, by filter name.
    pub typed_per_filter_config: BTreeMap<String, FilterOverride>,
    /// `cors` (deprecated in Envoy): used by the CORS filter when no level has a
    /// `typed_per_filter_config` CORS policy.
    pub cors: Option<Box<CorsPolicy>>,
    /// `include_request_attempt_count`: every upstream attempt carries
    /// `x-envoy-attempt-count: <n>` (1 for the first).
    pub include_request_attempt_count: bool,
    /// `include_attempt_count_in_response`: the response (proxied or the router's local reply)
    /// carries `x-envoy-attempt-count` with the number of attempts made.
    pub include_attempt_count_in_response: bool,
    /// `per_request_buffer_limit_bytes` (deprecated in Envoy): the most request body bytes held
    /// for retries and shadows, below the listener's limit; routes may set their own.
    pub per_request_buffer_limit_bytes: Option<u32>,
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
    /// Header mutations of the route.
    pub headers: HeaderMutations,
    /// `typed_per_filter_config`, by filter name.
    pub typed_per_filter_config: BTreeMap<String, FilterOverride>,
    /// `route.cors` (deprecated in Envoy): used by the CORS filter when no level has a
    /// `typed_per_filter_config` CORS policy.
    pub cors: Option<Box<CorsPolicy>>,
    /// `per_request_buffer_limit_bytes` (deprecated in Envoy); `None` takes the virtual host's.
    pub per_request_buffer_limit_bytes: Option<u32>,
}

/// `config.route.v3.RouteMatch`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatch {
    /// The path specifier.
    pub path: PathMatch,
    /// `case_sensitive`, default true (applies to `prefix`, `path` and
    /// `path_separated_prefix`, not to `safe_regex`).
    pub case_sensitive: bool,
    /// `runtime_fraction`: the route matches only for this fraction of requests.
    pub runtime_fraction: Option<RuntimeFraction>,
    /// `headers`: every matcher must match.
    pub headers: Vec<HeaderMatcher>,
    /// `query_parameters`: every matcher must match.
    pub query_parameters: Vec<QueryParameterMatcher>,
    /// `grpc: {}`: only requests with `content-type: application/grpc*`.
    pub grpc: bool,
}

/// The `path_specifier` oneof of `RouteMatch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// `prefix`: against the whole `:path`, query included.
    Prefix(String),
    /// `path` (exact), against the path without its query.
    Path(String),
    /// `safe_regex.regex` (RE2 syntax, checked at load): must match the whole path without
    /// its query.
    SafeRegex(String),
    /// `path_separated_prefix`: the path (without query) equals it, or continues with `/`.
    PathSeparatedPrefix(String),
    /// `connect_matcher: {}`: CONNECT requests.
    Connect,
}

/// `type.v3.FractionalPercent` resolved to a numerator over a denominator, with the runtime key
/// that may override the numerator (`core.v3.RuntimeFractionalPercent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeFraction {
    /// `default_value.numerator`.
    pub numerator: u32,
    /// `default_value.denominator`: 100, 10 000 or 1 000 000.
    pub denominator: u32,
    /// `runtime_key`; empty when none.
    pub runtime_key: String,
}

/// `config.route.v3.HeaderMatcher`.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderMatcher {
    /// `name`, lower-cased.
    pub name: String,
    /// The match specifier; `Present(true)` when none is given, as in Envoy.
    pub spec: HeaderMatchSpec,
    /// `invert_match`.
    pub invert_match: bool,
    /// `treat_missing_header_as_empty`.
    pub treat_missing_header_as_empty: bool,
}

/// The `header_match_specifier` oneof of `HeaderMatcher`.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderMatchSpec {
    /// `exact_match` (deprecated in Envoy, still honoured).
    Exact(String),
    /// `safe_regex_match.regex` (RE2, whole value).
    SafeRegex(String),
    /// `range_match`: `start <= value < end`, value parsed as a signed integer.
    Range {
        /// Inclusive start.
        start: i64,
        /// Exclusive end.
        end: i64,
    },
    /// `present_match`.
    Present(bool),
    /// `prefix_match`.
    Prefix(String),
    /// `suffix_match`.
    Suffix(String),
    /// `contains_match`.
    Contains(String),
    /// `string_match`.
    String(StringMatcher),
}

/// `type.matcher.v3.StringMatcher`.
#[derive(Debug, Clone, PartialEq)]
pub struct StringMatcher {
    /// The pattern.
    pub kind: StringMatchKind,
    /// `ignore_case` (not for `safe_regex`).
    pub ignore_case: bool,
}

/// The `match_pattern` oneof of `StringMatcher`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StringMatchKind {
    /// `exact`.
    Exact(String),
    /// `prefix`.
    Prefix(String),
    /// `suffix`.
    Suffix(String),
    /// `safe_regex.regex` (RE2, whole string).
    SafeRegex(String),
    /// `contains`.
    Contains(String),
}

/// `config.route.v3.QueryParameterMatcher`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryParameterMatcher {
    /// `name` (exact, case-sensitive).
    pub name: String,
    /// `string_match`; `None` for `present_match: true` or no specifier (presence).
    pub string_match: Option<StringMatcher>,
}

/// Header mutations at one level (route configuration, virtual host, route, weighted cluster).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderMutations {
    /// `request_headers_to_add`, in order.
    pub request_add: Vec<HeaderValueOption>,
    /// `request_headers_to_remove`, lower-cased.
    pub request_remove: Vec<String>,
    /// `response_headers_to_add`, in order.
    pub response_add: Vec<HeaderValueOption>,
    /// `response_headers_to_remove`, lower-cased.
    pub response_remove: Vec<String>,
}

impl HeaderMutations {
    /// Whether a `request_headers_to_add` value reads the request's headers (`%REQ(...)%`):
    /// only then must they be read from a copy taken before the mutations.
    pub fn request_add_reads_request(&self) -> bool {
        self.request_add.iter().any(|h| {
            h.parts
                .iter()
                .any(|p| matches!(p, HeaderValuePart::Command(HeaderCommand::Req { .. }, _)))
        })
    }

    /// Whether this level changes nothing.
    pub fn is_empty(&self) -> bool {
        self.request_add.is_empty()
            && self.request_remove.is_empty()
            && self.response_add.is_empty()
            && self.response_remove.is_empty()
    }
}

/// The `%VAR%` commands a header value may use (`request_headers_to_add` and the like);
/// the loader refuses any other, the proxy expands these.
pub const HEADER_VALUE_COMMANDS: &[&str] = &[
    "DOWNSTREAM_REMOTE_ADDRESS",
    "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT",
    "DOWNSTREAM_REMOTE_PORT",
    "DOWNSTREAM_LOCAL_ADDRESS",
    "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT",
    "DOWNSTREAM_LOCAL_PORT",
    "UPSTREAM_REMOTE_ADDRESS",
    "UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT",
    "UPSTREAM_REMOTE_PORT",
    "PROTOCOL",
    "HOSTNAME",
    "REQ",
    "START_TIME",
    "UPSTREAM_METADATA",
];

/// A header value cut at its `%` commands, parsed once at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValuePart {
    /// Text copied as is (`%%` already turned into `%`).
    Literal(String),
    /// A command, with its optional `:N` truncation.
    Command(HeaderCommand, Option<usize>),
}

/// One `%COMMAND%` of a header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderCommand {
    /// `%DOWNSTREAM_REMOTE_ADDRESS%`.
    DownstreamRemoteAddress,
    /// `%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%`.
    DownstreamRemoteAddressWithoutPort,
    /// `%DOWNSTREAM_REMOTE_PORT%`.
    DownstreamRemotePort,
    /// `%DOWNSTREAM_LOCAL_ADDRESS%`.
    DownstreamLocalAddress,
    /// `%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%`.
    DownstreamLocalAddressWithoutPort,
    /// `%DOWNSTREAM_LOCAL_PORT%`.
    DownstreamLocalPort,
    /// `%UPSTREAM_REMOTE_ADDRESS%`: empty in request headers (no host is picked yet).
    UpstreamRemoteAddress,
    /// `%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%`.
    UpstreamRemoteAddressWithoutPort,
    /// `%UPSTREAM_REMOTE_PORT%`.
    UpstreamRemotePort,
    /// `%PROTOCOL%`.
    Protocol,
    /// `%HOSTNAME%`.
    Hostname,
    /// `%REQ(main?alternative)%`: a request header, names lower-cased.
    Req {
        /// The header read first.
        main: String,
        /// The header read when `main` is absent.
        alternative: Option<String>,
    },
    /// `%START_TIME%` / `%START_TIME(pattern)%`: when the request started, in UTC.
    StartTime(crate::access_log::TimeFormat),
    /// `%UPSTREAM_METADATA(ns:key:...)%` (or Envoy's legacy `(["ns", "key", ...])`): a value of
    /// the picked host's endpoint `metadata.filter_metadata`; empty in request headers.
    UpstreamMetadata {
        /// The filter namespace.
        namespace: String,
        /// Keys into nested structs; empty for the whole namespace.
        path: Vec<String>,
    },
}

/// `Metadata.filter_metadata`: one JSON object per filter namespace.
pub type FilterMetadata = BTreeMap<String, serde_json::Map<String, serde_json::Value>>;

/// `config.core.v3.HeaderValueOption`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderValueOption {
    /// `header.key`, lower-cased.
    pub key: String,
    /// `header.value` as written, possibly with `%VAR%` commands.
    pub value: String,
    /// `value` parsed; empty when it has no `%` at all (the value is then used as written).
    pub parts: Vec<HeaderValuePart>,
    /// `append_action` (or the deprecated `append`); default `AppendIfExistsOrAdd`.
    pub append_action: AppendAction,
    /// `keep_empty_value`: add the header even when the value formats to empty.
    pub keep_empty_value: bool,
}

/// `HeaderValueOption.HeaderAppendAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendAction {
    /// `APPEND_IF_EXISTS_OR_ADD` (default; `append: true`).
    AppendIfExistsOrAdd,
    /// `ADD_IF_ABSENT`.
    AddIfAbsent,
    /// `OVERWRITE_IF_EXISTS_OR_ADD` (`append: false`).
    OverwriteIfExistsOrAdd,
    /// `OVERWRITE_IF_EXISTS`.
    OverwriteIfExists,
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
    /// `cluster`, `cluster_header` or `weighted_clusters` (cluster names checked to exist).
    pub cluster: ClusterSpecifier,
    /// `cluster_not_found_response_code`: 503 (default), 404 or 500.
    pub cluster_not_found_response_code: u16,
    /// `timeout`, default 15 s; `Duration::ZERO` disables it, as in Envoy.
    pub timeout: Duration,
    /// `idle_timeout`: per-stream idle timeout overriding the HCM's `stream_idle_timeout`;
    /// `Some(ZERO)` disables it.
    pub idle_timeout: Option<Duration>,
    /// `max_stream_duration.max_stream_duration`.
    pub max_stream_duration: Option<Duration>,
    /// `prefix_rewrite`.
    pub prefix_rewrite: Option<String>,
    /// `regex_rewrite`: (`pattern.regex`, `substitution`), applied to the path without query.
    pub regex_rewrite: Option<(String, String)>,
    /// `host_rewrite_literal`.
    pub host_rewrite_literal: Option<String>,
    /// The other host rewrites (`auto_host_rewrite`, `host_rewrite_header`,
    /// `host_rewrite_path_regex`); `None` when none is set.
    pub host_rewrite: Option<HostRewrite>,
    /// `retry_policy`; falls back to the virtual host's when `None`.
    pub retry_policy: Option<RetryPolicy>,
    /// `request_mirror_policies`.
    pub request_mirror_policies: Vec<MirrorPolicy>,
    /// `upgrade_configs`: per-route overrides of the HCM's upgrade types.
    pub upgrade_configs: Vec<UpgradeConfig>,
    /// `hash_policy`, in order.
    pub hash_policy: Vec<HashPolicy>,
    /// `priority`: which of the cluster's circuit-breaker thresholds the request is held to.
    pub priority: sluice_lb::breaker::Priority,
    /// `metadata_match.filter_metadata["envoy.lb"]`, flattened to key -> value.
    pub metadata_match: BTreeMap<String, serde_json::Value>,
}

/// The `cluster_specifier` oneof of `RouteAction`.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterSpecifier {
    /// `cluster`.
    Cluster(String),
    /// `cluster_header`: the (lower-cased) request header naming the cluster.
    Header(String),
    /// `weighted_clusters`.
    Weighted(WeightedClusters),
}

/// `config.route.v3.WeightedCluster`.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedClusters {
    /// `clusters`, in order.
    pub clusters: Vec<ClusterWeight>,
    /// `total_weight` (deprecated): when set, the weights must add up to it.
    pub total_weight: Option<u32>,
    /// `runtime_key_prefix`: each cluster's weight may be overridden by the runtime key
    /// `<prefix>.<cluster name>`.
    pub runtime_key_prefix: Option<String>,
}

/// `config.route.v3.WeightedCluster.ClusterWeight`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterWeight {
    /// `name` (checked to exist).
    pub name: String,
    /// `weight`.
    pub weight: u32,
    /// `metadata_match.filter_metadata["envoy.lb"]`, merged over the route's.
    pub metadata_match: BTreeMap<String, serde_json::Value>,
    /// Header mutations applied when this cluster is chosen.
    pub headers: HeaderMutations,
    /// `host_rewrite_literal`.
    pub host_rewrite_literal: Option<String>,
}

/// The `host_rewrite_specifier` oneof of `RouteAction`, other than `host_rewrite_literal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRewrite {
    /// `auto_host_rewrite: true`: the upstream host's hostname (or address).
    Auto,
    /// `host_rewrite_header`: the value of this (lower-cased) request header, when present.
    Header(String),
    /// `host_rewrite_path_regex`: (`pattern.regex`, `substitution`) applied to the path.
    PathRegex(String, String),
}

/// `config.route.v3.RetryPolicy`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// `retry_on`, split on commas, as written (each checked to be a known condition).
    pub retry_on: Vec<String>,
    /// `num_retries`, default 1.
    pub num_retries: u32,
    /// `per_try_timeout`; `None` when absent or `0s`.
    pub per_try_timeout: Option<Duration>,
    /// `per_try_idle_timeout`; `None` when absent or `0s`.
    pub per_try_idle_timeout: Option<Duration>,
    /// `retry_host_predicate` contains `envoy.retry_host_predicates.previous_hosts`.
    pub previous_hosts: bool,
    /// `host_selection_retry_max_attempts`, default 1.
    pub host_selection_retry_max_attempts: u32,
    /// `retriable_status_codes`.
    pub retriable_status_codes: Vec<u16>,
    /// `retry_back_off.base_interval`, default 25 ms.
    pub base_interval: Duration,
    /// `retry_back_off.max_interval`, default 10 x base.
    pub max_interval: Duration,
    /// `retriable_headers`: a response with a matching header is retried (`retriable-headers`).
    pub retriable_headers: Vec<HeaderMatcher>,
    /// `retriable_request_headers`: only requests matching one of these are retried.
    pub retriable_request_headers: Vec<HeaderMatcher>,
}

/// `config.route.v3.RouteAction.RequestMirrorPolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorPolicy {
    /// `cluster` (checked to exist) or `cluster_header`.
    pub cluster: MirrorCluster,
    /// `runtime_fraction`; `None` mirrors every request.
    pub runtime_fraction: Option<RuntimeFraction>,
    /// `disable_shadow_host_suffix_append`: the shadow keeps the request's Host instead of
    /// `<host>-shadow`.
    pub keep_host: bool,
}

/// Where a mirror policy's shadow cluster comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorCluster {
    /// `cluster`.
    Name(String),
    /// `cluster_header`: the (lower-cased) request header naming the cluster; a request
    /// without it, or naming no cluster, is not mirrored.
    Header(String),
}

/// `config.route.v3.RouteAction.UpgradeConfig` (and the HCM's `upgrade_configs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeConfig {
    /// `upgrade_type`, lower-cased (`websocket`, `connect`, ...).
    pub upgrade_type: String,
    /// `enabled`, default true.
    pub enabled: bool,
    /// `connect_config` is set (routes only, upgrade type CONNECT): the proxy terminates the
    /// CONNECT itself, answering 200 once a TCP connection to the route's host is open, and
    /// relays the bytes; without it the CONNECT request is forwarded to the upstream.
    pub terminate_connect: bool,
}

/// One layer of `layered_runtime.layers`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeLayer {
    /// `name`.
    pub name: String,
    /// What the layer holds.
    pub kind: RuntimeLayerKind,
}

/// The `layer_specifier` oneof of `RuntimeLayer`.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeLayerKind {
    /// `static_layer`, flattened to dotted keys (`a: {b: 1}` is `a.b = 1`).
    Static(BTreeMap<String, String>),
    /// `disk_layer`: files under `symlink_root/subdirectory` (and the service cluster's
    /// subdirectory when `append_service_cluster`), one key per file, re-read when the
    /// symlink changes.
    Disk {
        /// `symlink_root`.
        symlink_root: String,
        /// `subdirectory`.
        subdirectory: String,
        /// `append_service_cluster`.
        append_service_cluster: bool,
    },
    /// `admin_layer: {}`: values set with `POST /runtime_modify`.
    Admin,
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
    /// `typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]`,
    /// Envoy's defaults when absent.
    pub http_protocol: UpstreamHttpProtocol,
    /// `health_checks`: at most one, as in Envoy ("Multiple health checks not supported").
    pub health_check: Option<HealthCheck>,
    /// `outlier_detection`; `None` when absent (no detector, as in Envoy).
    pub outlier_detection: Option<OutlierDetection>,
    /// `circuit_breakers`, Envoy's defaults for what is not written.
    pub circuit_breakers: sluice_lb::breaker::CircuitBreakers,
    /// Where the cluster was written.
    pub loc: Loc,
}

/// `config.cluster.v3.OutlierDetection`, with Envoy's defaults applied (percentages are 0..=100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierDetection {
    /// `consecutive_5xx`, default 5.
    pub consecutive_5xx: u32,
    /// `interval`, default 10 s.
    pub interval: Duration,
    /// `base_ejection_time`, default 30 s.
    pub base_ejection_time: Duration,
    /// `max_ejection_percent`, default 10.
    pub max_ejection_percent: u32,
    /// `enforcing_consecutive_5xx`, default 100.
    pub enforcing_consecutive_5xx: u32,
    /// `enforcing_success_rate`, default 100.
    pub enforcing_success_rate: u32,
    /// `success_rate_minimum_hosts`, default 5.
    pub success_rate_minimum_hosts: u32,
    /// `success_rate_request_volume`, default 100.
    pub success_rate_request_volume: u32,
    /// `success_rate_stdev_factor`, default 1900 (1.9).
    pub success_rate_stdev_factor: u32,
    /// `consecutive_gateway_failure`, default 5.
    pub consecutive_gateway_failure: u32,
    /// `enforcing_consecutive_gateway_failure`, default 0.
    pub enforcing_consecutive_gateway_failure: u32,
    /// `split_external_local_origin_errors`, default false.
    pub split_external_local_origin_errors: bool,
    /// `consecutive_local_origin_failure`, default 5.
    pub consecutive_local_origin_failure: u32,
    /// `enforcing_consecutive_local_origin_failure`, default 100.
    pub enforcing_consecutive_local_origin_failure: u32,
    /// `enforcing_local_origin_success_rate`, default 100.
    pub enforcing_local_origin_success_rate: u32,
    /// `failure_percentage_threshold`, default 85.
    pub failure_percentage_threshold: u32,
    /// `enforcing_failure_percentage`, default 0.
    pub enforcing_failure_percentage: u32,
    /// `enforcing_failure_percentage_local_origin`, default 0.
    pub enforcing_failure_percentage_local_origin: u32,
    /// `failure_percentage_minimum_hosts`, default 5.
    pub failure_percentage_minimum_hosts: u32,
    /// `failure_percentage_request_volume`, default 50.
    pub failure_percentage_request_volume: u32,
    /// `max_ejection_time`, default the larger of 300 s and `base_ejection_time`.
    pub max_ejection_time: Duration,
    /// `max_ejection_time_jitter`, default 0.
    pub max_ejection_time_jitter: Duration,
    /// `successful_active_health_check_uneject_host`, default true.
    pub successful_active_health_check_uneject_host: bool,
    /// `always_eject_one_host`, default false.
    pub always_eject_one_host: bool,
    /// Where it was written.
    pub loc: Loc,
}

/// `config.core.v3.HealthCheck`, with Envoy's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// `timeout` (required, > 0).
    pub timeout: Duration,
    /// `interval` (required, > 0).
    pub interval: Duration,
    /// `initial_jitter`, default 0.
    pub initial_jitter: Duration,
    /// `interval_jitter`, default 0.
    pub interval_jitter: Duration,
    /// `interval_jitter_percent`, default 0.
    pub interval_jitter_percent: u32,
    /// `unhealthy_threshold` (required).
    pub unhealthy_threshold: u32,
    /// `healthy_threshold` (required).
    pub healthy_threshold: u32,
    /// `reuse_connection`, default true.
    pub reuse_connection: bool,
    /// `no_traffic_interval`, default 60 s.
    pub no_traffic_interval: Duration,
    /// `no_traffic_healthy_interval`, default `no_traffic_interval`.
    pub no_traffic_healthy_interval: Duration,
    /// `unhealthy_interval`, default `interval`.
    pub unhealthy_interval: Duration,
    /// `unhealthy_edge_interval`, default `unhealthy_interval`.
    pub unhealthy_edge_interval: Duration,
    /// `healthy_edge_interval`, default `interval`.
    pub healthy_edge_interval: Duration,
    /// `event_log_path`: where health check events are appended as JSON lines; `None` when
    /// empty or absent (no event log).
    pub event_log_path: Option<String>,
    /// `always_log_health_check_failures`, default false: every failure is logged, not only
    /// a host's first.
    pub always_log_health_check_failures: bool,
    /// The checker: `http_health_check` or `tcp_health_check`.
    pub kind: HealthCheckKind,
    /// Where the health check was written.
    pub loc: Loc,
}

/// What a health check sends and expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheckKind {
    /// `http_health_check`: an HTTP/1.1 `GET` of `path`.
    Http(HttpHealthCheck),
    /// `tcp_health_check` with no payloads: the connection is opened and closed.
    TcpConnect,
    /// `tcp_health_check` with payloads: `send` is written, then every `receive` segment
    /// must arrive, in order, not necessarily adjacent. With `receive` empty the check passes
    /// on connect, as in Envoy.
    Tcp {
        /// `send.text`, decoded.
        send: Vec<u8>,
        /// `receive[*].text`, decoded; empty segments dropped.
        receive: Vec<Vec<u8>>,
    },
}

/// `HealthCheck.HttpHealthCheck`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHealthCheck {
    /// `host`: the `host` header; empty means the cluster's name.
    pub host: String,
    /// `path` (required, not empty).
    pub path: String,
    /// `expected_statuses`: half-open `[start, end)` ranges; default `[200, 201)`.
    pub expected_statuses: Vec<(u16, u16)>,
    /// `retriable_statuses`: half-open ranges; default none.
    pub retriable_statuses: Vec<(u16, u16)>,
}

/// A cluster's upstream HTTP/1.1 connection options (`extensions.upstreams.http.v3.HttpProtocolOptions`
/// with `explicit_http_config.http_protocol_options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamHttpProtocol {
    /// `common_http_protocol_options.idle_timeout`: an idle pooled connection is closed after
    /// this long. Default 1 h; `None` when `0s` (never).
    pub idle_timeout: Option<Duration>,
    /// `common_http_protocol_options.max_requests_per_connection`; `None` (default) is
    /// unlimited.
    pub max_requests_per_connection: Option<u32>,
    /// `explicit_http_config.http_protocol_options.header_key_format`: how header names are
    /// written in requests to this cluster.
    pub header_key_format: HeaderKeyFormat,
}

impl Default for UpstreamHttpProtocol {
    fn default() -> Self {
        UpstreamHttpProtocol {
            idle_timeout: Some(Duration::from_secs(3600)),
            max_requests_per_connection: None,
            header_key_format: HeaderKeyFormat::Lower,
        }
    }
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
    /// `endpoint.health_check_config`.
    pub health_check_config: EndpointHealthCheck,
    /// `health_status`, default `UNKNOWN` (treated as healthy).
    pub health_status: HealthStatus,
    /// `load_balancing_weight`, default 1.
    pub load_balancing_weight: u32,
    /// `metadata.filter_metadata["envoy.lb"]`, flattened to key -> value.
    pub lb_metadata: BTreeMap<String, serde_json::Value>,
    /// `metadata.filter_metadata`, every namespace (read by `%UPSTREAM_METADATA(...)%`).
    pub metadata: FilterMetadata,
}

/// `config.endpoint.v3.Endpoint.HealthCheckConfig`: how active health checking reaches one
/// endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointHealthCheck {
    /// `port_value`: the port checks connect to; 0 (default) is the endpoint's (or
    /// `address`'s) own.
    pub port_value: u16,
    /// `hostname`: the `host` of HTTP checks, over the check's own `host`.
    pub hostname: String,
    /// `address`: where checks connect instead of the endpoint's address.
    pub address: Option<SocketAddr>,
    /// `disable_active_health_check`: the endpoint is not checked (and not failed for lack
    /// of checks).
    pub disable_active_health_check: bool,
}

impl EndpointHealthCheck {
    /// Where checks of the endpoint at `endpoint` connect, as Envoy's
    /// `resolveHealthCheckAddress`: `address` if set, else the endpoint's, with `port_value`
    /// when it is not 0.
    pub fn check_address(&self, endpoint: SocketAddr) -> SocketAddr {
        let mut a = self.address.unwrap_or(endpoint);
        if self.port_value != 0 {
            a.set_port(self.port_value);
        }
        a
    }
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
