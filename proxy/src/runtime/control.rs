//! The control thread: owns the authoritative configuration and cluster state, rebuilds
//! snapshots when it changes, publishes them to every worker, and serves the admin API.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use crossbeam_channel::Sender;
use sluice_config::model;

use super::snapshot::Snapshot;
use super::worker::ToWorker;
use super::{Options, WorkerInfo};
use crate::stats::Registry;

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
    senders: Vec<Sender<ToWorker>>,
    bound: Vec<(String, SocketAddr)>,
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
        let snapshot = Snapshot::build(1, &loaded.bootstrap, None, &mut registry)?;
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
            senders: Vec::new(),
            bound: Vec::new(),
        };
        control.set_membership_gauges();
        Ok(control)
    }

    /// `cluster.<name>.membership_*`: host counts of the current snapshot, set by the control
    /// thread in its own shard whenever membership or health changes.
    fn set_membership_gauges(&self) {
        let shard = self.registry.control_shard();
        for c in &self.snapshot.clusters {
            let healthy = c
                .hosts
                .iter()
                .filter(|h| {
                    matches!(
                        h.health,
                        model::HealthStatus::Unknown | model::HealthStatus::Healthy
                    )
                })
                .count();
            let degraded = c
                .hosts
                .iter()
                .filter(|h| h.health == model::HealthStatus::Degraded)
                .count();
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
        Ok(self.snapshot.generation)
    }

    fn rebuild(&mut self) -> Result<(), String> {
        let generation = self.snapshot.generation + 1;
        let snapshot = Snapshot::build(
            generation,
            &self.bootstrap,
            Some(&self.snapshot),
            &mut self.registry,
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
        match admin {
            Some(listener) => crate::admin::serve(control, listener).await,
            None => std::future::pending::<()>().await,
        }
    });
}
