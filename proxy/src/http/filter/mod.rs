//! The HTTP filter chain of a connection manager: `http_filters` in config order, each with a
//! decode phase (request head, in order) and an encode phase (response head, in reverse
//! order), the router last.
//!
//! A filter's decode phase may continue, stop for a while (it is `async`: a fault delay awaits
//! a timer, and the chain resumes where it stopped), or answer locally, which ends the chain
//! and skips the router. Filters are a closed enum rather than trait objects: the set is known
//! at build time, dispatch is a jump table, and `async` works without boxing.
//!
//! Per-route configuration (`typed_per_filter_config`, and the legacy `cors` fields) is built
//! here once per snapshot, indexed by (virtual host, route) position in the route
//! configuration; the connection manager passes the matched route's position in
//! [`DecodeContext::route`]. What a filter decides in decode and needs again in encode (CORS
//! headers, `x-ratelimit-*`) is kept in the connection's [`ConnectionState`]: requests on a
//! connection are served one after another, so one slot per connection is enough.

pub mod cors;
pub mod fault;
pub mod local_ratelimit;
mod matchers;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Instant;

use sluice_config::model;

use super::headers::HeaderMap;
use crate::stats::{Registry, RegistryFull, Shard};

/// A runtime lookup: the integer value of a runtime key, if the runtime has one.
pub type RuntimeLookup<'a> = &'a dyn Fn(&str) -> Option<u64>;

/// One configured filter.
#[derive(Debug)]
pub enum Filter {
    /// `envoy.filters.http.fault`.
    Fault(fault::FaultFilter),
    /// `envoy.filters.http.local_ratelimit`.
    LocalRateLimit(local_ratelimit::RateLimitFilter),
    /// `envoy.filters.http.cors`.
    Cors(cors::CorsFilter),
    /// `envoy.filters.http.router`: the terminal filter. Its work (route action, upstream
    /// attempts, retries) is `http::forward`; in the chain it only marks the end.
    Router,
}

/// What a filter's decode phase decided.
#[derive(Debug)]
pub enum Decision {
    /// Go on with the next filter.
    Continue,
    /// Answer the request locally with this status, body and extra headers; the router is not
    /// reached. The headers include what earlier filters asked to add to the response (their
    /// encode phase, which does not run for a local reply).
    LocalReply {
        /// Status code.
        status: u16,
        /// Body (`text/plain` when non-empty).
        body: bytes::Bytes,
        /// Headers to add to the reply, besides `content-length`, `date` and `server`.
        headers: HeaderMap,
    },
    /// Answer the request with this status and these headers and no body, without the
    /// router: a CORS preflight. Unlike [`Decision::LocalReply`] this is not one of Envoy's
    /// local replies (the filter calls `encodeHeaders`), so `local_reply_config` leaves it
    /// alone.
    Respond {
        /// Status code.
        status: u16,
        /// Headers of the response, besides `content-length`, `date` and `server`.
        headers: HeaderMap,
    },
}

/// The route a request matched, as positions in the connection manager's route configuration.
#[derive(Debug, Clone, Copy)]
pub struct RouteRef<'a> {
    /// Index of the virtual host in `route_config.virtual_hosts`.
    pub virtual_host: usize,
    /// Index of the route in that virtual host's `routes`.
    pub route: usize,
    /// The route's target cluster when it names one (`cluster`), for the fault filter's
    /// `upstream_cluster`; `None` for `cluster_header`, `weighted_clusters` and non-forwarding
    /// routes.
    pub cluster: Option<&'a str>,
}

/// What the decode phase may read and change.
pub struct DecodeContext<'a> {
    /// The request headers (lower-case names; `host` is the authority).
    pub headers: &'a mut HeaderMap,
    /// The request method.
    pub method: &'a [u8],
    /// The request path as it will be sent upstream.
    pub path: &'a [u8],
    /// The matched route; `None` when no route matched (filters that need one do nothing).
    pub route: Option<RouteRef<'a>>,
    /// A fresh random value from the worker's generator; filters draw further values from it
    /// with [`DecodeContext::draw`].
    pub random: u64,
    /// The current time (token buckets; injected so tests control it).
    pub now: Instant,
    /// The runtime; `None` until the runtime is wired, when every key takes its default.
    pub runtime: Option<RuntimeLookup<'a>>,
    /// The worker's stat shard.
    pub shard: &'a Shard,
    /// This connection's filter state.
    pub connection: &'a ConnectionState,
}

impl std::fmt::Debug for DecodeContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodeContext")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl DecodeContext<'_> {
    /// The next pseudo-random value (SplitMix64 over `random`), so one value per request is
    /// enough however many draws the filters make.
    pub fn draw(&mut self) -> u64 {
        self.random = self.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The value of a runtime key, if the runtime is wired and has it.
    fn runtime_integer(&self, key: &str) -> Option<u64> {
        if key.is_empty() {
            return None;
        }
        self.runtime.and_then(|r| r(key))
    }

    /// Envoy's `featureEnabled(key, default)`: the runtime value (an integer percentage) when
    /// set, else the configured fraction, against one random draw.
    fn feature_enabled(&mut self, key: &str, default: model::Fraction) -> bool {
        let fraction = match self.runtime_integer(key) {
            Some(v) if v > 100 => return true,
            Some(v) => model::Fraction {
                numerator: u32::try_from(v).unwrap_or(100),
                denominator: 100,
            },
            None => default,
        };
        let random = self.draw();
        fraction_hit(fraction, random)
    }
}

/// `random % denominator < numerator`, Envoy's `evaluateFractionalPercent`.
pub(crate) fn fraction_hit(f: model::Fraction, random: u64) -> bool {
    debug_assert!(f.denominator > 0, "a fraction has a denominator");
    f.denominator > 0 && random % u64::from(f.denominator) < u64::from(f.numerator)
}

/// A `RuntimeFractionalPercent` as (runtime key, default fraction).
fn runtime_fraction(f: &model::RuntimeFraction) -> (&str, model::Fraction) {
    (
        f.runtime_key.as_str(),
        model::Fraction {
            numerator: f.numerator,
            denominator: f.denominator,
        },
    )
}

/// What the encode phase may read and change.
#[derive(Debug)]
pub struct EncodeContext<'a> {
    /// The response status.
    pub status: u16,
    /// The response headers.
    pub headers: &'a mut HeaderMap,
    /// This connection's filter state (what the decode phase left for the response).
    pub connection: &'a ConnectionState,
}

/// A connection's filter state: per-connection token buckets and what the current request's
/// decode phase left for its response. Lives in the connection task, never shared.
#[derive(Debug, Default)]
pub struct ConnectionState {
    /// Per-connection buckets (`local_rate_limit_per_downstream_connection`), by filter index.
    buckets: RefCell<BTreeMap<usize, local_ratelimit::TokenBucket>>,
    /// Response headers the current request's decode phase asked for, set (replacing) on the
    /// response in the encode phase.
    response_headers: RefCell<HeaderMap>,
}

impl ConnectionState {
    /// A fresh state for a new connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a header to be set on this request's response.
    fn set_response_header(&self, name: &[u8], value: &[u8]) {
        self.response_headers.borrow_mut().set(name, value);
    }
}

/// Per-route configs of every filter, for one (virtual host, route) position.
#[derive(Debug, Default)]
struct RouteFilters {
    /// By filter index: the route's own per-filter state.
    route: BTreeMap<usize, PerRoute>,
    /// By filter index: the virtual host's.
    virtual_host: BTreeMap<usize, PerRoute>,
}

/// The built per-route state of one filter at one level.
#[derive(Debug)]
enum PerRoute {
    Fault(Box<fault::Settings>),
    LocalRateLimit(Box<local_ratelimit::Limiter>),
    Cors(Box<cors::Policy>),
}

/// The filters of one connection manager, in config order, with their per-route configs.
#[derive(Debug)]
pub struct FilterChain {
    filters: Vec<Filter>,
    /// Per-route state by (virtual host index, route index); absent when none applies.
    routes: BTreeMap<(usize, usize), RouteFilters>,
}

impl FilterChain {
    /// Whether any filter besides the router has a decode phase to run.
    pub fn has_decoders(&self) -> bool {
        self.filters.iter().any(|f| !matches!(f, Filter::Router))
    }

    /// Builds the chain of one connection manager: its `http_filters` (the loader refuses
    /// filters Sluice lacks and checks that the router is last), their stats, and the
    /// per-route configs of its route configuration.
    pub fn build(
        hcm: &model::HttpConnectionManager,
        registry: &mut Registry,
    ) -> Result<Self, RegistryFull> {
        let base = Instant::now();
        let stat_prefix = format!("http.{}.", hcm.stat_prefix);
        let mut filters = Vec::with_capacity(hcm.http_filters.len());
        for f in &hcm.http_filters {
            filters.push(match f {
                model::HttpFilter::Fault { config, .. } => Filter::Fault(fault::FaultFilter::new(
                    config,
                    fault::Stats::register(registry, &stat_prefix)?,
                )),
                model::HttpFilter::LocalRateLimit { config, .. } => Filter::LocalRateLimit(
                    local_ratelimit::RateLimitFilter::new(config, registry, base)?,
                ),
                model::HttpFilter::Cors { .. } => {
                    Filter::Cors(cors::CorsFilter::new(registry, &stat_prefix)?)
                }
                model::HttpFilter::Router(_) => Filter::Router,
            });
        }
        debug_assert!(
            matches!(filters.last(), Some(Filter::Router)),
            "the router is the last filter"
        );
        let index_of = |name: &str| hcm.http_filters.iter().position(|f| f.name() == Some(name));
        let mut routes = BTreeMap::new();
        for (v, vh) in hcm.route_config.virtual_hosts.iter().enumerate() {
            let vh_filters = per_route(&vh.typed_per_filter_config, &index_of, registry, base)?;
            for (r, route) in vh.routes.iter().enumerate() {
                let route_filters =
                    per_route(&route.typed_per_filter_config, &index_of, registry, base)?;
                let legacy = cors::Policy::legacy(route.cors.as_deref(), vh.cors.as_deref());
                if route_filters.is_empty() && vh_filters.is_empty() && legacy.is_none() {
                    continue;
                }
                let mut rf = RouteFilters {
                    route: route_filters,
                    virtual_host: BTreeMap::new(),
                };
                for (i, p) in &vh_filters {
                    rf.virtual_host.insert(*i, p.share());
                }
                // A CORS filter reads the policies of both levels (each setting from the most
                // specific level that sets it), or the legacy `cors` fields when neither level
                // has a typed one: one merged entry at route level.
                for (i, f) in filters.iter().enumerate() {
                    if !matches!(f, Filter::Cors(_)) {
                        continue;
                    }
                    let merged = cors::Policy::chain(
                        as_cors(rf.route.get(&i)),
                        as_cors(rf.virtual_host.get(&i)),
                    )
                    .or_else(|| legacy.clone());
                    rf.virtual_host.remove(&i);
                    match merged {
                        Some(m) => rf.route.insert(i, PerRoute::Cors(Box::new(m))),
                        None => rf.route.remove(&i),
                    };
                }
                routes.insert((v, r), rf);
            }
        }
        Ok(FilterChain { filters, routes })
    }

    /// The filters, in order.
    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }

    /// Runs the decode phase of every filter, in order, until one answers locally.
    pub async fn decode_headers(&self, cx: &mut DecodeContext<'_>) -> Decision {
        cx.connection.response_headers.borrow_mut().clear();
        let route = cx
            .route
            .and_then(|r| self.routes.get(&(r.virtual_host, r.route)));
        for (i, filter) in self.filters.iter().enumerate() {
            let per_route = route.and_then(|r| r.route.get(&i).or_else(|| r.virtual_host.get(&i)));
            let mut decision = filter.decode_headers(i, per_route, cx).await;
            let headers = match &mut decision {
                Decision::Continue => continue,
                Decision::LocalReply { headers, .. } | Decision::Respond { headers, .. } => headers,
            };
            for (n, v) in cx.connection.response_headers.borrow().iter() {
                if !headers.contains(n) {
                    headers.append(n, v);
                }
            }
            return decision;
        }
        Decision::Continue
    }

    /// Runs the encode phase of every filter, in reverse order.
    pub fn encode_headers(&self, cx: &mut EncodeContext<'_>) {
        for filter in self.filters.iter().rev() {
            filter.encode_headers(cx);
        }
        for (n, v) in cx.connection.response_headers.borrow().iter() {
            cx.headers.set(n, v);
        }
    }
}

/// The CORS policy of a per-route entry.
fn as_cors(p: Option<&PerRoute>) -> Option<&cors::Policy> {
    match p {
        Some(PerRoute::Cors(c)) => Some(c),
        _ => None,
    }
}

/// Builds one level's `typed_per_filter_config` by filter index.
fn per_route(
    map: &BTreeMap<String, model::FilterOverride>,
    index_of: &dyn Fn(&str) -> Option<usize>,
    registry: &mut Registry,
    base: Instant,
) -> Result<BTreeMap<usize, PerRoute>, RegistryFull> {
    let mut out = BTreeMap::new();
    for (name, o) in map {
        // The loader refuses names that are not in `http_filters`.
        let Some(i) = index_of(name) else { continue };
        let built = match o {
            model::FilterOverride::Fault(f) => PerRoute::Fault(Box::new(fault::Settings::new(f))),
            model::FilterOverride::LocalRateLimit(l) => PerRoute::LocalRateLimit(Box::new(
                local_ratelimit::Limiter::new(l, registry, base)?,
            )),
            model::FilterOverride::Cors(c) => PerRoute::Cors(Box::new(cors::Policy::new(c))),
        };
        out.insert(i, built);
    }
    Ok(out)
}

impl PerRoute {
    /// The entry for another route of the same virtual host. Configs are copied; a virtual
    /// host's rate limit keeps one bucket for all its routes (one config object in Envoy), so
    /// its bucket is shared, not copied.
    fn share(&self) -> PerRoute {
        match self {
            PerRoute::Fault(s) => PerRoute::Fault(s.clone()),
            PerRoute::LocalRateLimit(l) => PerRoute::LocalRateLimit(Box::new(l.share())),
            PerRoute::Cors(p) => PerRoute::Cors(p.clone()),
        }
    }
}

impl Filter {
    async fn decode_headers(
        &self,
        index: usize,
        per_route: Option<&PerRoute>,
        cx: &mut DecodeContext<'_>,
    ) -> Decision {
        match self {
            Filter::Fault(f) => {
                let settings = match per_route {
                    Some(PerRoute::Fault(s)) => Some(&**s),
                    _ => None,
                };
                f.decode_headers(settings, cx).await
            }
            Filter::LocalRateLimit(f) => {
                let limiter = match per_route {
                    Some(PerRoute::LocalRateLimit(l)) => Some(&**l),
                    _ => None,
                };
                f.decode_headers(index, limiter, cx)
            }
            Filter::Cors(f) => {
                let policy = match per_route {
                    Some(PerRoute::Cors(p)) => Some(&**p),
                    _ => None,
                };
                f.decode_headers(policy, cx)
            }
            // The router's decode work is the route action itself (`http::forward`).
            Filter::Router => Decision::Continue,
        }
    }

    fn encode_headers(&self, _cx: &mut EncodeContext<'_>) {
        // Filters leave what the response needs in `ConnectionState` during decode; the chain
        // applies it after this loop, so no filter has its own encode work today.
        match self {
            Filter::Fault(_) | Filter::LocalRateLimit(_) | Filter::Cors(_) | Filter::Router => {}
        }
    }
}

/// Applies a filter's `*_headers_to_add` to a header map, with Envoy's append actions.
fn apply_headers(headers: &mut HeaderMap, to_add: &[model::HeaderValueOption]) {
    for h in to_add {
        if h.value.is_empty() && !h.keep_empty_value {
            continue;
        }
        let (name, value) = (h.key.as_bytes(), h.value.as_bytes());
        match h.append_action {
            model::AppendAction::AppendIfExistsOrAdd => headers.append(name, value),
            model::AppendAction::AddIfAbsent => {
                if !headers.contains(name) {
                    headers.append(name, value);
                }
            }
            model::AppendAction::OverwriteIfExistsOrAdd => headers.set(name, value),
            model::AppendAction::OverwriteIfExists => {
                if headers.contains(name) {
                    headers.set(name, value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
