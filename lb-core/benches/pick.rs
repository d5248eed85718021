//! criterion benches: one `pick()` per policy at 10, 100 and 1000 hosts, and table builds.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sluice_lb::{
    BuildParams, ClusterLb, HostDesc, LbConfig, LbPolicy, LeastRequestConfig, MaglevConfig,
    PickContext, RingHashConfig, RoundRobinConfig, SplitMix64, WorkerLb,
};

fn hosts(n: usize, weighted: bool) -> Vec<HostDesc> {
    (0..n)
        .map(|i| {
            let a = SocketAddr::from(([10, 0, (i / 256) as u8, (i % 256) as u8], 80));
            HostDesc::new(a).with_weight(if weighted { 1 + (i as u32 % 4) } else { 1 })
        })
        .collect()
}

fn policies() -> Vec<(&'static str, LbPolicy, bool)> {
    vec![
        (
            "round_robin",
            LbPolicy::RoundRobin(RoundRobinConfig::default()),
            false,
        ),
        (
            "round_robin_weighted",
            LbPolicy::RoundRobin(RoundRobinConfig::default()),
            true,
        ),
        (
            "least_request",
            LbPolicy::LeastRequest(LeastRequestConfig::default()),
            false,
        ),
        (
            "least_request_weighted",
            LbPolicy::LeastRequest(LeastRequestConfig::default()),
            true,
        ),
        ("random", LbPolicy::Random, false),
        (
            "ring_hash",
            LbPolicy::RingHash(RingHashConfig::default()),
            false,
        ),
        ("maglev", LbPolicy::Maglev(MaglevConfig::default()), false),
    ]
}

fn bench_pick(c: &mut Criterion) {
    let mut g = c.benchmark_group("pick");
    g.measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(300))
        .sample_size(20);
    let now = Instant::now();
    for (name, policy, weighted) in policies() {
        for n in [10usize, 100, 1000] {
            // Two workers: least request sums two rows per candidate, as on this 2-core machine.
            let params = BuildParams {
                workers: 2,
                ..Default::default()
            };
            let shared = ClusterLb::build(
                LbConfig::with_policy(policy.clone()),
                hosts(n, weighted),
                &params,
            )
            .unwrap();
            let mut lb = WorkerLb::new(Arc::clone(&shared), 7, 0);
            let other = WorkerLb::new(Arc::clone(&shared), 8, 1);
            // Some requests in flight on both workers.
            for h in 0..n as u32 {
                if h % 3 == 0 {
                    let _ = lb.begin(h);
                    let _ = other.begin(h);
                }
            }
            let mut rng = SplitMix64::new(1);
            let hashing = policy.is_hashing();
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    let hash = if hashing { Some(rng.next_u64()) } else { None };
                    black_box(lb.pick(
                        &PickContext {
                            hash,
                            metadata_match: None,
                        },
                        now,
                    ))
                });
            });
        }
    }
    g.finish();
}

fn bench_build(c: &mut Criterion) {
    let mut g = c.benchmark_group("build");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300))
        .sample_size(10);
    for (name, policy) in [
        (
            "round_robin",
            LbPolicy::RoundRobin(RoundRobinConfig::default()),
        ),
        ("ring_hash", LbPolicy::RingHash(RingHashConfig::default())),
        ("maglev", LbPolicy::Maglev(MaglevConfig::default())),
    ] {
        for n in [10usize, 100, 1000] {
            let hs = hosts(n, false);
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    black_box(
                        ClusterLb::build(
                            LbConfig::with_policy(policy.clone()),
                            hs.clone(),
                            &BuildParams::default(),
                        )
                        .unwrap(),
                    )
                });
            });
        }
    }
    g.finish();
}

fn bench_active(c: &mut Criterion) {
    // The cost least request pays per candidate: sum one cell over all worker rows.
    let mut g = c.benchmark_group("active_requests");
    g.measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(300))
        .sample_size(20);
    for workers in [1usize, 2, 8, 32] {
        let a = sluice_lb::ActiveRequests::new(workers, 1000, 0);
        let mut slot = 0u32;
        g.bench_with_input(BenchmarkId::new("total", workers), &workers, |b, _| {
            b.iter(|| {
                slot = (slot + 7) % 1000;
                black_box(a.total(slot))
            });
        });
        g.bench_with_input(BenchmarkId::new("begin_end", workers), &workers, |b, _| {
            b.iter(|| {
                let t = a.begin(0, black_box(5));
                a.end(0, t);
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench_pick, bench_build, bench_active);
criterion_main!(benches);
