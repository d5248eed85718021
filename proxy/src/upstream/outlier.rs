//! Outlier detection across workers.
//!
//! Workers note each upstream result of a cluster with `outlier_detection` in a buffer of
//! their own ([`Reports`]: a push on a `RefCell<Vec>`, no shared memory per request) and hand
//! the buffer to the control thread on their 10 ms control tick. The control thread feeds one
//! [`Detector`] per cluster (`sluice-lb`), so consecutive counts are process-wide as in Envoy;
//! its `interval` sweeps run there too. Batches from different workers are merged in the order
//! the results happened (each carries its time), once every worker's batch for that time has
//! arrived: counting a worker's batch as a run would turn 500, 200, 500 seen by two workers
//! into two failures in a row. An ejection or its end publishes a snapshot in which
//! the host carries `FAILED_OUTLIER_CHECK`, and every worker's load balancer leaves it out.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sluice_config::model;
use sluice_lb::outlier::{Detector, Origin, OutlierConfig, Report};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::runtime::control::Control;
use crate::runtime::snapshot::{Cluster, Host};
use crate::stats::{Shard, StatId};

/// One upstream result, as a worker reports it.
#[derive(Debug, Clone, Copy)]
pub struct OutlierReport {
    /// The cluster, by its `upstream_cx_total` stat id (stable for a cluster name).
    pub cluster: StatId,
    /// The host.
    pub host: SocketAddr,
    /// What happened.
    pub report: Noted,
    /// When.
    pub at: Instant,
}

/// What a worker notes about a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noted {
    /// A result for outlier detection.
    Result(Report),
    /// A response carried `x-envoy-immediate-health-check-fail`: the host's health check
    /// fails it at once (Envoy's passive failure).
    ImmediateHealthCheckFail,
}

/// How workers hand their reports to the control thread.
pub type ReportSender = UnboundedSender<Vec<OutlierReport>>;

/// A worker's reports since its last control tick.
#[derive(Debug, Default)]
pub struct Reports {
    pending: RefCell<Vec<OutlierReport>>,
    to_control: Option<ReportSender>,
}

impl Reports {
    /// Reports that go to `to_control` on each flush.
    pub fn new(to_control: Option<ReportSender>) -> Self {
        Self {
            pending: RefCell::new(Vec::new()),
            to_control,
        }
    }

    /// Notes a result for `host` of `cluster`, when the cluster detects outliers.
    #[inline]
    pub fn note(&self, cluster: &Cluster, host: &Host, report: Report) {
        if cluster.outlier_stats.is_some() {
            self.push(cluster, host, Noted::Result(report));
        }
    }

    /// Notes that a connection to `host` is ready for a request. Only a detector that counts
    /// local-origin results apart (`split_external_local_origin_errors`) uses it, so other
    /// clusters note nothing (and read no clock) for it.
    #[inline]
    pub fn note_connected(&self, cluster: &Cluster, host: &Host) {
        if cluster.outlier_counts_connects {
            self.push(cluster, host, Noted::Result(Report::ConnectSuccess));
        }
    }

    /// Notes that a response from `host` carried `x-envoy-immediate-health-check-fail`, when
    /// the cluster is health checked.
    pub fn note_immediate_fail(&self, cluster: &Cluster, host: &Host) {
        if cluster.health_check_stats.is_some() {
            self.push(cluster, host, Noted::ImmediateHealthCheckFail);
        }
    }

    fn push(&self, cluster: &Cluster, host: &Host, report: Noted) {
        self.pending.borrow_mut().push(OutlierReport {
            cluster: cluster.stats.upstream_cx_total,
            host: host.address,
            report,
            at: Instant::now(),
        });
    }

    /// Sends what was noted to the control thread.
    pub fn flush(&self) {
        let mut pending = self.pending.borrow_mut();
        if pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut *pending);
        if let Some(tx) = &self.to_control {
            // The control thread gone means the process is stopping.
            let _ = tx.send(batch);
        }
    }
}

/// `sluice-lb`'s detector configuration for a configured `outlier_detection`.
pub fn config(o: &model::OutlierDetection) -> OutlierConfig {
    OutlierConfig {
        consecutive_5xx: o.consecutive_5xx,
        consecutive_gateway_failure: o.consecutive_gateway_failure,
        consecutive_local_origin_failure: o.consecutive_local_origin_failure,
        interval: o.interval,
        base_ejection_time: o.base_ejection_time,
        max_ejection_time: o.max_ejection_time,
        max_ejection_time_jitter: o.max_ejection_time_jitter,
        max_ejection_percent: o.max_ejection_percent,
        always_eject_one_host: o.always_eject_one_host,
        enforcing_consecutive_5xx: o.enforcing_consecutive_5xx,
        enforcing_consecutive_gateway_failure: o.enforcing_consecutive_gateway_failure,
        enforcing_consecutive_local_origin_failure: o.enforcing_consecutive_local_origin_failure,
        enforcing_success_rate: o.enforcing_success_rate,
        enforcing_local_origin_success_rate: o.enforcing_local_origin_success_rate,
        enforcing_failure_percentage: o.enforcing_failure_percentage,
        enforcing_failure_percentage_local_origin: o.enforcing_failure_percentage_local_origin,
        success_rate_minimum_hosts: o.success_rate_minimum_hosts,
        success_rate_request_volume: o.success_rate_request_volume,
        success_rate_stdev_factor: o.success_rate_stdev_factor,
        failure_percentage_threshold: o.failure_percentage_threshold,
        failure_percentage_minimum_hosts: o.failure_percentage_minimum_hosts,
        failure_percentage_request_volume: o.failure_percentage_request_volume,
        split_external_local_origin_errors: o.split_external_local_origin_errors,
        successful_active_health_check_uneject_host: o.successful_active_health_check_uneject_host,
    }
}

/// One cluster's detector and when its next sweep is due.
#[derive(Debug)]
struct ClusterDetector {
    source: model::OutlierDetection,
    detector: Detector<SocketAddr>,
    next_tick: Instant,
}

/// Every cluster's outlier detector, on the control thread.
#[derive(Debug, Default)]
pub struct Outliers {
    clusters: HashMap<String, ClusterDetector>,
}

impl Outliers {
    /// Follows the configuration: a detector for each cluster with `outlier_detection` (a
    /// changed configuration starts a new one), over the cluster's current hosts.
    pub fn reconcile(&mut self, clusters: &[model::Cluster], now: Instant) {
        self.clusters.retain(|name, d| {
            clusters
                .iter()
                .any(|c| c.name == *name && c.outlier_detection.as_ref() == Some(&d.source))
        });
        for c in clusters {
            let Some(o) = &c.outlier_detection else {
                continue;
            };
            let hosts: Vec<SocketAddr> = c
                .load_assignment
                .endpoints
                .iter()
                .flat_map(|g| g.lb_endpoints.iter().map(|e| e.address))
                .collect();
            match self.clusters.get_mut(&c.name) {
                Some(d) => d.detector.set_hosts(hosts),
                None => {
                    let detector = Detector::new(
                        config(o),
                        hosts,
                        c.health_check.is_some(),
                        seed_for(&c.name),
                    );
                    self.clusters.insert(
                        c.name.clone(),
                        ClusterDetector {
                            source: o.clone(),
                            detector,
                            next_tick: now + o.interval,
                        },
                    );
                }
            }
        }
    }

    /// Whether `host` of `cluster` is ejected now.
    pub fn is_ejected(&self, cluster: &str, host: SocketAddr) -> bool {
        self.clusters
            .get(cluster)
            .is_some_and(|d| d.detector.is_ejected(&host))
    }

    /// The detector of `cluster`, if it has one.
    pub fn detector(&self, cluster: &str) -> Option<&Detector<SocketAddr>> {
        self.clusters.get(cluster).map(|d| &d.detector)
    }

    /// Feeds one result. Returns whether the ejected hosts changed.
    fn report(&mut self, cluster: &str, host: SocketAddr, report: Report, now: Instant) -> bool {
        self.clusters
            .get_mut(cluster)
            .is_some_and(|d| d.detector.report(&host, report, now))
    }

    /// Runs the sweeps that are due. Returns whether the ejected hosts changed.
    fn tick(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for d in self.clusters.values_mut() {
            if now >= d.next_tick {
                changed |= d.detector.tick(now);
                d.next_tick = now + d.source.interval;
            }
        }
        changed
    }

    /// An active health check of `host` finished (for
    /// `successful_active_health_check_uneject_host`). Returns whether it ended an ejection.
    pub fn on_health_check(
        &mut self,
        cluster: &str,
        host: SocketAddr,
        passed: bool,
        failing_active_hc: bool,
        now: Instant,
    ) -> bool {
        self.clusters.get_mut(cluster).is_some_and(|d| {
            d.detector
                .on_health_check(&host, passed, failing_active_hc, now)
        })
    }

    /// The ejected hosts, by cluster.
    pub fn ejected(&self) -> HashSet<(String, SocketAddr)> {
        self.clusters
            .iter()
            .flat_map(|(name, d)| d.detector.ejected().map(|h| (name.clone(), *h)))
            .collect()
    }

    /// Writes each detector's stats into `shard` (the control thread's: no one else writes
    /// these stats, so their values are the detector's).
    pub fn record(&self, clusters: &[std::sync::Arc<Cluster>], shard: &Shard) {
        for c in clusters {
            let (Some(ids), Some(d)) = (&c.outlier_stats, self.clusters.get(&c.name)) else {
                continue;
            };
            for (id, (_, value)) in ids.0.iter().zip(d.detector.stats().named()) {
                shard.set(*id, value);
            }
        }
    }
}

fn seed_for(name: &str) -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(name)
}

/// How often the control thread looks for due sweeps and reports ready to be counted.
const SWEEP_POLL: Duration = Duration::from_millis(20);

/// How long a report waits for the reports of other workers that may precede it: workers
/// flush every 10 ms, so any report older than this has arrived from every worker.
const MERGE_WINDOW: Duration = Duration::from_millis(40);

/// The control thread's outlier task: feeds the workers' reports to the detectors, runs their
/// sweeps, and publishes a snapshot whenever the ejected hosts change.
pub async fn run(
    control: Rc<RefCell<Control>>,
    mut reports: UnboundedReceiver<Vec<OutlierReport>>,
) {
    let mut poll = tokio::time::interval(SWEEP_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut waiting: Vec<OutlierReport> = Vec::new();
    loop {
        tokio::select! {
            batch = reports.recv() => {
                let Some(batch) = batch else { return };
                waiting.extend(batch);
                continue;
            }
            _ = poll.tick() => {}
        }
        // Count, in the order they happened, the reports every worker has sent by now.
        let now = Instant::now();
        let ready_before = now.checked_sub(MERGE_WINDOW).unwrap_or(now);
        waiting.sort_by_key(|r| r.at);
        let ready = waiting.partition_point(|r| r.at <= ready_before);
        let mut changed = apply(&control, &waiting[..ready]);
        waiting.drain(..ready);
        changed |= control.borrow_mut().outliers.tick(now);
        let mut c = control.borrow_mut();
        if changed && let Err(e) = c.publish_health() {
            log::warn!("outlier detection: {e}");
        }
        let shard = c.registry.control_shard();
        c.outliers.record(&c.snapshot.clusters, &shard);
    }
}

fn apply(control: &Rc<RefCell<Control>>, batch: &[OutlierReport]) -> bool {
    if batch.is_empty() {
        return false;
    }
    let mut c = control.borrow_mut();
    let names: HashMap<StatId, String> = c
        .snapshot
        .clusters
        .iter()
        .map(|cl| (cl.stats.upstream_cx_total, cl.name.clone()))
        .collect();
    let mut changed = false;
    for r in batch {
        let Some(name) = names.get(&r.cluster) else {
            continue;
        };
        changed |= match r.report {
            Noted::Result(report) => c.outliers.report(name, r.host, report, r.at),
            Noted::ImmediateHealthCheckFail => {
                crate::upstream::health::fail_from_traffic(&mut c, name, r.host)
            }
        };
    }
    changed
}

/// The `/clusters` success rate of `host` for `origin`, -1 when not computed.
pub fn success_rate(control: &Control, cluster: &str, host: SocketAddr, origin: Origin) -> f64 {
    control
        .outliers
        .detector(cluster)
        .map_or(-1.0, |d| d.success_rate(&host, origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configured_field_reaches_the_detector() {
        let s = Duration::from_secs;
        let o = model::OutlierDetection {
            consecutive_5xx: 1,
            interval: s(2),
            base_ejection_time: s(3),
            max_ejection_percent: 4,
            enforcing_consecutive_5xx: 5,
            enforcing_success_rate: 6,
            success_rate_minimum_hosts: 7,
            success_rate_request_volume: 8,
            success_rate_stdev_factor: 9,
            consecutive_gateway_failure: 10,
            enforcing_consecutive_gateway_failure: 11,
            split_external_local_origin_errors: true,
            consecutive_local_origin_failure: 12,
            enforcing_consecutive_local_origin_failure: 13,
            enforcing_local_origin_success_rate: 14,
            failure_percentage_threshold: 15,
            enforcing_failure_percentage: 16,
            enforcing_failure_percentage_local_origin: 17,
            failure_percentage_minimum_hosts: 18,
            failure_percentage_request_volume: 19,
            max_ejection_time: s(20),
            max_ejection_time_jitter: s(21),
            successful_active_health_check_uneject_host: false,
            always_eject_one_host: true,
            loc: model::Loc::default(),
        };
        let c = config(&o);
        assert_eq!(
            c,
            OutlierConfig {
                consecutive_5xx: 1,
                interval: s(2),
                base_ejection_time: s(3),
                max_ejection_percent: 4,
                enforcing_consecutive_5xx: 5,
                enforcing_success_rate: 6,
                success_rate_minimum_hosts: 7,
                success_rate_request_volume: 8,
                success_rate_stdev_factor: 9,
                consecutive_gateway_failure: 10,
                enforcing_consecutive_gateway_failure: 11,
                split_external_local_origin_errors: true,
                consecutive_local_origin_failure: 12,
                enforcing_consecutive_local_origin_failure: 13,
                enforcing_local_origin_success_rate: 14,
                failure_percentage_threshold: 15,
                enforcing_failure_percentage: 16,
                enforcing_failure_percentage_local_origin: 17,
                failure_percentage_minimum_hosts: 18,
                failure_percentage_request_volume: 19,
                max_ejection_time: s(20),
                max_ejection_time_jitter: s(21),
                successful_active_health_check_uneject_host: false,
                always_eject_one_host: true,
            }
        );
    }

    #[test]
    fn ejections_follow_the_configuration_and_its_hosts() {
        let yaml = r#"
static_resources:
  clusters:
  - name: web
    outlier_detection: { consecutive_5xx: 2, max_ejection_percent: 100 }
    load_assignment:
      cluster_name: web
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } }
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 2 } } }
  - name: plain
"#;
        let loaded =
            sluice_config::load_str(yaml, "t.yaml", sluice_config::Format::Yaml).expect("valid");
        let clusters = loaded.bootstrap.clusters;
        let now = Instant::now();
        let mut o = Outliers::default();
        o.reconcile(&clusters, now);
        assert!(o.detector("web").is_some() && o.detector("plain").is_none());
        let a: SocketAddr = "127.0.0.1:1".parse().expect("address");
        assert!(!o.report("web", a, Report::Status(500), now));
        assert!(o.report("web", a, Report::Status(502), now));
        assert!(o.is_ejected("web", a));
        assert_eq!(o.ejected().len(), 1);
        // The host leaves the cluster: its ejection goes with it.
        let mut fewer = clusters.clone();
        fewer[0].load_assignment.endpoints[0].lb_endpoints.remove(0);
        o.reconcile(&fewer, now);
        assert!(o.ejected().is_empty());
        // The detector goes when the cluster stops asking for one.
        fewer[0].outlier_detection = None;
        o.reconcile(&fewer, now);
        assert!(o.detector("web").is_none());
    }
}
