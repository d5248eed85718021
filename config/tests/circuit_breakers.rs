//! A cluster's `circuit_breakers` lowers to `sluice_lb::breaker::CircuitBreakers` with Envoy's
//! defaults, and a route's `priority` to the thresholds it is held to.

use sluice_config::*;
use sluice_lb::breaker::{CircuitBreakers, Priority, RetryBudget, Thresholds};

fn load(clusters: &str, route_extra: &str) -> Result<Loaded, ConfigErrors> {
    let text = format!(
        r#"
static_resources:
  listeners:
  - name: l
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: 10000 }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: t
          route_config:
            virtual_hosts:
            - name: v
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: c {route_extra} }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: c
    load_assignment:
      cluster_name: c
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: 8080 }} }} }}
{clusters}
"#
    );
    load_str(&text, "cb.yaml", Format::Yaml)
}

fn breakers(loaded: &Loaded) -> &CircuitBreakers {
    &loaded.bootstrap.clusters[0].circuit_breakers
}

fn route_priority(loaded: &Loaded) -> Priority {
    let hcm = match &loaded.bootstrap.listeners[0].filter_chains[0].terminal {
        NetworkFilter::HttpConnectionManager(h) => h,
        other => panic!("hcm expected, found {other:?}"),
    };
    let route = &hcm.route_config.virtual_hosts[0].routes[0];
    match &route.action {
        RouteAction::Forward(f) => f.priority,
        other => panic!("a forward action expected, found {other:?}"),
    }
}

#[test]
fn absent_means_envoys_defaults() {
    let loaded = load("", "").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(*breakers(&loaded), CircuitBreakers::default());
    let d = breakers(&loaded).thresholds(Priority::Default);
    assert_eq!(
        (
            d.max_connections,
            d.max_pending_requests,
            d.max_requests,
            d.max_retries
        ),
        (1024, 1024, 1024, 3)
    );
    assert_eq!(d.max_connection_pools, None);
    assert_eq!(route_priority(&loaded), Priority::Default);
}

/// The seed writes `thresholds:` as one mapping; Envoy's JSON loader takes it as a list of one.
#[test]
fn seed_single_mapping_and_priorities() {
    let loaded = load(
        "    circuit_breakers:\n      thresholds:\n        max_connections: 1\n        max_pending_requests: 1\n        max_retries: 3\n",
        "",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let b = breakers(&loaded);
    assert_eq!(
        *b.thresholds(Priority::Default),
        Thresholds {
            max_connections: 1,
            max_pending_requests: 1,
            max_retries: 3,
            ..Thresholds::default()
        }
    );
    assert_eq!(*b.thresholds(Priority::High), Thresholds::default());
}

#[test]
fn every_field_and_first_entry_per_priority_wins() {
    let loaded = load(
        r#"    circuit_breakers:
      thresholds:
      - priority: HIGH
        max_connections: 7
        max_pending_requests: 8
        max_requests: 9
        max_retries: 10
        track_remaining: true
        max_connection_pools: 11
        retry_budget: { budget_percent: { value: 25 }, min_retry_concurrency: 2 }
      - priority: HIGH
        max_connections: 99
      - max_requests: 5
      per_host_thresholds:
      - max_connections: 2
      - priority: HIGH
        max_connections: 4
"#,
        ", priority: HIGH",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let b = breakers(&loaded);
    assert_eq!(
        *b.thresholds(Priority::High),
        Thresholds {
            max_connections: 7,
            max_pending_requests: 8,
            max_requests: 9,
            max_retries: 10,
            retry_budget: Some(RetryBudget {
                budget_percent: 25.0,
                min_retry_concurrency: 2
            }),
            track_remaining: true,
            max_connection_pools: Some(11),
        }
    );
    assert_eq!(b.thresholds(Priority::Default).max_requests, 5);
    assert_eq!(b.per_host_max_connections(Priority::Default), Some(2));
    assert_eq!(b.per_host_max_connections(Priority::High), Some(4));
    assert_eq!(route_priority(&loaded), Priority::High);
}

#[test]
fn a_retry_budget_with_nothing_written_takes_envoys_defaults() {
    let loaded = load(
        "    circuit_breakers: { thresholds: [{ retry_budget: {} }] }\n",
        "",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        breakers(&loaded).thresholds(Priority::Default).retry_budget,
        Some(RetryBudget {
            budget_percent: 20.0,
            min_retry_concurrency: 3
        })
    );
}

#[test]
fn refusals_name_the_field() {
    let cases = [
        (
            "    circuit_breakers: { thresholds: [{ priority: LOW }] }\n",
            "",
            "circuit_breakers.thresholds[0].priority",
        ),
        (
            "    circuit_breakers: { thresholds: [{ retry_budget: { budget_interval: 1s } }] }\n",
            "",
            "retry_budget.budget_interval: `budget_interval` is an Envoy field that Sluice does not support yet",
        ),
        (
            "    circuit_breakers: { per_host_thresholds: [{ max_pending_requests: 1 }] }\n",
            "",
            "per_host_thresholds[0].max_pending_requests",
        ),
        (
            "    circuit_breakers: { thresholds: [{ max_connections: -1 }] }\n",
            "",
            "thresholds[0].max_connections",
        ),
        ("", ", priority: URGENT", "route.priority"),
    ];
    for (clusters, route, want) in cases {
        let err = load(clusters, route)
            .err()
            .unwrap_or_else(|| panic!("{want}: loaded"));
        let text = err.to_string();
        assert!(text.contains(want), "{want}\n{text}");
    }
}
