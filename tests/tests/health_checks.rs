//! Active health checking through the real binary, as in seed 000's labs: an HTTP check takes a
//! host out of rotation when its `/livez` fails and back once it passes again; a TCP check fails
//! a stopped backend. Intervals are short so the tests are quick; what is asserted is the order
//! of events and the counts, never how long they took.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sluice_tests::lb::*;
use sluice_tests::{HttpClient, HttpUpstream, Proxy, Reply, eventually};

const WAIT: Duration = Duration::from_secs(20);

fn start(clusters: Value) -> Proxy {
    start_routed("web", clusters)
}

/// An upstream answering `name` on every path but `/livez`, which answers `status` as it is
/// set at the time.
fn app(name: &'static str, status: &Arc<AtomicU16>) -> HttpUpstream {
    let status = Arc::clone(status);
    HttpUpstream::start(move |r| {
        if r.path == "/livez" {
            let s = status.load(Ordering::SeqCst);
            Reply::text(s, if s == 200 { "OK" } else { "FAIL" })
        } else {
            Reply::ok(name)
        }
    })
}

fn health_flags(proxy: &Proxy, addr: SocketAddr) -> String {
    host_health_flags(proxy, "web", addr)
}

fn wait_flags(proxy: &Proxy, addr: SocketAddr, want: &str) {
    let mut last = String::new();
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually(&format!("{addr} to show {want}"), WAIT, || {
            last = health_flags(proxy, addr);
            (last == want).then_some(())
        })
    }));
    assert!(found.is_ok(), "{addr} never showed {want}; last {last}");
    workers_caught_up(proxy);
}

/// Bodies of `n` requests, each on its own connection.
fn answers(proxy: &Proxy, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let r = HttpClient::connect(proxy.addr()).request(&get("/"));
            assert_eq!(r.status, 200, "{}", r.text());
            r.text()
        })
        .collect()
}

#[test]
fn an_http_check_takes_a_failing_host_out_and_brings_it_back_after_the_threshold() {
    let red_status = Arc::new(AtomicU16::new(200));
    let blue_status = Arc::new(AtomicU16::new(200));
    let red = app("red", &red_status);
    let blue = app("blue", &blue_status);
    // Seed 000's check, with Envoy's start/end mapping written where the proto has a list.
    let check = json!({"health_checks": [{
        "timeout": "1s",
        "interval": "0.1s",
        "no_traffic_interval": "0.1s",
        "unhealthy_threshold": 2,
        "healthy_threshold": 2,
        "http_health_check": {"path": "/livez", "expected_statuses": {"start": 200, "end": 399}},
    }]});
    let proxy = start(json!([static_cluster(
        "web",
        &[red.addr(), blue.addr()],
        check
    )]));
    let admin = proxy.admin();
    wait_flags(&proxy, red.addr(), "healthy");
    wait_flags(&proxy, blue.addr(), "healthy");
    let both = answers(&proxy, 20);
    assert!(both.iter().any(|a| a == "red") && both.iter().any(|a| a == "blue"));

    // The check request: GET of the path, the cluster's name as host, Envoy's user agent.
    let check_request = blue
        .requests()
        .into_iter()
        .find(|r| r.path == "/livez")
        .expect("blue was checked");
    assert_eq!(check_request.method, "GET");
    assert_eq!(check_request.header("host"), Some("web"));
    assert_eq!(check_request.header("user-agent"), Some("Envoy/HC"));

    // A 503 is outside 200..399 and not retriable: blue fails at its next check.
    blue_status.store(503, Ordering::SeqCst);
    wait_flags(&proxy, blue.addr(), "/failed_active_hc");
    assert!(admin.stat("cluster.web.health_check.failure") >= 1);
    assert_eq!(admin.stat("cluster.web.health_check.healthy"), 1);
    assert_eq!(admin.stat("cluster.web.membership_healthy"), 1);
    assert!(
        answers(&proxy, 20).iter().all(|a| a == "red"),
        "a failed host takes no traffic"
    );

    // Back: two passes in a row (healthy_threshold) make it healthy again.
    let successes = admin.stat("cluster.web.health_check.success");
    blue_status.store(200, Ordering::SeqCst);
    wait_flags(&proxy, blue.addr(), "healthy");
    assert!(
        admin.stat("cluster.web.health_check.success") >= successes + 2,
        "healthy again only after healthy_threshold passes"
    );
    assert_eq!(admin.stat("cluster.web.health_check.healthy"), 2);
    eventually("blue to take traffic again", WAIT, || {
        answers(&proxy, 10)
            .iter()
            .any(|a| a == "blue")
            .then_some(())
    });
    assert!(
        admin.stat("cluster.web.health_check.attempt")
            >= admin.stat("cluster.web.health_check.success")
    );
    drop(red_status);
}

#[test]
fn retriable_statuses_count_to_the_unhealthy_threshold() {
    let status = Arc::new(AtomicU16::new(200));
    let up = app("only", &status);
    let check = json!({"health_checks": [{
        "timeout": "1s",
        "interval": "0.1s",
        "no_traffic_interval": "0.1s",
        "unhealthy_threshold": 3,
        "healthy_threshold": 1,
        "http_health_check": {"path": "/livez", "retriable_statuses": [{"start": 503, "end": 504}]},
    }]});
    let proxy = start(json!([static_cluster("web", &[up.addr()], check)]));
    let admin = proxy.admin();
    wait_flags(&proxy, up.addr(), "healthy");
    let failures = admin.stat("cluster.web.health_check.failure");
    status.store(503, Ordering::SeqCst);
    wait_flags(&proxy, up.addr(), "/failed_active_hc");
    assert!(
        admin.stat("cluster.web.health_check.failure") >= failures + 3,
        "a retriable status fails a host only after unhealthy_threshold checks"
    );
}

#[test]
fn a_tcp_check_fails_a_backend_that_stopped_listening() {
    let up = HttpUpstream::replying("up");
    let addr = up.addr();
    let check = json!({"health_checks": [{
        "timeout": "1s",
        "interval": "0.1s",
        "no_traffic_interval": "0.1s",
        "unhealthy_threshold": 2,
        "healthy_threshold": 2,
        "tcp_health_check": {},
    }]});
    let proxy = start(json!([static_cluster("web", &[addr], check)]));
    let admin = proxy.admin();
    wait_flags(&proxy, addr, "healthy");
    drop(up);
    wait_flags(&proxy, addr, "/failed_active_hc");
    assert!(admin.stat("cluster.web.health_check.network_failure") >= 2);
    // No healthy host left: the cluster is in panic and still tries it, and the connection
    // is refused.
    let r = HttpClient::connect(proxy.addr()).request(&get("/"));
    assert_eq!(r.status, 503);
    assert_eq!(
        admin.stat("cluster.web.lb_healthy_panic"),
        1,
        "the pick was made in panic"
    );
}

/// A check with `fields` merged over short intervals and thresholds of one.
fn check_with(fields: Value) -> Value {
    let mut hc = json!({
        "timeout": "1s",
        "interval": "0.1s",
        "no_traffic_interval": "0.1s",
        "unhealthy_threshold": 1,
        "healthy_threshold": 1,
        "http_health_check": {"path": "/livez"},
    });
    merge(&mut hc, fields);
    json!({"health_checks": [hc]})
}

#[test]
fn a_degraded_answer_marks_the_host_degraded_and_traffic_prefers_the_healthy_one() {
    // Three healthy hosts of four are 75 % x 1.4 overprovisioning: healthy hosts carry it all.
    let healthy: Vec<_> = (0..3).map(|_| HttpUpstream::replying("healthy")).collect();
    let degraded = HttpUpstream::start(|r| {
        if r.path == "/livez" {
            Reply::ok("OK").header("x-envoy-degraded", "")
        } else {
            Reply::ok("degraded")
        }
    });
    let mut addrs: Vec<_> = healthy.iter().map(HttpUpstream::addr).collect();
    addrs.push(degraded.addr());
    let proxy = start(json!([static_cluster(
        "web",
        &addrs,
        check_with(json!({}))
    )]));
    for h in &healthy {
        wait_flags(&proxy, h.addr(), "healthy");
    }
    wait_flags(&proxy, degraded.addr(), "/degraded_active_hc");
    let admin = proxy.admin();
    assert_eq!(admin.stat("cluster.web.health_check.degraded"), 1);
    assert_eq!(admin.stat("cluster.web.membership_degraded"), 1);
    let got = answers(&proxy, 20);
    assert!(
        got.iter().all(|a| a == "healthy"),
        "{got:?}\n{}\n{:?}",
        lb_explain(&proxy, "web"),
        proxy.admin().clusters()
    );
}

#[test]
fn immediate_health_check_fail_excludes_the_host_from_the_panic_count() {
    let up = HttpUpstream::replying("up");
    let leaving = |name: &'static str| {
        HttpUpstream::start(move |r| {
            if r.path == "/livez" {
                Reply::text(503, "FAIL").header("x-envoy-immediate-health-check-fail", "true")
            } else {
                Reply::ok(name)
            }
        })
    };
    let (a, b) = (leaving("a"), leaving("b"));
    let proxy = start(json!([static_cluster(
        "web",
        &[up.addr(), a.addr(), b.addr()],
        check_with(json!({}))
    )]));
    wait_flags(&proxy, up.addr(), "healthy");
    for h in [&a, &b] {
        wait_flags(
            &proxy,
            h.addr(),
            "/failed_active_hc/excluded_via_immediate_hc_fail",
        );
    }
    // Counted, one healthy host of three (33 %) would put the cluster in panic and spread
    // traffic over all three; excluded, the one host left is 100 % of the cluster.
    let got = answers(&proxy, 20);
    assert!(got.iter().all(|a| a == "up"), "{got:?}");
    assert_eq!(proxy.admin().stat("cluster.web.membership_healthy"), 1);
}

#[test]
fn checks_share_one_connection_unless_reuse_connection_is_off() {
    for reuse in [true, false] {
        let up = HttpUpstream::replying("up");
        let proxy = start(json!([static_cluster(
            "web",
            &[up.addr()],
            check_with(json!({"reuse_connection": reuse}))
        )]));
        let admin = proxy.admin();
        eventually("five checks", WAIT, || {
            (admin.stat("cluster.web.health_check.success") >= 5).then_some(())
        });
        let connections = up.connection_count();
        if reuse {
            assert_eq!(connections, 1, "every check on the first connection");
        } else {
            assert!(connections >= 5, "a connection per check: {connections}");
        }
    }
}

#[test]
fn the_host_field_names_the_checked_service() {
    let up = HttpUpstream::replying("up");
    let proxy = start(json!([static_cluster(
        "web",
        &[up.addr()],
        check_with(json!({"http_health_check": {"path": "/livez", "host": "checks.example"}}))
    )]));
    wait_flags(&proxy, up.addr(), "healthy");
    let check = up
        .requests()
        .into_iter()
        .find(|r| r.path == "/livez")
        .expect("checked");
    assert_eq!(check.header("host"), Some("checks.example"));
}

#[test]
fn a_cluster_without_traffic_is_checked_every_no_traffic_interval() {
    let status = Arc::new(AtomicU16::new(200));
    let up = app("up", &status);
    // `interval` is an hour: only `no_traffic_interval` can bring the next check.
    let proxy = start(json!([static_cluster(
        "web",
        &[up.addr()],
        check_with(json!({"interval": "3600s", "no_traffic_interval": "0.1s"}))
    )]));
    wait_flags(&proxy, up.addr(), "healthy");
    status.store(500, Ordering::SeqCst);
    wait_flags(&proxy, up.addr(), "/failed_active_hc");
}

#[test]
fn a_proxied_response_with_immediate_health_check_fail_fails_the_host_at_once() {
    // The host passes its checks, but answers traffic with the header (a host going down for
    // maintenance). The next check is an hour away, so only traffic can fail it.
    let leaving = HttpUpstream::start(|r| {
        if r.path == "/livez" {
            Reply::ok("OK")
        } else {
            Reply::ok("leaving").header("x-envoy-immediate-health-check-fail", "true")
        }
    });
    let proxy = start(json!([static_cluster(
        "web",
        &[leaving.addr()],
        check_with(json!({"interval": "3600s", "no_traffic_interval": "3600s"}))
    )]));
    let admin = proxy.admin();
    wait_flags(&proxy, leaving.addr(), "healthy");
    let r = HttpClient::connect(proxy.addr()).request(&get("/"));
    assert_eq!(r.text(), "leaving");
    eventually("a passive failure", WAIT, || {
        (admin.stat("cluster.web.health_check.passive_failure") == 1).then_some(())
    });
    wait_flags(
        &proxy,
        leaving.addr(),
        "/failed_active_hc/excluded_via_immediate_hc_fail",
    );
    assert_eq!(admin.stat("cluster.web.health_check.healthy"), 0);
}

/// The event log's lines, as JSON.
fn events(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn the_event_log_records_transitions_and_failures_as_asked() {
    for always in [false, true] {
        let dir = sluice_tests::TempDir::new("hc-events");
        let log = dir.path().join("hc.log");
        let status = Arc::new(AtomicU16::new(200));
        let up = app("up", &status);
        let proxy = start(json!([static_cluster(
            "web",
            &[up.addr()],
            check_with(json!({
                "event_log_path": log.to_string_lossy(),
                "always_log_health_check_failures": always,
            }))
        )]));
        let admin = proxy.admin();
        wait_flags(&proxy, up.addr(), "healthy");
        status.store(503, Ordering::SeqCst);
        wait_flags(&proxy, up.addr(), "/failed_active_hc");
        let failures = admin.stat("cluster.web.health_check.failure");
        eventually("two more failed checks", WAIT, || {
            (admin.stat("cluster.web.health_check.failure") >= failures + 2).then_some(())
        });
        let got = events(&log);
        let first = got.first().expect("an event");
        assert_eq!(first["health_checker_type"], "HTTP");
        assert_eq!(first["cluster_name"], "web");
        assert_eq!(first["add_healthy_event"]["first_check"], true);
        assert_eq!(
            first["host"]["socket_address"]["port_value"],
            u64::from(up.addr().port())
        );
        let ejections: Vec<_> = got
            .iter()
            .filter(|e| e.get("eject_unhealthy_event").is_some())
            .collect();
        assert_eq!(ejections.len(), 1);
        assert_eq!(
            ejections[0]["eject_unhealthy_event"]["failure_type"],
            "ACTIVE"
        );
        let failures_logged = got
            .iter()
            .filter(|e| e.get("health_check_failure_event").is_some())
            .count();
        if always {
            assert!(failures_logged >= 3, "every failure logged: {got:?}");
        } else {
            assert_eq!(failures_logged, 0, "only a first check's failure is logged");
        }
    }
}

#[test]
fn an_endpoint_can_be_checked_elsewhere_or_not_at_all() {
    // The service answers traffic; its health is served by a sidecar on another port.
    let service = HttpUpstream::replying("service");
    let sidecar = HttpUpstream::replying("sidecar");
    let unchecked = HttpUpstream::start(|r| {
        if r.path == "/livez" {
            Reply::text(503, "never asked")
        } else {
            Reply::ok("unchecked")
        }
    });
    let mut cluster = static_cluster(
        "web",
        &[service.addr(), unchecked.addr()],
        check_with(json!({})),
    );
    let eps = &mut cluster["load_assignment"]["endpoints"][0]["lb_endpoints"];
    eps[0]["endpoint"]["health_check_config"] = json!({
        "port_value": sidecar.addr().port(),
        "hostname": "service.health",
    });
    eps[1]["endpoint"]["health_check_config"] = json!({"disable_active_health_check": true});
    let proxy = start(json!([cluster]));
    wait_flags(&proxy, service.addr(), "healthy");
    assert_eq!(health_flags(&proxy, unchecked.addr()), "healthy");
    let check = sidecar
        .requests()
        .into_iter()
        .find(|r| r.path == "/livez")
        .expect("the sidecar was checked");
    assert_eq!(check.header("host"), Some("service.health"));
    assert!(
        service.requests().iter().all(|r| r.path != "/livez"),
        "the service itself is not checked"
    );
    assert!(
        unchecked.requests().is_empty(),
        "a disabled endpoint is not checked"
    );
    assert_eq!(proxy.admin().stat("cluster.web.health_check.healthy"), 1);
}

/// A TCP server on loopback that answers every `PING` it reads with `answer`, keeping the
/// connection; it counts connections. Stops with the test process.
fn ping_server(answer: &'static [u8]) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                let mut seen = Vec::new();
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(at) = seen.windows(4).position(|w| w == b"PING") {
                        seen.drain(..at + 4);
                        if stream.write_all(answer).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, connections)
}

#[test]
fn a_tcp_check_sends_its_payload_and_waits_for_the_answer_in_order() {
    let (good, good_connections) = ping_server(b"+PO..NG\r\n");
    let (wrong, _) = ping_server(b"+NOPE\r\n");
    let tcp = json!({"tcp_health_check": {
        // "PING", then "PO" and "NG" in that order, not necessarily adjacent.
        "send": {"text": "50494e47"},
        "receive": [{"text": "504f"}, {"text": "4e47"}],
    }});
    let mut check = check_with(json!({"timeout": "0.3s"}));
    check["health_checks"][0]
        .as_object_mut()
        .expect("a check")
        .remove("http_health_check");
    merge(&mut check["health_checks"][0], tcp);
    let proxy = start(json!([static_cluster("web", &[good, wrong], check)]));
    let admin = proxy.admin();
    wait_flags(&proxy, good, "healthy");
    // A wrong answer never matches: the check times out.
    wait_flags(&proxy, wrong, "/failed_active_hc/active_hc_timeout");
    eventually("more passing checks", WAIT, || {
        (admin.stat("cluster.web.health_check.success") >= 5).then_some(())
    });
    assert_eq!(
        good_connections.load(Ordering::SeqCst),
        1,
        "checks with answers reuse their connection"
    );
}

#[test]
fn traffic_fails_over_to_the_next_priority_when_its_hosts_fail_their_checks() {
    let primary_status = Arc::new(AtomicU16::new(200));
    let primary = app("primary", &primary_status);
    let backup = app("backup", &Arc::new(AtomicU16::new(200)));
    let mut cluster = static_cluster("web", &[primary.addr()], check_with(json!({})));
    let groups = cluster["load_assignment"]["endpoints"]
        .as_array_mut()
        .expect("endpoint groups");
    groups.push(json!({
        "priority": 1,
        "lb_endpoints": [endpoint(backup.addr(), json!({}))],
    }));
    let proxy = start(json!([cluster]));
    wait_flags(&proxy, primary.addr(), "healthy");
    wait_flags(&proxy, backup.addr(), "healthy");
    assert!(answers(&proxy, 10).iter().all(|a| a == "primary"));
    primary_status.store(503, Ordering::SeqCst);
    wait_flags(&proxy, primary.addr(), "/failed_active_hc");
    // P0 has no healthy host: P1 takes all of the load (no panic, P1 is 100 % healthy).
    assert!(answers(&proxy, 10).iter().all(|a| a == "backup"));
    primary_status.store(200, Ordering::SeqCst);
    wait_flags(&proxy, primary.addr(), "healthy");
    assert!(answers(&proxy, 10).iter().all(|a| a == "primary"));
}
