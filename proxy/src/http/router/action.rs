//! Route actions resolved at build time: cluster names become snapshot indices, rewrite regexes
//! are compiled, and the per-request parts (weighted choice, `cluster_header`, path and host
//! rewrites) follow Envoy's `WeightedClusterSpecifierPlugin` and `finalizePathHeader`.

use std::borrow::Cow;
use std::time::Duration;

use regex::bytes::Regex;
use sluice_config::model;

use super::matcher::{HeaderMatcher, compile_search, first_header_value, path_only};
use super::{BuildError, RequestHeaders, RuntimeLookup};

/// What a matched route does.
#[derive(Debug)]
pub enum Action {
    /// Forward to a cluster (boxed: it is by far the largest variant).
    Forward(Box<Forward>),
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
    /// Where the request goes.
    pub cluster: ClusterTarget,
    /// `cluster_not_found_response_code`: the status when the cluster does not exist (only
    /// possible with `cluster_header`).
    pub cluster_not_found_response_code: u16,
    /// Route timeout; `None` when disabled (`0s`).
    pub timeout: Option<Duration>,
    /// `idle_timeout`; `Some(ZERO)` disables the stream idle timeout.
    pub idle_timeout: Option<Duration>,
    /// `max_stream_duration.max_stream_duration`.
    pub max_stream_duration: Option<Duration>,
    /// `prefix_rewrite`; `None` when absent or empty (Envoy ignores an empty one).
    pub prefix_rewrite: Option<String>,
    /// `host_rewrite_literal` of the route.
    pub host_rewrite: Option<String>,
    /// `auto_host_rewrite`: the caller sets Host to the picked upstream host's hostname.
    pub auto_host_rewrite: bool,
    /// The route's `retry_policy`, else the virtual host's.
    pub retry_policy: Option<model::RetryPolicy>,
    /// The conditions of `retry_policy`, parsed once.
    pub retry_on: crate::http::retry::RetryOn,
    /// The retry policy's `retriable_headers`: a response matching any is retried (with
    /// `retry_on: retriable-headers`).
    pub(crate) retriable_headers: Vec<HeaderMatcher>,
    /// The retry policy's `retriable_request_headers`: when any are given, only a request
    /// matching one of them is retried.
    pub(crate) retriable_request_headers: Vec<HeaderMatcher>,
    /// `request_mirror_policies`, clusters resolved.
    pub mirrors: Vec<Mirror>,
    /// `upgrade_configs`.
    pub upgrade_configs: Vec<model::UpgradeConfig>,
    /// `hash_policy`, ready for `sluice-lb`.
    pub hash_policy: Vec<sluice_lb::hash::HashPolicy>,
    /// `priority`: the circuit-breaker thresholds (and connection pools) the request uses.
    pub priority: sluice_lb::breaker::Priority,
    /// `metadata_match` criteria for subset load balancing; `None` when the route has none.
    pub metadata_match: Option<sluice_lb::MetadataMatch>,
    /// The virtual host's `include_request_attempt_count` and
    /// `include_attempt_count_in_response`.
    pub attempt_count: AttemptCount,
    /// `per_request_buffer_limit_bytes` of the route, else of its virtual host: the most body
    /// bytes held for retries and shadows, below the listener's limit.
    pub buffer_limit_bytes: Option<u32>,
    regex_rewrite: Option<(Regex, String)>,
    host_rewrite_header: Option<Box<[u8]>>,
    host_rewrite_regex: Option<(Regex, String)>,
}

/// Where `x-envoy-attempt-count` goes (a virtual host's switches, copied to its routes).
#[derive(Debug, Clone, Copy, Default)]
pub struct AttemptCount {
    /// On each upstream attempt's request.
    pub in_request: bool,
    /// On the response to the client, proxied or the router's local reply.
    pub in_response: bool,
}

/// The `cluster_specifier` of a forwarding route.
#[derive(Debug)]
pub enum ClusterTarget {
    /// `cluster`, as a snapshot index.
    Index(usize),
    /// `cluster_header`: the lower-cased header naming the cluster, read per request.
    Header(String),
    /// `weighted_clusters`.
    Weighted(WeightedClusters),
}

/// `request_mirror_policies` entry.
#[derive(Debug)]
pub struct Mirror {
    /// The shadow cluster.
    pub cluster: MirrorTarget,
    /// `disable_shadow_host_suffix_append`.
    pub keep_host: bool,
    /// `runtime_fraction`; `None` mirrors every request.
    pub runtime_fraction: Option<model::RuntimeFraction>,
}

/// A mirror policy's shadow cluster.
#[derive(Debug)]
pub enum MirrorTarget {
    /// `cluster`: its snapshot index.
    Index(usize),
    /// `cluster_header`: the lower-case request header that names it.
    Header(Box<[u8]>),
}

/// `weighted_clusters`, resolved.
#[derive(Debug)]
pub struct WeightedClusters {
    clusters: Vec<WeightedCluster>,
    /// Sum of the configured weights (checked non-zero and within `u32` at build).
    total_weight: u64,
    /// Whether weights may be overridden by `<runtime_key_prefix>.<name>`.
    has_runtime: bool,
}

/// One cluster of `weighted_clusters`.
#[derive(Debug)]
pub struct WeightedCluster {
    /// `name`.
    pub name: String,
    /// Snapshot index of the cluster.
    pub cluster: usize,
    /// Configured `weight`.
    pub weight: u32,
    /// `metadata_match`, merged over the route's.
    pub metadata_match: Option<sluice_lb::MetadataMatch>,
    /// Header mutations applied when this cluster is chosen.
    pub headers: model::HeaderMutations,
    /// `host_rewrite_literal` of this cluster.
    pub host_rewrite: Option<String>,
    runtime_key: Option<String>,
}

/// Which cluster a matched forwarding route sends this request to.
#[derive(Debug, Clone, Copy)]
pub enum ClusterChoice<'t, 'a> {
    /// A fixed cluster.
    Index(usize),
    /// The cluster picked among `weighted_clusters`.
    Weighted(&'t WeightedCluster),
    /// `cluster_header`: the caller resolves `value` (the header's first value; `None` when
    /// absent) to a cluster and answers `cluster_not_found_response_code` when there is none.
    Header {
        /// The header name.
        name: &'t str,
        /// Its first value.
        value: Option<&'a [u8]>,
    },
}

impl ClusterChoice<'_, '_> {
    /// The snapshot index of the chosen cluster, when it is known without a name lookup.
    pub fn index(&self) -> Option<usize> {
        match self {
            ClusterChoice::Index(i) => Some(*i),
            ClusterChoice::Weighted(w) => Some(w.cluster),
            ClusterChoice::Header { .. } => None,
        }
    }
}

/// RE2's rewrite syntax (`\0`..`\9` for groups, `\\` for a backslash) in the `regex` crate's
/// (`${N}`, with `$` escaped as `$$`).
pub(super) fn re2_substitution(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    out.push_str("${");
                    out.push(d);
                    out.push('}');
                    chars.next();
                }
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

fn merge_metadata(
    route: &std::collections::BTreeMap<String, serde_json::Value>,
    cluster: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Option<sluice_lb::MetadataMatch> {
    if route.is_empty() && cluster.is_empty() {
        return None;
    }
    let mut merged = route.clone();
    merged.extend(cluster.iter().map(|(k, v)| (k.clone(), v.clone())));
    Some(sluice_lb::MetadataMatch::from_json(&merged))
}

// === impl Forward ===

impl Forward {
    pub(super) fn build(
        f: &model::ForwardAction,
        vhost_retry: Option<&model::RetryPolicy>,
        cluster_index: &dyn Fn(&str) -> Option<usize>,
        at: &dyn Fn() -> (String, String),
    ) -> Result<Self, BuildError> {
        let unknown = |cluster: &str| {
            let (vhost, route) = at();
            BuildError::UnknownCluster {
                vhost,
                route,
                cluster: cluster.to_owned(),
            }
        };
        let regex = |pattern: &str, substitution: &str| {
            compile_search(pattern)
                .map(|re| (re, re2_substitution(substitution)))
                .map_err(|e| {
                    let (vhost, route) = at();
                    BuildError::Regex {
                        vhost,
                        route,
                        pattern: pattern.to_owned(),
                        reason: e.to_string(),
                    }
                })
        };
        let cluster = match &f.cluster {
            model::ClusterSpecifier::Cluster(name) => {
                ClusterTarget::Index(cluster_index(name).ok_or_else(|| unknown(name))?)
            }
            model::ClusterSpecifier::Header(name) => {
                ClusterTarget::Header(name.to_ascii_lowercase())
            }
            model::ClusterSpecifier::Weighted(w) => {
                let mut clusters = Vec::with_capacity(w.clusters.len());
                let mut total_weight = 0u64;
                for c in &w.clusters {
                    total_weight += u64::from(c.weight);
                    clusters.push(WeightedCluster {
                        name: c.name.clone(),
                        cluster: cluster_index(&c.name).ok_or_else(|| unknown(&c.name))?,
                        weight: c.weight,
                        metadata_match: merge_metadata(&f.metadata_match, &c.metadata_match),
                        headers: c.headers.clone(),
                        host_rewrite: c.host_rewrite_literal.clone(),
                        runtime_key: w
                            .runtime_key_prefix
                            .as_ref()
                            .filter(|p| !p.is_empty())
                            .map(|p| format!("{p}.{}", c.name)),
                    });
                }
                // Envoy refuses both at load time.
                if total_weight == 0 || total_weight > u64::from(u32::MAX) {
                    let (vhost, route) = at();
                    return Err(BuildError::TotalWeight {
                        vhost,
                        route,
                        total: total_weight,
                    });
                }
                ClusterTarget::Weighted(WeightedClusters {
                    has_runtime: clusters.iter().any(|c| c.runtime_key.is_some()),
                    clusters,
                    total_weight,
                })
            }
        };
        let mirrors = f
            .request_mirror_policies
            .iter()
            .map(|m| {
                Ok(Mirror {
                    cluster: match &m.cluster {
                        model::MirrorCluster::Name(name) => {
                            MirrorTarget::Index(cluster_index(name).ok_or_else(|| unknown(name))?)
                        }
                        model::MirrorCluster::Header(h) => {
                            MirrorTarget::Header(h.as_bytes().into())
                        }
                    },
                    keep_host: m.keep_host,
                    runtime_fraction: m.runtime_fraction.clone(),
                })
            })
            .collect::<Result<_, BuildError>>()?;
        let (host_rewrite_header, host_rewrite_regex, auto_host_rewrite) = match &f.host_rewrite {
            None => (None, None, false),
            Some(model::HostRewrite::Auto) => (None, None, true),
            Some(model::HostRewrite::Header(h)) => (
                Some(h.to_ascii_lowercase().into_bytes().into_boxed_slice()),
                None,
                false,
            ),
            Some(model::HostRewrite::PathRegex(p, s)) => (None, Some(regex(p, s)?), false),
        };
        let retry_policy = f.retry_policy.clone().or_else(|| vhost_retry.cloned());
        let header_matchers = |list: &[model::HeaderMatcher]| {
            list.iter()
                .map(|m| {
                    HeaderMatcher::build(m).map_err(|(pattern, e)| {
                        let (vhost, route) = at();
                        BuildError::Regex {
                            vhost,
                            route,
                            pattern,
                            reason: e.to_string(),
                        }
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let (retriable_headers, retriable_request_headers) = match &retry_policy {
            Some(p) => (
                header_matchers(&p.retriable_headers)?,
                header_matchers(&p.retriable_request_headers)?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        Ok(Forward {
            cluster,
            cluster_not_found_response_code: f.cluster_not_found_response_code,
            timeout: (!f.timeout.is_zero()).then_some(f.timeout),
            idle_timeout: f.idle_timeout,
            max_stream_duration: f.max_stream_duration,
            prefix_rewrite: f.prefix_rewrite.clone().filter(|p| !p.is_empty()),
            host_rewrite: f.host_rewrite_literal.clone().filter(|h| !h.is_empty()),
            auto_host_rewrite,
            retry_on: retry_policy
                .as_ref()
                .map(|p| crate::http::retry::RetryPolicy::new(p).retry_on)
                .unwrap_or_default(),
            retry_policy,
            retriable_headers,
            retriable_request_headers,
            mirrors,
            upgrade_configs: f.upgrade_configs.clone(),
            hash_policy: crate::upstream::lb::hash_policies(&f.hash_policy),
            priority: f.priority,
            metadata_match: (!f.metadata_match.is_empty())
                .then(|| sluice_lb::MetadataMatch::from_json(&f.metadata_match)),
            attempt_count: AttemptCount::default(),
            buffer_limit_bytes: None,
            regex_rewrite: f
                .regex_rewrite
                .as_ref()
                .map(|(p, s)| regex(p, s))
                .transpose()?,
            host_rewrite_header,
            host_rewrite_regex,
        })
    }

    /// Chooses the cluster for one request. `None` only for weighted clusters whose weights
    /// add up to zero (or overflow `u32`) after runtime overrides: Envoy then returns no route
    /// entry for this route and keeps looking at the next routes.
    pub(super) fn choose<'t, 'a>(
        &'t self,
        headers: &'a dyn RequestHeaders,
        runtime: &dyn RuntimeLookup,
        random: u64,
    ) -> Option<ClusterChoice<'t, 'a>> {
        match &self.cluster {
            ClusterTarget::Index(i) => Some(ClusterChoice::Index(*i)),
            ClusterTarget::Header(name) => Some(ClusterChoice::Header {
                name,
                value: first_header_value(headers, name.as_bytes()),
            }),
            ClusterTarget::Weighted(w) => w.pick(random, runtime).map(ClusterChoice::Weighted),
        }
    }

    /// The upstream `:path` after `prefix_rewrite` or `regex_rewrite`, or `None` when the route
    /// rewrites nothing. `matched_len` is [`Routed::matched_len`](super::Routed).
    ///
    /// `prefix_rewrite` replaces the first `matched_len` bytes of the target (query kept);
    /// `regex_rewrite` replaces every match in the path without its query, then puts the query
    /// (and fragment) back, as Envoy's `currentUrlPathAfterRewriteWithMatchedPath` does.
    pub fn rewrite_path(&self, target: &[u8], matched_len: usize) -> Option<Vec<u8>> {
        if let Some(prefix) = &self.prefix_rewrite {
            let rest = target.get(matched_len..).unwrap_or(&[]);
            let mut out = Vec::with_capacity(prefix.len() + rest.len());
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(rest);
            return Some(out);
        }
        let (re, substitution) = self.regex_rewrite.as_ref()?;
        let path = path_only(target);
        let rest = target.get(path.len()..).unwrap_or(&[]);
        let replaced = re.replace_all(path, substitution.as_bytes());
        let mut out = Vec::with_capacity(replaced.len() + rest.len());
        out.extend_from_slice(&replaced);
        out.extend_from_slice(rest);
        Some(out)
    }

    /// The upstream Host decided at routing time, or `None` to keep the request's (the caller
    /// still applies [`Forward::auto_host_rewrite`] once it has picked a host).
    ///
    /// As in Envoy, the weighted cluster's `host_rewrite_literal` is applied first and the
    /// route's own rewrite (literal, else the header's first value, else the path regex) then
    /// overrides it when that yields a non-empty host.
    pub fn rewrite_host<'x>(
        &'x self,
        target: &[u8],
        headers: &'x dyn RequestHeaders,
        weighted: Option<&'x WeightedCluster>,
    ) -> Option<Cow<'x, [u8]>> {
        let route_level: Option<Cow<'x, [u8]>> = if let Some(h) = &self.host_rewrite {
            Some(Cow::Borrowed(h.as_bytes()))
        } else if let Some(name) = &self.host_rewrite_header {
            first_header_value(headers, name).map(Cow::Borrowed)
        } else if let Some((re, substitution)) = &self.host_rewrite_regex {
            let replaced = re.replace_all(path_only(target), substitution.as_bytes());
            Some(Cow::Owned(replaced.into_owned()))
        } else {
            None
        };
        route_level.filter(|h| !h.is_empty()).or_else(|| {
            weighted
                .and_then(|w| w.host_rewrite.as_deref())
                .filter(|h| !h.is_empty())
                .map(|h| Cow::Borrowed(h.as_bytes()))
        })
    }
}

// === impl WeightedClusters ===

impl WeightedClusters {
    /// The clusters, in configuration order.
    pub fn clusters(&self) -> &[WeightedCluster] {
        &self.clusters
    }

    fn weight(c: &WeightedCluster, runtime: &dyn RuntimeLookup) -> u64 {
        c.runtime_key
            .as_deref()
            .and_then(|k| runtime.integer(k))
            .unwrap_or(u64::from(c.weight))
    }

    /// Envoy's `pickWeightedCluster`: `random % total` falls into one of the intervals
    /// `[0, w1)`, `[w1, w1 + w2)`, ...; a cluster of weight zero is never chosen. With a
    /// runtime prefix each weight is read from `<prefix>.<name>` (falling back to the
    /// configured one) and the total recomputed; a zero or overflowing total picks nothing.
    ///
    /// The runtime view must not change during one call (weights are read twice rather than
    /// copied, to stay allocation-free).
    pub fn pick(&self, random: u64, runtime: &dyn RuntimeLookup) -> Option<&WeightedCluster> {
        let total = if self.has_runtime {
            let mut total = 0u64;
            for c in &self.clusters {
                let w = Self::weight(c, runtime);
                if w > u64::from(u32::MAX) - total {
                    return None;
                }
                total += w;
            }
            total
        } else {
            self.total_weight
        };
        if total == 0 {
            return None;
        }
        let selected = random % total;
        let mut end = 0u64;
        for c in &self.clusters {
            end += if self.has_runtime {
                Self::weight(c, runtime)
            } else {
                u64::from(c.weight)
            };
            if selected < end {
                return Some(c);
            }
        }
        debug_assert!(false, "selected {selected} beyond total {total}");
        None
    }
}
