//! The router's upstream side: one request forwarded to a cluster as a sequence of attempts.
//!
//! An attempt picks a host, takes a pooled connection or connects, sends the head and the
//! body, and reads the response head within the route timeout (and the retry policy's
//! per-try timeout). Its host pick and counters are held by an `ActiveRequest` guard, so a
//! failed, retried or cancelled attempt releases them exactly once. A failure or a response
//! that the route's `retry_policy` covers is retried on a new attempt after a jittered
//! back-off, but only while the request body is still held in the connection's buffer: a
//! request whose body was streamed upstream is never sent twice.
//!
//! While the proxy waits for the response head it also watches the client: a client that
//! closes its connection is noticed at once, the upstream request is abandoned (its
//! connection closed) and counted as `DC`.

use std::cell::Cell;
use std::net::SocketAddr;
use std::ops::Range;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use monoio::buf::IoBuf;
use monoio::io::AsyncWriteRentExt;

use super::conn_manager::{Downstream, Next, READ_BUFFER_BYTES};
use super::error::{ErrorKind, ProxyError, RetryClass};
use super::filter::EncodeContext;
use super::h1::{self, BodyDecoder, BodyKind, HeadEncoder, Method, Parse, Version};
use super::headers::HeaderMap;
use super::retry::{RetryOn, RetryPolicy, RetryState};
use super::router::{Forward, WeightedCluster};
use super::upgrade::Upgrade;
use crate::io::{Reader, Writer};
use crate::runtime::snapshot::{Cluster, Host, Snapshot};
use crate::runtime::worker::Worker;
use crate::upstream::lb::{PickContext, RequestHashInput};
use crate::upstream::pool::PoolKey;
use crate::upstream::{self, ActiveRequest, ConnectError};
use sluice_config::model::{self, HeaderMutations, ServerHeaderTransformation};
use sluice_lb::hash;

/// The request's body as far as the proxy holds it.
struct RequestBody {
    /// Body bytes already in the downstream buffer, right after the head.
    buffered: Range<usize>,
    /// Whether `buffered` is the whole body: only then can the request be sent again.
    is_complete: bool,
    /// The decoder, positioned after `buffered`.
    decoder: BodyDecoder,
}

/// What an attempt ended with.
enum AttemptEnd {
    /// A response head arrived: it is parsed in `Downstream::resp`, its bytes (and any body
    /// bytes after it) are in `Downstream::ubuf`.
    Response {
        upstream: upstream::Connection,
        head_len: usize,
    },
    /// The attempt failed before a response head.
    Failed(ProxyError),
}

/// Where a matched forwarding route sends the request: resolved by the router on the request's
/// snapshot.
pub(super) struct Target<'r> {
    /// The route action.
    pub forward: &'r Forward,
    /// The cluster's index in the snapshot (weighted and header choices resolved).
    pub cluster: usize,
    /// The weighted cluster picked, when the route splits traffic.
    pub weighted: Option<&'r WeightedCluster>,
    /// How much of the target the route's prefix matched (for `prefix_rewrite`).
    pub matched_len: usize,
    /// The upgrade the request asks for, already allowed by the configuration.
    pub upgrade: Option<Upgrade>,
    /// Header mutations, most specific first: weighted cluster, route, virtual host, route
    /// configuration. Applied in this order, so the outer levels have the last word (Envoy's
    /// default `most_specific_header_mutations_wins: false`).
    pub mutations: [Option<&'r HeaderMutations>; 4],
}

/// Timing of the whole request across its attempts.
struct Clock {
    /// When forwarding began (the pick, the service time).
    started: Instant,
    /// The route timeout, from the end of the request; `None` disables it.
    route_timeout: Option<Duration>,
    /// The route deadline, once the request is wholly sent.
    deadline: Option<Instant>,
    /// The stream idle timeout: the route's `idle_timeout`, else the connection manager's
    /// `stream_idle_timeout`; `None` when disabled.
    idle: Option<Duration>,
    /// When the stream reaches the route's `max_stream_duration`.
    max_stream: Option<Instant>,
}

/// Which timer ended a wait for the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Route,
    PerTry,
    PerTryIdle,
    StreamIdle,
    MaxStream,
}

impl Clock {
    /// The earliest of the timers that bound a wait starting now, with which one it is.
    fn next(
        &self,
        now: Instant,
        per_try: Option<Instant>,
        per_try_idle: Option<Duration>,
    ) -> Option<(Instant, Timer)> {
        [
            (self.deadline, Timer::Route),
            (per_try, Timer::PerTry),
            (per_try_idle.map(|t| now + t), Timer::PerTryIdle),
            (self.idle.map(|t| now + t), Timer::StreamIdle),
            (self.max_stream, Timer::MaxStream),
        ]
        .into_iter()
        .filter_map(|(at, timer)| Some((at?, timer)))
        .min_by_key(|(at, _)| *at)
    }
}

impl Downstream<'_> {
    /// Forwards the request whose head is `rbuf[..head_len]` to the route's cluster and relays
    /// the response, retrying as `retry` allows.
    pub(super) async fn forward(
        &mut self,
        head_len: usize,
        snapshot: &Snapshot,
        t: &Target<'_>,
    ) -> Next {
        let worker = Rc::clone(self.worker);
        let f = t.forward;
        let Some(cluster) = snapshot.clusters.get(t.cluster) else {
            return self
                .fail(head_len, ProxyError::new(ErrorKind::NoCluster))
                .await;
        };
        // An upgrade is tried once: its tunnel cannot be replayed.
        // Trusted clients may override the route's timeout and retries with `x-envoy-*`
        // headers (an edge request's were removed by the connection manager); the router
        // consumes them, they are not forwarded.
        let overrides = Overrides::take(&mut self.headers);
        let route_timeout = match overrides.timeout {
            Some(t) => (!t.is_zero()).then_some(t),
            None => f.timeout,
        };
        let owned_retry = overrides.retry_policy(f.retry_policy.as_ref());
        // The route's conditions were parsed when the route table was built; only a policy
        // changed by override headers is parsed here.
        let retry = match &owned_retry {
            Some(p) => Some(RetryPolicy::new(p)),
            None => f.retry_policy.as_ref().map(|config| RetryPolicy {
                retry_on: f.retry_on,
                config,
            }),
        };
        let retry = retry
            .filter(|_| t.upgrade.is_none())
            // `retriable_request_headers`: only a request matching one of them is retried.
            .filter(|_| {
                f.retriable_request_headers.is_empty()
                    || f.retriable_request_headers
                        .iter()
                        .any(|m| m.matches_headers(&self.headers, None))
            });
        let retry = retry.as_ref();
        let hashed = self.request_hash(f);
        let ctx = PickContext {
            hash: hashed.as_ref().and_then(|h| h.hash),
            metadata_match: t
                .weighted
                .and_then(|w| w.metadata_match.as_ref())
                .or(f.metadata_match.as_ref()),
        };
        let cookies = hashed.map(|h| h.set_cookies).unwrap_or_default();
        if t.upgrade == Some(Upgrade::Connect)
            && f.upgrade_configs
                .iter()
                .any(|u| u.upgrade_type == "connect" && u.terminate_connect)
        {
            // `connect_config`: the proxy is the CONNECT's end point, not the upstream.
            return self
                .terminate_connect(head_len, cluster, t.cluster, &ctx)
                .await;
        }

        // How much of the body is already here, and whether that is all of it.
        let mut decoder = BodyDecoder::new(self.req.body(), &self.limits);
        let first = match decoder.advance(self.rbuf.get(head_len..).unwrap_or(&[])) {
            Ok(p) => p,
            Err(_) => {
                self.rbuf.clear();
                let reply = h1::LocalReply {
                    server: self.hcm.local_reply_server(),
                    ..h1::LocalReply::protocol_error(400)
                };
                let _ = self.send_local(&reply).await;
                return Next::Close;
            }
        };
        let mut body = RequestBody {
            buffered: head_len..head_len + first.consumed,
            is_complete: first.is_done,
            decoder,
        };
        if self.req.expects_continue() && !first.is_done {
            // Envoy answers 100-continue itself and does not pass `expect` upstream.
            let (res, _) = self
                .writer
                .write_all(&b"HTTP/1.1 100 Continue\r\n\r\n"[..])
                .await;
            if res.is_err() {
                return Next::Close;
            }
        }
        if (retry.is_some() || !f.mirrors.is_empty()) && !body.is_complete {
            // A retry or a shadow needs the body again: hold it, up to the listener's buffer
            // limit, as Envoy's router does. A larger body streams, and is never retried or
            // mirrored.
            match self.buffer_body(&mut body).await {
                Ok(()) => {}
                Err(Some(timeout)) => {
                    self.count_body_timeout(timeout);
                    return self.reply_error(ProxyError::new(timeout), false).await;
                }
                Err(None) => return Next::Close,
            }
        }
        // `%START_TIME%` in header values: the access log's start, else read on first use.
        let start_time = Cell::new(self.log.start_time());
        self.prepare_upstream_headers(t, route_timeout, &start_time);
        if !f.auto_host_rewrite {
            self.encode_upstream_head(cluster);
        }
        // Shadow copies for `request_mirror_policies` start now and are never awaited.
        self.mirror(snapshot, f, body.is_complete.then(|| body.buffered.clone()));

        // One clock read serves the pick (slow start), the upstream service time and, when the
        // request is already complete, the start of the route timeout.
        let started = Instant::now();
        let mut clock = Clock {
            started,
            route_timeout,
            deadline: if first.is_done {
                route_timeout.map(|t| started + t)
            } else {
                None
            },
            idle: match f.idle_timeout {
                Some(t) => (!t.is_zero()).then_some(t),
                None => self.hcm.timeouts.stream_idle,
            },
            max_stream: f
                .max_stream_duration
                .filter(|d| !d.is_zero())
                .map(|d| started + d),
        };
        let mut retry_state = retry.map(RetryState::new);
        let mut retried = false;
        // Hosts already tried, for the `previous_hosts` predicate (allocates only on a retry).
        let mut tried: Vec<SocketAddr> = Vec::new();
        let shard = &worker.shard;
        loop {
            let now = if retried { Instant::now() } else { started };
            let Some((host_id, host)) =
                self.pick_host(&worker, cluster, t.cluster, &ctx, now, retry, &tried)
            else {
                shard.inc(cluster.stats.upstream_cx_none_healthy);
                return self
                    .fail_after(
                        head_len,
                        &body,
                        ProxyError::new(ErrorKind::NoHealthyUpstream),
                    )
                    .await;
            };
            let active = ActiveRequest::begin(&worker, cluster, host_id, host);
            self.log.upstream_host = Some(host.address);
            if f.auto_host_rewrite {
                // `auto_host_rewrite`: the picked host's hostname, else its address.
                if host.hostname.is_empty() {
                    let mut b = [0u8; 64];
                    let n = {
                        use std::io::Write as _;
                        let mut c = std::io::Cursor::new(&mut b[..]);
                        let _ = write!(c, "{}", host.address);
                        usize::try_from(c.position()).unwrap_or(0)
                    };
                    self.headers.set(b"host", &b[..n]);
                } else {
                    self.headers.set(b"host", host.hostname.as_bytes());
                }
                self.encode_upstream_head(cluster);
            }

            let end = self
                .attempt(&worker, cluster, host, &mut body, &mut clock, retry)
                .await;
            let may_retry =
                body.is_complete && retry_state.as_ref().is_some_and(|s| s.retries_left() > 0);
            match end {
                AttemptEnd::Response {
                    upstream,
                    head_len: resp_head_len,
                } => {
                    let status = self.resp.status();
                    let wants_retry = retry.is_some_and(|r| {
                        let headers = self.resp.headers(&self.ubuf);
                        r.retries_status(status)
                            || (r.retry_on.has(RetryOn::RETRIABLE_HEADERS)
                                && f.retriable_headers
                                    .iter()
                                    .any(|m| m.matches_headers(&headers, Some(status))))
                            || (r.retry_on.has(RetryOn::ENVOY_RATELIMITED)
                                && headers.get(b"x-envoy-ratelimited").is_some())
                    });
                    if wants_retry && may_retry {
                        // The response is discarded with its connection; the next attempt
                        // goes out after the back-off (below).
                        shard.inc(cluster.stats.class(status));
                        shard.inc(cluster.stats.upstream_rq_completed);
                        shard.inc(host.stats.rq_error);
                        drop(upstream);
                    } else {
                        if wants_retry {
                            shard.inc(cluster.stats.upstream_rq_retry_limit_exceeded);
                        } else if retried {
                            shard.inc(cluster.stats.upstream_rq_retry_success);
                        }
                        // The request is done: the buffered body leaves the downstream buffer.
                        self.rbuf.drain(..body.buffered.end);
                        let accepted = match t.upgrade {
                            Some(Upgrade::Protocol) => status == 101,
                            Some(Upgrade::Connect) => (200..300).contains(&status),
                            None => false,
                        };
                        if accepted {
                            let next = self.tunnel(upstream, 0, resp_head_len).await;
                            drop(active);
                            return next;
                        }
                        let next = self
                            .respond(
                                upstream,
                                resp_head_len,
                                cluster,
                                host,
                                &cookies,
                                &clock,
                                t,
                                &start_time,
                            )
                            .await;
                        drop(active);
                        return next;
                    }
                }
                AttemptEnd::Failed(error) => {
                    if error.kind == ErrorKind::DownstreamDisconnect {
                        self.log.flags.set(error.kind.flag());
                        // Nobody to answer: the upstream request was abandoned with its
                        // connection.
                        shard.inc(self.hcm.stats.downstream_rq_rx_reset);
                        shard.inc(cluster.stats.upstream_rq_tx_reset);
                        return Next::Close;
                    }
                    let retriable = retry.is_some_and(|r| r.retries_failure(error.retry));
                    if !(retriable && may_retry) {
                        if retriable {
                            shard.inc(cluster.stats.upstream_rq_retry_limit_exceeded);
                        }
                        drop(active);
                        if error.kind == ErrorKind::UpstreamTimeout {
                            shard.inc(self.hcm.stats.downstream_rq_timeout);
                        }
                        shard.inc(cluster.stats.class(error.kind.status()));
                        return self.fail_after(head_len, &body, error).await;
                    }
                }
            }
            // One more attempt after the back-off.
            drop(active);
            tried.push(host.address);
            if !self
                .back_off(&worker, cluster, &mut retry_state, &clock)
                .await
            {
                return self.route_timed_out(head_len, &body, cluster).await;
            }
            retried = true;
        }
    }

    /// Reads more of the request body into the downstream buffer until it is complete or
    /// would pass the listener's `per_connection_buffer_limit_bytes`. Errs when the client
    /// went away or broke the framing.
    async fn buffer_body(&mut self, body: &mut RequestBody) -> Result<(), Option<ErrorKind>> {
        let limit = match usize::try_from(self.hcm.buffer_limit_bytes) {
            Ok(0) | Err(_) => usize::MAX,
            Ok(n) => n,
        };
        while !body.is_complete {
            let held = body.buffered.len();
            if held >= limit {
                return Ok(());
            }
            if self.rbuf.len() == self.rbuf.capacity() {
                self.rbuf
                    .reserve(READ_BUFFER_BYTES.min(limit - held).max(1));
            }
            let rbuf = std::mem::take(&mut self.rbuf);
            let (res, rbuf) = match self.read_body(rbuf, limit - held).await {
                Ok(r) => r,
                Err(timeout) => return Err(Some(timeout)),
            };
            self.rbuf = rbuf;
            match res {
                Ok(0) | Err(_) => return Err(None),
                Ok(_) => {}
            }
            let fresh = self.rbuf.get(body.buffered.end..).unwrap_or(&[]);
            let p = body.decoder.advance(fresh).map_err(|_| None)?;
            body.buffered.end += p.consumed;
            body.is_complete = p.is_done;
        }
        Ok(())
    }

    /// One read of the request body, bounded by `request_timeout` (from the head's first
    /// byte) and `stream_idle_timeout` (from now). Errs with the timer that fired.
    async fn read_body(
        &mut self,
        buf: Vec<u8>,
        max: usize,
    ) -> Result<monoio::BufResult<usize, Vec<u8>>, ErrorKind> {
        let now = Instant::now();
        let idle = self
            .hcm
            .timeouts
            .stream_idle
            .map(|t| (now + t, ErrorKind::StreamIdleTimeout));
        let whole = self
            .request_deadline
            .map(|d| (d, ErrorKind::RequestTimeout));
        let next = [idle, whole]
            .into_iter()
            .flatten()
            .min_by_key(|(at, _)| *at);
        let read = self.reader.read_append_at_most(buf, max);
        match next {
            Some((at, kind)) => monoio::time::timeout(at.saturating_duration_since(now), read)
                .await
                .map_err(|_| kind),
            None => Ok(read.await),
        }
    }

    fn count_body_timeout(&self, kind: ErrorKind) {
        let stats = &self.hcm.stats;
        self.worker.shard.inc(match kind {
            ErrorKind::RequestTimeout => stats.downstream_rq_timeout,
            _ => stats.downstream_rq_idle_timeout,
        });
    }

    /// Picks a host; with the `previous_hosts` predicate, re-picks up to
    /// `host_selection_retry_max_attempts` times to avoid hosts already tried.
    #[allow(clippy::too_many_arguments)]
    fn pick_host<'s>(
        &self,
        worker: &Worker,
        cluster: &'s Cluster,
        cluster_index: usize,
        ctx: &PickContext<'_>,
        now: Instant,
        retry: Option<&RetryPolicy<'_>>,
        tried: &[SocketAddr],
    ) -> Option<(usize, &'s Host)> {
        let mut picks = 1 + retry
            .filter(|r| r.config.previous_hosts && !tried.is_empty())
            .map_or(0, |r| r.config.host_selection_retry_max_attempts);
        loop {
            let id = worker.pick(cluster_index, ctx, now)?;
            let host = cluster.hosts.get(id)?;
            picks -= 1;
            if picks == 0 || !tried.contains(&host.address) {
                return Some((id, host));
            }
        }
    }

    /// Waits the retry back-off and counts the retry. Returns false when the route deadline
    /// passes first.
    async fn back_off(
        &self,
        worker: &Worker,
        cluster: &Cluster,
        state: &mut Option<RetryState>,
        clock: &Clock,
    ) -> bool {
        let Some(wait) = state.as_mut().and_then(|s| s.next(worker.next_random())) else {
            return false;
        };
        worker.shard.inc(cluster.stats.upstream_rq_retry);
        let now = Instant::now();
        match clock.deadline {
            Some(d) if now + wait >= d => {
                monoio::time::sleep(d.saturating_duration_since(now)).await;
                false
            }
            _ => {
                if !wait.is_zero() {
                    monoio::time::sleep(wait).await;
                }
                true
            }
        }
    }

    async fn route_timed_out(
        &mut self,
        head_len: usize,
        body: &RequestBody,
        cluster: &Cluster,
    ) -> Next {
        let shard = &self.worker.shard;
        shard.inc(cluster.stats.upstream_rq_timeout);
        shard.inc(cluster.stats.class(504));
        shard.inc(self.hcm.stats.downstream_rq_timeout);
        self.fail_after(head_len, body, ProxyError::new(ErrorKind::UpstreamTimeout))
            .await
    }

    /// The request hash, only when the route asks for one.
    fn request_hash(&self, f: &Forward) -> Option<hash::RequestHash> {
        if f.hash_policy.is_empty() {
            return None;
        }
        let wants_local = f
            .hash_policy
            .iter()
            .any(|p| matches!(p.kind, hash::HashPolicyKind::Cookie { ttl: Some(_), .. }));
        let input = RequestHashInput {
            head: &self.req,
            buf: &self.rbuf,
            peer: self.peer,
            local: if wants_local { self.local_addr() } else { None },
        };
        Some(hash::compute_request_hash(&f.hash_policy, &input))
    }

    /// Answers a failure. When the request body was wholly buffered it is consumed and the
    /// connection may stay; otherwise (part of it was streamed, or it never arrived) it closes.
    async fn fail_after(&mut self, head_len: usize, body: &RequestBody, error: ProxyError) -> Next {
        log::debug!("request failed: {error} {}", error.kind.status());
        if body.is_complete {
            self.rbuf.drain(..body.buffered.end);
            self.reply_error(error, true).await
        } else if body.buffered.end > head_len || body.decoder.is_done() {
            self.rbuf.clear();
            self.reply_error(error, false).await
        } else {
            self.fail(head_len, error).await
        }
    }

    /// One try at `host`: connection, request, response head.
    async fn attempt(
        &mut self,
        worker: &Rc<Worker>,
        cluster: &Cluster,
        host: &Host,
        body: &mut RequestBody,
        clock: &mut Clock,
        retry: Option<&RetryPolicy<'_>>,
    ) -> AttemptEnd {
        let per_try = retry.and_then(|r| r.config.per_try_timeout);
        let per_try_idle = retry.and_then(|r| r.config.per_try_idle_timeout);
        let shard = &worker.shard;
        let key = PoolKey {
            cluster: cluster.stats.upstream_cx_total,
            address: host.address,
        };
        let limits = cluster.reuse;
        let pooled = worker.pool.borrow_mut().take(key, limits, Instant::now());
        let mut conn = match pooled {
            Some(c) => c,
            None => match upstream::connect(worker, cluster, host).await {
                Ok(c) => c,
                Err(e) => {
                    if let ConnectError::Failed(err) = &e {
                        log::debug!("connect to {} failed: {err}", host.address);
                    }
                    shard.inc(host.stats.rq_error);
                    return AttemptEnd::Failed(
                        ProxyError::new(ErrorKind::ConnectFailed)
                            .retriable(RetryClass::ConnectFailure),
                    );
                }
            },
        };
        conn.requests += 1;
        // Head and the buffered body part go out in one write.
        let mut out = std::mem::take(&mut self.wbuf);
        let head_bytes = out.len();
        out.extend_from_slice(self.rbuf.get(body.buffered.clone()).unwrap_or(&[]));
        let (res, mut out) = conn.writer.write_all(out).await;
        out.truncate(head_bytes);
        self.wbuf = out;
        if res.is_err() {
            shard.inc(host.stats.rq_error);
            shard.inc(cluster.stats.upstream_rq_rx_reset);
            return AttemptEnd::Failed(
                ProxyError::new(ErrorKind::ConnectionTermination).retriable(RetryClass::Reset),
            );
        }
        if !body.is_complete {
            // The rest of the body streams from the client; once sent it cannot be replayed.
            self.rbuf.drain(..body.buffered.end);
            body.buffered = 0..0;
            if let Err(e) = self
                .stream_request_body(&mut body.decoder, &mut conn.writer)
                .await
            {
                shard.inc(host.stats.rq_error);
                return AttemptEnd::Failed(match e {
                    StreamError::Upstream => {
                        shard.inc(cluster.stats.upstream_rq_rx_reset);
                        ProxyError::new(ErrorKind::ConnectionTermination)
                    }
                    StreamError::Downstream => ProxyError::new(ErrorKind::DownstreamDisconnect),
                    StreamError::Timeout(kind) => {
                        self.count_body_timeout(kind);
                        ProxyError::new(kind)
                    }
                });
            }
        }
        let request_done = Instant::now();
        if clock.deadline.is_none() {
            clock.deadline = clock.route_timeout.map(|t| request_done + t);
        }
        let try_deadline = per_try.map(|t| request_done + t);
        // No byte moves while the head is awaited, so the idle timers run from now.
        let next = clock.next(request_done, try_deadline, per_try_idle);
        match self
            .read_response_head(&mut conn.reader, next.map(|(at, _)| at))
            .await
        {
            Ok(head_len) => AttemptEnd::Response {
                upstream: conn,
                head_len,
            },
            Err(HeadWait::Timeout) => {
                shard.inc(host.stats.rq_timeout);
                let stats = &self.hcm.stats;
                match next.map_or(Timer::Route, |(_, t)| t) {
                    Timer::Route => {
                        shard.inc(cluster.stats.upstream_rq_timeout);
                        AttemptEnd::Failed(ProxyError::new(ErrorKind::UpstreamTimeout))
                    }
                    Timer::PerTry | Timer::PerTryIdle => {
                        shard.inc(cluster.stats.upstream_rq_per_try_timeout);
                        AttemptEnd::Failed(
                            ProxyError::new(ErrorKind::UpstreamTimeout)
                                .retriable(RetryClass::PerTryTimeout),
                        )
                    }
                    Timer::StreamIdle => {
                        shard.inc(stats.downstream_rq_idle_timeout);
                        AttemptEnd::Failed(ProxyError::new(ErrorKind::StreamIdleTimeout))
                    }
                    Timer::MaxStream => {
                        shard.inc(stats.downstream_rq_max_duration_reached);
                        AttemptEnd::Failed(ProxyError::new(ErrorKind::DurationTimeout))
                    }
                }
            }
            Err(HeadWait::Closed) => {
                shard.inc(host.stats.rq_error);
                shard.inc(cluster.stats.upstream_rq_rx_reset);
                AttemptEnd::Failed(
                    ProxyError::new(ErrorKind::ConnectionTermination).retriable(RetryClass::Reset),
                )
            }
            Err(HeadWait::Garbage) => {
                shard.inc(host.stats.rq_error);
                AttemptEnd::Failed(ProxyError::new(ErrorKind::UpstreamProtocolError))
            }
            Err(HeadWait::ClientGone) => {
                AttemptEnd::Failed(ProxyError::new(ErrorKind::DownstreamDisconnect))
            }
        }
    }

    /// Reads the upstream's response head into `resp` / `ubuf`, skipping 1xx heads, until
    /// `deadline`, while watching the client for a disconnect.
    async fn read_response_head(
        &mut self,
        upstream: &mut Reader,
        deadline: Option<Instant>,
    ) -> Result<usize, HeadWait> {
        let mut resp = std::mem::take(&mut self.resp);
        resp.reset();
        let mut ubuf = std::mem::take(&mut self.ubuf);
        ubuf.clear();
        if ubuf.capacity() < READ_BUFFER_BYTES {
            ubuf.reserve(READ_BUFFER_BYTES);
        }
        let method = self.req.method_kind();
        // The client is watched until it sends anything: EOF then means it went away; bytes
        // (a pipelined request) are kept for later and end the watch.
        let mut watch_client = true;
        let result = loop {
            let read = self.read_upstream_watching(upstream, ubuf, deadline, &mut watch_client);
            let (res, buf) = match read.await {
                Ok(r) => r,
                Err(wait) => {
                    // The buffer went with the abandoned read; the next request starts a new one.
                    self.resp = resp;
                    return Err(wait);
                }
            };
            ubuf = buf;
            if matches!(res, Ok(0) | Err(_)) {
                break Err(HeadWait::Closed);
            }
            match resp.parse(&ubuf, &self.limits, method) {
                Ok(Parse::Complete(n)) => {
                    if !resp.is_informational() {
                        break Ok(n);
                    }
                    // 100 Continue and other 1xx: not relayed, as Envoy by default. The final
                    // head may already be in the buffer behind it: parse before reading.
                    ubuf.drain(..n);
                    resp.reset();
                    let mut held = None;
                    while !ubuf.is_empty() {
                        match resp.parse(&ubuf, &self.limits, method) {
                            Ok(Parse::Complete(m)) if resp.is_informational() => {
                                ubuf.drain(..m);
                                resp.reset();
                            }
                            Ok(Parse::Complete(m)) => {
                                held = Some(Ok(m));
                                break;
                            }
                            Ok(Parse::Partial) => break,
                            Err(_) => {
                                held = Some(Err(HeadWait::Garbage));
                                break;
                            }
                        }
                    }
                    if let Some(done) = held {
                        break done;
                    }
                    if ubuf.len() == ubuf.capacity() {
                        ubuf.reserve(READ_BUFFER_BYTES);
                    }
                }
                Ok(Parse::Partial) => {
                    if ubuf.len() == ubuf.capacity() {
                        ubuf.reserve(ubuf.capacity());
                    }
                }
                Err(_) => break Err(HeadWait::Garbage),
            }
        };
        self.ubuf = ubuf;
        self.resp = resp;
        result
    }

    /// One upstream read, bounded by `deadline`. While `watch_client` holds, the read of the
    /// client's next request is posted and raced: its end of stream means the client went
    /// away; its bytes (a pipelined request) are kept for later and end the watch. That read
    /// is the one the next request needs anyway, so watching adds no work.
    async fn read_upstream_watching(
        &mut self,
        upstream: &mut Reader,
        ubuf: Vec<u8>,
        deadline: Option<Instant>,
        watch_client: &mut bool,
    ) -> Result<monoio::BufResult<usize, Vec<u8>>, HeadWait> {
        if *watch_client {
            // The request has been read whole by now (a streamed body was sent before the
            // response is awaited).
            self.reader.post();
        }
        let wait = async {
            let mut read = std::pin::pin!(upstream.read_append(ubuf));
            loop {
                if !*watch_client {
                    return Ok(read.await);
                }
                monoio::select! {
                    r = &mut read => return Ok(r),
                    arrived = self.reader.completed() => {
                        if !arrived {
                            return Err(HeadWait::ClientGone);
                        }
                        *watch_client = false;
                    }
                }
            }
        };
        match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                monoio::time::timeout(left, wait)
                    .await
                    .unwrap_or(Err(HeadWait::Timeout))
            }
            None => wait.await,
        }
    }

    /// Relays the response whose head is in `resp` / `ubuf[..head_len]`, then returns the
    /// upstream connection to the pool when it can carry another request.
    // One call site; the arguments are the finished attempt's parts.
    #[allow(clippy::too_many_arguments)]
    async fn respond(
        &mut self,
        mut upstream: upstream::Connection,
        resp_head_len: usize,
        cluster: &Cluster,
        host: &Host,
        set_cookies: &[hash::GeneratedCookie],
        clock: &Clock,
        t: &Target<'_>,
        start: &Cell<Option<SystemTime>>,
    ) -> Next {
        let worker = Rc::clone(self.worker);
        let shard = &worker.shard;
        let resp = std::mem::take(&mut self.resp);
        let mut ubuf = std::mem::take(&mut self.ubuf);
        let status = resp.status();
        let service_time = clock.started.elapsed();
        upstream::count_response(shard, cluster, host, status);

        let downstream_version = self.req.version();
        let resp_body = resp.body();
        let dechunk = resp_body == BodyKind::Chunked && downstream_version == Version::Http10;
        let keep_downstream =
            self.client_keeps_alive() && resp_body != BodyKind::CloseDelimited && !dechunk;
        // The response as filters see it: end-to-end headers in a map they can edit.
        let headers = &mut self.resp_headers;
        headers.clear();
        let server_mode = self.hcm.header_options.server_header_transformation;
        let overwrite = server_mode == ServerHeaderTransformation::Overwrite;
        h1::for_each_end_to_end(resp.headers(&ubuf), |n, v| {
            let dropped = n.eq_ignore_ascii_case(b"x-envoy-upstream-service-time")
                || (overwrite && n.eq_ignore_ascii_case(b"server"));
            if !dropped {
                headers.append(n, v);
            }
        });
        if !headers.contains(b"date") {
            headers.append(b"date", &self.worker.http_date());
        }
        // `server_header_transformation`: OVERWRITE replaces the upstream's `server`,
        // APPEND_IF_ABSENT adds one only when it sent none, PASS_THROUGH leaves it alone.
        if server_mode != ServerHeaderTransformation::PassThrough && !headers.contains(b"server") {
            headers.append(b"server", self.hcm.server_name.as_bytes());
        }
        for c in set_cookies {
            headers.append(b"set-cookie", set_cookie_value(c).as_bytes());
        }
        let mut b = itoa::Buffer::new();
        headers.append(
            b"x-envoy-upstream-service-time",
            b.format(service_time.as_millis()).as_bytes(),
        );
        let cx = super::format::Context {
            peer: self.peer,
            local: None,
            request: &self.headers,
            upstream: Some(super::format::Upstream {
                address: host.address,
                metadata: &host.metadata,
            }),
            start,
        };
        for m in t.mutations.iter().flatten() {
            super::format::mutate(headers, &m.response_remove, &m.response_add, &cx);
        }
        self.hcm.filters.encode_headers(&mut EncodeContext {
            status,
            headers,
            connection: &self.filter_state,
        });
        self.wbuf.clear();
        {
            let mut enc = HeadEncoder::response(&mut self.wbuf, downstream_version, status);
            enc.header_map(&self.resp_headers);
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
        if self.hcm.header_options.header_key_format == model::HeaderKeyFormat::ProperCaseWords {
            h1::proper_case_header_names(&mut self.wbuf);
        }
        self.count_response(status);
        ubuf.drain(..resp_head_len);
        let mut decoder = BodyDecoder::new(resp_body, &self.limits);
        let outcome = self
            .relay_response_body(
                &mut decoder,
                &mut upstream.reader,
                &mut ubuf,
                dechunk,
                clock,
                cluster.buffer_limit_bytes,
            )
            .await;
        self.ubuf = ubuf;
        let is_upstream_keep_alive = resp.is_keep_alive();
        self.resp = resp;
        match outcome {
            Ok(leftover_clean) => {
                let reusable = leftover_clean && is_upstream_keep_alive && decoder.is_done();
                if reusable && !self.worker.drain.is_draining() {
                    worker
                        .pool
                        .borrow_mut()
                        .put(upstream, cluster.reuse, Instant::now());
                }
                if keep_downstream {
                    Next::KeepAlive
                } else {
                    Next::Close
                }
            }
            Err(RelayError::Timeout(timer)) => {
                // The response has started: the stream is reset (the connection closes).
                match timer {
                    Timer::StreamIdle => shard.inc(self.hcm.stats.downstream_rq_idle_timeout),
                    Timer::MaxStream => {
                        shard.inc(self.hcm.stats.downstream_rq_max_duration_reached);
                    }
                    _ => {
                        shard.inc(cluster.stats.upstream_rq_timeout);
                        shard.inc(host.stats.rq_timeout);
                    }
                }
                Next::Close
            }
            Err(RelayError::Failed) => Next::Close,
        }
    }

    /// Completes the request headers for the upstream: path and host rewrites, forwarding
    /// headers, request id, expected timeout, then the configured mutations. The upstream
    /// path is left in `upath`.
    fn prepare_upstream_headers(
        &mut self,
        t: &Target<'_>,
        timeout: Option<Duration>,
        start: &Cell<Option<SystemTime>>,
    ) {
        let f = t.forward;
        let rbuf = &self.rbuf;
        let req = &self.req;
        // An absolute-form target is routed by its authority and forwarded in origin-form.
        let (authority, target) = match req.absolute_parts(rbuf) {
            Some((authority, path)) => (
                Some(authority),
                if path.is_empty() { &b"/"[..] } else { path },
            ),
            None => (None, req.target(rbuf)),
        };
        // The path the connection manager's path rules rewrote, if they did.
        let target = self.path.rewritten().unwrap_or(target);
        self.upath.clear();
        match f.rewrite_path(target, t.matched_len) {
            Some(p) if p.is_empty() => self.upath.push(b'/'),
            Some(p) => self.upath.extend_from_slice(&p),
            None => self.upath.extend_from_slice(target),
        }
        if let Some(a) = authority {
            self.headers.set(b"host", a);
        }
        let host = f
            .rewrite_host(target, &self.headers, t.weighted)
            .map(std::borrow::Cow::into_owned);
        let headers = &mut self.headers;
        if let Some(h) = host {
            headers.set(b"host", &h);
        }
        if req.expects_continue() {
            headers.remove(b"expect");
        }
        if t.upgrade == Some(Upgrade::Protocol) {
            // The hop-by-hop pair that asks for the upgrade is passed on when it is allowed.
            if let Some(protocol) = req.header(rbuf, b"upgrade") {
                headers.set(b"upgrade", protocol);
                headers.set(b"connection", b"upgrade");
            }
        }
        headers.remove(b"x-envoy-expected-rq-timeout-ms");
        if let Some(timeout) = timeout {
            let mut b = itoa::Buffer::new();
            headers.append(
                b"x-envoy-expected-rq-timeout-ms",
                b.format(timeout.as_millis()).as_bytes(),
            );
        }
        let mutates = t
            .mutations
            .iter()
            .flatten()
            .any(|m| !m.request_add.is_empty() || !m.request_remove.is_empty());
        if mutates {
            // Values may read the request's own headers (`%REQ(...)%`): they are expanded from
            // a copy taken before any mutation.
            let before = self.headers.clone();
            // No host is picked yet: upstream commands expand to nothing here, as in Envoy.
            let cx = super::format::Context {
                peer: self.peer,
                local: self.local_addr(),
                request: &before,
                upstream: None,
                start,
            };
            for m in t.mutations.iter().flatten() {
                super::format::mutate(&mut self.headers, &m.request_remove, &m.request_add, &cx);
            }
        }
    }

    /// Encodes the upstream request head (method, `upath`, the prepared headers, framing)
    /// into `wbuf`, header names in the cluster's `header_key_format`.
    fn encode_upstream_head(&mut self, cluster: &Cluster) {
        self.wbuf.clear();
        let mut enc =
            HeadEncoder::request(&mut self.wbuf, self.req.method(&self.rbuf), &self.upath);
        enc.header_map(&self.headers);
        enc.framing(self.req.body());
        enc.finish();
        let key_format = cluster.source.http_protocol.header_key_format;
        if key_format == model::HeaderKeyFormat::ProperCaseWords {
            h1::proper_case_header_names(&mut self.wbuf);
        }
    }

    /// Copies the rest of a request body from the client to the upstream.
    async fn stream_request_body(
        &mut self,
        body: &mut BodyDecoder,
        upstream: &mut Writer,
    ) -> Result<(), StreamError> {
        // rbuf is empty here (everything buffered was sent with the head); pipelined bytes
        // after the body stay in rbuf for the next request.
        let chunk = super::body_chunk_bytes(self.hcm.buffer_limit_bytes);
        let mut buf = std::mem::take(&mut self.rbuf);
        buf.clear();
        let result = loop {
            if buf.capacity() - buf.len() < chunk {
                buf.reserve(chunk);
            }
            let (res, b) = match self.read_body(buf, chunk).await {
                Ok(r) => r,
                Err(timeout) => {
                    // The buffer went with the abandoned read.
                    self.rbuf = Vec::new();
                    return Err(StreamError::Timeout(timeout));
                }
            };
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
        upstream: &mut Reader,
        ubuf: &mut Vec<u8>,
        dechunk: bool,
        clock: &Clock,
        upstream_buffer_limit: u32,
    ) -> Result<bool, RelayError> {
        let is_head_request = self.req.method_kind() == Method::Head;
        // First write: the head plus whatever body bytes came with it.
        let mut out = std::mem::take(&mut self.wbuf);
        let mut consumed = 0;
        if !is_head_request {
            let p = take_body(decoder, ubuf, &mut out, dechunk).map_err(|()| RelayError::Failed)?;
            consumed = p.consumed;
        }
        let (res, mut out) = self.writer.write_all(out).await;
        out.clear();
        self.wbuf = out;
        res.map_err(|_| RelayError::Failed)?;
        ubuf.drain(..consumed);
        if decoder.is_done() || is_head_request {
            return Ok(ubuf.is_empty());
        }
        let chunk = super::body_chunk_bytes(upstream_buffer_limit);
        if ubuf.capacity() < chunk {
            ubuf.reserve(chunk - ubuf.len());
        }
        loop {
            ubuf.clear();
            let read = upstream.read_append_at_most(std::mem::take(ubuf), chunk);
            let next = clock.next(Instant::now(), None, None);
            let (res, b) = match next {
                Some((at, timer)) => {
                    let left = at.saturating_duration_since(Instant::now());
                    monoio::time::timeout(left, read)
                        .await
                        .map_err(|_| RelayError::Timeout(timer))?
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
                let (res, out) = self.writer.write_all(out).await;
                self.wbuf = out;
                (p, res)
            } else {
                let p = decoder.advance(ubuf).map_err(|_| RelayError::Failed)?;
                let (res, slice) = self
                    .writer
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

/// The `x-envoy-*` request headers by which a trusted client adjusts its request's
/// timeout and retries (Envoy's router reads them after the connection manager removed them
/// from edge requests).
#[derive(Debug, Default)]
struct Overrides {
    /// `x-envoy-upstream-rq-timeout-ms` (0 disables the route timeout).
    timeout: Option<Duration>,
    /// `x-envoy-upstream-rq-per-try-timeout-ms`.
    per_try_timeout: Option<Duration>,
    /// `x-envoy-max-retries`.
    max_retries: Option<u32>,
    /// `x-envoy-retry-on`, comma separated; added to the route's conditions.
    retry_on: Vec<String>,
}

impl Overrides {
    /// Reads and removes the override headers.
    fn take(headers: &mut HeaderMap) -> Self {
        let mut o = Overrides::default();
        let number = |v: &[u8]| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok();
        if let Some(ms) = headers
            .get(b"x-envoy-upstream-rq-timeout-ms")
            .and_then(number)
        {
            o.timeout = Some(Duration::from_millis(ms));
        }
        if let Some(ms) = headers
            .get(b"x-envoy-upstream-rq-per-try-timeout-ms")
            .and_then(number)
        {
            o.per_try_timeout = (ms > 0).then(|| Duration::from_millis(ms));
        }
        if let Some(n) = headers.get(b"x-envoy-max-retries").and_then(number) {
            o.max_retries = Some(u32::try_from(n).unwrap_or(u32::MAX));
        }
        if let Some(v) = headers.get(b"x-envoy-retry-on") {
            o.retry_on = String::from_utf8_lossy(v)
                .split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| RetryOn::parse(c).is_some())
                .collect();
        }
        for name in [
            &b"x-envoy-upstream-rq-timeout-ms"[..],
            b"x-envoy-upstream-rq-per-try-timeout-ms",
            b"x-envoy-max-retries",
            b"x-envoy-retry-on",
        ] {
            headers.remove(name);
        }
        o
    }

    /// The route's retry policy adjusted by the overrides, or a policy made from them alone
    /// (`x-envoy-retry-on` without a route policy: one retry unless `x-envoy-max-retries`).
    /// `None` when the overrides change nothing, so the route's policy is used as it is.
    fn retry_policy(&self, route: Option<&model::RetryPolicy>) -> Option<model::RetryPolicy> {
        if self.retry_on.is_empty() && self.max_retries.is_none() && self.per_try_timeout.is_none()
        {
            return None;
        }
        let mut p = match route {
            Some(p) => p.clone(),
            None if !self.retry_on.is_empty() => model::RetryPolicy {
                retry_on: Vec::new(),
                num_retries: 1,
                per_try_timeout: None,
                per_try_idle_timeout: None,
                previous_hosts: false,
                host_selection_retry_max_attempts: 1,
                retriable_status_codes: Vec::new(),
                base_interval: Duration::from_millis(25),
                max_interval: Duration::from_millis(250),
                retriable_headers: Vec::new(),
                retriable_request_headers: Vec::new(),
            },
            None => return None,
        };
        p.retry_on.extend(self.retry_on.iter().cloned());
        if let Some(n) = self.max_retries {
            p.num_retries = n;
        }
        if let Some(t) = self.per_try_timeout {
            p.per_try_timeout = Some(t);
        }
        Some(p)
    }
}

/// Why no response head arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadWait {
    /// The deadline passed.
    Timeout,
    /// The upstream closed or reset first.
    Closed,
    /// The upstream sent something that is not a response head.
    Garbage,
    /// The client closed its connection.
    ClientGone,
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
    /// `request_timeout` or `stream_idle_timeout` fired while the body arrived.
    Timeout(ErrorKind),
}

#[derive(Debug)]
enum RelayError {
    Timeout(Timer),
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
pub(super) fn uuid_v4(a: u64, b: u64) -> [u8; 36] {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_and_variant() {
        let u = uuid_v4(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);
        let s = std::str::from_utf8(&u).unwrap();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
    }
}
