//! Host sets per priority as Envoy's `PrioritySetImpl` holds them, and the priority maths computed on
//! them once per snapshot: health, degraded availability, per-priority load, panic, locality weights.

use std::collections::BTreeMap;

use crate::host::{HostDesc, HostId, Locality};

/// Healthy or degraded traffic, the second result of Envoy's `choosePriority`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Load assigned by healthy availability.
    Healthy,
    /// Load assigned by degraded availability.
    Degraded,
}

/// Hosts of one priority level, grouped like Envoy's `HostSetImpl`: flat lists plus per-locality lists
/// sharing one locality index (local locality first when it has hosts, then `LocalityLess` order).
#[derive(Clone, Debug, Default)]
pub struct HostSet {
    /// Priority level.
    pub priority: u32,
    /// All hosts (`hosts()`), including unhealthy and excluded ones, in configuration order.
    pub hosts: Vec<HostId>,
    /// Healthy, not excluded.
    pub healthy: Vec<HostId>,
    /// Degraded, not excluded.
    pub degraded: Vec<HostId>,
    /// Excluded.
    pub excluded: Vec<HostId>,
    /// The locality of each per-locality index.
    pub localities: Vec<Locality>,
    /// Index 0 is the proxy's own locality.
    pub has_local_locality: bool,
    /// All hosts per locality.
    pub hosts_per_locality: Vec<Vec<HostId>>,
    /// Healthy hosts per locality.
    pub healthy_per_locality: Vec<Vec<HostId>>,
    /// Degraded hosts per locality.
    pub degraded_per_locality: Vec<Vec<HostId>>,
    /// Excluded hosts per locality.
    pub excluded_per_locality: Vec<Vec<HostId>>,
    /// Locality weights per locality index (empty: none, e.g. a subset without `locality_weight_aware`).
    pub locality_weights: Vec<u32>,
    /// Overprovisioning factor (percent, 140 = 1.4).
    pub overprovisioning_factor: u32,
    /// `weighted_priority_health`: health by weight rather than host count.
    pub weighted_priority_health: bool,
}

impl HostSet {
    /// Hosts that count in totals: all minus excluded.
    pub(crate) fn host_count(&self) -> usize {
        self.hosts.len() - self.excluded.len()
    }
}

/// Group `hosts` of one priority (ids into `all`) by locality, local locality first.
pub(crate) fn group_priority(
    priority: u32,
    ids: &[HostId],
    all: &[HostDesc],
    local_locality: Option<&Locality>,
    overprovisioning_factor: u32,
    weighted_priority_health: bool,
) -> HostSet {
    let mut by_locality: BTreeMap<&Locality, Vec<HostId>> = BTreeMap::new();
    let mut weights: BTreeMap<&Locality, u32> = BTreeMap::new();
    for &id in ids {
        let h = &all[id as usize];
        by_locality.entry(&h.locality).or_default().push(id);
        let w = weights.entry(&h.locality).or_insert(0);
        if let Some(lw) = h.locality_weight {
            // The last LocalityLbEndpoints for a locality wins, as in Envoy's locality weight map.
            *w = lw;
        }
    }
    let has_local = local_locality.is_some_and(|l| by_locality.contains_key(l));
    let mut order: Vec<&Locality> = Vec::with_capacity(by_locality.len());
    if has_local && let Some(l) = local_locality {
        order.push(l);
    }
    for l in by_locality.keys() {
        if !(has_local && local_locality == Some(*l)) {
            order.push(l);
        }
    }
    let mut set = HostSet {
        priority,
        hosts: ids.to_vec(),
        has_local_locality: has_local,
        overprovisioning_factor,
        weighted_priority_health,
        ..HostSet::default()
    };
    for l in order {
        let members = by_locality.get(l).cloned().unwrap_or_default();
        set.localities.push(l.clone());
        set.locality_weights
            .push(weights.get(l).copied().unwrap_or(0));
        set.hosts_per_locality.push(members);
    }
    refill_health(&mut set, all);
    set
}

/// Recompute the health lists from `hosts` and `hosts_per_locality`.
pub(crate) fn refill_health(set: &mut HostSet, all: &[HostDesc]) {
    let pick = |ids: &[HostId], f: &dyn Fn(&HostDesc) -> bool| -> Vec<HostId> {
        ids.iter()
            .copied()
            .filter(|&i| f(&all[i as usize]))
            .collect()
    };
    set.healthy = pick(&set.hosts, &HostDesc::is_healthy);
    set.degraded = pick(&set.hosts, &HostDesc::is_degraded);
    set.excluded = pick(&set.hosts, &|h| h.excluded);
    set.healthy_per_locality = set
        .hosts_per_locality
        .iter()
        .map(|l| pick(l, &HostDesc::is_healthy))
        .collect();
    set.degraded_per_locality = set
        .hosts_per_locality
        .iter()
        .map(|l| pick(l, &HostDesc::is_degraded))
        .collect();
    set.excluded_per_locality = set
        .hosts_per_locality
        .iter()
        .map(|l| pick(l, &|h| h.excluded))
        .collect();
}

/// A host set restricted to hosts for which `keep` is true, keeping the locality indexes (as Envoy's
/// `HostsPerLocality::filter`).
pub(crate) fn filter_host_set(
    original: &HostSet,
    keep: &dyn Fn(HostId) -> bool,
    all: &[HostDesc],
    locality_weights: Vec<u32>,
) -> HostSet {
    let mut set = HostSet {
        priority: original.priority,
        hosts: original
            .hosts
            .iter()
            .copied()
            .filter(|&h| keep(h))
            .collect(),
        localities: original.localities.clone(),
        has_local_locality: original.has_local_locality,
        hosts_per_locality: original
            .hosts_per_locality
            .iter()
            .map(|l| l.iter().copied().filter(|&h| keep(h)).collect())
            .collect(),
        locality_weights,
        overprovisioning_factor: original.overprovisioning_factor,
        weighted_priority_health: original.weighted_priority_health,
        ..HostSet::default()
    };
    refill_health(&mut set, all);
    set
}

/// Health and load of every priority, computed as Envoy's `LoadBalancerBase` does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriorityState {
    /// Per priority: min(100, OF * healthy / total) (by weight with `weighted_priority_health`).
    pub health: Vec<u32>,
    /// Per priority: min(100, OF * degraded / total).
    pub degraded: Vec<u32>,
    /// Per priority percent of traffic sent to healthy hosts; with `degraded_load` sums to 100.
    pub healthy_load: Vec<u32>,
    /// Per priority percent of traffic sent to degraded hosts.
    pub degraded_load: Vec<u32>,
    /// Per priority panic flag.
    pub panic: Vec<bool>,
    /// Every priority is in panic; loads then follow host counts.
    pub total_panic: bool,
    /// min(100, sum of health + degraded).
    pub normalized_total_availability: u32,
}

/// Envoy's `calculateNormalizedTotalAvailability`.
fn normalized_total(health: &[u32], degraded: &[u32]) -> u32 {
    let sum: u64 = health
        .iter()
        .chain(degraded.iter())
        .map(|&v| u64::from(v))
        .sum();
    u32::try_from(sum.min(100)).unwrap_or(100)
}

/// Envoy's `distributeLoad`: returns (first priority with availability, load left over).
fn distribute(
    load: &mut [u32],
    availability: &[u32],
    mut total: u32,
    nta: u32,
) -> (Option<usize>, u32) {
    let mut first = None;
    for (i, (&avail, slot)) in availability.iter().zip(load.iter_mut()).enumerate() {
        if first.is_none() && avail > 0 {
            first = Some(i);
        }
        let share = (u64::from(avail) * 100 / u64::from(nta)).min(u64::from(total));
        // Bounded by `total` which is a u32.
        *slot = u32::try_from(share).unwrap_or(total);
        total -= *slot;
    }
    (first, total)
}

/// Envoy's `isHostSetInPanic`: (healthy + degraded) / (hosts - excluded) below the threshold.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn host_set_in_panic(set: &HostSet, panic_threshold: u64) -> bool {
    let count = set.host_count();
    let (healthy_pct, degraded_pct) = if count == 0 {
        (0.0, 0.0)
    } else {
        (
            100.0 * set.healthy.len() as f64 / count as f64,
            100.0 * set.degraded.len() as f64 / count as f64,
        )
    };
    healthy_pct + degraded_pct < panic_threshold.min(100) as f64
}

/// Compute health, loads and panic for all priorities (`recalculatePerPriorityState` for every level
/// followed by `recalculatePerPriorityPanic`).
pub(crate) fn compute_priority_state(
    sets: &[HostSet],
    all: &[HostDesc],
    panic_threshold: u64,
) -> PriorityState {
    let n = sets.len();
    let mut st = PriorityState {
        health: vec![0; n],
        degraded: vec![0; n],
        healthy_load: vec![0; n],
        degraded_load: vec![0; n],
        panic: vec![false; n],
        ..PriorityState::default()
    };
    for (p, set) in sets.iter().enumerate() {
        if set.host_count() == 0 {
            continue;
        }
        let (healthy_w, degraded_w, total_w) = if set.weighted_priority_health {
            let w = |ids: &[HostId]| -> u64 {
                ids.iter().map(|&i| u64::from(all[i as usize].weight)).sum()
            };
            (
                w(&set.healthy),
                w(&set.degraded),
                w(&set.hosts) - w(&set.excluded),
            )
        } else {
            (
                set.healthy.len() as u64,
                set.degraded.len() as u64,
                set.host_count() as u64,
            )
        };
        let of = u64::from(set.overprovisioning_factor);
        let cap = |v: u64| u32::try_from(v.min(100)).unwrap_or(100);
        if let (Some(h), Some(d)) = (
            (of * healthy_w).checked_div(total_w),
            (of * degraded_w).checked_div(total_w),
        ) {
            st.health[p] = cap(h);
            st.degraded[p] = cap(d);
        }
    }
    let nta = normalized_total(&st.health, &st.degraded);
    st.normalized_total_availability = nta;
    if nta > 0 {
        let (first_healthy, left) = distribute(&mut st.healthy_load, &st.health, 100, nta);
        let (first_degraded, left) = distribute(&mut st.degraded_load, &st.degraded, left, nta);
        if left != 0 {
            // Rounding leftovers go to the first healthy priority, else the first degraded one.
            if let Some(p) = first_healthy {
                st.healthy_load[p] += left;
            } else if let Some(p) = first_degraded {
                st.degraded_load[p] += left;
            }
        }
        debug_assert_eq!(
            st.healthy_load.iter().sum::<u32>() + st.degraded_load.iter().sum::<u32>(),
            100
        );
    }
    // recalculatePerPriorityPanic.
    if panic_threshold == 0 && nta == 0 {
        if let Some(first) = st.healthy_load.first_mut() {
            *first = 100;
        }
        return st;
    }
    let mut total_panic = true;
    for (p, set) in sets.iter().enumerate() {
        st.panic[p] = nta != 100 && host_set_in_panic(set, panic_threshold);
        total_panic &= st.panic[p];
    }
    st.total_panic = total_panic && n > 0;
    if st.total_panic {
        // recalculateLoadInTotalPanic: split by host count, health ignored.
        let total_hosts: usize = sets.iter().map(|s| s.hosts.len()).sum();
        st.degraded_load.iter_mut().for_each(|v| *v = 0);
        if total_hosts == 0 {
            st.healthy_load.iter_mut().for_each(|v| *v = 0);
            if let Some(first) = st.healthy_load.first_mut() {
                *first = 100;
            }
            return st;
        }
        let mut left = 100u32;
        let mut first_non_empty = None;
        for (p, set) in sets.iter().enumerate() {
            if first_non_empty.is_none() && !set.hosts.is_empty() {
                first_non_empty = Some(p);
            }
            let load = u32::try_from(100 * set.hosts.len() / total_hosts).unwrap_or(100);
            st.healthy_load[p] = load;
            left -= load;
        }
        if let Some(p) = first_non_empty {
            st.healthy_load[p] += left;
        }
    }
    debug_assert_eq!(
        st.healthy_load.iter().sum::<u32>() + st.degraded_load.iter().sum::<u32>(),
        100,
        "priority loads must add up to 100"
    );
    st
}

/// Envoy's `choosePriority`: `hash % 100 + 1` walked over healthy loads, then degraded loads.
#[must_use]
pub fn choose_priority(hash: u64, healthy: &[u32], degraded: &[u32]) -> (usize, Availability) {
    let h = hash % 100 + 1;
    let mut acc = 0u64;
    for (p, &l) in healthy.iter().enumerate() {
        acc += u64::from(l);
        if h <= acc {
            return (p, Availability::Healthy);
        }
    }
    for (p, &l) in degraded.iter().enumerate() {
        acc += u64::from(l);
        if h <= acc {
            return (p, Availability::Degraded);
        }
    }
    (0, Availability::Healthy)
}

/// Envoy's `LocalityWrr::effectiveLocalityWeight`: weight x min(1, OF/100 x eligible/(total - excluded)).
#[allow(clippy::cast_precision_loss)]
#[must_use]
pub fn effective_locality_weight(set: &HostSet, index: usize, eligible: &[Vec<HostId>]) -> f64 {
    let excluded = set.excluded_per_locality.get(index).map_or(0, Vec::len);
    let total = set.hosts_per_locality[index].len() - excluded;
    if total == 0 {
        return 0.0;
    }
    let ratio = eligible[index].len() as f64 / total as f64;
    let weight = f64::from(set.locality_weights.get(index).copied().unwrap_or(0));
    weight * (f64::from(set.overprovisioning_factor) / 100.0 * ratio).min(1.0)
}

#[cfg(test)]
mod tests;
