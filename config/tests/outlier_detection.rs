//! A cluster's `outlier_detection` (Envoy's `config.cluster.v3.OutlierDetection`) lowers to
//! `Cluster.outlier_detection` with Envoy's defaults, and is refused where Envoy refuses it.

use std::time::Duration;

use sluice_config::*;

const HEAD: &str = "static_resources:\n  clusters:\n  - name: c\n    outlier_detection:\n";

fn load(body: &str) -> Result<Loaded, ConfigErrors> {
    load_str(&format!("{HEAD}{body}"), "od.yaml", Format::Yaml)
}

fn detection(body: &str) -> OutlierDetection {
    let loaded = load(body).unwrap_or_else(|e| panic!("{e}"));
    loaded.bootstrap.clusters[0]
        .outlier_detection
        .clone()
        .expect("outlier detection")
}

fn refused(body: &str) -> Vec<String> {
    load(body)
        .expect_err("refused")
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

#[test]
fn the_seed_form_fills_every_default() {
    let od = detection(
        "      consecutive_5xx: 3\n      base_ejection_time: 10s\n      max_ejection_percent: 10\n",
    );
    assert_eq!(
        od,
        OutlierDetection {
            consecutive_5xx: 3,
            interval: s(10),
            base_ejection_time: s(10),
            max_ejection_percent: 10,
            enforcing_consecutive_5xx: 100,
            enforcing_success_rate: 100,
            success_rate_minimum_hosts: 5,
            success_rate_request_volume: 100,
            success_rate_stdev_factor: 1900,
            consecutive_gateway_failure: 5,
            enforcing_consecutive_gateway_failure: 0,
            split_external_local_origin_errors: false,
            consecutive_local_origin_failure: 5,
            enforcing_consecutive_local_origin_failure: 100,
            enforcing_local_origin_success_rate: 100,
            failure_percentage_threshold: 85,
            enforcing_failure_percentage: 0,
            enforcing_failure_percentage_local_origin: 0,
            failure_percentage_minimum_hosts: 5,
            failure_percentage_request_volume: 50,
            max_ejection_time: s(300),
            max_ejection_time_jitter: Duration::ZERO,
            successful_active_health_check_uneject_host: true,
            always_eject_one_host: false,
            loc: Loc { line: 5, column: 7 },
        }
    );
    let loaded = load("      {}\n").expect("an empty detector loads");
    assert_eq!(
        loaded.bootstrap.clusters[0]
            .outlier_detection
            .as_ref()
            .map(|o| o.consecutive_5xx),
        Some(5)
    );
    let loaded = load_str(
        "static_resources:\n  clusters:\n  - name: c\n",
        "od.yaml",
        Format::Yaml,
    )
    .expect("loads");
    assert!(loaded.bootstrap.clusters[0].outlier_detection.is_none());
}

#[test]
fn every_field_overrides_its_default() {
    let od = detection(
        "      consecutive_5xx: 1
      interval: 2s
      base_ejection_time: 3s
      max_ejection_percent: 4
      enforcing_consecutive_5xx: 5
      enforcing_success_rate: 6
      success_rate_minimum_hosts: 7
      success_rate_request_volume: 8
      success_rate_stdev_factor: 9
      consecutive_gateway_failure: 10
      enforcing_consecutive_gateway_failure: 11
      split_external_local_origin_errors: true
      consecutive_local_origin_failure: 12
      enforcing_consecutive_local_origin_failure: 13
      enforcing_local_origin_success_rate: 14
      failure_percentage_threshold: 15
      enforcing_failure_percentage: 16
      enforcing_failure_percentage_local_origin: 17
      failure_percentage_minimum_hosts: 18
      failure_percentage_request_volume: 19
      max_ejection_time: 20s
      max_ejection_time_jitter: 21s
      successful_active_health_check_uneject_host: false
      always_eject_one_host: true
",
    );
    let got = [
        od.consecutive_5xx,
        od.max_ejection_percent,
        od.enforcing_consecutive_5xx,
        od.enforcing_success_rate,
        od.success_rate_minimum_hosts,
        od.success_rate_request_volume,
        od.success_rate_stdev_factor,
        od.consecutive_gateway_failure,
        od.enforcing_consecutive_gateway_failure,
        od.consecutive_local_origin_failure,
        od.enforcing_consecutive_local_origin_failure,
        od.enforcing_local_origin_success_rate,
        od.failure_percentage_threshold,
        od.enforcing_failure_percentage,
        od.enforcing_failure_percentage_local_origin,
        od.failure_percentage_minimum_hosts,
        od.failure_percentage_request_volume,
    ];
    assert_eq!(
        got,
        [1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    );
    assert_eq!(
        (
            od.interval,
            od.base_ejection_time,
            od.max_ejection_time,
            od.max_ejection_time_jitter
        ),
        (s(2), s(3), s(20), s(21))
    );
    assert!(od.split_external_local_origin_errors);
    assert!(!od.successful_active_health_check_uneject_host);
    assert!(od.always_eject_one_host);
}

#[test]
fn max_ejection_time_defaults_to_the_base_when_the_base_is_longer() {
    let od = detection("      base_ejection_time: 600s\n");
    assert_eq!(od.max_ejection_time, s(600));
}

#[test]
fn envoys_limits_are_enforced_with_the_fields_position() {
    const P: &str = "static_resources.clusters[0].outlier_detection";
    assert_eq!(
        refused("      base_ejection_time: 60s\n      max_ejection_time: 30s\n"),
        [format!(
            "od.yaml:6:26: {P}.max_ejection_time: outlier detector's max_ejection_time cannot be smaller than base_ejection_time"
        )]
    );
    let over = refused("      enforcing_consecutive_5xx: 101\n");
    assert_eq!(over.len(), 1);
    assert!(
        over[0].starts_with(&format!("od.yaml:5:34: {P}.enforcing_consecutive_5xx:")),
        "{over:?}"
    );
    let zero = refused("      interval: 0s\n");
    assert_eq!(
        zero,
        [format!(
            "od.yaml:5:17: {P}.interval: `interval` must be greater than 0"
        )]
    );
    let monitors = refused("      monitors: []\n");
    assert!(
        monitors[0].contains(&format!("{P}.monitors"))
            && monitors[0].contains("does not support yet"),
        "{monitors:?}"
    );
    let degraded = refused("      detect_degraded_hosts: true\n");
    assert!(degraded[0].contains("does not support yet"), "{degraded:?}");
}
