//! Outlier detection as Envoy's `DetectorImpl` decides it, as pure code: results of requests
//! go in, ejections and their ends come out, on a clock and a random source passed in.
//!
//! One [`Detector`] per cluster lives on the control thread. Workers report every upstream
//! result; the detector counts consecutive failures across all of them (process-wide, as
//! Envoy's per-host atomics are), so a consecutive-error ejection is decided the moment the
//! N-th failure is counted. Every `interval`, [`Detector::tick`] ends the ejections whose
//! time has passed, runs the success-rate and failure-percentage sweeps over the interval
//! just ended, and eases the ejection backoff of hosts that stayed healthy.
//!
//! Semantics follow Envoy's `source/common/upstream/outlier_detection_impl.cc` (v1.31 and
//! later), including the points where it differs from its own documentation:
//! * `max_ejection_percent` is strict: an ejection that would take the ejected share over
//!   it is an overflow, even the first one (`always_eject_one_host` lets the first through);
//! * the ejection time grows with a backoff counter (up by one per ejection until
//!   `backoff × base ≥ max + base`, down by one per interval the host stays healthy), not
//!   with the number of ejections;
//! * a consecutive-error detection fires on exactly the N-th failure, and resets only the
//!   counter of its own kind.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::rng::SplitMix64;

/// A cluster's `outlier_detection`, with Envoy's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct OutlierConfig {
    /// `consecutive_5xx` (5).
    pub consecutive_5xx: u32,
    /// `consecutive_gateway_failure` (5).
    pub consecutive_gateway_failure: u32,
    /// `consecutive_local_origin_failure` (5).
    pub consecutive_local_origin_failure: u32,
    /// `interval` (10 s): how often the sweeps run and ejections are reconsidered.
    pub interval: Duration,
    /// `base_ejection_time` (30 s).
    pub base_ejection_time: Duration,
    /// `max_ejection_time` (the larger of 300 s and `base_ejection_time`).
    pub max_ejection_time: Duration,
    /// `max_ejection_time_jitter` (0): up to this much, inclusive, is added to each ejection.
    pub max_ejection_time_jitter: Duration,
    /// `max_ejection_percent` (10), at most 100.
    pub max_ejection_percent: u32,
    /// `always_eject_one_host` (false): the first ejection ignores `max_ejection_percent`.
    pub always_eject_one_host: bool,
    /// `enforcing_consecutive_5xx` (100).
    pub enforcing_consecutive_5xx: u32,
    /// `enforcing_consecutive_gateway_failure` (0).
    pub enforcing_consecutive_gateway_failure: u32,
    /// `enforcing_consecutive_local_origin_failure` (100).
    pub enforcing_consecutive_local_origin_failure: u32,
    /// `enforcing_success_rate` (100).
    pub enforcing_success_rate: u32,
    /// `enforcing_local_origin_success_rate` (100).
    pub enforcing_local_origin_success_rate: u32,
    /// `enforcing_failure_percentage` (0).
    pub enforcing_failure_percentage: u32,
    /// `enforcing_failure_percentage_local_origin` (0).
    pub enforcing_failure_percentage_local_origin: u32,
    /// `success_rate_minimum_hosts` (5).
    pub success_rate_minimum_hosts: u32,
    /// `success_rate_request_volume` (100).
    pub success_rate_request_volume: u32,
    /// `success_rate_stdev_factor` (1900, read as 1.9).
    pub success_rate_stdev_factor: u32,
    /// `failure_percentage_threshold` (85).
    pub failure_percentage_threshold: u32,
    /// `failure_percentage_minimum_hosts` (5).
    pub failure_percentage_minimum_hosts: u32,
    /// `failure_percentage_request_volume` (50).
    pub failure_percentage_request_volume: u32,
    /// `split_external_local_origin_errors` (false).
    pub split_external_local_origin_errors: bool,
    /// `successful_active_health_check_uneject_host` (true).
    pub successful_active_health_check_uneject_host: bool,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            consecutive_5xx: 5,
            consecutive_gateway_failure: 5,
            consecutive_local_origin_failure: 5,
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_time_jitter: Duration::ZERO,
            max_ejection_percent: 10,
            always_eject_one_host: false,
            enforcing_consecutive_5xx: 100,
            enforcing_consecutive_gateway_failure: 0,
            enforcing_consecutive_local_origin_failure: 100,
            enforcing_success_rate: 100,
            enforcing_local_origin_success_rate: 100,
            enforcing_failure_percentage: 0,
            enforcing_failure_percentage_local_origin: 0,
            success_rate_minimum_hosts: 5,
            success_rate_request_volume: 100,
            success_rate_stdev_factor: 1900,
            failure_percentage_threshold: 85,
            failure_percentage_minimum_hosts: 5,
            failure_percentage_request_volume: 50,
            split_external_local_origin_errors: false,
            successful_active_health_check_uneject_host: true,
        }
    }
}

impl OutlierConfig {
    /// Envoy's default `max_ejection_time` for a given `base_ejection_time`: 300 s, or the
    /// base when that is longer.
    #[must_use]
    pub fn default_max_ejection_time(base: Duration) -> Duration {
        base.max(Duration::from_secs(300))
    }

    /// Checks what Envoy checks when it creates the detector.
    ///
    /// # Errors
    ///
    /// Envoy's message when `max_ejection_time` is shorter than `base_ejection_time`.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.max_ejection_time < self.base_ejection_time {
            return Err(
                "outlier detector's max_ejection_time cannot be smaller than base_ejection_time",
            );
        }
        Ok(())
    }
}

/// Why a host was ejected (Envoy's `OutlierEjectionType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EjectionType {
    /// `consecutive_5xx` failures in a row.
    Consecutive5xx,
    /// `consecutive_gateway_failure` 502/503/504 in a row.
    ConsecutiveGatewayFailure,
    /// Success rate below the cluster's threshold.
    SuccessRate,
    /// `consecutive_local_origin_failure` connect failures or timeouts in a row.
    ConsecutiveLocalOriginFailure,
    /// Local-origin success rate below the cluster's threshold.
    SuccessRateLocalOrigin,
    /// Failure percentage at or above `failure_percentage_threshold`.
    FailurePercentage,
    /// Local-origin failure percentage at or above `failure_percentage_threshold`.
    FailurePercentageLocalOrigin,
}

impl EjectionType {
    /// The name in Envoy's outlier event log.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Consecutive5xx => "CONSECUTIVE_5XX",
            Self::ConsecutiveGatewayFailure => "CONSECUTIVE_GATEWAY_FAILURE",
            Self::SuccessRate => "SUCCESS_RATE",
            Self::ConsecutiveLocalOriginFailure => "CONSECUTIVE_LOCAL_ORIGIN_FAILURE",
            Self::SuccessRateLocalOrigin => "SUCCESS_RATE_LOCAL_ORIGIN",
            Self::FailurePercentage => "FAILURE_PERCENTAGE",
            Self::FailurePercentageLocalOrigin => "FAILURE_PERCENTAGE_LOCAL_ORIGIN",
        }
    }
}

/// One upstream result a worker reports (Envoy's `Result`, or an HTTP status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Report {
    /// A response with this status (`putHttpResponseCode`).
    Status(u16),
    /// The connection could not be made, or the stream was reset (`LOCAL_ORIGIN_CONNECT_FAILED`).
    ConnectFailed,
    /// The upstream did not answer in time; the status the router answered with (504 for
    /// the route timeout) counts when local and external errors are not split.
    Timeout(u16),
    /// The connection was made; a response may still fail (`LOCAL_ORIGIN_CONNECT_SUCCESS`).
    ConnectSuccess,
    /// The connection was made and nothing further will be reported
    /// (`LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL`).
    ConnectSuccessFinal,
    /// The upstream answered with a failure not expressed as a status
    /// (`EXT_ORIGIN_REQUEST_FAILED`).
    RequestFailed,
    /// The upstream answered well (`EXT_ORIGIN_REQUEST_SUCCESS`).
    RequestSuccess,
}

/// The sweep a success rate belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Results from the upstream itself (statuses).
    External,
    /// Results of connecting (failures to connect, timeouts), counted apart only with
    /// `split_external_local_origin_errors`.
    Local,
}

impl Origin {
    const fn index(self) -> usize {
        match self {
            Self::External => 0,
            Self::Local => 1,
        }
    }
}

/// `cluster.<name>.outlier_detection.*`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // Each field is the stat of the same name.
pub struct OutlierStats {
    pub ejections_active: u64,
    pub ejections_overflow: u64,
    pub ejections_enforced_total: u64,
    pub ejections_detected_consecutive_5xx: u64,
    pub ejections_detected_consecutive_gateway_failure: u64,
    pub ejections_detected_consecutive_local_origin_failure: u64,
    pub ejections_detected_success_rate: u64,
    pub ejections_detected_local_origin_success_rate: u64,
    pub ejections_detected_failure_percentage: u64,
    pub ejections_detected_local_origin_failure_percentage: u64,
    pub ejections_enforced_consecutive_5xx: u64,
    pub ejections_enforced_consecutive_gateway_failure: u64,
    pub ejections_enforced_consecutive_local_origin_failure: u64,
    pub ejections_enforced_success_rate: u64,
    pub ejections_enforced_local_origin_success_rate: u64,
    pub ejections_enforced_failure_percentage: u64,
    pub ejections_enforced_local_origin_failure_percentage: u64,
    /// Deprecated in Envoy, still counted: consecutive-5xx and success-rate ejections that
    /// passed the percentage check, enforced or not.
    pub ejections_total: u64,
    /// Deprecated in Envoy, still counted: every consecutive-5xx detection.
    pub ejections_consecutive_5xx: u64,
    /// Deprecated in Envoy, still counted: every success-rate outlier, either origin.
    pub ejections_success_rate: u64,
}

impl OutlierStats {
    /// Every stat with its name under `cluster.<name>.outlier_detection.`;
    /// `ejections_active` is a gauge, the others counters.
    #[must_use]
    pub fn named(&self) -> [(&'static str, u64); 20] {
        [
            ("ejections_active", self.ejections_active),
            ("ejections_overflow", self.ejections_overflow),
            ("ejections_enforced_total", self.ejections_enforced_total),
            (
                "ejections_detected_consecutive_5xx",
                self.ejections_detected_consecutive_5xx,
            ),
            (
                "ejections_detected_consecutive_gateway_failure",
                self.ejections_detected_consecutive_gateway_failure,
            ),
            (
                "ejections_detected_consecutive_local_origin_failure",
                self.ejections_detected_consecutive_local_origin_failure,
            ),
            (
                "ejections_detected_success_rate",
                self.ejections_detected_success_rate,
            ),
            (
                "ejections_detected_local_origin_success_rate",
                self.ejections_detected_local_origin_success_rate,
            ),
            (
                "ejections_detected_failure_percentage",
                self.ejections_detected_failure_percentage,
            ),
            (
                "ejections_detected_local_origin_failure_percentage",
                self.ejections_detected_local_origin_failure_percentage,
            ),
            (
                "ejections_enforced_consecutive_5xx",
                self.ejections_enforced_consecutive_5xx,
            ),
            (
                "ejections_enforced_consecutive_gateway_failure",
                self.ejections_enforced_consecutive_gateway_failure,
            ),
            (
                "ejections_enforced_consecutive_local_origin_failure",
                self.ejections_enforced_consecutive_local_origin_failure,
            ),
            (
                "ejections_enforced_success_rate",
                self.ejections_enforced_success_rate,
            ),
            (
                "ejections_enforced_local_origin_success_rate",
                self.ejections_enforced_local_origin_success_rate,
            ),
            (
                "ejections_enforced_failure_percentage",
                self.ejections_enforced_failure_percentage,
            ),
            (
                "ejections_enforced_local_origin_failure_percentage",
                self.ejections_enforced_local_origin_failure_percentage,
            ),
            ("ejections_total", self.ejections_total),
            ("ejections_consecutive_5xx", self.ejections_consecutive_5xx),
            ("ejections_success_rate", self.ejections_success_rate),
        ]
    }

    fn detected(&mut self, kind: EjectionType) -> &mut u64 {
        match kind {
            EjectionType::Consecutive5xx => &mut self.ejections_detected_consecutive_5xx,
            EjectionType::ConsecutiveGatewayFailure => {
                &mut self.ejections_detected_consecutive_gateway_failure
            }
            EjectionType::ConsecutiveLocalOriginFailure => {
                &mut self.ejections_detected_consecutive_local_origin_failure
            }
            EjectionType::SuccessRate => &mut self.ejections_detected_success_rate,
            EjectionType::SuccessRateLocalOrigin => {
                &mut self.ejections_detected_local_origin_success_rate
            }
            EjectionType::FailurePercentage => &mut self.ejections_detected_failure_percentage,
            EjectionType::FailurePercentageLocalOrigin => {
                &mut self.ejections_detected_local_origin_failure_percentage
            }
        }
    }

    fn enforced(&mut self, kind: EjectionType) -> &mut u64 {
        match kind {
            EjectionType::Consecutive5xx => &mut self.ejections_enforced_consecutive_5xx,
            EjectionType::ConsecutiveGatewayFailure => {
                &mut self.ejections_enforced_consecutive_gateway_failure
            }
            EjectionType::ConsecutiveLocalOriginFailure => {
                &mut self.ejections_enforced_consecutive_local_origin_failure
            }
            EjectionType::SuccessRate => &mut self.ejections_enforced_success_rate,
            EjectionType::SuccessRateLocalOrigin => {
                &mut self.ejections_enforced_local_origin_success_rate
            }
            EjectionType::FailurePercentage => &mut self.ejections_enforced_failure_percentage,
            EjectionType::FailurePercentageLocalOrigin => {
                &mut self.ejections_enforced_local_origin_failure_percentage
            }
        }
    }
}

/// An entry for the outlier event log (`outlier_log_path`).
#[derive(Clone, Debug, PartialEq)]
pub enum OutlierEvent<K> {
    /// A host was found to be an outlier.
    Eject {
        /// The host.
        host: K,
        /// Why.
        kind: EjectionType,
        /// Whether it was ejected (the enforcement roll passed), or only detected.
        enforced: bool,
        /// The host's ejections so far, this one included when enforced.
        num_ejections: u32,
        /// Time since the host's last ejection ended, if it had one.
        since_last_action: Option<Duration>,
    },
    /// A host's ejection ended.
    Uneject {
        /// The host.
        host: K,
        /// The host's ejections so far.
        num_ejections: u32,
        /// How long the host was ejected.
        since_last_action: Option<Duration>,
    },
}

/// Requests of one interval, for one origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bucket {
    success: u64,
    total: u64,
}

impl Bucket {
    /// The success rate in percent and the volume; `None` without requests.
    fn rate_and_volume(self) -> Option<(f64, u64)> {
        (self.total > 0).then(|| (self.success as f64 * 100.0 / self.total as f64, self.total))
    }
}

/// What the detector knows of one host.
#[derive(Clone, Debug)]
struct HostMonitor {
    consecutive_5xx: u32,
    consecutive_gateway_failure: u32,
    consecutive_local_origin_failure: u32,
    /// Requests of the running interval, per origin.
    current: [Bucket; 2],
    /// Requests of the interval that ended at the last tick, per origin.
    last: [Bucket; 2],
    /// Success rate per origin as of the last sweep; -1 when not computed.
    success_rate: [f64; 2],
    ejected: bool,
    num_ejections: u32,
    backoff: u32,
    jitter: Duration,
    last_ejection: Option<Instant>,
    last_unejection: Option<Instant>,
}

impl HostMonitor {
    fn new() -> Self {
        Self {
            consecutive_5xx: 0,
            consecutive_gateway_failure: 0,
            consecutive_local_origin_failure: 0,
            current: [Bucket::default(); 2],
            last: [Bucket::default(); 2],
            success_rate: [-1.0; 2],
            ejected: false,
            num_ejections: 0,
            backoff: 0,
            jitter: Duration::ZERO,
            last_ejection: None,
            last_unejection: None,
        }
    }
}

/// The success-rate figures of the last sweep for one origin: the cluster's average and its
/// ejection threshold, -1 when not computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SuccessRateNumbers {
    /// Mean success rate of the hosts with enough requests.
    pub average: f64,
    /// The rate below which a host is an outlier.
    pub ejection_threshold: f64,
}

impl SuccessRateNumbers {
    const NONE: Self = Self {
        average: -1.0,
        ejection_threshold: -1.0,
    };
}

/// One cluster's outlier detector. `K` names a host (its address, say); hosts are kept in
/// `K`'s order, so a run replays exactly from its seed.
#[derive(Clone, Debug)]
pub struct Detector<K: Ord + Clone> {
    config: OutlierConfig,
    hosts: BTreeMap<K, HostMonitor>,
    /// Whether the cluster has an active health checker (for
    /// `successful_active_health_check_uneject_host`).
    has_health_checker: bool,
    rng: SplitMix64,
    stats: OutlierStats,
    numbers: [SuccessRateNumbers; 2],
    events: Vec<OutlierEvent<K>>,
}

impl<K: Ord + Clone> Detector<K> {
    /// A detector for `hosts`, drawing its rolls and jitter from `seed`.
    pub fn new(
        config: OutlierConfig,
        hosts: impl IntoIterator<Item = K>,
        has_health_checker: bool,
        seed: u64,
    ) -> Self {
        Self {
            config,
            hosts: hosts.into_iter().map(|k| (k, HostMonitor::new())).collect(),
            has_health_checker,
            rng: SplitMix64::new(seed),
            stats: OutlierStats::default(),
            numbers: [SuccessRateNumbers::NONE; 2],
            events: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &OutlierConfig {
        &self.config
    }

    /// Follows a change of the cluster's hosts: new hosts start with clean counters, removed
    /// ones leave (an ejected one no longer counts as ejected).
    pub fn set_hosts(&mut self, hosts: impl IntoIterator<Item = K>) {
        let mut next: BTreeMap<K, HostMonitor> = BTreeMap::new();
        for k in hosts {
            let monitor = self.hosts.remove(&k).unwrap_or_else(HostMonitor::new);
            next.insert(k, monitor);
        }
        for gone in self.hosts.values() {
            if gone.ejected {
                self.stats.ejections_active -= 1;
            }
        }
        self.hosts = next;
    }

    /// Whether `host` is ejected now.
    pub fn is_ejected(&self, host: &K) -> bool {
        self.hosts.get(host).is_some_and(|m| m.ejected)
    }

    /// The hosts ejected now, in order.
    pub fn ejected(&self) -> impl Iterator<Item = &K> + '_ {
        self.hosts.iter().filter(|(_, m)| m.ejected).map(|(k, _)| k)
    }

    /// How many times `host` has been ejected.
    pub fn num_ejections(&self, host: &K) -> u32 {
        self.hosts.get(host).map_or(0, |m| m.num_ejections)
    }

    /// `host`'s success rate for `origin` as of the last sweep, -1 when not computed (the
    /// `/clusters` `success_rate` and `local_origin_success_rate` fields).
    pub fn success_rate(&self, host: &K, origin: Origin) -> f64 {
        self.hosts
            .get(host)
            .map_or(-1.0, |m| m.success_rate[origin.index()])
    }

    /// The cluster's success-rate figures for `origin` as of the last sweep.
    pub fn success_rate_numbers(&self, origin: Origin) -> SuccessRateNumbers {
        self.numbers[origin.index()]
    }

    /// The stats.
    pub fn stats(&self) -> &OutlierStats {
        &self.stats
    }

    /// Takes the event log entries written since the last call.
    pub fn take_events(&mut self) -> Vec<OutlierEvent<K>> {
        std::mem::take(&mut self.events)
    }

    /// Counts one result for `host`. Returns whether the set of ejected hosts changed.
    pub fn report(&mut self, host: &K, report: Report, now: Instant) -> bool {
        if !self.hosts.contains_key(host) {
            return false;
        }
        if self.config.split_external_local_origin_errors {
            match report {
                Report::ConnectSuccess | Report::ConnectSuccessFinal => {
                    self.local_origin_success(host);
                    false
                }
                Report::ConnectFailed | Report::Timeout(_) => self.local_origin_failure(host, now),
                Report::RequestFailed => self.http_status(host, 503, now),
                Report::RequestSuccess => {
                    let changed = self.http_status(host, 200, now);
                    self.local_origin_success(host);
                    changed
                }
                Report::Status(code) => self.http_status(host, code, now),
            }
        } else {
            let code = match report {
                Report::Status(code) | Report::Timeout(code) => code,
                Report::RequestSuccess | Report::ConnectSuccessFinal => 200,
                Report::ConnectFailed => 503,
                Report::RequestFailed => 500,
                Report::ConnectSuccess => return false,
            };
            self.http_status(host, code, now)
        }
    }

    fn monitor(&mut self, host: &K) -> Option<&mut HostMonitor> {
        self.hosts.get_mut(host)
    }

    /// Envoy's `putHttpResponseCode`.
    fn http_status(&mut self, host: &K, code: u16, now: Instant) -> bool {
        let gateway_threshold = self.config.consecutive_gateway_failure;
        let five_xx_threshold = self.config.consecutive_5xx;
        let Some(m) = self.monitor(host) else {
            return false;
        };
        let bucket = &mut m.current[Origin::External.index()];
        bucket.total += 1;
        let mut detected = Vec::new();
        if (500..600).contains(&code) {
            if (502..505).contains(&code) {
                m.consecutive_gateway_failure += 1;
                if m.consecutive_gateway_failure == gateway_threshold {
                    detected.push(EjectionType::ConsecutiveGatewayFailure);
                }
            } else {
                m.consecutive_gateway_failure = 0;
            }
            m.consecutive_5xx += 1;
            if m.consecutive_5xx == five_xx_threshold {
                detected.push(EjectionType::Consecutive5xx);
            }
        } else {
            bucket.success += 1;
            m.consecutive_5xx = 0;
            m.consecutive_gateway_failure = 0;
        }
        let mut changed = false;
        for kind in detected {
            changed |= self.on_consecutive_error(host, kind, now);
        }
        changed
    }

    fn local_origin_failure(&mut self, host: &K, now: Instant) -> bool {
        let threshold = self.config.consecutive_local_origin_failure;
        let Some(m) = self.monitor(host) else {
            return false;
        };
        m.current[Origin::Local.index()].total += 1;
        m.consecutive_local_origin_failure += 1;
        if m.consecutive_local_origin_failure == threshold {
            return self.on_consecutive_error(
                host,
                EjectionType::ConsecutiveLocalOriginFailure,
                now,
            );
        }
        false
    }

    fn local_origin_success(&mut self, host: &K) {
        if let Some(m) = self.monitor(host) {
            let bucket = &mut m.current[Origin::Local.index()];
            bucket.total += 1;
            bucket.success += 1;
            m.consecutive_local_origin_failure = 0;
        }
    }

    /// Envoy's `onConsecutiveErrorWorker`.
    fn on_consecutive_error(&mut self, host: &K, kind: EjectionType, now: Instant) -> bool {
        if self.hosts.get(host).is_none_or(|m| m.ejected) {
            // Already ejected: nothing counted, the counter stays where it is.
            return false;
        }
        *self.stats.detected(kind) += 1;
        let changed = self.eject(host, kind, now);
        if let Some(m) = self.monitor(host) {
            match kind {
                EjectionType::Consecutive5xx => m.consecutive_5xx = 0,
                EjectionType::ConsecutiveGatewayFailure => m.consecutive_gateway_failure = 0,
                EjectionType::ConsecutiveLocalOriginFailure => {
                    m.consecutive_local_origin_failure = 0;
                }
                _ => {}
            }
        }
        if kind == EjectionType::Consecutive5xx {
            self.stats.ejections_consecutive_5xx += 1;
        }
        changed
    }

    fn enforcing(&self, kind: EjectionType) -> u32 {
        let c = &self.config;
        match kind {
            EjectionType::Consecutive5xx => c.enforcing_consecutive_5xx,
            EjectionType::ConsecutiveGatewayFailure => c.enforcing_consecutive_gateway_failure,
            EjectionType::ConsecutiveLocalOriginFailure => {
                c.enforcing_consecutive_local_origin_failure
            }
            EjectionType::SuccessRate => c.enforcing_success_rate,
            EjectionType::SuccessRateLocalOrigin => c.enforcing_local_origin_success_rate,
            EjectionType::FailurePercentage => c.enforcing_failure_percentage,
            EjectionType::FailurePercentageLocalOrigin => {
                c.enforcing_failure_percentage_local_origin
            }
        }
    }

    /// Envoy's runtime `featureEnabled` roll for a percentage.
    fn roll(&mut self, percent: u32) -> bool {
        match percent.min(100) {
            0 => false,
            100 => true,
            p => self.rng.next_u64() % 100 < u64::from(p),
        }
    }

    /// Envoy's `ejectHost`. Returns whether the host was ejected.
    fn eject(&mut self, host: &K, kind: EjectionType, now: Instant) -> bool {
        let max_percent = f64::from(self.config.max_ejection_percent.min(100));
        let active = self.stats.ejections_active;
        let ejected_percent = 100.0 * (active + 1) as f64 / self.hosts.len() as f64;
        let should_eject =
            ejected_percent <= max_percent || (self.config.always_eject_one_host && active == 0);
        if !should_eject {
            self.stats.ejections_overflow += 1;
            return false;
        }
        if matches!(
            kind,
            EjectionType::Consecutive5xx | EjectionType::SuccessRate
        ) {
            self.stats.ejections_total += 1;
        }
        let enforced = self.roll(self.enforcing(kind));
        if enforced {
            self.stats.ejections_active += 1;
            self.stats.ejections_enforced_total += 1;
            *self.stats.enforced(kind) += 1;
        }
        let jitter_max = millis(self.config.max_ejection_time_jitter);
        let jitter = if enforced {
            Duration::from_millis(self.rng.next_u64() % jitter_max.saturating_add(1))
        } else {
            Duration::ZERO
        };
        let base = self.config.base_ejection_time;
        let max = self.config.max_ejection_time;
        let Some(m) = self.hosts.get_mut(host) else {
            return false;
        };
        let since_last_action = m.last_unejection.map(|t| now.saturating_duration_since(t));
        if enforced {
            m.ejected = true;
            m.num_ejections += 1;
            m.last_ejection = Some(now);
            m.jitter = jitter;
            if base.saturating_mul(m.backoff) < max.saturating_add(base) {
                m.backoff += 1;
            }
        }
        self.events.push(OutlierEvent::Eject {
            host: host.clone(),
            kind,
            enforced,
            num_ejections: m.num_ejections,
            since_last_action,
        });
        enforced
    }

    /// Envoy's `unejectHost`.
    fn uneject(&mut self, host: &K, now: Instant) {
        let Some(m) = self.hosts.get_mut(host) else {
            return;
        };
        if !m.ejected {
            return;
        }
        m.ejected = false;
        m.consecutive_5xx = 0;
        m.consecutive_gateway_failure = 0;
        m.consecutive_local_origin_failure = 0;
        m.last_unejection = Some(now);
        let since_last_action = m.last_ejection.map(|t| now.saturating_duration_since(t));
        let num_ejections = m.num_ejections;
        self.stats.ejections_active -= 1;
        self.events.push(OutlierEvent::Uneject {
            host: host.clone(),
            num_ejections,
            since_last_action,
        });
    }

    /// An active health check of `host` finished. A passing check of a host that active
    /// health checking does not fail ends its ejection at once, with
    /// `successful_active_health_check_uneject_host`. Returns whether it did.
    pub fn on_health_check(
        &mut self,
        host: &K,
        passed: bool,
        failing_active_hc: bool,
        now: Instant,
    ) -> bool {
        if !self.config.successful_active_health_check_uneject_host || !self.has_health_checker {
            return false;
        }
        if passed && !failing_active_hc && self.is_ejected(host) {
            self.uneject(host, now);
            return true;
        }
        false
    }

    /// Runs one `interval` tick: ends the ejections whose time has passed, closes the
    /// interval's request counts, runs the success-rate and failure-percentage sweeps (external
    /// origin, then local), then eases the backoff of hosts that stayed healthy. Returns whether
    /// the set of ejected hosts changed.
    pub fn tick(&mut self, now: Instant) -> bool {
        let mut changed = false;
        let keys: Vec<K> = self.hosts.keys().cloned().collect();
        for k in &keys {
            if self.ejection_is_over(k, now) {
                self.uneject(k, now);
                changed = true;
            }
            if let Some(m) = self.hosts.get_mut(k) {
                m.last = m.current;
                m.current = [Bucket::default(); 2];
                m.success_rate = [-1.0; 2];
            }
        }
        changed |= self.sweep(Origin::External, now);
        changed |= self.sweep(Origin::Local, now);
        let interval = self.config.interval;
        for m in self.hosts.values_mut() {
            let rested = m
                .last_unejection
                .is_some_and(|t| now.saturating_duration_since(t) >= interval);
            if !m.ejected && rested && m.backoff > 0 {
                m.backoff -= 1;
            }
        }
        changed
    }

    /// Envoy's `checkHostForUneject`.
    fn ejection_is_over(&self, host: &K, now: Instant) -> bool {
        let Some(m) = self.hosts.get(host) else {
            return false;
        };
        let Some(ejected_at) = m.last_ejection.filter(|_| m.ejected) else {
            return false;
        };
        let time = self
            .config
            .base_ejection_time
            .saturating_mul(m.backoff)
            .min(self.config.max_ejection_time)
            + m.jitter;
        time <= now.saturating_duration_since(ejected_at)
    }

    /// Envoy's `processSuccessRateEjections` for one origin.
    fn sweep(&mut self, origin: Origin, now: Instant) -> bool {
        let i = origin.index();
        self.numbers[i] = SuccessRateNumbers::NONE;
        let c = &self.config;
        let (sr_min_hosts, sr_volume) = (
            u64::from(c.success_rate_minimum_hosts),
            u64::from(c.success_rate_request_volume),
        );
        let (fp_min_hosts, fp_volume) = (
            u64::from(c.failure_percentage_minimum_hosts),
            u64::from(c.failure_percentage_request_volume),
        );
        let hosts = self.hosts.len() as u64;
        if hosts < sr_min_hosts && hosts < fp_min_hosts {
            return false;
        }
        let mut valid_sr: Vec<(K, f64)> = Vec::new();
        let mut valid_fp: Vec<(K, f64)> = Vec::new();
        let mut sum = 0.0;
        for (k, m) in self.hosts.iter_mut().filter(|(_, m)| !m.ejected) {
            let Some((rate, volume)) = m.last[i].rate_and_volume() else {
                continue;
            };
            if volume >= sr_volume.min(fp_volume) {
                m.success_rate[i] = rate;
            }
            if volume >= sr_volume {
                valid_sr.push((k.clone(), rate));
                sum += rate;
            }
            if volume >= fp_volume {
                valid_fp.push((k.clone(), rate));
            }
        }
        let mut changed = false;
        if !valid_sr.is_empty() && valid_sr.len() as u64 >= sr_min_hosts {
            let factor = f64::from(self.config.success_rate_stdev_factor) / 1000.0;
            let n = valid_sr.len() as f64;
            let mean = sum / n;
            let variance = valid_sr
                .iter()
                .map(|(_, r)| (r - mean) * (r - mean))
                .sum::<f64>()
                / n;
            let threshold = mean - factor * variance.sqrt();
            self.numbers[i] = SuccessRateNumbers {
                average: mean,
                ejection_threshold: threshold,
            };
            let kind = match origin {
                Origin::External => EjectionType::SuccessRate,
                Origin::Local => EjectionType::SuccessRateLocalOrigin,
            };
            for (k, rate) in &valid_sr {
                if *rate < threshold {
                    self.stats.ejections_success_rate += 1;
                    *self.stats.detected(kind) += 1;
                    changed |= self.eject(k, kind, now);
                }
            }
        }
        if !valid_fp.is_empty() && valid_fp.len() as u64 >= fp_min_hosts {
            let threshold = f64::from(self.config.failure_percentage_threshold);
            let kind = match origin {
                Origin::External => EjectionType::FailurePercentage,
                Origin::Local => EjectionType::FailurePercentageLocalOrigin,
            };
            for (k, rate) in &valid_fp {
                // A host the success-rate check has just ejected is not ejected twice.
                if 100.0 - rate >= threshold && !self.is_ejected(k) {
                    *self.stats.detected(kind) += 1;
                    changed |= self.eject(k, kind, now);
                }
            }
        }
        changed
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn detector(config: OutlierConfig, hosts: u32) -> Detector<u32> {
        Detector::new(config, 0..hosts, false, 7)
    }

    fn lenient() -> OutlierConfig {
        OutlierConfig {
            max_ejection_percent: 100,
            ..OutlierConfig::default()
        }
    }

    fn repeat(d: &mut Detector<u32>, host: u32, report: Report, n: usize, now: Instant) -> bool {
        let mut changed = false;
        for _ in 0..n {
            changed |= d.report(&host, report, now);
        }
        changed
    }

    #[test]
    fn the_fifth_5xx_in_a_row_ejects_and_a_success_starts_the_count_again() {
        let t0 = Instant::now();
        let mut d = detector(lenient(), 5);
        assert!(!repeat(&mut d, 1, Report::Status(500), 4, t0));
        assert!(
            !d.report(&1, Report::Status(404), t0),
            "a 4xx is a success here"
        );
        assert!(!repeat(&mut d, 1, Report::Status(500), 4, t0));
        assert!(d.report(&1, Report::Status(500), t0));
        assert!(d.is_ejected(&1));
        let st = d.stats();
        assert_eq!(st.ejections_active, 1);
        assert_eq!(st.ejections_detected_consecutive_5xx, 1);
        assert_eq!(st.ejections_enforced_consecutive_5xx, 1);
        assert_eq!(st.ejections_enforced_total, 1);
        assert_eq!(st.ejections_total, 1);
        assert_eq!(st.ejections_consecutive_5xx, 1);
        assert_eq!(d.take_events().len(), 1);
    }

    #[test]
    fn gateway_failures_are_detected_but_by_default_not_enforced() {
        let t0 = Instant::now();
        let mut d = detector(lenient(), 5);
        // 503 is both a 5xx and a gateway failure; the gateway detection comes first and
        // is only logged (enforcing_consecutive_gateway_failure is 0).
        assert!(repeat(&mut d, 2, Report::Status(503), 5, t0));
        let st = d.stats();
        assert_eq!(st.ejections_detected_consecutive_gateway_failure, 1);
        assert_eq!(st.ejections_enforced_consecutive_gateway_failure, 0);
        assert_eq!(st.ejections_enforced_consecutive_5xx, 1);
        let events = d.take_events();
        assert!(matches!(
            events.first(),
            Some(OutlierEvent::Eject {
                kind: EjectionType::ConsecutiveGatewayFailure,
                enforced: false,
                ..
            })
        ));
        // A 500 resets the gateway count but not the 5xx count.
        let mut d = detector(
            OutlierConfig {
                enforcing_consecutive_gateway_failure: 100,
                consecutive_5xx: 100,
                ..lenient()
            },
            5,
        );
        repeat(&mut d, 0, Report::Status(502), 4, t0);
        d.report(&0, Report::Status(500), t0);
        assert!(!repeat(&mut d, 0, Report::Status(504), 4, t0));
        assert!(d.report(&0, Report::Status(504), t0));
        assert_eq!(d.stats().ejections_enforced_consecutive_gateway_failure, 1);
    }

    #[test]
    fn max_ejection_percent_is_strict_unless_one_host_may_always_go() {
        let t0 = Instant::now();
        // Five hosts, 10 %: one ejection would be 20 %, an overflow.
        let mut d = detector(OutlierConfig::default(), 5);
        assert!(!repeat(&mut d, 0, Report::Status(500), 5, t0));
        assert!(!d.is_ejected(&0));
        assert_eq!(d.stats().ejections_overflow, 1);
        assert_eq!(d.stats().ejections_detected_consecutive_5xx, 1);
        let mut d = detector(
            OutlierConfig {
                always_eject_one_host: true,
                ..OutlierConfig::default()
            },
            5,
        );
        assert!(repeat(&mut d, 0, Report::Status(500), 5, t0));
        assert!(
            !repeat(&mut d, 1, Report::Status(500), 5, t0),
            "only the first"
        );
        assert_eq!(d.stats().ejections_overflow, 1);
        // 50 % of four hosts: two may go, not three.
        let mut d = detector(
            OutlierConfig {
                max_ejection_percent: 50,
                ..OutlierConfig::default()
            },
            4,
        );
        for h in 0..3 {
            repeat(&mut d, h, Report::Status(500), 5, t0);
        }
        assert_eq!(d.ejected().count(), 2);
    }

    #[test]
    fn ejection_time_grows_with_the_backoff_is_capped_and_eases_while_healthy() {
        let t0 = Instant::now();
        let config = OutlierConfig {
            base_ejection_time: 10 * S,
            max_ejection_time: 25 * S,
            interval: 5 * S,
            ..lenient()
        };
        let mut d = detector(config, 5);
        let eject = |d: &mut Detector<u32>, at: Instant| {
            assert!(repeat(d, 3, Report::Status(500), 5, at));
        };
        // Returns when a tick every interval after `from` ends the ejection.
        let released = |d: &mut Detector<u32>, from: Instant| -> Duration {
            for k in 1..=100u32 {
                let at = from + 5 * S * k;
                if d.tick(at) {
                    assert!(!d.is_ejected(&3));
                    return at - from;
                }
            }
            panic!("never released");
        };
        eject(&mut d, t0);
        assert_eq!(released(&mut d, t0), 10 * S, "base × 1");
        let t1 = t0 + 10 * S;
        eject(&mut d, t1);
        assert_eq!(released(&mut d, t1), 20 * S, "base × 2");
        let t2 = t1 + 20 * S;
        eject(&mut d, t2);
        assert_eq!(released(&mut d, t2), 25 * S, "capped at max_ejection_time");
        assert_eq!(d.num_ejections(&3), 3);
        // Healthy ticks ease the backoff (3 → 0 after three ticks an interval apart).
        let t3 = t2 + 25 * S;
        for k in 1..=3 {
            d.tick(t3 + 5 * S * k);
        }
        eject(&mut d, t3 + 15 * S);
        assert_eq!(released(&mut d, t3 + 15 * S), 10 * S, "back to base × 1");
    }

    #[test]
    fn jitter_is_drawn_once_per_ejection_and_bounded_inclusively() {
        let t0 = Instant::now();
        let config = OutlierConfig {
            base_ejection_time: 10 * S,
            max_ejection_time_jitter: Duration::from_millis(3000),
            ..lenient()
        };
        let mut d = detector(config, 5);
        repeat(&mut d, 0, Report::Status(500), 5, t0);
        let jitter = d.hosts.get(&0).map(|m| m.jitter).unwrap_or_default();
        assert!(jitter <= Duration::from_millis(3000));
        let over = t0 + 10 * S + jitter;
        if !jitter.is_zero() {
            assert!(!d.tick(over - Duration::from_millis(1)));
            assert!(d.is_ejected(&0));
        }
        assert!(d.tick(over));
        assert!(!d.is_ejected(&0));
    }

    #[test]
    fn success_rate_ejects_below_mean_minus_stdev_factor_times_stdev() {
        let t0 = Instant::now();
        let mut d = detector(lenient(), 5);
        // Success rates 50, 100, 100, 100, 100 over 100 requests each: mean 90, stdev 20,
        // threshold 90 - 1.9 × 20 = 52.
        for h in 0..5u32 {
            let failures = if h == 0 { 50 } else { 0 };
            repeat(&mut d, h, Report::Status(200), 100 - failures, t0);
            // 500s interleaved with successes never reach five in a row here.
            for _ in 0..failures {
                d.report(&h, Report::Status(500), t0);
                d.report(&h, Report::Status(200), t0);
            }
        }
        // Host 0 saw 150 requests, 100 of them good: 66.7 %. Recompute the expectation.
        let rates = [100.0 * 100.0 / 150.0, 100.0, 100.0, 100.0, 100.0];
        let mean = rates.iter().sum::<f64>() / 5.0;
        let var = rates.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / 5.0;
        let threshold = mean - 1.9 * var.sqrt();
        assert!(d.tick(t0 + 10 * S));
        let n = d.success_rate_numbers(Origin::External);
        assert!((n.average - mean).abs() < 1e-9);
        assert!((n.ejection_threshold - threshold).abs() < 1e-9);
        assert!(d.is_ejected(&0));
        assert_eq!(d.stats().ejections_enforced_success_rate, 1);
        assert_eq!(d.stats().ejections_success_rate, 1);
        assert!((d.success_rate(&1, Origin::External) - 100.0).abs() < 1e-9);
        assert!(
            (d.success_rate(&0, Origin::External) - rates[0]).abs() < 1e-9,
            "rated in the sweep that ejected it"
        );
        assert_eq!(
            d.success_rate_numbers(Origin::Local),
            SuccessRateNumbers::NONE,
            "nothing counted apart"
        );
        // The next interval had no requests: the figures go back to -1.
        d.tick(t0 + 20 * S);
        assert_eq!(d.success_rate_numbers(Origin::External).average, -1.0);
        assert_eq!(d.success_rate(&1, Origin::External), -1.0);
    }

    #[test]
    fn too_few_hosts_or_requests_skip_the_sweeps() {
        let t0 = Instant::now();
        let mut d = detector(lenient(), 4);
        for h in 0..4u32 {
            repeat(&mut d, h, Report::Status(200), 200, t0);
        }
        d.tick(t0 + 10 * S);
        assert_eq!(
            d.success_rate_numbers(Origin::External),
            SuccessRateNumbers::NONE
        );
        assert_eq!(d.success_rate(&0, Origin::External), -1.0);
        let mut d = detector(lenient(), 5);
        for h in 0..5u32 {
            repeat(&mut d, h, Report::Status(200), 99, t0);
        }
        d.tick(t0 + 10 * S);
        assert_eq!(
            d.success_rate_numbers(Origin::External),
            SuccessRateNumbers::NONE
        );
        assert!(
            (d.success_rate(&0, Origin::External) - 100.0).abs() < 1e-9,
            "rated with 50 requests or more"
        );
    }

    #[test]
    fn failure_percentage_ejects_at_the_threshold_when_enforced() {
        let t0 = Instant::now();
        let config = OutlierConfig {
            enforcing_failure_percentage: 100,
            enforcing_success_rate: 0,
            ..lenient()
        };
        let mut d = detector(config, 5);
        for h in 0..5u32 {
            let failures = if h == 4 { 85 } else { 0 };
            for i in 0..100 {
                // Failures never five in a row: a success after every fourth.
                let fail = i < failures && i % 5 != 4;
                d.report(&h, Report::Status(if fail { 500 } else { 200 }), t0);
            }
        }
        d.tick(t0 + 10 * S);
        assert!(!d.is_ejected(&4), "68 % failed: under 85 %");
        let mut d = detector(
            OutlierConfig {
                failure_percentage_threshold: 60,
                ..d.config().clone()
            },
            5,
        );
        for h in 0..5u32 {
            for i in 0..100 {
                let fail = h == 4 && i % 5 != 4;
                d.report(&h, Report::Status(if fail { 500 } else { 200 }), t0);
            }
        }
        assert!(d.tick(t0 + 10 * S));
        assert!(d.is_ejected(&4));
        assert_eq!(
            d.stats().ejections_detected_success_rate,
            1,
            "detected, not enforced"
        );
        assert_eq!(d.stats().ejections_enforced_failure_percentage, 1);
    }

    #[test]
    fn local_origin_errors_count_apart_only_when_split() {
        let t0 = Instant::now();
        // Not split: a failed connect is a 503 and a timeout its status.
        let mut d = detector(lenient(), 5);
        assert!(repeat(&mut d, 0, Report::ConnectFailed, 5, t0));
        assert_eq!(d.stats().ejections_enforced_consecutive_5xx, 1);
        assert!(
            !repeat(&mut d, 1, Report::ConnectSuccess, 10, t0),
            "not counted"
        );
        // Split: connect failures and timeouts count only as local-origin failures, and a
        // connect success resets them.
        let mut d = detector(
            OutlierConfig {
                split_external_local_origin_errors: true,
                ..lenient()
            },
            5,
        );
        repeat(&mut d, 0, Report::ConnectFailed, 4, t0);
        d.report(&0, Report::ConnectSuccess, t0);
        assert!(!repeat(&mut d, 0, Report::Timeout(504), 4, t0));
        assert!(d.report(&0, Report::ConnectFailed, t0));
        let st = d.stats();
        assert_eq!(st.ejections_enforced_consecutive_local_origin_failure, 1);
        assert_eq!(st.ejections_detected_consecutive_5xx, 0);
        // In split mode a request failure counts as a 503.
        assert!(repeat(&mut d, 1, Report::RequestFailed, 5, t0));
        assert_eq!(d.stats().ejections_detected_consecutive_gateway_failure, 1);
    }

    #[test]
    fn an_ejected_host_counts_nothing_more_and_an_uneject_resets_every_count() {
        let t0 = Instant::now();
        let mut d = detector(
            OutlierConfig {
                base_ejection_time: 10 * S,
                ..lenient()
            },
            5,
        );
        repeat(&mut d, 0, Report::Status(500), 5, t0);
        assert!(!repeat(&mut d, 0, Report::Status(500), 5, t0));
        assert_eq!(d.stats().ejections_detected_consecutive_5xx, 1);
        d.tick(t0 + 10 * S);
        assert!(!d.is_ejected(&0));
        assert!(!repeat(&mut d, 0, Report::Status(500), 4, t0 + 10 * S));
        assert!(d.report(&0, Report::Status(500), t0 + 10 * S));
    }

    #[test]
    fn a_passing_active_check_ends_an_ejection_when_configured() {
        let t0 = Instant::now();
        let mut d = Detector::new(lenient(), 0..5u32, true, 1);
        repeat(&mut d, 0, Report::Status(500), 5, t0);
        assert!(
            !d.on_health_check(&0, true, true, t0),
            "still failing active checks"
        );
        assert!(!d.on_health_check(&0, false, false, t0));
        assert!(d.on_health_check(&0, true, false, t0));
        assert!(!d.is_ejected(&0));
        let mut d = Detector::new(
            OutlierConfig {
                successful_active_health_check_uneject_host: false,
                ..lenient()
            },
            0..5u32,
            true,
            1,
        );
        repeat(&mut d, 0, Report::Status(500), 5, t0);
        assert!(!d.on_health_check(&0, true, false, t0));
        // Without a health checker, checks never come.
        let mut d = detector(lenient(), 5);
        repeat(&mut d, 0, Report::Status(500), 5, t0);
        assert!(!d.on_health_check(&0, true, false, t0));
    }

    #[test]
    fn enforcement_rolls_replay_from_the_seed() {
        let t0 = Instant::now();
        let run = |seed: u64| {
            let config = OutlierConfig {
                enforcing_consecutive_5xx: 30,
                ..lenient()
            };
            let mut d = Detector::new(config, 0..1000u32, false, seed);
            for h in 0..1000u32 {
                repeat(&mut d, h, Report::Status(500), 5, t0);
            }
            d.ejected().copied().collect::<Vec<_>>()
        };
        let a = run(11);
        assert_eq!(a, run(11));
        assert_ne!(a, run(12));
        // About 30 % of the detections are enforced.
        assert!((230..=370).contains(&a.len()), "{}", a.len());
    }

    #[test]
    fn hosts_that_leave_take_their_ejection_with_them() {
        let t0 = Instant::now();
        let mut d = detector(lenient(), 5);
        repeat(&mut d, 4, Report::Status(500), 5, t0);
        repeat(&mut d, 0, Report::Status(500), 3, t0);
        d.set_hosts([0, 1, 2, 3, 9]);
        assert_eq!(d.stats().ejections_active, 0);
        assert!(!d.is_ejected(&4));
        // Host 0 kept its count; host 9 starts clean.
        assert!(repeat(&mut d, 0, Report::Status(500), 2, t0));
        assert!(!repeat(&mut d, 9, Report::Status(500), 4, t0));
    }

    #[test]
    fn a_max_ejection_time_under_the_base_is_refused() {
        let config = OutlierConfig {
            base_ejection_time: 400 * S,
            max_ejection_time: 300 * S,
            ..OutlierConfig::default()
        };
        assert!(config.validate().is_err());
        assert_eq!(OutlierConfig::default_max_ejection_time(400 * S), 400 * S);
        assert!(OutlierConfig::default().validate().is_ok());
    }
}
