//! Helpers shared by the load-balancing end-to-end tests (`lb_labs.rs`, `lb_fields.rs`):
//! JSON bootstrap pieces, request tallies by answering upstream, share assertions, the run-time
//! membership API and `/lb_explain`.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use serde_json::{Value, json};

use crate::{HttpUpstream, Proxy, Request, eventually};

pub const HCM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

pub const ROUTER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

/// How long a new snapshot may take to reach every worker (they look every 10 ms).
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(5);

/// Requests answered, by the name of the upstream that answered.
pub type Counts = BTreeMap<String, usize>;

/// A route sending paths under `prefix` to `cluster`; `extra` is merged into its `route` action
/// (`hash_policy`, `metadata_match`).
pub fn route(prefix: &str, cluster: &str, extra: Value) -> Value {
    let mut action = json!({"cluster": cluster});
    merge(&mut action, extra);
    json!({"match": {"prefix": prefix}, "route": action})
}

/// An `lb_endpoints` entry for `addr`; `extra` is merged into it (`load_balancing_weight`,
/// `health_status`, `metadata`).
pub fn endpoint(addr: SocketAddr, extra: Value) -> Value {
    let mut e = json!({"endpoint": {"address": {"socket_address": {
        "address": addr.ip().to_string(),
        "port_value": addr.port(),
    }}}});
    merge(&mut e, extra);
    e
}

/// `filter_metadata["envoy.lb"]` holding `fields`: endpoint `metadata` or route `metadata_match`.
pub fn envoy_lb(fields: Value) -> Value {
    json!({"filter_metadata": {"envoy.lb": fields}})
}

pub fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

/// One upstream per name, each answering `200` with its own name as the body.
pub fn upstreams(names: &[&str]) -> Vec<HttpUpstream> {
    names.iter().map(|n| HttpUpstream::named(n)).collect()
}

/// `GET path` that the proxy routes by path only.
pub fn get(path: &str) -> Request {
    Request::get(path).header("connection", "close")
}

/// The fraction of requests answered by any of `names`.
pub fn share(counts: &Counts, names: &[&str]) -> f64 {
    let total: usize = counts.values().sum();
    let hits: usize = names.iter().filter_map(|n| counts.get(*n)).sum();
    #[allow(clippy::cast_precision_loss)]
    let share = hits as f64 / total.max(1) as f64;
    share
}

/// Asserts that `names` together answered `expected` ± `tolerance` of the requests.
pub fn assert_share(counts: &Counts, names: &[&str], expected: f64, tolerance: f64, what: &str) {
    let seen = share(counts, names);
    assert!(
        (seen - expected).abs() <= tolerance,
        "{what}: {names:?} answered {:.1}% of the requests, expected {:.1}% ± {:.1}; counts {counts:?}",
        100.0 * seen,
        100.0 * expected,
        100.0 * tolerance
    );
}

/// Asserts that only `names` answered (each of them at least once when `each_used`).
pub fn assert_only(counts: &Counts, names: &[&str], each_used: bool, what: &str) {
    let strangers: Vec<&String> = counts
        .keys()
        .filter(|k| !names.contains(&k.as_str()))
        .collect();
    assert!(
        strangers.is_empty(),
        "{what}: only {names:?} should answer, but {strangers:?} did; counts {counts:?}"
    );
    if each_used {
        let idle: Vec<&&str> = names.iter().filter(|n| !counts.contains_key(**n)).collect();
        assert!(
            idle.is_empty(),
            "{what}: {idle:?} got no request; counts {counts:?}"
        );
    }
}

pub fn connect_from(source: Ipv4Addr, to: SocketAddr) -> io::Result<TcpStream> {
    let SocketAddr::V4(to) = to else {
        return Err(io::Error::other("IPv4 only"));
    };
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::sa_family_t::try_from(libc::AF_INET).unwrap_or_default(),
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_in>())
        .map_err(|_| io::Error::other("sockaddr_in size"))?;
    // SAFETY: socket(2) takes plain integers and returns a new descriptor or -1.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let local = sockaddr(source, 0);
    // SAFETY: bind(2) reads `len` bytes from `local`, a live value on our stack, on a socket we
    // own.
    if unsafe { libc::bind(fd.as_raw_fd(), (&raw const local).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let remote = sockaddr(*to.ip(), to.port());
    // SAFETY: connect(2) reads `len` bytes from `remote`, a live value on our stack; a blocking
    // connect to loopback either completes or is refused at once.
    if unsafe { libc::connect(fd.as_raw_fd(), (&raw const remote).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpStream::from(fd))
}

/// Replaces the endpoints of `cluster` through the run-time membership API and waits until every
/// worker runs the snapshot that carries them.
pub fn set_endpoints(proxy: &Proxy, cluster: &str, endpoints: Value) {
    let body = json!({ "endpoints": endpoints }).to_string();
    let response = proxy.admin().post(
        &format!("/sluice/cluster_endpoints?cluster={cluster}"),
        &body,
    );
    assert_eq!(
        response.status,
        200,
        "POST /sluice/cluster_endpoints: {}",
        response.text()
    );
    let reply: Value = serde_json::from_slice(&response.body).expect("a JSON answer");
    let generation = reply["generation"]
        .as_u64()
        .unwrap_or_else(|| panic!("no generation in {reply}"));
    eventually(
        &format!("every worker on snapshot generation {generation}"),
        SNAPSHOT_TIMEOUT,
        || {
            let info = proxy.admin().server_info();
            let workers = info["workers"].as_array()?;
            (!workers.is_empty()
                && workers
                    .iter()
                    .all(|w| w["snapshot_generation"].as_u64() >= Some(generation)))
            .then_some(())
        },
    );
}

/// `/lb_explain?cluster=NAME`.
pub fn lb_explain(proxy: &Proxy, cluster: &str) -> String {
    let response = proxy.admin().get(&format!("/lb_explain?cluster={cluster}"));
    assert_eq!(response.status, 200, "/lb_explain: {}", response.text());
    response.text()
}

/// Active requests per upstream address, from `/clusters` (`NAME::ADDR::rq_active::N`).
pub fn rq_active(proxy: &Proxy, cluster: &str) -> BTreeMap<SocketAddr, u64> {
    let prefix = format!("{cluster}::");
    proxy
        .admin()
        .clusters()
        .iter()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (addr, value) = rest.split_once("::rq_active::")?;
            Some((addr.parse().ok()?, value.parse().ok()?))
        })
        .collect()
}

/// Which host each key reaches, asking `rounds` times per key (a new connection each time, so
/// both workers answer): panics unless every answer for a key is the same host.
pub fn sticky_mapping(
    keys: &[String],
    rounds: usize,
    send: &dyn Fn(&str) -> String,
) -> BTreeMap<String, String> {
    keys.iter()
        .map(|key| {
            let answers: Vec<String> = (0..rounds).map(|_| send(key)).collect();
            assert!(
                answers.iter().all(|a| *a == answers[0]),
                "key {key:?} is not sticky: answered by {answers:?}"
            );
            (key.clone(), answers[0].clone())
        })
        .collect()
}

// === JSON bootstraps ===

/// A bootstrap document: one HTTP listener whose only virtual host (`*`) has `routes`, `clusters`,
/// and `extra` merged in at the top (`node`, `cluster_manager`, `layered_runtime`). `hcm_extra`
/// is merged into the connection manager. Port placeholders are filled in by [`start_json`].
pub fn http_bootstrap(routes: Value, clusters: Value, hcm_extra: Value, extra: Value) -> Value {
    let mut hcm = json!({
        "@type": HCM_TYPE,
        "stat_prefix": "ingress_http",
        "route_config": {
            "name": "local_route",
            "virtual_hosts": [{"name": "backend", "domains": ["*"], "routes": routes}],
        },
        "http_filters": [{
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": ROUTER_TYPE},
        }],
    });
    merge(&mut hcm, hcm_extra);
    let mut doc = json!({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{{admin_port}}"}}},
        "static_resources": {
            "listeners": [{
                "name": "listener_http",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{{listener_port_0}}"}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": hcm,
                }]}],
            }],
            "clusters": clusters,
        },
    });
    merge(&mut doc, extra);
    doc
}

/// The document as JSON text, the port placeholders unquoted so they become numbers once filled.
pub fn json_text(doc: &Value) -> String {
    serde_json::to_string_pretty(doc)
        .expect("a bootstrap serialises to JSON")
        .replace("\"{{admin_port}}\"", "{{admin_port}}")
        .replace("\"{{listener_port_0}}\"", "{{listener_port_0}}")
}

/// Starts the proxy (two workers) on `doc`.
pub fn start_json(doc: &Value) -> Proxy {
    Proxy::start(crate::Config::Json(json_text(doc)))
}

/// A STATIC round-robin cluster named `name` over `addrs`; `extra` is merged into it.
pub fn static_cluster(name: &str, addrs: &[SocketAddr], extra: Value) -> Value {
    let mut c = json!({
        "name": name,
        "connect_timeout": "0.5s",
        "type": "STATIC",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": addrs.iter().map(|a| endpoint(*a, json!({}))).collect::<Vec<_>>()}],
        },
    });
    merge(&mut c, extra);
    c
}

/// Starts the proxy (two workers) with one route, `/` to cluster `to`, and `clusters`.
pub fn start_routed(to: &str, clusters: Value) -> Proxy {
    start_json(&http_bootstrap(
        json!([route("/", to, json!({}))]),
        clusters,
        json!({}),
        json!({}),
    ))
}

/// The value of the `/clusters` line that starts with `prefix`.
pub fn clusters_line(proxy: &Proxy, prefix: &str) -> String {
    proxy
        .admin()
        .clusters()
        .iter()
        .find_map(|l| l.strip_prefix(prefix).map(str::to_string))
        .unwrap_or_else(|| panic!("no {prefix} line in /clusters"))
}

/// `health_flags` of `host` of `cluster` in `/clusters`.
pub fn host_health_flags(proxy: &Proxy, cluster: &str, host: SocketAddr) -> String {
    clusters_line(proxy, &format!("{cluster}::{host}::health_flags::"))
}

/// Waits until every worker serves the snapshot the control thread serves now: health changes
/// reach workers on their next control tick, a moment after `/clusters` shows them.
pub fn workers_caught_up(proxy: &Proxy) {
    let generation = proxy.admin().server_info()["snapshot_generation"]
        .as_u64()
        .unwrap_or(0);
    eventually(
        "every worker on the current snapshot",
        Duration::from_secs(20),
        || {
            proxy.admin().server_info()["workers"]
                .as_array()
                .is_some_and(|ws| {
                    ws.iter()
                        .all(|w| w["snapshot_generation"].as_u64().unwrap_or(0) >= generation)
                })
                .then_some(())
        },
    );
}
