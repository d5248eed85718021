//! Circuit breakers: a cluster's resource limits per routing priority (Envoy's
//! `circuit_breakers.thresholds` and `per_host_thresholds`), held exactly across workers.
//!
//! Envoy keeps one atomic count per resource and lets each worker's connection pool open a
//! first connection whatever the count says, so `max_connections: 1` allows one connection
//! per worker and host. Here a limit of N is N in the whole process:
//!
//! * Resources taken rarely (a new connection, a request waiting for one, a retry, a
//!   connection pool) are a [`Gate`]: one shared count moved with a compare-and-swap that
//!   never passes the maximum. They are touched once per new connection, not per request.
//! * The resource taken by every request (`max_requests`) is a [`LeasedGate`]: each worker
//!   leases tokens in chunks from a shared pool into a counter on its own cache line, and
//!   takes and returns tokens there. Only when the shared pool is empty does a worker take
//!   a token from another worker's lease, one compare-and-swap on that worker's line; so
//!   the gate refuses only when every token is really in use, and a request never touches a
//!   line another core writes while tokens are plentiful.
//!
//! Counts are plain numbers of tokens; the proxy holds each taken token in a guard that
//! gives it back on drop.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Envoy's default `max_connections`, `max_pending_requests` and `max_requests`.
pub const DEFAULT_MAX: u64 = 1024;
/// Envoy's default `max_retries`.
pub const DEFAULT_MAX_RETRIES: u64 = 3;
/// Tokens a worker leases at most at once from a [`LeasedGate`].
const LEASE_CHUNK_MAX: u64 = 64;

/// `config.core.v3.RoutingPriority`: which thresholds a request is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Priority {
    /// `DEFAULT`.
    #[default]
    Default,
    /// `HIGH`.
    High,
}

impl Priority {
    /// Both priorities, in Envoy's order.
    pub const ALL: [Priority; 2] = [Priority::Default, Priority::High];

    /// The name in stats (`circuit_breakers.<name>.*`) and runtime keys.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Priority::Default => "default",
            Priority::High => "high",
        }
    }

    fn index(self) -> usize {
        match self {
            Priority::Default => 0,
            Priority::High => 1,
        }
    }
}

/// `CircuitBreakers.Thresholds.RetryBudget`: concurrent retries as a share of the requests
/// in flight and waiting.
#[derive(Debug, Clone, Copy)]
pub struct RetryBudget {
    /// `budget_percent`, default 20.
    pub budget_percent: f64,
    /// `min_retry_concurrency`, default 3.
    pub min_retry_concurrency: u32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget {
            budget_percent: 20.0,
            min_retry_concurrency: 3,
        }
    }
}

impl PartialEq for RetryBudget {
    fn eq(&self, other: &Self) -> bool {
        self.budget_percent.to_bits() == other.budget_percent.to_bits()
            && self.min_retry_concurrency == other.min_retry_concurrency
    }
}

impl Eq for RetryBudget {}

impl RetryBudget {
    /// Retries allowed while `active` requests are in flight or waiting: the budget's share
    /// of them, never below `min_retry_concurrency` (Envoy's `RetryBudgetImpl::max`).
    #[must_use]
    pub fn max(&self, active: u64) -> u64 {
        // Truncated as Envoy's conversion of the product to an integer.
        let share = (self.budget_percent / 100.0 * active as f64) as u64;
        share.max(u64::from(self.min_retry_concurrency))
    }
}

/// `CircuitBreakers.Thresholds` for one priority, with Envoy's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// `max_connections`, default 1024.
    pub max_connections: u64,
    /// `max_pending_requests`, default 1024.
    pub max_pending_requests: u64,
    /// `max_requests`, default 1024.
    pub max_requests: u64,
    /// `max_retries`, default 3; not used when `retry_budget` is set.
    pub max_retries: u64,
    /// `retry_budget`: when set, it replaces `max_retries`.
    pub retry_budget: Option<RetryBudget>,
    /// `track_remaining`: publish the `remaining_*` gauges.
    pub track_remaining: bool,
    /// `max_connection_pools`; `None` is unlimited (Envoy's default).
    pub max_connection_pools: Option<u64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_connections: DEFAULT_MAX,
            max_pending_requests: DEFAULT_MAX,
            max_requests: DEFAULT_MAX,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_budget: None,
            track_remaining: false,
            max_connection_pools: None,
        }
    }
}

/// A cluster's `circuit_breakers`: thresholds per priority and the per-host connection
/// limit (`per_host_thresholds[].max_connections`, per priority).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CircuitBreakers {
    /// Thresholds for `DEFAULT` and `HIGH`, in that order.
    pub thresholds: [Thresholds; 2],
    /// `per_host_thresholds`: each host's connection limit per priority; `None` when no
    /// per-host threshold names that priority (no per-host limit, as in Envoy).
    pub per_host_max_connections: [Option<u64>; 2],
}

impl CircuitBreakers {
    /// The thresholds of `priority`.
    #[must_use]
    pub fn thresholds(&self, priority: Priority) -> &Thresholds {
        &self.thresholds[priority.index()]
    }

    /// The per-host connection limit of `priority`, if any.
    #[must_use]
    pub fn per_host_max_connections(&self, priority: Priority) -> Option<u64> {
        self.per_host_max_connections[priority.index()]
    }
}

/// One 64-byte line holding one counter, so counters written by different cores never share
/// a line.
#[repr(align(64))]
#[derive(Debug, Default)]
struct Line(AtomicU64);

/// A shared count below a maximum, for resources taken rarely.
#[derive(Debug)]
pub struct Gate {
    max: u64,
    count: Line,
}

impl Gate {
    /// A gate letting `max` holders in at once.
    #[must_use]
    pub fn new(max: u64) -> Self {
        Gate {
            max,
            count: Line::default(),
        }
    }

    /// Takes one token unless `max` are out.
    pub fn try_take(&self) -> bool {
        self.count
            .0
            .fetch_update(Relaxed, Relaxed, |c| (c < self.max).then_some(c + 1))
            .is_ok()
    }

    /// Takes one token unless `max` are out, for a count whose maximum depends on the taker
    /// (a host's connections, limited per priority).
    pub fn try_take_below(&self, max: u64) -> bool {
        self.count
            .0
            .fetch_update(Relaxed, Relaxed, |c| (c < max).then_some(c + 1))
            .is_ok()
    }

    /// Takes one token whatever the count (for a resource whose limit is checked elsewhere,
    /// such as retries under a budget).
    pub fn take(&self) {
        self.count.0.fetch_add(1, Relaxed);
    }

    /// Gives one token back.
    pub fn give(&self) {
        let _ = self
            .count
            .0
            .fetch_update(Relaxed, Relaxed, |c| Some(c.saturating_sub(1)));
    }

    /// Tokens out now.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count.0.load(Relaxed)
    }

    /// The maximum.
    #[must_use]
    pub fn max(&self) -> u64 {
        self.max
    }
}

/// A count below a maximum taken by every request, leased to workers in chunks.
///
/// Tokens are in the shared pool, in a worker's lease, or out (held by a request); their
/// sum is always `max`. A worker takes from its own lease; when that is empty it leases a
/// chunk from the pool; when the pool is empty too it takes one token from another worker's
/// lease. Returning a token puts it into the worker's own lease, and a lease larger than two
/// chunks gives a chunk back to the pool.
#[derive(Debug)]
pub struct LeasedGate {
    max: u64,
    chunk: u64,
    pool: Line,
    leases: Box<[Line]>,
}

impl LeasedGate {
    /// A gate of `max` tokens for `workers` workers.
    #[must_use]
    pub fn new(max: u64, workers: usize) -> Self {
        let workers = workers.max(1);
        // Small enough that leases hold a small share of the limit, so a worker rarely has
        // to take from another's lease.
        let chunk = (max / (4 * workers as u64)).clamp(1, LEASE_CHUNK_MAX);
        LeasedGate {
            max,
            chunk,
            pool: Line(AtomicU64::new(max)),
            leases: (0..workers).map(|_| Line::default()).collect(),
        }
    }

    /// Takes one token for `worker`, unless every token is out.
    pub fn try_take(&self, worker: usize) -> bool {
        let Some(own) = self.leases.get(worker) else {
            return false;
        };
        if take_one(&own.0) {
            return true;
        }
        // Lease a chunk (or what is left) from the pool: one token is taken now, the rest
        // goes into the lease.
        let leased = self.pool.0.fetch_update(Relaxed, Relaxed, |free| {
            (free > 0).then(|| free - free.min(self.chunk))
        });
        if let Ok(free) = leased {
            let got = free.min(self.chunk);
            if got > 1 {
                own.0.fetch_add(got - 1, Relaxed);
            }
            return true;
        }
        // The pool is empty: unused tokens can only be in other workers' leases.
        self.leases
            .iter()
            .enumerate()
            .any(|(i, other)| i != worker && take_one(&other.0))
    }

    /// Gives back one token taken by `worker`.
    pub fn give(&self, worker: usize) {
        let Some(own) = self.leases.get(worker) else {
            return;
        };
        let leased = own.0.fetch_add(1, Relaxed) + 1;
        if leased > 2 * self.chunk {
            let back = own
                .0
                .fetch_update(Relaxed, Relaxed, |l| l.checked_sub(self.chunk));
            if back.is_ok() {
                self.pool.0.fetch_add(self.chunk, Relaxed);
            }
        }
    }

    /// Tokens out now (read by the admin thread; a token moving between the pool and a lease
    /// may be missed for that instant).
    #[must_use]
    pub fn count(&self) -> u64 {
        let idle = self
            .leases
            .iter()
            .fold(self.pool.0.load(Relaxed), |sum, l| sum + l.0.load(Relaxed));
        self.max.saturating_sub(idle)
    }

    /// The maximum.
    #[must_use]
    pub fn max(&self) -> u64 {
        self.max
    }
}

/// Takes one token from `lease` unless it is empty.
fn take_one(lease: &AtomicU64) -> bool {
    lease
        .fetch_update(Relaxed, Relaxed, |l| l.checked_sub(1))
        .is_ok()
}

/// The live resource counts of one cluster at one priority.
#[derive(Debug)]
pub struct Resources {
    /// `max_connections`.
    pub connections: Gate,
    /// `max_pending_requests`.
    pub pending: Gate,
    /// `max_requests`.
    pub requests: LeasedGate,
    /// Retries in flight, held below `max_retries` or the retry budget.
    pub retries: Gate,
    /// `max_connection_pools`: a pool is one worker's connections to one host.
    pub pools: Gate,
    /// The thresholds these were built from.
    pub thresholds: Thresholds,
}

impl Resources {
    /// Counts for `thresholds`, with `workers` leases for requests.
    #[must_use]
    pub fn new(thresholds: &Thresholds, workers: usize) -> Self {
        Resources {
            connections: Gate::new(thresholds.max_connections),
            pending: Gate::new(thresholds.max_pending_requests),
            requests: LeasedGate::new(thresholds.max_requests, workers),
            retries: Gate::new(thresholds.max_retries),
            pools: Gate::new(thresholds.max_connection_pools.unwrap_or(u64::MAX)),
            thresholds: thresholds.clone(),
        }
    }

    /// The retry limit now: the budget's share of the requests in flight and waiting when
    /// a budget is set, else `max_retries`.
    #[must_use]
    pub fn max_retries(&self) -> u64 {
        match &self.thresholds.retry_budget {
            Some(budget) => budget.max(self.requests.count() + self.pending.count()),
            None => self.thresholds.max_retries,
        }
    }

    /// Takes one retry unless the limit is reached (Envoy's `retries().canCreate()` and
    /// `inc()`).
    pub fn try_take_retry(&self) -> bool {
        if self.thresholds.retry_budget.is_none() {
            return self.retries.try_take();
        }
        if self.retries.count() >= self.max_retries() {
            return false;
        }
        self.retries.take();
        true
    }

    /// Envoy's gauges for this priority: whether each breaker is open (at its limit) and,
    /// with `track_remaining`, what is left of each. The retry budget tracks no remainder,
    /// as in Envoy.
    #[must_use]
    pub fn gauges(&self) -> Gauges {
        let open = |count: u64, max: u64| u64::from(count >= max);
        let left = |count: u64, max: u64| max.saturating_sub(count);
        let (cx, pending, rq, retries, pools) = (
            self.connections.count(),
            self.pending.count(),
            self.requests.count(),
            self.retries.count(),
            self.pools.count(),
        );
        let max_retries = self.max_retries();
        Gauges {
            cx_open: open(cx, self.connections.max()),
            cx_pool_open: open(pools, self.pools.max()),
            rq_pending_open: open(pending, self.pending.max()),
            rq_open: open(rq, self.requests.max()),
            rq_retry_open: open(retries, max_retries),
            remaining_cx: left(cx, self.connections.max()),
            remaining_pending: left(pending, self.pending.max()),
            remaining_rq: left(rq, self.requests.max()),
            remaining_retries: if self.thresholds.retry_budget.is_some() {
                0
            } else {
                left(retries, max_retries)
            },
            remaining_cx_pools: left(pools, self.pools.max()),
        }
    }
}

/// `cluster.<name>.circuit_breakers.<priority>.*` at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gauges {
    /// `cx_open`.
    pub cx_open: u64,
    /// `cx_pool_open`.
    pub cx_pool_open: u64,
    /// `rq_pending_open`.
    pub rq_pending_open: u64,
    /// `rq_open`.
    pub rq_open: u64,
    /// `rq_retry_open`.
    pub rq_retry_open: u64,
    /// `remaining_cx`.
    pub remaining_cx: u64,
    /// `remaining_pending`.
    pub remaining_pending: u64,
    /// `remaining_rq`.
    pub remaining_rq: u64,
    /// `remaining_retries`.
    pub remaining_retries: u64,
    /// `remaining_cx_pools`.
    pub remaining_cx_pools: u64,
}

/// The resources of one cluster at both priorities; shared by `Arc` by every worker and
/// carried from snapshot to snapshot while the cluster's breakers are unchanged.
#[derive(Debug)]
pub struct ClusterResources {
    by_priority: [Resources; 2],
    /// The configuration they follow.
    pub config: CircuitBreakers,
}

impl ClusterResources {
    /// Resources for `config` and `workers` workers.
    #[must_use]
    pub fn new(config: &CircuitBreakers, workers: usize) -> Self {
        ClusterResources {
            by_priority: Priority::ALL.map(|p| Resources::new(config.thresholds(p), workers)),
            config: config.clone(),
        }
    }

    /// The resources of `priority`.
    #[must_use]
    pub fn at(&self, priority: Priority) -> &Resources {
        &self.by_priority[priority.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_never_passes_its_maximum() {
        let g = Gate::new(2);
        assert!(g.try_take());
        assert!(g.try_take());
        assert!(!g.try_take());
        g.give();
        assert!(g.try_take());
        assert_eq!(g.count(), 2);
    }

    #[test]
    fn a_lease_of_one_is_one_in_the_process() {
        let g = LeasedGate::new(1, 2);
        assert!(g.try_take(0));
        assert!(!g.try_take(1), "the one token is out");
        assert!(!g.try_take(0));
        g.give(0);
        // The token sits in worker 0's lease; worker 1 takes it from there.
        assert!(g.try_take(1));
        assert!(!g.try_take(0));
        assert_eq!(g.count(), 1);
    }

    #[test]
    fn leases_refuse_only_when_every_token_is_out() {
        let g = LeasedGate::new(1024, 2);
        let mut held = [0u64; 2];
        // Worker 0 takes and returns many, leaving tokens in its lease.
        for _ in 0..100 {
            assert!(g.try_take(0));
        }
        for _ in 0..100 {
            g.give(0);
        }
        // Worker 1 can still take all 1024.
        while g.try_take(1) {
            held[1] += 1;
        }
        assert_eq!(held[1], 1024);
        assert_eq!(g.count(), 1024);
        for _ in 0..held[1] {
            g.give(1);
        }
        assert_eq!(g.count(), 0);
    }

    #[test]
    fn retry_budget_follows_active_requests() {
        let t = Thresholds {
            retry_budget: Some(RetryBudget {
                budget_percent: 25.0,
                min_retry_concurrency: 2,
            }),
            ..Thresholds::default()
        };
        let r = Resources::new(&t, 1);
        // Nothing in flight: the minimum.
        assert_eq!(r.max_retries(), 2);
        for _ in 0..20 {
            assert!(r.requests.try_take(0));
        }
        assert_eq!(r.max_retries(), 5);
        for _ in 0..5 {
            assert!(r.try_take_retry());
        }
        assert!(!r.try_take_retry());
        let g = r.gauges();
        assert_eq!(g.rq_retry_open, 1);
        assert_eq!(g.remaining_retries, 0, "a budget tracks no remainder");
    }

    #[test]
    fn gauges_show_open_breakers_and_what_is_left() {
        let t = Thresholds {
            max_connections: 2,
            track_remaining: true,
            ..Thresholds::default()
        };
        let r = Resources::new(&t, 2);
        assert!(r.connections.try_take());
        let g = r.gauges();
        assert_eq!((g.cx_open, g.remaining_cx), (0, 1));
        assert!(r.connections.try_take());
        let g = r.gauges();
        assert_eq!((g.cx_open, g.remaining_cx), (1, 0));
        assert_eq!(g.remaining_retries, 3);
        assert_eq!(g.remaining_rq, 1024);
    }
}
