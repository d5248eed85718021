//! `Bootstrap`, `Node`, `Admin`, `ClusterManager`, addresses, and the checks that span the
//! whole document (unique names and addresses, cluster references).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::{Cx, cluster, listener, runtime};
use crate::model::{Admin, Bootstrap, Loc, Locality, Node};
use crate::schema;
use crate::suggest::did_you_mean;
use crate::tree::{Node as TNode, Value};

pub(super) fn bootstrap(cx: &mut Cx<'_>, root: &TNode) -> Option<Bootstrap> {
    if let Some(loc) = v1_format(root) {
        cx.error(loc, "", schema::V1_FORMAT);
        return None;
    }
    let m = cx.message(root, "", &schema::BOOTSTRAP)?;
    let node = m
        .get("node")
        .and_then(|n| node(cx, n, "node"))
        .unwrap_or_default();
    let admin = m.get("admin").and_then(|n| admin(cx, n, "admin"));
    let layered_runtime = match m.get("layered_runtime") {
        Some(n) => runtime::layered_runtime(cx, n, "layered_runtime").unwrap_or_default(),
        None => Vec::new(),
    };

    let mut listeners = Vec::new();
    let mut clusters = Vec::new();
    if let Some(sr) = m.get("static_resources")
        && let Some(sr) = cx.message(sr, "static_resources", &schema::STATIC_RESOURCES)
    {
        if let Some(list) = sr.get("listeners") {
            for (n, path) in cx.list(list, &sr.path("listeners")) {
                if let Some(l) = listener::listener(cx, n, &path) {
                    listeners.push(l);
                }
            }
        }
        if let Some(list) = sr.get("clusters") {
            for (n, path) in cx.list(list, &sr.path("clusters")) {
                if let Some(c) = cluster::cluster(cx, n, &path) {
                    clusters.push(c);
                }
            }
        }
    }

    let mut local_cluster_name = None;
    if let Some(cm) = m.get("cluster_manager")
        && let Some(cm) = cx.message(cm, "cluster_manager", &schema::CLUSTER_MANAGER)
        && let Some(n) = cm.get("local_cluster_name")
    {
        let path = cm.path("local_cluster_name");
        if let Some(name) = cx.string(n, &path).filter(|s| !s.is_empty()) {
            cx.cluster_refs.push(super::ClusterRef {
                name: name.clone(),
                loc: n.loc,
                path,
            });
            local_cluster_name = Some(name);
        }
    }

    check_unique(cx, &listeners, &clusters);
    check_cluster_refs(cx);

    Some(Bootstrap {
        node,
        admin,
        listeners: listeners.into_iter().map(|l| l.listener).collect(),
        clusters: clusters.into_iter().map(|c| c.cluster).collect(),
        local_cluster_name,
        layered_runtime,
    })
}

/// Where a document shows it is Envoy's v1 format: a top-level `listeners`, or
/// `cluster_manager.clusters`/`sds`/`cds`. One error then says so, instead of one per field.
fn v1_format(root: &TNode) -> Option<Loc> {
    let Value::Map(entries) = &root.value else {
        return None;
    };
    for e in entries {
        if e.key == "listeners" {
            return Some(e.key_loc);
        }
        if e.key == "cluster_manager"
            && let Value::Map(cm) = &e.value.value
            && let Some(c) = cm
                .iter()
                .find(|c| matches!(c.key.as_str(), "clusters" | "sds" | "cds"))
        {
            return Some(c.key_loc);
        }
    }
    None
}

/// Duplicate listener names and addresses, duplicate cluster names.
fn check_unique(cx: &mut Cx<'_>, listeners: &[listener::Decoded], clusters: &[cluster::Decoded]) {
    let mut names: HashMap<&str, Loc> = HashMap::new();
    let mut addrs: HashMap<SocketAddr, Loc> = HashMap::new();
    for l in listeners {
        if let Some(first) = names.get(l.listener.name.as_str()) {
            cx.error(
                l.name_loc,
                &format!("{}.name", l.path),
                format!(
                    "duplicate listener name `{}` (first at line {}:{}); listener names must be unique",
                    l.listener.name, first.line, first.column
                ),
            );
        } else {
            names.insert(&l.listener.name, l.name_loc);
        }
        if let Some(first) = addrs.get(&l.listener.address) {
            cx.error(
                l.address_loc,
                &format!("{}.address", l.path),
                format!(
                    "duplicate listener address {} (first at line {}:{}); two listeners cannot bind the same address",
                    l.listener.address, first.line, first.column
                ),
            );
        } else {
            addrs.insert(l.listener.address, l.address_loc);
        }
    }
    let mut names: HashMap<&str, Loc> = HashMap::new();
    for c in clusters {
        if let Some(first) = names.get(c.cluster.name.as_str()) {
            cx.error(
                c.name_loc,
                &format!("{}.name", c.path),
                format!(
                    "duplicate cluster name `{}` (first at line {}:{}); cluster names must be unique",
                    c.cluster.name, first.line, first.column
                ),
            );
        } else {
            names.insert(&c.cluster.name, c.name_loc);
        }
    }
}

/// Every route, tcp_proxy and `local_cluster_name` must name a defined cluster.
fn check_cluster_refs(cx: &mut Cx<'_>) {
    let written = std::mem::take(&mut cx.cluster_names);
    let names: Vec<&str> = written.iter().map(String::as_str).collect();
    let refs = std::mem::take(&mut cx.cluster_refs);
    for r in refs {
        if names.contains(&r.name.as_str()) {
            continue;
        }
        let mut msg = format!(
            "unknown cluster `{}`: no cluster of that name in static_resources.clusters",
            r.name
        );
        if let Some(near) = did_you_mean(&r.name, &names) {
            msg.push_str(&format!("; did you mean `{near}`?"));
        }
        cx.error(r.loc, &r.path, msg);
    }
}

fn node(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Node> {
    let m = cx.message(n, path, &schema::NODE)?;
    let mut out = Node::default();
    if let Some(v) = m.get("id") {
        out.id = cx.string(v, &m.path("id")).unwrap_or_default();
    }
    if let Some(v) = m.get("cluster") {
        out.cluster = cx.string(v, &m.path("cluster")).unwrap_or_default();
    }
    if let Some(v) = m.get("locality") {
        out.locality = locality(cx, v, &m.path("locality")).unwrap_or_default();
    }
    if let Some(v) = m.get("metadata") {
        out.metadata = cx.json_struct(v, &m.path("metadata")).unwrap_or_default();
    }
    Some(out)
}

/// `config.core.v3.Locality`.
pub(super) fn locality(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Locality> {
    let m = cx.message(n, path, &schema::LOCALITY)?;
    let mut out = Locality::default();
    for (field, slot) in [
        ("region", &mut out.region),
        ("zone", &mut out.zone),
        ("sub_zone", &mut out.sub_zone),
    ] {
        if let Some(v) = m.get(field) {
            *slot = cx.string(v, &m.path(field)).unwrap_or_default();
        }
    }
    Some(out)
}

fn admin(cx: &mut Cx<'_>, n: &TNode, path: &str) -> Option<Admin> {
    let m = cx.message(n, path, &schema::ADMIN)?;
    for field in ["access_log_path", "profile_path"] {
        if let Some(v) = m.get(field) {
            let _ = cx.string(v, &m.path(field));
        }
    }
    // Without an address Envoy opens no admin listener; so does Sluice.
    let a = m.get("address")?;
    let (address, loc) = address(cx, a, &m.path("address"), AddressUse::Listen)?;
    Some(Admin { address, loc })
}

/// What an address is for: listening needs a local IP; endpoints need a non-zero port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddressUse {
    Listen,
    Endpoint,
    /// An endpoint of a cluster whose `type` was already refused: a host name there is what
    /// that type expects, so it draws no second error.
    EndpointOfRefusedCluster,
}

/// `config.core.v3.Address` with a `socket_address`; returns where the address was written.
pub(super) fn address(
    cx: &mut Cx<'_>,
    n: &TNode,
    path: &str,
    usage: AddressUse,
) -> Option<(SocketAddr, Loc)> {
    let m = cx.message(n, path, &schema::ADDRESS)?;
    let Some(sa) = m.get("socket_address") else {
        if !m.written("pipe") && !m.written("envoy_internal_address") {
            cx.missing(&m, "socket_address");
        }
        return None;
    };
    let sa_path = m.path("socket_address");
    let s = cx.message(sa, &sa_path, &schema::SOCKET_ADDRESS)?;
    if let Some(p) = s.get("protocol") {
        let proto = cx.enumeration(p, &s.path("protocol"), &[("TCP", 0), ("UDP", 1)]);
        if proto == Some("UDP") {
            cx.error(p.loc, &s.path("protocol"), "UDP is not supported yet");
        }
    }
    let ip = match s.get("address") {
        Some(a) => {
            let apath = s.path("address");
            let text = cx.string(a, &apath)?;
            match text.parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    let why = match usage {
                        AddressUse::Listen => format!(
                            "`{text}` is not an IP address; listeners bind an IP such as 0.0.0.0 or 127.0.0.1"
                        ),
                        AddressUse::EndpointOfRefusedCluster => return None,
                        AddressUse::Endpoint => format!(
                            "`{text}` is not an IP address; STATIC clusters need IP addresses (resolving host names needs STRICT_DNS or LOGICAL_DNS, which are not supported yet)"
                        ),
                    };
                    cx.error(a.loc, &apath, why);
                    None
                }
            }
        }
        None => {
            cx.missing(&s, "address");
            None
        }
    };
    let port = match s.get("port_value") {
        Some(p) => cx.u32_in(p, &s.path("port_value"), 0, 65535),
        None if s.written("named_port") => None,
        None => {
            if usage != AddressUse::Listen {
                cx.missing(&s, "port_value");
                None
            } else {
                Some(0)
            }
        }
    };
    let port = u16::try_from(port?).ok()?;
    if usage != AddressUse::Listen && port == 0 {
        cx.error(
            s.key_loc("port_value"),
            &s.path("port_value"),
            "an endpoint needs a port in 1..=65535",
        );
        return None;
    }
    Some((SocketAddr::new(ip?, port), s.loc))
}
