//! On-CPU nanoseconds per `pick()`, read from `/proc/thread-self/schedstat`, so figures stay
//! meaningful on a shared, overloaded 2-core box where wall-clock benches inflate with run-queue
//! waits. Run: `cargo bench -p sluice-lb --bench pick_cpu`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sluice_lb::{
    BuildParams, ClusterLb, HostDesc, LbConfig, LbPolicy, LeastRequestConfig, MaglevConfig,
    PickContext, RingHashConfig, RoundRobinConfig, SplitMix64, WorkerLb,
};

fn on_cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    s.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn hosts(n: usize, weighted: bool) -> Vec<HostDesc> {
    (0..n)
        .map(|i| {
            let a = SocketAddr::from(([10, 0, (i / 256) as u8, (i % 256) as u8], 80));
            HostDesc::new(a).with_weight(if weighted { 1 + (i as u32 % 4) } else { 1 })
        })
        .collect()
}

fn main() {
    // `cargo bench` passes --bench; with --test (cargo test --benches) just smoke-run.
    let quick = std::env::args().any(|a| a == "--test");
    let iters: u64 = if quick { 1_000 } else { 2_000_000 };
    let policies: Vec<(&str, LbPolicy, bool)> = vec![
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
    ];
    println!("| policy | 10 hosts | 100 hosts | 1000 hosts |");
    println!("|---|---|---|---|");
    let now = Instant::now();
    for (name, policy, weighted) in policies {
        let mut row = format!("| {name} |");
        for n in [10usize, 100, 1000] {
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
            for h in (0..n as u32).step_by(3) {
                let _ = lb.begin(h);
                let _ = other.begin(h);
            }
            let mut rng = SplitMix64::new(1);
            let hashing = policy.is_hashing();
            let mut best = f64::MAX;
            for _round in 0..5 {
                let t0 = on_cpu_ns();
                for _ in 0..iters {
                    let hash = if hashing { Some(rng.next_u64()) } else { None };
                    black_box(lb.pick(
                        &PickContext {
                            hash,
                            metadata_match: None,
                        },
                        now,
                    ));
                }
                let per = (on_cpu_ns() - t0) as f64 / iters as f64;
                best = best.min(per);
            }
            row.push_str(&format!(" {best:.1} ns |"));
        }
        println!("{row}");
    }
}
