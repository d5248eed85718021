//! The connection manager's codec options through the real binary: `max_request_headers_kb`,
//! `common_http_protocol_options.max_headers_count` and `headers_with_underscores_action`,
//! `http_protocol_options.accept_http_10` and `default_host_for_http_10`. Each is compared with
//! the default behaviour on the same request.

use serde_json::{Value, json};
use sluice_tests::lb::{http_bootstrap, route, start_json, static_cluster};
use sluice_tests::{HttpClient, HttpUpstream, Proxy, Request};

fn proxy(up: &HttpUpstream, hcm: Value) -> Proxy {
    start_json(&http_bootstrap(
        json!([route("/", "app", json!({}))]),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
        hcm,
        json!({}),
    ))
}

fn status(p: &Proxy, request: &Request) -> u16 {
    HttpClient::connect(p.addr()).request(request).status
}

#[test]
fn header_size_and_count_limits() {
    let up = HttpUpstream::named("app");
    let big = Request::get("/").header("x-big", &"a".repeat(2048));
    let many = (0..8).fold(Request::get("/"), |r, i| r.header(&format!("x-h{i}"), "v"));
    let defaults = proxy(&up, json!({}));
    assert_eq!(status(&defaults, &big), 200);
    assert_eq!(status(&defaults, &many), 200);
    let small = proxy(
        &up,
        json!({"max_request_headers_kb": 1, "common_http_protocol_options": {"max_headers_count": 5}}),
    );
    assert_eq!(status(&small, &big), 431);
    assert_eq!(status(&small, &many), 431);
}

#[test]
fn headers_with_underscores_are_allowed_dropped_or_rejected() {
    let up = HttpUpstream::named("app");
    let request = Request::get("/").header("x_under", "1");
    let allow = proxy(&up, json!({}));
    assert_eq!(status(&allow, &request), 200);
    assert_eq!(up.last_request().header("x_under"), Some("1"));
    let drop = proxy(
        &up,
        json!({"common_http_protocol_options": {"headers_with_underscores_action": "DROP_HEADER"}}),
    );
    assert_eq!(status(&drop, &request), 200);
    assert!(!up.last_request().has_header("x_under"));
    assert_eq!(
        drop.admin()
            .stat("http.ingress_http.dropped_headers_with_underscores"),
        1
    );
    let reject = proxy(
        &up,
        json!({"common_http_protocol_options": {"headers_with_underscores_action": "REJECT_REQUEST"}}),
    );
    assert_eq!(status(&reject, &request), 400);
}

fn raw(p: &Proxy, request: &[u8]) -> String {
    sluice_tests::client::raw_exchange(p.addr(), request)
}

#[test]
fn http_10_is_refused_by_default_and_served_when_accepted() {
    let up = HttpUpstream::named("app");
    let request = b"GET / HTTP/1.0\r\nhost: a\r\n\r\n";
    let refused = raw(&proxy(&up, json!({})), request);
    assert!(refused.starts_with("HTTP/1.1 426"), "{refused}");
    assert!(refused.ends_with("\r\n\r\nUpgrade Required"), "{refused}");
    let accepting = proxy(
        &up,
        json!({"http_protocol_options": {"accept_http_10": true}}),
    );
    let text = raw(&accepting, request);
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    assert!(text.ends_with("app"), "{text}");
    // Without Host, default_host_for_http_10 names it.
    let defaulted = proxy(
        &up,
        json!({"http_protocol_options": {"accept_http_10": true, "default_host_for_http_10": "legacy.example"}}),
    );
    let text = raw(&defaulted, b"GET / HTTP/1.0\r\n\r\n");
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    assert_eq!(up.last_request().header("host"), Some("legacy.example"));
}

#[test]
fn a_chunked_response_reaches_an_http_10_client_unchunked_and_closed() {
    // HTTP/1.0 has no chunked coding: the body goes as is, delimited by the close.
    let up = HttpUpstream::start(|_| sluice_tests::Reply::ok("hello, old client").chunked(&[]));
    let accepting = proxy(
        &up,
        json!({"http_protocol_options": {"accept_http_10": true}}),
    );
    let text = raw(&accepting, b"GET / HTTP/1.0\r\nhost: a\r\n\r\n");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert_eq!(body, "hello, old client");
}
