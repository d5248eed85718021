//! The admin endpoint speaks Envoy's formats: `/ready`, `/server_info`, `/listeners`, `/clusters`,
//! `/stats` (text, filtered, JSON), `/stats/prometheus`, `/config_dump`, `/quitquitquit`; and its
//! counters are exact when traffic is spread over two workers.

use std::time::Duration;

use sluice_tests::{Bootstrap, Cluster, HttpListener, HttpUpstream, Proxy, Route, VirtualHost};

fn proxy_with_traffic(requests: usize) -> (HttpUpstream, Proxy) {
    let upstream = HttpUpstream::replying("ok");
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let mut client = proxy.client();
    for _ in 0..requests {
        assert_eq!(client.get("example.com", "/").status, 200);
    }
    (upstream, proxy)
}

#[test]
fn ready_answers_live() {
    let (_upstream, proxy) = proxy_with_traffic(0);
    let ready = proxy.admin().get("/ready");
    assert_eq!(ready.status, 200);
    assert_eq!(ready.text().trim(), "LIVE");
}

#[test]
fn server_info_is_json_describing_the_running_server() {
    let (_upstream, proxy) = proxy_with_traffic(0);
    let info = proxy.admin().server_info();
    assert_eq!(info["state"], "LIVE", "{info}");
    assert_eq!(info["command_line_options"]["concurrency"], 2, "{info}");
}

#[test]
fn listeners_lists_each_listener_with_its_address() {
    let (_upstream, proxy) = proxy_with_traffic(0);
    let listeners = proxy.admin().get("/listeners").text();
    assert!(
        listeners
            .lines()
            .any(|l| l.trim() == format!("listener_0::{}", proxy.addr())),
        "/listeners:\n{listeners}"
    );
}

#[test]
fn clusters_lists_every_host_with_its_health_weight_and_counters() {
    let (upstream, proxy) = proxy_with_traffic(3);
    let host = format!("web::{}", upstream.addr());

    let lines = proxy.admin().clusters();
    for expected in [
        format!("{host}::health_flags::healthy"),
        format!("{host}::weight::1"),
        format!("{host}::rq_total::3"),
    ] {
        assert!(
            lines.contains(&expected),
            "/clusters lacks {expected:?}:\n{}",
            lines.join("\n")
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{host}::cx_active::"))),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn stats_are_name_value_lines_and_can_be_filtered_or_given_as_json() {
    let (_upstream, proxy) = proxy_with_traffic(2);
    let admin = proxy.admin();
    admin.wait_for_stat("cluster.web.upstream_rq_total", 2, Duration::from_secs(2));

    let filtered = admin.get("/stats?filter=upstream_rq_total").text();
    assert!(
        filtered
            .lines()
            .any(|l| l == "cluster.web.upstream_rq_total: 2"),
        "{filtered}"
    );
    assert!(
        filtered.lines().all(|l| l.contains("upstream_rq_total")),
        "filter let through:\n{filtered}"
    );

    let json = admin.json("/stats?format=json");
    let stats = json["stats"].as_array().expect("{\"stats\": [...]}");
    assert!(
        stats
            .iter()
            .any(|s| s["name"] == "http.ingress_http.downstream_rq_total" && s["value"] == 2),
        "{json}"
    );
}

#[test]
fn prometheus_stats_use_envoys_names_and_tags() {
    let (_upstream, proxy) = proxy_with_traffic(2);
    proxy.admin().wait_for_stat(
        "http.ingress_http.downstream_rq_total",
        2,
        Duration::from_secs(2),
    );

    let text = proxy.admin().get("/stats/prometheus").text();

    for expected in [
        "envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix=\"ingress_http\"} 2",
        "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"web\"} 2",
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "missing {expected:?} in:\n{text}"
        );
    }
    assert!(
        text.contains("# TYPE envoy_http_downstream_rq_total counter"),
        "{text}"
    );
}

#[test]
fn config_dump_is_json_with_the_loaded_resources() {
    let (_upstream, proxy) = proxy_with_traffic(0);
    let dump = proxy.admin().json("/config_dump");
    assert!(dump["configs"].is_array(), "{dump}");
    let text = dump.to_string();
    assert!(
        text.contains("listener_0") && text.contains("\"web\""),
        "{text}"
    );
}

#[test]
fn counters_are_exact_after_traffic_over_two_workers() {
    let upstream = HttpUpstream::replying("ok");
    let proxy = Proxy::start(
        Bootstrap::new()
            .http_listener(
                HttpListener::new("ingress_http").virtual_host(
                    VirtualHost::new("default", &["*"])
                        .route(Route::prefix("/missing").direct_empty(404))
                        .route(Route::prefix("/").to_cluster("web")),
                ),
            )
            .cluster(Cluster::new("web", &[upstream.addr()])),
    );

    // 20 connections of 5 requests (the kernel spreads them over both workers' listeners), then one
    // connection with 10 locally answered 404s.
    std::thread::scope(|s| {
        for _ in 0..20 {
            s.spawn(|| {
                let mut client = proxy.client();
                for _ in 0..5 {
                    assert_eq!(client.get("example.com", "/").status, 200);
                }
            });
        }
    });
    let mut client = proxy.client();
    for _ in 0..10 {
        assert_eq!(client.get("example.com", "/missing").status, 404);
    }
    drop(client);

    let admin = proxy.admin();
    let settle = Duration::from_secs(3);
    // Envoy names listener stats after the address: listener.127.0.0.1_<port>.*
    let listener_cx_total = format!(
        "listener.{}_{}.downstream_cx_total",
        proxy.addr().ip(),
        proxy.addr().port()
    );
    for (name, value) in [
        ("http.ingress_http.downstream_rq_total", 110),
        ("http.ingress_http.downstream_rq_2xx", 100),
        ("http.ingress_http.downstream_rq_4xx", 10),
        ("http.ingress_http.downstream_rq_5xx", 0),
        ("http.ingress_http.downstream_cx_total", 21),
        ("http.ingress_http.downstream_cx_active", 0),
        (listener_cx_total.as_str(), 21),
        ("cluster.web.upstream_rq_total", 100),
        ("cluster.web.upstream_rq_2xx", 100),
        ("cluster.web.upstream_cx_connect_fail", 0),
    ] {
        admin.wait_for_stat(name, value, settle);
    }
    admin.wait_for_stat(
        "cluster.web.upstream_cx_total",
        upstream.connection_count() as u64,
        settle,
    );
    assert!(admin.stat("cluster.web.upstream_cx_active") <= upstream.connection_count() as u64);
}

#[test]
fn quitquitquit_makes_the_process_exit() {
    let (_upstream, mut proxy) = proxy_with_traffic(0);
    let response = proxy.admin().post("/quitquitquit", "");
    assert_eq!(response.status, 200);
    let status = proxy
        .wait_exit(Duration::from_secs(10))
        .expect("sluice still running 10 s after /quitquitquit");
    assert!(status.success(), "exit status {status}");
}
