//! HTTP/1.1 request framing for the fixed-response upstream: finds where each request (head and
//! body) ends in a byte stream so pipelined requests are answered in order, and bodies framed by
//! Content-Length or chunked coding are read and thrown away.
//!
//! The decoder is sans-io: it is fed slices of what has been read and says how many bytes it
//! consumed and what happened. It allocates nothing; the caller owns the buffer.

use bytes::{BufMut, Bytes, BytesMut};

#[cfg(test)]
mod tests;

/// Most request headers we accept; more is answered with 431 and the connection is closed.
pub const HEADERS_MAX: usize = 64;

/// What the connection needs to know about a request to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// `HEAD` gets the response head without the body.
    pub is_head: bool,
    /// Whether the connection stays open after the response (HTTP/1.1 default, HTTP/1.0 opt-in).
    pub is_keep_alive: bool,
    /// HTTP/1.0 clients that asked for keep-alive need to see `Connection: keep-alive` back.
    pub is_http10: bool,
}

/// One step of decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The input ran out (or ends inside a head): read more, then call again with the rest.
    NeedMore,
    /// The client sent `Expect: 100-continue` and a body follows: send `100 Continue` now.
    Continue,
    /// A request (head and body) is complete: answer it.
    Complete(Request),
}

/// Why a request cannot be framed; the connection answers with the status and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Malformed head, bad Content-Length or chunk size, unsupported Transfer-Encoding: 400.
    BadRequest,
    /// Head larger than the read buffer or more than [`HEADERS_MAX`] headers: 431.
    HeadTooLarge,
}

impl Error {
    /// The canned response for this error (it carries `Connection: close`).
    #[must_use]
    pub fn response(self) -> &'static [u8] {
        match self {
            Error::BadRequest => {
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            }
            Error::HeadTooLarge => {
                b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            }
        }
    }
}

/// Where the decoder is inside the current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for (the rest of) a request head.
    Head,
    /// Inside a Content-Length body with this many bytes left.
    Fixed { request: Request, remaining: u64 },
    /// Inside a chunked body.
    Chunked { request: Request, chunk: Chunk },
}

/// Position inside chunked coding (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the hex size; `is_ext` once a `;` started chunk extensions (skipped).
    Size { size: u64, digits: u8, is_ext: bool },
    /// Inside chunk data with this many bytes left.
    Data { remaining: u64 },
    /// After chunk data, expecting CRLF.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one; `line_len` counts the current line.
    Trailer { line_len: u32 },
}

/// Incremental request framer; one per connection.
#[derive(Debug)]
pub struct Decoder {
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder at the start of a request.
    #[must_use]
    pub fn new() -> Self {
        Self { state: State::Head }
    }

    /// Whether the decoder is between requests (nothing partially consumed).
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.state == State::Head
    }

    /// Decodes from the start of `input`. Returns how many bytes were consumed and what happened.
    /// A head is consumed only once it is complete, so on `NeedMore` in the head state the caller
    /// must keep the unconsumed bytes and append to them. `is_buffer_full` says the caller cannot
    /// give more bytes than `input` (its buffer is full): an incomplete head is then an error.
    pub fn decode(&mut self, input: &[u8], is_buffer_full: bool) -> Result<(usize, Event), Error> {
        match self.state {
            State::Head => self.decode_head(input, is_buffer_full),
            State::Fixed { request, remaining } => {
                let take = remaining.min(input.len() as u64);
                let remaining = remaining - take;
                // `take` is at most `input.len()`, so it fits in usize.
                let take = usize::try_from(take).map_err(|_| Error::BadRequest)?;
                if remaining == 0 {
                    self.state = State::Head;
                    Ok((take, Event::Complete(request)))
                } else {
                    self.state = State::Fixed { request, remaining };
                    Ok((take, Event::NeedMore))
                }
            }
            State::Chunked { request, chunk } => self.decode_chunked(request, chunk, input),
        }
    }

    fn decode_head(&mut self, input: &[u8], is_buffer_full: bool) -> Result<(usize, Event), Error> {
        let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
        let mut parsed = httparse::Request::new(&mut headers);
        let head_len = match parsed.parse(input) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if is_buffer_full => return Err(Error::HeadTooLarge),
            Ok(httparse::Status::Partial) => return Ok((0, Event::NeedMore)),
            Err(httparse::Error::TooManyHeaders) => return Err(Error::HeadTooLarge),
            Err(_) => return Err(Error::BadRequest),
        };
        let is_http10 = parsed.version == Some(0);
        let mut is_keep_alive = !is_http10;
        let mut content_length: Option<u64> = None;
        let mut is_chunked = false;
        let mut is_expect_continue = false;
        for header in parsed.headers.iter() {
            let name = header.name;
            if name.eq_ignore_ascii_case("content-length") {
                let value = parse_content_length(header.value).ok_or(Error::BadRequest)?;
                // Repeated Content-Length headers must agree (RFC 9112 §6.3).
                if content_length.is_some_and(|seen| seen != value) {
                    return Err(Error::BadRequest);
                }
                content_length = Some(value);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                // The final coding of a request must be chunked, otherwise its length is unknown.
                is_chunked =
                    last_token(header.value).is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
                if !is_chunked {
                    return Err(Error::BadRequest);
                }
            } else if name.eq_ignore_ascii_case("connection") {
                for token in header.value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        is_keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && is_http10 {
                        is_keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("expect") {
                is_expect_continue = header
                    .value
                    .trim_ascii()
                    .eq_ignore_ascii_case(b"100-continue");
            }
        }
        let request = Request {
            is_head: parsed.method == Some("HEAD"),
            is_keep_alive,
            is_http10,
        };
        if is_chunked {
            // Transfer-Encoding overrides Content-Length; a message with both is suspect, so
            // answer it but do not reuse the connection (RFC 9112 §6.3 item 3).
            let request = Request {
                is_keep_alive: request.is_keep_alive && content_length.is_none(),
                ..request
            };
            self.state = State::Chunked {
                request,
                chunk: Chunk::Size {
                    size: 0,
                    digits: 0,
                    is_ext: false,
                },
            };
        } else {
            match content_length {
                None | Some(0) => return Ok((head_len, Event::Complete(request))),
                Some(remaining) => self.state = State::Fixed { request, remaining },
            }
        }
        debug_assert!(
            !self.is_idle(),
            "a request with a body leaves the decoder inside it"
        );
        let event = if is_expect_continue && !is_http10 {
            Event::Continue
        } else {
            Event::NeedMore
        };
        // NeedMore here only means "call again": the body may already be in `input`.
        Ok((head_len, event))
    }

    fn decode_chunked(
        &mut self,
        request: Request,
        mut chunk: Chunk,
        input: &[u8],
    ) -> Result<(usize, Event), Error> {
        let mut pos = 0;
        while pos < input.len() {
            match chunk {
                Chunk::Size {
                    size,
                    digits,
                    is_ext,
                } => {
                    let byte = input[pos];
                    pos += 1;
                    chunk = match byte {
                        b'\n' if digits == 0 => return Err(Error::BadRequest),
                        b'\n' if size == 0 => Chunk::Trailer { line_len: 0 },
                        b'\n' => Chunk::Data { remaining: size },
                        b'\r' => chunk,
                        _ if is_ext => chunk,
                        b';' | b' ' | b'\t' => Chunk::Size {
                            size,
                            digits,
                            is_ext: true,
                        },
                        _ => {
                            let digit = hex_value(byte).ok_or(Error::BadRequest)?;
                            // 16 hex digits fill a u64; more is a lie or an attack.
                            if digits >= 16 {
                                return Err(Error::BadRequest);
                            }
                            Chunk::Size {
                                size: (size << 4) | u64::from(digit),
                                digits: digits + 1,
                                is_ext,
                            }
                        }
                    };
                }
                Chunk::Data { remaining } => {
                    let available = (input.len() - pos) as u64;
                    let take = remaining.min(available);
                    // `take` is at most the rest of `input`, so it fits in usize.
                    pos += usize::try_from(take).map_err(|_| Error::BadRequest)?;
                    chunk = if take == remaining {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data {
                            remaining: remaining - take,
                        }
                    };
                }
                Chunk::DataEnd => {
                    let byte = input[pos];
                    pos += 1;
                    chunk = match byte {
                        b'\r' => Chunk::DataEnd,
                        b'\n' => Chunk::Size {
                            size: 0,
                            digits: 0,
                            is_ext: false,
                        },
                        _ => return Err(Error::BadRequest),
                    };
                }
                Chunk::Trailer { line_len } => {
                    let byte = input[pos];
                    pos += 1;
                    chunk = match byte {
                        b'\n' if line_len == 0 => {
                            self.state = State::Head;
                            return Ok((pos, Event::Complete(request)));
                        }
                        b'\n' => Chunk::Trailer { line_len: 0 },
                        b'\r' => chunk,
                        // Bound trailers like heads: 64 KiB per line is far beyond any real one.
                        _ if line_len >= 65_536 => return Err(Error::HeadTooLarge),
                        _ => Chunk::Trailer {
                            line_len: line_len + 1,
                        },
                    };
                }
            }
        }
        self.state = State::Chunked { request, chunk };
        Ok((pos, Event::NeedMore))
    }
}

/// Content-Length is 1*DIGIT; anything else (sign, spaces inside, empty, overflow) is rejected.
fn parse_content_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

fn last_token(value: &[u8]) -> Option<&[u8]> {
    value.rsplit(|&b| b == b',').next().map(<[u8]>::trim_ascii)
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The canned responses, built once at start-up and shared by reference count afterwards.
#[derive(Debug, Clone)]
pub struct Responses {
    /// HTTP/1.1 keep-alive response (no Connection header).
    keep_alive: Bytes,
    /// Response carrying `Connection: close`.
    close: Bytes,
    /// HTTP/1.0 keep-alive response carrying `Connection: keep-alive`.
    keep_alive_http10: Bytes,
    body_bytes: usize,
}

/// `100 Continue` interim response.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl Responses {
    /// Builds the responses with a body of `body_bytes`: "hello, world\n" repeated and cut to size.
    #[must_use]
    pub fn new(body_bytes: usize) -> Self {
        let body: Vec<u8> = b"hello, world\n"
            .iter()
            .copied()
            .cycle()
            .take(body_bytes)
            .collect();
        let build = |connection: &str| {
            let mut out = BytesMut::with_capacity(128 + body_bytes);
            out.put_slice(
                b"HTTP/1.1 200 OK\r\nServer: sluice-upstream\r\nContent-Type: text/plain\r\n",
            );
            out.put_slice(connection.as_bytes());
            out.put_slice(format!("Content-Length: {body_bytes}\r\n\r\n").as_bytes());
            out.put_slice(&body);
            out.freeze()
        };
        Self {
            keep_alive: build(""),
            close: build("Connection: close\r\n"),
            keep_alive_http10: build("Connection: keep-alive\r\n"),
            body_bytes,
        }
    }

    /// The response for `request`: a cheap clone of a shared buffer (HEAD gets only the head).
    #[must_use]
    pub fn for_request(&self, request: &Request) -> Bytes {
        let full = if !request.is_keep_alive {
            &self.close
        } else if request.is_http10 {
            &self.keep_alive_http10
        } else {
            &self.keep_alive
        };
        if request.is_head {
            full.slice(..full.len() - self.body_bytes)
        } else {
            full.clone()
        }
    }
}
