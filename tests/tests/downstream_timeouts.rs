//! Downstream safety: the connection manager's timers through the real binary. A client can no
//! longer hold a connection open forever: `idle_timeout` and `max_connection_duration` begin a
//! drain sequence that closes the connection `drain_timeout` later (a request in between is
//! answered with `connection: close`, as Envoy's HTTP/1 connection manager does), and
//! `request_headers_timeout` and `request_timeout` answer a slow head with 408. Each test runs
//! a control connection (the default settings) that the timer must not touch.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::lb::{http_bootstrap, route, start_json, static_cluster};
use sluice_tests::{HttpUpstream, Proxy, Reply};

fn proxy_with(hcm: Value) -> (Proxy, HttpUpstream) {
    let up = HttpUpstream::named("app");
    let proxy = start_json(&http_bootstrap(
        json!([route("/", "app", json!({}))]),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
        hcm,
        json!({}),
    ));
    (proxy, up)
}

/// Reads until the peer closes or `within` passes; returns what was read and whether it closed.
fn read_until_closed(s: &mut TcpStream, within: Duration) -> (String, bool) {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), false)
}

#[test]
fn idle_timeout_closes_an_idle_keep_alive_connection() {
    // The drain sequence that follows is short here; Envoy's default is 5 s.
    let (proxy, _up) = proxy_with(json!({
        "common_http_protocol_options": {"idle_timeout": "0.3s"},
        "drain_timeout": "0.2s",
    }));
    let mut s = TcpStream::connect(proxy.addr()).expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .expect("send");
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(3));
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed, "the idle connection was closed");
    assert_eq!(
        proxy
            .admin()
            .stat("http.ingress_http.downstream_cx_idle_timeout"),
        1
    );

    // Control: with the default (1 h) the connection stays open.
    let (proxy, _up) = proxy_with(json!({}));
    let mut s = TcpStream::connect(proxy.addr()).expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .expect("send");
    let (_, closed) = read_until_closed(&mut s, Duration::from_millis(800));
    assert!(!closed);
}

#[test]
fn request_headers_timeout_answers_a_slow_head_with_408() {
    let (proxy, up) = proxy_with(json!({"request_headers_timeout": "0.3s"}));
    let mut s = TcpStream::connect(proxy.addr()).expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n").expect("send");
    let t = Instant::now();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(3));
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.ends_with("request header timeout"), "{text}");
    assert!(closed && t.elapsed() < Duration::from_secs(2));
    assert_eq!(up.request_count(), 0);
    assert_eq!(
        proxy
            .admin()
            .stat("http.ingress_http.downstream_rq_header_timeout"),
        1
    );
}

#[test]
fn request_timeout_bounds_the_whole_head() {
    let (proxy, _up) = proxy_with(json!({"request_timeout": "0.4s"}));
    let mut s = TcpStream::connect(proxy.addr()).expect("connect");
    // A head that trickles in: each part resets no timer that request_timeout obeys.
    for part in [&b"GET / HT"[..], b"TP/1.1\r\n", b"host: a\r\n"] {
        s.write_all(part).expect("send");
        std::thread::sleep(Duration::from_millis(150));
    }
    let (text, _) = read_until_closed(&mut s, Duration::from_secs(3));
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.ends_with("request timeout"), "{text}");
}

#[test]
fn max_connection_duration_closes_after_the_current_request() {
    let up = HttpUpstream::start(|_| Reply::ok("slow").delayed(Duration::from_millis(600)));
    let proxy = start_json(&http_bootstrap(
        json!([route("/", "app", json!({}))]),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
        json!({"common_http_protocol_options": {"max_connection_duration": "0.3s"}}),
        json!({}),
    ));
    let mut s = TcpStream::connect(proxy.addr()).expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .expect("send");
    // The duration runs out while the request is served: its response says so and the
    // connection closes after it (no drain wait: the response is the last word).
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(3));
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(closed, "closed once the connection outlived its duration");
    assert_eq!(up.request_count(), 1);
    assert_eq!(
        proxy
            .admin()
            .stat("http.ingress_http.downstream_cx_max_duration_reached"),
        1
    );
}

#[test]
fn request_timeout_bounds_a_slow_body_too() {
    let (proxy, up) = proxy_with(json!({"request_timeout": "0.4s"}));
    let mut s = TcpStream::connect(proxy.addr()).expect("connect");
    s.write_all(b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nab")
        .expect("send");
    let t = Instant::now();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(3));
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.ends_with("request timeout"), "{text}");
    assert!(closed && t.elapsed() < Duration::from_secs(2));
    assert_eq!(
        proxy
            .admin()
            .stat("http.ingress_http.downstream_rq_timeout"),
        1
    );
    // The head went upstream before the body stalled: the upstream saw a request it never
    // got the whole of, and no answer reached the client but the 408.
    assert!(up.request_count() <= 1);
}

#[test]
fn idle_timeout_begins_a_drain_sequence_of_drain_timeout() {
    let (proxy, up) = proxy_with(json!({
        "common_http_protocol_options": {"idle_timeout": "0.2s"},
        "drain_timeout": "3s",
    }));
    let mut s = TcpStream::connect(proxy.addr()).expect("connect");
    s.write_all(b"GET /1 HTTP/1.1\r\nhost: a\r\n\r\n")
        .expect("send");
    let (first, closed) = read_until_closed(&mut s, Duration::from_millis(700));
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(!first.to_ascii_lowercase().contains("connection: close"));
    assert!(
        !closed,
        "the drain sequence keeps the connection for drain_timeout"
    );
    assert_eq!(
        proxy
            .admin()
            .stat("http.ingress_http.downstream_cx_idle_timeout"),
        1
    );
    // A request inside the drain window is served, with `connection: close`, and then the
    // connection closes without waiting for the rest of the window.
    s.write_all(b"GET /2 HTTP/1.1\r\nhost: a\r\n\r\n")
        .expect("send");
    let (second, closed) = read_until_closed(&mut s, Duration::from_secs(2));
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    assert!(
        second.to_ascii_lowercase().contains("connection: close"),
        "{second}"
    );
    assert!(closed);
    assert_eq!(up.request_count(), 2);
}

#[test]
fn a_connection_that_never_sent_a_byte_closes_at_its_idle_timeout() {
    // Envoy has no codec for it yet, so there is nothing to drain.
    let (proxy, _up) = proxy_with(json!({
        "common_http_protocol_options": {"idle_timeout": "0.2s"},
        "drain_timeout": "30s",
    }));
    let mut s = TcpStream::connect(proxy.addr()).expect("connect");
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(3));
    assert!(text.is_empty() && closed);
}

#[test]
fn drain_timeout_zero_closes_at_the_idle_timeout() {
    let (proxy, _up) = proxy_with(json!({
        "common_http_protocol_options": {"idle_timeout": "0.2s"},
        "drain_timeout": "0s",
    }));
    let mut s = TcpStream::connect(proxy.addr()).expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .expect("send");
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(3));
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed);
}
