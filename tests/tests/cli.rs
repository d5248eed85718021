//! The command line: `-c` with YAML or JSON, `--config-yaml`, `--mode validate`, `-l`, and the
//! embedded default bootstrap that runs with no arguments at all.

use std::net::SocketAddr;
use std::time::Duration;

use sluice_tests::{Bootstrap, Config, HttpUpstream, MachineLock, Proxy, TempDir, run_sluice};

const RUN_TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn validate_mode_accepts_a_valid_bootstrap_and_exits_0() {
    let dir = TempDir::new("validate");
    let yaml = Bootstrap::http_to(&["127.0.0.1:8080".parse().expect("address")])
        .to_yaml()
        .replace("{{admin_port}}", "19901")
        .replace("{{listener_port_0}}", "10080");
    let path = dir.write("bootstrap.yaml", yaml);

    let run = run_sluice(
        &["--mode", "validate", "-c", &path.display().to_string()],
        dir.path(),
        RUN_TIMEOUT,
    );

    assert_eq!(run.code(), Some(0), "stderr:\n{}", run.stderr);
}

#[test]
fn validate_mode_rejects_an_invalid_bootstrap_and_exits_1_naming_the_place() {
    let dir = TempDir::new("validate");
    let yaml = Bootstrap::http_to(&["127.0.0.1:8080".parse().expect("address")])
        .to_yaml()
        .replace("{{admin_port}}", "19901")
        .replace("{{listener_port_0}}", "10080")
        .replace(
            "    lb_policy: ROUND_ROBIN\n",
            "    lb_policy: ROUND_ROBIN\n    not_a_field: true\n",
        );
    let line = yaml
        .lines()
        .position(|l| l.contains("not_a_field"))
        .expect("the bad line")
        + 1;
    let path = dir.write("bootstrap.yaml", &yaml);

    let run = run_sluice(
        &["--mode", "validate", "-c", &path.display().to_string()],
        dir.path(),
        RUN_TIMEOUT,
    );

    assert_eq!(run.code(), Some(1), "stderr:\n{}", run.stderr);
    let expected = format!("bootstrap.yaml:{line}:5: static_resources.clusters[0].not_a_field:");
    assert!(
        run.stderr.contains(&expected),
        "expected {expected:?} in stderr:\n{}",
        run.stderr
    );
}

#[test]
fn a_json_bootstrap_works_like_yaml() {
    let upstream = HttpUpstream::replying("from json");
    let json = format!(
        r#"{{
  "admin": {{"address": {{"socket_address": {{"address": "127.0.0.1", "port_value": {{{{admin_port}}}}}}}}}},
  "static_resources": {{
    "listeners": [{{
      "name": "listener_0",
      "address": {{"socket_address": {{"address": "127.0.0.1", "port_value": {{{{listener_port_0}}}}}}}},
      "filter_chains": [{{"filters": [{{
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {{
          "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          "stat_prefix": "ingress_http",
          "route_config": {{"virtual_hosts": [{{"name": "default", "domains": ["*"],
            "routes": [{{"match": {{"prefix": "/"}}, "route": {{"cluster": "web"}}}}]}}]}},
          "http_filters": [{{"name": "envoy.filters.http.router",
            "typed_config": {{"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}}}]
        }}
      }}]}}]
    }}],
    "clusters": [{{
      "name": "web", "connect_timeout": "0.25s", "type": "STATIC", "lb_policy": "ROUND_ROBIN",
      "load_assignment": {{"cluster_name": "web", "endpoints": [{{"lb_endpoints": [
        {{"endpoint": {{"address": {{"socket_address": {{"address": "127.0.0.1", "port_value": {port}}}}}}}}}
      ]}}]}}
    }}]
  }}
}}"#,
        port = upstream.addr().port()
    );
    let proxy = Proxy::start(Config::Json(json));

    assert_eq!(proxy.get("example.com", "/").text(), "from json");
}

#[test]
fn config_yaml_passes_the_whole_bootstrap_on_the_command_line() {
    let upstream = HttpUpstream::replying("inline");
    let proxy = Proxy::builder(Bootstrap::http_to(&[upstream.addr()]))
        .inline_config()
        .start();

    assert_eq!(proxy.get("example.com", "/").text(), "inline");
}

#[test]
fn the_log_level_flag_is_accepted() {
    let upstream = HttpUpstream::replying("ok");
    for level in ["trace", "debug", "info", "warn", "error", "critical", "off"] {
        let proxy = Proxy::builder(Bootstrap::http_to(&[upstream.addr()]))
            .arg("-l")
            .arg(level)
            .start();
        assert_eq!(proxy.get("example.com", "/").status, 200, "-l {level}");
    }
}

#[test]
fn with_no_arguments_it_serves_the_embedded_default_bootstrap() {
    let _fixed_ports = MachineLock::acquire("default-ports");
    let admin: SocketAddr = "127.0.0.1:9901".parse().expect("address");
    let listener: SocketAddr = "127.0.0.1:10000".parse().expect("address");
    // Another process on these ports would answer in its place: make sure they are ours to take.
    for addr in [admin, listener] {
        drop(
            std::net::TcpListener::bind(addr)
                .unwrap_or_else(|e| panic!("{addr} is taken by another process: {e}")),
        );
    }
    let proxy = Proxy::without_config(admin, &[listener]).start();

    let response = proxy.get("localhost", "/");
    assert_eq!(
        response.status,
        200,
        "the default route answers directly: {}",
        response.text()
    );
    assert!(
        proxy.log().contains("10000"),
        "the log does not say where it listens:\n{}",
        proxy.log()
    );
}

#[test]
fn a_missing_config_file_exits_1_with_the_reason_on_stderr() {
    let dir = TempDir::new("cli");
    let run = run_sluice(
        &["-c", "/nonexistent/bootstrap.yaml"],
        dir.path(),
        RUN_TIMEOUT,
    );

    assert_eq!(run.code(), Some(1));
    assert!(
        run.stderr.contains("/nonexistent/bootstrap.yaml"),
        "stderr:\n{}",
        run.stderr
    );
}
