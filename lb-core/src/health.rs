//! Host health as Envoy keeps it: the health flags that discovery, active health checking and
//! outlier detection set on a host, the coarse health the load balancer sees, and the
//! per-host state machine of an active health checker.
//!
//! Everything here is pure: a checker's session reports each check's outcome and receives the
//! transition and the wait before the next check; time and randomness are passed in. The
//! control thread runs the checks and turns transitions into snapshots.

use std::fmt;
use std::time::Duration;

use crate::host::Health;

/// Envoy's `Host::HealthFlag`: why a host is not plainly healthy. Several may hold at once.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct HealthFlags(u16);

impl HealthFlags {
    /// Failing active health checks.
    pub const FAILED_ACTIVE_HC: Self = Self(0x1);
    /// Ejected by outlier detection.
    pub const FAILED_OUTLIER_CHECK: Self = Self(0x2);
    /// Unhealthy (or timed out) by discovery's `health_status`.
    pub const FAILED_EDS_HEALTH: Self = Self(0x4);
    /// Degraded by active health checking (`x-envoy-degraded`).
    pub const DEGRADED_ACTIVE_HC: Self = Self(0x8);
    /// Degraded by discovery's `health_status`.
    pub const DEGRADED_EDS_HEALTH: Self = Self(0x10);
    /// Gone from discovery, kept while active health checking still passes it.
    pub const PENDING_DYNAMIC_REMOVAL: Self = Self(0x20);
    /// Waiting for its first active health check.
    pub const PENDING_ACTIVE_HC: Self = Self(0x40);
    /// Taken out of rotation by `x-envoy-immediate-health-check-fail`.
    pub const EXCLUDED_VIA_IMMEDIATE_HC_FAIL: Self = Self(0x80);
    /// Its last failed active health check timed out.
    pub const ACTIVE_HC_TIMEOUT: Self = Self(0x100);
    /// Draining by discovery's `health_status`.
    pub const EDS_STATUS_DRAINING: Self = Self(0x200);

    /// Names as Envoy's admin `/clusters` prints them, in its order.
    const NAMES: [(Self, &'static str); 10] = [
        (Self::FAILED_ACTIVE_HC, "failed_active_hc"),
        (Self::FAILED_OUTLIER_CHECK, "failed_outlier_check"),
        (Self::FAILED_EDS_HEALTH, "failed_eds_health"),
        (Self::DEGRADED_ACTIVE_HC, "degraded_active_hc"),
        (Self::DEGRADED_EDS_HEALTH, "degraded_eds_health"),
        (Self::PENDING_DYNAMIC_REMOVAL, "pending_dynamic_removal"),
        (Self::PENDING_ACTIVE_HC, "pending_active_hc"),
        (
            Self::EXCLUDED_VIA_IMMEDIATE_HC_FAIL,
            "excluded_via_immediate_hc_fail",
        ),
        (Self::ACTIVE_HC_TIMEOUT, "active_hc_timeout"),
        (Self::EDS_STATUS_DRAINING, "eds_status_draining"),
    ];

    /// No flag.
    #[must_use]
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Whether any flag of `other` is set.
    #[must_use]
    pub const fn any(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether every flag of `other` is set.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets the flags of `other`.
    pub fn set(&mut self, other: Self) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    pub fn clear(&mut self, other: Self) {
        self.0 &= !other.0;
    }

    /// Both sets of flags.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Envoy's `coarseHealth()`: unhealthy when failing a check, ejected, unhealthy or draining
    /// by discovery; else degraded when degraded by a check or by discovery; else healthy.
    #[must_use]
    pub const fn coarse(self) -> Health {
        let unhealthy = Self::FAILED_ACTIVE_HC
            .union(Self::FAILED_OUTLIER_CHECK)
            .union(Self::FAILED_EDS_HEALTH)
            .union(Self::EDS_STATUS_DRAINING);
        let degraded = Self::DEGRADED_ACTIVE_HC.union(Self::DEGRADED_EDS_HEALTH);
        if self.any(unhealthy) {
            Health::Unhealthy
        } else if self.any(degraded) {
            Health::Degraded
        } else {
            Health::Healthy
        }
    }

    /// Whether the load balancer leaves the host out of every host set (Envoy's excluded
    /// hosts, `partitionHostList`): waiting for its first check, failed by
    /// `x-envoy-immediate-health-check-fail`, or draining by discovery.
    #[must_use]
    pub const fn is_excluded(self) -> bool {
        self.any(
            Self::PENDING_ACTIVE_HC
                .union(Self::EXCLUDED_VIA_IMMEDIATE_HC_FAIL)
                .union(Self::EDS_STATUS_DRAINING),
        )
    }
}

impl fmt::Display for HealthFlags {
    /// `healthy`, or every flag set as `/name`, as the admin `/clusters` `health_flags` field.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("healthy");
        }
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                write!(f, "/{name}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for HealthFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// How a failed check failed (Envoy's `HealthCheckFailureType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureType {
    /// The host answered, wrongly (a status outside the expected ones, a payload mismatch).
    Active,
    /// Proxied traffic said so (`x-envoy-immediate-health-check-fail` on a response).
    Passive,
    /// No answer: the connection failed or closed.
    Network,
    /// No answer within the check's `timeout`.
    NetworkTimeout,
}

impl FailureType {
    /// The name Envoy's health check event log writes.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Passive => "PASSIVE",
            Self::Network => "NETWORK",
            Self::NetworkTimeout => "NETWORK_TIMEOUT",
        }
    }
}

/// What a check did to its host (Envoy's `HealthTransition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transition {
    /// Health unchanged.
    Unchanged,
    /// Health changed (healthy to unhealthy or back, degraded or no longer).
    Changed,
    /// Health will change if the next checks agree (a threshold is being counted).
    ChangePending,
}

/// What a check found (Envoy's `HealthState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckState {
    /// The check passed.
    Healthy,
    /// The check failed.
    Unhealthy,
}

/// An entry for the health check event log (`event_log_path`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HealthEvent {
    /// The host left the rotation.
    EjectUnhealthy {
        /// How the deciding check failed.
        failure_type: FailureType,
    },
    /// The host entered the rotation.
    AddHealthy {
        /// Whether it was the host's first check.
        first_check: bool,
    },
    /// A check failed (logged on a host's first check, or always with
    /// `always_log_health_check_failures`).
    Failure {
        /// How it failed.
        failure_type: FailureType,
        /// Whether it was the host's first check.
        first_check: bool,
    },
    /// A healthy host became degraded.
    Degraded,
    /// A degraded host is no longer.
    NoLongerDegraded,
}

/// What the checker's counters and gauges gain from one check (its `health_check.*` stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StatsDelta {
    /// `success`.
    pub success: u64,
    /// `failure`.
    pub failure: u64,
    /// `network_failure`.
    pub network_failure: u64,
    /// `passive_failure`.
    pub passive_failure: u64,
    /// Change of the `healthy` gauge.
    pub healthy: i64,
    /// Change of the `degraded` gauge.
    pub degraded: i64,
}

/// The outcome of one check for its host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOutcome {
    /// What the check did to the host's health.
    pub transition: Transition,
    /// Entries for the event log, in order.
    pub events: Vec<HealthEvent>,
    /// Counters and gauges to apply.
    pub stats: StatsDelta,
}

/// Timing and thresholds of one `HealthCheck`, with Envoy's defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckTiming {
    /// `timeout`: how long one check may take.
    pub timeout: Duration,
    /// `interval`: between checks of a healthy host.
    pub interval: Duration,
    /// `unhealthy_interval` (default `interval`): between checks of an unhealthy host.
    pub unhealthy_interval: Duration,
    /// `unhealthy_edge_interval` (default `unhealthy_interval`): after a failure that has
    /// not yet made the host unhealthy.
    pub unhealthy_edge_interval: Duration,
    /// `healthy_edge_interval` (default `interval`): after a success that has not yet made
    /// the host healthy.
    pub healthy_edge_interval: Duration,
    /// `no_traffic_interval` (default 60 s): between checks while the cluster has never
    /// opened a connection.
    pub no_traffic_interval: Duration,
    /// `no_traffic_healthy_interval` (default `no_traffic_interval`): the same, for a host
    /// that passes.
    pub no_traffic_healthy_interval: Duration,
    /// `interval_jitter`: up to this much is added to every interval.
    pub interval_jitter: Duration,
    /// `interval_jitter_percent`: up to this percentage of the interval is added.
    pub interval_jitter_percent: u32,
    /// `initial_jitter`: the first check waits up to this long.
    pub initial_jitter: Duration,
    /// `unhealthy_threshold`: failures in a row that make a host unhealthy.
    pub unhealthy_threshold: u32,
    /// `healthy_threshold`: successes in a row that make an unhealthy host healthy.
    pub healthy_threshold: u32,
    /// `always_log_health_check_failures`.
    pub always_log_failures: bool,
}

impl CheckTiming {
    /// Envoy's default no-traffic interval.
    pub const DEFAULT_NO_TRAFFIC_INTERVAL: Duration = Duration::from_secs(60);

    /// Timing with `interval` and `timeout` and every other field at Envoy's default;
    /// thresholds as given.
    #[must_use]
    pub fn new(
        timeout: Duration,
        interval: Duration,
        unhealthy_threshold: u32,
        healthy_threshold: u32,
    ) -> Self {
        Self {
            timeout,
            interval,
            unhealthy_interval: interval,
            unhealthy_edge_interval: interval,
            healthy_edge_interval: interval,
            no_traffic_interval: Self::DEFAULT_NO_TRAFFIC_INTERVAL,
            no_traffic_healthy_interval: Self::DEFAULT_NO_TRAFFIC_INTERVAL,
            interval_jitter: Duration::ZERO,
            interval_jitter_percent: 0,
            initial_jitter: Duration::ZERO,
            unhealthy_threshold,
            healthy_threshold,
            always_log_failures: false,
        }
    }

    /// The wait before the next check, after a check that found `state` and made
    /// `transition`: Envoy's `HealthCheckerImplBase::interval` with its jitter.
    /// `had_traffic`: whether the cluster has ever opened an upstream connection.
    /// `random` gives Envoy's `random_.random()`.
    #[must_use]
    pub fn next_interval(
        &self,
        state: CheckState,
        transition: Transition,
        had_traffic: bool,
        mut random: impl FnMut() -> u64,
    ) -> Duration {
        let pending = transition == Transition::ChangePending;
        let base = if !had_traffic {
            if state == CheckState::Healthy && !pending {
                self.no_traffic_healthy_interval
            } else {
                self.no_traffic_interval
            }
        } else {
            match (state, pending) {
                (CheckState::Unhealthy, true) => self.unhealthy_edge_interval,
                (CheckState::Unhealthy, false) => self.unhealthy_interval,
                (CheckState::Healthy, true) => self.healthy_edge_interval,
                (CheckState::Healthy, false) => self.interval,
            }
        };
        let mut ms = millis(base);
        let jitter_percent_mod = u64::from(self.interval_jitter_percent).saturating_mul(ms) / 100;
        if jitter_percent_mod > 0 {
            ms = ms.saturating_add(random() % jitter_percent_mod);
        }
        let jitter = millis(self.interval_jitter);
        if jitter > 0 {
            ms = ms.saturating_add(random() % jitter);
        }
        // A zero interval would spin.
        Duration::from_millis(ms.max(1))
    }

    /// The wait before a host's first check: none without `initial_jitter`, else up to it
    /// (at least 1 ms, as every interval).
    #[must_use]
    pub fn initial_delay(&self, mut random: impl FnMut() -> u64) -> Duration {
        let jitter = millis(self.initial_jitter);
        if jitter == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis((random() % jitter).max(1))
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One host's active health check state (Envoy's `ActiveHealthCheckSession` counters). The
/// host's flags live with the host; each check's outcome updates both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSession {
    num_healthy: u32,
    num_unhealthy: u32,
    first_check: bool,
}

impl Default for CheckSession {
    fn default() -> Self {
        Self::new()
    }
}

impl CheckSession {
    /// A session for a host not checked yet.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            num_healthy: 0,
            num_unhealthy: 0,
            first_check: true,
        }
    }

    /// Whether no check has finished yet.
    #[must_use]
    pub const fn is_first_check(&self) -> bool {
        self.first_check
    }
}

impl CheckSession {
    /// A check passed (Envoy's `handleSuccess`); `degraded` when the answer carried
    /// `x-envoy-degraded`. Updates the host's `flags`.
    ///
    /// A failed host becomes healthy after `healthy_threshold` passes in a row, or at once
    /// on its first check ever.
    pub fn on_success(
        &mut self,
        timing: &CheckTiming,
        flags: &mut HealthFlags,
        degraded: bool,
    ) -> CheckOutcome {
        let mut events = Vec::new();
        let mut stats = StatsDelta {
            success: 1,
            ..StatsDelta::default()
        };
        self.num_unhealthy = 0;
        let mut transition = Transition::Unchanged;
        if flags.contains(HealthFlags::FAILED_ACTIVE_HC) {
            // As Envoy: the count does not move on a first check, which passes at once.
            if self.first_check || {
                self.num_healthy = self.num_healthy.saturating_add(1);
                self.num_healthy == timing.healthy_threshold
            } {
                flags.clear(
                    HealthFlags::ACTIVE_HC_TIMEOUT
                        .union(HealthFlags::EXCLUDED_VIA_IMMEDIATE_HC_FAIL)
                        .union(HealthFlags::FAILED_ACTIVE_HC),
                );
                stats.healthy += 1;
                transition = Transition::Changed;
                events.push(HealthEvent::AddHealthy {
                    first_check: self.first_check,
                });
            } else {
                transition = Transition::ChangePending;
            }
        }
        transition = clear_pending(flags, transition);
        if degraded != flags.contains(HealthFlags::DEGRADED_ACTIVE_HC) {
            if degraded {
                flags.set(HealthFlags::DEGRADED_ACTIVE_HC);
                stats.degraded += 1;
                events.push(HealthEvent::Degraded);
            } else {
                // Envoy's gauge goes down only when the host's session ends; this one follows
                // the flag, so it counts the degraded hosts it names.
                flags.clear(HealthFlags::DEGRADED_ACTIVE_HC);
                stats.degraded -= 1;
                events.push(HealthEvent::NoLongerDegraded);
            }
            if transition == Transition::Unchanged {
                transition = Transition::Changed;
            }
        }
        self.first_check = false;
        CheckOutcome {
            transition,
            events,
            stats,
        }
    }

    /// A check failed, or traffic failed the host (Envoy's `setUnhealthy`). `retriable`:
    /// the answer's status is one of `retriable_statuses`. Updates the host's `flags`.
    ///
    /// A healthy host fails at once on a wrong answer that is not retriable and on a failure
    /// from traffic; after `unhealthy_threshold` failures in a row on no answer, a timeout or
    /// a retriable status.
    pub fn on_failure(
        &mut self,
        timing: &CheckTiming,
        flags: &mut HealthFlags,
        failure_type: FailureType,
        retriable: bool,
    ) -> CheckOutcome {
        let network = matches!(
            failure_type,
            FailureType::Network | FailureType::NetworkTimeout
        );
        let mut events = Vec::new();
        let mut stats = StatsDelta {
            failure: 1,
            network_failure: u64::from(network),
            passive_failure: u64::from(failure_type == FailureType::Passive),
            ..StatsDelta::default()
        };
        self.num_healthy = 0;
        let mut transition = Transition::Unchanged;
        if !flags.contains(HealthFlags::FAILED_ACTIVE_HC) {
            // As Envoy: the count does not move on a failure that is decisive by itself.
            if (!network && !retriable) || {
                self.num_unhealthy = self.num_unhealthy.saturating_add(1);
                self.num_unhealthy == timing.unhealthy_threshold
            } {
                flags.set(HealthFlags::FAILED_ACTIVE_HC);
                stats.healthy -= 1;
                transition = Transition::Changed;
                events.push(HealthEvent::EjectUnhealthy { failure_type });
            } else {
                transition = Transition::ChangePending;
            }
        }
        if failure_type == FailureType::NetworkTimeout
            && flags.contains(HealthFlags::FAILED_ACTIVE_HC)
        {
            flags.set(HealthFlags::ACTIVE_HC_TIMEOUT);
        } else {
            flags.clear(HealthFlags::ACTIVE_HC_TIMEOUT);
        }
        transition = clear_pending(flags, transition);
        if self.first_check || timing.always_log_failures {
            events.push(HealthEvent::Failure {
                failure_type,
                first_check: self.first_check,
            });
        }
        self.first_check = false;
        CheckOutcome {
            transition,
            events,
            stats,
        }
    }
}

/// Envoy's `clearPendingFlag`: the first result of any kind ends the wait for a first check,
/// and the host sets must then be rebuilt.
fn clear_pending(flags: &mut HealthFlags, transition: Transition) -> Transition {
    if flags.contains(HealthFlags::PENDING_ACTIVE_HC) {
        flags.clear(HealthFlags::PENDING_ACTIVE_HC);
        Transition::Changed
    } else {
        transition
    }
}

/// Envoy's `HttpStatusChecker`: status ranges, each `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRanges(Vec<(u16, u16)>);

impl StatusRanges {
    /// The ranges, checked as Envoy checks them.
    ///
    /// # Errors
    ///
    /// A range whose start is not below its end, starts below 100 or ends past 600, named
    /// by its index.
    pub fn new(ranges: Vec<(u16, u16)>) -> Result<Self, String> {
        for (i, &(start, end)) in ranges.iter().enumerate() {
            if start >= end {
                return Err(format!("range {i}: start {start} is not below end {end}"));
            }
            if start < 100 {
                return Err(format!("range {i}: start {start} is below 100"));
            }
            if end > 600 {
                return Err(format!("range {i}: end {end} is above 600"));
            }
        }
        Ok(Self(ranges))
    }

    /// Envoy's default `expected_statuses`: 200 only.
    #[must_use]
    pub fn default_expected() -> Self {
        Self(vec![(200, 201)])
    }

    /// Whether `status` is in a range.
    #[must_use]
    pub fn contains(&self, status: u16) -> bool {
        self.0
            .iter()
            .any(|&(start, end)| status >= start && status < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(unhealthy: u32, healthy: u32) -> CheckTiming {
        CheckTiming::new(
            Duration::from_secs(1),
            Duration::from_secs(5),
            unhealthy,
            healthy,
        )
    }

    /// A host as a static cluster with health checks starts: failing, not yet checked.
    fn fresh() -> (CheckSession, HealthFlags) {
        (CheckSession::new(), HealthFlags::FAILED_ACTIVE_HC)
    }

    #[test]
    fn flags_print_as_envoys_clusters_page_and_combine_into_coarse_health() {
        assert_eq!(HealthFlags::empty().to_string(), "healthy");
        let mut f = HealthFlags::PENDING_ACTIVE_HC.union(HealthFlags::FAILED_ACTIVE_HC);
        assert_eq!(f.to_string(), "/failed_active_hc/pending_active_hc");
        assert_eq!(f.coarse(), Health::Unhealthy);
        assert!(f.is_excluded());
        f = HealthFlags::DEGRADED_EDS_HEALTH.union(HealthFlags::ACTIVE_HC_TIMEOUT);
        assert_eq!(f.to_string(), "/degraded_eds_health/active_hc_timeout");
        assert_eq!(f.coarse(), Health::Degraded);
        assert!(!f.is_excluded());
        f.set(HealthFlags::FAILED_OUTLIER_CHECK);
        assert_eq!(
            f.coarse(),
            Health::Unhealthy,
            "unhealthy wins over degraded"
        );
        assert_eq!(HealthFlags::EDS_STATUS_DRAINING.coarse(), Health::Unhealthy);
        assert!(HealthFlags::EDS_STATUS_DRAINING.is_excluded());
        assert_eq!(
            HealthFlags::PENDING_DYNAMIC_REMOVAL.coarse(),
            Health::Healthy,
            "pending removal alone still takes traffic"
        );
    }

    #[test]
    fn the_first_passing_check_makes_a_host_healthy_whatever_the_threshold() {
        let t = timing(3, 5);
        let (mut s, mut f) = fresh();
        let out = s.on_success(&t, &mut f, false);
        assert_eq!(out.transition, Transition::Changed);
        assert_eq!(f, HealthFlags::empty());
        assert_eq!(out.events, [HealthEvent::AddHealthy { first_check: true }]);
        assert_eq!(out.stats.healthy, 1);
        assert_eq!(out.stats.success, 1);
        // Later passes change nothing.
        let out = s.on_success(&t, &mut f, false);
        assert_eq!(out.transition, Transition::Unchanged);
        assert!(out.events.is_empty());
    }

    #[test]
    fn thresholds_count_in_a_row_and_only_the_opposite_result_resets_them() {
        let t = timing(3, 2);
        let (mut s, mut f) = fresh();
        s.on_success(&t, &mut f, false);
        // Network failures and timeouts count to unhealthy_threshold.
        let steps = [
            (FailureType::Network, Transition::ChangePending),
            (FailureType::NetworkTimeout, Transition::ChangePending),
        ];
        for (kind, want) in steps {
            assert_eq!(s.on_failure(&t, &mut f, kind, false).transition, want);
        }
        assert!(!f.contains(HealthFlags::FAILED_ACTIVE_HC));
        // A pass in between starts the count again.
        assert_eq!(
            s.on_success(&t, &mut f, false).transition,
            Transition::Unchanged
        );
        for _ in 0..2 {
            let out = s.on_failure(&t, &mut f, FailureType::Network, false);
            assert_eq!(out.transition, Transition::ChangePending);
        }
        let out = s.on_failure(&t, &mut f, FailureType::NetworkTimeout, false);
        assert_eq!(out.transition, Transition::Changed);
        assert_eq!(
            out.events,
            [HealthEvent::EjectUnhealthy {
                failure_type: FailureType::NetworkTimeout
            }]
        );
        assert_eq!(out.stats.healthy, -1);
        assert_eq!(out.stats.network_failure, 1);
        assert_eq!(
            f,
            HealthFlags::FAILED_ACTIVE_HC.union(HealthFlags::ACTIVE_HC_TIMEOUT)
        );
        // Back after healthy_threshold passes; the first is pending.
        assert_eq!(
            s.on_success(&t, &mut f, false).transition,
            Transition::ChangePending
        );
        assert!(
            f.contains(HealthFlags::ACTIVE_HC_TIMEOUT),
            "a pending pass leaves the timeout flag"
        );
        let out = s.on_success(&t, &mut f, false);
        assert_eq!(out.transition, Transition::Changed);
        assert_eq!(out.events, [HealthEvent::AddHealthy { first_check: false }]);
        assert_eq!(f, HealthFlags::empty());
    }

    #[test]
    fn a_wrong_answer_or_a_failure_from_traffic_fails_a_host_at_once() {
        let t = timing(3, 2);
        for (kind, retriable, immediate) in [
            (FailureType::Active, false, true),
            (FailureType::Active, true, false),
            (FailureType::Passive, false, true),
            (FailureType::Network, false, false),
            (FailureType::NetworkTimeout, false, false),
        ] {
            let (mut s, mut f) = fresh();
            s.on_success(&t, &mut f, false);
            let out = s.on_failure(&t, &mut f, kind, retriable);
            assert_eq!(
                f.contains(HealthFlags::FAILED_ACTIVE_HC),
                immediate,
                "{kind:?} retriable={retriable}"
            );
            assert_eq!(
                out.stats.passive_failure,
                u64::from(kind == FailureType::Passive)
            );
            assert_eq!(out.stats.failure, 1);
        }
    }

    #[test]
    fn a_timeout_flag_follows_the_latest_failure_of_a_failed_host() {
        let t = timing(1, 1);
        let (mut s, mut f) = fresh();
        s.on_failure(&t, &mut f, FailureType::NetworkTimeout, false);
        assert!(f.contains(HealthFlags::ACTIVE_HC_TIMEOUT));
        s.on_failure(&t, &mut f, FailureType::Active, false);
        assert!(!f.contains(HealthFlags::ACTIVE_HC_TIMEOUT));
    }

    #[test]
    fn the_first_result_of_any_kind_ends_pending_and_is_a_change() {
        let t = timing(3, 3);
        for pass in [true, false] {
            let mut s = CheckSession::new();
            let mut f = HealthFlags::FAILED_ACTIVE_HC.union(HealthFlags::PENDING_ACTIVE_HC);
            let out = if pass {
                s.on_success(&t, &mut f, false)
            } else {
                s.on_failure(&t, &mut f, FailureType::Network, false)
            };
            assert_eq!(out.transition, Transition::Changed, "pass={pass}");
            assert!(!f.contains(HealthFlags::PENDING_ACTIVE_HC));
            assert_eq!(f.contains(HealthFlags::FAILED_ACTIVE_HC), !pass);
            if !pass {
                // Logged as a failed first check, not as an ejection: the host was failing.
                assert_eq!(
                    out.events,
                    [HealthEvent::Failure {
                        failure_type: FailureType::Network,
                        first_check: true
                    }]
                );
            }
        }
    }

    #[test]
    fn failures_are_logged_on_the_first_check_or_always_when_asked() {
        let mut t = timing(5, 1);
        let (mut s, mut f) = fresh();
        s.on_success(&t, &mut f, false);
        let out = s.on_failure(&t, &mut f, FailureType::Network, false);
        assert!(out.events.is_empty());
        t.always_log_failures = true;
        let out = s.on_failure(&t, &mut f, FailureType::Network, false);
        assert_eq!(
            out.events,
            [HealthEvent::Failure {
                failure_type: FailureType::Network,
                first_check: false
            }]
        );
    }

    #[test]
    fn degraded_answers_mark_and_unmark_the_host() {
        let t = timing(3, 3);
        let (mut s, mut f) = fresh();
        s.on_success(&t, &mut f, false);
        let out = s.on_success(&t, &mut f, true);
        assert_eq!(out.transition, Transition::Changed);
        assert_eq!(out.events, [HealthEvent::Degraded]);
        assert_eq!(out.stats.degraded, 1);
        assert_eq!(f.coarse(), Health::Degraded);
        assert_eq!(
            s.on_success(&t, &mut f, true).transition,
            Transition::Unchanged
        );
        let out = s.on_success(&t, &mut f, false);
        assert_eq!(out.events, [HealthEvent::NoLongerDegraded]);
        assert_eq!(out.stats.degraded, -1);
        assert_eq!(f, HealthFlags::empty());
    }

    #[test]
    fn intervals_follow_the_result_the_pending_change_and_traffic() {
        let mut t = timing(2, 2);
        t.interval = Duration::from_millis(1000);
        t.unhealthy_interval = Duration::from_millis(2000);
        t.unhealthy_edge_interval = Duration::from_millis(300);
        t.healthy_edge_interval = Duration::from_millis(400);
        t.no_traffic_interval = Duration::from_millis(60_000);
        t.no_traffic_healthy_interval = Duration::from_millis(90_000);
        let no_random = || 0;
        use CheckState::{Healthy, Unhealthy};
        use Transition::{ChangePending, Changed, Unchanged};
        let cases = [
            (Healthy, Unchanged, true, 1000),
            (Healthy, Changed, true, 1000),
            (Healthy, ChangePending, true, 400),
            (Unhealthy, Unchanged, true, 2000),
            (Unhealthy, Changed, true, 2000),
            (Unhealthy, ChangePending, true, 300),
            (Healthy, Unchanged, false, 90_000),
            (Healthy, ChangePending, false, 60_000),
            (Unhealthy, Unchanged, false, 60_000),
        ];
        for (state, transition, traffic, want) in cases {
            assert_eq!(
                t.next_interval(state, transition, traffic, no_random),
                Duration::from_millis(want),
                "{state:?} {transition:?} traffic={traffic}"
            );
        }
    }

    #[test]
    fn jitter_is_added_from_the_random_source_and_never_reaches_its_bound() {
        let mut t = timing(2, 2);
        t.interval = Duration::from_millis(1000);
        t.interval_jitter_percent = 10;
        t.interval_jitter = Duration::from_millis(50);
        // percent first (mod 100), then the fixed jitter (mod 50).
        let mut draws = [99u64, 49].into_iter();
        let d = t.next_interval(CheckState::Healthy, Transition::Unchanged, true, || {
            draws.next().unwrap_or(0)
        });
        assert_eq!(d, Duration::from_millis(1000 + 99 + 49));
        let mut draws = [100u64, 50].into_iter();
        let d = t.next_interval(CheckState::Healthy, Transition::Unchanged, true, || {
            draws.next().unwrap_or(0)
        });
        assert_eq!(d, Duration::from_millis(1000), "draws wrap at the bound");
        assert_eq!(t.initial_delay(|| 7), Duration::ZERO);
        t.initial_jitter = Duration::from_millis(100);
        assert_eq!(t.initial_delay(|| 257), Duration::from_millis(57));
        assert_eq!(t.initial_delay(|| 0), Duration::from_millis(1));
    }

    #[test]
    fn status_ranges_are_half_open_and_checked_as_envoy_checks_them() {
        let r = StatusRanges::new(vec![(200, 400)]).expect("valid");
        assert!(r.contains(200) && r.contains(399) && !r.contains(400));
        let d = StatusRanges::default_expected();
        assert!(d.contains(200) && !d.contains(201));
        assert!(StatusRanges::new(vec![(400, 400)]).is_err());
        assert!(StatusRanges::new(vec![(99, 200)]).is_err());
        assert!(StatusRanges::new(vec![(200, 601)]).is_err());
    }
}
