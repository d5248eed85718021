//! SIGTERM drains: listeners close at once, in-flight requests finish (for up to
//! `--drain-time-s`), then the process exits 0.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use sluice_tests::{
    Bootstrap, Cluster, HttpListener, HttpUpstream, Proxy, Reply, Route, VirtualHost, eventually,
};

/// `*` -> `web` with a route timeout long enough never to fire in these tests.
fn proxy_to(upstream: &HttpUpstream, drain_time_s: &str) -> Proxy {
    Proxy::builder(
        Bootstrap::new()
            .http_listener(
                HttpListener::new("ingress_http").virtual_host(
                    VirtualHost::new("default", &["*"])
                        .route(Route::prefix("/").to_cluster("web").timeout("60s")),
                ),
            )
            .cluster(Cluster::new("web", &[upstream.addr()])),
    )
    .arg("--drain-time-s")
    .arg(drain_time_s)
    .start()
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_then_exits_zero() {
    let upstream =
        HttpUpstream::start(|_| Reply::ok("slow but complete").delayed(Duration::from_secs(2)));
    let mut proxy = proxy_to(&upstream, "10");
    let mut client = proxy.client();
    client.send(
        &sluice_tests::Request::get("/slow")
            .host("example.com")
            .to_bytes(),
    );
    upstream.wait_for_requests(1, Duration::from_secs(5));

    proxy.signal(libc::SIGTERM);

    let addr = proxy.addr();
    eventually(
        "the listener to refuse new connections after SIGTERM",
        Duration::from_secs(2),
        || TcpStream::connect(addr).is_err().then_some(()),
    );
    let response = client.read_response("GET");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "slow but complete");
    let status = proxy
        .wait_exit(Duration::from_secs(15))
        .expect("sluice still running after the drain");
    assert_eq!(status.code(), Some(0), "exit status {status}");
}

#[test]
fn the_drain_waits_no_longer_than_drain_time_s() {
    let upstream =
        HttpUpstream::start(|_| Reply::ok("never in time").delayed(Duration::from_secs(30)));
    let mut proxy = proxy_to(&upstream, "1");
    let mut client = proxy.client();
    client.send(
        &sluice_tests::Request::get("/stuck")
            .host("example.com")
            .to_bytes(),
    );
    upstream.wait_for_requests(1, Duration::from_secs(5));

    let signalled = Instant::now();
    proxy.signal(libc::SIGTERM);
    let status = proxy
        .wait_exit(Duration::from_secs(10))
        .expect("sluice ignored --drain-time-s 1");

    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "exited {:?} after SIGTERM",
        signalled.elapsed()
    );
    assert_eq!(status.code(), Some(0), "exit status {status}");
    drop(client);
}
