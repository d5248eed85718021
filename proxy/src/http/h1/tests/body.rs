//! Body framing: chunked (extensions, trailers), Content-Length, close-delimited, every split.

use super::*;

/// Chunked bodies that must decode, with their data.
const CHUNKED_OK: &[(&[u8], &[u8])] = &[
    (b"0\r\n\r\n", b""),
    (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
    (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
    (
        b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n",
        b"0123456789abcdefghij",
    ),
    (b"5;name=value;flag\r\nhello\r\n0;last\r\n\r\n", b"hello"),
    (
        b"5 ; ext = \"quoted \\\" str\"\r\nhello\r\n0\r\n\r\n",
        b"hello",
    ),
    (b"5\t;x\r\nhello\r\n0\r\n\r\n", b"hello"),
    (b"5 \r\nhello\r\n0\r\n\r\n", b"hello"),
    (
        b"3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum: 123\r\n\r\n",
        b"abc",
    ),
    (
        b"3\r\nabc\r\n0\r\nX-Empty:\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
        b"abc",
    ),
    (b"00000000000000000003\r\nabc\r\n000\r\n\r\n", b"abc"),
    (b"3;\xff\r\n\r\n\r\r\n0\r\n\r\n", b"\r\n\r"),
];

#[test]
fn chunked_table() {
    for (input, data) in CHUNKED_OK {
        let (got, consumed, done) = decode(BodyKind::Chunked, input).unwrap();
        assert_eq!(&got, data, "{:?}", String::from_utf8_lossy(input));
        assert_eq!(consumed, input.len());
        assert!(done);
    }
}

#[test]
fn chunked_errors() {
    use BodyError::*;
    let long_ext = {
        let mut v = b"5;".to_vec();
        v.resize(5000, b'a');
        v.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        v
    };
    let long_size = {
        let mut v = vec![b'0'; 4095];
        v.extend_from_slice(b"5\r\nhello\r\n0\r\n\r\n");
        v
    };
    let cases: &[(&str, &[u8], BodyError)] = &[
        ("no size", b"\r\n", ChunkSize),
        ("non hex", b"g\r\n", ChunkSize),
        ("0x prefix", b"0x5\r\nhello\r\n0\r\n\r\n", ChunkSize),
        ("sign", b"+5\r\nhello\r\n0\r\n\r\n", ChunkSize),
        ("leading space", b" 5\r\nhello\r\n0\r\n\r\n", ChunkSize),
        ("bare lf after size", b"5\nhello\r\n0\r\n\r\n", ChunkSize),
        ("bare cr after size", b"5\rhello\r\n0\r\n\r\n", ChunkSize),
        ("junk after ws", b"5 x\r\nhello\r\n0\r\n\r\n", ChunkSize),
        ("overflow", b"10000000000000000\r\n", ChunkSize),
        (
            "max is fine then data missing crlf",
            b"ffffffffffffffff\r\n",
            ChunkSize,
        ),
        ("bare lf in ext", b"5;a\nhello\r\n0\r\n\r\n", ChunkExtension),
        ("nul in ext", b"5;a\0\r\nhello\r\n0\r\n\r\n", ChunkExtension),
        ("data too long", b"5\r\nhelloX\r\n0\r\n\r\n", ChunkDataEnd),
        ("data lf only", b"5\r\nhello\n0\r\n\r\n", ChunkDataEnd),
        ("data cr only", b"5\r\nhello\r0\r\n\r\n", ChunkDataEnd),
        ("ext too long", &long_ext, ChunkLineTooLong),
        ("size line too long", &long_size, ChunkLineTooLong),
        ("trailer obs-fold", b"0\r\nA: b\r\n c\r\n\r\n", Trailer),
        ("trailer leading space", b"0\r\n A: b\r\n\r\n", Trailer),
        ("trailer space in name", b"0\r\nA b: c\r\n\r\n", Trailer),
        ("trailer no colon", b"0\r\nAb\r\n\r\n", Trailer),
        ("trailer bare lf", b"0\r\nA: b\n\r\n", Trailer),
        ("trailer nul", b"0\r\nA: \0\r\n\r\n", Trailer),
        ("end bare lf", b"0\r\n\n", Trailer),
        ("end bare cr", b"0\r\n\rx", Trailer),
    ];
    for (name, input, want) in cases {
        let got = decode(BodyKind::Chunked, input);
        // "max is fine": the size parses; the error comes only if data ends badly. Feed data.
        if *name == "max is fine then data missing crlf" {
            assert_eq!(got, Ok((vec![], input.len(), false)), "{name}");
            continue;
        }
        assert_eq!(got, Err(*want), "{name}");
        // Same error whatever the split.
        for cut in 0..input.len() {
            assert_eq!(
                decode_split(BodyKind::Chunked, input, &[cut]),
                Err(*want),
                "{name} cut {cut}"
            );
        }
    }
}

#[test]
fn trailer_limits() {
    let limits = Limits {
        head_bytes_max: 32,
        headers_count_max: 2,
        ..Limits::default()
    };
    let run = |input: &[u8]| BodyDecoder::new(BodyKind::Chunked, &limits).advance(input);
    assert!(run(b"0\r\na: 1\r\nb: 2\r\n\r\n").unwrap().is_done);
    assert_eq!(
        run(b"0\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n"),
        Err(BodyError::TooManyTrailers)
    );
    // 32 bytes of trailer section (lines and final CRLF) is fine, 33 is not.
    let mut ok = b"0\r\na: ".to_vec();
    ok.resize(3 + 32 - 4, b'v');
    ok.extend_from_slice(b"\r\n\r\n");
    assert!(run(&ok).unwrap().is_done);
    let mut over = b"0\r\na: ".to_vec();
    over.resize(3 + 33 - 4, b'v');
    over.extend_from_slice(b"\r\n\r\n");
    assert_eq!(run(&over), Err(BodyError::TrailersTooLarge));
}

#[test]
fn chunk_line_limit_boundary() {
    let limits = Limits {
        chunk_line_bytes_max: 8,
        ..Limits::default()
    };
    // "5;abcd\r\n" is exactly 8 bytes.
    let ok = b"5;abcd\r\nhello\r\n0\r\n\r\n";
    assert!(
        BodyDecoder::new(BodyKind::Chunked, &limits)
            .advance(ok)
            .unwrap()
            .is_done
    );
    let over = b"5;abcde\r\nhello\r\n0\r\n\r\n";
    assert_eq!(
        BodyDecoder::new(BodyKind::Chunked, &limits).advance(over),
        Err(BodyError::ChunkLineTooLong)
    );
}

#[test]
fn every_split_point() {
    let mut messages: Vec<(BodyKind, Vec<u8>, Vec<u8>)> = CHUNKED_OK
        .iter()
        .map(|(i, d)| (BodyKind::Chunked, i.to_vec(), d.to_vec()))
        .collect();
    messages.push((
        BodyKind::Length(11),
        b"hello world".to_vec(),
        b"hello world".to_vec(),
    ));
    messages.push((BodyKind::Length(1), b"x".to_vec(), b"x".to_vec()));
    for (kind, body, data) in messages {
        // Followed by the start of a pipelined message that must stay untouched.
        let mut input = body.clone();
        input.extend_from_slice(b"GET / HTTP/1.1\r\n");
        for a in 0..=input.len() {
            let (got, consumed, done) = decode_split(kind, &input, &[a]).unwrap();
            assert_eq!(
                got,
                data,
                "split {a} of {:?}",
                String::from_utf8_lossy(&body)
            );
            assert_eq!(consumed, body.len());
            assert!(done);
        }
        // Every pair of split points for the smaller ones.
        if input.len() <= 64 {
            for a in 0..=input.len() {
                for b in a..=input.len() {
                    let (got, consumed, done) = decode_split(kind, &input, &[a, b]).unwrap();
                    assert_eq!(
                        (got.as_slice(), consumed, done),
                        (data.as_slice(), body.len(), true)
                    );
                }
            }
        }
        // Byte by byte.
        let cuts: Vec<usize> = (1..input.len()).collect();
        let (got, consumed, _) = decode_split(kind, &input, &cuts).unwrap();
        assert_eq!((got, consumed), (data.clone(), body.len()));
    }
}

#[test]
fn content_length_and_close() {
    assert_eq!(
        decode(BodyKind::Length(3), b"abcdef"),
        Ok((b"abc".to_vec(), 3, true))
    );
    assert_eq!(
        decode(BodyKind::Length(5), b"abc"),
        Ok((b"abc".to_vec(), 3, false))
    );
    assert_eq!(decode(BodyKind::Length(0), b"abc"), Ok((vec![], 0, true)));
    assert_eq!(decode(BodyKind::Empty, b"abc"), Ok((vec![], 0, true)));
    assert_eq!(
        decode(BodyKind::CloseDelimited, b"abc"),
        Ok((b"abc".to_vec(), 3, false))
    );

    let limits = Limits::default();
    let mut dec = BodyDecoder::new(BodyKind::Length(u64::MAX), &limits);
    assert_eq!(
        dec.advance(b"abc").unwrap(),
        Progress {
            consumed: 3,
            is_done: false
        }
    );
    assert_eq!(dec.remaining(), Some(u64::MAX - 3));

    let mut dec = BodyDecoder::new(BodyKind::Length(5), &limits);
    dec.advance(b"ab").unwrap();
    assert_eq!(dec.remaining(), Some(3));
    assert_eq!(dec.finish(), Err(BodyError::UnexpectedEof));
    assert_eq!(
        dec.advance(b"cde"),
        Err(BodyError::UnexpectedEof),
        "stays failed"
    );

    let mut dec = BodyDecoder::new(BodyKind::CloseDelimited, &limits);
    assert_eq!(
        dec.advance(b"").unwrap(),
        Progress {
            consumed: 0,
            is_done: false
        }
    );
    assert_eq!(
        dec.advance(b"xyz").unwrap(),
        Progress {
            consumed: 3,
            is_done: false
        }
    );
    assert_eq!(dec.remaining(), None);
    assert_eq!(dec.finish(), Ok(()));
    assert!(dec.is_done());
    assert_eq!(
        dec.advance(b"more").unwrap(),
        Progress {
            consumed: 0,
            is_done: true
        }
    );

    let mut dec = BodyDecoder::new(BodyKind::Chunked, &limits);
    dec.advance(b"5\r\nhel").unwrap();
    assert_eq!(dec.finish(), Err(BodyError::UnexpectedEof));
    let mut dec = BodyDecoder::new(BodyKind::Chunked, &limits);
    assert!(dec.advance(b"0\r\n\r\n").unwrap().is_done);
    assert_eq!(dec.finish(), Ok(()));
}

#[test]
fn failed_decoder_stays_failed() {
    let mut dec = BodyDecoder::new(BodyKind::Chunked, &Limits::default());
    assert_eq!(dec.advance(b"z"), Err(BodyError::ChunkSize));
    assert_eq!(dec.advance(b"0\r\n\r\n"), Err(BodyError::ChunkSize));
    assert_eq!(dec.finish(), Err(BodyError::ChunkSize));
    assert!(!dec.is_done());
}

#[test]
fn data_ranges_exclude_framing() {
    let input = b"3\r\nabc\r\n2;x\r\nde\r\n0\r\nT: v\r\n\r\n";
    let mut ranges = Vec::new();
    let p = BodyDecoder::new(BodyKind::Chunked, &Limits::default())
        .advance_with(input, |r| ranges.push(r))
        .unwrap();
    assert_eq!(
        p,
        Progress {
            consumed: input.len(),
            is_done: true
        }
    );
    assert_eq!(ranges, vec![3..6, 13..15]);
}

#[test]
fn chunk_header_writer() {
    let cases: &[(usize, &[u8])] = &[
        (1, b"1\r\n"),
        (15, b"f\r\n"),
        (16, b"10\r\n"),
        (255, b"ff\r\n"),
        (4096, b"1000\r\n"),
    ];
    for (n, want) in cases {
        let mut out = Vec::new();
        write_chunk_header(&mut out, *n);
        assert_eq!(&out, want);
    }
    let mut out = Vec::new();
    write_chunk_header(&mut out, usize::MAX);
    assert_eq!(out, format!("{:x}\r\n", usize::MAX).into_bytes());
    // A re-framed body decodes back.
    let mut framed = Vec::new();
    for piece in [&b"hello"[..], b" ", b"world"] {
        write_chunk_header(&mut framed, piece.len());
        framed.extend_from_slice(piece);
        framed.extend_from_slice(b"\r\n");
    }
    framed.extend_from_slice(LAST_CHUNK);
    assert_eq!(
        decode(BodyKind::Chunked, &framed),
        Ok((b"hello world".to_vec(), framed.len(), true))
    );
}

#[test]
fn decoding_in_place_moves_the_data_to_the_front_at_every_split() {
    for (input, data) in CHUNKED_OK {
        for split in 0..=input.len() {
            let mut d = BodyDecoder::new(BodyKind::Chunked, &Limits::default());
            let mut got = Vec::new();
            for part in [&input[..split], &input[split..]] {
                let mut buf = part.to_vec();
                let r = d.decode_in_place(&mut buf).unwrap();
                assert_eq!(r.consumed, part.len());
                got.extend_from_slice(&buf[..r.data]);
            }
            assert_eq!(
                &got,
                data,
                "{:?} split at {split}",
                String::from_utf8_lossy(input)
            );
            assert!(d.is_done());
        }
    }
}

#[test]
fn decoding_in_place_leaves_what_follows_the_body_untouched() {
    let mut d = BodyDecoder::new(BodyKind::Chunked, &Limits::default());
    let mut buf = b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 1\r\n\r\nGET / HTTP/1.1\r\n".to_vec();
    let r = d.decode_in_place(&mut buf).unwrap();
    assert!(r.is_done);
    assert_eq!(&buf[..r.data], b"abcde");
    assert_eq!(&buf[r.consumed..], b"GET / HTTP/1.1\r\n");
    // A Content-Length body is its own data: nothing moves.
    let mut d = BodyDecoder::new(BodyKind::Length(4), &Limits::default());
    let mut buf = b"wxyzNEXT".to_vec();
    let r = d.decode_in_place(&mut buf).unwrap();
    assert_eq!((r.data, r.consumed, r.is_done), (4, 4, true));
    assert_eq!(buf, b"wxyzNEXT");
}
