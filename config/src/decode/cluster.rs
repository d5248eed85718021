//! `Cluster`, its load-balancer configs and `ClusterLoadAssignment`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::bootstrap::{AddressUse, address, locality};
use super::{Cx, Msg};
use crate::model::{
    Cluster, ClusterLoadAssignment, CommonLbConfig, DiscoveryType, EndpointHealthCheck,
    HashFunction, HealthCheck, HealthCheckKind, HealthStatus, HttpHealthCheck, LbEndpoint,
    LbPolicy, LbSubsetConfig, Loc, LocalityLbEndpoints, OutlierDetection, SelectorFallbackPolicy,
    SlowStartConfig, SubsetFallbackPolicy, SubsetSelector, UpstreamHttpProtocol, ZoneAwareLbConfig,
};
use crate::schema;
use crate::tree::{Node as TNode, Value};
use sluice_lb::breaker::{self, CircuitBreakers, Priority, RetryBudget, Thresholds};

/// Envoy's default `connect_timeout`.
const CONNECT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);
/// Envoy's default `per_connection_buffer_limit_bytes`: 1 MiB.
const BUFFER_LIMIT_BYTES_DEFAULT: u32 = 1024 * 1024;
/// Envoy's largest ring (and default maximum): 8M entries.
const RING_SIZE_MAX: u64 = 8 * 1024 * 1024;
/// Envoy's default minimum ring size.
const RING_SIZE_MIN_DEFAULT: u64 = 1024;
/// Envoy's default Maglev table size.
const MAGLEV_TABLE_SIZE_DEFAULT: u64 = 65537;
/// Envoy's largest Maglev table size.
const MAGLEV_TABLE_SIZE_MAX: u64 = 5_000_011;
/// Envoy's default overprovisioning factor (percent).
const OVERPROVISIONING_FACTOR_DEFAULT: u32 = 140;
/// Envoy's default health check `no_traffic_interval`.
const NO_TRAFFIC_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);
/// Envoy's default `expected_statuses`: 200 alone.
const EXPECTED_STATUSES_DEFAULT: (u16, u16) = (200, 201);
/// The lowest status Envoy allows in `expected_statuses` and `retriable_statuses`.
const HEALTH_CHECK_STATUS_MIN: i128 = 100;
/// The highest (excluded) `end` Envoy allows in `expected_statuses` and `retriable_statuses`.
const HEALTH_CHECK_STATUS_END_MAX: i128 = 600;

/// A decoded cluster with the positions the whole-document checks need.
#[derive(Debug)]
pub(super) struct Decoded {
    pub(super) cluster: Cluster,
    pub(super) path: String,
    pub(super) name_loc: Loc,
}

pub(super) fn cluster(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Decoded> {
    let m = cx.message(n, path, &schema::CLUSTER)?;
    let name = match m.get("name") {
        Some(v) => cx.string(v, &m.path("name")).filter(|s| {
            if s.is_empty() {
                cx.error(v.loc, &m.path("name"), "a cluster name must not be empty");
            }
            !s.is_empty()
        }),
        None => {
            cx.missing(&m, "name");
            None
        }
    };
    if let Some(name) = &name {
        cx.cluster_names.push(name.clone());
    }
    let discovery = match m.get("type") {
        Some(v) => {
            let p = m.path("type");
            match cx.enumeration(
                v,
                &p,
                &[
                    ("STATIC", 0),
                    ("STRICT_DNS", 1),
                    ("LOGICAL_DNS", 2),
                    ("EDS", 3),
                    ("ORIGINAL_DST", 4),
                ],
            ) {
                Some("STATIC") => Some(DiscoveryType::Static),
                Some(other) => {
                    cx.error(
                        v.loc,
                        &p,
                        format!("cluster type `{other}` is not supported yet"),
                    );
                    None
                }
                None => None,
            }
        }
        None => Some(DiscoveryType::Static),
    };
    let connect_timeout = match m.get("connect_timeout") {
        Some(v) => {
            let p = m.path("connect_timeout");
            cx.duration(v, &p).filter(|d| {
                if d.is_zero() {
                    cx.error(v.loc, &p, "`connect_timeout` must be greater than 0");
                }
                !d.is_zero()
            })
        }
        None => Some(CONNECT_TIMEOUT_DEFAULT),
    };
    let per_connection_buffer_limit_bytes = match m.get("per_connection_buffer_limit_bytes") {
        Some(v) => cx.u32_in(v, &m.path("per_connection_buffer_limit_bytes"), 0, u32::MAX),
        None => Some(BUFFER_LIMIT_BYTES_DEFAULT),
    };
    let lb_policy = lb_policy(cx, &m);
    let common_lb_config = match m.get("common_lb_config") {
        Some(v) => common_lb_config(cx, v, &m.path("common_lb_config")),
        None => Some(default_common_lb_config()),
    };
    let lb_subset_config = match m.get("lb_subset_config") {
        Some(v) => lb_subset_config(cx, v, &m.path("lb_subset_config")).map(Some),
        None => Some(None),
    };
    let usage = if m.get("type").is_some() && discovery.is_none() {
        AddressUse::EndpointOfRefusedCluster
    } else {
        AddressUse::Endpoint
    };
    let load_assignment = match m.get("load_assignment") {
        Some(v) => load_assignment(cx, v, &m.path("load_assignment"), usage),
        None => Some(ClusterLoadAssignment {
            endpoints: Vec::new(),
            overprovisioning_factor: OVERPROVISIONING_FACTOR_DEFAULT,
        }),
    };
    let http_protocol = match m.get("typed_extension_protocol_options") {
        Some(v) => protocol_options(cx, v, &m.path("typed_extension_protocol_options")),
        None => Some(UpstreamHttpProtocol::default()),
    };
    let health_check = match m.get("health_checks") {
        Some(v) => health_checks(cx, v, &m.path("health_checks")),
        None => Some(None),
    };
    let outlier_detection = match m.get("outlier_detection") {
        Some(v) => outlier_detection(cx, v, &m.path("outlier_detection")).map(Some),
        None => Some(None),
    };
    let circuit_breakers = match m.get("circuit_breakers") {
        Some(v) => circuit_breakers(cx, v, &m.path("circuit_breakers")),
        None => Some(CircuitBreakers::default()),
    };
    let name_loc = m.entry("name").map_or(m.loc, |e| e.value.loc);
    Some(Decoded {
        cluster: Cluster {
            name: name?,
            discovery: discovery?,
            connect_timeout: connect_timeout?,
            per_connection_buffer_limit_bytes: per_connection_buffer_limit_bytes?,
            lb_policy: lb_policy?,
            common_lb_config: common_lb_config?,
            lb_subset_config: lb_subset_config?,
            load_assignment: load_assignment?,
            http_protocol: http_protocol?,
            health_check: health_check?,
            outlier_detection: outlier_detection?,
            circuit_breakers: circuit_breakers?,
            loc: m.loc,
        },
        path: path.to_owned(),
        name_loc,
    })
}

const LB_CONFIGS: &[(&str, &str)] = &[
    ("ROUND_ROBIN", "round_robin_lb_config"),
    ("LEAST_REQUEST", "least_request_lb_config"),
    ("RING_HASH", "ring_hash_lb_config"),
    ("MAGLEV", "maglev_lb_config"),
    ("", "original_dst_lb_config"),
];

fn lb_policy(cx: &mut Cx<'_>, m: &Msg<'_>) -> Option<LbPolicy> {
    let policy = match m.get("lb_policy") {
        Some(v) => {
            let p = m.path("lb_policy");
            let policy = cx.enumeration(
                v,
                &p,
                &[
                    ("ROUND_ROBIN", 0),
                    ("LEAST_REQUEST", 1),
                    ("RING_HASH", 2),
                    ("RANDOM", 3),
                    ("MAGLEV", 5),
                    ("CLUSTER_PROVIDED", 6),
                    ("LOAD_BALANCING_POLICY_CONFIG", 7),
                ],
            )?;
            if matches!(policy, "CLUSTER_PROVIDED" | "LOAD_BALANCING_POLICY_CONFIG") {
                cx.error(
                    v.loc,
                    &p,
                    format!("lb_policy `{policy}` is not supported yet"),
                );
                return None;
            }
            policy
        }
        None => "ROUND_ROBIN",
    };
    let names: Vec<&str> = LB_CONFIGS.iter().map(|(_, c)| *c).collect();
    if !super::matcher::one_of(cx, m, &names, "only one load balancer config may be set") {
        return None;
    }
    let set = m.set_of(&names);
    let config_field = LB_CONFIGS
        .iter()
        .find(|(p, _)| *p == policy)
        .map(|(_, c)| *c);
    if let Some(other) = set.first()
        && Some(*other) != config_field
    {
        cx.warn(
            m.key_loc(other),
            &m.path(other),
            format!("`{other}` is ignored because lb_policy is {policy}"),
        );
    }
    let config = config_field.and_then(|f| m.get(f).map(|v| (v, m.path(f))));
    let config = config.as_ref().map(|(v, p)| (*v, p.as_str()));
    match policy {
        "ROUND_ROBIN" => {
            let slow_start = match config {
                Some((v, p)) => {
                    let c = cx.message(v, p, &schema::ROUND_ROBIN_LB_CONFIG)?;
                    slow_start_of(cx, &c)?
                }
                None => None,
            };
            Some(LbPolicy::RoundRobin { slow_start })
        }
        "LEAST_REQUEST" => {
            let (mut choice_count, mut active_request_bias, mut slow_start) = (2, 1.0, None);
            if let Some((v, p)) = config {
                let c = cx.message(v, p, &schema::LEAST_REQUEST_LB_CONFIG)?;
                if let Some(n) = c.get("choice_count") {
                    choice_count = cx.u32_in(n, &c.path("choice_count"), 2, u32::MAX)?;
                }
                if let Some(n) = c.get("active_request_bias") {
                    active_request_bias = runtime_double(cx, n, &c.path("active_request_bias"))?;
                    if active_request_bias < 0.0 {
                        cx.error(
                            n.loc,
                            &c.path("active_request_bias"),
                            "must not be negative",
                        );
                        return None;
                    }
                }
                slow_start = slow_start_of(cx, &c)?;
            }
            Some(LbPolicy::LeastRequest {
                choice_count,
                active_request_bias,
                slow_start,
            })
        }
        "RANDOM" => Some(LbPolicy::Random),
        "RING_HASH" => {
            let (mut min, mut max, mut hash_function) =
                (RING_SIZE_MIN_DEFAULT, RING_SIZE_MAX, HashFunction::XxHash);
            if let Some((v, p)) = config {
                let c = cx.message(v, p, &schema::RING_HASH_LB_CONFIG)?;
                let mut ok = true;
                if let Some(n) = c.get("minimum_ring_size") {
                    match cx.u64_in(n, &c.path("minimum_ring_size"), 1, RING_SIZE_MAX) {
                        Some(x) => min = x,
                        None => ok = false,
                    }
                }
                if let Some(n) = c.get("maximum_ring_size") {
                    match cx.u64_in(n, &c.path("maximum_ring_size"), 1, RING_SIZE_MAX) {
                        Some(x) => max = x,
                        None => ok = false,
                    }
                }
                if let Some(n) = c.get("hash_function") {
                    match cx.enumeration(
                        n,
                        &c.path("hash_function"),
                        &[("XX_HASH", 0), ("MURMUR_HASH_2", 1)],
                    ) {
                        Some("MURMUR_HASH_2") => hash_function = HashFunction::MurmurHash2,
                        Some(_) => hash_function = HashFunction::XxHash,
                        None => ok = false,
                    }
                }
                if ok && min > max {
                    cx.error(
                        c.loc,
                        p,
                        format!(
                            "minimum_ring_size ({min}) is greater than maximum_ring_size ({max})"
                        ),
                    );
                    ok = false;
                }
                if !ok {
                    return None;
                }
            }
            Some(LbPolicy::RingHash {
                minimum_ring_size: min,
                maximum_ring_size: max,
                hash_function,
            })
        }
        _ => {
            let mut table_size = MAGLEV_TABLE_SIZE_DEFAULT;
            if let Some((v, p)) = config {
                let c = cx.message(v, p, &schema::MAGLEV_LB_CONFIG)?;
                if let Some(n) = c.get("table_size") {
                    let tp = c.path("table_size");
                    table_size = cx.u64_in(n, &tp, 1, u64::MAX)?;
                    if table_size > MAGLEV_TABLE_SIZE_MAX || !is_prime(table_size) {
                        cx.error(
                            n.loc,
                            &tp,
                            format!(
                                "Maglev table_size must be a prime number no greater than {MAGLEV_TABLE_SIZE_MAX}, got {table_size}"
                            ),
                        );
                        return None;
                    }
                }
            }
            Some(LbPolicy::Maglev { table_size })
        }
    }
}

/// Trial division: table sizes are at most a few million.
pub(crate) fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let mut d = 3u64;
    while d.saturating_mul(d) <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// `config.core.v3.RuntimeDouble`: the `default_value`.
///
/// Envoy requires a `runtime_key` and reads the value from its runtime layers when that key is
/// set there. Sluice has no runtime layers (a `layered_runtime` bootstrap is refused as not
/// supported yet), so the key can never be set and `default_value` is exactly the value Envoy
/// would use. The key is still checked to be a string.
fn runtime_double(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<f64> {
    let m = cx.message(n, path, &schema::RUNTIME_DOUBLE)?;
    if let Some(k) = m.get("runtime_key") {
        cx.string(k, &m.path("runtime_key"))?;
    }
    match m.get("default_value") {
        Some(v) => cx.float(v, &m.path("default_value")),
        None => {
            if !m.written("default_value") {
                cx.missing(&m, "default_value");
            }
            None
        }
    }
}

/// The optional `slow_start_config` of a round-robin or least-request config.
fn slow_start_of(cx: &mut Cx<'_>, parent: &Msg<'_>) -> Option<Option<SlowStartConfig>> {
    let Some(n) = parent.get("slow_start_config") else {
        return Some(None);
    };
    let path = parent.path("slow_start_config");
    let m = cx.message(n, &path, &schema::SLOW_START_CONFIG)?;
    let window = match m.get("slow_start_window") {
        Some(v) => cx.duration(v, &m.path("slow_start_window")),
        None => {
            cx.missing(&m, "slow_start_window");
            None
        }
    };
    let aggression = match m.get("aggression") {
        Some(v) => {
            let p = m.path("aggression");
            runtime_double(cx, v, &p).filter(|a| {
                if *a <= 0.0 {
                    cx.error(v.loc, &p, "aggression must be greater than 0");
                }
                *a > 0.0
            })
        }
        None => Some(1.0),
    };
    let min_weight_percent = match m.get("min_weight_percent") {
        Some(v) => cx.percent(v, &m.path("min_weight_percent")),
        None => Some(10.0),
    };
    Some(Some(SlowStartConfig {
        slow_start_window: window?,
        aggression: aggression?,
        min_weight_percent: min_weight_percent?,
    }))
}

fn default_common_lb_config() -> CommonLbConfig {
    CommonLbConfig {
        healthy_panic_threshold: 50.0,
        locality_weighted: false,
        zone_aware: default_zone_aware(),
    }
}

fn default_zone_aware() -> ZoneAwareLbConfig {
    ZoneAwareLbConfig {
        routing_enabled: 100.0,
        min_cluster_size: 6,
        fail_traffic_on_panic: false,
    }
}

fn common_lb_config(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<CommonLbConfig> {
    let m = cx.message(n, path, &schema::COMMON_LB_CONFIG)?;
    let mut out = default_common_lb_config();
    let mut ok = true;
    if let Some(v) = m.get("healthy_panic_threshold") {
        match cx.percent(v, &m.path("healthy_panic_threshold")) {
            Some(p) => out.healthy_panic_threshold = p,
            None => ok = false,
        }
    }
    let set = m.set_of(&["zone_aware_lb_config", "locality_weighted_lb_config"]);
    if set.len() > 1 {
        cx.error(
            m.key_loc(set[1]),
            &m.path(set[1]),
            "only one of `zone_aware_lb_config` and `locality_weighted_lb_config` may be set",
        );
        ok = false;
    }
    if let Some(v) = m.get("locality_weighted_lb_config") {
        let _ = cx.message(
            v,
            &m.path("locality_weighted_lb_config"),
            &schema::LOCALITY_WEIGHTED_LB_CONFIG,
        );
        out.locality_weighted = true;
    }
    if let Some(v) = m.get("zone_aware_lb_config") {
        let zpath = m.path("zone_aware_lb_config");
        match cx.message(v, &zpath, &schema::ZONE_AWARE_LB_CONFIG) {
            Some(z) => {
                if let Some(r) = z.get("routing_enabled") {
                    match cx.percent(r, &z.path("routing_enabled")) {
                        Some(p) => out.zone_aware.routing_enabled = p,
                        None => ok = false,
                    }
                }
                if let Some(r) = z.get("min_cluster_size") {
                    match cx.u64_in(r, &z.path("min_cluster_size"), 0, u64::MAX) {
                        Some(s) => out.zone_aware.min_cluster_size = s,
                        None => ok = false,
                    }
                }
                if let Some(r) = z.get("fail_traffic_on_panic") {
                    match cx.boolean(r, &z.path("fail_traffic_on_panic")) {
                        Some(b) => out.zone_aware.fail_traffic_on_panic = b,
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn lb_subset_config(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<LbSubsetConfig> {
    let m = cx.message(n, path, &schema::LB_SUBSET_CONFIG)?;
    let mut ok = true;
    let fallback_policy = match m.get("fallback_policy") {
        Some(v) => match cx.enumeration(
            v,
            &m.path("fallback_policy"),
            &[
                ("NO_FALLBACK", 0),
                ("ANY_ENDPOINT", 1),
                ("DEFAULT_SUBSET", 2),
            ],
        ) {
            Some("ANY_ENDPOINT") => SubsetFallbackPolicy::AnyEndpoint,
            Some("DEFAULT_SUBSET") => SubsetFallbackPolicy::DefaultSubset,
            Some(_) => SubsetFallbackPolicy::NoFallback,
            None => {
                ok = false;
                SubsetFallbackPolicy::NoFallback
            }
        },
        None => SubsetFallbackPolicy::NoFallback,
    };
    let default_subset: BTreeMap<String, serde_json::Value> = match m.get("default_subset") {
        Some(v) => match cx.json_struct(v, &m.path("default_subset")) {
            Some(map) => map.into_iter().collect(),
            None => {
                ok = false;
                BTreeMap::new()
            }
        },
        None => BTreeMap::new(),
    };
    let mut subset_selectors = Vec::new();
    if let Some(list) = m.get("subset_selectors") {
        for (s, p) in cx.list(list, &m.path("subset_selectors")) {
            match subset_selector(cx, s, &p) {
                Some(sel) => subset_selectors.push(sel),
                None => ok = false,
            }
        }
    }
    let mut flag = |field: &str| -> bool {
        match m.get(field) {
            Some(v) => cx.boolean(v, &m.path(field)).unwrap_or_else(|| {
                ok = false;
                false
            }),
            None => false,
        }
    };
    let locality_weight_aware = flag("locality_weight_aware");
    let scale_locality_weight = flag("scale_locality_weight");
    let panic_mode_any = flag("panic_mode_any");
    let list_as_any = flag("list_as_any");
    ok.then_some(LbSubsetConfig {
        fallback_policy,
        default_subset,
        subset_selectors,
        locality_weight_aware,
        scale_locality_weight,
        panic_mode_any,
        list_as_any,
    })
}

fn subset_selector(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<SubsetSelector> {
    let m = cx.message(n, path, &schema::LB_SUBSET_SELECTOR)?;
    let keys = m
        .get("keys")
        .map(|v| cx.strings(v, &m.path("keys")))
        .unwrap_or_default();
    let single_host_per_subset = match m.get("single_host_per_subset") {
        Some(v) => cx.boolean(v, &m.path("single_host_per_subset"))?,
        None => false,
    };
    let fallback_policy = match m.get("fallback_policy") {
        Some(v) => match cx.enumeration(
            v,
            &m.path("fallback_policy"),
            &[
                ("NOT_DEFINED", 0),
                ("NO_FALLBACK", 1),
                ("ANY_ENDPOINT", 2),
                ("DEFAULT_SUBSET", 3),
                ("KEYS_SUBSET", 4),
            ],
        )? {
            "NO_FALLBACK" => SelectorFallbackPolicy::NoFallback,
            "ANY_ENDPOINT" => SelectorFallbackPolicy::AnyEndpoint,
            "DEFAULT_SUBSET" => SelectorFallbackPolicy::DefaultSubset,
            "KEYS_SUBSET" => SelectorFallbackPolicy::KeysSubset,
            _ => SelectorFallbackPolicy::NotDefined,
        },
        None => SelectorFallbackPolicy::NotDefined,
    };
    let fallback_keys_subset = m
        .get("fallback_keys_subset")
        .map(|v| cx.strings(v, &m.path("fallback_keys_subset")))
        .unwrap_or_default();
    if fallback_policy == SelectorFallbackPolicy::KeysSubset {
        if fallback_keys_subset.is_empty() {
            cx.error(
                m.loc,
                path,
                "fallback_policy KEYS_SUBSET needs a non-empty `fallback_keys_subset`",
            );
            return None;
        }
        if let Some(k) = fallback_keys_subset.iter().find(|k| !keys.contains(k)) {
            cx.error(
                m.key_loc("fallback_keys_subset"),
                &m.path("fallback_keys_subset"),
                format!("`{k}` is not one of the selector's `keys`; fallback_keys_subset must be a subset of keys"),
            );
            return None;
        }
    }
    if single_host_per_subset && keys.is_empty() {
        cx.error(m.loc, path, "single_host_per_subset needs at least one key");
        return None;
    }
    Some(SubsetSelector {
        keys,
        single_host_per_subset,
        fallback_policy,
        fallback_keys_subset,
    })
}

fn load_assignment(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
    usage: AddressUse,
) -> Option<ClusterLoadAssignment> {
    let m = cx.message(n, path, &schema::CLUSTER_LOAD_ASSIGNMENT)?;
    let mut ok = true;
    match m.get("cluster_name") {
        Some(v) => {
            if cx.string(v, &m.path("cluster_name")).is_none() {
                ok = false;
            }
        }
        None => {
            cx.missing(&m, "cluster_name");
            ok = false;
        }
    }
    let mut overprovisioning_factor = OVERPROVISIONING_FACTOR_DEFAULT;
    if let Some(p) = m.get("policy") {
        match cx.message(p, &m.path("policy"), &schema::CLA_POLICY) {
            Some(pm) => {
                if let Some(v) = pm.get("overprovisioning_factor") {
                    match cx.u32_in(v, &pm.path("overprovisioning_factor"), 1, u32::MAX) {
                        Some(f) => overprovisioning_factor = f,
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    let mut endpoints = Vec::new();
    if let Some(list) = m.get("endpoints") {
        for (e, p) in cx.list(list, &m.path("endpoints")) {
            match locality_lb_endpoints(cx, e, &p, usage) {
                Some(l) => endpoints.push(l),
                None => ok = false,
            }
        }
    }
    ok.then_some(ClusterLoadAssignment {
        endpoints,
        overprovisioning_factor,
    })
}

/// Envoy's highest priority level.
const PRIORITY_MAX: u32 = 128;

fn locality_lb_endpoints(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
    usage: AddressUse,
) -> Option<LocalityLbEndpoints> {
    let m = cx.message(n, path, &schema::LOCALITY_LB_ENDPOINTS)?;
    let mut ok = true;
    let locality = match m.get("locality") {
        Some(v) => locality(cx, v, &m.path("locality")),
        None => Some(Default::default()),
    };
    let load_balancing_weight = match m.get("load_balancing_weight") {
        Some(v) => cx
            .u32_in(v, &m.path("load_balancing_weight"), 1, u32::MAX)
            .map(Some),
        None => Some(None),
    };
    let priority = match m.get("priority") {
        Some(v) => cx.u32_in(v, &m.path("priority"), 0, PRIORITY_MAX),
        None => Some(0),
    };
    let mut lb_endpoints = Vec::new();
    if let Some(list) = m.get("lb_endpoints") {
        for (e, p) in cx.list(list, &m.path("lb_endpoints")) {
            match lb_endpoint(cx, e, &p, usage) {
                Some(l) => lb_endpoints.push(l),
                None => ok = false,
            }
        }
    }
    if !ok {
        return None;
    }
    Some(LocalityLbEndpoints {
        locality: locality?,
        lb_endpoints,
        load_balancing_weight: load_balancing_weight?,
        priority: priority?,
    })
}

fn lb_endpoint(cx: &mut Cx<'_>, n: &TNode, path: &str, usage: AddressUse) -> Option<LbEndpoint> {
    let m = cx.message(n, path, &schema::LB_ENDPOINT)?;
    let health_status = match m.get("health_status") {
        Some(v) => match cx.enumeration(
            v,
            &m.path("health_status"),
            &[
                ("UNKNOWN", 0),
                ("HEALTHY", 1),
                ("UNHEALTHY", 2),
                ("DRAINING", 3),
                ("TIMEOUT", 4),
                ("DEGRADED", 5),
            ],
        ) {
            Some("HEALTHY") => Some(HealthStatus::Healthy),
            Some("UNHEALTHY") => Some(HealthStatus::Unhealthy),
            Some("DRAINING") => Some(HealthStatus::Draining),
            Some("TIMEOUT") => Some(HealthStatus::Timeout),
            Some("DEGRADED") => Some(HealthStatus::Degraded),
            Some(_) => Some(HealthStatus::Unknown),
            None => None,
        },
        None => Some(HealthStatus::Unknown),
    };
    let load_balancing_weight = match m.get("load_balancing_weight") {
        Some(v) => cx.u32_in(v, &m.path("load_balancing_weight"), 1, u32::MAX),
        None => Some(1),
    };
    let metadata = m
        .get("metadata")
        .map(|v| cx.filter_metadata(v, &m.path("metadata")))
        .unwrap_or_default();
    let lb_metadata = metadata
        .get("envoy.lb")
        .map(|fields| fields.clone().into_iter().collect())
        .unwrap_or_default();
    let endpoint = match m.get("endpoint") {
        Some(v) => endpoint(cx, v, &m.path("endpoint"), usage),
        None => {
            if !m.written("endpoint_name") {
                cx.missing(&m, "endpoint");
            }
            None
        }
    };
    let (address, hostname, health_check_config) = endpoint?;
    Some(LbEndpoint {
        address,
        hostname,
        health_check_config,
        health_status: health_status?,
        load_balancing_weight: load_balancing_weight?,
        lb_metadata,
        metadata,
    })
}

fn endpoint(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
    usage: AddressUse,
) -> Option<(std::net::SocketAddr, String, EndpointHealthCheck)> {
    let m = cx.message(n, path, &schema::ENDPOINT)?;
    let hostname = m
        .get("hostname")
        .and_then(|v| cx.string(v, &m.path("hostname")))
        .unwrap_or_default();
    let health_check_config = match m.get("health_check_config") {
        Some(v) => endpoint_health_check(cx, v, &m.path("health_check_config"), usage),
        None => Some(EndpointHealthCheck::default()),
    };
    let Some(a) = m.get("address") else {
        cx.missing(&m, "address");
        return None;
    };
    let (addr, _) = address(cx, a, &m.path("address"), usage)?;
    Some((addr, hostname, health_check_config?))
}

/// `Endpoint.HealthCheckConfig`.
fn endpoint_health_check(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
    usage: AddressUse,
) -> Option<EndpointHealthCheck> {
    let m = cx.message(n, path, &schema::HEALTH_CHECK_CONFIG)?;
    let port_value = match m.get("port_value") {
        Some(v) => cx
            .u32_in(v, &m.path("port_value"), 0, u32::from(u16::MAX))
            .and_then(|p| u16::try_from(p).ok()),
        None => Some(0),
    };
    let hostname = match m.get("hostname") {
        Some(v) => cx.string(v, &m.path("hostname")),
        None => Some(String::new()),
    };
    let address = match m.get("address") {
        Some(v) => address(cx, v, &m.path("address"), usage).map(|(a, _)| Some(a)),
        None => Some(None),
    };
    let disable_active_health_check = match m.get("disable_active_health_check") {
        Some(v) => cx.boolean(v, &m.path("disable_active_health_check")),
        None => Some(false),
    };
    Some(EndpointHealthCheck {
        port_value: port_value?,
        hostname: hostname?,
        address: address?,
        disable_active_health_check: disable_active_health_check?,
    })
}

/// The extension name (and `@type`) of the upstream HTTP protocol options.
const UPSTREAM_HTTP_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// `typed_extension_protocol_options`: a map from extension name to a typed message. Only the
/// upstream HTTP protocol options exist for HTTP/1.1 clusters.
fn protocol_options(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<UpstreamHttpProtocol> {
    let Value::Map(entries) = &n.value else {
        cx.error(
            n.loc,
            path,
            format!(
                "expected a mapping from extension name to options, found {}",
                n.kind_name()
            ),
        );
        return None;
    };
    let mut out = UpstreamHttpProtocol::default();
    let mut ok = true;
    for e in entries {
        let epath = format!("{path}.{}", e.key);
        if e.key != UPSTREAM_HTTP_OPTIONS {
            cx.error(
                e.key_loc,
                &epath,
                format!(
                    "protocol options `{}` are not supported yet (Sluice knows `{UPSTREAM_HTTP_OPTIONS}`)",
                    e.key
                ),
            );
            ok = false;
            continue;
        }
        match upstream_http_options(cx, &e.value, &epath) {
            Some(o) => out = o,
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn upstream_http_options(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<UpstreamHttpProtocol> {
    if let Value::Map(entries) = &n.value
        && let Some(t) = entries.iter().find(|e| e.key == "@type")
    {
        let tpath = format!("{path}.@type");
        let url = cx.string(&t.value, &tpath)?;
        if url.rsplit('/').next() != Some(UPSTREAM_HTTP_OPTIONS) {
            cx.error(
                t.value.loc,
                &tpath,
                format!("expected `type.googleapis.com/{UPSTREAM_HTTP_OPTIONS}`, found `{url}`"),
            );
            return None;
        }
    } else {
        cx.error(
            n.loc,
            path,
            format!("needs `@type: type.googleapis.com/{UPSTREAM_HTTP_OPTIONS}`"),
        );
        return None;
    }
    let m = cx.message_any(n, path, &schema::UPSTREAM_HTTP_PROTOCOL_OPTIONS, true)?;
    let mut out = UpstreamHttpProtocol::default();
    let mut ok = true;
    if let Some(v) = m.get("common_http_protocol_options") {
        let cpath = m.path("common_http_protocol_options");
        let c = cx.message(v, &cpath, &schema::UPSTREAM_COMMON_HTTP_PROTOCOL_OPTIONS)?;
        if let Some(t) = c.get("idle_timeout") {
            match cx.duration(t, &c.path("idle_timeout")) {
                Some(d) => out.idle_timeout = (!d.is_zero()).then_some(d),
                None => ok = false,
            }
        }
        if let Some(r) = c.get("max_requests_per_connection") {
            match cx.u32_in(r, &c.path("max_requests_per_connection"), 0, u32::MAX) {
                // 0 means unlimited in Envoy.
                Some(n) => out.max_requests_per_connection = (n != 0).then_some(n),
                None => ok = false,
            }
        }
    }
    match m.get("explicit_http_config") {
        Some(v) => {
            let epath = m.path("explicit_http_config");
            let e = cx.message(v, &epath, &schema::EXPLICIT_HTTP_CONFIG)?;
            match e.get("http_protocol_options") {
                Some(h) => {
                    let h = cx.message(
                        h,
                        &e.path("http_protocol_options"),
                        &schema::UPSTREAM_HTTP1_PROTOCOL_OPTIONS,
                    )?;
                    if let Some(f) = h.get("header_key_format") {
                        match super::hcm_options::header_key_format(
                            cx,
                            f,
                            &h.path("header_key_format"),
                        ) {
                            Some(format) => out.header_key_format = format,
                            None => ok = false,
                        }
                    }
                }
                None => {
                    if !e.written("http2_protocol_options") && !e.written("http3_protocol_options")
                    {
                        cx.error(
                            e.loc,
                            &epath,
                            "needs a protocol: `http_protocol_options` (HTTP/1.1)",
                        );
                        ok = false;
                    }
                }
            }
        }
        None => {
            // Envoy requires one of the protocol selections; the unsupported ones
            // (`use_downstream_protocol_config`, `auto_config`) were reported above.
            if !m.written("use_downstream_protocol_config") && !m.written("auto_config") {
                cx.error(
                    m.loc,
                    path,
                    "needs `explicit_http_config` (Envoy requires a protocol selection)",
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// `health_checks`: Envoy takes at most one ("Multiple health checks not supported"); an empty
/// list means none. Every entry is decoded so that all of their problems are reported.
fn health_checks(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Option<HealthCheck>> {
    let items = cx.list(n, path);
    let mut ok = true;
    let mut first = None;
    for (i, (h, p)) in items.iter().enumerate() {
        match health_check(cx, h, p) {
            Some(hc) if i == 0 => first = Some(hc),
            Some(_) => {}
            None => ok = false,
        }
    }
    if let Some((h, p)) = items.get(1) {
        cx.error(
            h.loc,
            p,
            format!(
                "Multiple health checks not supported: a cluster has at most one, found {}",
                items.len()
            ),
        );
        return None;
    }
    ok.then_some(first)
}

/// The checkers of `HealthCheck.health_checker`, a oneof Envoy requires.
const HEALTH_CHECKERS: &[&str] = &[
    "http_health_check",
    "tcp_health_check",
    "grpc_health_check",
    "custom_health_check",
];

/// `config.core.v3.HealthCheck`, with Envoy's defaults filled in.
fn health_check(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<HealthCheck> {
    let m = cx.message(n, path, &schema::HEALTH_CHECK)?;
    let timeout = required_positive_duration(cx, &m, "timeout");
    let interval = required_positive_duration(cx, &m, "interval");
    let initial_jitter = optional_duration(cx, &m, "initial_jitter");
    let interval_jitter = optional_duration(cx, &m, "interval_jitter");
    let interval_jitter_percent = match m.get("interval_jitter_percent") {
        Some(v) => cx.u32_in(v, &m.path("interval_jitter_percent"), 0, u32::MAX),
        None => Some(0),
    };
    let unhealthy_threshold = required_u32(cx, &m, "unhealthy_threshold");
    let healthy_threshold = required_u32(cx, &m, "healthy_threshold");
    let reuse_connection = match m.get("reuse_connection") {
        Some(v) => cx.boolean(v, &m.path("reuse_connection")),
        None => Some(true),
    };
    let event_log_path = match m.get("event_log_path") {
        Some(v) => cx
            .string(v, &m.path("event_log_path"))
            .map(|p| (!p.is_empty()).then_some(p)),
        None => Some(None),
    };
    let always_log_health_check_failures = match m.get("always_log_health_check_failures") {
        Some(v) => cx.boolean(v, &m.path("always_log_health_check_failures")),
        None => Some(false),
    };
    let no_traffic_interval = positive_duration(cx, &m, "no_traffic_interval");
    let no_traffic_healthy_interval = positive_duration(cx, &m, "no_traffic_healthy_interval");
    let unhealthy_interval = positive_duration(cx, &m, "unhealthy_interval");
    let unhealthy_edge_interval = positive_duration(cx, &m, "unhealthy_edge_interval");
    let healthy_edge_interval = positive_duration(cx, &m, "healthy_edge_interval");
    let kind = health_checker(cx, &m);

    let interval = interval?;
    let no_traffic_interval = no_traffic_interval?.unwrap_or(NO_TRAFFIC_INTERVAL_DEFAULT);
    let unhealthy_interval = unhealthy_interval?.unwrap_or(interval);
    Some(HealthCheck {
        timeout: timeout?,
        interval,
        initial_jitter: initial_jitter?,
        interval_jitter: interval_jitter?,
        interval_jitter_percent: interval_jitter_percent?,
        unhealthy_threshold: unhealthy_threshold?,
        healthy_threshold: healthy_threshold?,
        reuse_connection: reuse_connection?,
        event_log_path: event_log_path?,
        always_log_health_check_failures: always_log_health_check_failures?,
        no_traffic_interval,
        no_traffic_healthy_interval: no_traffic_healthy_interval?.unwrap_or(no_traffic_interval),
        unhealthy_interval,
        unhealthy_edge_interval: unhealthy_edge_interval?.unwrap_or(unhealthy_interval),
        healthy_edge_interval: healthy_edge_interval?.unwrap_or(interval),
        kind: kind?,
        loc: m.loc,
    })
}

/// A duration field that must be greater than 0 when written: `Some(None)` when absent.
fn positive_duration(cx: &mut Cx<'_>, m: &Msg<'_>, field: &str) -> Option<Option<Duration>> {
    let Some(v) = m.get(field) else {
        return Some(None);
    };
    let p = m.path(field);
    let d = cx.duration(v, &p)?;
    if d.is_zero() {
        cx.error(v.loc, &p, format!("`{field}` must be greater than 0"));
        return None;
    }
    Some(Some(d))
}

/// A required duration field that must be greater than 0.
fn required_positive_duration(cx: &mut Cx<'_>, m: &Msg<'_>, field: &str) -> Option<Duration> {
    let d = positive_duration(cx, m, field)?;
    if d.is_none() {
        cx.missing(m, field);
    }
    d
}

/// A duration field that may be 0, 0 when absent.
fn optional_duration(cx: &mut Cx<'_>, m: &Msg<'_>, field: &str) -> Option<Duration> {
    match m.get(field) {
        Some(v) => cx.duration(v, &m.path(field)),
        None => Some(Duration::ZERO),
    }
}

/// A required `UInt32Value`.
fn required_u32(cx: &mut Cx<'_>, m: &Msg<'_>, field: &str) -> Option<u32> {
    match m.get(field) {
        Some(v) => cx.u32_in(v, &m.path(field), 0, u32::MAX),
        None => {
            cx.missing(m, field);
            None
        }
    }
}

/// `HealthCheck.health_checker`: exactly one checker. `grpc_health_check` and
/// `custom_health_check` were already refused by the schema.
fn health_checker(cx: &mut Cx<'_>, m: &Msg<'_>) -> Option<HealthCheckKind> {
    if !super::matcher::one_of(cx, m, HEALTH_CHECKERS, "a health check has one checker") {
        return None;
    }
    match m.set_of(HEALTH_CHECKERS).first().copied() {
        Some("http_health_check") => {
            let v = m.get("http_health_check")?;
            http_health_check(cx, v, &m.path("http_health_check")).map(HealthCheckKind::Http)
        }
        Some(_) => {
            let v = m.get("tcp_health_check")?;
            let t = cx.message(v, &m.path("tcp_health_check"), &schema::TCP_HEALTH_CHECK)?;
            let send = match t.get("send") {
                Some(p) => payload(cx, p, &t.path("send")),
                None => Some(Vec::new()),
            };
            let mut receive = Some(Vec::new());
            if let Some(list) = t.get("receive") {
                for (p, path) in cx.list(list, &t.path("receive")) {
                    match (payload(cx, p, &path), receive.as_mut()) {
                        // Envoy drops empty segments.
                        (Some(bytes), Some(all)) if !bytes.is_empty() => all.push(bytes),
                        (Some(_), _) => {}
                        (None, _) => receive = None,
                    }
                }
            }
            let (send, receive) = (send?, receive?);
            if !t.rejected_none() {
                return None;
            }
            Some(if send.is_empty() && receive.is_empty() {
                HealthCheckKind::TcpConnect
            } else {
                HealthCheckKind::Tcp { send, receive }
            })
        }
        None => {
            // proto3 JSON: a null message is not set, so `tcp_health_check:` with no value
            // leaves the required oneof empty, as it does in Envoy.
            if let Some(k) = HEALTH_CHECKERS.iter().find(|k| m.entry(k).is_some()) {
                cx.error(
                    m.key_loc(k),
                    &m.path(k),
                    format!(
                        "`{k}` is null, which leaves the health check without a checker; write \
                         `{k}: {{}}` or a mapping of its fields"
                    ),
                );
            } else if !HEALTH_CHECKERS.iter().any(|k| m.written(k)) {
                // A refused checker (gRPC, custom) was reported already.
                cx.error(
                    m.loc,
                    &m.path,
                    "a health check needs a checker: one of `http_health_check`, \
                     `tcp_health_check`, `grpc_health_check` or `custom_health_check`",
                );
            }
            None
        }
    }
}

/// `HealthCheck.Payload`: its hex `text`, decoded (Envoy's `Hex::decode`: an even number of
/// hex digits, either case).
fn payload(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Vec<u8>> {
    let m = cx.message(n, path, &schema::HEALTH_CHECK_PAYLOAD)?;
    let Some(v) = m.get("text") else {
        if m.rejected_none() {
            cx.missing(&m, "text");
        }
        return None;
    };
    let p = m.path("text");
    let text = cx.string(v, &p)?;
    let digit = |c: u8| (c as char).to_digit(16);
    let bytes: Option<Vec<u8>> = if text.len() % 2 == 0 {
        text.as_bytes()
            .chunks(2)
            .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
            .collect()
    } else {
        None
    };
    match bytes {
        Some(b) if !b.is_empty() => Some(b),
        _ => {
            cx.error(
                v.loc,
                &p,
                format!("invalid hex string `{text}`: write an even number of hex digits"),
            );
            None
        }
    }
}

/// `HealthCheck.HttpHealthCheck`.
fn http_health_check(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<HttpHealthCheck> {
    let m = cx.message(n, path, &schema::HTTP_HEALTH_CHECK)?;
    let host = match m.get("host") {
        Some(v) => header_value_text(cx, v, &m.path("host")),
        None => Some(String::new()),
    };
    let request_path = match m.entry("path") {
        Some(e) => {
            let p = m.path("path");
            header_value_text(cx, &e.value, &p).filter(|s| {
                if s.is_empty() {
                    cx.error(e.value.loc, &p, "`path` must not be empty");
                }
                !s.is_empty()
            })
        }
        None => {
            cx.missing(&m, "path");
            None
        }
    };
    let expected_statuses = match m.get("expected_statuses") {
        Some(v) => status_ranges(cx, v, &m.path("expected_statuses"), "expected"),
        None => Some(vec![EXPECTED_STATUSES_DEFAULT]),
    };
    let retriable_statuses = match m.get("retriable_statuses") {
        Some(v) => status_ranges(cx, v, &m.path("retriable_statuses"), "retriable"),
        None => Some(Vec::new()),
    };
    let codec_ok = match m.get("codec_client_type") {
        Some(v) => {
            let p = m.path("codec_client_type");
            match cx.enumeration(v, &p, &[("HTTP1", 0), ("HTTP2", 1), ("HTTP3", 2)]) {
                Some("HTTP1") => true,
                Some(other) => {
                    cx.error(
                        v.loc,
                        &p,
                        format!(
                            "codec_client_type `{other}` is not supported yet (Sluice health \
                             checks use HTTP/1.1, `HTTP1`)"
                        ),
                    );
                    false
                }
                None => false,
            }
        }
        None => true,
    };
    if !codec_ok {
        return None;
    }
    Some(HttpHealthCheck {
        host: host?,
        path: request_path?,
        expected_statuses: expected_statuses?,
        retriable_statuses: retriable_statuses?,
    })
}

/// A string sent as (part of) a request header: no NUL, CR or LF, as Envoy's
/// `HTTP_HEADER_VALUE` rule requires.
fn header_value_text(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<String> {
    let s = cx.string(n, path)?;
    if s.contains(['\0', '\r', '\n']) {
        cx.error(n.loc, path, "must not contain NUL, CR or LF");
        return None;
    }
    Some(s)
}

/// `expected_statuses` / `retriable_statuses`: half-open `Int64Range`s within `[100, 600)`. A
/// single mapping is taken as a list of one, as Envoy's JSON loader does.
fn status_ranges(cx: &mut Cx<'_>, n: &TNode, path: &str, what: &str) -> Option<Vec<(u16, u16)>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (r, p) in cx.list(n, path) {
        match status_range(cx, r, &p, what) {
            Some(range) => out.push(range),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// One `type.v3.Int64Range` of HTTP statuses, checked as Envoy checks it when it builds the
/// health checker: `start < end`, `start >= 100`, `end <= 600`.
fn status_range(cx: &mut Cx<'_>, n: &TNode, path: &str, what: &str) -> Option<(u16, u16)> {
    let m = cx.message(n, path, &schema::INT64_RANGE)?;
    let mut bound = |field: &str| match m.get(field) {
        Some(v) => cx
            .integer(v, &m.path(field), i64::MIN.into(), i64::MAX.into(), true)
            .map(|i| (i, v.loc)),
        None => {
            cx.missing(&m, field);
            None
        }
    };
    let start = bound("start");
    let end = bound("end");
    let ((start, start_loc), (end, end_loc)) = (start?, end?);
    let range = format!("the {what} status range [{start}, {end})");
    if start >= end {
        cx.error(
            m.loc,
            path,
            format!("{range} is empty: `start` must be less than `end`, which is excluded"),
        );
        return None;
    }
    if start < HEALTH_CHECK_STATUS_MIN {
        cx.error(
            start_loc,
            &m.path("start"),
            format!("{range} starts below 100: `start` must be at least 100"),
        );
        return None;
    }
    if end > HEALTH_CHECK_STATUS_END_MAX {
        cx.error(
            end_loc,
            &m.path("end"),
            format!("{range} ends above 600: `end` must be at most 600"),
        );
        return None;
    }
    Some((u16::try_from(start).ok()?, u16::try_from(end).ok()?))
}

/// `config.cluster.v3.OutlierDetection`, with Envoy's defaults (`DetectorConfig`).
/// `circuit_breakers`: thresholds per priority (the first entry naming a priority wins, as
/// in Envoy; a priority no entry names keeps Envoy's defaults) and the per-host connection
/// limits.
fn circuit_breakers(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<CircuitBreakers> {
    let m = cx.message(n, path, &schema::CIRCUIT_BREAKERS)?;
    let mut out = CircuitBreakers::default();
    let mut ok = true;
    let mut seen = [false; 2];
    if let Some(list) = m.get("thresholds") {
        for (t, p) in cx.list(list, &m.path("thresholds")) {
            match thresholds(cx, t, &p) {
                Some((priority, th)) => {
                    let i = usize::from(priority == Priority::High);
                    if !std::mem::replace(&mut seen[i], true) {
                        out.thresholds[i] = th;
                    }
                }
                None => ok = false,
            }
        }
    }
    let mut seen = [false; 2];
    if let Some(list) = m.get("per_host_thresholds") {
        for (t, p) in cx.list(list, &m.path("per_host_thresholds")) {
            let Some(h) = cx.message(t, &p, &schema::PER_HOST_THRESHOLDS) else {
                ok = false;
                continue;
            };
            let priority = match h.get("priority") {
                Some(v) => super::route::routing_priority(cx, v, &h.path("priority")),
                None => Some(Priority::Default),
            };
            let max = match h.get("max_connections") {
                Some(v) => cx
                    .u32_in(v, &h.path("max_connections"), 0, u32::MAX)
                    .map(Some),
                None => Some(None),
            };
            let (Some(priority), Some(max)) = (priority, max) else {
                ok = false;
                continue;
            };
            let i = usize::from(priority == Priority::High);
            if !std::mem::replace(&mut seen[i], true) {
                out.per_host_max_connections[i] = max.map(u64::from);
            }
        }
    }
    ok.then_some(out)
}

/// One `CircuitBreakers.Thresholds` entry.
fn thresholds(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<(Priority, Thresholds)> {
    let m = cx.message(n, path, &schema::CIRCUIT_BREAKER_THRESHOLDS)?;
    let priority = match m.get("priority") {
        Some(v) => super::route::routing_priority(cx, v, &m.path("priority")),
        None => Some(Priority::Default),
    };
    let limit = |cx: &mut Cx<'_>, field: &str, default: u64| match m.get(field) {
        Some(v) => cx.u32_in(v, &m.path(field), 0, u32::MAX).map(u64::from),
        None => Some(default),
    };
    let max_connections = limit(cx, "max_connections", breaker::DEFAULT_MAX);
    let max_pending_requests = limit(cx, "max_pending_requests", breaker::DEFAULT_MAX);
    let max_requests = limit(cx, "max_requests", breaker::DEFAULT_MAX);
    let max_retries = limit(cx, "max_retries", breaker::DEFAULT_MAX_RETRIES);
    let max_connection_pools = match m.get("max_connection_pools") {
        Some(v) => cx
            .u32_in(v, &m.path("max_connection_pools"), 0, u32::MAX)
            .map(|n| Some(u64::from(n))),
        None => Some(None),
    };
    let track_remaining = match m.get("track_remaining") {
        Some(v) => cx.boolean(v, &m.path("track_remaining")),
        None => Some(false),
    };
    let retry_budget = match m.get("retry_budget") {
        Some(v) => retry_budget(cx, v, &m.path("retry_budget")).map(Some),
        None => Some(None),
    };
    Some((
        priority?,
        Thresholds {
            max_connections: max_connections?,
            max_pending_requests: max_pending_requests?,
            max_requests: max_requests?,
            max_retries: max_retries?,
            retry_budget: retry_budget?,
            track_remaining: track_remaining?,
            max_connection_pools: max_connection_pools?,
        },
    ))
}

/// `Thresholds.retry_budget`, Envoy's defaults (20 %, 3) for what is not written.
fn retry_budget(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<RetryBudget> {
    let m = cx.message(n, path, &schema::RETRY_BUDGET)?;
    let defaults = RetryBudget::default();
    let budget_percent = match m.get("budget_percent") {
        Some(v) => cx.percent(v, &m.path("budget_percent")),
        None => Some(defaults.budget_percent),
    };
    let min_retry_concurrency = match m.get("min_retry_concurrency") {
        Some(v) => cx.u32_in(v, &m.path("min_retry_concurrency"), 0, u32::MAX),
        None => Some(defaults.min_retry_concurrency),
    };
    Some(RetryBudget {
        budget_percent: budget_percent?,
        min_retry_concurrency: min_retry_concurrency?,
    })
}

fn outlier_detection(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<OutlierDetection> {
    let m = cx.message(n, path, &schema::OUTLIER_DETECTION)?;
    let count = |cx: &mut Cx<'_>, field: &str, default: u32| match m.get(field) {
        Some(v) => cx.u32_in(v, &m.path(field), 0, u32::MAX),
        None => Some(default),
    };
    let consecutive_5xx = count(cx, "consecutive_5xx", 5);
    let success_rate_minimum_hosts = count(cx, "success_rate_minimum_hosts", 5);
    let success_rate_request_volume = count(cx, "success_rate_request_volume", 100);
    let success_rate_stdev_factor = count(cx, "success_rate_stdev_factor", 1900);
    let consecutive_gateway_failure = count(cx, "consecutive_gateway_failure", 5);
    let consecutive_local_origin_failure = count(cx, "consecutive_local_origin_failure", 5);
    let failure_percentage_minimum_hosts = count(cx, "failure_percentage_minimum_hosts", 5);
    let failure_percentage_request_volume = count(cx, "failure_percentage_request_volume", 50);
    // Envoy's `lte: 100` percentages.
    let percent = |cx: &mut Cx<'_>, field: &str, default: u32| match m.get(field) {
        Some(v) => cx.u32_in(v, &m.path(field), 0, 100),
        None => Some(default),
    };
    let max_ejection_percent = percent(cx, "max_ejection_percent", 10);
    let enforcing_consecutive_5xx = percent(cx, "enforcing_consecutive_5xx", 100);
    let enforcing_success_rate = percent(cx, "enforcing_success_rate", 100);
    let enforcing_consecutive_gateway_failure =
        percent(cx, "enforcing_consecutive_gateway_failure", 0);
    let enforcing_consecutive_local_origin_failure =
        percent(cx, "enforcing_consecutive_local_origin_failure", 100);
    let enforcing_local_origin_success_rate =
        percent(cx, "enforcing_local_origin_success_rate", 100);
    let failure_percentage_threshold = percent(cx, "failure_percentage_threshold", 85);
    let enforcing_failure_percentage = percent(cx, "enforcing_failure_percentage", 0);
    let enforcing_failure_percentage_local_origin =
        percent(cx, "enforcing_failure_percentage_local_origin", 0);
    let flag = |cx: &mut Cx<'_>, field: &str, default: bool| match m.get(field) {
        Some(v) => cx.boolean(v, &m.path(field)),
        None => Some(default),
    };
    let split_external_local_origin_errors = flag(cx, "split_external_local_origin_errors", false);
    let successful_active_health_check_uneject_host =
        flag(cx, "successful_active_health_check_uneject_host", true);
    let always_eject_one_host = flag(cx, "always_eject_one_host", false);
    let interval = positive_duration(cx, &m, "interval");
    let base_ejection_time = positive_duration(cx, &m, "base_ejection_time");
    let max_ejection_time = positive_duration(cx, &m, "max_ejection_time");
    let max_ejection_time_jitter = optional_duration(cx, &m, "max_ejection_time_jitter");

    let base_ejection_time = base_ejection_time?.unwrap_or(Duration::from_secs(30));
    let max_ejection_time = match max_ejection_time? {
        Some(max) if max < base_ejection_time => {
            let at = m.get("max_ejection_time").map_or(m.loc, |v| v.loc);
            cx.error(
                at,
                &m.path("max_ejection_time"),
                "outlier detector's max_ejection_time cannot be smaller than base_ejection_time",
            );
            return None;
        }
        Some(max) => max,
        None => base_ejection_time.max(Duration::from_secs(300)),
    };
    Some(OutlierDetection {
        consecutive_5xx: consecutive_5xx?,
        interval: interval?.unwrap_or(Duration::from_secs(10)),
        base_ejection_time,
        max_ejection_percent: max_ejection_percent?,
        enforcing_consecutive_5xx: enforcing_consecutive_5xx?,
        enforcing_success_rate: enforcing_success_rate?,
        success_rate_minimum_hosts: success_rate_minimum_hosts?,
        success_rate_request_volume: success_rate_request_volume?,
        success_rate_stdev_factor: success_rate_stdev_factor?,
        consecutive_gateway_failure: consecutive_gateway_failure?,
        enforcing_consecutive_gateway_failure: enforcing_consecutive_gateway_failure?,
        split_external_local_origin_errors: split_external_local_origin_errors?,
        consecutive_local_origin_failure: consecutive_local_origin_failure?,
        enforcing_consecutive_local_origin_failure: enforcing_consecutive_local_origin_failure?,
        enforcing_local_origin_success_rate: enforcing_local_origin_success_rate?,
        failure_percentage_threshold: failure_percentage_threshold?,
        enforcing_failure_percentage: enforcing_failure_percentage?,
        enforcing_failure_percentage_local_origin: enforcing_failure_percentage_local_origin?,
        failure_percentage_minimum_hosts: failure_percentage_minimum_hosts?,
        failure_percentage_request_volume: failure_percentage_request_volume?,
        max_ejection_time,
        max_ejection_time_jitter: max_ejection_time_jitter?,
        successful_active_health_check_uneject_host: successful_active_health_check_uneject_host?,
        always_eject_one_host: always_eject_one_host?,
        loc: m.loc,
    })
}
