//! Distribution tests per policy over >= 100k picks.
// Test helpers outside #[test] fns unwrap freely: a panic is the test failing.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use sluice_lb::{LbConfig, LbPolicy, LeastRequestConfig, RoundRobinConfig};

#[test]
fn weighted_round_robin_follows_weights_exactly() {
    let hs: Vec<_> = [1, 3, 5]
        .iter()
        .enumerate()
        .map(|(i, &w)| host(i).with_weight(w))
        .collect();
    let shared = build(
        LbConfig::with_policy(LbPolicy::RoundRobin(RoundRobinConfig::default())),
        hs,
    );
    let mut lb = worker(&shared, 1);
    let c = count(&mut lb, 90_000);
    assert_eq!(c[&0], 10_000);
    assert_eq!(c[&1], 30_000);
    assert_eq!(c[&2], 50_000);
}

#[test]
fn least_request_sequential_equals_weighted_round_robin() {
    // Scenario 09: weights 1:3:5, sequential requests -> 11% : 33% : 56%.
    let hs: Vec<_> = [1, 3, 5]
        .iter()
        .enumerate()
        .map(|(i, &w)| host(i).with_weight(w))
        .collect();
    let shared = build(
        LbConfig::with_policy(LbPolicy::LeastRequest(LeastRequestConfig::default())),
        hs,
    );
    let mut lb = worker(&shared, 2);
    let c = count(&mut lb, 90_000);
    assert_eq!((c[&0], c[&1], c[&2]), (10_000, 30_000, 50_000));
}

#[test]
fn random_is_uniform_ignoring_weights() {
    let hs: Vec<_> = (0..4).map(|i| host(i).with_weight(i as u32 + 1)).collect();
    let shared = build(LbConfig::with_policy(LbPolicy::Random), hs);
    let mut lb = worker(&shared, 3);
    let c = count(&mut lb, 200_000);
    for i in 0..4 {
        let s = share(&c, &[i]);
        assert!((s - 0.25).abs() < 0.01, "host {i} share {s}");
    }
}

#[test]
fn a_pick_in_a_priority_in_panic_says_so() {
    use sluice_lb::{BuildParams, ClusterLb, Health, LbConfig, LbPolicy, PickContext, WorkerLb};
    let now = std::time::Instant::now();
    for policy in [
        LbPolicy::RoundRobin(Default::default()),
        LbPolicy::RingHash(Default::default()),
    ] {
        let mut hs = hosts(4);
        let build = |hs: Vec<_>| {
            ClusterLb::build(
                LbConfig::with_policy(policy.clone()),
                hs,
                &BuildParams::default(),
            )
            .unwrap()
        };
        let mut lb = WorkerLb::new(build(hs.clone()), 1, 0);
        assert!(lb.pick(&PickContext::default(), now).is_some());
        assert!(!lb.last_pick_in_panic(), "{policy:?}: all healthy");
        // One of four healthy: 25 % x 1.4 = 35 % < 50 %, panic.
        for h in hs.iter_mut().skip(1) {
            h.health = Health::Unhealthy;
        }
        let mut lb = WorkerLb::new(build(hs), 1, 0);
        assert!(lb.pick(&PickContext::default(), now).is_some());
        assert!(lb.last_pick_in_panic(), "{policy:?}: in panic");
    }
}
