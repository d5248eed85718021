//! The shared, immutable per-snapshot load balancer of one cluster: host sets, priority loads, panic,
//! locality weights, zone routing, subsets and ring/maglev tables, built once and shared by `Arc`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use xxhash_rust::xxh64::Xxh64;

use crate::active::ActiveRequests;
use crate::config::{
    LbConfig, LbPolicy, SelectorFallbackPolicy, SubsetConfig, SubsetFallbackPolicy,
};
use crate::error::LbError;
use crate::host::{HostDesc, HostId, Locality};
use crate::hostset::{
    HostSet, PriorityState, compute_priority_state, effective_locality_weight, filter_host_set,
    group_priority, host_set_in_panic,
};
use crate::maglev::MaglevTable;
use crate::metadata::{MetaValue, MetadataMatch, labels_match};
use crate::ring_hash::Ring;

/// Inputs of [`ClusterLb::build`] besides the config and the hosts.
#[derive(Clone, Debug, Default)]
pub struct BuildParams<'a> {
    /// Number of workers (rows of the shared active-request table).
    pub workers: usize,
    /// The proxy's own locality (`node.locality`): hosts there get locality index 0.
    pub local_locality: Option<Locality>,
    /// Hosts of `cluster_manager.local_cluster_name` (enables zone-aware routing), priority ignored.
    pub local_cluster: Option<&'a [HostDesc]>,
    /// The previous snapshot of this cluster: active-request slots of hosts kept (matched by address)
    /// carry over, so least request keeps seeing requests still in flight.
    pub previous: Option<&'a ClusterLb>,
}

/// Zone-aware routing decision for priority 0 (Envoy's `LocalityRoutingState`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalityRouting {
    /// Zone-aware routing off (no local cluster, too small, locality counts differ...).
    NoLocalityRouting,
    /// Everything to the local locality.
    LocalityDirect,
    /// `local_percent_to_route` / 10000 to the local locality, the rest by residual capacity.
    LocalityResidual {
        /// Share (in 1/10000) routed to the local locality.
        local_percent_to_route: u64,
        /// Cumulative residual capacity per locality index.
        residual_capacity: Vec<u64>,
    },
}

/// Locality weighted round robin inputs for one priority and one availability.
#[derive(Clone, Debug, Default)]
pub struct LocalityWrr {
    /// Locality indexes with a positive effective weight.
    pub indexes: Vec<u32>,
    /// Effective weight per locality index (all indexes of the priority).
    pub weights: Vec<f64>,
}

/// A ring or maglev table for one priority.
#[derive(Clone, Debug)]
pub enum HashTable {
    /// Not a hashing policy.
    None,
    /// RING_HASH.
    Ring(Ring),
    /// MAGLEV.
    Maglev(MaglevTable),
}

/// Which host list a pick draws from (Envoy's `HostsSource::SourceType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// All hosts (panic).
    All,
    /// Healthy hosts.
    Healthy,
    /// Degraded hosts.
    Degraded,
    /// Healthy hosts of one locality.
    LocalityHealthy(u32),
    /// Degraded hosts of one locality.
    LocalityDegraded(u32),
}

/// One complete priority set with everything computed on it: the whole cluster, or one subset.
#[derive(Clone, Debug)]
pub struct LbCore {
    /// Human-readable name ("cluster", "subset stage=\"prod\", ...", "default subset", "any").
    pub label: String,
    /// Host sets per priority.
    pub sets: Vec<HostSet>,
    /// Health, loads and panic.
    pub state: PriorityState,
    /// Per priority: locality WRR over healthy hosts (locality-weighted LB only).
    pub healthy_wrr: Vec<Option<LocalityWrr>>,
    /// Per priority: locality WRR over degraded hosts.
    pub degraded_wrr: Vec<Option<LocalityWrr>>,
    /// Zone-aware routing state of priority 0.
    pub zone: LocalityRouting,
    /// Ring/maglev table per priority.
    pub tables: Vec<HashTable>,
    pub(crate) source_base: Vec<usize>,
    pub(crate) source_count: usize,
    pub(crate) source_equal_weights: Vec<bool>,
    /// Weighted RR without slow start: one full EDF period per source (static integer weights make
    /// the EDF order periodic with period sum(weights)), so a worker walks it with a cursor.
    pub(crate) source_cycles: Vec<Option<Vec<HostId>>>,
    pub(crate) fingerprint: u64,
}

/// Longest precomputed weighted round-robin period (entries per source).
const MAX_RR_CYCLE: u64 = 1 << 16;

impl LbCore {
    /// Any host at any priority (Envoy's subset `active()`).
    #[must_use]
    pub fn has_hosts(&self) -> bool {
        self.sets.iter().any(|s| !s.hosts.is_empty())
    }

    pub(crate) fn source_index(&self, priority: usize, kind: SourceKind) -> usize {
        let base = self.source_base[priority];
        base + match kind {
            SourceKind::All => 0,
            SourceKind::Healthy => 1,
            SourceKind::Degraded => 2,
            SourceKind::LocalityHealthy(i) => 3 + 2 * i as usize,
            SourceKind::LocalityDegraded(i) => 4 + 2 * i as usize,
        }
    }

    pub(crate) fn source_hosts(&self, priority: usize, kind: SourceKind) -> &[HostId] {
        let set = &self.sets[priority];
        let empty: &[HostId] = &[];
        match kind {
            SourceKind::All => &set.hosts,
            SourceKind::Healthy => &set.healthy,
            SourceKind::Degraded => &set.degraded,
            SourceKind::LocalityHealthy(i) => set
                .healthy_per_locality
                .get(i as usize)
                .map_or(empty, Vec::as_slice),
            SourceKind::LocalityDegraded(i) => set
                .degraded_per_locality
                .get(i as usize)
                .map_or(empty, Vec::as_slice),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct SubsetNode {
    pub(crate) core: Option<usize>,
    pub(crate) children: SubsetMap,
}

pub(crate) type SubsetMap = BTreeMap<String, BTreeMap<MetaValue, SubsetNode>>;

#[derive(Clone, Debug, Default)]
pub(crate) struct SelectorNode {
    pub(crate) fallback: Option<(SelectorFallbackPolicy, Vec<String>)>,
    pub(crate) children: BTreeMap<String, SelectorNode>,
}

/// The subset load balancer's immutable structure.
#[derive(Clone, Debug, Default)]
pub struct Subsets {
    pub(crate) tree: SubsetMap,
    pub(crate) selector_tree: BTreeMap<String, SelectorNode>,
    pub(crate) selector_keys: Vec<Vec<String>>,
    pub(crate) any: Option<usize>,
    pub(crate) default: Option<usize>,
    pub(crate) fallback: Option<usize>,
    pub(crate) panic_mode: Option<usize>,
    /// Every subset: its `key=value` criteria and core index, in creation order.
    pub(crate) list: Vec<(Vec<(String, MetaValue)>, usize)>,
    pub(crate) allow_redundant_keys: bool,
}

impl Subsets {
    /// Number of subsets created from selectors (not counting the default and any-endpoint subsets).
    #[must_use]
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// No selector-made subsets.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Envoy's `findSubset`: walk the sorted criteria through the tree; the node reached by the last
    /// criterion is the subset (if it has hosts).
    pub(crate) fn find(&self, criteria: &[(String, MetaValue)]) -> Option<usize> {
        let mut map = &self.tree;
        for (i, (k, v)) in criteria.iter().enumerate() {
            let node = map.get(k)?.get(v)?;
            if i + 1 == criteria.len() {
                return node.core;
            }
            map = &node.children;
        }
        None
    }

    /// Envoy's `tryFindSelectorFallbackParams`.
    pub(crate) fn selector_fallback(
        &self,
        criteria: &[(String, MetaValue)],
    ) -> Option<(SelectorFallbackPolicy, Vec<String>)> {
        let mut map = &self.selector_tree;
        for (i, (k, _)) in criteria.iter().enumerate() {
            let node = map.get(k)?;
            if i + 1 == criteria.len() {
                return Some(
                    node.fallback
                        .clone()
                        .unwrap_or((SelectorFallbackPolicy::NotDefined, Vec::new())),
                );
            }
            map = &node.children;
        }
        None
    }

    /// Envoy's `filterCriteriaBySelectors` (for `allow_redundant_keys`).
    pub(crate) fn filter_by_selectors(&self, mm: &MetadataMatch) -> Option<MetadataMatch> {
        for keys in &self.selector_keys {
            let sub = mm.filter(keys);
            if sub.criteria().len() == keys.len() {
                return Some(sub);
            }
        }
        None
    }
}

/// The shared load balancer of one cluster for one snapshot. `Send + Sync`, immutable; workers hold
/// it in an `Arc` and keep their own mutable state in a [`crate::WorkerLb`].
#[derive(Debug)]
pub struct ClusterLb {
    pub(crate) config: LbConfig,
    pub(crate) hosts: Vec<HostDesc>,
    pub(crate) cores: Vec<LbCore>,
    pub(crate) subsets: Option<Subsets>,
    pub(crate) panic_threshold: u64,
    pub(crate) local_in_panic: bool,
    pub(crate) local_set: Option<HostSet>,
    pub(crate) latest_slow_start: Option<Instant>,
    pub(crate) active: Arc<ActiveRequests>,
    pub(crate) slot_of: Vec<u32>,
    pub(crate) slot_map: BTreeMap<SocketAddr, u32>,
    pub(crate) workers: usize,
    /// Per host weight as f64 (hot path: avoids touching the large `HostDesc`).
    pub(crate) weights: Vec<f64>,
    /// Flags derived from the config once, read on every pick.
    pub(crate) flags: PickFlags,
}

/// Config-derived values the pick path reads, precomputed per snapshot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PickFlags {
    pub(crate) locality_weighted: bool,
    pub(crate) fail_on_panic: bool,
    pub(crate) routing_enabled: u64,
    pub(crate) is_hashing: bool,
    pub(crate) is_random: bool,
    pub(crate) least_request: Option<(u32, f64, crate::config::SelectionMethod)>,
}

impl ClusterLb {
    /// Validate `config`, group `hosts` into priorities and localities, compute loads, panic, locality
    /// weights, zone routing, subsets and hash tables. Runs on the control thread once per snapshot.
    ///
    /// # Errors
    /// Invalid config values (with the field and a remedy), zero host weights, weight sums above u32.
    pub fn build(
        config: LbConfig,
        hosts: Vec<HostDesc>,
        params: &BuildParams<'_>,
    ) -> Result<Arc<Self>, LbError> {
        config.validate()?;
        if u32::try_from(hosts.len()).is_err() {
            return Err(LbError::TooManyHosts(hosts.len()));
        }
        let max_priority = hosts.iter().map(|h| h.priority).max().unwrap_or(0);
        let mut per_priority: Vec<Vec<HostId>> = vec![Vec::new(); max_priority as usize + 1];
        for (i, h) in hosts.iter().enumerate() {
            if h.weight == 0 {
                return Err(LbError::ZeroHostWeight {
                    address: h.address.to_string(),
                });
            }
            // Bounded by the TooManyHosts check above.
            per_priority[h.priority as usize].push(u32::try_from(i).unwrap_or(u32::MAX));
        }
        for (p, ids) in per_priority.iter().enumerate() {
            let sum: u64 = ids
                .iter()
                .map(|&i| u64::from(hosts[i as usize].weight))
                .sum();
            if sum > u64::from(u32::MAX) {
                return Err(LbError::WeightSumOverflow {
                    priority: u32::try_from(p).unwrap_or(u32::MAX),
                });
            }
        }
        let local_locality = params.local_locality.as_ref();
        let original: Vec<HostSet> = per_priority
            .iter()
            .enumerate()
            .map(|(p, ids)| {
                group_priority(
                    u32::try_from(p).unwrap_or(u32::MAX),
                    ids,
                    &hosts,
                    local_locality,
                    config.overprovisioning_factor,
                    config.weighted_priority_health,
                )
            })
            .collect();
        let panic_threshold = config.panic_threshold();

        // The local cluster is one priority; its hosts live in their own id space.
        let local_set = params.local_cluster.map(|local| {
            let ids: Vec<HostId> = (0..local.len())
                .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
                .collect();
            group_priority(0, &ids, local, local_locality, 100, false)
        });
        let local_in_panic = local_set
            .as_ref()
            .is_some_and(|s| host_set_in_panic(s, panic_threshold));

        let mut builder = CoreBuilder {
            config: &config,
            hosts: &hosts,
            panic_threshold,
            local_set: local_set.as_ref(),
        };
        let mut cores = vec![builder.build("cluster".to_owned(), original.clone())];
        let subsets = config
            .subset
            .as_ref()
            .map(|sc| build_subsets(sc, &original, &hosts, &mut builder, &mut cores));

        let latest_slow_start = config.policy.slow_start().and_then(|_| {
            hosts
                .iter()
                .filter(|h| h.is_healthy())
                .filter_map(|h| h.healthy_since)
                .max()
        });

        let workers = params.workers.max(1);
        let (active, slot_of, slot_map) = assign_slots(&hosts, workers, params.previous);
        let weights = hosts.iter().map(|h| f64::from(h.weight)).collect();
        let za = config.zone_aware();
        let flags = PickFlags {
            locality_weighted: config.locality_weighted(),
            fail_on_panic: za.fail_traffic_on_panic
                && matches!(
                    config.common.locality,
                    Some(crate::config::LocalityLbConfig::ZoneAware(_))
                ),
            routing_enabled: crate::config::round_percent(za.routing_enabled),
            is_hashing: config.policy.is_hashing(),
            is_random: matches!(config.policy, LbPolicy::Random),
            least_request: match &config.policy {
                LbPolicy::LeastRequest(lr) => {
                    Some((lr.choice_count, lr.active_request_bias, lr.selection_method))
                }
                _ => None,
            },
        };
        Ok(Arc::new(Self {
            weights,
            flags,
            config,
            hosts,
            cores,
            subsets,
            panic_threshold,
            local_in_panic,
            local_set,
            latest_slow_start,
            active,
            slot_of,
            slot_map,
            workers,
        }))
    }

    /// The config this was built from.
    #[must_use]
    pub fn config(&self) -> &LbConfig {
        &self.config
    }

    /// All hosts, indexed by [`HostId`].
    #[must_use]
    pub fn hosts(&self) -> &[HostDesc] {
        &self.hosts
    }

    /// One host.
    #[must_use]
    pub fn host(&self, id: HostId) -> Option<&HostDesc> {
        self.hosts.get(id as usize)
    }

    /// The whole-cluster core (host sets, loads, panic) used without subsets.
    #[must_use]
    pub fn cluster_core(&self) -> &LbCore {
        &self.cores[0]
    }

    /// Priority loads and panic of the whole cluster.
    #[must_use]
    pub fn priority_state(&self) -> &PriorityState {
        &self.cores[0].state
    }

    /// The subsets, if `lb_subset_config` is set.
    #[must_use]
    pub fn subsets(&self) -> Option<&Subsets> {
        self.subsets.as_ref()
    }

    /// The shared active-request counters (least request).
    #[must_use]
    pub fn active_requests(&self) -> &Arc<ActiveRequests> {
        &self.active
    }

    /// Active-request slot of a host.
    #[must_use]
    pub fn active_slot(&self, host: HostId) -> u32 {
        self.slot_of.get(host as usize).copied().unwrap_or(u32::MAX)
    }

    /// Number of workers the counters were sized for.
    #[must_use]
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Core by index (0 is the whole cluster).
    pub(crate) fn core(&self, i: usize) -> &LbCore {
        &self.cores[i]
    }
}

struct CoreBuilder<'a> {
    config: &'a LbConfig,
    hosts: &'a [HostDesc],
    panic_threshold: u64,
    local_set: Option<&'a HostSet>,
}

impl CoreBuilder<'_> {
    fn build(&mut self, label: String, sets: Vec<HostSet>) -> LbCore {
        let state = compute_priority_state(&sets, self.hosts, self.panic_threshold);
        let locality_weighted = self.config.locality_weighted();
        let wrr =
            |set: &HostSet, eligible: &[Vec<HostId>], flat: &[HostId]| -> Option<LocalityWrr> {
                if !locality_weighted || set.locality_weights.is_empty() || flat.is_empty() {
                    return None;
                }
                let weights: Vec<f64> = (0..set.localities.len())
                    .map(|i| effective_locality_weight(set, i, eligible))
                    .collect();
                let indexes: Vec<u32> = weights
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| **w > 0.0)
                    .map(|(i, _)| u32::try_from(i).unwrap_or(u32::MAX))
                    .collect();
                (!indexes.is_empty()).then_some(LocalityWrr { indexes, weights })
            };
        let healthy_wrr = sets
            .iter()
            .map(|s| wrr(s, &s.healthy_per_locality, &s.healthy))
            .collect();
        let degraded_wrr = sets
            .iter()
            .map(|s| wrr(s, &s.degraded_per_locality, &s.degraded))
            .collect();
        let zone = match self.local_set {
            Some(local) if !locality_weighted => zone_routing(&sets, local, self.config),
            _ => LocalityRouting::NoLocalityRouting,
        };
        let tables = sets
            .iter()
            .enumerate()
            .map(|(p, s)| self.table(s, state.panic[p]))
            .collect();
        let mut source_base = Vec::with_capacity(sets.len());
        let mut count = 0;
        for s in &sets {
            source_base.push(count);
            count += 3 + 2 * s.localities.len();
        }
        let mut core = LbCore {
            label,
            sets,
            state,
            healthy_wrr,
            degraded_wrr,
            zone,
            tables,
            source_base,
            source_count: count,
            source_equal_weights: Vec::new(),
            source_cycles: Vec::new(),
            fingerprint: 0,
        };
        let mut equal = vec![true; count];
        let mut fp = Xxh64::new(0);
        for (p, s) in core.sets.iter().enumerate() {
            let mut kinds = vec![SourceKind::All, SourceKind::Healthy, SourceKind::Degraded];
            for i in 0..s.localities.len() {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                kinds.push(SourceKind::LocalityHealthy(i));
                kinds.push(SourceKind::LocalityDegraded(i));
            }
            for kind in kinds {
                let hosts = core.source_hosts(p, kind);
                let first = hosts.first().map(|&h| self.hosts[h as usize].weight);
                equal[core.source_index(p, kind)] = hosts
                    .iter()
                    .all(|&h| Some(self.hosts[h as usize].weight) == first);
                fp.update(&(hosts.len() as u64).to_le_bytes());
                for &h in hosts {
                    let d = &self.hosts[h as usize];
                    fp.update(d.address.to_string().as_bytes());
                    fp.update(&d.weight.to_le_bytes());
                }
            }
            for w in core
                .healthy_wrr
                .iter()
                .chain(core.degraded_wrr.iter())
                .flatten()
            {
                for x in &w.weights {
                    fp.update(&x.to_bits().to_le_bytes());
                }
            }
        }
        let static_rr = matches!(self.config.policy, LbPolicy::RoundRobin(_))
            && self
                .config
                .policy
                .slow_start()
                .is_none_or(|s| s.window.is_zero());
        let mut cycles = vec![None; count];
        if static_rr {
            for (p, s) in core.sets.iter().enumerate() {
                let mut kinds = vec![SourceKind::All, SourceKind::Healthy, SourceKind::Degraded];
                for i in 0..s.localities.len() {
                    let i = u32::try_from(i).unwrap_or(u32::MAX);
                    kinds.push(SourceKind::LocalityHealthy(i));
                    kinds.push(SourceKind::LocalityDegraded(i));
                }
                for kind in kinds {
                    let idx = core.source_index(p, kind);
                    let hosts = core.source_hosts(p, kind);
                    if equal[idx] || hosts.len() <= 1 {
                        continue;
                    }
                    let period: u64 = hosts
                        .iter()
                        .map(|&h| u64::from(self.hosts[h as usize].weight))
                        .sum();
                    if period > MAX_RR_CYCLE {
                        continue;
                    }
                    let w = |h: HostId| f64::from(self.hosts[h as usize].weight);
                    let mut edf = crate::edf::EdfScheduler::create_with_picks(hosts, w, 0);
                    let cycle: Vec<HostId> =
                        (0..period).filter_map(|_| edf.pick_and_add(w)).collect();
                    debug_assert_eq!(cycle.len() as u64, period);
                    cycles[idx] = Some(cycle);
                }
            }
        }
        core.source_cycles = cycles;
        core.source_equal_weights = equal;
        core.fingerprint = fp.digest();
        core
    }

    fn table(&self, set: &HostSet, panic: bool) -> HashTable {
        let (normalized, min_w, max_w) =
            normalize_weights(set, panic, self.config.locality_weighted(), self.hosts);
        let use_hostname = self.config.common.use_hostname_for_hashing;
        let hosts = self.hosts;
        let keys = move |h: HostId| hosts[h as usize].hash_key(use_hostname);
        match &self.config.policy {
            LbPolicy::RingHash(rc) => HashTable::Ring(Ring::build(
                &normalized,
                &keys,
                min_w,
                rc.minimum_ring_size,
                rc.maximum_ring_size,
                rc.hash_function,
            )),
            LbPolicy::Maglev(mc) => {
                HashTable::Maglev(MaglevTable::build(&normalized, &keys, max_w, mc.table_size))
            }
            _ => HashTable::None,
        }
    }
}

/// Envoy's `normalizeWeights` for thread-aware (hashing) balancers: healthy hosts (all in panic),
/// weights scaled to sum to 1; with locality-weighted LB, each locality's raw weight share split among
/// its hosts by host weight (raw locality weights: Envoy does not scale them by availability here).
#[allow(clippy::cast_precision_loss)]
pub(crate) fn normalize_weights(
    set: &HostSet,
    panic: bool,
    locality_weighted: bool,
    all: &[HostDesc],
) -> (Vec<(HostId, f64)>, f64, f64) {
    let mut out = Vec::new();
    let mut min_w = 1.0f64;
    let mut max_w = 0.0f64;
    let mut push_hosts = |hosts: &[HostId], share: f64, out: &mut Vec<(HostId, f64)>| {
        let sum: u64 = hosts
            .iter()
            .map(|&h| u64::from(all[h as usize].weight))
            .sum();
        for &h in hosts {
            let w = f64::from(all[h as usize].weight) * share / sum as f64;
            out.push((h, w));
            min_w = min_w.min(w);
            max_w = max_w.max(w);
        }
    };
    if !locality_weighted || set.locality_weights.is_empty() {
        let hosts = if panic { &set.hosts } else { &set.healthy };
        push_hosts(hosts, 1.0, &mut out);
    } else {
        let per_locality = if panic {
            &set.hosts_per_locality
        } else {
            &set.healthy_per_locality
        };
        let sum: u64 = set.locality_weights.iter().map(|&w| u64::from(w)).sum();
        if sum > 0 {
            for (i, &lw) in set.locality_weights.iter().enumerate() {
                if lw != 0 {
                    push_hosts(&per_locality[i], f64::from(lw) / sum as f64, &mut out);
                }
            }
        }
    }
    (out, min_w, max_w)
}

/// Envoy's `regenerateLocalityRoutingStructures` for priority 0.
fn zone_routing(sets: &[HostSet], local: &HostSet, config: &LbConfig) -> LocalityRouting {
    let za = config.zone_aware();
    let Some(p0) = sets.first() else {
        return LocalityRouting::NoLocalityRouting;
    };
    // earlyExitNonLocalityRouting.
    if p0.healthy_per_locality.len() < 2 {
        return LocalityRouting::NoLocalityRouting;
    }
    if local.hosts_per_locality.len() < 2 && !za.force_locality_direct_routing {
        return LocalityRouting::NoLocalityRouting;
    }
    if !local.has_local_locality || local.hosts_per_locality[0].is_empty() {
        return LocalityRouting::NoLocalityRouting;
    }
    if (p0.healthy.len() as u64) < za.min_cluster_size {
        return LocalityRouting::NoLocalityRouting;
    }
    // calculateLocalityPercentages over healthy hosts, matched by locality.
    let mut local_counts: BTreeMap<&Locality, u64> = BTreeMap::new();
    let mut total_local = 0u64;
    for (i, l) in local.healthy_per_locality.iter().enumerate() {
        total_local += l.len() as u64;
        if !l.is_empty() {
            local_counts.insert(&local.localities[i], l.len() as u64);
        }
    }
    let total_upstream: u64 = p0.healthy_per_locality.iter().map(|l| l.len() as u64).sum();
    let pct: Vec<(u64, u64)> = p0
        .healthy_per_locality
        .iter()
        .enumerate()
        .map(|(i, up)| {
            if up.is_empty() {
                return (0, 0);
            }
            let lc = local_counts.get(&p0.localities[i]).copied().unwrap_or(0);
            let local_pct = (10000 * lc).checked_div(total_local).unwrap_or(0);
            let up_pct = (10000 * up.len() as u64)
                .checked_div(total_upstream)
                .unwrap_or(0);
            (local_pct, up_pct)
        })
        .collect();
    if p0.has_local_locality {
        let (l0, u0) = pct[0];
        if (u0 > 0 && u0 >= l0) || za.force_locality_direct_routing {
            return LocalityRouting::LocalityDirect;
        }
    }
    let local_percent_to_route = if p0.has_local_locality && pct[0].0 > 0 {
        pct[0].1 * 10000 / pct[0].0
    } else {
        0
    };
    let mut residual = Vec::with_capacity(pct.len());
    for (i, &(l, u)) in pct.iter().enumerate() {
        let last = residual.last().copied().unwrap_or(0);
        if i == 0 && p0.has_local_locality {
            residual.push(last);
        } else if u > l {
            residual.push(last + u - l);
        } else {
            residual.push(last);
        }
    }
    LocalityRouting::LocalityResidual {
        local_percent_to_route,
        residual_capacity: residual,
    }
}

/// Extract the subset key/values of a host for one selector (keys sorted), expanding lists with
/// `list_as_any` (Envoy's `extractSubsetMetadata`).
fn extract_kvs(
    keys: &[String],
    host: &HostDesc,
    list_as_any: bool,
) -> Vec<Vec<(String, MetaValue)>> {
    let mut all: Vec<Vec<(String, MetaValue)>> = Vec::new();
    for key in keys {
        let Some(v) = host.metadata.get(key) else {
            return Vec::new();
        };
        let values: Vec<MetaValue> = match (list_as_any, v) {
            (true, serde_json::Value::Array(items)) => {
                items.iter().map(MetaValue::from_json).collect()
            }
            _ => vec![MetaValue::from_json(v)],
        };
        if all.is_empty() {
            all = values.into_iter().map(|v| vec![(key.clone(), v)]).collect();
        } else {
            let mut next = Vec::new();
            for kvs in &all {
                for v in &values {
                    let mut c = kvs.clone();
                    c.push((key.clone(), v.clone()));
                    next.push(c);
                }
            }
            all = next;
        }
    }
    all
}

fn node_for<'m>(map: &'m mut SubsetMap, kvs: &[(String, MetaValue)]) -> &'m mut SubsetNode {
    let (k, v) = &kvs[0];
    let node = map
        .entry(k.clone())
        .or_default()
        .entry(v.clone())
        .or_default();
    if kvs.len() == 1 {
        node
    } else {
        node_for(&mut node.children, &kvs[1..])
    }
}

fn build_subsets(
    sc: &SubsetConfig,
    original: &[HostSet],
    hosts: &[HostDesc],
    builder: &mut CoreBuilder<'_>,
    cores: &mut Vec<LbCore>,
) -> Subsets {
    let mut out = Subsets {
        allow_redundant_keys: sc.allow_redundant_keys,
        ..Subsets::default()
    };
    let sorted_keys = |keys: &[String]| {
        let mut k = keys.to_vec();
        k.sort();
        k.dedup();
        k
    };
    let weights_for = |orig: &HostSet, filtered_sizes: &[usize]| -> Vec<u32> {
        if !sc.locality_weight_aware {
            return Vec::new();
        }
        if !sc.scale_locality_weight {
            return orig.locality_weights.clone();
        }
        orig.locality_weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let orig_n = orig.hosts_per_locality[i].len();
                if orig_n == 0 {
                    0
                } else {
                    #[allow(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        clippy::cast_precision_loss
                    )]
                    let scaled =
                        (w as f32 * filtered_sizes[i] as f32 / orig_n as f32).round() as u32;
                    scaled
                }
            })
            .collect()
    };
    let mut make_core =
        |label: String, keep: &dyn Fn(HostId) -> bool, cores: &mut Vec<LbCore>| -> usize {
            let sets: Vec<HostSet> = original
                .iter()
                .map(|o| {
                    let sizes: Vec<usize> = o
                        .hosts_per_locality
                        .iter()
                        .map(|l| l.iter().filter(|&&h| keep(h)).count())
                        .collect();
                    filter_host_set(o, keep, hosts, weights_for(o, &sizes))
                })
                .collect();
            cores.push(builder.build(label, sets));
            cores.len() - 1
        };

    // Selector tree with per-selector fallback params on the last key.
    let needs_any = sc.fallback_policy == SubsetFallbackPolicy::AnyEndpoint
        || sc.panic_mode_any
        || sc
            .subset_selectors
            .iter()
            .any(|s| s.fallback_policy == SelectorFallbackPolicy::AnyEndpoint);
    let needs_default = sc.fallback_policy == SubsetFallbackPolicy::DefaultSubset
        || sc
            .subset_selectors
            .iter()
            .any(|s| s.fallback_policy == SelectorFallbackPolicy::DefaultSubset);
    for sel in &sc.subset_selectors {
        let keys = sorted_keys(&sel.keys);
        out.selector_keys.push(keys.clone());
        let mut map = &mut out.selector_tree;
        for (i, key) in keys.iter().enumerate() {
            let is_new = !map.contains_key(key);
            let node = map.entry(key.clone()).or_default();
            if is_new && i + 1 == keys.len() {
                node.fallback = Some((sel.fallback_policy, sorted_keys(&sel.fallback_keys_subset)));
            }
            map = &mut node.children;
        }
    }
    if needs_any {
        let id = make_core("any endpoint".to_owned(), &|_| true, cores);
        out.any = Some(id);
    }
    if needs_default {
        let labels: Vec<(String, MetaValue)> = sc
            .default_subset
            .iter()
            .map(|(k, v)| (k.clone(), MetaValue::from_json(v)))
            .collect();
        let label = format!(
            "default subset {}",
            MetadataMatch::from_json(&sc.default_subset)
        );
        let id = make_core(
            label,
            &|h| labels_match(&labels, &hosts[h as usize].metadata, sc.list_as_any),
            cores,
        );
        out.default = Some(id);
    }
    out.fallback = match sc.fallback_policy {
        SubsetFallbackPolicy::NoFallback => None,
        SubsetFallbackPolicy::AnyEndpoint => out.any,
        SubsetFallbackPolicy::DefaultSubset => out.default,
    };
    if sc.panic_mode_any {
        out.panic_mode = out.any;
    }

    // Membership: every host, every selector, every key/value combination.
    type Kvs = Vec<(String, MetaValue)>;
    let mut members: BTreeMap<Kvs, (Vec<HostId>, bool)> = BTreeMap::new();
    let mut order: Vec<Vec<(String, MetaValue)>> = Vec::new();
    for (id, host) in hosts.iter().enumerate() {
        let id = u32::try_from(id).unwrap_or(u32::MAX);
        for sel in &sc.subset_selectors {
            let keys = sorted_keys(&sel.keys);
            for kvs in extract_kvs(&keys, host, sc.list_as_any) {
                let entry = members.entry(kvs.clone()).or_insert_with(|| {
                    order.push(kvs.clone());
                    (Vec::new(), sel.single_host_per_subset)
                });
                if entry.1 && !entry.0.is_empty() {
                    continue;
                }
                if !entry.0.contains(&id) {
                    entry.0.push(id);
                }
            }
        }
    }
    for kvs in order {
        let Some((ids, _)) = members.get(&kvs) else {
            continue;
        };
        let label = format!(
            "subset {}",
            kvs.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let id = make_core(label, &|h| ids.contains(&h), cores);
        node_for(&mut out.tree, &kvs).core = Some(id);
        out.list.push((kvs, id));
    }
    out
}

/// Carry active-request slots over from the previous snapshot by address; new hosts take slots that
/// are free and idle; if none are left, start a bigger table (in-flight counts of the old one are lost).
fn assign_slots(
    hosts: &[HostDesc],
    workers: usize,
    previous: Option<&ClusterLb>,
) -> (Arc<ActiveRequests>, Vec<u32>, BTreeMap<SocketAddr, u32>) {
    let fresh = |generation: u32| {
        let cap = (hosts.len() * 2).max(64);
        let active = Arc::new(ActiveRequests::new(workers, cap, generation));
        let mut map = BTreeMap::new();
        let mut slot_of = Vec::with_capacity(hosts.len());
        for h in hosts {
            let next = u32::try_from(map.len()).unwrap_or(u32::MAX);
            let s = *map.entry(h.address).or_insert(next);
            slot_of.push(s);
        }
        (active, slot_of, map)
    };
    let Some(prev) = previous.filter(|p| p.active.workers() == workers) else {
        let generation = previous.map_or(0, |p| p.active.generation().wrapping_add(1));
        return fresh(generation);
    };
    let cap = prev.active.slots();
    let mut used = vec![false; cap];
    let mut map: BTreeMap<SocketAddr, u32> = BTreeMap::new();
    for h in hosts {
        if let Some(&s) = prev.slot_map.get(&h.address) {
            map.insert(h.address, s);
            used[s as usize] = true;
        }
    }
    let prev_used: Vec<bool> = {
        let mut v = vec![false; cap];
        for &s in prev.slot_map.values() {
            v[s as usize] = true;
        }
        v
    };
    let mut candidates = (0..cap)
        .filter(|&s| {
            !used[s]
                && !prev_used[s]
                && prev.active.total(u32::try_from(s).unwrap_or(u32::MAX)) == 0
        })
        .chain((0..cap).filter(|&s| {
            !used[s] && prev_used[s] && prev.active.total(u32::try_from(s).unwrap_or(u32::MAX)) == 0
        }));
    for h in hosts {
        if map.contains_key(&h.address) {
            continue;
        }
        match candidates.next() {
            Some(s) => {
                map.insert(h.address, u32::try_from(s).unwrap_or(u32::MAX));
            }
            None => return fresh(prev.active.generation().wrapping_add(1)),
        }
    }
    let slot_of = hosts.iter().map(|h| map[&h.address]).collect();
    (Arc::clone(&prev.active), slot_of, map)
}
