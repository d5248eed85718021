//! HTTP/1.1 proxying with Envoy's semantics: keep-alive and upstream pooling, pipelining, bodiless
//! responses, `Expect: 100-continue`, header handling, and how upstream failures and bad requests
//! are answered.

use std::time::{Duration, Instant};

use sluice_tests::{
    Bootstrap, HttpListener, HttpUpstream, Proxy, Reply, Request, Route, VirtualHost, closed_port,
};

const ENVOY_CONNECT_FAILURE: &str = "upstream connect error or disconnect/reset before headers.";

/// One listener, `*` -> cluster `web`, with `use_remote_address: true` so the proxy is the edge
/// and appends the client to `x-forwarded-for` (Envoy's rule).
fn edge_proxy_to(upstream: &HttpUpstream) -> Proxy {
    Proxy::start(
        Bootstrap::new()
            .http_listener(
                HttpListener::new("ingress_http")
                    .use_remote_address(true)
                    .virtual_host(
                        VirtualHost::new("default", &["*"])
                            .route(Route::prefix("/").to_cluster("web")),
                    ),
            )
            .cluster(sluice_tests::Cluster::new("web", &[upstream.addr()])),
    )
}

#[test]
fn a_request_reaches_the_upstream_and_its_response_comes_back() {
    let upstream = HttpUpstream::replying("hello from upstream");
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));

    let response = proxy.get("example.com", "/greeting?lang=en");

    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "hello from upstream");
    let seen = upstream.last_request();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/greeting?lang=en");
    assert_eq!(seen.version, "HTTP/1.1");
    assert_eq!(seen.header("host"), Some("example.com"));
}

#[test]
fn a_hundred_requests_on_one_connection_reuse_a_pooled_upstream_connection() {
    let upstream = HttpUpstream::replying("ok");
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let mut client = proxy.client();

    for i in 0..100 {
        let response = client.get("example.com", &format!("/request/{i}"));
        assert_eq!(
            response.status, 200,
            "request {i} on the kept-alive connection"
        );
    }

    assert_eq!(upstream.request_count(), 100);
    assert!(
        upstream.connection_count() <= 2,
        "100 sequential requests used {} upstream connections; the pool should reuse one",
        upstream.connection_count()
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    // The first request is the slowest: answering out of order would show immediately.
    let upstream = HttpUpstream::start(|r| {
        let reply = Reply::ok(&r.path);
        if r.path == "/1" {
            reply.delayed(Duration::from_millis(300))
        } else {
            reply
        }
    });
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let mut client = proxy.client();

    let pipeline: Vec<u8> = (1..=5)
        .flat_map(|i| {
            Request::get(&format!("/{i}"))
                .host("example.com")
                .to_bytes()
        })
        .collect();
    client.send(&pipeline);

    for i in 1..=5 {
        let response = client.read_response("GET");
        assert_eq!(response.status, 200);
        assert_eq!(
            response.text(),
            format!("/{i}"),
            "response {i} of the pipeline"
        );
    }
}

#[test]
fn a_head_response_has_headers_but_no_body_and_the_connection_stays_in_sync() {
    let upstream = HttpUpstream::replying("twelve bytes");
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let mut client = proxy.client();

    let head = client.request(&Request::head("/doc").host("example.com"));
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("12"));
    assert!(head.body.is_empty());

    let get = client.get("example.com", "/doc");
    assert_eq!(
        get.text(),
        "twelve bytes",
        "the GET after a HEAD must not see stray body bytes"
    );
}

#[test]
fn no_content_and_not_modified_responses_have_no_body_and_keep_the_connection() {
    let upstream = HttpUpstream::start(|r| match r.path.as_str() {
        "/204" => Reply::bare(204),
        "/304" => Reply::bare(304).header("etag", "\"v1\""),
        _ => Reply::ok("after"),
    });
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let mut client = proxy.client();

    let no_content = client.get("example.com", "/204");
    assert_eq!(no_content.status, 204);
    assert!(no_content.body.is_empty());

    let not_modified = client.request(
        &Request::get("/304")
            .host("example.com")
            .header("if-none-match", "\"v1\""),
    );
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("etag"), Some("\"v1\""));
    assert!(not_modified.body.is_empty());

    assert_eq!(client.get("example.com", "/next").text(), "after");
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let upstream = HttpUpstream::echo();
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let mut client = proxy.client();

    client.send(b"POST /upload HTTP/1.1\r\nhost: example.com\r\ncontent-length: 11\r\nexpect: 100-continue\r\n\r\n");
    client.set_read_timeout(Duration::from_secs(5));
    let interim = client
        .read_head()
        .expect("an interim response before the body is sent");
    assert_eq!(interim.status, 100, "the client is told to continue");

    client.send(b"hello world");
    let response = client.read_response("POST");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "hello world");
    assert_eq!(upstream.last_request().text(), "hello world");
}

#[test]
fn hop_by_hop_headers_do_not_cross_the_proxy_in_either_direction() {
    let upstream = HttpUpstream::start(|_| {
        Reply::ok("ok")
            .header("connection", "x-upstream-private")
            .header("x-upstream-private", "secret")
            .header("keep-alive", "timeout=5")
            .header("x-end-to-end", "kept")
    });
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));

    let response = proxy.client().request(
        &Request::get("/")
            .host("example.com")
            .header("connection", "keep-alive, x-client-private")
            .header("x-client-private", "secret")
            .header("keep-alive", "timeout=5")
            .header("proxy-connection", "keep-alive")
            .header("x-end-to-end", "kept"),
    );

    let seen = upstream.last_request();
    assert_eq!(seen.header("x-end-to-end"), Some("kept"));
    for name in ["x-client-private", "keep-alive", "proxy-connection"] {
        assert!(
            !seen.has_header(name),
            "upstream received hop-by-hop {name}: {:?}",
            seen.headers
        );
    }
    assert!(
        !seen
            .header("connection")
            .unwrap_or("")
            .contains("x-client-private")
    );

    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-end-to-end"), Some("kept"));
    for name in ["x-upstream-private", "keep-alive"] {
        assert!(
            !response.has_header(name),
            "client received hop-by-hop {name}: {:?}",
            response.headers
        );
    }
    assert!(
        !response
            .header("connection")
            .unwrap_or("")
            .contains("x-upstream-private")
    );
}

fn is_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[test]
fn the_edge_proxy_adds_forwarding_headers_and_a_request_id() {
    let upstream = HttpUpstream::replying("ok");
    let proxy = edge_proxy_to(&upstream);

    let response = proxy.get("example.com", "/");
    let first = upstream.last_request();
    assert_eq!(first.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(first.header("x-forwarded-proto"), Some("http"));
    let generated = first
        .header("x-request-id")
        .expect("a generated x-request-id")
        .to_string();
    assert!(
        is_uuid(&generated),
        "x-request-id {generated:?} is not a UUID"
    );
    let service_time = response
        .header("x-envoy-upstream-service-time")
        .expect("x-envoy-upstream-service-time");
    assert!(
        service_time.parse::<u64>().is_ok(),
        "x-envoy-upstream-service-time {service_time:?} is not a number"
    );

    proxy.get("example.com", "/");
    let second = upstream
        .last_request()
        .header("x-request-id")
        .map(str::to_string);
    assert_ne!(
        second.as_deref(),
        Some(generated.as_str()),
        "every request gets its own id"
    );

    proxy.client().request(
        &Request::get("/")
            .host("example.com")
            .header("x-request-id", "trace-me-42")
            .header("x-forwarded-for", "203.0.113.7"),
    );
    let third = upstream.last_request();
    assert_eq!(
        third.header("x-request-id"),
        Some("trace-me-42"),
        "an existing request id is preserved"
    );
    let hops: Vec<&str> = third
        .header("x-forwarded-for")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .collect();
    assert_eq!(
        hops,
        ["203.0.113.7", "127.0.0.1"],
        "the client is appended to x-forwarded-for"
    );
}

#[test]
fn a_refused_upstream_connection_is_a_503_with_envoys_body_and_is_counted() {
    let proxy = Proxy::start(Bootstrap::http_to(&[closed_port()]));

    let response = proxy.get("example.com", "/");

    assert_eq!(response.status, 503);
    let body = response.text();
    assert!(
        body.starts_with(ENVOY_CONNECT_FAILURE) && body.contains("connection failure"),
        "503 body {body:?} is not Envoy's connect-failure text (response flag UF)"
    );
    let admin = proxy.admin();
    admin.wait_for_stat(
        "cluster.web.upstream_cx_connect_fail",
        1,
        Duration::from_secs(2),
    );
    admin.wait_for_stat(
        "http.ingress_http.downstream_rq_5xx",
        1,
        Duration::from_secs(2),
    );
}

#[test]
fn an_upstream_that_resets_or_closes_before_responding_is_a_503() {
    let upstream = HttpUpstream::start(|r| {
        if r.path == "/reset" {
            Reply::reset()
        } else {
            Reply::close()
        }
    });
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));

    for path in ["/reset", "/close"] {
        let response = proxy.get("example.com", path);
        assert_eq!(response.status, 503, "{path}");
        assert!(
            response.text().starts_with(ENVOY_CONNECT_FAILURE),
            "{path}: body {:?} is not Envoy's reset text",
            response.text()
        );
    }
}

#[test]
fn a_route_timeout_is_a_504_upstream_request_timeout() {
    let upstream = HttpUpstream::start(|_| Reply::ok("too late").delayed(Duration::from_secs(4)));
    let proxy = Proxy::start(
        Bootstrap::new()
            .http_listener(
                HttpListener::new("ingress_http").virtual_host(
                    VirtualHost::new("default", &["*"])
                        .route(Route::prefix("/").to_cluster("web").timeout("1s")),
                ),
            )
            .cluster(sluice_tests::Cluster::new("web", &[upstream.addr()])),
    );

    let started = Instant::now();
    let response = proxy.get("example.com", "/slow");
    let waited = started.elapsed();

    assert_eq!(response.status, 504);
    assert_eq!(response.text(), "upstream request timeout");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "the 1s route timeout fired after {waited:?}"
    );
}

#[test]
fn a_malformed_request_is_a_400_and_the_connection_is_closed() {
    let upstream = HttpUpstream::replying("never");
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let malformed: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\nhost example.com\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: example.com\r\ncontent-length: twelve\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: example.com\r\nbad header name: x\r\n\r\n",
    ];

    for bytes in malformed {
        let mut client = proxy.client();
        client.send(bytes);
        let response = client.read_response("GET");
        assert_eq!(
            response.status,
            400,
            "for {:?}",
            String::from_utf8_lossy(bytes)
        );
        assert!(
            client.is_closed_by_peer(Duration::from_secs(3)),
            "connection left open after 400"
        );
    }
    assert_eq!(
        upstream.request_count(),
        0,
        "a malformed request reached the upstream"
    );
}

#[test]
fn content_length_together_with_transfer_encoding_is_rejected_and_never_forwarded() {
    let upstream = HttpUpstream::replying("never");
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let mut client = proxy.client();

    client.send(b"POST / HTTP/1.1\r\nhost: example.com\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n");

    assert_eq!(client.read_response("POST").status, 400);
    assert!(client.is_closed_by_peer(Duration::from_secs(3)));
    assert_eq!(
        upstream.connection_count(),
        0,
        "the ambiguous request reached the upstream"
    );
}

#[test]
fn request_headers_over_60_kib_are_a_431() {
    let upstream = HttpUpstream::replying("ok");
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));

    let fits = "a".repeat(50 * 1024);
    let response = proxy
        .client()
        .request(&Request::get("/").host("example.com").header("x-big", &fits));
    assert_eq!(
        response.status, 200,
        "50 KiB of headers are within Envoy's 60 KiB default"
    );

    let too_big = "a".repeat(61 * 1024);
    let response = proxy.client().request(
        &Request::get("/")
            .host("example.com")
            .header("x-big", &too_big),
    );
    assert_eq!(response.status, 431);
    assert_eq!(
        upstream.request_count(),
        1,
        "the oversized request reached the upstream"
    );
}

#[test]
fn more_than_100_request_headers_are_a_431() {
    let upstream = HttpUpstream::replying("ok");
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let with_headers = |count: usize| {
        (0..count).fold(Request::get("/").host("example.com"), |r, i| {
            r.header(&format!("x-h-{i}"), "v")
        })
    };

    // Host plus 99 more is exactly Envoy's default max_headers_count of 100.
    assert_eq!(proxy.client().request(&with_headers(99)).status, 200);
    assert_eq!(proxy.client().request(&with_headers(101)).status, 431);
    assert_eq!(upstream.request_count(), 1);
}
