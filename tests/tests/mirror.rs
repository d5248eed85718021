//! `request_mirror_policies` through the real binary (two workers): every admitted request is
//! copied to the shadow cluster with its Host suffixed `-shadow`, a slow or refusing shadow
//! neither delays nor fails the main response, `runtime_fraction` 0 mirrors nothing, and shadow
//! requests are counted in the shadow cluster's `upstream_rq_*` stats. A `cluster_header` policy
//! takes its shadow cluster from the request; `disable_shadow_host_suffix_append` keeps the
//! Host.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::lb::*;
use sluice_tests::{HttpUpstream, Proxy, Recorded, Reply, Request, closed_port};

/// How long a shadow request may take to show up at the shadow upstream.
const SHADOW_ARRIVAL: Duration = Duration::from_secs(5);

/// Cluster `main` on `main` and cluster `shadow` on `shadow`, behind `routes`.
fn start(routes: Value, main: &HttpUpstream, shadow: std::net::SocketAddr) -> Proxy {
    let clusters = json!([
        static_cluster("main", &[main.addr()], json!({})),
        static_cluster("shadow", &[shadow], json!({})),
    ]);
    start_json(&http_bootstrap(routes, clusters, json!({}), json!({})))
}

/// A route to `main` under `prefix` with `mirrors` as its `request_mirror_policies`.
fn mirrored(prefix: &str, mirrors: Value, extra: Value) -> Value {
    let mut action = json!({"request_mirror_policies": mirrors});
    merge(&mut action, extra);
    route(prefix, "main", action)
}

fn post(path: &str, host: &str, body: &str) -> Request {
    Request::post(path, body)
        .host(host)
        .header("connection", "close")
}

/// The request that carried `body`.
fn by_body<'a>(requests: &'a [Recorded], body: &str) -> &'a Recorded {
    requests
        .iter()
        .find(|r| r.text() == body)
        .unwrap_or_else(|| panic!("no request with body {body:?} among {}", requests.len()))
}

#[test]
fn every_request_is_copied_to_the_shadow_with_a_shadow_host() {
    let main = HttpUpstream::named("main");
    let shadow = HttpUpstream::named("shadow");
    let routes = json!([mirrored(
        "/api/",
        json!([{"cluster": "shadow"}]),
        json!({"prefix_rewrite": "/v2/"}),
    )]);
    let proxy = start(routes, &main, shadow.addr());

    let sent = 6;
    for i in 0..sent {
        let body = format!("payload-{i}");
        let response = proxy.client().request(&post(
            &format!("/api/items?n={i}"),
            "api.example:8080",
            &body,
        ));
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), "main", "the main upstream answers");
    }
    shadow.wait_for_requests(sent, SHADOW_ARRIVAL);

    let mains = main.requests();
    let shadows = shadow.requests();
    assert_eq!((mains.len(), shadows.len()), (sent, sent));
    for i in 0..sent {
        let body = format!("payload-{i}");
        let (m, s) = (by_body(&mains, &body), by_body(&shadows, &body));
        assert_eq!(s.method, "POST");
        assert_eq!(
            s.path,
            format!("/v2/items?n={i}"),
            "the path after prefix_rewrite"
        );
        assert_eq!(s.path, m.path);
        assert_eq!(m.header("host"), Some("api.example:8080"));
        assert_eq!(s.header("host"), Some("api.example-shadow:8080"));
        assert_eq!(s.header("x-envoy-internal"), Some("true"));
        assert_eq!(
            s.header("x-request-id"),
            m.header("x-request-id"),
            "the shadow is the same request"
        );
        assert_eq!(s.header("x-forwarded-proto"), m.header("x-forwarded-proto"));
    }
}

#[test]
fn a_slow_shadow_delays_nothing_and_times_out_with_the_route() {
    let main = HttpUpstream::named("main");
    let shadow_delay = Duration::from_secs(5);
    let shadow = HttpUpstream::start(move |_| Reply::ok("late").delayed(shadow_delay));
    let routes = json!([mirrored(
        "/",
        json!([{"cluster": "shadow"}]),
        json!({"timeout": "1s"}),
    )]);
    let proxy = start(routes, &main, shadow.addr());

    let sent = 3;
    for i in 0..sent {
        let started = Instant::now();
        let response = proxy
            .client()
            .request(&post("/slow", "a.example", &format!("b{i}")));
        let took = started.elapsed();
        assert_eq!((response.status, response.text().as_str()), (200, "main"));
        assert!(
            took < Duration::from_secs(1),
            "the main response took {took:?} behind a shadow that answers after {shadow_delay:?}"
        );
    }
    // The shadows did go out, and the route timeout (1 s) ended them, long before the shadow's
    // 5 s delay: counted as timeouts and 504s of the shadow cluster.
    shadow.wait_for_requests(sent, SHADOW_ARRIVAL);
    let admin = proxy.admin();
    admin.wait_for_stat(
        "cluster.shadow.upstream_rq_timeout",
        3,
        Duration::from_secs(4),
    );
    assert_eq!(admin.stat("cluster.shadow.upstream_rq_5xx"), 3);
    assert_eq!(admin.stat("cluster.shadow.upstream_rq_2xx"), 0);
    assert_eq!(admin.stat("cluster.shadow.upstream_rq_active"), 0);
    assert_eq!(admin.stat("cluster.main.upstream_rq_2xx"), 3);
}

#[test]
fn a_refusing_shadow_fails_nothing() {
    let main = HttpUpstream::named("main");
    let routes = json!([mirrored("/", json!([{"cluster": "shadow"}]), json!({}))]);
    let proxy = start(routes, &main, closed_port());

    let sent = 4;
    for i in 0..sent {
        let started = Instant::now();
        let response = proxy
            .client()
            .request(&post("/x", "a.example", &format!("b{i}")));
        assert_eq!((response.status, response.text().as_str()), (200, "main"));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    let admin = proxy.admin();
    admin.wait_for_stat("cluster.shadow.upstream_cx_connect_fail", 4, SHADOW_ARRIVAL);
    admin.wait_for_stat("cluster.shadow.upstream_rq_5xx", 4, SHADOW_ARRIVAL);
    assert_eq!(admin.stat("cluster.shadow.upstream_rq_total"), 4);
    assert_eq!(admin.stat("cluster.main.upstream_rq_2xx"), 4);
}

#[test]
fn runtime_fraction_zero_mirrors_nothing() {
    let main = HttpUpstream::named("main");
    let shadow = HttpUpstream::named("shadow");
    let routes = json!([
        mirrored(
            "/off",
            json!([{"cluster": "shadow", "runtime_fraction": {"default_value": {"numerator": 0}}}]),
            json!({}),
        ),
        // The control: the same policy at 100 %.
        mirrored(
            "/on",
            json!([{"cluster": "shadow", "runtime_fraction": {"default_value": {"numerator": 100}}}]),
            json!({}),
        ),
    ]);
    let proxy = start(routes, &main, shadow.addr());

    for i in 0..20 {
        let response = proxy
            .client()
            .request(&post("/off", "a", &format!("off-{i}")));
        assert_eq!(response.status, 200);
    }
    let response = proxy.client().request(&post("/on", "a", "on"));
    assert_eq!(response.status, 200);
    // The control's shadow arrives; had any of the earlier ones been sent, they would have too.
    shadow.wait_for_requests(1, SHADOW_ARRIVAL);
    std::thread::sleep(Duration::from_millis(200));
    let seen: BTreeSet<String> = shadow.requests().iter().map(Recorded::text).collect();
    assert_eq!(seen, BTreeSet::from(["on".to_string()]));
    assert_eq!(main.request_count(), 21);
    assert_eq!(proxy.admin().stat("cluster.shadow.upstream_rq_total"), 1);
}

#[test]
fn shadow_requests_are_counted_in_the_shadow_cluster() {
    let main = HttpUpstream::named("main");
    let shadow = HttpUpstream::named("shadow");
    let routes = json!([
        mirrored("/m", json!([{"cluster": "shadow"}]), json!({})),
        route("/plain", "main", json!({})),
    ]);
    let proxy = start(routes, &main, shadow.addr());

    // One keep-alive client, so one worker serves every request; each shadow is let finish
    // before the next request, so its connection is back in the pool for the next shadow.
    let admin = proxy.admin();
    let mut client = proxy.client();
    for i in 0..5 {
        let response = client.request(&Request::post("/m", format!("m{i}")).host("a"));
        assert_eq!(response.status, 200);
        admin.wait_for_stat(
            "cluster.shadow.upstream_rq_completed",
            i + 1,
            SHADOW_ARRIVAL,
        );
    }
    let response = client.request(&Request::get("/plain").host("a"));
    assert_eq!(response.status, 200);

    admin.wait_for_stat("cluster.shadow.upstream_rq_2xx", 5, SHADOW_ARRIVAL);
    assert_eq!(admin.stat("cluster.shadow.upstream_rq_total"), 5);
    assert_eq!(admin.stat("cluster.shadow.upstream_rq_completed"), 5);
    assert_eq!(admin.stat("cluster.main.upstream_rq_total"), 6);
    assert_eq!(shadow.request_count(), 5);
    assert_eq!(
        shadow.connection_count(),
        1,
        "a drained shadow response leaves its connection reusable"
    );
}

#[test]
fn cluster_header_names_the_shadow_cluster_per_request() {
    let main = HttpUpstream::named("main");
    let shadow = HttpUpstream::named("shadow");
    let routes = json!([mirrored(
        "/",
        json!([{"cluster_header": "X-Mirror-Cluster", "disable_shadow_host_suffix_append": true}]),
        json!({}),
    )]);
    let proxy = start(routes, &main, shadow.addr());
    // Named: mirrored. Absent or naming no cluster: not mirrored, and the main request is
    // untouched either way.
    for (body, header) in [
        ("to-shadow", Some("shadow")),
        ("no-header", None),
        ("unknown", Some("nowhere")),
    ] {
        let mut request = post("/x", "api.example", body);
        if let Some(h) = header {
            request = request.header("x-mirror-cluster", h);
        }
        let response = proxy.client().request(&request);
        assert_eq!((response.status, response.text().as_str()), (200, "main"));
    }
    shadow.wait_for_requests(1, SHADOW_ARRIVAL);
    std::thread::sleep(Duration::from_millis(300));
    let shadows = shadow.requests();
    assert_eq!(shadows.len(), 1, "only the request that named a cluster");
    let s = by_body(&shadows, "to-shadow");
    assert_eq!(s.header("host"), Some("api.example"), "no -shadow suffix");
    assert_eq!(main.requests().len(), 3);
}
