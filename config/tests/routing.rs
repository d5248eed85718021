//! The lowered model of `fixtures/ok/routing.yaml`: route matching, route actions and header
//! mutations land in the model with Envoy's defaults where the file is silent.

use std::path::Path;

use sluice_config::*;

fn routing() -> Loaded {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ok/routing.yaml");
    load_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn hcm(b: &Bootstrap) -> &HttpConnectionManager {
    let NetworkFilter::HttpConnectionManager(hcm) = &b.listeners[0].filter_chains[0].terminal
    else {
        panic!("hcm expected");
    };
    hcm
}

fn vhost<'a>(b: &'a Bootstrap, name: &str) -> &'a VirtualHost {
    hcm(b)
        .route_config
        .virtual_hosts
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no virtual host {name}"))
}

fn route<'a>(vh: &'a VirtualHost, name: &str) -> &'a Route {
    vh.routes
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no route {name}"))
}

fn string(kind: StringMatchKind, ignore_case: bool) -> StringMatcher {
    StringMatcher { kind, ignore_case }
}

fn header(name: &str, spec: HeaderMatchSpec) -> HeaderMatcher {
    HeaderMatcher {
        name: name.into(),
        spec,
        invert_match: false,
        treat_missing_header_as_empty: false,
    }
}

#[test]
fn path_specifiers() {
    let loaded = routing();
    let vh = vhost(&loaded.bootstrap, "matching");
    let regex = &route(vh, "regex").matcher;
    assert_eq!(regex.path, PathMatch::SafeRegex("^/service/.*blue$".into()));
    assert!(regex.case_sensitive);
    assert_eq!(regex.runtime_fraction, None);
    assert!(regex.headers.is_empty() && regex.query_parameters.is_empty());
    assert!(!regex.grpc);
    assert_eq!(
        route(vh, "separated").matcher.path,
        PathMatch::PathSeparatedPrefix("/api/v1".into())
    );
    assert_eq!(route(vh, "connect").matcher.path, PathMatch::Connect);
}

#[test]
fn header_matchers() {
    let loaded = routing();
    let vh = vhost(&loaded.bootstrap, "matching");
    let headers = &route(vh, "headers").matcher.headers;
    let mut prefix = header("x-prefix", HeaderMatchSpec::Prefix("pre".into()));
    prefix.invert_match = true;
    let mut suffix = header("x-suffix", HeaderMatchSpec::Suffix("suf".into()));
    suffix.treat_missing_header_as_empty = true;
    assert_eq!(
        headers,
        &[
            header("x-canary", HeaderMatchSpec::Exact("true".into())),
            header("x-regex", HeaderMatchSpec::SafeRegex("v[0-9]+".into())),
            header(
                "x-range",
                HeaderMatchSpec::Range {
                    start: -10,
                    end: 20
                }
            ),
            header("x-absent", HeaderMatchSpec::Present(false)),
            prefix,
            suffix,
            header("x-contains", HeaderMatchSpec::Contains("mid".into())),
            header(
                "x-string",
                HeaderMatchSpec::String(string(StringMatchKind::Exact("Exact".into()), true))
            ),
            header("x-present", HeaderMatchSpec::Present(true)),
        ]
    );
}

#[test]
fn query_parameter_matchers() {
    let loaded = routing();
    let vh = vhost(&loaded.bootstrap, "matching");
    let q = &route(vh, "query").matcher.query_parameters;
    let qp = |name: &str, m: Option<StringMatcher>| QueryParameterMatcher {
        name: name.into(),
        string_match: m,
    };
    assert_eq!(
        q,
        &[
            qp(
                "username",
                Some(string(StringMatchKind::Prefix("vip_".into()), false))
            ),
            qp("debug", None),
            qp("trace", None),
            qp(
                "re",
                Some(string(StringMatchKind::SafeRegex("[a-z]+".into()), false))
            ),
            qp(
                "s",
                Some(string(StringMatchKind::Suffix("x".into()), false))
            ),
            qp(
                "c",
                Some(string(StringMatchKind::Contains("y".into()), false))
            ),
        ]
    );
}

#[test]
fn runtime_fraction_and_grpc() {
    let loaded = routing();
    let vh = vhost(&loaded.bootstrap, "matching");
    let m = &route(vh, "fraction").matcher;
    assert_eq!(
        m.runtime_fraction,
        Some(RuntimeFraction {
            numerator: 25,
            denominator: 100,
            runtime_key: "routing.fraction".into(),
        })
    );
    assert!(m.grpc);
    let m = &route(vh, "fraction-million").matcher;
    assert!(!m.case_sensitive);
    assert_eq!(
        m.runtime_fraction,
        Some(RuntimeFraction {
            numerator: 5,
            denominator: 1_000_000,
            runtime_key: String::new(),
        })
    );
}
