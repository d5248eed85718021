//! Drives the built `sluice-upstream` binary over loopback: pipelined requests with every body
//! framing get their responses in order, byte for byte.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The server process, killed when the test ends (pass or fail).
struct Upstream {
    child: Child,
    addr: String,
}

impl Upstream {
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice-upstream"))
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sluice-upstream");
        // The start-up line names the bound address: "... on 127.0.0.1:PORT with ...".
        let mut line = String::new();
        BufReader::new(child.stderr.take().expect("stderr is piped"))
            .read_line(&mut line)
            .expect("read start-up line");
        let addr = line
            .split(" on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Self { child, addr }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nServer: sluice-upstream\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, world\n";

#[test]
fn pipelined_requests_with_bodies_are_answered_in_order() {
    let upstream = Upstream::start(&[]);
    let mut stream = upstream.connect();
    let requests: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"GET /last HTTP/1.1\r\nConnection: close\r\n\r\n",
    ];
    // Byte by byte for the first half, then the rest at once: framing must not depend on reads.
    let all: Vec<u8> = requests.concat();
    let (slow, fast) = all.split_at(all.len() / 2);
    for byte in slow {
        stream.write_all(std::slice::from_ref(byte)).expect("write");
    }
    stream.write_all(fast).expect("write");
    let mut received = Vec::new();
    stream
        .read_to_end(&mut received)
        .expect("read until the server closes");
    let close_response = String::from_utf8_lossy(RESPONSE)
        .replace("Content-Length", "Connection: close\r\nContent-Length")
        .into_bytes();
    let expected = [RESPONSE, RESPONSE, RESPONSE, &close_response].concat();
    assert_eq!(
        String::from_utf8_lossy(&received),
        String::from_utf8_lossy(&expected)
    );
}

#[test]
fn large_body_and_bad_request() {
    let upstream = Upstream::start(&["--body-bytes", "65536"]);
    let mut stream = upstream.connect();
    stream
        .write_all(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        .expect("write");
    let response_len = RESPONSE.len() - 13 + 65_536 + 3; // three more Content-Length digits
    let mut received = vec![0; 2 * response_len];
    stream
        .read_exact(&mut received)
        .expect("two 64 KiB responses");
    assert!(received.starts_with(b"HTTP/1.1 200 OK\r\n"));
    stream
        .write_all(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
        .expect("write");
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("closed after the error");
    assert!(
        rest.starts_with(b"HTTP/1.1 400 Bad Request\r\n"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
}
