//! Body framing: an incremental decoder for Content-Length, chunked and close-delimited bodies.
//!
//! The decoder walks the framing byte by byte and the data in bulk, reporting how many input
//! bytes belong to the body and, on request, where the decoded data lies, or gathering that
//! data to the front of the input in place (`decode_in_place`, the proxy's path: chunk data
//! moves, an unframed body does not). It keeps all state between calls, so input may be split
//! at any byte; everything offered is consumed except what follows the end of the body.
//!
//! Chunked framing is checked strictly, so that the proxy never reads a body differently from
//! the peer that framed it (request smuggling): lines end in CRLF only, the size is `1*HEXDIG`
//! within u64, extensions may hold visible ASCII, SP, HTAB and obs-text but no other control byte,
//! data is followed by CRLF, and trailer lines are `token ":" value` with the head limits applied.
#![deny(clippy::indexing_slicing)]

use std::fmt;
use std::ops::Range;

use super::Limits;
use super::head::is_tchar;

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (GET without framing headers, HEAD responses, 1xx/204/304, CONNECT).
    #[default]
    Empty,
    /// Exactly this many bytes (`Content-Length`; 0 is kept distinct from `Empty` so that a
    /// forwarded `content-length: 0` is not lost).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the peer closes (responses only).
    CloseDelimited,
}

/// What one [`BodyDecoder::advance`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes that belong to the body (framing included); `input[consumed..]` is the next
    /// message. Always the whole input unless `is_done`.
    pub consumed: usize,
    /// The body ended within (or before) this input.
    pub is_done: bool,
}

/// What one [`BodyDecoder::decode_in_place`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Body data bytes, now at the start of the input.
    pub data: usize,
    /// Input bytes that belonged to the body (framing included): `input[consumed..]` is
    /// untouched and follows the body.
    pub consumed: usize,
    /// The body ended within (or before) this input.
    pub is_done: bool,
}

/// Why a body could not be decoded. On a request: 400 if no response was started, else reset;
/// on a response: upstream protocol error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// A chunk-size line with no or a non-hex size, an overflowing size, or a bare CR.
    ChunkSize,
    /// A chunk-size line longer than `Limits::chunk_line_bytes_max`.
    ChunkLineTooLong,
    /// A control byte (bare LF included) inside a chunk extension.
    ChunkExtension,
    /// Chunk data not followed by CRLF.
    ChunkDataEnd,
    /// A malformed trailer line.
    Trailer,
    /// Trailers larger than `Limits::head_bytes_max`.
    TrailersTooLarge,
    /// More trailer fields than `Limits::headers_count_max`.
    TooManyTrailers,
    /// The connection closed before a length-delimited or chunked body ended.
    UnexpectedEof,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            BodyError::ChunkSize => "invalid chunk size",
            BodyError::ChunkLineTooLong => "chunk size line too long",
            BodyError::ChunkExtension => "invalid chunk extension",
            BodyError::ChunkDataEnd => "chunk data not followed by CRLF",
            BodyError::Trailer => "invalid trailer",
            BodyError::TrailersTooLarge => "trailers size exceeds limit",
            BodyError::TooManyTrailers => "trailer count exceeds limit",
            BodyError::UnexpectedEof => "connection closed before the body ended",
        };
        write!(f, "http/1.1 body error: {what}")
    }
}

impl std::error::Error for BodyError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// This many body bytes still to come.
    Length(u64),
    /// Until EOF.
    Close,
    /// In the hex digits of a chunk size (`digits` counts them).
    Size,
    /// Whitespace after the size, before `;` or CR.
    SizeWs,
    /// Inside chunk extensions, until CR.
    Ext,
    /// CR of the chunk-size line seen.
    SizeLf,
    /// This many chunk data bytes still to come.
    Data(u64),
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// In a trailer field name.
    TrailerName,
    /// In a trailer field value.
    TrailerValue,
    /// CR of a trailer line seen.
    TrailerLf,
    /// CR of the final empty line seen.
    EndLf,
    /// The body ended.
    Done,
    /// A previous call failed; the connection must not be reused.
    Failed(BodyError),
}

/// Incremental body decoder. One per message; construction is free (no allocation).
#[derive(Clone, Debug)]
pub struct BodyDecoder {
    state: State,
    size: u64,
    digits: u8,
    line_bytes: usize,
    trailer_bytes: usize,
    trailers: usize,
    chunk_line_bytes_max: usize,
    trailer_bytes_max: usize,
    trailers_max: usize,
    /// Scratch for the data ranges of a chunked input (`decode_in_place`); allocated on the
    /// first chunked input only.
    ranges: Vec<Range<usize>>,
}

impl BodyDecoder {
    /// A decoder for a body of `kind`, with chunk and trailer limits from `limits`.
    pub fn new(kind: BodyKind, limits: &Limits) -> Self {
        let state = match kind {
            BodyKind::Empty | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::Size,
            BodyKind::CloseDelimited => State::Close,
        };
        Self {
            state,
            size: 0,
            digits: 0,
            line_bytes: 0,
            trailer_bytes: 0,
            trailers: 0,
            chunk_line_bytes_max: limits.chunk_line_bytes_max,
            trailer_bytes_max: limits.head_bytes_max,
            trailers_max: limits.headers_count_max,
            ranges: Vec::new(),
        }
    }

    /// Whether the whole body has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// For a Content-Length body, the bytes still expected (useful to size reads).
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// Consumes body bytes from `input` without reporting where the data lies: the fast path when
    /// only the body's extent matters (a body skipped after a local reply).
    ///
    /// # Errors
    ///
    /// A [`BodyError`] on malformed chunked framing or exceeded limits; the decoder then stays
    /// failed and the connection must be closed.
    #[inline]
    pub fn advance(&mut self, input: &[u8]) -> Result<Progress, BodyError> {
        self.advance_with(input, |_| {})
    }

    /// Like [`advance`](Self::advance), calling `on_data` with each range of `input` that holds
    /// decoded body data (chunk framing and trailers excluded), in order.
    ///
    /// # Errors
    ///
    /// As for [`advance`](Self::advance).
    pub fn advance_with(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(Range<usize>),
    ) -> Result<Progress, BodyError> {
        match self.run(input, &mut on_data) {
            Ok(p) => {
                debug_assert!(p.consumed <= input.len());
                debug_assert!(
                    p.is_done || p.consumed == input.len(),
                    "all input taken unless done"
                );
                Ok(p)
            }
            Err(e) => {
                self.state = State::Failed(e);
                Err(e)
            }
        }
    }

    /// Decodes `input` where it lies: the body data it holds (chunk framing and trailers
    /// removed) is moved to its start, in order. Nothing moves for a Content-Length or
    /// close-delimited body, whose data is the input itself.
    ///
    /// Trailers are checked and dropped, as Envoy's HTTP/1 codec does unless
    /// `enable_trailers` is set.
    ///
    /// # Errors
    ///
    /// As for [`advance`](Self::advance).
    pub fn decode_in_place(&mut self, input: &mut [u8]) -> Result<Decoded, BodyError> {
        if matches!(self.state, State::Length(_) | State::Close | State::Done) {
            // Unframed data: nothing to gather, and no range to record.
            let p = self.advance(input)?;
            return Ok(Decoded {
                data: p.consumed,
                consumed: p.consumed,
                is_done: p.is_done,
            });
        }
        let mut ranges = std::mem::take(&mut self.ranges);
        ranges.clear();
        // On an error the decoder stays failed and its scratch is not needed again.
        let p = self.advance_with(input, |r| ranges.push(r))?;
        let mut data = 0;
        for r in ranges.iter() {
            let len = r.len();
            if r.start != data {
                input.copy_within(r.clone(), data);
            }
            data += len;
        }
        self.ranges = ranges;
        Ok(Decoded {
            data,
            consumed: p.consumed,
            is_done: p.is_done,
        })
    }

    /// Tells the decoder the peer closed the connection. Ends a close-delimited body; any other
    /// unfinished body is truncated.
    ///
    /// # Errors
    ///
    /// [`BodyError::UnexpectedEof`] if a length-delimited or chunked body was cut short, or the
    /// error the decoder already failed with.
    pub fn finish(&mut self) -> Result<(), BodyError> {
        match self.state {
            State::Close | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            State::Failed(e) => Err(e),
            _ => {
                self.state = State::Failed(BodyError::UnexpectedEof);
                Err(BodyError::UnexpectedEof)
            }
        }
    }

    fn run(
        &mut self,
        input: &[u8],
        on_data: &mut impl FnMut(Range<usize>),
    ) -> Result<Progress, BodyError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Done => {
                    return Ok(Progress {
                        consumed: pos,
                        is_done: true,
                    });
                }
                State::Failed(e) => return Err(e),
                State::Close => {
                    if pos < input.len() {
                        on_data(pos..input.len());
                    }
                    return Ok(Progress {
                        consumed: input.len(),
                        is_done: false,
                    });
                }
                State::Length(n) | State::Data(n) => {
                    let avail = input.len().saturating_sub(pos);
                    if avail == 0 {
                        return Ok(Progress {
                            consumed: pos,
                            is_done: false,
                        });
                    }
                    // `take` <= avail, so it fits in usize.
                    let take = usize::try_from(n).map_or(avail, |n| n.min(avail));
                    on_data(pos..pos + take);
                    pos += take;
                    let left = n - take as u64;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), l) => State::Length(l),
                        (_, 0) => State::DataCr,
                        (_, l) => State::Data(l),
                    };
                }
                _ => {
                    let Some(&b) = input.get(pos) else {
                        return Ok(Progress {
                            consumed: pos,
                            is_done: false,
                        });
                    };
                    pos += 1;
                    self.state = self.step(b)?;
                }
            }
        }
    }

    /// One framing byte.
    fn step(&mut self, b: u8) -> Result<State, BodyError> {
        let state = self.state;
        if matches!(
            state,
            State::Size | State::SizeWs | State::Ext | State::SizeLf
        ) {
            self.line_bytes += 1;
            if self.line_bytes > self.chunk_line_bytes_max {
                return Err(BodyError::ChunkLineTooLong);
            }
        }
        if matches!(
            state,
            State::TrailerStart
                | State::TrailerName
                | State::TrailerValue
                | State::TrailerLf
                | State::EndLf
        ) {
            self.trailer_bytes += 1;
            if self.trailer_bytes > self.trailer_bytes_max {
                return Err(BodyError::TrailersTooLarge);
            }
        }
        Ok(match state {
            State::Size => match hex_value(b) {
                Some(d) => {
                    if self.size > u64::MAX >> 4 {
                        return Err(BodyError::ChunkSize);
                    }
                    self.size = (self.size << 4) | u64::from(d);
                    self.digits = self.digits.saturating_add(1);
                    State::Size
                }
                None if self.digits == 0 => return Err(BodyError::ChunkSize),
                None => match b {
                    b' ' | b'\t' => State::SizeWs,
                    b';' => State::Ext,
                    b'\r' => State::SizeLf,
                    _ => return Err(BodyError::ChunkSize),
                },
            },
            State::SizeWs => match b {
                b' ' | b'\t' => State::SizeWs,
                b';' => State::Ext,
                b'\r' => State::SizeLf,
                _ => return Err(BodyError::ChunkSize),
            },
            State::Ext => match b {
                b'\r' => State::SizeLf,
                b'\t' | b' '..=b'~' | 0x80..=0xff => State::Ext,
                _ => return Err(BodyError::ChunkExtension),
            },
            State::SizeLf => {
                if b != b'\n' {
                    return Err(BodyError::ChunkSize);
                }
                let size = self.size;
                self.size = 0;
                self.digits = 0;
                self.line_bytes = 0;
                if size == 0 {
                    State::TrailerStart
                } else {
                    State::Data(size)
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size,
            State::DataCr | State::DataLf => return Err(BodyError::ChunkDataEnd),
            State::TrailerStart => match b {
                b'\r' => State::EndLf,
                _ if is_tchar(b) => {
                    self.trailers += 1;
                    if self.trailers > self.trailers_max {
                        return Err(BodyError::TooManyTrailers);
                    }
                    State::TrailerName
                }
                _ => return Err(BodyError::Trailer),
            },
            State::TrailerName => match b {
                b':' => State::TrailerValue,
                _ if is_tchar(b) => State::TrailerName,
                _ => return Err(BodyError::Trailer),
            },
            State::TrailerValue => match b {
                b'\r' => State::TrailerLf,
                b'\t' | b' '..=b'~' | 0x80..=0xff => State::TrailerValue,
                _ => return Err(BodyError::Trailer),
            },
            State::TrailerLf if b == b'\n' => State::TrailerStart,
            State::EndLf if b == b'\n' => State::Done,
            State::TrailerLf | State::EndLf => return Err(BodyError::Trailer),
            State::Length(_) | State::Data(_) | State::Close | State::Done | State::Failed(_) => {
                debug_assert!(false, "bulk states are handled in run");
                state
            }
        })
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The last chunk with an empty trailer section: ends a chunked body the proxy frames itself.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends a chunk-size line for `len` data bytes (`{hex}\r\n`); the caller appends the data and
/// then `\r\n`. Used when re-framing a close-delimited or HTTP/2 body as chunked. `len` must not
/// be 0 (that is [`LAST_CHUNK`]).
pub fn write_chunk_header(out: &mut Vec<u8>, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    debug_assert!(len > 0, "a zero-size chunk ends the body");
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut i = digits.len();
    loop {
        i -= 1;
        if let (Some(slot), Some(&h)) = (digits.get_mut(i), HEX.get(n & 0xf)) {
            *slot = h;
        }
        n >>= 4;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
    out.extend_from_slice(b"\r\n");
}
