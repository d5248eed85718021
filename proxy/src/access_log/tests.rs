use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use sluice_config::access_log::{
    Comparison, ComparisonOp, DEFAULT_FORMAT, Filter, JsonTemplate, LogFormat, RuntimeSample,
    parse_format, parse_time_format,
};

use super::format::{civil, write_line};
use super::*;
use crate::layered_runtime::{Layer, Runtime};

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(n.as_bytes(), v.as_bytes());
    }
    h
}

fn entry<'a>(req: &'a HeaderMap, resp: Option<&'a HeaderMap>) -> RequestLog<'a> {
    RequestLog {
        // 2016-04-15T20:17:00.310Z
        start: UNIX_EPOCH + Duration::from_millis(1_460_751_420_310),
        duration: Duration::from_micros(226_900),
        method: b"POST",
        path: b"/api/v1/locations",
        authority: b"locations",
        protocol: "HTTP/1.1",
        request_headers: Some(req),
        response_headers: resp,
        response_code: 204,
        response_flags: "",
        bytes_received: 154,
        bytes_sent: 0,
        upstream_host: Some("10.0.2.1:80".parse().expect("addr")),
        upstream_cluster: Some("backend"),
        route_name: None,
        downstream_remote: "10.0.35.28:5555".parse().expect("addr"),
        downstream_local: Some("127.0.0.1:10000".parse().expect("addr")),
        local_reply_body: None,
    }
}

fn text(format: &str) -> LogFormat {
    LogFormat::Text {
        tokens: parse_format(format).expect("format"),
        omit_empty_values: false,
    }
}

fn line(format: &LogFormat, e: &RequestLog<'_>) -> String {
    let mut out = Vec::new();
    write_line(format, "host-1", e, &mut out);
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn the_default_format_matches_envoys_example() {
    let req = headers(&[
        ("x-forwarded-for", "10.0.35.28"),
        ("user-agent", "nsq2http"),
        ("x-request-id", "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2"),
    ]);
    let resp = headers(&[("x-envoy-upstream-service-time", "100")]);
    assert_eq!(
        line(&text(DEFAULT_FORMAT), &entry(&req, Some(&resp))),
        "[2016-04-15T20:17:00.310Z] \"POST /api/v1/locations HTTP/1.1\" 204 - 154 0 226 100 \
         \"10.0.35.28\" \"nsq2http\" \"cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2\" \"locations\" \
         \"10.0.2.1:80\"\n"
    );
}

#[test]
fn absent_values_print_a_dash_or_nothing() {
    let req = HeaderMap::new();
    let mut e = entry(&req, None);
    e.upstream_host = None;
    e.response_flags = "UH";
    e.response_code = 503;
    let f = "%REQ(X-MISSING)% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% %UPSTREAM_HOST% %RESPONSE_FLAGS% %RESPONSE_CODE% %ROUTE_NAME%";
    assert_eq!(line(&text(f), &e), "- - - UH 503 -");
    let omit = LogFormat::Text {
        tokens: parse_format(f).expect("format"),
        omit_empty_values: true,
    };
    assert_eq!(line(&omit, &e), "   UH 503 ");
}

#[test]
fn local_reply_body_is_empty_outside_a_local_reply() {
    let req = HeaderMap::new();
    let mut e = entry(&req, None);
    // Envoy's formatter yields an empty string here, never the `-` of an absent value.
    assert_eq!(line(&text("[%LOCAL_REPLY_BODY%]"), &e), "[]");
    e.local_reply_body = Some(b"no healthy upstream");
    assert_eq!(
        line(&text("[%LOCAL_REPLY_BODY%]"), &e),
        "[no healthy upstream]"
    );
}

#[test]
fn operators() {
    let req = headers(&[("x-original", "/orig"), ("user-agent", "curl/8")]);
    let e = entry(&req, None);
    let cases = [
        ("%REQ(X-ORIGINAL?:PATH)%", "/orig"),
        ("%REQ(X-NOPE?:PATH)%", "/api/v1/locations"),
        ("%REQ(:PATH):4%", "/api"),
        ("%REQUEST_HEADER(USER-AGENT)%", "curl/8"),
        ("%REQ(HOST)% %REQ(:SCHEME)%", "locations http"),
        ("%DOWNSTREAM_REMOTE_ADDRESS%", "10.0.35.28:5555"),
        ("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "10.0.35.28"),
        ("%DOWNSTREAM_LOCAL_ADDRESS%", "127.0.0.1:10000"),
        ("%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", "127.0.0.1"),
        ("%UPSTREAM_CLUSTER% %HOSTNAME%", "backend host-1"),
        ("%DURATION% %BYTES_RECEIVED% %BYTES_SENT%", "226 154 0"),
        ("%START_TIME(%s)%", "1460751420"),
        (
            "%START_TIME(%Y/%m/%d %H:%M:%S.%3f %z %Z)%",
            "2016/04/15 20:17:00.310 +0000 UTC",
        ),
        (
            "%START_TIME(%a %b %e %j %y %6f %f)%",
            "Fri Apr 15 106 16 310000 310000000",
        ),
        ("100%% %PROTOCOL%", "100% HTTP/1.1"),
    ];
    for (f, want) in cases {
        assert_eq!(line(&text(f), &e), want, "{f}");
    }
}

#[test]
fn civil_dates() {
    let at = |s: u64| civil(UNIX_EPOCH + Duration::from_secs(s));
    let c = at(0);
    assert_eq!(
        (c.year, c.month, c.day, c.weekday, c.day_of_year),
        (1970, 1, 1, 4, 1)
    );
    // 2000-02-29 (a leap day in a century year divisible by 400).
    let c = at(951_782_400);
    assert_eq!((c.year, c.month, c.day, c.day_of_year), (2000, 2, 29, 60));
    // 2024-12-31T23:59:59: day 366 of a leap year.
    let c = at(1_735_689_599);
    assert_eq!(
        (
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second,
            c.day_of_year
        ),
        (2024, 12, 31, 23, 59, 59, 366)
    );
    assert!(parse_time_format("%F").is_ok());
}

#[test]
fn json_lines_keep_types_and_escape() {
    let req = headers(&[("user-agent", "a \"quoted\"\tagent")]);
    let mut e = entry(&req, None);
    e.upstream_host = None;
    let fields = vec![
        (
            "code".to_owned(),
            JsonTemplate::Format(parse_format("%RESPONSE_CODE%").expect("f")),
        ),
        (
            "ua".to_owned(),
            JsonTemplate::Format(parse_format("%REQ(USER-AGENT)%").expect("f")),
        ),
        (
            "host".to_owned(),
            JsonTemplate::Format(parse_format("%UPSTREAM_HOST%").expect("f")),
        ),
        (
            "mixed".to_owned(),
            JsonTemplate::Format(parse_format("%REQ(:METHOD)% %UPSTREAM_HOST%").expect("f")),
        ),
        (
            "nested".to_owned(),
            JsonTemplate::Object(vec![
                ("n".to_owned(), JsonTemplate::Literal(serde_json::json!(7))),
                (
                    "b".to_owned(),
                    JsonTemplate::Format(parse_format("%BYTES_RECEIVED%").expect("f")),
                ),
            ]),
        ),
    ];
    let f = LogFormat::Json {
        fields: fields.clone(),
        omit_empty_values: false,
    };
    let got = line(&f, &e);
    assert_eq!(
        got,
        "{\"code\":204,\"ua\":\"a \\\"quoted\\\"\\tagent\",\"host\":null,\"mixed\":\"POST -\",\"nested\":{\"n\":7,\"b\":154}}\n"
    );
    let v: serde_json::Value = serde_json::from_str(got.trim_end()).expect("valid JSON");
    assert_eq!(v["code"], 204);
    let omit = LogFormat::Json {
        fields,
        omit_empty_values: true,
    };
    assert_eq!(
        line(&omit, &e),
        "{\"code\":204,\"ua\":\"a \\\"quoted\\\"\\tagent\",\"mixed\":\"POST \",\"nested\":{\"n\":7,\"b\":154}}\n"
    );
}

fn runtime(pairs: &[(&str, &str)]) -> Runtime {
    let values: BTreeMap<String, crate::layered_runtime::Entry> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), crate::layered_runtime::Entry::parse(v)))
        .collect();
    Runtime::new(vec![Arc::new(Layer::new("static", values))])
}

fn status(op: ComparisonOp, value: u32) -> Filter {
    Filter::StatusCode(Comparison {
        op,
        default_value: value,
        runtime_key: "log.status".into(),
    })
}

#[test]
fn filters() {
    let req = HeaderMap::new();
    let mut e = entry(&req, None);
    let none = runtime(&[]);
    let passes = |f: &Filter, e: &RequestLog<'_>, rt: &Runtime| {
        filter::passes(&LogFilter::build(f).expect("compiles"), e, rt, 0)
    };
    e.response_code = 503;
    assert!(passes(&status(ComparisonOp::Ge, 500), &e, &none));
    assert!(!passes(&status(ComparisonOp::Le, 499), &e, &none));
    assert!(passes(&status(ComparisonOp::Eq, 503), &e, &none));
    // The runtime key overrides the default threshold.
    assert!(!passes(
        &status(ComparisonOp::Ge, 500),
        &e,
        &runtime(&[("log.status", "504")])
    ));
    e.response_code = 200;
    assert!(!passes(&status(ComparisonOp::Ge, 500), &e, &none));

    let slow = Filter::Duration(Comparison {
        op: ComparisonOp::Ge,
        default_value: 200,
        runtime_key: "log.duration".into(),
    });
    assert!(passes(&slow, &e, &none), "226 ms >= 200 ms");
    assert!(passes(&Filter::NotHealthCheck, &e, &none));
    assert!(passes(
        &Filter::Or(vec![status(ComparisonOp::Ge, 500), slow.clone()]),
        &e,
        &none
    ));
    assert!(!passes(
        &Filter::And(vec![status(ComparisonOp::Ge, 500), slow]),
        &e,
        &none
    ));

    let sample = |n: u32, independent: bool| {
        Filter::Runtime(RuntimeSample {
            runtime_key: "log.sample".into(),
            numerator: n,
            denominator: 100,
            use_independent_randomness: independent,
        })
    };
    let compiled = |f: Filter| LogFilter::build(&f).expect("compiles");
    assert!(passes(&sample(100, true), &e, &none));
    assert!(!passes(&sample(0, true), &e, &none));
    assert!(passes(
        &sample(0, true),
        &e,
        &runtime(&[("log.sample", "100")])
    ));
    // Independent randomness samples about the given share.
    let hits = (0..10_000u64)
        .filter(|i| {
            filter::passes(
                &compiled(sample(25, true)),
                &e,
                &none,
                i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7,
            )
        })
        .count();
    assert!((2000..3000).contains(&hits), "{hits}");
    // Without it, one request id gives one answer whatever the random value.
    let with_id = headers(&[("x-request-id", "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2")]);
    let e = entry(&with_id, None);
    let half = compiled(sample(50, false));
    let first = filter::passes(&half, &e, &none, 1);
    assert!((0..100).all(|r| filter::passes(&half, &e, &none, r) == first));
}

#[test]
fn lines_reach_the_file() {
    let dir = std::env::temp_dir().join(format!("sluice-alog-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("a.log");
    let _ = std::fs::remove_file(&path);
    let config = AccessLog {
        name: "f".into(),
        filter: Some(status(ComparisonOp::Ge, 500)),
        sink: sluice_config::access_log::Sink::File(path.display().to_string()),
        format: text("%RESPONSE_CODE% %REQ(:PATH)%\n"),
    };
    let mut registry = Registry::new(1);
    let logs = AccessLogs::build(&[config], &mut registry).expect("build");
    let shard = registry.worker_shard(0);
    let rt = runtime(&[]);
    let cx = LogContext {
        shard: &shard,
        runtime: &rt,
        random: 1,
    };
    let req = HeaderMap::new();
    let mut e = entry(&req, None);
    for code in [200, 503, 404, 500] {
        e.response_code = code;
        logs.log(&cx, &e);
    }
    flush_now();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = std::fs::read_to_string(&path).unwrap_or_default();
        if got == "503 /api/v1/locations\n500 /api/v1/locations\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "got {got:?}");
        std::thread::yield_now();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn header_and_response_flag_filters() {
    use sluice_config::model::{HeaderMatchSpec, HeaderMatcher};
    let mut req = HeaderMap::new();
    req.append(b"x-tenant", b"blue");
    let mut e = entry(&req, None);
    let none = runtime(&[]);
    let passes = |f: &Filter, e: &RequestLog<'_>| {
        filter::passes(&LogFilter::build(f).expect("compiles"), e, &none, 0)
    };
    let header = |name: &str, spec: HeaderMatchSpec| {
        Filter::Header(HeaderMatcher {
            name: name.into(),
            spec,
            invert_match: false,
            treat_missing_header_as_empty: false,
        })
    };
    // Pseudo-headers answer from the request line.
    assert!(passes(
        &header(":method", HeaderMatchSpec::Exact("POST".into())),
        &e
    ));
    assert!(!passes(
        &header(":method", HeaderMatchSpec::Exact("GET".into())),
        &e
    ));
    assert!(passes(
        &header(":authority", HeaderMatchSpec::Prefix("loc".into())),
        &e
    ));
    assert!(passes(
        &header("x-tenant", HeaderMatchSpec::SafeRegex("bl.e".into())),
        &e
    ));
    assert!(!passes(
        &header("x-other", HeaderMatchSpec::Present(true)),
        &e
    ));
    // A reply sent before the head was decoded has no headers: only absence matches.
    e.request_headers = None;
    assert!(passes(
        &header("x-tenant", HeaderMatchSpec::Present(false)),
        &e
    ));

    let flags = |f: &[&str]| Filter::ResponseFlag(f.iter().map(|s| (*s).to_owned()).collect());
    assert!(!passes(&flags(&[]), &e), "no flag set");
    e.response_flags = "UF,URX";
    assert!(passes(&flags(&[]), &e), "any flag");
    assert!(passes(&flags(&["UH", "URX"]), &e));
    assert!(!passes(&flags(&["UH", "NR"]), &e));
}
