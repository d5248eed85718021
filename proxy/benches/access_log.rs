//! The per-request cost of access logging: formatting Envoy's default line and a JSON line
//! into a reused buffer, and the whole `AccessLogs::log` path (filter, format, append to the
//! worker's buffer, periodic hand-over to the logger thread writing /dev/null).

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use sluice::access_log::{AccessLogs, LogContext, RequestLog, format_line};
use sluice::http::headers::HeaderMap;
use sluice::layered_runtime::Runtime;
use sluice::stats::Registry;
use sluice_config::access_log::{
    AccessLog, DEFAULT_FORMAT, JsonTemplate, LogFormat, Sink, parse_format,
};

fn request_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in [
        ("host", "api.example.com"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) bench/1.0"),
        ("accept", "*/*"),
        ("x-forwarded-for", "10.0.35.28"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2"),
    ] {
        h.append(n.as_bytes(), v.as_bytes());
    }
    h
}

fn response_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in [
        ("content-type", "application/json"),
        ("content-length", "1234"),
        ("x-envoy-upstream-service-time", "12"),
    ] {
        h.append(n.as_bytes(), v.as_bytes());
    }
    h
}

fn entry<'a>(req: &'a HeaderMap, resp: &'a HeaderMap) -> RequestLog<'a> {
    RequestLog {
        start: SystemTime::now(),
        duration: Duration::from_micros(13_400),
        method: b"GET",
        path: b"/api/v1/locations?page=2",
        authority: b"api.example.com",
        protocol: "HTTP/1.1",
        request_headers: Some(req),
        response_headers: Some(resp),
        response_code: 200,
        response_flags: "",
        bytes_received: 0,
        bytes_sent: 1234,
        upstream_host: Some("10.0.2.1:8080".parse().expect("addr")),
        upstream_cluster: Some("locations"),
        route_name: Some("api"),
        downstream_remote: "10.0.35.28:51234".parse().expect("addr"),
        downstream_local: None,
        local_reply_body: None,
    }
}

fn bench(c: &mut Criterion) {
    let req = request_headers();
    let resp = response_headers();
    let e = entry(&req, &resp);
    let text = LogFormat::Text {
        tokens: parse_format(DEFAULT_FORMAT).expect("default format"),
        omit_empty_values: false,
    };
    let json_fields = [
        ("start_time", "%START_TIME%"),
        ("method", "%REQ(:METHOD)%"),
        ("path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"),
        ("protocol", "%PROTOCOL%"),
        ("response_code", "%RESPONSE_CODE%"),
        ("response_flags", "%RESPONSE_FLAGS%"),
        ("bytes_received", "%BYTES_RECEIVED%"),
        ("bytes_sent", "%BYTES_SENT%"),
        ("duration", "%DURATION%"),
        (
            "upstream_service_time",
            "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
        ),
        ("x_forwarded_for", "%REQ(X-FORWARDED-FOR)%"),
        ("user_agent", "%REQ(USER-AGENT)%"),
        ("request_id", "%REQ(X-REQUEST-ID)%"),
        ("authority", "%REQ(:AUTHORITY)%"),
        ("upstream_host", "%UPSTREAM_HOST%"),
    ];
    let json = LogFormat::Json {
        fields: json_fields
            .iter()
            .map(|(k, f)| {
                (
                    (*k).to_owned(),
                    JsonTemplate::Format(parse_format(f).expect("format")),
                )
            })
            .collect(),
        omit_empty_values: false,
    };
    let mut out = Vec::with_capacity(1024);
    c.bench_function("access_log/format_default", |b| {
        b.iter(|| {
            out.clear();
            format_line(&text, black_box(&e), &mut out);
            black_box(out.len())
        });
    });
    c.bench_function("access_log/format_json", |b| {
        b.iter(|| {
            out.clear();
            format_line(&json, black_box(&e), &mut out);
            black_box(out.len())
        });
    });

    let mut registry = Registry::new(1);
    let logs = AccessLogs::build(
        &[AccessLog {
            name: "bench".into(),
            filter: None,
            sink: Sink::File("/dev/null".into()),
            format: text.clone(),
        }],
        &mut registry,
    )
    .expect("build");
    let shard = registry.worker_shard(0);
    let runtime = Runtime::new(Vec::new());
    let cx = LogContext {
        shard: &shard,
        runtime: &runtime,
        random: 7,
    };
    c.bench_function("access_log/log_default_to_dev_null", |b| {
        b.iter(|| logs.log(&cx, black_box(&e)));
    });
    sluice::access_log::shutdown();
}

criterion_group!(benches, bench);
criterion_main!(benches);
