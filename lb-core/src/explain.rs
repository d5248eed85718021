//! The `/lb_explain?cluster=NAME` text: why traffic splits as it does.

use std::fmt::Write as _;

use crate::cluster::{ClusterLb, HashTable, LbCore, LocalityRouting};
use crate::config::{LbPolicy, LocalityLbConfig};
use crate::host::HostId;

impl ClusterLb {
    /// Plain-text report of priority loads, panic state, effective locality weights, subsets and the
    /// share of the ring/maglev table each host owns, for the admin endpoint.
    #[must_use]
    pub fn explain(&self) -> String {
        let mut out = String::new();
        let c = &self.config;
        let _ = writeln!(out, "lb_policy: {}", c.policy.name());
        match &c.policy {
            LbPolicy::LeastRequest(lr) => {
                let _ = writeln!(
                    out,
                    "least_request: choice_count={} active_request_bias={} selection={:?}",
                    lr.choice_count, lr.active_request_bias, lr.selection_method
                );
            }
            LbPolicy::RingHash(rh) => {
                let _ = writeln!(
                    out,
                    "ring_hash: minimum_ring_size={} maximum_ring_size={} hash_function={:?}",
                    rh.minimum_ring_size, rh.maximum_ring_size, rh.hash_function
                );
            }
            LbPolicy::Maglev(m) => {
                let _ = writeln!(out, "maglev: table_size={}", m.table_size);
            }
            LbPolicy::RoundRobin(_) | LbPolicy::Random => {}
        }
        if let Some(ss) = c.policy.slow_start() {
            let _ = writeln!(
                out,
                "slow_start: window={:?} aggression={} min_weight_percent={}",
                ss.window, ss.aggression, ss.min_weight_percent
            );
        }
        let _ = writeln!(
            out,
            "overprovisioning_factor: {} ({:.2})  healthy_panic_threshold: {}%{}",
            c.overprovisioning_factor,
            f64::from(c.overprovisioning_factor) / 100.0,
            self.panic_threshold,
            if self.panic_threshold == 0 {
                " (panic disabled)"
            } else {
                ""
            }
        );
        let locality_mode = match &c.common.locality {
            Some(LocalityLbConfig::LocalityWeighted) => "locality_weighted".to_owned(),
            Some(LocalityLbConfig::ZoneAware(z)) => format!(
                "zone_aware (routing_enabled={}% min_cluster_size={} fail_traffic_on_panic={})",
                z.routing_enabled, z.min_cluster_size, z.fail_traffic_on_panic
            ),
            None if self.local_set.is_some() => {
                "zone_aware (defaults, local cluster set)".to_owned()
            }
            None => "none".to_owned(),
        };
        let _ = writeln!(out, "locality lb: {locality_mode}");
        if let Some(local) = &self.local_set {
            let _ = writeln!(
                out,
                "local cluster: {} hosts, {} healthy, in panic: {}",
                local.hosts.len(),
                local.healthy.len(),
                self.local_in_panic
            );
        }
        match &self.subsets {
            None => self.explain_core(&mut out, &self.cores[0], ""),
            Some(subsets) => {
                let _ = writeln!(
                    out,
                    "subsets: {} (plus{}{})  fallback: {}",
                    subsets.list.len(),
                    if subsets.default.is_some() {
                        " default"
                    } else {
                        ""
                    },
                    if subsets.any.is_some() {
                        " any-endpoint"
                    } else {
                        ""
                    },
                    match c.subset.as_ref().map(|s| s.fallback_policy) {
                        Some(crate::config::SubsetFallbackPolicy::AnyEndpoint) => "ANY_ENDPOINT",
                        Some(crate::config::SubsetFallbackPolicy::DefaultSubset) =>
                            "DEFAULT_SUBSET",
                        _ => "NO_FALLBACK",
                    }
                );
                self.explain_core(&mut out, &self.cores[0], "");
                for (_, id) in &subsets.list {
                    self.explain_core(&mut out, &self.cores[*id], "  ");
                }
                for id in [subsets.default, subsets.any].into_iter().flatten() {
                    self.explain_core(&mut out, &self.cores[id], "  ");
                }
            }
        }
        out
    }

    fn explain_core(&self, out: &mut String, core: &LbCore, ind: &str) {
        let st = &core.state;
        let _ = writeln!(
            out,
            "{ind}[{}] normalized total availability {}%{}",
            core.label,
            st.normalized_total_availability,
            if st.total_panic {
                ", TOTAL PANIC (load by host count)"
            } else {
                ""
            }
        );
        for (p, set) in core.sets.iter().enumerate() {
            let _ = writeln!(
                out,
                "{ind}  priority {p}: hosts={} healthy={} degraded={} excluded={} health={}% \
                 degraded_availability={}% load: healthy={}% degraded={}% panic={}",
                set.hosts.len(),
                set.healthy.len(),
                set.degraded.len(),
                set.excluded.len(),
                st.health[p],
                st.degraded[p],
                st.healthy_load[p],
                st.degraded_load[p],
                if st.panic[p] {
                    "YES (all hosts used)"
                } else {
                    "no"
                }
            );
            for (i, loc) in set.localities.iter().enumerate() {
                let eff = core
                    .healthy_wrr
                    .get(p)
                    .and_then(Option::as_ref)
                    .map(|w| w.weights[i]);
                let _ = write!(
                    out,
                    "{ind}    locality {i} {loc}{}: hosts={} healthy={} weight={}",
                    if i == 0 && set.has_local_locality {
                        " (local)"
                    } else {
                        ""
                    },
                    set.hosts_per_locality[i].len(),
                    set.healthy_per_locality[i].len(),
                    set.locality_weights.get(i).copied().unwrap_or(0)
                );
                match eff {
                    Some(e) => {
                        let total: f64 = core.healthy_wrr[p]
                            .as_ref()
                            .map_or(0.0, |w| w.weights.iter().sum());
                        let _ = writeln!(
                            out,
                            " effective={e:.3} share={:.1}%",
                            if total > 0.0 { 100.0 * e / total } else { 0.0 }
                        );
                    }
                    None => {
                        let _ = writeln!(out);
                    }
                }
            }
            if p == 0 {
                match &core.zone {
                    LocalityRouting::NoLocalityRouting => {}
                    LocalityRouting::LocalityDirect => {
                        let _ = writeln!(
                            out,
                            "{ind}    zone routing: all traffic to the local locality"
                        );
                    }
                    LocalityRouting::LocalityResidual {
                        local_percent_to_route,
                        residual_capacity,
                    } => {
                        #[allow(clippy::cast_precision_loss)]
                        let pct = *local_percent_to_route as f64 / 100.0;
                        let _ = writeln!(
                            out,
                            "{ind}    zone routing: {pct:.2}% local, rest by residual capacity {residual_capacity:?}"
                        );
                    }
                }
            }
            let pool: &[HostId] = if st.panic[p] {
                &set.hosts
            } else {
                &set.healthy
            };
            let shares = match core.tables.get(p) {
                Some(HashTable::Ring(r)) => Some((
                    r.shares(pool),
                    format!(
                        "ring of {} points (hashes per host {}..{})",
                        r.len(),
                        r.min_hashes_per_host,
                        r.max_hashes_per_host
                    ),
                )),
                Some(HashTable::Maglev(m)) => Some((
                    m.shares(pool),
                    format!(
                        "maglev table of {} entries (entries per host {}..{})",
                        m.len(),
                        m.min_entries_per_host,
                        m.max_entries_per_host
                    ),
                )),
                _ => None,
            };
            if let Some((_, what)) = &shares {
                let _ = writeln!(out, "{ind}    {what}");
            }
            for (k, &h) in set.hosts.iter().enumerate() {
                let d = &self.hosts[h as usize];
                let state = if d.excluded {
                    "excluded"
                } else {
                    match d.health {
                        crate::Health::Healthy => "healthy",
                        crate::Health::Degraded => "degraded",
                        crate::Health::Unhealthy => "unhealthy",
                    }
                };
                let _ = write!(
                    out,
                    "{ind}    host {} weight={} {state}",
                    d.address, d.weight
                );
                if let Some((sh, _)) = &shares
                    && let Some(pos) = pool.iter().position(|&x| x == h)
                {
                    let _ = write!(out, " hash_share={:.2}%", 100.0 * sh[pos]);
                }
                let _ = k;
                let _ = writeln!(out);
            }
        }
    }
}
