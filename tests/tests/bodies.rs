//! Bodies stream through the proxy with bounded buffers: a gigabyte each way arrives byte-exact
//! while the proxy's memory stays small, and every framing (Content-Length, chunked with trailers,
//! close-delimited) survives the trip.

use std::io::Write;

use sluice_tests::pattern::{self, PatternVerifier};
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
