//! A mock TCP upstream (echo, reply-after-EOF, pattern exchange) and the client half of a pattern
//! exchange, for tcp_proxy tests.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::pattern::{self, PatternVerifier};
use crate::wire::IO_TIMEOUT;

type Handler = dyn Fn(TcpStream) -> Option<PatternVerifier> + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    connections: AtomicUsize,
    verified: Mutex<Vec<PatternVerifier>>,
    open: Mutex<Vec<TcpStream>>,
    is_stopping: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running TCP upstream; stops (closing every connection) when dropped.
pub struct TcpUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TcpUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpUpstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TcpUpstream {
    /// Starts an upstream running `handler` on each accepted connection (on its own thread). A
    /// handler that checks received bytes against the pattern returns its verifier for
    /// [`Self::verified`].
    pub fn start(
        handler: impl Fn(TcpStream) -> Option<PatternVerifier> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TCP upstream");
        let addr = listener.local_addr().expect("TCP upstream address");
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            connections: AtomicUsize::new(0),
            verified: Mutex::new(Vec::new()),
            open: Mutex::new(Vec::new()),
            is_stopping: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("tcp-upstream-{addr}"))
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.is_stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    accept_shared.connections.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
                    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
                    if let Ok(clone) = stream.try_clone() {
                        lock(&accept_shared.open).push(clone);
                    }
                    let shared = Arc::clone(&accept_shared);
                    let _ = thread::Builder::new().spawn(move || {
                        if let Some(verifier) = (shared.handler)(stream) {
                            lock(&shared.verified).push(verifier);
                        }
                    });
                }
            })
            .expect("spawn the TCP upstream's accept thread");
        Self {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// Echoes every byte back; when the client's side ends, finishes and closes its own side.
    pub fn echo() -> Self {
        Self::start(|mut stream| {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 || stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = stream.shutdown(Shutdown::Write);
            None
        })
    }

    /// Says nothing until the client half-closes, then answers `received N bytes: <data>` and
    /// closes: it can only answer if the proxy forwarded the half-close.
    pub fn reply_after_eof() -> Self {
        Self::start(|mut stream| {
            let mut received = Vec::new();
            if stream.read_to_end(&mut received).is_ok() {
                let answer = format!(
                    "received {} bytes: {}",
                    received.len(),
                    String::from_utf8_lossy(&received)
                );
                let _ = stream.write_all(answer.as_bytes());
            }
            let _ = stream.shutdown(Shutdown::Both);
            None
        })
    }

    /// Sends `len` bytes of pattern while checking that it receives `len` bytes of pattern.
    pub fn exchange(len: u64) -> Self {
        Self::start(move |stream| exchange_pattern(&stream, len).ok())
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Verifiers of finished pattern exchanges, in completion order.
    pub fn verified(&self) -> Vec<PatternVerifier> {
        lock(&self.shared.verified).clone()
    }

    /// Waits until `n` pattern exchanges finished, within `timeout`.
    pub fn wait_for_verified(&self, n: usize, timeout: Duration) -> Vec<PatternVerifier> {
        crate::eventually(
            "finished pattern exchanges at the TCP upstream",
            timeout,
            || {
                let done = self.verified();
                (done.len() >= n).then_some(done)
            },
        )
    }
}

impl Drop for TcpUpstream {
    fn drop(&mut self) {
        self.shared.is_stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for stream in lock(&self.shared.open).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Writes `len` bytes of pattern on `stream` (then half-closes) while reading what comes back until
/// the peer closes, checking it against the pattern. Both directions run at once, as a real
/// bidirectional stream would.
pub fn exchange_pattern(stream: &TcpStream, len: u64) -> io::Result<PatternVerifier> {
    let mut writer = stream.try_clone()?;
    let sender =
        thread::Builder::new()
            .name("pattern-writer".into())
            .spawn(move || -> io::Result<()> {
                pattern::write_pattern(&mut writer, len)?;
                writer.shutdown(Shutdown::Write)
            })?;
    let mut reader = stream;
    let mut verifier = PatternVerifier::new();
    let mut buf = vec![0u8; pattern::CHUNK];
    let read_result = loop {
        match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => verifier.update(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    let write_result = sender
        .join()
        .map_err(|_| io::Error::other("pattern writer panicked"))?;
    read_result?;
    write_result?;
    Ok(verifier)
}
