//! Connections as the HTTP path and the upstream pool see them: a read side that can keep one
//! read in flight across awaits, and a write side.
//!
//! With io_uring a read is an operation the kernel holds, not a readiness check. Keeping one
//! posted on a socket that has nothing to say yet is free, and it is how this module watches a
//! connection without extra work:
//!
//! - once a client's request has been read, the read of its next request is posted at once;
//!   while the response is awaited, that same read completing with end of stream is how a
//!   client that went away is noticed, and completing with bytes is its next (pipelined)
//!   request;
//! - an idle pooled upstream connection keeps the read of its next response posted; if that
//!   read has completed by the time the connection is taken, the upstream closed or sent bytes
//!   nobody asked for, and the connection is closed instead of carrying the request.
//!
//! Either way the read is one the connection needs anyway: no poll, peek or cancellation is
//! added per request. A read in flight owns its half of the socket and its buffer, so it lives
//! in a box that outlasts the code that posted it; a read posted and awaited by the same code
//! needs no box.
//!
//! The transport under both is a type parameter: anything that implements [`Transport`] (a
//! byte stream that io_uring reads and writes, and that can be split into its two sides). The
//! HTTP path (`conn_manager::serve`), tcp_proxy and the upstream pool are generic over it; the
//! upstream side opens its connections through [`Connect`]. Plain TCP is the transport today;
//! TLS is another implementation of these two traits, not another request path.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use monoio::BufResult;
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, OwnedReadHalf, OwnedWriteHalf, Split, Splitable as _,
};
use monoio::net::{TcpStream, UnixStream};

/// A connection's byte stream, downstream or upstream: read and written through io_uring,
/// split into a read side and a write side that are used at the same time (the read of the
/// next request stays posted while a response is written). The file descriptor is the socket
/// under it, for its addresses.
pub trait Transport: AsyncReadRent + AsyncWriteRent + Split + AsRawFd + 'static {}

/// A transport the upstream side can open to a host's address.
pub trait Connect: Transport + Sized {
    /// Opens a connection to `addr`, ready for small request/response exchanges.
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self>>;
}

impl Transport for TcpStream {}

/// Local stream sockets, for the tests of this module (and `pipe` addresses once configured).
impl Transport for UnixStream {}

impl Connect for TcpStream {
    async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_addr(addr).await?;
        // Small request/response exchanges must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

/// The write side of a connection.
pub type Writer<T> = OwnedWriteHalf<T>;

/// A read posted by [`Reader::post`]: it hands back the read half with its result.
type Posted<T> = Pin<Box<dyn Future<Output = (OwnedReadHalf<T>, BufResult<usize, Vec<u8>>)>>>;

/// Spare capacity of the buffer a posted read fills.
const POSTED_READ_BYTES: usize = 16 * 1024;

/// Splits a connection into its read and write sides, and returns its socket's descriptor.
pub fn split<T: Transport>(stream: T) -> (Reader<T>, Writer<T>, RawFd) {
    let fd = stream.as_raw_fd();
    let (read, write) = stream.into_split();
    (
        Reader {
            state: State::Idle(read),
            spare: Vec::new(),
        },
        write,
        fd,
    )
}

/// The read side of a connection, with at most one posted read.
pub struct Reader<T: Transport> {
    state: State<T>,
    /// The buffer the next posted read fills; it trades places with the caller's buffer when
    /// the read is collected, so steady traffic allocates nothing.
    spare: Vec<u8>,
}

enum State<T> {
    /// No read in flight.
    Idle(OwnedReadHalf<T>),
    /// A posted read, not yet seen to complete.
    Posted(Posted<T>),
    /// A posted read that completed; its result waits to be collected.
    Done(OwnedReadHalf<T>, io::Result<usize>, Vec<u8>),
    /// Only while a state is being replaced.
    Moving,
}

impl<T: Transport> std::fmt::Debug for Reader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Idle(_) => "idle",
            State::Posted(_) => "posted",
            State::Done(..) => "done",
            State::Moving => "moving",
        };
        f.debug_struct("Reader").field("state", &state).finish()
    }
}

impl<T: Transport> Reader<T> {
    /// Whether a read is posted (in flight or completed and not collected).
    pub fn is_posted(&self) -> bool {
        matches!(self.state, State::Posted(_) | State::Done(..))
    }

    /// Posts a read that stays in flight until collected, and submits it to the kernel. Does
    /// nothing when one is posted already.
    pub fn post(&mut self) {
        let State::Idle(_) = self.state else {
            return;
        };
        let State::Idle(mut half) = std::mem::replace(&mut self.state, State::Moving) else {
            unreachable!("checked above");
        };
        let mut buf = std::mem::take(&mut self.spare);
        buf.clear();
        if buf.capacity() < POSTED_READ_BYTES {
            buf.reserve(POSTED_READ_BYTES);
        }
        self.state = State::Posted(Box::pin(async move {
            let res = crate::http::read_append(&mut half, buf).await;
            (half, res)
        }));
        // The first poll creates the operation; the ring submits it with the next batch.
        let _ = self.poll_posted(&mut Context::from_waker(Waker::noop()));
    }

    /// Whether the posted read has completed, checked without waiting (a pooled connection
    /// whose read completed while idle is unusable).
    pub fn has_completed(&mut self) -> bool {
        let _ = self.poll_posted(&mut Context::from_waker(Waker::noop()));
        matches!(self.state, State::Done(..))
    }

    /// Waits until the posted read completes: `true` when it brought bytes, `false` on end of
    /// stream or an error (also returned at once when no read is posted). Dropping this
    /// future leaves the read in flight.
    pub async fn completed(&mut self) -> bool {
        std::future::poll_fn(|cx| self.poll_posted(cx)).await;
        match &self.state {
            State::Done(_, res, _) => matches!(res, Ok(n) if *n > 0),
            _ => false,
        }
    }

    fn poll_posted(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let State::Posted(read) = &mut self.state else {
            return Poll::Ready(());
        };
        let Poll::Ready((half, (res, buf))) = read.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        self.state = State::Done(half, res, buf);
        Poll::Ready(())
    }

    /// Reads into the spare capacity of `buf`, after the bytes it holds, at most `max` bytes.
    /// A posted read is waited for and its bytes appended instead (it may have brought more
    /// than `max`, up to its own buffer's size).
    pub async fn read_append_at_most(
        &mut self,
        buf: Vec<u8>,
        max: usize,
    ) -> BufResult<usize, Vec<u8>> {
        if self.is_posted() {
            self.completed().await;
            return self.collect(buf);
        }
        match &mut self.state {
            State::Idle(half) => crate::http::read_append_at_most(half, buf, max).await,
            _ => unreachable!("not posted, so idle"),
        }
    }

    /// [`Reader::read_append_at_most`] without a bound.
    pub async fn read_append(&mut self, buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        self.read_append_at_most(buf, usize::MAX).await
    }

    /// Hands a completed posted read's bytes over, appended to `buf`.
    fn collect(&mut self, mut buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        let State::Done(half, res, mut got) = std::mem::replace(&mut self.state, State::Moving)
        else {
            unreachable!("collect follows completion");
        };
        self.state = State::Idle(half);
        if buf.is_empty() {
            // The common case: trade buffers, copy nothing.
            std::mem::swap(&mut buf, &mut got);
        } else {
            buf.extend_from_slice(&got);
        }
        got.clear();
        self.spare = got;
        (res, buf)
    }

    /// Reads into `buf` from its start (bytes to discard).
    pub async fn read_discard(&mut self, mut buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        buf.clear();
        self.read_append(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::block_on as run;
    use monoio::io::AsyncWriteRentExt as _;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect_addr(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (client, server)
    }

    #[test]
    fn a_posted_read_outlives_the_wait_that_was_abandoned_and_its_bytes_are_appended() {
        run(async {
            let (client, server) = pair().await;
            let (mut reader, _w, _) = split(server);
            let (_r, mut peer, _) = split(client);
            reader.post();
            assert!(!reader.has_completed(), "nothing was sent yet");
            // A wait given up (the response arrived first) leaves the read posted.
            let gave_up =
                monoio::time::timeout(std::time::Duration::from_millis(5), reader.completed())
                    .await;
            assert!(gave_up.is_err());
            assert!(reader.is_posted());
            let (res, _) = peer.write_all(&b"next"[..]).await;
            res.expect("write");
            assert!(reader.completed().await, "bytes arrived");
            let (res, buf) = reader.read_append(b"held ".to_vec()).await;
            assert_eq!(res.expect("read"), 4);
            assert_eq!(buf, b"held next");
            assert!(!reader.is_posted());
        });
    }

    #[test]
    fn end_of_stream_completes_a_posted_read_as_not_arrived() {
        run(async {
            let (client, server) = pair().await;
            let (mut reader, _w, _) = split(server);
            reader.post();
            drop(client);
            assert!(!reader.completed().await);
            let (res, buf) = reader.read_append(Vec::with_capacity(8)).await;
            assert_eq!(res.expect("eof"), 0);
            assert!(buf.is_empty());
        });
    }

    #[test]
    fn reader_and_writer_work_over_any_transport() {
        // A second transport through the same code: a Unix stream socket pair.
        run(async {
            let (a, b) = std::os::unix::net::UnixStream::pair().expect("pair");
            let a = UnixStream::from_std(a).expect("register");
            let b = UnixStream::from_std(b).expect("register");
            let (mut reader, _w, fd) = split(a);
            assert!(fd >= 0);
            let (peer_reader, mut peer, _) = split(b);
            reader.post();
            let (res, _) = peer.write_all(&b"over unix"[..]).await;
            res.expect("write");
            assert!(reader.completed().await);
            let (res, buf) = reader.read_append(Vec::new()).await;
            assert_eq!(res.expect("read"), 9);
            assert_eq!(buf, b"over unix");
            drop((peer_reader, peer));
            let (res, _) = reader.read_append(Vec::with_capacity(8)).await;
            assert_eq!(
                res.expect("eof"),
                0,
                "end of stream once the peer's write side is gone"
            );
        });
    }

    #[test]
    fn an_idle_connection_that_receives_bytes_shows_a_completed_read() {
        run(async {
            let (client, server) = pair().await;
            let (mut reader, _w, _) = split(server);
            let (_r, mut peer, _) = split(client);
            reader.post();
            let (res, _) = peer.write_all(&b"stray"[..]).await;
            res.expect("write");
            // Let the ring reap the completion.
            monoio::time::sleep(std::time::Duration::from_millis(5)).await;
            assert!(reader.has_completed());
        });
    }
}
