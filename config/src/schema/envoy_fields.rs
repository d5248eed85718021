//! Every field name of the Envoy v3 messages Sluice decodes, generated from Envoy's protos
//! (via the prost code of the `envoy-types` crate) by `config/tools/gen_schema.py`.
//! A decoder tells "unknown field" from "not supported yet" with these lists.

/// All fields of `config.bootstrap.v3.Bootstrap`.
pub(crate) const BOOTSTRAP: &[&str] = &[
    "node",
    "node_context_params",
    "static_resources",
    "dynamic_resources",
    "cluster_manager",
    "hds_config",
    "flags_path",
    "stats_sinks",
    "deferred_stat_options",
    "stats_config",
    "stats_flush_interval",
    "watchdog",
    "watchdogs",
    "tracing",
    "layered_runtime",
    "admin",
    "overload_manager",
    "enable_dispatcher_stats",
    "header_prefix",
    "stats_server_version_override",
    "use_tcp_for_dns_lookups",
    "dns_resolution_config",
    "typed_dns_resolver_config",
    "bootstrap_extensions",
    "fatal_actions",
    "config_sources",
    "default_config_source",
    "default_socket_interface",
    "certificate_provider_instances",
    "inline_headers",
    "perf_tracing_file_path",
    "default_regex_engine",
    "xds_delegate_extension",
    "xds_config_tracker_extension",
    "listener_manager",
    "application_log_config",
    "grpc_async_client_manager_config",
    "memory_allocator_manager",
    "enable_worker_cpu_affinity",
    "stats_flush_on_admin",
    "stats_eviction_interval",
];

/// All fields of `extensions.filters.network.http_connection_manager.v3.InternalAddressConfig`.
pub(crate) const INTERNAL_ADDRESS_CONFIG: &[&str] = &["unix_sockets", "cidr_ranges"];

/// All fields of `config.core.v3.CidrRange`.
pub(crate) const CIDR_RANGE: &[&str] = &["address_prefix", "prefix_len"];

/// All fields of `extensions.upstreams.http.v3.HttpProtocolOptions`.
pub(crate) const UPSTREAM_HTTP_PROTOCOL_OPTIONS: &[&str] = &[
    "common_http_protocol_options",
    "upstream_http_protocol_options",
    "http_filters",
    "header_validation_config",
    "outlier_detection",
    "request_mirror_policies",
    "hash_policy",
    "retry_policy",
    "explicit_http_config",
    "use_downstream_protocol_config",
    "auto_config",
];

/// All fields of `extensions.upstreams.http.v3.ExplicitHttpConfig`.
pub(crate) const EXPLICIT_HTTP_CONFIG: &[&str] = &[
    "http_protocol_options",
    "http2_protocol_options",
    "http3_protocol_options",
];

/// All fields of `config.core.v3.Http1ProtocolOptions`.
pub(crate) const HTTP1_PROTOCOL_OPTIONS: &[&str] = &[
    "allow_absolute_url",
    "accept_http_10",
    "default_host_for_http_10",
    "header_key_format",
    "enable_trailers",
    "allow_chunked_length",
    "override_stream_error_on_invalid_http_message",
    "send_fully_qualified_url",
    "use_balsa_parser",
    "allow_custom_methods",
    "ignore_http_11_upgrade",
];

/// All fields of `config.core.v3.HeaderKeyFormat`.
pub(crate) const HEADER_KEY_FORMAT: &[&str] = &["proper_case_words", "stateful_formatter"];

/// All fields of `config.core.v3.ProperCaseWords`.
pub(crate) const PROPER_CASE_WORDS: &[&str] = &[];

/// All fields of `config.bootstrap.v3.StaticResources`.
pub(crate) const STATIC_RESOURCES: &[&str] = &["listeners", "clusters", "secrets"];

/// All fields of `config.bootstrap.v3.Admin`.
pub(crate) const ADMIN: &[&str] = &[
    "access_log",
    "access_log_path",
    "profile_path",
    "address",
    "socket_options",
    "ignore_global_conn_limit",
    "allow_paths",
];

/// All fields of `config.bootstrap.v3.ClusterManager`.
pub(crate) const CLUSTER_MANAGER: &[&str] = &[
    "local_cluster_name",
    "outlier_detection",
    "upstream_bind_config",
    "load_stats_config",
    "enable_deferred_cluster_creation",
];

/// All fields of `config.core.v3.Node`.
pub(crate) const NODE: &[&str] = &[
    "id",
    "cluster",
    "metadata",
    "dynamic_parameters",
    "locality",
    "user_agent_name",
    "extensions",
    "client_features",
    "listening_addresses",
    "user_agent_version",
    "user_agent_build_version",
];

/// All fields of `config.core.v3.Locality`.
pub(crate) const LOCALITY: &[&str] = &["region", "zone", "sub_zone"];

/// All fields of `config.core.v3.Metadata`.
pub(crate) const METADATA: &[&str] = &["filter_metadata", "typed_filter_metadata"];

/// All fields of `config.core.v3.Address`.
pub(crate) const ADDRESS: &[&str] = &["socket_address", "pipe", "envoy_internal_address"];

/// All fields of `config.core.v3.SocketAddress`.
pub(crate) const SOCKET_ADDRESS: &[&str] = &[
    "protocol",
    "address",
    "resolver_name",
    "ipv4_compat",
    "network_namespace_filepath",
    "port_value",
    "named_port",
];

/// All fields of `config.core.v3.DataSource`.
pub(crate) const DATA_SOURCE: &[&str] = &[
    "watched_directory",
    "filename",
    "inline_bytes",
    "inline_string",
    "environment_variable",
];

/// All fields of `config.core.v3.RuntimeDouble`.
pub(crate) const RUNTIME_DOUBLE: &[&str] = &["default_value", "runtime_key"];

/// All fields of `config.listener.v3.Listener`.
pub(crate) const LISTENER: &[&str] = &[
    "name",
    "address",
    "additional_addresses",
    "stat_prefix",
    "stats_matcher",
    "filter_chains",
    "fcds_config",
    "filter_chain_matcher",
    "use_original_dst",
    "default_filter_chain",
    "per_connection_buffer_limit_bytes",
    "per_connection_buffer_high_watermark_timeout",
    "metadata",
    "deprecated_v1",
    "drain_type",
    "listener_filters",
    "listener_filters_timeout",
    "continue_on_listener_filters_timeout",
    "transparent",
    "freebind",
    "socket_options",
    "tcp_fast_open_queue_length",
    "traffic_direction",
    "udp_listener_config",
    "api_listener",
    "connection_balance_config",
    "reuse_port",
    "enable_reuse_port",
    "access_log",
    "tcp_backlog_size",
    "max_connections_to_accept_per_socket_event",
    "bind_to_port",
    "enable_mptcp",
    "ignore_global_conn_limit",
    "bypass_overload_manager",
    "tcp_keepalive",
    "internal_listener",
];

/// All fields of `config.listener.v3.FilterChain`.
pub(crate) const FILTER_CHAIN: &[&str] = &[
    "filter_chain_match",
    "filters",
    "use_proxy_proto",
    "metadata",
    "transport_socket",
    "transport_socket_connect_timeout",
    "name",
];

/// All fields of `config.listener.v3.Filter`.
pub(crate) const FILTER: &[&str] = &["name", "typed_config", "config_discovery"];

/// All fields of `extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`.
pub(crate) const HTTP_CONNECTION_MANAGER: &[&str] = &[
    "codec_type",
    "stat_prefix",
    "http_filters",
    "add_user_agent",
    "tracing",
    "common_http_protocol_options",
    "http1_safe_max_connection_duration",
    "http_protocol_options",
    "http2_protocol_options",
    "http3_protocol_options",
    "server_name",
    "server_header_transformation",
    "scheme_header_transformation",
    "max_request_headers_kb",
    "stream_idle_timeout",
    "stream_flush_timeout",
    "request_timeout",
    "request_headers_timeout",
    "drain_timeout",
    "drain_timeout_jitter",
    "delayed_close_timeout",
    "access_log",
    "access_log_flush_interval",
    "flush_access_log_on_new_request",
    "access_log_options",
    "use_remote_address",
    "xff_num_trusted_hops",
    "original_ip_detection_extensions",
    "early_header_mutation_extensions",
    "internal_address_config",
    "skip_xff_append",
    "via",
    "generate_request_id",
    "preserve_external_request_id",
    "always_set_request_id_in_response",
    "forward_client_cert_details",
    "set_current_client_cert_details",
    "forward_client_cert_matcher",
    "proxy_100_continue",
    "represent_ipv4_remote_address_as_ipv4_mapped_ipv6",
    "upgrade_configs",
    "normalize_path",
    "merge_slashes",
    "path_with_escaped_slashes_action",
    "request_id_extension",
    "local_reply_config",
    "strip_matching_host_port",
    "stream_error_on_invalid_http_message",
    "path_normalization_options",
    "strip_trailing_host_dot",
    "proxy_status_config",
    "typed_header_validation_config",
    "append_x_forwarded_port",
    "append_local_overload",
    "add_proxy_protocol_connection_state",
    "forward_proto_config",
    "rds",
    "route_config",
    "scoped_routes",
    "strip_any_host_port",
];

/// All fields of `extensions.filters.network.http_connection_manager.v3.HttpFilter`.
pub(crate) const HTTP_FILTER: &[&str] = &[
    "name",
    "is_optional",
    "disabled",
    "typed_config",
    "config_discovery",
];

/// All fields of `extensions.filters.http.router.v3.Router`.
pub(crate) const ROUTER: &[&str] = &[
    "dynamic_stats",
    "start_child_span",
    "upstream_log",
    "upstream_log_options",
    "suppress_envoy_headers",
    "strict_check_headers",
    "respect_expected_rq_timeout",
    "suppress_grpc_request_failure_code_stats",
    "upstream_http_filters",
    "reject_connect_request_early_data",
];

/// All fields of `extensions.filters.network.tcp_proxy.v3.TcpProxy`.
pub(crate) const TCP_PROXY: &[&str] = &[
    "stat_prefix",
    "on_demand",
    "metadata_match",
    "idle_timeout",
    "downstream_idle_timeout",
    "upstream_idle_timeout",
    "access_log",
    "max_connect_attempts",
    "backoff_options",
    "hash_policy",
    "tunneling_config",
    "max_downstream_connection_duration",
    "max_downstream_connection_duration_jitter_percentage",
    "access_log_flush_interval",
    "flush_access_log_on_connected",
    "access_log_options",
    "proxy_protocol_tlvs",
    "proxy_protocol_tlv_merge_policy",
    "upstream_connect_mode",
    "max_early_data_bytes",
    "check_drain_close",
    "cluster",
    "weighted_clusters",
];

/// All fields of `config.route.v3.RouteConfiguration`.
pub(crate) const ROUTE_CONFIGURATION: &[&str] = &[
    "name",
    "virtual_hosts",
    "vhds",
    "internal_only_headers",
    "response_headers_to_add",
    "response_headers_to_remove",
    "request_headers_to_add",
    "request_headers_to_remove",
    "most_specific_header_mutations_wins",
    "validate_clusters",
    "max_direct_response_body_size_bytes",
    "cluster_specifier_plugins",
    "request_mirror_policies",
    "ignore_port_in_host_matching",
    "vhost_header",
    "ignore_path_parameters_in_path_matching",
    "typed_per_filter_config",
    "metadata",
    "route_specifiers",
];

/// All fields of `config.route.v3.VirtualHost`.
pub(crate) const VIRTUAL_HOST: &[&str] = &[
    "name",
    "domains",
    "routes",
    "matcher",
    "require_tls",
    "virtual_clusters",
    "rate_limits",
    "request_headers_to_add",
    "request_headers_to_remove",
    "response_headers_to_add",
    "response_headers_to_remove",
    "cors",
    "typed_per_filter_config",
    "include_request_attempt_count",
    "include_attempt_count_in_response",
    "retry_policy",
    "retry_policy_typed_config",
    "hedge_policy",
    "include_is_timeout_retry_header",
    "per_request_buffer_limit_bytes",
    "request_body_buffer_limit",
    "request_mirror_policies",
    "metadata",
    "route_specifiers",
];

/// All fields of `config.route.v3.Route`.
pub(crate) const ROUTE: &[&str] = &[
    "name",
    "match",
    "metadata",
    "decorator",
    "typed_per_filter_config",
    "request_headers_to_add",
    "request_headers_to_remove",
    "response_headers_to_add",
    "response_headers_to_remove",
    "tracing",
    "per_request_buffer_limit_bytes",
    "stat_prefix",
    "request_body_buffer_limit",
    "route_specifiers",
    "route",
    "redirect",
    "direct_response",
    "filter_action",
    "non_forwarding_action",
];

/// All fields of `config.route.v3.RouteMatch`.
pub(crate) const ROUTE_MATCH: &[&str] = &[
    "case_sensitive",
    "runtime_fraction",
    "headers",
    "query_parameters",
    "cookies",
    "grpc",
    "tls_context",
    "dynamic_metadata",
    "filter_state",
    "prefix",
    "path",
    "safe_regex",
    "connect_matcher",
    "path_separated_prefix",
    "path_match_policy",
];

/// All fields of `config.route.v3.RouteAction`.
pub(crate) const ROUTE_ACTION: &[&str] = &[
    "cluster_not_found_response_code",
    "metadata_match",
    "prefix_rewrite",
    "regex_rewrite",
    "path_rewrite_policy",
    "path_rewrite",
    "append_x_forwarded_host",
    "timeout",
    "idle_timeout",
    "flush_timeout",
    "early_data_policy",
    "retry_policy",
    "retry_policy_typed_config",
    "request_mirror_policies",
    "priority",
    "rate_limits",
    "include_vh_rate_limits",
    "hash_policy",
    "cors",
    "max_grpc_timeout",
    "grpc_timeout_offset",
    "upgrade_configs",
    "internal_redirect_policy",
    "internal_redirect_action",
    "max_internal_redirects",
    "hedge_policy",
    "max_stream_duration",
    "cluster",
    "cluster_header",
    "weighted_clusters",
    "cluster_specifier_plugin",
    "inline_cluster_specifier_plugin",
    "host_rewrite_literal",
    "auto_host_rewrite",
    "host_rewrite_header",
    "host_rewrite_path_regex",
    "host_rewrite",
];

/// All fields of `config.route.v3.HashPolicy`.
pub(crate) const HASH_POLICY: &[&str] = &[
    "terminal",
    "header",
    "cookie",
    "connection_properties",
    "query_parameter",
    "filter_state",
];

/// All fields of `config.route.v3.Header`.
pub(crate) const HASH_POLICY_HEADER: &[&str] = &["header_name", "regex_rewrite"];

/// All fields of `config.route.v3.Cookie`.
pub(crate) const HASH_POLICY_COOKIE: &[&str] = &["name", "ttl", "path", "attributes"];

/// All fields of `config.route.v3.ConnectionProperties`.
pub(crate) const HASH_POLICY_CONNECTION_PROPERTIES: &[&str] = &["source_ip"];

/// All fields of `config.route.v3.QueryParameter`.
pub(crate) const HASH_POLICY_QUERY_PARAMETER: &[&str] = &["name"];

/// All fields of `config.route.v3.RedirectAction`.
pub(crate) const REDIRECT_ACTION: &[&str] = &[
    "host_redirect",
    "port_redirect",
    "response_code",
    "strip_query",
    "https_redirect",
    "scheme_redirect",
    "path_redirect",
    "prefix_rewrite",
    "regex_rewrite",
    "path_rewrite",
];

/// All fields of `config.route.v3.DirectResponseAction`.
pub(crate) const DIRECT_RESPONSE_ACTION: &[&str] = &["status", "body", "body_format"];

/// All fields of `config.cluster.v3.Cluster`.
pub(crate) const CLUSTER: &[&str] = &[
    "transport_socket_matches",
    "transport_socket_matcher",
    "name",
    "alt_stat_name",
    "stats_matcher",
    "eds_cluster_config",
    "connect_timeout",
    "per_connection_buffer_limit_bytes",
    "per_connection_buffer_high_watermark_timeout",
    "lb_policy",
    "load_assignment",
    "health_checks",
    "max_requests_per_connection",
    "circuit_breakers",
    "upstream_http_protocol_options",
    "common_http_protocol_options",
    "http_protocol_options",
    "http2_protocol_options",
    "typed_extension_protocol_options",
    "dns_refresh_rate",
    "dns_jitter",
    "dns_failure_refresh_rate",
    "respect_dns_ttl",
    "dns_lookup_family",
    "dns_resolvers",
    "use_tcp_for_dns_lookups",
    "dns_resolution_config",
    "typed_dns_resolver_config",
    "wait_for_warm_on_init",
    "outlier_detection",
    "cleanup_interval",
    "upstream_bind_config",
    "lb_subset_config",
    "common_lb_config",
    "transport_socket",
    "metadata",
    "protocol_selection",
    "upstream_connection_options",
    "close_connections_on_host_health_failure",
    "ignore_health_on_host_removal",
    "filters",
    "load_balancing_policy",
    "lrs_server",
    "lrs_report_endpoint_metrics",
    "track_timeout_budgets",
    "upstream_config",
    "track_cluster_stats",
    "preconnect_policy",
    "connection_pool_per_downstream_connection",
    "queuing_policies",
    "type",
    "cluster_type",
    "ring_hash_lb_config",
    "maglev_lb_config",
    "original_dst_lb_config",
    "least_request_lb_config",
    "round_robin_lb_config",
];

/// All fields of `config.cluster.v3.CommonLbConfig`.
pub(crate) const COMMON_LB_CONFIG: &[&str] = &[
    "healthy_panic_threshold",
    "update_merge_window",
    "ignore_new_hosts_until_first_hc",
    "close_connections_on_host_set_change",
    "consistent_hashing_lb_config",
    "override_host_status",
    "zone_aware_lb_config",
    "locality_weighted_lb_config",
];

/// All fields of `config.cluster.v3.ZoneAwareLbConfig`.
pub(crate) const ZONE_AWARE_LB_CONFIG: &[&str] = &[
    "routing_enabled",
    "min_cluster_size",
    "fail_traffic_on_panic",
];

/// All fields of `config.cluster.v3.LocalityWeightedLbConfig`.
pub(crate) const LOCALITY_WEIGHTED_LB_CONFIG: &[&str] = &[];

/// All fields of `config.cluster.v3.LbSubsetConfig`.
pub(crate) const LB_SUBSET_CONFIG: &[&str] = &[
    "fallback_policy",
    "default_subset",
    "subset_selectors",
    "locality_weight_aware",
    "scale_locality_weight",
    "panic_mode_any",
    "list_as_any",
    "metadata_fallback_policy",
];

/// All fields of `config.cluster.v3.LbSubsetSelector`.
pub(crate) const LB_SUBSET_SELECTOR: &[&str] = &[
    "keys",
    "single_host_per_subset",
    "fallback_policy",
    "fallback_keys_subset",
];

/// All fields of `config.cluster.v3.RoundRobinLbConfig`.
pub(crate) const ROUND_ROBIN_LB_CONFIG: &[&str] = &["slow_start_config"];

/// All fields of `config.cluster.v3.LeastRequestLbConfig`.
pub(crate) const LEAST_REQUEST_LB_CONFIG: &[&str] =
    &["choice_count", "active_request_bias", "slow_start_config"];

/// All fields of `config.cluster.v3.RingHashLbConfig`.
pub(crate) const RING_HASH_LB_CONFIG: &[&str] =
    &["minimum_ring_size", "hash_function", "maximum_ring_size"];

/// All fields of `config.cluster.v3.MaglevLbConfig`.
pub(crate) const MAGLEV_LB_CONFIG: &[&str] = &["table_size"];

/// All fields of `config.cluster.v3.SlowStartConfig`.
pub(crate) const SLOW_START_CONFIG: &[&str] =
    &["slow_start_window", "aggression", "min_weight_percent"];

/// All fields of `config.endpoint.v3.ClusterLoadAssignment`.
pub(crate) const CLUSTER_LOAD_ASSIGNMENT: &[&str] =
    &["cluster_name", "endpoints", "named_endpoints", "policy"];

/// All fields of `config.endpoint.v3.Policy`.
pub(crate) const CLA_POLICY: &[&str] = &[
    "drop_overloads",
    "overprovisioning_factor",
    "endpoint_stale_after",
    "weighted_priority_health",
];

/// All fields of `config.endpoint.v3.LocalityLbEndpoints`.
pub(crate) const LOCALITY_LB_ENDPOINTS: &[&str] = &[
    "locality",
    "metadata",
    "lb_endpoints",
    "load_balancing_weight",
    "priority",
    "proximity",
    "load_balancer_endpoints",
    "leds_cluster_locality_config",
];

/// All fields of `config.endpoint.v3.LbEndpoint`.
pub(crate) const LB_ENDPOINT: &[&str] = &[
    "health_status",
    "metadata",
    "load_balancing_weight",
    "endpoint",
    "endpoint_name",
];

/// All fields of `config.endpoint.v3.Endpoint`.
pub(crate) const ENDPOINT: &[&str] = &[
    "address",
    "health_check_config",
    "hostname",
    "additional_addresses",
    "observability_name",
];

/// All fields of `config.cluster.v3.OutlierDetection`.
pub(crate) const OUTLIER_DETECTION: &[&str] = &[
    "consecutive_5xx",
    "interval",
    "base_ejection_time",
    "max_ejection_percent",
    "enforcing_consecutive_5xx",
    "enforcing_success_rate",
    "success_rate_minimum_hosts",
    "success_rate_request_volume",
    "success_rate_stdev_factor",
    "consecutive_gateway_failure",
    "enforcing_consecutive_gateway_failure",
    "split_external_local_origin_errors",
    "consecutive_local_origin_failure",
    "enforcing_consecutive_local_origin_failure",
    "enforcing_local_origin_success_rate",
    "failure_percentage_threshold",
    "enforcing_failure_percentage",
    "enforcing_failure_percentage_local_origin",
    "failure_percentage_minimum_hosts",
    "failure_percentage_request_volume",
    "max_ejection_time",
    "max_ejection_time_jitter",
    "successful_active_health_check_uneject_host",
    "monitors",
    "always_eject_one_host",
    "detect_degraded_hosts",
];

/// All fields of `config.cluster.v3.CircuitBreakers`.
pub(crate) const CIRCUIT_BREAKERS: &[&str] = &["thresholds", "per_host_thresholds"];

/// All fields of `config.cluster.v3.Thresholds`.
pub(crate) const CIRCUIT_BREAKER_THRESHOLDS: &[&str] = &[
    "priority",
    "max_connections",
    "max_pending_requests",
    "max_requests",
    "max_retries",
    "retry_budget",
    "track_remaining",
    "max_connection_pools",
];

/// All fields of `config.cluster.v3.RetryBudget`.
pub(crate) const RETRY_BUDGET: &[&str] =
    &["budget_percent", "budget_interval", "min_retry_concurrency"];

/// All fields of `config.endpoint.v3.HealthCheckConfig`.
pub(crate) const HEALTH_CHECK_CONFIG: &[&str] = &[
    "port_value",
    "hostname",
    "address",
    "disable_active_health_check",
];

/// All fields of `config.core.v3.HealthCheck`.
pub(crate) const HEALTH_CHECK: &[&str] = &[
    "timeout",
    "interval",
    "initial_jitter",
    "interval_jitter",
    "interval_jitter_percent",
    "unhealthy_threshold",
    "healthy_threshold",
    "alt_port",
    "reuse_connection",
    "no_traffic_interval",
    "no_traffic_healthy_interval",
    "unhealthy_interval",
    "unhealthy_edge_interval",
    "healthy_edge_interval",
    "event_log_path",
    "event_logger",
    "event_service",
    "always_log_health_check_failures",
    "always_log_health_check_success",
    "tls_options",
    "transport_socket_match_criteria",
    "http_health_check",
    "tcp_health_check",
    "grpc_health_check",
    "custom_health_check",
];

/// All fields of `config.core.v3.Payload`.
pub(crate) const HEALTH_CHECK_PAYLOAD: &[&str] = &["text", "binary"];

/// All fields of `config.core.v3.HttpHealthCheck`.
pub(crate) const HTTP_HEALTH_CHECK: &[&str] = &[
    "host",
    "path",
    "send",
    "receive",
    "response_buffer_size",
    "request_headers_to_add",
    "request_headers_to_remove",
    "expected_statuses",
    "retriable_statuses",
    "codec_client_type",
    "service_name_matcher",
    "method",
];

/// All fields of `config.core.v3.TcpHealthCheck`.
pub(crate) const TCP_HEALTH_CHECK: &[&str] = &["send", "receive", "proxy_protocol_config"];

/// All fields of `type.matcher.v3.RegexMatcher`.
pub(crate) const REGEX_MATCHER: &[&str] = &["regex", "google_re2"];

/// All fields of `type.matcher.v3.GoogleRe2`.
pub(crate) const GOOGLE_RE2: &[&str] = &["max_program_size"];

/// All fields of `type.matcher.v3.RegexMatchAndSubstitute`.
pub(crate) const REGEX_MATCH_AND_SUBSTITUTE: &[&str] = &["pattern", "substitution"];

/// All fields of `type.matcher.v3.StringMatcher`.
pub(crate) const STRING_MATCHER: &[&str] = &[
    "ignore_case",
    "exact",
    "prefix",
    "suffix",
    "safe_regex",
    "contains",
    "custom",
];

/// All fields of `type.v3.Int64Range`.
pub(crate) const INT64_RANGE: &[&str] = &["start", "end"];

/// All fields of `type.v3.FractionalPercent`.
pub(crate) const FRACTIONAL_PERCENT: &[&str] = &["numerator", "denominator"];

/// All fields of `config.core.v3.RuntimeFractionalPercent`.
pub(crate) const RUNTIME_FRACTIONAL_PERCENT: &[&str] = &["default_value", "runtime_key"];

/// All fields of `config.core.v3.HeaderValueOption`.
pub(crate) const HEADER_VALUE_OPTION: &[&str] =
    &["header", "append", "append_action", "keep_empty_value"];

/// All fields of `config.core.v3.HeaderValue`.
pub(crate) const HEADER_VALUE: &[&str] = &["key", "value", "raw_value"];

/// All fields of `config.core.v3.HttpProtocolOptions`.
pub(crate) const HTTP_PROTOCOL_OPTIONS: &[&str] = &[
    "idle_timeout",
    "max_connection_duration",
    "max_connection_duration_jitter",
    "max_headers_count",
    "max_response_headers_kb",
    "max_stream_duration",
    "headers_with_underscores_action",
    "max_requests_per_connection",
];

/// All fields of `config.route.v3.HeaderMatcher`.
pub(crate) const HEADER_MATCHER: &[&str] = &[
    "name",
    "invert_match",
    "treat_missing_header_as_empty",
    "exact_match",
    "safe_regex_match",
    "range_match",
    "present_match",
    "prefix_match",
    "suffix_match",
    "contains_match",
    "string_match",
];

/// All fields of `config.route.v3.QueryParameterMatcher`.
pub(crate) const QUERY_PARAMETER_MATCHER: &[&str] = &["name", "string_match", "present_match"];

/// All fields of `config.route.v3.GrpcRouteMatchOptions`.
pub(crate) const GRPC_ROUTE_MATCH_OPTIONS: &[&str] = &[];

/// All fields of `config.route.v3.ConnectMatcher`.
pub(crate) const CONNECT_MATCHER: &[&str] = &[];

/// All fields of `config.route.v3.WeightedCluster`.
pub(crate) const WEIGHTED_CLUSTER: &[&str] = &[
    "clusters",
    "total_weight",
    "runtime_key_prefix",
    "header_name",
    "use_hash_policy",
];

/// All fields of `config.route.v3.ClusterWeight`.
pub(crate) const CLUSTER_WEIGHT: &[&str] = &[
    "name",
    "cluster_header",
    "weight",
    "metadata_match",
    "request_headers_to_add",
    "request_headers_to_remove",
    "response_headers_to_add",
    "response_headers_to_remove",
    "typed_per_filter_config",
    "host_rewrite_literal",
];

/// All fields of `config.route.v3.MaxStreamDuration`.
pub(crate) const MAX_STREAM_DURATION: &[&str] = &[
    "max_stream_duration",
    "grpc_timeout_header_max",
    "grpc_timeout_header_offset",
];

/// All fields of `config.route.v3.RequestMirrorPolicy`.
pub(crate) const REQUEST_MIRROR_POLICY: &[&str] = &[
    "cluster",
    "cluster_header",
    "runtime_fraction",
    "trace_sampled",
    "disable_shadow_host_suffix_append",
    "request_headers_mutations",
    "host_rewrite_literal",
];

/// All fields of `config.route.v3.UpgradeConfig`.
pub(crate) const UPGRADE_CONFIG: &[&str] = &["upgrade_type", "enabled", "connect_config"];

/// All fields of `config.route.v3.ConnectConfig`.
pub(crate) const CONNECT_CONFIG: &[&str] = &["proxy_protocol_config", "allow_post"];

/// All fields of `extensions.filters.network.http_connection_manager.v3.UpgradeConfig`.
pub(crate) const HCM_UPGRADE_CONFIG: &[&str] = &["upgrade_type", "filters", "enabled"];

/// All fields of `config.route.v3.RetryPolicy`.
pub(crate) const RETRY_POLICY: &[&str] = &[
    "retry_on",
    "num_retries",
    "per_try_timeout",
    "per_try_idle_timeout",
    "retry_priority",
    "retry_host_predicate",
    "retry_options_predicates",
    "host_selection_retry_max_attempts",
    "retriable_status_codes",
    "retry_back_off",
    "rate_limited_retry_back_off",
    "retriable_headers",
    "retriable_request_headers",
    "refresh_cluster_on_retry",
];

/// All fields of `config.route.v3.RetryHostPredicate`.
pub(crate) const RETRY_HOST_PREDICATE: &[&str] = &["name", "typed_config"];

/// All fields of `config.route.v3.RetryBackOff`.
pub(crate) const RETRY_BACK_OFF: &[&str] = &["base_interval", "max_interval"];

/// All fields of `extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate`.
pub(crate) const PREVIOUS_HOSTS_PREDICATE: &[&str] = &[];

/// All fields of `config.bootstrap.v3.LayeredRuntime`.
pub(crate) const LAYERED_RUNTIME: &[&str] = &["layers"];

/// All fields of `config.bootstrap.v3.RuntimeLayer`.
pub(crate) const RUNTIME_LAYER: &[&str] = &[
    "name",
    "static_layer",
    "disk_layer",
    "admin_layer",
    "rtds_layer",
];

/// All fields of `config.bootstrap.v3.DiskLayer`.
pub(crate) const DISK_LAYER: &[&str] = &["symlink_root", "subdirectory", "append_service_cluster"];

/// All fields of `config.bootstrap.v3.AdminLayer`.
pub(crate) const ADMIN_LAYER: &[&str] = &[];

/// All fields of `extensions.filters.http.fault.v3.HttpFault`.
pub(crate) const HTTP_FAULT: &[&str] = &[
    "delay",
    "abort",
    "upstream_cluster",
    "headers",
    "downstream_nodes",
    "max_active_faults",
    "response_rate_limit",
    "delay_percent_runtime",
    "abort_percent_runtime",
    "delay_duration_runtime",
    "abort_http_status_runtime",
    "max_active_faults_runtime",
    "response_rate_limit_percent_runtime",
    "abort_grpc_status_runtime",
    "disable_downstream_cluster_stats",
    "filter_metadata",
];

/// All fields of `extensions.filters.http.fault.v3.FaultAbort`.
pub(crate) const FAULT_ABORT: &[&str] = &[
    "percentage",
    "response_body",
    "http_status",
    "grpc_status",
    "header_abort",
];

/// All fields of `extensions.filters.http.fault.v3.HeaderAbort`.
pub(crate) const HEADER_ABORT: &[&str] = &[];

/// All fields of `extensions.filters.common.fault.v3.FaultDelay`.
pub(crate) const FAULT_DELAY: &[&str] = &["percentage", "fixed_delay", "header_delay"];

/// All fields of `extensions.filters.common.fault.v3.HeaderDelay`.
pub(crate) const HEADER_DELAY: &[&str] = &[];

/// All fields of `extensions.filters.http.local_ratelimit.v3.LocalRateLimit`.
pub(crate) const LOCAL_RATE_LIMIT: &[&str] = &[
    "stat_prefix",
    "status",
    "token_bucket",
    "filter_enabled",
    "filter_enforced",
    "request_headers_to_add_when_not_enforced",
    "response_headers_to_add",
    "descriptors",
    "stage",
    "local_rate_limit_per_downstream_connection",
    "local_cluster_rate_limit",
    "enable_x_ratelimit_headers",
    "vh_rate_limits",
    "always_consume_default_token_bucket",
    "rate_limited_as_resource_exhausted",
    "rate_limits",
    "max_dynamic_descriptors",
    "enable_retry_after_header",
];

/// All fields of `type.v3.TokenBucket`.
pub(crate) const TOKEN_BUCKET: &[&str] = &["max_tokens", "tokens_per_fill", "fill_interval"];

/// All fields of `type.v3.HttpStatus`.
pub(crate) const HTTP_STATUS: &[&str] = &["code"];

/// All fields of `extensions.filters.http.cors.v3.Cors`.
pub(crate) const CORS: &[&str] = &[];

/// All fields of `extensions.filters.http.cors.v3.CorsPolicy`.
pub(crate) const CORS_POLICY: &[&str] = &[
    "allow_origin_string_match",
    "allow_methods",
    "allow_headers",
    "expose_headers",
    "max_age",
    "allow_credentials",
    "filter_enabled",
    "shadow_enabled",
    "allow_private_network_access",
    "forward_not_matching_preflights",
];

/// All fields of `config.route.v3.CorsPolicy`.
pub(crate) const ROUTE_CORS_POLICY: &[&str] = &[
    "allow_origin_string_match",
    "allow_methods",
    "allow_headers",
    "expose_headers",
    "max_age",
    "allow_credentials",
    "shadow_enabled",
    "allow_private_network_access",
    "forward_not_matching_preflights",
    "filter_enabled",
];

/// All fields of `config.accesslog.v3.AccessLog`.
pub(crate) const ACCESS_LOG: &[&str] = &["name", "filter", "typed_config"];

/// All fields of `config.accesslog.v3.AccessLogFilter`.
pub(crate) const ACCESS_LOG_FILTER: &[&str] = &[
    "status_code_filter",
    "duration_filter",
    "not_health_check_filter",
    "traceable_filter",
    "runtime_filter",
    "and_filter",
    "or_filter",
    "header_filter",
    "response_flag_filter",
    "grpc_status_filter",
    "extension_filter",
    "metadata_filter",
    "log_type_filter",
];

/// All fields of `config.accesslog.v3.ComparisonFilter`.
pub(crate) const COMPARISON_FILTER: &[&str] = &["op", "value"];

/// All fields of `config.accesslog.v3.StatusCodeFilter`.
pub(crate) const STATUS_CODE_FILTER: &[&str] = &["comparison"];

/// All fields of `config.accesslog.v3.DurationFilter`.
pub(crate) const DURATION_FILTER: &[&str] = &["comparison"];

/// All fields of `config.accesslog.v3.NotHealthCheckFilter`.
pub(crate) const NOT_HEALTH_CHECK_FILTER: &[&str] = &[];

/// All fields of `config.accesslog.v3.RuntimeFilter`.
pub(crate) const RUNTIME_FILTER: &[&str] = &[
    "runtime_key",
    "percent_sampled",
    "use_independent_randomness",
];

/// All fields of `config.accesslog.v3.AndFilter`.
pub(crate) const AND_FILTER: &[&str] = &["filters"];

/// All fields of `config.accesslog.v3.OrFilter`.
pub(crate) const OR_FILTER: &[&str] = &["filters"];

/// All fields of `config.accesslog.v3.HeaderFilter`.
pub(crate) const HEADER_FILTER: &[&str] = &["header"];

/// All fields of `config.accesslog.v3.ResponseFlagFilter`.
pub(crate) const RESPONSE_FLAG_FILTER: &[&str] = &["flags"];

/// All fields of `config.core.v3.RuntimeUInt32`.
pub(crate) const RUNTIME_UINT32: &[&str] = &["default_value", "runtime_key"];

/// All fields of `config.core.v3.SubstitutionFormatString`.
pub(crate) const SUBSTITUTION_FORMAT_STRING: &[&str] = &[
    "omit_empty_values",
    "content_type",
    "formatters",
    "json_format_options",
    "text_format",
    "json_format",
    "text_format_source",
];

/// All fields of `extensions.access_loggers.file.v3.FileAccessLog`.
pub(crate) const FILE_ACCESS_LOG: &[&str] = &[
    "path",
    "format",
    "json_format",
    "typed_json_format",
    "log_format",
];

/// All fields of `extensions.access_loggers.stream.v3.StdoutAccessLog`.
pub(crate) const STDOUT_ACCESS_LOG: &[&str] = &["log_format"];

/// All fields of `extensions.access_loggers.stream.v3.StderrAccessLog`.
pub(crate) const STDERR_ACCESS_LOG: &[&str] = &["log_format"];

/// All fields of `extensions.filters.network.http_connection_manager.v3.LocalReplyConfig`.
pub(crate) const LOCAL_REPLY_CONFIG: &[&str] = &["mappers", "body_format"];

/// All fields of `extensions.filters.network.http_connection_manager.v3.ResponseMapper`.
pub(crate) const RESPONSE_MAPPER: &[&str] = &[
    "filter",
    "status_code",
    "body",
    "body_format_override",
    "headers_to_add",
];
