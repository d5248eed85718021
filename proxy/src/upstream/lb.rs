//! The proxy's view of a cluster's load balancer: a shared structure built once per
//! snapshot and a per-worker picker holding the mutable cursors.

use std::sync::Arc;

use sluice_config::model;

use crate::runtime::snapshot::Host;

/// Shared, immutable load-balancing data of one cluster at one snapshot.
#[derive(Debug)]
pub struct ClusterLb {
    /// Hosts eligible for traffic (index into the cluster's hosts) with their weights.
    eligible: Vec<(usize, u32)>,
}

impl ClusterLb {
    /// Builds the structure for a cluster.
    pub fn build(_cluster: &model::Cluster, hosts: &[Host]) -> Result<Self, String> {
        let healthy = |h: &Host| {
            matches!(
                h.health,
                model::HealthStatus::Unknown
                    | model::HealthStatus::Healthy
                    | model::HealthStatus::Degraded
            )
        };
        let best = hosts
            .iter()
            .filter(|h| healthy(h))
            .map(|h| h.priority)
            .min();
        let eligible = hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| best.is_none_or(|p| healthy(h) && h.priority == p))
            .map(|(i, h)| (i, h.weight.max(1)))
            .collect();
        Ok(Self { eligible })
    }
}

/// Per-worker picking state for one cluster.
#[derive(Debug)]
pub struct WorkerLb {
    shared: Arc<ClusterLb>,
    current: Vec<i64>,
}

impl WorkerLb {
    /// A picker over `shared`.
    pub fn new(shared: Arc<ClusterLb>, _seed: u64) -> Self {
        let current = vec![0; shared.eligible.len()];
        Self { shared, current }
    }

    /// Whether this picker was built for `shared`.
    pub fn is_for(&self, shared: &Arc<ClusterLb>) -> bool {
        Arc::ptr_eq(&self.shared, shared)
    }

    /// Picks a host index, or `None` when the cluster has no host.
    pub fn pick(&mut self) -> Option<usize> {
        // Smooth weighted round robin.
        let total: i64 = self
            .shared
            .eligible
            .iter()
            .map(|(_, w)| i64::from(*w))
            .sum();
        let mut best: Option<usize> = None;
        for (slot, (_, w)) in self.shared.eligible.iter().enumerate() {
            self.current[slot] += i64::from(*w);
            if best.is_none_or(|b| self.current[slot] > self.current[b]) {
                best = Some(slot);
            }
        }
        let b = best?;
        self.current[b] -= total;
        Some(self.shared.eligible[b].0)
    }
}
