//! Circuit breakers on the request path: the tokens a request, a pending request, a retry and
//! a connection hold against their cluster's limits (`sluice_lb::breaker`), and the queue of
//! requests waiting for a connection.
//!
//! Every token is a guard that gives its resource back on drop, so a request that fails,
//! retries or is cancelled (its future dropped when the client goes) leaks no budget.
//!
//! A request that finds no idle connection to its host and may not open one (the cluster's
//! or the host's `max_connections` is reached) waits here as a pending request, as in
//! Envoy's connection pool, until an idle connection to its host comes back or a connection
//! may be opened. Tokens come back on this worker (a connection closes, a response returns
//! its connection to the pool: the first waiter of that cluster is woken at once) or on
//! another (every waiter retries on the worker's 10 ms tick). Idle connections hold
//! connection budget, so a waiter that cannot open one closes an idle connection of its
//! cluster on its own worker, and asks the other workers (through the cluster's `waiting`
//! count, read on their tick) to close theirs.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use sluice_lb::breaker::{ClusterResources, Gate, Priority};

use super::pool::PoolKey;
use crate::runtime::snapshot::{Cluster, Host, Snapshot};
use crate::runtime::worker::Worker;
use crate::stats::{Kind, Registry, RegistryFull, Shard, StatId};

/// A cluster's breaker state, shared by every worker and carried across snapshots while its
/// `circuit_breakers` are unchanged, so requests in flight keep their count.
#[derive(Debug)]
pub struct Breakers {
    /// The counts per priority.
    pub resources: ClusterResources,
    /// Requests waiting for a connection, in every worker: while non-zero, workers close
    /// their idle connections of this cluster on their tick so the budget they hold can be
    /// used.
    pub waiting: AtomicU64,
}

impl Breakers {
    /// Fresh counts for `config`.
    pub fn new(config: &sluice_lb::breaker::CircuitBreakers, workers: usize) -> Self {
        Breakers {
            resources: ClusterResources::new(config, workers),
            waiting: AtomicU64::new(0),
        }
    }
}

/// A worker's part of the breakers: who waits for a connection, and how many connections it
/// holds per pool (for `max_connection_pools`).
#[derive(Debug, Default)]
pub struct WorkerBreakers {
    waiters: RefCell<Vec<Rc<Slot>>>,
    pools: RefCell<HashMap<PoolKey, u32, std::hash::BuildHasherDefault<super::pool::KeyHasher>>>,
}

#[derive(Debug)]
struct Slot {
    cluster: StatId,
    is_woken: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl WorkerBreakers {
    /// Wakes the first waiter of `cluster`: a connection of it came back or closed.
    pub fn wake_one(&self, cluster: StatId) {
        let waiters = self.waiters.borrow();
        if let Some(slot) = waiters
            .iter()
            .find(|s| s.cluster == cluster && !s.is_woken.get())
        {
            slot.is_woken.set(true);
            if let Some(w) = slot.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// Wakes every waiter, to try again (the worker's tick: budget may have come back on
    /// another worker).
    pub fn wake_all(&self) {
        for slot in self.waiters.borrow().iter() {
            slot.is_woken.set(true);
            if let Some(w) = slot.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// Whether any request of this worker waits.
    pub fn has_waiters(&self) -> bool {
        !self.waiters.borrow().is_empty()
    }

    /// Requests of this worker waiting for a connection of `cluster`.
    pub fn waiters_of(&self, cluster: StatId) -> u64 {
        self.waiters
            .borrow()
            .iter()
            .filter(|s| s.cluster == cluster)
            .count() as u64
    }

    /// Waits until woken by [`wake_one`](Self::wake_one) for `cluster` or by
    /// [`wake_all`](Self::wake_all).
    pub fn wait<'a>(&'a self, cluster: StatId, breakers: &'a Breakers) -> Wait<'a> {
        let slot = Rc::new(Slot {
            cluster,
            is_woken: Cell::new(false),
            waker: RefCell::new(None),
        });
        self.waiters.borrow_mut().push(Rc::clone(&slot));
        breakers.waiting.fetch_add(1, Ordering::Relaxed);
        Wait {
            owner: self,
            breakers,
            slot,
        }
    }
}

/// A pending request's wait for a connection; leaves the queue when dropped.
#[derive(Debug)]
pub struct Wait<'a> {
    owner: &'a WorkerBreakers,
    breakers: &'a Breakers,
    slot: Rc<Slot>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.slot.is_woken.get() {
            return Poll::Ready(());
        }
        *self.slot.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        self.owner
            .waiters
            .borrow_mut()
            .retain(|s| !Rc::ptr_eq(s, &self.slot));
        let _ = self
            .breakers
            .waiting
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
        // A wake-up this waiter did not use goes to the next one of its cluster.
        if self.slot.is_woken.get() {
            self.owner.wake_one(self.slot.cluster);
        }
    }
}

/// One open connection's budget: the cluster's connection token at its priority, the host's
/// (with a per-host limit), and its pool's share (with `max_connection_pools`).
#[derive(Debug)]
pub struct ConnectionToken {
    breakers: Arc<Breakers>,
    host: Option<Arc<Gate>>,
    owner: Rc<WorkerBreakers>,
    key: PoolKey,
    counts_pool: bool,
    holds_connection: bool,
}

/// Why a connection may not be opened now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoConnection {
    /// `max_connections` of the cluster or the host: wait for one.
    Connections,
    /// `max_connection_pools`: the request fails (Envoy answers it as no healthy upstream).
    Pools,
}

impl ConnectionToken {
    /// Takes the budget for one connection to `host`, counting nothing on refusal.
    pub fn take(
        worker: &Rc<Worker>,
        cluster: &Cluster,
        host: &Host,
        priority: Priority,
    ) -> Result<Self, NoConnection> {
        let breakers = &cluster.breakers;
        let res = breakers.resources.at(priority);
        let key = PoolKey::new(cluster, host, priority);
        // A new pool (this worker's first connection to the host) needs a pool token.
        let counts_pool = res.thresholds.max_connection_pools.is_some();
        if counts_pool {
            let mut pools = worker.breakers.pools.borrow_mut();
            let count = pools.entry(key).or_insert(0);
            if *count == 0 && !res.pools.try_take() {
                pools.remove(&key);
                return Err(NoConnection::Pools);
            }
            *count += 1;
        }
        // A refusal below drops `token`, which gives back what it holds so far.
        let mut token = ConnectionToken {
            breakers: Arc::clone(breakers),
            host: None,
            owner: Rc::clone(&worker.breakers),
            key,
            counts_pool,
            holds_connection: false,
        };
        if let (Some(gate), Some(max)) = (
            &host.connections,
            breakers.resources.config.per_host_max_connections(priority),
        ) {
            if !gate.try_take_below(max) {
                return Err(NoConnection::Connections);
            }
            token.host = Some(Arc::clone(gate));
        }
        if !res.connections.try_take() {
            return Err(NoConnection::Connections);
        }
        token.holds_connection = true;
        Ok(token)
    }
}

impl ConnectionToken {
    /// The pool the connection belongs to.
    pub fn key(&self) -> PoolKey {
        self.key
    }
}

fn leave_pool(owner: &WorkerBreakers, key: PoolKey, res: &sluice_lb::breaker::Resources) {
    let mut pools = owner.pools.borrow_mut();
    if let Some(count) = pools.get_mut(&key) {
        *count -= 1;
        if *count == 0 {
            pools.remove(&key);
            res.pools.give();
        }
    }
}

impl Drop for ConnectionToken {
    fn drop(&mut self) {
        let res = self.breakers.resources.at(self.key.priority);
        if !self.holds_connection {
            // A refused take: only what it had taken goes back, and nobody is woken.
            if let Some(g) = &self.host {
                g.give();
            }
            if self.counts_pool {
                leave_pool(&self.owner, self.key, res);
            }
            return;
        }
        res.connections.give();
        if let Some(g) = &self.host {
            g.give();
        }
        if self.counts_pool {
            leave_pool(&self.owner, self.key, res);
        }
        // A request of this cluster waiting for a connection may open one now.
        self.owner.wake_one(self.key.cluster);
    }
}

/// A request waiting for a connection (`max_pending_requests`), counted in
/// `upstream_rq_pending_active` until dropped.
#[derive(Debug)]
pub struct PendingToken<'a> {
    breakers: &'a Breakers,
    priority: Priority,
    shard: &'a Shard,
    active: StatId,
}

impl<'a> PendingToken<'a> {
    /// Takes a pending slot, or `None` when `max_pending_requests` are waiting.
    pub fn take(worker: &'a Worker, cluster: &'a Cluster, priority: Priority) -> Option<Self> {
        if !cluster.breakers.resources.at(priority).pending.try_take() {
            return None;
        }
        worker.shard.inc(cluster.stats.upstream_rq_pending_total);
        worker.shard.inc(cluster.stats.upstream_rq_pending_active);
        Some(PendingToken {
            breakers: &cluster.breakers,
            priority,
            shard: &worker.shard,
            active: cluster.stats.upstream_rq_pending_active,
        })
    }
}

impl Drop for PendingToken<'_> {
    fn drop(&mut self) {
        self.breakers.resources.at(self.priority).pending.give();
        self.shard.dec(self.active);
    }
}

/// A request on a connection (`max_requests`): taken from this worker's lease.
#[derive(Debug)]
pub struct RequestToken {
    breakers: Arc<Breakers>,
    priority: Priority,
    worker: usize,
}

impl RequestToken {
    /// Takes a request token, or `None` when `max_requests` are in flight.
    pub fn take(worker: &Worker, cluster: &Cluster, priority: Priority) -> Option<Self> {
        cluster
            .breakers
            .resources
            .at(priority)
            .requests
            .try_take(worker.index)
            .then(|| RequestToken {
                breakers: Arc::clone(&cluster.breakers),
                priority,
                worker: worker.index,
            })
    }
}

impl Drop for RequestToken {
    fn drop(&mut self) {
        self.breakers
            .resources
            .at(self.priority)
            .requests
            .give(self.worker);
    }
}

/// A retry in flight (`max_retries` or the retry budget), from the decision to retry until
/// the retried attempt ends, as Envoy's retry state holds it.
#[derive(Debug)]
pub struct RetryToken<'a> {
    breakers: &'a Breakers,
    priority: Priority,
}

impl<'a> RetryToken<'a> {
    /// Takes a retry, or `None` when the limit is reached.
    pub fn take(cluster: &'a Cluster, priority: Priority) -> Option<Self> {
        cluster
            .breakers
            .resources
            .at(priority)
            .try_take_retry()
            .then_some(RetryToken {
                breakers: &cluster.breakers,
                priority,
            })
    }
}

impl Drop for RetryToken<'_> {
    fn drop(&mut self) {
        self.breakers.resources.at(self.priority).retries.give();
    }
}

/// `cluster.<name>.circuit_breakers.<priority>.*` gauge ids; the `remaining_*` ones only
/// with `track_remaining`, as Envoy publishes them.
#[derive(Debug, Clone, Copy)]
pub struct BreakerStats {
    open: [StatId; 5],
    remaining: Option<[StatId; 5]>,
}

impl BreakerStats {
    /// Registers the gauges of both priorities of `cluster_name`.
    pub fn register(
        reg: &mut Registry,
        cluster_name: &str,
        config: &sluice_lb::breaker::CircuitBreakers,
    ) -> Result<[BreakerStats; 2], RegistryFull> {
        let mut out = Vec::with_capacity(2);
        for p in Priority::ALL {
            let prefix = format!("cluster.{cluster_name}.circuit_breakers.{}.", p.name());
            let mut id = |name: &str| reg.id(&format!("{prefix}{name}"), Kind::Gauge);
            let open = [
                id("cx_open")?,
                id("cx_pool_open")?,
                id("rq_pending_open")?,
                id("rq_open")?,
                id("rq_retry_open")?,
            ];
            let remaining = if config.thresholds(p).track_remaining {
                Some([
                    id("remaining_cx")?,
                    id("remaining_cx_pools")?,
                    id("remaining_pending")?,
                    id("remaining_rq")?,
                    id("remaining_retries")?,
                ])
            } else {
                None
            };
            out.push(BreakerStats { open, remaining });
        }
        Ok([out[0], out[1]])
    }
}

/// Sets every cluster's breaker gauges in `shard` (the control thread's) from the live
/// counts, before the admin API reads the stats.
pub fn publish_gauges(snapshot: &Snapshot, shard: &Shard) {
    for c in &snapshot.clusters {
        for (p, stats) in Priority::ALL.into_iter().zip(c.breaker_stats.iter()) {
            let g = c.breakers.resources.at(p).gauges();
            let open = [
                g.cx_open,
                g.cx_pool_open,
                g.rq_pending_open,
                g.rq_open,
                g.rq_retry_open,
            ];
            for (id, v) in stats.open.iter().zip(open) {
                shard.set(*id, v);
            }
            if let Some(ids) = &stats.remaining {
                let left = [
                    g.remaining_cx,
                    g.remaining_cx_pools,
                    g.remaining_pending,
                    g.remaining_rq,
                    g.remaining_retries,
                ];
                for (id, v) in ids.iter().zip(left) {
                    // An unlimited resource (`max_connection_pools` by default) shows the
                    // largest value a gauge can hold.
                    shard.set(*id, v.min(i64::MAX as u64));
                }
            }
        }
    }
}
