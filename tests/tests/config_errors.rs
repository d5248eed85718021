//! A bad bootstrap is refused before anything starts: exit code 1, and each error printed as
//! `file:line:column: field.path: message` so the operator can go straight to it.

use std::time::Duration;

use sluice_tests::{RunOutcome, TempDir, run_sluice};

/// A valid bootstrap. Line numbers matter: the tests below break specific lines.
const VALID: &str = r#"admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 19901 }
static_resources:
  listeners:
  - name: listener_0
    address:
      socket_address: { address: 127.0.0.1, port_value: 10080 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          route_config:
            virtual_hosts:
            - name: default
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: web }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: web
    connect_timeout: 0.25s
    type: STATIC
    lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: web
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: 18080 }
"#;

/// `VALID` with line `line` (1-based) replaced by `replacement` (which may span several lines).
fn valid_with_line(line: usize, replacement: &str) -> String {
    let mut lines: Vec<&str> = VALID.lines().collect();
    lines[line - 1] = replacement;
    lines.join("\n") + "\n"
}

/// Runs `sluice --mode validate -c <dir>/bootstrap.yaml`.
fn validate(yaml: &str) -> RunOutcome {
    let dir = TempDir::new("config-errors");
    let path = dir.write("bootstrap.yaml", yaml);
    run_sluice(
        &["--mode", "validate", "-c", &path.display().to_string()],
        dir.path(),
        Duration::from_secs(20),
    )
}

fn assert_rejected_at(run: &RunOutcome, places: &[&str]) {
    assert_eq!(run.code(), Some(1), "stderr:\n{}", run.stderr);
    assert!(
        places.iter().any(|p| run.stderr.contains(p)),
        "stderr names none of {places:?}:\n{}",
        run.stderr
    );
}

#[test]
fn the_valid_fixture_is_valid() {
    let run = validate(VALID);
    assert_eq!(run.code(), Some(0), "stderr:\n{}", run.stderr);
}

#[test]
fn an_unknown_field_is_named_with_its_line_column_and_path() {
    let run = validate(&valid_with_line(
        28,
        "    connect_timeout: 0.25s\n    bogus_field: 1",
    ));
    assert_rejected_at(
        &run,
        &["bootstrap.yaml:29:5: static_resources.clusters[0].bogus_field: "],
    );
}

#[test]
fn a_misspelt_enum_value_is_named_with_its_line_and_path() {
    let run = validate(&valid_with_line(30, "    lb_policy: ROUND_ROBON"));
    // The column may point at the key or at the value.
    assert_rejected_at(
        &run,
        &[
            "bootstrap.yaml:30:5: static_resources.clusters[0].lb_policy: ",
            "bootstrap.yaml:30:16: static_resources.clusters[0].lb_policy: ",
        ],
    );
    assert!(
        run.stderr.contains("ROUND_ROBON"),
        "the bad value is not quoted:\n{}",
        run.stderr
    );
}

#[test]
fn a_bad_duration_is_named_with_its_line_and_path() {
    let run = validate(&valid_with_line(28, "    connect_timeout: fast"));
    assert_rejected_at(
        &run,
        &[
            "bootstrap.yaml:28:5: static_resources.clusters[0].connect_timeout: ",
            "bootstrap.yaml:28:22: static_resources.clusters[0].connect_timeout: ",
        ],
    );
}

#[test]
fn a_route_to_an_undefined_cluster_is_an_error_at_the_route() {
    let run = validate(&valid_with_line(
        21,
        "                route: { cluster: nowhere }",
    ));
    assert_eq!(run.code(), Some(1), "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("bootstrap.yaml:21:"),
        "no line 21 in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("routes[0].route.cluster"),
        "no field path in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("nowhere"),
        "the unknown cluster is not named:\n{}",
        run.stderr
    );
}

#[test]
fn broken_yaml_syntax_is_an_error_with_its_position() {
    let run = validate(&valid_with_line(18, "              domains: [\"*\""));
    assert_eq!(run.code(), Some(1), "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("bootstrap.yaml:"),
        "no position in:\n{}",
        run.stderr
    );
}

#[test]
fn starting_with_a_bad_bootstrap_exits_1_with_the_error_on_stderr() {
    let dir = TempDir::new("config-errors");
    let path = dir.write(
        "bootstrap.yaml",
        valid_with_line(28, "    connect_timeout: 0.25s\n    bogus_field: 1"),
    );

    let run = run_sluice(
        &["-c", &path.display().to_string()],
        dir.path(),
        Duration::from_secs(20),
    );

    assert_rejected_at(
        &run,
        &["bootstrap.yaml:29:5: static_resources.clusters[0].bogus_field: "],
    );
}
