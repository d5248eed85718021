//! `sluice-upstream`: the fixed-response upstream every proxy is compared against in
//! `scripts/bench.sh`. One monoio io_uring runtime per thread, each with its own SO_REUSEPORT
//! listener; keep-alive and pipelining-safe; request bodies are read and discarded.
//!
//! It must cost as little as possible per request, because the load generator and this server share
//! one core in the bench layout: no allocation per request, responses are shared `Bytes`.

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::rc::Rc;
use std::thread;

use anyhow::{Context, bail};
use bytes::Bytes;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use sluice_bench::args::{Mode, Options, USAGE};
use sluice_bench::http1::{CONTINUE, Decoder, Event, Responses};
use socket2::{Domain, Protocol, Socket, Type};

/// Listen backlog: the bench opens up to a few hundred connections at once (and one per request in
/// the new-connection scenario), so leave room.
const BACKLOG: i32 = 4096;

/// Responses gathered for one read are written early once they reach this size, so a client that
/// pipelines many requests for 64 KiB bodies cannot make the server buffer megabytes.
const OUTPUT_FLUSH_BYTES: usize = 256 * 1024;

fn main() -> anyhow::Result<()> {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            eprint!("{USAGE}");
            return Ok(());
        }
        Err(message) => bail!(message),
    };
    // Bind every socket before spawning, so a port clash fails the process at once and the script
    // can poll for readiness knowing all workers are listening.
    // Port 0 picks a free port for the first socket; the others join it.
    let first = bind(options.listen)?;
    let listen = first.local_addr().context("reading the bound address")?;
    let mut listeners = vec![first];
    for _ in 1..options.threads {
        listeners.push(bind(listen)?);
    }
    let responses = Responses::new(options.body_bytes);
    let mut workers = Vec::with_capacity(options.threads);
    for (index, listener) in listeners.into_iter().enumerate() {
        let options = options.clone();
        let responses = responses.clone();
        let worker = thread::Builder::new()
            .name(format!("upstream-{index}"))
            .spawn(move || run_worker(&options, listener, responses))
            .context("spawning worker thread")?;
        workers.push(worker);
    }
    eprintln!(
        "sluice-upstream: {:?} on {} with {} thread(s), body {} bytes, io_uring{}",
        options.mode,
        listen,
        options.threads,
        options.body_bytes,
        if options.is_coop_taskrun {
            " (COOP_TASKRUN + TASKRUN_FLAG)"
        } else {
            ""
        },
    );
    for worker in workers {
        match worker.join() {
            Ok(result) => result?,
            Err(_) => bail!("worker thread panicked"),
        }
    }
    Ok(())
}

/// One listening socket with SO_REUSEPORT so every thread accepts on its own queue.
fn bind(addr: SocketAddr) -> anyhow::Result<StdListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    // Accepted sockets inherit TCP_NODELAY on Linux; small responses must not wait for Nagle.
    socket.set_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .with_context(|| format!("binding {addr}"))?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

fn run_worker(
    options: &Options,
    listener: StdListener,
    responses: Responses,
) -> anyhow::Result<()> {
    let mut ring = io_uring::IoUring::builder();
    if options.is_coop_taskrun {
        // Measured fastest on this kernel (DESIGN.md §7): no IPI to run task work, and a flag in
        // the SQ ring tells the runtime when task work is pending.
        ring.setup_coop_taskrun().setup_taskrun_flag();
    }
    let mut runtime = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(options.ring_entries)
        .uring_builder(ring)
        .build()
        .context(
            "creating the io_uring runtime (is RLIMIT_MEMLOCK too small for --ring-entries?)",
        )?;
    let options = options.clone();
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener).context("registering listener")?;
        let responses = Rc::new(responses);
        let source = Bytes::from(vec![b'x'; options.body_bytes]);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    // EMFILE and friends: keep serving the connections we have.
                    eprintln!("sluice-upstream: accept: {error}");
                    continue;
                }
            };
            let read_buffer_bytes = options.read_buffer_bytes;
            match options.mode {
                Mode::Http => {
                    let responses = Rc::clone(&responses);
                    monoio::spawn(async move {
                        report(serve_http(stream, &responses, read_buffer_bytes).await);
                    });
                }
                Mode::Echo => {
                    monoio::spawn(
                        async move { report(serve_echo(stream, read_buffer_bytes).await) },
                    );
                }
                Mode::Sink => {
                    monoio::spawn(
                        async move { report(serve_sink(stream, read_buffer_bytes).await) },
                    );
                }
                Mode::Source => {
                    let source = source.clone();
                    monoio::spawn(async move { report(serve_source(stream, source).await) });
                }
            }
        }
    })
}

/// Connection errors a load generator causes by closing sockets mid-flight are not worth a line.
fn report(result: io::Result<()>) {
    if let Err(error) = result {
        match error.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => {}
            _ => eprintln!("sluice-upstream: connection: {error}"),
        }
    }
}

/// Answers every request on the connection, in order. All complete requests in one read are
/// answered with one write, which is what makes pipelining cheap.
async fn serve_http(
    mut stream: TcpStream,
    responses: &Responses,
    read_buffer_bytes: usize,
) -> io::Result<()> {
    let mut input: Vec<u8> = Vec::with_capacity(read_buffer_bytes);
    let mut output: Vec<u8> = Vec::new();
    let mut decoder = Decoder::new();
    loop {
        // Read into the spare capacity, after the bytes of an unfinished head (a plain Vec would be
        // filled from its start). A full buffer never gets here: it is drained, or the head is too large.
        let kept = input.len();
        debug_assert!(
            kept < input.capacity(),
            "a full read buffer is an error, not a read"
        );
        let (result, buf) = stream.read(input.slice_mut(kept..)).await;
        input = buf.into_inner();
        if result? == 0 {
            return Ok(());
        }
        let mut pending = Pending::default();
        let mut is_closing = false;
        let mut pos = 0;
        loop {
            let is_buffer_full = pos == 0 && input.len() == input.capacity();
            match decoder.decode(&input[pos..], is_buffer_full) {
                Ok((consumed, Event::NeedMore)) => {
                    pos += consumed;
                    if consumed == 0 || pos == input.len() {
                        break;
                    }
                }
                Ok((consumed, Event::Continue)) => {
                    pos += consumed;
                    pending.push(&mut output, Bytes::from_static(CONTINUE));
                }
                Ok((consumed, Event::Complete(request))) => {
                    pos += consumed;
                    pending.push(&mut output, responses.for_request(&request));
                    if !request.is_keep_alive {
                        is_closing = true;
                        break;
                    }
                    if output.len() >= OUTPUT_FLUSH_BYTES {
                        output = std::mem::take(&mut pending)
                            .flush(&mut stream, output)
                            .await?;
                    }
                }
                Err(error) => {
                    pending.push(&mut output, Bytes::from_static(error.response()));
                    is_closing = true;
                    break;
                }
            }
        }
        // Keep an unfinished head at the front of the buffer for the next read.
        input.drain(..pos);
        debug_assert!(
            input.is_empty() || decoder.is_idle() || is_closing,
            "body bytes are never kept"
        );
        output = pending.flush(&mut stream, output).await?;
        if is_closing {
            return Ok(());
        }
    }
}

/// Responses waiting to be written. One response goes out as the shared buffer itself (no copy,
/// which matters for 64 KiB bodies); several are gathered into the connection's output buffer.
#[derive(Default)]
struct Pending {
    single: Option<Bytes>,
}

impl Pending {
    fn push(&mut self, output: &mut Vec<u8>, response: Bytes) {
        if output.is_empty() && self.single.is_none() {
            self.single = Some(response);
            return;
        }
        if let Some(first) = self.single.take() {
            output.extend_from_slice(&first);
        }
        output.extend_from_slice(&response);
    }

    /// Writes what is pending; gives the (emptied) output buffer back.
    async fn flush(self, stream: &mut TcpStream, output: Vec<u8>) -> io::Result<Vec<u8>> {
        if let Some(single) = self.single {
            debug_assert!(output.is_empty(), "a single response is never also copied");
            let (result, _) = stream.write_all(single).await;
            result?;
            return Ok(output);
        }
        if output.is_empty() {
            return Ok(output);
        }
        let (result, mut output) = stream.write_all(output).await;
        result?;
        output.clear();
        Ok(output)
    }
}

async fn serve_echo(mut stream: TcpStream, read_buffer_bytes: usize) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(read_buffer_bytes);
    loop {
        let (result, read) = stream.read(buf).await;
        if result? == 0 {
            return Ok(());
        }
        let (result, mut written) = stream.write_all(read).await;
        result?;
        written.clear();
        buf = written;
    }
}

async fn serve_sink(mut stream: TcpStream, read_buffer_bytes: usize) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(read_buffer_bytes);
    loop {
        let (result, mut read) = stream.read(buf).await;
        if result? == 0 {
            return Ok(());
        }
        read.clear();
        buf = read;
    }
}

async fn serve_source(mut stream: TcpStream, source: Bytes) -> io::Result<()> {
    loop {
        let (result, _) = stream.write_all(source.clone()).await;
        result?;
    }
}
