//! HTTP/1.1 codec, sans-io: head parsing, body framing, head encoding and local replies.
//!
//! Nothing here reads a socket or a clock. The connection manager owns the read buffer and hands
//! byte slices in; parsed heads keep *offsets* into that buffer ([`Span`]), so parsing a request
//! allocates nothing once the reusable [`RequestHead`] / [`ResponseHead`] has grown its header
//! vector on the first message of a connection.
//!
//! # Driving it (downstream side; the upstream side mirrors it with [`ResponseHead`])
//!
//! ```text
//! let limits = Limits::default();             // Envoy: 60 KiB head, 100 headers
//! let mut req = RequestHead::new();            // one per connection, reused
//! loop {
//!     let n = match req.parse(&rbuf, &limits) {
//!         Ok(Parse::Complete(n)) => n,
//!         Ok(Parse::Partial) => { read more into rbuf (head stays at offset 0); continue }
//!         Err(e) => { write encode_local_reply(LocalReply::protocol_error(e.status_code()));
//!                     close; break }
//!     };
//!     // route on req.method(&rbuf), req.target(&rbuf), req.header(&rbuf, b"host") ...
//!     let mut enc = HeadEncoder::request(&mut wbuf, req.method(&rbuf), req.target(&rbuf));
//!     enc.forward_headers(req.headers(&rbuf), &[b"host"]);
//!     enc.header(b"host", rewritten_host)?;
//!     enc.header(b"x-forwarded-proto", b"http")?;
//!     enc.framing(req.body());                  // keep chunked / content-length as received
//!     enc.finish();
//!     rbuf.advance(n);                          // drop the head, keep what follows
//!     let mut body = BodyDecoder::new(req.body(), &limits);
//!     while !body.is_done() {
//!         let d = body.decode_in_place(&mut rbuf)?; // framing removed, data at the front
//!         send rbuf[..d.data] as body data, then drop rbuf[..d.consumed];
//!         if !d.is_done { read more; on EOF body.finish()? }
//!     }                                         // pipelined bytes after the body stay in rbuf
//!     if !req.is_keep_alive() { close after the response }
//! }
//! ```
//!
//! The proxy moves body data, not framing (`http/body.rs`, `http/h1_body.rs`): a chunked body
//! is framed again with [`write_chunk_header`] and [`LAST_CHUNK`] on the way out.
//! [`BodyDecoder::advance`] only measures a body (to skip one that is not forwarded), and
//! [`BodyDecoder::advance_with`] reports where its data lies.
//!
//! A head is parsed on the first attempt and then again only once a blank line has arrived, so a
//! client trickling its head costs one scan of the new bytes per read, not a re-parse; a syntax
//! error in a head that never completes is found on the first attempt or at the size limit.
//!
//! Error mapping: [`HeadError::status_code`] gives the downstream status (400, 431 or 501) for a
//! request; any error on an upstream response is an upstream protocol error (Envoy flag `UPE`,
//! 502 to the client when no response has been started). Body errors on a request are 400 when
//! nothing was sent yet, otherwise a reset; on a response they reset the downstream stream.
//!
//! Envoy behaviour this follows, and the choices made where it was ambiguous, are listed on the
//! items themselves; see [`HeadError`] for the error classes.

mod body;
mod date;
mod encode;
mod head;

#[cfg(test)]
mod tests;

pub use body::{
    BodyDecoder, BodyError, BodyKind, Decoded, LAST_CHUNK, Progress, write_chunk_header,
};
pub use date::DateCache;
pub use encode::{
    EncodeError, HeadEncoder, LocalReply, encode_local_reply, for_each_end_to_end, local_reply,
    proper_case_header_names, reason_phrase,
};
pub use head::{
    HeadError, HeaderSpan, Headers, Method, Parse, RequestHead, ResponseHead, Span, TargetForm,
};

/// Size and count limits, with Envoy's defaults.
///
/// Envoy's `max_request_headers_kb` (60) bounds the whole head as its default Balsa parser does
/// (`max_header_length`: request line, header lines and line ends), so a connection never buffers
/// more than this much for a head. `max_headers_count` (100) counts header lines. Both apply to
/// chunked trailers as well, as in Envoy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest head (start line through the blank line) in bytes; larger is 431.
    pub head_bytes_max: usize,
    /// Most header fields in one head; more is 431. Clamped to [`HEADERS_COUNT_CAP`].
    pub headers_count_max: usize,
    /// Longest chunk-size line (size, extensions, CRLF) in a chunked body.
    pub chunk_line_bytes_max: usize,
}

/// Hard cap on [`Limits::headers_count_max`]: the parser's on-stack header slots.
pub const HEADERS_COUNT_CAP: usize = 512;

/// Envoy's default `max_request_headers_kb`, in bytes.
pub const DEFAULT_HEAD_BYTES_MAX: usize = 60 * 1024;

/// Envoy's default `max_headers_count`.
pub const DEFAULT_HEADERS_COUNT_MAX: usize = 100;

impl Default for Limits {
    fn default() -> Self {
        Self {
            head_bytes_max: DEFAULT_HEAD_BYTES_MAX,
            headers_count_max: DEFAULT_HEADERS_COUNT_MAX,
            chunk_line_bytes_max: 4096,
        }
    }
}

impl Limits {
    /// Builds limits from Envoy's `max_request_headers_kb` and `max_headers_count` settings.
    pub fn from_envoy(max_request_headers_kb: u32, max_headers_count: u32) -> Self {
        Self {
            head_bytes_max: usize::try_from(max_request_headers_kb)
                .unwrap_or(usize::MAX)
                .saturating_mul(1024),
            headers_count_max: usize::try_from(max_headers_count).unwrap_or(usize::MAX),
            ..Self::default()
        }
    }

    /// Head size limit as used for offsets: spans are `u32`, so never above `u32::MAX`.
    fn head_bytes(&self) -> usize {
        self.head_bytes_max.min(u32::MAX as usize)
    }

    fn headers_count(&self) -> usize {
        self.headers_count_max.min(HEADERS_COUNT_CAP)
    }
}

/// HTTP version of a parsed message. Only 1.0 and 1.1 parse; anything else is [`HeadError::Version`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Version {
    /// `HTTP/1.0`.
    Http10,
    /// `HTTP/1.1`.
    #[default]
    Http11,
}

impl Version {
    /// The version as written on the wire.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
        }
    }
}
