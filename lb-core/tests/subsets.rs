//! Subset load balancing: the seed's 7-host example (10 subsets + default) and scenario 15.
// Test helpers outside #[test] fns unwrap freely: a panic is the test failing.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Instant;

use common::*;
use serde_json::json;
use sluice_lb::{
    ClusterLb, HostDesc, LbConfig, LbPolicy, MetadataMatch, PickContext, RoundRobinConfig,
    SelectorFallbackPolicy, SubsetConfig, SubsetFallbackPolicy, SubsetSelector,
};

/// e1..e7 of seed 001 section 4.16.2.
fn seven_hosts() -> Vec<HostDesc> {
    let rows = [
        ("prod", "1.0", "std", true),
        ("prod", "1.0", "std", false),
        ("prod", "1.1", "std", false),
        ("prod", "1.1", "std", false),
        ("prod", "1.0", "bigmem", false),
        ("prod", "1.1", "bigmem", false),
        ("dev", "1.2-pre", "std", false),
    ];
    rows.iter()
        .enumerate()
        .map(|(i, (stage, version, ty, xl))| {
            let mut h = host(i)
                .with_metadata("stage", json!(stage))
                .with_metadata("version", json!(version))
                .with_metadata("type", json!(ty));
            if *xl {
                h = h.with_metadata("xlarge", json!(true));
            }
            h
        })
        .collect()
}

fn seed_config(fallback: SubsetFallbackPolicy) -> LbConfig {
    LbConfig {
        policy: LbPolicy::RoundRobin(RoundRobinConfig::default()),
        subset: Some(SubsetConfig {
            fallback_policy: fallback,
            default_subset: [
                ("stage", json!("prod")),
                ("version", json!("1.0")),
                ("type", json!("std")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            subset_selectors: vec![
                SubsetSelector::keys(&["stage", "type"]),
                SubsetSelector::keys(&["stage", "version"]),
                SubsetSelector::keys(&["version"]),
                SubsetSelector::keys(&["xlarge", "version"]),
            ],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn picks(
    shared: &std::sync::Arc<ClusterLb>,
    mm: Option<&MetadataMatch>,
    n: usize,
) -> std::collections::BTreeSet<u32> {
    let mut lb = worker(shared, 9);
    let now = Instant::now();
    (0..n)
        .filter_map(|_| {
            lb.pick(
                &PickContext {
                    hash: None,
                    metadata_match: mm,
                },
                now,
            )
        })
        .collect()
}

#[test]
fn seed_example_makes_ten_subsets_plus_default() {
    let shared = build(
        seed_config(SubsetFallbackPolicy::DefaultSubset),
        seven_hosts(),
    );
    let subsets = shared.subsets().unwrap();
    assert_eq!(subsets.len(), 10);
    let text = shared.explain();
    let expect = [
        ("stage=\"prod\", type=\"std\"", vec![0, 1, 2, 3]),
        ("stage=\"prod\", type=\"bigmem\"", vec![4, 5]),
        ("stage=\"dev\", type=\"std\"", vec![6]),
        ("stage=\"prod\", version=\"1.0\"", vec![0, 1, 4]),
        ("stage=\"prod\", version=\"1.1\"", vec![2, 3, 5]),
        ("stage=\"dev\", version=\"1.2-pre\"", vec![6]),
        ("version=\"1.0\"", vec![0, 1, 4]),
        ("version=\"1.1\"", vec![2, 3, 5]),
        ("version=\"1.2-pre\"", vec![6]),
        ("version=\"1.0\", xlarge=true", vec![0]),
    ];
    for (label, members) in expect {
        let pairs: Vec<(String, serde_json::Value)> = label
            .split(", ")
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), serde_json::from_str(v).unwrap())
            })
            .collect();
        let pairs: Vec<(&str, serde_json::Value)> =
            pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let mm = MetadataMatch::from_pairs(&pairs);
        let got = picks(&shared, Some(&mm), 50);
        assert_eq!(got, members.into_iter().collect(), "subset {label}");
        assert!(text.contains(label), "explain lists {label}:\n{text}");
    }
    // The default subset: stage=prod, type=std, version=1.0 -> e1, e2 (no metadata_match -> fallback).
    assert_eq!(picks(&shared, None, 50), [0, 1].into_iter().collect());
    assert!(text.contains("default subset"), "{text}");
}

#[test]
fn fallback_policies() {
    let missing = MetadataMatch::from_pairs(&[("version", json!("9.9"))]);
    let none = build(seed_config(SubsetFallbackPolicy::NoFallback), seven_hosts());
    assert!(picks(&none, Some(&missing), 20).is_empty());
    assert!(picks(&none, None, 20).is_empty());
    let any = build(
        seed_config(SubsetFallbackPolicy::AnyEndpoint),
        seven_hosts(),
    );
    assert_eq!(picks(&any, Some(&missing), 100).len(), 7);
    let def = build(
        seed_config(SubsetFallbackPolicy::DefaultSubset),
        seven_hosts(),
    );
    assert_eq!(
        picks(&def, Some(&missing), 50),
        [0, 1].into_iter().collect()
    );
}

#[test]
fn keys_subset_selector_fallback_retries_with_fewer_keys() {
    let mut cfg = seed_config(SubsetFallbackPolicy::NoFallback);
    let sc = cfg.subset.as_mut().unwrap();
    sc.subset_selectors[1] = SubsetSelector {
        keys: vec!["stage".into(), "version".into()],
        fallback_policy: SelectorFallbackPolicy::KeysSubset,
        fallback_keys_subset: vec!["version".into()],
        single_host_per_subset: false,
    };
    let shared = build(cfg, seven_hosts());
    // stage=dev, version=1.0 has no hosts -> retry with version=1.0 only.
    let mm = MetadataMatch::from_pairs(&[("stage", json!("dev")), ("version", json!("1.0"))]);
    assert_eq!(
        picks(&shared, Some(&mm), 50),
        [0, 1, 4].into_iter().collect()
    );
}

#[test]
fn scenario_15_weighted_clusters_merge_metadata() {
    // Route metadata_match stage=prod merged with each weighted cluster's version: cluster wins.
    let shared = build(
        seed_config(SubsetFallbackPolicy::DefaultSubset),
        seven_hosts(),
    );
    let route = MetadataMatch::from_pairs(&[("stage", json!("prod")), ("version", json!("0"))]);
    let v10 = route.merge(&MetadataMatch::from_pairs(&[("version", json!("1.0"))]));
    let v11 = route.merge(&MetadataMatch::from_pairs(&[("version", json!("1.1"))]));
    assert_eq!(
        picks(&shared, Some(&v10), 30),
        [0, 1, 4].into_iter().collect()
    );
    assert_eq!(
        picks(&shared, Some(&v11), 30),
        [2, 3, 5].into_iter().collect()
    );
    let bigmem = MetadataMatch::from_pairs(&[("type", json!("bigmem")), ("stage", json!("prod"))]);
    assert_eq!(
        picks(&shared, Some(&bigmem), 30),
        [4, 5].into_iter().collect()
    );
    let pre = MetadataMatch::from_pairs(&[("version", json!("1.2-pre")), ("stage", json!("dev"))]);
    assert_eq!(picks(&shared, Some(&pre), 30), [6].into_iter().collect());
}

#[test]
fn numbers_compare_as_protobuf_doubles() {
    let hs = vec![
        host(0).with_metadata("v", json!(1)),
        host(1).with_metadata("v", json!("1")),
    ];
    let cfg = LbConfig {
        subset: Some(SubsetConfig {
            subset_selectors: vec![SubsetSelector::keys(&["v"])],
            ..Default::default()
        }),
        ..Default::default()
    };
    let shared = build(cfg, hs);
    let num = MetadataMatch::from_pairs(&[("v", json!(1.0))]);
    assert_eq!(picks(&shared, Some(&num), 10), [0].into_iter().collect());
    let s = MetadataMatch::from_pairs(&[("v", json!("1"))]);
    assert_eq!(picks(&shared, Some(&s), 10), [1].into_iter().collect());
}

#[test]
fn unhealthy_subset_members_follow_panic_inside_the_subset() {
    let mut hs = seven_hosts();
    hs[6] = unhealthy(hs[6].clone());
    let shared = build(seed_config(SubsetFallbackPolicy::AnyEndpoint), hs);
    // The only dev host is down: the subset is in panic and still returns it (Envoy semantics).
    let pre = MetadataMatch::from_pairs(&[("version", json!("1.2-pre"))]);
    assert_eq!(picks(&shared, Some(&pre), 10), [6].into_iter().collect());
}
