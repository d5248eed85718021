//! Who is trusted and what that changes, through the real binary: `use_remote_address`,
//! `internal_address_config`, `xff_num_trusted_hops`, `skip_xff_append`,
//! `preserve_external_request_id`, the `x-envoy-*` overrides a trusted client may send
//! (`x-envoy-upstream-rq-timeout-ms`, `x-envoy-retry-on`, `x-envoy-max-retries`) and that are
//! stripped from an edge request, and `server_header_transformation`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::lb::{http_bootstrap, route, start_json, static_cluster};
use sluice_tests::{HttpClient, HttpUpstream, Proxy, Reply, Request};

fn proxy(up: &HttpUpstream, route_extra: Value, hcm: Value) -> Proxy {
    start_json(&http_bootstrap(
        json!([route("/", "app", route_extra)]),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
        hcm,
        json!({}),
    ))
}

fn send(proxy: &Proxy, request: &Request) -> sluice_tests::Response {
    HttpClient::connect(proxy.addr()).request(request)
}

/// Loopback is internal by default; a config naming only 10.0.0.0/8 makes it external.
fn external_loopback() -> Value {
    json!({
        "use_remote_address": true,
        "internal_address_config": {"cidr_ranges": [{"address_prefix": "10.0.0.0", "prefix_len": 8}]},
    })
}

#[test]
fn a_trusted_client_may_set_the_timeout_and_retries() {
    let slow = HttpUpstream::start(|_| Reply::ok("late").delayed(Duration::from_secs(3)));
    let p = proxy(
        &slow,
        json!({"timeout": "10s"}),
        json!({"use_remote_address": true}),
    );
    let t = Instant::now();
    let r = send(
        &p,
        &Request::get("/").header("x-envoy-upstream-rq-timeout-ms", "300"),
    );
    assert_eq!(r.status, 504);
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(
        !slow
            .last_request()
            .has_header("x-envoy-upstream-rq-timeout-ms")
    );
    assert_eq!(
        slow.last_request().header("x-envoy-expected-rq-timeout-ms"),
        Some("300")
    );
    assert_eq!(slow.last_request().header("x-envoy-internal"), Some("true"));

    let failing = HttpUpstream::start(|_| Reply::text(503, "no"));
    let p = proxy(&failing, json!({}), json!({"use_remote_address": true}));
    let r = send(
        &p,
        &Request::get("/")
            .header("x-envoy-retry-on", "5xx")
            .header("x-envoy-max-retries", "2"),
    );
    assert_eq!(r.status, 503);
    assert_eq!(
        failing.request_count(),
        3,
        "one try and the two retries the headers asked for"
    );
    assert!(!failing.last_request().has_header("x-envoy-retry-on"));
}

#[test]
fn an_edge_request_loses_its_envoy_headers_and_request_id() {
    let failing = HttpUpstream::start(|_| Reply::text(503, "no"));
    let p = proxy(&failing, json!({}), external_loopback());
    let r = send(
        &p,
        &Request::get("/")
            .header("x-envoy-retry-on", "5xx")
            .header("x-envoy-internal", "true")
            .header("x-request-id", "from-outside"),
    );
    assert_eq!(r.status, 503);
    assert_eq!(
        failing.request_count(),
        1,
        "an external client's retry header is ignored"
    );
    let seen = failing.last_request();
    assert!(!seen.has_header("x-envoy-internal"));
    assert_eq!(seen.header("x-envoy-external-address"), Some("127.0.0.1"));
    assert_ne!(seen.header("x-request-id"), Some("from-outside"));
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));

    // preserve_external_request_id keeps the client's id.
    let up = HttpUpstream::named("app");
    let mut hcm = external_loopback();
    hcm["preserve_external_request_id"] = json!(true);
    let p = proxy(&up, json!({}), hcm);
    send(
        &p,
        &Request::get("/").header("x-request-id", "from-outside"),
    );
    assert_eq!(
        up.last_request().header("x-request-id"),
        Some("from-outside")
    );
}

#[test]
fn xff_trusted_hops_and_skip_xff_append() {
    let up = HttpUpstream::named("app");
    // Without use_remote_address the client address comes from x-forwarded-for.
    let xff = "1.2.3.4, 10.0.0.1";
    let p = proxy(&up, json!({}), json!({}));
    send(&p, &Request::get("/").header("x-forwarded-for", xff));
    assert_eq!(
        up.last_request().header("x-envoy-internal"),
        Some("true"),
        "the last hop 10.0.0.1 is internal"
    );
    let p = proxy(&up, json!({}), json!({"xff_num_trusted_hops": 1}));
    send(&p, &Request::get("/").header("x-forwarded-for", xff));
    assert!(
        !up.last_request().has_header("x-envoy-internal"),
        "one trusted hop: the client is 1.2.3.4"
    );
    let p = proxy(
        &up,
        json!({}),
        json!({"use_remote_address": true, "skip_xff_append": true}),
    );
    send(&p, &Request::get("/"));
    assert!(!up.last_request().has_header("x-forwarded-for"));
}

#[test]
fn server_header_transformation_modes() {
    let up = HttpUpstream::start(|_| Reply::ok("hi").header("server", "upstream-srv"));
    let server = |hcm: Value| {
        send(&proxy(&up, json!({}), hcm), &Request::get("/"))
            .header("server")
            .map(str::to_owned)
    };
    assert_eq!(server(json!({})).as_deref(), Some("envoy"));
    assert_eq!(
        server(json!({"server_header_transformation": "PASS_THROUGH"})).as_deref(),
        Some("upstream-srv")
    );
    assert_eq!(
        server(json!({"server_header_transformation": "APPEND_IF_ABSENT"})).as_deref(),
        Some("upstream-srv")
    );
}

#[test]
fn the_host_port_is_part_of_virtual_host_matching_unless_stripped() {
    let up = HttpUpstream::named("app");
    let doc = |hcm: Value| {
        let mut d = http_bootstrap(
            json!([]),
            json!([static_cluster("app", &[up.addr()], json!({}))]),
            hcm,
            json!({}),
        );
        let typed = &mut d["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
        typed["route_config"]["virtual_hosts"] = json!([
            {"name": "exact", "domains": ["www.example.com"], "routes": [
                {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "exact"}}}]},
            {"name": "any", "domains": ["*"], "routes": [
                {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "any"}}}]},
        ]);
        d
    };
    let body = |p: &Proxy, host: &str| HttpClient::connect(p.addr()).get(host, "/").text();
    let plain = start_json(&doc(json!({})));
    assert_eq!(body(&plain, "www.example.com:8080"), "any");
    assert_eq!(body(&plain, "www.example.com"), "exact");
    let any = start_json(&doc(json!({"strip_any_host_port": true})));
    assert_eq!(body(&any, "www.example.com:8080"), "exact");
    let matching = start_json(&doc(json!({"strip_matching_host_port": true})));
    assert_eq!(
        body(&matching, "www.example.com:8080"),
        "any",
        "8080 is not the listener's port"
    );
    let own = format!("www.example.com:{}", matching.addr().port());
    assert_eq!(body(&matching, &own), "exact");
}
