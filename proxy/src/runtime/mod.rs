//! Process start-up and shutdown: binds listeners, starts the workers and the control
//! thread, then waits for signals on the main thread and drains on SIGTERM.
//!
//! ```text
//!  main thread ── binds sockets, starts threads, sigwait(): SIGTERM/SIGINT -> drain
//!  control thread (tokio current-thread) ── admin, cluster state, snapshot publication
//!  worker 0..N (monoio, pinned) ── accept, HTTP/TCP proxying, pools, LB cursors, stats shard
//! ```

pub mod control;
pub mod drain;
pub mod snapshot;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use crossbeam_channel::Sender;
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

use crate::stats::Kind;
use control::Control;
use worker::ToWorker;

/// io_uring setup flags Sluice knows how to request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingFlag {
    /// `IORING_SETUP_COOP_TASKRUN`: no IPI to interrupt the task for completions.
    CoopTaskrun,
    /// `IORING_SETUP_TASKRUN_FLAG`: flag pending task work in the SQ ring.
    TaskrunFlag,
    /// `IORING_SETUP_SINGLE_ISSUER`: one thread submits.
    SingleIssuer,
    /// `IORING_SETUP_DEFER_TASKRUN`: run task work only on io_uring_enter (needs SINGLE_ISSUER).
    DeferTaskrun,
}

impl RingFlag {
    /// Parses the flag's name as written on the command line.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "coop_taskrun" => Some(Self::CoopTaskrun),
            "taskrun_flag" => Some(Self::TaskrunFlag),
            "single_issuer" => Some(Self::SingleIssuer),
            "defer_taskrun" => Some(Self::DeferTaskrun),
            _ => None,
        }
    }

    /// The flag's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::CoopTaskrun => "coop_taskrun",
            Self::TaskrunFlag => "taskrun_flag",
            Self::SingleIssuer => "single_issuer",
            Self::DeferTaskrun => "defer_taskrun",
        }
    }
}

/// How each worker's io_uring is set up.
#[derive(Debug, Clone)]
pub struct RingConfig {
    /// Submission queue entries.
    pub entries: u32,
    /// Setup flags.
    pub flags: Vec<RingFlag>,
    /// Whether a worker may run on the legacy epoll driver when its ring cannot be created.
    pub allow_legacy: bool,
}

impl Default for RingConfig {
    /// COOP_TASKRUN with TASKRUN_FLAG measured fastest on this project's machines (DESIGN §7).
    fn default() -> Self {
        Self {
            entries: 1024,
            flags: vec![RingFlag::CoopTaskrun, RingFlag::TaskrunFlag],
            allow_legacy: false,
        }
    }
}

impl RingConfig {
    fn builder(&self) -> io_uring::Builder {
        let mut b = io_uring::IoUring::builder();
        for f in &self.flags {
            match f {
                RingFlag::CoopTaskrun => {
                    b.setup_coop_taskrun();
                }
                RingFlag::TaskrunFlag => {
                    b.setup_taskrun_flag();
                }
                RingFlag::SingleIssuer => {
                    b.setup_single_issuer();
                }
                RingFlag::DeferTaskrun => {
                    b.setup_defer_taskrun();
                }
            }
        }
        b
    }
}

/// Process-wide options from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Number of workers.
    pub concurrency: usize,
    /// `--drain-time-s`.
    pub drain_time: Duration,
    /// io_uring setup.
    pub ring: RingConfig,
    /// Whether workers are pinned to CPUs.
    pub pin_workers: bool,
}

/// Which driver a worker ended up on, as `/server_info` shows it.
#[derive(Debug, Clone)]
pub struct WorkerInfo {
    /// Worker index.
    pub index: usize,
    /// CPU it is pinned to, if any.
    pub cpu: Option<usize>,
    /// `io_uring` or `legacy`.
    pub driver: &'static str,
    /// Ring entries when on io_uring.
    pub ring_entries: u32,
    /// Setup flags when on io_uring.
    pub ring_flags: Vec<&'static str>,
    /// Why the ring could not be created, when on legacy.
    pub fallback_reason: Option<String>,
}

/// Runs the proxy until it is told to stop. Returns the process exit code.
pub fn run(loaded: sluice_config::Loaded, origin: String, opts: Options) -> anyhow::Result<i32> {
    crate::sys::block_handled_signals().context("blocking signals")?;
    let started = std::time::SystemTime::now();
    let mut control = Control::new(loaded, origin, opts.clone(), started)?;

    // Bind every listener once per worker with SO_REUSEPORT, here, so that a bind error stops
    // start-up with the listener's name and position rather than inside a worker.
    let mut per_worker: Vec<Vec<std::net::TcpListener>> =
        (0..opts.concurrency).map(|_| Vec::new()).collect();
    let listener_configs = control.bootstrap.listeners.clone();
    for l in &listener_configs {
        let mut addr = l.address;
        for sockets in &mut per_worker {
            let s = crate::listener::bind(addr).map_err(|e| {
                anyhow!(
                    "{}:{}:{}: listener `{}`: cannot listen on {addr}: {e}",
                    control.origin,
                    l.loc.line,
                    l.loc.column,
                    l.name
                )
            })?;
            // Port 0 asks for any port: every worker must then share the one the first got.
            addr = s.local_addr().unwrap_or(addr);
            sockets.push(s);
        }
        control.bound_listener(&l.name, addr);
    }
    let admin_listener = match &control.bootstrap.admin {
        Some(admin) => Some(crate::listener::bind_plain(admin.address).map_err(|e| {
            anyhow!(
                "{}:{}:{}: admin: cannot listen on {}: {e}",
                control.origin,
                admin.loc.line,
                admin.loc.column,
                admin.address
            )
        })?),
        None => None,
    };

    let cores = if opts.pin_workers {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let (report_tx, report_rx) = mpsc::channel::<(usize, Result<WorkerInfo, String>)>();
    let mut senders: Vec<Sender<ToWorker>> = Vec::new();
    let mut handles = Vec::new();
    for (index, listeners) in per_worker.into_iter().enumerate() {
        // Bounded: at most a handful of snapshots can be pending; the control thread never
        // blocks on a slow worker (it drops to `try_send` and retries on the next change).
        let (tx, rx) = crossbeam_channel::bounded(64);
        senders.push(tx);
        let start = worker::Start {
            index,
            shard: control.registry.worker_shard(index),
            snapshot: Arc::clone(&control.snapshot),
            listeners,
            control: rx,
            outlier_tx: control.outlier_tx.clone(),
        };
        let core = (!cores.is_empty()).then(|| cores[index % cores.len()]);
        let ring = opts.ring.clone();
        let report = report_tx.clone();
        let handle = thread::Builder::new()
            .name(format!("sluice-worker-{index}"))
            .spawn(move || worker_thread(start, core, &ring, &report))
            .context("spawning a worker thread")?;
        handles.push(handle);
    }
    drop(report_tx);
    let mut infos: Vec<Option<WorkerInfo>> = vec![None; opts.concurrency];
    let mut failures = Vec::new();
    for _ in 0..opts.concurrency {
        match report_rx.recv() {
            Ok((i, Ok(info))) => infos[i] = Some(info),
            Ok((i, Err(e))) => failures.push(format!("worker {i}: {e}")),
            Err(_) => break,
        }
    }
    if !failures.is_empty() {
        drop(senders);
        for h in handles {
            let _ = h.join();
        }
        bail!("{}", failures.join("\n"));
    }
    let infos: Vec<WorkerInfo> = infos.into_iter().flatten().collect();
    for info in &infos {
        let id = control.registry.id(
            &format!("server.worker_{}.io_uring", info.index),
            Kind::Gauge,
        )?;
        control
            .registry
            .control_shard()
            .set(id, u64::from(info.driver == "io_uring"));
        log::info!(
            "worker {} on cpu {:?}: {} driver{}",
            info.index,
            info.cpu,
            info.driver,
            if info.driver == "io_uring" {
                format!(
                    " ({} entries, flags {})",
                    info.ring_entries,
                    info.ring_flags.join(",")
                )
            } else {
                String::new()
            }
        );
    }
    control.set_workers(infos, senders.clone());
    let is_draining = Arc::new(AtomicBool::new(false));
    control.is_draining = Arc::clone(&is_draining);
    for l in &control.bootstrap.listeners {
        log::info!(
            "listener `{}` on {}",
            l.name,
            control.bound_address(&l.name).unwrap_or(l.address)
        );
    }
    if let Some(a) = &admin_listener {
        log::info!(
            "admin on {}",
            a.local_addr()
                .map_or_else(|_| "?".into(), |a: SocketAddr| a.to_string())
        );
    }
    let control_thread = thread::Builder::new()
        .name("sluice-control".into())
        .spawn(move || control::run(control, admin_listener))
        .context("spawning the control thread")?;

    // The main thread only waits for signals from here on.
    loop {
        match crate::sys::wait() {
            Ok(sig) if sig == libc::SIGHUP => {
                log::warn!("SIGHUP: configuration reload is not supported yet; nothing changed");
            }
            Ok(_) | Err(_) => break,
        }
    }
    log::info!(
        "shutting down: draining for up to {} s",
        opts.drain_time.as_secs_f64()
    );
    is_draining.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + opts.drain_time;
    for tx in &senders {
        let _ = tx.send(ToWorker::Drain { deadline });
    }
    for h in handles {
        let _ = h.join();
    }
    crate::access_log::shutdown();
    // The control thread holds no request state; the process exits with it still running.
    drop(control_thread);
    log::info!("drained; exiting");
    Ok(0)
}

fn worker_thread(
    start: worker::Start,
    core: Option<core_affinity::CoreId>,
    ring: &RingConfig,
    report: &mpsc::Sender<(usize, Result<WorkerInfo, String>)>,
) {
    let index = start.index;
    let cpu = core.and_then(|c| core_affinity::set_for_current(c).then_some(c.id));
    let mut info = WorkerInfo {
        index,
        cpu,
        driver: "io_uring",
        ring_entries: ring.entries,
        ring_flags: ring.flags.iter().map(|f| f.name()).collect(),
        fallback_reason: None,
    };
    let uring = RuntimeBuilder::<IoUringDriver>::new()
        .with_entries(ring.entries)
        .uring_builder(ring.builder())
        .enable_timer()
        .build();
    match uring {
        Ok(mut rt) => {
            let _ = report.send((index, Ok(info)));
            rt.block_on(worker::run(start));
        }
        Err(e) => {
            let memlock = crate::sys::memlock_limit()
                .map_or_else(|| "unlimited".to_owned(), |b| format!("{} KiB", b / 1024));
            let reason = format!(
                "cannot create an io_uring with {} entries: {e} (RLIMIT_MEMLOCK {memlock})",
                ring.entries
            );
            if !ring.allow_legacy {
                let _ = report.send((
                    index,
                    Err(format!(
                        "{reason}; refusing to run on the legacy epoll driver without \
                         --allow-legacy-driver (or raise the memlock limit, or lower \
                         --io-uring-entries)"
                    )),
                ));
                return;
            }
            log::error!("worker {index}: {reason}; FALLING BACK to the legacy epoll driver");
            match RuntimeBuilder::<LegacyDriver>::new().enable_timer().build() {
                Ok(mut rt) => {
                    info.driver = "legacy";
                    info.ring_entries = 0;
                    info.ring_flags.clear();
                    info.fallback_reason = Some(reason);
                    let _ = report.send((index, Ok(info)));
                    rt.block_on(worker::run(start));
                }
                Err(e2) => {
                    let _ = report.send((index, Err(format!("{reason}; legacy driver: {e2}"))));
                }
            }
        }
    }
}
