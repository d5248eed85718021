//! A worker thread: one CPU, one monoio runtime, its own listening sockets, pools, load
//! balancer cursors and stats shard. It reads the control thread's snapshots and never
//! shares mutable state with another worker.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};

use super::drain::Drain;
use super::snapshot::{ListenerKind, Snapshot};
use crate::stats::Shard;
use crate::upstream::lb::{PickContext, WorkerLb};
use crate::upstream::pool::Pool;

/// A message from the control thread.
#[derive(Debug)]
pub enum ToWorker {
    /// Serve from this snapshot from the next request on.
    Snapshot(Arc<Snapshot>),
    /// Stop accepting, finish in-flight requests, exit by the deadline.
    Drain {
        /// When to give up on in-flight work.
        deadline: Instant,
    },
}

/// How often a worker looks for control messages. Snapshots and drain orders arrive within
/// this delay; the check is one `try_recv` on an empty channel.
const CONTROL_POLL: Duration = Duration::from_millis(10);

/// State owned by one worker thread, shared by its tasks through `Rc`.
#[derive(Debug)]
pub struct Worker {
    /// Index of this worker (0-based).
    pub index: usize,
    /// This worker's stats shard.
    pub shard: Arc<Shard>,
    /// The current snapshot. Requests clone the `Rc` (a plain increment on this core) rather
    /// than the `Arc`, whose counter every worker shares.
    #[allow(clippy::redundant_allocation)]
    snapshot: RefCell<Rc<Arc<Snapshot>>>,
    lbs: RefCell<Vec<WorkerLb>>,
    /// Idle upstream connections of this worker.
    pub pool: RefCell<Pool>,
    /// Set when the process drains.
    pub drain: Rc<Drain>,
    active_connections: Cell<usize>,
    /// Accept loops still running; a drained worker exits only once they have closed their
    /// sockets (a socket dropped with the runtime would stay open until the process exits).
    accept_loops: Cell<usize>,
    rng: Cell<u64>,
    date: RefCell<crate::http::h1::DateCache>,
    /// Unix seconds, refreshed on every control tick (10 ms): the `date` header needs no
    /// finer clock, and reading it here spares a clock read per response.
    unix_secs: Cell<u64>,
    /// Upstream results of clusters with outlier detection, for the control thread.
    pub outliers: crate::upstream::outlier::Reports,
    /// Buffers lent to requests in flight (see `crate::http::conn_manager::Scratch`).
    pub scratch: RefCell<Vec<crate::http::conn_manager::Scratch>>,
    /// Requests waiting for an upstream connection, and this worker's connection pools,
    /// for the circuit breakers.
    pub breakers: Rc<crate::upstream::breaker::WorkerBreakers>,
}

impl Worker {
    fn new(
        index: usize,
        shard: Arc<Shard>,
        snapshot: Arc<Snapshot>,
        outlier_tx: Option<crate::upstream::outlier::ReportSender>,
    ) -> Self {
        let empty = Arc::new(Snapshot {
            generation: 0,
            listeners: Vec::new(),
            clusters: Vec::new(),
            worker_generation: Vec::new(),
            runtime: Arc::default(),
            cluster_names: std::collections::HashMap::new(),
        });
        let w = Worker {
            index,
            shard,
            snapshot: RefCell::new(Rc::new(empty)),
            lbs: RefCell::new(Vec::new()),
            pool: RefCell::new(Pool::default()),
            drain: Rc::new(Drain::default()),
            active_connections: Cell::new(0),
            accept_loops: Cell::new(0),
            date: RefCell::new(crate::http::h1::DateCache::new()),
            unix_secs: Cell::new(unix_now()),
            outliers: crate::upstream::outlier::Reports::new(outlier_tx),
            scratch: RefCell::new(Vec::new()),
            breakers: Rc::default(),
            // A per-worker seed: distinct streams per worker, no shared RNG.
            rng: Cell::new(
                0x9E37_79B9_7F4A_7C15 ^ ((index as u64 + 1) << 32) ^ u64::from(std::process::id()),
            ),
        };
        w.install(snapshot);
        w
    }

    /// The snapshot to serve the next request from. Cloning the `Rc` is a plain increment.
    #[allow(clippy::redundant_allocation)]
    pub fn snapshot(&self) -> Rc<Arc<Snapshot>> {
        Rc::clone(&self.snapshot.borrow())
    }

    fn install(&self, snapshot: Arc<Snapshot>) {
        let previous = Rc::clone(&self.snapshot.borrow());
        let mut lbs = self.lbs.borrow_mut();
        let mut old: Vec<Option<WorkerLb>> =
            std::mem::take(&mut *lbs).into_iter().map(Some).collect();
        for cluster in &snapshot.clusters {
            // A cluster that existed before keeps its picker (cursors, schedulers, RNG), updated
            // to the new shared structure; a new one gets a fresh, distinctly seeded picker.
            let carried = previous
                .clusters
                .iter()
                .position(|c| c.name == cluster.name)
                .and_then(|i| old.get_mut(i).and_then(Option::take));
            let picker = match carried {
                Some(mut lb) => {
                    if !Arc::ptr_eq(lb.shared(), &cluster.lb) {
                        lb.update(Arc::clone(&cluster.lb));
                    }
                    lb
                }
                None => WorkerLb::new(Arc::clone(&cluster.lb), self.next_random(), self.index),
            };
            lbs.push(picker);
        }
        // Idle upstream connections to hosts (or clusters) that left the snapshot close now.
        let live: std::collections::HashSet<(crate::stats::StatId, SocketAddr)> = snapshot
            .clusters
            .iter()
            .flat_map(|c| {
                c.hosts
                    .iter()
                    .map(|h| (c.stats.upstream_cx_total, h.address))
            })
            .collect();
        self.pool
            .borrow_mut()
            .retain(|key| live.contains(&(key.cluster, key.address)));
        if let Some(id) = snapshot.worker_generation.get(self.index) {
            self.shard.set(*id, snapshot.generation);
        }
        *self.snapshot.borrow_mut() = Rc::new(snapshot);
    }

    /// Returns a reusable upstream connection to the idle pool, and wakes a request of its
    /// cluster waiting for a connection, if any.
    pub fn pool_put(
        &self,
        conn: crate::upstream::Connection,
        limits: crate::upstream::pool::ReuseLimits,
        now: Instant,
    ) {
        let cluster = conn.key.cluster;
        self.pool.borrow_mut().put(conn, limits, now);
        if self.breakers.has_waiters() {
            self.breakers.wake_one(cluster);
        }
    }

    /// The circuit breakers' part of the tick: requests waiting for a connection try again
    /// (budget may have come back on another worker), and idle connections of a cluster
    /// whose requests wait on other workers give their budget back, one per waiting
    /// request (this worker's own waiters take its idle connections themselves).
    fn breaker_tick(&self) {
        let has_waiters = self.breakers.has_waiters();
        if has_waiters {
            self.breakers.wake_all();
        }
        let snapshot = self.snapshot();
        for c in &snapshot.clusters {
            let mut waiting = c
                .breakers
                .waiting
                .load(std::sync::atomic::Ordering::Relaxed);
            if waiting == 0 {
                continue;
            }
            let cluster = c.stats.upstream_cx_total;
            if has_waiters {
                waiting = waiting.saturating_sub(self.breakers.waiters_of(cluster));
            }
            let mut pool = self.pool.borrow_mut();
            for _ in 0..waiting {
                let closed = sluice_lb::breaker::Priority::ALL
                    .into_iter()
                    .any(|p| pool.close_one_idle(cluster, p));
                if !closed {
                    break;
                }
            }
        }
    }

    /// Picks a host of cluster `cluster` in the current snapshot.
    pub fn pick(&self, cluster: usize, ctx: &PickContext<'_>, now: Instant) -> Option<usize> {
        let mut lbs = self.lbs.borrow_mut();
        let lb = lbs.get_mut(cluster)?;
        let id = lb.pick(ctx, now);
        if lb.last_pick_in_panic()
            && let Some(c) = self.snapshot.borrow().clusters.get(cluster)
        {
            // Envoy's `lb_healthy_panic`: every pick made in a priority level in panic.
            self.shard.inc(c.stats.lb_healthy_panic);
        }
        usize::try_from(id?).ok()
    }

    /// The `date` header value, formatted once per second per worker.
    pub fn http_date(&self) -> [u8; 29] {
        *self.date.borrow_mut().get(self.unix_secs.get())
    }

    /// A fast per-worker pseudo-random number (xorshift64*), for request ids and random picks.
    pub fn next_random(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Counts a connection as open until the returned guard is dropped.
    pub fn track_connection(self: &Rc<Self>) -> ConnectionGuard {
        self.active_connections
            .set(self.active_connections.get() + 1);
        ConnectionGuard {
            worker: Rc::clone(self),
        }
    }
}

/// Keeps a connection counted as active in its worker.
#[derive(Debug)]
pub struct ConnectionGuard {
    worker: Rc<Worker>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let w = &self.worker;
        w.active_connections
            .set(w.active_connections.get().saturating_sub(1));
    }
}

/// What a worker needs to start.
#[derive(Debug)]
pub struct Start {
    /// Worker index.
    pub index: usize,
    /// Stats shard.
    pub shard: Arc<Shard>,
    /// Initial snapshot.
    pub snapshot: Arc<Snapshot>,
    /// Listening sockets, one per snapshot listener, already bound with SO_REUSEPORT.
    pub listeners: Vec<std::net::TcpListener>,
    /// Control messages.
    pub control: Receiver<ToWorker>,
    /// Where outlier reports go.
    pub outlier_tx: crate::upstream::outlier::ReportSender,
}

/// Runs a worker to completion on the current thread's monoio runtime.
pub async fn run(start: Start) {
    let Start {
        index,
        shard,
        snapshot,
        listeners,
        control,
        outlier_tx,
    } = start;
    let worker = Rc::new(Worker::new(index, shard, snapshot, Some(outlier_tx)));
    for (listener_index, std_listener) in listeners.into_iter().enumerate() {
        let listener = match monoio::net::TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                log::error!("worker {index}: cannot register listener socket: {e}");
                continue;
            }
        };
        worker.accept_loops.set(worker.accept_loops.get() + 1);
        monoio::spawn(accept_loop(Rc::clone(&worker), listener_index, listener));
    }
    let mut deadline: Option<Instant> = None;
    loop {
        monoio::time::sleep(CONTROL_POLL).await;
        worker.unix_secs.set(unix_now());
        worker.outliers.flush();
        crate::access_log::tick(&worker.shard, Instant::now());
        worker.breaker_tick();
        loop {
            match control.try_recv() {
                Ok(ToWorker::Snapshot(s)) => worker.install(s),
                Ok(ToWorker::Drain { deadline: d }) => {
                    deadline = Some(d);
                    worker.drain.start();
                    // Idle upstream connections are of no further use.
                    worker.pool.borrow_mut().clear();
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    deadline.get_or_insert_with(Instant::now);
                    worker.drain.start();
                    break;
                }
            }
        }
        if let Some(d) = deadline
            && ((worker.active_connections.get() == 0 && worker.accept_loops.get() == 0)
                || Instant::now() >= d)
        {
            return;
        }
    }
}

async fn accept_loop(
    worker: Rc<Worker>,
    listener_index: usize,
    listener: monoio::net::TcpListener,
) {
    let mut drained = std::pin::pin!(worker.drain.wait());
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            () = &mut drained => {
                use std::os::fd::AsRawFd as _;
                if let Err(e) = crate::sys::stop_listening(listener.as_raw_fd()) {
                    log::warn!("worker {}: cannot stop listening: {e}", worker.index);
                }
                drop(listener);
                worker.accept_loops.set(worker.accept_loops.get() - 1);
                return;
            }
        };
        let (stream, peer): (monoio::net::TcpStream, SocketAddr) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off briefly rather than spin.
                log::warn!("worker {}: accept failed: {e}", worker.index);
                monoio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Small request/response exchanges must not wait for Nagle (Envoy sets it on every
        // accepted connection too).
        let _ = stream.set_nodelay(true);
        // The task keeps the snapshot of its accept by `Rc` (a non-atomic count): no shared
        // `Arc` counter is touched per connection.
        let snapshot = worker.snapshot();
        if snapshot.listeners.get(listener_index).is_none() {
            continue;
        }
        let guard = worker.track_connection();
        let w = Rc::clone(&worker);
        monoio::spawn(async move {
            let Some(listener) = snapshot.listeners.get(listener_index) else {
                return;
            };
            w.shard.inc(listener.stats.downstream_cx_total);
            w.shard.inc(listener.stats.downstream_cx_active);
            match &listener.kind {
                ListenerKind::Http(hcm) => {
                    crate::http::conn_manager::serve(&w, hcm, listener_index, stream, peer).await;
                }
                ListenerKind::Tcp(tcp) => {
                    crate::tcp_proxy::serve(&w, &snapshot, tcp, stream).await;
                }
            }
            w.shard.dec(listener.stats.downstream_cx_active);
            w.shard.inc(listener.stats.downstream_cx_destroy);
            drop(guard);
        });
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
