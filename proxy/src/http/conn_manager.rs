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
use std::time::Instant;

use std::os::fd::RawFd;

use monoio::io::AsyncWriteRentExt;

use super::error::ProxyError;
use super::filter::RouteRef;
use super::filter::{ConnectionState, Decision, DecodeContext};
use super::forward::Target;
use super::h1::{self, BodyDecoder, LocalReply, Method, Parse, RequestHead, ResponseHead, Version};
use super::headers::HeaderMap;
use super::local_reply::Origin;
use super::path::{Normalizer, Verdict};
use super::router::{self, Action, ClusterChoice, ClusterTarget, RouteRequest};
use super::upgrade::{self, Upgrade, upgrade_name};
use crate::io::{Reader, Transport, Writer};
use crate::runtime::snapshot::{HttpConnManager, ListenerKind};
use crate::runtime::worker::Worker;
use sluice_config::model::{HeaderKeyFormat, StripPort, UnderscoreAction};

/// Initial capacity of a connection's read buffer; it grows up to the head limit when a large
/// head arrives.
pub(super) const READ_BUFFER_BYTES: usize = 16 * 1024;

/// What happened to the downstream connection after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close the connection.
    Close,
}

/// Which downstream timer bounds a wait for a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// `idle_timeout`: no request for this long.
    Idle,
    /// `max_connection_duration`.
    MaxDuration,
    /// `request_headers_timeout`.
    HeadersTimeout,
    /// `request_timeout`.
    RequestTimeout,
    /// `stream_idle_timeout`.
    StreamIdle,
    /// `drain_timeout`, once the connection's drain sequence has begun.
    Drained,
}

/// The earliest of the set deadlines, with what it means.
fn earliest<const N: usize>(
    candidates: [(Option<Instant>, Expiry); N],
) -> (Option<Instant>, Expiry) {
    candidates
        .into_iter()
        .filter_map(|(at, what)| Some((at?, what)))
        .min_by_key(|(at, _)| *at)
        .map_or((None, Expiry::Idle), |(at, what)| (Some(at), what))
}

/// Envoy's `ConnectionManagerUtility::mutateRequestHeaders`: decides whether the request is
/// internal (its client address in `internal_address_config`, by default RFC 1918,
/// loopback and unique-local IPv6) and whether it is an edge request (external, with
/// `use_remote_address`), then appends the peer to `x-forwarded-for`, marks internal
/// requests, strips the `x-envoy-*` headers an external client may not set, and keeps,
/// replaces or adds `x-request-id`.
fn mutate_request_headers(
    hcm: &HttpConnManager,
    worker: &Worker,
    peer: SocketAddr,
    headers: &mut HeaderMap,
) -> bool {
    let options = &hcm.header_options;
    let remote: Option<std::net::IpAddr> = if hcm.use_remote_address {
        let ip = peer.ip();
        if !options.skip_xff_append {
            let mut ip_buf = [0u8; 64];
            let ip_len = {
                use std::io::Write as _;
                let mut cursor = std::io::Cursor::new(&mut ip_buf[..]);
                let _ = write!(cursor, "{ip}");
                usize::try_from(cursor.position()).unwrap_or(0)
            };
            headers.append_to_value(b"x-forwarded-for", &[b", ", &ip_buf[..ip_len]]);
        }
        Some(ip)
    } else {
        // The client is `xff_num_trusted_hops` addresses from the right of XFF.
        let hops = usize::try_from(options.xff_num_trusted_hops).unwrap_or(usize::MAX);
        headers.get(b"x-forwarded-for").and_then(|xff| {
            let mut parts = xff.rsplit(|&b| b == b',');
            let part = parts.nth(hops)?;
            std::str::from_utf8(part.trim_ascii()).ok()?.parse().ok()
        })
    };
    let internal = remote.is_some_and(|ip| is_internal(ip, options.internal_cidrs.as_deref()));
    let edge = hcm.use_remote_address && !internal;
    if internal {
        headers.set(b"x-envoy-internal", b"true");
    } else {
        headers.remove(b"x-envoy-internal");
    }
    if edge {
        for name in EDGE_SANITIZED {
            headers.remove(name);
        }
        if let Some(ip) = remote {
            let mut b = [0u8; 64];
            let n = {
                use std::io::Write as _;
                let mut c = std::io::Cursor::new(&mut b[..]);
                let _ = write!(c, "{ip}");
                usize::try_from(c.position()).unwrap_or(0)
            };
            headers.set(b"x-envoy-external-address", &b[..n]);
        }
    }
    if hcm.use_remote_address {
        headers.set(b"x-forwarded-proto", b"http");
    } else if !headers.contains(b"x-forwarded-proto") {
        headers.append(b"x-forwarded-proto", b"http");
    }
    if hcm.generate_request_id {
        let replace = edge && !options.preserve_external_request_id;
        if replace || !headers.contains(b"x-request-id") {
            let a = worker.next_random();
            let b = worker.next_random();
            headers.set(b"x-request-id", &super::forward::uuid_v4(a, b));
        }
    }
    edge
}

/// The `x-envoy-*` request headers an external client may not set (Envoy's header sanitizing
/// list); they are removed from edge requests.
const EDGE_SANITIZED: &[&[u8]] = &[
    b"x-envoy-decorator-operation",
    b"x-envoy-downstream-service-cluster",
    b"x-envoy-downstream-service-node",
    b"x-envoy-expected-rq-timeout-ms",
    b"x-envoy-force-trace",
    b"x-envoy-ip-tags",
    b"x-envoy-max-retries",
    b"x-envoy-retry-grpc-on",
    b"x-envoy-retry-on",
    b"x-envoy-upstream-alt-stat-name",
    b"x-envoy-upstream-rq-per-try-timeout-ms",
    b"x-envoy-upstream-rq-timeout-alt-response",
    b"x-envoy-upstream-rq-timeout-ms",
    b"x-envoy-original-path",
    b"x-envoy-hedge-on-per-try-timeout",
];

/// Whether `ip` is internal: in the configured ranges, or by Envoy's default when none are
/// configured (RFC 1918, loopback, unique-local and loopback IPv6).
fn is_internal(ip: std::net::IpAddr, cidrs: Option<&[(std::net::IpAddr, u8)]>) -> bool {
    use std::net::IpAddr;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match cidrs {
        Some(ranges) => ranges.iter().any(|(net, len)| in_cidr(ip, *net, *len)),
        None => match ip {
            IpAddr::V4(v4) => v4.is_private() || v4.is_loopback(),
            IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        },
    }
}

fn in_cidr(ip: std::net::IpAddr, net: std::net::IpAddr, len: u8) -> bool {
    use std::net::IpAddr;
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// One downstream connection's state.
///
/// Generic over the client connection's transport.
/// The buffers of one request in flight, lent by the worker for the request's time. Thousands of
/// connections idle between requests while a few are served; if each kept its own, every
/// request would start on buffers that left the cache since its connection's last request.
/// Spares handed out last-in-first-out stay warm.
#[derive(Debug, Default)]
pub struct Scratch {
    wbuf: Vec<u8>,
    headers: HeaderMap,
    resp_headers: HeaderMap,
    upath: Vec<u8>,
    resp: ResponseHead,
    ubuf: Vec<u8>,
}

/// Spares a worker keeps: more than the requests one worker has in flight at once.
const SCRATCH_SPARES_MAX: usize = 256;

pub(super) struct Downstream<'a, T: Transport> {
    pub(super) worker: &'a Rc<Worker>,
    /// The connection manager as of accept: stats and settings (stable across snapshots).
    pub(super) hcm: &'a HttpConnManager,
    /// Index of the listener in the snapshot, to route each request on the current one.
    listener: usize,
    /// The client connection's read side. Once a request has been read, the read of the next
    /// one stays posted while the response is awaited: it is also how a client that leaves is
    /// noticed (see `crate::io`).
    pub(super) reader: Reader<T>,
    pub(super) writer: Writer<T>,
    /// The timer of every wait with a deadline on this connection (see `crate::timer`).
    pub(super) timer: crate::timer::Timer,
    /// The socket, for its local address (asked at most once per connection).
    fd: RawFd,
    local: std::cell::Cell<Option<Option<SocketAddr>>>,
    pub(super) peer: SocketAddr,
    /// Bytes read from the client and not yet consumed; a request head always starts at 0.
    pub(super) rbuf: Vec<u8>,
    /// Scratch for encoding heads.
    pub(super) wbuf: Vec<u8>,
    pub(super) req: RequestHead,
    /// The request's end-to-end headers, which filters read and edit and the upstream head is
    /// encoded from; reused across this connection's requests.
    pub(super) headers: HeaderMap,
    /// The response's end-to-end headers, likewise.
    pub(super) resp_headers: HeaderMap,
    /// The upstream request's path after rewrites.
    pub(super) upath: Vec<u8>,
    /// The request's path when the connection manager's path rules rewrote it.
    pub(super) path: Normalizer,
    /// When the whole current request must have arrived (`request_timeout`).
    pub(super) request_deadline: Option<Instant>,
    /// Whether the current request is an edge request (external, with
    /// `use_remote_address`): its `x-envoy-*` headers were not trusted.
    pub(super) is_edge: bool,
    /// The upstream response head and read buffer, reused across this connection's requests.
    pub(super) resp: ResponseHead,
    pub(super) ubuf: Vec<u8>,
    pub(super) limits: h1::Limits,
    /// HTTP filter state of this connection (per-connection buckets, response headers).
    pub(super) filter_state: ConnectionState,
    /// The current request as its access log will print it.
    pub(super) log: crate::access_log::RequestState,
    /// When `max_connection_duration` runs out.
    closes_at: Option<Instant>,
    /// When this connection's drain sequence ends, once `idle_timeout` or
    /// `max_connection_duration` began it: until then a request is still served, with
    /// `connection: close`.
    drain_ends: std::cell::Cell<Option<Instant>>,
}

/// Serves one downstream connection until it closes, over any transport.
pub async fn serve<T: Transport>(
    worker: &Rc<Worker>,
    hcm: &HttpConnManager,
    listener: usize,
    stream: T,
    peer: SocketAddr,
) {
    let stats = &hcm.stats;
    let shard = &worker.shard;
    shard.inc(stats.downstream_cx_total);
    shard.inc(stats.downstream_cx_http1_total);
    shard.inc(stats.downstream_cx_active);
    let (reader, writer, fd) = crate::io::split(stream);
    let mut conn = Downstream {
        worker,
        hcm,
        listener,
        reader,
        writer,
        timer: crate::timer::Timer::default(),
        fd,
        local: std::cell::Cell::new(None),
        peer,
        rbuf: Vec::with_capacity(READ_BUFFER_BYTES),
        wbuf: Vec::new(),
        req: RequestHead::new(),
        headers: HeaderMap::new(),
        resp_headers: HeaderMap::new(),
        upath: Vec::new(),
        path: Normalizer::new(),
        is_edge: false,
        request_deadline: None,
        resp: ResponseHead::new(),
        ubuf: Vec::new(),
        limits: h1::Limits::from_envoy(
            hcm.header_options.max_request_headers_kb,
            hcm.header_options.max_headers_count,
        ),
        filter_state: ConnectionState::new(),
        log: crate::access_log::RequestState::default(),
        closes_at: hcm
            .timeouts
            .max_connection_duration
            .map(|d| Instant::now() + d),
        drain_ends: std::cell::Cell::new(None),
    };
    conn.run().await;
    shard.dec(stats.downstream_cx_active);
    shard.inc(stats.downstream_cx_destroy);
}

impl<T: Transport> Downstream<'_, T> {
    async fn run(&mut self) {
        let mut drained = std::pin::pin!(self.worker.drain.wait());
        let timeouts = self.hcm.timeouts;
        let stats = &self.hcm.stats;
        // Whether a request has begun on this connection. Envoy's HTTP/1 codec exists from the
        // first byte on; from then on `idle_timeout` and `max_connection_duration` start a drain
        // sequence instead of closing at once.
        let mut served = false;
        loop {
            // Read until a whole head is buffered. Between requests the connection idles under
            // `idle_timeout` (and `max_connection_duration`); once a head has begun it must be
            // complete within `request_headers_timeout` and `request_timeout`, with no gap
            // longer than `stream_idle_timeout`.
            let mut head_started: Option<Instant> = (!self.rbuf.is_empty()).then(Instant::now);
            let head_len = loop {
                if !self.rbuf.is_empty() {
                    match self.req.parse(&self.rbuf, &self.limits) {
                        Ok(Parse::Complete(n)) => break n,
                        Ok(Parse::Partial) => {}
                        Err(e) => {
                            self.worker.shard.inc(stats.downstream_cx_protocol_error);
                            if e.status_code() == 431 {
                                self.worker.shard.inc(stats.downstream_rq_too_large);
                            }
                            self.count_request_start();
                            let reply = LocalReply {
                                server: self.hcm.local_reply_server(),
                                ..LocalReply::protocol_error(e.status_code())
                            };
                            if self
                                .send_local_from(&reply, Origin::BeforeRequest)
                                .await
                                .is_ok()
                            {
                                Box::pin(self.linger()).await;
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
                let now = Instant::now();
                let (deadline, on_expiry) = match head_started {
                    None if self.drain_ends.get().is_some() => {
                        earliest([(self.drain_ends.get(), Expiry::Drained)])
                    }
                    None => earliest([
                        (timeouts.idle.map(|t| now + t), Expiry::Idle),
                        (self.closes_at, Expiry::MaxDuration),
                    ]),
                    Some(started) => earliest([
                        (
                            timeouts.request_headers.map(|t| started + t),
                            Expiry::HeadersTimeout,
                        ),
                        (
                            timeouts.request.map(|t| started + t),
                            Expiry::RequestTimeout,
                        ),
                        (timeouts.stream_idle.map(|t| now + t), Expiry::StreamIdle),
                    ]),
                };
                let read = {
                    let reader = &mut self.reader;
                    let read = std::pin::pin!(async {
                        if idle {
                            // Between requests: a drain closes the idle connection at once. The
                            // read is posted, so a timer that only begins a drain sequence loses
                            // no byte.
                            reader.post();
                            monoio::select! {
                                r = reader.read_append(buf) => Some(r),
                                () = &mut drained => None,
                            }
                        } else {
                            Some(reader.read_append(buf).await)
                        }
                    });
                    self.timer.within(deadline, read).await
                };
                let (res, buf) = match read {
                    Some(Some(r)) => r,
                    // Drained while idle.
                    Some(None) => return,
                    None if idle && served && self.drain_ends.get().is_none() => {
                        // Envoy's `startDrainSequence`: the connection stays for
                        // `drain_timeout`, and a request in that time is answered with
                        // `connection: close`.
                        let stat = match on_expiry {
                            Expiry::MaxDuration => stats.downstream_cx_max_duration_reached,
                            _ => stats.downstream_cx_idle_timeout,
                        };
                        self.worker.shard.inc(stat);
                        if timeouts.drain.is_zero() {
                            return;
                        }
                        self.drain_ends.set(Some(Instant::now() + timeouts.drain));
                        continue;
                    }
                    None => {
                        Box::pin(self.on_head_timeout(on_expiry)).await;
                        return;
                    }
                };
                self.rbuf = buf;
                match res {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                head_started.get_or_insert_with(Instant::now);
            };
            served = true;
            // `request_timeout` runs from the head's first byte to the body's last.
            self.request_deadline = timeouts
                .request
                .zip(head_started)
                .map(|(t, started)| started + t);
            self.lend_scratch();
            let next = self.request(head_len).await;
            self.return_scratch();
            match next {
                Next::KeepAlive if self.worker.drain.is_draining() => return,
                Next::KeepAlive => {}
                Next::Close => {
                    Box::pin(self.linger()).await;
                    return;
                }
            }
        }
    }

    /// Takes the buffers one request needs from the worker's spares (see [`Scratch`]).
    fn lend_scratch(&mut self) {
        let Some(mut s) = self.worker.scratch.borrow_mut().pop() else {
            return;
        };
        std::mem::swap(&mut self.wbuf, &mut s.wbuf);
        std::mem::swap(&mut self.headers, &mut s.headers);
        std::mem::swap(&mut self.resp_headers, &mut s.resp_headers);
        std::mem::swap(&mut self.upath, &mut s.upath);
        std::mem::swap(&mut self.resp, &mut s.resp);
        std::mem::swap(&mut self.ubuf, &mut s.ubuf);
    }

    /// Gives the request's buffers back to the worker's spares.
    fn return_scratch(&mut self) {
        let mut spares = self.worker.scratch.borrow_mut();
        if spares.len() >= SCRATCH_SPARES_MAX {
            return;
        }
        spares.push(Scratch {
            wbuf: std::mem::take(&mut self.wbuf),
            headers: std::mem::take(&mut self.headers),
            resp_headers: std::mem::take(&mut self.resp_headers),
            upath: std::mem::take(&mut self.upath),
            resp: std::mem::take(&mut self.resp),
            ubuf: std::mem::take(&mut self.ubuf),
        });
    }

    /// A downstream timer fired while the proxy waited for a request head.
    async fn on_head_timeout(&mut self, expiry: Expiry) {
        let stats = &self.hcm.stats;
        let shard = &self.worker.shard;
        let (status, body): (u16, &[u8]) = match expiry {
            Expiry::Idle => {
                shard.inc(stats.downstream_cx_idle_timeout);
                return;
            }
            Expiry::MaxDuration => {
                shard.inc(stats.downstream_cx_max_duration_reached);
                return;
            }
            Expiry::Drained => return,
            Expiry::HeadersTimeout => {
                shard.inc(stats.downstream_rq_header_timeout);
                (408, b"request header timeout")
            }
            Expiry::RequestTimeout => {
                shard.inc(stats.downstream_rq_timeout);
                (408, b"request timeout")
            }
            Expiry::StreamIdle => {
                shard.inc(stats.downstream_rq_idle_timeout);
                (408, b"stream timeout")
            }
        };
        self.count_request_start();
        let reply = LocalReply {
            is_close: true,
            server: self.hcm.local_reply_server(),
            ..LocalReply::new(status, body)
        };
        if self
            .send_local_from(&reply, Origin::BeforeRequest)
            .await
            .is_ok()
        {
            Box::pin(self.linger()).await;
        }
    }

    /// Closes the connection the way a client can read the last response: half-close our
    /// side, then read and discard what the client still sends, for at most
    /// `delayed_close_timeout` and a bounded amount. Closing with unread bytes would make the
    /// kernel send a reset, which can destroy the response before the client reads it (a 431
    /// for an oversized head, say).
    async fn linger(&mut self) {
        const LINGER_BYTES_MAX: usize = 1 << 20;
        let _ = monoio::io::AsyncWriteRent::shutdown(&mut self.writer).await;
        let Some(linger) = self.hcm.timeouts.delayed_close else {
            return;
        };
        let deadline = Instant::now() + linger;
        let mut discarded = 0;
        let mut buf = std::mem::take(&mut self.rbuf);
        if buf.capacity() == 0 {
            buf.reserve(READ_BUFFER_BYTES);
        }
        while discarded < LINGER_BYTES_MAX {
            let left = deadline.saturating_duration_since(Instant::now());
            match monoio::time::timeout(left, self.reader.read_discard(buf)).await {
                Ok((Ok(n), b)) if n > 0 => {
                    discarded += n;
                    buf = b;
                }
                _ => return,
            }
        }
    }

    /// The address the client connected to, asked of the socket once.
    pub(super) fn local_addr(&self) -> Option<SocketAddr> {
        if let Some(known) = self.local.get() {
            return known;
        }
        let local = crate::sys::local_addr(self.fd).ok();
        self.local.set(Some(local));
        local
    }

    fn count_request_start(&self) {
        let s = &self.hcm.stats;
        self.worker.shard.inc(s.downstream_rq_total);
        self.worker.shard.inc(s.downstream_rq_http1_total);
    }

    pub(super) fn count_response(&self, status: u16) {
        self.log.status.set(status);
        let s = &self.hcm.stats;
        self.worker.shard.inc(s.class(status));
        self.worker.shard.inc(s.downstream_rq_completed);
    }

    /// Writes a local reply for the current request, rewritten by `local_reply_config`.
    pub(super) async fn send_local(&mut self, reply: &LocalReply<'_>) -> std::io::Result<()> {
        self.send_local_from(reply, Origin::Request).await
    }

    /// Encodes and writes a local reply as it is.
    pub(super) async fn write_local(&mut self, reply: &LocalReply<'_>) -> std::io::Result<()> {
        self.count_response(reply.status);
        self.log.is_local = true;
        self.log.bytes_sent = if reply.is_head {
            0
        } else {
            reply.body.len() as u64
        };
        self.wbuf.clear();
        let date = self.worker.http_date();
        if self.log.is_active {
            self.record_local_headers(reply, &date);
        }
        h1::encode_local_reply(&mut self.wbuf, reply, &date);
        if self.hcm.header_options.header_key_format == HeaderKeyFormat::ProperCaseWords {
            h1::proper_case_header_names(&mut self.wbuf);
        }
        let buf = std::mem::take(&mut self.wbuf);
        let (res, buf) = self.writer.write_all(buf).await;
        self.wbuf = buf;
        res.map(|_| ())
    }

    /// Keeps the headers of a local reply for the access log, as `encode_local_reply` puts
    /// them on the wire (`connection` aside, which is the codec's).
    fn record_local_headers(&mut self, reply: &LocalReply<'_>, date: &[u8]) {
        let h = &mut self.resp_headers;
        h.clear();
        h.append(
            b"content-length",
            itoa::Buffer::new().format(reply.body.len()).as_bytes(),
        );
        if !reply.body.is_empty() && !reply.content_type.is_empty() {
            h.append(b"content-type", reply.content_type);
        }
        h.append(b"date", date);
        if !reply.server.is_empty() {
            h.append(b"server", reply.server);
        }
        for (name, value) in reply.headers.iter().flat_map(|m| m.iter()) {
            h.append(name, value);
        }
        self.log.local_headers = true;
    }

    /// Whether the connection stays open after this request: the client wants it, and
    /// neither the server nor this connection is draining (then the response says
    /// `connection: close`, as Envoy's HTTP/1 codec does).
    pub(super) fn client_keeps_alive(&self) -> bool {
        self.req.is_keep_alive() && !self.is_draining()
    }

    /// Whether the worker drains, or this connection's drain sequence has begun (counting a
    /// `max_connection_duration` that ran out while the request was served).
    fn is_draining(&self) -> bool {
        if self.drain_ends.get().is_some() || self.worker.drain.is_draining() {
            return true;
        }
        match self.closes_at {
            Some(at) if Instant::now() >= at => {
                self.worker
                    .shard
                    .inc(self.hcm.stats.downstream_cx_max_duration_reached);
                self.drain_ends
                    .set(Some(Instant::now() + self.hcm.timeouts.drain));
                true
            }
            _ => false,
        }
    }

    /// Serves the request whose head is `rbuf[..head_len]`.
    async fn request(&mut self, head_len: usize) -> Next {
        self.count_request_start();
        let shard = &self.worker.shard;
        shard.inc(self.hcm.stats.downstream_rq_active);
        // `local_reply_config` reads the request as the access log does.
        if !self.hcm.access_logs.is_empty() || self.hcm.local_replies.is_some() {
            self.begin_access_log();
        }
        let next = self.route_and_serve(head_len).await;
        shard.dec(self.hcm.stats.downstream_rq_active);
        if self.log.is_active {
            self.write_access_log();
        }
        next
    }

    /// Copies what the access log needs from the request head while it is buffered.
    fn begin_access_log(&mut self) {
        let (authority, path) = match self.req.absolute_parts(&self.rbuf) {
            Some(parts) => parts,
            None => (
                self.req.header(&self.rbuf, b"host").unwrap_or(b""),
                self.req.target(&self.rbuf),
            ),
        };
        let protocol = match self.req.version() {
            Version::Http10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        };
        let received = self.req.content_length().unwrap_or(0);
        self.log.begin(
            self.req.method(&self.rbuf),
            path,
            authority,
            protocol,
            received,
        );
        // Headers of an earlier request must not show in a request refused before parsing them.
        self.headers.clear();
    }

    /// Logs the finished request to every access log of the connection manager.
    fn write_access_log(&mut self) {
        if self.hcm.access_logs.is_empty() {
            self.log.is_active = false;
            return;
        }
        if !self.log.is_local && self.log.status.get() != 0 {
            // A proxied response: its declared body length (0 for HEAD, 304, ...).
            let is_head = self.req.method_kind() == Method::Head;
            self.log.bytes_sent = if is_head {
                0
            } else {
                self.resp.content_length().unwrap_or(0)
            };
        }
        let logs = &self.hcm.access_logs;
        let local = if logs.needs_local_address() {
            self.local_addr()
        } else {
            None
        };
        let snapshot = self.worker.snapshot();
        let cx = crate::access_log::LogContext {
            shard: &self.worker.shard,
            runtime: &snapshot.runtime,
            random: self.worker.next_random(),
        };
        let entry = self
            .log
            .entry(&self.headers, &self.resp_headers, self.peer, local);
        logs.log(&cx, &entry);
        self.log.is_active = false;
    }

    async fn route_and_serve(&mut self, head_len: usize) -> Next {
        if self.req.version() == Version::Http10 && !self.hcm.header_options.accept_http_10 {
            // Envoy's default (`http_protocol_options.accept_http_10: false`): HTTP/1.0 gets
            // 426 Upgrade Required and the connection closes; as for every codec error, the
            // reason phrase is the body.
            let reply = LocalReply {
                server: self.hcm.local_reply_server(),
                ..LocalReply::protocol_error(426)
            };
            let _ = self.send_local_from(&reply, Origin::BeforeRequest).await;
            return Next::Close;
        }
        let upgrade = if self.req.is_connect() {
            Some(Upgrade::Connect)
        } else if self.req.is_upgrade() {
            Some(Upgrade::Protocol)
        } else {
            None
        };
        // Routes and clusters come from the same snapshot, taken once per request: a route's
        // cluster index is only meaningful in the snapshot that resolved it.
        let snapshot = self.worker.snapshot();
        // The route table and the filters' per-route configs come from the same snapshot.
        let (routes, filters) = match snapshot.listeners.get(self.listener).map(|l| &l.kind) {
            Some(ListenerKind::Http(hcm)) => (&hcm.routes, &hcm.filters),
            _ => (&self.hcm.routes, &self.hcm.filters),
        };
        // An absolute-form target is routed by its authority (RFC 9112 §3.2.2).
        let (host, target) = match self.req.absolute_parts(&self.rbuf) {
            Some((authority, path)) => (authority, if path.is_empty() { &b"/"[..] } else { path }),
            None => (
                match self.req.header(&self.rbuf, b"host") {
                    Some(h) => h,
                    // `default_host_for_http_10`: an HTTP/1.0 request without Host.
                    None => match &self.hcm.header_options.default_host_for_http_10 {
                        Some(d) if self.req.version() == Version::Http10 => d.as_bytes(),
                        _ => b"",
                    },
                },
                self.req.target(&self.rbuf),
            ),
        };
        // `path_with_escaped_slashes_action`, `normalize_path`, `merge_slashes`: from here on,
        // routes, filters, the access log and the upstream see the rewritten path.
        let target = if self.hcm.path_rules.is_active() {
            match self.req.target_form() {
                h1::TargetForm::Origin | h1::TargetForm::Absolute => {
                    let verdict = self.path.apply(&self.hcm.path_rules, target);
                    // What the rules wrote before they finished (an unescaped path they then
                    // refused, say) is the path Envoy's access log shows too.
                    if let Some(rewritten) = self.path.rewritten() {
                        self.log.set_path(rewritten);
                    }
                    match verdict {
                        Verdict::Unchanged => target,
                        Verdict::Rewritten => self.path.path(),
                        Verdict::Redirect => return self.redirect_to_normal_path(head_len).await,
                        Verdict::Reject => return self.refuse_path(head_len).await,
                    }
                }
                h1::TargetForm::Authority | h1::TargetForm::Asterisk => {
                    self.path.clear();
                    target
                }
            }
        } else {
            target
        };
        let target = std::str::from_utf8(target).unwrap_or("");
        // `strip_any_host_port` / `strip_matching_host_port`: the port leaves Host before
        // routing (what remains is a prefix of the received value).
        let host: &[u8] = match self.hcm.header_options.strip_port {
            StripPort::Keep => host,
            mode => {
                let text = std::str::from_utf8(host).unwrap_or("");
                let stripped = router::strip_port(text);
                let port = text
                    .get(stripped.len() + 1..)
                    .and_then(|p| p.parse::<u16>().ok());
                let listener_port = || self.local_addr().map(|a| a.port());
                if port.is_some() && (mode == StripPort::Any || port == listener_port()) {
                    &host[..stripped.len()]
                } else {
                    host
                }
            }
        };

        // The request as filters and the router see it: end-to-end headers in a map.
        self.headers.clear();
        let underscores = self.hcm.header_options.headers_with_underscores;
        let mut with_underscore = 0u32;
        h1::for_each_end_to_end(self.req.headers(&self.rbuf), |n, v| {
            if underscores != UnderscoreAction::Allow && n.contains(&b'_') {
                with_underscore += 1;
                if underscores == UnderscoreAction::DropHeader {
                    return;
                }
            }
            self.headers.append(n, v);
        });
        if with_underscore > 0 {
            let stats = &self.hcm.stats;
            if underscores == UnderscoreAction::RejectRequest {
                // Envoy's codec refuses the request (`http1.unexpected_underscore`).
                self.worker
                    .shard
                    .inc(stats.requests_rejected_with_underscores_in_headers);
                let reply = LocalReply {
                    server: self.hcm.local_reply_server(),
                    ..LocalReply::protocol_error(400)
                };
                let _ = self.send_local_from(&reply, Origin::BeforeRequest).await;
                return Next::Close;
            }
            self.worker.shard.add(
                stats.dropped_headers_with_underscores,
                u64::from(with_underscore),
            );
        }
        if !self.headers.contains(b"host") && !host.is_empty() {
            // An HTTP/1.0 request routed by `default_host_for_http_10` carries that host.
            self.headers.append(b"host", host);
        }
        self.is_edge = mutate_request_headers(self.hcm, self.worker, self.peer, &mut self.headers);
        if self.hcm.header_options.strip_port != StripPort::Keep
            && self.headers.get(b"host") != Some(host)
        {
            self.headers.set(b"host", host);
        }
        let request = RouteRequest {
            host,
            path: target.as_bytes(),
            method: self.req.method(&self.rbuf),
            headers: &self.headers,
            random: self.worker.next_random(),
            runtime: &*snapshot.runtime,
        };
        let routed = routes.route(&request).map(|r| {
            let cluster = match r.cluster {
                // `cluster_header`: the named cluster of this snapshot, if there is one.
                Some(ClusterChoice::Header { value, .. }) => {
                    value.and_then(|v| snapshot.cluster_index(v))
                }
                other => other.and_then(|c| c.index()),
            };
            let weighted = match r.cluster {
                Some(ClusterChoice::Weighted(w)) => Some(w),
                _ => None,
            };
            (r.vhost, r.route, r.index, r.matched_len, cluster, weighted)
        });

        if filters.has_decoders() {
            let runtime = &snapshot.runtime;
            let lookup = |key: &str| runtime.integer(key);
            let route = routed.map(|(vhost, route, index, _, cluster, _)| RouteRef {
                virtual_host: vhost.position,
                route: index,
                cluster: match &route.action {
                    Action::Forward(f) if matches!(f.cluster, ClusterTarget::Index(_)) => cluster
                        .and_then(|c| snapshot.clusters.get(c))
                        .map(|c| c.name.as_str()),
                    _ => None,
                },
            });
            let mut cx = DecodeContext {
                headers: &mut self.headers,
                method: self.req.method(&self.rbuf),
                path: target.as_bytes(),
                route,
                random: self.worker.next_random(),
                now: Instant::now(),
                runtime: Some(&lookup),
                shard: &self.worker.shard,
                connection: &self.filter_state,
            };
            match filters.decode_headers(&mut cx).await {
                Decision::Continue => {}
                Decision::LocalReply {
                    status,
                    body,
                    headers,
                } => {
                    // As Envoy's filter manager finalizes every local reply with the selected
                    // route entry's response headers (a forwarding route's: weighted cluster,
                    // route, virtual host, route configuration), then the filter's own.
                    let levels = routed.and_then(|(vhost, route, _, _, _, weighted)| {
                        matches!(route.action, Action::Forward(_)).then(|| {
                            [
                                weighted.map(|w| &w.headers),
                                Some(&route.headers),
                                Some(&vhost.headers),
                                Some(&routes.headers),
                            ]
                        })
                    });
                    let mut all = levels
                        .and_then(|l| self.route_reply_headers(&l))
                        .unwrap_or_default();
                    for (name, value) in headers.iter() {
                        all.append(name, value);
                    }
                    return self
                        .local_reply(head_len, status, &body, Some(&all), Origin::Request)
                        .await;
                }
                Decision::Respond { status, headers } => {
                    return self
                        .local_reply(head_len, status, b"", Some(&headers), Origin::Filter)
                        .await;
                }
            }
        }

        let Some((vhost, route, _, matched_len, cluster, weighted)) = routed else {
            self.log.flags.set("NR");
            self.worker.shard.inc(self.hcm.stats.no_route);
            return self.local_then_skip_body(head_len, 404, b"").await;
        };
        let cluster_name = cluster
            .and_then(|c| snapshot.clusters.get(c))
            .map(|c| c.name.as_str());
        self.log.set_route(&route.name, cluster_name);
        if let Some(kind) = upgrade {
            let mut name = [0u8; 32];
            let name = upgrade_name(kind, self.req.header(&self.rbuf, b"upgrade"), &mut name);
            let forward = match &route.action {
                Action::Forward(f) => Some(&**f),
                _ => None,
            };
            if !upgrade::is_allowed(name, &self.hcm.upgrades, forward) {
                // As Envoy answers an upgrade that no configuration lets through.
                let reply = LocalReply {
                    is_close: true,
                    server: self.hcm.local_reply_server(),
                    ..LocalReply::new(403, b"")
                };
                let _ = self.send_local(&reply).await;
                return Next::Close;
            }
        }
        match &route.action {
            Action::Direct { status, body } => {
                self.worker.shard.inc(self.hcm.stats.rq_direct_response);
                let levels = [
                    Some(&route.headers),
                    Some(&vhost.headers),
                    Some(&routes.headers),
                ];
                let extra = self.route_reply_headers(&levels);
                self.local_reply(head_len, *status, body, extra.as_ref(), Origin::Request)
                    .await
            }
            Action::Redirect(r) => {
                self.worker.shard.inc(self.hcm.stats.rq_redirect);
                let location = redirect_location(r, host, target, matched_len);
                let levels = [
                    Some(&route.headers),
                    Some(&vhost.headers),
                    Some(&routes.headers),
                ];
                let extra = self.route_reply_headers(&levels);
                self.redirect(head_len, r.response_code, &location, extra)
                    .await
            }
            Action::Forward(f) => {
                let Some(cluster) = cluster else {
                    // Envoy's `cluster_not_found_response_code` (flag NC).
                    self.log.flags.set("NC");
                    let status = f.cluster_not_found_response_code;
                    let levels = [
                        Some(&route.headers),
                        Some(&vhost.headers),
                        Some(&routes.headers),
                    ];
                    let extra = self.route_reply_headers(&levels);
                    return self
                        .local_reply(head_len, status, b"", extra.as_ref(), Origin::Request)
                        .await;
                };
                let target = Target {
                    forward: f,
                    cluster,
                    weighted,
                    matched_len,
                    upgrade,
                    mutations: [
                        weighted.map(|w| &w.headers),
                        Some(&route.headers),
                        Some(&vhost.headers),
                        Some(&routes.headers),
                    ],
                };
                self.forward(head_len, &snapshot, &target).await
            }
        }
    }

    /// A path the rules refuse (it cannot be normalized, holds a fragment, or has an escaped
    /// slash under `REJECT_REQUEST`): 400 with no body, as Envoy answers it.
    async fn refuse_path(&mut self, head_len: usize) -> Next {
        let stats = &self.hcm.stats;
        self.worker
            .shard
            .inc(stats.downstream_rq_failed_path_normalization);
        self.local_then_skip_body(head_len, 400, b"").await
    }

    /// `UNESCAPE_AND_REDIRECT` found an escaped slash: 307 to the rewritten path. A gRPC client
    /// cannot follow a redirect, so it gets the 400 of a refused path instead, as in Envoy.
    async fn redirect_to_normal_path(&mut self, head_len: usize) -> Next {
        let content_type = self.req.header(&self.rbuf, b"content-type");
        if router::is_grpc_content_type(content_type) {
            return self.refuse_path(head_len).await;
        }
        let stats = &self.hcm.stats;
        self.worker
            .shard
            .inc(stats.downstream_rq_redirected_with_normalized_path);
        let mut location = HeaderMap::new();
        location.append(b"location", self.path.path());
        self.local_reply(head_len, 307, b"", Some(&location), Origin::Request)
            .await
    }

    /// Answers locally, then skips the request body if it is already buffered; if it is not,
    /// closes the connection rather than read a body nobody wants.
    async fn local_then_skip_body(&mut self, head_len: usize, status: u16, body: &[u8]) -> Next {
        self.local_reply(head_len, status, body, None, Origin::Request)
            .await
    }

    /// [`Self::local_then_skip_body`] with extra headers (an HTTP filter's reply, a redirect).
    pub(super) async fn local_reply(
        &mut self,
        head_len: usize,
        status: u16,
        body: &[u8],
        headers: Option<&HeaderMap>,
        origin: Origin,
    ) -> Next {
        let keep = self.skip_buffered_body(head_len) && self.client_keeps_alive();
        let reply = LocalReply {
            is_close: !keep,
            is_head: self.req.method_kind() == Method::Head,
            server: self.hcm.local_reply_server(),
            headers,
            ..LocalReply::new(status, body)
        };
        if self.send_local_from(&reply, origin).await.is_err() || !keep {
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

    /// Answers a failure once the request body has been consumed: the connection stays if the
    /// client wants it and `keep` allows.
    pub(super) async fn reply_error(&mut self, error: ProxyError, keep: bool) -> Next {
        self.reply_error_with(error, keep, None).await
    }

    /// [`Self::reply_error`] with extra headers (the router's `x-envoy-attempt-count`).
    pub(super) async fn reply_error_with(
        &mut self,
        error: ProxyError,
        keep: bool,
        headers: Option<&HeaderMap>,
    ) -> Next {
        let kind = error.kind;
        self.log.flags.set(kind.flag());
        let keep = keep && self.client_keeps_alive();
        let reply = LocalReply {
            is_close: !keep,
            is_head: self.req.method_kind() == Method::Head,
            server: self.hcm.local_reply_server(),
            headers,
            ..LocalReply::new(kind.status(), kind.body())
        };
        if self.send_local(&reply).await.is_err() || !keep {
            return Next::Close;
        }
        Next::KeepAlive
    }

    /// Answers a failure before the request body was read: skips the body when it is all
    /// here, closes the connection otherwise.
    pub(super) async fn fail(&mut self, head_len: usize, error: ProxyError) -> Next {
        self.fail_with(head_len, error, None).await
    }

    /// [`Self::fail`] with extra headers (the router's `x-envoy-attempt-count`).
    pub(super) async fn fail_with(
        &mut self,
        head_len: usize,
        error: ProxyError,
        headers: Option<&HeaderMap>,
    ) -> Next {
        log::debug!("request failed: {error}");
        let kind = error.kind;
        self.log.flags.set(kind.flag());
        self.local_reply(
            head_len,
            kind.status(),
            kind.body(),
            headers,
            Origin::Request,
        )
        .await
    }

    /// The route's response header mutations (most specific level first, as for a proxied
    /// response) for a reply the proxy makes itself once a route matched: a direct response, a
    /// redirect, a router failure. Envoy's router finalizes those with the route's
    /// `response_headers_to_add` / `_to_remove` too. `None` when no level has any.
    pub(super) fn route_reply_headers(
        &self,
        levels: &[Option<&sluice_config::model::HeaderMutations>],
    ) -> Option<HeaderMap> {
        let touches = |m: &&sluice_config::model::HeaderMutations| {
            !m.response_add.is_empty() || !m.response_remove.is_empty()
        };
        if !levels.iter().flatten().any(touches) {
            return None;
        }
        let start = std::cell::Cell::new(self.log.start_time());
        let cx = super::format::Context {
            peer: self.peer,
            local: self.local_addr(),
            request: &self.headers,
            upstream: None,
            start: &start,
        };
        let mut headers = HeaderMap::new();
        for m in levels.iter().flatten() {
            super::format::mutate(&mut headers, &m.response_remove, &m.response_add, &cx);
        }
        Some(headers)
    }

    /// A redirect: one of Envoy's local replies, so `local_reply_config` may rewrite it, and
    /// the route's response headers join its `location`.
    async fn redirect(
        &mut self,
        head_len: usize,
        status: u16,
        location: &str,
        extra: Option<HeaderMap>,
    ) -> Next {
        let mut headers = HeaderMap::new();
        headers.append(b"location", location.as_bytes());
        for (name, value) in extra.iter().flat_map(HeaderMap::iter) {
            headers.append(name, value);
        }
        self.local_reply(head_len, status, b"", Some(&headers), Origin::Request)
            .await
    }
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
