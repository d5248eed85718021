//! The request path's upstream side through the real binary: retries (`retry_policy` on the
//! route and the virtual host), route and per-try timeouts, a request that reached an upstream
//! is never sent again unless its policy allows it, pooled connections keyed by cluster and
//! host, idle pooled connections that the upstream closed or wrote to, and a client that goes
//! away while its request waits on the upstream.
//!
//! Each test has a control (the same traffic without the field, or the counter that would stay
//! at zero), so it fails if the feature were missing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::lb::{http_bootstrap, route, start_json, static_cluster};
use sluice_tests::{HttpClient, HttpUpstream, Proxy, Reply, Request};

/// An upstream whose every `every`-th request (1-based) gets `fail`, the others 200 `ok`.
fn failing_every(every: usize, fail: impl Fn() -> Reply + Send + Sync + 'static) -> HttpUpstream {
    let n = Arc::new(AtomicUsize::new(0));
    HttpUpstream::start(move |_| {
        let i = n.fetch_add(1, Ordering::SeqCst) + 1;
        if i.is_multiple_of(every) {
            fail()
        } else {
            Reply::ok("ok")
        }
    })
}

fn one_route(prefix: &str, cluster: &str, extra: Value, clusters: Value) -> Proxy {
    start_json(&http_bootstrap(
        json!([route(prefix, cluster, extra)]),
        clusters,
        json!({}),
        json!({}),
    ))
}

fn get(proxy: &Proxy, path: &str) -> sluice_tests::Response {
    HttpClient::connect(proxy.addr()).request(&Request::get(path))
}

#[test]
fn retry_on_5xx_hides_every_second_503_and_counts_retries() {
    let up = failing_every(2, || Reply::text(503, "fail"));
    let proxy = one_route(
        "/",
        "app",
        json!({"retry_policy": {"retry_on": "5xx", "num_retries": 3}}),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
    );
    for i in 0..10 {
        let r = get(&proxy, "/x");
        assert_eq!((r.status, r.text()), (200, "ok".to_owned()), "request {i}");
    }
    // Every second attempt failed and was retried: 10 requests took more than 10 attempts.
    assert!(up.request_count() >= 15, "{} attempts", up.request_count());
    let admin = proxy.admin();
    let retries = admin.stat("cluster.app.upstream_rq_retry");
    assert!(retries >= 5);
    assert!(admin.stat("cluster.app.upstream_rq_retry_success") >= 5);
    // As Envoy charges them: a retried 503 counts under `retry.`, not among the responses.
    assert_eq!(admin.stat("cluster.app.retry.upstream_rq_5xx"), retries);
    assert_eq!(
        admin.stat("cluster.app.retry.upstream_rq_completed"),
        retries
    );
    assert_eq!(admin.stat("cluster.app.upstream_rq_5xx"), 0);
    assert_eq!(admin.stat("cluster.app.upstream_rq_2xx"), 10);
    assert_eq!(admin.stat("cluster.app.upstream_rq_completed"), 10);
}

#[test]
fn without_a_retry_policy_the_503_reaches_the_client() {
    let up = failing_every(2, || Reply::text(503, "fail"));
    let proxy = one_route(
        "/",
        "app",
        json!({}),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
    );
    let statuses: Vec<u16> = (0..4).map(|_| get(&proxy, "/x").status).collect();
    assert_eq!(statuses, [200, 503, 200, 503]);
    assert_eq!(up.request_count(), 4);
    assert_eq!(proxy.admin().stat("cluster.app.upstream_rq_retry"), 0);
}

#[test]
fn the_virtual_host_retry_policy_applies_when_the_route_has_none() {
    let up = failing_every(2, || Reply::text(502, "bad gateway"));
    let doc = http_bootstrap(
        json!([route("/", "app", json!({}))]),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
        json!({"route_config": {"name": "r", "virtual_hosts": [{
            "name": "backend", "domains": ["*"],
            "retry_policy": {"retry_on": "gateway-error", "num_retries": 2},
            "routes": [route("/", "app", json!({}))],
        }]}}),
        json!({}),
    );
    let proxy = start_json(&doc);
    for _ in 0..6 {
        assert_eq!(get(&proxy, "/").status, 200);
    }
}

#[test]
fn retries_stop_at_num_retries_and_the_last_response_is_relayed() {
    let up = HttpUpstream::start(|_| Reply::text(503, "always"));
    let proxy = one_route(
        "/",
        "app",
        json!({"retry_policy": {"retry_on": "5xx", "num_retries": 2}}),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
    );
    let r = get(&proxy, "/");
    assert_eq!((r.status, r.text()), (503, "always".to_owned()));
    assert_eq!(up.request_count(), 3, "one try and two retries");
    assert_eq!(
        proxy
            .admin()
            .stat("cluster.app.upstream_rq_retry_limit_exceeded"),
        1
    );
}

#[test]
fn a_per_try_timeout_is_retried_within_the_route_timeout() {
    let up = failing_every(2, || Reply::ok("slow").delayed(Duration::from_secs(3)));
    // The first request is fast; the second attempt (request 2) is slow and times out after
    // 300 ms, then its retry (request 3) answers at once.
    let proxy = one_route(
        "/",
        "app",
        json!({"timeout": "5s", "retry_policy": {"retry_on": "5xx", "num_retries": 1, "per_try_timeout": "0.3s"}}),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
    );
    assert_eq!(get(&proxy, "/").status, 200);
    let t = Instant::now();
    let r = get(&proxy, "/");
    assert_eq!((r.status, r.text()), (200, "ok".to_owned()));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(
        proxy
            .admin()
            .stat("cluster.app.upstream_rq_per_try_timeout"),
        1
    );
}

#[test]
fn the_route_timeout_answers_504_with_envoys_body() {
    let up = HttpUpstream::start(|_| Reply::ok("late").delayed(Duration::from_secs(5)));
    let proxy = one_route(
        "/",
        "app",
        json!({"timeout": "0.4s"}),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
    );
    let t = Instant::now();
    let r = get(&proxy, "/");
    assert_eq!(
        (r.status, r.text()),
        (504, "upstream request timeout".to_owned())
    );
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(proxy.admin().stat("cluster.app.upstream_rq_timeout"), 1);
}

#[test]
fn a_streamed_body_is_never_sent_twice_even_with_a_retry_policy() {
    let up = HttpUpstream::start(|_| Reply::text(503, "no"));
    let proxy = one_route(
        "/",
        "app",
        json!({"retry_policy": {"retry_on": "5xx", "num_retries": 3}}),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
    );
    // 2 MiB is more than the listener's buffer limit (1 MiB by default): it streams, so it
    // cannot be replayed.
    let body = vec![b'x'; 2 << 20];
    let r = HttpClient::connect(proxy.addr()).request(&Request::post("/upload", body));
    assert_eq!(r.status, 503);
    assert_eq!(up.request_count(), 1);
}

/// A raw upstream: answers each request on a connection with `200 fresh`, and after the first
/// response on the first connection writes `stray` bytes (or closes, when `stray` is empty)
/// while the connection sits idle in the proxy's pool.
fn misbehaving_when_idle(stray: &'static [u8]) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&requests);
    thread::spawn(move || {
        for (i, stream) in listener.incoming().enumerate().take(8) {
            let Ok(mut s) = stream else { continue };
            let seen = Arc::clone(&seen);
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    seen.fetch_add(1, Ordering::SeqCst);
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfresh");
                    if i == 0 {
                        thread::sleep(Duration::from_millis(100));
                        if stray.is_empty() {
                            return;
                        }
                        let _ = s.write_all(stray);
                    }
                }
            });
        }
    });
    (addr, requests)
}

#[test]
fn bytes_from_an_idle_pooled_connection_never_become_the_next_response() {
    let (addr, requests) =
        misbehaving_when_idle(b"HTTP/1.1 500 Stray\r\ncontent-length: 5\r\n\r\nstray");
    let proxy = Proxy::builder(sluice_tests::Config::Json(sluice_tests::lb::json_text(
        &http_bootstrap(
            json!([route("/", "app", json!({}))]),
            json!([static_cluster("app", &[addr], json!({}))]),
            json!({}),
            json!({}),
        ),
    )))
    .concurrency(1)
    .start();
    let mut client = proxy.client();
    assert_eq!(client.get("a", "/").text(), "fresh");
    thread::sleep(Duration::from_millis(400));
    let r = client.get("a", "/");
    assert_eq!((r.status, r.text()), (200, "fresh".to_owned()));
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

#[test]
fn an_idle_connection_the_upstream_closed_is_not_used_and_nothing_is_replayed() {
    let (addr, requests) = misbehaving_when_idle(b"");
    let proxy = Proxy::builder(sluice_tests::Config::Json(sluice_tests::lb::json_text(
        &http_bootstrap(
            json!([route("/", "app", json!({}))]),
            json!([static_cluster("app", &[addr], json!({}))]),
            json!({}),
            json!({}),
        ),
    )))
    .concurrency(1)
    .start();
    let mut client = proxy.client();
    assert_eq!(client.get("a", "/").status, 200);
    thread::sleep(Duration::from_millis(400));
    assert_eq!(client.get("a", "/").status, 200);
    // Exactly one upstream request per client request: the dead connection was seen before use.
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

#[test]
fn a_request_the_upstream_dropped_unanswered_is_not_replayed_without_a_policy() {
    let up = HttpUpstream::start(|r| {
        if r.path == "/drop" {
            Reply::close()
        } else {
            Reply::ok("ok")
        }
    });
    let proxy = Proxy::builder(sluice_tests::Config::Json(sluice_tests::lb::json_text(
        &http_bootstrap(
            json!([route("/", "app", json!({}))]),
            json!([static_cluster("app", &[up.addr()], json!({}))]),
            json!({}),
            json!({}),
        ),
    )))
    .concurrency(1)
    .start();
    let mut client = proxy.client();
    assert_eq!(client.get("a", "/warm").status, 200);
    let r = client.get("a", "/drop");
    assert_eq!(r.status, 503);
    assert_eq!(
        up.requests().iter().filter(|r| r.path == "/drop").count(),
        1,
        "the request reached the upstream once and was not sent again"
    );
}

#[test]
fn two_clusters_on_one_address_do_not_share_pooled_connections() {
    let up = HttpUpstream::named("one");
    let proxy = Proxy::builder(sluice_tests::Config::Json(sluice_tests::lb::json_text(
        &http_bootstrap(
            json!([route("/a", "a", json!({})), route("/b", "b", json!({}))]),
            json!([
                static_cluster("a", &[up.addr()], json!({})),
                static_cluster("b", &[up.addr()], json!({})),
            ]),
            json!({}),
            json!({}),
        ),
    )))
    .concurrency(1)
    .start();
    let mut client = proxy.client();
    for _ in 0..3 {
        assert_eq!(client.get("x", "/a").status, 200);
        assert_eq!(client.get("x", "/b").status, 200);
    }
    let admin = proxy.admin();
    assert_eq!(admin.stat("cluster.a.upstream_cx_total"), 1);
    assert_eq!(admin.stat("cluster.b.upstream_cx_total"), 1);
    assert_eq!(up.connection_count(), 2);
}

#[test]
fn a_client_that_leaves_while_its_request_waits_is_noticed_at_once() {
    let up = HttpUpstream::start(|_| Reply::ok("late").delayed(Duration::from_secs(10)));
    let proxy = one_route(
        "/",
        "app",
        json!({"timeout": "30s"}),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
    );
    let mut s = TcpStream::connect(proxy.addr()).expect("connect");
    s.write_all(b"GET /wait HTTP/1.1\r\nhost: a\r\n\r\n")
        .expect("send");
    up.wait_for_requests(1, Duration::from_secs(5));
    drop(s);
    let admin = proxy.admin();
    admin.wait_for_stat(
        "http.ingress_http.downstream_rq_rx_reset",
        1,
        Duration::from_secs(3),
    );
    admin.wait_for_stat(
        "cluster.app.upstream_rq_tx_reset",
        1,
        Duration::from_secs(3),
    );
    admin.wait_for_stat("cluster.app.upstream_rq_active", 0, Duration::from_secs(3));
}

/// The cluster's `HttpProtocolOptions` for HTTP/1.1 upstreams.
fn http_options(common: Value) -> Value {
    json!({"typed_extension_protocol_options": {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "common_http_protocol_options": common,
            "explicit_http_config": {"http_protocol_options": {}},
        }
    }})
}

fn one_worker(doc: &Value) -> Proxy {
    Proxy::builder(sluice_tests::Config::Json(sluice_tests::lb::json_text(doc)))
        .concurrency(1)
        .start()
}

#[test]
fn max_requests_per_connection_retires_pooled_connections() {
    let up = HttpUpstream::named("one");
    let limited = HttpUpstream::named("two");
    let proxy = one_worker(&http_bootstrap(
        json!([
            route("/a", "plain", json!({})),
            route("/b", "limited", json!({}))
        ]),
        json!([
            static_cluster("plain", &[up.addr()], json!({})),
            static_cluster(
                "limited",
                &[limited.addr()],
                http_options(json!({"max_requests_per_connection": 2}))
            ),
        ]),
        json!({}),
        json!({}),
    ));
    let mut client = proxy.client();
    for _ in 0..6 {
        assert_eq!(client.get("x", "/a").status, 200);
        assert_eq!(client.get("x", "/b").status, 200);
    }
    assert_eq!(
        up.connection_count(),
        1,
        "the default reuses one connection"
    );
    assert_eq!(limited.connection_count(), 3, "two requests per connection");
}

#[test]
fn the_upstream_idle_timeout_closes_pooled_connections() {
    let up = HttpUpstream::named("one");
    let proxy = one_worker(&http_bootstrap(
        json!([route("/", "app", json!({}))]),
        json!([static_cluster(
            "app",
            &[up.addr()],
            http_options(json!({"idle_timeout": "0.2s"}))
        )]),
        json!({}),
        json!({}),
    ));
    let mut client = proxy.client();
    assert_eq!(client.get("x", "/").status, 200);
    assert_eq!(client.get("x", "/").status, 200);
    assert_eq!(up.connection_count(), 1, "reused while fresh");
    thread::sleep(Duration::from_millis(500));
    assert_eq!(client.get("x", "/").status, 200);
    assert_eq!(
        up.connection_count(),
        2,
        "a connection idle past idle_timeout is not reused"
    );
}

#[test]
fn a_body_within_the_listener_buffer_limit_is_held_and_replayed_on_retry() {
    let up = failing_every(1, || Reply::text(503, "no"));
    let body = vec![b'y'; 100 * 1024];
    let doc = |limit: Option<u32>| {
        let mut d = http_bootstrap(
            json!([route(
                "/",
                "app",
                json!({"retry_policy": {"retry_on": "5xx", "num_retries": 1}})
            )]),
            json!([static_cluster("app", &[up.addr()], json!({}))]),
            json!({}),
            json!({}),
        );
        if let Some(l) = limit {
            d["static_resources"]["listeners"][0]["per_connection_buffer_limit_bytes"] = json!(l);
        }
        d
    };
    // Default limit (1 MiB): the 100 KiB body is held, so the 503 is retried with it.
    let proxy = start_json(&doc(None));
    let r = HttpClient::connect(proxy.addr()).request(&Request::post("/", body.clone()));
    assert_eq!(r.status, 503);
    let seen = up.requests();
    assert_eq!(seen.len(), 2, "one try and one retry");
    assert!(
        seen.iter().all(|r| r.body_len == 100 * 1024),
        "the retry carried the whole body"
    );
    drop(proxy);

    // A 16 KiB limit: the body cannot be held, so it streams once and is not retried.
    let proxy = start_json(&doc(Some(16 * 1024)));
    let r = HttpClient::connect(proxy.addr()).request(&Request::post("/", body));
    assert_eq!(r.status, 503);
    assert_eq!(up.requests().len(), 3);
}

#[test]
fn retriable_headers_and_envoy_ratelimited_retry_on_response_headers() {
    // Every odd request is answered 200 with `x-retry: yes` (or x-envoy-ratelimited).
    let marked = |header: &'static str| {
        let n = Arc::new(AtomicUsize::new(0));
        HttpUpstream::start(move |_| {
            let i = n.fetch_add(1, Ordering::SeqCst);
            if i.is_multiple_of(2) {
                Reply::ok("marked").header(header, "yes")
            } else {
                Reply::ok("clean")
            }
        })
    };
    let up = marked("x-retry");
    let proxy = one_route(
        "/",
        "app",
        json!({"retry_policy": {
            "retry_on": "retriable-headers",
            "retriable_headers": [{"name": "x-retry", "string_match": {"exact": "yes"}}],
        }}),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
    );
    assert_eq!(get(&proxy, "/").text(), "clean");
    assert_eq!(up.request_count(), 2);

    let up = marked("x-envoy-ratelimited");
    let proxy = one_route(
        "/",
        "app",
        json!({"retry_policy": {"retry_on": "envoy-ratelimited"}}),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
    );
    assert_eq!(get(&proxy, "/").text(), "clean");

    // Control: the same marked response without a matching condition is relayed.
    let up = marked("x-retry");
    let proxy = one_route(
        "/",
        "app",
        json!({"retry_policy": {"retry_on": "5xx"}}),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
    );
    assert_eq!(get(&proxy, "/").text(), "marked");
}

#[test]
fn retriable_request_headers_limit_retries_to_matching_requests() {
    let up = HttpUpstream::start(|_| Reply::text(503, "no"));
    let proxy = one_route(
        "/",
        "app",
        json!({"retry_policy": {
            "retry_on": "5xx",
            "num_retries": 1,
            "retriable_request_headers": [{"name": "x-may-retry"}],
        }}),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
    );
    assert_eq!(get(&proxy, "/").status, 503);
    assert_eq!(
        up.request_count(),
        1,
        "a request without the header is not retried"
    );
    let r =
        HttpClient::connect(proxy.addr()).request(&Request::get("/").header("x-may-retry", "1"));
    assert_eq!(r.status, 503);
    assert_eq!(up.request_count(), 3, "a matching request is retried once");
}

#[test]
fn the_route_idle_timeout_and_max_stream_duration_answer_408() {
    let up = HttpUpstream::start(|_| Reply::ok("late").delayed(Duration::from_secs(3)));
    let routes = json!([
        route(
            "/idle",
            "app",
            json!({"timeout": "10s", "idle_timeout": "0.3s"})
        ),
        route(
            "/max",
            "app",
            json!({"timeout": "10s", "max_stream_duration": {"max_stream_duration": "0.3s"}})
        ),
        route("/control", "app", json!({"timeout": "0.6s"})),
    ]);
    let proxy = start_json(&http_bootstrap(
        routes,
        json!([static_cluster("app", &[up.addr()], json!({}))]),
        json!({}),
        json!({}),
    ));
    let t = Instant::now();
    let r = get(&proxy, "/idle");
    assert_eq!((r.status, r.text()), (408, "stream timeout".to_owned()));
    assert!(t.elapsed() < Duration::from_secs(2));
    let r = get(&proxy, "/max");
    assert_eq!(
        (r.status, r.text()),
        (408, "downstream duration timeout".to_owned())
    );
    // Control: without them the route timeout answers.
    assert_eq!(get(&proxy, "/control").status, 504);
    let admin = proxy.admin();
    assert_eq!(
        admin.stat("http.ingress_http.downstream_rq_idle_timeout"),
        1
    );
    assert_eq!(
        admin.stat("http.ingress_http.downstream_rq_max_duration_reached"),
        1
    );
}

#[test]
fn the_stream_idle_timeout_of_the_connection_manager_bounds_the_upstream_wait() {
    let up = HttpUpstream::start(|_| Reply::ok("late").delayed(Duration::from_secs(3)));
    let proxy = start_json(&http_bootstrap(
        json!([route("/", "app", json!({"timeout": "10s"}))]),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
        json!({"stream_idle_timeout": "0.3s"}),
        json!({}),
    ));
    let r = get(&proxy, "/");
    assert_eq!((r.status, r.text()), (408, "stream timeout".to_owned()));
}

#[test]
fn a_per_try_idle_timeout_is_retried() {
    let up = failing_every(2, || Reply::ok("slow").delayed(Duration::from_secs(3)));
    let proxy = one_route(
        "/",
        "app",
        json!({"timeout": "5s", "retry_policy": {"retry_on": "5xx", "num_retries": 1, "per_try_idle_timeout": "0.3s"}}),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
    );
    assert_eq!(get(&proxy, "/").status, 200);
    let t = Instant::now();
    let r = get(&proxy, "/");
    assert_eq!((r.status, r.text()), (200, "ok".to_owned()));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn the_routers_own_failures_count_as_completed_requests_with_their_status() {
    // Envoy's router charges its answer to the cluster when no upstream response came
    // (`chargeUpstreamCode`): no host to pick (503) and a refused connection (503) count in
    // `upstream_rq_5xx` and `upstream_rq_completed`, as a 5xx from the upstream would.
    // A cluster without endpoints has no host to pick (an all-unhealthy one would route in
    // panic mode instead).
    let no_healthy = static_cluster("sick", &[], json!({}));
    let proxy = start_json(&http_bootstrap(
        json!([
            route("/sick", "sick", json!({})),
            route("/", "refused", json!({}))
        ]),
        json!([
            no_healthy,
            static_cluster("refused", &[sluice_tests::closed_port()], json!({}))
        ]),
        json!({}),
        json!({}),
    ));
    assert_eq!(get(&proxy, "/sick").status, 503);
    assert_eq!(get(&proxy, "/x").status, 503);
    let admin = proxy.admin();
    for cluster in ["sick", "refused"] {
        assert_eq!(
            admin.stat(&format!("cluster.{cluster}.upstream_rq_5xx")),
            1,
            "{cluster}"
        );
        assert_eq!(
            admin.stat(&format!("cluster.{cluster}.upstream_rq_completed")),
            1,
            "{cluster}"
        );
    }
    assert_eq!(admin.stat("cluster.sick.upstream_cx_none_healthy"), 1);
}
