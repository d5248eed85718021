use super::*;

#[test]
fn xxhash64_reference_values() {
    // Published xxHash64 test vectors with seed 0.
    assert_eq!(xx_hash64(b""), 0xef46_db37_51d8_e999);
    assert_eq!(xx_hash64(b"a"), 0xd24e_c4f1_a98c_6e5b);
    assert_eq!(xx_hash64(b"abc"), 0x44bc_2cf5_ad77_0999);
}

#[test]
fn murmur_matches_libstdcxx_hash_bytes() {
    // Reference values from g++ `std::hash<std::string>` (libstdc++ `_Hash_bytes` with seed
    // 0xc70f6907) on x86-64: the function Envoy's `MurmurHash::murmurHash2` copies.
    let cases: [(&[u8], u64); 7] = [
        (b"", 0x553e_9390_1e46_2a6e),
        (b"a", 0x454d_dee4_88c1_ed6b),
        (b"abc", 0x32d8_2bf8_ed3d_ba39),
        (b"12345678", 0x8c5b_90a3_3a04_dca5),
        (b"123456789", 0xaaeb_28d3_d5f1_65c0),
        (b"hello world, this is murmur", 0x6dc5_1d41_2258_a41c),
        (b"10.0.0.1:80_0", 0xbd8f_6461_ecff_b28c),
    ];
    for (input, expected) in cases {
        assert_eq!(
            murmur_hash2_64(input, MURMUR_STD_HASH_SEED),
            expected,
            "{input:?}"
        );
    }
}

struct Req {
    headers: Vec<(&'static str, &'static [u8])>,
    path: Option<&'static str>,
    src: Option<SocketAddr>,
    local: Option<SocketAddr>,
}

impl HashInput for Req {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .collect()
    }
    fn path(&self) -> Option<&str> {
        self.path
    }
    fn source_address(&self) -> Option<SocketAddr> {
        self.src
    }
    fn local_address(&self) -> Option<SocketAddr> {
        self.local
    }
}

fn req() -> Req {
    Req {
        headers: vec![
            ("user-agent", b"Chrome"),
            ("cookie", b"a=1; session=\"xyz\""),
        ],
        path: Some("/p?x=1&user=bob&user=alice&flag"),
        src: Some("10.0.0.7:5555".parse().unwrap()),
        local: Some("127.0.0.1:80".parse().unwrap()),
    }
}

fn policy(kind: HashPolicyKind, terminal: bool) -> HashPolicy {
    HashPolicy { kind, terminal }
}

#[test]
fn single_policies_hash_the_documented_bytes() {
    let r = req();
    let h = |k| compute_request_hash(&[policy(k, false)], &r).hash;
    assert_eq!(
        h(HashPolicyKind::Header {
            name: "user-agent".into()
        }),
        Some(xx_hash64(b"Chrome"))
    );
    assert_eq!(h(HashPolicyKind::SourceIp), Some(xx_hash64(b"10.0.0.7")));
    assert_eq!(
        h(HashPolicyKind::QueryParameter {
            name: "user".into()
        }),
        Some(xx_hash64(b"bob"))
    );
    assert_eq!(
        h(HashPolicyKind::QueryParameter {
            name: "flag".into()
        }),
        Some(xx_hash64(b""))
    );
    assert_eq!(
        h(HashPolicyKind::QueryParameter {
            name: "nope".into()
        }),
        None
    );
    assert_eq!(
        h(HashPolicyKind::Cookie {
            name: "session".into(),
            path: String::new(),
            ttl: None
        }),
        Some(xx_hash64(b"xyz"))
    );
    assert_eq!(
        h(HashPolicyKind::Header {
            name: "x-missing".into()
        }),
        None
    );
}

#[test]
fn multi_value_headers_hash_order_independently() {
    assert_eq!(
        hash_header_values(&[b"foo", b"bar"]),
        hash_header_values(&[b"bar", b"foo"])
    );
    assert_eq!(
        hash_header_values(&[b"bar", b"foo"]),
        Some(xx_hash64(b"barfoo"))
    );
}

#[test]
fn policies_combine_with_rotate_xor_and_terminal_stops() {
    let r = req();
    let ua = policy(
        HashPolicyKind::Header {
            name: "user-agent".into(),
        },
        false,
    );
    let ip = policy(HashPolicyKind::SourceIp, false);
    let both = compute_request_hash(&[ua.clone(), ip.clone()], &r)
        .hash
        .unwrap();
    assert_eq!(
        both,
        xx_hash64(b"Chrome").rotate_left(1) ^ xx_hash64(b"10.0.0.7")
    );
    // Identical policies do not cancel out.
    let twice = compute_request_hash(&[ip.clone(), ip.clone()], &r)
        .hash
        .unwrap();
    assert_ne!(twice, 0);
    // A terminal policy that produced a hash ends the walk.
    let mut ua_term = ua.clone();
    ua_term.terminal = true;
    assert_eq!(
        compute_request_hash(&[ua_term, ip.clone()], &r).hash,
        Some(xx_hash64(b"Chrome"))
    );
    // A terminal policy without a hash does not.
    let missing = policy(
        HashPolicyKind::Header {
            name: "x-missing".into(),
        },
        true,
    );
    assert_eq!(
        compute_request_hash(&[missing, ip], &r).hash,
        Some(xx_hash64(b"10.0.0.7"))
    );
}

#[test]
fn cookie_with_ttl_is_generated_when_absent() {
    let r = req();
    let p = policy(
        HashPolicyKind::Cookie {
            name: "sticky".into(),
            path: "/".into(),
            ttl: Some(Duration::from_secs(60)),
        },
        false,
    );
    let out = compute_request_hash(&[p], &r);
    let expected = generated_cookie_value(r.src.unwrap(), r.local.unwrap());
    assert_eq!(expected.len(), 16);
    assert_eq!(out.hash, Some(xx_hash64(expected.as_bytes())));
    assert_eq!(out.set_cookies.len(), 1);
    assert_eq!(out.set_cookies[0].value, expected);
    assert_eq!(
        expected,
        format!("{:016x}", xx_hash64(b"10.0.0.7:5555127.0.0.1:80"))
    );
}

#[test]
fn no_policy_matches_means_no_hash() {
    let r = Req {
        headers: vec![],
        path: None,
        src: None,
        local: None,
    };
    let p = [
        policy(HashPolicyKind::SourceIp, false),
        policy(HashPolicyKind::Header { name: "a".into() }, false),
    ];
    assert_eq!(compute_request_hash(&p, &r).hash, None);
}
