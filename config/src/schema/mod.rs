//! What each Envoy message may hold: every field Envoy has (generated from its protos), the
//! subset Sluice implements, and the fields Envoy itself removed or deprecated. A decoder looks
//! a written key up here to tell "unknown field (did you mean ...)" from "not supported yet".

mod envoy_fields;

use envoy_fields as f;

/// The field lists of one Envoy message.
#[derive(Debug)]
pub(crate) struct Spec {
    /// The message's short name, for messages.
    pub(crate) name: &'static str,
    /// Every field Envoy's current v3 proto has.
    pub(crate) all: &'static [&'static str],
    /// The fields Sluice decodes.
    pub(crate) supported: &'static [&'static str],
    /// Keys Envoy no longer accepts (v1/v2 forms), each with the full message to give.
    pub(crate) removed: &'static [(&'static str, &'static str)],
    /// Supported fields that Envoy deprecated: accepted with this warning.
    pub(crate) deprecated: &'static [(&'static str, &'static str)],
    /// Envoy fields Sluice refuses for now, each with the reason given after "not supported
    /// yet" (fields absent here and from `supported` get the bare message).
    pub(crate) not_yet: &'static [(&'static str, &'static str)],
}

const PER_FILTER_CONFIG: &str = "`per_filter_config` is a v2 API field that Envoy v3 removed; \
    v2 API is not supported; write `typed_per_filter_config` with each config's v3 `@type`";

const LEGACY_CORS: &str = "`cors` is deprecated in Envoy; write the policy in \
    `typed_per_filter_config` under the CORS filter's name with `@type: \
    type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy` (accepted)";

const PER_REQUEST_BUFFER_LIMIT: &str = "`per_request_buffer_limit_bytes` is deprecated in \
    Envoy in favour of `request_body_buffer_limit` (not supported yet); accepted: a request body \
    is held for retries and shadows only up to this and the listener's buffer limit";

const REQUEST_BODY_BUFFER_LIMIT: &str = "it replaces the listener's limit on how much of a \
    request body may be buffered, also above it; `per_request_buffer_limit_bytes` (which can \
    only lower the limit for retries and shadows) is supported";

const V2_FILTER_CONFIG: &str = "`config` is the v2 API's untyped filter config, which Envoy v3 \
    removed; v2 API is not supported; write `typed_config` with the filter's v3 `@type`";

macro_rules! spec {
    ($ident:ident, $name:literal, $all:expr, [$($sup:literal),* $(,)?]
     $(, removed: [$(($rk:literal, $rm:expr)),* $(,)?])?
     $(, deprecated: [$(($dk:literal, $dm:expr)),* $(,)?])?
     $(, not_yet: [$(($nk:literal, $nm:expr)),* $(,)?])? ) => {
        pub(crate) const $ident: Spec = Spec {
            name: $name,
            all: $all,
            supported: &[$($sup),*],
            removed: &[$($(($rk, $rm)),*)?],
            deprecated: &[$($(($dk, $dm)),*)?],
            not_yet: &[$($(($nk, $nm)),*)?],
        };
    };
}

pub(crate) const V1_FORMAT: &str = "this is Envoy's v1 JSON config format (top-level `listeners`, \
    `cluster_manager.clusters`), which Envoy removed in 1.9 and Sluice does not support; \
    rewrite it as a v3 bootstrap with `static_resources.listeners` and `static_resources.clusters`";

spec!(BOOTSTRAP, "Bootstrap", f::BOOTSTRAP,
["node", "static_resources", "cluster_manager", "admin", "layered_runtime"],
removed: [
    ("listeners", V1_FORMAT),
    ("runtime", "`runtime` is a v2 API field that Envoy v3 removed; v2 API is not supported; \
        write `layered_runtime` with a `static_layer` or `disk_layer` instead"),
]);
spec!(
    LAYERED_RUNTIME,
    "LayeredRuntime",
    f::LAYERED_RUNTIME,
    ["layers"]
);
spec!(
    RUNTIME_LAYER,
    "RuntimeLayer",
    f::RUNTIME_LAYER,
    ["name", "static_layer", "disk_layer", "admin_layer"]
);
spec!(
    DISK_LAYER,
    "RuntimeLayer.DiskLayer",
    f::DISK_LAYER,
    ["symlink_root", "subdirectory", "append_service_cluster"]
);
spec!(ADMIN_LAYER, "RuntimeLayer.AdminLayer", f::ADMIN_LAYER, []);
spec!(
    STATIC_RESOURCES,
    "StaticResources",
    f::STATIC_RESOURCES,
    ["listeners", "clusters"]
);
spec!(ADMIN, "Admin", f::ADMIN, ["access_log_path", "profile_path", "address"],
deprecated: [
    ("access_log_path", "`access_log_path` is deprecated in Envoy (use `access_log`); \
        accepted, and Sluice writes no admin access log"),
    ("profile_path", "`profile_path` is accepted for compatibility; Sluice has no CPU \
        profiler, so it is not used"),
]);
spec!(CLUSTER_MANAGER, "ClusterManager", f::CLUSTER_MANAGER, ["local_cluster_name"],
removed: [
    ("clusters", V1_FORMAT),
    ("sds", V1_FORMAT),
    ("cds", V1_FORMAT),
]);
spec!(NODE, "Node", f::NODE, ["id", "cluster", "metadata", "locality"],
    removed: [("build_version", "`build_version` is a v2 API field that Envoy v3 removed \
        (v3: `user_agent_build_version`, not supported yet)")]);
spec!(
    LOCALITY,
    "Locality",
    f::LOCALITY,
    ["region", "zone", "sub_zone"]
);
spec!(METADATA, "Metadata", f::METADATA, ["filter_metadata"]);
spec!(ADDRESS, "Address", f::ADDRESS, ["socket_address"]);
spec!(
    SOCKET_ADDRESS,
    "SocketAddress",
    f::SOCKET_ADDRESS,
    ["protocol", "address", "port_value"]
);
spec!(
    DATA_SOURCE,
    "DataSource",
    f::DATA_SOURCE,
    ["filename", "inline_bytes", "inline_string"]
);
spec!(
    RUNTIME_DOUBLE,
    "RuntimeDouble",
    f::RUNTIME_DOUBLE,
    ["default_value", "runtime_key"]
);
spec!(
    LISTENER,
    "Listener",
    f::LISTENER,
    [
        "name",
        "address",
        "filter_chains",
        "per_connection_buffer_limit_bytes"
    ]
);
spec!(FILTER_CHAIN, "FilterChain", f::FILTER_CHAIN, ["filters", "name"],
    removed: [("tls_context", "`tls_context` is a v2 API field that Envoy v3 removed; v2 API is \
        not supported (its v3 replacement `transport_socket` is not supported yet either)")]);
spec!(FILTER, "Filter", f::FILTER, ["name", "typed_config"],
    removed: [("config", V2_FILTER_CONFIG)]);
spec!(
    HTTP_CONNECTION_MANAGER,
    "HttpConnectionManager",
    f::HTTP_CONNECTION_MANAGER,
    [
        "codec_type",
        "stat_prefix",
        "http_filters",
        "server_name",
        "use_remote_address",
        "generate_request_id",
        "route_config",
        "common_http_protocol_options",
        "stream_idle_timeout",
        "request_timeout",
        "request_headers_timeout",
        "delayed_close_timeout",
        "drain_timeout",
        "upgrade_configs",
        "xff_num_trusted_hops",
        "skip_xff_append",
        "internal_address_config",
        "preserve_external_request_id",
        "server_header_transformation",
        "strip_matching_host_port",
        "strip_any_host_port",
        "normalize_path",
        "merge_slashes",
        "path_with_escaped_slashes_action",
        "path_normalization_options",
        "max_request_headers_kb",
        "http_protocol_options",
        "access_log",
        "local_reply_config"
    ]
);
spec!(
    INTERNAL_ADDRESS_CONFIG,
    "InternalAddressConfig",
    f::INTERNAL_ADDRESS_CONFIG,
    ["cidr_ranges", "unix_sockets"]
);
spec!(
    CIDR_RANGE,
    "CidrRange",
    f::CIDR_RANGE,
    ["address_prefix", "prefix_len"]
);
spec!(
    HCM_UPGRADE_CONFIG,
    "HttpConnectionManager.UpgradeConfig",
    f::HCM_UPGRADE_CONFIG,
    ["upgrade_type", "enabled"]
);
spec!(
    HTTP_PROTOCOL_OPTIONS,
    "HttpProtocolOptions",
    f::HTTP_PROTOCOL_OPTIONS,
    [
        "idle_timeout",
        "max_connection_duration",
        "max_headers_count",
        "headers_with_underscores_action"
    ]
);
spec!(
    HCM_HTTP1_PROTOCOL_OPTIONS,
    "Http1ProtocolOptions",
    f::HTTP1_PROTOCOL_OPTIONS,
    [
        "accept_http_10",
        "default_host_for_http_10",
        "header_key_format"
    ]
);
spec!(
    HEADER_KEY_FORMAT,
    "Http1ProtocolOptions.HeaderKeyFormat",
    f::HEADER_KEY_FORMAT,
    ["proper_case_words", "stateful_formatter"]
);
spec!(
    PROPER_CASE_WORDS,
    "HeaderKeyFormat.ProperCaseWords",
    f::PROPER_CASE_WORDS,
    []
);
spec!(
    UPSTREAM_HTTP_PROTOCOL_OPTIONS,
    "upstreams.http.v3.HttpProtocolOptions",
    f::UPSTREAM_HTTP_PROTOCOL_OPTIONS,
    ["common_http_protocol_options", "explicit_http_config"]
);
spec!(
    UPSTREAM_COMMON_HTTP_PROTOCOL_OPTIONS,
    "HttpProtocolOptions",
    f::HTTP_PROTOCOL_OPTIONS,
    ["idle_timeout", "max_requests_per_connection"]
);
spec!(
    EXPLICIT_HTTP_CONFIG,
    "ExplicitHttpConfig",
    f::EXPLICIT_HTTP_CONFIG,
    ["http_protocol_options"]
);
spec!(
    UPSTREAM_HTTP1_PROTOCOL_OPTIONS,
    "Http1ProtocolOptions",
    f::HTTP1_PROTOCOL_OPTIONS,
    ["header_key_format"]
);
spec!(HTTP_FILTER, "HttpFilter", f::HTTP_FILTER, ["name", "typed_config"],
    removed: [("config", V2_FILTER_CONFIG)]);
spec!(ROUTER, "Router", f::ROUTER,
["dynamic_stats", "suppress_envoy_headers", "strict_check_headers",
 "respect_expected_rq_timeout", "suppress_grpc_request_failure_code_stats"],
not_yet: [
    ("start_child_span", "Sluice has no tracing, so there is no span to start"),
    ("upstream_log", "upstream access logs (one entry per upstream attempt) are not \
        implemented; the connection manager's `access_log` is"),
    ("upstream_log_options", "upstream access logs are not implemented"),
    ("upstream_http_filters", "Sluice has no upstream HTTP filter chain"),
    ("reject_connect_request_early_data", "it concerns requests received as TLS early data, \
        and Sluice has no TLS yet"),
]);
spec!(
    TCP_PROXY,
    "TcpProxy",
    f::TCP_PROXY,
    ["stat_prefix", "idle_timeout", "cluster"]
);
spec!(
    ROUTE_CONFIGURATION,
    "RouteConfiguration",
    f::ROUTE_CONFIGURATION,
    [
        "name",
        "virtual_hosts",
        "request_headers_to_add",
        "request_headers_to_remove",
        "response_headers_to_add",
        "response_headers_to_remove"
    ]
);
spec!(VIRTUAL_HOST, "VirtualHost", f::VIRTUAL_HOST,
["name", "domains", "routes", "request_headers_to_add", "request_headers_to_remove",
 "response_headers_to_add", "response_headers_to_remove", "retry_policy",
 "typed_per_filter_config", "cors", "include_request_attempt_count",
 "include_attempt_count_in_response", "per_request_buffer_limit_bytes"],
    removed: [("per_filter_config", PER_FILTER_CONFIG)],
    deprecated: [("cors", LEGACY_CORS), ("per_request_buffer_limit_bytes", PER_REQUEST_BUFFER_LIMIT)],
    not_yet: [("request_body_buffer_limit", REQUEST_BODY_BUFFER_LIMIT)]);
spec!(ROUTE, "Route", f::ROUTE,
["name", "match", "route", "redirect", "direct_response", "request_headers_to_add",
 "request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove",
 "typed_per_filter_config", "per_request_buffer_limit_bytes"],
    removed: [("per_filter_config", PER_FILTER_CONFIG)],
    deprecated: [("per_request_buffer_limit_bytes", PER_REQUEST_BUFFER_LIMIT)],
    not_yet: [("request_body_buffer_limit", REQUEST_BODY_BUFFER_LIMIT)]);
spec!(ROUTE_MATCH, "RouteMatch", f::ROUTE_MATCH,
["case_sensitive", "prefix", "path", "safe_regex", "connect_matcher", "path_separated_prefix",
 "runtime_fraction", "headers", "query_parameters", "grpc"],
    removed: [("regex", "`regex` is a v2 API field that Envoy v3 removed; v2 API is not supported; \
        write `safe_regex: { regex: ... }`")]);
spec!(
    GRPC_ROUTE_MATCH_OPTIONS,
    "GrpcRouteMatchOptions",
    f::GRPC_ROUTE_MATCH_OPTIONS,
    []
);
spec!(CONNECT_MATCHER, "ConnectMatcher", f::CONNECT_MATCHER, []);
spec!(
    REGEX_MATCHER,
    "RegexMatcher",
    f::REGEX_MATCHER,
    ["google_re2", "regex"]
);
spec!(GOOGLE_RE2, "RegexMatcher.GoogleRE2", f::GOOGLE_RE2, []);
spec!(STRING_MATCHER, "StringMatcher", f::STRING_MATCHER,
["ignore_case", "exact", "prefix", "suffix", "safe_regex", "contains"],
    removed: [("regex", "`regex` is a v2 API field that Envoy v3 removed; v2 API is not supported; \
        write `safe_regex: { regex: ... }`")]);
spec!(INT64_RANGE, "Int64Range", f::INT64_RANGE, ["start", "end"]);
spec!(
    FRACTIONAL_PERCENT,
    "FractionalPercent",
    f::FRACTIONAL_PERCENT,
    ["numerator", "denominator"]
);
spec!(
    RUNTIME_FRACTIONAL_PERCENT,
    "RuntimeFractionalPercent",
    f::RUNTIME_FRACTIONAL_PERCENT,
    ["default_value", "runtime_key"]
);
spec!(HEADER_MATCHER, "HeaderMatcher", f::HEADER_MATCHER,
["name", "invert_match", "treat_missing_header_as_empty", "exact_match", "safe_regex_match",
 "range_match", "present_match", "prefix_match", "suffix_match", "contains_match", "string_match"],
    removed: [("regex_match", "`regex_match` is a v2 API field that Envoy v3 removed; v2 API is \
        not supported; write `string_match: { safe_regex: { regex: ... } }`")]);
spec!(QUERY_PARAMETER_MATCHER, "QueryParameterMatcher", f::QUERY_PARAMETER_MATCHER,
["name", "string_match", "present_match"],
    removed: [
        ("value", "`value` is a v2 API field that Envoy v3 removed; v2 API is not supported; \
            write `string_match: { exact: ... }`"),
        ("regex", "`regex` is a v2 API field that Envoy v3 removed; v2 API is not supported; \
            write `string_match: { safe_regex: { regex: ... } }`"),
    ]);
spec!(
    ROUTE_ACTION,
    "RouteAction",
    f::ROUTE_ACTION,
    [
        "cors",
        "cluster",
        "cluster_header",
        "weighted_clusters",
        "cluster_not_found_response_code",
        "metadata_match",
        "prefix_rewrite",
        "regex_rewrite",
        "host_rewrite_literal",
        "auto_host_rewrite",
        "host_rewrite_header",
        "host_rewrite_path_regex",
        "timeout",
        "idle_timeout",
        "max_stream_duration",
        "retry_policy",
        "request_mirror_policies",
        "upgrade_configs",
        "hash_policy",
        "priority"
    ],
    deprecated: [("cors", LEGACY_CORS)]
);
spec!(WEIGHTED_CLUSTER, "WeightedCluster", f::WEIGHTED_CLUSTER,
["clusters", "total_weight", "runtime_key_prefix"],
deprecated: [("total_weight", "`total_weight` is deprecated in Envoy and has no effect: a \
    request picks a cluster in proportion to the weights, whatever they add up to")]);
spec!(CLUSTER_WEIGHT, "WeightedCluster.ClusterWeight", f::CLUSTER_WEIGHT,
["name", "weight", "metadata_match", "request_headers_to_add", "request_headers_to_remove",
 "response_headers_to_add", "response_headers_to_remove", "host_rewrite_literal"],
    removed: [("per_filter_config", "`per_filter_config` is a v2 API field that Envoy v3 removed; \
        v2 API is not supported (its v3 replacement `typed_per_filter_config` is not supported \
        on weighted clusters yet)")]);
spec!(
    REGEX_MATCH_AND_SUBSTITUTE,
    "RegexMatchAndSubstitute",
    f::REGEX_MATCH_AND_SUBSTITUTE,
    ["pattern", "substitution"]
);
spec!(
    MAX_STREAM_DURATION,
    "MaxStreamDuration",
    f::MAX_STREAM_DURATION,
    ["max_stream_duration"]
);
spec!(REQUEST_MIRROR_POLICY, "RequestMirrorPolicy", f::REQUEST_MIRROR_POLICY,
["cluster", "cluster_header", "runtime_fraction", "disable_shadow_host_suffix_append"],
    removed: [("runtime_key", "`runtime_key` is a v2 API field that Envoy v3 removed; v2 API is \
        not supported; write `runtime_fraction`")]);
spec!(
    UPGRADE_CONFIG,
    "UpgradeConfig",
    f::UPGRADE_CONFIG,
    ["upgrade_type", "enabled", "connect_config"]
);
spec!(
    CONNECT_CONFIG,
    "ConnectConfig",
    f::CONNECT_CONFIG,
    ["allow_post"]
);
spec!(
    RETRY_POLICY,
    "RetryPolicy",
    f::RETRY_POLICY,
    [
        "retry_on",
        "num_retries",
        "per_try_timeout",
        "per_try_idle_timeout",
        "retry_host_predicate",
        "host_selection_retry_max_attempts",
        "retriable_status_codes",
        "retry_back_off",
        "retriable_headers",
        "retriable_request_headers"
    ]
);
spec!(RETRY_HOST_PREDICATE, "RetryHostPredicate", f::RETRY_HOST_PREDICATE,
["name", "typed_config"],
    removed: [("config", "`config` is the v2 API's untyped extension config, which Envoy v3 \
        removed; v2 API is not supported; write `typed_config` with the predicate's v3 `@type`")]);
spec!(
    RETRY_BACK_OFF,
    "RetryBackOff",
    f::RETRY_BACK_OFF,
    ["base_interval", "max_interval"]
);
spec!(
    PREVIOUS_HOSTS_PREDICATE,
    "PreviousHostsPredicate",
    f::PREVIOUS_HOSTS_PREDICATE,
    []
);
spec!(HEADER_VALUE_OPTION, "HeaderValueOption", f::HEADER_VALUE_OPTION,
["header", "append", "append_action", "keep_empty_value"],
deprecated: [("append", "`append` is deprecated in Envoy; write `append_action` \
    (`APPEND_IF_EXISTS_OR_ADD` for true, `OVERWRITE_IF_EXISTS_OR_ADD` for false)")]);
spec!(
    HEADER_VALUE,
    "HeaderValue",
    f::HEADER_VALUE,
    ["key", "value"]
);
spec!(
    HASH_POLICY,
    "HashPolicy",
    f::HASH_POLICY,
    [
        "terminal",
        "header",
        "cookie",
        "connection_properties",
        "query_parameter"
    ]
);
spec!(
    HASH_POLICY_HEADER,
    "HashPolicy.Header",
    f::HASH_POLICY_HEADER,
    ["header_name"]
);
spec!(
    HASH_POLICY_COOKIE,
    "HashPolicy.Cookie",
    f::HASH_POLICY_COOKIE,
    ["name", "ttl", "path"]
);
spec!(
    HASH_POLICY_CONNECTION_PROPERTIES,
    "HashPolicy.ConnectionProperties",
    f::HASH_POLICY_CONNECTION_PROPERTIES,
    ["source_ip"]
);
spec!(
    HASH_POLICY_QUERY_PARAMETER,
    "HashPolicy.QueryParameter",
    f::HASH_POLICY_QUERY_PARAMETER,
    ["name"]
);
spec!(
    REDIRECT_ACTION,
    "RedirectAction",
    f::REDIRECT_ACTION,
    [
        "host_redirect",
        "port_redirect",
        "response_code",
        "strip_query",
        "https_redirect",
        "scheme_redirect",
        "path_redirect",
        "prefix_rewrite"
    ]
);
spec!(
    DIRECT_RESPONSE_ACTION,
    "DirectResponseAction",
    f::DIRECT_RESPONSE_ACTION,
    ["status", "body"]
);
spec!(CLUSTER, "Cluster", f::CLUSTER,
["name", "connect_timeout", "per_connection_buffer_limit_bytes", "lb_policy",
 "load_assignment", "lb_subset_config", "common_lb_config", "type", "ring_hash_lb_config",
 "maglev_lb_config", "least_request_lb_config", "round_robin_lb_config",
 "typed_extension_protocol_options", "health_checks", "outlier_detection", "circuit_breakers"],
removed: [
    ("hosts", "`hosts` is a v2 API field that Envoy v3 removed; v2 API is not supported; \
        write the endpoints under `load_assignment.endpoints[].lb_endpoints`"),
    ("tls_context", "`tls_context` is a v2 API field that Envoy v3 removed; v2 API is not \
        supported (its v3 replacement `transport_socket` is not supported yet either)"),
    ("extension_protocol_options", "`extension_protocol_options` is a v2 API field that \
        Envoy v3 removed; v2 API is not supported"),
]);
spec!(
    CIRCUIT_BREAKERS,
    "CircuitBreakers",
    f::CIRCUIT_BREAKERS,
    ["thresholds", "per_host_thresholds"]
);
spec!(
    CIRCUIT_BREAKER_THRESHOLDS,
    "CircuitBreakers.Thresholds",
    f::CIRCUIT_BREAKER_THRESHOLDS,
    [
        "priority",
        "max_connections",
        "max_pending_requests",
        "max_requests",
        "max_retries",
        "retry_budget",
        "track_remaining",
        "max_connection_pools"
    ]
);
spec!(PER_HOST_THRESHOLDS, "CircuitBreakers.Thresholds", f::CIRCUIT_BREAKER_THRESHOLDS,
["priority", "max_connections"],
not_yet: [
    ("max_requests", "a per-host `max_requests` is not supported yet; only `max_connections` \
        limits each host"),
    ("max_pending_requests", "Envoy applies only `max_connections` and `max_requests` per \
        host, so a per-host `max_pending_requests` would have no effect"),
    ("max_retries", "Envoy applies only `max_connections` and `max_requests` per host, so a \
        per-host `max_retries` would have no effect"),
    ("retry_budget", "Envoy applies only `max_connections` and `max_requests` per host, so a \
        per-host `retry_budget` would have no effect"),
    ("track_remaining", "Envoy applies only `max_connections` and `max_requests` per host, \
        so a per-host `track_remaining` would have no effect"),
    ("max_connection_pools", "Envoy applies only `max_connections` and `max_requests` per \
        host, so a per-host `max_connection_pools` would have no effect"),
]);
spec!(RETRY_BUDGET, "CircuitBreakers.Thresholds.RetryBudget", f::RETRY_BUDGET,
["budget_percent", "min_retry_concurrency"],
not_yet: [("budget_interval", "a retry budget over a time window (`budget_interval`) is not \
    supported yet; the budget counts the requests in flight and waiting")]);
spec!(OUTLIER_DETECTION, "OutlierDetection", f::OUTLIER_DETECTION,
["consecutive_5xx", "interval", "base_ejection_time", "max_ejection_percent",
 "enforcing_consecutive_5xx", "enforcing_success_rate", "success_rate_minimum_hosts",
 "success_rate_request_volume", "success_rate_stdev_factor", "consecutive_gateway_failure",
 "enforcing_consecutive_gateway_failure", "split_external_local_origin_errors",
 "consecutive_local_origin_failure", "enforcing_consecutive_local_origin_failure",
 "enforcing_local_origin_success_rate", "failure_percentage_threshold",
 "enforcing_failure_percentage", "enforcing_failure_percentage_local_origin",
 "failure_percentage_minimum_hosts", "failure_percentage_request_volume", "max_ejection_time",
 "max_ejection_time_jitter", "successful_active_health_check_uneject_host",
 "always_eject_one_host"],
not_yet: [
    ("monitors", "Sluice has no outlier detection monitor extensions"),
    ("detect_degraded_hosts", "hosts are ejected, never marked degraded, by outlier \
        detection"),
]);
spec!(HEALTH_CHECK, "HealthCheck", f::HEALTH_CHECK,
["timeout", "interval", "initial_jitter", "interval_jitter", "interval_jitter_percent",
 "unhealthy_threshold", "healthy_threshold", "reuse_connection", "no_traffic_interval",
 "no_traffic_healthy_interval", "unhealthy_interval", "unhealthy_edge_interval",
 "healthy_edge_interval", "http_health_check", "tcp_health_check", "event_log_path",
 "always_log_health_check_failures"],
not_yet: [
    ("grpc_health_check", "gRPC health checks need HTTP/2 upstreams, which are not supported \
        yet"),
    ("custom_health_check", "Sluice has no health checker extensions; `http_health_check` \
        and a connect-only `tcp_health_check` are supported"),
]);
spec!(
    HTTP_HEALTH_CHECK,
    "HealthCheck.HttpHealthCheck",
    f::HTTP_HEALTH_CHECK,
    [
        "host",
        "path",
        "expected_statuses",
        "retriable_statuses",
        "codec_client_type"
    ]
);
spec!(
    TCP_HEALTH_CHECK,
    "HealthCheck.TcpHealthCheck",
    f::TCP_HEALTH_CHECK,
    ["send", "receive"]
);
spec!(HEALTH_CHECK_PAYLOAD, "HealthCheck.Payload", f::HEALTH_CHECK_PAYLOAD, ["text"],
not_yet: [
    ("binary", "write the payload as hex `text` (Envoy's TCP checker also sends only `text`)"),
]);
spec!(
    COMMON_LB_CONFIG,
    "CommonLbConfig",
    f::COMMON_LB_CONFIG,
    [
        "healthy_panic_threshold",
        "zone_aware_lb_config",
        "locality_weighted_lb_config"
    ]
);
spec!(
    ZONE_AWARE_LB_CONFIG,
    "ZoneAwareLbConfig",
    f::ZONE_AWARE_LB_CONFIG,
    [
        "routing_enabled",
        "min_cluster_size",
        "fail_traffic_on_panic"
    ]
);
spec!(
    LOCALITY_WEIGHTED_LB_CONFIG,
    "LocalityWeightedLbConfig",
    f::LOCALITY_WEIGHTED_LB_CONFIG,
    []
);
spec!(
    LB_SUBSET_CONFIG,
    "LbSubsetConfig",
    f::LB_SUBSET_CONFIG,
    [
        "fallback_policy",
        "default_subset",
        "subset_selectors",
        "locality_weight_aware",
        "scale_locality_weight",
        "panic_mode_any",
        "list_as_any"
    ]
);
spec!(
    LB_SUBSET_SELECTOR,
    "LbSubsetSelector",
    f::LB_SUBSET_SELECTOR,
    [
        "keys",
        "single_host_per_subset",
        "fallback_policy",
        "fallback_keys_subset"
    ]
);
spec!(
    ROUND_ROBIN_LB_CONFIG,
    "RoundRobinLbConfig",
    f::ROUND_ROBIN_LB_CONFIG,
    ["slow_start_config"]
);
spec!(
    LEAST_REQUEST_LB_CONFIG,
    "LeastRequestLbConfig",
    f::LEAST_REQUEST_LB_CONFIG,
    ["choice_count", "active_request_bias", "slow_start_config"]
);
spec!(
    RING_HASH_LB_CONFIG,
    "RingHashLbConfig",
    f::RING_HASH_LB_CONFIG,
    ["minimum_ring_size", "hash_function", "maximum_ring_size"]
);
spec!(
    MAGLEV_LB_CONFIG,
    "MaglevLbConfig",
    f::MAGLEV_LB_CONFIG,
    ["table_size"]
);
spec!(
    SLOW_START_CONFIG,
    "SlowStartConfig",
    f::SLOW_START_CONFIG,
    ["slow_start_window", "aggression", "min_weight_percent"]
);
spec!(
    CLUSTER_LOAD_ASSIGNMENT,
    "ClusterLoadAssignment",
    f::CLUSTER_LOAD_ASSIGNMENT,
    ["cluster_name", "endpoints", "policy"]
);
spec!(
    CLA_POLICY,
    "ClusterLoadAssignment.Policy",
    f::CLA_POLICY,
    ["overprovisioning_factor"]
);
spec!(
    LOCALITY_LB_ENDPOINTS,
    "LocalityLbEndpoints",
    f::LOCALITY_LB_ENDPOINTS,
    [
        "locality",
        "lb_endpoints",
        "load_balancing_weight",
        "priority"
    ]
);
spec!(
    LB_ENDPOINT,
    "LbEndpoint",
    f::LB_ENDPOINT,
    [
        "health_status",
        "metadata",
        "load_balancing_weight",
        "endpoint"
    ]
);
spec!(
    ENDPOINT,
    "Endpoint",
    f::ENDPOINT,
    ["address", "hostname", "health_check_config"]
);
spec!(
    HEALTH_CHECK_CONFIG,
    "Endpoint.HealthCheckConfig",
    f::HEALTH_CHECK_CONFIG,
    [
        "port_value",
        "hostname",
        "address",
        "disable_active_health_check"
    ]
);
spec!(
    HTTP_FAULT,
    "HTTPFault",
    f::HTTP_FAULT,
    [
        "delay",
        "abort",
        "upstream_cluster",
        "headers",
        "downstream_nodes",
        "max_active_faults",
        "delay_percent_runtime",
        "abort_percent_runtime",
        "delay_duration_runtime",
        "abort_http_status_runtime",
        "max_active_faults_runtime",
        "disable_downstream_cluster_stats"
    ]
);
spec!(
    FAULT_ABORT,
    "FaultAbort",
    f::FAULT_ABORT,
    ["percentage", "response_body", "http_status", "header_abort"]
);
spec!(HEADER_ABORT, "FaultAbort.HeaderAbort", f::HEADER_ABORT, []);
spec!(FAULT_DELAY, "FaultDelay", f::FAULT_DELAY, ["percentage", "fixed_delay", "header_delay"],
    removed: [("type", "`type` is a v2 API field that Envoy v3 removed; v2 API is not \
        supported; a `fixed_delay` is always fixed")]);
spec!(HEADER_DELAY, "FaultDelay.HeaderDelay", f::HEADER_DELAY, []);
spec!(
    LOCAL_RATE_LIMIT,
    "LocalRateLimit",
    f::LOCAL_RATE_LIMIT,
    [
        "stat_prefix",
        "status",
        "token_bucket",
        "filter_enabled",
        "filter_enforced",
        "request_headers_to_add_when_not_enforced",
        "response_headers_to_add",
        "local_rate_limit_per_downstream_connection",
        "enable_x_ratelimit_headers",
        "enable_retry_after_header"
    ]
);
spec!(
    TOKEN_BUCKET,
    "TokenBucket",
    f::TOKEN_BUCKET,
    ["max_tokens", "tokens_per_fill", "fill_interval"]
);
spec!(HTTP_STATUS, "HttpStatus", f::HTTP_STATUS, ["code"]);
spec!(CORS, "Cors", f::CORS, []);
spec!(
    CORS_POLICY,
    "CorsPolicy",
    f::CORS_POLICY,
    [
        "allow_origin_string_match",
        "allow_methods",
        "allow_headers",
        "expose_headers",
        "max_age",
        "allow_credentials",
        "filter_enabled",
        "shadow_enabled",
        "allow_private_network_access",
        "forward_not_matching_preflights"
    ]
);
spec!(
    ROUTE_CORS_POLICY,
    "CorsPolicy",
    f::ROUTE_CORS_POLICY,
    [
        "allow_origin_string_match",
        "allow_methods",
        "allow_headers",
        "expose_headers",
        "max_age",
        "allow_credentials",
        "filter_enabled",
        "shadow_enabled",
        "allow_private_network_access",
        "forward_not_matching_preflights"
    ]
);
spec!(
    DURATION,
    "Duration",
    &["seconds", "nanos"],
    ["seconds", "nanos"]
);
spec!(PERCENT, "Percent", &["value"], ["value"]);
spec!(
    ACCESS_LOG,
    "AccessLog",
    f::ACCESS_LOG,
    ["name", "filter", "typed_config"]
);
spec!(
    ACCESS_LOG_FILTER,
    "AccessLogFilter",
    f::ACCESS_LOG_FILTER,
    [
        "status_code_filter",
        "duration_filter",
        "not_health_check_filter",
        "runtime_filter",
        "and_filter",
        "or_filter",
        "header_filter",
        "response_flag_filter"
    ]
);
spec!(HEADER_FILTER, "HeaderFilter", f::HEADER_FILTER, ["header"]);
spec!(
    RESPONSE_FLAG_FILTER,
    "ResponseFlagFilter",
    f::RESPONSE_FLAG_FILTER,
    ["flags"]
);
spec!(
    COMPARISON_FILTER,
    "ComparisonFilter",
    f::COMPARISON_FILTER,
    ["op", "value"]
);
spec!(
    STATUS_CODE_FILTER,
    "StatusCodeFilter",
    f::STATUS_CODE_FILTER,
    ["comparison"]
);
spec!(
    DURATION_FILTER,
    "DurationFilter",
    f::DURATION_FILTER,
    ["comparison"]
);
spec!(
    NOT_HEALTH_CHECK_FILTER,
    "NotHealthCheckFilter",
    f::NOT_HEALTH_CHECK_FILTER,
    []
);
spec!(
    RUNTIME_FILTER,
    "RuntimeFilter",
    f::RUNTIME_FILTER,
    [
        "runtime_key",
        "percent_sampled",
        "use_independent_randomness"
    ]
);
spec!(AND_FILTER, "AndFilter", f::AND_FILTER, ["filters"]);
spec!(OR_FILTER, "OrFilter", f::OR_FILTER, ["filters"]);
spec!(
    RUNTIME_UINT32,
    "RuntimeUInt32",
    f::RUNTIME_UINT32,
    ["default_value", "runtime_key"]
);
spec!(
    SUBSTITUTION_FORMAT_STRING,
    "SubstitutionFormatString",
    f::SUBSTITUTION_FORMAT_STRING,
    [
        "omit_empty_values",
        "text_format",
        "json_format",
        "text_format_source"
    ],
    deprecated: [("text_format", "`text_format` is deprecated in Envoy; write \
        `text_format_source: { inline_string: ... }`")]
);
spec!(
    LOCAL_REPLY_CONFIG,
    "LocalReplyConfig",
    f::LOCAL_REPLY_CONFIG,
    ["mappers", "body_format"]
);
spec!(
    RESPONSE_MAPPER,
    "ResponseMapper",
    f::RESPONSE_MAPPER,
    [
        "filter",
        "status_code",
        "body",
        "body_format_override",
        "headers_to_add"
    ]
);
// A `SubstitutionFormatString` that formats a local reply body, where `content_type` counts.
spec!(
    LOCAL_REPLY_FORMAT_STRING,
    "SubstitutionFormatString",
    f::SUBSTITUTION_FORMAT_STRING,
    [
        "omit_empty_values",
        "content_type",
        "text_format",
        "json_format",
        "text_format_source"
    ],
    deprecated: [("text_format", "`text_format` is deprecated in Envoy; write \
        `text_format_source: { inline_string: ... }`")]
);
spec!(FILE_ACCESS_LOG, "FileAccessLog", f::FILE_ACCESS_LOG,
["path", "log_format", "format", "json_format"],
deprecated: [
    ("format", "`format` is deprecated in Envoy; write `log_format: { text_format_source: \
        { inline_string: ... } }`"),
    ("json_format", "`json_format` is deprecated in Envoy; write `log_format: { json_format: \
        ... }`"),
]);
spec!(
    STDOUT_ACCESS_LOG,
    "StdoutAccessLog",
    f::STDOUT_ACCESS_LOG,
    ["log_format"]
);
spec!(
    STDERR_ACCESS_LOG,
    "StderrAccessLog",
    f::STDERR_ACCESS_LOG,
    ["log_format"]
);

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&Spec] = &[
        &BOOTSTRAP,
        &LAYERED_RUNTIME,
        &RUNTIME_LAYER,
        &DISK_LAYER,
        &ADMIN_LAYER,
        &STATIC_RESOURCES,
        &ADMIN,
        &CLUSTER_MANAGER,
        &NODE,
        &LOCALITY,
        &METADATA,
        &ADDRESS,
        &SOCKET_ADDRESS,
        &DATA_SOURCE,
        &RUNTIME_DOUBLE,
        &LISTENER,
        &FILTER_CHAIN,
        &FILTER,
        &HTTP_CONNECTION_MANAGER,
        &HTTP_PROTOCOL_OPTIONS,
        &HTTP_FILTER,
        &ROUTER,
        &TCP_PROXY,
        &ROUTE_CONFIGURATION,
        &VIRTUAL_HOST,
        &ROUTE,
        &ROUTE_MATCH,
        &GRPC_ROUTE_MATCH_OPTIONS,
        &CONNECT_MATCHER,
        &REGEX_MATCHER,
        &GOOGLE_RE2,
        &STRING_MATCHER,
        &INT64_RANGE,
        &FRACTIONAL_PERCENT,
        &RUNTIME_FRACTIONAL_PERCENT,
        &HEADER_MATCHER,
        &QUERY_PARAMETER_MATCHER,
        &ROUTE_ACTION,
        &WEIGHTED_CLUSTER,
        &CLUSTER_WEIGHT,
        &REGEX_MATCH_AND_SUBSTITUTE,
        &MAX_STREAM_DURATION,
        &REQUEST_MIRROR_POLICY,
        &UPGRADE_CONFIG,
        &HCM_UPGRADE_CONFIG,
        &HCM_HTTP1_PROTOCOL_OPTIONS,
        &INTERNAL_ADDRESS_CONFIG,
        &CIDR_RANGE,
        &RETRY_POLICY,
        &RETRY_HOST_PREDICATE,
        &RETRY_BACK_OFF,
        &PREVIOUS_HOSTS_PREDICATE,
        &HEADER_VALUE_OPTION,
        &HEADER_VALUE,
        &HASH_POLICY,
        &HASH_POLICY_HEADER,
        &HASH_POLICY_COOKIE,
        &HASH_POLICY_CONNECTION_PROPERTIES,
        &HASH_POLICY_QUERY_PARAMETER,
        &REDIRECT_ACTION,
        &DIRECT_RESPONSE_ACTION,
        &CLUSTER,
        &HEALTH_CHECK,
        &HTTP_HEALTH_CHECK,
        &TCP_HEALTH_CHECK,
        &COMMON_LB_CONFIG,
        &ZONE_AWARE_LB_CONFIG,
        &LOCALITY_WEIGHTED_LB_CONFIG,
        &LB_SUBSET_CONFIG,
        &LB_SUBSET_SELECTOR,
        &ROUND_ROBIN_LB_CONFIG,
        &LEAST_REQUEST_LB_CONFIG,
        &RING_HASH_LB_CONFIG,
        &MAGLEV_LB_CONFIG,
        &SLOW_START_CONFIG,
        &CLUSTER_LOAD_ASSIGNMENT,
        &CLA_POLICY,
        &LOCALITY_LB_ENDPOINTS,
        &LB_ENDPOINT,
        &ENDPOINT,
        &DURATION,
        &PERCENT,
        &HTTP_FAULT,
        &FAULT_ABORT,
        &HEADER_ABORT,
        &FAULT_DELAY,
        &HEADER_DELAY,
        &LOCAL_RATE_LIMIT,
        &TOKEN_BUCKET,
        &HTTP_STATUS,
        &CORS,
        &CORS_POLICY,
        &ROUTE_CORS_POLICY,
        &ACCESS_LOG,
        &ACCESS_LOG_FILTER,
        &HEADER_FILTER,
        &RESPONSE_FLAG_FILTER,
        &COMPARISON_FILTER,
        &STATUS_CODE_FILTER,
        &DURATION_FILTER,
        &NOT_HEALTH_CHECK_FILTER,
        &RUNTIME_FILTER,
        &AND_FILTER,
        &OR_FILTER,
        &RUNTIME_UINT32,
        &SUBSTITUTION_FORMAT_STRING,
        &LOCAL_REPLY_CONFIG,
        &RESPONSE_MAPPER,
        &LOCAL_REPLY_FORMAT_STRING,
        &FILE_ACCESS_LOG,
        &STDOUT_ACCESS_LOG,
        &STDERR_ACCESS_LOG,
    ];

    /// A supported field that Envoy does not have would be a typo in this file.
    #[test]
    fn supported_fields_are_envoy_fields() {
        for spec in ALL {
            for s in spec.supported {
                assert!(
                    spec.all.contains(s),
                    "{}.{s} is not an Envoy field",
                    spec.name
                );
            }
            for (r, _) in spec.removed {
                assert!(
                    !spec.all.contains(r),
                    "{}.{r} is a current Envoy field",
                    spec.name
                );
            }
            for (d, _) in spec.deprecated {
                assert!(
                    spec.supported.contains(d),
                    "{}.{d} is deprecated but unsupported",
                    spec.name
                );
            }
            for (n, _) in spec.not_yet {
                assert!(
                    spec.all.contains(n) && !spec.supported.contains(n),
                    "{}.{n} is refused with a reason but is not a refused Envoy field",
                    spec.name
                );
            }
        }
    }
}
