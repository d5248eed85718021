//! `Listener`, `FilterChain`, network filters (`http_connection_manager`, `tcp_proxy`) and
//! HTTP filters, including how a filter's implementation is picked from its `@type` or name.

use std::time::Duration;

use super::bootstrap::{AddressUse, address};
use super::filters::{self, FilterKind, FilterRef};
use super::{ClusterRef, Cx, route, router_filter};
use crate::model::{
    CodecType, FilterChain, HcmTimeouts, HttpConnectionManager, HttpFilter, Listener, Loc,
    NetworkFilter, Router, TcpProxy,
};
use crate::schema;
use crate::tree::{Node as TNode, Value};

/// A decoded listener with the positions the whole-document checks need.
#[derive(Debug)]
pub(super) struct Decoded {
    pub(super) listener: Listener,
    pub(super) path: String,
    pub(super) name_loc: Loc,
    pub(super) address_loc: Loc,
}

pub(super) fn listener(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Decoded> {
    let m = cx.message(n, path, &schema::LISTENER)?;
    let addr = match m.get("address") {
        Some(a) => address(cx, a, &m.path("address"), AddressUse::Listen),
        None => {
            if !m.written("address") {
                cx.missing(&m, "address");
            }
            None
        }
    };
    let name = m.get("name").and_then(|v| cx.string(v, &m.path("name")));

    let mut chains = Vec::new();
    match m.get("filter_chains") {
        Some(list) => {
            let items = cx.list(list, &m.path("filter_chains"));
            if items.is_empty() && matches!(list.value, Value::Seq(_)) {
                cx.error(
                    list.loc,
                    &m.path("filter_chains"),
                    "a listener needs a filter chain",
                );
            }
            for (i, (c, cpath)) in items.into_iter().enumerate() {
                if i == 1 {
                    cx.error(
                        c.loc,
                        &cpath,
                        "more than one filter chain per listener is not supported yet (it needs `filter_chain_match`)",
                    );
                }
                if let Some(chain) = filter_chain(cx, c, &cpath) {
                    chains.push(chain);
                }
            }
        }
        None => {
            if !m.written("filter_chains") {
                cx.missing(&m, "filter_chains");
            }
        }
    }
    let buffer_limit = match m.get("per_connection_buffer_limit_bytes") {
        Some(v) => cx.u32_in(v, &m.path("per_connection_buffer_limit_bytes"), 0, u32::MAX),
        None => Some(BUFFER_LIMIT_BYTES_DEFAULT),
    };
    let (address, address_loc) = addr?;
    let name = name
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| address.to_string());
    Some(Decoded {
        listener: Listener {
            name,
            address,
            filter_chains: chains,
            per_connection_buffer_limit_bytes: buffer_limit?,
            loc: m.loc,
        },
        path: path.to_owned(),
        name_loc: m.entry("name").map_or(m.loc, |e| e.value.loc),
        address_loc,
    })
}

/// Envoy's default `per_connection_buffer_limit_bytes`: 1 MiB.
const BUFFER_LIMIT_BYTES_DEFAULT: u32 = 1024 * 1024;

fn filter_chain(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<FilterChain> {
    let m = cx.message(n, path, &schema::FILTER_CHAIN)?;
    let name = m
        .get("name")
        .and_then(|v| cx.string(v, &m.path("name")))
        .unwrap_or_default();
    let Some(list) = m.get("filters") else {
        if !m.written("filters") {
            cx.missing(&m, "filters");
        }
        return None;
    };
    let fpath = m.path("filters");
    let items = cx.list(list, &fpath);
    let mut terminal = None;
    let count = items.len();
    for (i, (f, p)) in items.into_iter().enumerate() {
        let decoded = network_filter(cx, f, &p);
        if decoded.is_some() && i + 1 < count {
            cx.error(
                f.loc,
                &p,
                "this filter is terminal and must be the last in the chain (other network filters are not supported yet)",
            );
        }
        terminal = decoded.or(terminal);
    }
    if count == 0 && matches!(list.value, Value::Seq(_)) {
        cx.error(
            list.loc,
            &fpath,
            "a filter chain needs a terminal filter (http_connection_manager or tcp_proxy)",
        );
    }
    Some(FilterChain {
        name,
        terminal: terminal?,
    })
}

/// An extension Sluice implements: the names and the `@type` it is known by.
struct Known {
    names: &'static [&'static str],
    type_name: &'static str,
}

const HCM_TYPE: &str =
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const TCP_PROXY_TYPE: &str = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const ROUTER_TYPE: &str = "envoy.extensions.filters.http.router.v3.Router";

const NETWORK_FILTERS: &[Known] = &[
    Known {
        names: &[
            "envoy.filters.network.http_connection_manager",
            "envoy.http_connection_manager",
        ],
        type_name: HCM_TYPE,
    },
    Known {
        names: &["envoy.filters.network.tcp_proxy", "envoy.tcp_proxy"],
        type_name: TCP_PROXY_TYPE,
    },
];

/// The HTTP filters; the index is matched in [`http_filters`].
const HTTP_FILTERS: &[Known] = &[
    Known {
        names: &["envoy.filters.http.router", "envoy.router"],
        type_name: ROUTER_TYPE,
    },
    Known {
        names: &["envoy.filters.http.fault", "envoy.fault"],
        type_name: filters::FAULT_TYPE,
    },
    Known {
        names: &["envoy.filters.http.local_ratelimit"],
        type_name: filters::LOCAL_RATE_LIMIT_TYPE,
    },
    Known {
        names: &["envoy.filters.http.cors", "envoy.cors"],
        type_name: filters::CORS_TYPE,
    },
];

/// The v3 type that replaced a v2 one, for the "use the v3 type" hint.
const V2_TO_V3: &[(&str, &str)] = &[
    (
        "envoy.config.filter.network.http_connection_manager.v2.HttpConnectionManager",
        HCM_TYPE,
    ),
    (
        "envoy.config.filter.network.tcp_proxy.v2.TcpProxy",
        TCP_PROXY_TYPE,
    ),
    ("envoy.config.filter.http.router.v2.Router", ROUTER_TYPE),
    (
        "envoy.config.filter.http.fault.v2.HTTPFault",
        filters::FAULT_TYPE,
    ),
    ("envoy.config.filter.http.cors.v2.Cors", filters::CORS_TYPE),
];

fn is_v2_type(type_name: &str) -> bool {
    type_name.starts_with("envoy.api.v2")
        || type_name.starts_with("envoy.config.filter.")
        || type_name.contains(".v2.")
        || type_name.contains(".v2alpha")
}

/// Picks the implementation of a filter: by its `typed_config`'s `@type` when there is one (as
/// Envoy does), else by its name. Reports v2 types and anything Sluice does not implement.
fn resolve(
    cx: &mut Cx<'_>,
    name: Option<(&str, Loc)>,
    typed_config: Option<&TNode>,
    tc_path: &str,
    table: &[Known],
) -> Option<usize> {
    let type_entry = typed_config.and_then(|tc| match &tc.value {
        Value::Map(entries) => entries.iter().find(|e| e.key == "@type"),
        _ => None,
    });
    if let Some(te) = type_entry {
        let tpath = format!("{tc_path}.@type");
        let url = cx.string(&te.value, &tpath)?;
        let type_name = url.rsplit('/').next().unwrap_or(&url);
        if let Some(i) = table.iter().position(|k| k.type_name == type_name) {
            return Some(i);
        }
        if is_v2_type(type_name) {
            let hint = V2_TO_V3
                .iter()
                .find(|(v2, _)| *v2 == type_name)
                .map_or_else(
                    || "use the filter's v3 type".to_owned(),
                    |(_, v3)| format!("use the v3 type `type.googleapis.com/{v3}`"),
                );
            cx.error(
                te.value.loc,
                &tpath,
                format!("`{url}` is a v2 API type; v2 API is not supported; {hint}"),
            );
            return None;
        }
        let what = name.map_or(type_name, |(n, _)| n);
        cx.error(
            te.value.loc,
            &tpath,
            format!("filter `{what}` (`{url}`) is not supported yet"),
        );
        return None;
    }
    let (name, loc) = name?;
    let name_path = tc_path
        .strip_suffix(".typed_config")
        .map(|p| format!("{p}.name"));
    let name_path = name_path.unwrap_or_default();
    let Some(i) = table.iter().position(|k| k.names.contains(&name)) else {
        cx.error(
            loc,
            &name_path,
            format!("filter `{name}` is not supported yet"),
        );
        return None;
    };
    if let Some(tc) = typed_config
        && !matches!(tc.value, Value::Null)
    {
        cx.warn(
            tc.loc,
            tc_path,
            format!(
                "`typed_config` has no `@type`; taken as `type.googleapis.com/{}` from the filter name",
                table[i].type_name
            ),
        );
    }
    Some(i)
}

fn network_filter(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<NetworkFilter> {
    let m = cx.message(n, path, &schema::FILTER)?;
    let name = m
        .get("name")
        .and_then(|v| cx.string(v, &m.path("name")).map(|s| (s, v.loc)));
    let tc = m.get("typed_config");
    let tc_path = m.path("typed_config");
    if name.is_none() && !m.written("name") {
        cx.missing(&m, "name");
    }
    if m.written("config") || m.written("config_discovery") {
        return None;
    }
    let kind = resolve(
        cx,
        name.as_ref().map(|(s, l)| (s.as_str(), *l)),
        tc,
        &tc_path,
        NETWORK_FILTERS,
    )?;
    let Some(tc) = tc else {
        cx.error(
            m.loc,
            path,
            format!(
                "missing `typed_config` (with `@type: type.googleapis.com/{}`)",
                NETWORK_FILTERS[kind].type_name
            ),
        );
        return None;
    };
    match kind {
        0 => http_connection_manager(cx, tc, &tc_path)
            .map(|h| NetworkFilter::HttpConnectionManager(Box::new(h))),
        _ => tcp_proxy(cx, tc, &tc_path).map(NetworkFilter::TcpProxy),
    }
}

fn http_connection_manager(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
) -> Option<HttpConnectionManager> {
    let m = cx.message_any(n, path, &schema::HTTP_CONNECTION_MANAGER, true)?;
    let stat_prefix = super::required_name(cx, &m, "stat_prefix");
    let codec_type = match m.get("codec_type") {
        Some(v) => {
            let p = m.path("codec_type");
            match cx.enumeration(
                v,
                &p,
                &[("AUTO", 0), ("HTTP1", 1), ("HTTP2", 2), ("HTTP3", 3)],
            ) {
                Some("HTTP1") => Some(CodecType::Http1),
                Some("HTTP2") => {
                    cx.error(
                        v.loc,
                        &p,
                        "codec_type HTTP2 is not supported yet (HTTP/2 is planned); use AUTO or HTTP1",
                    );
                    None
                }
                Some("HTTP3") => {
                    cx.error(v.loc, &p, "codec_type HTTP3 is not supported yet");
                    None
                }
                Some(_) => Some(CodecType::Auto),
                None => None,
            }
        }
        None => Some(CodecType::Auto),
    };
    let outer_refs = std::mem::take(&mut cx.filter_refs);
    let route_config = match m.get("route_config") {
        Some(rc) => route::route_configuration(cx, rc, &m.path("route_config")),
        None => {
            if !m.written("rds") && !m.written("scoped_routes") {
                cx.missing(&m, "route_config");
            }
            None
        }
    };
    let refs = std::mem::replace(&mut cx.filter_refs, outer_refs);
    let mut seen = Vec::new();
    let http_filters = match m.get("http_filters") {
        Some(list) => http_filters(cx, list, &m.path("http_filters"), &mut seen),
        None => {
            cx.warn(
                m.loc,
                &m.path("http_filters"),
                "no `http_filters`: the router is used as the only HTTP filter",
            );
            Some(vec![HttpFilter::Router(Router::default())])
        }
    };
    check_filter_refs(cx, &refs, &seen);
    let use_remote_address = match m.get("use_remote_address") {
        Some(v) => cx.boolean(v, &m.path("use_remote_address")),
        None => Some(false),
    };
    let generate_request_id = match m.get("generate_request_id") {
        Some(v) => cx.boolean(v, &m.path("generate_request_id")),
        None => Some(true),
    };
    let server_name = match m.get("server_name") {
        Some(v) => cx.string(v, &m.path("server_name")),
        None => Some("envoy".to_owned()),
    };
    let mut common = super::hcm_options::CommonOptions::default();
    let timeouts = hcm_timeouts(cx, &m, &mut common);
    let header_options = super::hcm_options::header_options(cx, &m, common);
    let upgrade_configs = match m.get("upgrade_configs") {
        Some(list) => super::route::upgrade_configs(
            cx,
            list,
            &m.path("upgrade_configs"),
            &schema::HCM_UPGRADE_CONFIG,
        ),
        None => Some(Vec::new()),
    };
    let access_log = match m.get("access_log") {
        Some(list) => super::access_log::access_logs(cx, list, &m.path("access_log")),
        None => Some(Vec::new()),
    };
    let local_reply_config = match m.get("local_reply_config") {
        Some(v) => {
            super::local_reply::local_reply_config(cx, v, &m.path("local_reply_config")).map(Some)
        }
        None => Some(None),
    };
    Some(HttpConnectionManager {
        stat_prefix: stat_prefix?,
        codec_type: codec_type?,
        route_config: route_config?,
        http_filters: http_filters?,
        use_remote_address: use_remote_address?,
        generate_request_id: generate_request_id?,
        server_name: server_name?,
        timeouts: timeouts?,
        header_options: header_options?,
        upgrade_configs: upgrade_configs?,
        access_log: access_log?,
        local_reply_config: local_reply_config?,
    })
}

/// The downstream timeouts of an HCM with Envoy's defaults; `0s` disables a timeout, except
/// `drain_timeout`, where it means "close at once".
fn hcm_timeouts(
    cx: &mut Cx<'_>,
    m: &super::Msg<'_>,
    codec: &mut super::hcm_options::CommonOptions,
) -> Option<HcmTimeouts> {
    let defaults = HcmTimeouts::default();
    let (idle, max_connection_duration) = match m.get("common_http_protocol_options") {
        Some(v) => {
            let o = cx.message(
                v,
                &m.path("common_http_protocol_options"),
                &schema::HTTP_PROTOCOL_OPTIONS,
            )?;
            let idle = optional_timeout(cx, &o, "idle_timeout", defaults.idle);
            let max = optional_timeout(cx, &o, "max_connection_duration", None);
            super::hcm_options::common_options(cx, &o, codec);
            (idle, max)
        }
        None => (Some(defaults.idle), Some(None)),
    };
    let stream_idle = optional_timeout(cx, m, "stream_idle_timeout", defaults.stream_idle);
    let request = optional_timeout(cx, m, "request_timeout", None);
    let request_headers = optional_timeout(cx, m, "request_headers_timeout", None);
    let delayed_close = optional_timeout(cx, m, "delayed_close_timeout", defaults.delayed_close);
    let drain = match m.get("drain_timeout") {
        Some(v) => cx.duration(v, &m.path("drain_timeout")),
        None => Some(defaults.drain),
    };
    Some(HcmTimeouts {
        idle: idle?,
        stream_idle: stream_idle?,
        request: request?,
        request_headers: request_headers?,
        max_connection_duration: max_connection_duration?,
        drain: drain?,
        delayed_close: delayed_close?,
    })
}

/// A timeout where `0s` means disabled (`None`); `default` when the field is absent.
fn optional_timeout(
    cx: &mut Cx<'_>,
    m: &super::Msg<'_>,
    field: &str,
    default: Option<Duration>,
) -> Option<Option<Duration>> {
    match m.get(field) {
        Some(v) => cx
            .duration(v, &m.path(field))
            .map(|d| (!d.is_zero()).then_some(d)),
        None => Some(default),
    }
}

/// Refuses per-route filter configs (and legacy `cors` policies) that no filter of the
/// connection manager would read: Envoy ignores them silently, which hides mistakes.
///
/// `seen` holds every entry of `http_filters` whose implementation was resolved, even if its
/// config was refused: (name, kind, `None` for the router), so one mistake is reported once.
fn check_filter_refs(cx: &mut Cx<'_>, refs: &[FilterRef], seen: &[(String, Option<FilterKind>)]) {
    for r in refs {
        match &r.name {
            None => {
                if !seen.iter().any(|(_, k)| *k == Some(FilterKind::Cors)) {
                    cx.error(
                        r.loc,
                        &r.path,
                        "the route has a cors policy but http_filters has no envoy.filters.http.cors (Envoy would ignore the policy)",
                    );
                }
            }
            Some(name) => match seen.iter().find(|(n, _)| n == name) {
                Some((_, k)) if *k == Some(r.kind) => {}
                Some((_, None)) => cx.error(
                    r.loc,
                    &r.path,
                    format!("the router (`{name}`) has no per-route config"),
                ),
                Some((_, k)) => cx.error(
                    r.loc,
                    &r.path,
                    format!(
                        "the HTTP filter `{name}` is {}, but this per-route config is for {}",
                        k.map_or("", FilterKind::extension),
                        r.kind.extension()
                    ),
                ),
                None => {
                    let router = HTTP_FILTERS[0].names.contains(&name.as_str());
                    let why = if router {
                        format!("the router (`{name}`) has no per-route config")
                    } else {
                        format!(
                            "http_filters has no filter named `{name}`, so no filter would read this config (add {} to http_filters under that name)",
                            r.kind.extension()
                        )
                    };
                    cx.error(r.loc, &r.path, why);
                }
            },
        }
    }
}

fn http_filters(
    cx: &mut Cx<'_>,
    list: &TNode,
    path: &str,
    seen: &mut Vec<(String, Option<FilterKind>)>,
) -> Option<Vec<HttpFilter>> {
    let items = cx.list(list, path);
    if items.is_empty() {
        cx.warn(
            list.loc,
            path,
            "no `http_filters`: the router is used as the only HTTP filter",
        );
        return Some(vec![HttpFilter::Router(Router::default())]);
    }
    let count = items.len();
    let mut out = Vec::new();
    let mut ok = true;
    for (i, (f, p)) in items.into_iter().enumerate() {
        let Some(m) = cx.message(f, &p, &schema::HTTP_FILTER) else {
            ok = false;
            continue;
        };
        let name = m
            .get("name")
            .and_then(|v| cx.string(v, &m.path("name")).map(|s| (s, v.loc)));
        if name.is_none() && !m.written("name") {
            cx.missing(&m, "name");
        }
        if m.written("config") || m.written("config_discovery") {
            ok = false;
            continue;
        }
        let tc = m.get("typed_config");
        let tc_path = m.path("typed_config");
        let Some(kind) = resolve(
            cx,
            name.as_ref().map(|(s, l)| (s.as_str(), *l)),
            tc,
            &tc_path,
            HTTP_FILTERS,
        ) else {
            ok = false;
            continue;
        };
        let is_last = i + 1 == count;
        let fname = name.map(|(s, _)| s).unwrap_or_default();
        let seen_kind = match kind {
            1 => Some(FilterKind::Fault),
            2 => Some(FilterKind::LocalRateLimit),
            3 => Some(FilterKind::Cors),
            _ => None,
        };
        seen.push((fname.clone(), seen_kind));
        let filter = match kind {
            0 => {
                let router = match tc {
                    Some(tc) => router_filter::router(cx, tc, &tc_path),
                    None => Some(Router::default()),
                };
                if !is_last {
                    cx.error(
                        f.loc,
                        &p,
                        "the router is a terminal HTTP filter and must be the last in `http_filters`",
                    );
                    ok = false;
                }
                router.map(HttpFilter::Router)
            }
            3 => {
                if let Some(tc) = tc {
                    let _ = cx.message_any(tc, &tc_path, &schema::CORS, true);
                }
                Some(HttpFilter::Cors { name: fname })
            }
            _ => {
                let Some(tc) = tc else {
                    cx.error(
                        m.loc,
                        &p,
                        format!(
                            "missing `typed_config` (with `@type: type.googleapis.com/{}`)",
                            HTTP_FILTERS[kind].type_name
                        ),
                    );
                    ok = false;
                    continue;
                };
                if kind == 1 {
                    filters::fault(cx, tc, &tc_path, true).map(|c| HttpFilter::Fault {
                        name: fname,
                        config: Box::new(c),
                    })
                } else {
                    filters::local_rate_limit(cx, tc, &tc_path, false).map(|c| {
                        HttpFilter::LocalRateLimit {
                            name: fname,
                            config: Box::new(c),
                        }
                    })
                }
            }
        };
        match filter {
            Some(filter) => {
                if is_last && !matches!(filter, HttpFilter::Router(_)) {
                    cx.error(
                        f.loc,
                        &p,
                        "the last HTTP filter must be the router (`envoy.filters.http.router`)",
                    );
                    ok = false;
                }
                out.push(filter);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Envoy's default `idle_timeout` for tcp_proxy: one hour.
const TCP_IDLE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(3600);

fn tcp_proxy(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<TcpProxy> {
    let m = cx.message_any(n, path, &schema::TCP_PROXY, true)?;
    let stat_prefix = super::required_name(cx, &m, "stat_prefix");
    let cluster = match m.get("cluster") {
        Some(v) => {
            let p = m.path("cluster");
            let name = cx.string(v, &p);
            if let Some(name) = &name {
                cx.cluster_refs.push(ClusterRef {
                    name: name.clone(),
                    loc: v.loc,
                    path: p,
                });
            }
            name
        }
        None => {
            if !m.written("weighted_clusters") && !m.written("cluster") {
                cx.missing(&m, "cluster");
            }
            None
        }
    };
    let idle_timeout = match m.get("idle_timeout") {
        Some(v) => cx.duration(v, &m.path("idle_timeout")),
        None => Some(TCP_IDLE_TIMEOUT_DEFAULT),
    };
    Some(TcpProxy {
        stat_prefix: stat_prefix?,
        cluster: cluster?,
        idle_timeout: idle_timeout?,
    })
}
