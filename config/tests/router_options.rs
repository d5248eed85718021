//! The router filter's options, the virtual host's attempt-count switches, per-request buffer
//! limits, endpoint metadata and the header value commands that read them lower to the model.

use sluice_config::access_log::TimeFormat;
use sluice_config::*;

mod support;

fn load() -> Loaded {
    support::ok_fixture("router-options.yaml")
}

use support::first_hcm as hcm;

#[test]
fn router_options() {
    let loaded = load();
    let HttpFilter::Router(router) = &hcm(&loaded.bootstrap).http_filters[0] else {
        panic!("router expected");
    };
    assert_eq!(
        *router,
        Router {
            dynamic_stats: false,
            suppress_envoy_headers: true,
            strict_check_headers: vec![StrictCheckHeader::MaxRetries, StrictCheckHeader::RetryOn],
            respect_expected_rq_timeout: true,
            suppress_grpc_request_failure_code_stats: true,
        }
    );
    assert_eq!(StrictCheckHeader::RetryOn.name(), "x-envoy-retry-on");
}

#[test]
fn a_router_without_options_takes_envoys_defaults() {
    let defaults = Router::default();
    assert!(defaults.dynamic_stats);
    assert!(!defaults.suppress_envoy_headers && !defaults.respect_expected_rq_timeout);
    assert!(defaults.strict_check_headers.is_empty());
}

#[test]
fn attempt_counts_and_buffer_limits() {
    let loaded = load();
    let vh = &hcm(&loaded.bootstrap).route_config.virtual_hosts[0];
    assert!(vh.include_request_attempt_count && vh.include_attempt_count_in_response);
    assert_eq!(vh.per_request_buffer_limit_bytes, Some(4096));
    assert_eq!(vh.routes[0].per_request_buffer_limit_bytes, Some(0));
    assert_eq!(vh.routes[1].per_request_buffer_limit_bytes, None);
    // Envoy deprecated the field: accepted, with a warning at each place it is written.
    let deprecated = loaded
        .warnings
        .iter()
        .filter(|w| {
            w.message
                .contains("`per_request_buffer_limit_bytes` is deprecated")
        })
        .count();
    assert_eq!(deprecated, 2);
}

#[test]
fn header_commands_are_parsed_at_load() {
    let loaded = load();
    let add = &hcm(&loaded.bootstrap).route_config.virtual_hosts[0]
        .headers
        .response_add;
    assert!(matches!(
        add[0].parts.as_slice(),
        [HeaderValuePart::Command(
            HeaderCommand::StartTime(TimeFormat::Custom(_)),
            None
        )]
    ));
    assert_eq!(
        add[1].parts,
        [HeaderValuePart::Command(
            HeaderCommand::UpstreamMetadata {
                namespace: "com.acme".into(),
                path: vec!["placement".into(), "zone".into()],
            },
            None
        )]
    );
    assert_eq!(
        add[2].parts,
        [HeaderValuePart::Command(
            HeaderCommand::UpstreamMetadata {
                namespace: "com.acme".into(),
                path: vec!["shard".into()],
            },
            None
        )]
    );
    assert_eq!(
        add[3].parts,
        [
            HeaderValuePart::Command(HeaderCommand::UpstreamRemoteAddressWithoutPort, None),
            HeaderValuePart::Literal(":".into()),
            HeaderValuePart::Command(HeaderCommand::UpstreamRemotePort, None),
        ]
    );
    // The legacy JSON-array form loads with a warning pointing at the colon form.
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("legacy form") && w.path.ends_with("[2].header.value"))
    );
}

#[test]
fn endpoint_metadata_keeps_every_namespace() {
    let loaded = load();
    let ep = &loaded.bootstrap.clusters[0].load_assignment.endpoints[0].lb_endpoints[0];
    assert_eq!(ep.lb_metadata["version"], serde_json::json!("v1"));
    assert_eq!(ep.metadata.len(), 2);
    assert_eq!(
        ep.metadata["com.acme"]["placement"]["zone"],
        serde_json::json!("eu-1")
    );
}
