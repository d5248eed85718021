//! The proxy's side of load balancing: turns a configured cluster into `sluice-lb` inputs,
//! and computes a request's hash from its route's `hash_policy`.
//!
//! The shared [`ClusterLb`] is built once per snapshot on the control thread; each worker
//! keeps a [`WorkerLb`] per cluster (cursors, schedulers, RNG) and counts in-flight requests
//! for least request in its own row of the cluster's active-request table.

use std::net::SocketAddr;
use std::sync::Arc;

use sluice_config::model;

use crate::upstream::health::HealthTable;
use sluice_lb::{
    BuildParams, CommonLbConfig, HashFunction, HostDesc, LbConfig, LbPolicy, LeastRequestConfig,
    LocalityLbConfig, MaglevConfig, RingHashConfig, RoundRobinConfig, SelectorFallbackPolicy,
    SlowStartConfig, SubsetConfig, SubsetFallbackPolicy, SubsetSelector, ZoneAwareLbConfig, hash,
};
pub use sluice_lb::{ClusterLb, HostId, MetadataMatch, PickContext, WorkerLb};

/// Everything about the process that a cluster's load balancer depends on.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Number of workers (rows of the least-request table).
    pub workers: usize,
    /// `node.locality`, the proxy's own locality for zone-aware routing.
    pub node_locality: &'a model::Locality,
    /// Hosts of `cluster_manager.local_cluster_name`, when set.
    pub local_cluster: Option<&'a [HostDesc]>,
}

/// The load-balancing config of a cluster, in `sluice-lb` terms.
pub fn lb_config(c: &model::Cluster) -> LbConfig {
    let slow_start = |s: &Option<model::SlowStartConfig>| {
        s.as_ref().map(|s| SlowStartConfig {
            window: s.slow_start_window,
            aggression: s.aggression,
            min_weight_percent: s.min_weight_percent,
        })
    };
    let policy = match &c.lb_policy {
        model::LbPolicy::RoundRobin { slow_start: s } => LbPolicy::RoundRobin(RoundRobinConfig {
            slow_start: slow_start(s),
        }),
        model::LbPolicy::LeastRequest {
            choice_count,
            active_request_bias,
            slow_start: s,
        } => LbPolicy::LeastRequest(LeastRequestConfig {
            choice_count: *choice_count,
            active_request_bias: *active_request_bias,
            slow_start: slow_start(s),
            ..LeastRequestConfig::default()
        }),
        model::LbPolicy::Random => LbPolicy::Random,
        model::LbPolicy::RingHash {
            minimum_ring_size,
            maximum_ring_size,
            hash_function,
        } => LbPolicy::RingHash(RingHashConfig {
            minimum_ring_size: *minimum_ring_size,
            maximum_ring_size: *maximum_ring_size,
            hash_function: match hash_function {
                model::HashFunction::XxHash => HashFunction::XxHash,
                model::HashFunction::MurmurHash2 => HashFunction::MurmurHash2,
            },
        }),
        model::LbPolicy::Maglev { table_size } => LbPolicy::Maglev(MaglevConfig {
            table_size: *table_size,
        }),
    };
    let common = &c.common_lb_config;
    let locality = if common.locality_weighted {
        LocalityLbConfig::LocalityWeighted
    } else {
        LocalityLbConfig::ZoneAware(ZoneAwareLbConfig {
            routing_enabled: common.zone_aware.routing_enabled,
            min_cluster_size: common.zone_aware.min_cluster_size,
            fail_traffic_on_panic: common.zone_aware.fail_traffic_on_panic,
            ..ZoneAwareLbConfig::default()
        })
    };
    let subset = c.lb_subset_config.as_ref().map(|s| SubsetConfig {
        fallback_policy: match s.fallback_policy {
            model::SubsetFallbackPolicy::NoFallback => SubsetFallbackPolicy::NoFallback,
            model::SubsetFallbackPolicy::AnyEndpoint => SubsetFallbackPolicy::AnyEndpoint,
            model::SubsetFallbackPolicy::DefaultSubset => SubsetFallbackPolicy::DefaultSubset,
        },
        default_subset: s.default_subset.clone(),
        subset_selectors: s
            .subset_selectors
            .iter()
            .map(|sel| SubsetSelector {
                keys: sel.keys.clone(),
                fallback_policy: match sel.fallback_policy {
                    model::SelectorFallbackPolicy::NotDefined => SelectorFallbackPolicy::NotDefined,
                    model::SelectorFallbackPolicy::NoFallback => SelectorFallbackPolicy::NoFallback,
                    model::SelectorFallbackPolicy::AnyEndpoint => {
                        SelectorFallbackPolicy::AnyEndpoint
                    }
                    model::SelectorFallbackPolicy::DefaultSubset => {
                        SelectorFallbackPolicy::DefaultSubset
                    }
                    model::SelectorFallbackPolicy::KeysSubset => SelectorFallbackPolicy::KeysSubset,
                },
                fallback_keys_subset: sel.fallback_keys_subset.clone(),
                single_host_per_subset: sel.single_host_per_subset,
            })
            .collect(),
        locality_weight_aware: s.locality_weight_aware,
        scale_locality_weight: s.scale_locality_weight,
        panic_mode_any: s.panic_mode_any,
        list_as_any: s.list_as_any,
        ..SubsetConfig::default()
    });
    LbConfig {
        policy,
        common: CommonLbConfig {
            healthy_panic_threshold: common.healthy_panic_threshold,
            locality: Some(locality),
            ..CommonLbConfig::default()
        },
        overprovisioning_factor: c.load_assignment.overprovisioning_factor,
        subset,
        ..LbConfig::default()
    }
}

/// The hosts of a cluster as `sluice-lb` sees them, in the order the proxy indexes them.
///
/// Health combines the endpoint's `health_status` with active health checking (`health`).
pub fn host_descs(c: &model::Cluster, health: &HealthTable) -> Vec<HostDesc> {
    let mut out = Vec::new();
    for group in &c.load_assignment.endpoints {
        for ep in &group.lb_endpoints {
            let flags = health.endpoint_flags(
                c,
                ep.address,
                ep.health_status,
                ep.health_check_config.disable_active_health_check,
            );
            let mut h = HostDesc::new(ep.address)
                .with_weight(ep.load_balancing_weight)
                .with_priority(group.priority)
                .with_locality(locality(&group.locality), group.load_balancing_weight)
                .with_health(flags.coarse());
            h.excluded = flags.is_excluded();
            h.hostname.clone_from(&ep.hostname);
            h.metadata.clone_from(&ep.lb_metadata);
            out.push(h);
        }
    }
    out
}

fn locality(l: &model::Locality) -> sluice_lb::Locality {
    sluice_lb::Locality {
        region: l.region.clone(),
        zone: l.zone.clone(),
        sub_zone: l.sub_zone.clone(),
    }
}

/// Builds the shared load balancer of a cluster.
pub fn build(
    c: &model::Cluster,
    ctx: &Context<'_>,
    previous: Option<&ClusterLb>,
    health: &HealthTable,
) -> Result<Arc<ClusterLb>, String> {
    let local_locality =
        (*ctx.node_locality != model::Locality::default()).then(|| locality(ctx.node_locality));
    let params = BuildParams {
        workers: ctx.workers,
        local_locality,
        local_cluster: ctx.local_cluster,
        previous,
    };
    let mut hosts = host_descs(c, health);
    // Slow start applies to endpoints added after the cluster was first built, from the
    // moment they were added (there is no active health checking yet to pass first). Hosts
    // that were already there keep the time they arrived with.
    if let Some(prev) = previous {
        let now = std::time::Instant::now();
        for h in &mut hosts {
            h.healthy_since = match prev.hosts().iter().find(|p| p.address == h.address) {
                Some(p) => p.healthy_since,
                None => Some(now),
            };
        }
    }
    ClusterLb::build(lb_config(c), hosts, &params).map_err(|e| e.to_string())
}

/// A route's `hash_policy` in `sluice-lb` terms.
pub fn hash_policies(list: &[model::HashPolicy]) -> Vec<hash::HashPolicy> {
    list.iter()
        .map(|p| hash::HashPolicy {
            kind: match &p.kind {
                model::HashPolicyKind::Header { name } => hash::HashPolicyKind::Header {
                    name: name.to_ascii_lowercase(),
                },
                model::HashPolicyKind::Cookie { name, ttl, path } => hash::HashPolicyKind::Cookie {
                    name: name.clone(),
                    path: path.clone().unwrap_or_default(),
                    ttl: *ttl,
                },
                model::HashPolicyKind::SourceIp => hash::HashPolicyKind::SourceIp,
                model::HashPolicyKind::QueryParameter { name } => {
                    hash::HashPolicyKind::QueryParameter { name: name.clone() }
                }
            },
            terminal: p.terminal,
        })
        .collect()
}

/// What a request offers to hash policies: its head, read in place.
#[derive(Debug)]
pub struct RequestHashInput<'a> {
    /// The parsed head.
    pub head: &'a crate::http::h1::RequestHead,
    /// The buffer the head was parsed from.
    pub buf: &'a [u8],
    /// Downstream peer.
    pub peer: SocketAddr,
    /// Local address of the downstream connection.
    pub local: Option<SocketAddr>,
}

impl hash::HashInput for RequestHashInput<'_> {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.head
            .headers(self.buf)
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
            .collect()
    }

    fn path(&self) -> Option<&str> {
        std::str::from_utf8(self.head.target(self.buf)).ok()
    }

    fn source_address(&self) -> Option<SocketAddr> {
        Some(self.peer)
    }

    fn local_address(&self) -> Option<SocketAddr> {
        self.local
    }
}
