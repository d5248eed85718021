//! Properties of the health check and outlier detection state machines, over random result
//! sequences (proptest; failures print the sequence that broke them).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use sluice_lb::health::{CheckSession, CheckTiming, FailureType, HealthFlags, Transition};
use sluice_lb::outlier::{Detector, OutlierConfig, Report};

fn arb_report() -> impl Strategy<Value = Report> {
    prop_oneof![
        (100u16..600).prop_map(Report::Status),
        Just(Report::Status(200)),
        Just(Report::Status(503)),
        Just(Report::ConnectFailed),
        (500u16..505).prop_map(Report::Timeout),
        Just(Report::ConnectSuccess),
        Just(Report::ConnectSuccessFinal),
        Just(Report::RequestFailed),
        Just(Report::RequestSuccess),
    ]
}

/// One step of a run: a result for a host, or an interval tick.
fn arb_step(hosts: u32) -> impl Strategy<Value = Option<(u32, Report)>> {
    prop_oneof![
        1 => Just(None),
        20 => (0..hosts, arb_report()).prop_map(Some),
    ]
}

proptest! {
    #[test]
    fn outlier_ejections_stay_within_max_ejection_percent_and_the_gauge_counts_them(
        hosts in 1u32..12,
        max_percent in 0u32..=100,
        always_one in any::<bool>(),
        split in any::<bool>(),
        seed in any::<u64>(),
        steps in prop::collection::vec(arb_step(12), 0..400),
    ) {
        let config = OutlierConfig {
            max_ejection_percent: max_percent,
            always_eject_one_host: always_one,
            split_external_local_origin_errors: split,
            consecutive_5xx: 3,
            consecutive_local_origin_failure: 3,
            success_rate_minimum_hosts: 2,
            success_rate_request_volume: 5,
            failure_percentage_minimum_hosts: 2,
            failure_percentage_request_volume: 5,
            enforcing_failure_percentage: 50,
            ..OutlierConfig::default()
        };
        let mut d = Detector::new(config, 0..hosts, false, seed);
        let mut now = Instant::now();
        for step in steps {
            match step {
                Some((h, r)) => { d.report(&(h % hosts), r, now); }
                None => {
                    now += Duration::from_secs(10);
                    d.tick(now);
                }
            }
            let ejected = d.ejected().count() as u64;
            prop_assert_eq!(d.stats().ejections_active, ejected);
            let within = 100 * ejected <= u64::from(max_percent) * u64::from(hosts);
            prop_assert!(within || (always_one && ejected == 1), "{} of {} ejected", ejected, hosts);
            prop_assert!(d.stats().ejections_enforced_total <= d.stats().ejections_detected_consecutive_5xx
                + d.stats().ejections_detected_consecutive_gateway_failure
                + d.stats().ejections_detected_consecutive_local_origin_failure
                + d.stats().ejections_detected_success_rate
                + d.stats().ejections_detected_local_origin_success_rate
                + d.stats().ejections_detected_failure_percentage
                + d.stats().ejections_detected_local_origin_failure_percentage);
        }
    }

    #[test]
    fn a_checked_host_changes_only_through_its_thresholds(
        unhealthy in 1u32..5,
        healthy in 1u32..5,
        results in prop::collection::vec(0u8..5, 1..200),
    ) {
        let timing = CheckTiming::new(Duration::from_secs(1), Duration::from_secs(5), unhealthy, healthy);
        let mut s = CheckSession::new();
        let mut flags = HealthFlags::FAILED_ACTIVE_HC;
        let mut healthy_gauge = 0i64;
        let (mut passes, mut misses) = (0u32, 0u32);
        for (i, r) in results.into_iter().enumerate() {
            let was_failed = flags.contains(HealthFlags::FAILED_ACTIVE_HC);
            let out = match r {
                0 => s.on_success(&timing, &mut flags, false),
                1 => s.on_failure(&timing, &mut flags, FailureType::Network, false),
                2 => s.on_failure(&timing, &mut flags, FailureType::NetworkTimeout, false),
                3 => s.on_failure(&timing, &mut flags, FailureType::Active, true),
                _ => s.on_failure(&timing, &mut flags, FailureType::Active, false),
            };
            healthy_gauge += out.stats.healthy;
            let failed = flags.contains(HealthFlags::FAILED_ACTIVE_HC);
            prop_assert_eq!(healthy_gauge, i64::from(!failed));
            if r == 0 { passes += 1; misses = 0; } else { misses += 1; passes = 0; }
            if was_failed && !failed {
                // Healthy again: on the first check, or after `healthy` passes in a row.
                prop_assert!(i == 0 || passes == healthy);
            }
            if !was_failed && failed {
                // Failed: by a decisive answer, or after `unhealthy` misses in a row.
                prop_assert!(r == 4 || misses == unhealthy, "r={} misses={}", r, misses);
            }
            if was_failed != failed {
                prop_assert_eq!(out.transition, Transition::Changed);
            }
        }
    }
}
