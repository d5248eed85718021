//! `AccessLogFilter` evaluation: whether one request is logged by one logger (or matched by
//! one local-reply mapper).

use sluice_config::access_log::{Comparison, Filter, RuntimeSample};

use super::RequestLog;
use crate::http::router::{HeaderMatcher, RequestHeaders};
use crate::layered_runtime::Runtime;

/// An `AccessLogFilter` ready to evaluate: header matchers (and their regexes) are compiled
/// once, when the snapshot is built.
#[derive(Debug)]
pub enum LogFilter {
    /// `status_code_filter`.
    StatusCode(Comparison),
    /// `duration_filter`.
    Duration(Comparison),
    /// `not_health_check_filter`.
    NotHealthCheck,
    /// `runtime_filter`.
    Runtime(RuntimeSample),
    /// `and_filter`.
    And(Vec<LogFilter>),
    /// `or_filter`.
    Or(Vec<LogFilter>),
    /// `header_filter`.
    Header(HeaderMatcher),
    /// `response_flag_filter`: these flags, or any when empty.
    ResponseFlag(Vec<String>),
}

impl LogFilter {
    /// Compiles `filter`; errs with the regex a header matcher could not compile.
    pub fn build(filter: &Filter) -> Result<Self, String> {
        let all = |subs: &[Filter]| -> Result<Vec<LogFilter>, String> {
            subs.iter().map(LogFilter::build).collect()
        };
        Ok(match filter {
            Filter::StatusCode(c) => LogFilter::StatusCode(c.clone()),
            Filter::Duration(c) => LogFilter::Duration(c.clone()),
            Filter::NotHealthCheck => LogFilter::NotHealthCheck,
            Filter::Runtime(s) => LogFilter::Runtime(s.clone()),
            Filter::And(subs) => LogFilter::And(all(subs)?),
            Filter::Or(subs) => LogFilter::Or(all(subs)?),
            Filter::Header(m) => LogFilter::Header(
                HeaderMatcher::build(m)
                    .map_err(|(re, e)| format!("header_filter regex `{re}`: {e}"))?,
            ),
            Filter::ResponseFlag(flags) => LogFilter::ResponseFlag(flags.clone()),
        })
    }
}

/// No request headers (a reply sent before the head was decoded).
struct NoHeaders;

impl RequestHeaders for NoHeaders {
    fn get_all<'s>(&'s self, _name: &[u8], _each: &mut dyn FnMut(&'s [u8])) {}
}

/// Whether `entry` passes `filter`. `random` is this request's random value, used by
/// `runtime_filter` when the request has no `x-request-id` or the filter asks for independent
/// randomness.
pub(crate) fn passes(
    filter: &LogFilter,
    entry: &RequestLog<'_>,
    runtime: &Runtime,
    random: u64,
) -> bool {
    match filter {
        LogFilter::StatusCode(c) => compare(c, u64::from(entry.response_code), runtime),
        LogFilter::Duration(c) => {
            let ms = u64::try_from(entry.duration.as_millis()).unwrap_or(u64::MAX);
            compare(c, ms, runtime)
        }
        // Only a health-check HTTP filter marks a request as a health check, and Sluice has
        // none: every request passes.
        LogFilter::NotHealthCheck => true,
        LogFilter::Runtime(s) => sampled(s, entry, runtime, random),
        LogFilter::And(all) => all.iter().all(|f| passes(f, entry, runtime, random)),
        LogFilter::Or(any) => any.iter().any(|f| passes(f, entry, runtime, random)),
        LogFilter::Header(m) => {
            let headers: &dyn RequestHeaders = match entry.request_headers {
                Some(h) => h,
                None => &NoHeaders,
            };
            m.matches_request(entry.method, entry.path, entry.authority, headers)
        }
        // Envoy's `ResponseFlagFilter`: any flag at all, or one of those listed.
        LogFilter::ResponseFlag(flags) => {
            let mut set = entry.response_flags.split(',').filter(|f| !f.is_empty());
            if flags.is_empty() {
                set.next().is_some()
            } else {
                set.any(|f| flags.iter().any(|want| want == f))
            }
        }
    }
}

/// Envoy's `ComparisonFilter::compare`: the threshold is the runtime key's integer when it has
/// one, else the default.
fn compare(c: &Comparison, value: u64, runtime: &Runtime) -> bool {
    let threshold = runtime
        .integer(&c.runtime_key)
        .unwrap_or(u64::from(c.default_value));
    c.op.holds(value, threshold)
}

/// Envoy's `RuntimeFilter`: `featureEnabled(runtime_key, percent_sampled, r)`, where `r` comes
/// from the request id unless `use_independent_randomness` (so that every logger of a request
/// samples it alike).
fn sampled(s: &RuntimeSample, entry: &RequestLog<'_>, runtime: &Runtime, random: u64) -> bool {
    let id = entry
        .request_headers
        .and_then(|h| h.get(b"x-request-id"))
        .filter(|_| !s.use_independent_randomness);
    let r = id.map_or(random, fnv1a);
    runtime.feature_enabled(&s.runtime_key, s.numerator, s.denominator, r)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
