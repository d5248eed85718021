//! Route tables: virtual host selection by Host and route selection by the whole request, as
//! Envoy does, compiled once per snapshot.
//!
//! Built on the control thread and only read by workers (`Send + Sync`, no interior
//! mutability). Domain matching follows Envoy's order: exact names, then `*.suffix` wildcards
//! (longest suffix first), then `prefix.*` wildcards (longest prefix first), then `*`. Names
//! compare case-insensitively. A Host header with a port matches a domain written with that
//! port; otherwise the port is stripped before matching.
//!
//! Within a virtual host the first route in configuration order whose path specifier and
//! conditions (runtime fraction, gRPC, headers, query parameters) all accept the request wins.
//! Regexes are compiled at build time; a lookup for a prefix or exact route without header
//! matchers allocates nothing.

use std::collections::HashMap;

use sluice_config::model;

mod action;
mod index;
mod matcher;

#[cfg(test)]
mod tests;

pub use action::{
    Action, AttemptCount, ClusterChoice, ClusterTarget, Forward, Mirror, MirrorTarget,
    WeightedCluster, WeightedClusters,
};

pub(crate) use matcher::{HeaderMatcher, is_grpc_content_type};

use index::{Candidates, RouteIndex};
use matcher::RouteMatcher;

/// Virtual hosts with fewer routes are scanned linearly: gathering and sorting candidates
/// costs more than it saves (see docs/bench/route-lookup.md).
const INDEX_ROUTES_MIN: usize = 16;

/// The header fields of a request, as the router reads them.
pub trait RequestHeaders {
    /// Calls `each` with every value of the header `name` (given in lower case; names compare
    /// case-insensitively), in the order received. No call when the header is absent.
    fn get_all<'s>(&'s self, name: &[u8], each: &mut dyn FnMut(&'s [u8]));
}

/// Runtime values the router consults (`runtime_fraction`, weighted-cluster weights).
///
/// One lookup must see a consistent view: a value may be read more than once per lookup.
pub trait RuntimeLookup {
    /// The value of `key` when it parses as an unsigned integer.
    fn integer(&self, key: &str) -> Option<u64>;

    /// The value of `key` when it was written as a `FractionalPercent` (`numerator`,
    /// denominator as a number: 100, 10 000 or 1 000 000). Envoy prefers this form over an
    /// integer for `runtime_fraction`.
    fn fractional_percent(&self, key: &str) -> Option<(u64, u64)> {
        let _ = key;
        None
    }
}

/// A runtime with no values: every default applies.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRuntime;

impl RuntimeLookup for NoRuntime {
    fn integer(&self, _key: &str) -> Option<u64> {
        None
    }
}

impl RequestHeaders for crate::http::h1::Headers<'_> {
    fn get_all<'s>(&'s self, name: &[u8], each: &mut dyn FnMut(&'s [u8])) {
        for (n, v) in self.iter() {
            if n.eq_ignore_ascii_case(name) {
                each(v);
            }
        }
    }
}

/// What the router needs to know about a request.
#[derive(Clone, Copy)]
pub struct RouteRequest<'a> {
    /// The Host header (or `:authority`), as received.
    pub host: &'a [u8],
    /// The origin-form target, query included.
    pub path: &'a [u8],
    /// The method; `CONNECT` requests are only matched by `connect_matcher` routes.
    pub method: &'a [u8],
    /// The header fields (pseudo-headers `:authority`, `:path` and `:method` are answered
    /// from the fields above).
    pub headers: &'a dyn RequestHeaders,
    /// The request's random value: one per request, shared by every `runtime_fraction` and
    /// the weighted-cluster choice, as in Envoy.
    pub random: u64,
    /// Runtime values.
    pub runtime: &'a dyn RuntimeLookup,
}

impl std::fmt::Debug for RouteRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteRequest")
            .field("host", &String::from_utf8_lossy(self.host))
            .field("path", &String::from_utf8_lossy(self.path))
            .field("method", &String::from_utf8_lossy(self.method))
            .field("random", &self.random)
            .finish_non_exhaustive()
    }
}

impl RouteRequest<'_> {
    fn is_connect(&self) -> bool {
        self.method == b"CONNECT"
    }
}

/// Why a route table could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A route names a cluster that the snapshot does not have.
    #[error("route `{route}` in virtual host `{vhost}` names unknown cluster `{cluster}`")]
    UnknownCluster {
        /// The virtual host.
        vhost: String,
        /// The route (its name, or its position when unnamed).
        route: String,
        /// The missing cluster.
        cluster: String,
    },
    /// A regex does not compile with the `regex` crate (the loader checks RE2 syntax; the two
    /// differ in rare corners).
    #[error(
        "route `{route}` in virtual host `{vhost}`: regex `{pattern}` does not compile: {reason}"
    )]
    Regex {
        /// The virtual host.
        vhost: String,
        /// The route.
        route: String,
        /// The pattern.
        pattern: String,
        /// The compiler's message.
        reason: String,
    },
    /// Weighted clusters whose weights add up to zero or beyond `u32::MAX`.
    #[error(
        "route `{route}` in virtual host `{vhost}`: weighted clusters add up to {total}, which must be between 1 and 4294967295"
    )]
    TotalWeight {
        /// The virtual host.
        vhost: String,
        /// The route.
        route: String,
        /// The sum of the weights.
        total: u64,
    },
}

/// One route: its compiled matcher and its action.
#[derive(Debug)]
pub struct Route {
    /// `name`; may be empty.
    pub name: String,
    /// What to do when it matches.
    pub action: Action,
    /// Header mutations of the route.
    pub headers: model::HeaderMutations,
    matcher: RouteMatcher,
}

/// The result of a route lookup.
#[derive(Debug, Clone, Copy)]
pub struct Routed<'t, 'a> {
    /// The virtual host (for its header mutations and retry policy).
    pub vhost: &'t VirtualHost,
    /// The matched route.
    pub route: &'t Route,
    /// Its position in the virtual host.
    pub index: usize,
    /// For a forwarding route, the cluster chosen for this request.
    pub cluster: Option<ClusterChoice<'t, 'a>>,
    /// How many leading bytes of the target `prefix_rewrite` replaces (see
    /// [`Forward::rewrite_path`] and redirects' `prefix_rewrite`).
    pub matched_len: usize,
}

/// A virtual host and its routes in order.
#[derive(Debug)]
pub struct VirtualHost {
    /// Its position in `route_config.virtual_hosts` (per-route filter configs are found by it).
    pub position: usize,
    /// `name`, for stats and logs.
    pub name: String,
    /// Header mutations of the virtual host.
    pub headers: model::HeaderMutations,
    /// `retry_policy` of the virtual host (already folded into each route's [`Forward`]).
    pub retry_policy: Option<model::RetryPolicy>,
    routes: Vec<Route>,
    index: Option<RouteIndex>,
}

impl VirtualHost {
    fn build(
        position: usize,
        vh: &model::VirtualHost,
        cluster_index: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<Self, BuildError> {
        let mut routes = Vec::with_capacity(vh.routes.len());
        for (i, r) in vh.routes.iter().enumerate() {
            let at = || {
                let route = if r.name.is_empty() {
                    format!("#{i}")
                } else {
                    r.name.clone()
                };
                (vh.name.clone(), route)
            };
            let matcher = RouteMatcher::build(&r.matcher, &at)?;
            let action = match &r.action {
                model::RouteAction::Forward(f) => {
                    let mut forward =
                        Forward::build(f, vh.retry_policy.as_ref(), cluster_index, &at)?;
                    forward.attempt_count = AttemptCount {
                        in_request: vh.include_request_attempt_count,
                        in_response: vh.include_attempt_count_in_response,
                    };
                    forward.buffer_limit_bytes = r
                        .per_request_buffer_limit_bytes
                        .or(vh.per_request_buffer_limit_bytes);
                    Action::Forward(Box::new(forward))
                }
                model::RouteAction::DirectResponse(d) => Action::Direct {
                    status: d.status,
                    body: d.body.clone().map(bytes::Bytes::from).unwrap_or_default(),
                },
                model::RouteAction::Redirect(r) => Action::Redirect(r.clone()),
            };
            routes.push(Route {
                name: r.name.clone(),
                action,
                headers: r.headers.clone(),
                matcher,
            });
        }
        Ok(VirtualHost {
            position,
            name: vh.name.clone(),
            headers: vh.headers.clone(),
            retry_policy: vh.retry_policy.clone(),
            index: (routes.len() >= INDEX_ROUTES_MIN).then(|| RouteIndex::build(&vh.routes)),
            routes,
        })
    }

    /// The routes, in configuration order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The first route that accepts the request, with the cluster it chose.
    pub fn route<'t, 'a>(&'t self, req: &RouteRequest<'a>) -> Option<Routed<'t, 'a>> {
        let path = matcher::path_only(req.path);
        let is_connect = req.is_connect();
        if let Some(index) = &self.index {
            let mut candidates = Candidates::new();
            index.candidates(path, is_connect, &mut candidates);
            // Candidates in ascending order, each fully matched: the first to match is the
            // first in configuration order, since no route outside them can match.
            if let Some(list) = candidates.sorted() {
                return list.iter().find_map(|&i| {
                    let i = i as usize;
                    self.try_route(i, self.routes.get(i)?, req, path, is_connect)
                });
            }
        }
        self.scan(req, path, is_connect)
    }

    /// Every route in order, without the index.
    fn scan<'t, 'a>(
        &'t self,
        req: &RouteRequest<'a>,
        path: &[u8],
        is_connect: bool,
    ) -> Option<Routed<'t, 'a>> {
        self.routes
            .iter()
            .enumerate()
            .find_map(|(i, r)| self.try_route(i, r, req, path, is_connect))
    }

    fn try_route<'t, 'a>(
        &'t self,
        index: usize,
        route: &'t Route,
        req: &RouteRequest<'a>,
        path: &[u8],
        is_connect: bool,
    ) -> Option<Routed<'t, 'a>> {
        if !route.matcher.matches(req, path, is_connect) {
            return None;
        }
        let cluster = match &route.action {
            Action::Forward(f) => Some(f.choose(req.headers, req.runtime, req.random)?),
            Action::Direct { .. } | Action::Redirect(_) => None,
        };
        Some(Routed {
            vhost: self,
            route,
            index,
            cluster,
            matched_len: route.matcher.path.matched_len(path),
        })
    }
}

/// All virtual hosts of one route configuration with Envoy's domain lookup structure.
#[derive(Debug)]
pub struct RouteTable {
    /// Header mutations of the route configuration (the outermost level).
    pub headers: model::HeaderMutations,
    vhosts: Vec<VirtualHost>,
    exact: HashMap<String, usize>,
    /// `*.example.com` stored as (`.example.com`, vhost), longest first.
    suffixes: Vec<(String, usize)>,
    /// `example.*` stored as (`example.`, vhost), longest first.
    prefixes: Vec<(String, usize)>,
    any: Option<usize>,
}

impl RouteTable {
    /// Builds the table, resolving every cluster name (`cluster`, each weighted cluster, each
    /// mirror) with `cluster_index` and compiling every regex.
    pub fn build(
        config: &model::RouteConfiguration,
        cluster_index: impl Fn(&str) -> Option<usize>,
    ) -> Result<Self, BuildError> {
        let mut table = RouteTable {
            headers: config.headers.clone(),
            vhosts: Vec::with_capacity(config.virtual_hosts.len()),
            exact: HashMap::new(),
            suffixes: Vec::new(),
            prefixes: Vec::new(),
            any: None,
        };
        for (index, vh) in config.virtual_hosts.iter().enumerate() {
            table
                .vhosts
                .push(VirtualHost::build(table.vhosts.len(), vh, &cluster_index)?);
            for domain in &vh.domains {
                let domain = domain.to_ascii_lowercase();
                // Envoy refuses duplicate domains across virtual hosts at load time (the
                // config crate reports it); the first one wins here regardless.
                if domain == "*" {
                    table.any.get_or_insert(index);
                } else if let Some(suffix) = domain.strip_prefix('*') {
                    table.suffixes.push((suffix.to_owned(), index));
                } else if let Some(prefix) = domain.strip_suffix('*') {
                    table.prefixes.push((prefix.to_owned(), index));
                } else {
                    table.exact.entry(domain).or_insert(index);
                }
            }
        }
        table
            .suffixes
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        table
            .prefixes
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        Ok(table)
    }

    /// The virtual hosts, in configuration order.
    pub fn virtual_hosts(&self) -> &[VirtualHost] {
        &self.vhosts
    }

    /// The route for a request: its virtual host by Host, then the first matching route.
    pub fn route<'t, 'a>(&'t self, req: &RouteRequest<'a>) -> Option<Routed<'t, 'a>> {
        self.virtual_host(req.host)?.route(req)
    }
    /// The virtual host for a Host header value (`None` if no domain matches).
    pub fn virtual_host(&self, host: &[u8]) -> Option<&VirtualHost> {
        let mut buf = [0u8; 256];
        let host = if host.len() <= buf.len() {
            let lower = &mut buf[..host.len()];
            lower.copy_from_slice(host);
            lower.make_ascii_lowercase();
            std::str::from_utf8(lower).ok()?
        } else {
            return self.any.and_then(|i| self.vhosts.get(i));
        };
        // As Envoy: the Host is matched with its port, if it has one; the connection
        // manager's `strip_any_host_port` / `strip_matching_host_port` remove it first.
        let index = self
            .exact
            .get(host)
            .copied()
            .or_else(|| {
                self.suffixes
                    .iter()
                    .find(|(s, _)| host.len() > s.len() && host.ends_with(s.as_str()))
                    .map(|(_, i)| *i)
            })
            .or_else(|| {
                self.prefixes
                    .iter()
                    .find(|(p, _)| host.len() > p.len() && host.starts_with(p.as_str()))
                    .map(|(_, i)| *i)
            })
            .or(self.any)?;
        self.vhosts.get(index)
    }
}

/// `host:port` -> `host`; `[v6]:port` -> `[v6]`; a bare IPv6 literal is left alone.
pub(crate) fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find("]:").map_or(host, |i| &host[..=i]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}
