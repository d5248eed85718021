//! Table tests pinning the router to Envoy's semantics: domains, every path specifier, every
//! condition, ordering, weighted clusters and rewrites.

use std::collections::HashMap;

use super::*;
use model::{HeaderMatchSpec as Spec, PathMatch, StringMatchKind as Kind};

// === helpers ===

/// Request headers as a list of (lower-case name, value), in order.
struct Headers(Vec<(&'static str, &'static str)>);

impl RequestHeaders for Headers {
    fn get_all<'s>(&'s self, name: &[u8], each: &mut dyn FnMut(&'s [u8])) {
        for (n, v) in &self.0 {
            if n.as_bytes() == name {
                each(v.as_bytes());
            }
        }
    }
}

#[derive(Default)]
struct Runtime {
    integers: HashMap<&'static str, u64>,
    fractions: HashMap<&'static str, (u64, u64)>,
}

impl RuntimeLookup for Runtime {
    fn integer(&self, key: &str) -> Option<u64> {
        self.integers.get(key).copied()
    }
    fn fractional_percent(&self, key: &str) -> Option<(u64, u64)> {
        self.fractions.get(key).copied()
    }
}

fn rt(integers: &[(&'static str, u64)]) -> Runtime {
    Runtime {
        integers: integers.iter().copied().collect(),
        fractions: HashMap::new(),
    }
}

fn matcher(path: PathMatch) -> model::RouteMatch {
    model::RouteMatch {
        path,
        case_sensitive: true,
        runtime_fraction: None,
        headers: Vec::new(),
        query_parameters: Vec::new(),
        grpc: false,
    }
}

/// A route answering `status` directly, so that a test can tell routes apart.
fn direct(m: model::RouteMatch, status: u16) -> model::Route {
    model::Route {
        cors: None,
        per_request_buffer_limit_bytes: None,
        typed_per_filter_config: Default::default(),
        name: String::new(),
        matcher: m,
        action: model::RouteAction::DirectResponse(model::DirectResponse { status, body: None }),
        headers: model::HeaderMutations::default(),
    }
}

fn forward_action(cluster: model::ClusterSpecifier) -> model::ForwardAction {
    model::ForwardAction {
        cluster,
        cluster_not_found_response_code: 503,
        timeout: std::time::Duration::from_secs(15),
        idle_timeout: None,
        max_stream_duration: None,
        prefix_rewrite: None,
        regex_rewrite: None,
        host_rewrite_literal: None,
        host_rewrite: None,
        retry_policy: None,
        request_mirror_policies: Vec::new(),
        upgrade_configs: Vec::new(),
        hash_policy: Vec::new(),
        priority: Default::default(),
        metadata_match: Default::default(),
    }
}

fn forward(m: model::RouteMatch, f: model::ForwardAction) -> model::Route {
    model::Route {
        cors: None,
        per_request_buffer_limit_bytes: None,
        typed_per_filter_config: Default::default(),
        name: String::new(),
        matcher: m,
        action: model::RouteAction::Forward(Box::new(f)),
        headers: model::HeaderMutations::default(),
    }
}

fn vhost(name: &str, domains: &[&str], routes: Vec<model::Route>) -> model::VirtualHost {
    model::VirtualHost {
        cors: None,
        include_request_attempt_count: false,
        include_attempt_count_in_response: false,
        per_request_buffer_limit_bytes: None,
        typed_per_filter_config: Default::default(),
        name: name.into(),
        domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        routes,
        headers: model::HeaderMutations::default(),
        retry_policy: None,
    }
}

/// Clusters `c0`, `c1`, ... resolve to their number.
fn cluster_index(name: &str) -> Option<usize> {
    name.strip_prefix('c')?.parse().ok()
}

fn table(routes: Vec<model::Route>) -> RouteTable {
    let rc = model::RouteConfiguration {
        name: "r".into(),
        virtual_hosts: vec![vhost("v", &["*"], routes)],
        headers: model::HeaderMutations::default(),
    };
    RouteTable::build(&rc, cluster_index).expect("table builds")
}

struct Req {
    method: &'static str,
    path: &'static str,
    headers: Headers,
    random: u64,
    runtime: Runtime,
}

fn get(path: &'static str) -> Req {
    Req {
        method: "GET",
        path,
        headers: Headers(Vec::new()),
        random: 0,
        runtime: Runtime::default(),
    }
}

impl Req {
    fn with(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.0.push((name, value));
        self
    }
    fn random(mut self, random: u64) -> Self {
        self.random = random;
        self
    }
    fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = runtime;
        self
    }
    fn view(&self) -> RouteRequest<'_> {
        RouteRequest {
            host: b"example.com",
            path: self.path.as_bytes(),
            method: self.method.as_bytes(),
            headers: &self.headers,
            random: self.random,
            runtime: &self.runtime,
        }
    }
}

/// The status of the direct route that answers, or `None`.
fn status(t: &RouteTable, req: &Req) -> Option<u16> {
    let routed = t.route(&req.view())?;
    match &routed.route.action {
        Action::Direct { status, .. } => Some(*status),
        _ => Some(0),
    }
}

/// Whether a single route built from `m` accepts `req`.
fn accepts(m: model::RouteMatch, req: &Req) -> bool {
    status(&table(vec![direct(m, 200)]), req).is_some()
}

// === virtual hosts ===

#[test]
fn domain_order_is_exact_suffix_prefix_any() {
    let rc = model::RouteConfiguration {
        name: "r".into(),
        virtual_hosts: vec![
            vhost("exact", &["www.ilinux.io", "api.example.com:8080"], vec![]),
            vhost("suffix", &["*.ilinux.io"], vec![]),
            vhost("longer_suffix", &["*.b.ilinux.io"], vec![]),
            vhost("prefix", &["ilinux.*"], vec![]),
            vhost("any", &["*"], vec![]),
        ],
        headers: model::HeaderMutations::default(),
    };
    let t = RouteTable::build(&rc, |_| Some(0)).unwrap();
    let name = |h: &str| t.virtual_host(h.as_bytes()).unwrap().name.clone();
    for (host, want) in [
        ("www.ilinux.io", "exact"),
        ("WWW.iLinux.IO", "exact"),
        // Envoy matches the Host with its port (strip_any_host_port removes it first).
        ("www.ilinux.io:80", "any"),
        ("api.example.com:8080", "exact"),
        ("api.example.com:9090", "any"),
        ("x.ilinux.io", "suffix"),
        ("a.b.ilinux.io", "longer_suffix"),
        ("ilinux.org", "prefix"),
        ("example.net", "any"),
    ] {
        assert_eq!(name(host), want, "host {host}");
    }
}

#[test]
fn strip_port_keeps_ipv6_literals() {
    assert_eq!(strip_port("a.b:80"), "a.b");
    assert_eq!(strip_port("[::1]:80"), "[::1]");
    assert_eq!(strip_port("::1"), "::1");
    assert_eq!(strip_port("host"), "host");
}

#[test]
fn table_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<RouteTable>();
}

// === path specifiers ===

#[test]
fn path_specifiers() {
    let prefix = |p: &str| PathMatch::Prefix(p.into());
    let exact = |p: &str| PathMatch::Path(p.into());
    let regex = |p: &str| PathMatch::SafeRegex(p.into());
    let sep = |p: &str| PathMatch::PathSeparatedPrefix(p.into());
    // (specifier, case_sensitive, method, target, matches)
    let cases = [
        (prefix("/a"), true, "GET", "/abc", true),
        (prefix("/a"), true, "GET", "/a?x=1", true),
        (prefix("/a"), true, "GET", "/b", false),
        (prefix(""), true, "GET", "/anything", true),
        // Prefixes see the path without its query, as Envoy's PathMatcher does.
        (prefix("/a?x"), true, "GET", "/a?x=1", false),
        (prefix("/API"), true, "GET", "/api/x", false),
        (prefix("/API"), false, "GET", "/api/x", true),
        (exact("/a"), true, "GET", "/a", true),
        (exact("/a"), true, "GET", "/a?x=1", true),
        (exact("/a"), true, "GET", "/a#frag", true),
        (exact("/a"), true, "GET", "/ab", false),
        (exact("/a"), true, "GET", "/a/", false),
        (exact("/A"), true, "GET", "/a", false),
        (exact("/A"), false, "GET", "/a", true),
        // Regexes must match the whole path without query.
        (regex("/v[0-9]+"), true, "GET", "/v12", true),
        (regex("/v[0-9]+"), true, "GET", "/v12?q=1", true),
        (regex("/v[0-9]+"), true, "GET", "/v12/x", false),
        (regex("/v[0-9]+"), true, "GET", "/x/v1", false),
        (regex("/v[0-9]+|/w"), true, "GET", "/w", true),
        // case_sensitive does not apply to regexes.
        (regex("/abc"), false, "GET", "/ABC", false),
        (sep("/api"), true, "GET", "/api", true),
        (sep("/api"), true, "GET", "/api/", true),
        (sep("/api"), true, "GET", "/api/x", true),
        (sep("/api"), true, "GET", "/api?x=1", true),
        (sep("/api"), true, "GET", "/apix", false),
        (sep("/api"), true, "GET", "/ap", false),
        (sep("/API"), false, "GET", "/api/x", true),
        (sep("/API"), true, "GET", "/api/x", false),
        // CONNECT is only for connect_matcher, which takes nothing else.
        (PathMatch::Connect, true, "CONNECT", "example.com:443", true),
        (PathMatch::Connect, true, "GET", "/", false),
        (prefix("/"), true, "CONNECT", "/", false),
        (prefix(""), true, "CONNECT", "example.com:443", false),
    ];
    for (path, case_sensitive, method, target, want) in cases {
        let m = model::RouteMatch {
            case_sensitive,
            ..matcher(path.clone())
        };
        let mut req = get(target);
        req.method = method;
        assert_eq!(
            accepts(m, &req),
            want,
            "{path:?} case_sensitive={case_sensitive} {method} {target}"
        );
    }
}

#[test]
fn first_match_in_config_order_wins() {
    let t = table(vec![
        direct(matcher(PathMatch::Prefix("/".into())), 1),
        direct(matcher(PathMatch::Path("/exact".into())), 2),
    ]);
    assert_eq!(status(&t, &get("/exact")), Some(1));
    let t = table(vec![
        direct(matcher(PathMatch::Path("/exact".into())), 2),
        direct(matcher(PathMatch::Prefix("/".into())), 1),
    ]);
    assert_eq!(status(&t, &get("/exact")), Some(2));
    assert_eq!(status(&t, &get("/other")), Some(1));
    // A route whose conditions fail hands over to the next one.
    let guarded = model::RouteMatch {
        headers: vec![header("x-a", Spec::Present(true))],
        ..matcher(PathMatch::Prefix("/".into()))
    };
    let t = table(vec![
        direct(guarded, 1),
        direct(matcher(PathMatch::Prefix("/".into())), 2),
    ]);
    assert_eq!(status(&t, &get("/").with("x-a", "1")), Some(1));
    assert_eq!(status(&t, &get("/")), Some(2));
}

#[test]
fn no_route_when_nothing_matches() {
    let t = table(vec![direct(matcher(PathMatch::Prefix("/a".into())), 1)]);
    assert_eq!(status(&t, &get("/b")), None);
}

// === headers ===

fn header(name: &str, spec: Spec) -> model::HeaderMatcher {
    model::HeaderMatcher {
        name: name.into(),
        spec,
        invert_match: false,
        treat_missing_header_as_empty: false,
    }
}

fn string(kind: Kind, ignore_case: bool) -> Spec {
    Spec::String(model::StringMatcher { kind, ignore_case })
}

#[test]
fn header_matchers() {
    let s = |v: &str| v.to_owned();
    // (spec, invert, treat_missing_as_empty, request values of x-h, matches)
    let cases: Vec<(Spec, bool, bool, Vec<&'static str>, bool)> = vec![
        (Spec::Exact(s("a")), false, false, vec!["a"], true),
        (Spec::Exact(s("a")), false, false, vec!["A"], false),
        (Spec::Exact(s("a")), false, false, vec![], false),
        // An empty exact_match accepts any value.
        (Spec::Exact(s("")), false, false, vec!["x"], true),
        // Several values are matched joined with ",".
        (Spec::Exact(s("a,b")), false, false, vec!["a", "b"], true),
        (Spec::Exact(s("a")), false, false, vec!["a", "b"], false),
        (
            Spec::SafeRegex(s("[0-9]+")),
            false,
            false,
            vec!["123"],
            true,
        ),
        (
            Spec::SafeRegex(s("[0-9]+")),
            false,
            false,
            vec!["123a"],
            false,
        ),
        (
            Spec::Range {
                start: -10,
                end: 10,
            },
            false,
            false,
            vec!["-10"],
            true,
        ),
        (
            Spec::Range {
                start: -10,
                end: 10,
            },
            false,
            false,
            vec!["9"],
            true,
        ),
        // The end is exclusive.
        (
            Spec::Range {
                start: -10,
                end: 10,
            },
            false,
            false,
            vec!["10"],
            false,
        ),
        (
            Spec::Range {
                start: -10,
                end: 10,
            },
            false,
            false,
            vec![" 5 "],
            true,
        ),
        (
            Spec::Range {
                start: -10,
                end: 10,
            },
            false,
            false,
            vec!["+5"],
            true,
        ),
        (
            Spec::Range {
                start: -10,
                end: 10,
            },
            false,
            false,
            vec!["5x"],
            false,
        ),
        (
            Spec::Range {
                start: -10,
                end: 10,
            },
            false,
            false,
            vec!["1.5"],
            false,
        ),
        (Spec::Present(true), false, false, vec!["x"], true),
        (Spec::Present(true), false, false, vec![], false),
        // present_match: false means "absent".
        (Spec::Present(false), false, false, vec![], true),
        (Spec::Present(false), false, false, vec!["x"], false),
        (Spec::Present(true), true, false, vec![], true),
        (Spec::Present(true), true, false, vec!["x"], false),
        (Spec::Present(false), true, false, vec![], false),
        (Spec::Present(false), true, false, vec!["x"], true),
        (Spec::Prefix(s("ab")), false, false, vec!["abc"], true),
        (Spec::Prefix(s("ab")), false, false, vec!["ABc"], false),
        (Spec::Suffix(s("bc")), false, false, vec!["abc"], true),
        (Spec::Contains(s("b")), false, false, vec!["abc"], true),
        (Spec::Contains(s("z")), false, false, vec!["abc"], false),
        (Spec::Exact(s("a")), true, false, vec!["b"], true),
        (Spec::Exact(s("a")), true, false, vec!["a"], false),
        // A missing header fails an inverted value matcher.
        (Spec::Exact(s("a")), true, false, vec![], false),
        // treat_missing_header_as_empty matches the empty string instead.
        (Spec::Exact(s("")), false, true, vec![], true),
        (Spec::Prefix(s("")), false, true, vec![], true),
        (Spec::Prefix(s("a")), false, true, vec![], false),
        (Spec::Exact(s("a")), true, true, vec![], true),
        (Spec::Present(true), false, true, vec![], true),
        (
            string(Kind::Exact(s("AbC")), true),
            false,
            false,
            vec!["abc"],
            true,
        ),
        (
            string(Kind::Exact(s("AbC")), false),
            false,
            false,
            vec!["abc"],
            false,
        ),
        (
            string(Kind::Prefix(s("AB")), true),
            false,
            false,
            vec!["abc"],
            true,
        ),
        (
            string(Kind::Suffix(s("BC")), true),
            false,
            false,
            vec!["abc"],
            true,
        ),
        (
            string(Kind::Suffix(s("BC")), false),
            false,
            false,
            vec!["abc"],
            false,
        ),
        (
            string(Kind::Contains(s("B")), true),
            false,
            false,
            vec!["abc"],
            true,
        ),
        (
            string(Kind::Contains(s("B")), false),
            false,
            false,
            vec!["abc"],
            false,
        ),
        (
            string(Kind::SafeRegex(s("a.c")), false),
            false,
            false,
            vec!["abc"],
            true,
        ),
        (
            string(Kind::SafeRegex(s("a")), false),
            false,
            false,
            vec!["abc"],
            false,
        ),
    ];
    for (spec, invert, missing_empty, values, want) in cases {
        let m = model::RouteMatch {
            headers: vec![model::HeaderMatcher {
                invert_match: invert,
                treat_missing_header_as_empty: missing_empty,
                ..header("x-h", spec.clone())
            }],
            ..matcher(PathMatch::Prefix("/".into()))
        };
        let mut req = get("/");
        for v in &values {
            req = req.with("x-h", v);
        }
        assert_eq!(
            accepts(m, &req),
            want,
            "{spec:?} invert={invert} missing_as_empty={missing_empty} values={values:?}"
        );
    }
}

#[test]
fn all_header_matchers_must_match() {
    let m = model::RouteMatch {
        headers: vec![
            header("x-a", Spec::Exact("1".into())),
            header("x-b", Spec::Exact("2".into())),
        ],
        ..matcher(PathMatch::Prefix("/".into()))
    };
    assert!(accepts(
        m.clone(),
        &get("/").with("x-a", "1").with("x-b", "2")
    ));
    assert!(!accepts(m, &get("/").with("x-a", "1")));
}

#[test]
fn pseudo_headers_come_from_the_request() {
    let on = |name: &str, value: &str| model::RouteMatch {
        headers: vec![header(name, Spec::Exact(value.into()))],
        ..matcher(PathMatch::Prefix("/".into()))
    };
    assert!(accepts(on(":method", "GET"), &get("/")));
    assert!(!accepts(on(":method", "POST"), &get("/")));
    assert!(accepts(on(":path", "/p?q"), &get("/p?q")));
    assert!(accepts(on(":authority", "example.com"), &get("/")));
}

#[test]
fn parse_i64_is_simple_atoi() {
    use super::matcher::parse_i64;
    for (s, want) in [
        ("0", Some(0)),
        ("-0", Some(0)),
        ("42", Some(42)),
        ("+42", Some(42)),
        ("  -7\t", Some(-7)),
        ("9223372036854775807", Some(i64::MAX)),
        ("-9223372036854775808", Some(i64::MIN)),
        ("9223372036854775808", None),
        ("", None),
        ("-", None),
        ("1 2", None),
        ("0x10", None),
    ] {
        assert_eq!(parse_i64(s.as_bytes()), want, "{s:?}");
    }
}

// === query parameters ===

#[test]
fn query_parameter_matchers() {
    let present = |name: &str| model::QueryParameterMatcher {
        name: name.into(),
        string_match: None,
    };
    let exact = |name: &str, v: &str, ignore_case: bool| model::QueryParameterMatcher {
        name: name.into(),
        string_match: Some(model::StringMatcher {
            kind: Kind::Exact(v.into()),
            ignore_case,
        }),
    };
    let cases = [
        (present("a"), "/p?a=1", true),
        (present("a"), "/p?a", true),
        (present("a"), "/p?b=1", false),
        (present("a"), "/p", false),
        // Names are exact and case-sensitive.
        (present("a"), "/p?A=1", false),
        (exact("a", "1", false), "/p?b=2&a=1", true),
        (exact("a", "1", false), "/p?a=2", false),
        (exact("a", "", false), "/p?a", true),
        (exact("a", "X", true), "/p?a=x", true),
        // Only the first occurrence of a repeated parameter counts.
        (exact("a", "1", false), "/p?a=1&a=2", true),
        (exact("a", "2", false), "/p?a=1&a=2", false),
        // No percent-decoding before matching.
        (exact("a", "x y", false), "/p?a=x%20y", false),
        (exact("a", "x%20y", false), "/p?a=x%20y", true),
        // The value runs to the next '&' and may hold '='.
        (exact("a", "b=c", false), "/p?a=b=c&d", true),
    ];
    for (q, target, want) in cases {
        let m = model::RouteMatch {
            query_parameters: vec![q.clone()],
            ..matcher(PathMatch::Prefix("/".into()))
        };
        assert_eq!(accepts(m, &get(target)), want, "{q:?} {target}");
    }
}

// === runtime fraction ===

fn fraction(numerator: u32, denominator: u32, key: &str) -> model::RouteMatch {
    model::RouteMatch {
        runtime_fraction: Some(model::RuntimeFraction {
            numerator,
            denominator,
            runtime_key: key.into(),
        }),
        ..matcher(PathMatch::Prefix("/".into()))
    }
}

#[test]
fn runtime_fraction_is_random_mod_denominator_below_numerator() {
    let cases = [
        // (numerator, denominator, random, matches)
        (50, 100, 49, true),
        (50, 100, 50, false),
        (50, 100, 149, true),
        (0, 100, 0, false),
        (100, 100, 99, true),
        (5, 10_000, 10_004, true),
        (5, 10_000, 10_005, false),
        (1, 1_000_000, 0, true),
        (1, 1_000_000, 1, false),
    ];
    for (n, d, random, want) in cases {
        assert_eq!(
            accepts(fraction(n, d, ""), &get("/").random(random)),
            want,
            "{n}/{d} random={random}"
        );
    }
}

#[test]
fn runtime_value_overrides_the_numerator_as_a_percentage() {
    let m = || fraction(5, 10_000, "rf");
    // An integer is a percentage: 30 means 30/100, whatever the default denominator.
    assert!(accepts(
        m(),
        &get("/").random(29).runtime(rt(&[("rf", 30)]))
    ));
    assert!(!accepts(
        m(),
        &get("/").random(30).runtime(rt(&[("rf", 30)]))
    ));
    assert!(!accepts(m(), &get("/").random(0).runtime(rt(&[("rf", 0)]))));
    // Above 100 always enables.
    assert!(accepts(
        m(),
        &get("/").random(99).runtime(rt(&[("rf", 101)]))
    ));
    // A FractionalPercent value replaces numerator and denominator.
    let mut r = Runtime::default();
    r.fractions.insert("rf", (1, 1_000_000));
    assert!(accepts(m(), &get("/").random(1_000_000).runtime(r)));
    // Another key, or no key, leaves the default.
    assert!(accepts(
        m(),
        &get("/").random(4).runtime(rt(&[("other", 0)]))
    ));
    assert!(!accepts(
        m(),
        &get("/").random(5).runtime(rt(&[("other", 100)]))
    ));
    assert!(accepts(
        fraction(5, 10_000, ""),
        &get("/").random(4).runtime(rt(&[("", 0)]))
    ));
}

#[test]
fn one_random_value_serves_every_route() {
    // With the same random value, two 50% routes either both pass or both fail: Envoy does
    // not draw a new value per route.
    let t = table(vec![
        direct(fraction(50, 100, ""), 1),
        direct(fraction(50, 100, ""), 2),
        direct(matcher(PathMatch::Prefix("/".into())), 3),
    ]);
    assert_eq!(status(&t, &get("/").random(10)), Some(1));
    assert_eq!(status(&t, &get("/").random(60)), Some(3));
}

// === gRPC ===

#[test]
fn grpc_matches_grpc_content_types_only() {
    let m = || model::RouteMatch {
        grpc: true,
        ..matcher(PathMatch::Prefix("/".into()))
    };
    for (ct, want) in [
        (Some("application/grpc"), true),
        (Some("application/grpc+proto"), true),
        (Some("application/grpc-web"), false),
        (Some("application/json"), false),
        (Some("Application/grpc"), false),
        (None, false),
    ] {
        let mut req = get("/");
        if let Some(ct) = ct {
            req = req.with("content-type", ct);
        }
        assert_eq!(accepts(m(), &req), want, "{ct:?}");
    }
}

// === clusters ===

fn weighted(weights: &[(&str, u32)], prefix: Option<&str>) -> model::ClusterSpecifier {
    model::ClusterSpecifier::Weighted(model::WeightedClusters {
        clusters: weights
            .iter()
            .map(|(name, weight)| model::ClusterWeight {
                name: (*name).into(),
                weight: *weight,
                metadata_match: Default::default(),
                headers: model::HeaderMutations::default(),
                host_rewrite_literal: None,
            })
            .collect(),
        total_weight: None,
        runtime_key_prefix: prefix.map(Into::into),
    })
}

fn chosen(t: &RouteTable, req: &Req) -> Option<usize> {
    t.route(&req.view())?.cluster?.index()
}

#[test]
fn cluster_names_resolve_to_indices() {
    let any = || matcher(PathMatch::Prefix("/".into()));
    let t = table(vec![forward(
        any(),
        forward_action(model::ClusterSpecifier::Cluster("c7".into())),
    )]);
    assert_eq!(chosen(&t, &get("/")), Some(7));
    for spec in [
        model::ClusterSpecifier::Cluster("missing".into()),
        weighted(&[("c1", 1), ("missing", 1)], None),
    ] {
        let rc = model::RouteConfiguration {
            name: "r".into(),
            virtual_hosts: vec![vhost(
                "v",
                &["*"],
                vec![forward(any(), forward_action(spec))],
            )],
            headers: model::HeaderMutations::default(),
        };
        let err = RouteTable::build(&rc, cluster_index).unwrap_err();
        assert!(
            matches!(err, BuildError::UnknownCluster { ref cluster, .. } if cluster == "missing")
        );
    }
    let mut f = forward_action(model::ClusterSpecifier::Cluster("c1".into()));
    f.request_mirror_policies.push(model::MirrorPolicy {
        cluster: model::MirrorCluster::Name("missing".into()),
        runtime_fraction: None,
        keep_host: false,
    });
    let rc = model::RouteConfiguration {
        name: "r".into(),
        virtual_hosts: vec![vhost("v", &["*"], vec![forward(any(), f)])],
        headers: model::HeaderMutations::default(),
    };
    assert!(RouteTable::build(&rc, cluster_index).is_err());
}

#[test]
fn weighted_choice_walks_cumulative_weights() {
    let any = || matcher(PathMatch::Prefix("/".into()));
    let t = table(vec![forward(
        any(),
        forward_action(weighted(&[("c0", 10), ("c1", 0), ("c2", 30)], None)),
    )]);
    // [0, 10) -> c0, the zero-weight c1 never, [10, 40) -> c2; random is taken modulo 40.
    for (random, want) in [(0, 0), (9, 0), (10, 2), (39, 2), (40, 0), (49, 0), (50, 2)] {
        assert_eq!(
            chosen(&t, &get("/").random(random)),
            Some(want),
            "random {random}"
        );
    }
}

#[test]
fn weighted_runtime_overrides() {
    let any = || matcher(PathMatch::Prefix("/".into()));
    let t = table(vec![
        forward(
            any(),
            forward_action(weighted(&[("c0", 50), ("c1", 50)], Some("w"))),
        ),
        direct(any(), 404),
    ]);
    // Without runtime values the configured weights apply.
    assert_eq!(chosen(&t, &get("/").random(49)), Some(0));
    assert_eq!(chosen(&t, &get("/").random(50)), Some(1));
    // `w.c0 = 0` sends everything to c1; the total is recomputed (50).
    let r = || rt(&[("w.c0", 0)]);
    assert_eq!(chosen(&t, &get("/").random(0).runtime(r())), Some(1));
    assert_eq!(chosen(&t, &get("/").random(49).runtime(r())), Some(1));
    // Overrides change the intervals: c0 gets [0, 1), c1 [1, 100).
    let r = || rt(&[("w.c0", 1), ("w.c1", 99)]);
    assert_eq!(chosen(&t, &get("/").random(100).runtime(r())), Some(0));
    assert_eq!(chosen(&t, &get("/").random(101).runtime(r())), Some(1));
    // A total of zero after overrides yields no route entry: the next route answers.
    let req = get("/").runtime(rt(&[("w.c0", 0), ("w.c1", 0)]));
    assert_eq!(status(&t, &req), Some(404));
    // So does a total beyond u32::MAX.
    let req = get("/").runtime(rt(&[("w.c0", u64::from(u32::MAX)), ("w.c1", 1)]));
    assert_eq!(status(&t, &req), Some(404));
}

#[test]
fn weighted_total_must_be_positive_at_build() {
    let rc = model::RouteConfiguration {
        name: "r".into(),
        virtual_hosts: vec![vhost(
            "v",
            &["*"],
            vec![forward(
                matcher(PathMatch::Prefix("/".into())),
                forward_action(weighted(&[("c0", 0), ("c1", 0)], None)),
            )],
        )],
        headers: model::HeaderMutations::default(),
    };
    let err = RouteTable::build(&rc, cluster_index).unwrap_err();
    assert!(matches!(err, BuildError::TotalWeight { total: 0, .. }));
}

#[test]
fn cluster_header_is_read_per_request() {
    let t = table(vec![forward(
        matcher(PathMatch::Prefix("/".into())),
        forward_action(model::ClusterSpecifier::Header("X-Cluster".into())),
    )]);
    let value = |req: &Req| match t.route(&req.view()).unwrap().cluster {
        Some(ClusterChoice::Header { name, value }) => {
            assert_eq!(name, "x-cluster");
            value.map(<[u8]>::to_vec)
        }
        other => panic!("unexpected {other:?}"),
    };
    // Only the first value counts.
    let req = get("/").with("x-cluster", "c3").with("x-cluster", "c4");
    assert_eq!(value(&req), Some(b"c3".to_vec()));
    assert_eq!(value(&get("/")), None);
}

// === rewrites ===

fn rewrite_table(path: PathMatch, case_sensitive: bool, f: model::ForwardAction) -> RouteTable {
    let m = model::RouteMatch {
        case_sensitive,
        ..matcher(path)
    };
    table(vec![forward(m, f)])
}

fn rewritten(t: &RouteTable, target: &'static str) -> Option<String> {
    let req = get(target);
    let routed = t.route(&req.view()).expect("route matches");
    let Action::Forward(f) = &routed.route.action else {
        panic!("forward route")
    };
    f.rewrite_path(target.as_bytes(), routed.matched_len)
        .map(|p| String::from_utf8(p).unwrap())
}

#[test]
fn prefix_rewrite_replaces_the_matched_part() {
    let with = |p: &str| model::ForwardAction {
        prefix_rewrite: Some(p.into()),
        ..forward_action(model::ClusterSpecifier::Cluster("c0".into()))
    };
    let cases = [
        (
            PathMatch::Prefix("/api/".into()),
            true,
            "/",
            "/api/v1?x=1",
            "/v1?x=1",
        ),
        (
            PathMatch::Prefix("/api".into()),
            true,
            "/new",
            "/api/v1",
            "/new/v1",
        ),
        (
            PathMatch::Prefix("/API".into()),
            false,
            "/x",
            "/api/v1",
            "/x/v1",
        ),
        (PathMatch::Path("/a".into()), true, "/b", "/a?q", "/b?q"),
        (
            PathMatch::PathSeparatedPrefix("/api".into()),
            true,
            "/svc",
            "/api/v1",
            "/svc/v1",
        ),
        (
            PathMatch::PathSeparatedPrefix("/api".into()),
            true,
            "/svc",
            "/api?q",
            "/svc?q",
        ),
        // For a regex route the whole path (not the query) is the matched part.
        (
            PathMatch::SafeRegex("/v[0-9]".into()),
            true,
            "/new",
            "/v1?q",
            "/new?q",
        ),
    ];
    for (path, cs, rewrite, target, want) in cases {
        let t = rewrite_table(path.clone(), cs, with(rewrite));
        assert_eq!(
            rewritten(&t, target).as_deref(),
            Some(want),
            "{path:?} {target}"
        );
    }
    // An empty prefix_rewrite is no rewrite, as in Envoy.
    let t = rewrite_table(PathMatch::Prefix("/a".into()), true, with(""));
    assert_eq!(rewritten(&t, "/a/b"), None);
}

#[test]
fn regex_rewrite_applies_to_the_path_and_keeps_the_query() {
    let with = |p: &str, s: &str| model::ForwardAction {
        regex_rewrite: Some((p.into(), s.into())),
        ..forward_action(model::ClusterSpecifier::Cluster("c0".into()))
    };
    let cases = [
        (
            "^/service/([^/]+)(/.*)$",
            r"\2/instance/\1",
            "/service/foo/v1/api?x=1",
            "/v1/api/instance/foo?x=1",
        ),
        ("one", "two", "/xxx/one/yyy/one/zzz", "/xxx/two/yyy/two/zzz"),
        // A '$' in the substitution is literal (RE2 has no '$' syntax).
        ("a", "$1", "/a", "/$1"),
        (r"/(\d+)", r"/n\\\1", "/42", r"/n\42"),
    ];
    for (pattern, substitution, target, want) in cases {
        let t = rewrite_table(
            PathMatch::Prefix("/".into()),
            true,
            with(pattern, substitution),
        );
        assert_eq!(
            rewritten(&t, target).as_deref(),
            Some(want),
            "{pattern} {target}"
        );
    }
    let plain = rewrite_table(
        PathMatch::Prefix("/".into()),
        true,
        forward_action(model::ClusterSpecifier::Cluster("c0".into())),
    );
    assert_eq!(rewritten(&plain, "/a"), None);
}

#[test]
fn host_rewrite_precedence() {
    let any = || PathMatch::Prefix("/".into());
    let host = |f: model::ForwardAction, req: Req| -> Option<String> {
        let t = rewrite_table(any(), true, f);
        let routed = t.route(&req.view()).unwrap();
        let Action::Forward(fwd) = &routed.route.action else {
            panic!("forward route")
        };
        let weighted = match routed.cluster {
            Some(ClusterChoice::Weighted(w)) => Some(w),
            _ => None,
        };
        fwd.rewrite_host(req.path.as_bytes(), &req.headers, weighted)
            .map(|h| String::from_utf8(h.into_owned()).unwrap())
    };
    let base = || forward_action(model::ClusterSpecifier::Cluster("c0".into()));
    assert_eq!(host(base(), get("/")), None);
    let literal = model::ForwardAction {
        host_rewrite_literal: Some("lit".into()),
        ..base()
    };
    assert_eq!(host(literal, get("/")).as_deref(), Some("lit"));
    let by_header = || model::ForwardAction {
        host_rewrite: Some(model::HostRewrite::Header("x-host".into())),
        ..base()
    };
    assert_eq!(
        host(
            by_header(),
            get("/").with("x-host", "h1").with("x-host", "h2")
        )
        .as_deref(),
        Some("h1")
    );
    assert_eq!(host(by_header(), get("/")), None);
    let by_regex = model::ForwardAction {
        host_rewrite: Some(model::HostRewrite::PathRegex(
            "^/(.+)/.+$".into(),
            r"\1".into(),
        )),
        ..base()
    };
    assert_eq!(
        host(by_regex, get("/envoyproxy.io/docs?q")).as_deref(),
        Some("envoyproxy.io")
    );
    // A weighted cluster's literal applies unless the route's own rewrite yields a host.
    let mut w = weighted(&[("c0", 1)], None);
    if let model::ClusterSpecifier::Weighted(ws) = &mut w {
        ws.clusters[0].host_rewrite_literal = Some("wlit".into());
    }
    let weighted_only = model::ForwardAction {
        cluster: w.clone(),
        ..base()
    };
    assert_eq!(host(weighted_only, get("/")).as_deref(), Some("wlit"));
    let weighted_and_header = model::ForwardAction {
        cluster: w,
        ..by_header()
    };
    assert_eq!(
        host(weighted_and_header.clone(), get("/").with("x-host", "h")).as_deref(),
        Some("h")
    );
    assert_eq!(host(weighted_and_header, get("/")).as_deref(), Some("wlit"));
    let auto = model::ForwardAction {
        host_rewrite: Some(model::HostRewrite::Auto),
        ..base()
    };
    let t = rewrite_table(any(), true, auto);
    let req = get("/");
    let Action::Forward(f) = &t.route(&req.view()).unwrap().route.action else {
        panic!("forward route")
    };
    assert!(f.auto_host_rewrite);
}

#[test]
fn substitution_translates_re2_syntax() {
    use super::action::re2_substitution;
    for (re2, rust) in [
        (r"\1", "${1}"),
        (r"a\0b", "a${0}b"),
        (r"\\", r"\"),
        ("$x", "$$x"),
        (r"\q", r"\q"),
    ] {
        assert_eq!(re2_substitution(re2), rust, "{re2}");
    }
}

#[test]
fn vhost_retry_policy_is_the_fallback() {
    let policy = |n: u32| model::RetryPolicy {
        retry_on: vec!["5xx".into()],
        num_retries: n,
        per_try_timeout: None,
        per_try_idle_timeout: None,
        previous_hosts: false,
        host_selection_retry_max_attempts: 1,
        retriable_status_codes: Vec::new(),
        base_interval: std::time::Duration::from_millis(25),
        max_interval: std::time::Duration::from_millis(250),
        retriable_headers: Vec::new(),
        retriable_request_headers: Vec::new(),
    };
    let own = model::ForwardAction {
        retry_policy: Some(policy(3)),
        ..forward_action(model::ClusterSpecifier::Cluster("c0".into()))
    };
    let mut vh = vhost(
        "v",
        &["*"],
        vec![
            forward(matcher(PathMatch::Prefix("/own".into())), own),
            forward(
                matcher(PathMatch::Prefix("/".into())),
                forward_action(model::ClusterSpecifier::Cluster("c0".into())),
            ),
        ],
    );
    vh.retry_policy = Some(policy(7));
    let rc = model::RouteConfiguration {
        name: "r".into(),
        virtual_hosts: vec![vh],
        headers: model::HeaderMutations::default(),
    };
    let t = RouteTable::build(&rc, cluster_index).unwrap();
    let retries = |path: &'static str| {
        let req = get(path);
        let routed = t.route(&req.view()).unwrap();
        assert_eq!(routed.vhost.name, "v");
        let Action::Forward(f) = &routed.route.action else {
            panic!("forward route")
        };
        f.retry_policy.as_ref().map(|p| p.num_retries)
    };
    assert_eq!(retries("/own"), Some(3));
    assert_eq!(retries("/other"), Some(7));
}

// === index ===

/// A small xorshift generator: the same tables and requests on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'x, T>(&mut self, items: &'x [T]) -> &'x T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

#[test]
fn index_agrees_with_the_linear_scan() {
    const PREFIXES: &[&str] = &["", "/", "/a", "/a/", "/ab", "/A", "/b/c", "/a/b/c/d"];
    const PATHS: &[&str] = &["/", "/a", "/a/", "/ab", "/A/b", "/b/c", "/x"];
    const REGEXES: &[&str] = &[
        "/a/[0-9]+",
        "/(a|b)/.*",
        ".*x",
        "(?i)/ab",
        "/[ab]",
        "/a/b/c/d",
    ];
    const TARGETS: &[&str] = &[
        "/",
        "/a",
        "/a/",
        "/A/",
        "/a/1",
        "/a/12?x=1",
        "/ab",
        "/AB",
        "/abc",
        "/b/c",
        "/b/cd",
        "/B/C",
        "/x",
        "/yx",
        "/a/b/c/d",
        "/a/b/c/d/e",
        "/a?q",
        "/A/b",
        "",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..50 {
        let n = INDEX_ROUTES_MIN + (rng.next() % 40) as usize;
        let routes = (0..n)
            .map(|i| {
                let path = match rng.next() % 5 {
                    0 => PathMatch::Prefix((*rng.pick(PREFIXES)).into()),
                    1 => PathMatch::Path((*rng.pick(PATHS)).into()),
                    2 => PathMatch::SafeRegex((*rng.pick(REGEXES)).into()),
                    3 => PathMatch::PathSeparatedPrefix((*rng.pick(PREFIXES)).into()),
                    _ => PathMatch::Connect,
                };
                let headers = if rng.next().is_multiple_of(3) {
                    vec![header("x-a", Spec::Present(true))]
                } else {
                    vec![]
                };
                let m = model::RouteMatch {
                    case_sensitive: !rng.next().is_multiple_of(3),
                    headers,
                    ..matcher(path)
                };
                direct(m, u16::try_from(i).unwrap())
            })
            .collect();
        let t = table(routes);
        let vh = &t.virtual_hosts()[0];
        assert!(vh.index.is_some());
        for target in TARGETS {
            for method in ["GET", "CONNECT"] {
                for with_header in [false, true] {
                    let mut req = get(target);
                    req.method = method;
                    if with_header {
                        req = req.with("x-a", "1");
                    }
                    let view = req.view();
                    let path = matcher::path_only(view.path);
                    let indexed = vh.route(&view).map(|r| r.index);
                    let scanned = vh.scan(&view, path, view.is_connect()).map(|r| r.index);
                    assert_eq!(
                        indexed, scanned,
                        "round {round} {method} {target} header={with_header}"
                    );
                }
            }
        }
    }
}

#[test]
fn regex_literal_prefixes() {
    use super::index::regex_prefixes as prefixes;
    // A small class expands into one literal per member.
    let lits = prefixes("/api/v[0-9]+/x").unwrap();
    assert_eq!(lits.len(), 10);
    assert!(lits.iter().all(|l| l.starts_with(b"/api/v")));
    assert_eq!(prefixes("/api/[a-z]+"), Some(vec![b"/api/".to_vec()]));
    assert_eq!(
        prefixes("/a|/b"),
        Some(vec![b"/a".to_vec(), b"/b".to_vec()])
    );
    // Nothing fixed at the start: a candidate for every request.
    assert!(prefixes(".*x").is_none_or(|l| l.iter().any(Vec::is_empty)));
    assert!(prefixes("[").is_none());
}
