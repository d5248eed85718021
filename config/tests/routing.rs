//! The lowered model of `fixtures/ok/routing.yaml`: route matching, route actions and header
//! mutations land in the model with Envoy's defaults where the file is silent.

use std::path::Path;
use std::time::Duration;

use sluice_config::*;

mod support;

fn routing() -> Loaded {
    support::ok_fixture("routing.yaml")
}

use support::first_hcm as hcm;

fn vhost<'a>(b: &'a Bootstrap, name: &str) -> &'a VirtualHost {
    hcm(b)
        .route_config
        .virtual_hosts
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no virtual host {name}"))
}

fn route<'a>(vh: &'a VirtualHost, name: &str) -> &'a Route {
    vh.routes
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no route {name}"))
}

fn string(kind: StringMatchKind, ignore_case: bool) -> StringMatcher {
    StringMatcher { kind, ignore_case }
}

fn header(name: &str, spec: HeaderMatchSpec) -> HeaderMatcher {
    HeaderMatcher {
        name: name.into(),
        spec,
        invert_match: false,
        treat_missing_header_as_empty: false,
    }
}

#[test]
fn path_specifiers() {
    let loaded = routing();
    let vh = vhost(&loaded.bootstrap, "matching");
    let regex = &route(vh, "regex").matcher;
    assert_eq!(regex.path, PathMatch::SafeRegex("^/service/.*blue$".into()));
    assert!(regex.case_sensitive);
    assert_eq!(regex.runtime_fraction, None);
    assert!(regex.headers.is_empty() && regex.query_parameters.is_empty());
    assert!(!regex.grpc);
    assert_eq!(
        route(vh, "separated").matcher.path,
        PathMatch::PathSeparatedPrefix("/api/v1".into())
    );
    assert_eq!(route(vh, "connect").matcher.path, PathMatch::Connect);
}

#[test]
fn header_matchers() {
    let loaded = routing();
    let vh = vhost(&loaded.bootstrap, "matching");
    let headers = &route(vh, "headers").matcher.headers;
    let mut prefix = header("x-prefix", HeaderMatchSpec::Prefix("pre".into()));
    prefix.invert_match = true;
    let mut suffix = header("x-suffix", HeaderMatchSpec::Suffix("suf".into()));
    suffix.treat_missing_header_as_empty = true;
    assert_eq!(
        headers,
        &[
            header("x-canary", HeaderMatchSpec::Exact("true".into())),
            header("x-regex", HeaderMatchSpec::SafeRegex("v[0-9]+".into())),
            header(
                "x-range",
                HeaderMatchSpec::Range {
                    start: -10,
                    end: 20
                }
            ),
            header("x-absent", HeaderMatchSpec::Present(false)),
            prefix,
            suffix,
            header("x-contains", HeaderMatchSpec::Contains("mid".into())),
            header(
                "x-string",
                HeaderMatchSpec::String(string(StringMatchKind::Exact("Exact".into()), true))
            ),
            header("x-present", HeaderMatchSpec::Present(true)),
        ]
    );
}

#[test]
fn query_parameter_matchers() {
    let loaded = routing();
    let vh = vhost(&loaded.bootstrap, "matching");
    let q = &route(vh, "query").matcher.query_parameters;
    let qp = |name: &str, m: Option<StringMatcher>| QueryParameterMatcher {
        name: name.into(),
        string_match: m,
    };
    assert_eq!(
        q,
        &[
            qp(
                "username",
                Some(string(StringMatchKind::Prefix("vip_".into()), false))
            ),
            qp("debug", None),
            qp("trace", None),
            qp(
                "re",
                Some(string(StringMatchKind::SafeRegex("[a-z]+".into()), false))
            ),
            qp(
                "s",
                Some(string(StringMatchKind::Suffix("x".into()), false))
            ),
            qp(
                "c",
                Some(string(StringMatchKind::Contains("y".into()), false))
            ),
        ]
    );
}

#[test]
fn runtime_fraction_and_grpc() {
    let loaded = routing();
    let vh = vhost(&loaded.bootstrap, "matching");
    let m = &route(vh, "fraction").matcher;
    assert_eq!(
        m.runtime_fraction,
        Some(RuntimeFraction {
            numerator: 25,
            denominator: 100,
            runtime_key: "routing.fraction".into(),
        })
    );
    assert!(m.grpc);
    let m = &route(vh, "fraction-million").matcher;
    assert!(!m.case_sensitive);
    assert_eq!(
        m.runtime_fraction,
        Some(RuntimeFraction {
            numerator: 5,
            denominator: 1_000_000,
            runtime_key: String::new(),
        })
    );
}

fn forward<'a>(vh: &'a VirtualHost, name: &str) -> &'a ForwardAction {
    let RouteAction::Forward(f) = &route(vh, name).action else {
        panic!("route {name} does not forward");
    };
    f
}

#[test]
fn route_action_defaults() {
    let loaded = routing();
    let f = forward(vhost(&loaded.bootstrap, "actions"), "defaults");
    assert_eq!(f.cluster, ClusterSpecifier::Cluster("a".into()));
    assert_eq!(f.cluster_not_found_response_code, 503);
    assert_eq!(f.idle_timeout, None);
    assert_eq!(f.max_stream_duration, None);
    assert_eq!(f.regex_rewrite, None);
    assert_eq!(f.host_rewrite, None);
    assert_eq!(f.retry_policy, None);
    assert!(f.request_mirror_policies.is_empty());
    assert!(f.upgrade_configs.is_empty());
}

#[test]
fn cluster_header_and_auto_host_rewrite() {
    let loaded = routing();
    let f = forward(vhost(&loaded.bootstrap, "actions"), "header");
    assert_eq!(
        f.cluster,
        ClusterSpecifier::Header("x-target-cluster".into())
    );
    assert_eq!(f.cluster_not_found_response_code, 404);
    assert_eq!(f.host_rewrite, Some(HostRewrite::Auto));
    assert_eq!(f.host_rewrite_literal, None);
}

#[test]
fn weighted_clusters() {
    let loaded = routing();
    let vh = vhost(&loaded.bootstrap, "actions");
    let f = forward(vh, "weighted");
    assert_eq!(f.cluster_not_found_response_code, 500);
    let ClusterSpecifier::Weighted(w) = &f.cluster else {
        panic!("weighted clusters expected");
    };
    assert_eq!(w.total_weight, None);
    assert_eq!(w.runtime_key_prefix.as_deref(), Some("routing.split"));
    let [a, b] = w.clusters.as_slice() else {
        panic!("two clusters expected");
    };
    assert_eq!((a.name.as_str(), a.weight), ("a", 90));
    // The cluster's criteria are merged over the route's.
    assert_eq!(a.metadata_match["version"], serde_json::json!("v2"));
    assert_eq!(a.metadata_match["stage"], serde_json::json!("prod"));
    assert_eq!(a.host_rewrite_literal.as_deref(), Some("a.internal"));
    assert_eq!(
        a.headers,
        HeaderMutations {
            request_add: vec![HeaderValueOption {
                key: "x-split".into(),
                value: "a".into(),
                parts: Vec::new(),
                append_action: AppendAction::AppendIfExistsOrAdd,
                keep_empty_value: false,
            }],
            request_remove: vec!["x-debug".into()],
            response_add: vec![HeaderValueOption {
                key: "x-served-by".into(),
                value: "a".into(),
                parts: Vec::new(),
                append_action: AppendAction::OverwriteIfExistsOrAdd,
                keep_empty_value: false,
            }],
            response_remove: vec!["server".into()],
        }
    );
    assert_eq!((b.name.as_str(), b.weight), ("b", 10));
    assert_eq!(b.metadata_match["version"], serde_json::json!("v1"));
    assert!(b.headers.is_empty());
    assert_eq!(b.host_rewrite_literal, None);

    let ClusterSpecifier::Weighted(total) = &forward(vh, "total").cluster else {
        panic!("weighted clusters expected");
    };
    assert_eq!(total.total_weight, Some(100));
    assert_eq!(total.runtime_key_prefix, None);
    assert_eq!(total.clusters[1].weight, 0);
}

#[test]
fn rewrites_and_timeouts() {
    let loaded = routing();
    let vh = vhost(&loaded.bootstrap, "actions");
    let f = forward(vh, "rewrites");
    assert_eq!(
        f.regex_rewrite,
        Some(("^/rewrites/(.*)$".into(), "/\\1".into()))
    );
    assert_eq!(f.host_rewrite, Some(HostRewrite::Header("x-host".into())));
    assert_eq!(f.idle_timeout, Some(Duration::ZERO));
    assert_eq!(f.max_stream_duration, Some(Duration::from_secs(30)));
    let f = forward(vh, "path-regex");
    assert_eq!(
        f.host_rewrite,
        Some(HostRewrite::PathRegex(
            "^/path-regex/([^/]+)".into(),
            "\\1.example.com".into()
        ))
    );
    assert_eq!(f.idle_timeout, Some(Duration::from_millis(2500)));
}

#[test]
fn retry_policy_mirrors_and_upgrades() {
    let loaded = routing();
    let vh = vhost(&loaded.bootstrap, "actions");
    let f = forward(vh, "retries");
    let r = f.retry_policy.as_ref().expect("retry policy");
    assert_eq!(
        r.retry_on,
        [
            "5xx",
            "gateway-error",
            "reset",
            "retriable-status-codes",
            "retriable-headers",
            "unavailable"
        ]
    );
    assert_eq!(r.num_retries, 3);
    assert_eq!(r.per_try_timeout, Some(Duration::from_millis(500)));
    assert_eq!(r.per_try_idle_timeout, None);
    assert!(r.previous_hosts);
    assert_eq!(r.host_selection_retry_max_attempts, 5);
    assert_eq!(r.retriable_status_codes, [503, 409]);
    assert_eq!(r.base_interval, Duration::from_millis(100));
    assert_eq!(r.max_interval, Duration::from_secs(1));
    assert_eq!(
        r.retriable_headers,
        [header("x-retry", HeaderMatchSpec::Exact("yes".into()))]
    );
    assert_eq!(
        r.retriable_request_headers,
        [header(
            ":method",
            HeaderMatchSpec::String(string(StringMatchKind::Exact("GET".into()), false))
        )]
    );
    assert_eq!(
        f.request_mirror_policies,
        [
            MirrorPolicy {
                cluster: MirrorCluster::Name("b".into()),
                runtime_fraction: None,
                keep_host: false
            },
            MirrorPolicy {
                cluster: MirrorCluster::Name("b".into()),
                runtime_fraction: Some(RuntimeFraction {
                    numerator: 10,
                    denominator: 10_000,
                    runtime_key: "mirror.b".into()
                }),
                keep_host: false
            },
        ]
    );
    assert_eq!(
        f.upgrade_configs,
        [
            UpgradeConfig {
                upgrade_type: "websocket".into(),
                enabled: true,
                terminate_connect: false
            },
            UpgradeConfig {
                upgrade_type: "connect".into(),
                enabled: false,
                terminate_connect: false
            },
        ]
    );

    let r = forward(vh, "retry-defaults")
        .retry_policy
        .as_ref()
        .expect("retry policy");
    assert_eq!(r.retry_on, ["connect-failure"]);
    assert_eq!(r.num_retries, 1);
    assert_eq!(r.per_try_timeout, None);
    assert!(r.previous_hosts);
    assert_eq!(r.host_selection_retry_max_attempts, 1);
    assert!(r.retriable_status_codes.is_empty());
    assert_eq!(r.base_interval, Duration::from_millis(200));
    assert_eq!(r.max_interval, Duration::from_secs(1));
    assert!(r.retriable_headers.is_empty() && r.retriable_request_headers.is_empty());
}

#[test]
fn retry_back_off_defaults() {
    // Without `retry_back_off`, Envoy's 25 ms base and 10x maximum apply.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ok/routing.yaml"),
    )
    .expect("fixture")
    .replace(
        "retry_back_off: { base_interval: 0.2s, max_interval: 1s }",
        "num_retries: 2",
    );
    let loaded = load_str(&text, "routing.yaml", Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let r = forward(vhost(&loaded.bootstrap, "actions"), "retry-defaults")
        .retry_policy
        .clone()
        .expect("retry policy");
    assert_eq!(r.num_retries, 2);
    assert_eq!(r.base_interval, Duration::from_millis(25));
    assert_eq!(r.max_interval, Duration::from_millis(250));
}

fn add(key: &str, value: &str, append_action: AppendAction) -> HeaderValueOption {
    HeaderValueOption {
        key: key.into(),
        value: value.into(),
        parts: sluice_config::parse_header_value(value).expect("a valid header value"),
        append_action,
        keep_empty_value: false,
    }
}

#[test]
fn header_mutations_at_every_level() {
    let loaded = routing();
    let b = &loaded.bootstrap;
    let rc = &hcm(b).route_config;
    let mut empty = add("x-empty", "", AppendAction::AppendIfExistsOrAdd);
    empty.keep_empty_value = true;
    assert_eq!(
        rc.headers,
        HeaderMutations {
            request_add: vec![add("x-edge", "%HOSTNAME%", AppendAction::AddIfAbsent)],
            request_remove: vec!["x-internal".into()],
            response_add: vec![
                add(
                    "x-frame-options",
                    "DENY",
                    AppendAction::OverwriteIfExistsOrAdd
                ),
                empty,
                add("x-append", "1", AppendAction::AppendIfExistsOrAdd),
                add("x-overwrite", "2", AppendAction::OverwriteIfExists),
            ],
            response_remove: vec!["x-powered-by".into(), "via".into()],
        }
    );
    // The deprecated `append` is accepted with a warning each time it is written.
    let append_warnings = loaded
        .warnings
        .iter()
        .filter(|w| w.message.contains("`append` is deprecated"))
        .count();
    assert_eq!(append_warnings, 2);

    let vh = vhost(b, "actions");
    assert_eq!(
        vh.headers,
        HeaderMutations {
            request_add: vec![add("x-vhost", "actions", AppendAction::AppendIfExistsOrAdd)],
            response_remove: vec!["x-upstream".into()],
            ..HeaderMutations::default()
        }
    );
    let r = vh.retry_policy.as_ref().expect("virtual host retry policy");
    assert_eq!(r.retry_on, ["reset"]);
    assert_eq!(r.num_retries, 2);
    assert!(vhost(b, "matching").retry_policy.is_none());
    assert!(vhost(b, "matching").headers.is_empty());

    let route = route(vh, "defaults");
    assert_eq!(
        route.headers,
        HeaderMutations {
            request_remove: vec!["x-debug".into()],
            response_add: vec![add(
                "x-route",
                "defaults",
                AppendAction::AppendIfExistsOrAdd
            )],
            ..HeaderMutations::default()
        }
    );
}
