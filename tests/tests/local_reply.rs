//! `local_reply_config` through the real binary: `body_format` (text, the deprecated
//! `text_format`, `json_format`, `content_type`, `omit_empty_values`) and `mappers` (filter,
//! `status_code`, `body` from each data source, `body_format_override`, `headers_to_add`),
//! first match winning. Each kind of reply Envoy rewrites is covered (router errors, direct
//! responses, redirects, filter replies, codec errors, a refused upgrade, downstream 408s, HEAD)
//! and so are the two it leaves alone: responses from upstream and CORS preflights.

use std::time::Duration;

use serde_json::{Value, json};
use sluice_tests::lb::{http_bootstrap, route, start_json, static_cluster};
use sluice_tests::{
    HttpClient, HttpUpstream, Proxy, Reply, Request, Response, TempDir, closed_port,
};

const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

/// A proxy with `routes` over `clusters` and `local_reply_config: lr`; `hcm` is merged into the
/// connection manager as well.
fn proxy(routes: Value, clusters: Value, lr: Value, hcm: Value) -> Proxy {
    let mut extra = json!({"local_reply_config": lr});
    sluice_tests::lb::merge(&mut extra, hcm);
    start_json(&http_bootstrap(routes, clusters, extra, json!({})))
}

fn send(p: &Proxy, request: &Request) -> Response {
    HttpClient::connect(p.addr()).request(request)
}

/// Sends raw bytes and reads until the proxy closes the connection.
fn raw(p: &Proxy, request: &[u8]) -> String {
    sluice_tests::client::raw_exchange(p.addr(), request)
}

fn text_format(format: &str) -> Value {
    json!({"body_format": {"text_format_source": {"inline_string": format}}})
}

/// `status_code_filter` with `op` and `value`.
fn status(op: &str, value: u32) -> Value {
    json!({"status_code_filter": {"comparison": {"op": op, "value": {"default_value": value, "runtime_key": "lr.unset"}}}})
}

#[test]
fn body_format_rewrites_router_errors_but_not_upstream_responses() {
    let up = HttpUpstream::start(|_| Reply::text(503, "upstream says no"));
    let slow = HttpUpstream::start(|_| Reply::ok("late").delayed(Duration::from_secs(2)));
    let p = proxy(
        json!([
            route("/empty", "empty", json!({})),
            route("/down", "down", json!({})),
            route("/slow", "slow", json!({"timeout": "0.2s"})),
            {"match": {"prefix": "/header"}, "route": {"cluster_header": "x-cluster"}},
            route("/up", "up", json!({})),
        ]),
        json!([
            static_cluster("empty", &[], json!({})),
            static_cluster("down", &[closed_port()], json!({})),
            static_cluster("slow", &[slow.addr()], json!({})),
            static_cluster("up", &[up.addr()], json!({})),
        ]),
        text_format("%RESPONSE_CODE% %RESPONSE_FLAGS% [%LOCAL_REPLY_BODY%] %REQ(:PATH)%"),
        json!({}),
    );
    let cases = [
        ("/empty", 503, "503 UH [no healthy upstream] /empty"),
        (
            "/down",
            503,
            "503 UF [upstream connect error or disconnect/reset before headers. reset reason: connection failure] /down",
        ),
        ("/slow", 504, "504 UT [upstream request timeout] /slow"),
        ("/nowhere", 404, "404 NR [] /nowhere"),
    ];
    for (path, code, body) in cases {
        let r = send(&p, &Request::get(path));
        assert_eq!((r.status, r.text().as_str()), (code, body), "{path}");
        assert_eq!(r.header("content-type"), Some("text/plain"), "{path}");
        let length = r.header("content-length").and_then(|l| l.parse().ok());
        assert_eq!(length, Some(body.len()), "{path}");
    }
    // cluster_header naming no cluster: Envoy's cluster_not_found_response_code (503, NC).
    let r = send(&p, &Request::get("/header").header("x-cluster", "gone"));
    assert_eq!((r.status, r.text().as_str()), (503, "503 NC [] /header"));

    // A response from upstream is never rewritten, whatever its status.
    let r = send(&p, &Request::get("/up"));
    assert_eq!((r.status, r.text().as_str()), (503, "upstream says no"));
}

#[test]
fn json_format_is_typed_and_omit_empty_values_drops_absent_members() {
    let p = proxy(
        json!([]),
        json!([]),
        json!({"body_format": {
            "json_format": {
                "code": "%RESPONSE_CODE%",
                "message": "%LOCAL_REPLY_BODY%",
                "request": {"path": "%REQ(:PATH)%", "user": "%REQ(x-user)%"},
            },
            "omit_empty_values": true,
        }}),
        json!({}),
    );
    let r = send(&p, &Request::get("/missing").header("x-user", "ann"));
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.text().ends_with('\n'), "{:?}", r.text());
    let body: Value = serde_json::from_slice(&r.body).expect("a JSON body");
    assert_eq!(
        body,
        json!({"code": 404, "message": "", "request": {"path": "/missing", "user": "ann"}})
    );
    // Without x-user, the member is left out rather than null.
    let r = send(&p, &Request::get("/missing"));
    let body: Value = serde_json::from_slice(&r.body).expect("a JSON body");
    assert_eq!(body["request"], json!({"path": "/missing"}));
}

#[test]
fn text_format_content_type_and_omit_empty_values_in_text() {
    // The deprecated `text_format`, a content type of its own, and absent values as "-".
    let p = proxy(
        json!([]),
        json!([]),
        json!({"body_format": {
            "text_format": "<h1>%RESPONSE_CODE%</h1><p>%REQ(x-user)%</p>",
            "content_type": "text/html; charset=UTF-8",
        }}),
        json!({}),
    );
    let r = send(&p, &Request::get("/x"));
    assert_eq!(r.text(), "<h1>404</h1><p>-</p>");
    assert_eq!(r.header("content-type"), Some("text/html; charset=UTF-8"));
    // `omit_empty_values`: an absent value prints nothing.
    let p = proxy(
        json!([]),
        json!([]),
        json!({"body_format": {
            "text_format_source": {"inline_string": "<%REQ(x-user)%>"},
            "omit_empty_values": true,
        }}),
        json!({}),
    );
    assert_eq!(send(&p, &Request::get("/x")).text(), "<>");
}

#[test]
fn mappers_match_in_order_and_change_status_body_headers_and_format() {
    let dir = TempDir::new("local-reply-body");
    let file = dir.path().join("slow.txt");
    std::fs::write(&file, "from a file").expect("write the body file");
    let slow = HttpUpstream::start(|_| Reply::ok("late").delayed(Duration::from_secs(2)));
    let p = proxy(
        json!([
            route("/empty", "empty", json!({})),
            route("/slow", "slow", json!({"timeout": "0.3s"})),
            {"match": {"prefix": "/made"}, "direct_response": {"status": 201, "body": {"inline_string": "made"}}},
        ]),
        json!([
            static_cluster("empty", &[], json!({})),
            static_cluster("slow", &[slow.addr()], json!({})),
        ]),
        json!({
            "mappers": [
                {
                    "filter": status("EQ", 404),
                    "status_code": 410,
                    "body": {"inline_string": "gone"},
                    "headers_to_add": [
                        {"header": {"key": "x-mapped", "value": "for %REQ(x-user)%"}},
                        {"header": {"key": "x-mapped", "value": "twice"}},
                    ],
                },
                {
                    "filter": {"and_filter": {"filters": [
                        status("GE", 500),
                        {"runtime_filter": {"runtime_key": "lr.sampled", "percent_sampled": {"numerator": 100}}},
                        {"not_health_check_filter": {}},
                    ]}},
                    "status_code": 200,
                    "body_format_override": {
                        "text_format_source": {"inline_string": "maintenance: %LOCAL_REPLY_BODY% (%RESPONSE_CODE%)"},
                        "content_type": "text/html",
                    },
                },
                // Also matches 503, but the mapper above came first.
                {"filter": status("EQ", 503), "status_code": 599, "body": {"inline_string": "never"}},
                {
                    "filter": {"or_filter": {"filters": [
                        {"duration_filter": {"comparison": {"op": "GE", "value": {"default_value": 60000, "runtime_key": "lr.unset"}}}},
                        status("EQ", 201),
                    ]}},
                    "body": {"inline_bytes": "Y2F0Y2gtYWxs"},
                },
            ],
            "body_format": {"text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%|%RESPONSE_CODE%"}},
        }),
        json!({}),
    );

    let r = send(&p, &Request::get("/nowhere").header("x-user", "ann"));
    assert_eq!((r.status, r.text().as_str()), (410, "gone|410"));
    let mapped: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-mapped"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        mapped,
        ["for ann", "twice"],
        "headers_to_add appends by default"
    );

    let r = send(&p, &Request::get("/empty"));
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "maintenance: no healthy upstream (200)")
    );
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(
        !r.has_header("x-mapped"),
        "only the matching mapper applies"
    );

    // The direct response is matched by status in an or_filter (the duration half is false).
    let r = send(&p, &Request::get("/made"));
    assert_eq!((r.status, r.text().as_str()), (201, "catch-all|201"));
    // A reply no mapper matches gets only the body format.
    let r = send(&p, &Request::get("/slow"));
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "maintenance: upstream request timeout (200)")
    );

    // The rewritten status is the one counted.
    let admin = p.admin();
    assert_eq!(admin.stat("http.ingress_http.downstream_rq_2xx"), 3);
    assert_eq!(admin.stat("http.ingress_http.downstream_rq_4xx"), 1);
    assert_eq!(admin.stat("http.ingress_http.downstream_rq_5xx"), 0);

    // A mapper body read from a file, matched with a duration_filter.
    let p = proxy(
        json!([route("/slow", "slow", json!({"timeout": "0.3s"}))]),
        json!([static_cluster("slow", &[slow.addr()], json!({}))]),
        json!({"mappers": [
            {
                "filter": {"duration_filter": {"comparison": {"op": "LE", "value": {"default_value": 200, "runtime_key": "lr.unset"}}}},
                "body": {"inline_string": "fast"},
            },
            {
                "filter": {"duration_filter": {"comparison": {"op": "GE", "value": {"default_value": 250, "runtime_key": "lr.unset"}}}},
                "body": {"filename": file.display().to_string()},
            },
        ]}),
        json!({}),
    );
    let r = send(&p, &Request::get("/slow"));
    assert_eq!((r.status, r.text().as_str()), (504, "from a file"));
    assert_eq!(r.text().len(), 11);
    let r = send(&p, &Request::get("/nowhere"));
    assert_eq!((r.status, r.text().as_str()), (404, "fast"));
}

#[test]
fn direct_responses_redirects_and_filter_replies_are_rewritten_cors_preflights_are_not() {
    let up = HttpUpstream::named("app");
    let cors = "envoy.filters.http.cors";
    let p = start_json(&http_bootstrap(
        json!([]),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
        json!({
            "route_config": {"name": "r", "virtual_hosts": [{
                "name": "v",
                "domains": ["*"],
                "typed_per_filter_config": {cors: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
                    "allow_origin_string_match": [{"exact": "https://a.example"}],
                    "allow_methods": "GET",
                }},
                "routes": [
                    {"match": {"prefix": "/direct"}, "direct_response": {"status": 200, "body": {"inline_string": "hi"}}},
                    {"match": {"prefix": "/old"}, "redirect": {"path_redirect": "/new"}},
                    {"match": {"prefix": "/"}, "route": {"cluster": "app"}},
                ],
            }]},
            "http_filters": [
                {"name": cors, "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"}},
                {"name": "fault", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
                    "abort": {"header_abort": {}, "percentage": {"numerator": 100}},
                }},
                {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}},
            ],
            "local_reply_config": text_format("local: %LOCAL_REPLY_BODY% %RESPONSE_CODE%"),
        }),
        json!({}),
    ));
    let r = send(&p, &Request::get("/direct"));
    assert_eq!((r.status, r.text().as_str()), (200, "local: hi 200"));

    // A redirect is a local reply too: it keeps its location and gains the formatted body.
    let r = send(&p, &Request::get("/old"));
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("http://localhost/new"));
    assert_eq!(r.text(), "local:  301");
    assert_eq!(r.header("content-type"), Some("text/plain"));

    let r = send(
        &p,
        &Request::get("/app").header("x-envoy-fault-abort-request", "429"),
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (429, "local: fault filter abort 429")
    );

    // A refused upgrade.
    let r = send(
        &p,
        &Request::get("/app")
            .header("connection", "upgrade")
            .header("upgrade", "websocket"),
    );
    assert_eq!((r.status, r.text().as_str()), (403, "local:  403"));

    // A CORS preflight is the filter's own response, not a local reply: no body.
    let preflight = Request::new("OPTIONS", "/app")
        .header("origin", "https://a.example")
        .header("access-control-request-method", "GET");
    let r = send(&p, &preflight);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://a.example")
    );
    assert_eq!(r.text(), "");
    assert!(!r.has_header("content-type"));

    // Control: a proxied response is left alone.
    let r = send(&p, &Request::get("/app"));
    assert_eq!((r.status, r.text().as_str()), (200, "app"));
    assert_eq!(up.request_count(), 1);
}

#[test]
fn the_local_rate_limit_reply_is_rewritten_with_its_headers() {
    let up = HttpUpstream::named("app");
    let p = start_json(&http_bootstrap(
        json!([route("/", "app", json!({}))]),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
        json!({
            "http_filters": [
                {"name": "rl", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                    "stat_prefix": "rl",
                    "token_bucket": {"max_tokens": 1, "tokens_per_fill": 1, "fill_interval": "60s"},
                    "filter_enabled": {"default_value": {"numerator": 100}},
                    "filter_enforced": {"default_value": {"numerator": 100}},
                    "response_headers_to_add": [{"header": {"key": "x-limited", "value": "yes"}}],
                }},
                {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}},
            ],
            "local_reply_config": {
                "mappers": [{"filter": status("EQ", 429), "status_code": 503}],
                "body_format": {"json_format": {"error": "%LOCAL_REPLY_BODY%", "code": "%RESPONSE_CODE%"}},
            },
        }),
        json!({}),
    ));
    assert_eq!(send(&p, &Request::get("/")).status, 200);
    let r = send(&p, &Request::get("/"));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-limited"), Some("yes"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&r.body).expect("a JSON body");
    assert_eq!(body, json!({"error": "local_rate_limited", "code": 503}));
}

#[test]
fn codec_errors_and_head_timeouts_are_rewritten_without_the_request() {
    let up = HttpUpstream::named("app");
    let p = proxy(
        json!([route("/app", "app", json!({}))]),
        json!([static_cluster("app", &[up.addr()], json!({}))]),
        text_format("%RESPONSE_CODE% [%LOCAL_REPLY_BODY%] path=%REQ(:PATH)% ua=%REQ(user-agent)%"),
        json!({"request_headers_timeout": "0.3s"}),
    );
    let text = raw(&p, b"GET / HTTP/1.1\r\nhost a\r\n\r\n");
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n400 [Bad Request] path=- ua=-"),
        "{text}"
    );

    // HTTP/1.0 is refused by the codec before the request reaches the connection manager.
    let text = raw(&p, b"GET /old HTTP/1.0\r\nhost: a\r\nuser-agent: t\r\n\r\n");
    assert!(text.starts_with("HTTP/1.1 426"), "{text}");
    assert!(
        text.ends_with("426 [Upgrade Required] path=- ua=-"),
        "{text}"
    );

    let text = raw(&p, b"GET / HTTP/1.1\r\nhost: a\r\n");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.ends_with("408 [request header timeout] path=- ua=-"),
        "{text}"
    );
    assert!(text.contains("content-type: text/plain\r\n"), "{text}");

    // Control: once the head is decoded, the request is visible.
    let text = raw(
        &p,
        b"GET /nowhere HTTP/1.1\r\nhost: other\r\nuser-agent: t\r\nconnection: close\r\n\r\n",
    );
    assert!(
        text.ends_with("\r\n\r\n404 [] path=/nowhere ua=t"),
        "{text}"
    );
    assert_eq!(up.request_count(), 0);
}

#[test]
fn a_head_request_gets_the_formatted_length_and_no_body() {
    let p = proxy(
        json!([]),
        json!([]),
        text_format("not found: %REQ(:PATH)%"),
        json!({}),
    );
    let r = send(&p, &Request::head("/gone"));
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-length"), Some("16"));
    assert!(r.body.is_empty());
    // The connection is still usable: the body was not sent.
    let mut c = HttpClient::connect(p.addr());
    assert_eq!(c.request(&Request::head("/gone")).status, 404);
    let r = c.request(&Request::get("/gone"));
    assert_eq!(r.text(), "not found: /gone");
}

#[test]
fn a_header_filter_mapper_answers_gets_with_a_page_as_envoys_demo_config_does() {
    // The mapper of Envoy's configs/envoy-demo.yaml: a GET that ends in a local reply gets an
    // HTML page; another method keeps the plain reply.
    let p = proxy(
        json!([{"match": {"prefix": "/"}, "direct_response": {"status": 404}}]),
        json!([]),
        json!({"mappers": [{
            "filter": {"header_filter": {"header": {
                "name": ":method", "string_match": {"exact": "GET"}}}},
            "body_format_override": {
                "text_format_source": {"inline_string": "<h1>Welcome</h1>"},
                "content_type": "text/html; charset=UTF-8",
            },
        }]}),
        json!({}),
    );
    let get = send(&p, &Request::get("/").host("a"));
    assert_eq!(get.status, 404);
    assert_eq!(get.text(), "<h1>Welcome</h1>");
    assert_eq!(get.header("content-type"), Some("text/html; charset=UTF-8"));
    let post = send(&p, &Request::post("/", "x").host("a"));
    assert_eq!(post.status, 404);
    assert_eq!(post.text(), "");
}
