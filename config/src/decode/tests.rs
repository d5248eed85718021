//! Unit tests of the decoder's primitives: durations, enums, leniencies, did-you-mean.

use super::*;
use crate::tree;

#[test]
fn durations() {
    let ok = [
        ("0.25s", Duration::from_millis(250)),
        ("5s", Duration::from_secs(5)),
        ("1.5s", Duration::from_millis(1500)),
        ("0s", Duration::ZERO),
        (".5s", Duration::from_millis(500)),
        ("0.000000001s", Duration::from_nanos(1)),
        ("3600s", Duration::from_secs(3600)),
    ];
    for (text, want) in ok {
        assert_eq!(parse_duration(text), Ok(want), "{text}");
    }
    for bad in [
        "5",
        "5ms",
        "1m",
        "-1s",
        "s",
        "1.2.3s",
        "0.0000000001s",
        "abc",
        "",
        "1e3s",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

fn with_node<T>(text: &str, f: impl FnOnce(&mut Cx<'_>, &Node) -> T) -> (T, Sink) {
    let mut sink = Sink::new("t");
    let node = tree::parse(text, &mut sink).expect("parses");
    let mut cx = Cx {
        sink: &mut sink,
        cluster_refs: Vec::new(),
        cluster_names: Vec::new(),
        filter_refs: Vec::new(),
    };
    let out = f(&mut cx, &node);
    (out, sink)
}

#[test]
fn duration_objects() {
    let (d, sink) = with_node("{seconds: 2, nanos: 500000000}", |cx, n| {
        cx.duration(n, "d")
    });
    assert_eq!(d, Some(Duration::from_millis(2500)));
    assert!(sink.errors.is_empty());
    let (d, sink) = with_node("{seconds: 2, nanoz: 5}", |cx, n| cx.duration(n, "d"));
    assert_eq!(d, Some(Duration::from_secs(2)));
    assert_eq!(
        sink.errors[0].message,
        "unknown field `nanoz`; did you mean `nanos`?"
    );
}

const CODEC: &[(&str, i64)] = &[("AUTO", 0), ("HTTP1", 1), ("HTTP2", 2)];

#[test]
fn enums() {
    let (v, sink) = with_node("AUTO", |cx, n| cx.enumeration(n, "c", CODEC));
    assert_eq!(v, Some("AUTO"));
    assert!(sink.warnings.is_empty());

    let (v, sink) = with_node("auto", |cx, n| cx.enumeration(n, "c", CODEC));
    assert_eq!(v, Some("AUTO"));
    assert_eq!(sink.warnings.len(), 1);

    let (v, sink) = with_node("2", |cx, n| cx.enumeration(n, "c", CODEC));
    assert_eq!(v, Some("HTTP2"));
    assert!(sink.warnings.is_empty());

    let (v, sink) = with_node("HTTP22", |cx, n| cx.enumeration(n, "c", CODEC));
    assert_eq!(v, None);
    assert_eq!(
        sink.errors[0].message,
        "unknown value `HTTP22`, expected one of AUTO, HTTP1, HTTP2; did you mean `HTTP2`?"
    );
}

#[test]
fn quoted_numbers_and_bools() {
    let (v, sink) = with_node("\"3\"", |cx, n| cx.u32_in(n, "x", 0, 10));
    assert_eq!(v, Some(3));
    assert_eq!(sink.warnings.len(), 1);

    // 64-bit integers are strings in proto3 JSON: no warning.
    let (v, sink) = with_node("\"3\"", |cx, n| cx.u64_in(n, "x", 0, 10));
    assert_eq!(v, Some(3));
    assert!(sink.warnings.is_empty());

    let (v, sink) = with_node("11", |cx, n| cx.u32_in(n, "x", 0, 10));
    assert_eq!(v, None);
    assert_eq!(
        sink.errors[0].message,
        "11 is out of range: expected 0..=10"
    );

    let (v, sink) = with_node("\"true\"", |cx, n| cx.boolean(n, "b"));
    assert_eq!(v, Some(true));
    assert_eq!(sink.warnings.len(), 1);

    let (v, sink) = with_node("yes", |cx, n| cx.boolean(n, "b"));
    assert_eq!(v, None);
    assert_eq!(sink.errors.len(), 1);

    let (v, sink) = with_node("{value: 7}", |cx, n| cx.u32_in(n, "x", 0, 10));
    assert_eq!(v, Some(7));
    assert_eq!(sink.warnings.len(), 1);
}

#[test]
fn single_mapping_as_list() {
    let (v, sink) = with_node("{a: 1}", |cx, n| cx.list(n, "xs").len());
    assert_eq!(v, 1);
    assert_eq!(
        sink.warnings[0].message,
        "expected a list, found a single mapping; taken as a list of one"
    );
}

#[test]
fn camel_case_keys() {
    assert_eq!(to_snake("statPrefix"), "stat_prefix");
    assert_eq!(to_snake("http2ProtocolOptions"), "http2_protocol_options");
    let (ok, sink) = with_node("{statPrefix: x, codecType: AUTO}", |cx, n| {
        cx.message_any(n, "hcm", &crate::schema::HTTP_CONNECTION_MANAGER, true)
            .map(|m| m.get("stat_prefix").is_some() && m.get("codec_type").is_some())
    });
    assert_eq!(ok, Some(true));
    assert!(sink.errors.is_empty());
}

#[test]
fn unknown_versus_unsupported() {
    let (_, sink) = with_node(
        "{name: c, transport_socket: {}, transport_sockt: {}, frobnicate: 1}",
        |cx, n| {
            cx.message(n, "clusters[0]", &crate::schema::CLUSTER)
                .map(|_| ())
        },
    );
    let msgs: Vec<&str> = sink.errors.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "`transport_socket` is an Envoy field that Sluice does not support yet",
            "unknown field `transport_sockt`; did you mean `transport_socket`?",
            "unknown field `frobnicate` (Envoy's Cluster has no such field)",
        ]
    );
    assert_eq!(sink.errors[1].path, "clusters[0].transport_sockt");
}

#[test]
fn base64() {
    use super::route::decode_base64;
    assert_eq!(decode_base64("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
    assert_eq!(decode_base64("aGVsbG8").as_deref(), Some(&b"hello"[..]));
    assert_eq!(decode_base64("").as_deref(), Some(&b""[..]));
    assert_eq!(decode_base64("a"), None);
    assert_eq!(decode_base64("a*b="), None);
}

#[test]
fn primes() {
    use super::cluster::is_prime;
    assert!(is_prime(65537));
    assert!(is_prime(5_000_011));
    assert!(!is_prime(65536));
    assert!(!is_prime(1));
    assert!(is_prime(2));
}

#[test]
fn regexes() {
    let check = |text: &str| {
        let (v, sink) = with_node("x", |cx, n| matcher::check_regex(cx, n, "r", text));
        (v, sink.errors.first().map(|e| e.message.clone()))
    };
    for ok in ["^/service/.*blue$", "[a-z]+\\d*", "(a|b){2,3}", "\\w+"] {
        assert_eq!(check(ok), (Some(()), None), "{ok}");
    }
    assert_eq!(
        check("^/a("),
        (
            None,
            Some("invalid regex `^/a(`: unclosed group".to_owned())
        )
    );
    assert_eq!(
        check(""),
        (None, Some("a regex must not be empty".to_owned()))
    );
    // RE2 features that need Unicode tables (case folding, general categories) work.
    for valid in ["(?i)abc", "\\pL+"] {
        assert_eq!(check(valid).1, None, "{valid}");
    }
}
