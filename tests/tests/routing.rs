//! Route selection as Envoy does it: virtual host by Host header (exact, `*.suffix`, `prefix.*`,
//! `*`; case-insensitive, port ignored), then routes in order where the first match wins, and the
//! local answers: 404 for no route, `direct_response` and `redirect`.

use sluice_tests::{
    Bootstrap, Cluster, HttpListener, HttpUpstream, Proxy, Request, Route, VirtualHost,
};

/// Each virtual host answers with its own name, so the test sees which one was chosen.
fn one_vhost_of_each_kind() -> Bootstrap {
    let vh = |name: &str, domains: &[&str]| {
        VirtualHost::new(name, domains).route(Route::prefix("/").direct(200, name))
    };
    Bootstrap::new().http_listener(
        HttpListener::new("ingress_http")
            .virtual_host(vh("fallback", &["*"]))
            .virtual_host(vh("prefix", &["api.*"]))
            .virtual_host(vh("suffix", &["*.example.com"]))
            .virtual_host(vh("exact", &["www.example.com"])),
    )
}

#[test]
fn the_virtual_host_is_chosen_by_host_exact_then_suffix_then_prefix_then_any() {
    let proxy = Proxy::start(one_vhost_of_each_kind());

    for (host, expected) in [
        ("www.example.com", "exact"),
        ("WWW.Example.COM", "exact"),
        // As Envoy, a port in Host is part of the name unless strip_any_host_port is set.
        ("www.example.com:8080", "fallback"),
        ("shop.example.com", "suffix"),
        ("a.b.example.com", "suffix"),
        ("api.example.com", "suffix"),
        ("api.internal", "prefix"),
        ("API.internal:9000", "prefix"),
        ("example.com", "fallback"),
        ("other.org", "fallback"),
    ] {
        let response = proxy.get(host, "/");
        assert_eq!(response.status, 200, "Host: {host}");
        assert_eq!(response.text(), expected, "Host: {host}");
    }
}

#[test]
fn a_host_no_virtual_host_serves_is_a_404() {
    let proxy = Proxy::start(
        Bootstrap::new().http_listener(
            HttpListener::new("ingress_http").virtual_host(
                VirtualHost::new("only", &["only.example.com"])
                    .route(Route::prefix("/").direct(200, "only")),
            ),
        ),
    );

    assert_eq!(proxy.get("only.example.com", "/").status, 200);
    assert_eq!(proxy.get("elsewhere.example.com", "/").status, 404);
}

#[test]
fn routes_are_tried_in_order_and_the_first_match_wins() {
    let proxy = Proxy::start(
        Bootstrap::new().http_listener(
            HttpListener::new("ingress_http").virtual_host(
                VirtualHost::new("default", &["*"])
                    .route(Route::prefix("/a").direct(200, "first"))
                    .route(Route::path("/a/b").direct(200, "second"))
                    .route(Route::prefix("/").direct(200, "catch-all")),
            ),
        ),
    );

    assert_eq!(
        proxy.get("example.com", "/a/b").text(),
        "first",
        "an earlier prefix shadows a later exact path"
    );
    assert_eq!(
        proxy.get("example.com", "/abc").text(),
        "first",
        "prefix is a plain string prefix"
    );
    assert_eq!(proxy.get("example.com", "/b").text(), "catch-all");
}

#[test]
fn an_exact_path_matches_only_that_path_ignoring_the_query() {
    let proxy = Proxy::start(Bootstrap::new().http_listener(
        HttpListener::new("ingress_http").virtual_host(
            VirtualHost::new("default", &["*"]).route(Route::path("/exact").direct(200, "exact")),
        ),
    ));

    assert_eq!(proxy.get("example.com", "/exact").text(), "exact");
    assert_eq!(proxy.get("example.com", "/exact?q=1").text(), "exact");
    assert_eq!(proxy.get("example.com", "/exact/more").status, 404);
    assert_eq!(proxy.get("example.com", "/exac").status, 404);
}

#[test]
fn a_path_no_route_matches_is_a_404_and_no_upstream_is_asked() {
    let upstream = HttpUpstream::replying("api");
    let proxy = Proxy::start(
        Bootstrap::new()
            .http_listener(HttpListener::new("ingress_http").virtual_host(
                VirtualHost::new("default", &["*"]).route(Route::prefix("/api").to_cluster("web")),
            ))
            .cluster(Cluster::new("web", &[upstream.addr()])),
    );

    assert_eq!(proxy.get("example.com", "/api/users").text(), "api");
    assert_eq!(proxy.get("example.com", "/other").status, 404);
    assert_eq!(upstream.request_count(), 1);
}

#[test]
fn routes_send_requests_to_the_cluster_they_name() {
    let blue = HttpUpstream::named("blue");
    let red = HttpUpstream::named("red");
    let proxy = Proxy::start(
        Bootstrap::new()
            .http_listener(
                HttpListener::new("ingress_http").virtual_host(
                    VirtualHost::new("default", &["*"])
                        .route(Route::path("/service/blue").to_cluster("blue"))
                        .route(Route::prefix("/").to_cluster("red")),
                ),
            )
            .cluster(Cluster::new("blue", &[blue.addr()]))
            .cluster(Cluster::new("red", &[red.addr()])),
    );

    assert_eq!(proxy.get("example.com", "/service/blue").text(), "blue");
    assert_eq!(proxy.get("example.com", "/service/blue/x").text(), "red");
    assert_eq!(proxy.get("example.com", "/service/a").text(), "red");
}

#[test]
fn a_direct_response_is_answered_by_the_proxy_itself() {
    let proxy = Proxy::start(
        Bootstrap::new().http_listener(
            HttpListener::new("ingress_http").virtual_host(
                VirtualHost::new("default", &["*"])
                    .route(
                        Route::prefix("/service/yellow")
                            .direct(200, "This page will be provided soon later.\n"),
                    )
                    .route(Route::prefix("/maintenance").direct_empty(503)),
            ),
        ),
    );

    let page = proxy.get("example.com", "/service/yellow/page2");
    assert_eq!(page.status, 200);
    assert_eq!(page.text(), "This page will be provided soon later.\n");
    assert_eq!(page.header("content-length"), Some("39"));
    assert!(
        page.header("content-type")
            .unwrap_or("")
            .starts_with("text/plain"),
        "{:?}",
        page.headers
    );

    let maintenance = proxy.get("example.com", "/maintenance");
    assert_eq!(maintenance.status, 503);
    assert!(maintenance.body.is_empty());
}

#[test]
fn a_redirect_is_a_301_with_the_new_location() {
    let proxy = Proxy::start(
        Bootstrap::new().http_listener(
            HttpListener::new("ingress_http").virtual_host(
                VirtualHost::new("default", &["*"])
                    .route(Route::prefix("/old").redirect_path("/new"))
                    .route(Route::prefix("/moved").redirect_host("new.example.com")),
            ),
        ),
    );

    let by_path = proxy.get("www.example.com", "/old");
    assert_eq!(by_path.status, 301);
    assert_eq!(
        by_path.header("location"),
        Some("http://www.example.com/new")
    );

    let by_host = proxy
        .client()
        .request(&Request::get("/moved/page").host("www.example.com"));
    assert_eq!(by_host.status, 301);
    assert_eq!(
        by_host.header("location"),
        Some("http://new.example.com/moved/page")
    );
}
