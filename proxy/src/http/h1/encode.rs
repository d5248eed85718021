//! Head encoding for forwarding (hop-by-hop headers removed, framing set) and Envoy-style local
//! replies, into a caller-owned reusable `Vec<u8>`.
//!
//! Header names are written lower-case: Envoy's HTTP/1 codec stores names lower-cased and writes
//! them that way unless `header_key_format` asks for `proper_case_words` or a stateful formatter,
//! so lower case is the default behaviour clients of Envoy already see. For `proper_case_words`,
//! [`proper_case_header_names`] rewrites the names of a finished head in place.
//!
//! Removed when forwarding, in both directions (Envoy's `ConnectionManagerUtility` plus
//! RFC 9110 §7.6.1): `connection`, `keep-alive`, `proxy-connection`, `transfer-encoding`,
//! `upgrade`, `http2-settings`, `te` (except that `te: trailers` is kept, as Envoy does for gRPC),
//! `content-length` (re-added by [`HeadEncoder::framing`] / [`HeadEncoder::content_length`]), and
//! every header named in `Connection` except `host`. `trailer` is end-to-end and kept.
#![deny(clippy::indexing_slicing)]

use std::fmt;

use super::head::{is_tchar, list_items};
use super::{BodyKind, Headers, Version};

/// A header the caller asked to add was not valid on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The name is empty or not a token.
    HeaderName,
    /// The value holds CR, LF, NUL or another control byte (header injection).
    HeaderValue,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::HeaderName => "invalid header name",
            EncodeError::HeaderValue => "invalid header value",
        })
    }
}

impl std::error::Error for EncodeError {}

/// Writes one head into `out`: start line first, then headers, then [`finish`](Self::finish).
/// Nothing is written if the encoder is dropped before `finish`, apart from what was added.
#[derive(Debug)]
pub struct HeadEncoder<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> HeadEncoder<'a> {
    /// Starts a request head: `{method} {target} HTTP/1.1`. Upstream requests are always 1.1,
    /// as in Envoy, whatever the downstream version.
    pub fn request(out: &'a mut Vec<u8>, method: &[u8], target: &[u8]) -> Self {
        debug_assert!(!method.is_empty() && method.iter().all(|&b| is_tchar(b)));
        debug_assert!(!target.is_empty() && !target.iter().any(|&b| b <= b' ' || b == 0x7f));
        let start = out.len();
        out.extend_from_slice(method);
        out.push(b' ');
        out.extend_from_slice(target);
        out.extend_from_slice(b" HTTP/1.1\r\n");
        Self { out, start }
    }

    /// Starts a response head: `{version} {status} {reason}` with the reason from
    /// [`reason_phrase`] (Envoy does not forward the upstream's reason phrase).
    pub fn response(out: &'a mut Vec<u8>, version: Version, status: u16) -> Self {
        debug_assert!(
            (100..=999).contains(&status),
            "status codes have three digits"
        );
        let start = out.len();
        out.extend_from_slice(version.as_bytes());
        out.push(b' ');
        push_status(out, status);
        out.push(b' ');
        out.extend_from_slice(reason_phrase(status).unwrap_or("Unknown").as_bytes());
        out.extend_from_slice(b"\r\n");
        Self { out, start }
    }

    /// Copies the end-to-end headers of a parsed head, lower-casing names, dropping hop-by-hop
    /// and framing headers (see the module docs) and any header whose name is in `skip`
    /// (compared case-insensitively: headers the caller is about to set itself, such as `host`
    /// on a rewrite, `server`, `x-forwarded-proto`, or `expect` when it answers 100-continue).
    pub fn forward_headers(&mut self, headers: Headers<'_>, skip: &[&[u8]]) -> &mut Self {
        let nominates = headers.connection_nominates();
        for (name, value) in headers.iter() {
            match hop_by_hop(name) {
                Some(Hop::Te) => {
                    if list_items(value).any(|t| t.eq_ignore_ascii_case(b"trailers")) {
                        self.out.extend_from_slice(b"te: trailers\r\n");
                    }
                    continue;
                }
                Some(Hop::Drop) => continue,
                None => {}
            }
            if skip.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                continue;
            }
            if nominates && !name.eq_ignore_ascii_case(b"host") && headers.is_nominated(name) {
                continue;
            }
            self.raw_header(name, value);
        }
        self
    }

    /// Writes the headers of a map as they are: the map's names are lower case and its values
    /// came from the codec's parser or from checked configuration.
    pub fn header_map(&mut self, headers: &crate::http::headers::HeaderMap) -> &mut Self {
        headers.write_h1_lines(self.out);
        self
    }

    /// Adds one header (name lower-cased). Rejects names that are not tokens and values with
    /// control bytes other than HTAB, so caller-supplied data cannot split the head.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] naming the invalid part; nothing is written then.
    pub fn header(&mut self, name: &[u8], value: &[u8]) -> Result<&mut Self, EncodeError> {
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(EncodeError::HeaderName);
        }
        if value.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Err(EncodeError::HeaderValue);
        }
        self.raw_header(name, value);
        Ok(self)
    }

    /// Writes the framing header for a body of `kind`: `content-length` for a length (0 too),
    /// `transfer-encoding: chunked` for chunked, nothing for none or close-delimited.
    pub fn framing(&mut self, kind: BodyKind) -> &mut Self {
        match kind {
            BodyKind::Length(n) => return self.content_length(n),
            BodyKind::Chunked => self
                .out
                .extend_from_slice(b"transfer-encoding: chunked\r\n"),
            BodyKind::Empty | BodyKind::CloseDelimited => {}
        }
        self
    }

    /// `content-length: n` (e.g. the upstream's value on a HEAD or 304 response).
    pub fn content_length(&mut self, n: u64) -> &mut Self {
        self.out.extend_from_slice(b"content-length: ");
        push_u64(self.out, n);
        self.out.extend_from_slice(b"\r\n");
        self
    }

    /// `connection: close`: the sender closes after this message.
    pub fn connection_close(&mut self) -> &mut Self {
        self.out.extend_from_slice(b"connection: close\r\n");
        self
    }

    /// `connection: keep-alive`, for answering an HTTP/1.0 client that asked to keep the
    /// connection.
    pub fn connection_keep_alive(&mut self) -> &mut Self {
        self.out.extend_from_slice(b"connection: keep-alive\r\n");
        self
    }

    /// `upgrade: {protocol}` and `connection: upgrade`, to forward an upgrade the proxy accepts.
    ///
    /// # Errors
    ///
    /// [`EncodeError::HeaderValue`] if `protocol` holds control bytes.
    pub fn upgrade(&mut self, protocol: &[u8]) -> Result<&mut Self, EncodeError> {
        self.header(b"upgrade", protocol)?;
        self.out.extend_from_slice(b"connection: upgrade\r\n");
        Ok(self)
    }

    /// Ends the head with the blank line; returns the head's length in bytes.
    pub fn finish(self) -> usize {
        self.out.extend_from_slice(b"\r\n");
        debug_assert!(self.out.len() > self.start + 4);
        self.out.len() - self.start
    }

    /// Adds a header the proxy composed itself: a lower-case token constant as the name and
    /// a value it generated (digits, a UUID, a date, a fixed token), so neither is checked.
    /// Values from configuration or from a peer go through [`Self::header`].
    pub fn trusted_header(&mut self, name: &'static [u8], value: &[u8]) -> &mut Self {
        debug_assert!(name.iter().all(|&b| is_tchar(b) && !b.is_ascii_uppercase()));
        debug_assert!(!value.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f));
        let out = &mut *self.out;
        out.reserve(name.len() + value.len() + 4);
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
        self
    }

    /// Like [`Self::trusted_header`] with the value given in pieces written back to back, so a
    /// composed value (a received `x-forwarded-for` plus the peer address) needs no buffer of
    /// its own. Each piece is the proxy's own or a value this codec already parsed and checked.
    pub fn trusted_header_parts(&mut self, name: &'static [u8], parts: &[&[u8]]) -> &mut Self {
        debug_assert!(name.iter().all(|&b| is_tchar(b) && !b.is_ascii_uppercase()));
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let out = &mut *self.out;
        out.reserve(name.len() + len + 4);
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        for p in parts {
            debug_assert!(!p.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f));
            out.extend_from_slice(p);
        }
        out.extend_from_slice(b"\r\n");
        self
    }

    fn raw_header(&mut self, name: &[u8], value: &[u8]) {
        self.out.reserve(name.len() + value.len() + 4);
        let at = self.out.len();
        self.out.extend_from_slice(name);
        if let Some(written) = self.out.get_mut(at..) {
            written.make_ascii_lowercase();
        }
        self.out.extend_from_slice(b": ");
        self.out.extend_from_slice(value);
        self.out.extend_from_slice(b"\r\n");
    }
}

/// Rewrites the header names of an encoded head in Proper-Case, as Envoy's `proper_case_words`
/// formatter writes them: the first character and every letter that follows a character that is
/// neither a letter nor a digit are upper-cased (`content-type` -> `Content-Type`,
/// `x-b3-traceid` -> `X-B3-Traceid`, `te` -> `Te`). `head` starts with the start line, which is
/// left alone, as is everything after the blank line that ends the head (a body).
///
/// Every header the encoder writes is covered, framing and `connection` included, since they
/// all pass through the same codec in Envoy. Names only get upper-cased: the encoder wrote them
/// lower-case.
pub fn proper_case_header_names(head: &mut [u8]) {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum At {
        StartLine,
        LineStart,
        Name { is_word_start: bool },
        Value,
    }
    let mut at = At::StartLine;
    for b in head.iter_mut() {
        at = match at {
            At::StartLine | At::Value => {
                if *b == b'\n' {
                    At::LineStart
                } else {
                    at
                }
            }
            // CR or LF first on a line: the blank line; the head ends here.
            At::LineStart if matches!(*b, b'\r' | b'\n') => break,
            At::LineStart | At::Name { .. } => {
                let is_word_start = match at {
                    At::Name { is_word_start } => is_word_start,
                    _ => true,
                };
                if *b == b':' {
                    At::Value
                } else {
                    if is_word_start {
                        b.make_ascii_uppercase();
                    }
                    At::Name {
                        is_word_start: !b.is_ascii_alphanumeric(),
                    }
                }
            }
        };
    }
}

/// Calls `f` with each end-to-end header of a parsed head, in order: hop-by-hop and framing
/// headers are left out (see the module docs), `te` survives only as `te: trailers`, and
/// headers that `connection` nominates are dropped (except `host`). This is what a proxy may
/// pass on; framing is re-derived by the encoder.
pub fn for_each_end_to_end(headers: Headers<'_>, mut f: impl FnMut(&[u8], &[u8])) {
    let nominates = headers.connection_nominates();
    for (name, value) in headers.iter() {
        match hop_by_hop(name) {
            Some(Hop::Te) => {
                if list_items(value).any(|t| t.eq_ignore_ascii_case(b"trailers")) {
                    f(b"te", b"trailers");
                }
                continue;
            }
            Some(Hop::Drop) => continue,
            None => {}
        }
        if nominates && !name.eq_ignore_ascii_case(b"host") && headers.is_nominated(name) {
            continue;
        }
        f(name, value);
    }
}

enum Hop {
    Drop,
    Te,
}

fn hop_by_hop(name: &[u8]) -> Option<Hop> {
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    match name.len() {
        2 if is(b"te") => Some(Hop::Te),
        7 if is(b"upgrade") => Some(Hop::Drop),
        10 if is(b"connection") || is(b"keep-alive") => Some(Hop::Drop),
        14 if is(b"content-length") || is(b"http2-settings") => Some(Hop::Drop),
        16 if is(b"proxy-connection") => Some(Hop::Drop),
        17 if is(b"transfer-encoding") => Some(Hop::Drop),
        _ => None,
    }
}

// === local replies ===

/// Bodies of Envoy's common local replies, byte for byte, so scripts matching on them still work.
pub mod local_reply {
    /// 503 when the cluster has no healthy host (flag `UH`).
    pub const NO_HEALTHY_UPSTREAM: &[u8] = b"no healthy upstream";
    /// 503 when the upstream connection failed (flag `UF`).
    pub const UPSTREAM_CONNECT_FAILURE: &[u8] =
        b"upstream connect error or disconnect/reset before headers. reset reason: connection failure";
    /// 503 when the upstream closed or reset before sending a response head (flag `UC`).
    pub const UPSTREAM_CONNECTION_TERMINATION: &[u8] =
        b"upstream connect error or disconnect/reset before headers. reset reason: connection termination";
    /// 503 when a circuit breaker refused the request (flag `UO`).
    pub const UPSTREAM_OVERFLOW: &[u8] =
        b"upstream connect error or disconnect/reset before headers. reset reason: overflow";
    /// 504 when the route timeout fired (flag `UT`).
    pub const UPSTREAM_REQUEST_TIMEOUT: &[u8] = b"upstream request timeout";
    /// 404 when no route matched (flag `NR`): Envoy sends an empty body.
    pub const ROUTE_NOT_FOUND: &[u8] = b"";
}

/// A complete response generated by the proxy itself.
///
/// Protocol errors use the reason phrase as body (Envoy's `sendLocalReply(code,
/// CodeUtility::toString(code))`, e.g. `Bad Request`) and close the connection.
#[derive(Clone, Copy, Debug)]
pub struct LocalReply<'a> {
    /// Status code.
    pub status: u16,
    /// Body; `content-type` is only sent when it is non-empty, as in Envoy.
    pub body: &'a [u8],
    /// Content type of a non-empty body; empty when `headers` carries it.
    pub content_type: &'a [u8],
    /// Value of the `server` header (Envoy's `server_name`, default `envoy`).
    pub server: &'a [u8],
    /// Add `connection: close`; the caller closes after writing.
    pub is_close: bool,
    /// The request was HEAD: send `content-length` but not the body.
    pub is_head: bool,
    /// Extra headers (an HTTP filter's local reply: rate limit, CORS preflight); names
    /// lower-case, values free of CR and LF.
    pub headers: Option<&'a crate::http::headers::HeaderMap>,
}

impl<'a> LocalReply<'a> {
    /// A `text/plain` reply from `server: envoy`, keeping the connection.
    pub fn new(status: u16, body: &'a [u8]) -> Self {
        Self {
            status,
            body,
            content_type: b"text/plain",
            server: b"envoy",
            is_close: false,
            is_head: false,
            headers: None,
        }
    }

    /// The reply for a request the codec rejected: `status` with its reason phrase as body,
    /// `connection: close`.
    pub fn protocol_error(status: u16) -> Self {
        let body = reason_phrase(status).unwrap_or("Unknown").as_bytes();
        Self {
            is_close: true,
            ..Self::new(status, body)
        }
    }
}

/// Encodes `reply` into `out`: status line, `content-length`, `content-type` (non-empty body),
/// `date`, `server`, optional `connection: close`, blank line, body. `date` comes from
/// [`super::DateCache`]. Returns the number of bytes written.
pub fn encode_local_reply(out: &mut Vec<u8>, reply: &LocalReply<'_>, date: &[u8]) -> usize {
    let start = out.len();
    let mut head = HeadEncoder::response(out, Version::Http11, reply.status);
    head.content_length(reply.body.len() as u64);
    if !reply.body.is_empty() && !reply.content_type.is_empty() {
        head.raw_header(b"content-type", reply.content_type);
    }
    head.raw_header(b"date", date);
    if !reply.server.is_empty() {
        // Empty under `server_header_transformation: PASS_THROUGH`: no upstream, no server.
        head.raw_header(b"server", reply.server);
    }
    if let Some(headers) = reply.headers {
        head.header_map(headers);
    }
    if reply.is_close {
        head.connection_close();
    }
    head.finish();
    if !reply.is_head {
        out.extend_from_slice(reply.body);
    }
    out.len() - start
}

/// The reason phrase for `status` (IANA registry, Envoy's `CodeUtility::toString` spelling);
/// `None` for unregistered codes (the encoder then writes `Unknown`, as Envoy does).
pub fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => return None,
    })
}

fn push_status(out: &mut Vec<u8>, status: u16) {
    let s = status.min(999);
    out.extend_from_slice(&[
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]);
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
}
