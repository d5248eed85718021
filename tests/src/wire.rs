//! HTTP/1.1 on the wire, shared by the test client and the mock upstream: a buffered connection,
//! head parsing and the three body framings (Content-Length, chunked with trailers, until close).
//!
//! Deliberately small and strict: it exists to observe exactly what the proxy sends, so it never
//! "fixes" anything it reads.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Default timeout of every socket read and write made by the harness.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest head (start line and headers) the harness will read.
pub const HEAD_MAX_BYTES: usize = 1 << 20;

const READ_BUFFER_BYTES: usize = 256 * 1024;

/// A header list as received or to be sent: names as written, in order.
pub type Headers = Vec<(String, String)>;

/// The first value of header `name` (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether a comma-separated header (`Connection`, `Transfer-Encoding`) lists `token`.
pub fn header_has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A parsed message head: the start line split in three and the headers.
#[derive(Debug, Clone)]
pub struct Head {
    /// Method (request) or version (response).
    pub first: String,
    /// Path (request) or status code (response).
    pub second: String,
    /// Version (request) or reason phrase (response).
    pub third: String,
    /// Header fields in order.
    pub headers: Headers,
}

/// Parses a head (bytes up to and including the blank line).
pub fn parse_head(bytes: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let start = lines.next().unwrap_or_default();
    let mut parts = start.splitn(3, ' ');
    let first = parts.next().unwrap_or_default().to_string();
    let second = parts.next().unwrap_or_default().to_string();
    let third = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(&format!("header line without colon: {line:?}")))?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Head {
        first,
        second,
        third,
        headers,
    })
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// A TCP stream with a read-ahead buffer, so heads, chunk lines and pipelined messages can be split
/// exactly where they end.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Conn {
    /// Wraps `stream`, setting read and write timeouts to [`IO_TIMEOUT`].
    pub fn new(stream: TcpStream) -> io::Result<Self> {
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: vec![0; READ_BUFFER_BYTES],
            start: 0,
            end: 0,
        })
    }

    /// The underlying stream (for timeouts, shutdown, addresses).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Bytes already read from the socket but not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                let grown = self.buf.len() * 2;
                self.buf.resize(grown, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    fn consume(&mut self, n: usize) -> &[u8] {
        let out = &self.buf[self.start..self.start + n];
        self.start += n;
        out
    }

    /// Reads one head, up to and including `\r\n\r\n`. `Ok(None)` if the peer closed before sending
    /// any byte of it (the normal end of a keep-alive connection).
    pub fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut searched = 0;
        loop {
            let pending = self.buffered();
            if let Some(pos) = pending[searched..]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                let len = searched + pos + 4;
                return Ok(Some(self.consume(len).to_vec()));
            }
            searched = pending.len().saturating_sub(3);
            if pending.len() > HEAD_MAX_BYTES {
                return Err(invalid("head larger than the harness accepts"));
            }
            if self.fill()? == 0 {
                return if self.buffered().is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed in the middle of a head",
                    ))
                };
            }
        }
    }

    fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(pos) = self.buffered().windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.consume(pos + 2)[..pos]).into_owned();
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed in the middle of a line",
                ));
            }
        }
    }

    /// Reads exactly `len` body bytes, handing them to `sink` as they arrive.
    pub fn read_exact_to(&mut self, len: u64, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        let mut left = len;
        while left > 0 {
            if self.buffered().is_empty() && self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("peer closed with {left} of {len} body bytes missing"),
                ));
            }
            let n = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(self.buffered().len());
            sink(self.consume(n));
            left -= n as u64;
        }
        Ok(())
    }

    /// Reads until the peer closes, handing bytes to `sink`.
    pub fn read_to_eof(&mut self, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        loop {
            let n = self.buffered().len();
            if n > 0 {
                sink(self.consume(n));
            }
            if self.fill()? == 0 {
                return Ok(());
            }
        }
    }

    /// Reads a chunked body, handing data to `sink`; returns the trailers.
    pub fn read_chunked(&mut self, sink: &mut dyn FnMut(&[u8])) -> io::Result<Headers> {
        loop {
            let line = self.read_line()?;
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(size_text, 16)
                .map_err(|_| invalid(&format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                let mut trailers = Vec::new();
                loop {
                    let line = self.read_line()?;
                    if line.is_empty() {
                        return Ok(trailers);
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        trailers.push((k.to_string(), v.trim().to_string()));
                    }
                }
            }
            self.read_exact_to(size, sink)?;
            let end = self.read_line()?;
            if !end.is_empty() {
                return Err(invalid("chunk data not followed by CRLF"));
            }
        }
    }

    /// Writes all of `data`.
    pub fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(data)
    }
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all.
    Empty,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// Framing of a request body (RFC 9112 §6.3: chunked wins, then Content-Length, else none).
pub fn request_framing(headers: &[(String, String)]) -> io::Result<Framing> {
    if header_has_token(headers, "transfer-encoding", "chunked") {
        return Ok(Framing::Chunked);
    }
    match header(headers, "content-length") {
        Some(v) => v
            .parse()
            .map(Framing::Length)
            .map_err(|_| invalid(&format!("bad content-length {v:?}"))),
        None => Ok(Framing::Empty),
    }
}

/// Framing of a response to `method` with `status`.
pub fn response_framing(
    method: &str,
    status: u16,
    headers: &[(String, String)],
) -> io::Result<Framing> {
    if method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return Ok(Framing::Empty);
    }
    if header_has_token(headers, "transfer-encoding", "chunked") {
        return Ok(Framing::Chunked);
    }
    match header(headers, "content-length") {
        Some(v) => v
            .parse()
            .map(Framing::Length)
            .map_err(|_| invalid(&format!("bad content-length {v:?}"))),
        None => Ok(Framing::UntilClose),
    }
}

/// Reads a body of the given framing into `sink`; returns trailers (chunked only).
pub fn read_body(
    conn: &mut Conn,
    framing: Framing,
    sink: &mut dyn FnMut(&[u8]),
) -> io::Result<Headers> {
    match framing {
        Framing::Empty => Ok(Vec::new()),
        Framing::Length(n) => conn.read_exact_to(n, sink).map(|()| Vec::new()),
        Framing::Chunked => conn.read_chunked(sink),
        Framing::UntilClose => conn.read_to_eof(sink).map(|()| Vec::new()),
    }
}
