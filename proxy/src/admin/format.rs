//! The admin endpoint's response bodies, in Envoy's formats.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use sluice_config::model;

use super::Response;
use crate::runtime::control::Control;
use crate::stats::Kind;

/// Decodes `a=b&c=d` with percent-decoding and `+` as space.
pub fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            out.push(b' ');
        } else if b == b'%' {
            let decoded = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match decoded {
                Some(d) => {
                    out.push(d);
                    i += 2;
                }
                None => out.push(b'%'),
            }
        } else {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The index page.
pub fn help() -> String {
    [
        "admin commands are:",
        "  /: print this help",
        "  /clusters: upstream cluster status",
        "  /config_dump: dump current Sluice configs",
        "  /lb_explain?cluster=NAME: why a cluster's traffic splits as it does (priority loads, panic, locality weights, subsets, hash table shares)",
        "  /listeners: print listener info",
        "  /quitquitquit (POST): exit the server",
        "  /ready: print server state, return 200 if LIVE, otherwise return 503",
        "  /runtime: print runtime values",
        "  /runtime_modify (POST ?key1=value1&key2=value2): modify runtime values (an empty value removes an override)",
        "  /server_info: print server version/status information",
        "  /stats: print server stats (?filter=REGEX, ?format=json)",
        "  /stats/prometheus: print server stats in prometheus format",
        "  /sluice/cluster_endpoints (POST ?cluster=NAME): replace a cluster's endpoints",
        "",
    ]
    .join("\n")
}

fn state(c: &Control) -> &'static str {
    if c.is_draining.load(Ordering::Relaxed) {
        "DRAINING"
    } else {
        "LIVE"
    }
}

/// `/ready`.
pub fn ready(c: &Control) -> Response {
    let s = state(c);
    Response::text(if s == "LIVE" { 200 } else { 503 }, format!("{s}\n"))
}

/// `/server_info`.
pub fn server_info(c: &Control) -> Value {
    let uptime = c.started.elapsed().map(|d| d.as_secs()).unwrap_or(0);
    let node = &c.bootstrap.node;
    let generations = worker_generations(c);
    json!({
        "version": format!("sluice/{}", env!("CARGO_PKG_VERSION")),
        "state": state(c),
        "hot_restart_version": "disabled",
        "command_line_options": {
            "concurrency": c.options.concurrency,
            "drain_time": format!("{}s", c.options.drain_time.as_secs()),
            "config_path": c.origin,
            "mode": "Serve",
        },
        "node": {
            "id": node.id,
            "cluster": node.cluster,
            "locality": {"region": node.locality.region, "zone": node.locality.zone, "sub_zone": node.locality.sub_zone},
            "metadata": Value::Object(node.metadata.clone()),
        },
        "uptime_current_epoch": format!("{uptime}s"),
        "uptime_all_epochs": format!("{uptime}s"),
        "snapshot_generation": c.snapshot.generation,
        "workers": c.workers.iter().map(|w| json!({
            "id": w.index,
            "cpu": w.cpu,
            "driver": w.driver,
            "ring_entries": w.ring_entries,
            "ring_flags": w.ring_flags,
            "fallback_reason": w.fallback_reason,
            "snapshot_generation": generations.get(w.index).copied().unwrap_or(0),
        })).collect::<Vec<_>>(),
    })
}

fn worker_generations(c: &Control) -> Vec<u64> {
    c.workers
        .iter()
        .map(|w| {
            c.registry
                .value_of(&format!("server.worker_{}.snapshot_generation", w.index))
                .unwrap_or(0)
        })
        .collect()
}

fn socket_address_json(a: &SocketAddr) -> Value {
    json!({"socket_address": {"address": a.ip().to_string(), "port_value": a.port()}})
}

/// `/listeners`: `name::address` lines, or JSON with `?format=json`.
pub fn listeners(c: &Control, params: &HashMap<String, String>) -> Response {
    let items: Vec<(String, SocketAddr)> = c
        .bootstrap
        .listeners
        .iter()
        .map(|l| {
            (
                l.name.clone(),
                c.bound_address(&l.name).unwrap_or(l.address),
            )
        })
        .collect();
    if params.get("format").map(String::as_str) == Some("json") {
        return Response::json(&json!({
            "listener_statuses": items.iter().map(|(n, a)| json!({
                "name": n,
                "local_address": socket_address_json(a),
            })).collect::<Vec<_>>()
        }));
    }
    let mut out = String::new();
    for (n, a) in items {
        let _ = writeln!(out, "{n}::{a}");
    }
    Response::text(200, out)
}

/// A success rate as Envoy prints it: the shortest form (`-1`, `52`, `99.5`).
struct Rate(f64);

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.fract() == 0.0 && self.0.abs() < 1e15 {
            write!(f, "{}", self.0 as i64)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// Envoy's `HostHealthStatus`: the EDS status, and each active-check flag that is set.
fn health_status_json(h: &crate::runtime::snapshot::Host) -> serde_json::Value {
    use sluice_lb::health::HealthFlags as F;
    let mut status = serde_json::Map::new();
    status.insert(
        "eds_health_status".into(),
        json!(format!("{:?}", h.health).to_ascii_uppercase()),
    );
    for (flag, name) in [
        (F::FAILED_ACTIVE_HC, "failed_active_health_check"),
        (F::FAILED_OUTLIER_CHECK, "failed_outlier_check"),
        (F::DEGRADED_ACTIVE_HC, "failed_active_degraded_check"),
        (F::PENDING_DYNAMIC_REMOVAL, "pending_dynamic_removal"),
        (F::PENDING_ACTIVE_HC, "pending_active_hc"),
        (
            F::EXCLUDED_VIA_IMMEDIATE_HC_FAIL,
            "excluded_via_immediate_hc_fail",
        ),
        (F::ACTIVE_HC_TIMEOUT, "active_hc_timeout"),
    ] {
        if h.flags.contains(flag) {
            status.insert(name.into(), json!(true));
        }
    }
    serde_json::Value::Object(status)
}

/// `/clusters`: Envoy's `cluster::host::field::value` lines, or JSON with `?format=json`.
pub fn clusters(c: &Control, params: &HashMap<String, String>) -> Response {
    let json_wanted = params.get("format").map(String::as_str) == Some("json");
    let mut out = String::new();
    let mut statuses = Vec::new();
    for cluster in &c.snapshot.clusters {
        let n = &cluster.name;
        if json_wanted {
            statuses.push(json!({
                "name": n,
                "added_via_api": false,
                "host_statuses": cluster.hosts.iter().map(|h| {
                    let s = |id, kind| c.registry.value(id, kind);
                    json!({
                        "address": socket_address_json(&h.address),
                        "stats": [
                            {"name": "cx_connect_fail", "value": s(h.stats.cx_connect_fail, Kind::Counter)},
                            {"name": "cx_total", "value": s(h.stats.cx_total, Kind::Counter)},
                            {"name": "rq_error", "value": s(h.stats.rq_error, Kind::Counter)},
                            {"name": "rq_success", "value": s(h.stats.rq_success, Kind::Counter)},
                            {"name": "rq_timeout", "value": s(h.stats.rq_timeout, Kind::Counter)},
                            {"name": "rq_total", "value": s(h.stats.rq_total, Kind::Counter)},
                            {"type": "GAUGE", "name": "cx_active", "value": s(h.stats.cx_active, Kind::Gauge)},
                            {"type": "GAUGE", "name": "rq_active", "value": s(h.stats.rq_active, Kind::Gauge)},
                        ],
                        "health_status": health_status_json(h),
                        "weight": h.weight,
                        "hostname": h.hostname,
                        "locality": {"region": h.locality.region, "zone": h.locality.zone, "sub_zone": h.locality.sub_zone},
                        "priority": h.priority,
                    })
                }).collect::<Vec<_>>(),
            }));
            continue;
        }
        let _ = writeln!(out, "{n}::observability_name::{n}");
        if let Some(d) = c.outliers.detector(n) {
            // Envoy's cluster-level success-rate figures, -1 when the last sweep had too few
            // hosts or requests.
            use sluice_lb::outlier::Origin;
            let (ext, local) = (
                d.success_rate_numbers(Origin::External),
                d.success_rate_numbers(Origin::Local),
            );
            for (field, value) in [
                ("success_rate_average", ext.average),
                ("success_rate_ejection_threshold", ext.ejection_threshold),
                ("local_origin_success_rate_average", local.average),
                (
                    "local_origin_success_rate_ejection_threshold",
                    local.ejection_threshold,
                ),
            ] {
                let _ = writeln!(out, "{n}::outlier::{field}::{}", Rate(value));
            }
        }
        let _ = writeln!(out, "{n}::added_via_api::false");
        for h in &cluster.hosts {
            let a = h.address;
            let v = |id, kind| c.registry.value(id, kind);
            for (field, value) in [
                ("cx_active", v(h.stats.cx_active, Kind::Gauge)),
                ("cx_connect_fail", v(h.stats.cx_connect_fail, Kind::Counter)),
                ("cx_total", v(h.stats.cx_total, Kind::Counter)),
                ("rq_active", v(h.stats.rq_active, Kind::Gauge)),
                ("rq_error", v(h.stats.rq_error, Kind::Counter)),
                ("rq_success", v(h.stats.rq_success, Kind::Counter)),
                ("rq_timeout", v(h.stats.rq_timeout, Kind::Counter)),
                ("rq_total", v(h.stats.rq_total, Kind::Counter)),
            ] {
                let _ = writeln!(out, "{n}::{a}::{field}::{value}");
            }
            let _ = writeln!(out, "{n}::{a}::hostname::{}", h.hostname);
            let _ = writeln!(out, "{n}::{a}::health_flags::{}", h.flags);
            let _ = writeln!(out, "{n}::{a}::weight::{}", h.weight);
            let _ = writeln!(out, "{n}::{a}::region::{}", h.locality.region);
            let _ = writeln!(out, "{n}::{a}::zone::{}", h.locality.zone);
            let _ = writeln!(out, "{n}::{a}::sub_zone::{}", h.locality.sub_zone);
            let _ = writeln!(out, "{n}::{a}::canary::false");
            let _ = writeln!(out, "{n}::{a}::priority::{}", h.priority);
            let rate = |origin| crate::upstream::outlier::success_rate(c, n, a, origin);
            let _ = writeln!(
                out,
                "{n}::{a}::success_rate::{}",
                Rate(rate(sluice_lb::outlier::Origin::External))
            );
            let _ = writeln!(
                out,
                "{n}::{a}::local_origin_success_rate::{}",
                Rate(rate(sluice_lb::outlier::Origin::Local))
            );
        }
    }
    if json_wanted {
        return Response::json(&json!({"cluster_statuses": statuses}));
    }
    Response::text(200, out)
}

/// `/stats`: `name: value` lines sorted by name; `?filter=REGEX`, `?format=json`,
/// `?usedonly`.
pub fn stats(c: &Control, params: &HashMap<String, String>) -> Response {
    let filter = match params.get("filter").filter(|f| !f.is_empty()) {
        Some(f) => match regex::Regex::new(f) {
            Ok(r) => Some(r),
            Err(e) => return Response::text(400, format!("Invalid regex: {e}\n")),
        },
        None => None,
    };
    let used_only = params.contains_key("usedonly");
    let all = c.registry.all();
    let selected = all.iter().filter(|(name, _, value)| {
        filter.as_ref().is_none_or(|r| r.is_match(name)) && (!used_only || *value != 0)
    });
    if params.get("format").map(String::as_str) == Some("json") {
        let stats: Vec<Value> = selected
            .map(|(name, _, value)| json!({"name": name, "value": value}))
            .collect();
        return Response::json(&json!({"stats": stats}));
    }
    let mut out = String::new();
    for (name, _, value) in selected {
        let _ = writeln!(out, "{name}: {value}");
    }
    Response::text(200, out)
}

/// Envoy's default tag extraction for the stat families Sluice has: returns the metric name
/// and its labels.
fn extract_tags(name: &str) -> (String, Vec<(&'static str, String)>) {
    let mut labels = Vec::new();
    let mut rest = name.to_owned();
    for (family, label) in [
        ("http.", "envoy_http_conn_manager_prefix"),
        ("cluster.", "envoy_cluster_name"),
        ("listener.", "envoy_listener_address"),
        ("tcp.", "envoy_tcp_prefix"),
    ] {
        if let Some(tail) = name.strip_prefix(family) {
            // The scope name is everything up to the last dot before the stat itself.
            if let Some((scope, stat)) = tail.rsplit_once('.') {
                labels.push((label, scope.to_owned()));
                rest = format!("{family}{stat}");
            }
            break;
        }
    }
    // `..._2xx` -> `..._xx` with envoy_response_code_class="2".
    if let Some((stem, class)) = rest.strip_suffix("xx").and_then(|b| b.rsplit_once('_'))
        && class.len() == 1
        && class.as_bytes()[0].is_ascii_digit()
    {
        labels.insert(0, ("envoy_response_code_class", class.to_owned()));
        rest = format!("{stem}_xx");
    }
    let metric: String = format!("envoy_{rest}")
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '_' {
                ch
            } else {
                '_'
            }
        })
        .collect();
    (metric, labels)
}

/// `/stats/prometheus`.
pub fn prometheus(c: &Control) -> Response {
    let mut families: std::collections::BTreeMap<String, (Kind, Vec<String>)> =
        std::collections::BTreeMap::new();
    for (name, kind, value) in c.registry.all() {
        let (metric, labels) = extract_tags(name);
        let labels = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(",");
        let entry = families.entry(metric.clone()).or_insert((kind, Vec::new()));
        entry.1.push(format!("{metric}{{{labels}}} {value}"));
    }
    let mut out = String::new();
    for (metric, (kind, lines)) in families {
        let t = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(out, "# TYPE {metric} {t}");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
    let mut r = Response::text(200, out);
    r.content_type = "text/plain; version=0.0.4";
    r
}

/// `/lb_explain?cluster=NAME`: the load balancer's computed state, in plain text.
pub fn lb_explain(c: &Control, params: &HashMap<String, String>) -> Response {
    let Some(name) = params.get("cluster") else {
        let names: Vec<&str> = c
            .snapshot
            .clusters
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Response::text(
            400,
            format!(
                "usage: /lb_explain?cluster=NAME (clusters: {})\n",
                names.join(", ")
            ),
        );
    };
    match c.snapshot.clusters.iter().find(|cl| &cl.name == name) {
        Some(cluster) => Response::text(
            200,
            format!("cluster: {}\n{}", cluster.name, cluster.lb.explain()),
        ),
        None => Response::text(404, format!("unknown cluster `{name}`\n")),
    }
}

/// `/config_dump`: the bootstrap as loaded plus the static listeners and clusters, in Envoy's
/// `configs` list shape.
pub fn config_dump(c: &Control) -> Value {
    let bootstrap = c.dump.clone();
    let statics = |key: &str| -> Vec<Value> {
        bootstrap
            .get("static_resources")
            .and_then(|s| s.get(key))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    json!({
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
                "bootstrap": bootstrap,
            },
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                "static_clusters": statics("clusters").into_iter().map(|cl| json!({"cluster": cl})).collect::<Vec<_>>(),
            },
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                "static_listeners": statics("listeners").into_iter().map(|l| json!({"listener": l})).collect::<Vec<_>>(),
            },
        ]
    })
}

/// `POST /sluice/cluster_endpoints?cluster=NAME` with `{"endpoints": [...]}`: each entry is an
/// `"ip:port"` string or an object with `address`, and optional `weight`, `priority`,
/// `health_status` (Envoy's names), `region`/`zone`/`sub_zone`.
pub fn set_cluster_endpoints(
    c: &mut Control,
    params: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let Some(cluster) = params.get("cluster") else {
        return Response::text(400, "missing ?cluster=NAME\n");
    };
    let doc: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Response::text(400, format!("invalid JSON body: {e}\n")),
    };
    let Some(list) = doc.get("endpoints").and_then(Value::as_array) else {
        return Response::text(400, "body must be {\"endpoints\": [...]}\n");
    };
    let mut groups: Vec<model::LocalityLbEndpoints> = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let (addr, weight, priority, health, locality) = match e {
            Value::String(s) => (s.as_str(), 1, 0, "HEALTHY", model::Locality::default()),
            Value::Object(o) => (
                o.get("address").and_then(Value::as_str).unwrap_or(""),
                o.get("weight").and_then(Value::as_u64).unwrap_or(1),
                o.get("priority").and_then(Value::as_u64).unwrap_or(0),
                o.get("health_status")
                    .and_then(Value::as_str)
                    .unwrap_or("HEALTHY"),
                model::Locality {
                    region: o.get("region").and_then(Value::as_str).unwrap_or("").into(),
                    zone: o.get("zone").and_then(Value::as_str).unwrap_or("").into(),
                    sub_zone: o
                        .get("sub_zone")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                },
            ),
            _ => {
                return Response::text(
                    400,
                    format!("endpoints[{i}]: expected a string or an object\n"),
                );
            }
        };
        let Ok(address) = addr.parse::<SocketAddr>() else {
            return Response::text(400, format!("endpoints[{i}]: `{addr}` is not ip:port\n"));
        };
        let health_status = match health.to_ascii_uppercase().as_str() {
            "UNKNOWN" => model::HealthStatus::Unknown,
            "HEALTHY" => model::HealthStatus::Healthy,
            "UNHEALTHY" => model::HealthStatus::Unhealthy,
            "DRAINING" => model::HealthStatus::Draining,
            "TIMEOUT" => model::HealthStatus::Timeout,
            "DEGRADED" => model::HealthStatus::Degraded,
            other => {
                return Response::text(
                    400,
                    format!("endpoints[{i}]: unknown health_status `{other}`\n"),
                );
            }
        };
        let (Ok(weight), Ok(priority)) = (u32::try_from(weight), u32::try_from(priority)) else {
            return Response::text(
                400,
                format!("endpoints[{i}]: weight or priority out of range\n"),
            );
        };
        let endpoint = model::LbEndpoint {
            address,
            hostname: String::new(),
            health_check_config: model::EndpointHealthCheck::default(),
            health_status,
            load_balancing_weight: weight.max(1),
            lb_metadata: Default::default(),
            metadata: Default::default(),
        };
        match groups
            .iter_mut()
            .find(|g| g.priority == priority && g.locality == locality)
        {
            Some(g) => g.lb_endpoints.push(endpoint),
            None => groups.push(model::LocalityLbEndpoints {
                locality,
                lb_endpoints: vec![endpoint],
                load_balancing_weight: None,
                priority,
            }),
        }
    }
    match c.set_cluster_endpoints(cluster, groups) {
        Ok(generation) => Response::json(&json!({"generation": generation})),
        Err(e) => Response::text(400, format!("{e}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_envoy_default_extractors() {
        let (m, l) = extract_tags("http.ingress_http.downstream_rq_total");
        assert_eq!(m, "envoy_http_downstream_rq_total");
        assert_eq!(
            l,
            vec![("envoy_http_conn_manager_prefix", "ingress_http".to_owned())]
        );
        let (m, l) = extract_tags("cluster.web.upstream_rq_2xx");
        assert_eq!(m, "envoy_cluster_upstream_rq_xx");
        assert_eq!(
            l,
            vec![
                ("envoy_response_code_class", "2".to_owned()),
                ("envoy_cluster_name", "web".to_owned())
            ]
        );
        let (m, l) = extract_tags("listener.0.0.0.0_80.downstream_cx_total");
        assert_eq!(m, "envoy_listener_downstream_cx_total");
        assert_eq!(l, vec![("envoy_listener_address", "0.0.0.0_80".to_owned())]);
    }

    #[test]
    fn query_decoding() {
        let q = parse_query("filter=cluster%5C.web&format=json&usedonly");
        assert_eq!(q["filter"], "cluster\\.web");
        assert_eq!(q["format"], "json");
        assert!(q.contains_key("usedonly"));
    }
}
