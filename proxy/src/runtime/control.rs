//! The control thread: owns the authoritative configuration and cluster state, rebuilds
//! snapshots when it changes, publishes them to every worker, and serves the admin API.
//!
//! It also owns the layered runtime's [`Loader`]: an admin update (`POST /runtime_modify`) or a
//! swapped disk-layer symlink (polled once a second) rebuilds the `Runtime` and publishes it in
//! a new snapshot, with Envoy's `runtime.*` stats kept in the control thread's own shard.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use crossbeam_channel::Sender;
use sluice_config::model;

use super::snapshot::Snapshot;
use super::worker::ToWorker;
use super::{Options, WorkerInfo};
use crate::layered_runtime::{LoadReport, Loader, NoAdminLayer};
use crate::stats::{Kind, Registry, RegistryFull, StatId};

/// How often disk-layer symlinks are looked at (see `layered_runtime` for why a poll).
const RUNTIME_POLL_PERIOD: Duration = Duration::from_secs(1);

/// The control thread's state.
#[derive(Debug)]
pub struct Control {
    /// The configuration as it stands now (static config plus run-time changes).
    pub bootstrap: model::Bootstrap,
    /// The configuration as loaded, for `/config_dump`.
    pub dump: serde_json::Value,
    /// Name of the file (or `--config-yaml`) the configuration came from.
    pub origin: String,
    /// Stat names and shards.
    pub registry: Registry,
    /// The latest published snapshot.
    pub snapshot: Arc<Snapshot>,
    /// Command-line options.
    pub options: Options,
    /// Process start time.
    pub started: SystemTime,
    /// Each worker's driver.
    pub workers: Vec<WorkerInfo>,
    /// Set by the main thread when draining starts.
    pub is_draining: Arc<AtomicBool>,
    /// The layered runtime's layers and admin values; its current `Runtime` is in `snapshot`.
    pub layered_runtime: Loader,
    /// What active health checking found of each checked host.
    pub health: crate::upstream::health::HealthTable,
    /// Every cluster's outlier detector.
    pub outliers: crate::upstream::outlier::Outliers,
    /// Where workers send their outlier reports.
    pub outlier_tx: crate::upstream::outlier::ReportSender,
    outlier_rx:
        Option<tokio::sync::mpsc::UnboundedReceiver<Vec<crate::upstream::outlier::OutlierReport>>>,
    /// Woken when cluster membership changes, for new hosts' checks to begin.
    membership_changed: Arc<tokio::sync::Notify>,
    runtime_stats: RuntimeStats,
    senders: Vec<Sender<ToWorker>>,
    bound: Vec<(String, SocketAddr)>,
}

/// Why `POST /runtime_modify` changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeModifyError {
    /// No `admin_layer` is configured.
    #[error(transparent)]
    NoAdminLayer(#[from] NoAdminLayer),
    /// The new snapshot could not be built.
    #[error("{0}")]
    Publish(String),
}

/// `runtime.*`, Envoy's `ALL_RUNTIME_STATS`. The two deprecated-feature stats stay zero: Sluice
/// has no deprecated features to count, but dashboards expect the names.
#[derive(Debug, Clone, Copy)]
struct RuntimeStats {
    load_error: StatId,
    load_success: StatId,
    override_dir_exists: StatId,
    override_dir_not_exists: StatId,
    admin_overrides_active: StatId,
    num_keys: StatId,
    num_layers: StatId,
}

impl RuntimeStats {
    fn register(registry: &mut Registry) -> Result<Self, RegistryFull> {
        let mut id = |name: &str, kind| registry.id(&format!("runtime.{name}"), kind);
        // Registered so that `/stats` lists them, as Envoy's does; never bumped.
        id("deprecated_feature_use", Kind::Counter)?;
        id("deprecated_feature_seen_since_process_start", Kind::Gauge)?;
        Ok(Self {
            load_error: id("load_error", Kind::Counter)?,
            load_success: id("load_success", Kind::Counter)?,
            override_dir_exists: id("override_dir_exists", Kind::Counter)?,
            override_dir_not_exists: id("override_dir_not_exists", Kind::Counter)?,
            admin_overrides_active: id("admin_overrides_active", Kind::Gauge)?,
            num_keys: id("num_keys", Kind::Gauge)?,
            num_layers: id("num_layers", Kind::Gauge)?,
        })
    }
}

impl Control {
    /// Builds the first snapshot from a loaded configuration.
    pub fn new(
        loaded: sluice_config::Loaded,
        origin: String,
        options: Options,
        started: SystemTime,
    ) -> anyhow::Result<Self> {
        let mut registry = Registry::new(options.concurrency);
        let mut layered_runtime = Loader::new(
            &loaded.bootstrap.layered_runtime,
            &loaded.bootstrap.node.cluster,
        )?;
        let report = layered_runtime.reload();
        let runtime_stats = RuntimeStats::register(&mut registry)?;
        // Checked hosts start failing; their checks begin on the control thread's runtime.
        let health = crate::upstream::health::HealthTable::default();
        let mut outliers = crate::upstream::outlier::Outliers::default();
        outliers.reconcile(&loaded.bootstrap.clusters, std::time::Instant::now());
        let (outlier_tx, outlier_rx) = tokio::sync::mpsc::unbounded_channel();
        let snapshot = Snapshot::build(
            1,
            &loaded.bootstrap,
            None,
            &mut registry,
            Arc::clone(layered_runtime.runtime()),
            &health,
        )?;
        let control = Self {
            bootstrap: loaded.bootstrap,
            dump: loaded.dump,
            origin,
            registry,
            snapshot: Arc::new(snapshot),
            options,
            started,
            workers: Vec::new(),
            is_draining: Arc::new(AtomicBool::new(false)),
            layered_runtime,
            health,
            outliers,
            outlier_tx,
            outlier_rx: Some(outlier_rx),
            membership_changed: Arc::new(tokio::sync::Notify::new()),
            runtime_stats,
            senders: Vec::new(),
            bound: Vec::new(),
        };
        control.set_membership_gauges();
        control.record_runtime_load(report);
        Ok(control)
    }

    /// `cluster.<name>.membership_*`: host counts of the current snapshot, set by the control
    /// thread in its own shard whenever membership or health changes.
    fn set_membership_gauges(&self) {
        let shard = self.registry.control_shard();
        for c in &self.snapshot.clusters {
            let counted = |health| {
                c.hosts
                    .iter()
                    .filter(|h| !h.flags.is_excluded() && h.flags.coarse() == health)
                    .count()
            };
            let healthy = counted(sluice_lb::Health::Healthy);
            let degraded = counted(sluice_lb::Health::Degraded);
            shard.set(c.stats.membership_total, c.hosts.len() as u64);
            shard.set(c.stats.membership_healthy, healthy as u64);
            shard.set(c.stats.membership_degraded, degraded as u64);
        }
    }

    pub(crate) fn set_workers(&mut self, workers: Vec<WorkerInfo>, senders: Vec<Sender<ToWorker>>) {
        self.workers = workers;
        self.senders = senders;
    }

    pub(crate) fn bound_listener(&mut self, name: &str, addr: SocketAddr) {
        self.bound.push((name.to_owned(), addr));
    }

    /// The address a listener actually got (differs from the config for port 0).
    pub fn bound_address(&self, name: &str) -> Option<SocketAddr> {
        self.bound.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
    }

    /// Replaces the endpoints of a cluster and publishes a new snapshot: the internal API
    /// through which EDS updates (and tests) change membership at run time. Returns the new
    /// generation.
    pub fn set_cluster_endpoints(
        &mut self,
        cluster: &str,
        endpoints: Vec<model::LocalityLbEndpoints>,
    ) -> Result<u64, String> {
        let c = self
            .bootstrap
            .clusters
            .iter_mut()
            .find(|c| c.name == cluster)
            .ok_or_else(|| format!("unknown cluster `{cluster}`"))?;
        let before = std::mem::replace(&mut c.load_assignment.endpoints, endpoints);
        if let Err(e) = self.rebuild() {
            // Keep the old membership when the new one cannot be served.
            if let Some(c) = self
                .bootstrap
                .clusters
                .iter_mut()
                .find(|c| c.name == cluster)
            {
                c.load_assignment.endpoints = before;
            }
            return Err(e);
        }
        self.membership_changed.notify_one();
        Ok(self.snapshot.generation)
    }

    /// Publishes a snapshot after active health checking changed a host's health.
    pub fn publish_health(&mut self) -> Result<u64, String> {
        self.rebuild()?;
        Ok(self.snapshot.generation)
    }

    /// `POST /runtime_modify`: merges `values` into the admin layer (an empty value removes its
    /// key) and publishes the new runtime. Returns the new generation.
    pub fn modify_runtime(
        &mut self,
        values: Vec<(String, String)>,
    ) -> Result<u64, RuntimeModifyError> {
        let report = self.layered_runtime.merge_admin(values)?;
        self.publish_runtime(report)
            .map_err(RuntimeModifyError::Publish)
    }

    /// Looks at the disk layers' symlinks; when one was swapped, re-reads the runtime and
    /// publishes it. Returns the new generation, if anything was published.
    pub fn poll_runtime_disk(&mut self) -> Option<Result<u64, String>> {
        if !self.layered_runtime.poll_symlinks() {
            return None;
        }
        let report = self.layered_runtime.reload();
        Some(self.publish_runtime(report))
    }

    fn publish_runtime(&mut self, report: LoadReport) -> Result<u64, String> {
        self.record_runtime_load(report);
        self.rebuild()?;
        debug_assert!(Arc::ptr_eq(
            &self.snapshot.runtime,
            self.layered_runtime.runtime()
        ));
        Ok(self.snapshot.generation)
    }

    /// Envoy's stats for one load: success or error, whether more than one disk layer loaded
    /// (`override_dir_exists`), and the gauges of what is now in force.
    fn record_runtime_load(&self, report: LoadReport) {
        let shard = self.registry.control_shard();
        let s = &self.runtime_stats;
        shard.inc(if report.error_layers == 0 {
            s.load_success
        } else {
            s.load_error
        });
        shard.inc(if report.disk_layers > 1 {
            s.override_dir_exists
        } else {
            s.override_dir_not_exists
        });
        shard.set(s.num_layers, report.num_layers as u64);
        shard.set(s.num_keys, report.num_keys as u64);
        shard.set(
            s.admin_overrides_active,
            u64::from(self.layered_runtime.admin_overrides_active()),
        );
    }

    fn rebuild(&mut self) -> Result<(), String> {
        let generation = self.snapshot.generation + 1;
        self.outliers
            .reconcile(&self.bootstrap.clusters, std::time::Instant::now());
        self.health.ejected = self.outliers.ejected();
        let snapshot = Snapshot::build(
            generation,
            &self.bootstrap,
            Some(&self.snapshot),
            &mut self.registry,
            Arc::clone(self.layered_runtime.runtime()),
            &self.health,
        )
        .map_err(|e| e.to_string())?;
        self.snapshot = Arc::new(snapshot);
        self.set_membership_gauges();
        for tx in &self.senders {
            if tx
                .try_send(ToWorker::Snapshot(Arc::clone(&self.snapshot)))
                .is_err()
            {
                log::warn!("a worker's control queue is full; it will catch up on the next change");
            }
        }
        Ok(())
    }
}

/// The control thread's main: a tokio current-thread runtime serving the admin API.
pub fn run(control: Control, admin: Option<std::net::TcpListener>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("control thread: cannot start its runtime: {e}");
            return;
        }
    };
    let control = Rc::new(RefCell::new(control));
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        tokio::task::spawn_local(follow_membership(Rc::clone(&control)));
        let reports = control.borrow_mut().outlier_rx.take();
        if let Some(reports) = reports {
            tokio::task::spawn_local(crate::upstream::outlier::run(Rc::clone(&control), reports));
        }
        if control.borrow().layered_runtime.has_disk_layers() {
            tokio::task::spawn_local(watch_runtime_disk(Rc::clone(&control)));
        }
        match admin {
            Some(listener) => crate::admin::serve(control, listener).await,
            None => std::future::pending::<()>().await,
        }
    });
}

/// Begins the health checks of hosts as they arrive: those of the first snapshot at once, then
/// those of each membership change.
async fn follow_membership(control: Rc<RefCell<Control>>) {
    let changed = Arc::clone(&control.borrow().membership_changed);
    loop {
        crate::upstream::health::start_new_checks(&control);
        changed.notified().await;
    }
}

/// Polls the disk layers' symlinks forever, publishing a new runtime when one is swapped. The
/// borrow of `control` ends before each await.
async fn watch_runtime_disk(control: Rc<RefCell<Control>>) {
    let mut tick = tokio::time::interval(RUNTIME_POLL_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let published = control.borrow_mut().poll_runtime_disk();
        match published {
            Some(Ok(generation)) => {
                log::info!("runtime: disk layers reloaded (snapshot generation {generation})");
            }
            Some(Err(e)) => log::warn!("runtime: reloaded disk layers not published: {e}"),
            None => {}
        }
    }
}
