//! `RetryPolicy` (of a route or a virtual host): the retry conditions checked against the ones
//! Envoy knows, the back-off resolved to Envoy's defaults.

use std::time::Duration;

use super::{Cx, matcher};
use crate::model::RetryPolicy;
use crate::schema;
use crate::tree::{Node as TNode, Value};

/// Envoy's default `retry_back_off.base_interval`.
const BASE_INTERVAL_DEFAULT: Duration = Duration::from_millis(25);

/// `max_interval` defaults to this many times `base_interval`.
const MAX_INTERVAL_FACTOR: u32 = 10;

/// The `retry_on` conditions of the router (`x-envoy-retry-on`) and of gRPC
/// (`x-envoy-retry-grpc-on`), which Envoy reads from the same list.
const RETRY_ON: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

const PREVIOUS_HOSTS_NAME: &str = "envoy.retry_host_predicates.previous_hosts";
const PREVIOUS_HOSTS_TYPE: &str =
    "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate";

/// `config.route.v3.RetryPolicy` with Envoy's defaults applied.
pub(super) fn retry_policy(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<RetryPolicy> {
    let m = cx.message(n, path, &schema::RETRY_POLICY)?;
    let retry_on = match m.get("retry_on") {
        Some(v) => retry_on(cx, v, &m.path("retry_on")),
        None => Some(Vec::new()),
    };
    let num_retries = match m.get("num_retries") {
        Some(v) => cx.u32_in(v, &m.path("num_retries"), 0, u32::MAX),
        None => Some(1),
    };
    let mut timeout = |field: &str| match m.get(field) {
        Some(v) => cx
            .duration(v, &m.path(field))
            .map(|d| (!d.is_zero()).then_some(d)),
        None => Some(None),
    };
    let per_try_timeout = timeout("per_try_timeout");
    let per_try_idle_timeout = timeout("per_try_idle_timeout");
    let previous_hosts = match m.get("retry_host_predicate") {
        Some(list) => {
            let mut ok = true;
            let mut any = false;
            for (p, ppath) in cx.list(list, &m.path("retry_host_predicate")) {
                match host_predicate(cx, p, &ppath) {
                    Some(()) => any = true,
                    None => ok = false,
                }
            }
            ok.then_some(any)
        }
        None => Some(false),
    };
    let host_selection_retry_max_attempts = match m.get("host_selection_retry_max_attempts") {
        // An int64 in Envoy; 0 (proto3's "unset") means the default of one attempt.
        Some(v) => cx
            .integer(
                v,
                &m.path("host_selection_retry_max_attempts"),
                0,
                u32::MAX.into(),
                true,
            )
            .and_then(|i| u32::try_from(i).ok())
            .map(|i| i.max(1)),
        None => Some(1),
    };
    let retriable_status_codes = match m.get("retriable_status_codes") {
        Some(list) => {
            let mut codes = Vec::new();
            let mut ok = true;
            for (c, cpath) in cx.list(list, &m.path("retriable_status_codes")) {
                match cx
                    .u32_in(c, &cpath, 100, 599)
                    .and_then(|c| u16::try_from(c).ok())
                {
                    Some(c) => codes.push(c),
                    None => ok = false,
                }
            }
            ok.then_some(codes)
        }
        None => Some(Vec::new()),
    };
    let back_off = match m.get("retry_back_off") {
        Some(v) => back_off(cx, v, &m.path("retry_back_off")),
        None => Some((
            BASE_INTERVAL_DEFAULT,
            BASE_INTERVAL_DEFAULT * MAX_INTERVAL_FACTOR,
        )),
    };
    let retriable_headers = matcher::header_matchers(cx, &m, "retriable_headers");
    let retriable_request_headers = matcher::header_matchers(cx, &m, "retriable_request_headers");
    let (base_interval, max_interval) = back_off?;
    Some(RetryPolicy {
        retry_on: retry_on?,
        num_retries: num_retries?,
        per_try_timeout: per_try_timeout?,
        per_try_idle_timeout: per_try_idle_timeout?,
        previous_hosts: previous_hosts?,
        host_selection_retry_max_attempts: host_selection_retry_max_attempts?,
        retriable_status_codes: retriable_status_codes?,
        base_interval,
        max_interval,
        retriable_headers: retriable_headers?,
        retriable_request_headers: retriable_request_headers?,
    })
}

/// `retry_on`: comma-separated conditions, blanks around them ignored as Envoy does.
fn retry_on(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Vec<String>> {
    let text = cx.string(n, path)?;
    let mut out = Vec::new();
    let mut ok = true;
    for cond in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        if RETRY_ON.contains(&cond) {
            out.push(cond.to_owned());
            continue;
        }
        let mut msg = format!(
            "unknown retry condition `{cond}`, expected some of {}",
            RETRY_ON.join(", ")
        );
        if let Some(near) = crate::suggest::did_you_mean(cond, RETRY_ON) {
            msg.push_str(&format!("; did you mean `{near}`?"));
        }
        cx.error(n.loc, path, msg);
        ok = false;
    }
    ok.then_some(out)
}

/// One `retry_host_predicate`: only `previous_hosts` is implemented.
fn host_predicate(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<()> {
    let m = cx.message(n, path, &schema::RETRY_HOST_PREDICATE)?;
    let name = match m.get("name") {
        Some(v) => Some((cx.string(v, &m.path("name"))?, v.loc)),
        None => None,
    };
    let tc = m.get("typed_config");
    let tc_path = m.path("typed_config");
    let type_url = tc.and_then(|tc| match &tc.value {
        Value::Map(entries) => entries.iter().find(|e| e.key == "@type"),
        _ => None,
    });
    if let Some(te) = type_url {
        let tpath = format!("{tc_path}.@type");
        let url = cx.string(&te.value, &tpath)?;
        let type_name = url.rsplit('/').next().unwrap_or(&url);
        if type_name != PREVIOUS_HOSTS_TYPE {
            cx.error(
                te.value.loc,
                &tpath,
                format!(
                    "retry host predicate `{url}` is not supported yet (only `{PREVIOUS_HOSTS_NAME}`)"
                ),
            );
            return None;
        }
    } else {
        match &name {
            Some((name, _)) if name == PREVIOUS_HOSTS_NAME => {}
            Some((name, loc)) => {
                cx.error(
                    *loc,
                    &m.path("name"),
                    format!(
                        "retry host predicate `{name}` is not supported yet (only `{PREVIOUS_HOSTS_NAME}`)"
                    ),
                );
                return None;
            }
            None => {
                cx.missing(&m, "name");
                return None;
            }
        }
    }
    if let Some(tc) = tc {
        cx.message_any(tc, &tc_path, &schema::PREVIOUS_HOSTS_PREDICATE, true)?;
    }
    Some(())
}

/// `retry_back_off` as (base, max).
fn back_off(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<(Duration, Duration)> {
    let m = cx.message(n, path, &schema::RETRY_BACK_OFF)?;
    let Some(b) = m.get("base_interval") else {
        cx.missing(&m, "base_interval");
        return None;
    };
    let bpath = m.path("base_interval");
    let base = cx.duration(b, &bpath)?;
    if base.is_zero() {
        cx.error(b.loc, &bpath, "`base_interval` must be greater than 0s");
        return None;
    }
    let max = match m.get("max_interval") {
        Some(v) => {
            let mpath = m.path("max_interval");
            let max = cx.duration(v, &mpath)?;
            if max.is_zero() {
                cx.error(v.loc, &mpath, "`max_interval` must be greater than 0s");
                return None;
            }
            if max < base {
                cx.error(
                    v.loc,
                    &mpath,
                    format!(
                        "`max_interval` ({max:?}) must be greater than or equal to `base_interval` ({base:?})"
                    ),
                );
                return None;
            }
            max
        }
        None => base * MAX_INTERVAL_FACTOR,
    };
    Some((base, max))
}
