//! The access log writer: per-worker line buffers handed to one logger thread that does the
//! blocking file I/O.
//!
//! ```text
//!  worker 0 ── lines ─► buffer (thread-local) ─┐  full (64 KiB) or on the
//!  worker 1 ── lines ─► buffer (thread-local) ─┤  worker's tick (100 ms)
//!                                              ▼
//!                  bounded channel (BATCHES_MAX batches), try_send
//!                                              ▼
//!                       sluice-access-log thread: write_all to file / stdout / stderr
//! ```
//!
//! A worker never waits on log I/O: when the channel is full the batch is dropped and its lines
//! are counted in `access_log.dropped`. The open files are shared by `Arc` between the batches
//! that name them and the registry the control thread opens them through (at snapshot build,
//! never on a request path), so one path is opened once however often snapshots are rebuilt.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use sluice_config::access_log::Sink as SinkConfig;

use crate::stats::{Kind, Registry, Shard, StatId};

/// A worker hands its buffer over once it holds this much.
pub(super) const FLUSH_BYTES: usize = 64 * 1024;
/// ...or once its oldest line is this old (checked on the worker's 10 ms tick).
pub(super) const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Batches in flight to the logger thread: 256 × 64 KiB bounds the memory at 16 MiB.
const BATCHES_MAX: usize = 256;

/// Where the logger thread writes one sink's lines.
#[derive(Debug)]
pub(super) enum Target {
    File(File),
    Stdout,
    Stderr,
}

/// An opened sink, shared by every logger and batch that writes to it.
#[derive(Debug)]
pub(super) struct SinkHandle {
    /// Small dense id: a worker's buffer index.
    pub(super) id: usize,
    target: Target,
    /// For the one warning on a failed write.
    name: String,
}

enum Msg {
    Batch {
        sink: Arc<SinkHandle>,
        bytes: Vec<u8>,
    },
    /// Write what came before, then exit.
    Stop,
}

/// The process-wide writer: the channel to the logger thread and the registry of open sinks.
struct Writer {
    tx: Sender<Msg>,
    /// Control thread only (snapshot build): sinks by their configuration.
    sinks: Mutex<HashMap<SinkConfig, Arc<SinkHandle>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    dropped: OnceLock<StatId>,
}

static WRITER: OnceLock<Writer> = OnceLock::new();

fn writer() -> &'static Writer {
    WRITER.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::bounded(BATCHES_MAX);
        let thread = std::thread::Builder::new()
            .name("sluice-access-log".into())
            .spawn(move || run(&rx))
            .map_err(|e| log::error!("cannot start the access log thread: {e}"))
            .ok();
        Writer {
            tx,
            sinks: Mutex::new(HashMap::new()),
            thread: Mutex::new(thread),
            dropped: OnceLock::new(),
        }
    })
}

fn run(rx: &Receiver<Msg>) {
    let mut failed: Vec<usize> = Vec::new();
    while let Ok(msg) = rx.recv() {
        let (sink, bytes) = match msg {
            Msg::Batch { sink, bytes } => (sink, bytes),
            Msg::Stop => return,
        };
        let res = match &sink.target {
            Target::File(f) => (&*f).write_all(&bytes),
            Target::Stdout => std::io::stdout().lock().write_all(&bytes),
            Target::Stderr => std::io::stderr().lock().write_all(&bytes),
        };
        if let Err(e) = res
            && !failed.contains(&sink.id)
        {
            failed.push(sink.id);
            log::warn!("access log `{}`: write failed: {e}", sink.name);
        }
    }
}

/// Opens (once per process) the sink a logger writes to, and registers the drop counter.
pub(super) fn open(sink: &SinkConfig, registry: &mut Registry) -> Result<Arc<SinkHandle>, String> {
    let w = writer();
    if w.dropped.get().is_none() {
        let id = registry
            .id("access_log.dropped", Kind::Counter)
            .map_err(|e| e.to_string())?;
        let _ = w.dropped.set(id);
    }
    let mut sinks = w
        .sinks
        .lock()
        .map_err(|_| "the access log registry is poisoned".to_owned())?;
    if let Some(h) = sinks.get(sink) {
        return Ok(Arc::clone(h));
    }
    let (target, name) = match sink {
        SinkConfig::File(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("access log `{path}`: cannot open: {e}"))?;
            (Target::File(f), path.clone())
        }
        SinkConfig::Stdout => (Target::Stdout, "stdout".to_owned()),
        SinkConfig::Stderr => (Target::Stderr, "stderr".to_owned()),
    };
    let handle = Arc::new(SinkHandle {
        id: sinks.len(),
        target,
        name,
    });
    sinks.insert(sink.clone(), Arc::clone(&handle));
    Ok(handle)
}

/// Writes everything handed over so far and stops the logger thread. Called once the
/// workers have exited (their buffers are handed over as their threads end).
pub fn shutdown() {
    let Some(w) = WRITER.get() else {
        return;
    };
    flush_thread(None);
    let _ = w.tx.send(Msg::Stop);
    let handle = w.thread.lock().ok().and_then(|mut t| t.take());
    if let Some(h) = handle {
        let _ = h.join();
    }
}

// === per-worker buffers ===

/// One sink's pending lines on one thread: the sink, the bytes and how many lines they hold.
type Pending = Option<(Arc<SinkHandle>, Vec<u8>, usize)>;

/// One thread's pending lines, by sink id.
#[derive(Default)]
struct Buffers {
    pending: Vec<Pending>,
    /// When the oldest pending line was written.
    oldest: Option<Instant>,
}

impl Drop for Buffers {
    fn drop(&mut self) {
        // The thread is ending (a worker exits after its drain): hand over what is left,
        // waiting if need be, since nothing else is served from here any more.
        if let Some(w) = WRITER.get() {
            for (sink, bytes, _) in self.pending.iter_mut().filter_map(Option::take) {
                if !bytes.is_empty() {
                    let _ = w.tx.send(Msg::Batch { sink, bytes });
                }
            }
        }
    }
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// Runs `write` to append one line to this thread's buffer for `sink`, handing the buffer to
/// the logger thread when it passes [`FLUSH_BYTES`].
pub(super) fn append(
    sink: &Arc<SinkHandle>,
    shard: Option<&Shard>,
    write: impl FnOnce(&mut Vec<u8>),
) {
    BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        if b.pending.len() <= sink.id {
            b.pending.resize_with(sink.id + 1, || None);
        }
        if b.oldest.is_none() {
            b.oldest = Some(Instant::now());
        }
        let Some(slot) = b.pending.get_mut(sink.id) else {
            return;
        };
        let (_, bytes, lines) = slot
            .get_or_insert_with(|| (Arc::clone(sink), Vec::with_capacity(FLUSH_BYTES + 1024), 0));
        write(bytes);
        *lines += 1;
        if bytes.len() >= FLUSH_BYTES {
            hand_over(slot, shard);
        }
    });
}

/// Hands one buffer to the logger thread without waiting; a full channel drops it.
fn hand_over(slot: &mut Pending, shard: Option<&Shard>) {
    let Some((sink, bytes, lines)) = slot.as_mut() else {
        return;
    };
    if bytes.is_empty() {
        return;
    }
    let Some(w) = WRITER.get() else {
        return;
    };
    let full = std::mem::replace(bytes, Vec::with_capacity(FLUSH_BYTES + 1024));
    let count = std::mem::take(lines);
    let batch = Msg::Batch {
        sink: Arc::clone(sink),
        bytes: full,
    };
    match w.tx.try_send(batch) {
        Ok(()) => {}
        Err(TrySendError::Full(Msg::Batch { bytes: back, .. })) => {
            // Keep the allocation; the lines are lost and counted.
            *bytes = back;
            bytes.clear();
            if let (Some(shard), Some(id)) = (shard, w.dropped.get()) {
                shard.add(*id, count as u64);
            }
        }
        Err(_) => {}
    }
}

/// The worker's periodic flush: hands over every buffer whose oldest line is older than
/// [`FLUSH_INTERVAL`]. Cheap when nothing is pending (one thread-local read).
pub fn tick(shard: &Shard, now: Instant) {
    BUFFERS.with(|b| {
        let Ok(mut b) = b.try_borrow_mut() else {
            return;
        };
        match b.oldest {
            Some(t) if now.saturating_duration_since(t) >= FLUSH_INTERVAL => {}
            _ => return,
        }
        for slot in &mut b.pending {
            hand_over(slot, Some(shard));
        }
        b.oldest = None;
    });
}

/// Hands over this thread's buffers now, whatever their age.
pub(super) fn flush_thread(shard: Option<&Shard>) {
    BUFFERS.with(|b| {
        let Ok(mut b) = b.try_borrow_mut() else {
            return;
        };
        for slot in &mut b.pending {
            hand_over(slot, shard);
        }
        b.oldest = None;
    });
}
