//! Stats: Envoy-named counters and gauges, written by each worker into its own shard.
//!
//! The control thread owns a [`Registry`] that hands out a stable [`StatId`] per stat name
//! (the same name always gets the same slot, across snapshots). Each worker owns one
//! [`Shard`]: a fixed array of slots that only that worker writes, with relaxed loads and
//! stores (no read-modify-write, no cache line shared with another writer). The admin
//! endpoint sums every shard on read. Gauges are kept as wrapping counters of +1/-1 steps,
//! so the sum over shards is the gauge's value even when a connection opens on one worker's
//! books and the value is read mid-flight.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Slots per shard. A stat registry never grows past this: names beyond it are refused at
/// snapshot build time with an error rather than silently dropped.
pub const SHARD_SLOTS: usize = 1 << 16;

/// Index of one stat in every shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatId(u32);

/// Whether a stat is a monotonically rising counter or a gauge that goes up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only ever incremented.
    Counter,
    /// Incremented and decremented; may be set absolutely by the control thread.
    Gauge,
}

/// One worker's stat slots. Written by one thread only.
#[derive(Debug)]
pub struct Shard {
    slots: Box<[AtomicU64]>,
}

impl Shard {
    fn new() -> Self {
        Self {
            slots: (0..SHARD_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Adds `n` to a counter or gauge. Single writer: a relaxed load and store, which the
    /// compiler turns into a plain add, rather than a locked read-modify-write.
    #[inline]
    pub fn add(&self, id: StatId, n: u64) {
        if let Some(slot) = self.slots.get(id.0 as usize) {
            slot.store(
                slot.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            );
        }
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self, id: StatId) {
        self.add(id, 1);
    }

    /// Subtracts one from a gauge.
    #[inline]
    pub fn dec(&self, id: StatId) {
        self.add(id, u64::MAX);
    }

    /// Sets a gauge owned by this shard's writer.
    #[inline]
    pub fn set(&self, id: StatId, value: u64) {
        if let Some(slot) = self.slots.get(id.0 as usize) {
            slot.store(value, Ordering::Relaxed);
        }
    }

    fn get(&self, id: StatId) -> u64 {
        self.slots
            .get(id.0 as usize)
            .map_or(0, |slot| slot.load(Ordering::Relaxed))
    }
}

/// The set of stat names and every shard that holds their values.
///
/// Owned by the control thread; workers receive their own `Arc<Shard>` once at start.
/// Shard 0 belongs to the control thread itself (admin, health checks, server gauges).
#[derive(Debug)]
pub struct Registry {
    /// name -> (slot, kind, listed in `/stats`).
    names: BTreeMap<String, (StatId, Kind, bool)>,
    shards: Vec<Arc<Shard>>,
    next: u32,
}

/// Error when more distinct stat names are requested than a shard holds.
#[derive(Debug, thiserror::Error)]
#[error("more than {SHARD_SLOTS} distinct stats; cannot register `{0}`")]
pub struct RegistryFull(pub String);

impl Registry {
    /// A registry with one control shard plus one shard per worker.
    pub fn new(workers: usize) -> Self {
        Self {
            names: BTreeMap::new(),
            shards: (0..=workers).map(|_| Arc::new(Shard::new())).collect(),
            next: 0,
        }
    }

    /// Number of worker shards.
    pub fn workers(&self) -> usize {
        self.shards.len() - 1
    }

    /// The shard written by the control thread.
    pub fn control_shard(&self) -> Arc<Shard> {
        Arc::clone(&self.shards[0])
    }

    /// The shard written by worker `index`.
    pub fn worker_shard(&self, index: usize) -> Arc<Shard> {
        Arc::clone(&self.shards[index + 1])
    }

    /// The id of `name`, registering it on first use.
    pub fn id(&mut self, name: &str, kind: Kind) -> Result<StatId, RegistryFull> {
        self.register(name, kind, true)
    }

    /// Like [`Registry::id`] for values that Envoy shows elsewhere than `/stats` (per-host
    /// counters behind `/clusters`).
    pub fn id_hidden(&mut self, name: &str, kind: Kind) -> Result<StatId, RegistryFull> {
        self.register(name, kind, false)
    }

    fn register(&mut self, name: &str, kind: Kind, listed: bool) -> Result<StatId, RegistryFull> {
        if let Some((id, _, _)) = self.names.get(name) {
            return Ok(*id);
        }
        if self.next as usize >= SHARD_SLOTS {
            return Err(RegistryFull(name.to_owned()));
        }
        let id = StatId(self.next);
        self.next += 1;
        self.names.insert(name.to_owned(), (id, kind, listed));
        Ok(id)
    }

    /// Current value of one stat, summed over every shard.
    pub fn value(&self, id: StatId, kind: Kind) -> u64 {
        let sum = self
            .shards
            .iter()
            .fold(0u64, |acc, s| acc.wrapping_add(s.get(id)));
        match kind {
            Kind::Counter => sum,
            // A gauge's shards hold +1/-1 steps; a transiently negative sum reads as zero.
            Kind::Gauge => {
                if (sum as i64) < 0 {
                    0
                } else {
                    sum
                }
            }
        }
    }

    /// Value of a stat by name, if registered.
    pub fn value_of(&self, name: &str) -> Option<u64> {
        self.names
            .get(name)
            .map(|(id, kind, _)| self.value(*id, *kind))
    }

    /// Every stat with its kind and current value, sorted by name (Envoy's `/stats` order).
    pub fn all(&self) -> Vec<(&str, Kind, u64)> {
        self.names
            .iter()
            .filter(|(_, (_, _, listed))| *listed)
            .map(|(name, (id, kind, _))| (name.as_str(), *kind, self.value(*id, *kind)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_slot_and_sums_over_shards() {
        let mut reg = Registry::new(2);
        let a = reg
            .id("cluster.web.upstream_rq_total", Kind::Counter)
            .unwrap();
        let again = reg
            .id("cluster.web.upstream_rq_total", Kind::Counter)
            .unwrap();
        assert_eq!(a, again);
        reg.worker_shard(0).inc(a);
        reg.worker_shard(1).add(a, 4);
        assert_eq!(reg.value_of("cluster.web.upstream_rq_total"), Some(5));
    }

    #[test]
    fn gauge_moves_across_workers() {
        let mut reg = Registry::new(2);
        let g = reg.id("http.x.downstream_cx_active", Kind::Gauge).unwrap();
        reg.worker_shard(0).inc(g);
        reg.worker_shard(0).inc(g);
        reg.worker_shard(1).dec(g);
        assert_eq!(reg.value(g, Kind::Gauge), 1);
        reg.worker_shard(0).dec(g);
        assert_eq!(reg.value(g, Kind::Gauge), 0);
    }
}
