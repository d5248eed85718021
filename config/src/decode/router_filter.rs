//! The router filter's own options (`extensions.filters.http.router.v3.Router`).

use super::Cx;
use crate::model::{Router, StrictCheckHeader};
use crate::schema;
use crate::tree::Node as TNode;

/// The router's `typed_config`; Envoy's defaults when it has none.
pub(super) fn router(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Router> {
    let m = cx.message_any(n, path, &schema::ROUTER, true)?;
    let defaults = Router::default();
    let mut flag = |field: &str, default: bool| match m.get(field) {
        Some(v) => cx.boolean(v, &m.path(field)),
        None => Some(default),
    };
    let dynamic_stats = flag("dynamic_stats", defaults.dynamic_stats);
    let suppress_envoy_headers = flag("suppress_envoy_headers", false);
    let respect_expected_rq_timeout = flag("respect_expected_rq_timeout", false);
    let suppress_grpc = flag("suppress_grpc_request_failure_code_stats", false);
    let strict_check_headers = match m.get("strict_check_headers") {
        Some(v) => strict_check_headers(cx, v, &m.path("strict_check_headers")),
        None => Some(Vec::new()),
    };
    if !m.rejected_none() {
        return None;
    }
    Some(Router {
        dynamic_stats: dynamic_stats?,
        suppress_envoy_headers: suppress_envoy_headers?,
        strict_check_headers: strict_check_headers?,
        respect_expected_rq_timeout: respect_expected_rq_timeout?,
        suppress_grpc_request_failure_code_stats: suppress_grpc?,
    })
}

/// `strict_check_headers`: each must be one of the headers Envoy knows how to check, spelled
/// exactly (Envoy's validation compares the strings as written).
fn strict_check_headers(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Vec<StrictCheckHeader>> {
    let mut out = Vec::new();
    let mut ok = true;
    let items = cx.list(n, path);
    for (item, p) in items {
        let Some(name) = cx.string(item, &p) else {
            ok = false;
            continue;
        };
        match StrictCheckHeader::ALL.iter().find(|(_, n)| *n == name) {
            Some((h, _)) => out.push(*h),
            None => {
                let known: Vec<&str> = StrictCheckHeader::ALL.iter().map(|(_, n)| *n).collect();
                cx.error(
                    item.loc,
                    &p,
                    format!(
                        "`{name}` cannot be strictly checked; Envoy checks only {}",
                        known.join(", ")
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}
