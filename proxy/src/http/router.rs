//! Route tables: virtual host selection by Host and route selection by path, as Envoy does.
//!
//! Built once per snapshot on the control thread; a worker only reads it. Domain matching
//! follows Envoy's order: exact names, then `*.suffix` wildcards (longest suffix first), then
//! `prefix.*` wildcards (longest prefix first), then `*`. Names compare case-insensitively. A
//! Host header with a port matches a domain written with that port; otherwise the port is
//! stripped before matching.

use std::collections::HashMap;
use std::time::Duration;

use sluice_config::model;

/// What a matched route does.
#[derive(Debug)]
pub enum Action {
    /// Forward to a cluster.
    Forward(Forward),
    /// Answer locally with a fixed status and body.
    Direct {
        /// Status code.
        status: u16,
        /// Body; empty when the route has none.
        body: bytes::Bytes,
    },
    /// Answer with a redirect.
    Redirect(model::Redirect),
}

/// `route:` of a route, resolved.
#[derive(Debug)]
pub struct Forward {
    /// Index of the target cluster in the snapshot.
    pub cluster: usize,
    /// Route timeout; `None` when disabled (`0s`).
    pub timeout: Option<Duration>,
    /// `prefix_rewrite`: replaces the matched prefix.
    pub prefix_rewrite: Option<String>,
    /// `host_rewrite_literal`.
    pub host_rewrite: Option<String>,
    /// `hash_policy`, ready for `sluice-lb`.
    pub hash_policy: Vec<sluice_lb::hash::HashPolicy>,
    /// `metadata_match` criteria for subset load balancing; `None` when the route has none.
    pub metadata_match: Option<sluice_lb::MetadataMatch>,
}

/// One route: a path matcher and an action.
#[derive(Debug)]
pub struct Route {
    matcher: PathMatcher,
    /// What to do when it matches.
    pub action: Action,
}

#[derive(Debug)]
enum PathMatcher {
    Prefix { value: String, case_sensitive: bool },
    Exact { value: String, case_sensitive: bool },
}

impl PathMatcher {
    /// Envoy matches a prefix against the whole `:path` (query included) and an exact path
    /// against the path with its query string removed.
    fn matches(&self, target: &str) -> bool {
        match self {
            PathMatcher::Prefix {
                value,
                case_sensitive,
            } => starts_with(target, value, *case_sensitive),
            PathMatcher::Exact {
                value,
                case_sensitive,
            } => {
                let path = target.split_once('?').map_or(target, |(p, _)| p);
                if *case_sensitive {
                    path == value
                } else {
                    path.eq_ignore_ascii_case(value)
                }
            }
        }
    }

    /// Length of the matched prefix, for `prefix_rewrite`.
    fn matched_len(&self) -> usize {
        match self {
            PathMatcher::Prefix { value, .. } => value.len(),
            PathMatcher::Exact { .. } => 0,
        }
    }
}

fn starts_with(s: &str, prefix: &str, case_sensitive: bool) -> bool {
    if case_sensitive {
        s.starts_with(prefix)
    } else {
        s.len() >= prefix.len()
            && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    }
}

/// A virtual host and its routes in order.
#[derive(Debug)]
pub struct VirtualHost {
    /// `name`, for stats and logs.
    pub name: String,
    routes: Vec<Route>,
}

impl VirtualHost {
    /// The first route whose matcher accepts `target` (the request's path with query).
    pub fn route(&self, target: &str) -> Option<(&Route, usize)> {
        self.routes
            .iter()
            .find(|r| r.matcher.matches(target))
            .map(|r| (r, r.matcher.matched_len()))
    }
}

/// All virtual hosts of one route configuration with Envoy's domain lookup structure.
#[derive(Debug)]
pub struct RouteTable {
    vhosts: Vec<VirtualHost>,
    exact: HashMap<String, usize>,
    /// `*.example.com` stored as (`.example.com`, vhost), longest first.
    suffixes: Vec<(String, usize)>,
    /// `example.*` stored as (`example.`, vhost), longest first.
    prefixes: Vec<(String, usize)>,
    any: Option<usize>,
}

/// A route configuration names a cluster that the snapshot does not have.
#[derive(Debug, thiserror::Error)]
#[error("route in virtual host `{vhost}` names unknown cluster `{cluster}`")]
pub struct UnknownCluster {
    /// The virtual host.
    pub vhost: String,
    /// The missing cluster.
    pub cluster: String,
}

impl RouteTable {
    /// Builds the table, resolving cluster names with `cluster_index`.
    pub fn build(
        config: &model::RouteConfiguration,
        cluster_index: impl Fn(&str) -> Option<usize>,
    ) -> Result<Self, UnknownCluster> {
        let mut table = RouteTable {
            vhosts: Vec::with_capacity(config.virtual_hosts.len()),
            exact: HashMap::new(),
            suffixes: Vec::new(),
            prefixes: Vec::new(),
            any: None,
        };
        for (index, vh) in config.virtual_hosts.iter().enumerate() {
            let mut routes = Vec::with_capacity(vh.routes.len());
            for r in &vh.routes {
                let matcher = match &r.matcher.path {
                    model::PathMatch::Prefix(p) => PathMatcher::Prefix {
                        value: p.clone(),
                        case_sensitive: r.matcher.case_sensitive,
                    },
                    model::PathMatch::Path(p) => PathMatcher::Exact {
                        value: p.clone(),
                        case_sensitive: r.matcher.case_sensitive,
                    },
                    _ => unreachable!("the loader refuses other path specifiers"),
                };
                let action = match &r.action {
                    model::RouteAction::Forward(f) => {
                        let model::ClusterSpecifier::Cluster(name) = &f.cluster else {
                            unreachable!("the loader refuses other cluster specifiers")
                        };
                        let cluster = cluster_index(name).ok_or_else(|| UnknownCluster {
                            vhost: vh.name.clone(),
                            cluster: name.clone(),
                        })?;
                        Action::Forward(Forward {
                            cluster,
                            timeout: (!f.timeout.is_zero()).then_some(f.timeout),
                            prefix_rewrite: f.prefix_rewrite.clone(),
                            host_rewrite: f.host_rewrite_literal.clone(),
                            hash_policy: crate::upstream::lb::hash_policies(&f.hash_policy),
                            metadata_match: (!f.metadata_match.is_empty())
                                .then(|| sluice_lb::MetadataMatch::from_json(&f.metadata_match)),
                        })
                    }
                    model::RouteAction::DirectResponse(d) => Action::Direct {
                        status: d.status,
                        body: d.body.clone().map(bytes::Bytes::from).unwrap_or_default(),
                    },
                    model::RouteAction::Redirect(r) => Action::Redirect(r.clone()),
                };
                routes.push(Route { matcher, action });
            }
            table.vhosts.push(VirtualHost {
                name: vh.name.clone(),
                routes,
            });
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
        if let Some(&i) = self.exact.get(host) {
            return self.vhosts.get(i);
        }
        let host = strip_port(host);
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
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find("]:").map_or(host, |i| &host[..=i]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vh(name: &str, domains: &[&str], prefix: &str) -> model::VirtualHost {
        model::VirtualHost {
            name: name.into(),
            domains: domains.iter().map(|d| (*d).to_owned()).collect(),
            routes: vec![model::Route {
                name: String::new(),
                matcher: model::RouteMatch {
                    path: model::PathMatch::Prefix(prefix.into()),
                    case_sensitive: true,
                },
                action: model::RouteAction::DirectResponse(model::DirectResponse {
                    status: 200,
                    body: Some(name.as_bytes().to_vec()),
                }),
            }],
        }
    }

    fn table() -> RouteTable {
        let rc = model::RouteConfiguration {
            name: "r".into(),
            virtual_hosts: vec![
                vh("exact", &["www.ilinux.io", "api.example.com:8080"], "/"),
                vh("suffix", &["*.ilinux.io"], "/"),
                vh("longer_suffix", &["*.b.ilinux.io"], "/"),
                vh("prefix", &["ilinux.*"], "/"),
                vh("any", &["*"], "/"),
            ],
        };
        RouteTable::build(&rc, |_| Some(0)).unwrap()
    }

    #[test]
    fn domain_order_is_exact_suffix_prefix_any() {
        let t = table();
        let name = |h: &str| t.virtual_host(h.as_bytes()).unwrap().name.clone();
        assert_eq!(name("www.ilinux.io"), "exact");
        assert_eq!(name("WWW.iLinux.IO"), "exact");
        assert_eq!(name("www.ilinux.io:80"), "exact");
        assert_eq!(name("api.example.com:8080"), "exact");
        assert_eq!(name("api.example.com:9090"), "any");
        assert_eq!(name("x.ilinux.io"), "suffix");
        assert_eq!(name("a.b.ilinux.io"), "longer_suffix");
        assert_eq!(name("ilinux.org"), "prefix");
        assert_eq!(name("example.net"), "any");
    }

    #[test]
    fn strip_port_keeps_ipv6_literals() {
        assert_eq!(strip_port("a.b:80"), "a.b");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_port("host"), "host");
    }

    #[test]
    fn exact_path_ignores_query_prefix_does_not() {
        let exact = PathMatcher::Exact {
            value: "/a".into(),
            case_sensitive: true,
        };
        assert!(exact.matches("/a?x=1"));
        assert!(!exact.matches("/ab"));
        let prefix = PathMatcher::Prefix {
            value: "/A".into(),
            case_sensitive: false,
        };
        assert!(prefix.matches("/abc"));
    }
}
