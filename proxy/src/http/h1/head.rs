//! Request and response heads: httparse underneath, offsets out, RFC 9112 framing decided here.
//!
//! Choices where Envoy or the RFC leave room (each is tested in `tests/head.rs`):
//! - Bare LF as a line end in a head is accepted (RFC 9112 §2.2 MAY; httparse and Envoy's Balsa
//!   parser do the same). It is safe for a proxy because heads are re-encoded with CRLF, never
//!   forwarded verbatim. Chunked framing *is* forwarded verbatim, so the body decoder demands CRLF.
//! - Bare CR, NUL or other controls in a header value, a space before the colon, and obs-fold
//!   (a line starting with SP/HTAB) are rejected: 400 for requests (RFC 9112 §5.2 allows rejecting
//!   obs-fold; Balsa is configured by Envoy to reject continuation lines), upstream protocol error
//!   for responses.
//! - `Transfer-Encoding` must be exactly one `chunked` (any case, OWS trimmed). Anything else,
//!   including `gzip, chunked` or two TE lines, is 501 as in Envoy's codec
//!   (`http1.invalid_transfer_encoding`); so is TE on a CONNECT request. TE on an HTTP/1.0
//!   message is 400 (RFC 9112 §6.1: the framing is faulty). TE together with Content-Length is
//!   400 (`http1.content_length_not_allowed`, Envoy's default `allow_chunked_length: false`).
//! - Repeated Content-Length values (separate lines or a list) are accepted when all equal
//!   (RFC 9110 §8.6), otherwise 400. Only `1*DIGIT` up to `u64::MAX` is valid.
//! - HTTP/1.1 requests need exactly one Host (RFC 9112 §3.2) unless the target is absolute-form;
//!   two Host lines are always 400.
#![deny(clippy::indexing_slicing)]

use std::fmt;
use std::mem::MaybeUninit;

use super::{BodyKind, HEADERS_COUNT_CAP, Limits, Version};

/// A byte range inside the buffer a head was parsed from. `u32` keeps [`HeaderSpan`] at 16 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The bytes this span covers in `buf`; empty if `buf` is not the buffer it came from.
    #[inline]
    pub fn get(self, buf: &[u8]) -> &[u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }

    /// Offset of the first byte.
    pub fn start(self) -> usize {
        self.start as usize
    }

    /// Offset one past the last byte.
    pub fn end(self) -> usize {
        self.end as usize
    }

    /// Length in bytes.
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether the span covers no byte.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The span of `part`, a sub-slice of `buf` (as httparse hands out), as offsets.
    fn of(buf: &[u8], part: &[u8]) -> Span {
        // Pointer arithmetic on addresses only: no unsafe, and a part that does not lie inside
        // `buf` (httparse returns a static "" for a missing reason phrase) maps to an empty span.
        let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
        match start.checked_add(part.len()) {
            Some(end) if end <= buf.len() && !part.is_empty() => Span {
                // Heads are bounded by `Limits::head_bytes()` <= u32::MAX.
                start: u32::try_from(start).unwrap_or(0),
                end: u32::try_from(end).unwrap_or(0),
            },
            _ => Span::default(),
        }
    }
}

/// One header field: name and value (OWS already trimmed by httparse) as spans.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeaderSpan {
    /// The field name as received (case preserved).
    pub name: Span,
    /// The field value.
    pub value: Span,
}

/// A borrowed view of a parsed head's header fields, in received order.
#[derive(Clone, Copy, Debug)]
pub struct Headers<'a> {
    buf: &'a [u8],
    spans: &'a [HeaderSpan],
    /// `Connection` names something other than close / keep-alive / upgrade.
    nominates: bool,
}

impl<'a> Headers<'a> {
    /// Number of header fields.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there is no header field.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Iterates over `(name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let buf = self.buf;
        self.spans
            .iter()
            .map(move |h| (h.name.get(buf), h.value.get(buf)))
    }

    /// The first value of `name` (ASCII case-insensitive).
    pub fn get(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Whether `Connection` nominates other headers as hop-by-hop (the encoder then drops them).
    pub fn connection_nominates(&self) -> bool {
        self.nominates
    }

    /// Whether `name` is listed as a token in any `Connection` header.
    pub fn is_nominated(&self, name: &[u8]) -> bool {
        self.iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"connection"))
            .any(|(_, v)| list_items(v).any(|t| t.eq_ignore_ascii_case(name)))
    }
}

/// Result of a head parse attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parse {
    /// The whole head is in; it is this many bytes long (what follows belongs to the body).
    Complete(usize),
    /// More bytes are needed. The buffer must keep the head at offset 0 and only grow.
    Partial,
}

/// Request methods the codec treats specially; everything else is `Other`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    #[default]
    Get,
    /// `HEAD`: the response has no body whatever its headers say.
    Head,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
    /// `CONNECT`: authority-form target, no body, a 2xx response turns into a tunnel.
    Connect,
    /// `OPTIONS`: the only method allowed the `*` target.
    Options,
    /// `TRACE`.
    Trace,
    /// `PATCH`.
    Patch,
    /// Any other token (methods are case-sensitive: `get` is `Other`).
    Other,
}

impl Method {
    fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"CONNECT" => Method::Connect,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }
}

/// The four request-target forms of RFC 9112 §3.2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TargetForm {
    /// `/path?query`.
    #[default]
    Origin,
    /// `http://host/path`: a proxy must take Host from it (Envoy's `allow_absolute_url`).
    Absolute,
    /// `host:port`, CONNECT only.
    Authority,
    /// `*`, OPTIONS only.
    Asterisk,
}

/// Why a head was rejected. [`HeadError::status_code`] is the status for a downstream request;
/// on an upstream response every kind is an upstream protocol error (502).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeadError {
    /// The head is larger than `Limits::head_bytes_max` (431).
    HeadTooLarge,
    /// More than `Limits::headers_count_max` header fields (431).
    TooManyHeaders,
    /// Invalid method token (400).
    Method,
    /// Invalid request-target, or a form not allowed for the method (400).
    Target,
    /// Not `HTTP/1.0` or `HTTP/1.1` (400, as Envoy's codec error).
    Version,
    /// Invalid status line or a status outside 100..=599 (responses only).
    Status,
    /// Invalid byte in a header name, or whitespace before the colon (400).
    HeaderName,
    /// Invalid byte in a header value, e.g. NUL or a bare CR (400).
    HeaderValue,
    /// Obsolete line folding (400).
    ObsFold,
    /// Malformed line ending (400).
    NewLine,
    /// Content-Length is not `1*DIGIT` within u64 (400).
    InvalidContentLength,
    /// Several Content-Length values that differ (400).
    ConflictingContentLength,
    /// Both Content-Length and Transfer-Encoding (400).
    ContentLengthAndTransferEncoding,
    /// Transfer-Encoding in an HTTP/1.0 message (400).
    TransferEncodingHttp10,
    /// Transfer-Encoding other than a single `chunked`, or on CONNECT (501).
    UnsupportedTransferEncoding,
    /// CONNECT with a non-zero Content-Length (400).
    ConnectWithBody,
    /// A 1xx or 204 response with Transfer-Encoding or a non-zero Content-Length (responses only;
    /// Envoy's `strict_1xx_and_204_response_headers`).
    BodyNotAllowed,
    /// HTTP/1.1 request without Host (400).
    MissingHost,
    /// More than one Host header (400).
    MultipleHost,
}

impl HeadError {
    /// Status code to answer a downstream request that failed with this error.
    pub fn status_code(self) -> u16 {
        match self {
            HeadError::HeadTooLarge | HeadError::TooManyHeaders => 431,
            HeadError::UnsupportedTransferEncoding => 501,
            _ => 400,
        }
    }

    /// Envoy's response code details string for access logs (`%RESPONSE_CODE_DETAILS%`).
    pub fn details(self) -> &'static str {
        match self {
            HeadError::HeadTooLarge => "http1.headers_too_large",
            HeadError::TooManyHeaders => "http1.too_many_headers",
            HeadError::HeaderName | HeadError::HeaderValue => "http1.invalid_characters",
            HeadError::Target => "http1.invalid_url",
            HeadError::UnsupportedTransferEncoding => "http1.invalid_transfer_encoding",
            HeadError::ContentLengthAndTransferEncoding => "http1.content_length_not_allowed",
            HeadError::TransferEncodingHttp10 | HeadError::BodyNotAllowed => {
                "http1.transfer_encoding_not_allowed"
            }
            HeadError::ConnectWithBody => "http1.body_disallowed",
            HeadError::MissingHost => "missing_host_header",
            _ => "http1.codec_error",
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            HeadError::HeadTooLarge => "headers size exceeds limit",
            HeadError::TooManyHeaders => "header count exceeds limit",
            HeadError::Method => "invalid method",
            HeadError::Target => "invalid request target",
            HeadError::Version => "invalid or unsupported HTTP version",
            HeadError::Status => "invalid status line",
            HeadError::HeaderName => "invalid header name",
            HeadError::HeaderValue => "invalid header value",
            HeadError::ObsFold => "obsolete line folding",
            HeadError::NewLine => "invalid line ending",
            HeadError::InvalidContentLength => "invalid content-length",
            HeadError::ConflictingContentLength => "conflicting content-length values",
            HeadError::ContentLengthAndTransferEncoding => {
                "both content-length and transfer-encoding"
            }
            HeadError::TransferEncodingHttp10 => "transfer-encoding in an HTTP/1.0 message",
            HeadError::UnsupportedTransferEncoding => "unsupported transfer encoding",
            HeadError::ConnectWithBody => "CONNECT request with a body",
            HeadError::BodyNotAllowed => "1xx or 204 response with a body",
            HeadError::MissingHost => "missing host header",
            HeadError::MultipleHost => "multiple host headers",
        };
        write!(f, "http/1.1 protocol error: {what}")
    }
}

impl std::error::Error for HeadError {}

/// State shared by request and response heads.
#[derive(Debug, Default)]
struct Message {
    headers: Vec<HeaderSpan>,
    version: Version,
    head_len: usize,
    body: BodyKind,
    content_length: Option<u64>,
    flags: Flags,
    /// The last call returned `Complete`: the next call starts a new message.
    is_complete: bool,
    /// Partial attempts so far for this message.
    attempts: u32,
    /// Where to resume looking for the blank line that ends the head.
    scan_from: usize,
}

#[derive(Clone, Copy, Debug, Default)]
struct Flags {
    conn_close: bool,
    conn_keep_alive: bool,
    conn_upgrade: bool,
    conn_nominates: bool,
    upgrade: bool,
    upgrade_h2c: bool,
    expect_continue: bool,
    hosts: u8,
}

/// What the header fields say about framing, before the message kind is taken into account.
struct Framing {
    content_length: Option<u64>,
    has_te: bool,
    te_is_chunked: bool,
}

impl Message {
    fn begin(&mut self) {
        if self.is_complete {
            self.is_complete = false;
            self.attempts = 0;
            self.scan_from = 0;
        }
    }

    /// Whether httparse is worth calling: always on the first attempt (cheap early rejection of
    /// garbage such as TLS on a plain port), later only once a blank line has arrived. This keeps
    /// a client that trickles a head byte by byte from making us re-parse it quadratically.
    fn should_parse(&mut self, buf: &[u8]) -> bool {
        if self.attempts == 0 {
            return true;
        }
        let (found, at) = find_blank_line(buf, self.scan_from);
        // A blank line found once is not searched again (leading empty lines before the
        // request line would otherwise be re-found on every call).
        self.scan_from = if found { at + 1 } else { at };
        found
    }

    fn partial(&mut self, buf: &[u8], limits: &Limits) -> Result<Parse, HeadError> {
        if buf.len() > limits.head_bytes() {
            return Err(HeadError::HeadTooLarge);
        }
        if self.attempts == 0 {
            self.scan_from = 0;
        }
        self.attempts = self.attempts.saturating_add(1);
        Ok(Parse::Partial)
    }

    /// One pass over httparse's headers: records their spans and reads the framing fields,
    /// Connection tokens, Expect, Upgrade and Host.
    fn take_headers(
        &mut self,
        buf: &[u8],
        parsed: &[httparse::Header<'_>],
    ) -> Result<Framing, HeadError> {
        let mut flags = Flags::default();
        let mut framing = Framing {
            content_length: None,
            has_te: false,
            te_is_chunked: false,
        };
        self.headers.clear();
        self.headers.reserve(parsed.len());
        for h in parsed {
            let name = h.name.as_bytes();
            let value = h.value;
            self.headers.push(HeaderSpan {
                name: Span::of(buf, name),
                value: Span::of(buf, value),
            });
            // Dispatch on length first: most headers are rejected by one compare.
            match name.len() {
                4 if name.eq_ignore_ascii_case(b"host") => {
                    flags.hosts = flags.hosts.saturating_add(1);
                }
                6 if name.eq_ignore_ascii_case(b"expect") => {
                    flags.expect_continue |= trim(value).eq_ignore_ascii_case(b"100-continue");
                }
                7 if name.eq_ignore_ascii_case(b"upgrade") => {
                    flags.upgrade = true;
                    flags.upgrade_h2c |= trim(value).eq_ignore_ascii_case(b"h2c");
                }
                10 if name.eq_ignore_ascii_case(b"connection") => {
                    // The common single-token values skip the list walk.
                    if value.eq_ignore_ascii_case(b"keep-alive") {
                        flags.conn_keep_alive = true;
                        continue;
                    }
                    if value.eq_ignore_ascii_case(b"close") {
                        flags.conn_close = true;
                        continue;
                    }
                    for token in list_items(value) {
                        if token.eq_ignore_ascii_case(b"close") {
                            flags.conn_close = true;
                        } else if token.eq_ignore_ascii_case(b"keep-alive") {
                            flags.conn_keep_alive = true;
                        } else if token.eq_ignore_ascii_case(b"upgrade") {
                            flags.conn_upgrade = true;
                        } else {
                            flags.conn_nominates = true;
                        }
                    }
                }
                14 if name.eq_ignore_ascii_case(b"content-length") => {
                    for item in value.split(|&b| b == b',') {
                        let n = parse_decimal(trim(item)).ok_or(HeadError::InvalidContentLength)?;
                        match framing.content_length {
                            Some(prev) if prev != n => {
                                return Err(HeadError::ConflictingContentLength);
                            }
                            _ => framing.content_length = Some(n),
                        }
                    }
                }
                17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                    // Envoy compares the combined value with "chunked": a second TE line makes
                    // it "chunked,chunked" and fails, so only a single line can be chunked.
                    framing.te_is_chunked =
                        !framing.has_te && trim(value).eq_ignore_ascii_case(b"chunked");
                    framing.has_te = true;
                }
                _ => {}
            }
        }
        self.flags = flags;
        Ok(framing)
    }

    /// Framing checks common to both directions, in Envoy's order of precedence.
    fn check_framing(&self, framing: &Framing, is_connect: bool) -> Result<(), HeadError> {
        if framing.has_te {
            if self.version == Version::Http10 {
                return Err(HeadError::TransferEncodingHttp10);
            }
            if framing.content_length.is_some() {
                return Err(HeadError::ContentLengthAndTransferEncoding);
            }
            if !framing.te_is_chunked || is_connect {
                return Err(HeadError::UnsupportedTransferEncoding);
            }
        }
        Ok(())
    }

    fn headers_view<'a>(&'a self, buf: &'a [u8]) -> Headers<'a> {
        Headers {
            buf,
            spans: &self.headers,
            nominates: self.flags.conn_nominates,
        }
    }

    fn is_keep_alive(&self) -> bool {
        match self.version {
            Version::Http11 => !self.flags.conn_close,
            Version::Http10 => self.flags.conn_keep_alive && !self.flags.conn_close,
        }
    }

    fn complete(&mut self, head_len: usize) -> Parse {
        debug_assert!(head_len > 0, "a complete head has at least a start line");
        self.head_len = head_len;
        self.is_complete = true;
        Parse::Complete(head_len)
    }
}

// === impl RequestHead ===

/// A parsed request head, reusable across the requests of a connection (its header vector keeps
/// its capacity). Accessors take the buffer the head was parsed from.
#[derive(Debug, Default)]
pub struct RequestHead {
    msg: Message,
    method: Span,
    method_kind: Method,
    target: Span,
    target_form: TargetForm,
}

impl RequestHead {
    /// An empty head; the header vector grows on first use to the connection's typical size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a request head from the start of `buf`.
    ///
    /// Returns `Partial` until the blank line ending the head is in `buf`; the caller reads more
    /// and calls again with the same, grown buffer. After `Complete(n)` the accessors describe the
    /// head in `buf[..n]`, and the next call starts a new message.
    ///
    /// # Errors
    ///
    /// A [`HeadError`] when the head is malformed, too large or frames its body ambiguously;
    /// [`HeadError::status_code`] is the status to answer with. The connection must then close.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Parse, HeadError> {
        self.msg.begin();
        if !self.msg.should_parse(buf) {
            return self.msg.partial(buf, limits);
        }
        let mut slots =
            [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADERS_COUNT_CAP];
        let slots = slots.get_mut(..limits.headers_count()).unwrap_or_default();
        let mut req = httparse::Request::new(&mut []);
        let status = httparse::ParserConfig::default()
            .parse_request_with_uninit_headers(&mut req, buf, slots)
            .map_err(|e| request_error(e, buf))?;
        let head_len = match status {
            httparse::Status::Partial => return self.msg.partial(buf, limits),
            httparse::Status::Complete(n) if n > limits.head_bytes() => {
                return Err(HeadError::HeadTooLarge);
            }
            httparse::Status::Complete(n) => n,
        };
        let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
            // httparse fills all three on Complete; treat a surprise as a malformed line.
            return Err(HeadError::Method);
        };
        self.msg.version = if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        };
        self.method = Span::of(buf, method.as_bytes());
        self.method_kind = Method::from_bytes(method.as_bytes());
        self.target = Span::of(buf, path.as_bytes());
        self.analyze(buf, req.headers)?;
        Ok(self.msg.complete(head_len))
    }

    fn analyze(&mut self, buf: &[u8], parsed: &[httparse::Header<'_>]) -> Result<(), HeadError> {
        self.target_form = target_form(self.target.get(buf), self.method_kind)?;
        let framing = self.msg.take_headers(buf, parsed)?;
        let is_connect = self.method_kind == Method::Connect;
        self.msg.check_framing(&framing, is_connect)?;
        let flags = &self.msg.flags;
        if flags.hosts > 1 {
            return Err(HeadError::MultipleHost);
        }
        if flags.hosts == 0
            && self.msg.version == Version::Http11
            && self.target_form != TargetForm::Absolute
        {
            return Err(HeadError::MissingHost);
        }
        self.msg.content_length = framing.content_length;
        self.msg.body = if framing.has_te {
            BodyKind::Chunked
        } else {
            match framing.content_length {
                Some(n) if is_connect && n > 0 => return Err(HeadError::ConnectWithBody),
                Some(_) if is_connect => BodyKind::Empty,
                Some(n) => BodyKind::Length(n),
                None => BodyKind::Empty,
            }
        };
        debug_assert!(!(framing.has_te && framing.content_length.is_some()));
        debug_assert!(
            self.msg.body != BodyKind::CloseDelimited,
            "requests are never close-delimited"
        );
        Ok(())
    }

    /// Forgets any partial progress: call it if the buffer was replaced between `Partial` calls.
    pub fn reset(&mut self) {
        self.msg.is_complete = true;
        self.msg.begin();
    }

    /// The method token, e.g. `GET`.
    pub fn method<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.method.get(buf)
    }

    /// The method as an enum.
    pub fn method_kind(&self) -> Method {
        self.method_kind
    }

    /// The request-target as received (path and query for origin-form).
    pub fn target<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.target.get(buf)
    }

    /// Which form the target takes.
    pub fn target_form(&self) -> TargetForm {
        self.target_form
    }

    /// For an absolute-form target, its authority and its path-and-query (empty when the URL has
    /// no path: send `/`). RFC 9112 §3.2.2: a proxy replaces Host with this authority, as Envoy
    /// does with `allow_absolute_url`.
    pub fn absolute_parts<'b>(&self, buf: &'b [u8]) -> Option<(&'b [u8], &'b [u8])> {
        if self.target_form != TargetForm::Absolute {
            return None;
        }
        let target = self.target.get(buf);
        let after = target.windows(3).position(|w| w == b"://")? + 3;
        let rest = target.get(after..)?;
        let end = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?' || b == b'#')
            .unwrap_or(rest.len());
        Some((rest.get(..end)?, rest.get(end..)?))
    }

    /// `HTTP/1.0` or `HTTP/1.1`. (Envoy's `accept_http_10: false` default answers 1.0 with 426;
    /// that policy belongs to the connection manager.)
    pub fn version(&self) -> Version {
        self.msg.version
    }

    /// The header fields.
    pub fn headers<'a>(&'a self, buf: &'a [u8]) -> Headers<'a> {
        self.msg.headers_view(buf)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
        self.msg
            .headers
            .iter()
            .find(|h| h.name.get(buf).eq_ignore_ascii_case(name))
            .map(|h| h.value.get(buf))
    }

    /// Raw header spans, for callers that keep offsets.
    pub fn header_spans(&self) -> &[HeaderSpan] {
        &self.msg.headers
    }

    /// Length of the head in bytes, the blank line included.
    pub fn head_len(&self) -> usize {
        self.msg.head_len
    }

    /// How the request body is framed.
    pub fn body(&self) -> BodyKind {
        self.msg.body
    }

    /// The Content-Length value, if one was sent (also when the body kind ignores it).
    pub fn content_length(&self) -> Option<u64> {
        self.msg.content_length
    }

    /// Whether the connection may carry another request after this one: 1.1 unless
    /// `Connection: close`; 1.0 only with `Connection: keep-alive`.
    pub fn is_keep_alive(&self) -> bool {
        self.msg.is_keep_alive()
    }

    /// `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 §10.1.1: ignored for 1.0).
    pub fn expects_continue(&self) -> bool {
        self.msg.flags.expect_continue && self.msg.version == Version::Http11
    }

    /// An upgrade request: an `Upgrade` header and `Connection: upgrade`, h2c excluded (Envoy
    /// strips h2c upgrades and serves the request as plain HTTP/1.1).
    pub fn is_upgrade(&self) -> bool {
        let f = &self.msg.flags;
        f.upgrade && f.conn_upgrade && !f.upgrade_h2c
    }

    /// A CONNECT request.
    pub fn is_connect(&self) -> bool {
        self.method_kind == Method::Connect
    }
}

// === impl ResponseHead ===

/// A parsed response head, reusable across the responses of an upstream connection.
#[derive(Debug, Default)]
pub struct ResponseHead {
    msg: Message,
    status: u16,
    reason: Span,
}

impl ResponseHead {
    /// An empty head.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a response head from the start of `buf`; `request` is the method of the request it
    /// answers (HEAD and CONNECT change the body framing). Same contract as [`RequestHead::parse`].
    ///
    /// # Errors
    ///
    /// A [`HeadError`]: the upstream sent an invalid response (Envoy: upstream protocol error).
    pub fn parse(
        &mut self,
        buf: &[u8],
        limits: &Limits,
        request: Method,
    ) -> Result<Parse, HeadError> {
        self.msg.begin();
        if !self.msg.should_parse(buf) {
            return self.msg.partial(buf, limits);
        }
        let mut slots =
            [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADERS_COUNT_CAP];
        let slots = slots.get_mut(..limits.headers_count()).unwrap_or_default();
        let mut res = httparse::Response::new(&mut []);
        let status = httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut res, buf, slots)
            .map_err(|e| response_error(e, buf))?;
        let head_len = match status {
            httparse::Status::Partial => return self.msg.partial(buf, limits),
            httparse::Status::Complete(n) if n > limits.head_bytes() => {
                return Err(HeadError::HeadTooLarge);
            }
            httparse::Status::Complete(n) => n,
        };
        let (Some(code), Some(minor)) = (res.code, res.version) else {
            return Err(HeadError::Status);
        };
        if !(100..=599).contains(&code) {
            return Err(HeadError::Status);
        }
        self.status = code;
        self.reason = Span::of(buf, res.reason.unwrap_or_default().as_bytes());
        self.msg.version = if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        };
        let framing = self.msg.take_headers(buf, res.headers)?;
        self.msg.check_framing(&framing, false)?;
        if (code < 200 || code == 204)
            && (framing.has_te || framing.content_length.is_some_and(|n| n > 0))
        {
            return Err(HeadError::BodyNotAllowed);
        }
        if request == Method::Connect && (200..300).contains(&code) && framing.has_te {
            return Err(HeadError::UnsupportedTransferEncoding);
        }
        self.msg.content_length = framing.content_length;
        // RFC 9112 §6.3, in order.
        self.msg.body = if request == Method::Head
            || (100..200).contains(&code)
            || code == 204
            || code == 304
            || (request == Method::Connect && (200..300).contains(&code))
        {
            BodyKind::Empty
        } else if framing.has_te {
            BodyKind::Chunked
        } else if let Some(n) = framing.content_length {
            BodyKind::Length(n)
        } else {
            BodyKind::CloseDelimited
        };
        Ok(self.msg.complete(head_len))
    }

    /// Forgets any partial progress: call it if the buffer was replaced between `Partial` calls.
    pub fn reset(&mut self) {
        self.msg.is_complete = true;
        self.msg.begin();
    }

    /// The status code (100..=599).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase as received (empty if missing or not visible ASCII). Envoy does not
    /// forward it: the encoder writes its own from [`super::reason_phrase`].
    pub fn reason<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.reason.get(buf)
    }

    /// `HTTP/1.0` or `HTTP/1.1`.
    pub fn version(&self) -> Version {
        self.msg.version
    }

    /// The header fields.
    pub fn headers<'a>(&'a self, buf: &'a [u8]) -> Headers<'a> {
        self.msg.headers_view(buf)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
        self.msg
            .headers
            .iter()
            .find(|h| h.name.get(buf).eq_ignore_ascii_case(name))
            .map(|h| h.value.get(buf))
    }

    /// Raw header spans.
    pub fn header_spans(&self) -> &[HeaderSpan] {
        &self.msg.headers
    }

    /// Length of the head in bytes.
    pub fn head_len(&self) -> usize {
        self.msg.head_len
    }

    /// How the response body is framed.
    pub fn body(&self) -> BodyKind {
        self.msg.body
    }

    /// The Content-Length value, if one was sent (a HEAD or 304 response keeps it to forward).
    pub fn content_length(&self) -> Option<u64> {
        self.msg.content_length
    }

    /// An interim 1xx response other than 101: another head follows on the same connection
    /// (100 Continue is skipped or forwarded by the caller).
    pub fn is_informational(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// Whether the upstream connection can be reused after this response: version rules as for
    /// requests, never after a close-delimited body or a 101.
    pub fn is_keep_alive(&self) -> bool {
        self.msg.is_keep_alive() && self.msg.body != BodyKind::CloseDelimited && self.status != 101
    }
}

// === helpers ===

/// Finds an empty line (`\n\n` or `\n\r\n`) at or after `from`. Returns whether it was found and
/// where the next search should resume (a trailing partial match is searched again).
fn find_blank_line(buf: &[u8], from: usize) -> (bool, usize) {
    let Some(rest) = buf.get(from..) else {
        return (false, buf.len());
    };
    for (k, &b) in rest.iter().enumerate() {
        if b != b'\n' {
            continue;
        }
        let i = from + k;
        match (buf.get(i + 1), buf.get(i + 2)) {
            (Some(b'\n'), _) | (Some(b'\r'), Some(b'\n')) => return (true, i),
            (None, _) | (Some(b'\r'), None) => return (false, i),
            _ => {}
        }
    }
    (false, buf.len())
}

fn request_error(e: httparse::Error, buf: &[u8]) -> HeadError {
    match e {
        httparse::Error::HeaderName if has_obs_fold(buf) => HeadError::ObsFold,
        httparse::Error::HeaderName => HeadError::HeaderName,
        httparse::Error::HeaderValue => HeadError::HeaderValue,
        httparse::Error::NewLine => HeadError::NewLine,
        httparse::Error::Status => HeadError::Status,
        httparse::Error::TooManyHeaders => HeadError::TooManyHeaders,
        httparse::Error::Version => HeadError::Version,
        // httparse reports both a bad method and a bad target as `Token`.
        httparse::Error::Token if method_is_valid(buf) => HeadError::Target,
        httparse::Error::Token => HeadError::Method,
    }
}

fn response_error(e: httparse::Error, buf: &[u8]) -> HeadError {
    match e {
        httparse::Error::Token => HeadError::Status,
        other => request_error(other, buf),
    }
}

/// Whether the first malformed header line is a continuation line (SP or HTAB first: obs-fold,
/// RFC 9112 §5.2) rather than a bad name. Looks only up to that line, so the answer does not
/// depend on bytes after the error (split and whole input classify alike).
fn has_obs_fold(buf: &[u8]) -> bool {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let mut lines = buf
        .get(start..)
        .unwrap_or_default()
        .split(|&b| b == b'\n')
        .skip(1);
    lines
        .find_map(|line| match line.first() {
            Some(b' ' | b'\t') => Some(true),
            _ => {
                let name_len = line
                    .iter()
                    .position(|&b| !is_tchar(b))
                    .unwrap_or(line.len());
                (name_len == 0 || line.get(name_len) != Some(&b':')).then_some(false)
            }
        })
        .unwrap_or(false)
}

/// Whether the request line starts with a valid method token followed by SP.
fn method_is_valid(buf: &[u8]) -> bool {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = buf.get(start..).unwrap_or_default();
    match line.iter().position(|&b| b == b' ') {
        Some(0) | None => false,
        Some(sp) => line
            .get(..sp)
            .unwrap_or_default()
            .iter()
            .all(|&b| is_tchar(b)),
    }
}

fn target_form(target: &[u8], method: Method) -> Result<TargetForm, HeadError> {
    let form = match target {
        [b'/', ..] => TargetForm::Origin,
        b"*" => TargetForm::Asterisk,
        _ if method == Method::Connect => TargetForm::Authority,
        _ if is_absolute_uri(target) => TargetForm::Absolute,
        _ => return Err(HeadError::Target),
    };
    match (method, form) {
        (Method::Connect, TargetForm::Authority) => {
            // host:port with a non-empty host and a port (RFC 9110 §9.3.6).
            match target.iter().rposition(|&b| b == b':') {
                Some(c) if c > 0 && c + 1 < target.len() => Ok(form),
                _ => Err(HeadError::Target),
            }
        }
        (Method::Connect, _) => Err(HeadError::Target),
        (Method::Options, TargetForm::Asterisk) => Ok(form),
        (_, TargetForm::Asterisk) => Err(HeadError::Target),
        _ => Ok(form),
    }
}

/// `scheme "://" authority ...` with a non-empty authority (RFC 3986 scheme syntax).
fn is_absolute_uri(target: &[u8]) -> bool {
    let Some(colon) = target.iter().position(|&b| b == b':') else {
        return false;
    };
    let (scheme, rest) = target.split_at(colon);
    let scheme_ok = matches!(scheme.first(), Some(b) if b.is_ascii_alphabetic())
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    scheme_ok
        && rest.starts_with(b"://")
        && rest.len() > 3
        && !rest.get(3..).unwrap_or_default().starts_with(b"/")
}

/// RFC 9110 token character.
pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Trims optional whitespace (SP / HTAB) at both ends.
pub(super) fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or_default()
}

/// Non-empty elements of a comma-separated list, trimmed (RFC 9110 §5.6.1).
pub(super) fn list_items(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty())
}

/// `1*DIGIT` as u64; None on anything else or overflow.
fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}
