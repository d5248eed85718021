//! The load-balancing part of an Envoy `Cluster`, with Envoy's field names and defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::LbError;

/// Envoy's `Cluster.lb_policy` with the policy-specific config attached.
#[derive(Clone, Debug, PartialEq)]
pub enum LbPolicy {
    /// `ROUND_ROBIN` (weighted with EDF when weights differ).
    RoundRobin(RoundRobinConfig),
    /// `LEAST_REQUEST`.
    LeastRequest(LeastRequestConfig),
    /// `RANDOM` (ignores weights, like Envoy).
    Random,
    /// `RING_HASH`.
    RingHash(RingHashConfig),
    /// `MAGLEV`.
    Maglev(MaglevConfig),
}

impl Default for LbPolicy {
    fn default() -> Self {
        Self::RoundRobin(RoundRobinConfig::default())
    }
}

impl LbPolicy {
    /// Envoy's enum name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::RoundRobin(_) => "ROUND_ROBIN",
            Self::LeastRequest(_) => "LEAST_REQUEST",
            Self::Random => "RANDOM",
            Self::RingHash(_) => "RING_HASH",
            Self::Maglev(_) => "MAGLEV",
        }
    }

    /// Ring hash or maglev: the host comes from a shared table indexed by the request hash.
    #[must_use]
    pub fn is_hashing(&self) -> bool {
        matches!(self, Self::RingHash(_) | Self::Maglev(_))
    }

    pub(crate) fn slow_start(&self) -> Option<&SlowStartConfig> {
        match self {
            Self::RoundRobin(c) => c.slow_start.as_ref(),
            Self::LeastRequest(c) => c.slow_start.as_ref(),
            _ => None,
        }
    }
}

/// `Cluster.SlowStartConfig`.
#[derive(Clone, Debug, PartialEq)]
pub struct SlowStartConfig {
    /// `slow_start_window`; 0 disables slow start.
    pub window: Duration,
    /// `aggression` (default 1.0): weight scales with `time_factor ^ (1 / aggression)`.
    pub aggression: f64,
    /// `min_weight_percent` (default 10): a host in slow start keeps at least this share of its weight.
    pub min_weight_percent: f64,
}

impl Default for SlowStartConfig {
    fn default() -> Self {
        Self {
            window: Duration::ZERO,
            aggression: 1.0,
            min_weight_percent: 10.0,
        }
    }
}

/// `Cluster.RoundRobinLbConfig`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RoundRobinConfig {
    /// `slow_start_config`.
    pub slow_start: Option<SlowStartConfig>,
}

/// `LeastRequest.SelectionMethod`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SelectionMethod {
    /// Sample `choice_count` hosts at random (default).
    #[default]
    NChoices,
    /// Scan every host, break ties at random.
    FullScan,
}

/// `Cluster.LeastRequestLbConfig`.
#[derive(Clone, Debug, PartialEq)]
pub struct LeastRequestConfig {
    /// `choice_count`, default 2, at least 2.
    pub choice_count: u32,
    /// `active_request_bias`, default 1.0: weight / (active + 1) ^ bias when weights differ.
    pub active_request_bias: f64,
    /// `slow_start_config`.
    pub slow_start: Option<SlowStartConfig>,
    /// `selection_method`.
    pub selection_method: SelectionMethod,
}

impl Default for LeastRequestConfig {
    fn default() -> Self {
        Self {
            choice_count: 2,
            active_request_bias: 1.0,
            slow_start: None,
            selection_method: SelectionMethod::NChoices,
        }
    }
}

/// `RingHashLbConfig.HashFunction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HashFunction {
    /// xxHash64 with seed 0 (default).
    #[default]
    XxHash,
    /// libstdc++'s 64-bit MurmurHash2 variant with seed `0xc70f6907`.
    MurmurHash2,
}

/// `Cluster.RingHashLbConfig`.
#[derive(Clone, Debug, PartialEq)]
pub struct RingHashConfig {
    /// `minimum_ring_size`, default 1024.
    pub minimum_ring_size: u64,
    /// `maximum_ring_size`, default 8M (8388608).
    pub maximum_ring_size: u64,
    /// `hash_function`.
    pub hash_function: HashFunction,
}

impl Default for RingHashConfig {
    fn default() -> Self {
        Self {
            minimum_ring_size: 1024,
            maximum_ring_size: MAX_RING_SIZE,
            hash_function: HashFunction::XxHash,
        }
    }
}

/// Envoy's cap and default for `maximum_ring_size`.
pub const MAX_RING_SIZE: u64 = 8 * 1024 * 1024;
/// Envoy's default maglev table size.
pub const DEFAULT_MAGLEV_TABLE_SIZE: u64 = 65537;
/// Envoy's largest accepted maglev table size.
pub const MAX_MAGLEV_TABLE_SIZE: u64 = 5_000_011;

/// `Cluster.MaglevLbConfig`.
#[derive(Clone, Debug, PartialEq)]
pub struct MaglevConfig {
    /// `table_size`, default 65537, must be prime and at most 5000011.
    pub table_size: u64,
}

impl Default for MaglevConfig {
    fn default() -> Self {
        Self {
            table_size: DEFAULT_MAGLEV_TABLE_SIZE,
        }
    }
}

/// `CommonLbConfig.ZoneAwareLbConfig`.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneAwareLbConfig {
    /// `routing_enabled` percent, default 100.
    pub routing_enabled: f64,
    /// `min_cluster_size`, default 6.
    pub min_cluster_size: u64,
    /// `fail_traffic_on_panic`, default false: fail requests instead of using all hosts in panic.
    pub fail_traffic_on_panic: bool,
    /// `force_locality_direct_routing`, default false.
    pub force_locality_direct_routing: bool,
}

impl Default for ZoneAwareLbConfig {
    fn default() -> Self {
        Self {
            routing_enabled: 100.0,
            min_cluster_size: 6,
            fail_traffic_on_panic: false,
            force_locality_direct_routing: false,
        }
    }
}

/// The `locality_config_specifier` oneof of `CommonLbConfig`.
#[derive(Clone, Debug, PartialEq)]
pub enum LocalityLbConfig {
    /// `zone_aware_lb_config`.
    ZoneAware(ZoneAwareLbConfig),
    /// `locality_weighted_lb_config: {}`.
    LocalityWeighted,
}

/// `Cluster.CommonLbConfig`.
#[derive(Clone, Debug, PartialEq)]
pub struct CommonLbConfig {
    /// `healthy_panic_threshold` percent, default 50; 0 disables panic mode.
    pub healthy_panic_threshold: f64,
    /// Zone-aware or locality-weighted. Zone-aware routing with default parameters is active whenever a
    /// local cluster is given and this is not `LocalityWeighted` (as in Envoy).
    pub locality: Option<LocalityLbConfig>,
    /// `consistent_hashing_lb_config.use_hostname_for_hashing`.
    pub use_hostname_for_hashing: bool,
}

impl Default for CommonLbConfig {
    fn default() -> Self {
        Self {
            healthy_panic_threshold: 50.0,
            locality: None,
            use_hostname_for_hashing: false,
        }
    }
}

/// `LbSubsetConfig.LbSubsetFallbackPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SubsetFallbackPolicy {
    /// No host when no subset matches (default).
    #[default]
    NoFallback,
    /// Any host of the cluster.
    AnyEndpoint,
    /// The `default_subset`.
    DefaultSubset,
}

/// `LbSubsetSelector.LbSubsetSelectorFallbackPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SelectorFallbackPolicy {
    /// Use the cluster's `fallback_policy` (default).
    #[default]
    NotDefined,
    /// No host.
    NoFallback,
    /// Any host.
    AnyEndpoint,
    /// The default subset.
    DefaultSubset,
    /// Retry with only `fallback_keys_subset` keys of the match criteria.
    KeysSubset,
}

/// `LbSubsetConfig.LbSubsetSelector`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SubsetSelector {
    /// `keys` (order is irrelevant: Envoy sorts them).
    pub keys: Vec<String>,
    /// `fallback_policy`.
    pub fallback_policy: SelectorFallbackPolicy,
    /// `fallback_keys_subset`.
    pub fallback_keys_subset: Vec<String>,
    /// `single_host_per_subset`.
    pub single_host_per_subset: bool,
}

impl SubsetSelector {
    /// A selector on these keys with no selector-level fallback.
    #[must_use]
    pub fn keys(keys: &[&str]) -> Self {
        Self {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            ..Self::default()
        }
    }
}

/// `Cluster.LbSubsetConfig`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SubsetConfig {
    /// `fallback_policy`.
    pub fallback_policy: SubsetFallbackPolicy,
    /// `default_subset` (`envoy.lb` key/values a host must all carry).
    pub default_subset: BTreeMap<String, serde_json::Value>,
    /// `subset_selectors`.
    pub subset_selectors: Vec<SubsetSelector>,
    /// `locality_weight_aware`.
    pub locality_weight_aware: bool,
    /// `scale_locality_weight`.
    pub scale_locality_weight: bool,
    /// `panic_mode_any`.
    pub panic_mode_any: bool,
    /// `list_as_any`.
    pub list_as_any: bool,
    /// `allow_redundant_keys`.
    pub allow_redundant_keys: bool,
}

/// Everything lb-core needs from a `Cluster` (plus its `ClusterLoadAssignment.policy`).
#[derive(Clone, Debug, PartialEq)]
pub struct LbConfig {
    /// `lb_policy` and its specific config.
    pub policy: LbPolicy,
    /// `common_lb_config`.
    pub common: CommonLbConfig,
    /// `load_assignment.policy.overprovisioning_factor`, default 140.
    pub overprovisioning_factor: u32,
    /// `load_assignment.policy.weighted_priority_health`.
    pub weighted_priority_health: bool,
    /// `lb_subset_config` (None: no subsets).
    pub subset: Option<SubsetConfig>,
}

impl Default for LbConfig {
    fn default() -> Self {
        Self {
            policy: LbPolicy::default(),
            common: CommonLbConfig::default(),
            overprovisioning_factor: 140,
            weighted_priority_health: false,
            subset: None,
        }
    }
}

impl LbConfig {
    /// A config with this policy and Envoy defaults for everything else.
    #[must_use]
    pub fn with_policy(policy: LbPolicy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    /// Check every field against Envoy's validation rules.
    ///
    /// # Errors
    /// The first offending field, with a remedy.
    pub fn validate(&self) -> Result<(), LbError> {
        check_percent(
            "common_lb_config.healthy_panic_threshold",
            self.common.healthy_panic_threshold,
        )?;
        if self.overprovisioning_factor == 0 {
            return Err(LbError::ZeroOverprovisioningFactor);
        }
        if let Some(LocalityLbConfig::ZoneAware(z)) = &self.common.locality {
            check_percent(
                "common_lb_config.zone_aware_lb_config.routing_enabled",
                z.routing_enabled,
            )?;
        }
        if let Some(ss) = self.policy.slow_start() {
            if ss.aggression.is_nan() || ss.aggression <= 0.0 {
                return Err(LbError::InvalidAggression(ss.aggression));
            }
            check_percent(
                "slow_start_config.min_weight_percent",
                ss.min_weight_percent,
            )?;
        }
        match &self.policy {
            LbPolicy::LeastRequest(lr) => {
                if lr.choice_count < 2 {
                    return Err(LbError::ChoiceCountTooSmall(lr.choice_count));
                }
                if lr.active_request_bias.is_nan() || lr.active_request_bias < 0.0 {
                    return Err(LbError::InvalidActiveRequestBias(lr.active_request_bias));
                }
            }
            LbPolicy::RingHash(rh) => {
                for (field, value) in [
                    ("minimum_ring_size", rh.minimum_ring_size),
                    ("maximum_ring_size", rh.maximum_ring_size),
                ] {
                    if value == 0 || value > MAX_RING_SIZE {
                        return Err(LbError::RingSizeOutOfRange { field, value });
                    }
                }
                if rh.minimum_ring_size > rh.maximum_ring_size {
                    return Err(LbError::RingMinAboveMax {
                        min: rh.minimum_ring_size,
                        max: rh.maximum_ring_size,
                    });
                }
            }
            LbPolicy::Maglev(m) => {
                if m.table_size > MAX_MAGLEV_TABLE_SIZE {
                    return Err(LbError::MaglevTableSizeTooLarge(m.table_size));
                }
                if !is_prime(m.table_size) {
                    return Err(LbError::MaglevTableSizeNotPrime(m.table_size));
                }
            }
            LbPolicy::RoundRobin(_) | LbPolicy::Random => {}
        }
        if let Some(subset) = &self.subset {
            for (index, sel) in subset.subset_selectors.iter().enumerate() {
                if sel.keys.is_empty() {
                    return Err(LbError::EmptySubsetSelector { index });
                }
                if sel.fallback_policy == SelectorFallbackPolicy::KeysSubset
                    && (sel.fallback_keys_subset.is_empty()
                        || sel
                            .fallback_keys_subset
                            .iter()
                            .any(|k| !sel.keys.contains(k)))
                {
                    return Err(LbError::InvalidKeysSubset { index });
                }
            }
        }
        Ok(())
    }

    /// `healthy_panic_threshold` as Envoy uses it: rounded to an integer percent.
    pub(crate) fn panic_threshold(&self) -> u64 {
        round_percent(self.common.healthy_panic_threshold)
    }

    pub(crate) fn zone_aware(&self) -> ZoneAwareLbConfig {
        match &self.common.locality {
            Some(LocalityLbConfig::ZoneAware(z)) => z.clone(),
            _ => ZoneAwareLbConfig::default(),
        }
    }

    pub(crate) fn locality_weighted(&self) -> bool {
        matches!(
            self.common.locality,
            Some(LocalityLbConfig::LocalityWeighted)
        )
    }
}

fn check_percent(field: &'static str, value: f64) -> Result<(), LbError> {
    if value.is_nan() || !(0.0..=100.0).contains(&value) {
        return Err(LbError::InvalidPercent { field, value });
    }
    Ok(())
}

/// Envoy's `PROTOBUF_PERCENT_TO_ROUNDED_INTEGER_OR_DEFAULT`: round half away from zero.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) fn round_percent(value: f64) -> u64 {
    value.clamp(0.0, 100.0).round() as u64
}

/// Trial division: table sizes are at most 5000011, so this is a few thousand divisions at build time.
#[must_use]
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}
