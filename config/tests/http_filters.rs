//! The HTTP filters (fault, local rate limit, CORS) and their per-route configs lower to the
//! model with Envoy's defaults.

use std::time::Duration;

use sluice_config::*;

mod support;

use support::hcm;

fn load() -> Bootstrap {
    support::ok_fixture("http-filters.yaml").bootstrap
}

#[test]
fn filter_level_configs() {
    let b = load();
    let h = hcm(&b, "l");
    assert_eq!(h.http_filters.len(), 4);
    assert_eq!(h.http_filters[0].name(), Some("envoy.filters.http.cors"));
    let HttpFilter::Fault { name, config } = &h.http_filters[1] else {
        panic!("fault expected");
    };
    assert_eq!(name, "fault");
    assert_eq!(
        config.delay,
        Some(FaultDelay {
            kind: FaultDelayKind::Fixed(Duration::from_millis(200)),
            percentage: Fraction {
                numerator: 5000,
                denominator: 10_000
            },
        })
    );
    let abort = config.abort.as_ref().expect("abort");
    assert_eq!(abort.kind, FaultAbortKind::Header);
    assert_eq!(abort.response_body, "fault filter abort");
    assert_eq!(config.upstream_cluster.as_deref(), Some("c"));
    assert_eq!(config.downstream_nodes, ["n1", "n2"]);
    assert_eq!(config.max_active_faults, Some(10));
    assert_eq!(config.runtime.delay_percent, "my.delay");
    assert_eq!(
        config.runtime.abort_percent,
        "fault.http.abort.abort_percent"
    );
    assert!(config.disable_downstream_cluster_stats);

    let HttpFilter::LocalRateLimit { config: rl, .. } = &h.http_filters[2] else {
        panic!("local rate limit expected");
    };
    assert_eq!(rl.stat_prefix, "http_rl");
    assert_eq!(rl.status, 429);
    assert_eq!(
        rl.token_bucket,
        Some(TokenBucket {
            max_tokens: 10,
            tokens_per_fill: 5,
            fill_interval: Duration::from_secs(1)
        })
    );
    let enabled = rl.filter_enabled.as_ref().expect("enabled");
    assert_eq!(
        (enabled.numerator, enabled.runtime_key.as_str()),
        (100, "rl.enabled")
    );
    assert_eq!(rl.filter_enforced.as_ref().map(|f| f.numerator), Some(50));
    assert!(rl.per_downstream_connection);
    assert!(rl.enable_x_ratelimit_headers);
    assert!(rl.enable_retry_after_header);
    assert_eq!(rl.response_headers_to_add[0].key, "x-rl");
    assert_eq!(
        rl.request_headers_to_add_when_not_enforced[0].key,
        "x-limited"
    );
    assert_eq!(h.http_filters[3], HttpFilter::Router(Default::default()));
}

#[test]
fn per_route_configs() {
    let b = load();
    let vh = &hcm(&b, "l").route_config.virtual_hosts[0];
    let Some(FilterOverride::Cors(cors)) =
        vh.typed_per_filter_config.get("envoy.filters.http.cors")
    else {
        panic!("cors policy expected");
    };
    assert_eq!(cors.allow_origin_string_match.len(), 2);
    assert_eq!(cors.allow_methods, "GET, POST");
    assert_eq!(cors.max_age, "600");
    assert_eq!(cors.allow_credentials, Some(true));
    assert_eq!(cors.forward_not_matching_preflights, Some(false));
    assert_eq!(
        cors.shadow_enabled.as_ref().map(|s| s.runtime_key.as_str()),
        Some("cors.shadow")
    );
    let route = &vh.routes[0];
    let Some(FilterOverride::Fault(f)) = route.typed_per_filter_config.get("fault") else {
        panic!("fault override expected");
    };
    let abort = f.abort.as_ref().expect("abort");
    assert_eq!(abort.kind, FaultAbortKind::HttpStatus(503));
    assert_eq!(abort.response_body, "nope");
    let Some(FilterOverride::LocalRateLimit(rl)) = route.typed_per_filter_config.get("rl") else {
        panic!("rate limit override expected");
    };
    assert_eq!(rl.token_bucket.map(|t| t.max_tokens), Some(2));
    assert!(vh.routes[1].typed_per_filter_config.is_empty());
}

#[test]
fn legacy_cors_fields() {
    let b = load();
    let vh = &hcm(&b, "legacy").route_config.virtual_hosts[0];
    let vh_cors = vh.cors.as_ref().expect("virtual host cors");
    assert_eq!(vh_cors.allow_origin_string_match.len(), 1);
    assert!(vh_cors.filter_enabled.is_none());
    let route_cors = vh.routes[0].cors.as_ref().expect("route cors");
    assert_eq!(route_cors.allow_methods, "*");
}
