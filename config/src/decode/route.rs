//! `RouteConfiguration`, `VirtualHost`, `Route` and the route actions.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::{ClusterRef, Cx, Msg, filters, headers, matcher, required_name, retry};
use crate::model::{
    ClusterSpecifier, ClusterWeight, CorsPolicy, DirectResponse, ForwardAction, HashPolicy,
    HashPolicyKind, HostRewrite, Loc, MirrorCluster, MirrorPolicy, PathMatch, Redirect,
    RedirectPath, Route, RouteAction, RouteConfiguration, RouteMatch, UpgradeConfig, VirtualHost,
    WeightedClusters,
};
use crate::schema;
use crate::tree::Node as TNode;

/// Envoy's default route timeout.
const ROUTE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(15);

/// Envoy's default `max_direct_response_body_size_bytes`.
const DIRECT_RESPONSE_BODY_BYTES_MAX: usize = 4096;

pub(super) fn route_configuration(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
) -> Option<RouteConfiguration> {
    let m = cx.message(n, path, &schema::ROUTE_CONFIGURATION)?;
    let name = m
        .get("name")
        .and_then(|v| cx.string(v, &m.path("name")))
        .unwrap_or_default();
    let mut virtual_hosts = Vec::new();
    let mut ok = true;
    let mut domains: HashMap<String, Loc> = HashMap::new();
    if let Some(list) = m.get("virtual_hosts") {
        for (v, p) in cx.list(list, &m.path("virtual_hosts")) {
            match virtual_host(cx, v, &p, &mut domains) {
                Some(vh) => virtual_hosts.push(vh),
                None => ok = false,
            }
        }
    }
    let headers = headers::mutations(cx, &m);
    ok.then_some(RouteConfiguration {
        name,
        virtual_hosts,
        headers: headers?,
    })
}

fn virtual_host(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
    seen: &mut HashMap<String, Loc>,
) -> Option<VirtualHost> {
    let m = cx.message(n, path, &schema::VIRTUAL_HOST)?;
    let name = match m.get("name") {
        Some(v) => cx.string(v, &m.path("name")),
        None => {
            cx.missing(&m, "name");
            None
        }
    };
    let domains = match m.get("domains") {
        Some(v) => {
            let dpath = m.path("domains");
            let list = cx.strings(v, &dpath);
            if list.is_empty() {
                cx.error(
                    v.loc,
                    &dpath,
                    "a virtual host needs at least one domain (`*` matches all)",
                );
            }
            for d in &list {
                let key = d.to_ascii_lowercase();
                if let Some(first) = seen.get(&key) {
                    cx.error(
                        v.loc,
                        &dpath,
                        format!(
                            "domain `{d}` is already used by the virtual host at line {}:{}; each domain may appear once per route configuration",
                            first.line, first.column
                        ),
                    );
                } else {
                    seen.insert(key, m.loc);
                }
            }
            Some(list)
        }
        None => {
            cx.missing(&m, "domains");
            None
        }
    };
    let mut routes = Vec::new();
    let mut ok = true;
    if let Some(list) = m.get("routes") {
        for (r, p) in cx.list(list, &m.path("routes")) {
            match route(cx, r, &p) {
                Some(r) => routes.push(r),
                None => ok = false,
            }
        }
    }
    let headers = headers::mutations(cx, &m);
    let retry_policy = match m.get("retry_policy") {
        Some(v) => retry::retry_policy(cx, v, &m.path("retry_policy")).map(Some),
        None => Some(None),
    };
    let typed_per_filter_config = filters::per_filter_configs(cx, &m);
    let cors = filters::legacy_cors(cx, &m);
    let mut flag = |field: &str| match m.get(field) {
        Some(v) => cx.boolean(v, &m.path(field)),
        None => Some(false),
    };
    let include_request_attempt_count = flag("include_request_attempt_count");
    let include_attempt_count_in_response = flag("include_attempt_count_in_response");
    let per_request_buffer_limit_bytes = buffer_limit(cx, &m);
    let domains = domains.filter(|d| !d.is_empty())?;
    ok.then_some(VirtualHost {
        name: name?,
        domains,
        routes,
        headers: headers?,
        retry_policy: retry_policy?,
        typed_per_filter_config: typed_per_filter_config?,
        cors: cors?,
        include_request_attempt_count: include_request_attempt_count?,
        include_attempt_count_in_response: include_attempt_count_in_response?,
        per_request_buffer_limit_bytes: per_request_buffer_limit_bytes?,
    })
}

/// `per_request_buffer_limit_bytes` of a virtual host or route (a `UInt32Value`; 0 means no
/// body is held at all).
fn buffer_limit(cx: &mut Cx<'_>, m: &Msg<'_>) -> Option<Option<u32>> {
    match m.get("per_request_buffer_limit_bytes") {
        Some(v) => cx
            .u32_in(v, &m.path("per_request_buffer_limit_bytes"), 0, u32::MAX)
            .map(Some),
        None => Some(None),
    }
}

fn route(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Route> {
    let m = cx.message(n, path, &schema::ROUTE)?;
    let name = m
        .get("name")
        .and_then(|v| cx.string(v, &m.path("name")))
        .unwrap_or_default();
    let matcher = match m.get("match") {
        Some(v) => route_match(cx, v, &m.path("match")),
        None => {
            cx.missing(&m, "match");
            None
        }
    };
    const ACTIONS: &[&str] = &[
        "route",
        "redirect",
        "direct_response",
        "filter_action",
        "non_forwarding_action",
    ];
    if !matcher::one_of(cx, &m, ACTIONS, "a route has one action") {
        return None;
    }
    let set = m.set_of(ACTIONS);
    let mut cors = None;
    let action = match set.first().copied() {
        Some("route") => route_action(cx, m.get("route")?, &m.path("route"), &mut cors)
            .map(|a| RouteAction::Forward(Box::new(a))),
        Some("redirect") => {
            redirect(cx, m.get("redirect")?, &m.path("redirect")).map(RouteAction::Redirect)
        }
        Some("direct_response") => {
            direct_response(cx, m.get("direct_response")?, &m.path("direct_response"))
                .map(RouteAction::DirectResponse)
        }
        _ => {
            if !ACTIONS.iter().any(|a| m.written(a)) {
                cx.error(
                    m.loc,
                    path,
                    "a route needs an action: one of `route`, `redirect`, `direct_response`",
                );
            }
            None
        }
    };
    let headers = headers::mutations(cx, &m);
    let typed_per_filter_config = filters::per_filter_configs(cx, &m);
    let per_request_buffer_limit_bytes = buffer_limit(cx, &m);
    Some(Route {
        name,
        matcher: matcher?,
        action: action?,
        headers: headers?,
        typed_per_filter_config: typed_per_filter_config?,
        cors,
        per_request_buffer_limit_bytes: per_request_buffer_limit_bytes?,
    })
}

fn route_match(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<RouteMatch> {
    let m = cx.message(n, path, &schema::ROUTE_MATCH)?;
    const SPECIFIERS: &[&str] = &[
        "prefix",
        "path",
        "safe_regex",
        "connect_matcher",
        "path_separated_prefix",
        "path_match_policy",
        "regex",
    ];
    if !matcher::one_of(cx, &m, SPECIFIERS, "a route match has one path specifier") {
        return None;
    }
    let set = m.set_of(SPECIFIERS);
    let case_sensitive = match m.get("case_sensitive") {
        Some(v) => cx.boolean(v, &m.path("case_sensitive")),
        None => Some(true),
    };
    let path_match = match set.first().copied() {
        Some(field @ ("prefix" | "path")) => {
            let v = m.get(field)?;
            let s = cx.string(v, &m.path(field))?;
            if field == "path" {
                Some(PathMatch::Path(s))
            } else {
                Some(PathMatch::Prefix(s))
            }
        }
        Some("safe_regex") => {
            matcher::regex_matcher(cx, m.get("safe_regex")?, &m.path("safe_regex"))
                .map(PathMatch::SafeRegex)
        }
        Some("connect_matcher") => cx
            .message(
                m.get("connect_matcher")?,
                &m.path("connect_matcher"),
                &schema::CONNECT_MATCHER,
            )
            .map(|_| PathMatch::Connect),
        Some("path_separated_prefix") => path_separated_prefix(
            cx,
            m.get("path_separated_prefix")?,
            &m.path("path_separated_prefix"),
        )
        .map(PathMatch::PathSeparatedPrefix),
        _ => {
            if !SPECIFIERS.iter().any(|s| m.written(s)) {
                cx.error(
                    m.loc,
                    path,
                    "a route match needs a path specifier: `prefix`, `path`, `safe_regex`, `path_separated_prefix` or `connect_matcher`",
                );
            }
            None
        }
    };
    let runtime_fraction = match m.get("runtime_fraction") {
        Some(v) => matcher::runtime_fraction(cx, v, &m.path("runtime_fraction")).map(Some),
        None => Some(None),
    };
    let headers = matcher::header_matchers(cx, &m, "headers");
    let mut ok = true;
    let mut query_parameters = Vec::new();
    if let Some(list) = m.get("query_parameters") {
        for (q, p) in cx.list(list, &m.path("query_parameters")) {
            match matcher::query_parameter_matcher(cx, q, &p) {
                Some(q) => query_parameters.push(q),
                None => ok = false,
            }
        }
    }
    let grpc = match m.get("grpc") {
        Some(v) => cx
            .message(v, &m.path("grpc"), &schema::GRPC_ROUTE_MATCH_OPTIONS)
            .map(|_| true),
        None => Some(false),
    };
    if !ok {
        return None;
    }
    Some(RouteMatch {
        path: path_match?,
        case_sensitive: case_sensitive?,
        runtime_fraction: runtime_fraction?,
        headers: headers?,
        query_parameters,
        grpc: grpc?,
    })
}

/// `path_separated_prefix`: a path without query or fragment, not ending in `/` (Envoy's
/// `^[^?#]+[^?#/]$`), and starting with `/` since it is compared to the request's path.
fn path_separated_prefix(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<String> {
    let s = cx.string(n, path)?;
    let why = if !s.starts_with('/') {
        Some("must start with `/`")
    } else if s.contains(['?', '#']) {
        Some("must not contain `?` or `#` (it is matched against the path without its query)")
    } else if s.ends_with('/') {
        Some("must not end with `/` (the separator is implied; use `prefix` to match `/a/`)")
    } else {
        None
    };
    if let Some(why) = why {
        cx.error(n.loc, path, format!("`{s}`: a path-separated prefix {why}"));
        return None;
    }
    Some(s)
}

fn optional_string(cx: &mut Cx<'_>, m: &Msg<'_>, field: &str) -> Option<Option<String>> {
    match m.get(field) {
        Some(v) => cx.string(v, &m.path(field)).map(Some),
        None => Some(None),
    }
}

/// `RouteAction`; its legacy `cors` policy goes to `cors` (the model keeps it on the route).
fn route_action(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
    cors: &mut Option<Box<CorsPolicy>>,
) -> Option<ForwardAction> {
    let m = cx.message(n, path, &schema::ROUTE_ACTION)?;
    let mut ok = true;
    match filters::legacy_cors(cx, &m) {
        Some(c) => *cors = c,
        None => ok = false,
    }
    let metadata_match = m
        .get("metadata_match")
        .map(|v| cx.lb_metadata(v, &m.path("metadata_match")))
        .unwrap_or_default();
    const SPECIFIERS: &[&str] = &[
        "cluster",
        "cluster_header",
        "weighted_clusters",
        "cluster_specifier_plugin",
        "inline_cluster_specifier_plugin",
    ];
    ok &= matcher::one_of(
        cx,
        &m,
        SPECIFIERS,
        "a route action has one cluster specifier",
    );
    let cluster = match m.set_of(SPECIFIERS).first().copied() {
        Some("cluster") => {
            let v = m.get("cluster")?;
            let p = m.path("cluster");
            let name = cx.string(v, &p);
            if let Some(name) = &name {
                cx.cluster_refs.push(ClusterRef {
                    name: name.clone(),
                    loc: v.loc,
                    path: p,
                });
            }
            name.map(ClusterSpecifier::Cluster)
        }
        Some("cluster_header") => {
            matcher::header_name(cx, m.get("cluster_header")?, &m.path("cluster_header"))
                .map(ClusterSpecifier::Header)
        }
        Some("weighted_clusters") => weighted_clusters(
            cx,
            m.get("weighted_clusters")?,
            &m.path("weighted_clusters"),
            &metadata_match,
        )
        .map(ClusterSpecifier::Weighted),
        _ => {
            if !SPECIFIERS.iter().any(|o| m.written(o)) {
                cx.missing(&m, "cluster");
            }
            None
        }
    };
    let cluster_not_found_response_code = match m.get("cluster_not_found_response_code") {
        Some(v) => cx
            .enumeration(
                v,
                &m.path("cluster_not_found_response_code"),
                &[
                    ("SERVICE_UNAVAILABLE", 0),
                    ("NOT_FOUND", 1),
                    ("INTERNAL_SERVER_ERROR", 2),
                ],
            )
            .map(|c| match c {
                "NOT_FOUND" => 404,
                "INTERNAL_SERVER_ERROR" => 500,
                _ => 503,
            }),
        None => Some(503),
    };
    let timeout = match m.get("timeout") {
        Some(v) => cx.duration(v, &m.path("timeout")),
        None => Some(ROUTE_TIMEOUT_DEFAULT),
    };
    let idle_timeout = match m.get("idle_timeout") {
        Some(v) => cx.duration(v, &m.path("idle_timeout")).map(Some),
        None => Some(None),
    };
    let max_stream_duration = match m.get("max_stream_duration") {
        Some(v) => max_stream_duration(cx, v, &m.path("max_stream_duration")),
        None => Some(None),
    };
    let prefix_rewrite = optional_string(cx, &m, "prefix_rewrite");
    let regex_rewrite = match m.get("regex_rewrite") {
        Some(v) => matcher::regex_substitution(cx, v, &m.path("regex_rewrite")).map(Some),
        None => Some(None),
    };
    if m.get("prefix_rewrite").is_some() && m.get("regex_rewrite").is_some() {
        cx.error(
            m.key_loc("regex_rewrite"),
            &m.path("regex_rewrite"),
            "only one of `prefix_rewrite` and `regex_rewrite` may be set (Envoy refuses both)",
        );
        ok = false;
    }
    const HOST_REWRITES: &[&str] = &[
        "host_rewrite_literal",
        "auto_host_rewrite",
        "host_rewrite_header",
        "host_rewrite_path_regex",
    ];
    ok &= matcher::one_of(cx, &m, HOST_REWRITES, "a route action has one host rewrite");
    let host_rewrite_literal = optional_string(cx, &m, "host_rewrite_literal");
    let host_rewrite = host_rewrite(cx, &m);
    let retry_policy = match m.get("retry_policy") {
        Some(v) => retry::retry_policy(cx, v, &m.path("retry_policy")).map(Some),
        None => Some(None),
    };
    let mut request_mirror_policies = Vec::new();
    if let Some(list) = m.get("request_mirror_policies") {
        for (p, ppath) in cx.list(list, &m.path("request_mirror_policies")) {
            match mirror_policy(cx, p, &ppath) {
                Some(p) => request_mirror_policies.push(p),
                None => ok = false,
            }
        }
    }
    let upgrade_configs = match m.get("upgrade_configs") {
        Some(list) => upgrade_configs(
            cx,
            list,
            &m.path("upgrade_configs"),
            &schema::UPGRADE_CONFIG,
        ),
        None => Some(Vec::new()),
    };
    let mut hash_policy = Vec::new();
    if let Some(list) = m.get("hash_policy") {
        for (h, p) in cx.list(list, &m.path("hash_policy")) {
            match hash_policy_entry(cx, h, &p) {
                Some(Some(h)) => hash_policy.push(h),
                Some(None) => {}
                None => ok = false,
            }
        }
    }
    let priority = match m.get("priority") {
        Some(v) => routing_priority(cx, v, &m.path("priority")),
        None => Some(sluice_lb::breaker::Priority::Default),
    };
    if !ok {
        return None;
    }
    Some(ForwardAction {
        cluster: cluster?,
        cluster_not_found_response_code: cluster_not_found_response_code?,
        timeout: timeout?,
        idle_timeout: idle_timeout?,
        max_stream_duration: max_stream_duration?,
        prefix_rewrite: prefix_rewrite?,
        regex_rewrite: regex_rewrite?,
        host_rewrite_literal: host_rewrite_literal?,
        host_rewrite: host_rewrite?,
        retry_policy: retry_policy?,
        request_mirror_policies,
        upgrade_configs: upgrade_configs?,
        hash_policy,
        priority: priority?,
        metadata_match,
    })
}

/// A `config.core.v3.RoutingPriority`.
pub(super) fn routing_priority(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
) -> Option<sluice_lb::breaker::Priority> {
    use sluice_lb::breaker::Priority;
    match cx.enumeration(n, path, &[("DEFAULT", 0), ("HIGH", 1)])? {
        "HIGH" => Some(Priority::High),
        _ => Some(Priority::Default),
    }
}

/// `auto_host_rewrite`, `host_rewrite_header` or `host_rewrite_path_regex` of a route action.
fn host_rewrite(cx: &mut Cx<'_>, m: &Msg<'_>) -> Option<Option<HostRewrite>> {
    if let Some(v) = m.get("auto_host_rewrite") {
        let on = cx.boolean(v, &m.path("auto_host_rewrite"))?;
        return Some(on.then_some(HostRewrite::Auto));
    }
    if let Some(v) = m.get("host_rewrite_header") {
        let name = matcher::header_name(cx, v, &m.path("host_rewrite_header"))?;
        return Some(Some(HostRewrite::Header(name)));
    }
    if let Some(v) = m.get("host_rewrite_path_regex") {
        let (pattern, substitution) =
            matcher::regex_substitution(cx, v, &m.path("host_rewrite_path_regex"))?;
        return Some(Some(HostRewrite::PathRegex(pattern, substitution)));
    }
    Some(None)
}

/// `max_stream_duration.max_stream_duration`; `Some(ZERO)` disables the HCM's limit.
fn max_stream_duration(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Option<Duration>> {
    let m = cx.message(n, path, &schema::MAX_STREAM_DURATION)?;
    match m.get("max_stream_duration") {
        Some(v) => cx.duration(v, &m.path("max_stream_duration")).map(Some),
        None => Some(None),
    }
}

/// `weighted_clusters`; `route_metadata` is the route's `metadata_match`, which each cluster's
/// own criteria are merged over (as Envoy does).
fn weighted_clusters(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
    route_metadata: &BTreeMap<String, serde_json::Value>,
) -> Option<WeightedClusters> {
    let m = cx.message(n, path, &schema::WEIGHTED_CLUSTER)?;
    let total_weight = match m.get("total_weight") {
        Some(v) => cx.u32_in(v, &m.path("total_weight"), 1, u32::MAX).map(Some),
        None => Some(None),
    };
    let runtime_key_prefix = optional_string(cx, &m, "runtime_key_prefix");
    let Some(list) = m.get("clusters") else {
        cx.missing(&m, "clusters");
        return None;
    };
    let cpath = m.path("clusters");
    let items = cx.list(list, &cpath);
    if items.is_empty() {
        cx.error(
            list.loc,
            &cpath,
            "weighted clusters need at least one cluster",
        );
        return None;
    }
    let mut clusters = Vec::with_capacity(items.len());
    let mut ok = true;
    for (c, p) in items {
        match cluster_weight(cx, c, &p, route_metadata) {
            Some(c) => clusters.push(c),
            None => ok = false,
        }
    }
    let total_weight = total_weight?;
    if !ok {
        return None;
    }
    let sum: u64 = clusters.iter().map(|c| u64::from(c.weight)).sum();
    if sum > u64::from(u32::MAX) {
        cx.error(
            list.loc,
            &cpath,
            format!("the weights add up to {sum}, more than {}", u32::MAX),
        );
        return None;
    }
    if sum == 0 {
        cx.error(
            list.loc,
            &cpath,
            "the weights add up to 0; at least one cluster needs a weight above 0",
        );
        return None;
    }
    // Envoy no longer checks `total_weight` against the sum (it only needs a positive sum
    // that fits in 32 bits): a request picks `random % sum` whatever `total_weight` says.
    Some(WeightedClusters {
        clusters,
        total_weight,
        runtime_key_prefix: runtime_key_prefix?,
    })
}

fn cluster_weight(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
    route_metadata: &BTreeMap<String, serde_json::Value>,
) -> Option<ClusterWeight> {
    let m = cx.message(n, path, &schema::CLUSTER_WEIGHT)?;
    let name = match m.get("name") {
        Some(v) => {
            let p = m.path("name");
            let name = required_name(cx, &m, "name");
            if let Some(name) = &name {
                cx.cluster_refs.push(ClusterRef {
                    name: name.clone(),
                    loc: v.loc,
                    path: p,
                });
            }
            name
        }
        None => {
            if !m.written("cluster_header") {
                cx.missing(&m, "name");
            }
            None
        }
    };
    let weight = match m.get("weight") {
        Some(v) => cx.u32_in(v, &m.path("weight"), 0, u32::MAX),
        None => Some(0),
    };
    let mut metadata_match = route_metadata.clone();
    if let Some(v) = m.get("metadata_match") {
        metadata_match.extend(cx.lb_metadata(v, &m.path("metadata_match")));
    }
    let headers = headers::mutations(cx, &m);
    let host_rewrite_literal = optional_string(cx, &m, "host_rewrite_literal");
    Some(ClusterWeight {
        name: name?,
        weight: weight?,
        metadata_match,
        headers: headers?,
        host_rewrite_literal: host_rewrite_literal?,
    })
}

/// One of `request_mirror_policies`.
fn mirror_policy(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<MirrorPolicy> {
    let m = cx.message(n, path, &schema::REQUEST_MIRROR_POLICY)?;
    const SPECIFIERS: &[&str] = &["cluster", "cluster_header"];
    if !matcher::one_of(
        cx,
        &m,
        SPECIFIERS,
        "a mirror policy names its cluster once, by `cluster` or `cluster_header`",
    ) {
        return None;
    }
    let cluster = match m.set_of(SPECIFIERS).first().copied() {
        Some("cluster") => {
            let v = m.get("cluster")?;
            let name = required_name(cx, &m, "cluster");
            if let Some(name) = &name {
                cx.cluster_refs.push(ClusterRef {
                    name: name.clone(),
                    loc: v.loc,
                    path: m.path("cluster"),
                });
            }
            name.map(MirrorCluster::Name)
        }
        Some("cluster_header") => {
            matcher::header_name(cx, m.get("cluster_header")?, &m.path("cluster_header"))
                .map(|h| MirrorCluster::Header(h.to_ascii_lowercase()))
        }
        _ => {
            cx.missing(&m, "cluster");
            None
        }
    };
    let keep_host = match m.get("disable_shadow_host_suffix_append") {
        Some(v) => cx.boolean(v, &m.path("disable_shadow_host_suffix_append")),
        None => Some(false),
    };
    let runtime_fraction = match m.get("runtime_fraction") {
        Some(v) => matcher::runtime_fraction(cx, v, &m.path("runtime_fraction")).map(Some),
        None => Some(None),
    };
    Some(MirrorPolicy {
        cluster: cluster?,
        runtime_fraction: runtime_fraction?,
        keep_host: keep_host?,
    })
}

/// `upgrade_configs`: each upgrade type at most once, as Envoy requires.
pub(super) fn upgrade_configs(
    cx: &mut Cx<'_>,
    list: &TNode,
    path: &str,
    spec: &schema::Spec,
) -> Option<Vec<UpgradeConfig>> {
    let mut out: Vec<UpgradeConfig> = Vec::new();
    let mut ok = true;
    for (u, p) in cx.list(list, path) {
        let Some(m) = cx.message(u, &p, spec) else {
            ok = false;
            continue;
        };
        let upgrade_type = match m.get("upgrade_type") {
            Some(_) => required_name(cx, &m, "upgrade_type").map(|t| t.to_ascii_lowercase()),
            None => {
                cx.missing(&m, "upgrade_type");
                None
            }
        };
        let enabled = match m.get("enabled") {
            Some(v) => cx.boolean(v, &m.path("enabled")),
            None => Some(true),
        };
        let terminate_connect = match m.get("connect_config") {
            Some(v) => connect_config(cx, v, &m.path("connect_config"), upgrade_type.as_deref()),
            None => Some(false),
        };
        let (Some(upgrade_type), Some(enabled), Some(terminate_connect)) =
            (upgrade_type, enabled, terminate_connect)
        else {
            ok = false;
            continue;
        };
        if out.iter().any(|c| c.upgrade_type == upgrade_type) {
            cx.error(
                m.key_loc("upgrade_type"),
                &m.path("upgrade_type"),
                format!("duplicate upgrade `{upgrade_type}`; each upgrade type may appear once"),
            );
            ok = false;
            continue;
        }
        out.push(UpgradeConfig {
            upgrade_type,
            enabled,
            terminate_connect,
        });
    }
    ok.then_some(out)
}

/// A route's `connect_config`: only for the CONNECT upgrade (Envoy: "Non-CONNECT upgrade type
/// ... has ConnectConfig"); a POST tunnel (`allow_post: true`) is not supported yet.
fn connect_config(
    cx: &mut Cx<'_>,
    v: &TNode,
    path: &str,
    upgrade_type: Option<&str>,
) -> Option<bool> {
    let m = cx.message(v, path, &schema::CONNECT_CONFIG)?;
    if let Some(t) = upgrade_type.filter(|t| *t != "connect") {
        cx.error(
            v.loc,
            path,
            format!("non-CONNECT upgrade type `{t}` has a `connect_config`; only `CONNECT` may"),
        );
        return None;
    }
    if let Some(p) = m.get("allow_post")
        && cx.boolean(p, &m.path("allow_post"))?
    {
        cx.error(
            p.loc,
            &m.path("allow_post"),
            "`allow_post: true` (a TCP tunnel carried in a POST body) is not supported yet",
        );
        return None;
    }
    Some(true)
}

/// One hash policy; `Some(None)` for a policy that hashes nothing (`source_ip: false`).
fn hash_policy_entry(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Option<HashPolicy>> {
    let m = cx.message(n, path, &schema::HASH_POLICY)?;
    const KINDS: &[&str] = &[
        "header",
        "cookie",
        "connection_properties",
        "query_parameter",
        "filter_state",
    ];
    if !matcher::one_of(cx, &m, KINDS, "a hash policy has one policy specifier") {
        return None;
    }
    let set = m.set_of(KINDS);
    let terminal = match m.get("terminal") {
        Some(v) => cx.boolean(v, &m.path("terminal"))?,
        None => false,
    };
    let Some(kind) = set.first().copied() else {
        if !KINDS.iter().any(|k| m.written(k)) {
            cx.error(
                m.loc,
                path,
                "a hash policy needs one of `header`, `cookie`, `connection_properties`, `query_parameter`",
            );
        }
        return None;
    };
    let v = m.get(kind)?;
    let kpath = m.path(kind);
    let kind = match kind {
        "header" => {
            let h = cx.message(v, &kpath, &schema::HASH_POLICY_HEADER)?;
            let name = required_name(cx, &h, "header_name")?;
            HashPolicyKind::Header {
                name: name.to_ascii_lowercase(),
            }
        }
        "cookie" => {
            let c = cx.message(v, &kpath, &schema::HASH_POLICY_COOKIE)?;
            let name = required_name(cx, &c, "name");
            let ttl = match c.get("ttl") {
                Some(t) => Some(cx.duration(t, &c.path("ttl"))?),
                None => None,
            };
            let cookie_path = optional_string(cx, &c, "path")?;
            HashPolicyKind::Cookie {
                name: name?,
                ttl,
                path: cookie_path,
            }
        }
        "connection_properties" => {
            let c = cx.message(v, &kpath, &schema::HASH_POLICY_CONNECTION_PROPERTIES)?;
            let source_ip = match c.get("source_ip") {
                Some(s) => cx.boolean(s, &c.path("source_ip"))?,
                None => false,
            };
            if !source_ip {
                cx.warn(
                    c.loc,
                    &kpath,
                    "`source_ip` is false, so this hash policy hashes nothing (as in Envoy)",
                );
                return Some(None);
            }
            HashPolicyKind::SourceIp
        }
        _ => {
            let q = cx.message(v, &kpath, &schema::HASH_POLICY_QUERY_PARAMETER)?;
            HashPolicyKind::QueryParameter {
                name: required_name(cx, &q, "name")?,
            }
        }
    };
    Some(Some(HashPolicy { kind, terminal }))
}

fn redirect(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Redirect> {
    let m = cx.message(n, path, &schema::REDIRECT_ACTION)?;
    let mut ok = true;
    let schemes = m.set_of(&["https_redirect", "scheme_redirect"]);
    if schemes.len() > 1 {
        cx.error(
            m.key_loc(schemes[1]),
            &m.path(schemes[1]),
            "only one of `https_redirect` and `scheme_redirect` may be set",
        );
        ok = false;
    }
    let mut scheme = None;
    if let Some(v) = m.get("https_redirect") {
        match cx.boolean(v, &m.path("https_redirect")) {
            Some(true) => scheme = Some("https".to_owned()),
            Some(false) => {}
            None => ok = false,
        }
    }
    if let Some(v) = m.get("scheme_redirect") {
        match cx.string(v, &m.path("scheme_redirect")) {
            Some(s) => scheme = Some(s.to_ascii_lowercase()),
            None => ok = false,
        }
    }
    let host = optional_string(cx, &m, "host_redirect");
    let port = match m.get("port_redirect") {
        Some(v) => cx
            .u32_in(v, &m.path("port_redirect"), 0, 65535)
            .and_then(|p| u16::try_from(p).ok())
            .map(|p| (p != 0).then_some(p)),
        None => Some(None),
    };
    let paths = m.set_of(&[
        "path_redirect",
        "prefix_rewrite",
        "regex_rewrite",
        "path_rewrite",
    ]);
    if paths.len() > 1 {
        cx.error(
            m.key_loc(paths[1]),
            &m.path(paths[1]),
            format!(
                "only one path rewrite may be set; `{}` is already set",
                paths[0]
            ),
        );
        ok = false;
    }
    let mut rpath = None;
    if let Some(v) = m.get("path_redirect") {
        match cx.string(v, &m.path("path_redirect")) {
            Some(s) => rpath = Some(RedirectPath::Path(s)),
            None => ok = false,
        }
    }
    if let Some(v) = m.get("prefix_rewrite") {
        match cx.string(v, &m.path("prefix_rewrite")) {
            Some(s) => rpath = Some(RedirectPath::PrefixRewrite(s)),
            None => ok = false,
        }
    }
    let response_code = match m.get("response_code") {
        Some(v) => match cx.enumeration(
            v,
            &m.path("response_code"),
            &[
                ("MOVED_PERMANENTLY", 0),
                ("FOUND", 1),
                ("SEE_OTHER", 2),
                ("TEMPORARY_REDIRECT", 3),
                ("PERMANENT_REDIRECT", 4),
            ],
        ) {
            Some("FOUND") => Some(302),
            Some("SEE_OTHER") => Some(303),
            Some("TEMPORARY_REDIRECT") => Some(307),
            Some("PERMANENT_REDIRECT") => Some(308),
            Some(_) => Some(301),
            None => None,
        },
        None => Some(301),
    };
    let strip_query = match m.get("strip_query") {
        Some(v) => cx.boolean(v, &m.path("strip_query")),
        None => Some(false),
    };
    if !ok {
        return None;
    }
    Some(Redirect {
        scheme,
        host: host?,
        port: port?,
        path: rpath,
        response_code: response_code?,
        strip_query: strip_query?,
    })
}

fn direct_response(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<DirectResponse> {
    let m = cx.message(n, path, &schema::DIRECT_RESPONSE_ACTION)?;
    let status = match m.get("status") {
        Some(v) => cx
            .u32_in(v, &m.path("status"), 100, 599)
            .and_then(|s| u16::try_from(s).ok()),
        None => {
            cx.missing(&m, "status");
            None
        }
    };
    let body = match m.get("body") {
        Some(v) => Some(data_source(cx, v, &m.path("body"))?),
        None => None,
    };
    Some(DirectResponse {
        status: status?,
        body,
    })
}

/// `config.core.v3.DataSource`: the bytes, read now for `filename`.
fn data_source(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Vec<u8>> {
    let m = cx.message(n, path, &schema::DATA_SOURCE)?;
    const KINDS: &[&str] = &[
        "filename",
        "inline_bytes",
        "inline_string",
        "environment_variable",
    ];
    if !matcher::one_of(cx, &m, KINDS, "a data source has one specifier") {
        return None;
    }
    let set = m.set_of(KINDS);
    let Some(kind) = set.first().copied() else {
        if !KINDS.iter().any(|k| m.written(k)) && !m.written("watched_directory") {
            cx.error(
                m.loc,
                path,
                "a data source needs one of `inline_string`, `inline_bytes`, `filename`",
            );
        }
        return None;
    };
    let v = m.get(kind)?;
    let kpath = m.path(kind);
    let text = cx.string(v, &kpath)?;
    let bytes = match kind {
        "inline_string" => text.into_bytes(),
        "inline_bytes" => match decode_base64(&text) {
            Some(b) => b,
            None => {
                cx.error(
                    v.loc,
                    &kpath,
                    "`inline_bytes` must be base64 (proto3 JSON bytes)",
                );
                return None;
            }
        },
        _ => match std::fs::read(&text) {
            Ok(b) => b,
            Err(e) => {
                cx.error(v.loc, &kpath, format!("cannot read `{text}`: {e}"));
                return None;
            }
        },
    };
    if bytes.len() > DIRECT_RESPONSE_BODY_BYTES_MAX {
        cx.error(
            v.loc,
            &kpath,
            format!(
                "the body is {} bytes; Envoy's limit for a direct response body is {DIRECT_RESPONSE_BODY_BYTES_MAX} bytes",
                bytes.len()
            ),
        );
        return None;
    }
    Some(bytes)
}

/// Standard or URL-safe base64, padding optional (what proto3 JSON parsers accept).
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let trimmed = text.trim_end_matches('=');
    for c in trimmed.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    // Leftover bits must be padding zeros, and a lone sextet cannot encode a byte.
    if bits >= 6 {
        return None;
    }
    Some(out)
}
