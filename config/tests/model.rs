//! The lowered model of `fixtures/ok/full.yaml`: every supported field lands where the proxy
//! expects it, with Envoy's defaults where the file is silent; the lowerCamelCase JSON twin
//! lowers to the same model.

use std::path::Path;
use std::time::Duration;

use sluice_config::*;

fn fixture(name: &str) -> Loaded {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ok")
        .join(name);
    load_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn without_locs(mut b: Bootstrap) -> Bootstrap {
    if let Some(a) = &mut b.admin {
        a.loc = Loc::default();
    }
    for l in &mut b.listeners {
        l.loc = Loc::default();
    }
    for c in &mut b.clusters {
        c.loc = Loc::default();
    }
    b
}

#[test]
fn full_yaml_lowers_every_field() {
    let loaded = fixture("full.yaml");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let b = &loaded.bootstrap;

    assert_eq!(b.node.id, "edge-1");
    assert_eq!(b.node.cluster, "edge");
    assert_eq!(b.node.locality.sub_zone, "rack-7");
    assert_eq!(b.node.metadata["canary"], serde_json::json!(true));
    let admin = b.admin.as_ref().expect("admin");
    assert_eq!(admin.address, "127.0.0.1:9901".parse().expect("addr"));
    assert_eq!(
        admin.loc,
        Loc {
            line: 9,
            column: 21
        }
    );
    assert_eq!(b.local_cluster_name.as_deref(), Some("local"));

    let http = &b.listeners[0];
    assert_eq!(http.name, "http");
    assert_eq!(http.address, "0.0.0.0:10000".parse().expect("addr"));
    assert_eq!(http.filter_chains[0].name, "main");
    let NetworkFilter::HttpConnectionManager(hcm) = &http.filter_chains[0].terminal else {
        panic!("hcm expected");
    };
    assert_eq!(hcm.stat_prefix, "ingress_http");
    assert_eq!(hcm.codec_type, CodecType::Http1);
    assert!(hcm.use_remote_address);
    assert!(!hcm.generate_request_id);
    assert_eq!(hcm.server_name, "sluice");
    assert_eq!(
        hcm.http_filters,
        vec![HttpFilter::Router(Default::default())]
    );
    let vh = &hcm.route_config.virtual_hosts[0];
    assert_eq!(hcm.route_config.name, "local_route");
    assert_eq!(vh.domains, ["api.example.com", "api.example.com:10000"]);
    let routes = &vh.routes;
    assert_eq!(routes[0].name, "exact");
    assert_eq!(routes[0].matcher.path, PathMatch::Path("/health".into()));
    assert!(!routes[0].matcher.case_sensitive);
    assert_eq!(
        routes[0].action,
        RouteAction::DirectResponse(DirectResponse {
            status: 200,
            body: Some(b"ok\n".to_vec())
        })
    );
    assert_eq!(
        routes[1].action,
        RouteAction::DirectResponse(DirectResponse {
            status: 503,
            body: Some(b"hello".to_vec())
        })
    );
    assert_eq!(
        routes[2].action,
        RouteAction::Redirect(Redirect {
            scheme: Some("https".into()),
            host: Some("new.example.com".into()),
            port: Some(8443),
            path: Some(RedirectPath::PrefixRewrite("/new".into())),
            response_code: 308,
            strip_query: true,
        })
    );
    let RouteAction::Redirect(moved) = &routes[3].action else {
        panic!()
    };
    assert_eq!(moved.response_code, 301);
    assert_eq!(moved.path, Some(RedirectPath::Path("/elsewhere".into())));
    let RouteAction::Forward(fwd) = &routes[4].action else {
        panic!()
    };
    assert!(routes[4].matcher.case_sensitive);
    assert_eq!(fwd.cluster, ClusterSpecifier::Cluster("backend".into()));
    assert_eq!(fwd.timeout, Duration::from_millis(250));
    assert_eq!(fwd.prefix_rewrite.as_deref(), Some("/"));
    assert_eq!(
        fwd.host_rewrite_literal.as_deref(),
        Some("backend.internal")
    );
    assert_eq!(
        fwd.hash_policy,
        vec![
            HashPolicy {
                kind: HashPolicyKind::Header {
                    name: "x-user".into()
                },
                terminal: false
            },
            HashPolicy {
                kind: HashPolicyKind::Cookie {
                    name: "session".into(),
                    ttl: Some(Duration::from_secs(3600)),
                    path: Some("/".into()),
                },
                terminal: true,
            },
            HashPolicy {
                kind: HashPolicyKind::SourceIp,
                terminal: false
            },
            HashPolicy {
                kind: HashPolicyKind::QueryParameter {
                    name: "user".into()
                },
                terminal: false,
            },
        ]
    );
    assert_eq!(fwd.metadata_match["version"], serde_json::json!("v1"));
    let RouteAction::Forward(last) = &routes[5].action else {
        panic!()
    };
    assert_eq!(last.timeout, Duration::ZERO);

    let tcp = &b.listeners[1];
    assert_eq!(tcp.address, "[::1]:10001".parse().expect("addr"));
    assert_eq!(tcp.filter_chains[0].name, "");
    assert_eq!(
        tcp.filter_chains[0].terminal,
        NetworkFilter::TcpProxy(TcpProxy {
            stat_prefix: "tcp".into(),
            cluster: "maglev".into(),
            idle_timeout: Duration::from_millis(30_500),
        })
    );

    let backend = &b.clusters[0];
    assert_eq!(backend.discovery, DiscoveryType::Static);
    assert_eq!(backend.connect_timeout, Duration::from_millis(1500));
    assert_eq!(backend.per_connection_buffer_limit_bytes, 32768);
    assert_eq!(
        backend.lb_policy,
        LbPolicy::LeastRequest {
            choice_count: 3,
            active_request_bias: 0.5,
            slow_start: Some(SlowStartConfig {
                slow_start_window: Duration::from_secs(10),
                aggression: 2.0,
                min_weight_percent: 20.0,
            }),
        }
    );
    assert_eq!(backend.common_lb_config.healthy_panic_threshold, 25.0);
    assert!(backend.common_lb_config.locality_weighted);
    let subset = backend.lb_subset_config.as_ref().expect("subset config");
    assert_eq!(subset.fallback_policy, SubsetFallbackPolicy::DefaultSubset);
    assert_eq!(subset.default_subset["stage"], serde_json::json!("prod"));
    assert_eq!(
        subset.subset_selectors[0].fallback_policy,
        SelectorFallbackPolicy::KeysSubset
    );
    assert_eq!(subset.subset_selectors[0].fallback_keys_subset, ["stage"]);
    assert!(subset.subset_selectors[1].single_host_per_subset);
    assert!(subset.locality_weight_aware && subset.scale_locality_weight);
    assert!(subset.panic_mode_any && subset.list_as_any);
    let la = &backend.load_assignment;
    assert_eq!(la.overprovisioning_factor, 200);
    assert_eq!(la.endpoints[0].load_balancing_weight, Some(3));
    assert_eq!(la.endpoints[0].locality.zone, "eu-west-1a");
    assert_eq!(la.endpoints[0].priority, 0);
    assert_eq!(la.endpoints[1].priority, 1);
    assert_eq!(la.endpoints[1].load_balancing_weight, None);
    let e0 = &la.endpoints[0].lb_endpoints[0];
    assert_eq!(e0.address, "10.0.0.1:8080".parse().expect("addr"));
    assert_eq!(e0.hostname, "backend-1");
    assert_eq!(e0.health_status, HealthStatus::Healthy);
    assert_eq!(e0.load_balancing_weight, 5);
    assert_eq!(e0.lb_metadata.len(), 2);
    assert_eq!(e0.lb_metadata["stage"], serde_json::json!("prod"));
    let e1 = &la.endpoints[0].lb_endpoints[1];
    assert_eq!(e1.health_status, HealthStatus::Degraded);
    assert_eq!(e1.load_balancing_weight, 1);

    let ring = &b.clusters[1];
    assert_eq!(ring.connect_timeout, Duration::from_secs(5));
    assert_eq!(ring.per_connection_buffer_limit_bytes, 1024 * 1024);
    assert_eq!(
        ring.lb_policy,
        LbPolicy::RingHash {
            minimum_ring_size: 512,
            maximum_ring_size: 4096,
            hash_function: HashFunction::MurmurHash2,
        }
    );
    assert_eq!(
        ring.common_lb_config.zone_aware,
        ZoneAwareLbConfig {
            routing_enabled: 80.0,
            min_cluster_size: 3,
            fail_traffic_on_panic: true
        }
    );
    assert_eq!(ring.common_lb_config.healthy_panic_threshold, 50.0);
    assert_eq!(ring.load_assignment.overprovisioning_factor, 140);
    assert_eq!(
        b.clusters[2].lb_policy,
        LbPolicy::Maglev {
            table_size: 5_000_011
        }
    );
    assert_eq!(b.clusters[3].lb_policy, LbPolicy::Random);
    assert!(b.clusters[3].load_assignment.endpoints.is_empty());
    let LbPolicy::RoundRobin {
        slow_start: Some(s),
    } = &b.clusters[4].lb_policy
    else {
        panic!("round robin with slow start expected");
    };
    assert_eq!(s.slow_start_window, Duration::from_secs(30));
    assert_eq!((s.aggression, s.min_weight_percent), (1.0, 10.0));

    assert_eq!(loaded.dump["node"]["id"], serde_json::json!("edge-1"));
    assert_eq!(
        loaded.dump["static_resources"]["clusters"][1]["ring_hash_lb_config"]["minimum_ring_size"],
        serde_json::json!(512)
    );
}

#[test]
fn camel_case_json_twin_lowers_to_the_same_model() {
    let yaml = fixture("full.yaml");
    let json = fixture("full-camel.json");
    assert!(json.warnings.is_empty(), "{:?}", json.warnings);
    assert_eq!(without_locs(yaml.bootstrap), without_locs(json.bootstrap));
}

#[test]
fn defaults_of_a_minimal_config() {
    let text = "static_resources:\n  listeners:\n  - address: {socket_address: {address: 127.0.0.1, port_value: 0}}\n    filter_chains:\n    - filters:\n      - name: envoy.filters.network.http_connection_manager\n        typed_config:\n          '@type': type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n          stat_prefix: s\n          route_config: {virtual_hosts: [{name: v, domains: ['*'], routes: [{match: {prefix: /}, route: {cluster: c}}]}]}\n          http_filters: [{name: envoy.filters.http.router}]\n  clusters: [{name: c}]\n";
    let loaded = load_str(text, "min.yaml", Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let b = loaded.bootstrap;
    assert!(b.admin.is_none());
    assert_eq!(b.node, Node::default());
    assert_eq!(b.listeners[0].name, "127.0.0.1:0");
    let NetworkFilter::HttpConnectionManager(hcm) = &b.listeners[0].filter_chains[0].terminal
    else {
        panic!()
    };
    assert_eq!(hcm.codec_type, CodecType::Auto);
    assert!(!hcm.use_remote_address);
    assert!(hcm.generate_request_id);
    assert_eq!(hcm.server_name, "envoy");
    let RouteAction::Forward(f) = &hcm.route_config.virtual_hosts[0].routes[0].action else {
        panic!()
    };
    assert_eq!(f.timeout, Duration::from_secs(15));
    assert!(f.hash_policy.is_empty() && f.metadata_match.is_empty());
    let c = &b.clusters[0];
    assert_eq!(c.lb_policy, LbPolicy::RoundRobin { slow_start: None });
    assert_eq!(c.connect_timeout, Duration::from_secs(5));
    assert!(c.lb_subset_config.is_none());
    assert_eq!(c.common_lb_config.zone_aware.min_cluster_size, 6);
    assert_eq!(c.common_lb_config.zone_aware.routing_enabled, 100.0);
}

#[test]
fn errors_display_one_per_line_sorted() {
    let text = "static_resources:\n  clusters:\n  - name: b\n    lb_policy: NOPE\n  - name: a\n    zzz: 1\nfoo: 1\n";
    let err = load_str(text, "x.yaml", Format::Yaml).expect_err("refused");
    let lines: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].starts_with(
            "x.yaml:4:16: static_resources.clusters[0].lb_policy: unknown value `NOPE`"
        )
    );
    assert!(
        lines[1].starts_with("x.yaml:6:5: static_resources.clusters[1].zzz: unknown field `zzz`")
    );
    assert!(lines[2].starts_with("x.yaml:7:1: foo: unknown field `foo`"));
    let _: &dyn std::error::Error = &err;
}

#[test]
fn load_file_reports_an_unreadable_file() {
    let err = load_file(Path::new("/nonexistent/sluice/bootstrap.yaml")).expect_err("refused");
    assert_eq!(err.0.len(), 1);
    assert!(err.0[0].message.starts_with("cannot read the config file"));
}

/// Envoy requires `runtime_key` on a `RuntimeDouble`; with no runtime layers the value in force
/// is `default_value`, so a bootstrap written as Envoy demands loads with that value.
#[test]
fn runtime_double_with_its_runtime_key_takes_the_default_value() {
    let yaml = r"
static_resources:
  clusters:
  - name: c
    type: STATIC
    lb_policy: LEAST_REQUEST
    least_request_lb_config:
      active_request_bias: {default_value: 0.5, runtime_key: upstream.lb.bias}
      slow_start_config:
        slow_start_window: 10s
        aggression: {default_value: 2.0, runtime_key: upstream.lb.aggression}
    load_assignment:
      cluster_name: c
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]
";
    let loaded = load_str(yaml, "rk.yaml", Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let LbPolicy::LeastRequest {
        active_request_bias,
        slow_start,
        ..
    } = &loaded.bootstrap.clusters[0].lb_policy
    else {
        panic!(
            "not least request: {:?}",
            loaded.bootstrap.clusters[0].lb_policy
        );
    };
    assert_eq!(*active_request_bias, 0.5);
    assert_eq!(slow_start.as_ref().map(|s| s.aggression), Some(2.0));
}

#[test]
fn local_reply_config_lowers_mappers_and_body_formats() {
    use sluice_config::access_log::{ComparisonOp, Filter, JsonTemplate, LogFormat};

    let loaded = fixture("local-reply.yaml");
    let NetworkFilter::HttpConnectionManager(hcm) =
        &loaded.bootstrap.listeners[0].filter_chains[0].terminal
    else {
        panic!("hcm expected");
    };
    let lr = hcm.local_reply_config.as_ref().expect("local_reply_config");
    assert_eq!(lr.mappers.len(), 3);

    let first = &lr.mappers[0];
    let Filter::StatusCode(c) = &first.filter else {
        panic!("status_code_filter expected, got {:?}", first.filter);
    };
    assert_eq!(
        (c.op, c.default_value, c.runtime_key.as_str()),
        (ComparisonOp::Eq, 503, "lr.503")
    );
    assert_eq!(first.status_code, Some(502));
    assert_eq!(first.body.as_deref(), Some(&b"try again later"[..]));
    assert_eq!(first.headers_to_add[0].key, "x-local-reply");
    assert_eq!(
        first.headers_to_add[0].append_action,
        AppendAction::OverwriteIfExistsOrAdd
    );
    assert!(first.body_format_override.is_none());

    let second = &lr.mappers[1];
    assert!(matches!(&second.filter, Filter::Or(f) if f.len() == 2));
    assert_eq!(
        second.body.as_deref(),
        Some(&b"body"[..]),
        "inline_bytes is base64"
    );
    let html = second.body_format_override.as_ref().expect("override");
    assert_eq!(html.content_type, "text/html; charset=UTF-8");

    let third = lr.mappers[2]
        .body_format_override
        .as_ref()
        .expect("override");
    assert_eq!(
        third.content_type, "text/plain",
        "text defaults to text/plain"
    );
    assert!(matches!(
        third.format,
        LogFormat::Text {
            omit_empty_values: true,
            ..
        }
    ));

    let json = lr.body_format.as_ref().expect("body_format");
    assert_eq!(
        json.content_type, "application/json",
        "json defaults to application/json"
    );
    let LogFormat::Json { fields, .. } = &json.format else {
        panic!("json_format expected");
    };
    let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["code", "message", "path"]);
    assert!(matches!(fields[1].1, JsonTemplate::Format(_)));
}
