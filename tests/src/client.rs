//! A raw HTTP/1.1 client: sends exactly the bytes a test asks for and reports exactly what came back.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use crate::wire::{self, Conn, Framing, Headers};

/// A request to send. Built with [`Request::get`] and friends; serialised by [`Request::to_bytes`].
#[derive(Debug, Clone)]
pub struct Request {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Request target, e.g. `/path?q`.
    pub path: String,
    /// Headers in the order they are sent.
    pub headers: Headers,
    /// Body; a `Content-Length` is added for it unless a framing header was set explicitly.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with `method` and `path` and no headers yet.
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `GET path`.
    pub fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    /// `HEAD path`.
    pub fn head(path: &str) -> Self {
        Self::new("HEAD", path)
    }

    /// `POST path` with `body`.
    pub fn post(path: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::new("POST", path).body(body)
    }

    /// Sets the `Host` header.
    pub fn host(self, host: &str) -> Self {
        self.header("host", host)
    }

    /// Appends a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The request as bytes on the wire. A `Host: localhost` is added when no Host was set (HTTP/1.1
    /// requires one), and `Content-Length` when there is a body and no framing header.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.path).into_bytes();
        if wire::header(&self.headers, "host").is_none() {
            out.extend_from_slice(b"host: localhost\r\n");
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        let framed = wire::header(&self.headers, "content-length").is_some()
            || wire::header(&self.headers, "transfer-encoding").is_some();
        if !self.body.is_empty() && !framed {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// A response as received.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Protocol version from the status line, e.g. `HTTP/1.1`.
    pub version: String,
    /// Headers in order.
    pub headers: Headers,
    /// Body bytes (empty when streamed to a sink).
    pub body: Vec<u8>,
    /// Trailers of a chunked body.
    pub trailers: Headers,
    /// Status codes of interim (1xx) responses that preceded this one.
    pub interim: Vec<u16>,
    /// How the body was delimited.
    pub framing: Framing,
}

impl Response {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        wire::header(&self.headers, name)
    }

    /// Whether header `name` is present.
    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One client connection to the proxy (or anything else on loopback).
#[derive(Debug)]
pub struct HttpClient {
    conn: Conn,
}

impl HttpClient {
    /// Connects to `addr`, panicking if that fails.
    pub fn connect(addr: SocketAddr) -> Self {
        Self::try_connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    /// Connects to `addr`.
    pub fn try_connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, wire::IO_TIMEOUT)?;
        Ok(Self {
            conn: Conn::new(stream)?,
        })
    }

    /// The underlying stream.
    pub fn stream(&self) -> &TcpStream {
        self.conn.stream()
    }

    /// Sets the timeout of each read (default [`wire::IO_TIMEOUT`]).
    pub fn set_read_timeout(&self, timeout: Duration) {
        self.stream()
            .set_read_timeout(Some(timeout))
            .expect("set the client's read timeout");
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes)
            .unwrap_or_else(|e| panic!("send {} bytes to the proxy: {e}", bytes.len()));
    }

    /// Sends raw bytes, reporting errors.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.conn.write_all(bytes)
    }

    /// Sends `request` and reads its response.
    pub fn request(&mut self, request: &Request) -> Response {
        self.send(&request.to_bytes());
        self.read_response(&request.method)
    }

    /// `GET path` with `Host: host`, on this (kept-alive) connection.
    pub fn get(&mut self, host: &str, path: &str) -> Response {
        self.request(&Request::get(path).host(host))
    }

    /// Reads the response to a request with `method`, skipping (and noting) interim 1xx responses.
    pub fn read_response(&mut self, method: &str) -> Response {
        self.try_read_response(method)
            .unwrap_or_else(|e| panic!("read the response to a {method} request: {e}"))
    }

    /// Like [`Self::read_response`], reporting errors (including a close before any byte).
    pub fn try_read_response(&mut self, method: &str) -> io::Result<Response> {
        let mut body = Vec::new();
        let mut response =
            self.read_response_streaming(method, &mut |b| body.extend_from_slice(b))?;
        response.body = body;
        Ok(response)
    }

    /// Reads a response, handing body bytes to `sink` instead of keeping them.
    pub fn read_response_streaming(
        &mut self,
        method: &str,
        sink: &mut dyn FnMut(&[u8]),
    ) -> io::Result<Response> {
        let mut interim = Vec::new();
        loop {
            let mut response = self.read_head()?;
            if (100..200).contains(&response.status) && response.status != 101 {
                interim.push(response.status);
                continue;
            }
            response.framing = wire::response_framing(method, response.status, &response.headers)?;
            response.trailers = wire::read_body(&mut self.conn, response.framing, sink)?;
            response.interim = interim;
            return Ok(response);
        }
    }

    /// Reads one response head (an interim 1xx one included) without its body.
    pub fn read_head(&mut self) -> io::Result<Response> {
        let head = self.conn.read_head()?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            )
        })?;
        let head = wire::parse_head(&head)?;
        let status = head
            .second
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad status code"))?;
        Ok(Response {
            status,
            reason: head.third,
            version: head.first,
            headers: head.headers,
            body: Vec::new(),
            trailers: Vec::new(),
            interim: Vec::new(),
            framing: Framing::Empty,
        })
    }

    /// Half-closes: no more bytes will be sent, reading still works.
    pub fn shutdown_write(&self) {
        self.stream()
            .shutdown(Shutdown::Write)
            .expect("shut down the write half");
    }

    /// Whether the peer closes the connection (FIN or RST) within `within`, discarding any bytes
    /// it sends first.
    pub fn is_closed_by_peer(&mut self, within: Duration) -> bool {
        let deadline = crate::Deadline::after(within);
        let mut scratch = [0u8; 16 * 1024];
        loop {
            let remaining = deadline.remaining();
            if remaining.is_zero() {
                return false;
            }
            let stream = self.conn.stream();
            let _ = stream.set_read_timeout(Some(remaining));
            let mut reader = stream;
            match reader.read(&mut scratch) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                    ) =>
                {
                    return true;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return false;
                }
                Err(_) => return true,
            }
        }
    }
}

/// One request on a fresh connection: `GET path` with `Host: host`.
pub fn get(addr: SocketAddr, host: &str, path: &str) -> Response {
    HttpClient::connect(addr).get(host, path)
}

/// Sends raw `request` bytes on a fresh connection and reads until the peer closes it (at most
/// 3 s): for exchanges the client above would refuse to parse, such as HTTP/1.0.
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    use std::io::Write as _;
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    s.write_all(request).expect("send");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}
