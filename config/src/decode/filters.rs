//! The HTTP filters other than the router: `HTTPFault`, `LocalRateLimit` and the CORS policy,
//! both as filter-level configs and as `typed_per_filter_config` on virtual hosts and routes.
//!
//! A per-route config names its filter by the key it is written under. The decoder records
//! every key with its position ([`FilterRef`]); the connection manager checks them against its
//! `http_filters` once both are decoded, so that a per-route config no filter would read is
//! refused instead of being silently ignored (which is what Envoy does).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Cx, Msg, headers, matcher};
use crate::model::{
    CorsPolicy, Fault, FaultAbort, FaultAbortKind, FaultDelay, FaultDelayKind, FaultRuntimeKeys,
    FilterOverride, Fraction, HeaderValueOption, Loc, LocalRateLimit, TokenBucket,
};
use crate::schema::{self, Spec};
use crate::tree::{Node as TNode, Value};

/// The `@type` of each filter config Sluice implements.
pub(super) const FAULT_TYPE: &str = "envoy.extensions.filters.http.fault.v3.HTTPFault";
pub(super) const LOCAL_RATE_LIMIT_TYPE: &str =
    "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
pub(super) const CORS_TYPE: &str = "envoy.extensions.filters.http.cors.v3.Cors";
const CORS_POLICY_TYPE: &str = "envoy.extensions.filters.http.cors.v3.CorsPolicy";
const FILTER_CONFIG_TYPE: &str = "envoy.config.route.v3.FilterConfig";

/// Envoy's body for an injected abort.
const FAULT_ABORT_BODY: &str = "fault filter abort";

/// Envoy's lower bound on a local rate limit's `fill_interval`.
const FILL_INTERVAL_MIN: Duration = Duration::from_millis(50);

/// Which filter a per-route config (or a legacy `cors` field) is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterKind {
    Fault,
    LocalRateLimit,
    Cors,
}

impl FilterKind {
    pub(crate) fn extension(self) -> &'static str {
        match self {
            FilterKind::Fault => "envoy.filters.http.fault",
            FilterKind::LocalRateLimit => "envoy.filters.http.local_ratelimit",
            FilterKind::Cors => "envoy.filters.http.cors",
        }
    }
}

/// A per-route filter config (or legacy `cors` policy) to check against `http_filters`.
#[derive(Debug)]
pub(crate) struct FilterRef {
    /// The key of `typed_per_filter_config`; `None` for a legacy `cors` field.
    pub(crate) name: Option<String>,
    pub(crate) kind: FilterKind,
    pub(crate) loc: Loc,
    pub(crate) path: String,
}

/// `typed_per_filter_config` of a virtual host or route, plus its legacy `cors` field (read from
/// `cors_in`, which is the route action for routes).
pub(super) fn per_filter_configs(
    cx: &mut Cx<'_>,
    m: &Msg<'_>,
) -> Option<BTreeMap<String, FilterOverride>> {
    let mut out = BTreeMap::new();
    let Some(map) = m.get("typed_per_filter_config") else {
        return Some(out);
    };
    let path = m.path("typed_per_filter_config");
    let Value::Map(entries) = &map.value else {
        cx.error(
            map.loc,
            &path,
            format!(
                "expected a mapping from filter name to config, found {}",
                map.kind_name()
            ),
        );
        return None;
    };
    let mut ok = true;
    for e in entries {
        let epath = format!("{path}[\"{}\"]", e.key);
        match per_filter_config(cx, &e.value, &epath) {
            Some((kind, value)) => {
                cx.filter_refs.push(FilterRef {
                    name: Some(e.key.clone()),
                    kind,
                    loc: e.key_loc,
                    path: epath,
                });
                out.insert(e.key.clone(), value);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// One `typed_per_filter_config` value: an `Any` whose `@type` says which filter it configures.
fn per_filter_config(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
) -> Option<(FilterKind, FilterOverride)> {
    let type_entry = match &n.value {
        Value::Map(entries) => entries.iter().find(|e| e.key == "@type"),
        _ => None,
    };
    let Some(te) = type_entry else {
        cx.error(
            n.loc,
            path,
            "a per-route filter config needs an `@type` (e.g. `type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault`)",
        );
        return None;
    };
    let tpath = format!("{path}.@type");
    let url = cx.string(&te.value, &tpath)?;
    let type_name = url.rsplit('/').next().unwrap_or(&url);
    match type_name {
        FAULT_TYPE => fault(cx, n, path, true)
            .map(|f| (FilterKind::Fault, FilterOverride::Fault(Box::new(f)))),
        LOCAL_RATE_LIMIT_TYPE => local_rate_limit(cx, n, path, true).map(|l| {
            (
                FilterKind::LocalRateLimit,
                FilterOverride::LocalRateLimit(Box::new(l)),
            )
        }),
        CORS_POLICY_TYPE => cors_policy(cx, n, path, &schema::CORS_POLICY, true)
            .map(|c| (FilterKind::Cors, FilterOverride::Cors(Box::new(c)))),
        FILTER_CONFIG_TYPE => {
            cx.error(
                te.value.loc,
                &tpath,
                "`FilterConfig` (per-route `is_optional` / `disabled`) is not supported yet; write the filter's own per-route message",
            );
            None
        }
        _ => {
            cx.error(
                te.value.loc,
                &tpath,
                format!(
                    "per-route config `{url}` is not supported yet (Sluice has per-route configs for HTTPFault, LocalRateLimit and CorsPolicy)"
                ),
            );
            None
        }
    }
}

/// The legacy `cors` field of a virtual host or route action (`config.route.v3.CorsPolicy`).
pub(super) fn legacy_cors(cx: &mut Cx<'_>, m: &Msg<'_>) -> Option<Option<Box<CorsPolicy>>> {
    let Some(v) = m.get("cors") else {
        return Some(None);
    };
    let path = m.path("cors");
    let policy = cors_policy(cx, v, &path, &schema::ROUTE_CORS_POLICY, false)?;
    cx.filter_refs.push(FilterRef {
        name: None,
        kind: FilterKind::Cors,
        loc: m.key_loc("cors"),
        path,
    });
    Some(Some(Box::new(policy)))
}

/// `extensions.filters.http.fault.v3.HTTPFault`.
pub(super) fn fault(cx: &mut Cx<'_>, n: &TNode, path: &str, is_any: bool) -> Option<Fault> {
    let m = cx.message_any(n, path, &schema::HTTP_FAULT, is_any)?;
    let delay = match m.get("delay") {
        Some(v) => fault_delay(cx, v, &m.path("delay")).map(Some),
        None => Some(None),
    };
    let abort = match m.get("abort") {
        Some(v) => fault_abort(cx, v, &m.path("abort")).map(Some),
        None => Some(None),
    };
    let upstream_cluster = match m.get("upstream_cluster") {
        Some(v) => cx
            .string(v, &m.path("upstream_cluster"))
            .map(|s| (!s.is_empty()).then_some(s)),
        None => Some(None),
    };
    let headers = matcher::header_matchers(cx, &m, "headers");
    let downstream_nodes = m
        .get("downstream_nodes")
        .map(|v| cx.strings(v, &m.path("downstream_nodes")))
        .unwrap_or_default();
    let max_active_faults = match m.get("max_active_faults") {
        Some(v) => cx
            .u32_in(v, &m.path("max_active_faults"), 0, u32::MAX)
            .map(Some),
        None => Some(None),
    };
    let defaults = FaultRuntimeKeys::default();
    let mut key = |field: &str, default: String| match m.get(field) {
        Some(v) => cx
            .string(v, &m.path(field))
            .map(|s| if s.is_empty() { default } else { s }),
        None => Some(default),
    };
    let runtime = FaultRuntimeKeys {
        delay_percent: key("delay_percent_runtime", defaults.delay_percent)?,
        abort_percent: key("abort_percent_runtime", defaults.abort_percent)?,
        delay_duration: key("delay_duration_runtime", defaults.delay_duration)?,
        abort_http_status: key("abort_http_status_runtime", defaults.abort_http_status)?,
        max_active_faults: key("max_active_faults_runtime", defaults.max_active_faults)?,
    };
    let disable_downstream_cluster_stats = match m.get("disable_downstream_cluster_stats") {
        Some(v) => cx.boolean(v, &m.path("disable_downstream_cluster_stats")),
        None => Some(false),
    };
    let (delay, abort) = (delay?, abort?);
    if delay.is_none() && abort.is_none() && m.rejected_none() {
        cx.warn(
            m.loc,
            path,
            "this fault filter has neither `delay` nor `abort`, so it injects nothing",
        );
    }
    Some(Fault {
        delay,
        abort,
        upstream_cluster: upstream_cluster?,
        headers: headers?,
        downstream_nodes,
        max_active_faults: max_active_faults?,
        runtime,
        disable_downstream_cluster_stats: disable_downstream_cluster_stats?,
    })
}

/// A fault's `percentage`: Envoy's default is 0 %, which is worth a warning since the fault then
/// never fires.
fn fault_percentage(cx: &mut Cx<'_>, m: &Msg<'_>, what: &str) -> Option<Fraction> {
    match m.get("percentage") {
        Some(v) => matcher::fractional_percent(cx, v, &m.path("percentage")).map(
            |(numerator, denominator)| Fraction {
                numerator,
                denominator,
            },
        ),
        None => {
            cx.warn(
                m.loc,
                &m.path("percentage"),
                format!("no `percentage`: Envoy's default is 0%, so this {what} is never injected"),
            );
            Some(Fraction {
                numerator: 0,
                denominator: 100,
            })
        }
    }
}

/// `extensions.filters.common.fault.v3.FaultDelay`.
fn fault_delay(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<FaultDelay> {
    let m = cx.message(n, path, &schema::FAULT_DELAY)?;
    const KINDS: &[&str] = &["fixed_delay", "header_delay"];
    if !matcher::one_of(cx, &m, KINDS, "a fault delay has one delay specifier") {
        return None;
    }
    let kind = match m.set_of(KINDS).first().copied() {
        Some("fixed_delay") => {
            let p = m.path("fixed_delay");
            let v = m.get("fixed_delay")?;
            let d = cx.duration(v, &p)?;
            if d.is_zero() {
                cx.error(v.loc, &p, "`fixed_delay` must be greater than 0");
                return None;
            }
            Some(FaultDelayKind::Fixed(d))
        }
        Some(_) => cx
            .message(
                m.get("header_delay")?,
                &m.path("header_delay"),
                &schema::HEADER_DELAY,
            )
            .map(|_| FaultDelayKind::Header),
        None => {
            if !KINDS.iter().any(|k| m.written(k)) && m.rejected_none() {
                cx.error(
                    m.loc,
                    path,
                    "a fault delay needs `fixed_delay` or `header_delay`",
                );
            }
            None
        }
    };
    let percentage = fault_percentage(cx, &m, "delay");
    Some(FaultDelay {
        kind: kind?,
        percentage: percentage?,
    })
}

/// `extensions.filters.http.fault.v3.FaultAbort`.
fn fault_abort(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<FaultAbort> {
    let m = cx.message(n, path, &schema::FAULT_ABORT)?;
    const KINDS: &[&str] = &["http_status", "grpc_status", "header_abort"];
    if !matcher::one_of(cx, &m, KINDS, "a fault abort has one error type") {
        return None;
    }
    let kind = match m.set_of(KINDS).first().copied() {
        Some("http_status") => {
            let p = m.path("http_status");
            let v = m.get("http_status")?;
            cx.u32_in(v, &p, 200, 599)
                .and_then(|s| u16::try_from(s).ok())
                .map(FaultAbortKind::HttpStatus)
        }
        Some(_) => cx
            .message(
                m.get("header_abort")?,
                &m.path("header_abort"),
                &schema::HEADER_ABORT,
            )
            .map(|_| FaultAbortKind::Header),
        None => {
            if !KINDS.iter().any(|k| m.written(k)) && m.rejected_none() {
                cx.error(
                    m.loc,
                    path,
                    "a fault abort needs `http_status` or `header_abort`",
                );
            }
            None
        }
    };
    let percentage = fault_percentage(cx, &m, "abort");
    let response_body = match m.get("response_body") {
        Some(v) => cx.string(v, &m.path("response_body")).map(|s| {
            if s.is_empty() {
                FAULT_ABORT_BODY.to_owned()
            } else {
                s
            }
        }),
        None => Some(FAULT_ABORT_BODY.to_owned()),
    };
    Some(FaultAbort {
        kind: kind?,
        percentage: percentage?,
        response_body: response_body?,
    })
}

/// The names of `type.v3.StatusCode`, for `HttpStatus.code` written by name.
const STATUS_CODES: &[(&str, i64)] = &[
    ("Empty", 0),
    ("Continue", 100),
    ("OK", 200),
    ("Created", 201),
    ("Accepted", 202),
    ("NonAuthoritativeInformation", 203),
    ("NoContent", 204),
    ("ResetContent", 205),
    ("PartialContent", 206),
    ("MultiStatus", 207),
    ("AlreadyReported", 208),
    ("IMUsed", 226),
    ("MultipleChoices", 300),
    ("MovedPermanently", 301),
    ("Found", 302),
    ("SeeOther", 303),
    ("NotModified", 304),
    ("UseProxy", 305),
    ("TemporaryRedirect", 307),
    ("PermanentRedirect", 308),
    ("BadRequest", 400),
    ("Unauthorized", 401),
    ("PaymentRequired", 402),
    ("Forbidden", 403),
    ("NotFound", 404),
    ("MethodNotAllowed", 405),
    ("NotAcceptable", 406),
    ("ProxyAuthenticationRequired", 407),
    ("RequestTimeout", 408),
    ("Conflict", 409),
    ("Gone", 410),
    ("LengthRequired", 411),
    ("PreconditionFailed", 412),
    ("PayloadTooLarge", 413),
    ("URITooLong", 414),
    ("UnsupportedMediaType", 415),
    ("RangeNotSatisfiable", 416),
    ("ExpectationFailed", 417),
    ("MisdirectedRequest", 421),
    ("UnprocessableEntity", 422),
    ("Locked", 423),
    ("FailedDependency", 424),
    ("UpgradeRequired", 426),
    ("PreconditionRequired", 428),
    ("TooManyRequests", 429),
    ("RequestHeaderFieldsTooLarge", 431),
    ("InternalServerError", 500),
    ("NotImplemented", 501),
    ("BadGateway", 502),
    ("ServiceUnavailable", 503),
    ("GatewayTimeout", 504),
    ("HTTPVersionNotSupported", 505),
    ("VariantAlsoNegotiates", 506),
    ("InsufficientStorage", 507),
    ("LoopDetected", 508),
    ("NotExtended", 510),
    ("NetworkAuthenticationRequired", 511),
];

/// `extensions.filters.http.local_ratelimit.v3.LocalRateLimit`. A per-route config must have a
/// token bucket (Envoy refuses one without).
pub(super) fn local_rate_limit(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
    per_route: bool,
) -> Option<LocalRateLimit> {
    let m = cx.message_any(n, path, &schema::LOCAL_RATE_LIMIT, true)?;
    let stat_prefix = match m.get("stat_prefix") {
        Some(v) => {
            let p = m.path("stat_prefix");
            cx.string(v, &p).and_then(|s| {
                if s.is_empty() {
                    cx.error(v.loc, &p, "`stat_prefix` must not be empty");
                    return None;
                }
                Some(s)
            })
        }
        None => {
            cx.missing(&m, "stat_prefix");
            None
        }
    };
    let status = match m.get("status") {
        Some(v) => http_status(cx, v, &m.path("status")),
        None => Some(429),
    };
    let token_bucket = match m.get("token_bucket") {
        Some(v) => token_bucket(cx, v, &m.path("token_bucket")).map(Some),
        None => {
            if per_route && !m.written("token_bucket") {
                cx.error(
                    m.loc,
                    path,
                    "a per-route local rate limit needs a `token_bucket` (Envoy refuses one without)",
                );
                None
            } else {
                Some(None)
            }
        }
    };
    let fraction = |cx: &mut Cx<'_>, field: &str| match m.get(field) {
        Some(v) => matcher::runtime_fraction(cx, v, &m.path(field)).map(Some),
        None => Some(None),
    };
    let filter_enabled = fraction(cx, "filter_enabled");
    let filter_enforced = fraction(cx, "filter_enforced");
    let request_headers = filter_headers(cx, &m, "request_headers_to_add_when_not_enforced");
    let response_headers = filter_headers(cx, &m, "response_headers_to_add");
    let flag = |cx: &mut Cx<'_>, field: &str| match m.get(field) {
        Some(v) => cx.boolean(v, &m.path(field)),
        None => Some(false),
    };
    let per_downstream_connection = flag(cx, "local_rate_limit_per_downstream_connection");
    let enable_retry_after_header = flag(cx, "enable_retry_after_header");
    let enable_x_ratelimit_headers = match m.get("enable_x_ratelimit_headers") {
        Some(v) => cx
            .enumeration(
                v,
                &m.path("enable_x_ratelimit_headers"),
                &[("OFF", 0), ("DRAFT_VERSION_03", 1)],
            )
            .map(|s| s == "DRAFT_VERSION_03"),
        None => Some(false),
    };
    if per_route && per_downstream_connection == Some(true) {
        cx.error(
            m.key_loc("local_rate_limit_per_downstream_connection"),
            &m.path("local_rate_limit_per_downstream_connection"),
            "a per-connection bucket in a per-route local rate limit is not supported yet",
        );
        return None;
    }
    let token_bucket = token_bucket?;
    let filter_enabled = filter_enabled?;
    if token_bucket.is_none()
        && filter_enabled
            .as_ref()
            .is_some_and(|f| f.numerator > 0 || !f.runtime_key.is_empty())
    {
        cx.error(
            m.key_loc("filter_enabled"),
            &m.path("filter_enabled"),
            "the filter is enabled but has no `token_bucket` to take tokens from",
        );
        return None;
    }
    Some(LocalRateLimit {
        stat_prefix: stat_prefix?,
        status: status?,
        token_bucket,
        filter_enabled,
        filter_enforced: filter_enforced?,
        request_headers_to_add_when_not_enforced: request_headers?,
        response_headers_to_add: response_headers?,
        per_downstream_connection: per_downstream_connection?,
        enable_x_ratelimit_headers: enable_x_ratelimit_headers?,
        enable_retry_after_header: enable_retry_after_header?,
    })
}

/// Header lists a filter adds; `%VAR%` substitution is not implemented for them.
fn filter_headers(cx: &mut Cx<'_>, m: &Msg<'_>, field: &str) -> Option<Vec<HeaderValueOption>> {
    let list = headers::to_add(cx, m, field)?;
    if let Some(h) = list.iter().find(|h| h.value.contains('%')) {
        cx.error(
            m.key_loc(field),
            &m.path(field),
            format!(
                "header `{}`: `%` substitutions in a filter's headers are not supported yet",
                h.key
            ),
        );
        return None;
    }
    Some(list)
}

/// `type.v3.HttpStatus`: a code below 400 becomes 429, as Envoy does for rate limits.
fn http_status(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<u16> {
    let m = cx.message(n, path, &schema::HTTP_STATUS)?;
    let Some(v) = m.get("code") else {
        cx.missing(&m, "code");
        return None;
    };
    let p = m.path("code");
    let code = cx.enumeration(v, &p, STATUS_CODES)?;
    let number = STATUS_CODES
        .iter()
        .find(|(n, _)| *n == code)
        .map_or(0, |(_, c)| *c);
    if number == 0 {
        cx.error(v.loc, &p, "`Empty` is not a status code");
        return None;
    }
    let number = u16::try_from(number).ok()?;
    if number < 400 {
        cx.warn(
            v.loc,
            &p,
            format!("{number} is below 400; Envoy answers rate-limited requests with 429 instead"),
        );
        return Some(429);
    }
    Some(number)
}

/// `type.v3.TokenBucket`.
fn token_bucket(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<TokenBucket> {
    let m = cx.message(n, path, &schema::TOKEN_BUCKET)?;
    let max_tokens = match m.get("max_tokens") {
        Some(v) => cx.u32_in(v, &m.path("max_tokens"), 0, u32::MAX),
        None => Some(0),
    };
    let tokens_per_fill = match m.get("tokens_per_fill") {
        Some(v) => cx.u32_in(v, &m.path("tokens_per_fill"), 1, u32::MAX),
        None => Some(1),
    };
    let fill_interval = match m.get("fill_interval") {
        Some(v) => {
            let p = m.path("fill_interval");
            cx.duration(v, &p).and_then(|d| {
                if d < FILL_INTERVAL_MIN {
                    cx.error(
                        v.loc,
                        &p,
                        format!(
                            "{}ms is too short: Envoy requires a fill interval of at least 50ms",
                            d.as_millis()
                        ),
                    );
                    return None;
                }
                Some(d)
            })
        }
        None => {
            cx.missing(&m, "fill_interval");
            None
        }
    };
    Some(TokenBucket {
        max_tokens: max_tokens?,
        tokens_per_fill: tokens_per_fill?,
        fill_interval: fill_interval?,
    })
}

/// A CORS policy, typed (`spec` = `CORS_POLICY`, an `Any` body) or legacy (`ROUTE_CORS_POLICY`).
fn cors_policy(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
    spec: &Spec,
    is_any: bool,
) -> Option<CorsPolicy> {
    let m = cx.message_any(n, path, spec, is_any)?;
    let mut ok = true;
    let mut allow_origin_string_match = Vec::new();
    if let Some(list) = m.get("allow_origin_string_match") {
        for (s, p) in cx.list(list, &m.path("allow_origin_string_match")) {
            match matcher::string_matcher(cx, s, &p) {
                Some(s) => allow_origin_string_match.push(s),
                None => ok = false,
            }
        }
    }
    let text = |cx: &mut Cx<'_>, field: &str| match m.get(field) {
        Some(v) => {
            let p = m.path(field);
            let s = cx.string(v, &p)?;
            if s.contains(['\0', '\r', '\n']) {
                cx.error(v.loc, &p, "a header value must not contain NUL, CR or LF");
                return None;
            }
            Some(s)
        }
        None => Some(String::new()),
    };
    let allow_methods = text(cx, "allow_methods");
    let allow_headers = text(cx, "allow_headers");
    let expose_headers = text(cx, "expose_headers");
    let max_age = text(cx, "max_age");
    let flag = |cx: &mut Cx<'_>, field: &str| match m.get(field) {
        Some(v) => cx.boolean(v, &m.path(field)).map(Some),
        None => Some(None),
    };
    let allow_credentials = flag(cx, "allow_credentials");
    let allow_private_network_access = flag(cx, "allow_private_network_access");
    let forward_not_matching_preflights = flag(cx, "forward_not_matching_preflights");
    let fraction = |cx: &mut Cx<'_>, field: &str| match m.get(field) {
        Some(v) => matcher::runtime_fraction(cx, v, &m.path(field)).map(Some),
        None => Some(None),
    };
    let filter_enabled = fraction(cx, "filter_enabled");
    let shadow_enabled = fraction(cx, "shadow_enabled");
    if !ok {
        return None;
    }
    Some(CorsPolicy {
        allow_origin_string_match,
        allow_methods: allow_methods?,
        allow_headers: allow_headers?,
        expose_headers: expose_headers?,
        max_age: max_age?,
        allow_credentials: allow_credentials?,
        allow_private_network_access: allow_private_network_access?,
        forward_not_matching_preflights: forward_not_matching_preflights?,
        filter_enabled: filter_enabled?,
        shadow_enabled: shadow_enabled?,
    })
}
