#!/usr/bin/env python3
"""Regenerates config/src/schema/envoy_fields.rs: every field name of the Envoy v3 messages
Sluice decodes, taken from the prost code of the `envoy-types` crate (Envoy's protos).

usage: gen_schema.py PATH/TO/envoy-types-X/src/generated > config/src/schema/envoy_fields.rs

Last run against envoy-types 0.7.7.
"""
import re
import sys

GEN = sys.argv[1]

# (rust const name, file stem, message path inside the file)
MESSAGES = [
    ("BOOTSTRAP", "envoy.config.bootstrap.v3", "Bootstrap"),
    ("INTERNAL_ADDRESS_CONFIG", "envoy.extensions.filters.network.http_connection_manager.v3", "http_connection_manager::InternalAddressConfig"),
    ("CIDR_RANGE", "envoy.config.core.v3", "CidrRange"),
    ("UPSTREAM_HTTP_PROTOCOL_OPTIONS", "envoy.extensions.upstreams.http.v3", "HttpProtocolOptions"),
    ("EXPLICIT_HTTP_CONFIG", "envoy.extensions.upstreams.http.v3", "http_protocol_options::ExplicitHttpConfig"),
    ("HTTP1_PROTOCOL_OPTIONS", "envoy.config.core.v3", "Http1ProtocolOptions"),
    ("HEADER_KEY_FORMAT", "envoy.config.core.v3", "http1_protocol_options::HeaderKeyFormat"),
    ("PROPER_CASE_WORDS", "envoy.config.core.v3", "http1_protocol_options::header_key_format::ProperCaseWords"),
    ("STATIC_RESOURCES", "envoy.config.bootstrap.v3", "bootstrap::StaticResources"),
    ("ADMIN", "envoy.config.bootstrap.v3", "Admin"),
    ("CLUSTER_MANAGER", "envoy.config.bootstrap.v3", "ClusterManager"),
    ("NODE", "envoy.config.core.v3", "Node"),
    ("LOCALITY", "envoy.config.core.v3", "Locality"),
    ("METADATA", "envoy.config.core.v3", "Metadata"),
    ("ADDRESS", "envoy.config.core.v3", "Address"),
    ("SOCKET_ADDRESS", "envoy.config.core.v3", "SocketAddress"),
    ("DATA_SOURCE", "envoy.config.core.v3", "DataSource"),
    ("RUNTIME_DOUBLE", "envoy.config.core.v3", "RuntimeDouble"),
    ("LISTENER", "envoy.config.listener.v3", "Listener"),
    ("FILTER_CHAIN", "envoy.config.listener.v3", "FilterChain"),
    ("FILTER", "envoy.config.listener.v3", "Filter"),
    ("HTTP_CONNECTION_MANAGER", "envoy.extensions.filters.network.http_connection_manager.v3", "HttpConnectionManager"),
    ("HTTP_FILTER", "envoy.extensions.filters.network.http_connection_manager.v3", "HttpFilter"),
    ("ROUTER", "envoy.extensions.filters.http.router.v3", "Router"),
    ("TCP_PROXY", "envoy.extensions.filters.network.tcp_proxy.v3", "TcpProxy"),
    ("ROUTE_CONFIGURATION", "envoy.config.route.v3", "RouteConfiguration"),
    ("VIRTUAL_HOST", "envoy.config.route.v3", "VirtualHost"),
    ("ROUTE", "envoy.config.route.v3", "Route"),
    ("ROUTE_MATCH", "envoy.config.route.v3", "RouteMatch"),
    ("ROUTE_ACTION", "envoy.config.route.v3", "RouteAction"),
    ("HASH_POLICY", "envoy.config.route.v3", "route_action::HashPolicy"),
    ("HASH_POLICY_HEADER", "envoy.config.route.v3", "route_action::hash_policy::Header"),
    ("HASH_POLICY_COOKIE", "envoy.config.route.v3", "route_action::hash_policy::Cookie"),
    ("HASH_POLICY_CONNECTION_PROPERTIES", "envoy.config.route.v3", "route_action::hash_policy::ConnectionProperties"),
    ("HASH_POLICY_QUERY_PARAMETER", "envoy.config.route.v3", "route_action::hash_policy::QueryParameter"),
    ("REDIRECT_ACTION", "envoy.config.route.v3", "RedirectAction"),
    ("DIRECT_RESPONSE_ACTION", "envoy.config.route.v3", "DirectResponseAction"),
    ("CLUSTER", "envoy.config.cluster.v3", "Cluster"),
    ("COMMON_LB_CONFIG", "envoy.config.cluster.v3", "cluster::CommonLbConfig"),
    ("ZONE_AWARE_LB_CONFIG", "envoy.config.cluster.v3", "cluster::common_lb_config::ZoneAwareLbConfig"),
    ("LOCALITY_WEIGHTED_LB_CONFIG", "envoy.config.cluster.v3", "cluster::common_lb_config::LocalityWeightedLbConfig"),
    ("LB_SUBSET_CONFIG", "envoy.config.cluster.v3", "cluster::LbSubsetConfig"),
    ("LB_SUBSET_SELECTOR", "envoy.config.cluster.v3", "cluster::lb_subset_config::LbSubsetSelector"),
    ("ROUND_ROBIN_LB_CONFIG", "envoy.config.cluster.v3", "cluster::RoundRobinLbConfig"),
    ("LEAST_REQUEST_LB_CONFIG", "envoy.config.cluster.v3", "cluster::LeastRequestLbConfig"),
    ("RING_HASH_LB_CONFIG", "envoy.config.cluster.v3", "cluster::RingHashLbConfig"),
    ("MAGLEV_LB_CONFIG", "envoy.config.cluster.v3", "cluster::MaglevLbConfig"),
    ("SLOW_START_CONFIG", "envoy.config.cluster.v3", "cluster::SlowStartConfig"),
    ("CLUSTER_LOAD_ASSIGNMENT", "envoy.config.endpoint.v3", "ClusterLoadAssignment"),
    ("CLA_POLICY", "envoy.config.endpoint.v3", "cluster_load_assignment::Policy"),
    ("LOCALITY_LB_ENDPOINTS", "envoy.config.endpoint.v3", "LocalityLbEndpoints"),
    ("LB_ENDPOINT", "envoy.config.endpoint.v3", "LbEndpoint"),
    ("ENDPOINT", "envoy.config.endpoint.v3", "Endpoint"),
    ("OUTLIER_DETECTION", "envoy.config.cluster.v3", "OutlierDetection"),
    ("CIRCUIT_BREAKERS", "envoy.config.cluster.v3", "CircuitBreakers"),
    ("CIRCUIT_BREAKER_THRESHOLDS", "envoy.config.cluster.v3", "circuit_breakers::Thresholds"),
    ("RETRY_BUDGET", "envoy.config.cluster.v3", "circuit_breakers::thresholds::RetryBudget"),
    ("HEALTH_CHECK_CONFIG", "envoy.config.endpoint.v3", "endpoint::HealthCheckConfig"),
    ("HEALTH_CHECK", "envoy.config.core.v3", "HealthCheck"),
    ("HEALTH_CHECK_PAYLOAD", "envoy.config.core.v3", "health_check::Payload"),
    ("HTTP_HEALTH_CHECK", "envoy.config.core.v3", "health_check::HttpHealthCheck"),
    ("TCP_HEALTH_CHECK", "envoy.config.core.v3", "health_check::TcpHealthCheck"),
    ("REGEX_MATCHER", "envoy.r#type.matcher.v3", "RegexMatcher"),
    ("GOOGLE_RE2", "envoy.r#type.matcher.v3", "regex_matcher::GoogleRe2"),
    ("REGEX_MATCH_AND_SUBSTITUTE", "envoy.r#type.matcher.v3", "RegexMatchAndSubstitute"),
    ("STRING_MATCHER", "envoy.r#type.matcher.v3", "StringMatcher"),
    ("INT64_RANGE", "envoy.r#type.v3", "Int64Range"),
    ("FRACTIONAL_PERCENT", "envoy.r#type.v3", "FractionalPercent"),
    ("RUNTIME_FRACTIONAL_PERCENT", "envoy.config.core.v3", "RuntimeFractionalPercent"),
    ("HEADER_VALUE_OPTION", "envoy.config.core.v3", "HeaderValueOption"),
    ("HEADER_VALUE", "envoy.config.core.v3", "HeaderValue"),
    ("HTTP_PROTOCOL_OPTIONS", "envoy.config.core.v3", "HttpProtocolOptions"),
    ("HEADER_MATCHER", "envoy.config.route.v3", "HeaderMatcher"),
    ("QUERY_PARAMETER_MATCHER", "envoy.config.route.v3", "QueryParameterMatcher"),
    ("GRPC_ROUTE_MATCH_OPTIONS", "envoy.config.route.v3", "route_match::GrpcRouteMatchOptions"),
    ("CONNECT_MATCHER", "envoy.config.route.v3", "route_match::ConnectMatcher"),
    ("WEIGHTED_CLUSTER", "envoy.config.route.v3", "WeightedCluster"),
    ("CLUSTER_WEIGHT", "envoy.config.route.v3", "weighted_cluster::ClusterWeight"),
    ("MAX_STREAM_DURATION", "envoy.config.route.v3", "route_action::MaxStreamDuration"),
    ("REQUEST_MIRROR_POLICY", "envoy.config.route.v3", "route_action::RequestMirrorPolicy"),
    ("UPGRADE_CONFIG", "envoy.config.route.v3", "route_action::UpgradeConfig"),
    ("CONNECT_CONFIG", "envoy.config.route.v3", "route_action::upgrade_config::ConnectConfig"),
    ("HCM_UPGRADE_CONFIG", "envoy.extensions.filters.network.http_connection_manager.v3", "http_connection_manager::UpgradeConfig"),
    ("RETRY_POLICY", "envoy.config.route.v3", "RetryPolicy"),
    ("RETRY_HOST_PREDICATE", "envoy.config.route.v3", "retry_policy::RetryHostPredicate"),
    ("RETRY_BACK_OFF", "envoy.config.route.v3", "retry_policy::RetryBackOff"),
    ("PREVIOUS_HOSTS_PREDICATE", "envoy.extensions.retry.host.previous_hosts.v3", "PreviousHostsPredicate"),
    ("LAYERED_RUNTIME", "envoy.config.bootstrap.v3", "LayeredRuntime"),
    ("RUNTIME_LAYER", "envoy.config.bootstrap.v3", "RuntimeLayer"),
    ("DISK_LAYER", "envoy.config.bootstrap.v3", "runtime_layer::DiskLayer"),
    ("ADMIN_LAYER", "envoy.config.bootstrap.v3", "runtime_layer::AdminLayer"),
    ("HTTP_FAULT", "envoy.extensions.filters.http.fault.v3", "HttpFault"),
    ("FAULT_ABORT", "envoy.extensions.filters.http.fault.v3", "FaultAbort"),
    ("HEADER_ABORT", "envoy.extensions.filters.http.fault.v3", "fault_abort::HeaderAbort"),
    ("FAULT_DELAY", "envoy.extensions.filters.common.fault.v3", "FaultDelay"),
    ("HEADER_DELAY", "envoy.extensions.filters.common.fault.v3", "fault_delay::HeaderDelay"),
    ("LOCAL_RATE_LIMIT", "envoy.extensions.filters.http.local_ratelimit.v3", "LocalRateLimit"),
    ("TOKEN_BUCKET", "envoy.r#type.v3", "TokenBucket"),
    ("HTTP_STATUS", "envoy.r#type.v3", "HttpStatus"),
    ("CORS", "envoy.extensions.filters.http.cors.v3", "Cors"),
    ("CORS_POLICY", "envoy.extensions.filters.http.cors.v3", "CorsPolicy"),
    ("ROUTE_CORS_POLICY", "envoy.config.route.v3", "CorsPolicy"),
    ("ACCESS_LOG", "envoy.config.accesslog.v3", "AccessLog"),
    ("ACCESS_LOG_FILTER", "envoy.config.accesslog.v3", "AccessLogFilter"),
    ("COMPARISON_FILTER", "envoy.config.accesslog.v3", "ComparisonFilter"),
    ("STATUS_CODE_FILTER", "envoy.config.accesslog.v3", "StatusCodeFilter"),
    ("DURATION_FILTER", "envoy.config.accesslog.v3", "DurationFilter"),
    ("NOT_HEALTH_CHECK_FILTER", "envoy.config.accesslog.v3", "NotHealthCheckFilter"),
    ("RUNTIME_FILTER", "envoy.config.accesslog.v3", "RuntimeFilter"),
    ("AND_FILTER", "envoy.config.accesslog.v3", "AndFilter"),
    ("OR_FILTER", "envoy.config.accesslog.v3", "OrFilter"),
    ("HEADER_FILTER", "envoy.config.accesslog.v3", "HeaderFilter"),
    ("RESPONSE_FLAG_FILTER", "envoy.config.accesslog.v3", "ResponseFlagFilter"),
    ("RUNTIME_UINT32", "envoy.config.core.v3", "RuntimeUInt32"),
    ("SUBSTITUTION_FORMAT_STRING", "envoy.config.core.v3", "SubstitutionFormatString"),
    ("FILE_ACCESS_LOG", "envoy.extensions.access_loggers.file.v3", "FileAccessLog"),
    ("STDOUT_ACCESS_LOG", "envoy.extensions.access_loggers.stream.v3", "StdoutAccessLog"),
    ("STDERR_ACCESS_LOG", "envoy.extensions.access_loggers.stream.v3", "StderrAccessLog"),
    ("LOCAL_REPLY_CONFIG", "envoy.extensions.filters.network.http_connection_manager.v3", "LocalReplyConfig"),
    ("RESPONSE_MAPPER", "envoy.extensions.filters.network.http_connection_manager.v3", "ResponseMapper"),
]


def snake(camel):
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel)
    return s.lower()


def block(lines, start):
    """Lines of the item opening at `start` up to its closing brace (same indentation)."""
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while not (lines[end].startswith(" " * indent + "}") and
               len(lines[end]) - len(lines[end].lstrip()) == indent):
        end += 1
    return lines[start:end + 1], indent


def find(lines, path, kind):
    parts = path.split("::")
    lo, hi, indent = 0, len(lines), 0
    for i, part in enumerate(parts):
        is_last = i == len(parts) - 1
        pat = ("pub %s %s {" % (kind, part)) if is_last else ("pub mod %s {" % part)
        for j in range(lo, hi):
            if is_last and lines[j] == " " * indent + pat + "}":
                return [lines[j]]
            if lines[j] == " " * indent + pat:
                blk, _ = block(lines, j)
                lo, hi = j, j + len(blk)
                indent += 4
                break
        else:
            raise SystemExit("not found: %s %s" % (kind, path))
    return lines[lo:hi]


def fields(lines, path):
    body = find(lines, path, "struct")
    out = []
    pending_oneof = None
    for line in body[1:]:
        m = re.match(r'\s*(?:#\[prost\()?oneof = "([\w:]+)"', line)
        if m:
            pending_oneof = m.group(1)
            continue
        m = re.match(r"\s*pub (?:r#)?(\w+):", line)
        if m:
            if pending_oneof:
                # prost writes the oneof type relative to the message's module
                base = path.split("::")[:-1]
                enum_path = "::".join(base + pending_oneof.split("::"))
                enum = find(lines, enum_path, "enum")
                for el in enum[1:]:
                    vm = re.match(r"\s*(\w+)\(", el)
                    if vm:
                        out.append(snake(vm.group(1)))
                pending_oneof = None
            else:
                out.append(m.group(1))
    return out


print("//! Every field name of the Envoy v3 messages Sluice decodes, generated from Envoy's protos")
print("//! (via the prost code of the `envoy-types` crate) by `config/tools/gen_schema.py`.")
print("//! A decoder tells \"unknown field\" from \"not supported yet\" with these lists.")
print()
for const, stem, path in MESSAGES:
    lines = open("%s/%s.rs" % (GEN, stem)).read().split("\n")
    names = fields(lines, path)
    print("/// All fields of `%s.%s`." % (stem[len("envoy."):].replace("r#", ""),
                                          path.replace("::", ".").split(".")[-1]))
    print("pub(crate) const %s: &[&str] = &[" % const)
    for n in names:
        print('    "%s",' % n)
    print("];")
    print()
