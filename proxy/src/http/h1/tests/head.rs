//! Request and response head parsing: valid forms, every error class, limits, incremental input.

use super::*;

/// What a valid request must parse to.
struct Ok_ {
    body: BodyKind,
    keep_alive: bool,
}

const fn ok(body: BodyKind, keep_alive: bool) -> Result<Ok_, HeadError> {
    Ok(Ok_ { body, keep_alive })
}

const E: BodyKind = BodyKind::Empty;

#[test]
fn request_table() {
    use HeadError::*;
    let cases: &[(&str, &[u8], Result<Ok_, HeadError>)] = &[
        // Framing and connection semantics.
        ("simple get", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", ok(E, true)),
        ("1.0 closes by default", b"GET / HTTP/1.0\r\n\r\n", ok(E, false)),
        ("1.0 keep-alive", b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", ok(E, true)),
        ("1.0 keep-alive and close", b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", ok(E, false)),
        ("1.1 close", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", ok(E, false)),
        ("1.1 close in list", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n", ok(E, false)),
        ("1.1 close in second line", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: close\r\n\r\n", ok(E, false)),
        ("content-length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", ok(BodyKind::Length(5), true)),
        ("content-length 0", b"POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n", ok(BodyKind::Length(0), true)),
        ("content-length list equal", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", ok(BodyKind::Length(5), true)),
        ("content-length lines equal", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", ok(BodyKind::Length(5), true)),
        ("content-length max", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n", ok(BodyKind::Length(u64::MAX), true)),
        ("content-length leading zeros", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n", ok(BodyKind::Length(7), true)),
        ("chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", ok(BodyKind::Chunked, true)),
        ("chunked title case", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", ok(BodyKind::Chunked, true)),
        ("chunked upper case", b"POST / HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING: CHUNKED\r\n\r\n", ok(BodyKind::Chunked, true)),
        ("chunked with ows", b"POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:   chunked \t\r\n\r\n", ok(BodyKind::Chunked, true)),
        // Forms of the target.
        ("options asterisk", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", ok(E, true)),
        ("absolute form without host", b"GET http://a.example/x?y HTTP/1.1\r\n\r\n", ok(E, true)),
        ("connect", b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", ok(E, true)),
        ("connect cl 0", b"CONNECT a.example:443 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", ok(E, true)),
        ("custom method", b"PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n", ok(E, true)),
        ("query and utf8 target", b"GET /a?b=c&d=%20\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", ok(E, true)),
        // Line ends and values.
        ("bare lf accepted in heads", b"GET / HTTP/1.1\nHost: a\n\n", ok(E, true)),
        ("leading empty lines skipped", b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", ok(E, true)),
        ("obs-text value", b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\xff\r\n\r\n", ok(E, true)),
        ("empty value", b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n", ok(E, true)),
        ("htab in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n", ok(E, true)),
        ("underscore name", b"GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\n\r\n", ok(E, true)),
        // Errors: framing.
        ("cl and te", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Err(ContentLengthAndTransferEncoding)),
        ("te and cl", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", Err(ContentLengthAndTransferEncoding)),
        ("te and cl 0", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", Err(ContentLengthAndTransferEncoding)),
        ("te gzip", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", Err(UnsupportedTransferEncoding)),
        ("te gzip, chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Err(UnsupportedTransferEncoding)),
        ("te chunked, gzip", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Err(UnsupportedTransferEncoding)),
        ("te two lines", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Err(UnsupportedTransferEncoding)),
        ("te empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", Err(UnsupportedTransferEncoding)),
        ("te chunkedx", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n", Err(UnsupportedTransferEncoding)),
        ("te on 1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Err(TransferEncodingHttp10)),
        ("te on connect", b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Err(UnsupportedTransferEncoding)),
        ("connect with body", b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", Err(ConnectWithBody)),
        ("cl letters", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", Err(InvalidContentLength)),
        ("cl negative", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", Err(InvalidContentLength)),
        ("cl plus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", Err(InvalidContentLength)),
        ("cl empty", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", Err(InvalidContentLength)),
        ("cl inner space", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", Err(InvalidContentLength)),
        ("cl hex", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", Err(InvalidContentLength)),
        ("cl overflow", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", Err(InvalidContentLength)),
        ("cl empty list item", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", Err(InvalidContentLength)),
        ("cl differing lines", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", Err(ConflictingContentLength)),
        ("cl differing list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", Err(ConflictingContentLength)),
        // Errors: host.
        ("missing host", b"GET / HTTP/1.1\r\n\r\n", Err(MissingHost)),
        ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", Err(MultipleHost)),
        ("two hosts 1.0", b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", Err(MultipleHost)),
        // Errors: syntax.
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", Err(ObsFold)),
        ("obs-fold tab", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n", Err(ObsFold)),
        ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Err(HeaderName)),
        ("empty name", b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", Err(HeaderName)),
        ("bad name char", b"GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n", Err(HeaderName)),
        ("no colon", b"GET / HTTP/1.1\r\nHost: a\r\nXY\r\n\r\n", Err(HeaderName)),
        ("nul in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", Err(HeaderValue)),
        ("bare cr in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", Err(HeaderValue)),
        ("del in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", Err(HeaderValue)),
        ("version 1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", Err(Version)),
        ("version 2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", Err(Version)),
        ("h2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Err(Version)),
        ("lowercase version", b"GET / http/1.1\r\nHost: a\r\n\r\n", Err(Version)),
        ("http/0.9", b"GET /\r\n\r\n", Err(Target)),
        ("bad method", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", Err(Method)),
        ("empty method", b" / HTTP/1.1\r\nHost: a\r\n\r\n", Err(Method)),
        ("control in target", b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", Err(Target)),
        ("relative target", b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", Err(Target)),
        ("asterisk on get", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", Err(Target)),
        ("connect origin form", b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", Err(Target)),
        ("connect no port", b"CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n", Err(Target)),
        ("connect empty port", b"CONNECT a.example: HTTP/1.1\r\nHost: a\r\n\r\n", Err(Target)),
        ("absolute no authority", b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", Err(Target)),
        ("bad scheme", b"GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", Err(Target)),
        ("two spaces", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", Err(Target)),
        ("cr in request line", b"GET / HTTP/1.1\rHost: a\r\n\r\n", Err(NewLine)),
    ];
    for (name, input, want) in cases {
        let got = request(input);
        match (got, want) {
            (Ok(head), Ok(w)) => {
                assert_eq!(head.body(), w.body, "{name}");
                assert_eq!(head.is_keep_alive(), w.keep_alive, "{name}");
                assert_eq!(head.head_len(), input.len(), "{name}");
            }
            (Err(e), Err(w)) => {
                assert_eq!(e, *w, "{name}");
                assert!(matches!(e.status_code(), 400 | 431 | 501), "{name}");
            }
            (Ok(_), Err(w)) => panic!("{name}: parsed, expected {w:?}"),
            (Err(e), Ok(_)) => panic!("{name}: {e:?}"),
        }
    }
}

#[test]
fn request_accessors() {
    let buf = b"POST /p?q=1 HTTP/1.1\r\nHost: Example.COM\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 3\r\n\r\nabcGET";
    let head = request(buf).unwrap();
    assert_eq!(head.method(buf), b"POST");
    assert_eq!(head.method_kind(), Method::Post);
    assert_eq!(head.target(buf), b"/p?q=1");
    assert_eq!(head.target_form(), TargetForm::Origin);
    assert_eq!(head.version(), Version::Http11);
    assert_eq!(head.header(buf, b"host"), Some(&b"Example.COM"[..]));
    assert_eq!(head.header(buf, b"X-A"), Some(&b"1"[..]));
    assert_eq!(head.header(buf, b"missing"), None);
    assert_eq!(head.content_length(), Some(3));
    let all: Vec<_> = head.headers(buf).iter().collect();
    assert_eq!(all.len(), 4);
    assert_eq!(all[1], (&b"X-A"[..], &b"1"[..]));
    assert_eq!(all[2], (&b"x-a"[..], &b"2"[..]));
    assert_eq!(head.head_len(), buf.len() - 6);
    assert_eq!(head.header_spans().len(), 4);
    assert_eq!(head.header_spans()[0].name.get(buf), b"Host");
    assert!(!head.headers(buf).connection_nominates());
}

#[test]
fn request_flags() {
    let r =
        request(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
            .unwrap();
    assert!(r.expects_continue());
    let r =
        request(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").unwrap();
    assert!(!r.expects_continue(), "ignored on 1.0");
    let r = request(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n").unwrap();
    assert!(!r.expects_continue());

    let r = request(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .unwrap();
    assert!(r.is_upgrade());
    let r = request(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").unwrap();
    assert!(!r.is_upgrade(), "needs Connection: upgrade");
    let r = request(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAA\r\n\r\n").unwrap();
    assert!(!r.is_upgrade(), "h2c is served as plain HTTP/1.1");
    assert!(r.headers(b"").is_empty() || r.headers(b"").len() == 4);

    let buf = b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n";
    let r = request(buf).unwrap();
    assert!(r.is_connect());
    assert_eq!(r.target_form(), TargetForm::Authority);
    assert_eq!(r.target(buf), b"a.example:443");

    let r = request(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(r.target_form(), TargetForm::Asterisk);
    let buf = b"GET https://a:8443/x?y HTTP/1.1\r\nHost: b\r\n\r\n";
    let r = request(buf).unwrap();
    assert_eq!(r.target_form(), TargetForm::Absolute);
    assert_eq!(r.absolute_parts(buf), Some((&b"a:8443"[..], &b"/x?y"[..])));
    let buf = b"GET http://a.example HTTP/1.1\r\n\r\n";
    assert_eq!(
        request(buf).unwrap().absolute_parts(buf),
        Some((&b"a.example"[..], &b""[..]))
    );
    let buf = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(request(buf).unwrap().absolute_parts(buf), None);
    let r = request(b"get / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(r.method_kind(), Method::Other, "methods are case-sensitive");
}

#[test]
fn error_status_codes() {
    assert_eq!(HeadError::HeadTooLarge.status_code(), 431);
    assert_eq!(HeadError::TooManyHeaders.status_code(), 431);
    assert_eq!(HeadError::UnsupportedTransferEncoding.status_code(), 501);
    assert_eq!(
        HeadError::ContentLengthAndTransferEncoding.status_code(),
        400
    );
    assert_eq!(HeadError::ObsFold.status_code(), 400);
    assert_eq!(
        HeadError::TooManyHeaders.details(),
        "http1.too_many_headers"
    );
    assert_eq!(
        HeadError::UnsupportedTransferEncoding.details(),
        "http1.invalid_transfer_encoding"
    );
    assert!(HeadError::ObsFold.to_string().contains("folding"));
}

/// A request with `count` header lines (one of them Host).
fn with_headers(count: usize) -> Vec<u8> {
    let mut v = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 1..count {
        v.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
    }
    v.extend_from_slice(b"\r\n");
    v
}

#[test]
fn header_count_limit() {
    assert_eq!(
        request(&with_headers(100)).unwrap().header_spans().len(),
        100
    );
    assert_eq!(
        request(&with_headers(101)).unwrap_err(),
        HeadError::TooManyHeaders
    );
    // Detected before the head is complete.
    let partial = &with_headers(101)[..with_headers(101).len() - 2];
    let mut head = RequestHead::new();
    assert_eq!(
        head.parse(partial, &Limits::default()),
        Err(HeadError::TooManyHeaders)
    );
    // Configurable, and clamped to the slot cap.
    let limits = Limits {
        headers_count_max: 3,
        ..Limits::default()
    };
    assert!(RequestHead::new().parse(&with_headers(3), &limits).is_ok());
    assert_eq!(
        RequestHead::new().parse(&with_headers(4), &limits),
        Err(HeadError::TooManyHeaders)
    );
    let limits = Limits::from_envoy(1024, 100_000);
    assert!(
        RequestHead::new()
            .parse(&with_headers(HEADERS_COUNT_CAP), &limits)
            .is_ok()
    );
    assert_eq!(
        RequestHead::new().parse(&with_headers(HEADERS_COUNT_CAP + 1), &limits),
        Err(HeadError::TooManyHeaders)
    );
}

/// A request head of exactly `len` bytes.
fn head_of_len(len: usize) -> Vec<u8> {
    let prefix = b"GET / HTTP/1.1\r\nHost: a\r\nx-pad: ";
    let suffix = b"\r\n\r\n";
    let mut v = prefix.to_vec();
    v.resize(len - suffix.len(), b'p');
    v.extend_from_slice(suffix);
    assert_eq!(v.len(), len);
    v
}

#[test]
fn head_size_limit_boundary() {
    let max = DEFAULT_HEAD_BYTES_MAX;
    assert_eq!(max, 61_440);
    let at = head_of_len(max);
    assert_eq!(request(&at).unwrap().head_len(), max);
    assert_eq!(
        request(&head_of_len(max + 1)).unwrap_err(),
        HeadError::HeadTooLarge
    );

    // Complete head at the limit followed by body bytes: fine.
    let mut with_body = head_of_len(max);
    with_body.extend_from_slice(b"trailing pipelined bytes");
    assert!(request(&with_body).is_ok());

    // Incomplete: exactly the limit is still Partial, one more byte is too large.
    let mut head = RequestHead::new();
    let open = &at[..max - 2];
    assert_eq!(head.parse(open, &Limits::default()), Ok(Parse::Partial));
    let mut grown = open.to_vec();
    grown.extend_from_slice(b"pp");
    assert_eq!(head.parse(&grown, &Limits::default()), Ok(Parse::Partial));
    grown.push(b'p');
    assert_eq!(
        head.parse(&grown, &Limits::default()),
        Err(HeadError::HeadTooLarge)
    );

    // Envoy's knob.
    let limits = Limits::from_envoy(1, 100);
    assert_eq!(limits.head_bytes_max, 1024);
    assert!(
        RequestHead::new()
            .parse(&head_of_len(1024), &limits)
            .is_ok()
    );
    assert_eq!(
        RequestHead::new().parse(&head_of_len(1025), &limits),
        Err(HeadError::HeadTooLarge)
    );
}

#[test]
fn every_prefix_is_partial_then_complete() {
    let inputs: &[&[u8]] = &[
        b"GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\n\n",
        b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    ];
    for input in inputs {
        // Same head object across calls, as a connection would use it (exercises the
        // blank-line gating between attempts).
        let mut head = RequestHead::new();
        for end in 0..input.len() {
            assert_eq!(
                head.parse(&input[..end], &Limits::default()),
                Ok(Parse::Partial),
                "prefix {end}"
            );
        }
        assert_eq!(
            head.parse(input, &Limits::default()),
            Ok(Parse::Complete(input.len()))
        );
        // Fresh object at every prefix too.
        for end in 0..input.len() {
            assert_eq!(
                RequestHead::new().parse(&input[..end], &Limits::default()),
                Ok(Parse::Partial)
            );
        }
    }
}

#[test]
fn errors_surface_with_split_input() {
    // Growing the buffer byte by byte, an invalid head errors at the latest once complete, and
    // never reports Complete.
    let input: &[u8] =
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut head = RequestHead::new();
    let mut failed = false;
    for end in 0..=input.len() {
        match head.parse(&input[..end], &Limits::default()) {
            Ok(Parse::Partial) => {}
            Ok(Parse::Complete(_)) => panic!("complete at {end}"),
            Err(e) => {
                assert_eq!(e, HeadError::ContentLengthAndTransferEncoding);
                failed = true;
                break;
            }
        }
    }
    assert!(failed);
    // Garbage is rejected on the first attempt without waiting for a blank line.
    let tls = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    assert!(RequestHead::new().parse(tls, &Limits::default()).is_err());
}

#[test]
fn head_reuse_and_reset() {
    let mut head = RequestHead::new();
    let a = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nX: 1\r\n\r\n";
    let b = b"GET /b HTTP/1.0\r\n\r\n";
    assert!(matches!(
        head.parse(a, &Limits::default()),
        Ok(Parse::Complete(_))
    ));
    assert_eq!(head.body(), BodyKind::Length(2));
    assert!(matches!(
        head.parse(b, &Limits::default()),
        Ok(Parse::Complete(_))
    ));
    assert_eq!(head.body(), BodyKind::Empty);
    assert_eq!(head.content_length(), None);
    assert_eq!(head.header_spans().len(), 0);
    assert_eq!(head.target(b), b"/b");
    // A Partial followed by a replaced buffer: reset() forgets the scan position.
    assert_eq!(
        head.parse(b"GET / HTTP/1.1\r\nHost: a\r\n", &Limits::default()),
        Ok(Parse::Partial)
    );
    head.reset();
    assert!(matches!(
        head.parse(b"GET /c HTTP/1.1\r\nHost: c\r\n\r\n", &Limits::default()),
        Ok(Parse::Complete(_))
    ));
}

#[test]
fn pipelined_requests_in_one_buffer() {
    let mut buf: Vec<u8> = Vec::new();
    buf.extend_from_slice(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n");
    buf.extend_from_slice(b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    buf.extend_from_slice(b"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n");
    buf.extend_from_slice(b"HEAD /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    buf.extend_from_slice(b"GET /5 HT");

    let limits = Limits::default();
    let mut head = RequestHead::new();
    let mut seen = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &buf[pos..];
        let n = match head.parse(rest, &limits).unwrap() {
            Parse::Complete(n) => n,
            Parse::Partial => break,
        };
        let mut dec = BodyDecoder::new(head.body(), &limits);
        let body_in = &rest[n..];
        let mut data = Vec::new();
        let p = dec
            .advance_with(body_in, |r| data.extend_from_slice(&body_in[r]))
            .unwrap();
        assert!(p.is_done);
        seen.push((head.target(rest).to_vec(), data, head.is_keep_alive()));
        pos += n + p.consumed;
    }
    assert_eq!(&buf[pos..], b"GET /5 HT");
    assert_eq!(
        seen,
        vec![
            (b"/1".to_vec(), vec![], true),
            (b"/2".to_vec(), b"hello".to_vec(), true),
            (b"/3".to_vec(), b"abc".to_vec(), true),
            (b"/4".to_vec(), vec![], false),
        ]
    );
}

// === responses ===

/// Name, input, request method, and (status, body, keep-alive) or the error.
type ResponseCase = (
    &'static str,
    &'static [u8],
    Method,
    Result<(u16, BodyKind, bool), HeadError>,
);

#[test]
fn response_table() {
    use HeadError as H;
    use Method::{Connect, Get, Head};
    let cases: &[ResponseCase] = &[
        ("200 cl", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Get, Ok((200, BodyKind::Length(5), true))),
        ("200 chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Get, Ok((200, BodyKind::Chunked, true))),
        ("200 close delimited", b"HTTP/1.1 200 OK\r\n\r\n", Get, Ok((200, BodyKind::CloseDelimited, false))),
        ("200 close", b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", Get, Ok((200, BodyKind::Length(0), false))),
        ("1.0 response", b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", Get, Ok((200, BodyKind::Length(1), false))),
        ("1.0 keep-alive", b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", Get, Ok((200, BodyKind::Length(1), true))),
        ("head response", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", Head, Ok((200, E, true))),
        ("head chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Head, Ok((200, E, true))),
        ("204", b"HTTP/1.1 204 No Content\r\n\r\n", Get, Ok((204, E, true))),
        ("204 cl 0", b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", Get, Ok((204, E, true))),
        ("304 with cl", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", Get, Ok((304, E, true))),
        ("100 continue", b"HTTP/1.1 100 Continue\r\n\r\n", Get, Ok((100, E, true))),
        ("103", b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", Get, Ok((103, E, true))),
        ("101", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", Get, Ok((101, E, false))),
        ("connect 200", b"HTTP/1.1 200 OK\r\n\r\n", Connect, Ok((200, E, true))),
        ("connect 403", b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n", Connect, Ok((403, BodyKind::Length(2), true))),
        ("no reason", b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", Get, Ok((200, BodyKind::Length(0), true))),
        ("unknown code", b"HTTP/1.1 299 Whatever\r\nContent-Length: 0\r\n\r\n", Get, Ok((299, BodyKind::Length(0), true))),
        ("599", b"HTTP/1.1 599 X\r\nContent-Length: 0\r\n\r\n", Get, Ok((599, BodyKind::Length(0), true))),
        ("cl and te", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Get, Err(H::ContentLengthAndTransferEncoding)),
        ("te gzip", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", Get, Err(H::UnsupportedTransferEncoding)),
        ("te 1.0", b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Get, Err(H::TransferEncodingHttp10)),
        ("cl conflict", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", Get, Err(H::ConflictingContentLength)),
        ("cl invalid", b"HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\n", Get, Err(H::InvalidContentLength)),
        ("204 with cl", b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", Get, Err(H::BodyNotAllowed)),
        ("204 with te", b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", Get, Err(H::BodyNotAllowed)),
        ("100 with te", b"HTTP/1.1 100 Continue\r\nTransfer-Encoding: chunked\r\n\r\n", Get, Err(H::BodyNotAllowed)),
        ("connect 200 chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Connect, Err(H::UnsupportedTransferEncoding)),
        ("status 99", b"HTTP/1.1 099 X\r\n\r\n", Get, Err(H::Status)),
        ("status 600", b"HTTP/1.1 600 X\r\n\r\n", Get, Err(H::Status)),
        ("status 4 digits", b"HTTP/1.1 2000 OK\r\n\r\n", Get, Err(H::Status)),
        ("status letters", b"HTTP/1.1 2x0 OK\r\n\r\n", Get, Err(H::Status)),
        ("bad version", b"HTTP/2 200 OK\r\n\r\n", Get, Err(H::Version)),
        ("obs-fold", b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", Get, Err(H::ObsFold)),
        ("space before colon", b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n", Get, Err(H::HeaderName)),
        ("nul value", b"HTTP/1.1 200 OK\r\nX: \0\r\n\r\n", Get, Err(H::HeaderValue)),
    ];
    for (name, input, method, want) in cases {
        match (response(input, *method), want) {
            (Ok(r), Ok((status, body, keep))) => {
                assert_eq!(r.status(), *status, "{name}");
                assert_eq!(r.body(), *body, "{name}");
                assert_eq!(r.is_keep_alive(), *keep, "{name}");
            }
            (Err(e), Err(w)) => assert_eq!(e, *w, "{name}"),
            (got, _) => panic!("{name}: got {:?}", got.map(|r| r.status())),
        }
    }
}

#[test]
fn response_accessors_and_interim() {
    let buf: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 42\r\n\r\n";
    let limits = Limits::default();
    let mut head = ResponseHead::new();
    let Parse::Complete(n) = head.parse(buf, &limits, Method::Get).unwrap() else {
        panic!()
    };
    assert!(head.is_informational());
    assert_eq!(head.reason(buf), b"Continue");
    let rest = &buf[n..];
    assert_eq!(
        head.parse(rest, &limits, Method::Get).unwrap(),
        Parse::Complete(rest.len())
    );
    assert_eq!(head.status(), 304);
    assert!(!head.is_informational());
    assert_eq!(head.body(), BodyKind::Empty);
    assert_eq!(head.content_length(), Some(42), "kept for forwarding");
    assert_eq!(head.header(rest, b"etag"), Some(&b"\"x\""[..]));
    assert_eq!(head.version(), Version::Http11);
    assert_eq!(head.headers(rest).len(), 2);

    let r = response(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", Method::Get).unwrap();
    assert!(!r.is_informational(), "101 is final for this connection");
    let r = response(b"HTTP/1.1 200\r\n\r\n", Method::Get).unwrap();
    assert_eq!(r.reason(b"HTTP/1.1 200\r\n\r\n"), b"");
}

#[test]
fn response_every_prefix() {
    let input: &[u8] = b"HTTP/1.1 200 OK\r\nServer: up\r\nContent-Length: 2\r\n\r\n";
    let mut head = ResponseHead::new();
    for end in 0..input.len() {
        assert_eq!(
            head.parse(&input[..end], &Limits::default(), Method::Get),
            Ok(Parse::Partial)
        );
    }
    assert_eq!(
        head.parse(input, &Limits::default(), Method::Get),
        Ok(Parse::Complete(input.len()))
    );
}

#[test]
fn response_limits() {
    let mut v = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..101 {
        v.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
    }
    v.extend_from_slice(b"\r\n");
    assert_eq!(
        response(&v, Method::Get).unwrap_err(),
        HeadError::TooManyHeaders
    );
    let mut big = b"HTTP/1.1 200 OK\r\nx: ".to_vec();
    big.resize(DEFAULT_HEAD_BYTES_MAX + 10, b'a');
    assert_eq!(
        ResponseHead::new().parse(&big, &Limits::default(), Method::Get),
        Err(HeadError::HeadTooLarge)
    );
}
