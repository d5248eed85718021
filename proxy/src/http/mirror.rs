//! Request mirroring (`request_mirror_policies`): fire-and-forget copies of a forwarded request
//! sent to shadow clusters, as Envoy's router shadows them.
//!
//! A shadow request is the upstream request as the router prepared it (method, path after
//! rewrites, headers after mutations, body) with its Host suffixed `-shadow` and
//! `x-envoy-internal: true` added, as Envoy's shadow writer and async client do. It runs as its
//! own task on the worker, owns a copy of the request bytes and borrows nothing from the
//! downstream connection, so it can neither delay nor fail the main request: its answer is read
//! and thrown away, and its outcome only shows in the shadow cluster's `upstream_rq_*` and host
//! stats, exactly as a normal request to that cluster would be counted.
//!
//! Envoy shadows once the whole request has arrived. Here a request is mirrored only when its
//! body is wholly held in the downstream buffer when the main request starts, within the
//! listener's and the route's (`per_request_buffer_limit_bytes`) limits; a larger body streams
//! to the upstream and is not mirrored, counted in the cluster's `retry_or_shadow_abandoned`
//! as Envoy does.

use std::cell::Cell;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::io::AsyncWriteRentExt;

use super::conn_manager::{Downstream, READ_BUFFER_BYTES};
use super::error::ErrorKind;
use super::h1::{self, BodyDecoder, BodyKind, HeadEncoder, Method, Parse, ResponseHead};
use super::headers::HeaderMap;
use super::router::{Forward, Mirror, MirrorTarget};
use crate::layered_runtime::Runtime;
use crate::runtime::snapshot::{Cluster, Host, Snapshot};
use crate::runtime::worker::Worker;
use crate::upstream::lb::PickContext;
use crate::upstream::pool::PoolKey;
use crate::upstream::{self, ActiveRequest, CodeStats, Connection};

/// How long a shadow request may run when its route has no timeout (`timeout: 0s`). Envoy would
/// let it run forever; a bound keeps a hung shadow upstream from pinning a task, a socket and
/// the request copy on the worker. Envoy's default route timeout, 15 s.
const SHADOW_TIMEOUT_MAX: Duration = Duration::from_secs(15);

/// The Host suffix Envoy adds to shadow requests (`disable_shadow_host_suffix_append` is refused
/// by the loader).
const SHADOW_HOST_SUFFIX: &[u8] = b"-shadow";

impl<T: crate::io::Transport> Downstream<'_, T> {
    /// Starts one shadow request for each of the route's mirror policies that admits this
    /// request. Call it once the upstream headers are prepared (`upath`, `headers`) and before
    /// the main attempt starts; `body` is the range of the whole request body's data in `rbuf`, `None`
    /// when the body is not wholly held (the request is then not mirrored).
    ///
    /// Nothing is awaited: each shadow is a spawned task. The request is copied once into one
    /// owned buffer (cloned for a second and further policy), which the task reuses to read the
    /// shadow's response.
    pub(super) fn mirror(
        &self,
        snapshot: &Snapshot,
        f: &Forward,
        body: Option<Range<usize>>,
        codes: CodeStats,
    ) {
        if f.mirrors.is_empty() {
            return;
        }
        let method = self.req.method_kind();
        if method == Method::Connect {
            // Envoy never shadows CONNECT.
            return;
        }
        let Some(body) = body else {
            log::debug!("request body streams upstream: not mirrored");
            return;
        };
        // One random draw per request serves every policy, as Envoy's stable stream id does.
        let random = if f.mirrors.iter().any(|m| m.runtime_fraction.is_some()) {
            self.worker.next_random()
        } else {
            0
        };
        let worker = self.worker;
        // The shadow request, encoded once per Host form (`-shadow` suffix or not).
        let mut request: [Option<Vec<u8>>; 2] = [None, None];
        let mut now: Option<Instant> = None;
        for m in &f.mirrors {
            if !admits(m, &snapshot.runtime, random) {
                continue;
            }
            let index = match &m.cluster {
                MirrorTarget::Index(i) => *i,
                // Envoy skips a policy whose header is absent or names no cluster.
                MirrorTarget::Header(h) => {
                    match self.headers.get(h).and_then(|v| snapshot.cluster_index(v)) {
                        Some(i) => i,
                        None => {
                            log::debug!("mirror cluster header names no cluster: not mirrored");
                            continue;
                        }
                    }
                }
            };
            let Some(cluster) = snapshot.clusters.get(index) else {
                continue;
            };
            // The pick happens here, on the snapshot the route was resolved on: the picker is
            // indexed by that snapshot's cluster order, which a later snapshot may change.
            let now = *now.get_or_insert_with(Instant::now);
            let Some(host_id) = worker.pick(index, &PickContext::default(), now) else {
                worker.shard.inc(cluster.stats.upstream_cx_none_healthy);
                codes.count_status(&worker.shard, cluster, 503);
                continue;
            };
            let mut bytes = match &request[usize::from(m.keep_host)] {
                Some(b) => b.clone(),
                None => {
                    let b = encode_shadow(
                        self.req.method(&self.rbuf),
                        &self.upath,
                        &self.headers,
                        self.req.body(),
                        self.rbuf.get(body.clone()).unwrap_or(&[]),
                        !m.keep_host,
                    );
                    request[usize::from(m.keep_host)].insert(b).clone()
                }
            };
            // The copy is encoded once, lower-case; each shadow cluster writes its own case.
            let key_format = cluster.source.http_protocol.header_key_format;
            if key_format == sluice_config::model::HeaderKeyFormat::ProperCaseWords {
                crate::http::h1::proper_case_header_names(&mut bytes);
            }
            let shadow = Shadow {
                worker: Rc::clone(worker),
                cluster: Arc::clone(cluster),
                host_id,
                method,
                limits: self.limits,
                timeout: f.timeout.unwrap_or(SHADOW_TIMEOUT_MAX),
                codes,
                priority: f.priority,
            };
            monoio::spawn(shadow.run(bytes));
        }
    }
}

/// Whether mirror policy `m` admits a request with `random`: always without a
/// `runtime_fraction`, else the runtime's `feature_enabled` on its key and default.
fn admits(m: &Mirror, runtime: &Runtime, random: u64) -> bool {
    m.runtime_fraction.as_ref().is_none_or(|fr| {
        runtime.feature_enabled(&fr.runtime_key, fr.numerator, fr.denominator, random)
    })
}

/// The shadow request on the wire: the head with the shadow Host and `x-envoy-internal`, then
/// the body data, framed as the client's request was (`framing`: in one chunk and the last
/// chunk when it was chunked).
///
/// The buffer is sized to serve as the read buffer for the response afterwards.
fn encode_shadow(
    method: &[u8],
    path: &[u8],
    headers: &HeaderMap,
    framing: BodyKind,
    body: &[u8],
    suffix_host: bool,
) -> Vec<u8> {
    // Sized for the whole request, so encoding never reallocates.
    let head_bytes = method.len()
        + path.len()
        + headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum::<usize>()
        + 128
        + 32;
    let mut out = Vec::with_capacity(READ_BUFFER_BYTES.max(head_bytes + body.len()));
    {
        let mut enc = HeadEncoder::request(&mut out, method, path);
        for (name, value) in headers.iter() {
            let res = match name {
                b"host" if suffix_host => {
                    let (name, port) = split_port(value);
                    enc.trusted_header_parts(b"host", &[name, SHADOW_HOST_SUFFIX, port]);
                    continue;
                }
                // Replaced below, never doubled.
                b"x-envoy-internal" => continue,
                _ => enc.header(name, value),
            };
            // Map values come from the codec or checked configuration: an invalid one cannot
            // occur, and would only drop that header from the copy.
            debug_assert!(res.is_ok(), "header {name:?} of the map is not encodable");
        }
        enc.trusted_header(b"x-envoy-internal", b"true");
        enc.framing(framing);
        enc.finish();
    }
    crate::http::h1_body::frame(&mut out, framing == BodyKind::Chunked, body, true);
    out
}

/// An authority split where Envoy puts the shadow suffix: before the port when there is one
/// (`a:80` → `a` + `:80`), else at the end. A colon inside an IPv6 literal (`[::1]`) is not a
/// port.
fn split_port(host: &[u8]) -> (&[u8], &[u8]) {
    let port_start = host.iter().rposition(|&b| b == b':').filter(|&colon| {
        host.iter()
            .rposition(|&b| b == b']')
            .is_none_or(|v6| v6 < colon)
    });
    host.split_at(port_start.unwrap_or(host.len()))
}

/// One shadow request: everything it needs, owned.
struct Shadow {
    worker: Rc<Worker>,
    /// Kept alive by the task even if a new snapshot drops the cluster.
    cluster: Arc<Cluster>,
    host_id: usize,
    method: Method,
    limits: h1::Limits,
    /// The whole exchange (connect, write, response) must end within this.
    timeout: Duration,
    /// The main request's status-code counters: Envoy's shadows run under its router's
    /// options.
    codes: CodeStats,
    /// The main request's routing priority: shadows are held to the same breakers.
    priority: sluice_lb::breaker::Priority,
}

/// Why a shadow exchange ended without a complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Connect,
    Reset,
    Garbage,
}

impl Shadow {
    /// Sends `request`, reads and discards the response, counts the outcome in the shadow
    /// cluster's stats, and returns a clean keep-alive connection to the pool.
    async fn run(self, request: Vec<u8>) {
        let Some(host) = self.cluster.hosts.get(self.host_id) else {
            return;
        };
        let worker = &*self.worker;
        let cluster = &*self.cluster;
        let shard = &worker.shard;
        let mut active = ActiveRequest::begin(worker, cluster, self.host_id, host);
        if !active.admit(self.priority) {
            // `max_requests` reached: the shadow is dropped, as Envoy's would overflow.
            shard.inc(cluster.stats.upstream_rq_pending_overflow);
            return;
        }
        // Set once the response head is counted, so a later timeout does not count a status.
        let has_head = Cell::new(false);
        let exchange = self.exchange(host, request, &has_head);
        match monoio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(Some(conn))) => {
                if !worker.drain.is_draining() {
                    worker.pool_put(conn, cluster.reuse, Instant::now());
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(failure)) => {
                log::debug!(
                    "shadow request to {} of cluster {} failed: {failure:?}",
                    host.address,
                    cluster.name
                );
                // A failure after the head was counted (a truncated body) counts nothing more,
                // as a relay failure of a normal request does.
                if !has_head.get() {
                    shard.inc(host.stats.rq_error);
                    let kind = match failure {
                        Failure::Connect => ErrorKind::ConnectFailed,
                        Failure::Reset => {
                            shard.inc(cluster.stats.upstream_rq_rx_reset);
                            ErrorKind::ConnectionTermination
                        }
                        Failure::Garbage => ErrorKind::UpstreamProtocolError,
                    };
                    self.codes.count_status(shard, cluster, kind.status());
                }
            }
            Err(_) => {
                log::debug!(
                    "shadow request to {} of cluster {} timed out",
                    host.address,
                    cluster.name
                );
                shard.inc(cluster.stats.upstream_rq_timeout);
                shard.inc(host.stats.rq_timeout);
                if !has_head.get() {
                    self.codes
                        .count_status(shard, cluster, ErrorKind::UpstreamTimeout.status());
                }
            }
        }
        drop(active);
    }

    /// Connection, request, response: returns the connection when it may carry another
    /// request (the response ended exactly at its framing and both sides keep it alive).
    async fn exchange(
        &self,
        host: &Host,
        request: Vec<u8>,
        has_head: &Cell<bool>,
    ) -> Result<Option<Connection>, Failure> {
        let worker = &self.worker;
        let cluster = &*self.cluster;
        let shard = &worker.shard;
        let key = PoolKey::new(cluster, host, self.priority);
        let pooled = worker
            .pool
            .borrow_mut()
            .take(key, cluster.reuse, Instant::now());
        let mut conn = match pooled {
            Some(c) => c,
            None => upstream::connect_now(worker, cluster, host, self.priority)
                .await
                .map_err(|_| Failure::Connect)?,
        };
        conn.requests += 1;
        let (res, mut buf) = conn.writer.write_all(request).await;
        res.map_err(|_| Failure::Reset)?;

        // The request buffer now reads the response.
        buf.clear();
        if buf.capacity() < READ_BUFFER_BYTES {
            buf.reserve(READ_BUFFER_BYTES);
        }
        let mut resp = ResponseHead::new();
        let head_len = loop {
            // Parse what is held first: bytes after a 1xx head may already hold the answer.
            if !buf.is_empty() {
                match resp.parse(&buf, &self.limits, self.method) {
                    Ok(Parse::Complete(n)) if resp.is_informational() => {
                        // 100 Continue and other 1xx: not the answer.
                        buf.drain(..n);
                        resp.reset();
                        continue;
                    }
                    Ok(Parse::Complete(n)) => break n,
                    Ok(Parse::Partial) => {}
                    Err(_) => return Err(Failure::Garbage),
                }
            }
            if buf.len() == buf.capacity() {
                buf.reserve(buf.capacity());
            }
            let (res, b) = conn.reader.read_append(buf).await;
            buf = b;
            if matches!(res, Ok(0) | Err(_)) {
                return Err(Failure::Reset);
            }
        };
        let status = resp.status();
        has_head.set(true);
        upstream::count_response(shard, cluster, host, status, self.codes);

        // The body is read to its end and dropped, so the connection can be reused.
        let mut decoder = BodyDecoder::new(resp.body(), &self.limits);
        buf.drain(..head_len);
        loop {
            let p = decoder.advance(&buf).map_err(|_| Failure::Garbage)?;
            if p.is_done {
                // Bytes past the body's end mean the upstream broke framing: do not reuse.
                let is_clean = p.consumed == buf.len();
                let reusable = is_clean && resp.is_keep_alive();
                return Ok(reusable.then_some(conn));
            }
            buf.clear();
            let (res, b) = conn.reader.read_append(buf).await;
            buf = b;
            match res {
                // EOF ends a close-delimited body and truncates any other.
                Ok(0) => {
                    return decoder.finish().map(|()| None).map_err(|_| Failure::Reset);
                }
                Err(_) => return Err(Failure::Reset),
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sluice_config::model::RuntimeFraction;

    use super::*;
    use crate::layered_runtime::{Entry, Layer};

    fn shadowed(host: &str) -> String {
        let (name, port) = split_port(host.as_bytes());
        String::from_utf8([name, SHADOW_HOST_SUFFIX, port].concat()).unwrap()
    }

    #[test]
    fn the_shadow_suffix_goes_before_the_port() {
        for (host, want) in [
            ("example.com", "example.com-shadow"),
            ("example.com:8080", "example.com-shadow:8080"),
            ("127.0.0.1:10000", "127.0.0.1-shadow:10000"),
            ("[::1]", "[::1]-shadow"),
            ("[::1]:443", "[::1]-shadow:443"),
            ("host:", "host-shadow:"),
            ("", "-shadow"),
        ] {
            assert_eq!(shadowed(host), want, "host {host:?}");
        }
    }

    #[test]
    fn the_copy_keeps_everything_but_the_host() {
        let mut headers = HeaderMap::new();
        headers.append(b"host", b"api.local:80");
        headers.append(b"x-request-id", b"abc");
        headers.append(b"x-envoy-internal", b"false");
        headers.append(b"accept", b"*/*");
        let wire = encode_shadow(
            b"POST",
            b"/v2/x?q=1",
            &headers,
            BodyKind::Length(5),
            b"hello",
            true,
        );
        let text = String::from_utf8(wire.clone()).unwrap();
        assert_eq!(
            text,
            "POST /v2/x?q=1 HTTP/1.1\r\nhost: api.local-shadow:80\r\nx-request-id: abc\r\n\
             accept: */*\r\nx-envoy-internal: true\r\ncontent-length: 5\r\n\r\nhello"
        );
        assert_eq!(
            wire.capacity(),
            READ_BUFFER_BYTES,
            "sized to read the response"
        );
    }

    #[test]
    fn a_large_request_is_copied_in_one_allocation() {
        let mut headers = HeaderMap::new();
        headers.append(b"host", b"[::1]:8443");
        headers.append(b"cookie", &[b'c'; 3000]);
        let body = vec![b'b'; 40_000];
        let wire = encode_shadow(
            b"POST",
            b"/upload",
            &headers,
            BodyKind::Length(40_000),
            &body,
            true,
        );
        assert!(wire.ends_with(&body));
        // A reallocation would have at least doubled the capacity past what was written.
        assert!(
            wire.capacity() - wire.len() < 512,
            "{} of {}",
            wire.len(),
            wire.capacity()
        );
        let text = String::from_utf8_lossy(&wire);
        assert!(text.contains("\r\nhost: [::1]-shadow:8443\r\n"));
    }

    #[test]
    fn a_chunked_body_is_framed_in_chunks_again() {
        let mut headers = HeaderMap::new();
        headers.append(b"host", b"a");
        let body = b"abc";
        let wire = encode_shadow(b"PUT", b"/", &headers, BodyKind::Chunked, body, true);
        let text = String::from_utf8(wire).unwrap();
        assert!(
            text.starts_with("PUT / HTTP/1.1\r\nhost: a-shadow\r\n"),
            "{text}"
        );
        assert!(text.ends_with("transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));
    }

    fn policy(numerator: u32, key: &str) -> Mirror {
        Mirror {
            cluster: MirrorTarget::Index(0),
            keep_host: false,
            runtime_fraction: Some(RuntimeFraction {
                numerator,
                denominator: 100,
                runtime_key: key.to_string(),
            }),
        }
    }

    #[test]
    fn runtime_fraction_admits_its_share() {
        let empty = Runtime::default();
        let always = Mirror {
            cluster: MirrorTarget::Index(0),
            keep_host: false,
            runtime_fraction: None,
        };
        assert!((0..200).all(|r| admits(&always, &empty, r)));
        assert!((0..200).all(|r| !admits(&policy(0, ""), &empty, r)));
        let half = policy(50, "");
        assert_eq!((0..200).filter(|&r| admits(&half, &empty, r)).count(), 100);
        assert!(admits(&half, &empty, 149) && !admits(&half, &empty, 150));
    }

    #[test]
    fn the_runtime_key_overrides_the_default() {
        let values = BTreeMap::from([("mirror.off".to_string(), Entry::parse("0"))]);
        let runtime = Runtime::new(vec![Arc::new(Layer::new("static", values))]);
        assert!((0..100).all(|r| !admits(&policy(100, "mirror.off"), &runtime, r)));
        // A key the runtime does not hold falls back to the default.
        assert!((0..100).all(|r| admits(&policy(100, "mirror.unset"), &runtime, r)));
    }
}
