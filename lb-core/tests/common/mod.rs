//! Helpers shared by the integration tests: host builders and pick counters.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sluice_lb::{
    BuildParams, ClusterLb, Health, HostDesc, HostId, LbConfig, PickContext, WorkerLb,
};

pub fn addr(i: usize) -> SocketAddr {
    let i = u32::try_from(i).unwrap();
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 80))
}

pub fn host(i: usize) -> HostDesc {
    HostDesc::new(addr(i))
}

pub fn hosts(n: usize) -> Vec<HostDesc> {
    (0..n).map(host).collect()
}

pub fn build(config: LbConfig, hosts: Vec<HostDesc>) -> Arc<ClusterLb> {
    ClusterLb::build(
        config,
        hosts,
        &BuildParams {
            workers: 1,
            ..Default::default()
        },
    )
    .unwrap()
}

pub fn worker(shared: &Arc<ClusterLb>, seed: u64) -> WorkerLb {
    WorkerLb::new(Arc::clone(shared), seed, 0)
}

/// Pick `n` times with no hash and count hosts.
pub fn count(lb: &mut WorkerLb, n: usize) -> BTreeMap<HostId, usize> {
    let now = Instant::now();
    let mut c = BTreeMap::new();
    for _ in 0..n {
        if let Some(h) = lb.pick(&PickContext::default(), now) {
            *c.entry(h).or_insert(0) += 1;
        }
    }
    c
}

pub fn share(c: &BTreeMap<HostId, usize>, ids: &[HostId]) -> f64 {
    let total: usize = c.values().sum();
    let part: usize = ids.iter().map(|i| c.get(i).copied().unwrap_or(0)).sum();
    part as f64 / total.max(1) as f64
}

pub fn unhealthy(mut h: HostDesc) -> HostDesc {
    h.health = Health::Unhealthy;
    h
}

pub fn degraded(mut h: HostDesc) -> HostDesc {
    h.health = Health::Degraded;
    h
}

/// Seed for seeded simulations: `LBCORE_SIM_SEED` (decimal or 0x-hex) replays one run.
pub fn sim_seeds(default_count: u64) -> Vec<u64> {
    match std::env::var("LBCORE_SIM_SEED") {
        Ok(s) => {
            let s = s.trim();
            let v = if let Some(hex) = s.strip_prefix("0x") {
                u64::from_str_radix(hex, 16).unwrap()
            } else {
                s.parse().unwrap()
            };
            vec![v]
        }
        Err(_) => (0..default_count).map(|i| 0x5eed_0000 + i).collect(),
    }
}
