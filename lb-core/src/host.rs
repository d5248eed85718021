//! Host descriptions handed in by the control thread: address, weight, priority, locality, health.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

/// Index of a host in the host vector given to [`crate::ClusterLb::build`].
///
/// Stable for the lifetime of one snapshot only: a new snapshot may order hosts differently.
pub type HostId = u32;

/// Envoy's `config.core.v3.Locality`. Ordered like Envoy's `LocalityLess` (region, zone, sub_zone).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Locality {
    /// Region, e.g. `cn-north-1`.
    pub region: String,
    /// Zone inside the region.
    pub zone: String,
    /// Sub-zone inside the zone.
    pub sub_zone: String,
}

impl Locality {
    /// A locality with only a region set.
    #[must_use]
    pub fn region(region: &str) -> Self {
        Self {
            region: region.to_owned(),
            ..Self::default()
        }
    }

    /// A locality with region and zone set.
    #[must_use]
    pub fn zone(region: &str, zone: &str) -> Self {
        Self {
            region: region.to_owned(),
            zone: zone.to_owned(),
            ..Self::default()
        }
    }
}

impl fmt::Display for Locality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.region.is_empty() && self.zone.is_empty() && self.sub_zone.is_empty() {
            return f.write_str("<no locality>");
        }
        write!(f, "{}/{}/{}", self.region, self.zone, self.sub_zone)
    }
}

/// Coarse health as Envoy's `Host::coarseHealth()` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Health {
    /// Takes traffic.
    #[default]
    Healthy,
    /// Takes traffic only when healthy hosts cannot carry it all (Envoy's DEGRADED).
    Degraded,
    /// Takes traffic only in panic mode.
    Unhealthy,
}

/// One upstream host of a cluster as the control thread knows it (EDS `LbEndpoint` plus health).
#[derive(Clone, Debug)]
pub struct HostDesc {
    /// The endpoint's socket address; its `Display` form is Envoy's hash key for ring hash and maglev.
    pub address: SocketAddr,
    /// Hostname (used for hashing when `use_hostname_for_hashing` is set).
    pub hostname: String,
    /// `load_balancing_weight`, at least 1.
    pub weight: u32,
    /// Priority of the `LocalityLbEndpoints` the host belongs to (0 is the highest).
    pub priority: u32,
    /// Locality of the host.
    pub locality: Locality,
    /// `LocalityLbEndpoints.load_balancing_weight`; `None` counts as 0 like Envoy's locality weight map.
    pub locality_weight: Option<u32>,
    /// Coarse health.
    pub health: Health,
    /// Excluded from load balancing (Envoy's excluded hosts: e.g. pending removal or waiting for a first
    /// health check). Excluded hosts are neither healthy nor degraded and do not count in host totals.
    pub excluded: bool,
    /// `filter_metadata["envoy.lb"]` of the endpoint (subset keys, `hash_key`).
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// When the host last became healthy (Envoy's `lastHcPassTime`), for slow start. `None`: never in
    /// slow start.
    pub healthy_since: Option<Instant>,
}

impl HostDesc {
    /// A healthy host with weight 1, priority 0, no locality and no metadata.
    #[must_use]
    pub fn new(address: SocketAddr) -> Self {
        Self {
            address,
            hostname: String::new(),
            weight: 1,
            priority: 0,
            locality: Locality::default(),
            locality_weight: None,
            health: Health::Healthy,
            excluded: false,
            metadata: BTreeMap::new(),
            healthy_since: None,
        }
    }

    /// Builder: set the weight.
    #[must_use]
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Builder: set the priority.
    #[must_use]
    pub fn with_priority(mut self, priority: u32) -> Self {
        self.priority = priority;
        self
    }

    /// Builder: set the locality and its weight.
    #[must_use]
    pub fn with_locality(mut self, locality: Locality, locality_weight: Option<u32>) -> Self {
        self.locality = locality;
        self.locality_weight = locality_weight;
        self
    }

    /// Builder: set the health.
    #[must_use]
    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// Builder: add one `envoy.lb` metadata entry.
    #[must_use]
    pub fn with_metadata(mut self, key: &str, value: serde_json::Value) -> Self {
        self.metadata.insert(key.to_owned(), value);
        self
    }

    /// Healthy and not excluded: a member of Envoy's `healthyHosts()`.
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        !self.excluded && self.health == Health::Healthy
    }

    /// Degraded and not excluded: a member of Envoy's `degradedHosts()`.
    #[must_use]
    pub fn is_degraded(&self) -> bool {
        !self.excluded && self.health == Health::Degraded
    }

    /// The key ring hash and maglev hash: `envoy.lb` `hash_key` if a non-empty string, else the hostname
    /// (when asked) or the address as Envoy prints it (`1.2.3.4:80`, `[::1]:80`).
    #[must_use]
    pub fn hash_key(&self, use_hostname: bool) -> String {
        if let Some(serde_json::Value::String(key)) = self.metadata.get("hash_key")
            && !key.is_empty()
        {
            return key.clone();
        }
        if use_hostname {
            self.hostname.clone()
        } else {
            self.address.to_string()
        }
    }
}
