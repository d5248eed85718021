//! Property tests (proptest) and seeded simulations replayable with `LBCORE_SIM_SEED`.
// Test helpers outside #[test] fns unwrap freely: a panic is the test failing.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use proptest::prelude::*;
use sluice_lb::{
    BuildParams, ClusterLb, Health, HostDesc, LbConfig, LbPolicy, LeastRequestConfig, MaglevConfig,
    PickContext, RingHashConfig, RoundRobinConfig, SlowStartConfig, SplitMix64, WorkerLb,
};

fn policies() -> Vec<LbPolicy> {
    vec![
        LbPolicy::RoundRobin(RoundRobinConfig::default()),
        LbPolicy::LeastRequest(LeastRequestConfig::default()),
        LbPolicy::Random,
        LbPolicy::RingHash(RingHashConfig::default()),
        LbPolicy::Maglev(MaglevConfig { table_size: 1031 }),
    ]
}

fn arb_hosts() -> impl Strategy<Value = Vec<(u32, u32, u8)>> {
    // (weight, priority, health 0 healthy / 1 degraded / 2 unhealthy)
    prop::collection::vec((1u32..5, 0u32..3, 0u8..3), 1..12)
}

fn to_hosts(spec: &[(u32, u32, u8)]) -> Vec<HostDesc> {
    spec.iter()
        .enumerate()
        .map(|(i, &(w, p, h))| {
            let mut d = host(i).with_weight(w).with_priority(p);
            d.health = [Health::Healthy, Health::Degraded, Health::Unhealthy][h as usize];
            d
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Outside panic, a host that is not healthy is never picked while the chosen priority has
    /// healthy hosts; degraded hosts only when their load share is positive; loads sum to 100.
    #[test]
    fn never_unhealthy_outside_panic(spec in arb_hosts(), seed in any::<u64>()) {
        let hs = to_hosts(&spec);
        for policy in policies() {
            let shared = build(LbConfig::with_policy(policy.clone()), hs.clone());
            let st = shared.priority_state();
            prop_assert_eq!(st.healthy_load.iter().sum::<u32>() + st.degraded_load.iter().sum::<u32>(), 100);
            let mut lb = WorkerLb::new(Arc::clone(&shared), seed, 0);
            let mut rng = SplitMix64::new(seed);
            let now = Instant::now();
            for _ in 0..200 {
                let hash = rng.next_u64().is_multiple_of(2).then(|| rng.next_u64());
                let Some(id) = lb.pick(&PickContext { hash, metadata_match: None }, now) else { continue };
                let h = shared.host(id).unwrap();
                let p = h.priority as usize;
                if !st.panic[p] {
                    match h.health {
                        Health::Healthy => {}
                        Health::Degraded => prop_assert!(st.degraded_load[p] > 0 && !policy.is_hashing(),
                            "degraded host picked by {}", policy.name()),
                        Health::Unhealthy => prop_assert!(false, "unhealthy host picked outside panic by {}", policy.name()),
                    }
                }
            }
        }
    }

    /// Weighted round robin over one healthy priority gives every host exactly its weight share
    /// per full EDF period.
    #[test]
    fn round_robin_respects_weights(weights in prop::collection::vec(1u32..7, 1..8), seed in any::<u64>()) {
        let hs: Vec<HostDesc> = weights.iter().enumerate().map(|(i, &w)| host(i).with_weight(w)).collect();
        let shared = build(LbConfig::with_policy(LbPolicy::RoundRobin(RoundRobinConfig::default())), hs);
        let mut lb = WorkerLb::new(shared, seed, 0);
        let total: u32 = weights.iter().sum();
        let periods = 20;
        let c = count(&mut lb, (total * periods) as usize);
        for (i, &w) in weights.iter().enumerate() {
            let got = c.get(&(i as u32)).copied().unwrap_or(0) as i64;
            prop_assert!((got - i64::from(w * periods)).abs() <= 1, "host {} weight {}: {} picks", i, w, got);
        }
    }

    /// Ring hash and maglev are pure functions of (hosts, hash): two workers agree.
    #[test]
    fn hashing_is_worker_independent(n in 1usize..20, hash in any::<u64>()) {
        for policy in [LbPolicy::RingHash(RingHashConfig::default()), LbPolicy::Maglev(MaglevConfig::default())] {
            let shared = build(LbConfig::with_policy(policy), hosts(n));
            let mut a = WorkerLb::new(Arc::clone(&shared), 1, 0);
            let mut b = WorkerLb::new(shared, 2, 1);
            let ctx = PickContext { hash: Some(hash), metadata_match: None };
            let now = Instant::now();
            prop_assert_eq!(a.pick(&ctx, now), b.pick(&ctx, now));
        }
    }
}

/// Least request over two workers with random request lifetimes: with P2C the busiest host never
/// holds more than a few requests above the least busy; with unequal weights, load follows weights.
/// Replay one run with `LBCORE_SIM_SEED=0x...`.
#[test]
fn simulation_least_request_two_workers() {
    for seed in sim_seeds(16) {
        let mut rng = SplitMix64::new(seed);
        let n = 2 + (rng.next_u64() % 8) as usize;
        let weighted = rng.next_u64().is_multiple_of(2);
        let hs: Vec<HostDesc> = (0..n)
            .map(|i| host(i).with_weight(if weighted { 1 + (i as u32 % 3) } else { 1 }))
            .collect();
        let params = BuildParams {
            workers: 2,
            ..Default::default()
        };
        let shared = ClusterLb::build(
            LbConfig::with_policy(LbPolicy::LeastRequest(LeastRequestConfig::default())),
            hs,
            &params,
        )
        .unwrap();
        let mut workers = [
            WorkerLb::new(Arc::clone(&shared), seed, 0),
            WorkerLb::new(Arc::clone(&shared), seed, 1),
        ];
        let mut inflight: Vec<(usize, u64, sluice_lb::ActiveTicket, u32)> = Vec::new();
        let now = Instant::now();
        let mut picks = vec![0u64; n];
        for step in 0..20_000u64 {
            let w = (rng.next_u64() % 2) as usize;
            let h = workers[w]
                .pick(&PickContext::default(), now)
                .unwrap_or_else(|| panic!("seed {seed:#x}: no host"));
            picks[h as usize] += 1;
            let t = workers[w].begin(h);
            inflight.push((w, step + 1 + rng.next_u64() % 20, t, h));
            inflight.retain(|&(w, end, t, _)| {
                if end <= step {
                    workers[w].end(t);
                    false
                } else {
                    true
                }
            });
            // check_invariants: the shared counters equal the simulator's in-flight view.
            let mut expect = vec![0u64; n];
            for &(_, _, _, h) in &inflight {
                expect[h as usize] += 1;
            }
            for (i, &e) in expect.iter().enumerate() {
                assert_eq!(
                    shared.active_requests().total(shared.active_slot(i as u32)),
                    e,
                    "seed {seed:#x} step {step}"
                );
            }
        }
        if weighted {
            // weight / (active + 1): under concurrency heavier hosts hold more requests, which pulls
            // the split toward uniform (Envoy: "hosts will never fully drain" / may adapt slowly).
            // What must hold: a heavier host never gets fewer picks than a lighter one.
            for i in 0..n {
                for j in 0..n {
                    let (wi, wj) = (1 + (i % 3), 1 + (j % 3));
                    if wi > wj {
                        assert!(
                            picks[i] as f64 > picks[j] as f64 * 1.05,
                            "seed {seed:#x}: {picks:?}"
                        );
                    }
                }
            }
        } else {
            let min = *picks.iter().min().unwrap() as f64;
            let max = *picks.iter().max().unwrap() as f64;
            assert!(min / max > 0.7, "seed {seed:#x}: P2C spread {picks:?}");
        }
    }
}

/// Slow start: a host that just became healthy ramps from min_weight_percent to its full weight over
/// the window; replays from the seed.
#[test]
fn simulation_slow_start_ramp() {
    for seed in sim_seeds(4) {
        let t0 = Instant::now();
        let window = Duration::from_secs(10);
        let mut hs = hosts(2);
        hs[0].healthy_since = Some(t0 - Duration::from_secs(3600));
        hs[1].healthy_since = Some(t0);
        let cfg = LbConfig::with_policy(LbPolicy::RoundRobin(RoundRobinConfig {
            slow_start: Some(SlowStartConfig {
                window,
                ..Default::default()
            }),
        }));
        let shared = build(cfg, hs);
        let mut shares = Vec::new();
        for secs in [0u64, 5, 9, 11] {
            let now = t0 + Duration::from_secs(secs);
            // A fresh worker per instant: the EDF schedule is built with weights at that time.
            let mut lb = WorkerLb::new(Arc::clone(&shared), seed, 0);
            let mut c: BTreeMap<u32, usize> = BTreeMap::new();
            for _ in 0..20_000 {
                *c.entry(lb.pick(&PickContext::default(), now).unwrap())
                    .or_default() += 1;
            }
            shares.push(c.get(&1).copied().unwrap_or(0) as f64 / 20_000.0);
        }
        // weight factor: t=0 -> max(1ms/10s, 10%) = 0.1 -> 0.1/1.1; t=5 -> 0.5/1.5; t=9 -> 0.9/1.9; t=11 -> 1/2.
        let want = [0.1 / 1.1, 0.5 / 1.5, 0.9 / 1.9, 0.5];
        for (got, want) in shares.iter().zip(want) {
            assert!((got - want).abs() < 0.02, "seed {seed:#x}: {shares:?}");
        }
    }
}

/// Snapshot swap: a worker keeps its EDF state when hosts are unchanged, so a weighted rotation
/// continues exactly; counters of kept hosts carry over by address.
#[test]
fn simulation_snapshot_swap_keeps_state() {
    for seed in sim_seeds(4) {
        let hs: Vec<HostDesc> = (0..3).map(|i| host(i).with_weight(i as u32 + 1)).collect();
        let cfg = LbConfig::with_policy(LbPolicy::RoundRobin(RoundRobinConfig::default()));
        let params = BuildParams {
            workers: 1,
            ..Default::default()
        };
        let a = ClusterLb::build(cfg.clone(), hs.clone(), &params).unwrap();
        let mut lb = WorkerLb::new(Arc::clone(&a), seed, 0);
        let mut reference = WorkerLb::new(Arc::clone(&a), seed, 0);
        let now = Instant::now();
        for _ in 0..7 {
            assert_eq!(
                lb.pick(&PickContext::default(), now),
                reference.pick(&PickContext::default(), now)
            );
        }
        let ticket = lb.begin(2);
        let b = ClusterLb::build(
            cfg,
            hs,
            &BuildParams {
                previous: Some(&a),
                ..params
            },
        )
        .unwrap();
        lb.update(Arc::clone(&b));
        assert_eq!(
            b.active_requests().total(b.active_slot(2)),
            1,
            "in-flight count carried over"
        );
        for _ in 0..50 {
            assert_eq!(
                lb.pick(&PickContext::default(), now),
                reference.pick(&PickContext::default(), now),
                "seed {seed:#x}"
            );
        }
        lb.end(ticket);
        assert_eq!(b.active_requests().total(b.active_slot(2)), 0);
    }
}
