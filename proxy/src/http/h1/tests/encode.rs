//! Head encoding, local replies, reason phrases and dates.

use super::*;

fn s(v: &[u8]) -> &str {
    std::str::from_utf8(v).unwrap()
}

#[test]
fn forward_request_strips_hop_by_hop() {
    let buf: &[u8] = b"POST /p?q HTTP/1.1\r\n\
        Host: Backend.Example\r\n\
        Connection: keep-alive, X-Hop, Host\r\n\
        Keep-Alive: timeout=5\r\n\
        Proxy-Connection: keep-alive\r\n\
        TE: trailers, deflate\r\n\
        Upgrade: websocket\r\n\
        X-Hop: secret\r\n\
        Content-Length: 5\r\n\
        X-Keep: 1\r\n\
        Trailer: X-Sum\r\n\
        X-Forwarded-For: 1.2.3.4\r\n\
        \r\nhello";
    let head = request(buf).unwrap();
    assert!(head.headers(buf).connection_nominates());
    let mut out = b"previous".to_vec();
    let mut enc = HeadEncoder::request(&mut out, head.method(buf), head.target(buf));
    enc.forward_headers(head.headers(buf), &[b"x-forwarded-for"]);
    enc.header(b"x-forwarded-for", b"1.2.3.4,10.0.0.1").unwrap();
    enc.header(b"X-Request-Id", b"abc").unwrap();
    enc.framing(head.body());
    let n = enc.finish();
    assert_eq!(
        s(&out),
        "previousPOST /p?q HTTP/1.1\r\n\
         host: Backend.Example\r\n\
         te: trailers\r\n\
         x-keep: 1\r\n\
         trailer: X-Sum\r\n\
         x-forwarded-for: 1.2.3.4,10.0.0.1\r\n\
         x-request-id: abc\r\n\
         content-length: 5\r\n\r\n"
    );
    assert_eq!(n, out.len() - b"previous".len());
}

#[test]
fn forward_chunked_and_te_without_trailers() {
    let buf: &[u8] =
        b"PUT /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTE: gzip\r\nX-A: 1\r\n\r\n";
    let head = request(buf).unwrap();
    let mut out = Vec::new();
    let mut enc = HeadEncoder::request(&mut out, head.method(buf), head.target(buf));
    enc.forward_headers(head.headers(buf), &[b"HOST"])
        .header(b"host", b"rewritten")
        .unwrap();
    enc.framing(head.body());
    enc.finish();
    assert_eq!(
        s(&out),
        "PUT /u HTTP/1.1\r\nx-a: 1\r\nhost: rewritten\r\ntransfer-encoding: chunked\r\n\r\n"
    );
}

#[test]
fn forward_response() {
    let buf: &[u8] = b"HTTP/1.1 200 Fine Thanks\r\nServer: upstream\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n";
    let head = response(buf, Method::Get).unwrap();
    assert_eq!(head.body(), BodyKind::CloseDelimited);
    let mut out = Vec::new();
    let mut enc = HeadEncoder::response(&mut out, Version::Http11, head.status());
    enc.forward_headers(head.headers(buf), &[b"server"]);
    enc.header(b"server", b"envoy").unwrap();
    enc.header(b"x-envoy-upstream-service-time", b"3").unwrap();
    // Close-delimited upstream, 1.1 client: re-frame as chunked.
    enc.framing(BodyKind::Chunked);
    enc.finish();
    assert_eq!(
        s(&out),
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nserver: envoy\r\n\
         x-envoy-upstream-service-time: 3\r\ntransfer-encoding: chunked\r\n\r\n"
    );

    let buf: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    let head = response(buf, Method::Head).unwrap();
    let mut out = Vec::new();
    let mut enc = HeadEncoder::response(&mut out, Version::Http10, 299);
    enc.forward_headers(head.headers(buf), &[]);
    enc.content_length(head.content_length().unwrap())
        .connection_keep_alive();
    enc.finish();
    assert_eq!(
        s(&out),
        "HTTP/1.0 299 Unknown\r\ncontent-length: 100\r\nconnection: keep-alive\r\n\r\n"
    );
}

#[test]
fn encoder_helpers() {
    let mut out = Vec::new();
    let mut enc = HeadEncoder::request(&mut out, b"GET", b"/chat");
    enc.header(b"host", b"a").unwrap();
    enc.upgrade(b"websocket").unwrap().connection_close();
    enc.framing(BodyKind::Empty)
        .framing(BodyKind::CloseDelimited)
        .framing(BodyKind::Length(0));
    enc.finish();
    assert_eq!(
        s(&out),
        "GET /chat HTTP/1.1\r\nhost: a\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
         connection: close\r\ncontent-length: 0\r\n\r\n"
    );
}

#[test]
fn header_injection_rejected() {
    let mut out = Vec::new();
    let mut enc = HeadEncoder::request(&mut out, b"GET", b"/");
    assert_eq!(
        enc.header(b"x y", b"v").err(),
        Some(EncodeError::HeaderName)
    );
    assert_eq!(enc.header(b"", b"v").err(), Some(EncodeError::HeaderName));
    assert_eq!(enc.header(b"x:", b"v").err(), Some(EncodeError::HeaderName));
    assert_eq!(
        enc.header(b"x", b"a\r\nevil: 1").err(),
        Some(EncodeError::HeaderValue)
    );
    assert_eq!(
        enc.header(b"x", b"a\0").err(),
        Some(EncodeError::HeaderValue)
    );
    assert_eq!(
        enc.header(b"x", b"a\x7f").err(),
        Some(EncodeError::HeaderValue)
    );
    assert!(enc.header(b"x", b"tab\tand \xc3\xa9").is_ok());
    assert_eq!(enc.upgrade(b"a\nb").err(), Some(EncodeError::HeaderValue));
    enc.finish();
    assert_eq!(out, b"GET / HTTP/1.1\r\nx: tab\tand \xc3\xa9\r\n\r\n");
}

const DATE: &[u8] = b"Thu, 01 Jan 1970 00:00:00 GMT";

#[test]
fn local_replies() {
    let cases: &[(LocalReply<'_>, &str)] = &[
        (
            LocalReply::new(503, local_reply::NO_HEALTHY_UPSTREAM),
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 19\r\ncontent-type: text/plain\r\n\
             date: Thu, 01 Jan 1970 00:00:00 GMT\r\nserver: envoy\r\n\r\nno healthy upstream",
        ),
        (
            LocalReply::new(503, local_reply::UPSTREAM_CONNECT_FAILURE),
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 91\r\ncontent-type: text/plain\r\n\
             date: Thu, 01 Jan 1970 00:00:00 GMT\r\nserver: envoy\r\n\r\n\
             upstream connect error or disconnect/reset before headers. reset reason: connection failure",
        ),
        (
            LocalReply::new(504, local_reply::UPSTREAM_REQUEST_TIMEOUT),
            "HTTP/1.1 504 Gateway Timeout\r\ncontent-length: 24\r\ncontent-type: text/plain\r\n\
             date: Thu, 01 Jan 1970 00:00:00 GMT\r\nserver: envoy\r\n\r\nupstream request timeout",
        ),
        (
            LocalReply::new(404, local_reply::ROUTE_NOT_FOUND),
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\
             date: Thu, 01 Jan 1970 00:00:00 GMT\r\nserver: envoy\r\n\r\n",
        ),
        (
            LocalReply::protocol_error(HeadError::TooManyHeaders.status_code()),
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 31\r\ncontent-type: text/plain\r\n\
             date: Thu, 01 Jan 1970 00:00:00 GMT\r\nserver: envoy\r\nconnection: close\r\n\r\n\
             Request Header Fields Too Large",
        ),
        (
            LocalReply::protocol_error(400),
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\n\
             date: Thu, 01 Jan 1970 00:00:00 GMT\r\nserver: envoy\r\nconnection: close\r\n\r\nBad Request",
        ),
        (
            LocalReply {
                is_head: true,
                server: b"sluice",
                ..LocalReply::new(503, b"no healthy upstream")
            },
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 19\r\ncontent-type: text/plain\r\n\
             date: Thu, 01 Jan 1970 00:00:00 GMT\r\nserver: sluice\r\n\r\n",
        ),
    ];
    for (reply, want) in cases {
        let mut out = b"x".to_vec();
        let n = encode_local_reply(&mut out, reply, DATE);
        assert_eq!(s(&out[1..]), *want);
        assert_eq!(n, want.len());
        // What we send parses back with the same framing.
        let back = response(
            &out[1..],
            if reply.is_head {
                Method::Head
            } else {
                Method::Get
            },
        )
        .unwrap();
        assert_eq!(back.status(), reply.status);
        assert_eq!(back.is_keep_alive(), !reply.is_close);
    }
}

#[test]
fn reason_phrases() {
    assert_eq!(reason_phrase(200), Some("OK"));
    assert_eq!(reason_phrase(101), Some("Switching Protocols"));
    assert_eq!(reason_phrase(426), Some("Upgrade Required"));
    assert_eq!(reason_phrase(431), Some("Request Header Fields Too Large"));
    assert_eq!(reason_phrase(501), Some("Not Implemented"));
    assert_eq!(reason_phrase(503), Some("Service Unavailable"));
    assert_eq!(reason_phrase(299), None);
    assert_eq!(reason_phrase(0), None);
    // Every registered code encodes to a status line that parses back.
    for code in 100..=599u16 {
        if let Some(reason) = reason_phrase(code) {
            let mut out = Vec::new();
            HeadEncoder::response(&mut out, Version::Http11, code).finish();
            assert_eq!(
                out,
                format!("HTTP/1.1 {code} {reason}\r\n\r\n").into_bytes()
            );
            let back = response(&out, Method::Head).unwrap();
            assert_eq!(back.reason(&out), reason.as_bytes());
        }
    }
}

#[test]
fn dates() {
    let mut cache = DateCache::new();
    assert_eq!(cache.get(0), DATE);
    assert_eq!(cache.get(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(cache.get(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
    assert_eq!(cache.get(1_709_164_799), b"Wed, 28 Feb 2024 23:59:59 GMT");
    assert_eq!(cache.get(1_709_251_199), b"Thu, 29 Feb 2024 23:59:59 GMT");
    assert_eq!(cache.get(4_102_444_800), b"Fri, 01 Jan 2100 00:00:00 GMT");
    assert_eq!(cache.get(253_402_300_799), b"Fri, 31 Dec 9999 23:59:59 GMT");
    assert_eq!(
        cache.get(u64::MAX),
        b"Fri, 31 Dec 9999 23:59:59 GMT",
        "clamped"
    );
    assert_eq!(cache.get(0), DATE, "cache follows the time back");
}

/// Checks every day from 1970 to 2500 against a naive calendar walk.
#[test]
fn dates_match_naive_calendar() {
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const WDAY: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let mut cache = DateCache::new();
    let mut day = 0u64;
    for year in 1970u64..2500 {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        for (m, name) in MON.iter().enumerate() {
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ][m];
            for d in 1..=len {
                let secs = day * 86_400 + 3_723;
                let want = format!(
                    "{}, {d:02} {name} {year} 01:02:03 GMT",
                    WDAY[(day % 7) as usize]
                );
                assert_eq!(s(cache.get(secs)), want);
                day += 1;
            }
        }
    }
}

#[test]
fn proper_case_header_names_as_envoy_writes_them() {
    let mut out = Vec::new();
    let mut enc = HeadEncoder::response(&mut out, Version::Http11, 200);
    enc.header(b"content-type", b"text/plain; charset=utf-8")
        .unwrap();
    enc.header(b"x-b3-traceid", b"a:b-c").unwrap();
    enc.header(b"foo$b#$are", b"x").unwrap();
    enc.header(b"te", b"trailers").unwrap();
    enc.header(b"x-empty", b"").unwrap();
    enc.framing(BodyKind::Chunked);
    enc.connection_close();
    enc.finish();
    out.extend_from_slice(b"body-with: colon\r\n");
    proper_case_header_names(&mut out);
    assert_eq!(
        s(&out),
        "HTTP/1.1 200 OK\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         X-B3-Traceid: a:b-c\r\n\
         Foo$B#$Are: x\r\n\
         Te: trailers\r\n\
         X-Empty: \r\n\
         Transfer-Encoding: chunked\r\n\
         Connection: close\r\n\
         \r\n\
         body-with: colon\r\n"
    );

    // A request's start line (method and target) is not touched.
    let mut out = Vec::new();
    let mut enc = HeadEncoder::request(&mut out, b"get", b"/a-b:c");
    enc.header(b"host", b"h").unwrap();
    enc.content_length(0);
    enc.finish();
    proper_case_header_names(&mut out);
    assert_eq!(
        s(&out),
        "get /a-b:c HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
    );

    // A local reply, and a head with no header at all.
    let mut out = Vec::new();
    encode_local_reply(&mut out, &LocalReply::new(404, b"nope"), b"DATE");
    proper_case_header_names(&mut out);
    assert_eq!(
        s(&out),
        "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nContent-Type: text/plain\r\n\
         Date: DATE\r\nServer: envoy\r\n\r\nnope"
    );
    let mut bare = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
    proper_case_header_names(&mut bare);
    assert_eq!(s(&bare), "HTTP/1.1 100 Continue\r\n\r\n");
}
