//! The harness checks itself without a proxy: the client talks straight to the mock upstreams, so a
//! failure elsewhere is the proxy's, not the harness's.

use std::time::Duration;

use sluice_tests::pattern::{self, PatternVerifier};
use sluice_tests::tcp::exchange_pattern;
use sluice_tests::{HttpClient, HttpUpstream, MIB, Reply, Request, TcpUpstream};

#[test]
fn the_client_and_the_mock_upstream_agree_on_every_framing() {
    let upstream = HttpUpstream::start(|r| match r.path.as_str() {
        "/chunked" => Reply::pattern(3 * MIB).chunked(&[("x-t", "1")]),
        "/204" => Reply::bare(204),
        "/close" => Reply::pattern(MIB).until_close(),
        _ => {
            Reply::bytes(200, r.body.clone()).header("x-seen-host", r.header("host").unwrap_or(""))
        }
    });
    let mut client = HttpClient::connect(upstream.addr());

    let echoed = client.request(&Request::post("/echo", "abc").host("h.example"));
    assert_eq!((echoed.status, echoed.text().as_str()), (200, "abc"));
    assert_eq!(echoed.header("x-seen-host"), Some("h.example"));

    let mut chunked = PatternVerifier::new();
    client.send(&Request::get("/chunked").to_bytes());
    let response = client
        .read_response_streaming("GET", &mut |d| chunked.update(d))
        .expect("chunked");
    assert!(chunked.is_exactly(3 * MIB), "{}", chunked.describe());
    assert_eq!(
        response.trailers,
        vec![("x-t".to_string(), "1".to_string())]
    );

    assert!(client.get("h", "/204").body.is_empty());
    assert_eq!(
        client
            .request(&Request::head("/x"))
            .header("content-length"),
        Some("0")
    );

    let mut closed = PatternVerifier::new();
    client.send(&Request::get("/close").to_bytes());
    client
        .read_response_streaming("GET", &mut |d| closed.update(d))
        .expect("close-delimited");
    assert!(closed.is_exactly(MIB));
    assert!(client.is_closed_by_peer(Duration::from_secs(1)));

    assert_eq!(upstream.connection_count(), 1);
    assert_eq!(upstream.request_count(), 5);
}

#[test]
fn the_pattern_verifier_finds_the_first_wrong_byte() {
    let mut good = PatternVerifier::new();
    let bytes = pattern::pattern_bytes(200_000);
    good.update(&bytes[..12_345]);
    good.update(&bytes[12_345..]);
    assert!(good.is_exactly(200_000));

    let mut bad_bytes = bytes.clone();
    bad_bytes[150_000] ^= 1;
    let mut bad = PatternVerifier::new();
    bad.update(&bad_bytes);
    assert_eq!(bad.first_mismatch(), Some(150_000));
}

#[test]
fn a_tcp_pattern_exchange_runs_both_ways_at_once() {
    let upstream = TcpUpstream::exchange(32 * MIB);
    let stream = std::net::TcpStream::connect(upstream.addr()).expect("connect");
    let got = exchange_pattern(&stream, 32 * MIB).expect("exchange");
    assert!(got.is_exactly(32 * MIB), "{}", got.describe());
    let verified = upstream.wait_for_verified(1, Duration::from_secs(10));
    assert!(
        verified[0].is_exactly(32 * MIB),
        "{}",
        verified[0].describe()
    );
}

#[test]
fn resets_and_closes_are_seen_as_failures_by_the_client() {
    let upstream = HttpUpstream::start(|r| {
        if r.path == "/reset" {
            Reply::reset()
        } else {
            Reply::close()
        }
    });
    for path in ["/reset", "/close"] {
        let mut client = HttpClient::connect(upstream.addr());
        client.send(&Request::get(path).to_bytes());
        assert!(client.try_read_response("GET").is_err(), "{path}");
    }
}
