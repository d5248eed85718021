//! Route lookup cost as tables grow: one virtual host of 10, 1 000 or 10 000 routes in several
//! mixes, for a request that matches near the end of the table and one that matches nothing.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};
use sluice::http::router::{NoRuntime, RequestHeaders, RouteRequest, RouteTable};
use sluice_config::model;

/// Request headers as (lower-case name, value) pairs.
struct Headers(Vec<(&'static [u8], Vec<u8>)>);

impl RequestHeaders for Headers {
    fn get_all<'s>(&'s self, name: &[u8], each: &mut dyn FnMut(&'s [u8])) {
        for (n, v) in &self.0 {
            if *n == name {
                each(v);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Mix {
    /// `prefix: /svc<i>/`.
    Prefix,
    /// `path: /svc<i>/item`.
    Exact,
    /// `safe_regex: /svc<i>/items/[0-9]+`.
    Regex,
    /// `prefix: /svc<i>/` plus a header matcher `x-tenant: t<i>` on every other route.
    PrefixHeader,
}

impl Mix {
    const ALL: [Mix; 4] = [Mix::Prefix, Mix::Exact, Mix::Regex, Mix::PrefixHeader];

    fn name(self) -> &'static str {
        match self {
            Mix::Prefix => "prefix",
            Mix::Exact => "exact",
            Mix::Regex => "regex",
            Mix::PrefixHeader => "prefix+header",
        }
    }

    fn route(self, i: usize) -> model::Route {
        let (path, headers) = match self {
            Mix::Prefix => (model::PathMatch::Prefix(format!("/svc{i}/")), vec![]),
            Mix::Exact => (model::PathMatch::Path(format!("/svc{i}/item")), vec![]),
            Mix::Regex => (
                model::PathMatch::SafeRegex(format!("/svc{i}/items/[0-9]+")),
                vec![],
            ),
            Mix::PrefixHeader => {
                let headers = if i.is_multiple_of(2) {
                    vec![model::HeaderMatcher {
                        name: "x-tenant".into(),
                        spec: model::HeaderMatchSpec::Exact(format!("t{i}")),
                        invert_match: false,
                        treat_missing_header_as_empty: false,
                    }]
                } else {
                    vec![]
                };
                (model::PathMatch::Prefix(format!("/svc{i}/")), headers)
            }
        };
        model::Route {
            cors: None,
            per_request_buffer_limit_bytes: None,
            typed_per_filter_config: Default::default(),
            name: String::new(),
            matcher: model::RouteMatch {
                path,
                case_sensitive: true,
                runtime_fraction: None,
                headers,
                query_parameters: Vec::new(),
                grpc: false,
            },
            action: model::RouteAction::DirectResponse(model::DirectResponse {
                status: 200,
                body: None,
            }),
            headers: model::HeaderMutations::default(),
        }
    }

    /// A request for route `i` (`None`: a request no route takes).
    fn request(self, i: Option<usize>) -> (Vec<u8>, Headers) {
        let i = i.map_or_else(|| "none".to_owned(), |i| i.to_string());
        let path = match self {
            Mix::Prefix | Mix::PrefixHeader => format!("/svc{i}/x/y?q=1"),
            Mix::Exact => format!("/svc{i}/item?q=1"),
            Mix::Regex => format!("/svc{i}/items/42?q=1"),
        };
        let headers = Headers(vec![
            (b"user-agent", b"bench/1".to_vec()),
            (b"x-tenant", format!("t{i}").into_bytes()),
        ]);
        (path.into_bytes(), headers)
    }
}

fn table(mix: Mix, n: usize) -> RouteTable {
    let rc = model::RouteConfiguration {
        name: "bench".into(),
        virtual_hosts: vec![model::VirtualHost {
            cors: None,
            include_request_attempt_count: false,
            include_attempt_count_in_response: false,
            per_request_buffer_limit_bytes: None,
            typed_per_filter_config: Default::default(),
            name: "vh".into(),
            domains: vec!["*".into()],
            routes: (0..n).map(|i| mix.route(i)).collect(),
            headers: model::HeaderMutations::default(),
            retry_policy: None,
        }],
        headers: model::HeaderMutations::default(),
    };
    RouteTable::build(&rc, |_| Some(0)).expect("bench table builds")
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("route lookup");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    for mix in Mix::ALL {
        for n in [10, 1_000, 10_000] {
            let t = table(mix, n);
            // Near the end: the second to last route (the last even one for the header mix).
            let near_end = if n.is_multiple_of(2) { n - 2 } else { n - 1 };
            for (case, target) in [("near end", Some(near_end)), ("miss", None)] {
                let (path, headers) = mix.request(target);
                let req = RouteRequest {
                    host: b"bench.example.com",
                    path: &path,
                    method: b"GET",
                    headers: &headers,
                    random: 7,
                    runtime: &NoRuntime,
                };
                assert_eq!(
                    t.route(&req).map(|r| r.index),
                    target,
                    "{} {case}",
                    mix.name()
                );
                let id = BenchmarkId::new(format!("{}/{case}", mix.name()), n);
                group.bench_with_input(id, &req, |b, req| {
                    b.iter(|| black_box(t.route(black_box(req)).map(|r| r.index)));
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
