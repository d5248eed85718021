use super::*;

/// Feeds `input` in pieces of `step` bytes (keeping unconsumed bytes like the connection does)
/// and returns every event other than `NeedMore`, or the error.
fn run(input: &[u8], step: usize) -> Result<Vec<Event>, Error> {
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    let mut buffered: Vec<u8> = Vec::new();
    for piece in input.chunks(step) {
        buffered.extend_from_slice(piece);
        let mut pos = 0;
        loop {
            let (consumed, event) = decoder.decode(&buffered[pos..], false)?;
            pos += consumed;
            match event {
                Event::NeedMore if consumed == 0 || pos == buffered.len() => break,
                Event::NeedMore => {}
                other => events.push(other),
            }
        }
        buffered.drain(..pos);
    }
    Ok(events)
}

/// One table row: name, input, expected events (other than `NeedMore`) or error.
type Case = (&'static str, &'static [u8], Result<Vec<Event>, Error>);

const GET: Request = Request {
    is_head: false,
    is_keep_alive: true,
    is_http10: false,
};

#[test]
fn table() {
    let cases: &[Case] = &[
        ("plain get", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok(vec![Event::Complete(GET)])),
        (
            "pipelined gets",
            b"GET / HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\n\r\n",
            Ok(vec![Event::Complete(GET); 3]),
        ),
        (
            "content-length body then get",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n",
            Ok(vec![Event::Complete(GET); 2]),
        ),
        (
            "chunked body with extension and trailer",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            Ok(vec![Event::Complete(GET); 2]),
        ),
        (
            "connection close",
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
            Ok(vec![Event::Complete(Request { is_keep_alive: false, ..GET })]),
        ),
        (
            "http/1.0 default close",
            b"GET / HTTP/1.0\r\n\r\n",
            Ok(vec![Event::Complete(Request { is_keep_alive: false, is_http10: true, ..GET })]),
        ),
        (
            "http/1.0 keep-alive",
            b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            Ok(vec![Event::Complete(Request { is_http10: true, ..GET })]),
        ),
        ("head", b"HEAD / HTTP/1.1\r\n\r\n", Ok(vec![Event::Complete(Request { is_head: true, ..GET })])),
        (
            "expect continue",
            b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
            Ok(vec![Event::Continue, Event::Complete(GET)]),
        ),
        (
            "te and cl: te wins, no reuse",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            Ok(vec![Event::Complete(Request { is_keep_alive: false, ..GET })]),
        ),
        ("bad content-length", b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", Err(Error::BadRequest)),
        (
            "conflicting content-length",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            Err(Error::BadRequest),
        ),
        ("gzip only", b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", Err(Error::BadRequest)),
        (
            "bad chunk size",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            Err(Error::BadRequest),
        ),
        (
            "chunk size overflow",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n",
            Err(Error::BadRequest),
        ),
        ("garbage", b"\x01\x02 nonsense\r\n\r\n", Err(Error::BadRequest)),
    ];
    for (name, input, expected) in cases {
        // Every split point must give the same answer as the whole input at once.
        for step in [input.len(), 1, 2, 3, 7] {
            assert_eq!(&run(input, step), expected, "case {name:?}, step {step}");
        }
    }
}

#[test]
fn partial_head_in_full_buffer_is_too_large() {
    let mut decoder = Decoder::new();
    assert_eq!(
        decoder.decode(b"GET / HTTP/1.1\r\nHost: a", true),
        Err(Error::HeadTooLarge)
    );
}

#[test]
fn too_many_headers() {
    let mut head = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..=HEADERS_MAX {
        head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    assert_eq!(
        Decoder::new().decode(&head, false),
        Err(Error::HeadTooLarge)
    );
}

#[test]
fn responses() {
    let responses = Responses::new(13);
    let body = responses.for_request(&GET);
    assert!(body.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(body.ends_with(b"Content-Length: 13\r\n\r\nhello, world\n"));
    let head = responses.for_request(&Request {
        is_head: true,
        ..GET
    });
    assert!(head.ends_with(b"Content-Length: 13\r\n\r\n"));
    let close = responses.for_request(&Request {
        is_keep_alive: false,
        ..GET
    });
    assert!(close.windows(19).any(|w| w == b"Connection: close\r\n"));
    assert_eq!(
        Responses::new(65_536).for_request(&GET).len(),
        body.len() - 13 + 65_536 + 3
    );
}
