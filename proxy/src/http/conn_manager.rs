//! The HTTP connection manager on a worker: reads HTTP/1.1 requests from one downstream
//! connection, routes each, answers locally or forwards it to an upstream host, and streams
//! both bodies through bounded buffers.
//!
//! Requests on a connection are served one after another, so pipelined requests are
//! answered in order. Bodies are forwarded verbatim (chunk framing included) when both sides
//! speak HTTP/1.1; the codec validates the framing as the bytes pass. A request's route
//! timeout runs from the end of the request to the end of the response, as in Envoy.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::buf::IoBuf;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::h1::{
    self, BodyDecoder, BodyKind, HeadEncoder, LocalReply, Method, Parse, RequestHead, ResponseHead,
    Version,
};
use super::router::{Action, ClusterChoice, Forward, NoRuntime, RouteRequest};
use crate::runtime::snapshot::{Cluster, Host, HttpConnManager, ListenerKind, Snapshot};
use crate::runtime::worker::Worker;
use crate::upstream::lb::{PickContext, RequestHashInput};
use crate::upstream::{self, ConnectError};
use sluice_lb::hash;

/// Initial capacity of a connection's read buffer; it grows up to the head limit when a large
/// head arrives.
const READ_BUFFER_BYTES: usize = 16 * 1024;
/// Read size while streaming a body: bounds memory per connection and direction.
const BODY_BUFFER_BYTES: usize = 64 * 1024;

/// Why a request could not be forwarded: each kind is one of Envoy's response flags with its
/// status code and local reply body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// `UH`: no healthy host in the cluster.
    NoHealthyUpstream,
    /// `UF`: the upstream connection could not be made.
    ConnectFailed,
    /// `UC`: the upstream closed or reset before a response head.
    ConnectionTermination,
    /// `UT`: the route timeout fired before the response head.
    Timeout,
    /// `UPE`: the upstream's response could not be parsed.
    ProtocolError,
}

impl Failure {
    fn status(self) -> u16 {
        match self {
            Failure::Timeout => 504,
            Failure::ProtocolError => 502,
            _ => 503,
        }
    }

    fn body(self) -> &'static [u8] {
        use h1::local_reply as r;
        match self {
            Failure::NoHealthyUpstream => r::NO_HEALTHY_UPSTREAM,
            Failure::ConnectFailed => r::UPSTREAM_CONNECT_FAILURE,
            Failure::ConnectionTermination => r::UPSTREAM_CONNECTION_TERMINATION,
            Failure::Timeout => r::UPSTREAM_REQUEST_TIMEOUT,
            Failure::ProtocolError => {
                b"upstream connect error or disconnect/reset before headers. reset reason: protocol error"
            }
        }
    }

    /// Envoy's short response flag, for logs.
    fn flag(self) -> &'static str {
        match self {
            Failure::NoHealthyUpstream => "UH",
            Failure::ConnectFailed => "UF",
            Failure::ConnectionTermination => "UC",
            Failure::Timeout => "UT",
            Failure::ProtocolError => "UPE",
        }
    }
}

/// Where a request goes: the route's cluster, the picked host, the route itself and how much
/// of the path its prefix matched (for `prefix_rewrite`).
#[derive(Clone, Copy)]
struct Target<'r> {
    cluster: &'r Cluster,
    host: &'r Host,
    route: &'r Forward,
    matched_len: usize,
}

/// What happened to the downstream connection after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close the connection.
    Close,
}

/// One downstream connection's state.
struct Downstream<'a> {
    worker: &'a Rc<Worker>,
    /// The connection manager as of accept: stats and settings (stable across snapshots).
    hcm: &'a HttpConnManager,
    /// Index of the listener in the snapshot, to route each request on the current one.
    listener: usize,
    stream: TcpStream,
    peer: SocketAddr,
    /// Bytes read from the client and not yet consumed; a request head always starts at 0.
    rbuf: Vec<u8>,
    /// Scratch for encoding heads.
    wbuf: Vec<u8>,
    req: RequestHead,
    /// The upstream response head and read buffer, reused across this connection's requests.
    resp: ResponseHead,
    ubuf: Vec<u8>,
    limits: h1::Limits,
}

/// Serves one downstream connection until it closes.
pub async fn serve(
    worker: &Rc<Worker>,
    hcm: &HttpConnManager,
    listener: usize,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let stats = &hcm.stats;
    let shard = &worker.shard;
    shard.inc(stats.downstream_cx_total);
    shard.inc(stats.downstream_cx_http1_total);
    shard.inc(stats.downstream_cx_active);
    let _ = stream.set_nodelay(true);
    let mut conn = Downstream {
        worker,
        hcm,
        listener,
        stream,
        peer,
        rbuf: Vec::with_capacity(READ_BUFFER_BYTES),
        wbuf: Vec::with_capacity(1024),
        req: RequestHead::new(),
        resp: ResponseHead::new(),
        ubuf: Vec::new(),
        limits: h1::Limits::default(),
    };
    conn.run().await;
    shard.dec(stats.downstream_cx_active);
    shard.inc(stats.downstream_cx_destroy);
}

impl Downstream<'_> {
    async fn run(&mut self) {
        let mut drained = std::pin::pin!(self.worker.drain.wait());
        loop {
            // Read until a whole head is buffered.
            let head_len = loop {
                if !self.rbuf.is_empty() {
                    match self.req.parse(&self.rbuf, &self.limits) {
                        Ok(Parse::Complete(n)) => break n,
                        Ok(Parse::Partial) => {}
                        Err(e) => {
                            let stats = &self.hcm.stats;
                            self.worker.shard.inc(stats.downstream_cx_protocol_error);
                            if e.status_code() == 431 {
                                self.worker.shard.inc(stats.downstream_rq_too_large);
                            }
                            self.count_request_start();
                            let reply = LocalReply {
                                server: self.hcm.server_name.as_bytes(),
                                ..LocalReply::protocol_error(e.status_code())
                            };
                            if self.send_local(&reply).await.is_ok() {
                                self.linger().await;
                            }
                            return;
                        }
                    }
                }
                if self.rbuf.len() == self.rbuf.capacity() {
                    self.rbuf.reserve(self.rbuf.capacity());
                }
                let buf = std::mem::take(&mut self.rbuf);
                let idle = buf.is_empty();
                let (res, buf) = if idle {
                    // Between requests: a drain closes the idle connection at once.
                    monoio::select! {
                        r = super::read_append(&mut self.stream, buf) => r,
                        () = &mut drained => return,
                    }
                } else {
                    super::read_append(&mut self.stream, buf).await
                };
                self.rbuf = buf;
                match res {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            };
            match self.request(head_len).await {
                Next::KeepAlive if !self.worker.drain.is_draining() => {}
                Next::KeepAlive => return,
                Next::Close => {
                    self.linger().await;
                    return;
                }
            }
        }
    }

    /// Closes the connection the way a client can read the last response: half-close our
    /// side, then read and discard what the client still sends, for a bounded time and amount.
    /// Closing with unread bytes would make the kernel send a reset, which can destroy the
    /// response before the client reads it (a 431 for an oversized head, say).
    async fn linger(&mut self) {
        const LINGER_TIME: Duration = Duration::from_secs(2);
        const LINGER_BYTES_MAX: usize = 1 << 20;
        let _ = monoio::io::AsyncWriteRent::shutdown(&mut self.stream).await;
        let deadline = Instant::now() + LINGER_TIME;
        let mut discarded = 0;
        let mut buf = std::mem::take(&mut self.rbuf);
        while discarded < LINGER_BYTES_MAX {
            buf.clear();
            let left = deadline.saturating_duration_since(Instant::now());
            match monoio::time::timeout(left, self.stream.read(buf)).await {
                Ok((Ok(n), b)) if n > 0 => {
                    discarded += n;
                    buf = b;
                }
                _ => return,
            }
        }
    }

    fn count_request_start(&self) {
        let s = &self.hcm.stats;
        self.worker.shard.inc(s.downstream_rq_total);
        self.worker.shard.inc(s.downstream_rq_http1_total);
    }

    fn count_response(&self, status: u16) {
        let s = &self.hcm.stats;
        self.worker.shard.inc(s.class(status));
        self.worker.shard.inc(s.downstream_rq_completed);
    }

    /// Writes a local reply for the current request.
    async fn send_local(&mut self, reply: &LocalReply<'_>) -> std::io::Result<()> {
        self.count_response(reply.status);
        self.wbuf.clear();
        let date = self.worker.http_date();
        h1::encode_local_reply(&mut self.wbuf, reply, &date);
        let buf = std::mem::take(&mut self.wbuf);
        let (res, buf) = self.stream.write_all(buf).await;
        self.wbuf = buf;
        res.map(|_| ())
    }

    /// Whether the client wants the connection kept after this request.
    fn client_keeps_alive(&self) -> bool {
        self.req.is_keep_alive()
    }

    /// Serves the request whose head is `rbuf[..head_len]`.
    async fn request(&mut self, head_len: usize) -> Next {
        self.count_request_start();
        let shard = &self.worker.shard;
        shard.inc(self.hcm.stats.downstream_rq_active);
        let next = self.route_and_serve(head_len).await;
        shard.dec(self.hcm.stats.downstream_rq_active);
        next
    }

    async fn route_and_serve(&mut self, head_len: usize) -> Next {
        if self.req.version() == Version::Http10 {
            // Envoy's default (`http_protocol_options.accept_http_10: false`): HTTP/1.0 gets
            // 426 Upgrade Required and the connection closes.
            let reply = LocalReply {
                is_close: true,
                server: self.hcm.server_name.as_bytes(),
                ..LocalReply::new(426, b"")
            };
            let _ = self.send_local(&reply).await;
            return Next::Close;
        }
        if self.req.is_upgrade() || self.req.is_connect() {
            // Upgrades (WebSocket) and CONNECT need per-route `upgrade_configs`, which do not
            // exist yet: answer as Envoy does for an upgrade no route allows.
            let reply = LocalReply {
                is_close: true,
                server: self.hcm.server_name.as_bytes(),
                ..LocalReply::new(403, b"")
            };
            let _ = self.send_local(&reply).await;
            return Next::Close;
        }
        // Routes and clusters come from the same snapshot, taken once per request: a route's
        // cluster index is only meaningful in the snapshot that resolved it.
        let snapshot = self.worker.snapshot();
        let routes = match snapshot.listeners.get(self.listener).map(|l| &l.kind) {
            Some(ListenerKind::Http(hcm)) => &hcm.routes,
            _ => &self.hcm.routes,
        };
        let host = self.req.header(&self.rbuf, b"host").unwrap_or(b"");
        let target = self.req.target(&self.rbuf);
        let target = std::str::from_utf8(target).unwrap_or("");
        let request = RouteRequest {
            host,
            path: target.as_bytes(),
            method: self.req.method(&self.rbuf),
            headers: &self.req.headers(&self.rbuf),
            random: self.worker.next_random(),
            runtime: &NoRuntime,
        };
        let Some(routed) = routes.route(&request) else {
            self.worker.shard.inc(self.hcm.stats.no_route);
            return self.local_then_skip_body(head_len, 404, b"").await;
        };
        let (route, matched_len) = (routed.route, routed.matched_len);
        let cluster = match routed.cluster {
            Some(ClusterChoice::Header { value, .. }) => value.and_then(|v| {
                snapshot
                    .clusters
                    .iter()
                    .position(|c| c.name.as_bytes() == v)
            }),
            other => other.and_then(|c| c.index()),
        };
        match &route.action {
            Action::Direct { status, body } => {
                self.worker.shard.inc(self.hcm.stats.rq_direct_response);
                self.local_then_skip_body(head_len, *status, body).await
            }
            Action::Redirect(r) => {
                self.worker.shard.inc(self.hcm.stats.rq_redirect);
                let location = redirect_location(r, host, target, matched_len);
                self.redirect(head_len, r.response_code, &location).await
            }
            Action::Forward(f) => match cluster {
                Some(c) => self.forward(head_len, &snapshot, f, c, matched_len).await,
                None => {
                    let status = f.cluster_not_found_response_code;
                    self.local_then_skip_body(head_len, status, b"").await
                }
            },
        }
    }

    /// Answers locally, then skips the request body if it is already buffered; if it is not,
    /// closes the connection rather than read a body nobody wants.
    async fn local_then_skip_body(&mut self, head_len: usize, status: u16, body: &[u8]) -> Next {
        let keep = self.skip_buffered_body(head_len) && self.client_keeps_alive();
        let reply = LocalReply {
            is_close: !keep,
            is_head: self.req.method_kind() == Method::Head,
            server: self.hcm.server_name.as_bytes(),
            ..LocalReply::new(status, body)
        };
        if self.send_local(&reply).await.is_err() || !keep {
            return Next::Close;
        }
        Next::KeepAlive
    }

    /// Consumes the head and, when it is wholly buffered, the request body. Returns false when
    /// the body is not (yet) all here: the connection must then close after the reply.
    fn skip_buffered_body(&mut self, head_len: usize) -> bool {
        let mut body = BodyDecoder::new(self.req.body(), &self.limits);
        let rest = self.rbuf.get(head_len..).unwrap_or(&[]);
        match body.advance(rest) {
            Ok(p) if p.is_done => {
                self.rbuf.drain(..head_len + p.consumed);
                true
            }
            _ => {
                self.rbuf.clear();
                false
            }
        }
    }

    async fn redirect(&mut self, head_len: usize, status: u16, location: &str) -> Next {
        let keep = self.skip_buffered_body(head_len) && self.client_keeps_alive();
        self.count_response(status);
        self.wbuf.clear();
        let date = self.worker.http_date();
        let mut enc = HeadEncoder::response(&mut self.wbuf, Version::Http11, status);
        let _ = enc.header(b"location", location.as_bytes());
        enc.content_length(0);
        enc.trusted_header(b"date", &date);
        let _ = enc.header(b"server", self.hcm.server_name.as_bytes());
        if !keep {
            enc.connection_close();
        }
        enc.finish();
        let buf = std::mem::take(&mut self.wbuf);
        let (res, buf) = self.stream.write_all(buf).await;
        self.wbuf = buf;
        if res.is_err() || !keep {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    /// Encodes the upstream request head into `wbuf`.
    fn encode_upstream_head(
        &mut self,
        f: &Forward,
        matched_len: usize,
        request_id: &[u8],
        timeout: Option<Duration>,
    ) {
        let rbuf = &self.rbuf;
        let req = &self.req;
        let target = req.target(rbuf);
        let mut rewritten: Vec<u8>;
        let target: &[u8] = match &f.prefix_rewrite {
            Some(p) if matched_len <= target.len() => {
                rewritten = Vec::with_capacity(p.len() + target.len() - matched_len);
                rewritten.extend_from_slice(p.as_bytes());
                rewritten.extend_from_slice(&target[matched_len..]);
                if rewritten.is_empty() {
                    rewritten.push(b'/');
                }
                &rewritten
            }
            _ => target,
        };
        self.wbuf.clear();
        let mut skip: [&[u8]; 5] = [b"", b"", b"", b"", b""];
        let mut n = 0;
        let mut push = |name: &'static [u8]| {
            skip[n] = name;
            n += 1;
        };
        if f.host_rewrite.is_some() {
            push(b"host");
        }
        if req.expects_continue() {
            push(b"expect");
        }
        if self.hcm.use_remote_address {
            push(b"x-forwarded-for");
            push(b"x-forwarded-proto");
        }
        push(b"x-envoy-expected-rq-timeout-ms");
        let headers = req.headers(rbuf);
        let mut enc = HeadEncoder::request(&mut self.wbuf, req.method(rbuf), target);
        enc.forward_headers(headers, &skip[..n]);
        if let Some(h) = &f.host_rewrite {
            let _ = enc.header(b"host", h.as_bytes());
        }
        if self.hcm.use_remote_address {
            // The edge proxy appends the peer it saw and states the scheme it served.
            // The peer address as text, on the stack (an IPv6 address is at most 45 bytes).
            let mut ip_buf = [0u8; 64];
            let ip_len = {
                use std::io::Write as _;
                let mut cursor = std::io::Cursor::new(&mut ip_buf[..]);
                let _ = write!(cursor, "{}", self.peer.ip());
                usize::try_from(cursor.position()).unwrap_or(0)
            };
            let ip = &ip_buf[..ip_len];
            match headers.get(b"x-forwarded-for") {
                Some(prev) if !prev.is_empty() => {
                    enc.trusted_header_parts(b"x-forwarded-for", &[prev, b", ", ip]);
                }
                _ => {
                    enc.trusted_header(b"x-forwarded-for", ip);
                }
            }
            enc.trusted_header(b"x-forwarded-proto", b"http");
        } else if headers.get(b"x-forwarded-proto").is_none() {
            enc.trusted_header(b"x-forwarded-proto", b"http");
        }
        if !request_id.is_empty() {
            enc.trusted_header(b"x-request-id", request_id);
        }
        if let Some(t) = timeout {
            let mut b = itoa::Buffer::new();
            enc.trusted_header(
                b"x-envoy-expected-rq-timeout-ms",
                b.format(t.as_millis()).as_bytes(),
            );
        }
        enc.framing(req.body());
        enc.finish();
    }

    /// Forwards the request to the route's cluster and relays the response.
    async fn forward(
        &mut self,
        head_len: usize,
        snapshot: &Snapshot,
        f: &Forward,
        cluster_index: usize,
        matched_len: usize,
    ) -> Next {
        let worker = Rc::clone(self.worker);
        let shard = &worker.shard;
        let Some(cluster) = snapshot.clusters.get(cluster_index) else {
            return self.local_then_skip_body(head_len, 404, b"").await;
        };
        // The request hash, only when the route asks for one.
        let hashed = if f.hash_policy.is_empty() {
            None
        } else {
            let wants_local = f
                .hash_policy
                .iter()
                .any(|p| matches!(p.kind, hash::HashPolicyKind::Cookie { ttl: Some(_), .. }));
            let input = RequestHashInput {
                head: &self.req,
                buf: &self.rbuf,
                peer: self.peer,
                local: if wants_local {
                    self.stream.local_addr().ok()
                } else {
                    None
                },
            };
            Some(hash::compute_request_hash(&f.hash_policy, &input))
        };
        let ctx = PickContext {
            hash: hashed.as_ref().and_then(|h| h.hash),
            metadata_match: f.metadata_match.as_ref(),
        };
        // One clock read serves the pick (slow start), the upstream service time and, when the
        // request is already complete, the start of the route timeout.
        let started = Instant::now();
        let Some((host_id, host)) = worker
            .pick(cluster_index, &ctx, started)
            .and_then(|i| Some((i, cluster.hosts.get(i)?)))
        else {
            shard.inc(cluster.stats.upstream_cx_none_healthy);
            return self.fail(head_len, Failure::NoHealthyUpstream).await;
        };
        shard.inc(cluster.stats.upstream_rq_total);
        shard.inc(cluster.stats.upstream_rq_active);
        shard.inc(host.stats.rq_total);
        shard.inc(host.stats.rq_active);
        // In flight for least request: this worker's row of the cluster's table only.
        let active = cluster.lb.active_requests();
        let slot = u32::try_from(host_id).map_or(0, |id| cluster.lb.active_slot(id));
        let ticket = active.begin(worker.index, slot);
        let cookies = hashed.map(|h| h.set_cookies).unwrap_or_default();
        let next = self
            .exchange(
                head_len,
                Target {
                    cluster,
                    host,
                    route: f,
                    matched_len,
                },
                &cookies,
                started,
            )
            .await;
        active.end(worker.index, ticket);
        shard.dec(cluster.stats.upstream_rq_active);
        shard.dec(host.stats.rq_active);
        next
    }

    /// Answers a failure once the request body has been consumed: the connection stays if the
    /// client wants it and `keep` allows.
    async fn reply_after_body(&mut self, failure: Failure, keep: bool) -> Next {
        log::debug!("request failed: {} ({})", failure.flag(), failure.status());
        let keep = keep && self.client_keeps_alive();
        let reply = LocalReply {
            is_close: !keep,
            is_head: self.req.method_kind() == Method::Head,
            server: self.hcm.server_name.as_bytes(),
            ..LocalReply::new(failure.status(), failure.body())
        };
        if self.send_local(&reply).await.is_err() || !keep {
            return Next::Close;
        }
        Next::KeepAlive
    }

    async fn fail(&mut self, head_len: usize, failure: Failure) -> Next {
        log::debug!("request failed: {} ({})", failure.flag(), failure.status());
        self.local_then_skip_body(head_len, failure.status(), failure.body())
            .await
    }

    /// Sends the request to `host` and relays the response. Retries once on a fresh connection
    /// when a pooled one turns out to have been closed by the upstream before it answered and
    /// the request can be replayed (its body was wholly buffered).
    async fn exchange(
        &mut self,
        head_len: usize,
        target: Target<'_>,
        set_cookies: &[hash::GeneratedCookie],
        started: Instant,
    ) -> Next {
        let Target {
            cluster,
            host,
            route: f,
            matched_len,
        } = target;
        let worker = Rc::clone(self.worker);
        let shard = &worker.shard;
        let request_id = self.request_id();
        self.encode_upstream_head(
            f,
            matched_len,
            request_id.as_ref().map_or(&[][..], |id| &id[..]),
            f.timeout,
        );

        // How much of the body is already here, and whether that is all of it.
        let mut body = BodyDecoder::new(self.req.body(), &self.limits);
        let first = match body.advance(self.rbuf.get(head_len..).unwrap_or(&[])) {
            Ok(p) => p,
            Err(_) => {
                self.rbuf.clear();
                let reply = LocalReply {
                    server: self.hcm.server_name.as_bytes(),
                    ..LocalReply::protocol_error(400)
                };
                let _ = self.send_local(&reply).await;
                return Next::Close;
            }
        };
        let body_in_buffer = head_len..head_len + first.consumed;
        let is_replayable = first.is_done;
        if self.req.expects_continue() && !first.is_done {
            // Envoy answers 100-continue itself and does not pass `expect` upstream.
            let (res, _) = self
                .stream
                .write_all(&b"HTTP/1.1 100 Continue\r\n\r\n"[..])
                .await;
            if res.is_err() {
                return Next::Close;
            }
        }

        let mut attempt = 0;
        let (mut upstream, mut reused): (upstream::Connection, bool) = loop {
            attempt += 1;
            let pooled = worker.pool.borrow_mut().take(host.address);
            let (conn, reused) = match pooled {
                Some(c) => (c, true),
                None => match upstream::connect(&worker, cluster, host).await {
                    Ok(c) => (c, false),
                    Err(e) => {
                        if let ConnectError::Failed(err) = &e {
                            log::debug!("connect to {} failed: {err}", host.address);
                        }
                        shard.inc(host.stats.rq_error);
                        shard.inc(cluster.stats.class(503));
                        return self.fail(head_len, Failure::ConnectFailed).await;
                    }
                },
            };
            // Head and the buffered body part go out in one write.
            let mut out = std::mem::take(&mut self.wbuf);
            let head_bytes = out.len();
            out.extend_from_slice(&self.rbuf[body_in_buffer.clone()]);
            let mut conn = conn;
            let (res, mut out) = conn.stream.write_all(out).await;
            out.truncate(head_bytes);
            self.wbuf = out;
            match res {
                Ok(_) => break (conn, reused),
                Err(_) if reused && attempt < 2 => continue,
                Err(_) => {
                    shard.inc(host.stats.rq_error);
                    shard.inc(cluster.stats.upstream_rq_rx_reset);
                    return self.fail(head_len, Failure::ConnectionTermination).await;
                }
            }
        };
        let sent_at = started;

        // A wholly buffered body stays in rbuf until the response head arrives, so that the
        // request can be replayed on a fresh connection; a streamed one is gone once sent.
        let mut unconsumed = body_in_buffer.end;
        if !first.is_done {
            self.rbuf.drain(..unconsumed);
            unconsumed = 0;
            if let Err(e) = self
                .stream_request_body(&mut body, &mut upstream.stream)
                .await
            {
                shard.inc(host.stats.rq_error);
                if e == StreamError::Upstream {
                    shard.inc(cluster.stats.upstream_rq_rx_reset);
                    shard.inc(cluster.stats.class(503));
                    let f = Failure::ConnectionTermination;
                    let _ = self.reply_after_body(f, false).await;
                }
                // A client that went away or sent a broken body gets nothing more.
                return Next::Close;
            }
        }

        // Read the response head, within the route timeout.
        // The route timeout runs from the end of the request: now, if its body had to stream.
        let request_done = if first.is_done {
            started
        } else {
            Instant::now()
        };
        let deadline = f.timeout.map(|t| request_done + t);
        let mut now = request_done;
        let mut resp = std::mem::take(&mut self.resp);
        resp.reset();
        let mut ubuf = std::mem::take(&mut self.ubuf);
        ubuf.clear();
        if ubuf.capacity() < READ_BUFFER_BYTES {
            ubuf.reserve(READ_BUFFER_BYTES);
        }
        let method = self.req.method_kind();
        let resp_head_len = loop {
            let read = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(now);
                    match monoio::time::timeout(
                        left,
                        super::read_append(&mut upstream.stream, ubuf),
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(_) => {
                            shard.inc(cluster.stats.upstream_rq_timeout);
                            shard.inc(host.stats.rq_timeout);
                            shard.inc(cluster.stats.class(504));
                            shard.inc(self.hcm.stats.downstream_rq_timeout);
                            self.rbuf.drain(..unconsumed);
                            return self.reply_after_body(Failure::Timeout, true).await;
                        }
                    }
                }
                None => super::read_append(&mut upstream.stream, ubuf).await,
            };
            let (res, buf) = read;
            ubuf = buf;
            if matches!(res, Ok(0) | Err(_)) {
                if ubuf.is_empty() && reused && is_replayable && attempt < 2 {
                    // A pooled connection the upstream had already closed: replay once on a
                    // new one, as no byte of a response was seen.
                    attempt += 1;
                    reused = false;
                    match upstream::connect(&worker, cluster, host).await {
                        Ok(c) => {
                            upstream = c;
                            let mut out = std::mem::take(&mut self.wbuf);
                            let head_bytes = out.len();
                            out.extend_from_slice(&self.rbuf[body_in_buffer.clone()]);
                            let (res, mut out) = upstream.stream.write_all(out).await;
                            out.truncate(head_bytes);
                            self.wbuf = out;
                            if res.is_ok() {
                                now = Instant::now();
                                continue;
                            }
                        }
                        Err(_) => {
                            shard.inc(host.stats.rq_error);
                            shard.inc(cluster.stats.class(503));
                            self.rbuf.drain(..unconsumed);
                            return self.reply_after_body(Failure::ConnectFailed, true).await;
                        }
                    }
                }
                shard.inc(host.stats.rq_error);
                shard.inc(cluster.stats.upstream_rq_rx_reset);
                shard.inc(cluster.stats.class(503));
                self.rbuf.drain(..unconsumed);
                return self
                    .reply_after_body(Failure::ConnectionTermination, true)
                    .await;
            }
            match resp.parse(&ubuf, &self.limits, method) {
                Ok(Parse::Complete(n)) => {
                    if resp.is_informational() {
                        // 100 Continue and other 1xx: not relayed, as Envoy by default.
                        ubuf.drain(..n);
                        now = Instant::now();
                        continue;
                    }
                    break n;
                }
                Ok(Parse::Partial) => {
                    if ubuf.len() == ubuf.capacity() {
                        ubuf.reserve(ubuf.capacity());
                    }
                    now = Instant::now();
                }
                Err(_) => {
                    shard.inc(host.stats.rq_error);
                    shard.inc(cluster.stats.class(502));
                    self.rbuf.drain(..unconsumed);
                    return self.reply_after_body(Failure::ProtocolError, true).await;
                }
            }
        };
        self.rbuf.drain(..unconsumed);
        let status = resp.status();
        let service_time = sent_at.elapsed();
        shard.inc(cluster.stats.class(status));
        shard.inc(cluster.stats.upstream_rq_completed);
        if status >= 500 {
            shard.inc(host.stats.rq_error);
        } else {
            shard.inc(host.stats.rq_success);
        }

        // Relay the response head and body.
        let downstream_version = self.req.version();
        let resp_body = resp.body();
        let dechunk = resp_body == BodyKind::Chunked && downstream_version == Version::Http10;
        let keep_downstream = self.client_keeps_alive()
            && !self.worker.drain.is_draining()
            && resp_body != BodyKind::CloseDelimited
            && !dechunk;
        self.wbuf.clear();
        {
            let date;
            let mut enc = HeadEncoder::response(&mut self.wbuf, downstream_version, status);
            enc.forward_headers(
                resp.headers(&ubuf),
                &[b"server", b"x-envoy-upstream-service-time"],
            );
            if resp.headers(&ubuf).get(b"date").is_none() {
                date = self.worker.http_date();
                enc.trusted_header(b"date", &date);
            }
            let _ = enc.header(b"server", self.hcm.server_name.as_bytes());
            for c in set_cookies {
                let _ = enc.header(b"set-cookie", set_cookie_value(c).as_bytes());
            }
            let mut b = itoa::Buffer::new();
            enc.trusted_header(
                b"x-envoy-upstream-service-time",
                b.format(service_time.as_millis()).as_bytes(),
            );
            match resp_body {
                BodyKind::Empty => {
                    if let Some(n) = resp.content_length() {
                        enc.content_length(n);
                    }
                }
                _ if dechunk => {}
                other => {
                    enc.framing(other);
                }
            }
            if !keep_downstream {
                enc.connection_close();
            } else if downstream_version == Version::Http10 {
                enc.connection_keep_alive();
            }
            enc.finish();
        }
        self.count_response(status);
        ubuf.drain(..resp_head_len);
        let mut decoder = BodyDecoder::new(resp_body, &self.limits);
        let outcome = self
            .relay_response_body(
                &mut decoder,
                &mut upstream.stream,
                &mut ubuf,
                dechunk,
                deadline,
            )
            .await;
        self.ubuf = ubuf;
        let is_upstream_keep_alive = resp.is_keep_alive();
        self.resp = resp;
        match outcome {
            Ok(leftover_clean) => {
                let upstream_reusable =
                    leftover_clean && is_upstream_keep_alive && decoder.is_done();
                if upstream_reusable && !self.worker.drain.is_draining() {
                    worker.pool.borrow_mut().put(upstream);
                }
                if keep_downstream {
                    Next::KeepAlive
                } else {
                    Next::Close
                }
            }
            Err(RelayError::Timeout) => {
                shard.inc(cluster.stats.upstream_rq_timeout);
                shard.inc(host.stats.rq_timeout);
                Next::Close
            }
            Err(RelayError::Failed) => Next::Close,
        }
    }

    /// A request id: the client's when it sent one, else a new random UUID v4 when
    /// `generate_request_id` is on.
    fn request_id(&mut self) -> Option<[u8; 36]> {
        if self.req.header(&self.rbuf, b"x-request-id").is_some() || !self.hcm.generate_request_id {
            // Forwarded as received by `forward_headers`.
            return None;
        }
        let a = self.worker.next_random();
        let b = self.worker.next_random();
        Some(uuid_v4(a, b))
    }

    /// Copies the rest of a request body from the client to the upstream.
    async fn stream_request_body(
        &mut self,
        body: &mut BodyDecoder,
        upstream: &mut TcpStream,
    ) -> Result<(), StreamError> {
        // rbuf is empty here (everything buffered was sent with the head); pipelined bytes
        // after the body stay in rbuf for the next request.
        let mut buf = std::mem::take(&mut self.rbuf);
        buf.clear();
        if buf.capacity() < BODY_BUFFER_BYTES {
            buf.reserve(BODY_BUFFER_BYTES);
        }
        let result = loop {
            if buf.len() == buf.capacity() {
                buf.reserve(BODY_BUFFER_BYTES);
            }
            let (res, b) = super::read_append(&mut self.stream, buf).await;
            buf = b;
            match res {
                Ok(0) | Err(_) => {
                    break Err(StreamError::Downstream);
                }
                Ok(_) => {}
            }
            let p = match body.advance(&buf) {
                Ok(p) => p,
                Err(_) => break Err(StreamError::Downstream),
            };
            let (res, slice) = upstream.write_all(buf.slice(0..p.consumed)).await;
            buf = slice.into_inner();
            if res.is_err() {
                break Err(StreamError::Upstream);
            }
            buf.drain(..p.consumed);
            if p.is_done {
                break Ok(());
            }
        };
        self.rbuf = buf;
        result
    }

    /// Writes the encoded response head and streams the body from the upstream to the
    /// client. Returns whether the upstream connection ended cleanly at the body's end.
    async fn relay_response_body(
        &mut self,
        decoder: &mut BodyDecoder,
        upstream: &mut TcpStream,
        ubuf: &mut Vec<u8>,
        dechunk: bool,
        deadline: Option<Instant>,
    ) -> Result<bool, RelayError> {
        let is_head_request = self.req.method_kind() == Method::Head;
        // First write: the head plus whatever body bytes came with it.
        let mut out = std::mem::take(&mut self.wbuf);
        let mut consumed = 0;
        if !is_head_request {
            let p = take_body(decoder, ubuf, &mut out, dechunk).map_err(|()| RelayError::Failed)?;
            consumed = p.consumed;
        }
        let (res, mut out) = self.stream.write_all(out).await;
        out.clear();
        self.wbuf = out;
        res.map_err(|_| RelayError::Failed)?;
        ubuf.drain(..consumed);
        if decoder.is_done() || is_head_request {
            return Ok(ubuf.is_empty());
        }
        if ubuf.capacity() < BODY_BUFFER_BYTES {
            ubuf.reserve(BODY_BUFFER_BYTES - ubuf.len());
        }
        loop {
            ubuf.clear();
            let read = upstream.read(std::mem::take(ubuf));
            let (res, b) = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    monoio::time::timeout(left, read)
                        .await
                        .map_err(|_| RelayError::Timeout)?
                }
                None => read.await,
            };
            *ubuf = b;
            match res {
                // EOF ends a close-delimited body and truncates any other.
                Ok(0) => {
                    return decoder
                        .finish()
                        .map(|()| false)
                        .map_err(|_| RelayError::Failed);
                }
                Err(_) => return Err(RelayError::Failed),
                Ok(_) => {}
            }
            let (p, res) = if dechunk {
                let mut out = std::mem::take(&mut self.wbuf);
                out.clear();
                let p =
                    take_body(decoder, ubuf, &mut out, true).map_err(|()| RelayError::Failed)?;
                let (res, out) = self.stream.write_all(out).await;
                self.wbuf = out;
                (p, res)
            } else {
                let p = decoder.advance(ubuf).map_err(|_| RelayError::Failed)?;
                let (res, slice) = self
                    .stream
                    .write_all(std::mem::take(ubuf).slice(0..p.consumed))
                    .await;
                *ubuf = slice.into_inner();
                (p, res)
            };
            res.map_err(|_| RelayError::Failed)?;
            if p.is_done {
                // Bytes after the body's end mean the upstream broke framing: do not reuse.
                return Ok(p.consumed == ubuf.len());
            }
        }
    }
}

/// Runs the decoder over `input`, appending what to send to `out`: the raw bytes when
/// forwarding verbatim, only the data when de-chunking for an HTTP/1.0 client.
fn take_body(
    decoder: &mut BodyDecoder,
    input: &[u8],
    out: &mut Vec<u8>,
    dechunk: bool,
) -> Result<h1::Progress, ()> {
    if dechunk {
        decoder
            .advance_with(input, |r| out.extend_from_slice(&input[r]))
            .map_err(|_| ())
    } else {
        let p = decoder.advance(input).map_err(|_| ())?;
        out.extend_from_slice(&input[..p.consumed]);
        Ok(p)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum StreamError {
    Downstream,
    Upstream,
}

#[derive(Debug)]
enum RelayError {
    Timeout,
    Failed,
}

/// Envoy's `makeSetCookieValue` for a cookie a hash policy generated.
fn set_cookie_value(c: &hash::GeneratedCookie) -> String {
    let mut v = format!("{}=\"{}\"", c.name, c.value);
    if !c.ttl.is_zero() {
        v.push_str(&format!("; Max-Age={}", c.ttl.as_secs()));
    }
    if !c.path.is_empty() {
        v.push_str("; Path=");
        v.push_str(&c.path);
    }
    v.push_str("; HttpOnly");
    v
}

/// Formats a random UUID version 4 (RFC 9562) from two random words.
fn uuid_v4(a: u64, b: u64) -> [u8; 36] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 36];
    let mut o = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[o] = b'-';
            o += 1;
        }
        out[o] = HEX[usize::from(byte >> 4)];
        out[o + 1] = HEX[usize::from(byte & 0x0f)];
        o += 2;
    }
    out
}

/// The `location` of a redirect, built from the request as Envoy does.
fn redirect_location(
    r: &sluice_config::model::Redirect,
    host: &[u8],
    target: &str,
    matched_len: usize,
) -> String {
    let host = std::str::from_utf8(host).unwrap_or("");
    let scheme = r.scheme.as_deref().unwrap_or("http");
    let (req_host, req_port) = match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, Some(p)),
        _ => (host, None),
    };
    let new_host = r.host.as_deref().unwrap_or(req_host);
    let port = match (r.port, req_port) {
        (Some(p), _) => Some(p.to_string()),
        // A scheme change drops the request's port, as Envoy does for https_redirect.
        (None, Some(p)) if r.scheme.is_none() && r.host.is_none() => Some(p.to_owned()),
        _ => None,
    };
    let (path, query) = target
        .split_once('?')
        .map_or((target, None), |(p, q)| (p, Some(q)));
    let new_path = match &r.path {
        Some(sluice_config::model::RedirectPath::Path(p)) => p.clone(),
        Some(sluice_config::model::RedirectPath::PrefixRewrite(p)) => {
            format!("{p}{}", path.get(matched_len..).unwrap_or(""))
        }
        None => path.to_owned(),
    };
    let mut out = format!("{scheme}://{new_host}");
    if let Some(p) = port {
        out.push(':');
        out.push_str(&p);
    }
    out.push_str(&new_path);
    if let (Some(q), false) = (query, r.strip_query) {
        // A path_redirect that carries its own query replaces the request's.
        if !new_path.contains('?') {
            out.push('?');
            out.push_str(q);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::model::{Redirect, RedirectPath};

    #[test]
    fn uuid_has_version_and_variant() {
        let u = uuid_v4(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);
        let s = std::str::from_utf8(&u).unwrap();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn redirect_locations() {
        let r = Redirect {
            scheme: None,
            host: Some("www.ilinux.io".into()),
            port: None,
            path: Some(RedirectPath::Path("/service/blue".into())),
            response_code: 301,
            strip_query: false,
        };
        assert_eq!(
            redirect_location(&r, b"ilinux.io:8080", "/x?a=1", 0),
            "http://www.ilinux.io/service/blue?a=1"
        );
        let https = Redirect {
            scheme: Some("https".into()),
            host: None,
            port: None,
            path: None,
            response_code: 301,
            strip_query: true,
        };
        assert_eq!(
            redirect_location(&https, b"a.com:80", "/p?q", 0),
            "https://a.com/p"
        );
        let prefix = Redirect {
            scheme: None,
            host: None,
            port: None,
            path: Some(RedirectPath::PrefixRewrite("/new/".into())),
            response_code: 302,
            strip_query: false,
        };
        assert_eq!(
            redirect_location(&prefix, b"h", "/old/x", 5),
            "http://h/new/x"
        );
    }
}
