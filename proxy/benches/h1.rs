//! Parsing and encoding an HTTP/1.1 head: the codec's share of every proxied request.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use sluice::http::h1::{HeadEncoder, Limits, Parse, RequestHead};

const TYPICAL: &[u8] = b"GET /api/v1/items?id=12345&sort=asc HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nAccept-Encoding: gzip, br\r\nx-request-id: 6f1c2a8e-7d41-4f2b\r\nConnection: keep-alive\r\n\r\n";

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut head = RequestHead::new();
    c.bench_function("h1 parse typical request head", |b| {
        b.iter(|| {
            let r = head.parse(black_box(TYPICAL), &limits);
            black_box(&r);
        });
    });
}

fn encode(c: &mut Criterion) {
    let limits = Limits::default();
    let mut head = RequestHead::new();
    let Ok(Parse::Complete(_)) = head.parse(TYPICAL, &limits) else {
        return;
    };
    let mut out = Vec::with_capacity(1024);
    c.bench_function("h1 encode forwarded request head", |b| {
        b.iter(|| {
            out.clear();
            let mut enc =
                HeadEncoder::request(&mut out, head.method(TYPICAL), head.target(TYPICAL));
            enc.forward_headers(head.headers(TYPICAL), &[]);
            let _ = enc.header(b"x-forwarded-proto", b"http");
            enc.framing(head.body());
            black_box(enc.finish());
        });
    });
}

criterion_group!(benches, parse, encode);
criterion_main!(benches);
