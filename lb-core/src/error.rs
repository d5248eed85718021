//! Errors raised while building a cluster's load balancer from config and hosts.

/// Why a load balancer could not be built. Each message names the field and how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LbError {
    /// `maglev_lb_config.table_size` is not prime.
    #[error(
        "maglev_lb_config.table_size: {0} is not a prime number; Envoy requires a prime table size \
         (default 65537; e.g. 65537, 131071, 524287, 5000011)"
    )]
    MaglevTableSizeNotPrime(u64),
    /// `maglev_lb_config.table_size` is above Envoy's limit.
    #[error(
        "maglev_lb_config.table_size: {0} is larger than the maximum 5000011; pick a smaller prime"
    )]
    MaglevTableSizeTooLarge(u64),
    /// A ring size is outside `1..=8388608`.
    #[error(
        "ring_hash_lb_config.{field}: {value} is out of range; it must be between 1 and 8388608"
    )]
    RingSizeOutOfRange {
        /// `minimum_ring_size` or `maximum_ring_size`.
        field: &'static str,
        /// The configured value.
        value: u64,
    },
    /// `minimum_ring_size > maximum_ring_size`.
    #[error(
        "ring hash: minimum_ring_size ({min}) > maximum_ring_size ({max}); raise maximum_ring_size"
    )]
    RingMinAboveMax {
        /// Minimum ring size.
        min: u64,
        /// Maximum ring size.
        max: u64,
    },
    /// A percentage field is outside `0..=100`.
    #[error("{field}: {value} is not a percentage between 0 and 100")]
    InvalidPercent {
        /// Field path.
        field: &'static str,
        /// The configured value.
        value: f64,
    },
    /// `overprovisioning_factor` is 0.
    #[error("policy.overprovisioning_factor: must be at least 1 (default 140)")]
    ZeroOverprovisioningFactor,
    /// `least_request_lb_config.choice_count` below 2.
    #[error("least_request_lb_config.choice_count: {0} is below the minimum of 2")]
    ChoiceCountTooSmall(u32),
    /// `slow_start_config.aggression` not positive.
    #[error("slow_start_config.aggression: {0} must be greater than 0 (default 1.0)")]
    InvalidAggression(f64),
    /// `active_request_bias` negative or NaN.
    #[error("least_request_lb_config.active_request_bias: {0} must be >= 0 (default 1.0)")]
    InvalidActiveRequestBias(f64),
    /// A host has weight 0.
    #[error("host {address}: load_balancing_weight must be at least 1")]
    ZeroHostWeight {
        /// The host's address.
        address: String,
    },
    /// The sum of host weights in a priority overflows `u32`.
    #[error("priority {priority}: the sum of endpoint weights exceeds 4294967295")]
    WeightSumOverflow {
        /// The priority level.
        priority: u32,
    },
    /// Priorities must be contiguous starting at 0.
    #[error(
        "priority {missing} has no endpoints while priority {present} has some; Envoy requires \
         priorities to be used in order without gaps"
    )]
    PriorityGap {
        /// First missing priority.
        missing: u32,
        /// A higher priority number that has hosts.
        present: u32,
    },
    /// Too many hosts for `u32` host ids.
    #[error("too many hosts ({0}); at most 4294967295 are supported")]
    TooManyHosts(usize),
    /// `KEYS_SUBSET` fallback without keys, or with keys not in the selector.
    #[error(
        "lb_subset_config.subset_selectors[{index}]: fallback_keys_subset must be a non-empty subset \
         of keys when fallback_policy is KEYS_SUBSET"
    )]
    InvalidKeysSubset {
        /// Selector index.
        index: usize,
    },
    /// A subset selector with no keys.
    #[error("lb_subset_config.subset_selectors[{index}]: keys must not be empty")]
    EmptySubsetSelector {
        /// Selector index.
        index: usize,
    },
    /// Both locality-weighted and zone-aware LB configured.
    #[error(
        "common_lb_config: zone_aware_lb_config and locality_weighted_lb_config are mutually \
         exclusive; keep one"
    )]
    LocalityConfigConflict,
}
