//! The one error type of the HTTP request path: what failed, on which side, and how Envoy
//! reports it (response flag, status code, local reply body).
//!
//! Every failure a request can meet after its head was parsed is a `ProxyError`; the local
//! reply a client sees and the counters bumped are derived from its kind in one table
//! (`ErrorKind::flag`, `status`, `body`), so two paths that fail the same way answer the same.

use std::fmt;

use super::h1::local_reply as body;

/// Which party a failure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client: it went away, sent a broken body or was too slow.
    Downstream,
    /// The upstream host: refused, reset, timed out, or answered garbage.
    Upstream,
    /// The proxy itself decided (no route, no healthy host, a filter).
    Local,
}

/// What went wrong; each kind is one of Envoy's response flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `UH`: no healthy upstream host in the cluster.
    NoHealthyUpstream,
    /// `UF`: the upstream connection could not be made.
    ConnectFailed,
    /// `UC`: the upstream connection closed or reset before a whole response head.
    ConnectionTermination,
    /// `UT`: the route timeout (or the last try's per-try timeout) fired.
    UpstreamTimeout,
    /// `UPE`: the upstream's response could not be parsed.
    UpstreamProtocolError,
    /// `DC`: the client closed or reset its connection while the request was in flight.
    DownstreamDisconnect,
    /// `DPE`: the client's request body broke HTTP framing.
    DownstreamProtocolError,
    /// `NC`: the route's cluster (from `cluster_header`) does not exist.
    NoCluster,
    /// `SI`: `stream_idle_timeout` (or the route's `idle_timeout`) fired.
    StreamIdleTimeout,
    /// `DT`: the route's `max_stream_duration` was reached.
    DurationTimeout,
    /// The request did not arrive within `request_timeout` (Envoy sets no flag).
    RequestTimeout,
    /// `UO`: a circuit breaker refused the request (`max_pending_requests`,
    /// `max_requests`).
    Overflow,
}

impl ErrorKind {
    /// Envoy's short response flag (`%RESPONSE_FLAGS%`).
    pub fn flag(self) -> &'static str {
        match self {
            ErrorKind::NoHealthyUpstream => "UH",
            ErrorKind::ConnectFailed => "UF",
            ErrorKind::ConnectionTermination => "UC",
            ErrorKind::UpstreamTimeout => "UT",
            ErrorKind::UpstreamProtocolError => "UPE",
            ErrorKind::DownstreamDisconnect => "DC",
            ErrorKind::DownstreamProtocolError => "DPE",
            ErrorKind::NoCluster => "NC",
            ErrorKind::StreamIdleTimeout => "SI",
            ErrorKind::DurationTimeout => "DT",
            ErrorKind::RequestTimeout => "-",
            ErrorKind::Overflow => "UO",
        }
    }

    /// The status of the local reply.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::UpstreamTimeout => 504,
            ErrorKind::UpstreamProtocolError => 502,
            ErrorKind::DownstreamProtocolError => 400,
            ErrorKind::StreamIdleTimeout
            | ErrorKind::DurationTimeout
            | ErrorKind::RequestTimeout => 408,
            // Not sent: the client is gone. Envoy logs 0 for it.
            ErrorKind::DownstreamDisconnect => 0,
            ErrorKind::NoHealthyUpstream
            | ErrorKind::ConnectFailed
            | ErrorKind::ConnectionTermination
            | ErrorKind::NoCluster
            | ErrorKind::Overflow => 503,
        }
    }

    /// Envoy's local reply body for this failure.
    pub fn body(self) -> &'static [u8] {
        match self {
            ErrorKind::NoHealthyUpstream => body::NO_HEALTHY_UPSTREAM,
            ErrorKind::ConnectFailed => body::UPSTREAM_CONNECT_FAILURE,
            ErrorKind::ConnectionTermination => body::UPSTREAM_CONNECTION_TERMINATION,
            ErrorKind::UpstreamTimeout => body::UPSTREAM_REQUEST_TIMEOUT,
            ErrorKind::UpstreamProtocolError => {
                b"upstream connect error or disconnect/reset before headers. reset reason: protocol error"
            }
            ErrorKind::StreamIdleTimeout => b"stream timeout",
            ErrorKind::DurationTimeout => b"downstream duration timeout",
            ErrorKind::RequestTimeout => b"request timeout",
            ErrorKind::Overflow => {
                b"upstream connect error or disconnect/reset before headers. reset reason: overflow"
            }
            ErrorKind::DownstreamDisconnect
            | ErrorKind::DownstreamProtocolError
            | ErrorKind::NoCluster => b"",
        }
    }

    /// The side this kind of failure comes from.
    pub fn side(self) -> Side {
        match self {
            ErrorKind::DownstreamDisconnect
            | ErrorKind::DownstreamProtocolError
            | ErrorKind::RequestTimeout => Side::Downstream,
            ErrorKind::NoHealthyUpstream | ErrorKind::NoCluster | ErrorKind::Overflow => {
                Side::Local
            }
            _ => Side::Upstream,
        }
    }
}

/// A failed request: the kind, and whether a retry policy may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Which side failed.
    pub side: Side,
    /// How the failure relates to the retry conditions of Envoy's `retry_on`.
    pub retry: RetryClass,
}

/// The retry conditions a failure can satisfy (Envoy's `wouldRetryFromReset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Never retried (client gone, route timeout, broken request).
    Never,
    /// The connection could not be made: `connect-failure`, `reset`, `5xx`, `gateway-error`.
    ConnectFailure,
    /// The upstream reset or closed before a response: `reset`, `5xx`, `gateway-error`.
    Reset,
    /// The per-try timeout fired: `5xx`, `gateway-error`.
    PerTryTimeout,
}

impl ProxyError {
    /// An error of `kind` from its usual side, not retriable.
    pub fn new(kind: ErrorKind) -> Self {
        ProxyError {
            kind,
            side: kind.side(),
            retry: RetryClass::Never,
        }
    }

    /// The same error, retriable as `retry`.
    pub fn retriable(self, retry: RetryClass) -> Self {
        ProxyError { retry, ..self }
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?} side)", self.kind.flag(), self.side)
    }
}

impl std::error::Error for ProxyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_flags_and_statuses() {
        let table = [
            (ErrorKind::NoHealthyUpstream, "UH", 503, Side::Local),
            (ErrorKind::ConnectFailed, "UF", 503, Side::Upstream),
            (ErrorKind::ConnectionTermination, "UC", 503, Side::Upstream),
            (ErrorKind::UpstreamTimeout, "UT", 504, Side::Upstream),
            (ErrorKind::UpstreamProtocolError, "UPE", 502, Side::Upstream),
            (ErrorKind::DownstreamDisconnect, "DC", 0, Side::Downstream),
            (ErrorKind::NoCluster, "NC", 503, Side::Local),
            (ErrorKind::Overflow, "UO", 503, Side::Local),
        ];
        for (kind, flag, status, side) in table {
            let e = ProxyError::new(kind);
            assert_eq!((kind.flag(), kind.status(), e.side), (flag, status, side));
            assert_eq!(e.retry, RetryClass::Never);
        }
        assert_eq!(
            ErrorKind::UpstreamTimeout.body(),
            b"upstream request timeout"
        );
    }
}
