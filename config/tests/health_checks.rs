//! A cluster's `health_checks` (Envoy's `config.core.v3.HealthCheck`) lowers to
//! `Cluster.health_check` with Envoy's defaults filled in, and is refused, with the position of
//! the offending field, where Envoy refuses it or Sluice does not support it yet.

use std::time::Duration;

use sluice_config::*;

mod support;

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn health_check<'a>(b: &'a Bootstrap, cluster: &str) -> Option<&'a HealthCheck> {
    b.clusters
        .iter()
        .find(|c| c.name == cluster)
        .unwrap_or_else(|| panic!("no cluster {cluster}"))
        .health_check
        .as_ref()
}

fn http(hc: &HealthCheck) -> &HttpHealthCheck {
    match &hc.kind {
        HealthCheckKind::Http(h) => h,
        other => panic!("an HTTP health check expected, found {other:?}"),
    }
}

/// The seed form: thresholds 2/2, `no_traffic_interval` written, every other field Envoy's
/// default, and `expected_statuses` written as one mapping.
#[test]
fn seed_form_fills_every_default() {
    let loaded = support::ok_fixture("health-checks.yaml");
    let hc = health_check(&loaded.bootstrap, "seed").expect("health check");
    assert_eq!(
        *hc,
        HealthCheck {
            timeout: s(5),
            interval: s(10),
            initial_jitter: Duration::ZERO,
            interval_jitter: Duration::ZERO,
            interval_jitter_percent: 0,
            unhealthy_threshold: 2,
            healthy_threshold: 2,
            reuse_connection: true,
            event_log_path: None,
            always_log_health_check_failures: false,
            no_traffic_interval: s(10),
            no_traffic_healthy_interval: s(10),
            unhealthy_interval: s(10),
            unhealthy_edge_interval: s(10),
            healthy_edge_interval: s(10),
            kind: HealthCheckKind::Http(HttpHealthCheck {
                host: String::new(),
                path: "/livez".into(),
                expected_statuses: vec![(200, 399)],
                retriable_statuses: vec![],
            }),
            loc: Loc { line: 9, column: 7 },
        }
    );
    // The single mapping is taken as a list of one, with the loader's usual note.
    let warnings: Vec<(u32, u32, &str, &str)> = loaded
        .warnings
        .iter()
        .map(|w| (w.line, w.column, w.path.as_str(), w.message.as_str()))
        .collect();
    assert_eq!(
        warnings,
        [(
            17,
            11,
            "static_resources.clusters[0].health_checks[0].http_health_check.expected_statuses",
            "expected a list, found a single mapping; taken as a list of one"
        )]
    );
}

#[test]
fn list_form_of_status_ranges_and_the_host() {
    let loaded = support::ok_fixture("health-checks.yaml");
    let h = http(health_check(&loaded.bootstrap, "list").expect("health check"));
    assert_eq!(
        *h,
        HttpHealthCheck {
            host: "health.internal".into(),
            path: "/healthz".into(),
            expected_statuses: vec![(200, 300), (304, 305)],
            retriable_statuses: vec![(503, 504), (429, 430)],
        }
    );
}

#[test]
fn tcp_connect_only_with_defaults() {
    let loaded = support::ok_fixture("health-checks.yaml");
    let hc = health_check(&loaded.bootstrap, "tcp").expect("health check");
    assert_eq!(hc.kind, HealthCheckKind::TcpConnect);
    assert_eq!((hc.timeout, hc.interval), (s(2), s(4)));
    assert_eq!((hc.unhealthy_threshold, hc.healthy_threshold), (1, 1));
    assert!(hc.reuse_connection);
    // Envoy's 60 s when no traffic, and the intervals that follow `interval`.
    assert_eq!(hc.no_traffic_interval, s(60));
    assert_eq!(hc.no_traffic_healthy_interval, s(60));
    assert_eq!(hc.unhealthy_interval, s(4));
    assert_eq!(hc.unhealthy_edge_interval, s(4));
    assert_eq!(hc.healthy_edge_interval, s(4));
    assert_eq!(hc.initial_jitter, Duration::ZERO);
    assert_eq!(hc.interval_jitter, Duration::ZERO);
    assert_eq!(hc.interval_jitter_percent, 0);
}

#[test]
fn each_explicit_field_overrides_its_default() {
    let loaded = support::ok_fixture("health-checks.yaml");
    let hc = health_check(&loaded.bootstrap, "explicit").expect("health check");
    assert_eq!(
        *hc,
        HealthCheck {
            timeout: ms(500),
            interval: s(7),
            initial_jitter: s(1),
            interval_jitter: ms(250),
            interval_jitter_percent: 10,
            unhealthy_threshold: 4,
            healthy_threshold: 5,
            reuse_connection: false,
            event_log_path: Some("/var/log/hc.log".into()),
            always_log_health_check_failures: true,
            no_traffic_interval: s(30),
            no_traffic_healthy_interval: s(45),
            unhealthy_interval: s(2),
            unhealthy_edge_interval: s(1),
            healthy_edge_interval: s(3),
            kind: HealthCheckKind::Http(HttpHealthCheck {
                host: String::new(),
                path: "/ready".into(),
                expected_statuses: vec![(200, 201)],
                retriable_statuses: vec![],
            }),
            loc: hc.loc,
        }
    );
}

/// `unhealthy_edge_interval` defaults to `unhealthy_interval`; `healthy_edge_interval` and
/// `unhealthy_interval` to `interval`.
#[test]
fn edge_intervals_follow_their_bases() {
    let loaded = support::ok_fixture("health-checks.yaml");
    let hc = health_check(&loaded.bootstrap, "unhealthy-only").expect("health check");
    assert_eq!(hc.interval, s(10));
    assert_eq!(hc.unhealthy_interval, s(20));
    assert_eq!(hc.unhealthy_edge_interval, s(20));
    assert_eq!(hc.healthy_edge_interval, s(10));
    assert_eq!(http(hc).path, "/");
}

#[test]
fn no_health_check_when_absent_or_empty() {
    let loaded = support::ok_fixture("health-checks.yaml");
    assert_eq!(health_check(&loaded.bootstrap, "empty"), None);
    assert_eq!(health_check(&loaded.bootstrap, "none"), None);
}

/// lowerCamelCase keys (Envoy's JSON form) lower to the same health check.
#[test]
fn camel_case_json() {
    let json = r#"{"static_resources": {"clusters": [{"name": "c", "healthChecks": [{
        "timeout": "0.5s", "interval": "7s", "initialJitter": "1s", "intervalJitter": "0.25s",
        "intervalJitterPercent": 10, "unhealthyThreshold": 4, "healthyThreshold": 5,
        "reuseConnection": false, "noTrafficInterval": "30s", "noTrafficHealthyInterval": "45s",
        "unhealthyInterval": "2s", "unhealthyEdgeInterval": "1s", "healthyEdgeInterval": "3s",
        "eventLogPath": "/var/log/hc.log", "alwaysLogHealthCheckFailures": true,
        "httpHealthCheck": {"path": "/ready", "expectedStatuses": [{"start": "200", "end": "201"}],
            "codecClientType": "HTTP1"}}]}]}}"#;
    let loaded = load_str(json, "hc.json", Format::Json).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let got = health_check(&loaded.bootstrap, "c").expect("health check");
    let yaml = support::ok_fixture("health-checks.yaml");
    let want = health_check(&yaml.bootstrap, "explicit").expect("health check");
    assert_eq!(
        HealthCheck {
            loc: Loc::default(),
            ..got.clone()
        },
        HealthCheck {
            loc: Loc::default(),
            ..want.clone()
        }
    );
}

/// The lines before a test's `health_checks` entries, which therefore start on line 5.
const HEAD: &str = "static_resources:\n  clusters:\n  - name: c\n    health_checks:\n";

/// The errors of a cluster whose `health_checks` is `body`, as `file:line:column: path: message`.
fn refused(body: &str) -> Vec<String> {
    let text = format!("{HEAD}{body}");
    let errors = load_str(&text, "hc.yaml", Format::Yaml).expect_err("refused");
    errors.0.iter().map(ToString::to_string).collect()
}

const P: &str = "static_resources.clusters[0].health_checks";

#[test]
fn two_health_checks() {
    let text = format!(
        "{HEAD}{}",
        "    - { timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }
    - { timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }
"
    );
    let errors = load_str(&text, "hc.yaml", Format::Yaml).expect_err("refused");
    assert_eq!(
        errors.0,
        [Diagnostic {
            file: "hc.yaml".into(),
            line: 6,
            column: 7,
            path: format!("{P}[1]"),
            message: "Multiple health checks not supported: a cluster has at most one, found 2"
                .into(),
        }]
    );
}

#[test]
fn missing_timeout() {
    assert_eq!(
        refused(
            "    - interval: 10s
      unhealthy_threshold: 2
      healthy_threshold: 2
      tcp_health_check: {}
"
        ),
        [format!(
            "hc.yaml:5:7: {P}[0]: missing required field `timeout`"
        )]
    );
}

#[test]
fn missing_thresholds() {
    assert_eq!(
        refused("    - { timeout: 1s, interval: 1s, tcp_health_check: {} }\n"),
        [
            format!("hc.yaml:5:7: {P}[0]: missing required field `unhealthy_threshold`"),
            format!("hc.yaml:5:7: {P}[0]: missing required field `healthy_threshold`"),
        ]
    );
}

#[test]
fn zero_interval() {
    assert_eq!(
        refused(
            "    - timeout: 5s
      interval: 0s
      unhealthy_threshold: 2
      healthy_threshold: 2
      tcp_health_check: {}
"
        ),
        [format!(
            "hc.yaml:6:17: {P}[0].interval: `interval` must be greater than 0"
        )]
    );
}

#[test]
fn zero_optional_intervals() {
    assert_eq!(
        refused(
            "    - timeout: 5s
      interval: 1s
      no_traffic_interval: 0s
      healthy_edge_interval: {}
      unhealthy_threshold: 2
      healthy_threshold: 2
      tcp_health_check: {}
"
        ),
        [
            format!(
                "hc.yaml:7:28: {P}[0].no_traffic_interval: `no_traffic_interval` must be greater than 0"
            ),
            format!(
                "hc.yaml:8:30: {P}[0].healthy_edge_interval: `healthy_edge_interval` must be greater than 0"
            ),
        ]
    );
}

#[test]
fn missing_or_empty_path() {
    let body = |http: &str| {
        format!(
            "    - timeout: 5s
      interval: 1s
      unhealthy_threshold: 2
      healthy_threshold: 2
      http_health_check: {http}
"
        )
    };
    assert_eq!(
        refused(&body("{ host: example }")),
        [format!(
            "hc.yaml:9:26: {P}[0].http_health_check: missing required field `path`"
        )]
    );
    assert_eq!(
        refused(&body("{ path: \"\" }")),
        [format!(
            "hc.yaml:9:34: {P}[0].http_health_check.path: `path` must not be empty"
        )]
    );
}

#[test]
fn bad_status_ranges() {
    let errors = refused(
        "    - timeout: 5s
      interval: 1s
      unhealthy_threshold: 2
      healthy_threshold: 2
      http_health_check:
        path: /
        expected_statuses:
        - { start: 200, end: 200 }
        - { start: 99, end: 200 }
        - { start: 500, end: 601 }
        retriable_statuses: { start: 503 }
",
    );
    let e = format!("{P}[0].http_health_check.expected_statuses");
    assert_eq!(
        errors,
        [
            format!(
                "hc.yaml:12:11: {e}[0]: the expected status range [200, 200) is empty: `start` must be less than `end`, which is excluded"
            ),
            format!(
                "hc.yaml:13:20: {e}[1].start: the expected status range [99, 200) starts below 100: `start` must be at least 100"
            ),
            format!(
                "hc.yaml:14:30: {e}[2].end: the expected status range [500, 601) ends above 600: `end` must be at most 600"
            ),
            format!(
                "hc.yaml:15:29: {P}[0].http_health_check.retriable_statuses[0]: missing required field `end`"
            ),
        ]
    );
}

#[test]
fn grpc_health_check_refused() {
    assert_eq!(
        refused(
            "    - timeout: 5s
      interval: 1s
      unhealthy_threshold: 2
      healthy_threshold: 2
      grpc_health_check: { service_name: svc }
"
        ),
        [format!(
            "hc.yaml:9:7: {P}[0].grpc_health_check: `grpc_health_check` is an Envoy field that Sluice does not support yet: gRPC health checks need HTTP/2 upstreams, which are not supported yet"
        )]
    );
}

#[test]
fn http2_codec_refused() {
    assert_eq!(
        refused(
            "    - timeout: 5s
      interval: 1s
      unhealthy_threshold: 2
      healthy_threshold: 2
      http_health_check: { path: /, codec_client_type: HTTP2 }
"
        ),
        [format!(
            "hc.yaml:9:56: {P}[0].http_health_check.codec_client_type: codec_client_type `HTTP2` is not supported yet (Sluice health checks use HTTP/1.1, `HTTP1`)"
        )]
    );
}

#[test]
fn tcp_payloads_are_hex_text_in_order() {
    let text = format!(
        "{HEAD}{}",
        "    - timeout: 5s
      interval: 1s
      unhealthy_threshold: 2
      healthy_threshold: 2
      tcp_health_check:
        send: { text: \"50494E47\" }
        receive: [{ text: \"504f\" }, { text: \"4e47\" }]
"
    );
    let loaded = load_str(&text, "hc.yaml", Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let hc = health_check(&loaded.bootstrap, "c").expect("health check");
    assert_eq!(
        hc.kind,
        HealthCheckKind::Tcp {
            send: b"PING".to_vec(),
            receive: vec![b"PO".to_vec(), b"NG".to_vec()],
        },
        "hex in either case"
    );
    assert_eq!(
        refused(
            "    - timeout: 5s
      interval: 1s
      unhealthy_threshold: 2
      healthy_threshold: 2
      tcp_health_check:
        send: { text: \"012\" }
"
        ),
        [format!(
            "hc.yaml:10:23: {P}[0].tcp_health_check.send.text: invalid hex string `012`: write an even number of hex digits"
        )]
    );
    // Envoy refuses an empty `text` too (its decode is empty).
    assert_eq!(
        refused(
            "    - timeout: 5s
      interval: 1s
      unhealthy_threshold: 2
      healthy_threshold: 2
      tcp_health_check: { receive: [{ text: \"\" }] }
"
        ),
        [format!(
            "hc.yaml:9:45: {P}[0].tcp_health_check.receive[0].text: invalid hex string ``: write an even number of hex digits"
        )]
    );
}

#[test]
fn an_empty_event_log_path_means_no_log() {
    let text = format!(
        "{HEAD}    - {{ timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1, event_log_path: '', tcp_health_check: {{}} }}\n"
    );
    let loaded = load_str(&text, "hc.yaml", Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let hc = health_check(&loaded.bootstrap, "c").expect("health check");
    assert_eq!(hc.event_log_path, None);
}

#[test]
fn no_checker() {
    let body = |checker: &str| {
        format!(
            "    - timeout: 5s
      interval: 1s
      unhealthy_threshold: 2
      healthy_threshold: 2
{checker}"
        )
    };
    assert_eq!(
        refused(&body("")),
        [format!(
            "hc.yaml:5:7: {P}[0]: a health check needs a checker: one of `http_health_check`, `tcp_health_check`, `grpc_health_check` or `custom_health_check`"
        )]
    );
    // proto3 JSON: null is "not set", so the required checker is still missing.
    assert_eq!(
        refused(&body("      tcp_health_check:\n")),
        [format!(
            "hc.yaml:9:7: {P}[0].tcp_health_check: `tcp_health_check` is null, which leaves the health check without a checker; write `tcp_health_check: {{}}` or a mapping of its fields"
        )]
    );
}

#[test]
fn two_checkers_and_unknown_fields() {
    assert_eq!(
        refused(
            "    - timeout: 5s
      interval: 1s
      unhealthy_threshold: 2
      healthy_threshold: 2
      tcp_health_check: {}
      http_health_check: { path: / }
      helthy_threshold: 3
"
        ),
        [
            format!(
                "hc.yaml:10:7: {P}[0].http_health_check: a health check has one checker; `tcp_health_check` is already set"
            ),
            format!(
                "hc.yaml:11:7: {P}[0].helthy_threshold: unknown field `helthy_threshold`; did you mean `healthy_threshold`?"
            ),
        ]
    );
}

#[test]
fn an_endpoints_health_check_config_is_decoded() {
    let text = "static_resources:
  clusters:
  - name: c
    load_assignment:
      cluster_name: c
      endpoints:
      - lb_endpoints:
        - endpoint:
            address: { socket_address: { address: 127.0.0.1, port_value: 80 } }
            health_check_config:
              port_value: 8081
              hostname: checks.example
              address: { socket_address: { address: 127.0.0.2, port_value: 9 } }
        - endpoint:
            address: { socket_address: { address: 127.0.0.3, port_value: 80 } }
            health_check_config: { disable_active_health_check: true }
";
    let loaded = load_str(text, "ep.yaml", Format::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let eps = &loaded.bootstrap.clusters[0].load_assignment.endpoints[0].lb_endpoints;
    let first = &eps[0].health_check_config;
    assert_eq!(first.port_value, 8081);
    assert_eq!(first.hostname, "checks.example");
    // `address` with `port_value` over its port, as Envoy's resolveHealthCheckAddress.
    assert_eq!(
        first.check_address(eps[0].address),
        "127.0.0.2:8081".parse().expect("address")
    );
    assert!(!first.disable_active_health_check);
    let second = &eps[1].health_check_config;
    assert!(second.disable_active_health_check);
    assert_eq!(second.check_address(eps[1].address), eps[1].address);
    let errors = load_str(
        &text.replace("port_value: 8081", "port_value: 70000"),
        "ep.yaml",
        Format::Yaml,
    )
    .expect_err("a port past 65535");
    assert_eq!(errors.0[0].line, 11);
    assert!(errors.0[0].path.ends_with("health_check_config.port_value"));
}
