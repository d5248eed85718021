//! HTTP/1.1 bodies on a connection: the [`Source`] and [`Sink`] of the HTTP/1.1 driver and of
//! the HTTP/1.1 upstream side.
//!
//! The source reads from a connection and removes the framing in place (`BodyDecoder::
//! decode_in_place`): a Content-Length or close-delimited body is its own data and moves no
//! byte; a chunked body's data is gathered to the front of the read. Trailers are checked and
//! dropped, as Envoy's HTTP/1 codec does by default (`enable_trailers`, which Sluice refuses).
//! Bytes read past the body's end are kept in [`H1Source::after`]: the next pipelined request
//! on a client connection, a broken response on an upstream one.
//!
//! The sink frames what it is given: as is for a body of known length or one delimited by the
//! close of the connection, in chunks when the head said `transfer-encoding: chunked`. It can
//! hold bytes that must precede the first data (the encoded head), so a head and the first
//! body bytes still leave in one write.

use std::io;

use monoio::io::AsyncWriteRentExt as _;

use super::body::{Chunk, Sink, Source, SourceError};
use super::h1::{self, BodyDecoder};
use crate::io::{Reader, Transport, Writer};

/// Appends `data` to `out` as the next part of a body: as is, or as one chunk (none for empty
/// data) when `chunked`, followed by the last chunk when `is_last`.
pub(crate) fn frame(out: &mut Vec<u8>, chunked: bool, data: &[u8], is_last: bool) {
    if !chunked {
        out.extend_from_slice(data);
        return;
    }
    if !data.is_empty() {
        h1::write_chunk_header(out, data.len());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    if is_last {
        out.extend_from_slice(h1::LAST_CHUNK);
    }
}

/// The body of an HTTP/1.1 message arriving on `reader`.
pub(crate) struct H1Source<'a, T: Transport> {
    reader: &'a mut Reader<T>,
    decoder: &'a mut BodyDecoder,
    /// Bytes read after the body's end.
    pub after: Vec<u8>,
}

impl<'a, T: Transport> H1Source<'a, T> {
    /// The rest of the body that `decoder` is positioned in.
    pub(crate) fn new(reader: &'a mut Reader<T>, decoder: &'a mut BodyDecoder) -> Self {
        H1Source {
            reader,
            decoder,
            after: Vec::new(),
        }
    }
}

impl<T: Transport> Source for H1Source<'_, T> {
    async fn read(&mut self, buf: Vec<u8>, max: usize) -> (Result<Chunk, SourceError>, Vec<u8>) {
        if self.decoder.is_done() {
            let end = Chunk {
                len: 0,
                is_last: true,
            };
            return (Ok(end), buf);
        }
        let mut buf = buf;
        if buf.len() == buf.capacity() {
            buf.reserve(max.clamp(1, 64 * 1024));
        }
        let start = buf.len();
        let (res, mut buf) = self.reader.read_append_at_most(buf, max.max(1)).await;
        match res {
            // End of stream ends a close-delimited body and cuts any other short.
            Ok(0) => {
                let res = self
                    .decoder
                    .finish()
                    .map(|()| Chunk {
                        len: 0,
                        is_last: true,
                    })
                    .map_err(|_| SourceError::Closed);
                return (res, buf);
            }
            Err(_) => return (Err(SourceError::Closed), buf),
            Ok(_) => {}
        }
        let Some(fresh) = buf.get_mut(start..) else {
            return (Err(SourceError::Malformed), buf);
        };
        let d = match self.decoder.decode_in_place(fresh) {
            Ok(d) => d,
            Err(_) => return (Err(SourceError::Malformed), buf),
        };
        if let Some(rest) = buf.get(start + d.consumed..) {
            self.after.extend_from_slice(rest);
        }
        buf.truncate(start + d.data);
        let chunk = Chunk {
            len: d.data,
            is_last: d.is_done,
        };
        (Ok(chunk), buf)
    }
}

/// A body leaving on `writer` as HTTP/1.1.
pub(crate) struct H1Sink<'a, T: Transport> {
    writer: &'a mut Writer<T>,
    chunked: bool,
    /// Bytes that go out with the first data (the head), then the framing scratch.
    out: Vec<u8>,
}

impl<'a, T: Transport> H1Sink<'a, T> {
    /// A sink that writes `first` before the first data and frames the body in chunks when
    /// `chunked` (the head said so).
    pub(crate) fn new(writer: &'a mut Writer<T>, chunked: bool, first: Vec<u8>) -> Self {
        H1Sink {
            writer,
            chunked,
            out: first,
        }
    }

    /// The scratch buffer, for reuse.
    pub(crate) fn into_buffer(mut self) -> Vec<u8> {
        self.out.clear();
        self.out
    }
}

impl<T: Transport> Sink for H1Sink<'_, T> {
    async fn send(&mut self, mut data: Vec<u8>, is_last: bool) -> (io::Result<()>, Vec<u8>) {
        if !self.chunked && self.out.is_empty() {
            // Known length or close-delimited, nothing before it: the data goes as it is.
            if data.is_empty() {
                return (Ok(()), data);
            }
            let (res, mut data) = self.writer.write_all(data).await;
            data.clear();
            return (res.map(|_| ()), data);
        }
        let mut out = std::mem::take(&mut self.out);
        frame(&mut out, self.chunked, &data, is_last);
        data.clear();
        if out.is_empty() {
            self.out = out;
            return (Ok(()), data);
        }
        let (res, mut out) = self.writer.write_all(out).await;
        out.clear();
        self.out = out;
        (res.map(|_| ()), data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_follows_the_head() {
        let mut out = Vec::new();
        frame(&mut out, false, b"abc", true);
        assert_eq!(out, b"abc");
        out.clear();
        frame(&mut out, true, b"abc", false);
        frame(&mut out, true, b"", false);
        frame(&mut out, true, b"0123456789abcdefg", true);
        assert_eq!(out, b"3\r\nabc\r\n11\r\n0123456789abcdefg\r\n0\r\n\r\n");
        out.clear();
        frame(&mut out, true, b"", true);
        assert_eq!(out, b"0\r\n\r\n", "an empty chunked body is its last chunk");
    }
}
