//! Circuit breakers through the real binary (two workers), as in seed 001 §5: limits per
//! cluster and priority that hold in the whole process, a real pending queue, overflow
//! answered 503 with `x-envoy-overloaded`, and Envoy's counters and gauges.
//!
//! Upstreams here count the requests and connections they serve at once; what is asserted is
//! those counts and the answers, never how long anything took.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_tests::lb::*;
use sluice_tests::{HttpClient, HttpUpstream, Proxy, Reply, Request, Response};

/// An upstream that holds each request for `hold` and records the most requests it ever held
/// at once.
struct Slow {
    upstream: HttpUpstream,
    peak: Arc<AtomicUsize>,
}

impl Slow {
    fn start(hold: Duration, status: u16) -> Self {
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (n, p) = (Arc::clone(&now), Arc::clone(&peak));
        let upstream = HttpUpstream::start(move |_| {
            let inside = n.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(inside, Ordering::SeqCst);
            thread::sleep(hold);
            n.fetch_sub(1, Ordering::SeqCst);
            Reply::text(status, "slow")
        });
        Slow { upstream, peak }
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// `n` requests for `path` at once, each on its own client connection (so they spread over
/// both workers).
fn burst(proxy: &Proxy, n: usize, path: &str) -> Vec<Response> {
    let addr = proxy.addr();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let path = path.to_string();
            thread::spawn(move || HttpClient::connect(addr).request(&get(&path)))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect()
}

fn statuses(responses: &[Response]) -> (usize, usize) {
    let ok = responses.iter().filter(|r| r.status == 200).count();
    let overflow = responses.iter().filter(|r| r.status == 503).count();
    assert_eq!(
        ok + overflow,
        responses.len(),
        "only 200 and 503: {:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    (ok, overflow)
}

fn breakers(thresholds: Value) -> Value {
    json!({"circuit_breakers": {"thresholds": thresholds}})
}

/// `max_connections: 1` is one connection in the whole process, whichever worker a request
/// lands on; requests beyond it wait in the pending queue instead of failing.
#[test]
fn one_connection_in_the_process_and_a_real_pending_queue() {
    let slow = Slow::start(Duration::from_millis(100), 200);
    let proxy = start_routed(
        "web",
        json!([static_cluster(
            "web",
            &[slow.upstream.addr()],
            breakers(json!([{"max_connections": 1, "max_pending_requests": 100}])),
        )]),
    );
    let responses = burst(&proxy, 12, "/");
    let (ok, _) = statuses(&responses);
    assert_eq!(ok, 12, "every request waited for the one connection");
    // Envoy opens one per worker at least; unlimited, all twelve would be in at once.
    assert_eq!(
        slow.peak(),
        1,
        "one connection carried requests at any time"
    );
    let admin = proxy.admin();
    assert!(admin.stat("cluster.web.upstream_rq_pending_total") >= 11);
    assert!(admin.stat("cluster.web.upstream_cx_overflow") >= 1);
    assert_eq!(admin.stat("cluster.web.upstream_rq_pending_overflow"), 0);
    assert_eq!(admin.stat("cluster.web.upstream_rq_pending_active"), 0);
    // The idle pooled connection still holds the only connection budget.
    assert_eq!(
        admin.stat("cluster.web.circuit_breakers.default.cx_open"),
        1
    );
    assert_eq!(
        admin.stat("cluster.web.circuit_breakers.default.rq_pending_open"),
        0
    );
}

/// Seed 001 §5.5: `max_connections: 1`, `max_pending_requests: 1`; a burst overflows with 503
/// `x-envoy-overloaded: true` and `upstream_rq_pending_overflow`; then the breaker closes.
#[test]
fn pending_overflow_answers_503_overloaded_then_closes() {
    let slow = Slow::start(Duration::from_millis(200), 200);
    let proxy = start_routed(
        "web",
        json!([static_cluster(
            "web",
            &[slow.upstream.addr()],
            breakers(json!({"max_connections": 1, "max_pending_requests": 1, "max_retries": 3})),
        )]),
    );
    let responses = burst(&proxy, 12, "/");
    let (ok, overflow) = statuses(&responses);
    assert!(ok >= 1 && overflow >= 6, "{ok} ok, {overflow} overflowed");
    for r in responses.iter().filter(|r| r.status == 503) {
        assert_eq!(r.header("x-envoy-overloaded"), Some("true"));
        assert_eq!(
            r.text(),
            "upstream connect error or disconnect/reset before headers. reset reason: overflow"
        );
    }
    assert_eq!(slow.peak(), 1);
    let admin = proxy.admin();
    assert_eq!(
        admin.stat("cluster.web.upstream_rq_pending_overflow"),
        overflow as u64
    );
    // One at a time, every request passes again.
    for _ in 0..4 {
        assert_eq!(
            HttpClient::connect(proxy.addr()).request(&get("/")).status,
            200
        );
    }
}

/// `max_requests` bounds requests in flight across workers; with enough connections allowed,
/// the rest overflow (Envoy counts them as pending overflow too).
#[test]
fn max_requests_bounds_requests_in_flight() {
    let slow = Slow::start(Duration::from_millis(200), 200);
    let proxy = start_routed(
        "web",
        json!([static_cluster(
            "web",
            &[slow.upstream.addr()],
            breakers(json!([{"max_requests": 2, "track_remaining": true}])),
        )]),
    );
    let responses = burst(&proxy, 10, "/");
    let (ok, overflow) = statuses(&responses);
    assert!(ok >= 2 && overflow >= 1, "{ok} ok, {overflow} overflowed");
    assert!(slow.peak() <= 2, "at most 2 at once, saw {}", slow.peak());
    let admin = proxy.admin();
    assert_eq!(
        admin.stat("cluster.web.upstream_rq_pending_overflow"),
        overflow as u64
    );
    assert_eq!(
        admin.stat("cluster.web.circuit_breakers.default.remaining_rq"),
        2
    );
    assert_eq!(
        admin.stat("cluster.web.circuit_breakers.default.rq_open"),
        0
    );
}

/// A route's `priority: HIGH` is held to the HIGH thresholds; DEFAULT traffic to its own.
#[test]
fn route_priority_selects_the_thresholds() {
    let slow = Slow::start(Duration::from_millis(150), 200);
    let doc = http_bootstrap(
        json!([
            route("/high", "web", json!({"priority": "HIGH"})),
            route("/", "web", json!({})),
        ]),
        json!([static_cluster(
            "web",
            &[slow.upstream.addr()],
            breakers(json!([
                {"priority": "DEFAULT", "max_requests": 1},
                {"priority": "HIGH", "max_requests": 100},
            ])),
        )]),
        json!({}),
        json!({}),
    );
    let proxy = start_json(&doc);
    let (ok, overflow) = statuses(&burst(&proxy, 8, "/high"));
    assert_eq!((ok, overflow), (8, 0), "HIGH: room for all");
    let (ok, overflow) = statuses(&burst(&proxy, 8, "/"));
    assert!(
        overflow >= 1 && ok >= 1,
        "DEFAULT: {ok} ok, {overflow} overflowed"
    );
    let admin = proxy.admin();
    assert!(
        admin
            .stats()
            .contains_key("cluster.web.circuit_breakers.high.rq_open")
    );
    assert!(
        !admin
            .stats()
            .contains_key("cluster.web.circuit_breakers.high.remaining_rq"),
        "remaining_* only with track_remaining"
    );
}

/// `max_retries` bounds retries in flight across the cluster: the rest are not retried,
/// counted as `upstream_rq_retry_overflow`, and the client gets the upstream's answer.
#[test]
fn max_retries_bounds_retries_in_flight() {
    let slow = Slow::start(Duration::from_millis(100), 503);
    let doc = http_bootstrap(
        json!([route(
            "/",
            "web",
            json!({"retry_policy": {"retry_on": "5xx", "num_retries": 3,
                "retry_back_off": {"base_interval": "0.01s"}}})
        )]),
        json!([static_cluster(
            "web",
            &[slow.upstream.addr()],
            breakers(json!([{"max_retries": 1}])),
        )]),
        json!({}),
        json!({}),
    );
    let proxy = start_json(&doc);
    let responses = burst(&proxy, 6, "/");
    assert!(responses.iter().all(|r| r.status == 503));
    let admin = proxy.admin();
    assert!(admin.stat("cluster.web.upstream_rq_retry_overflow") >= 1);
    // Without the breaker, 6 requests x 4 attempts reach the upstream.
    assert!(slow.upstream.request_count() < 24);
    assert_eq!(
        admin.stat("cluster.web.circuit_breakers.default.rq_retry_open"),
        0
    );
}

/// A retry budget of 0 % with a minimum of 0 allows no retry at all.
#[test]
fn retry_budget_replaces_max_retries() {
    let failing = HttpUpstream::start(|_| Reply::text(503, "no"));
    let doc = http_bootstrap(
        json!([route(
            "/",
            "web",
            json!({"retry_policy": {"retry_on": "5xx", "num_retries": 2}})
        )]),
        json!([static_cluster(
            "web",
            &[failing.addr()],
            breakers(json!([{"max_retries": 100, "retry_budget": {
                "budget_percent": {"value": 0}, "min_retry_concurrency": 0}}])),
        )]),
        json!({}),
        json!({}),
    );
    let proxy = start_json(&doc);
    for _ in 0..3 {
        assert_eq!(
            HttpClient::connect(proxy.addr()).request(&get("/")).status,
            503
        );
    }
    assert_eq!(failing.request_count(), 3, "no request was retried");
    assert_eq!(
        proxy.admin().stat("cluster.web.upstream_rq_retry_overflow"),
        3
    );
}

/// `per_host_thresholds.max_connections` limits each host on its own.
#[test]
fn per_host_connection_limit() {
    let (a, b) = (
        Slow::start(Duration::from_millis(100), 200),
        Slow::start(Duration::from_millis(100), 200),
    );
    let proxy = start_routed(
        "web",
        json!([static_cluster(
            "web",
            &[a.upstream.addr(), b.upstream.addr()],
            json!({"circuit_breakers": {"per_host_thresholds": [{"max_connections": 1}]}}),
        )]),
    );
    let (ok, _) = statuses(&burst(&proxy, 12, "/"));
    assert_eq!(ok, 12);
    // Unlimited, each host would carry about six at once.
    assert_eq!((a.peak(), b.peak()), (1, 1));
}

/// `max_connection_pools: 1`: a second host needs a second pool, refused as Envoy refuses it
/// (503 no healthy upstream, `upstream_cx_pool_overflow`).
#[test]
fn max_connection_pools() {
    let (a, b) = (HttpUpstream::named("a"), HttpUpstream::named("b"));
    let proxy = start_routed(
        "web",
        json!([static_cluster(
            "web",
            &[a.addr(), b.addr()],
            breakers(json!([{"max_connection_pools": 1, "track_remaining": true}])),
        )]),
    );
    // One kept-alive client connection: one worker, whose pool to `a` stays open.
    let mut client = HttpClient::connect(proxy.addr());
    let statuses: Vec<u16> = (0..4)
        .map(|_| client.request(&Request::get("/")).status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        2,
        "{statuses:?}"
    );
    let admin = proxy.admin();
    assert_eq!(admin.stat("cluster.web.upstream_cx_pool_overflow"), 2);
    assert_eq!(
        admin.stat("cluster.web.circuit_breakers.default.cx_pool_open"),
        1
    );
    assert_eq!(
        admin.stat("cluster.web.circuit_breakers.default.remaining_cx_pools"),
        0
    );
}
