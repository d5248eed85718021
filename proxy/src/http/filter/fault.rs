//! `envoy.filters.http.fault`: injects delays and aborts into a configured fraction of
//! requests, as Envoy's `FaultFilter` does.
//!
//! Order as in Envoy: the per-route `HTTPFault` (route, else virtual host) replaces the
//! filter-level one; then `upstream_cluster`, `downstream_nodes` and `headers` must match;
//! then the delay (awaited here, the chain resuming afterwards), then the abort, answered
//! locally with `fault filter abort` (Envoy's `FI` response flag). A request counts as one
//! active fault while a fault is applied to it.
//!
//! `max_active_faults` is a process-wide limit in Envoy (its `active_faults` gauge, read
//! across all workers), so the count of active faults is one atomic shared by the workers of
//! a chain: the one shared atomic on this path, touched only by requests a fault applies to.
//! Like Envoy's, the limit is fuzzy (read, then increment, not compare-and-swap).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sluice_config::model;

use super::matchers::HeaderMatcher;
use super::{Decision, DecodeContext};
use crate::http::headers::HeaderMap;
use crate::stats::{Kind, Registry, RegistryFull, Shard, StatId};

const DELAY_REQUEST: &[u8] = b"x-envoy-fault-delay-request";
const DELAY_REQUEST_PERCENTAGE: &[u8] = b"x-envoy-fault-delay-request-percentage";
const ABORT_REQUEST: &[u8] = b"x-envoy-fault-abort-request";
const ABORT_REQUEST_PERCENTAGE: &[u8] = b"x-envoy-fault-abort-request-percentage";
const DOWNSTREAM_NODE: &[u8] = b"x-envoy-downstream-service-node";
const DOWNSTREAM_CLUSTER: &[u8] = b"x-envoy-downstream-service-cluster";

/// `http.<stat_prefix>.fault.*`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stats {
    delays_injected: StatId,
    aborts_injected: StatId,
    faults_overflow: StatId,
    active_faults: StatId,
}

impl Stats {
    pub(super) fn register(registry: &mut Registry, prefix: &str) -> Result<Self, RegistryFull> {
        let mut id = |name: &str, kind| registry.id(&format!("{prefix}fault.{name}"), kind);
        Ok(Stats {
            delays_injected: id("delays_injected", Kind::Counter)?,
            aborts_injected: id("aborts_injected", Kind::Counter)?,
            faults_overflow: id("faults_overflow", Kind::Counter)?,
            active_faults: id("active_faults", Kind::Gauge)?,
        })
    }
}

/// One `HTTPFault`, compiled (filter level or per route).
#[derive(Debug, Clone)]
pub(super) struct Settings {
    config: model::Fault,
    headers: Vec<HeaderMatcher>,
}

impl Settings {
    pub(super) fn new(config: &model::Fault) -> Self {
        Settings {
            headers: config.headers.iter().map(HeaderMatcher::new).collect(),
            config: config.clone(),
        }
    }
}

/// The filter: its own settings, stats and the process-wide active fault count.
#[derive(Debug)]
pub struct FaultFilter {
    settings: Settings,
    stats: Stats,
    /// Faults in flight across all workers, for `max_active_faults`.
    active: Arc<AtomicU64>,
}

/// Holds one active fault; gives it back when dropped (also when the request is abandoned).
struct ActiveFault<'a> {
    filter: &'a FaultFilter,
    shard: &'a Shard,
}

impl Drop for ActiveFault<'_> {
    fn drop(&mut self) {
        self.filter.active.fetch_sub(1, Ordering::Relaxed);
        self.shard.dec(self.filter.stats.active_faults);
    }
}

/// The first value of a header as an unsigned integer (Envoy reads only the first value of
/// these untrusted headers).
fn header_u64(headers: &HeaderMap, name: &[u8]) -> Option<u64> {
    std::str::from_utf8(headers.get(name)?)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Envoy's `HeaderPercentageProvider`: the header may lower the configured numerator, never
/// raise it.
fn header_percentage(
    headers: &HeaderMap,
    name: &[u8],
    configured: model::Fraction,
) -> model::Fraction {
    match header_u64(headers, name).and_then(|n| u32::try_from(n).ok()) {
        Some(n) => model::Fraction {
            numerator: n.min(configured.numerator),
            denominator: configured.denominator,
        },
        None => configured,
    }
}

impl FaultFilter {
    pub(super) fn new(config: &model::Fault, stats: Stats) -> Self {
        FaultFilter {
            settings: Settings::new(config),
            stats,
            active: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(super) async fn decode_headers(
        &self,
        per_route: Option<&Settings>,
        cx: &mut DecodeContext<'_>,
    ) -> Decision {
        let s = per_route.unwrap_or(&self.settings);
        let c = &s.config;
        if let Some(cluster) = &c.upstream_cluster
            && cx.route.and_then(|r| r.cluster) != Some(cluster.as_str())
        {
            return Decision::Continue;
        }
        if !c.downstream_nodes.is_empty() {
            let node = cx.headers.get(DOWNSTREAM_NODE).unwrap_or(b"");
            let is_listed = c.downstream_nodes.iter().any(|n| n.as_bytes() == node)
                && cx.headers.contains(DOWNSTREAM_NODE);
            if !is_listed {
                return Decision::Continue;
            }
        }
        if !s.headers.iter().all(|h| h.matches(cx.headers)) {
            return Decision::Continue;
        }
        // Envoy's per-downstream-cluster runtime keys (`fault.http.<cluster>.*`).
        let downstream_cluster = cx
            .headers
            .get(DOWNSTREAM_CLUSTER)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned);
        let keyed = |suffix: &str| {
            downstream_cluster
                .as_ref()
                .map(|d| format!("fault.http.{d}.{suffix}"))
        };

        let mut active = None;
        if let Some(delay) = self.delay(
            c,
            cx,
            keyed("delay.fixed_delay_percent"),
            keyed("delay.fixed_duration_ms"),
        ) {
            let runtime_max = cx.runtime_integer(&c.runtime.max_active_faults);
            let Some(guard) = self.try_activate(c, runtime_max, cx.shard) else {
                return Decision::Continue;
            };
            active = Some(guard);
            cx.shard.inc(self.stats.delays_injected);
            log::debug!("fault: delaying request {}ms", delay.as_millis());
            // Boxed: the timer would otherwise enlarge every request's future.
            Box::pin(monoio::time::sleep(delay)).await;
        }
        let Some(status) = self.abort_status(
            c,
            cx,
            keyed("abort.abort_percent"),
            keyed("abort.http_status"),
        ) else {
            return Decision::Continue;
        };
        if active.is_none() {
            let runtime_max = cx.runtime_integer(&c.runtime.max_active_faults);
            match self.try_activate(c, runtime_max, cx.shard) {
                Some(guard) => active = Some(guard),
                None => return Decision::Continue,
            }
        }
        debug_assert!(active.is_some(), "an abort holds an active fault");
        cx.shard.inc(self.stats.aborts_injected);
        let body = c
            .abort
            .as_ref()
            .map(|a| a.response_body.clone())
            .unwrap_or_default();
        Decision::LocalReply {
            status,
            body: bytes::Bytes::from(body),
            headers: HeaderMap::new(),
        }
    }

    /// The delay to inject, if the delay fault fires for this request.
    fn delay(
        &self,
        c: &model::Fault,
        cx: &mut DecodeContext<'_>,
        cluster_percent_key: Option<String>,
        cluster_duration_key: Option<String>,
    ) -> Option<Duration> {
        let d = c.delay.as_ref()?;
        let percentage = match d.kind {
            model::FaultDelayKind::Fixed(_) => d.percentage,
            model::FaultDelayKind::Header => {
                header_percentage(cx.headers, DELAY_REQUEST_PERCENTAGE, d.percentage)
            }
        };
        let key = cluster_percent_key
            .as_deref()
            .unwrap_or(&c.runtime.delay_percent);
        if !cx.feature_enabled(key, percentage) {
            return None;
        }
        let configured_ms = match d.kind {
            model::FaultDelayKind::Fixed(d) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            model::FaultDelayKind::Header => header_u64(cx.headers, DELAY_REQUEST)?,
        };
        let mut ms = cx
            .runtime_integer(&c.runtime.delay_duration)
            .unwrap_or(configured_ms);
        if let Some(key) = cluster_duration_key {
            ms = cx.runtime_integer(&key).unwrap_or(ms);
        }
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    /// The status to abort with, if the abort fault fires for this request.
    fn abort_status(
        &self,
        c: &model::Fault,
        cx: &mut DecodeContext<'_>,
        cluster_percent_key: Option<String>,
        cluster_status_key: Option<String>,
    ) -> Option<u16> {
        let a = c.abort.as_ref()?;
        let percentage = match a.kind {
            model::FaultAbortKind::HttpStatus(_) => a.percentage,
            model::FaultAbortKind::Header => {
                header_percentage(cx.headers, ABORT_REQUEST_PERCENTAGE, a.percentage)
            }
        };
        let key = cluster_percent_key
            .as_deref()
            .unwrap_or(&c.runtime.abort_percent);
        if !cx.feature_enabled(key, percentage) {
            return None;
        }
        let configured = match a.kind {
            model::FaultAbortKind::HttpStatus(s) => s,
            // Envoy takes only 200..=599 from the header; anything else means no abort.
            model::FaultAbortKind::Header => header_u64(cx.headers, ABORT_REQUEST)
                .filter(|s| (200..600).contains(s))
                .and_then(|s| u16::try_from(s).ok())?,
        };
        let mut status = cx
            .runtime_integer(&c.runtime.abort_http_status)
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(configured);
        if let Some(key) = cluster_status_key {
            status = cx
                .runtime_integer(&key)
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(configured);
        }
        Some(status)
    }

    /// Counts a new active fault unless `max_active_faults` is reached (then `faults_overflow`).
    /// `runtime_max` is the value of the `max_active_faults` runtime key, when set.
    fn try_activate<'a>(
        &'a self,
        c: &model::Fault,
        runtime_max: Option<u64>,
        shard: &'a Shard,
    ) -> Option<ActiveFault<'a>> {
        let max = runtime_max
            .or(c.max_active_faults.map(u64::from))
            .unwrap_or(u64::MAX);
        if self.active.load(Ordering::Relaxed) >= max {
            shard.inc(self.stats.faults_overflow);
            return None;
        }
        self.active.fetch_add(1, Ordering::Relaxed);
        shard.inc(self.stats.active_faults);
        Some(ActiveFault {
            filter: self,
            shard,
        })
    }
}
