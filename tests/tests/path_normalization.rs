//! The connection manager's path rules and header name case through the real binary:
//! `normalize_path` (also decided by the runtime), `merge_slashes`,
//! `path_with_escaped_slashes_action` (each action, and the runtime's default), and
//! `header_key_format` on the connection manager (responses to clients) and on a cluster
//! (requests to it). Each is compared with the default behaviour on the same request.

use std::time::Duration;

use serde_json::{Value, json};
use sluice_tests::lb::{http_bootstrap, route, start_json, static_cluster};
use sluice_tests::{HttpClient, HttpUpstream, Proxy, Request, Response, TempDir, eventually};

/// `/app/` goes to the upstream; anything else gets a direct 404 saying so, so a path that
/// only matches once normalized shows which way it went.
fn proxy_with(up: &HttpUpstream, hcm: Value, cluster: Value, extra: Value) -> Proxy {
    start_json(&http_bootstrap(
        json!([
            route("/app/", "app", json!({})),
            {"match": {"prefix": "/"}, "direct_response": {"status": 404, "body": {"inline_string": "not app"}}},
        ]),
        json!([static_cluster("app", &[up.addr()], cluster)]),
        hcm,
        extra,
    ))
}

fn proxy(up: &HttpUpstream, hcm: Value) -> Proxy {
    proxy_with(up, hcm, json!({}), json!({}))
}

fn send(p: &Proxy, request: &Request) -> Response {
    HttpClient::connect(p.addr()).request(request)
}

/// The status, and the path the upstream received when it was reached.
fn path_seen(p: &Proxy, up: &HttpUpstream, path: &str) -> (u16, Option<String>) {
    let before = up.request_count();
    let r = send(p, &Request::get(path));
    let seen = (up.request_count() > before).then(|| up.last_request().path);
    (r.status, seen)
}

fn forwarded(path: &str) -> (u16, Option<String>) {
    (200, Some(path.to_owned()))
}

const NOT_ROUTED: (u16, Option<String>) = (404, None);

fn runtime(values: Value) -> Value {
    json!({"layered_runtime": {"layers": [{"name": "static", "static_layer": values}]}})
}

#[test]
fn normalize_path_routes_and_forwards_the_normalized_path() {
    let up = HttpUpstream::named("app");
    let plain = proxy(&up, json!({}));
    assert_eq!(path_seen(&plain, &up, "/static/../app/x"), NOT_ROUTED);
    assert_eq!(
        path_seen(&plain, &up, "/app/%78?q=/../y"),
        forwarded("/app/%78?q=/../y")
    );
    assert_eq!(path_seen(&plain, &up, "/app/%00"), forwarded("/app/%00"));

    let normal = proxy(&up, json!({"normalize_path": true}));
    assert_eq!(
        path_seen(&normal, &up, "/static/../app/x"),
        forwarded("/app/x")
    );
    assert_eq!(
        path_seen(&normal, &up, "/app/./a/%2e%2E/b\\c"),
        forwarded("/app/b/c")
    );
    assert_eq!(
        path_seen(&normal, &up, "/app/%78?q=/../y"),
        forwarded("/app/x?q=/../y")
    );
    assert_eq!(
        path_seen(&normal, &up, "/app/..;v=1/app/z"),
        forwarded("/app/z")
    );
    assert_eq!(
        path_seen(&normal, &up, "/app/a\"b"),
        forwarded("/app/a%22b")
    );
    // Escaped slashes are not decoded by normalization, so they do not move the route.
    assert_eq!(path_seen(&normal, &up, "/app%2Fx"), NOT_ROUTED);
    assert_eq!(path_seen(&normal, &up, "/app/x"), forwarded("/app/x"));
    // A path that cannot be normalized is a 400, counted.
    assert_eq!(path_seen(&normal, &up, "/app/%00"), (400, None));
    assert_eq!(path_seen(&normal, &up, "/app/x#frag"), (400, None));
    assert_eq!(
        normal
            .admin()
            .stat("http.ingress_http.downstream_rq_failed_path_normalization"),
        2
    );
}

#[test]
fn a_refused_path_keeps_the_connection() {
    let up = HttpUpstream::named("app");
    let p = proxy(&up, json!({"normalize_path": true}));
    let mut c = HttpClient::connect(p.addr());
    let refused = c.request(&Request::get("/app/%00"));
    assert_eq!(refused.status, 400);
    assert!(refused.body.is_empty());
    // The next request on the same connection is served.
    assert_eq!(c.request(&Request::get("/app/./ok")).status, 200);
    assert_eq!(up.last_request().path, "/app/ok");
}

#[test]
fn the_access_log_shows_the_normalized_path() {
    let dir = TempDir::new("pathnorm-log");
    let path = dir.path().join("access.log");
    let logger = json!({"name": "envoy.access_loggers.file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": path.display().to_string(),
        "log_format": {"text_format_source": {"inline_string": "%REQ(:PATH)% %RESPONSE_CODE%\n"}},
    }});
    let up = HttpUpstream::named("app");
    let p = proxy(
        &up,
        json!({"normalize_path": true, "path_with_escaped_slashes_action": "REJECT_REQUEST",
               "access_log": [logger]}),
    );
    assert_eq!(path_seen(&p, &up, "/x/../app/%79"), forwarded("/app/y"));
    assert_eq!(path_seen(&p, &up, "/app/%00"), (400, None));
    // Refused after unescaping: logged unescaped, as Envoy's headers then hold it.
    assert_eq!(path_seen(&p, &up, "/app/a%2Fb"), (400, None));
    let text = eventually("three access log lines", Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        (text.lines().count() >= 3).then_some(text)
    });
    // The requests may be served by different workers, which flush on their own.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["/app/%00 400", "/app/a/b 400", "/app/y 200"]);
}

#[test]
fn the_runtime_decides_normalize_path_when_the_config_does_not() {
    let up = HttpUpstream::named("app");
    let on = runtime(json!({"http_connection_manager": {"normalize_path": 100}}));
    let by_runtime = proxy_with(&up, json!({}), json!({}), on.clone());
    assert_eq!(
        path_seen(&by_runtime, &up, "/x/../app/y"),
        forwarded("/app/y")
    );
    let written_off = proxy_with(&up, json!({"normalize_path": false}), json!({}), on);
    assert_eq!(path_seen(&written_off, &up, "/x/../app/y"), NOT_ROUTED);
}

#[test]
fn merge_slashes_merges_runs_of_slashes() {
    let up = HttpUpstream::named("app");
    let plain = proxy(&up, json!({}));
    assert_eq!(path_seen(&plain, &up, "//app//x"), NOT_ROUTED);
    assert_eq!(path_seen(&plain, &up, "/app//x"), forwarded("/app//x"));

    let merging = proxy(&up, json!({"merge_slashes": true}));
    assert_eq!(path_seen(&merging, &up, "//app//x"), forwarded("/app/x"));
    assert_eq!(
        path_seen(&merging, &up, "/app///x/?a=//b"),
        forwarded("/app/x/?a=//b")
    );
    // Only slashes: dot segments stay without normalize_path.
    assert_eq!(
        path_seen(&merging, &up, "/app//../x"),
        forwarded("/app/../x")
    );

    let both = proxy(&up, json!({"merge_slashes": true, "normalize_path": true}));
    assert_eq!(path_seen(&both, &up, "//app//y/..//x"), forwarded("/app/x"));
}

#[test]
fn escaped_slashes_are_kept_by_default() {
    let up = HttpUpstream::named("app");
    for hcm in [
        json!({}),
        json!({"path_with_escaped_slashes_action": "IMPLEMENTATION_SPECIFIC_DEFAULT"}),
        json!({"path_with_escaped_slashes_action": "KEEP_UNCHANGED"}),
    ] {
        let p = proxy(&up, hcm);
        assert_eq!(
            path_seen(&p, &up, "/app/a%2Fb%5c"),
            forwarded("/app/a%2Fb%5c")
        );
    }
}

#[test]
fn escaped_slashes_can_be_refused() {
    let up = HttpUpstream::named("app");
    let p = proxy(
        &up,
        json!({"path_with_escaped_slashes_action": "REJECT_REQUEST"}),
    );
    assert_eq!(path_seen(&p, &up, "/app/a%2fb"), (400, None));
    assert_eq!(path_seen(&p, &up, "/app/a%5Cb"), (400, None));
    // In the query they are not looked at.
    assert_eq!(
        path_seen(&p, &up, "/app/a?b=%2F"),
        forwarded("/app/a?b=%2F")
    );
    assert_eq!(
        p.admin()
            .stat("http.ingress_http.downstream_rq_failed_path_normalization"),
        2
    );
}

#[test]
fn escaped_slashes_can_be_unescaped_and_forwarded() {
    let up = HttpUpstream::named("app");
    let p = proxy(
        &up,
        json!({"path_with_escaped_slashes_action": "UNESCAPE_AND_FORWARD"}),
    );
    assert_eq!(path_seen(&p, &up, "/app%2Fx%2fy"), forwarded("/app/x/y"));
    assert_eq!(path_seen(&p, &up, "/app/a%5Cb"), forwarded("/app/a\\b"));
    let normal = proxy(
        &up,
        json!({"path_with_escaped_slashes_action": "UNESCAPE_AND_FORWARD", "normalize_path": true}),
    );
    assert_eq!(path_seen(&normal, &up, "/app/a%5Cb"), forwarded("/app/a/b"));
    assert_eq!(
        path_seen(&normal, &up, "/app/x%2F..%2Fy"),
        forwarded("/app/y")
    );
}

#[test]
fn escaped_slashes_can_redirect_to_the_unescaped_path() {
    let up = HttpUpstream::named("app");
    let p = proxy(
        &up,
        json!({"path_with_escaped_slashes_action": "UNESCAPE_AND_REDIRECT", "merge_slashes": true}),
    );
    let r = send(&p, &Request::get("/app%2F%2Fx?q=%2F"));
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/app/x?q=%2F"));
    assert!(r.body.is_empty());
    assert_eq!(up.request_count(), 0);
    // A gRPC client cannot follow a redirect: 400.
    let grpc = Request::post("/app%2Fx", "").header("content-type", "application/grpc");
    assert_eq!(send(&p, &grpc).status, 400);
    // A path without an escaped slash is served.
    assert_eq!(path_seen(&p, &up, "/app//x"), forwarded("/app/x"));
    let admin = p.admin();
    assert_eq!(
        admin.stat("http.ingress_http.downstream_rq_redirected_with_normalized_path"),
        1
    );
    assert_eq!(
        admin.stat("http.ingress_http.downstream_rq_failed_path_normalization"),
        1
    );
}

#[test]
fn the_runtime_decides_the_escaped_slashes_action_when_the_config_does_not() {
    let up = HttpUpstream::named("app");
    let reject =
        runtime(json!({"http_connection_manager": {"path_with_escaped_slashes_action": 2}}));
    let p = proxy_with(&up, json!({}), json!({}), reject.clone());
    assert_eq!(path_seen(&p, &up, "/app/a%2Fb"), (400, None));
    // A written action wins.
    let forward = proxy_with(
        &up,
        json!({"path_with_escaped_slashes_action": "UNESCAPE_AND_FORWARD"}),
        json!({}),
        reject,
    );
    assert_eq!(
        path_seen(&forward, &up, "/app/a%2Fb"),
        forwarded("/app/a/b")
    );
    // Sampled at 0 %, no connection manager applies its action.
    let sampled_out = runtime(
        json!({"http_connection_manager": {"path_with_escaped_slashes_action_enabled": 0}}),
    );
    let off = proxy_with(
        &up,
        json!({"path_with_escaped_slashes_action": "REJECT_REQUEST"}),
        json!({}),
        sampled_out,
    );
    assert_eq!(path_seen(&off, &up, "/app/a%2Fb"), forwarded("/app/a%2Fb"));
}

fn names(headers: &[(String, String)]) -> Vec<&str> {
    headers.iter().map(|(n, _)| n.as_str()).collect()
}

fn proper_case() -> Value {
    json!({"header_key_format": {"proper_case_words": {}}})
}

#[test]
fn header_names_are_lower_case_by_default() {
    let up = HttpUpstream::named("app");
    let p = proxy(&up, json!({}));
    let r = send(&p, &Request::get("/app/x").header("X-Custom-Name", "1"));
    assert_eq!(r.status, 200);
    assert!(
        names(&r.headers).contains(&"content-type"),
        "{:?}",
        r.headers
    );
    assert!(names(&r.headers).iter().all(|n| *n == n.to_lowercase()));
    let seen = up.last_request();
    assert!(
        names(&seen.headers).contains(&"x-custom-name"),
        "{:?}",
        seen.headers
    );
    assert!(names(&seen.headers).iter().all(|n| *n == n.to_lowercase()));
}

#[test]
fn the_connection_managers_header_key_format_writes_responses_in_proper_case() {
    let up = HttpUpstream::named("app");
    let p = proxy(&up, json!({"http_protocol_options": proper_case()}));
    let r = send(&p, &Request::get("/app/x").header("x-custom-name", "1"));
    assert_eq!(r.status, 200);
    for name in [
        "Content-Type",
        "Content-Length",
        "Date",
        "Server",
        "X-Envoy-Upstream-Service-Time",
    ] {
        assert!(names(&r.headers).contains(&name), "{name}: {:?}", r.headers);
    }
    // Local replies too.
    let local = send(&p, &Request::get("/elsewhere"));
    assert_eq!(local.status, 404);
    assert!(
        names(&local.headers).contains(&"Content-Length"),
        "{:?}",
        local.headers
    );
    // Requests to the cluster keep Envoy's lower case: that is the cluster's option.
    let seen = up.last_request();
    assert!(
        names(&seen.headers).contains(&"x-custom-name"),
        "{:?}",
        seen.headers
    );
    assert!(names(&seen.headers).iter().all(|n| *n == n.to_lowercase()));
}

fn proper_case_cluster() -> Value {
    json!({"typed_extension_protocol_options": {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http_protocol_options": proper_case()},
        },
    }})
}

#[test]
fn a_clusters_header_key_format_writes_its_requests_in_proper_case() {
    let up = HttpUpstream::named("app");
    let p = proxy_with(&up, json!({}), proper_case_cluster(), json!({}));
    let r = send(
        &p,
        &Request::post("/app/x", "body").header("x-custom-name", "1"),
    );
    assert_eq!(r.status, 200);
    let seen = up.last_request();
    for name in [
        "Host",
        "X-Custom-Name",
        "X-Forwarded-Proto",
        "X-Request-Id",
        "Content-Length",
    ] {
        assert!(
            names(&seen.headers).contains(&name),
            "{name}: {:?}",
            seen.headers
        );
    }
    assert_eq!(seen.text(), "body");
    // Responses to clients keep lower case: that is the connection manager's option.
    assert!(names(&r.headers).iter().all(|n| *n == n.to_lowercase()));
}

#[test]
fn a_shadow_request_takes_the_case_of_its_own_cluster() {
    let main = HttpUpstream::named("main");
    let shadow = HttpUpstream::named("shadow");
    let p = start_json(&http_bootstrap(
        json!([route(
            "/",
            "main",
            json!({"request_mirror_policies": [{"cluster": "shadow"}]})
        )]),
        json!([
            static_cluster("main", &[main.addr()], json!({})),
            static_cluster("shadow", &[shadow.addr()], proper_case_cluster()),
        ]),
        json!({}),
        json!({}),
    ));
    assert_eq!(
        send(&p, &Request::get("/x").header("x-custom-name", "1")).status,
        200
    );
    shadow.wait_for_requests(1, Duration::from_secs(5));
    let copy = shadow.last_request();
    assert!(
        names(&copy.headers).contains(&"X-Custom-Name"),
        "{:?}",
        copy.headers
    );
    assert!(names(&copy.headers).contains(&"Host"), "{:?}", copy.headers);
    let seen = main.last_request();
    assert!(names(&seen.headers).iter().all(|n| *n == n.to_lowercase()));
}

#[test]
fn a_fragment_is_refused_by_default_or_stripped_when_the_runtime_says_so() {
    // Envoy checks every path for a fragment, whatever the path options say.
    let up = HttpUpstream::named("app");
    let plain = proxy(&up, json!({}));
    assert_eq!(path_seen(&plain, &up, "/app/x#frag"), (400, None));
    assert_eq!(
        path_seen(&plain, &up, "/app/x?q=1"),
        forwarded("/app/x?q=1")
    );
    assert_eq!(
        plain
            .admin()
            .stat("http.ingress_http.downstream_rq_failed_path_normalization"),
        1
    );
    let strip = proxy_with(
        &up,
        json!({}),
        json!({}),
        runtime(json!({"envoy.reloadable_features.http_reject_path_with_fragment": false})),
    );
    assert_eq!(
        path_seen(&strip, &up, "/app/x?q#frag"),
        forwarded("/app/x?q")
    );
    let keep = proxy_with(
        &up,
        json!({}),
        json!({}),
        runtime(json!({
            "envoy.reloadable_features.http_reject_path_with_fragment": false,
            "envoy.reloadable_features.http_strip_fragment_from_path_unsafe_if_disabled": false,
        })),
    );
    assert_eq!(
        path_seen(&keep, &up, "/app/x#frag"),
        forwarded("/app/x#frag")
    );
}
