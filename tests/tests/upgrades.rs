//! Upgrades through the real binary: a WebSocket upgrade that the connection manager's
//! `upgrade_configs` allows becomes a byte stream both ways after the upstream's 101; one it
//! does not allow (or a route disables) is answered 403 and never reaches the upstream; CONNECT
//! with `upgrade_type: CONNECT` and a `connect_matcher` route is forwarded and tunnels after
//! the upstream's 200; with the route's `connect_config` the proxy terminates the CONNECT
//! itself and tunnels to the host over plain TCP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_tests::lb::{http_bootstrap, start_json, static_cluster};

/// A raw upstream: reads a request head, answers `answer`, then echoes every byte back in
/// upper case until the peer closes. Counts the heads it saw.
fn echo_after(answer: &'static [u8]) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let heads = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&heads);
    thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut s) = stream else { continue };
            let seen = Arc::clone(&seen);
            thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if s.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = s.write_all(answer);
                let mut buf = [0u8; 1024];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            let up: Vec<u8> = buf[..n].to_ascii_uppercase();
                            if s.write_all(&up).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, heads)
}

fn proxy(addr: SocketAddr, routes: Value, hcm: Value) -> sluice_tests::Proxy {
    start_json(&http_bootstrap(
        routes,
        json!([static_cluster("ws", &[addr], json!({}))]),
        hcm,
        json!({}),
    ))
}

fn exchange(proxy: &sluice_tests::Proxy, head: &[u8], then: &[u8]) -> String {
    let mut s = TcpStream::connect(proxy.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    s.write_all(head).expect("send head");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    // The answer head first.
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    if !then.is_empty() {
        s.write_all(then).expect("send data");
        let want = got.len() + then.len();
        while got.len() < want {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

const WS_HEAD: &[u8] =
    b"GET /chat HTTP/1.1\r\nhost: a\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n";

#[test]
fn an_allowed_websocket_upgrade_becomes_a_byte_stream() {
    let (addr, heads) = echo_after(
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
    );
    let p = proxy(
        addr,
        json!([{"match": {"prefix": "/"}, "route": {"cluster": "ws"}}]),
        json!({"upgrade_configs": [{"upgrade_type": "websocket"}]}),
    );
    let text = exchange(&p, WS_HEAD, b"hello frames");
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("upgrade: websocket"),
        "{text}"
    );
    assert!(text.ends_with("HELLO FRAMES"), "{text}");
    assert_eq!(heads.load(Ordering::SeqCst), 1);
    assert_eq!(
        p.admin()
            .stat("http.ingress_http.downstream_cx_upgrades_total"),
        1
    );
}

#[test]
fn an_upgrade_nothing_allows_or_a_route_disables_is_refused() {
    let (addr, heads) =
        echo_after(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n");
    // Without upgrade_configs on the connection manager.
    let p = proxy(
        addr,
        json!([{"match": {"prefix": "/"}, "route": {"cluster": "ws"}}]),
        json!({}),
    );
    assert!(exchange(&p, WS_HEAD, b"").starts_with("HTTP/1.1 403"));
    // Allowed by the connection manager, disabled by the route.
    let p = proxy(
        addr,
        json!([{"match": {"prefix": "/"}, "route": {
            "cluster": "ws",
            "upgrade_configs": [{"upgrade_type": "websocket", "enabled": false}],
        }}]),
        json!({"upgrade_configs": [{"upgrade_type": "websocket"}]}),
    );
    assert!(exchange(&p, WS_HEAD, b"").starts_with("HTTP/1.1 403"));
    assert_eq!(heads.load(Ordering::SeqCst), 0);
}

#[test]
fn connect_is_forwarded_and_tunnels_after_the_upstreams_200() {
    let (addr, heads) = echo_after(b"HTTP/1.1 200 OK\r\n\r\n");
    let p = proxy(
        addr,
        json!([{"match": {"connect_matcher": {}}, "route": {"cluster": "ws"}}]),
        json!({"upgrade_configs": [{"upgrade_type": "CONNECT"}]}),
    );
    let text = exchange(
        &p,
        b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n",
        b"tls bytes",
    );
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("TLS BYTES"), "{text}");
    assert_eq!(heads.load(Ordering::SeqCst), 1);
}

/// A CONNECT route with `connect_config`: the proxy is the CONNECT's end point.
fn terminating_proxy(addr: SocketAddr) -> sluice_tests::Proxy {
    proxy(
        addr,
        json!([{
            "match": {"connect_matcher": {}},
            "route": {
                "cluster": "ws",
                "upgrade_configs": [{"upgrade_type": "CONNECT", "connect_config": {}}],
            },
        }]),
        json!({"upgrade_configs": [{"upgrade_type": "CONNECT"}]}),
    )
}

#[test]
fn connect_config_terminates_the_connect_and_tunnels_raw_tcp() {
    let up = sluice_tests::TcpUpstream::echo();
    let p = terminating_proxy(up.addr());
    let mut s = TcpStream::connect(p.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    // Bytes right behind the head belong to the tunnel already.
    s.write_all(b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\nearly ")
        .expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"early ") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    // The echo upstream got no HTTP head: the answer is the proxy's, then the echoed bytes.
    let head_end = text.find("\r\n\r\n").expect("head") + 4;
    assert_eq!(&text[head_end..], "early ");
    assert!(
        !text.to_ascii_lowercase().contains("content-length"),
        "{text}"
    );
    s.write_all(b"later").expect("send");
    let mut echoed = [0u8; 5];
    s.read_exact(&mut echoed).expect("echo");
    assert_eq!(&echoed, b"later");
    assert_eq!(p.admin().stat("cluster.ws.upstream_cx_total"), 1);
    assert_eq!(
        p.admin()
            .stat("http.ingress_http.downstream_cx_upgrades_total"),
        1
    );
}

#[test]
fn a_terminated_connect_whose_host_refuses_is_answered_503() {
    let p = terminating_proxy(sluice_tests::closed_port());
    let text = exchange(
        &p,
        b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n",
        b"",
    );
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert_eq!(p.admin().stat("cluster.ws.upstream_cx_connect_fail"), 1);
}

#[test]
fn the_upgrade_answer_gets_the_routers_and_the_routes_response_headers() {
    // Envoy's router treats the 101 like any response: counted in the cluster's stats, with the
    // route's response headers, the service time, and the connection manager's date.
    let (addr, _) = echo_after(
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
    );
    let p = proxy(
        addr,
        json!([{"match": {"prefix": "/"}, "route": {"cluster": "ws"},
                "response_headers_to_add": [{"header": {"key": "x-route", "value": "ws"}}]}]),
        json!({"upgrade_configs": [{"upgrade_type": "websocket"}]}),
    );
    let text = exchange(&p, WS_HEAD, b"hi");
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{text}");
    assert!(head.contains("\r\nx-route: ws"), "{head}");
    assert!(
        head.contains("\r\nx-envoy-upstream-service-time: "),
        "{head}"
    );
    assert!(head.contains("\r\ndate: "), "{head}");
    assert!(head.contains("\r\nupgrade: websocket"), "{head}");
    assert!(text.ends_with("HI"), "{text}");
    let admin = p.admin();
    assert_eq!(admin.stat("cluster.ws.upstream_rq_1xx"), 1);
    assert_eq!(admin.stat("cluster.ws.upstream_rq_completed"), 1);
}
