//! tcp_proxy: bytes flow both ways unchanged, a half-close travels through, and a gigabyte each way
//! arrives byte-exact at the same time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use sluice_tests::tcp::exchange_pattern;
use sluice_tests::{Bootstrap, Cluster, GIB, MIB, MachineLock, Proxy, TcpListener, TcpUpstream};

fn tcp_proxy_to(upstream: &TcpUpstream) -> Proxy {
    Proxy::start(
        Bootstrap::new()
            .tcp_listener(TcpListener::new("tcp", "backend"))
            .cluster(Cluster::new("backend", &[upstream.addr()])),
    )
}

fn connect(proxy: &Proxy) -> TcpStream {
    let stream = TcpStream::connect(proxy.addr()).expect("connect to the tcp_proxy listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
}

#[test]
fn bytes_flow_through_unchanged_in_both_directions() {
    let upstream = TcpUpstream::echo();
    let proxy = tcp_proxy_to(&upstream);
    let mut stream = connect(&proxy);

    for message in ["ping", "not HTTP at all\r\n\r\n", "\u{0}\u{1}binary"] {
        stream.write_all(message.as_bytes()).expect("write");
        let mut echoed = vec![0u8; message.len()];
        stream.read_exact(&mut echoed).expect("echo");
        assert_eq!(echoed, message.as_bytes());
    }
}

#[test]
fn a_half_close_reaches_the_upstream_and_its_answer_still_comes_back() {
    let upstream = TcpUpstream::reply_after_eof();
    let proxy = tcp_proxy_to(&upstream);
    let mut stream = connect(&proxy);

    stream.write_all(b"hello").expect("write");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("read until the upstream closes");

    assert_eq!(
        answer, "received 5 bytes: hello",
        "the upstream only answers once it sees our FIN"
    );
}

#[test]
fn a_gigabyte_each_way_at_once_is_byte_exact() {
    let _whole_machine = MachineLock::acquire("heavy");
    let upstream = TcpUpstream::exchange(GIB);
    let proxy = tcp_proxy_to(&upstream);
    let stream = connect(&proxy);

    let rss = proxy.sample_rss();
    let downstream_got = exchange_pattern(&stream, GIB).expect("exchange a gigabyte each way");
    let upstream_got = upstream.wait_for_verified(1, Duration::from_secs(30));
    let peak = rss.peak();

    assert!(
        downstream_got.is_exactly(GIB),
        "client: {}",
        downstream_got.describe()
    );
    assert!(
        upstream_got[0].is_exactly(GIB),
        "upstream: {}",
        upstream_got[0].describe()
    );
    assert!(peak < 64 * MIB, "proxy RSS peaked at {} MiB", peak / MIB);
}
