//! Envoy-compatible load balancing as pure logic: no I/O, no async, no clock or RNG reads.
//!
//! `sluice-lb` turns a cluster's LB config and its hosts into the same traffic split Envoy computes:
//! priority levels with overprovisioning and spill-over, degraded hosts, the healthy panic threshold,
//! locality-weighted and zone-aware routing, subsets by `envoy.lb` metadata, and the policies
//! `ROUND_ROBIN` (EDF when weights differ, slow start), `LEAST_REQUEST` (P2C or weighted EDF),
//! `RANDOM`, `RING_HASH` (xxHash / MurmurHash2) and `MAGLEV`.
//!
//! # Shape
//! * [`ClusterLb`] is built once per snapshot on the control thread ([`ClusterLb::build`]) and shared
//!   by `Arc` with every worker. It holds the host sets, priority loads, panic flags, locality
//!   weights, subset tree and ring/maglev tables; it is immutable and `Send + Sync`.
//! * [`WorkerLb`] is one per worker and cluster: RNG, round-robin cursors, EDF and locality
//!   schedulers. `pick` takes `&mut self`, so it never locks.
//! * [`ActiveRequests`] (inside the `ClusterLb`, carried over between snapshots) holds least-request
//!   counts: each worker writes only its own cache-line-aligned row, picks sum the rows.
//! * [`hash`] computes the request hash from a route's `hash_policy` list, as Envoy does.
//!
//! * [`breaker`] holds circuit-breaker thresholds and the resource counts that keep them exact
//!   across workers.
//! * [`health`] and [`outlier`] hold Envoy's host health flags, the active health check
//!   state machine of one host and the outlier detector of one cluster, for the control
//!   thread to drive.
//!
//! Time arrives as `now: Instant` and randomness as a seed, so every decision replays.
//!
//! # Example
//! ```
//! use std::time::Instant;
//! use sluice_lb::{BuildParams, ClusterLb, HostDesc, LbConfig, LbPolicy, PickContext, WorkerLb};
//!
//! // Control thread: build the shared LB for a snapshot.
//! let hosts = vec![
//!     HostDesc::new("127.0.9.1:8080".parse().unwrap()).with_weight(1),
//!     HostDesc::new("127.0.9.2:8080".parse().unwrap()).with_weight(3),
//!     HostDesc::new("127.0.9.3:8080".parse().unwrap()).with_weight(5),
//! ];
//! let config = LbConfig::with_policy(LbPolicy::LeastRequest(Default::default()));
//! let params = BuildParams { workers: 2, ..Default::default() };
//! let shared = ClusterLb::build(config, hosts, &params).expect("valid config");
//!
//! // Each worker: its own picker, seeded (no global RNG).
//! let mut lb = WorkerLb::new(shared.clone(), 0x5eed, 0);
//! let now = Instant::now(); // the proxy passes its cached loop time
//! let host = lb.pick(&PickContext::default(), now).expect("a healthy host");
//! let ticket = lb.begin(host); // request in flight (least request counts it)
//! // ... proxy the request to shared.host(host).address ...
//! lb.end(ticket);
//! println!("{}", shared.explain()); // what /lb_explain prints
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod active;
pub mod breaker;
mod cluster;
mod config;
mod edf;
mod error;
mod explain;
pub mod hash;
pub mod health;
mod host;
mod hostset;
mod maglev;
mod metadata;
pub mod outlier;
mod ring_hash;
mod rng;
mod worker;

pub use active::{ActiveRequests, ActiveTicket};
pub use cluster::{
    BuildParams, ClusterLb, HashTable, LbCore, LocalityRouting, LocalityWrr, SourceKind, Subsets,
};
pub use config::{
    CommonLbConfig, DEFAULT_MAGLEV_TABLE_SIZE, HashFunction, LbConfig, LbPolicy,
    LeastRequestConfig, LocalityLbConfig, MAX_MAGLEV_TABLE_SIZE, MAX_RING_SIZE, MaglevConfig,
    RingHashConfig, RoundRobinConfig, SelectionMethod, SelectorFallbackPolicy, SlowStartConfig,
    SubsetConfig, SubsetFallbackPolicy, SubsetSelector, ZoneAwareLbConfig, is_prime,
};
pub use edf::EdfScheduler;
pub use error::LbError;
pub use host::{Health, HostDesc, HostId, Locality};
pub use hostset::{
    Availability, HostSet, PriorityState, choose_priority, effective_locality_weight,
};
pub use maglev::MaglevTable;
pub use metadata::{MetaValue, MetadataMatch};
pub use ring_hash::Ring;
pub use rng::SplitMix64;
pub use worker::{PickContext, WorkerLb};
