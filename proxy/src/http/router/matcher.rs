//! Compiled route matchers: the path specifier and the extra conditions (runtime fraction, gRPC,
//! headers, query parameters) of one route, each with Envoy's semantics.
//!
//! Everything is compiled once at build time (regexes included); matching a request allocates
//! nothing except when a header matcher meets a header with several values, which Envoy joins
//! with `,` before matching.

use regex::bytes::Regex;
use sluice_config::model;

use super::{BuildError, RequestHeaders, RouteRequest, RuntimeLookup};

/// The path that path specifiers see: the target up to the first `?` or `#` (Envoy's
/// `PathUtil::removeQueryAndFragment`).
pub(super) fn path_only(target: &[u8]) -> &[u8] {
    let end = target
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(target.len());
    target.get(..end).unwrap_or(target)
}

/// The query string as Envoy's `parseQueryString` sees it: everything after the first `?`
/// (a fragment, if any, stays in the last value).
fn query_of(target: &[u8]) -> &[u8] {
    match target.iter().position(|&b| b == b'?') {
        Some(q) => target.get(q + 1..).unwrap_or(&[]),
        None => &[],
    }
}

/// Compiles a pattern so that it must match the whole input, as RE2's `FullMatch` does.
pub(super) fn compile_full(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!(r"\A(?:{pattern})\z"))
}

/// Compiles a pattern for `replace_all` (unanchored, as RE2's `GlobalReplace`).
pub(super) fn compile_search(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(pattern)
}

fn starts_with(s: &[u8], prefix: &[u8], ignore_case: bool) -> bool {
    match s.get(..prefix.len()) {
        Some(head) if ignore_case => head.eq_ignore_ascii_case(prefix),
        Some(head) => head == prefix,
        None => false,
    }
}

fn ends_with(s: &[u8], suffix: &[u8], ignore_case: bool) -> bool {
    match s.len().checked_sub(suffix.len()).and_then(|at| s.get(at..)) {
        Some(tail) if ignore_case => tail.eq_ignore_ascii_case(suffix),
        Some(tail) => tail == suffix,
        None => false,
    }
}

fn contains(s: &[u8], needle: &[u8], ignore_case: bool) -> bool {
    if needle.is_empty() {
        return true;
    }
    if ignore_case {
        s.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    } else {
        s.windows(needle.len()).any(|w| w == needle)
    }
}

// === impl PathMatcher ===

/// The `path_specifier` of a route.
#[derive(Debug)]
pub(super) enum PathMatcher {
    /// `prefix`: the path (without query) starts with it.
    Prefix { value: Box<[u8]>, ignore_case: bool },
    /// `path`: the path (without query) equals it.
    Exact { value: Box<[u8]>, ignore_case: bool },
    /// `safe_regex`: the whole path (without query) matches.
    Regex(Regex),
    /// `path_separated_prefix`: the path equals it or continues with `/`.
    SeparatedPrefix { value: Box<[u8]>, ignore_case: bool },
    /// `connect_matcher`: any CONNECT request.
    Connect,
}

impl PathMatcher {
    pub(super) fn build(m: &model::RouteMatch) -> Result<Self, regex::Error> {
        let ignore_case = !m.case_sensitive;
        let bytes = |s: &str| s.as_bytes().to_vec().into_boxed_slice();
        Ok(match &m.path {
            model::PathMatch::Prefix(p) => PathMatcher::Prefix {
                value: bytes(p),
                ignore_case,
            },
            model::PathMatch::Path(p) => PathMatcher::Exact {
                value: bytes(p),
                ignore_case,
            },
            // `case_sensitive` does not apply to regexes in Envoy.
            model::PathMatch::SafeRegex(r) => PathMatcher::Regex(compile_full(r)?),
            model::PathMatch::PathSeparatedPrefix(p) => PathMatcher::SeparatedPrefix {
                value: bytes(p),
                ignore_case,
            },
            model::PathMatch::Connect => PathMatcher::Connect,
        })
    }

    /// Whether the specifier accepts a request. A CONNECT request has no `:path` in Envoy, so
    /// only `connect_matcher` routes can take it, and they take nothing else.
    pub(super) fn matches(&self, path: &[u8], is_connect: bool) -> bool {
        if is_connect != matches!(self, PathMatcher::Connect) {
            return false;
        }
        match self {
            PathMatcher::Prefix { value, ignore_case } => starts_with(path, value, *ignore_case),
            PathMatcher::Exact { value, ignore_case } => {
                path.len() == value.len() && starts_with(path, value, *ignore_case)
            }
            PathMatcher::Regex(re) => re.is_match(path),
            PathMatcher::SeparatedPrefix { value, ignore_case } => {
                starts_with(path, value, *ignore_case)
                    && matches!(path.get(value.len()), None | Some(b'/'))
            }
            PathMatcher::Connect => true,
        }
    }

    /// How many leading bytes of the target `prefix_rewrite` replaces: the configured value
    /// for prefix, exact and separated-prefix routes, the whole path for regex and CONNECT
    /// routes (Envoy's `matched_path` argument of `finalizePathHeader`).
    pub(super) fn matched_len(&self, path: &[u8]) -> usize {
        match self {
            PathMatcher::Prefix { value, .. }
            | PathMatcher::Exact { value, .. }
            | PathMatcher::SeparatedPrefix { value, .. } => value.len(),
            PathMatcher::Regex(_) | PathMatcher::Connect => path.len(),
        }
    }
}

// === impl StringMatcher ===

/// `type.matcher.v3.StringMatcher`.
#[derive(Debug)]
pub(super) struct StringMatcher {
    kind: StringKind,
    ignore_case: bool,
}

#[derive(Debug)]
enum StringKind {
    Exact(Box<[u8]>),
    Prefix(Box<[u8]>),
    Suffix(Box<[u8]>),
    Contains(Box<[u8]>),
    Regex(Regex),
}

impl StringMatcher {
    pub(super) fn build(m: &model::StringMatcher) -> Result<Self, (String, regex::Error)> {
        let bytes = |s: &str| s.as_bytes().to_vec().into_boxed_slice();
        let kind = match &m.kind {
            model::StringMatchKind::Exact(s) => StringKind::Exact(bytes(s)),
            model::StringMatchKind::Prefix(s) => StringKind::Prefix(bytes(s)),
            model::StringMatchKind::Suffix(s) => StringKind::Suffix(bytes(s)),
            model::StringMatchKind::Contains(s) => StringKind::Contains(bytes(s)),
            model::StringMatchKind::SafeRegex(r) => {
                StringKind::Regex(compile_full(r).map_err(|e| (r.clone(), e))?)
            }
        };
        Ok(StringMatcher {
            kind,
            ignore_case: m.ignore_case,
        })
    }

    pub(super) fn matches(&self, value: &[u8]) -> bool {
        let ic = self.ignore_case;
        match &self.kind {
            StringKind::Exact(s) => value.len() == s.len() && starts_with(value, s, ic),
            StringKind::Prefix(s) => starts_with(value, s, ic),
            StringKind::Suffix(s) => ends_with(value, s, ic),
            StringKind::Contains(s) => contains(value, s, ic),
            // `ignore_case` has no effect on regexes in Envoy.
            StringKind::Regex(re) => re.is_match(value),
        }
    }
}

// === impl HeaderMatcher ===

/// `config.route.v3.HeaderMatcher`, after Envoy's `HeaderUtility::matchHeaders`.
#[derive(Debug)]
pub(crate) struct HeaderMatcher {
    name: Box<[u8]>,
    spec: HeaderSpec,
    invert: bool,
    treat_missing_as_empty: bool,
}

#[derive(Debug)]
enum HeaderSpec {
    Exact(Box<[u8]>),
    Regex(Regex),
    Range { start: i64, end: i64 },
    Present(bool),
    Prefix(Box<[u8]>),
    Suffix(Box<[u8]>),
    Contains(Box<[u8]>),
    String(StringMatcher),
}

impl HeaderMatcher {
    pub(crate) fn build(m: &model::HeaderMatcher) -> Result<Self, (String, regex::Error)> {
        let bytes = |s: &str| s.as_bytes().to_vec().into_boxed_slice();
        let spec = match &m.spec {
            model::HeaderMatchSpec::Exact(s) => HeaderSpec::Exact(bytes(s)),
            model::HeaderMatchSpec::SafeRegex(r) => {
                HeaderSpec::Regex(compile_full(r).map_err(|e| (r.clone(), e))?)
            }
            model::HeaderMatchSpec::Range { start, end } => HeaderSpec::Range {
                start: *start,
                end: *end,
            },
            model::HeaderMatchSpec::Present(p) => HeaderSpec::Present(*p),
            model::HeaderMatchSpec::Prefix(s) => HeaderSpec::Prefix(bytes(s)),
            model::HeaderMatchSpec::Suffix(s) => HeaderSpec::Suffix(bytes(s)),
            model::HeaderMatchSpec::Contains(s) => HeaderSpec::Contains(bytes(s)),
            model::HeaderMatchSpec::String(s) => HeaderSpec::String(StringMatcher::build(s)?),
        };
        Ok(HeaderMatcher {
            name: m.name.to_ascii_lowercase().into_bytes().into_boxed_slice(),
            spec,
            invert: m.invert_match,
            treat_missing_as_empty: m.treat_missing_header_as_empty,
        })
    }

    pub(super) fn matches(&self, req: &RouteRequest<'_>) -> bool {
        with_header_value(req, &self.name, |value| self.matches_value(value))
    }

    /// Matches against a header map outside routing (a retry policy's response or request
    /// headers); `status` answers the `:status` pseudo-header of a response.
    pub(crate) fn matches_headers(
        &self,
        headers: &dyn RequestHeaders,
        status: Option<u16>,
    ) -> bool {
        if &*self.name == b":status" {
            let mut b = itoa::Buffer::new();
            let s = status.map(|s| b.format(s).as_bytes().to_vec());
            return self.matches_value(s.as_deref());
        }
        let req = RouteRequest {
            host: b"",
            path: b"",
            method: b"",
            headers,
            random: 0,
            runtime: &super::NoRuntime,
        };
        self.matches(&req)
    }

    /// Matches a finished request (an access-log `header_filter`): the pseudo-headers
    /// `:method`, `:path` and `:authority` answer from the given values.
    pub(crate) fn matches_request(
        &self,
        method: &[u8],
        path: &[u8],
        authority: &[u8],
        headers: &dyn RequestHeaders,
    ) -> bool {
        let req = RouteRequest {
            host: authority,
            path,
            method,
            headers,
            random: 0,
            runtime: &super::NoRuntime,
        };
        self.matches(&req)
    }

    fn matches_value(&self, value: Option<&[u8]>) -> bool {
        let value = match value {
            Some(v) => v,
            None if self.treat_missing_as_empty => b"",
            // A missing header matches only `present_match: false`, or, inverted,
            // `present_match: true`; every other specifier fails even when inverted.
            None => {
                return match self.spec {
                    HeaderSpec::Present(present) => present == self.invert,
                    _ => false,
                };
            }
        };
        let matched = match &self.spec {
            // An empty `exact_match` accepts any value.
            HeaderSpec::Exact(s) => s.is_empty() || value == &**s,
            HeaderSpec::Regex(re) => re.is_match(value),
            HeaderSpec::Range { start, end } => {
                parse_i64(value).is_some_and(|v| *start <= v && v < *end)
            }
            HeaderSpec::Present(present) => *present,
            HeaderSpec::Prefix(s) => starts_with(value, s, false),
            HeaderSpec::Suffix(s) => ends_with(value, s, false),
            HeaderSpec::Contains(s) => contains(value, s, false),
            HeaderSpec::String(m) => m.matches(value),
        };
        matched != self.invert
    }
}

/// Calls `f` with the value of a header as Envoy's matchers see it: `None` when absent, the
/// value itself when there is one, all values joined with `,` when there are several. The
/// pseudo-headers `:authority`, `:path` and `:method` come from the request view itself.
pub(super) fn with_header_value<R>(
    req: &RouteRequest<'_>,
    name: &[u8],
    f: impl FnOnce(Option<&[u8]>) -> R,
) -> R {
    match name {
        b":authority" => return f(Some(req.host)),
        b":path" => return f(Some(req.path)),
        b":method" => return f(Some(req.method)),
        _ => {}
    }
    let mut first: Option<&[u8]> = None;
    let mut joined: Option<Vec<u8>> = None;
    req.headers
        .get_all(name, &mut |v| match (&mut joined, first) {
            (Some(j), _) => {
                j.push(b',');
                j.extend_from_slice(v);
            }
            (None, Some(f0)) => {
                let mut j = Vec::with_capacity(f0.len() + 1 + v.len());
                j.extend_from_slice(f0);
                j.push(b',');
                j.extend_from_slice(v);
                joined = Some(j);
            }
            (None, None) => first = Some(v),
        });
    match &joined {
        Some(j) => f(Some(j)),
        None => f(first),
    }
}

/// The first value of a header (Envoy reads only the first for `cluster_header` and
/// `host_rewrite_header`).
pub(super) fn first_header_value<'a>(
    headers: &'a dyn RequestHeaders,
    name: &[u8],
) -> Option<&'a [u8]> {
    let mut first = None;
    headers.get_all(name, &mut |v| {
        first.get_or_insert(v);
    });
    first
}

/// `absl::SimpleAtoi` for `int64_t`: optional ASCII whitespace around an optionally signed
/// decimal number; anything else, or overflow, fails.
pub(super) fn parse_i64(s: &[u8]) -> Option<i64> {
    let s = s.trim_ascii();
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        // Accumulate toward the sign so that i64::MIN parses.
        v = v.checked_mul(10)?;
        v = if negative {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

// === impl QueryMatcher ===

/// `config.route.v3.QueryParameterMatcher`.
#[derive(Debug)]
pub(super) struct QueryMatcher {
    name: Box<[u8]>,
    /// `None`: the parameter only has to be present.
    value: Option<StringMatcher>,
}

impl QueryMatcher {
    pub(super) fn build(m: &model::QueryParameterMatcher) -> Result<Self, (String, regex::Error)> {
        Ok(QueryMatcher {
            name: m.name.as_bytes().to_vec().into_boxed_slice(),
            value: m
                .string_match
                .as_ref()
                .map(StringMatcher::build)
                .transpose()?,
        })
    }

    /// Envoy keeps only the first value of a repeated parameter, and does not percent-decode
    /// names or values before matching.
    pub(super) fn matches(&self, query: &[u8]) -> bool {
        match first_query_value(query, &self.name) {
            None => false,
            Some(v) => self.value.as_ref().is_none_or(|m| m.matches(v)),
        }
    }
}

/// The first value of parameter `name`, splitting as `QueryParamsMulti::parseParameters` does:
/// on `&`, then on the first `=` (a parameter without `=` has the empty value). Scanning is
/// equivalent to parsing once and taking the first value, and allocates nothing.
pub(super) fn first_query_value<'q>(query: &'q [u8], name: &[u8]) -> Option<&'q [u8]> {
    let mut rest = query;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'&').unwrap_or(rest.len());
        let (param, tail) = rest.split_at(end);
        let (n, v) = match param.iter().position(|&b| b == b'=') {
            Some(eq) => (param.get(..eq)?, param.get(eq + 1..)?),
            None => (param, &b""[..]),
        };
        if n == name {
            return Some(v);
        }
        rest = tail.get(1..).unwrap_or(&[]);
    }
    None
}

// === impl RuntimeFraction ===

/// `runtime_fraction`, after Envoy's `SnapshotImpl::featureEnabled(key, FractionalPercent,
/// random_value)`.
#[derive(Debug)]
pub(super) struct RuntimeFraction {
    numerator: u64,
    denominator: u64,
    key: Box<str>,
}

impl RuntimeFraction {
    pub(super) fn build(f: &model::RuntimeFraction) -> Self {
        RuntimeFraction {
            numerator: u64::from(f.numerator),
            // The loader only produces 100, 10 000 or 1 000 000; never divide by zero.
            denominator: u64::from(f.denominator.max(1)),
            key: f.runtime_key.clone().into_boxed_str(),
        }
    }

    /// A runtime value written as a FractionalPercent replaces the default; an integer is a
    /// percentage (denominator 100), and above 100 always enables. The request's random value
    /// is then compared as `random % denominator < numerator`.
    pub(super) fn enabled(&self, runtime: &dyn RuntimeLookup, random: u64) -> bool {
        let (numerator, denominator) = if self.key.is_empty() {
            (self.numerator, self.denominator)
        } else if let Some((n, d)) = runtime.fractional_percent(&self.key) {
            (n, d.max(1))
        } else if let Some(v) = runtime.integer(&self.key) {
            if v > 100 {
                return true;
            }
            (v, 100)
        } else {
            (self.numerator, self.denominator)
        };
        random % denominator < numerator
    }
}

// === impl Conditions ===

/// Everything a route checks besides its path, in Envoy's `matchRoute` order.
#[derive(Debug, Default)]
pub(super) struct Conditions {
    runtime: Option<RuntimeFraction>,
    grpc: bool,
    headers: Vec<HeaderMatcher>,
    query: Vec<QueryMatcher>,
}

impl Conditions {
    pub(super) fn build(m: &model::RouteMatch) -> Result<Self, (String, regex::Error)> {
        Ok(Conditions {
            runtime: m.runtime_fraction.as_ref().map(RuntimeFraction::build),
            grpc: m.grpc,
            headers: m
                .headers
                .iter()
                .map(HeaderMatcher::build)
                .collect::<Result<_, _>>()?,
            query: m
                .query_parameters
                .iter()
                .map(QueryMatcher::build)
                .collect::<Result<_, _>>()?,
        })
    }

    pub(super) fn matches(&self, req: &RouteRequest<'_>) -> bool {
        if let Some(f) = &self.runtime
            && !f.enabled(req.runtime, req.random)
        {
            return false;
        }
        if self.grpc && !with_header_value(req, b"content-type", is_grpc_content_type) {
            return false;
        }
        if !self.headers.iter().all(|h| h.matches(req)) {
            return false;
        }
        // The query string is only located when a route asks about it.
        if !self.query.is_empty() {
            let query = query_of(req.path);
            return self.query.iter().all(|q| q.matches(query));
        }
        true
    }
}

/// Envoy's `Grpc::Common::hasGrpcContentType`: exactly `application/grpc` or
/// `application/grpc+...` (so `application/grpc-web` is not gRPC).
pub(crate) fn is_grpc_content_type(value: Option<&[u8]>) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    value.is_some_and(|v| v.starts_with(GRPC) && matches!(v.get(GRPC.len()), None | Some(b'+')))
}

/// A route's full matcher: its path specifier and its conditions.
#[derive(Debug)]
pub(super) struct RouteMatcher {
    pub(super) path: PathMatcher,
    pub(super) conditions: Conditions,
}

impl RouteMatcher {
    pub(super) fn build(
        m: &model::RouteMatch,
        at: &dyn Fn() -> (String, String),
    ) -> Result<Self, BuildError> {
        let regex_error = |(pattern, e): (String, regex::Error)| {
            let (vhost, route) = at();
            BuildError::Regex {
                vhost,
                route,
                pattern,
                reason: e.to_string(),
            }
        };
        let path = PathMatcher::build(m).map_err(|e| {
            let pattern = match &m.path {
                model::PathMatch::SafeRegex(r) => r.clone(),
                _ => String::new(),
            };
            regex_error((pattern, e))
        })?;
        Ok(RouteMatcher {
            path,
            conditions: Conditions::build(m).map_err(regex_error)?,
        })
    }

    pub(super) fn matches(&self, req: &RouteRequest<'_>, path: &[u8], is_connect: bool) -> bool {
        self.path.matches(path, is_connect) && self.conditions.matches(req)
    }
}
