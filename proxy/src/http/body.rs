//! Message bodies as the request path sees them, whatever protocol frames them on the wire.
//!
//! A body comes from a [`Source`] and goes to a [`Sink`]. The request body's source is the
//! client connection's driver, its sink the upstream request; the response body goes the other
//! way. What moves between them is body data only: HTTP/1.1 chunk framing is removed by the
//! driver's source and written again by a sink that needs it, exactly where an HTTP/2 driver
//! would read and write DATA frames instead. The router (`forward.rs`) moves bodies with
//! [`pump`] and never sees framing.
//!
//! Buffers are owned and handed back and forth, as io_uring needs: a source appends data to
//! the caller's `Vec`, a sink takes it and gives it back cleared, so a steady body allocates
//! nothing. Each read is bounded by the caller's `max` (the connection's buffer limit), so a
//! body of any size flows through a bounded buffer.

use std::io;
use std::time::Instant;

use crate::timer::Timer;

/// What one [`Source::read`] appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Data bytes appended (may be 0, e.g. when a read held only framing).
    pub len: usize,
    /// The body ended with this data.
    pub is_last: bool,
}

/// Why a source could not produce more of its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SourceError {
    /// The peer closed or reset before the body ended.
    Closed,
    /// The peer broke the body's framing.
    Malformed,
}

/// Where body data comes from.
pub(crate) trait Source {
    /// Waits for more of the body and appends its data to `buf`, reading at most about `max`
    /// bytes from the wire. Returns at once with an empty last chunk when the body has ended.
    async fn read(&mut self, buf: Vec<u8>, max: usize) -> (Result<Chunk, SourceError>, Vec<u8>);
}

/// Where body data goes.
pub(crate) trait Sink {
    /// Sends all of `data` as the body's next data, ending the body when `is_last`. Hands the
    /// buffer back cleared.
    async fn send(&mut self, data: Vec<u8>, is_last: bool) -> (io::Result<()>, Vec<u8>);
}

/// Why [`pump`] stopped before the body's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PumpError<T> {
    /// The source failed.
    Source(SourceError),
    /// The sink could not take the data.
    Sink,
    /// The timer that `deadline` named ran out while waiting for the source.
    Timeout(T),
}

/// Moves the rest of a body from `source` to `sink` through `buf`, each read at most `max`
/// bytes and bounded by the deadline `deadline` gives just before it (a timer and what to
/// report when it fires; `None` waits without one).
pub(crate) async fn pump<S: Source, K: Sink, T>(
    source: &mut S,
    sink: &mut K,
    buf: &mut Vec<u8>,
    max: usize,
    timer: &mut Timer,
    mut deadline: impl FnMut(Instant) -> Option<(Instant, T)>,
) -> Result<(), PumpError<T>> {
    loop {
        buf.clear();
        if buf.capacity() < max.min(64 * 1024) {
            buf.reserve(max.min(64 * 1024));
        }
        let read = std::pin::pin!(source.read(std::mem::take(buf), max));
        let (res, data) = match deadline(Instant::now()) {
            Some((at, which)) => match timer.within(Some(at), read).await {
                Some(r) => r,
                // The buffer went with the abandoned read.
                None => return Err(PumpError::Timeout(which)),
            },
            None => read.await,
        };
        let chunk = match res {
            Ok(c) => c,
            Err(e) => {
                *buf = data;
                return Err(PumpError::Source(e));
            }
        };
        if chunk.len == 0 && !chunk.is_last {
            *buf = data;
            continue;
        }
        let (res, back) = sink.send(data, chunk.is_last).await;
        *buf = back;
        res.map_err(|_| PumpError::Sink)?;
        if chunk.is_last {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::block_on as run;

    /// A source that yields fixed pieces, then fails or ends.
    struct Pieces(Vec<Result<(&'static [u8], bool), SourceError>>);

    impl Source for Pieces {
        async fn read(
            &mut self,
            mut buf: Vec<u8>,
            _max: usize,
        ) -> (Result<Chunk, SourceError>, Vec<u8>) {
            match self.0.remove(0) {
                Ok((data, is_last)) => {
                    buf.extend_from_slice(data);
                    (
                        Ok(Chunk {
                            len: data.len(),
                            is_last,
                        }),
                        buf,
                    )
                }
                Err(e) => (Err(e), buf),
            }
        }
    }

    #[derive(Default)]
    struct Collect {
        data: Vec<u8>,
        sends: usize,
        ended: bool,
    }

    impl Sink for Collect {
        async fn send(&mut self, mut data: Vec<u8>, is_last: bool) -> (io::Result<()>, Vec<u8>) {
            assert!(!self.ended, "nothing after the end");
            self.data.extend_from_slice(&data);
            self.sends += 1;
            self.ended = is_last;
            data.clear();
            (Ok(()), data)
        }
    }

    /// Pumps the whole body with no deadline.
    fn pump_all(source: &mut Pieces, sink: &mut Collect) -> Result<(), PumpError<()>> {
        run(pump(
            source,
            sink,
            &mut Vec::new(),
            16,
            &mut Timer::default(),
            |_| None,
        ))
    }

    #[test]
    fn a_body_moves_in_order_and_reads_of_framing_alone_send_nothing() {
        let mut source = Pieces(vec![
            Ok((b"ab", false)),
            Ok((b"", false)),
            Ok((b"cd", false)),
            Ok((b"", true)),
        ]);
        let mut sink = Collect::default();
        let res = pump_all(&mut source, &mut sink);
        assert_eq!(res, Ok(()));
        assert_eq!(sink.data, b"abcd");
        assert_eq!(sink.sends, 3, "two data sends and the end");
        assert!(sink.ended);
    }

    #[test]
    fn a_source_failure_stops_the_body_unended() {
        let mut source = Pieces(vec![Ok((b"ab", false)), Err(SourceError::Closed)]);
        let mut sink = Collect::default();
        let res = pump_all(&mut source, &mut sink);
        assert_eq!(res, Err(PumpError::Source(SourceError::Closed)));
        assert!(!sink.ended);
    }
}
