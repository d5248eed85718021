//! Bodies stream through the proxy with bounded buffers: a gigabyte each way arrives byte-exact
//! while the proxy's memory stays small, and every framing (Content-Length, chunked with trailers,
//! close-delimited) survives the trip. The proxy moves body data, not framing: a chunked body is
//! chunked again on the other side, its trailers dropped as Envoy's HTTP/1 codec does by default.

use std::io::Write;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use sluice_tests::lb::{http_bootstrap, route, start_json, static_cluster};
use sluice_tests::pattern::{self, PatternVerifier};
use sluice_tests::wire::Framing;
use sluice_tests::{Bootstrap, GIB, HttpUpstream, MIB, MachineLock, Proxy, Reply, Request};

/// The proxy's resident memory must stay under this while a gigabyte flows through it.
const RSS_LIMIT: u64 = 64 * MIB;

#[test]
fn a_gigabyte_upload_arrives_byte_exact_while_the_proxy_stays_small() {
    let _whole_machine = MachineLock::acquire("heavy");
    let upstream = HttpUpstream::start(|r| Reply::ok(&r.body_pattern.describe()));
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let mut client = proxy.client();

    let rss = proxy.sample_rss();
    client.send(
        format!("POST /upload HTTP/1.1\r\nhost: example.com\r\ncontent-length: {GIB}\r\n\r\n")
            .as_bytes(),
    );
    pattern::write_pattern(&mut client.stream(), GIB).expect("upload a gigabyte through the proxy");
    let response = client.read_response("POST");
    let peak = rss.peak();

    assert_eq!(response.status, 200, "{}", response.text());
    let seen = upstream.last_request();
    assert!(
        seen.body_pattern.is_exactly(GIB),
        "upstream: {}",
        seen.body_pattern.describe()
    );
    assert!(
        peak < RSS_LIMIT,
        "proxy RSS peaked at {} MiB during the upload",
        peak / MIB
    );
}

#[test]
fn a_gigabyte_download_arrives_byte_exact_while_the_proxy_stays_small() {
    let _whole_machine = MachineLock::acquire("heavy");
    let upstream = HttpUpstream::start(|_| Reply::pattern(GIB));
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let mut client = proxy.client();

    let rss = proxy.sample_rss();
    client.send(&Request::get("/download").host("example.com").to_bytes());
    let mut received = PatternVerifier::new();
    let response = client
        .read_response_streaming("GET", &mut |data| received.update(data))
        .expect("download a gigabyte through the proxy");
    let peak = rss.peak();

    assert_eq!(response.status, 200);
    assert!(received.is_exactly(GIB), "client: {}", received.describe());
    assert!(
        peak < RSS_LIMIT,
        "proxy RSS peaked at {} MiB during the download",
        peak / MIB
    );
}

#[test]
fn a_content_length_body_is_relayed_exactly_both_ways() {
    let upstream = HttpUpstream::echo();
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let body = pattern::pattern_bytes(300 * 1024);

    let response = proxy
        .client()
        .request(&Request::post("/echo", body.clone()).host("example.com"));

    assert_eq!(response.status, 200);
    assert_eq!(
        upstream.last_request().header("content-length"),
        Some("307200")
    );
    assert!(
        response.body == body,
        "echoed body differs ({} bytes back)",
        response.body.len()
    );
}

#[test]
fn a_chunked_upload_with_trailers_streams_through_and_the_connection_stays_usable() {
    let upstream = HttpUpstream::start(|r| Reply::ok(&r.body_pattern.describe()));
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let mut client = proxy.client();
    let total = 64 * MIB;

    client
        .send(b"POST /chunked HTTP/1.1\r\nhost: example.com\r\ntransfer-encoding: chunked\r\n\r\n");
    let mut stream = client.stream();
    let mut offset = 0u64;
    // Odd chunk sizes, so chunk boundaries never line up with the proxy's buffers.
    for size in [1usize, 7, 4096, 65_537, 1 << 20].iter().cycle() {
        let n = (*size as u64).min(total - offset) as usize;
        write!(stream, "{n:x}\r\n").expect("chunk size line");
        stream
            .write_all(pattern::window(offset, n))
            .expect("chunk data");
        stream.write_all(b"\r\n").expect("chunk end");
        offset += n as u64;
        if offset == total {
            break;
        }
    }
    stream
        .write_all(b"0\r\nx-checksum: pattern\r\n\r\n")
        .expect("last chunk and trailers");
    let response = client.read_response("POST");

    assert_eq!(response.status, 200);
    let seen = upstream.last_request();
    assert!(
        seen.body_pattern.is_exactly(total),
        "upstream: {}",
        seen.body_pattern.describe()
    );
    assert_eq!(
        client.get("example.com", "/after").status,
        200,
        "the connection is still in sync"
    );
}

#[test]
fn a_chunked_response_with_trailers_is_relayed_and_the_connection_stays_usable() {
    let upstream = HttpUpstream::start(|r| {
        if r.path == "/chunked" {
            Reply::pattern(8 * MIB).chunked(&[("x-trailer", "done")])
        } else {
            Reply::ok("next")
        }
    });
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let mut client = proxy.client();

    client.send(&Request::get("/chunked").host("example.com").to_bytes());
    let mut received = PatternVerifier::new();
    let response = client
        .read_response_streaming("GET", &mut |d| received.update(d))
        .expect("chunked response");

    assert_eq!(response.status, 200);
    assert!(
        received.is_exactly(8 * MIB),
        "client: {}",
        received.describe()
    );
    assert_eq!(client.get("example.com", "/next").text(), "next");
}

#[test]
fn a_close_delimited_response_is_relayed_in_full() {
    let upstream = HttpUpstream::start(|_| Reply::pattern(8 * MIB).until_close());
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let mut client = proxy.client();

    client.send(&Request::get("/until-close").host("example.com").to_bytes());
    let mut received = PatternVerifier::new();
    let response = client
        .read_response_streaming("GET", &mut |d| received.update(d))
        .expect("close-delimited response");

    assert_eq!(response.status, 200);
    assert!(
        received.is_exactly(8 * MIB),
        "client: {}",
        received.describe()
    );
}

#[test]
fn chunked_bodies_are_chunked_again_and_their_trailers_dropped_as_envoy_does() {
    // Envoy's HTTP/1 codec drops trailers unless `enable_trailers` is set (which Sluice
    // refuses): the data arrives whole, chunked, and without the trailer section, both ways.
    let upstream = HttpUpstream::start(|_| Reply::ok("0123456789").chunked(&[("x-sum", "45")]));
    let proxy = Proxy::start(Bootstrap::http_to(&[upstream.addr()]));
    let mut client = proxy.client();

    client.send(
        b"POST /t HTTP/1.1\r\nhost: example.com\r\ntransfer-encoding: chunked\r\n\r\n\
          3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nx-checksum: abcde\r\n\r\n",
    );
    let response = client.read_response("POST");

    let seen = upstream.last_request();
    assert_eq!(seen.body, b"abcde");
    assert_eq!(seen.framing, Framing::Chunked);
    assert!(
        seen.trailers.is_empty(),
        "request trailers: {:?}",
        seen.trailers
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"0123456789");
    assert_eq!(response.framing, Framing::Chunked);
    assert!(
        response.trailers.is_empty(),
        "response trailers: {:?}",
        response.trailers
    );
    assert_eq!(client.get("example.com", "/after").status, 200);
}

#[test]
fn a_chunked_request_held_for_a_retry_goes_out_whole_and_chunked_each_time() {
    let n = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&n);
    let upstream = HttpUpstream::start(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::text(503, "first")
        } else {
            Reply::ok("second")
        }
    });
    let proxy = start_json(&http_bootstrap(
        json!([route(
            "/",
            "app",
            json!({"retry_policy": {"retry_on": "5xx", "num_retries": 1}})
        )]),
        json!([static_cluster("app", &[upstream.addr()], json!({}))]),
        json!({}),
        json!({}),
    ));
    let mut client = proxy.client();

    // The body arrives in two writes, so it is read in parts before it is held whole.
    client.send(
        b"PUT /r HTTP/1.1\r\nhost: example.com\r\ntransfer-encoding: chunked\r\n\r\n4\r\nwxyz\r\n",
    );
    std::thread::sleep(std::time::Duration::from_millis(50));
    client.send(b"1\r\n!\r\n0\r\n\r\n");
    let response = client.read_response("PUT");

    assert_eq!(
        (response.status, response.text()),
        (200, "second".to_owned())
    );
    let attempts = upstream.requests();
    assert_eq!(attempts.len(), 2);
    for a in &attempts {
        assert_eq!(a.body, b"wxyz!");
        assert_eq!(a.framing, Framing::Chunked);
    }
    assert_eq!(proxy.admin().stat("cluster.app.upstream_rq_retry"), 1);
}
