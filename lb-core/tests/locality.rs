//! Locality-weighted LB (docs table, seed 4.13/4.14, scenario 14) and zone-aware routing.
// Test helpers outside #[test] fns unwrap freely: a panic is the test failing.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use sluice_lb::{
    BuildParams, ClusterLb, CommonLbConfig, HostDesc, LbConfig, LbPolicy, Locality,
    LocalityLbConfig, LocalityRouting, RoundRobinConfig, WorkerLb,
};

fn locality_weighted(policy: LbPolicy) -> LbConfig {
    LbConfig {
        policy,
        common: CommonLbConfig {
            locality: Some(LocalityLbConfig::LocalityWeighted),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn rr() -> LbPolicy {
    LbPolicy::RoundRobin(RoundRobinConfig::default())
}

/// `n_x` hosts in X (weight wx) of which `healthy_x` healthy, `n_y` healthy hosts in Y (weight wy).
fn two_localities(n_x: usize, healthy_x: usize, wx: u32, n_y: usize, wy: u32) -> Vec<HostDesc> {
    let mut v = Vec::new();
    for i in 0..n_x {
        let h = host(i).with_locality(Locality::region("x"), Some(wx));
        v.push(if i < healthy_x { h } else { unhealthy(h) });
    }
    for i in 0..n_y {
        v.push(host(1000 + i).with_locality(Locality::region("y"), Some(wy)));
    }
    v
}

fn x_share(shared: &std::sync::Arc<ClusterLb>, n_x: usize, picks: usize) -> f64 {
    let mut lb = worker(shared, 11);
    let c = count(&mut lb, picks);
    let xs: Vec<u32> = (0..n_x as u32).collect();
    share(&c, &xs)
}

#[test]
fn envoy_locality_weight_table() {
    // docs locality_weight.rst: X weight 1, Y weight 2, Y fully available, OF 1.4. Y is large so the
    // priority as a whole never drops under the 50% panic threshold (the docs table ignores panic).
    for (healthy_pct, expected) in [
        (100, 1.0 / 3.0),
        (70, 1.0 / 3.0),
        (69, 0.966 / 2.966),
        (50, 0.7 / 2.7),
        (25, 0.35 / 2.35),
        (0, 0.0),
    ] {
        let shared = build(
            locality_weighted(rr()),
            two_localities(100, healthy_pct, 1, 1000, 2),
        );
        let s = x_share(&shared, 100, 300_000);
        assert!(
            (s - expected).abs() < 0.005,
            "X {healthy_pct}% healthy: share {s}, expected {expected}"
        );
    }
}

#[test]
fn seed_4_13_one_of_two_hosts_down_gives_1_to_1_4() {
    // cn-north-1 weight 1 (1 host), cn-north-2 weight 2 (2 hosts, one failing): 2 x 1.4 x 1/2 = 1.4.
    let shared = build(
        locality_weighted(rr()),
        two_localities(1, 1, 1, 0, 2)
            .into_iter()
            .chain([
                host(500).with_locality(Locality::region("y"), Some(2)),
                unhealthy(host(501).with_locality(Locality::region("y"), Some(2))),
            ])
            .collect(),
    );
    let s = x_share(&shared, 1, 240_000);
    assert!((s - 1.0 / 2.4).abs() < 0.003, "share {s}");
    let text = shared.explain();
    assert!(text.contains("1.400"), "{text}");
}

#[test]
fn scenario_14_colored_share() {
    // 3 colored hosts weight 10, 2 colorless weight 20; all healthy: 1/3.
    let mut hs = two_localities(3, 3, 10, 2, 20);
    let shared = build(locality_weighted(rr()), hs.clone());
    let s = x_share(&shared, 3, 120_000);
    assert!((s - 1.0 / 3.0).abs() < 0.005, "share {s}");
    // gray fails: colorless 20 x min(1, 1.4 x 1/2) = 14 -> colored 10/24.
    hs[3] = unhealthy(hs[3].clone());
    let shared = build(locality_weighted(rr()), hs);
    let s = x_share(&shared, 3, 120_000);
    assert!((s - 10.0 / 24.0).abs() < 0.005, "share {s}");
}

#[test]
fn locality_weighted_random_and_least_request_follow_the_same_split() {
    for policy in [LbPolicy::Random, LbPolicy::LeastRequest(Default::default())] {
        let shared = build(locality_weighted(policy), two_localities(2, 2, 1, 2, 3));
        let s = x_share(&shared, 2, 200_000);
        assert!((s - 0.25).abs() < 0.01, "share {s}");
    }
}

fn zone_hosts(per_zone: &[usize], base: usize) -> Vec<HostDesc> {
    let mut v = Vec::new();
    let mut i = base;
    for (z, &n) in per_zone.iter().enumerate() {
        for _ in 0..n {
            v.push(host(i).with_locality(Locality::zone("r", &format!("z{z}")), None));
            i += 1;
        }
    }
    v
}

fn zone_lb(upstream: &[usize], local: &[usize]) -> (std::sync::Arc<ClusterLb>, WorkerLb) {
    let local_hosts = zone_hosts(local, 50_000);
    let params = BuildParams {
        workers: 1,
        local_locality: Some(Locality::zone("r", "z0")),
        local_cluster: Some(&local_hosts),
        previous: None,
    };
    let shared = ClusterLb::build(
        LbConfig::with_policy(rr()),
        zone_hosts(upstream, 0),
        &params,
    )
    .unwrap();
    let lb = WorkerLb::new(shared.clone(), 5, 0);
    (shared, lb)
}

#[test]
fn zone_aware_direct_when_upstream_local_share_is_large_enough() {
    // Upstream 4/4/4, local 2/2/2: equal shares -> everything stays in z0.
    let (shared, mut lb) = zone_lb(&[4, 4, 4], &[2, 2, 2]);
    assert_eq!(shared.cluster_core().zone, LocalityRouting::LocalityDirect);
    let c = count(&mut lb, 10_000);
    assert_eq!(share(&c, &[0, 1, 2, 3]), 1.0);
}

#[test]
fn zone_aware_residual_routes_the_overflow_by_spare_capacity() {
    // Local 40/40/20 %, upstream 25/50/25 %: 62.5% stays local, the rest goes to z1 (10%) and z2 (5%)
    // in a 2:1 ratio (Envoy's worked example in regenerateLocalityRoutingStructures).
    let (shared, mut lb) = zone_lb(&[2, 4, 2], &[4, 4, 2]);
    match &shared.cluster_core().zone {
        LocalityRouting::LocalityResidual {
            local_percent_to_route,
            residual_capacity,
        } => {
            assert_eq!(*local_percent_to_route, 6250);
            assert_eq!(residual_capacity, &vec![0, 1000, 1500]);
        }
        other => panic!("unexpected {other:?}"),
    }
    let c = count(&mut lb, 200_000);
    let z0 = share(&c, &[0, 1]);
    let z1 = share(&c, &[2, 3, 4, 5]);
    let z2 = share(&c, &[6, 7]);
    assert!((z0 - 0.625).abs() < 0.01, "z0 {z0}");
    assert!((z1 - 0.375 * 2.0 / 3.0).abs() < 0.01, "z1 {z1}");
    assert!((z2 - 0.375 / 3.0).abs() < 0.01, "z2 {z2}");
}

#[test]
fn zone_aware_off_for_small_clusters_and_locality_weighted() {
    let (shared, _) = zone_lb(&[1, 1, 1], &[1, 1, 1]);
    assert_eq!(
        shared.cluster_core().zone,
        LocalityRouting::NoLocalityRouting,
        "min_cluster_size 6"
    );
}
