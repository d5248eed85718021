//! The per-worker picker: RR cursors, EDF schedulers, locality schedulers and the RNG of one worker,
//! over a shared [`ClusterLb`]. `!Sync` by design (it is `&mut` on every pick); one per worker.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::active::ActiveTicket;
use crate::cluster::{ClusterLb, LbCore, LocalityRouting, SourceKind};
use crate::config::{SelectionMethod, SelectorFallbackPolicy};
use crate::edf::EdfScheduler;
use crate::host::{Health, HostId};
use crate::hostset::{Availability, choose_priority};
use crate::metadata::MetadataMatch;
use crate::rng::SplitMix64;

/// Per-request inputs of a pick.
#[derive(Clone, Copy, Debug, Default)]
pub struct PickContext<'a> {
    /// The request hash from the route's hash policies ([`crate::hash::compute_request_hash`]);
    /// `None`: ring hash and maglev pick at random.
    pub hash: Option<u64>,
    /// The route's `metadata_match` for `envoy.lb` (merged with the weighted cluster's, see
    /// [`MetadataMatch::merge`]); used only with `lb_subset_config`.
    pub metadata_match: Option<&'a MetadataMatch>,
}

#[derive(Clone, Debug)]
enum SourceState {
    Uninit,
    Unweighted(u64),
    Cycle(u64),
    Edf(EdfScheduler),
}

#[derive(Clone, Debug)]
struct CoreState {
    fingerprint: u64,
    sources: Vec<SourceState>,
    healthy_locality: Vec<Option<EdfScheduler>>,
    degraded_locality: Vec<Option<EdfScheduler>>,
}

impl CoreState {
    fn new(core: &LbCore, seed: u64) -> Self {
        #[allow(clippy::cast_possible_truncation)]
        let picks = seed as u32;
        let sched = |w: &Option<crate::cluster::LocalityWrr>| {
            w.as_ref().map(|w| {
                EdfScheduler::create_with_picks(&w.indexes, |i| w.weights[i as usize], picks)
            })
        };
        Self {
            fingerprint: core.fingerprint,
            sources: vec![SourceState::Uninit; core.source_count],
            healthy_locality: core.healthy_wrr.iter().map(sched).collect(),
            degraded_locality: core.degraded_wrr.iter().map(sched).collect(),
        }
    }
}

struct WorkerState {
    worker: usize,
    seed: u64,
    rng: SplitMix64,
    cores: Vec<Option<CoreState>>,
    /// Whether the last pick chose a priority level in panic (Envoy's `lb_healthy_panic`).
    last_pick_in_panic: bool,
}

/// One worker's load balancer for one cluster.
///
/// Holds the shared [`ClusterLb`] plus this worker's mutable state: the RNG (seeded, never global),
/// round-robin cursors and EDF schedulers per host source, locality schedulers. Swap snapshots with
/// [`WorkerLb::update`]; state of unchanged host sets is kept.
pub struct WorkerLb {
    shared: Arc<ClusterLb>,
    state: WorkerState,
}

impl std::fmt::Debug for WorkerLb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerLb")
            .field("worker", &self.state.worker)
            .field("seed", &self.state.seed)
            .finish_non_exhaustive()
    }
}

impl WorkerLb {
    /// A picker for worker `worker_index` seeded with `seed` (give each worker a different seed, e.g.
    /// from the process seed and the worker index, so workers start at different rotation points).
    #[must_use]
    pub fn new(shared: Arc<ClusterLb>, seed: u64, worker_index: usize) -> Self {
        let mut rng =
            SplitMix64::new(seed ^ (worker_index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        // Envoy draws the LB's `seed_` from its RNG at construction.
        let lb_seed = rng.next_u64();
        let cores = vec![None; shared.cores.len()];
        Self {
            shared,
            state: WorkerState {
                worker: worker_index,
                seed: lb_seed,
                rng,
                cores,
                last_pick_in_panic: false,
            },
        }
    }

    /// Install a new snapshot. Per-core state (RR cursors, EDF schedulers, locality schedulers) is
    /// kept for cores whose hosts, weights and health are unchanged, and rebuilt otherwise.
    pub fn update(&mut self, shared: Arc<ClusterLb>) {
        let mut cores: Vec<Option<CoreState>> = vec![None; shared.cores.len()];
        for (i, slot) in cores.iter_mut().enumerate() {
            if let Some(Some(old)) = self.state.cores.get_mut(i)
                && old.fingerprint == shared.cores[i].fingerprint
            {
                *slot = Some(old.clone());
            }
        }
        self.state.cores = cores;
        self.shared = shared;
    }

    /// The shared load balancer this worker picks from.
    #[must_use]
    pub fn shared(&self) -> &Arc<ClusterLb> {
        &self.shared
    }

    /// Whether the last [`WorkerLb::pick`] chose a priority level in panic, whether or not it
    /// found a host (Envoy counts `lb_healthy_panic` per such pick).
    #[must_use]
    pub fn last_pick_in_panic(&self) -> bool {
        self.state.last_pick_in_panic
    }

    /// Worker index.
    #[must_use]
    pub fn worker_index(&self) -> usize {
        self.state.worker
    }

    /// Pick a host for one request, or `None` when Envoy would fail the request with "no healthy
    /// upstream". `now` drives slow start.
    pub fn pick(&mut self, ctx: &PickContext<'_>, now: Instant) -> Option<HostId> {
        let shared: &ClusterLb = &self.shared;
        let st = &mut self.state;
        st.last_pick_in_panic = false;
        match &shared.subsets {
            None => pick_core(shared, st, 0, ctx, now),
            Some(_) => pick_subset(
                shared,
                st,
                ctx,
                ctx.metadata_match.map(Cow::Borrowed),
                now,
                0,
            ),
        }
    }

    /// Count a request to `host` as active (least request); hand the ticket to [`WorkerLb::end`].
    #[inline]
    pub fn begin(&self, host: HostId) -> ActiveTicket {
        self.shared
            .active
            .begin(self.state.worker, self.shared.active_slot(host))
    }

    /// The request of `ticket` finished.
    #[inline]
    pub fn end(&self, ticket: ActiveTicket) {
        self.shared.active.end(self.state.worker, ticket);
    }
}

/// Envoy's `SubsetLoadBalancer::chooseHostIteration`.
fn pick_subset(
    shared: &ClusterLb,
    st: &mut WorkerState,
    ctx: &PickContext<'_>,
    criteria: Option<Cow<'_, MetadataMatch>>,
    now: Instant,
    depth: u32,
) -> Option<HostId> {
    let subsets = shared.subsets.as_ref()?;
    if let Some(mm) = criteria {
        let mm = if subsets.allow_redundant_keys {
            subsets.filter_by_selectors(&mm).map_or(mm, Cow::Owned)
        } else {
            mm
        };
        if let Some(core) = subsets.find(mm.criteria())
            && shared.core(core).has_hosts()
        {
            // A matching subset decides, even when it returns no host.
            return pick_core(shared, st, core, ctx, now);
        }
        if let Some((policy, keys)) = subsets.selector_fallback(mm.criteria()) {
            match policy {
                SelectorFallbackPolicy::NotDefined => {}
                SelectorFallbackPolicy::NoFallback => return None,
                SelectorFallbackPolicy::AnyEndpoint => {
                    return subsets.any.and_then(|c| pick_core(shared, st, c, ctx, now));
                }
                SelectorFallbackPolicy::DefaultSubset => {
                    return subsets
                        .default
                        .and_then(|c| pick_core(shared, st, c, ctx, now));
                }
                SelectorFallbackPolicy::KeysSubset => {
                    // Bounded: every round strictly shrinks the key set.
                    if depth > 16 {
                        return None;
                    }
                    let reduced = Cow::Owned(mm.filter(&keys));
                    return pick_subset(shared, st, ctx, Some(reduced), now, depth + 1);
                }
            }
        }
    }
    if let Some(fb) = subsets.fallback {
        if let Some(h) = pick_core(shared, st, fb, ctx, now) {
            return Some(h);
        }
        if let Some(pm) = subsets.panic_mode {
            return pick_core(shared, st, pm, ctx, now);
        }
    }
    None
}

fn pick_core(
    shared: &ClusterLb,
    st: &mut WorkerState,
    core_id: usize,
    ctx: &PickContext<'_>,
    now: Instant,
) -> Option<HostId> {
    let core = shared.core(core_id);
    if shared.flags.is_hashing {
        // ThreadAwareLoadBalancerBase::LoadBalancerImpl::chooseHost: the hash picks the priority too.
        let h = ctx.hash.unwrap_or_else(|| st.rng.next_u64());
        let (p, _) = choose_priority(h, &core.state.healthy_load, &core.state.degraded_load);
        st.last_pick_in_panic = core.state.panic.get(p).copied().unwrap_or(false);
        return match core.tables.get(p)? {
            crate::cluster::HashTable::Ring(r) => r.choose(h, 0),
            crate::cluster::HashTable::Maglev(m) => m.choose(h, 0),
            crate::cluster::HashTable::None => None,
        };
    }
    let r = st.rng.next_u64();
    let (p, avail) = choose_priority(r, &core.state.healthy_load, &core.state.degraded_load);
    if p >= core.sets.len() {
        return None;
    }
    st.last_pick_in_panic = core.state.panic.get(p).copied().unwrap_or(false);
    if st.cores[core_id].is_none() {
        st.cores[core_id] = Some(CoreState::new(core, st.seed));
    }
    let kind = host_source(shared, core, st, core_id, p, avail)?;
    let hosts = core.source_hosts(p, kind);
    if hosts.is_empty() {
        return None;
    }
    if shared.flags.is_random {
        return hosts
            .get(usize::try_from(r % hosts.len() as u64).ok()?)
            .copied();
    }
    let src = core.source_index(p, kind);
    let in_slow_start = slow_start_active(shared, now);
    let cs = st.cores[core_id].as_mut()?;
    let state = &mut cs.sources[src];
    if matches!(state, SourceState::Uninit) {
        *state = if hosts.len() <= 1 || (core.source_equal_weights[src] && !in_slow_start) {
            SourceState::Unweighted(st.seed)
        } else if let Some(cycle) = &core.source_cycles[src] {
            // Envoy starts a worker's EDF as if `seed as u32 % 429496729` picks had been made.
            #[allow(clippy::cast_possible_truncation)]
            let picks = u64::from(st.seed as u32 % 429_496_729);
            SourceState::Cycle(picks % cycle.len() as u64)
        } else {
            #[allow(clippy::cast_possible_truncation)]
            let picks = st.seed as u32;
            SourceState::Edf(EdfScheduler::create_with_picks(
                hosts,
                |h| host_weight(shared, h, now, in_slow_start),
                picks,
            ))
        };
    }
    match state {
        SourceState::Cycle(pos) => {
            let cycle = core.source_cycles[src].as_deref()?;
            let h = cycle.get(usize::try_from(*pos).ok()?).copied();
            *pos += 1;
            if *pos >= cycle.len() as u64 {
                *pos = 0;
            }
            h
        }
        SourceState::Edf(s) => s.pick_and_add(|h| host_weight(shared, h, now, in_slow_start)),
        SourceState::Unweighted(idx) => match shared.flags.least_request {
            Some((choices, _, SelectionMethod::NChoices)) => {
                p2c(shared, &mut st.rng, hosts, choices)
            }
            Some((_, _, SelectionMethod::FullScan)) => full_scan(shared, &mut st.rng, hosts),
            None => {
                let h = hosts[usize::try_from(*idx % hosts.len() as u64).ok()?];
                *idx = idx.wrapping_add(1);
                Some(h)
            }
        },
        SourceState::Uninit => None,
    }
}

/// Envoy's `ZoneAwareLoadBalancerBase::hostSourceToUse`. `None`: fail the request.
fn host_source(
    shared: &ClusterLb,
    core: &LbCore,
    st: &mut WorkerState,
    core_id: usize,
    p: usize,
    avail: Availability,
) -> Option<SourceKind> {
    let fail_on_panic = shared.flags.fail_on_panic;
    if core.state.panic[p] {
        return if fail_on_panic {
            None
        } else {
            Some(SourceKind::All)
        };
    }
    let flat = match avail {
        Availability::Healthy => SourceKind::Healthy,
        Availability::Degraded => SourceKind::Degraded,
    };
    if shared.flags.locality_weighted {
        let cs = st.cores[core_id].as_mut()?;
        let sched = match avail {
            Availability::Healthy => cs.healthy_locality.get_mut(p),
            Availability::Degraded => cs.degraded_locality.get_mut(p),
        };
        let wrr = match avail {
            Availability::Healthy => core.healthy_wrr.get(p),
            Availability::Degraded => core.degraded_wrr.get(p),
        };
        if let (Some(Some(sched)), Some(Some(wrr))) = (sched, wrr)
            && let Some(i) = sched.pick_and_add(|i| wrr.weights[i as usize])
        {
            {
                return Some(match avail {
                    Availability::Healthy => SourceKind::LocalityHealthy(i),
                    Availability::Degraded => SourceKind::LocalityDegraded(i),
                });
            }
        }
    }
    if p != 0 || core.zone == LocalityRouting::NoLocalityRouting {
        return Some(flat);
    }
    if st.rng.next_u64() % 100 >= shared.flags.routing_enabled {
        return Some(flat);
    }
    if shared.local_in_panic {
        return if fail_on_panic { None } else { Some(flat) };
    }
    let i = match &core.zone {
        LocalityRouting::NoLocalityRouting | LocalityRouting::LocalityDirect => 0,
        LocalityRouting::LocalityResidual {
            local_percent_to_route,
            residual_capacity,
        } => {
            if st.rng.next_u64() % 10000 < *local_percent_to_route {
                0
            } else {
                let n = residual_capacity.len() as u64;
                let last = residual_capacity.last().copied().unwrap_or(0);
                if last == 0 {
                    u32::try_from(st.rng.next_u64() % n.max(1)).unwrap_or(0)
                } else {
                    let threshold = st.rng.next_u64() % last;
                    let idx = residual_capacity
                        .iter()
                        .position(|&c| threshold < c)
                        .unwrap_or(0);
                    u32::try_from(idx).unwrap_or(0)
                }
            }
        }
    };
    Some(match avail {
        Availability::Healthy => SourceKind::LocalityHealthy(i),
        Availability::Degraded => SourceKind::LocalityDegraded(i),
    })
}

/// Envoy's `noHostsAreInSlowStart` negated.
fn slow_start_active(shared: &ClusterLb, now: Instant) -> bool {
    match (shared.config.policy.slow_start(), shared.latest_slow_start) {
        (Some(ss), Some(latest)) if ss.window > Duration::ZERO => {
            now.saturating_duration_since(latest) <= ss.window
        }
        _ => false,
    }
}

/// EDF weight of a host: RR uses the configured weight; LR divides it by (active + 1)^bias; slow start
/// then scales hosts still inside their window.
#[inline]
fn host_weight(shared: &ClusterLb, h: HostId, now: Instant, in_slow_start: bool) -> f64 {
    let mut w = shared.weights.get(h as usize).copied().unwrap_or(1.0);
    if let Some((_, bias, _)) = shared.flags.least_request {
        let active = shared.active.total(shared.active_slot(h));
        #[allow(clippy::cast_precision_loss)]
        let denom = active.saturating_add(1) as f64;
        if bias == 1.0 {
            w /= denom;
        } else if bias != 0.0 {
            w /= denom.powf(bias);
        }
    }
    if !in_slow_start {
        return w;
    }
    let Some(host) = shared.host(h) else {
        return w;
    };
    let Some(ss) = shared.config.policy.slow_start() else {
        return w;
    };
    match host.healthy_since {
        Some(since) if host.health == Health::Healthy => {
            let in_state_ms = now.saturating_duration_since(since).as_millis();
            let window_ms = ss.window.as_millis();
            if in_state_ms >= window_ms {
                return w;
            }
            #[allow(clippy::cast_precision_loss)]
            let time_factor = in_state_ms.max(1) as f64 / window_ms as f64;
            let factor = if ss.aggression == 1.0 || time_factor == 1.0 {
                time_factor
            } else {
                time_factor.powf(1.0 / ss.aggression)
            };
            w * factor.max(ss.min_weight_percent / 100.0)
        }
        _ => w,
    }
}

/// Envoy's `unweightedHostPickNChoices`: sample `choices` hosts (with replacement), keep the first
/// with the fewest active requests.
fn p2c(shared: &ClusterLb, rng: &mut SplitMix64, hosts: &[HostId], choices: u32) -> Option<HostId> {
    let n = hosts.len() as u64;
    let mut candidate: Option<(HostId, u64)> = None;
    for _ in 0..choices {
        let h = hosts[usize::try_from(rng.next_u64() % n).ok()?];
        let active = shared.active.total(shared.active_slot(h));
        match candidate {
            Some((_, best)) if active >= best => {}
            _ => candidate = Some((h, active)),
        }
    }
    candidate.map(|(h, _)| h)
}

/// Envoy's `unweightedHostPickFullScan`: fewest active requests, ties broken by reservoir sampling.
fn full_scan(shared: &ClusterLb, rng: &mut SplitMix64, hosts: &[HostId]) -> Option<HostId> {
    let mut candidate: Option<(HostId, u64)> = None;
    let mut ties = 0u64;
    for &h in hosts {
        let active = shared.active.total(shared.active_slot(h));
        match candidate {
            None => {
                candidate = Some((h, active));
                ties = 1;
            }
            Some((_, best)) if active < best => {
                candidate = Some((h, active));
                ties = 1;
            }
            Some((_, best)) if active == best => {
                ties += 1;
                if rng.next_u64().is_multiple_of(ties) {
                    candidate = Some((h, active));
                }
            }
            Some(_) => {}
        }
    }
    candidate.map(|(h, _)| h)
}
