//! A mock HTTP/1.1 upstream on std threads: it records every request exactly as the proxy sent it
//! and answers as the test says (fixed body, echo, gigabytes of pattern, delay, close, reset).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::pattern::{self, PatternVerifier};
use crate::wire::{self, Conn, Framing, Headers};

/// Request bodies are kept in memory up to this size; beyond it only length and pattern are checked.
pub const BODY_CAPTURE_BYTES: usize = 16 << 20;

/// A request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Request target.
    pub path: String,
    /// Protocol version, e.g. `HTTP/1.1`.
    pub version: String,
    /// Headers as received, in order.
    pub headers: Headers,
    /// The first [`BODY_CAPTURE_BYTES`] of the body.
    pub body: Vec<u8>,
    /// Full body length.
    pub body_len: u64,
    /// The body checked against the test pattern.
    pub body_pattern: PatternVerifier,
    /// How the body was framed by the proxy.
    pub framing: Framing,
    /// Trailers of a chunked body.
    pub trailers: Headers,
    /// Which upstream connection carried it (1 = first accepted).
    pub connection: usize,
}

impl Recorded {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        wire::header(&self.headers, name)
    }

    /// Whether header `name` is present.
    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// Captured body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the upstream does with a request.
#[derive(Debug, Clone)]
enum Action {
    Respond,
    Close,
    Reset,
}

#[derive(Debug, Clone)]
enum ReplyBody {
    Bytes(Vec<u8>),
    Pattern(u64),
}

#[derive(Debug, Clone)]
enum ReplyFraming {
    ContentLength,
    Chunked(Headers),
    UntilClose,
    Bare,
}

/// The upstream's answer to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    action: Action,
    status: u16,
    headers: Headers,
    body: ReplyBody,
    framing: ReplyFraming,
    delay: Duration,
}

impl Reply {
    /// `status` with a text body (Content-Length framed).
    pub fn text(status: u16, body: &str) -> Self {
        Self {
            action: Action::Respond,
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: ReplyBody::Bytes(body.as_bytes().to_vec()),
            framing: ReplyFraming::ContentLength,
            delay: Duration::ZERO,
        }
    }

    /// `200` with a text body.
    pub fn ok(body: &str) -> Self {
        Self::text(200, body)
    }

    /// `status` with raw body bytes.
    pub fn bytes(status: u16, body: Vec<u8>) -> Self {
        Self {
            body: ReplyBody::Bytes(body),
            headers: Vec::new(),
            ..Self::text(status, "")
        }
    }

    /// `status` with no body and no framing headers at all (for 204, 304).
    pub fn bare(status: u16) -> Self {
        Self {
            framing: ReplyFraming::Bare,
            headers: Vec::new(),
            ..Self::text(status, "")
        }
    }

    /// `200` whose body is the first `len` bytes of the test pattern.
    pub fn pattern(len: u64) -> Self {
        Self {
            body: ReplyBody::Pattern(len),
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            ..Self::text(200, "")
        }
    }

    /// Closes the connection without answering (FIN).
    pub fn close() -> Self {
        Self {
            action: Action::Close,
            ..Self::text(0, "")
        }
    }

    /// Resets the connection without answering (RST).
    pub fn reset() -> Self {
        Self {
            action: Action::Reset,
            ..Self::text(0, "")
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends the body chunked, followed by `trailers`.
    pub fn chunked(mut self, trailers: &[(&str, &str)]) -> Self {
        self.framing = ReplyFraming::Chunked(
            trailers
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        );
        self
    }

    /// Sends the body without length and closes the connection to end it.
    pub fn until_close(mut self) -> Self {
        self.framing = ReplyFraming::UntilClose;
        self
    }

    /// Waits `delay` before doing anything.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    requests: Mutex<Vec<Recorded>>,
    connections: AtomicUsize,
    open: Mutex<Vec<(usize, TcpStream)>>,
    is_stopping: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running mock upstream; stops (closing every connection) when dropped.
pub struct HttpUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for HttpUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpUpstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl HttpUpstream {
    /// Starts an upstream on a free loopback port that answers each request with `handler`.
    pub fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mock upstream");
        let addr = listener.local_addr().expect("mock upstream address");
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            requests: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            open: Mutex::new(Vec::new()),
            is_stopping: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("upstream-{addr}"))
            .spawn(move || accept_loop(&listener, &accept_shared))
            .expect("spawn the mock upstream's accept thread");
        Self {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// An upstream answering every request `200` with `body`.
    pub fn replying(body: &str) -> Self {
        let body = body.to_string();
        Self::start(move |_| Reply::ok(&body))
    }

    /// An upstream answering `200` with its `name` as body and in an `x-upstream` header, so a test
    /// can tell which upstream served a request.
    pub fn named(name: &str) -> Self {
        let name = name.to_string();
        Self::start(move |_| Reply::ok(&name).header("x-upstream", &name))
    }

    /// An upstream answering `200` with the request body, and the method and path it saw in
    /// `x-echo-method` and `x-echo-path`.
    pub fn echo() -> Self {
        Self::start(|r| {
            Reply::bytes(200, r.body.clone())
                .header("x-echo-method", &r.method)
                .header("x-echo-path", &r.path)
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// The last request received; panics if none was.
    pub fn last_request(&self) -> Recorded {
        self.requests()
            .pop()
            .expect("the upstream received no request")
    }

    /// Number of requests received so far.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    /// Number of connections accepted so far.
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests arrived, within `timeout`.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) {
        crate::eventually(
            &format!("{n} requests at upstream {}", self.addr),
            timeout,
            || (self.request_count() >= n).then_some(()),
        );
    }
}

impl Drop for HttpUpstream {
    fn drop(&mut self) {
        self.shared.is_stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop, then cut every open connection so no thread outlives the test.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for (_, stream) in lock(&self.shared.open).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.is_stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let id = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.open).push((id, clone));
        }
        let shared = Arc::clone(shared);
        let _ = thread::Builder::new()
            .name(format!("upstream-conn-{id}"))
            .spawn(move || {
                let _ = serve_connection(stream, id, &shared);
                forget_connection(&shared, id);
            });
    }
}

/// Drops the clone kept for shutdown, so closing the connection really closes the socket.
fn forget_connection(shared: &Shared, id: usize) {
    lock(&shared.open).retain(|(open_id, _)| *open_id != id);
}

fn serve_connection(stream: TcpStream, id: usize, shared: &Shared) -> io::Result<()> {
    let mut conn = Conn::new(stream)?;
    // An idle pooled connection may legitimately wait a long time for its next request.
    conn.stream()
        .set_read_timeout(Some(Duration::from_secs(120)))?;
    while let Some(head) = conn.read_head()? {
        let head = wire::parse_head(&head)?;
        let framing = wire::request_framing(&head.headers)?;
        if wire::header_has_token(&head.headers, "expect", "100-continue") {
            conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let mut body = Vec::new();
        let mut body_len = 0u64;
        let mut body_pattern = PatternVerifier::new();
        let trailers = wire::read_body(&mut conn, framing, &mut |data| {
            body_len += data.len() as u64;
            body_pattern.update(data);
            let room = BODY_CAPTURE_BYTES.saturating_sub(body.len());
            body.extend_from_slice(&data[..data.len().min(room)]);
        })?;
        let recorded = Recorded {
            method: head.first,
            path: head.second,
            version: head.third,
            headers: head.headers,
            body,
            body_len,
            body_pattern,
            framing,
            trailers,
            connection: id,
        };
        let reply = (shared.handler)(&recorded);
        let is_head = recorded.method.eq_ignore_ascii_case("HEAD");
        let wants_close = wire::header_has_token(&recorded.headers, "connection", "close");
        lock(&shared.requests).push(recorded);
        if !reply.delay.is_zero() {
            thread::sleep(reply.delay);
        }
        match reply.action {
            Action::Respond => {}
            Action::Close => return conn.stream().shutdown(Shutdown::Both),
            Action::Reset => {
                // A RST goes out only when the last descriptor of the socket closes.
                forget_connection(shared, id);
                crate::sys::set_linger_zero(conn.stream())?;
                return Ok(());
            }
        }
        write_reply(&mut conn, &reply, is_head)?;
        if wants_close || matches!(reply.framing, ReplyFraming::UntilClose) {
            return conn.stream().shutdown(Shutdown::Both);
        }
    }
    Ok(())
}

fn write_reply(conn: &mut Conn, reply: &Reply, is_head: bool) -> io::Result<()> {
    let body_len = match &reply.body {
        ReplyBody::Bytes(b) => b.len() as u64,
        ReplyBody::Pattern(n) => *n,
    };
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match &reply.framing {
        ReplyFraming::ContentLength => head.push_str(&format!("content-length: {body_len}\r\n")),
        ReplyFraming::Chunked(_) => head.push_str("transfer-encoding: chunked\r\n"),
        ReplyFraming::UntilClose => head.push_str("connection: close\r\n"),
        ReplyFraming::Bare => {}
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    if is_head || matches!(reply.framing, ReplyFraming::Bare) {
        return Ok(());
    }
    let is_chunked = matches!(reply.framing, ReplyFraming::Chunked(_));
    let send = |conn: &mut Conn, data: &[u8]| -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if is_chunked {
            conn.write_all(format!("{:x}\r\n", data.len()).as_bytes())?;
            conn.write_all(data)?;
            conn.write_all(b"\r\n")
        } else {
            conn.write_all(data)
        }
    };
    match &reply.body {
        ReplyBody::Bytes(b) => send(conn, b)?,
        ReplyBody::Pattern(len) => {
            let mut offset = 0u64;
            while offset < *len {
                let n = usize::try_from((*len - offset).min(pattern::CHUNK as u64))
                    .expect("chunk fits usize");
                send(conn, pattern::window(offset, n))?;
                offset += n as u64;
            }
        }
    }
    if let ReplyFraming::Chunked(trailers) = &reply.framing {
        let mut end = String::from("0\r\n");
        for (name, value) in trailers {
            end.push_str(&format!("{name}: {value}\r\n"));
        }
        end.push_str("\r\n");
        conn.write_all(end.as_bytes())?;
    }
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
