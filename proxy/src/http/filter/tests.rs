//! Decision logic of the filters, driven through `FilterChain` with an injected random value,
//! clock and runtime.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluice_config::model;

use super::*;

fn frac(numerator: u32) -> model::Fraction {
    model::Fraction {
        numerator,
        denominator: 100,
    }
}

fn fault(abort: Option<model::FaultAbortKind>, percent: u32) -> model::Fault {
    model::Fault {
        delay: None,
        abort: abort.map(|kind| model::FaultAbort {
            kind,
            percentage: frac(percent),
            response_body: "fault filter abort".to_owned(),
        }),
        upstream_cluster: None,
        headers: Vec::new(),
        downstream_nodes: Vec::new(),
        max_active_faults: None,
        runtime: model::FaultRuntimeKeys::default(),
        disable_downstream_cluster_stats: false,
    }
}

fn hcm(filters: Vec<model::HttpFilter>) -> model::HttpConnectionManager {
    let mut all = filters;
    all.push(model::HttpFilter::Router(Default::default()));
    model::HttpConnectionManager {
        header_options: model::HcmHeaderOptions::default(),
        access_log: Vec::new(),
        local_reply_config: None,
        upgrade_configs: Vec::new(),
        stat_prefix: "t".to_owned(),
        codec_type: model::CodecType::Auto,
        route_config: model::RouteConfiguration {
            name: String::new(),
            virtual_hosts: Vec::new(),
            headers: model::HeaderMutations::default(),
        },
        http_filters: all,
        use_remote_address: false,
        generate_request_id: true,
        server_name: "envoy".to_owned(),
        timeouts: model::HcmTimeouts::default(),
    }
}

struct Harness {
    chain: FilterChain,
    registry: Registry,
    shard: std::sync::Arc<Shard>,
    conn: ConnectionState,
}

impl Harness {
    fn new(h: &model::HttpConnectionManager) -> Self {
        let mut registry = Registry::new(1);
        let chain = FilterChain::build(h, &mut registry).expect("registry has room");
        let shard = registry.worker_shard(0);
        Harness {
            chain,
            registry,
            shard,
            conn: ConnectionState::new(),
        }
    }

    fn decode(
        &self,
        headers: &mut HeaderMap,
        method: &[u8],
        random: u64,
        now: Instant,
        runtime: Option<RuntimeLookup<'_>>,
    ) -> Decision {
        let mut cx = DecodeContext {
            headers,
            method,
            path: b"/",
            route: None,
            random,
            now,
            runtime,
            shard: &self.shard,
            connection: &self.conn,
        };
        block_on(self.chain.decode_headers(&mut cx))
    }

    fn stat(&self, name: &str) -> u64 {
        self.registry.value_of(name).unwrap_or(0)
    }
}

/// Runs a future that never waits (no delay configured) to completion.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime");
    rt.block_on(f)
}

fn status(d: &Decision) -> Option<u16> {
    match d {
        Decision::LocalReply { status, .. } | Decision::Respond { status, .. } => Some(*status),
        Decision::Continue => None,
    }
}

#[test]
fn fault_abort_percentage_follows_the_random_draw() {
    let h = hcm(vec![model::HttpFilter::Fault {
        name: "f".to_owned(),
        config: Box::new(fault(Some(model::FaultAbortKind::HttpStatus(503)), 30)),
    }]);
    let t = Harness::new(&h);
    let now = Instant::now();
    let hits = (0..2000u64)
        .filter(|r| status(&t.decode(&mut HeaderMap::new(), b"GET", *r, now, None)) == Some(503))
        .count();
    assert!((500..700).contains(&hits), "30% of 2000, got {hits}");
    assert_eq!(t.stat("http.t.fault.aborts_injected"), hits as u64);
    // Every fault ended with its request.
    assert_eq!(t.stat("http.t.fault.active_faults"), 0);
}

#[test]
fn fault_abort_body_and_zero_percent() {
    let h = hcm(vec![model::HttpFilter::Fault {
        name: "f".to_owned(),
        config: Box::new(fault(Some(model::FaultAbortKind::HttpStatus(418)), 100)),
    }]);
    let t = Harness::new(&h);
    let d = t.decode(&mut HeaderMap::new(), b"GET", 1, Instant::now(), None);
    let Decision::LocalReply { status, body, .. } = d else {
        panic!("abort expected");
    };
    assert_eq!((status, &body[..]), (418, &b"fault filter abort"[..]));

    let h = hcm(vec![model::HttpFilter::Fault {
        name: "f".to_owned(),
        config: Box::new(fault(Some(model::FaultAbortKind::HttpStatus(418)), 0)),
    }]);
    let t = Harness::new(&h);
    for r in 0..200 {
        assert!(matches!(
            t.decode(&mut HeaderMap::new(), b"GET", r, Instant::now(), None),
            Decision::Continue
        ));
    }
}

#[test]
fn header_abort_reads_the_status_and_caps_the_percentage() {
    let h = hcm(vec![model::HttpFilter::Fault {
        name: "f".to_owned(),
        config: Box::new(fault(Some(model::FaultAbortKind::Header), 100)),
    }]);
    let t = Harness::new(&h);
    let now = Instant::now();
    // No header: no abort.
    assert_eq!(
        status(&t.decode(&mut HeaderMap::new(), b"GET", 0, now, None)),
        None
    );
    let with = |v: &[u8], pct: Option<&[u8]>, r| {
        let mut hm = HeaderMap::new();
        hm.append(b"x-envoy-fault-abort-request", v);
        if let Some(p) = pct {
            hm.append(b"x-envoy-fault-abort-request-percentage", p);
        }
        status(&t.decode(&mut hm, b"GET", r, now, None))
    };
    assert_eq!(with(b"429", None, 0), Some(429));
    // Out of Envoy's 200..=599 range, or not a number: no abort.
    assert_eq!(with(b"199", None, 0), None);
    assert_eq!(with(b"600", None, 0), None);
    assert_eq!(with(b"x", None, 0), None);
    // The percentage header lowers the configured 100% to 0%.
    assert!((0..100).all(|r| with(b"503", Some(b"0"), r).is_none()));
}

#[test]
fn runtime_overrides_the_abort_percentage_and_status() {
    let h = hcm(vec![model::HttpFilter::Fault {
        name: "f".to_owned(),
        config: Box::new(fault(Some(model::FaultAbortKind::HttpStatus(503)), 100)),
    }]);
    let t = Harness::new(&h);
    let zero = |k: &str| (k == "fault.http.abort.abort_percent").then_some(0);
    let d = t.decode(
        &mut HeaderMap::new(),
        b"GET",
        3,
        Instant::now(),
        Some(&zero),
    );
    assert!(matches!(d, Decision::Continue));
    let status_key = |k: &str| (k == "fault.http.abort.http_status").then_some(500);
    let d = t.decode(
        &mut HeaderMap::new(),
        b"GET",
        3,
        Instant::now(),
        Some(&status_key),
    );
    assert_eq!(status(&d), Some(500));
}

#[test]
fn fault_matchers_gate_the_fault() {
    let mut f = fault(Some(model::FaultAbortKind::HttpStatus(503)), 100);
    f.downstream_nodes = vec!["n1".to_owned()];
    f.headers = vec![model::HeaderMatcher {
        name: "x-fault".to_owned(),
        spec: model::HeaderMatchSpec::Exact("yes".to_owned()),
        invert_match: false,
        treat_missing_header_as_empty: false,
    }];
    let h = hcm(vec![model::HttpFilter::Fault {
        name: "f".to_owned(),
        config: Box::new(f),
    }]);
    let t = Harness::new(&h);
    let now = Instant::now();
    let mut hm = HeaderMap::new();
    hm.append(b"x-fault", b"yes");
    assert_eq!(status(&t.decode(&mut hm, b"GET", 0, now, None)), None);
    hm.append(b"x-envoy-downstream-service-node", b"n1");
    assert_eq!(status(&t.decode(&mut hm, b"GET", 0, now, None)), Some(503));
    let mut other = HeaderMap::new();
    other.append(b"x-envoy-downstream-service-node", b"n1");
    other.append(b"x-fault", b"no");
    assert_eq!(status(&t.decode(&mut other, b"GET", 0, now, None)), None);
}

#[test]
fn max_active_faults_zero_overflows() {
    let mut f = fault(Some(model::FaultAbortKind::HttpStatus(503)), 100);
    f.max_active_faults = Some(0);
    let h = hcm(vec![model::HttpFilter::Fault {
        name: "f".to_owned(),
        config: Box::new(f),
    }]);
    let t = Harness::new(&h);
    let d = t.decode(&mut HeaderMap::new(), b"GET", 0, Instant::now(), None);
    assert!(matches!(d, Decision::Continue));
    assert_eq!(t.stat("http.t.fault.faults_overflow"), 1);
    assert_eq!(t.stat("http.t.fault.aborts_injected"), 0);
}

fn rate_limit(enforced: u32, per_connection: bool) -> model::LocalRateLimit {
    let all = |n| model::RuntimeFraction {
        numerator: n,
        denominator: 100,
        runtime_key: String::new(),
    };
    model::LocalRateLimit {
        stat_prefix: "rl".to_owned(),
        status: 429,
        token_bucket: Some(model::TokenBucket {
            max_tokens: 2,
            tokens_per_fill: 1,
            fill_interval: Duration::from_secs(1),
        }),
        filter_enabled: Some(all(100)),
        filter_enforced: Some(all(enforced)),
        request_headers_to_add_when_not_enforced: vec![model::HeaderValueOption {
            key: "x-limited".to_owned(),
            value: "1".to_owned(),
            parts: Vec::new(),
            append_action: model::AppendAction::OverwriteIfExistsOrAdd,
            keep_empty_value: false,
        }],
        response_headers_to_add: vec![model::HeaderValueOption {
            key: "x-rl".to_owned(),
            value: "yes".to_owned(),
            parts: Vec::new(),
            append_action: model::AppendAction::AppendIfExistsOrAdd,
            keep_empty_value: false,
        }],
        per_downstream_connection: per_connection,
        enable_x_ratelimit_headers: true,
        enable_retry_after_header: true,
    }
}

#[test]
fn rate_limit_enforces_then_refills() {
    let h = hcm(vec![model::HttpFilter::LocalRateLimit {
        name: "rl".to_owned(),
        config: Box::new(rate_limit(100, false)),
    }]);
    let t = Harness::new(&h);
    let now = Instant::now();
    for _ in 0..2 {
        assert!(matches!(
            t.decode(&mut HeaderMap::new(), b"GET", 0, now, None),
            Decision::Continue
        ));
    }
    let d = t.decode(&mut HeaderMap::new(), b"GET", 0, now, None);
    let Decision::LocalReply {
        status,
        body,
        headers,
    } = d
    else {
        panic!("429 expected");
    };
    assert_eq!((status, &body[..]), (429, &b"local_rate_limited"[..]));
    assert_eq!(headers.get(b"x-rl"), Some(&b"yes"[..]));
    assert_eq!(headers.get(b"retry-after"), Some(&b"1"[..]));
    assert_eq!(headers.get(b"x-ratelimit-limit"), Some(&b"2"[..]));
    assert_eq!(headers.get(b"x-ratelimit-remaining"), Some(&b"0"[..]));
    let later = now + Duration::from_secs(1);
    assert!(matches!(
        t.decode(&mut HeaderMap::new(), b"GET", 0, later, None),
        Decision::Continue
    ));
    assert_eq!(t.stat("rl.http_local_rate_limit.enabled"), 4);
    assert_eq!(t.stat("rl.http_local_rate_limit.ok"), 3);
    assert_eq!(t.stat("rl.http_local_rate_limit.rate_limited"), 1);
    assert_eq!(t.stat("rl.http_local_rate_limit.enforced"), 1);
}

#[test]
fn rate_limit_not_enforced_only_marks_the_request() {
    let h = hcm(vec![model::HttpFilter::LocalRateLimit {
        name: "rl".to_owned(),
        config: Box::new(rate_limit(0, false)),
    }]);
    let t = Harness::new(&h);
    let now = Instant::now();
    for _ in 0..2 {
        t.decode(&mut HeaderMap::new(), b"GET", 0, now, None);
    }
    let mut hm = HeaderMap::new();
    assert!(matches!(
        t.decode(&mut hm, b"GET", 0, now, None),
        Decision::Continue
    ));
    assert_eq!(hm.get(b"x-limited"), Some(&b"1"[..]));
    assert_eq!(t.stat("rl.http_local_rate_limit.rate_limited"), 1);
    assert_eq!(t.stat("rl.http_local_rate_limit.enforced"), 0);
}

#[test]
fn per_connection_buckets_are_separate() {
    let h = hcm(vec![model::HttpFilter::LocalRateLimit {
        name: "rl".to_owned(),
        config: Box::new(rate_limit(100, true)),
    }]);
    let mut t = Harness::new(&h);
    let now = Instant::now();
    for _ in 0..2 {
        t.decode(&mut HeaderMap::new(), b"GET", 0, now, None);
    }
    assert_eq!(
        status(&t.decode(&mut HeaderMap::new(), b"GET", 0, now, None)),
        Some(429)
    );
    t.conn = ConnectionState::new();
    assert_eq!(
        status(&t.decode(&mut HeaderMap::new(), b"GET", 0, now, None)),
        None
    );
}

#[test]
fn encode_sets_what_decode_left() {
    let h = hcm(vec![model::HttpFilter::LocalRateLimit {
        name: "rl".to_owned(),
        config: Box::new(rate_limit(100, false)),
    }]);
    let t = Harness::new(&h);
    t.decode(&mut HeaderMap::new(), b"GET", 0, Instant::now(), None);
    let mut resp = HeaderMap::new();
    t.chain.encode_headers(&mut EncodeContext {
        status: 200,
        headers: &mut resp,
        connection: &t.conn,
    });
    assert_eq!(resp.get(b"x-ratelimit-remaining"), Some(&b"1"[..]));
    assert_eq!(resp.get(b"x-ratelimit-reset"), Some(&b"0"[..]));
}

fn cors_policy() -> model::CorsPolicy {
    model::CorsPolicy {
        allow_origin_string_match: vec![model::StringMatcher {
            kind: model::StringMatchKind::Suffix(".example".to_owned()),
            ignore_case: true,
        }],
        allow_methods: "GET, PUT".to_owned(),
        allow_headers: "*".to_owned(),
        expose_headers: "x-exposed".to_owned(),
        max_age: "60".to_owned(),
        allow_credentials: Some(true),
        allow_private_network_access: None,
        forward_not_matching_preflights: Some(false),
        filter_enabled: None,
        shadow_enabled: None,
    }
}

#[test]
fn cors_origin_matching() {
    let p = cors::Policy::new(&cors_policy());
    assert!(p.is_origin_allowed("https://a.EXAMPLE"));
    assert!(!p.is_origin_allowed("https://a.example.org"));
    let mut star = cors_policy();
    star.allow_origin_string_match = vec![model::StringMatcher {
        kind: model::StringMatchKind::Exact("*".to_owned()),
        ignore_case: false,
    }];
    assert!(cors::Policy::new(&star).is_origin_allowed("https://anything"));
    // The most specific level that lists origins decides alone.
    let narrow = cors::Policy::new(&cors_policy());
    let both = cors::Policy::chain(Some(&narrow), Some(&cors::Policy::new(&star))).expect("two");
    assert!(!both.is_origin_allowed("https://anything"));
}

#[test]
fn cors_preflight_and_simple_request() {
    let mut h = hcm(vec![model::HttpFilter::Cors {
        name: "envoy.filters.http.cors".to_owned(),
    }]);
    h.route_config.virtual_hosts.push(model::VirtualHost {
        name: "v".to_owned(),
        domains: vec!["*".to_owned()],
        routes: vec![model::Route {
            name: String::new(),
            matcher: model::RouteMatch {
                path: model::PathMatch::Prefix("/".to_owned()),
                case_sensitive: true,
                runtime_fraction: None,
                headers: Vec::new(),
                query_parameters: Vec::new(),
                grpc: false,
            },
            action: model::RouteAction::DirectResponse(model::DirectResponse {
                status: 200,
                body: None,
            }),
            headers: model::HeaderMutations::default(),
            typed_per_filter_config: BTreeMap::new(),
            cors: None,
            per_request_buffer_limit_bytes: None,
        }],
        headers: model::HeaderMutations::default(),
        retry_policy: None,
        typed_per_filter_config: BTreeMap::from([(
            "envoy.filters.http.cors".to_owned(),
            model::FilterOverride::Cors(Box::new(cors_policy())),
        )]),
        cors: None,
        include_request_attempt_count: false,
        include_attempt_count_in_response: false,
        per_request_buffer_limit_bytes: None,
    });
    let t = Harness::new(&h);
    let decode = |hm: &mut HeaderMap, method: &[u8]| {
        let mut cx = DecodeContext {
            headers: hm,
            method,
            path: b"/",
            route: Some(RouteRef {
                virtual_host: 0,
                route: 0,
                cluster: None,
            }),
            random: 0,
            now: Instant::now(),
            runtime: None,
            shard: &t.shard,
            connection: &t.conn,
        };
        block_on(t.chain.decode_headers(&mut cx))
    };
    let mut pre = HeaderMap::new();
    pre.append(b"origin", b"https://a.example");
    pre.append(b"access-control-request-method", b"PUT");
    pre.append(b"access-control-request-headers", b"x-a, x-b");
    let Decision::Respond { status, headers } = decode(&mut pre, b"OPTIONS") else {
        panic!("preflight answered locally");
    };
    assert_eq!(status, 200);
    assert_eq!(
        headers.get(b"access-control-allow-origin"),
        Some(&b"https://a.example"[..])
    );
    assert_eq!(
        headers.get(b"access-control-allow-methods"),
        Some(&b"GET, PUT"[..])
    );
    assert_eq!(
        headers.get(b"access-control-allow-headers"),
        Some(&b"x-a, x-b"[..])
    );
    assert_eq!(headers.get(b"access-control-max-age"), Some(&b"60"[..]));
    assert_eq!(
        headers.get(b"access-control-allow-credentials"),
        Some(&b"true"[..])
    );

    // A preflight from an origin not allowed is answered without allow-origin
    // (forward_not_matching_preflights: false).
    let mut bad = HeaderMap::new();
    bad.append(b"origin", b"https://evil.test");
    bad.append(b"access-control-request-method", b"PUT");
    let Decision::Respond { headers, .. } = decode(&mut bad, b"OPTIONS") else {
        panic!("answered locally");
    };
    assert!(!headers.contains(b"access-control-allow-origin"));

    let mut simple = HeaderMap::new();
    simple.append(b"origin", b"https://b.example");
    assert!(matches!(decode(&mut simple, b"GET"), Decision::Continue));
    let mut resp = HeaderMap::new();
    t.chain.encode_headers(&mut EncodeContext {
        status: 200,
        headers: &mut resp,
        connection: &t.conn,
    });
    assert_eq!(
        resp.get(b"access-control-allow-origin"),
        Some(&b"https://b.example"[..])
    );
    assert_eq!(
        resp.get(b"access-control-expose-headers"),
        Some(&b"x-exposed"[..])
    );
    assert_eq!(t.stat("http.t.cors.origin_valid"), 2);
    assert_eq!(t.stat("http.t.cors.origin_invalid"), 1);
}
