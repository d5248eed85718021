//! The HTTP filters through the real binary: `envoy.filters.http.fault` (abort, header abort,
//! delay, `max_active_faults`, per-route override), `envoy.filters.http.local_ratelimit` (429
//! with Envoy's headers once the bucket is empty, `filter_enforced` 0 counts without limiting,
//! per-route bucket) and `envoy.filters.http.cors` with the virtual host's policy (preflight
//! answered locally, simple requests get `access-control-allow-origin`). Each has a control
//! (a route or request the filter leaves alone).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::lb::{http_bootstrap, start_json, static_cluster};
use sluice_tests::{HttpClient, HttpUpstream, Proxy, Request};

const FAULT: &str = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
const RATE_LIMIT: &str =
    "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const CORS: &str = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors";
const CORS_POLICY: &str = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";
const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

/// A proxy whose connection manager has `filters` (the router is appended) and one virtual
/// host with `vhost_extra` merged in and `routes`.
fn proxy(up: &HttpUpstream, filters: Value, routes: Value, vhost_extra: Value) -> Proxy {
    let mut chain = filters.as_array().cloned().unwrap_or_default();
    chain.push(json!({"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}));
    let mut vhost = json!({"name": "backend", "domains": ["*"], "routes": routes});
    sluice_tests::lb::merge(&mut vhost, vhost_extra);
    start_json(&http_bootstrap(
        json!([]),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
        json!({
            "route_config": {"name": "r", "virtual_hosts": [vhost]},
            "http_filters": chain,
        }),
        json!({}),
    ))
}

fn to_app(prefix: &str, extra: Value) -> Value {
    let mut r = json!({"match": {"prefix": prefix}, "route": {"cluster": "app"}});
    sluice_tests::lb::merge(&mut r, extra);
    r
}

fn send(p: &Proxy, request: &Request) -> sluice_tests::Response {
    HttpClient::connect(p.addr()).request(request)
}

#[test]
fn fault_abort_answers_for_the_upstream_and_a_route_can_override_it() {
    let up = HttpUpstream::named("app");
    let p = proxy(
        &up,
        json!([{"name": "fault", "typed_config": {
            "@type": FAULT,
            "abort": {"http_status": 503, "percentage": {"numerator": 100}},
        }}]),
        json!([
            to_app(
                "/calm",
                json!({"typed_per_filter_config": {"fault": {
                    "@type": FAULT,
                    "abort": {"http_status": 503, "percentage": {"numerator": 0}},
                }}})
            ),
            to_app("/", json!({})),
        ]),
        json!({}),
    );
    let r = send(&p, &Request::get("/x"));
    assert_eq!((r.status, r.text()), (503, "fault filter abort".to_owned()));
    assert_eq!(
        up.request_count(),
        0,
        "an aborted request never reaches the upstream"
    );
    assert_eq!(
        send(&p, &Request::get("/calm")).status,
        200,
        "the route's 0% override"
    );
    assert_eq!(p.admin().stat("http.ingress_http.fault.aborts_injected"), 1);
}

#[test]
fn header_abort_and_header_delay_follow_the_request_headers() {
    let up = HttpUpstream::named("app");
    let p = proxy(
        &up,
        json!([{"name": "fault", "typed_config": {
            "@type": FAULT,
            "abort": {"header_abort": {}, "percentage": {"numerator": 100}},
            "delay": {"header_delay": {}, "percentage": {"numerator": 100}},
        }}]),
        json!([to_app("/", json!({}))]),
        json!({}),
    );
    // Control: without the headers nothing happens.
    assert_eq!(send(&p, &Request::get("/")).status, 200);
    let r = send(
        &p,
        &Request::get("/").header("x-envoy-fault-abort-request", "418"),
    );
    assert_eq!(r.status, 418);
    let t = Instant::now();
    let r = send(
        &p,
        &Request::get("/").header("x-envoy-fault-delay-request", "400"),
    );
    assert_eq!(r.status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(p.admin().stat("http.ingress_http.fault.delays_injected"), 1);
}

#[test]
fn a_fixed_delay_holds_the_request_before_the_upstream() {
    let up = HttpUpstream::named("app");
    let p = proxy(
        &up,
        json!([{"name": "fault", "typed_config": {
            "@type": FAULT,
            "delay": {"fixed_delay": "0.5s", "percentage": {"numerator": 100}},
        }}]),
        json!([
            to_app(
                "/fast",
                json!({"typed_per_filter_config": {"fault": {
                    "@type": FAULT,
                    "delay": {"fixed_delay": "0.5s", "percentage": {"numerator": 0}},
                }}})
            ),
            to_app("/", json!({})),
        ]),
        json!({}),
    );
    let t = Instant::now();
    assert_eq!(send(&p, &Request::get("/slow")).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(500));
    let t = Instant::now();
    assert_eq!(send(&p, &Request::get("/fast")).status, 200);
    assert!(
        t.elapsed() < Duration::from_millis(450),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn the_local_rate_limit_answers_429_once_the_bucket_is_empty() {
    let up = HttpUpstream::named("app");
    let limit = |enforced: u32| {
        json!([{"name": "rl", "typed_config": {
            "@type": RATE_LIMIT,
            "stat_prefix": "http_rl",
            "token_bucket": {"max_tokens": 3, "tokens_per_fill": 3, "fill_interval": "60s"},
            "filter_enabled": {"default_value": {"numerator": 100}},
            "filter_enforced": {"default_value": {"numerator": enforced}},
            "response_headers_to_add": [{"header": {"key": "x-limited", "value": "yes"}}],
        }}])
    };
    let p = proxy(&up, limit(100), json!([to_app("/", json!({}))]), json!({}));
    let statuses: Vec<u16> = (0..5)
        .map(|_| send(&p, &Request::get("/")).status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let r = send(&p, &Request::get("/"));
    assert_eq!(r.header("x-limited"), Some("yes"));
    let admin = p.admin();
    assert_eq!(admin.stat("http_rl.http_local_rate_limit.rate_limited"), 3);
    assert_eq!(admin.stat("http_rl.http_local_rate_limit.ok"), 3);

    // filter_enforced 0: counted as limited, never answered 429.
    let p = proxy(&up, limit(0), json!([to_app("/", json!({}))]), json!({}));
    let statuses: Vec<u16> = (0..5)
        .map(|_| send(&p, &Request::get("/")).status)
        .collect();
    assert_eq!(statuses, [200; 5]);
    assert_eq!(
        p.admin().stat("http_rl.http_local_rate_limit.rate_limited"),
        2
    );
}

#[test]
fn cors_preflight_is_answered_and_simple_requests_get_the_allowed_origin() {
    let up = HttpUpstream::named("app");
    let p = proxy(
        &up,
        json!([{"name": "envoy.filters.http.cors", "typed_config": {"@type": CORS}}]),
        json!([to_app("/", json!({}))]),
        json!({"typed_per_filter_config": {"envoy.filters.http.cors": {
            "@type": CORS_POLICY,
            "allow_origin_string_match": [{"exact": "https://a.example"}],
            "allow_methods": "GET, POST",
            "allow_headers": "x-a",
            "max_age": "600",
        }}}),
    );
    let preflight = Request::new("OPTIONS", "/")
        .header("origin", "https://a.example")
        .header("access-control-request-method", "POST");
    let r = send(&p, &preflight);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://a.example")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(
        up.request_count(),
        0,
        "the preflight is answered by the proxy"
    );

    let r = send(&p, &Request::get("/").header("origin", "https://a.example"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://a.example")
    );
    // Control: an origin the policy does not allow gets no CORS headers.
    let r = send(
        &p,
        &Request::get("/").header("origin", "https://evil.example"),
    );
    assert!(!r.has_header("access-control-allow-origin"));
}

#[test]
fn a_filters_local_reply_carries_the_routes_response_headers() {
    // Envoy's filter manager finalizes every local reply with the selected route's response
    // headers (route, virtual host, route configuration), then adds the filter's own.
    let up = HttpUpstream::named("app");
    let p = proxy(
        &up,
        json!([{"name": "fault", "typed_config": {
            "@type": FAULT,
            "abort": {"http_status": 418, "percentage": {"numerator": 100}},
        }}]),
        json!([to_app(
            "/",
            json!({"response_headers_to_add": [{"header": {"key": "x-route", "value": "r1"}}]})
        )]),
        json!({"response_headers_to_add": [{"header": {"key": "x-vhost", "value": "v1"}}]}),
    );
    let r = send(&p, &Request::get("/x"));
    assert_eq!(r.status, 418);
    assert_eq!(r.header("x-route"), Some("r1"));
    assert_eq!(r.header("x-vhost"), Some("v1"));
    assert_eq!(up.request_count(), 0);
}
