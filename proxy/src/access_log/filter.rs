//! `AccessLogFilter` evaluation: whether one request is logged by one logger.

use sluice_config::access_log::{Comparison, Filter, RuntimeSample};

use super::RequestLog;
use crate::layered_runtime::Runtime;

/// Whether `entry` passes `filter`. `random` is this request's random value, used by
/// `runtime_filter` when the request has no `x-request-id` or the filter asks for independent
/// randomness.
pub(super) fn passes(
    filter: &Filter,
    entry: &RequestLog<'_>,
    runtime: &Runtime,
    random: u64,
) -> bool {
    match filter {
        Filter::StatusCode(c) => compare(c, u64::from(entry.response_code), runtime),
        Filter::Duration(c) => {
            let ms = u64::try_from(entry.duration.as_millis()).unwrap_or(u64::MAX);
            compare(c, ms, runtime)
        }
        // Only a health-check HTTP filter marks a request as a health check, and Sluice has
        // none: every request passes.
        Filter::NotHealthCheck => true,
        Filter::Runtime(s) => sampled(s, entry, runtime, random),
        Filter::And(all) => all.iter().all(|f| passes(f, entry, runtime, random)),
        Filter::Or(any) => any.iter().any(|f| passes(f, entry, runtime, random)),
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
