//! Request hashing as Envoy's `Http::HashPolicyImpl` does it, plus the two ring hash functions.
//!
//! The proxy computes the hash once per request from the route's `hash_policy` list and passes it in
//! [`crate::PickContext::hash`]. Each policy yields an optional 64-bit value; values are combined as
//! `hash = rotl(hash, 1) ^ new`, and a `terminal` policy that produced a hash stops the walk. No value
//! at all means "no hash": ring hash and maglev then pick a random host, like Envoy.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use xxhash_rust::xxh64::{Xxh64, xxh64};

/// Envoy's `HashUtil::xxHash64(input)` (seed 0).
#[must_use]
pub fn xx_hash64(input: &[u8]) -> u64 {
    xxh64(input, 0)
}

/// Envoy's `MurmurHash::STD_HASH_SEED`.
pub const MURMUR_STD_HASH_SEED: u64 = 0xc70f_6907;

/// Envoy's `MurmurHash::murmurHash2` (libstdc++'s 64-bit `_Hash_bytes`), little-endian loads.
#[must_use]
pub fn murmur_hash2_64(key: &[u8], seed: u64) -> u64 {
    const MUL: u64 = 0xc6a4_a793_5bd1_e995;
    let shift_mix = |v: u64| v ^ (v >> 47);
    let len = key.len() as u64;
    let mut hash = seed ^ len.wrapping_mul(MUL);
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let data = shift_mix(u64::from_le_bytes(word).wrapping_mul(MUL)).wrapping_mul(MUL);
        hash ^= data;
        hash = hash.wrapping_mul(MUL);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // load_bytes: the first byte is the least significant.
        let data = rest
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        hash ^= data;
        hash = hash.wrapping_mul(MUL);
    }
    hash = shift_mix(hash).wrapping_mul(MUL);
    shift_mix(hash)
}

/// One `RouteAction.HashPolicy` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct HashPolicy {
    /// What to hash.
    pub kind: HashPolicyKind,
    /// `terminal`: stop at this policy if a hash has been produced so far.
    pub terminal: bool,
}

/// The `policy_specifier` oneof of `RouteAction.HashPolicy`.
#[derive(Clone, Debug, PartialEq)]
pub enum HashPolicyKind {
    /// `header.header_name` (lower-case).
    Header {
        /// Header name.
        name: String,
    },
    /// `cookie`: hash the cookie's value; with a `ttl`, generate the cookie when absent.
    Cookie {
        /// Cookie name.
        name: String,
        /// Cookie path for a generated cookie.
        path: String,
        /// `ttl`: when set and the cookie is absent, Envoy generates one (see [`generated_cookie_value`]).
        ttl: Option<Duration>,
    },
    /// `connection_properties.source_ip: true`.
    SourceIp,
    /// `query_parameter.name`.
    QueryParameter {
        /// Parameter name (case-sensitive).
        name: String,
    },
}

/// What a request offers to hash policies; the proxy implements it over its request head.
pub trait HashInput {
    /// All values of header `name` (lower-case), in arrival order.
    fn header_values(&self, name: &str) -> Vec<&[u8]>;
    /// The request's `:path` including the query string.
    fn path(&self) -> Option<&str>;
    /// The downstream peer address.
    fn source_address(&self) -> Option<SocketAddr>;
    /// The listener's local address of the downstream connection (for generated cookies).
    fn local_address(&self) -> Option<SocketAddr>;
}

/// A cookie Envoy must set on the response because a `cookie` policy with `ttl` generated it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedCookie {
    /// Cookie name.
    pub name: String,
    /// Cookie value (16 lower-case hex digits).
    pub value: String,
    /// `Path` attribute (empty: none).
    pub path: String,
    /// `Max-Age`.
    pub ttl: Duration,
}

/// The result of evaluating a route's hash policies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHash {
    /// The combined hash; `None` when no policy produced one.
    pub hash: Option<u64>,
    /// Cookies to add to the response (`Set-Cookie`, `HttpOnly`).
    pub set_cookies: Vec<GeneratedCookie>,
}

/// Evaluate `policies` against a request as Envoy's `HashPolicyImpl::generateHash` does.
pub fn compute_request_hash(policies: &[HashPolicy], input: &dyn HashInput) -> RequestHash {
    let mut out = RequestHash::default();
    for policy in policies {
        let new_hash = match &policy.kind {
            HashPolicyKind::Header { name } => {
                let values = input.header_values(name);
                hash_header_values(&values)
            }
            HashPolicyKind::Cookie { name, path, ttl } => {
                let headers = input.header_values("cookie");
                match parse_cookie_value(&headers, name) {
                    Some(v) if !v.is_empty() => Some(xx_hash64(v)),
                    _ => match (ttl, input.source_address(), input.local_address()) {
                        (Some(ttl), Some(remote), Some(local)) => {
                            let value = generated_cookie_value(remote, local);
                            let h = xx_hash64(value.as_bytes());
                            out.set_cookies.push(GeneratedCookie {
                                name: name.clone(),
                                value,
                                path: path.clone(),
                                ttl: *ttl,
                            });
                            Some(h)
                        }
                        _ => None,
                    },
                }
            }
            HashPolicyKind::SourceIp => input.source_address().map(|a| hash_source_ip(a.ip())),
            HashPolicyKind::QueryParameter { name } => {
                input.path().and_then(|p| hash_query_parameter(p, name))
            }
        };
        if let Some(new_hash) = new_hash {
            out.hash = Some(combine_hash(out.hash, new_hash));
        }
        if policy.terminal && out.hash.is_some() {
            break;
        }
    }
    out
}

/// Fold one policy's hash into the running value: rotate the old value left by one, then xor (so two
/// identical policies do not cancel out).
#[must_use]
pub fn combine_hash(previous: Option<u64>, new_hash: u64) -> u64 {
    previous.map_or(0, |h| h.rotate_left(1)) ^ new_hash
}

/// Header policy: xxHash64 over all values sorted (so `a, b` and `b, a` hash alike), streamed as one
/// concatenation. `None` if the header is absent.
#[must_use]
pub fn hash_header_values(values: &[&[u8]]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<&[u8]> = values.to_vec();
    sorted.sort_unstable();
    let mut h = Xxh64::new(0);
    for v in sorted {
        h.update(v);
    }
    Some(h.digest())
}

/// Source-IP policy: xxHash64 of the address without port (`10.0.0.1`, `::1`).
#[must_use]
pub fn hash_source_ip(ip: IpAddr) -> u64 {
    xx_hash64(ip.to_string().as_bytes())
}

/// Query-parameter policy: xxHash64 of the first value of `name` in the query string (not decoded, as
/// Envoy's `parseQueryString`); a parameter without `=` has the empty value.
#[must_use]
pub fn hash_query_parameter(path: &str, name: &str) -> Option<u64> {
    let (_, query) = path.split_once('?')?;
    query.split('&').find_map(|param| {
        let (k, v) = param.split_once('=').unwrap_or((param, ""));
        (k == name).then(|| xx_hash64(v.as_bytes()))
    })
}

/// Envoy's `Utility::parseCookieValue`: the first `name=value` among all `cookie` headers, with
/// surrounding double quotes removed.
#[must_use]
pub fn parse_cookie_value<'a>(cookie_headers: &[&'a [u8]], name: &str) -> Option<&'a [u8]> {
    for header in cookie_headers {
        for part in header.split(|&b| b == b';') {
            let part = trim_leading_spaces(part);
            let Some(eq) = part.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (k, v) = (&part[..eq], &part[eq + 1..]);
            if k == name.as_bytes() {
                let v = if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' {
                    &v[1..v.len() - 1]
                } else {
                    v
                };
                return Some(v);
            }
        }
    }
    None
}

fn trim_leading_spaces(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

/// The value Envoy generates for a missing hash cookie with a `ttl`: 16 hex digits of
/// xxHash64(remote address + local address, both with ports).
#[must_use]
pub fn generated_cookie_value(remote: SocketAddr, local: SocketAddr) -> String {
    let key = format!("{remote}{local}");
    format!("{:016x}", xx_hash64(key.as_bytes()))
}

#[cfg(test)]
mod tests;
