//! The router filter's own options and the router's per-request headers through the real
//! binary: `suppress_envoy_headers`, `strict_check_headers`, `respect_expected_rq_timeout`,
//! `dynamic_stats`, `suppress_grpc_request_failure_code_stats`, the virtual host's
//! `include_request_attempt_count` / `include_attempt_count_in_response`,
//! `x-envoy-expected-rq-timeout-ms` on every attempt, `per_request_buffer_limit_bytes`, and
//! the `%START_TIME%` / `%UPSTREAM_METADATA%` / `%UPSTREAM_REMOTE_*%` header value commands.
//!
//! Each test has a control (the same traffic without the option) or asserts what only the
//! feature produces, so it fails if the feature were missing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sluice_tests::lb::{
    ROUTER_TYPE, endpoint, http_bootstrap, merge, route, start_json, static_cluster,
};
use sluice_tests::{HttpClient, HttpUpstream, Proxy, Reply, Request, Response, closed_port};

/// One virtual host (`*`, with `vhost_extra` merged in) over `routes`, and the router with
/// `router` as its options.
fn start(vhost_extra: Value, routes: Value, clusters: Value, router: Value) -> Proxy {
    let mut vhost = json!({"name": "backend", "domains": ["*"], "routes": routes});
    merge(&mut vhost, vhost_extra);
    let mut typed_config = json!({"@type": ROUTER_TYPE});
    merge(&mut typed_config, router);
    let hcm = json!({
        "route_config": {"name": "r", "virtual_hosts": [vhost]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": typed_config}],
    });
    start_json(&http_bootstrap(json!([]), clusters, hcm, json!({})))
}

/// Cluster `app` on `up`, one route `/` to it with `route_extra` in its action.
fn start_app(up: &HttpUpstream, vhost_extra: Value, route_extra: Value, router: Value) -> Proxy {
    start(
        vhost_extra,
        json!([route("/", "app", route_extra)]),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
        router,
    )
}

fn send(proxy: &Proxy, request: &Request) -> Response {
    HttpClient::connect(proxy.addr()).request(&request.clone().header("connection", "close"))
}

/// An upstream that answers 503 to its first `failures` requests, then 200 `ok`.
fn failing_first(failures: usize) -> HttpUpstream {
    let n = Arc::new(AtomicUsize::new(0));
    HttpUpstream::start(move |_| {
        if n.fetch_add(1, Ordering::SeqCst) < failures {
            Reply::text(503, "fail")
        } else {
            Reply::ok("ok")
        }
    })
}

/// Every value of `name` the upstream received, in order.
fn seen(up: &HttpUpstream, name: &str) -> Vec<Option<String>> {
    up.requests()
        .iter()
        .map(|r| r.header(name).map(str::to_owned))
        .collect()
}

fn retry_5xx(num_retries: u32) -> Value {
    json!({"retry_policy": {"retry_on": "5xx", "num_retries": num_retries}})
}

// === suppress_envoy_headers ===

#[test]
fn by_default_the_router_adds_its_envoy_headers() {
    let up = HttpUpstream::start(|_| Reply::ok("ok"));
    let proxy = start_app(&up, json!({}), json!({"prefix_rewrite": "/v2/"}), json!({}));
    let r = send(&proxy, &Request::get("/x?q=1"));
    assert_eq!(r.status, 200);
    assert!(r.has_header("x-envoy-upstream-service-time"));
    let got = up.last_request();
    assert_eq!(got.path, "/v2/x?q=1");
    assert_eq!(got.header("x-envoy-expected-rq-timeout-ms"), Some("15000"));
    // Envoy records the path as received when a route rewrites it.
    assert_eq!(got.header("x-envoy-original-path"), Some("/x?q=1"));
}

#[test]
fn suppress_envoy_headers_leaves_them_out_but_not_the_attempt_count() {
    let up =
        HttpUpstream::start(|_| Reply::ok("ok").header("x-envoy-upstream-service-time", "4242"));
    let proxy = start_app(
        &up,
        json!({"include_request_attempt_count": true}),
        json!({"prefix_rewrite": "/v2/"}),
        json!({"suppress_envoy_headers": true}),
    );
    let r = send(&proxy, &Request::get("/x"));
    assert_eq!(r.status, 200);
    // The router sets no service time, so the upstream's passes through untouched.
    assert_eq!(r.header("x-envoy-upstream-service-time"), Some("4242"));
    let got = up.last_request();
    assert_eq!(got.path, "/v2/x");
    assert!(!got.has_header("x-envoy-expected-rq-timeout-ms"));
    assert!(!got.has_header("x-envoy-original-path"));
    assert_eq!(got.header("x-envoy-attempt-count"), Some("1"));
    // A trusted client's expected timeout is left as it is rather than replaced.
    send(
        &proxy,
        &Request::get("/x").header("x-envoy-expected-rq-timeout-ms", "777"),
    );
    assert_eq!(
        up.last_request().header("x-envoy-expected-rq-timeout-ms"),
        Some("777")
    );
}

// === strict_check_headers ===

#[test]
fn strict_check_headers_answers_400_to_an_invalid_value() {
    let up = HttpUpstream::start(|_| Reply::ok("ok"));
    let proxy = start_app(
        &up,
        json!({}),
        json!({}),
        json!({"strict_check_headers": [
            "x-envoy-max-retries", "x-envoy-retry-on", "x-envoy-upstream-rq-timeout-ms",
        ]}),
    );
    let r = send(
        &proxy,
        &Request::get("/").header("x-envoy-max-retries", "abc"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "invalid header 'x-envoy-max-retries' with value 'abc'"
    );
    let r = send(
        &proxy,
        &Request::get("/").header("x-envoy-retry-on", "5xx,not-a-condition"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "invalid header 'x-envoy-retry-on' with value '5xx,not-a-condition'"
    );
    assert_eq!(
        up.request_count(),
        0,
        "refused requests never reach the upstream"
    );
    // Valid values, and invalid values of a header not listed, go through.
    let ok = Request::get("/")
        .header("x-envoy-retry-on", "5xx, reset")
        .header("x-envoy-upstream-rq-timeout-ms", "2000")
        .header("x-envoy-upstream-rq-per-try-timeout-ms", "soon");
    assert_eq!(send(&proxy, &ok).status, 200);
    assert_eq!(proxy.admin().stat("http.ingress_http.downstream_rq_4xx"), 2);
}

#[test]
fn without_strict_checks_an_invalid_value_is_ignored() {
    let up = HttpUpstream::start(|_| Reply::ok("ok"));
    let proxy = start_app(&up, json!({}), json!({}), json!({}));
    let r = send(
        &proxy,
        &Request::get("/").header("x-envoy-max-retries", "abc"),
    );
    assert_eq!((r.status, r.text()), (200, "ok".to_owned()));
}

// === respect_expected_rq_timeout ===

#[test]
fn respect_expected_rq_timeout_takes_the_timeout_an_envoy_in_front_set() {
    let slow = HttpUpstream::start(|_| Reply::ok("slow").delayed(Duration::from_millis(1500)));
    let proxy = start_app(
        &slow,
        json!({}),
        json!({}),
        json!({"respect_expected_rq_timeout": true}),
    );
    let t = Instant::now();
    let r = send(
        &proxy,
        &Request::get("/")
            .header("x-envoy-expected-rq-timeout-ms", "200")
            .header("x-envoy-upstream-rq-timeout-ms", "5000"),
    );
    assert_eq!(r.status, 504);
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
    let got = slow.last_request();
    assert_eq!(got.header("x-envoy-expected-rq-timeout-ms"), Some("200"));
    // The expected timeout wins, and the other header is then neither read nor consumed.
    assert_eq!(got.header("x-envoy-upstream-rq-timeout-ms"), Some("5000"));
}

#[test]
fn by_default_an_incoming_expected_timeout_is_not_a_timeout() {
    let slow = HttpUpstream::start(|_| Reply::ok("slow").delayed(Duration::from_millis(600)));
    let proxy = start_app(&slow, json!({}), json!({}), json!({}));
    let r = send(
        &proxy,
        &Request::get("/").header("x-envoy-expected-rq-timeout-ms", "100"),
    );
    assert_eq!((r.status, r.text()), (200, "slow".to_owned()));
    assert_eq!(
        slow.last_request().header("x-envoy-expected-rq-timeout-ms"),
        Some("15000")
    );
}

// === x-envoy-expected-rq-timeout-ms and x-envoy-attempt-count on every attempt ===

#[test]
fn each_attempt_carries_its_count_and_the_time_left() {
    // The first attempt fails after 300 ms; the retry has what is left of the 1 s route
    // timeout.
    let n = Arc::new(AtomicUsize::new(0));
    let up = HttpUpstream::start(move |_| {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::text(503, "fail").delayed(Duration::from_millis(300))
        } else {
            Reply::ok("ok")
        }
    });
    let mut action = retry_5xx(2);
    merge(&mut action, json!({"timeout": "1s"}));
    let proxy = start_app(
        &up,
        json!({"include_request_attempt_count": true}),
        action,
        json!({}),
    );
    let r = send(
        &proxy,
        &Request::get("/").header("x-envoy-attempt-count", "7"),
    );
    assert_eq!((r.status, r.text()), (200, "ok".to_owned()));
    assert_eq!(
        seen(&up, "x-envoy-attempt-count"),
        [Some("1".to_owned()), Some("2".to_owned())]
    );
    let expected: Vec<u64> = seen(&up, "x-envoy-expected-rq-timeout-ms")
        .into_iter()
        .map(|v| v.expect("the header").parse().expect("a number"))
        .collect();
    assert_eq!(expected[0], 1000);
    assert!(
        (500..=720).contains(&expected[1]),
        "the retry should be told what is left of 1000 ms after ~300 ms: {expected:?}"
    );
}

#[test]
fn the_per_try_timeout_is_the_expected_timeout_when_shorter() {
    let up = HttpUpstream::start(|_| Reply::ok("ok"));
    let mut action = retry_5xx(1);
    merge(
        &mut action,
        json!({"timeout": "5s", "retry_policy": {"retry_on": "5xx", "per_try_timeout": "0.4s"}}),
    );
    let proxy = start_app(&up, json!({}), action, json!({}));
    assert_eq!(send(&proxy, &Request::get("/")).status, 200);
    let got = up.last_request();
    assert_eq!(got.header("x-envoy-expected-rq-timeout-ms"), Some("400"));
    assert!(!got.has_header("x-envoy-attempt-count"), "not asked for");
}

#[test]
fn the_response_carries_the_number_of_attempts() {
    let up = failing_first(1);
    let proxy = start_app(
        &up,
        json!({"include_attempt_count_in_response": true}),
        retry_5xx(2),
        json!({}),
    );
    let r = send(&proxy, &Request::get("/"));
    assert_eq!(
        (r.status, r.header("x-envoy-attempt-count")),
        (200, Some("2"))
    );
    let r = send(&proxy, &Request::get("/"));
    assert_eq!(r.header("x-envoy-attempt-count"), Some("1"));

    // The router's own failure replies carry it too.
    let proxy = start(
        json!({"include_attempt_count_in_response": true}),
        json!([route(
            "/",
            "down",
            json!({"retry_policy": {"retry_on": "connect-failure", "num_retries": 2}}),
        )]),
        json!([static_cluster("down", &[closed_port()], json!({}))]),
        json!({}),
    );
    let r = send(&proxy, &Request::get("/"));
    assert_eq!(
        (r.status, r.header("x-envoy-attempt-count")),
        (503, Some("3"))
    );
}

#[test]
fn without_the_switch_the_response_has_no_attempt_count() {
    let up = failing_first(1);
    let proxy = start_app(&up, json!({}), retry_5xx(2), json!({}));
    let r = send(&proxy, &Request::get("/"));
    assert_eq!(r.status, 200);
    assert!(!r.has_header("x-envoy-attempt-count"));
    assert!(!up.last_request().has_header("x-envoy-attempt-count"));
}

// === per_request_buffer_limit_bytes ===

fn post(body: &str) -> Request {
    Request::post("/", body)
}

#[test]
fn a_body_within_the_route_buffer_limit_is_retried() {
    let up = failing_first(1);
    let proxy = start(
        json!({"per_request_buffer_limit_bytes": 10}),
        json!([{
            "match": {"prefix": "/"},
            "per_request_buffer_limit_bytes": 1000,
            "route": {"cluster": "app", "retry_policy": {"retry_on": "5xx", "num_retries": 1}},
        }]),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
        json!({}),
    );
    // The route's limit replaces the virtual host's.
    let r = send(&proxy, &post(&"x".repeat(100)));
    assert_eq!((r.status, r.text()), (200, "ok".to_owned()));
    assert_eq!(up.request_count(), 2);
    assert_eq!(up.last_request().body_len, 100);
}

#[test]
fn a_body_past_the_buffer_limit_is_sent_once_and_not_retried() {
    let up = failing_first(1);
    let proxy = start_app(
        &up,
        json!({"per_request_buffer_limit_bytes": 10}),
        retry_5xx(1),
        json!({}),
    );
    let r = send(&proxy, &post(&"x".repeat(100)));
    assert_eq!((r.status, r.text()), (503, "fail".to_owned()));
    assert_eq!(up.request_count(), 1);
    assert_eq!(
        up.last_request().body_len,
        100,
        "the body still reaches the upstream"
    );
    let admin = proxy.admin();
    assert_eq!(admin.stat("cluster.app.retry_or_shadow_abandoned"), 1);
    assert_eq!(admin.stat("cluster.app.upstream_rq_retry"), 0);
    // A request without a body holds nothing and is retried whatever the limit.
    let r = send(&proxy, &Request::get("/"));
    assert_eq!(r.status, 200);
}

#[test]
fn a_zero_limit_holds_no_body_for_a_shadow() {
    let main = HttpUpstream::start(|_| Reply::ok("main"));
    let shadow = HttpUpstream::start(|_| Reply::ok("shadow"));
    let route_to = |limit: u32, prefix: &str| {
        json!({
            "match": {"prefix": prefix},
            "per_request_buffer_limit_bytes": limit,
            "route": {"cluster": "main", "request_mirror_policies": [{"cluster": "shadow"}]},
        })
    };
    let proxy = start(
        json!({}),
        json!([route_to(0, "/none"), route_to(1000, "/")]),
        json!([
            static_cluster("main", &[main.addr()], json!({})),
            static_cluster("shadow", &[shadow.addr()], json!({})),
        ]),
        json!({}),
    );
    assert_eq!(send(&proxy, &Request::post("/none", "body")).status, 200);
    assert_eq!(send(&proxy, &Request::post("/all", "body")).status, 200);
    // The route that may hold no body gives up its shadow, and says so.
    assert_eq!(
        proxy.admin().stat("cluster.main.retry_or_shadow_abandoned"),
        1
    );
    shadow.wait_for_requests(1, Duration::from_secs(5));
    assert!(
        shadow.requests().iter().all(|r| r.path == "/all"),
        "only the route that may hold the body mirrors it"
    );
}

// === dynamic_stats, suppress_grpc_request_failure_code_stats ===

/// An upstream answering 503 to `/fail` and 200 to anything else.
fn fail_on_path() -> HttpUpstream {
    HttpUpstream::start(|r| {
        if r.path == "/fail" {
            Reply::text(503, "fail")
        } else {
            Reply::ok("ok")
        }
    })
}

#[test]
fn without_dynamic_stats_no_status_code_counter_moves() {
    for dynamic in [true, false] {
        let up = fail_on_path();
        let proxy = start_app(&up, json!({}), json!({}), json!({"dynamic_stats": dynamic}));
        for path in ["/a", "/b", "/fail"] {
            send(&proxy, &Request::get(path));
        }
        let admin = proxy.admin();
        admin.wait_for_stat("cluster.app.upstream_rq_total", 3, Duration::from_secs(5));
        let want = |n: u64| if dynamic { n } else { 0 };
        assert_eq!(
            admin.stat("cluster.app.upstream_rq_2xx"),
            want(2),
            "{dynamic}"
        );
        assert_eq!(
            admin.stat("cluster.app.upstream_rq_5xx"),
            want(1),
            "{dynamic}"
        );
        assert_eq!(
            admin.stat("cluster.app.upstream_rq_completed"),
            want(3),
            "{dynamic}"
        );
        assert_eq!(admin.stat("http.ingress_http.downstream_rq_2xx"), 2);
    }
}

#[test]
fn grpc_failures_can_be_left_out_of_the_status_code_counters() {
    for suppress in [true, false] {
        let up = fail_on_path();
        let proxy = start_app(
            &up,
            json!({}),
            json!({}),
            json!({"suppress_grpc_request_failure_code_stats": suppress}),
        );
        let grpc = Request::post("/fail", "").header("content-type", "application/grpc");
        assert_eq!(send(&proxy, &grpc).status, 503);
        assert_eq!(send(&proxy, &Request::get("/fail")).status, 503);
        let admin = proxy.admin();
        let want = if suppress { 1 } else { 2 };
        assert_eq!(
            admin.stat("cluster.app.upstream_rq_5xx"),
            want,
            "{suppress}"
        );
        // The request still completed.
        assert_eq!(
            admin.stat("cluster.app.upstream_rq_completed"),
            2,
            "{suppress}"
        );
    }
}

// === header value commands ===

fn epoch_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

#[test]
fn start_time_is_the_same_in_request_and_response_headers() {
    let up = HttpUpstream::start(|_| Reply::ok("ok"));
    let value = json!("%START_TIME(%s.%3f)%");
    let proxy = start_app(
        &up,
        json!({
            "request_headers_to_add": [{"header": {"key": "x-start", "value": value}}],
            "response_headers_to_add": [
                {"header": {"key": "x-start", "value": value}},
                {"header": {"key": "x-start-default", "value": "%START_TIME%"}},
            ],
        }),
        json!({}),
        json!({}),
    );
    let before = epoch_secs();
    let r = send(&proxy, &Request::get("/"));
    let after = epoch_secs();
    let sent: f64 = r
        .header("x-start")
        .expect("x-start on the response")
        .parse()
        .expect("seconds");
    assert!(
        before - 0.01 <= sent && sent <= after + 0.01,
        "{before} <= {sent} <= {after}"
    );
    assert_eq!(up.last_request().header("x-start"), r.header("x-start"));
    // Envoy's default form: 2016-04-15T20:17:00.310Z
    let default = r.header("x-start-default").expect("x-start-default");
    assert_eq!(default.len(), 24, "{default}");
    assert!(
        default.ends_with('Z') && default.as_bytes()[10] == b'T',
        "{default}"
    );
}

#[test]
fn upstream_metadata_and_address_describe_the_picked_host() {
    let a = HttpUpstream::named("a");
    let b = HttpUpstream::named("b");
    let meta = |zone: &str, weight: u32| {
        json!({"metadata": {"filter_metadata": {
            "com.acme": {"zone": zone, "weight": weight, "tags": {"tier": "gold"}},
        }}})
    };
    let mut cluster = static_cluster("app", &[], json!({}));
    cluster["load_assignment"]["endpoints"] = json!([{"lb_endpoints": [
        endpoint(a.addr(), meta("eu-1", 3)),
        endpoint(b.addr(), meta("us-2", 5)),
    ]}]);
    let proxy = start(
        json!({
            "request_headers_to_add": [
                {"header": {"key": "x-zone-seen-upstream", "value": "%UPSTREAM_METADATA(com.acme:zone)%"}},
            ],
            "response_headers_to_add": [
                {"header": {"key": "x-zone", "value": "%UPSTREAM_METADATA(com.acme:zone)%"}},
                {"header": {"key": "x-weight", "value": "%UPSTREAM_METADATA([\"com.acme\", \"weight\"])%"}},
                {"header": {"key": "x-tier", "value": "%UPSTREAM_METADATA(com.acme:tags:tier)%"}},
                {"header": {"key": "x-missing", "value": "%UPSTREAM_METADATA(com.acme:nope)%"}},
                {"header": {"key": "x-host", "value": "%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%:%UPSTREAM_REMOTE_PORT%"}},
            ],
        }),
        json!([route("/", "app", json!({}))]),
        json!([cluster]),
        json!({}),
    );
    let mut answered = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let r = send(&proxy, &Request::get("/"));
        let name = r.text();
        let (zone, weight, addr) = match name.as_str() {
            "a" => ("eu-1", "3", a.addr()),
            "b" => ("us-2", "5", b.addr()),
            other => panic!("unexpected answer {other:?}"),
        };
        assert_eq!(r.header("x-zone"), Some(zone), "answered by {name}");
        assert_eq!(r.header("x-weight"), Some(weight), "answered by {name}");
        assert_eq!(r.header("x-tier"), Some("gold"));
        assert!(!r.has_header("x-missing"), "an absent key adds no header");
        assert_eq!(r.header("x-host"), Some(addr.to_string().as_str()));
        answered.insert(name);
    }
    assert_eq!(answered.len(), 2, "round robin reaches both hosts");
    // No host is picked when request headers are formed: the value is empty, so no header.
    assert!(!a.last_request().has_header("x-zone-seen-upstream"));
}

#[test]
fn the_routes_response_headers_join_the_replies_the_router_makes_itself() {
    // Envoy's router finalizes its own replies (direct responses, redirects, failures once a
    // route matched) with the route's and virtual host's response headers.
    let proxy = start(
        json!({"response_headers_to_add": [{"header": {"key": "x-vhost", "value": "v"}}]}),
        json!([
            {"match": {"prefix": "/direct"}, "direct_response": {"status": 418, "body": {"inline_string": "tea"}},
             "response_headers_to_add": [{"header": {"key": "x-route", "value": "%REQ(x-id)%"}}]},
            {"match": {"prefix": "/moved"}, "redirect": {"path_redirect": "/new"}},
            route("/down", "down", json!({})),
        ]),
        json!([static_cluster("down", &[closed_port()], json!({}))]),
        json!({}),
    );
    let direct = send(&proxy, &Request::get("/direct").header("x-id", "7"));
    assert_eq!((direct.status, direct.text().as_str()), (418, "tea"));
    assert_eq!(direct.header("x-route"), Some("7"));
    assert_eq!(direct.header("x-vhost"), Some("v"));
    let moved = send(&proxy, &Request::get("/moved"));
    assert_eq!(moved.status, 301);
    assert!(
        moved
            .header("location")
            .is_some_and(|l| l.ends_with("/new"))
    );
    assert_eq!(moved.header("x-vhost"), Some("v"));
    let down = send(&proxy, &Request::get("/down"));
    assert_eq!(down.status, 503);
    assert_eq!(down.header("x-vhost"), Some("v"));
    // No route matched: nothing to finalize with.
    let none = start(
        json!({"response_headers_to_add": [{"header": {"key": "x-vhost", "value": "v"}}]}),
        json!([route("/only", "down", json!({}))]),
        json!([static_cluster("down", &[closed_port()], json!({}))]),
        json!({}),
    );
    let missing = send(&none, &Request::get("/else"));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("x-vhost"), None);
}
