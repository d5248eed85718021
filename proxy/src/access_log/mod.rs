//! HTTP access logs: Envoy's `access_log` of an HTTP connection manager, formatted on the
//! worker that served the request and written by one logger thread.
//!
//! The request path fills a [`RequestLog`] (borrowed views of what it already holds) when a
//! request ends and calls [`AccessLogs::log`]. Each logger checks its filter, then formats
//! its line straight into the worker's own buffer for that sink: no lock, no channel and no
//! allocation per request. The buffer goes to the logger thread when it passes 64 KiB, or
//! from the worker's 10 ms control tick ([`tick`]) once its oldest line is 100 ms old, over a
//! bounded channel with `try_send`: a worker never blocks on log I/O, and a batch that finds
//! the channel full is dropped and counted in `access_log.dropped`. See `writer` for the
//! diagram, and ARCHITECTURE.md ("Access logs").
//!
//! Per-worker state lives in a thread-local of the worker thread (each worker is one thread),
//! so the API needs no worker index and stays `Send`-free; [`shutdown`] writes what the
//! workers left once they have exited. Envoy's `/reopen_logs` (and a reopen on a signal) is
//! not implemented: a rotated file keeps being written through its old descriptor.

mod filter;

pub(crate) use filter::LogFilter;
mod format;
pub(crate) use format::protobuf_timestamp;
mod writer;

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sluice_config::access_log::{AccessLog, LogFormat, Operator, Token};

use crate::http::headers::HeaderMap;
use crate::layered_runtime::Runtime;
use crate::stats::{Registry, Shard};

pub(crate) use format::write_time;
pub use writer::{shutdown, tick};

/// What a logger may print about one finished request. Every field borrows what the request
/// path already holds; absent values print as `-`.
#[derive(Debug, Clone, Copy)]
pub struct RequestLog<'a> {
    /// When the request's first byte was read (`%START_TIME%`).
    pub start: SystemTime,
    /// From the start to the last byte of the response sent (`%DURATION%`).
    pub duration: Duration,
    /// `:method`.
    pub method: &'a [u8],
    /// `:path`: the request target as received.
    pub path: &'a [u8],
    /// `:authority`: the `host` header (or the absolute-form authority).
    pub authority: &'a [u8],
    /// `%PROTOCOL%`: `HTTP/1.1`, `HTTP/1.0`.
    pub protocol: &'static str,
    /// The request headers as the filters and router left them (`%REQ(X)%`).
    pub request_headers: Option<&'a HeaderMap>,
    /// The response headers sent, when the response came from an upstream (`%RESP(X)%`).
    pub response_headers: Option<&'a HeaderMap>,
    /// The status sent; 0 when none was (the client went away).
    pub response_code: u16,
    /// Envoy's response flags (`UH`, `UF`, `NR`, ...), comma separated; empty for none.
    pub response_flags: &'a str,
    /// Request body bytes read from the client.
    pub bytes_received: u64,
    /// Response body bytes sent to the client.
    pub bytes_sent: u64,
    /// The upstream host of the last attempt.
    pub upstream_host: Option<SocketAddr>,
    /// The cluster the route picked.
    pub upstream_cluster: Option<&'a str>,
    /// The matched route's `name`.
    pub route_name: Option<&'a str>,
    /// The client's address.
    pub downstream_remote: SocketAddr,
    /// The address the client connected to.
    pub downstream_local: Option<SocketAddr>,
    /// The body of the local reply being formatted (`%LOCAL_REPLY_BODY%`); `None` in access
    /// logs, where it prints empty.
    pub local_reply_body: Option<&'a [u8]>,
}

/// What the worker lends a log call: its stats shard, the runtime of its snapshot and a
/// random value for sampling.
#[derive(Debug, Clone, Copy)]
pub struct LogContext<'a> {
    /// The worker's shard (`access_log.dropped`).
    pub shard: &'a Shard,
    /// The snapshot's layered runtime (filter thresholds, sampling).
    pub runtime: &'a Runtime,
    /// A fresh random value.
    pub random: u64,
}

/// The access loggers of one HTTP connection manager, built with its snapshot.
#[derive(Debug, Default)]
pub struct AccessLogs {
    loggers: Vec<Logger>,
    /// Whether a format prints the downstream local address (a `getsockname` per request).
    needs_local_address: bool,
}

#[derive(Debug)]
struct Logger {
    filter: Option<LogFilter>,
    format: LogFormat,
    sink: Arc<writer::SinkHandle>,
    /// `%HOSTNAME%`, read once.
    hostname: Arc<str>,
}

/// Why access logs could not be set up (a file that cannot be opened).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub(crate) String);

impl AccessLogs {
    /// Opens each logger's sink (once per process per path) and keeps its parsed format.
    pub fn build(configs: &[AccessLog], registry: &mut Registry) -> Result<Self, BuildError> {
        let hostname: Arc<str> = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default()
            .into();
        let mut loggers = Vec::with_capacity(configs.len());
        for c in configs {
            let sink = writer::open(&c.sink, registry).map_err(BuildError)?;
            loggers.push(Logger {
                filter: c
                    .filter
                    .as_ref()
                    .map(LogFilter::build)
                    .transpose()
                    .map_err(BuildError)?,
                format: c.format.clone(),
                sink,
                hostname: Arc::clone(&hostname),
            });
        }
        let needs_local_address = configs.iter().any(|c| {
            uses(&c.format, |op| {
                matches!(
                    op,
                    Operator::DownstreamLocalAddress | Operator::DownstreamLocalAddressWithoutPort
                )
            })
        });
        Ok(Self {
            loggers,
            needs_local_address,
        })
    }

    /// Whether a logger prints `%DOWNSTREAM_LOCAL_ADDRESS%` (the caller then looks it up).
    pub fn needs_local_address(&self) -> bool {
        self.needs_local_address
    }

    /// Whether there is no logger: the request path may then skip filling a [`RequestLog`].
    pub fn is_empty(&self) -> bool {
        self.loggers.is_empty()
    }

    /// Logs one finished request to every logger whose filter passes it. Must be called on
    /// the worker thread that served it (the line goes to that thread's buffer).
    pub fn log(&self, cx: &LogContext<'_>, entry: &RequestLog<'_>) {
        for l in &self.loggers {
            if let Some(f) = &l.filter
                && !filter::passes(f, entry, cx.runtime, cx.random)
            {
                continue;
            }
            writer::append(&l.sink, Some(cx.shard), |out| {
                format::write_line(&l.format, &l.hostname, entry, out);
            });
        }
    }
}

/// Whether any operator of `format` satisfies `pred`.
fn uses(format: &LogFormat, pred: impl Fn(&Operator) -> bool + Copy) -> bool {
    fn tokens(t: &[Token], pred: impl Fn(&Operator) -> bool + Copy) -> bool {
        t.iter().any(|t| matches!(t, Token::Op(op, _) if pred(op)))
    }
    fn fields(
        f: &[(String, sluice_config::access_log::JsonTemplate)],
        pred: impl Fn(&Operator) -> bool + Copy,
    ) -> bool {
        use sluice_config::access_log::JsonTemplate;
        f.iter().any(|(_, v)| match v {
            JsonTemplate::Object(inner) => fields(inner, pred),
            JsonTemplate::Format(t) => tokens(t, pred),
            JsonTemplate::Literal(_) => false,
        })
    }
    match format {
        LogFormat::Text { tokens: t, .. } => tokens(t, pred),
        LogFormat::Json { fields: f, .. } => fields(f, pred),
    }
}

/// What the request path records about the request in flight for its access log: set in
/// small steps where the facts are known (start, route, upstream host, status, flags), read
/// once by [`RequestState::entry`] when the request ends. Reused across a connection's
/// requests: the strings keep their capacity, so a request allocates nothing here.
#[derive(Debug, Default)]
pub struct RequestState {
    /// Whether this request is being recorded (its connection manager has loggers).
    pub is_active: bool,
    start: Option<(SystemTime, Instant)>,
    method: Vec<u8>,
    path: Vec<u8>,
    authority: Vec<u8>,
    protocol: &'static str,
    /// Request body bytes (the `content-length`; a chunked body counts 0 until the body
    /// relay counts what it forwards).
    pub bytes_received: u64,
    /// Response body bytes sent.
    pub bytes_sent: u64,
    /// The status sent (set where the response is counted).
    pub status: Cell<u16>,
    /// Envoy's response flag of the failure that ended the request; empty for none.
    pub flags: Cell<&'static str>,
    /// Whether the response was a local reply.
    pub is_local: bool,
    /// Whether the connection manager's response headers were recorded for a local reply
    /// (`%RESP(...)%` then reads them, as Envoy's log reads the headers it generated).
    pub local_headers: bool,
    /// The upstream host of the last attempt.
    pub upstream_host: Option<SocketAddr>,
    route: String,
    cluster: String,
}

impl RequestState {
    /// Starts recording a request: its method, target, authority and protocol are copied
    /// now, while the head is still in the read buffer.
    pub fn begin(
        &mut self,
        method: &[u8],
        path: &[u8],
        authority: &[u8],
        protocol: &'static str,
        bytes_received: u64,
    ) {
        self.is_active = true;
        self.start = Some((SystemTime::now(), Instant::now()));
        for (dst, src) in [
            (&mut self.method, method),
            (&mut self.path, path),
            (&mut self.authority, authority),
        ] {
            dst.clear();
            dst.extend_from_slice(src);
        }
        self.protocol = protocol;
        self.bytes_received = bytes_received;
        self.bytes_sent = 0;
        self.status.set(0);
        self.flags.set("");
        self.is_local = false;
        self.local_headers = false;
        self.upstream_host = None;
        self.route.clear();
        self.cluster.clear();
    }

    /// Replaces the recorded path with the one the request is routed on (after the connection
    /// manager normalized it), which is the `:path` Envoy's access log reads.
    pub fn set_path(&mut self, path: &[u8]) {
        if self.is_active {
            self.path.clear();
            self.path.extend_from_slice(path);
        }
    }

    /// When the current request started, if it is being recorded (header value commands
    /// print the same `%START_TIME%` as the log line then).
    pub fn start_time(&self) -> Option<SystemTime> {
        self.start.filter(|_| self.is_active).map(|(t, _)| t)
    }

    /// Records the matched route's name and its cluster's.
    pub fn set_route(&mut self, route: &str, cluster: Option<&str>) {
        if !self.is_active {
            return;
        }
        self.route.clear();
        self.route.push_str(route);
        self.cluster.clear();
        self.cluster.push_str(cluster.unwrap_or(""));
    }

    /// The finished request as loggers see it.
    pub fn entry<'a>(
        &'a self,
        request_headers: &'a HeaderMap,
        response_headers: &'a HeaderMap,
        downstream_remote: SocketAddr,
        downstream_local: Option<SocketAddr>,
    ) -> RequestLog<'a> {
        let (start, started) = self
            .start
            .unwrap_or_else(|| (SystemTime::now(), Instant::now()));
        let is_proxied = !self.is_local && self.status.get() != 0;
        let has_response_headers = is_proxied || self.local_headers;
        RequestLog {
            start,
            duration: started.elapsed(),
            method: &self.method,
            path: &self.path,
            authority: &self.authority,
            protocol: self.protocol,
            request_headers: Some(request_headers),
            response_headers: has_response_headers.then_some(response_headers),
            response_code: self.status.get(),
            response_flags: self.flags.get(),
            bytes_received: self.bytes_received,
            bytes_sent: self.bytes_sent,
            upstream_host: self.upstream_host,
            upstream_cluster: Some(self.cluster.as_str()),
            route_name: Some(self.route.as_str()),
            downstream_remote,
            downstream_local,
            local_reply_body: None,
        }
    }
}

/// Formats one line for `entry` into `out` as a logger with `format` would: for benches and
/// tests, and for callers that want the text without a sink.
pub fn format_line(format: &LogFormat, entry: &RequestLog<'_>, out: &mut Vec<u8>) {
    format::write_line(format, "", entry, out);
}

/// Formats `entry` with `format` into `out` (a local reply body), `%HOSTNAME%` printing
/// `hostname`.
pub(crate) fn render(
    format: &LogFormat,
    hostname: &str,
    entry: &RequestLog<'_>,
    out: &mut Vec<u8>,
) {
    format::write_line(format, hostname, entry, out);
}

/// Whether `entry` passes the access log filter `filter` (also how a local reply mapper
/// matches); `random` samples a request without `x-request-id`.
pub(crate) fn filter_passes(
    filter: &LogFilter,
    entry: &RequestLog<'_>,
    runtime: &Runtime,
    random: u64,
) -> bool {
    filter::passes(filter, entry, runtime, random)
}

/// Hands this thread's pending lines to the logger thread now (tests, and a worker that is
/// about to exit).
pub fn flush_now() {
    writer::flush_thread(None);
}

#[cfg(test)]
mod tests;
